package window

import (
	"fmt"
	"strings"
	"testing"

	"github.com/topspeed/topspeed/engine"
)

// sumProcess is the list-based reference: a ProcessWindowFunction that
// sums the window's elements and formats key, window, count and sum.
func sumProcess(k string, w Window, es []ev, emit func(string)) {
	s := 0
	for _, e := range es {
		s += e.V
	}
	emit(fmt.Sprintf("%s%v n=%d sum=%d", k, w, len(es), s))
}

type countSum struct{ N, Sum int64 }

func countSumFunc() AggregateFunc[ev, countSum, countSum] {
	return AggregateFunc[ev, countSum, countSum]{
		Create:   func() countSum { return countSum{} },
		Add:      func(a countSum, e ev) countSum { return countSum{a.N + 1, a.Sum + int64(e.V)} },
		Merge:    func(a, b countSum) countSum { return countSum{a.N + b.N, a.Sum + b.Sum} },
		Result:   func(a countSum) countSum { return a },
		AccCodec: FixedCodec[countSum](),
	}
}

func formatCountSum(k string, w Window, a countSum) string {
	return fmt.Sprintf("%s%v n=%d sum=%d", k, w, a.N, a.Sum)
}

// TestIncrementalWithWindow: ReduceProcess and AggregateProcess give the
// same records as the list-based Process, for tumbling, sliding and
// merging session windows and with an evictor, while keeping one value per
// window instead of the elements.
func TestIncrementalWithWindow(t *testing.T) {
	sumOnly := func(k string, w Window, es []ev, emit func(string)) {
		s := 0
		for _, e := range es {
			s += e.V
		}
		emit(fmt.Sprintf("%s%v sum=%d", k, w, s))
	}
	reduce := ReduceProcess(sumEv, func(k string, w Window, r ev) string { return fmt.Sprintf("%s%v sum=%d", k, w, r.V) })
	in := []ev{{"a", 1, 0}, {"a", 2, 5}, {"b", 4, 7}, {"a", 8, 30}, {"a", 16, 16}, {"a", 32, 15}, {"b", 64, 40}}
	for _, a := range []Assigner{Tumbling(10*ms, 0), Sliding(10*ms, 5*ms, 0), Session(10 * ms)} {
		for _, c := range []struct {
			name     string
			ref, inc Function[string, ev, string]
		}{
			{"AggregateProcess", Process(sumProcess), AggregateProcess(countSumFunc(), formatCountSum)},
			{"ReduceProcess", Process(sumOnly), reduce},
		} {
			ref := mustNew(t, evKeys(), Spec[string, ev, string]{Assigner: a, Function: c.ref, Timestamp: evTS})
			feed(t, ref, in...)
			want := watermark(t, ref, 1000)
			if len(want) < 3 {
				t.Fatalf("%T: reference output %v is too small to compare", a, want)
			}
			o := mustNew(t, evKeys(), Spec[string, ev, string]{Assigner: a, Function: c.inc, Timestamp: evTS})
			if o.listMode {
				t.Fatalf("%s keeps elements; want one value per window", c.name)
			}
			feed(t, o, in...)
			expect(t, fmt.Sprintf("%T %s", a, c.name), watermark(t, o, 1000), want)
		}
	}

	// With an evictor the elements are kept and folded at the firing; the
	// final function still sees key and window.
	spec := Spec[string, ev, string]{Assigner: Global(), Trigger: Count[ev](3), Evictor: CountEvictor[ev](2, false),
		Function: AggregateProcess(countSumFunc(), formatCountSum), Timestamp: evTS}
	expect(t, "evictor", feed(t, mustNew(t, evKeys(), spec), ev{"a", 1, 1}, ev{"a", 2, 2}, ev{"a", 4, 3}), []string{"aglobal n=2 sum=6"})
}

// TestIncrementalWithWindowCheckpoint: the accumulator of AggregateProcess
// and the value of ReduceProcess survive a checkpoint and restore.
func TestIncrementalWithWindowCheckpoint(t *testing.T) {
	for name, f := range map[string]Function[string, ev, string]{
		"aggregate": AggregateProcess(countSumFunc(), formatCountSum),
		"reduce": ReduceProcess(sumEv, func(k string, w Window, r ev) string {
			return fmt.Sprintf("%s%v sum=%d", k, w, r.V)
		}),
	} {
		spec := Spec[string, ev, string]{Assigner: Tumbling(10*ms, 0), Function: f, Timestamp: evTS, KeyCodec: StringCodec(), Codec: FixedCodecEv()}
		o := mustNew(t, evKeys(), spec)
		feed(t, o, ev{"a", 1, 1}, ev{"a", 2, 12})
		st := engine.NewKeyedState()
		if err := o.OnCheckpoint(1, st); err != nil {
			t.Fatal(err)
		}
		r := mustNew(t, evKeys(), spec)
		if err := r.Open(engine.OperatorContext{KeyGroups: engine.KeyGroupRange{Start: 0, End: 8}, MaxParallelism: 8, Restored: st}); err != nil {
			t.Fatal(err)
		}
		feed(t, r, ev{"a", 4, 9})
		got := watermark(t, r, 100)
		want := []string{"a[0,10) n=2 sum=5", "a[10,20) n=1 sum=2"}
		if name == "reduce" {
			want = []string{"a[0,10) sum=5", "a[10,20) sum=2"}
		}
		expect(t, name+" restored", got, want)
	}
}

// TestFunctionNilArguments: nil functions are reported by Validate (and so
// by New and the operator's Open), never by a panic while running.
func TestFunctionNilArguments(t *testing.T) {
	cases := map[string]Function[string, ev, string]{
		"ReduceProcess nil reduce":   ReduceProcess[string, ev, string](nil, func(string, Window, ev) string { return "" }),
		"ReduceProcess nil final":    ReduceProcess[string, ev, string](sumEv, nil),
		"AggregateProcess nil final": AggregateProcess[string](countSumFunc(), (func(string, Window, countSum) string)(nil)),
		"AggregateProcess no Add": AggregateProcess(AggregateFunc[ev, countSum, countSum]{Create: func() countSum { return countSum{} }, Result: func(a countSum) countSum { return a }},
			formatCountSum),
		"Process nil": Process[string, ev, string](nil),
	}
	for name, f := range cases {
		_, err := New(evKeys(), Spec[string, ev, string]{Assigner: Tumbling(ms, 0), Function: f, Timestamp: evTS})
		if err == nil || !strings.HasPrefix(err.Error(), "window: ") {
			t.Errorf("%s: err = %v, want a window error", name, err)
		}
	}
	if _, err := New(evKeys(), Spec[string, ev, ev]{Assigner: Tumbling(ms, 0), Function: Reduce[string, ev](nil), Timestamp: evTS}); err == nil {
		t.Errorf("Reduce(nil): no error")
	}
}
