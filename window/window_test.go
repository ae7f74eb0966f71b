package window

import (
	"math"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const ms = time.Millisecond

func TestWindowStart(t *testing.T) {
	for _, c := range []struct{ ts, offset, size, want int64 }{
		{7, 0, 5, 5},
		{5, 0, 5, 5},
		{4, 0, 5, 0},
		{0, 0, 10, 0},
		{-1, 0, 10, -10},
		{-10, 0, 10, -10},
		{-11, 0, 10, -20},
		{12, 3, 5, 8},    // windows ..., [3,8), [8,13)
		{2, 3, 5, -2},    // (2-3) % 5 = -1 -> remainder 4
		{0, -2, 5, -2},   // windows [-2,3)
		{3, -2, 5, 3},    // [3,8)
		{-7, 4, 10, -16}, // (-7-4) % 10 = -1 -> 9
	} {
		if got := WindowStart(c.ts, c.offset, c.size); got != c.want {
			t.Errorf("WindowStart(%d, %d, %d) = %d, want %d", c.ts, c.offset, c.size, got, c.want)
		}
	}
}

func TestWindowMethods(t *testing.T) {
	w := Window{Start: 10, End: 20}
	if w.MaxTimestamp() != 19 || w.IsGlobal() {
		t.Errorf("%v: MaxTimestamp %d, IsGlobal %v", w, w.MaxTimestamp(), w.IsGlobal())
	}
	g := GlobalWindow()
	if g.MaxTimestamp() != math.MaxInt64 || !g.IsGlobal() || g.String() != "global" {
		t.Errorf("global: MaxTimestamp %d, IsGlobal %v, %s", g.MaxTimestamp(), g.IsGlobal(), g)
	}
	for _, c := range []struct {
		a, b Window
		want bool
	}{
		{Window{0, 10}, Window{10, 20}, true}, // touching windows intersect (Flink)
		{Window{0, 10}, Window{11, 20}, false},
		{Window{5, 6}, Window{0, 10}, true},
		{Window{12, 20}, Window{0, 11}, false},
	} {
		if got := c.a.Intersects(c.b); got != c.want {
			t.Errorf("%v.Intersects(%v) = %v", c.a, c.b, got)
		}
	}
	if got := (Window{0, 10}).Cover(Window{5, 30}); got != (Window{0, 30}) {
		t.Errorf("Cover = %v", got)
	}
}

func TestAssigners(t *testing.T) {
	for _, c := range []struct {
		name    string
		a       Assigner
		ts, now int64
		want    []Window
	}{
		{"tumbling", Tumbling(10*ms, 0), 15, 99, []Window{{10, 20}}},
		{"tumbling negative", Tumbling(10*ms, 0), -1, 99, []Window{{-10, 0}}},
		{"tumbling offset", Tumbling(10*ms, 3*ms), 12, 99, []Window{{3, 13}}},
		{"tumbling proc", TumblingProcessingTime(10*ms, 0), 15, 99, []Window{{90, 100}}},
		{"sliding", Sliding(10*ms, 5*ms, 0), 12, 0, []Window{{10, 20}, {5, 15}}},
		{"sliding on boundary", Sliding(10*ms, 5*ms, 0), 10, 0, []Window{{10, 20}, {5, 15}}},
		{"sliding negative", Sliding(10*ms, 5*ms, 0), -3, 0, []Window{{-5, 5}, {-10, 0}}},
		{"sliding 3 per element", Sliding(9*ms, 3*ms, 0), 7, 0, []Window{{6, 15}, {3, 12}, {0, 9}}},
		{"sliding proc", SlidingProcessingTime(10*ms, 5*ms, 0), 999, 7, []Window{{5, 15}, {0, 10}}},
		{"session", Session(10 * ms), 7, 0, []Window{{7, 17}}},
		{"session proc", SessionProcessingTime(10 * ms), 7, 3, []Window{{3, 13}}},
		{"global", Global(), 7, 3, []Window{GlobalWindow()}},
	} {
		got := c.a.AssignWindows(c.ts, c.now, nil)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	if !Tumbling(ms, 0).IsEventTime() || TumblingProcessingTime(ms, 0).IsEventTime() || Global().IsEventTime() {
		t.Error("IsEventTime wrong")
	}
	if !Session(ms).IsMerging() || Sliding(2*ms, ms, 0).IsMerging() || Global().IsMerging() {
		t.Error("IsMerging wrong")
	}
	for name, f := range map[string]func(){
		"zero size":       func() { Tumbling(0, 0) },
		"offset >= size":  func() { Tumbling(10*ms, 10*ms) },
		"offset <= -size": func() { Tumbling(10*ms, -10*ms) },
		"zero slide":      func() { Sliding(10*ms, 0, 0) },
		"offset >= slide": func() { Sliding(10*ms, 5*ms, 5*ms) },
		"zero gap":        func() { Session(0) },
		"count 0":         func() { Count[int](0) },
		"fixed codec int": func() { FixedCodec[int]() },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// fakeTimers records timer calls made through a TriggerContext.
type fakeTimers struct{ set, deleted []int64 }

func (f *fakeTimers) setTimer(ev bool, t int64) {
	if !ev {
		t = -t
	}
	f.set = append(f.set, t)
}
func (f *fakeTimers) deleteTimer(ev bool, t int64) {
	if !ev {
		t = -t
	}
	f.deleted = append(f.deleted, t)
}

func newCtx[T any](wm, now int64) (*TriggerContext[T], *fakeTimers) {
	ft := &fakeTimers{}
	return &TriggerContext[T]{states: map[Window]*TriggerState[T]{}, wm: wm, now: now, timers: ft}, ft
}

func TestDeltaTrigger(t *testing.T) {
	tr := Delta(5, func(old, new float64) float64 { return new - old })
	c, _ := newCtx[float64](0, 0)
	w := GlobalWindow()
	// hand-computed: 0 stored; 5-0 = 5 is not > 5; 6-0 = 6 fires (last = 6);
	// 11-6 = 5 no; 11.5-6 = 5.5 fires; 1-11.5 < 0 no; NaN never fires.
	in := []float64{0, 5, 6, 11, 11.5, 1, math.NaN(), 100}
	want := []Result{Continue, Continue, Fire, Continue, Fire, Continue, Continue, Fire}
	for i, x := range in {
		c.state = nil
		if got := tr.OnElement(x, 0, w, c); got != want[i] {
			t.Errorf("element %d (%v): got %v, want %v", i, x, got, want[i])
		}
	}
	if s := c.State(); s.Last != 100 || !s.HasLast {
		t.Errorf("last = %+v", s)
	}
	if tr.CanMerge() {
		t.Error("Delta must not merge")
	}
}

func TestCountAndPurgingTrigger(t *testing.T) {
	w := Window{0, 10}
	c, _ := newCtx[int](0, 0)
	cnt := Count[int](3)
	var got []Result
	for i := 0; i < 7; i++ {
		c.state = nil
		got = append(got, cnt.OnElement(i, 0, w, c))
	}
	want := []Result{Continue, Continue, Fire, Continue, Continue, Fire, Continue}
	if !slices.Equal(got, want) {
		t.Errorf("Count(3): got %v, want %v", got, want)
	}
	c, _ = newCtx[int](0, 0)
	p := Purging(Count[int](2))
	got = got[:0]
	for i := 0; i < 4; i++ {
		c.state = nil
		got = append(got, p.OnElement(i, 0, w, c))
	}
	want = []Result{Continue, FireAndPurge, Continue, FireAndPurge}
	if !slices.Equal(got, want) {
		t.Errorf("Purging(Count(2)): got %v, want %v", got, want)
	}
	if !FireAndPurge.IsFire() || !FireAndPurge.IsPurge() || Fire.IsPurge() || Purge.IsFire() || Continue.IsFire() {
		t.Error("Result predicates wrong")
	}
	// Count merges by summing; the merged count fires on the next element.
	c, _ = newCtx[int](0, 0)
	c.merged = []*TriggerState[int]{{Count: 1}, {Count: 1}}
	cnt.OnMerge(w, c)
	c.merged, c.state = nil, nil
	if r := cnt.OnElement(9, 0, w, c); r != Fire {
		t.Errorf("after merging counts 1+1, third element: %v, want Fire", r)
	}
}

func TestEventTimeTrigger(t *testing.T) {
	tr := EventTime[int]()
	w := Window{0, 10}
	c, ft := newCtx[int](5, 0)
	if r := tr.OnElement(1, 3, w, c); r != Continue || !slices.Equal(ft.set, []int64{9}) {
		t.Errorf("on time: %v, timers %v", r, ft.set)
	}
	c, ft = newCtx[int](9, 0)
	if r := tr.OnElement(1, 3, w, c); r != Fire || len(ft.set) != 0 {
		t.Errorf("watermark at max timestamp: %v, timers %v", r, ft.set)
	}
	if tr.OnEventTime(9, w, c) != Fire || tr.OnEventTime(8, w, c) != Continue || tr.OnProcessingTime(9, w, c) != Continue {
		t.Error("OnEventTime/OnProcessingTime wrong")
	}
	tr.Clear(w, c)
	if !slices.Equal(ft.deleted, []int64{9}) {
		t.Errorf("Clear deleted %v", ft.deleted)
	}
	c, ft = newCtx[int](9, 0)
	tr.OnMerge(w, c) // max timestamp 9 is not > watermark 9: no timer
	tr.OnMerge(Window{0, 20}, c)
	if !slices.Equal(ft.set, []int64{19}) {
		t.Errorf("OnMerge timers %v", ft.set)
	}
}

func TestProcessingTimeTrigger(t *testing.T) {
	tr := ProcessingTime[int]()
	w := Window{0, 10}
	c, ft := newCtx[int](0, 50)
	if r := tr.OnElement(1, 3, w, c); r != Continue || !slices.Equal(ft.set, []int64{-9}) {
		t.Errorf("OnElement: %v, timers %v", r, ft.set)
	}
	if tr.OnProcessingTime(9, w, c) != Fire || tr.OnEventTime(9, w, c) != Continue {
		t.Error("OnProcessingTime/OnEventTime wrong")
	}
}

func elems(ts ...int64) []Element[int] {
	out := make([]Element[int], len(ts))
	for i, x := range ts {
		out[i] = Element[int]{Value: i, Timestamp: x}
	}
	return out
}

func values(es []Element[int]) []int {
	var out []int
	for _, e := range es {
		out = append(out, e.Value)
	}
	return out
}

func TestTimeEvictor(t *testing.T) {
	ctx := EvictorContext{HasTimestamps: true}
	// max 10, cutoff 10-4 = 6: elements 1 (ts 2) and 3 (ts 4) go although
	// element 2 (ts 9) between them stays; element 0 (ts 7) stays.
	got := TimeEvictor[int](4*ms, false).EvictBefore(elems(7, 2, 9, 4, 10), Window{}, ctx)
	if !slices.Equal(values(got), []int{0, 2, 4}) {
		t.Errorf("evict before: %v", values(got))
	}
	// exactly at the cutoff is evicted: max 10, size 3, cutoff 7.
	got = TimeEvictor[int](3*ms, false).EvictBefore(elems(7, 8, 10), Window{}, ctx)
	if !slices.Equal(values(got), []int{1, 2}) {
		t.Errorf("cutoff: %v", values(got))
	}
	if got := TimeEvictor[int](4*ms, false).EvictAfter(elems(1, 10), Window{}, ctx); len(got) != 2 {
		t.Errorf("evict-before evictor evicted after: %v", got)
	}
	if got := TimeEvictor[int](4*ms, true).EvictAfter(elems(1, 10), Window{}, ctx); !slices.Equal(values(got), []int{1}) {
		t.Errorf("evict after: %v", values(got))
	}
	if got := TimeEvictor[int](4*ms, false).EvictBefore(elems(1, 10), Window{}, EvictorContext{}); len(got) != 2 {
		t.Errorf("without timestamps: %v", got)
	}
}

func TestCountEvictor(t *testing.T) {
	got := CountEvictor[int](2, false).EvictBefore(elems(1, 2, 3, 4), Window{}, EvictorContext{})
	if !slices.Equal(values(got), []int{2, 3}) {
		t.Errorf("keep last 2: %v", values(got))
	}
	if got := CountEvictor[int](5, false).EvictBefore(elems(1, 2), Window{}, EvictorContext{}); len(got) != 2 {
		t.Errorf("fewer than n: %v", got)
	}
	if got := CountEvictor[int](1, true).EvictBefore(elems(1, 2), Window{}, EvictorContext{}); len(got) != 2 {
		t.Errorf("evict-after evictor evicted before: %v", got)
	}
	if got := CountEvictor[int](1, true).EvictAfter(elems(1, 2), Window{}, EvictorContext{}); !slices.Equal(values(got), []int{1}) {
		t.Errorf("evict after: %v", values(got))
	}
}

func TestCodecs(t *testing.T) {
	type rec struct {
		A int32
		B float64
		C int64
		D bool
	}
	c := FixedCodec[rec]()
	in := rec{-3, 2.5, 1 << 40, true}
	b := c.Append([]byte{9}, in)
	got, n, err := c.Decode(b[1:])
	if err != nil || n != len(b)-1 || got != in {
		t.Errorf("FixedCodec: %+v %d %v", got, n, err)
	}
	sc := StringCodec()
	b = sc.Append(nil, "héllo")
	s, n, err := sc.Decode(b)
	if err != nil || n != len(b) || s != "héllo" {
		t.Errorf("StringCodec: %q %d %v", s, n, err)
	}
	if _, _, err := sc.Decode(b[:3]); err == nil {
		t.Error("StringCodec accepted a truncated input")
	}
}
