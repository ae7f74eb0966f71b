package window_test

// Unit tests of the window operators driven step by step with
// tester.Harness: watermarks, processing time, late data, and checkpoints
// restored into other parallelisms in the middle of open windows.

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/tester"
	"github.com/topspeed/topspeed/window"
)

// hev is a keyed, timestamped value.
type hev struct {
	K  string
	V  int64
	TS int64
}

func hevKey(e hev) string { return e.K }
func hevTS(e hev) int64   { return e.TS }

var hevKeys = engine.Keys[string, hev]{Key: hevKey, Hash: engine.HashString, MaxParallelism: 16}

// hevCodec shows that engine's codecs are window codecs too.
var hevCodec = engine.FuncCodec[hev]{
	AppendFunc: func(dst []byte, e hev) []byte {
		dst = engine.StringCodec{}.Append(dst, e.K)
		return engine.Int64Codec{}.Append(engine.Int64Codec{}.Append(dst, e.V), e.TS)
	},
	DecodeFunc: func(src []byte) (hev, int, error) {
		k, n, err := engine.StringCodec{}.Decode(src)
		if err != nil {
			return hev{}, 0, err
		}
		v, m, err := engine.Int64Codec{}.Decode(src[n:])
		if err != nil {
			return hev{}, 0, err
		}
		ts, o, err := engine.Int64Codec{}.Decode(src[n+m:])
		return hev{k, v, ts}, n + m + o, err
	},
}

// sumSpec sums V per key and window; the result keeps the first element's
// key and timestamp.
func sumSpec(a window.Assigner, lateness time.Duration) window.Spec[string, hev, hev] {
	return window.Spec[string, hev, hev]{
		Assigner:        a,
		Function:        window.Reduce[string](func(x, y hev) hev { x.V += y.V; return x }),
		Timestamp:       hevTS,
		AllowedLateness: lateness,
		KeyCodec:        engine.StringCodec{},
		Codec:           hevCodec,
	}
}

func hmust(t interface {
	Helper()
	Fatal(...any)
}, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestHarnessTumblingEventTime: windows fire when the watermark passes
// their end, a late element re-fires within the allowed lateness, and one
// after it is dropped and counted.
func TestHarnessTumblingEventTime(t *testing.T) {
	h := tester.NewHarness(window.Factory(sumSpec(window.Tumbling(10*time.Millisecond, 0), 5*time.Millisecond)), hevKeys)
	hmust(t, h.Open())
	hmust(t, h.Process(hev{"a", 1, 1}, hev{"b", 2, 3}, hev{"a", 4, 9}, hev{"a", 8, 12}))
	hmust(t, h.Watermark(8))
	if out := h.TakeOutput(); len(out) != 0 {
		t.Fatalf("fired before the window's end: %v", out)
	}
	hmust(t, h.Watermark(9)) // window [0,10) ends: max timestamp 9
	if got, want := h.TakeOutput(), []hev{{"a", 5, 1}, {"b", 2, 3}}; !sameByKey(got, want) {
		t.Errorf("at watermark 9: %v, want %v", got, want)
	}
	hmust(t, h.Process(hev{"a", 16, 2})) // late, within the lateness: fires again
	if got, want := h.TakeOutput(), []hev{{"a", 21, 1}}; !slices.Equal(got, want) {
		t.Errorf("late element: %v, want %v", got, want)
	}
	hmust(t, h.Watermark(14)) // cleanup of [0,10) at 9+5
	hmust(t, h.Process(hev{"a", 32, 5}))
	op := h.Operator(0).(*window.Operator[string, hev, hev])
	if out := h.TakeOutput(); len(out) != 0 || op.LateDropped() != 1 {
		t.Errorf("element after the lateness: output %v, %d dropped", out, op.LateDropped())
	}
	hmust(t, h.Finish())
	if got, want := h.Output(), []hev{{"a", 8, 12}}; !slices.Equal(got, want) {
		t.Errorf("end of input: %v, want %v", got, want)
	}
}

// TestHarnessProcessingTime: a processing-time window reads the clock from
// Spec.Now while elements arrive and fires on the harness's
// ProcessingTime step.
func TestHarnessProcessingTime(t *testing.T) {
	now := int64(100)
	spec := sumSpec(window.TumblingProcessingTime(50*time.Millisecond, 0), 0)
	spec.Timestamp = nil
	spec.Now = func() int64 { return now }
	h := tester.NewHarness(window.Factory(spec), hevKeys)
	hmust(t, h.Open())
	hmust(t, h.Process(hev{"a", 1, 0}, hev{"a", 2, 0}))
	now = 140
	hmust(t, h.Process(hev{"a", 4, 0}))
	hmust(t, h.ProcessingTime(148))
	if out := h.TakeOutput(); len(out) != 0 {
		t.Fatalf("fired early: %v", out)
	}
	hmust(t, h.ProcessingTime(149))
	if got := h.TakeOutput(); !slices.Equal(got, []hev{{"a", 7, 0}}) {
		t.Errorf("window [100,150): %v", got)
	}
	now = 160
	hmust(t, h.Process(hev{"a", 8, 0})) // window [150,200)
	hmust(t, h.ProcessingTime(198))
	if out := h.TakeOutput(); len(out) != 0 {
		t.Fatalf("fired early: %v", out)
	}
	hmust(t, h.ProcessingTime(199))
	if got := h.TakeOutput(); !slices.Equal(got, []hev{{"a", 8, 0}}) {
		t.Errorf("window [150,200): %v", got)
	}
}

// sameByKey compares outputs per key (the order across keys depends on
// the subtask of each key).
func sameByKey(a, b []hev) bool {
	return fmt.Sprint(tester.GroupBy(a, hevKey)) == fmt.Sprint(tester.GroupBy(b, hevKey))
}

// hstep is a step of a generated run: a batch, or a watermark if Batch is
// nil.
type hstep struct {
	Batch []hev
	WM    int64
}

func genSteps(t *rapid.T) []hstep {
	var steps []hstep
	wm := int64(0)
	for range rapid.IntRange(1, 25).Draw(t, "steps") {
		if rapid.Bool().Draw(t, "isWatermark") {
			wm += rapid.Int64Range(0, 15).Draw(t, "advance")
			steps = append(steps, hstep{WM: wm})
			continue
		}
		var b []hev
		for range rapid.IntRange(1, 6).Draw(t, "batch") {
			b = append(b, hev{
				K:  rapid.SampledFrom([]string{"a", "b", "c", "d", "e", "f"}).Draw(t, "key"),
				V:  rapid.Int64Range(1, 100).Draw(t, "v"),
				TS: wm + rapid.Int64Range(-8, 20).Draw(t, "ts"),
			})
		}
		steps = append(steps, hstep{Batch: b})
	}
	return steps
}

func runSteps[OUT any](t *rapid.T, h *tester.Harness[string, hev, OUT], steps []hstep) {
	for _, s := range steps {
		if s.Batch == nil {
			hmust(t, h.Watermark(s.WM))
		} else {
			hmust(t, h.Process(s.Batch...))
		}
	}
}

// checkRestoreTransparent runs the steps through one harness and, after a
// snapshot at a random step, through a harness restored into a random
// parallelism: every key's output must be the same.
func checkRestoreTransparent[OUT any](t *rapid.T, factory engine.OperatorFactory[string, hev, OUT], key func(OUT) string) {
	steps := genSteps(t)
	cut := rapid.IntRange(0, len(steps)).Draw(t, "cut")
	par := rapid.IntRange(1, 5).Draw(t, "parallelism")

	whole := tester.NewHarness(factory, hevKeys)
	hmust(t, whole.Open())
	runSteps(t, whole, steps)
	hmust(t, whole.Finish())

	first := tester.NewHarness(factory, hevKeys, tester.AllSubtasks(rapid.IntRange(1, 3).Draw(t, "first parallelism")))
	hmust(t, first.Open())
	runSteps(t, first, steps[:cut])
	snap, err := first.Snapshot(1)
	hmust(t, err)
	// Replay the last watermark before the cut: an operator's watermark is
	// not part of its checkpoint (nor in Flink), so until the next one
	// arrives nothing would be late, and the runs would differ only there.
	second := first.Restore(snap, tester.AllSubtasks(par))
	hmust(t, second.Open())
	for i := cut - 1; i >= 0; i-- {
		if steps[i].Batch == nil {
			hmust(t, second.Watermark(steps[i].WM))
			break
		}
	}
	runSteps(t, second, steps[cut:])
	hmust(t, second.Finish())

	want := tester.GroupBy(whole.Output(), key)
	got := tester.GroupBy(append(first.Output(), second.Output()...), key)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cut at step %d, restored into %d subtasks:\n got %v\nwant %v", cut, par, got, want)
	}
}

// TestHarnessWindowRestore: a checkpoint taken with windows open (contents,
// trigger state, timers, merged sessions) and restored into another
// parallelism continues exactly as an uninterrupted run.
func TestHarnessWindowRestore(t *testing.T) {
	assigners := map[string]window.Assigner{
		"tumbling": window.Tumbling(10*time.Millisecond, 0),
		"sliding":  window.Sliding(20*time.Millisecond, 5*time.Millisecond, 0),
		"session":  window.Session(7 * time.Millisecond),
	}
	for name, a := range assigners {
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				lateness := time.Duration(rapid.IntRange(0, 10).Draw(t, "lateness")) * time.Millisecond
				checkRestoreTransparent(t, window.Factory(sumSpec(a, lateness)), hevKey)
			})
		})
	}
}

// TestHarnessDeltaTimeMaxRestore: the same for the fused TopSpeed
// operator, whose key state is its last-fired element and a deque or heap.
func TestHarnessDeltaTimeMaxRestore(t *testing.T) {
	spec := window.DeltaTimeMaxSpec[hev]{
		Timestamp: hevTS,
		Evict:     10 * time.Millisecond,
		Threshold: 50,
		Delta:     func(old, new hev) float64 { return math.Abs(float64(new.V - old.V)) },
		Compare:   func(a, b hev) int { return int(a.V - b.V) },
		Codec:     hevCodec,
	}
	rapid.Check(t, func(t *rapid.T) {
		checkRestoreTransparent(t, window.DeltaTimeMaxFactory[string](spec), hevKey)
	})
}
