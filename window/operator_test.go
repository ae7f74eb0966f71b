package window

import (
	"fmt"
	"slices"
	"testing"

	"github.com/topspeed/topspeed/engine"
)

// ev is a test element: key, value, event time.
type ev struct {
	K  string
	V  int
	TS int64
}

func evKeys() engine.Keys[string, ev] {
	return engine.Keys[string, ev]{Key: func(e ev) string { return e.K }, Hash: engine.HashString, MaxParallelism: 8}
}

func evTS(e ev) int64 { return e.TS }

func sumEv(a, b ev) ev { a.V += b.V; return a }

func (o *Operator[K, T, OUT]) pending() []OUT { return o.out }

// hook calls fn with a fresh engine.Output, checks that the operator handed
// exactly its pending records to it, and returns a copy of them.
func hook[OUT any](t tb, o interface{ pending() []OUT }, fn func(*engine.Output[OUT]) error) []OUT {
	var out engine.Output[OUT]
	if err := fn(&out); err != nil {
		t.Fatal(err)
	}
	if out.Len() != len(o.pending()) {
		t.Fatalf("engine.Output got %d records, operator emitted %d", out.Len(), len(o.pending()))
	}
	return slices.Clone(o.pending())
}

func feed[K comparable, T, OUT any](t tb, o *Operator[K, T, OUT], in ...T) []OUT {
	return hook(t, o, func(out *engine.Output[OUT]) error { return o.ProcessBatch(in, out) })
}

func watermark[K comparable, T, OUT any](t tb, o *Operator[K, T, OUT], wm int64) []OUT {
	return hook(t, o, func(out *engine.Output[OUT]) error { return o.OnWatermark(wm, out) })
}

func procTime[K comparable, T, OUT any](t tb, o *Operator[K, T, OUT], now int64) []OUT {
	return hook(t, o, func(out *engine.Output[OUT]) error { return o.OnProcessingTime(now, out) })
}

func mustNew[K comparable, T, OUT any](t tb, keys engine.Keys[K, T], spec Spec[K, T, OUT]) *Operator[K, T, OUT] {
	o, err := New(keys, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Open(engine.OperatorContext{KeyGroups: engine.KeyGroupRange{Start: 0, End: keys.MaxParallelism}, MaxParallelism: keys.MaxParallelism, Parallelism: 1}); err != nil {
		t.Fatal(err)
	}
	return o
}

func expect[T comparable](t tb, what string, got, want []T) {
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func TestTumblingEventTimeSum(t *testing.T) {
	var late []ev
	o := mustNew(t, evKeys(), Spec[string, ev, ev]{
		Assigner:  Tumbling(10*ms, 0),
		Function:  Reduce[string](sumEv),
		Timestamp: evTS,
	})
	expect(t, "no output before watermark", feed(t, o, ev{"a", 1, 1}, ev{"b", 10, 3}, ev{"a", 2, 5}, ev{"a", 4, 12}), nil)
	expect(t, "wm 8", watermark(t, o, 8), nil)
	// [0,10) fires at 9 for a (1+2) then b (10), in timer registration order.
	expect(t, "wm 9", watermark(t, o, 9), []ev{{"a", 3, 1}, {"b", 10, 3}})
	// ts 4 is late: its window [0,10) was cleaned at 9. ts 10 is on time.
	expect(t, "late element", feed(t, o, ev{"a", 100, 4}, ev{"a", 8, 10}), nil)
	if o.LateDropped() != 1 {
		t.Errorf("LateDropped = %d, want 1", o.LateDropped())
	}
	expect(t, "wm max", watermark(t, o, 1<<62), []ev{{"a", 12, 12}})
	if len(o.states) != 0 || len(o.evTimers.live) != 0 {
		t.Errorf("state left after all windows were cleaned: %d keys, %d timers", len(o.states), len(o.evTimers.live))
	}
	// Side output instead of dropping.
	var lateOut engine.Output[ev]
	o = FactoryWithLate(Spec[string, ev, ev]{
		Assigner: Tumbling(10*ms, 0), Function: Reduce[string](sumEv), Timestamp: evTS,
	})(evKeys(), &lateOut).(*Operator[string, ev, ev])
	if err := o.Open(engine.OperatorContext{KeyGroups: engine.KeyGroupRange{Start: 0, End: 8}, MaxParallelism: 8, Parallelism: 1}); err != nil {
		t.Fatal(err)
	}
	watermark(t, o, 20)
	feed(t, o, ev{"a", 1, 20}, ev{"a", 2, 19}, ev{"a", 3, 21})
	late = slices.Clone(o.lateIn)
	if lateOut.Len() != len(late) {
		t.Errorf("late output got %d records, operator emitted %d", lateOut.Len(), len(late))
	}
	expect(t, "side output", late, []ev{{"a", 2, 19}})
	if o.LateDropped() != 0 {
		t.Errorf("LateDropped = %d with a side output", o.LateDropped())
	}
	expect(t, "wm 29", watermark(t, o, 29), []ev{{"a", 4, 20}})
}

func TestAllowedLateness(t *testing.T) {
	o := mustNew(t, evKeys(), Spec[string, ev, ev]{
		Assigner:        Tumbling(10*ms, 0),
		Function:        Reduce[string](sumEv),
		Timestamp:       evTS,
		AllowedLateness: 5 * ms,
	})
	feed(t, o, ev{"a", 1, 1}, ev{"a", 2, 5})
	expect(t, "wm 9", watermark(t, o, 9), []ev{{"a", 3, 1}})
	// Within the lateness the window is kept: a late element is added and
	// EventTime fires at once (max timestamp 9 <= watermark).
	expect(t, "late within lateness", feed(t, o, ev{"a", 4, 4}), []ev{{"a", 7, 1}})
	expect(t, "wm 13", watermark(t, o, 13), nil)
	expect(t, "another late element", feed(t, o, ev{"a", 8, 9}), []ev{{"a", 15, 1}})
	// Cleanup at 9+5 = 14 drops the window; afterwards elements are late.
	expect(t, "wm 14", watermark(t, o, 14), nil)
	expect(t, "after cleanup", feed(t, o, ev{"a", 16, 6}), nil)
	if o.LateDropped() != 1 {
		t.Errorf("LateDropped = %d, want 1", o.LateDropped())
	}
	// ts 9 + lateness 5 = 14 <= wm 14: late too; ts 10 is not.
	feed(t, o, ev{"a", 32, 9}, ev{"a", 64, 10})
	if o.LateDropped() != 2 {
		t.Errorf("LateDropped = %d, want 2", o.LateDropped())
	}
	expect(t, "wm 19", watermark(t, o, 19), []ev{{"a", 64, 10}})
}

func TestSlidingEventTimeSum(t *testing.T) {
	o := mustNew(t, evKeys(), Spec[string, ev, int]{
		Assigner:  Sliding(10*ms, 5*ms, 0),
		Function:  Aggregate[string](AggregateFunc[ev, int, int]{Create: func() int { return 0 }, Add: func(a int, e ev) int { return a + e.V }, Result: func(a int) int { return a }}),
		Timestamp: evTS,
	})
	// ts 1 -> [0,10) [-5,5); ts 6 -> [5,15) [0,10); ts 11 -> [10,20) [5,15).
	feed(t, o, ev{"a", 1, 1}, ev{"a", 2, 6}, ev{"a", 4, 11})
	// Fires in max-timestamp order: [-5,5)=1 at 4, [0,10)=1+2 at 9,
	// [5,15)=2+4 at 14, [10,20)=4 at 19.
	expect(t, "wm 100", watermark(t, o, 100), []int{1, 3, 6, 4})
}

func TestSessionWindows(t *testing.T) {
	type out struct {
		K      string
		W      Window
		N, Sum int
	}
	o := mustNew(t, evKeys(), Spec[string, ev, out]{
		Assigner: Session(10 * ms),
		Function: Process(func(k string, w Window, es []ev, emit func(out)) {
			s := 0
			for _, e := range es {
				s += e.V
			}
			emit(out{k, w, len(es), s})
		}),
		Timestamp: evTS,
	})
	// a: 0 -> [0,10); 5 -> [5,15) merges into [0,15); 30 -> [30,40);
	// 16 -> [16,26) (does not touch [0,15)); 15 -> [15,25) touches [0,15)
	// and overlaps [16,26): all merge into [0,26).
	feed(t, o, ev{"a", 1, 0}, ev{"a", 2, 5}, ev{"a", 4, 30}, ev{"a", 8, 16}, ev{"b", 100, 3}, ev{"a", 16, 15})
	expect(t, "wm 14: the timer of merged-away [0,15) is gone", watermark(t, o, 14), []out{{"b", Window{3, 13}, 1, 100}})
	expect(t, "wm 24", watermark(t, o, 24), nil)
	expect(t, "wm 25", watermark(t, o, 25), []out{{"a", Window{0, 26}, 4, 27}})
	expect(t, "wm 39", watermark(t, o, 39), []out{{"a", Window{30, 40}, 1, 4}})
	if len(o.states) != 0 {
		t.Errorf("state left: %v", o.states)
	}
	// Same elements, but the watermark passes 14 before ts 15 arrives:
	// [0,15) fires and is cleaned up, so [15,25) only merges with [16,26).
	feed(t, o, ev{"c", 1, 100}, ev{"c", 2, 105}, ev{"c", 8, 116})
	expect(t, "wm 114", watermark(t, o, 114), []out{{"c", Window{100, 115}, 2, 3}})
	feed(t, o, ev{"c", 16, 115})
	expect(t, "wm 200", watermark(t, o, 200), []out{{"c", Window{115, 126}, 2, 24}})
	if len(o.states) != 0 {
		t.Errorf("state left: %v", o.states)
	}
}

func TestSessionCountTrigger(t *testing.T) {
	// Counts of merged sessions are summed (CountTrigger.onMerge); the
	// merged count fires at the next element.
	o := mustNew(t, evKeys(), Spec[string, ev, ev]{
		Assigner:  Session(10 * ms),
		Trigger:   Count[ev](3),
		Function:  Reduce[string](sumEv),
		Timestamp: evTS,
	})
	expect(t, "two sessions", feed(t, o, ev{"a", 1, 0}, ev{"a", 2, 20}), nil)
	// ts 10 -> [10,20) bridges [0,10) and [20,30): counts 1+1, then +1 = 3.
	expect(t, "bridge", feed(t, o, ev{"a", 4, 10}), []ev{{"a", 7, 0}})
	expect(t, "wm: count trigger ignores time", watermark(t, o, 1000), nil)
}

func TestSessionValidation(t *testing.T) {
	_, err := New(evKeys(), Spec[string, ev, ev]{Assigner: Session(ms), Trigger: Delta(1, func(a, b ev) float64 { return 0 }), Function: Reduce[string](sumEv), Timestamp: evTS})
	if err == nil {
		t.Error("Delta with sessions accepted")
	}
	if _, err := New(evKeys(), Spec[string, ev, ev]{Assigner: Tumbling(ms, 0), Function: Reduce[string](sumEv)}); err == nil {
		t.Error("event time without Timestamp accepted")
	}
	if _, err := New(evKeys(), Spec[string, ev, ev]{Assigner: Tumbling(ms, 0), Timestamp: evTS}); err == nil {
		t.Error("missing function accepted")
	}
	noMerge := avgFunc()
	noMerge.Merge = nil
	if _, err := New(evKeys(), Spec[string, ev, float64]{Assigner: Session(ms), Function: Aggregate[string](noMerge), Timestamp: evTS}); err == nil {
		t.Error("Aggregate without Merge accepted for sessions")
	}
	op := Factory(Spec[string, ev, ev]{Timestamp: evTS})(evKeys())
	if err := op.Open(engine.OperatorContext{}); err == nil {
		t.Error("Open of an invalid spec succeeded")
	}
}

func TestProcessingTimeTumbling(t *testing.T) {
	now := int64(3)
	o := mustNew(t, evKeys(), Spec[string, ev, ev]{
		Assigner: TumblingProcessingTime(10*ms, 0),
		Function: Reduce[string](sumEv),
		Now:      func() int64 { return now },
	})
	feed(t, o, ev{"a", 1, 1000}, ev{"b", 2, -5}, ev{"a", 4, 7})
	expect(t, "pt 8", procTime(t, o, 8), nil)
	expect(t, "watermarks do nothing", watermark(t, o, 1<<62), nil)
	expect(t, "pt 9", procTime(t, o, 9), []ev{{"a", 5, 1000}, {"b", 2, -5}})
	now = 12
	feed(t, o, ev{"a", 8, 0})
	expect(t, "pt 25", procTime(t, o, 25), []ev{{"a", 8, 0}})
	if len(o.states) != 0 || len(o.ptTimers.live) != 0 {
		t.Errorf("state left: %d keys, %d timers", len(o.states), len(o.ptTimers.live))
	}
}

func TestGlobalCountTrigger(t *testing.T) {
	in := []ev{{"a", 1, 0}, {"a", 2, 0}, {"a", 3, 0}, {"a", 4, 0}, {"a", 5, 0}}
	o := mustNew(t, evKeys(), Spec[string, ev, ev]{Assigner: Global(), Trigger: Count[ev](2), Function: Reduce[string](sumEv)})
	// Fire keeps the contents: 1+2, then 1+2+3+4.
	expect(t, "count", feed(t, o, in...), []ev{{"a", 3, 0}, {"a", 10, 0}})
	expect(t, "nothing at the end", watermark(t, o, 1<<62), nil)
	o = mustNew(t, evKeys(), Spec[string, ev, ev]{Assigner: Global(), Trigger: Purging(Count[ev](2)), Function: Reduce[string](sumEv)})
	expect(t, "purging count", feed(t, o, in...), []ev{{"a", 3, 0}, {"a", 7, 0}})
	o = mustNew(t, evKeys(), Spec[string, ev, ev]{Assigner: Global(), Function: Reduce[string](sumEv)})
	expect(t, "default trigger never fires", feed(t, o, in...), nil)
}

func listVals(k string, w Window, es []ev, emit func(string)) {
	s := k + ":"
	for _, e := range es {
		s += fmt.Sprint(" ", e.V)
	}
	emit(s)
}

func TestEvictingOperator(t *testing.T) {
	in := []ev{{"a", 1, 0}, {"a", 2, 0}, {"a", 3, 0}, {"a", 4, 0}, {"a", 5, 0}, {"a", 6, 0}}
	o := mustNew(t, evKeys(), Spec[string, ev, string]{Assigner: Global(), Trigger: Count[ev](3), Evictor: CountEvictor[ev](2, false), Function: Process(listVals)})
	// fire at 3: evict to [2 3]; 4, 5 join; fire at 6: [2 3 4 5 6] -> [5 6].
	expect(t, "evict before", feed(t, o, in...), []string{"a: 2 3", "a: 5 6"})
	o = mustNew(t, evKeys(), Spec[string, ev, string]{Assigner: Global(), Trigger: Count[ev](3), Evictor: CountEvictor[ev](2, true), Function: Process(listVals)})
	expect(t, "evict after", feed(t, o, in...), []string{"a: 1 2 3", "a: 2 3 4 5 6"})
	// Reduce over evicted contents folds the remaining list.
	o2 := mustNew(t, evKeys(), Spec[string, ev, ev]{Assigner: Global(), Trigger: Count[ev](3), Evictor: CountEvictor[ev](2, false), Function: Reduce[string](sumEv)})
	expect(t, "reduce evicting", feed(t, o2, in...), []ev{{"a", 5, 0}, {"a", 11, 0}})
	// An evictor that empties the window: Reduce emits nothing, Aggregate the
	// empty accumulator's result.
	o2 = mustNew(t, evKeys(), Spec[string, ev, ev]{Assigner: Global(), Trigger: Count[ev](1), Evictor: CountEvictor[ev](0, false), Function: Reduce[string](sumEv)})
	expect(t, "reduce of nothing", feed(t, o2, in[:2]...), nil)
	o3 := mustNew(t, evKeys(), Spec[string, ev, int]{Assigner: Global(), Trigger: Count[ev](1), Evictor: CountEvictor[ev](0, false),
		Function: Aggregate[string](AggregateFunc[ev, int, int]{Create: func() int { return -1 }, Add: func(a int, e ev) int { return a + e.V }, Result: func(a int) int { return a }})})
	expect(t, "aggregate of nothing", feed(t, o3, in[:2]...), []int{-1, -1})
}

func TestTimeEvictorOperator(t *testing.T) {
	// Global window, fire on every 2nd element, time evictor 10ms before.
	o := mustNew(t, evKeys(), Spec[string, ev, string]{Assigner: Global(), Trigger: Count[ev](2), Evictor: TimeEvictor[ev](10*ms, false), Function: Process(listVals), Timestamp: evTS})
	got := feed(t, o, ev{"a", 1, 5}, ev{"a", 2, 20}, ev{"a", 3, 12}, ev{"a", 4, 22})
	// fire 1: max 20, cutoff 10: [2]. fire 2: contents [2 3 4], max 22,
	// cutoff 12: 3 (ts 12, exactly the cutoff) goes.
	expect(t, "time evictor", got, []string{"a: 2", "a: 2 4"})
}

func TestMaxByMinBy(t *testing.T) {
	in := []ev{{"a", 5, 1}, {"a", 7, 2}, {"a", 7, 3}, {"a", 3, 4}}
	mk := func(f Function[string, ev, ev]) *Operator[string, ev, ev] {
		return mustNew(t, evKeys(), Spec[string, ev, ev]{Assigner: Global(), Trigger: Count[ev](4), Function: f})
	}
	byV := func(a, b ev) int { return a.V - b.V }
	expect(t, "MaxBy first wins", feed(t, mk(MaxBy[string](byV)), in...), []ev{{"a", 7, 2}})
	expect(t, "MaxByField first wins", feed(t, mk(MaxByField[string](func(e ev) int { return e.V })), in...), []ev{{"a", 7, 2}})
	in2 := []ev{{"a", 3, 1}, {"a", 1, 2}, {"a", 1, 3}, {"a", 2, 4}}
	expect(t, "MinBy first wins", feed(t, mk(MinBy[string](byV)), in2...), []ev{{"a", 1, 2}})
	expect(t, "MinByField", feed(t, mk(MinByField[string](func(e ev) int { return e.V })), in2...), []ev{{"a", 1, 2}})
}

func TestAggregateAverage(t *testing.T) {
	type acc struct{ Sum, N int }
	o := mustNew(t, evKeys(), Spec[string, ev, float64]{
		Assigner: Tumbling(10*ms, 0),
		Function: Aggregate[string](AggregateFunc[ev, acc, float64]{
			Create: func() acc { return acc{} },
			Add:    func(a acc, e ev) acc { return acc{a.Sum + e.V, a.N + 1} },
			Result: func(a acc) float64 { return float64(a.Sum) / float64(a.N) },
		}),
		Timestamp: evTS,
	})
	feed(t, o, ev{"a", 1, 1}, ev{"a", 2, 2}, ev{"a", 6, 9}, ev{"a", 100, 10})
	expect(t, "average", watermark(t, o, 9), []float64{3})
}

// tb is what the test helpers need from *testing.T and *rapid.T.
type tb interface {
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}

func TestSessionMergeClearsTimers(t *testing.T) {
	o := mustNew(t, evKeys(), Spec[string, ev, ev]{
		Assigner: Session(10 * ms), Function: Reduce[string](sumEv), Timestamp: evTS, AllowedLateness: 5 * ms,
	})
	feed(t, o, ev{"a", 1, 0}, ev{"a", 2, 5}, ev{"a", 4, 30}, ev{"b", 8, 3})
	// Windows a [0,15) and [30,40), b [3,13): each has a trigger timer at
	// its max timestamp and a cleanup timer 5ms later. The timers of the
	// merged-away [0,10) and [5,15) were deleted (trigger Clear, cleanup).
	if n := len(o.evTimers.live); n != 6 {
		t.Errorf("%d live timers, want 6: %v", n, o.evTimers.live)
	}
	expect(t, "wm 14", watermark(t, o, 14), []ev{{"b", 8, 3}, {"a", 3, 0}})
}

// fireOnEveryTimer registers two event-time timers per element and fires
// on each.
type fireOnEveryTimer struct{ neverTrigger[ev] }

func (fireOnEveryTimer) OnElement(e ev, ts int64, w Window, c *TriggerContext[ev]) Result {
	c.RegisterEventTimeTimer(ts)
	c.RegisterEventTimeTimer(ts + 1)
	return Continue
}
func (fireOnEveryTimer) OnEventTime(int64, Window, *TriggerContext[ev]) Result { return Fire }

func TestEvictedToEmptyWindowDoesNotFire(t *testing.T) {
	o := mustNew(t, evKeys(), Spec[string, ev, int]{
		Assigner: Global(), Trigger: fireOnEveryTimer{}, Evictor: CountEvictor[ev](0, false), Timestamp: evTS,
		Function: Aggregate[string](AggregateFunc[ev, int, int]{Create: func() int { return -1 }, Add: func(a int, e ev) int { return a + e.V }, Result: func(a int) int { return a }}),
	})
	feed(t, o, ev{"a", 5, 10})
	// Timer 10 fires: everything is evicted before the function, which sees
	// an empty window (fresh accumulator: -1). The contents are now empty
	// (Flink: null), so timer 11 fires on nothing and emits nothing.
	expect(t, "wm 11", watermark(t, o, 11), []int{-1})
}

func TestEventTimeTriggerOnProcessingTimeWindows(t *testing.T) {
	// An event-time timer at a processing-time window's max timestamp is not
	// its cleanup timer: the state stays until processing time passes 9.
	now := int64(3)
	o := mustNew(t, evKeys(), Spec[string, ev, ev]{
		Assigner: TumblingProcessingTime(10*ms, 0), Trigger: EventTime[ev](), Function: Reduce[string](sumEv),
		Now: func() int64 { return now },
	})
	feed(t, o, ev{"a", 1, 0}, ev{"a", 2, 0})
	expect(t, "wm 9", watermark(t, o, 9), []ev{{"a", 3, 0}})
	now = 5
	expect(t, "element after the watermark passed 9 fires at once", feed(t, o, ev{"a", 4, 0}), []ev{{"a", 7, 0}})
	expect(t, "pt 9 cleans up", procTime(t, o, 9), nil)
	if len(o.states) != 0 {
		t.Errorf("state left: %v", o.states)
	}
}

type avgAcc struct{ Sum, N int64 }

func avgFunc() AggregateFunc[ev, avgAcc, float64] {
	return AggregateFunc[ev, avgAcc, float64]{
		Create:   func() avgAcc { return avgAcc{} },
		Add:      func(a avgAcc, e ev) avgAcc { return avgAcc{a.Sum + int64(e.V), a.N + 1} },
		Merge:    func(a, b avgAcc) avgAcc { return avgAcc{a.Sum + b.Sum, a.N + b.N} },
		Result:   func(a avgAcc) float64 { return float64(a.Sum) / float64(a.N) },
		AccCodec: FixedCodec[avgAcc](),
	}
}

func TestSessionAggregateMerge(t *testing.T) {
	o := mustNew(t, evKeys(), Spec[string, ev, float64]{Assigner: Session(10 * ms), Function: Aggregate[string](avgFunc()), Timestamp: evTS})
	// [0,10) and [20,30), then [10,20) touches both: one session [0,30)
	// whose accumulators merge: (1+2+6)/3 = 3.
	feed(t, o, ev{"a", 1, 0}, ev{"a", 2, 20}, ev{"a", 6, 10})
	expect(t, "merged average", watermark(t, o, 100), []float64{3})
}

func TestAggregateCheckpoint(t *testing.T) {
	spec := Spec[string, ev, float64]{Assigner: Tumbling(10*ms, 0), Function: Aggregate[string](avgFunc()), Timestamp: evTS, KeyCodec: StringCodec(), Codec: FixedCodecEv()}
	o := mustNew(t, evKeys(), spec)
	feed(t, o, ev{"a", 1, 1}, ev{"a", 2, 2}, ev{"b", 7, 3})
	st := engine.NewKeyedState()
	if err := o.OnCheckpoint(1, st); err != nil {
		t.Fatal(err)
	}
	r := mustNew(t, evKeys(), spec)
	if err := r.Open(engine.OperatorContext{KeyGroups: engine.KeyGroupRange{Start: 0, End: 8}, MaxParallelism: 8, Restored: st}); err != nil {
		t.Fatal(err)
	}
	feed(t, r, ev{"a", 6, 9})
	// a: (1+2+6)/3 = 3, b: 7. Equal-time timers of different keys fire in
	// restore order, which is unspecified (as in Flink).
	got := watermark(t, r, 9)
	slices.Sort(got)
	expect(t, "restored averages", got, []float64{3, 7})
}

func TestTimerQueueCompaction(t *testing.T) {
	q := newTimerQueue[string]()
	for i := 0; i < 100; i++ {
		q.set(timer[string]{key: "k", ts: int64(100 - i)})
	}
	for i := 0; i < 100; i++ {
		if i%10 != 0 {
			q.del(timer[string]{key: "k", ts: int64(100 - i)})
		}
	}
	q.set(timer[string]{key: "k", ts: 1000}) // 101 entries, 11 live: compacts
	if len(q.h.s) != 11 {
		t.Errorf("heap holds %d entries after compaction, want 11", len(q.h.s))
	}
	var got []int64
	for {
		tm, ok := q.popDue(999)
		if !ok {
			break
		}
		got = append(got, tm.ts)
	}
	expect(t, "due timers", got, []int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100})
}
