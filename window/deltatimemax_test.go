package window

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/topspeed/topspeed/engine"
)

// car mirrors the TopSpeed record, plus N, the input position, so that
// equal-looking records are told apart.
type car struct {
	ID    int32
	Speed int32
	Dist  float64
	TS    int64
	N     int32
}

func carKeys(maxPar int) engine.Keys[int32, car] {
	return engine.Keys[int32, car]{Key: func(c car) int32 { return c.ID }, Hash: engine.HashInt32, MaxParallelism: maxPar}
}

func carSpec(evict time.Duration, threshold float64) DeltaTimeMaxSpec[car] {
	return DeltaTimeMaxSpec[car]{
		Timestamp: func(c car) int64 { return c.TS },
		Evict:     evict,
		Threshold: threshold,
		Delta:     func(old, new car) float64 { return new.Dist - old.Dist },
		Compare:   func(a, b car) int { return int(a.Speed) - int(b.Speed) },
		Codec:     FixedCodec[car](),
	}
}

func (o *DeltaTimeMax[K, T]) pending() []T { return o.out }

func openAll(t tb, o engine.Operator[car, car], kgs engine.KeyGroupRange, maxPar int, restored *engine.KeyedState) {
	if err := o.Open(engine.OperatorContext{KeyGroups: kgs, MaxParallelism: maxPar, Parallelism: 1, Restored: restored}); err != nil {
		t.Fatal(err)
	}
}

func newFused(t tb, spec DeltaTimeMaxSpec[car], maxPar int) *DeltaTimeMax[int32, car] {
	o, err := NewDeltaTimeMax(carKeys(maxPar), spec)
	if err != nil {
		t.Fatal(err)
	}
	openAll(t, o, engine.KeyGroupRange{Start: 0, End: maxPar}, maxPar, nil)
	return o
}

func newGeneric(t tb, spec DeltaTimeMaxSpec[car], maxPar int) *Operator[int32, car, car] {
	s := AsSpec[int32](spec)
	s.KeyCodec = FixedCodec[int32]()
	o, err := New(carKeys(maxPar), s)
	if err != nil {
		t.Fatal(err)
	}
	openAll(t, o, engine.KeyGroupRange{Start: 0, End: maxPar}, maxPar, nil)
	return o
}

// runBatches feeds in to o in batches cut at the given sizes (the rest in
// one batch) and returns everything emitted.
func runBatches[O interface {
	engine.Operator[car, car]
	pending() []car
}](t tb, o O, in []car, cuts []int) []car {
	var got []car
	for len(in) > 0 {
		n := len(in)
		if len(cuts) > 0 {
			n, cuts = min(cuts[0], n), cuts[1:]
		}
		got = append(got, hook(t, o, func(out *engine.Output[car]) error { return o.ProcessBatch(in[:n], out) })...)
		in = in[n:]
	}
	got = append(got, hook(t, o, func(out *engine.Output[car]) error { return o.OnWatermark(1<<62, out) })...)
	return got
}

// naiveTopSpeed is Flink's semantics written out plainly: every element is
// kept until a firing evicts it, and a firing re-scans the whole list.
func naiveTopSpeed(in []car, evict int64, threshold float64) []car {
	type state struct {
		last  car
		has   bool
		elems []car
	}
	keys := map[int32]*state{}
	var out []car
	for _, e := range in {
		s := keys[e.ID]
		if s == nil {
			s = &state{}
			keys[e.ID] = s
		}
		s.elems = append(s.elems, e)
		if !s.has {
			s.last, s.has = e, true
			continue
		}
		if !(e.Dist-s.last.Dist > threshold) {
			continue
		}
		s.last = e
		maxTs := s.elems[0].TS
		for _, x := range s.elems {
			maxTs = max(maxTs, x.TS)
		}
		var kept []car
		for _, x := range s.elems {
			if x.TS > maxTs-evict {
				kept = append(kept, x)
			}
		}
		s.elems = kept
		best := kept[0]
		for _, x := range kept[1:] {
			if x.Speed > best.Speed {
				best = x
			}
		}
		out = append(out, best)
	}
	return out
}

// topSpeedCase is a hand-computed TopSpeed run (threshold 50 m, evict 10 s).
// Car 1 is in order, car 2 fires at once, car 3 is out of order.
//
//	e1 t=0     v50 d0    first element: becomes last fired
//	f1 t=500   v100 d0   car 2 first
//	e2 t=1000  v60 d20   20 <= 50
//	f2 t=600   v90 d100  100 > 50: fire, max of f1 f2 = f1
//	e3 t=2000  v55 d50   50 is not > 50
//	e4 t=3000  v40 d51   51 > 50: fire, cutoff -7000, max of e1..e4 = e2 (60)
//	g1 t=10000 v30 d0    car 3 first
//	g2 t=20000 v20 d10
//	g3 t=15000 v50 d20   older than g2 (out of order), newer than the cutoff
//	g4 t=21000 v10 d100  fire: cutoff 11000 drops g1; max of g2 g3 g4 = g3
//	e5 t=12000 v60 d80   29
//	e6 t=13000 v60 d102  51 > 50: fire, cutoff 3000 drops e1..e4 (e4 exactly
//	                     at the cutoff); e5 and e6 tie at 60: e5 (first)
//	g5 t=26000 v15 d151  51 > 50: fire, cutoff 16000 drops g1 and g3; max of
//	                     g2 (20) g4 (10) g5 (15) = g2. A plain deque would
//	                     have dropped g2 when g3 arrived and answer g5.
//	e7 t=23000 v10 d153  51 > 50: fire, cutoff 13000 drops e5 (12000) and e6
//	                     (13000, exactly at the cutoff): e7
func topSpeedCase() (in, want []car) {
	e := func(id, v int32, d float64, ts int64) car { return car{ID: id, Speed: v, Dist: d, TS: ts} }
	e1, e2, e3, e4 := e(1, 50, 0, 0), e(1, 60, 20, 1000), e(1, 55, 50, 2000), e(1, 40, 51, 3000)
	e5, e6, e7 := e(1, 60, 80, 12000), e(1, 60, 102, 13000), e(1, 10, 153, 23000)
	f1, f2 := e(2, 100, 0, 500), e(2, 90, 100, 600)
	g1, g2, g3, g4, g5 := e(3, 30, 0, 10000), e(3, 20, 10, 20000), e(3, 50, 20, 15000), e(3, 10, 100, 21000), e(3, 15, 151, 26000)
	in = []car{e1, f1, e2, f2, e3, e4, g1, g2, g3, g4, e5, e6, g5, e7}
	for i := range in {
		in[i].N = int32(i)
	}
	n := func(c car) car {
		for _, x := range in {
			if x.ID == c.ID && x.TS == c.TS {
				return x
			}
		}
		panic("missing")
	}
	return in, []car{n(f1), n(e2), n(g3), n(e5), n(g2), n(e7)}
}

func TestDeltaTimeMaxHandComputed(t *testing.T) {
	in, want := topSpeedCase()
	spec := carSpec(10*time.Second, 50)
	expect(t, "naive reference", naiveTopSpeed(in, 10000, 50), want)
	expect(t, "generic operator", runBatches(t, newGeneric(t, spec, 128), in, nil), want)
	expect(t, "fused operator", runBatches(t, newFused(t, spec, 128), in, nil), want)
	expect(t, "fused, one record per batch", runBatches(t, newFused(t, spec, 128), in, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}), want)
}

func TestDeltaTimeMaxValidate(t *testing.T) {
	good := carSpec(time.Second, 1)
	for name, mod := range map[string]func(*DeltaTimeMaxSpec[car]){
		"timestamp": func(s *DeltaTimeMaxSpec[car]) { s.Timestamp = nil },
		"delta":     func(s *DeltaTimeMaxSpec[car]) { s.Delta = nil },
		"compare":   func(s *DeltaTimeMaxSpec[car]) { s.Compare = nil },
		"evict":     func(s *DeltaTimeMaxSpec[car]) { s.Evict = time.Microsecond },
	} {
		s := good
		mod(&s)
		if _, err := NewDeltaTimeMax(carKeys(8), s); err == nil {
			t.Errorf("missing %s accepted", name)
		}
		if err := DeltaTimeMaxFactory[int32](s)(carKeys(8)).Open(engine.OperatorContext{}); err == nil {
			t.Errorf("missing %s: Open succeeded", name)
		}
	}
	if err := good.Validate(); err != nil {
		t.Error(err)
	}
}

// genCars draws a TopSpeed input that stresses the edge cases: few keys,
// speeds with many ties, distance steps that are often exactly the
// threshold, timestamps equal, exactly one evict size apart, and (if
// outOfOrder) going back in time.
func genCars(t *rapid.T, evict int64, threshold float64, outOfOrder bool) []car {
	nKeys := rapid.IntRange(1, 4).Draw(t, "keys")
	n := rapid.IntRange(0, 300).Draw(t, "n")
	ts := make([]int64, nKeys)
	dist := make([]float64, nKeys)
	for k := range ts {
		ts[k] = rapid.Int64Range(-50, 50).Draw(t, "start")
	}
	steps := []int64{0, 0, 1, 2, evict - 1, evict, evict, evict + 1, 3}
	if outOfOrder {
		steps = append(steps, -1, -evict, -evict-1, -evict+1, -2*evict, -3)
	}
	dsteps := []float64{0, threshold, threshold, threshold + 0.5, 1, -1, 2*threshold + 1}
	in := make([]car, n)
	for i := range in {
		k := rapid.IntRange(0, nKeys-1).Draw(t, "key")
		ts[k] += rapid.SampledFrom(steps).Draw(t, "dt")
		dist[k] += rapid.SampledFrom(dsteps).Draw(t, "dd")
		in[i] = car{ID: int32(k), Speed: rapid.Int32Range(0, 4).Draw(t, "speed"), Dist: dist[k], TS: ts[k], N: int32(i)}
	}
	return in
}

func drawCuts(t *rapid.T, n int) []int {
	return rapid.SliceOfN(rapid.IntRange(1, max(1, n/3+1)), 0, 8).Draw(t, "cuts")
}

// TestDeltaTimeMaxMatchesGeneric checks, record for record, the fused
// operator against the generic operator (Global + TimeEvictor + Delta +
// MaxBy, Flink's naive re-scan) and both against the plain-slice reference.
func TestDeltaTimeMaxMatchesGeneric(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		evict := rapid.SampledFrom([]int64{1, 3, 10}).Draw(t, "evict")
		threshold := rapid.SampledFrom([]float64{0, 2, 5}).Draw(t, "threshold")
		in := genCars(t, evict, threshold, rapid.Bool().Draw(t, "outOfOrder"))
		spec := carSpec(time.Duration(evict)*time.Millisecond, threshold)
		want := naiveTopSpeed(in, evict, threshold)
		generic := runBatches(t, newGeneric(t, spec, 8), in, drawCuts(t, len(in)))
		fused := runBatches(t, newFused(t, spec, 8), in, drawCuts(t, len(in)))
		if !slices.Equal(generic, want) {
			t.Fatalf("generic operator differs from the reference:\n got %v\nwant %v", generic, want)
		}
		if !slices.Equal(fused, want) {
			t.Fatalf("fused operator differs:\n got %v\nwant %v", fused, want)
		}
	})
}

// restoreRun runs an operator made by mk on in[:cut], checkpoints it,
// restores the state into par new operators owning disjoint key-group ranges
// and feeds them in[cut:], routing each record by key group. It returns the
// new operators' output in input order.
func restoreRun(t tb, mk func() engine.Operator[car, car], pending func(engine.Operator[car, car]) []car, in []car, cut, par, maxPar int) []car {
	first := mk()
	openAll(t, first, engine.KeyGroupRange{Start: 0, End: maxPar}, maxPar, nil)
	var got []car
	step := func(o engine.Operator[car, car], recs []car) {
		var out engine.Output[car]
		if err := o.ProcessBatch(recs, &out); err != nil {
			t.Fatal(err)
		}
		got = append(got, pending(o)...)
	}
	step(first, in[:cut])
	st := engine.NewKeyedState()
	if err := first.OnCheckpoint(1, st); err != nil {
		t.Fatal(err)
	}
	// The old operator keeps running: the checkpoint must not share its state.
	step(first, in[cut:])
	got = got[:0]
	ops := make([]engine.Operator[car, car], par)
	for i := range ops {
		r := engine.KeyGroupRangeFor(i, maxPar, par)
		ops[i] = mk()
		openAll(t, ops[i], r, maxPar, st.Subset(r))
	}
	keys := carKeys(maxPar)
	for _, c := range in[cut:] {
		step(ops[engine.SubtaskForKeyGroup(keys.KeyGroup(c.ID), maxPar, par)], []car{c})
	}
	return got
}

func TestCheckpointRestore(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		evict := rapid.SampledFrom([]int64{1, 3, 10}).Draw(t, "evict")
		threshold := rapid.SampledFrom([]float64{0, 2, 5}).Draw(t, "threshold")
		in := genCars(t, evict, threshold, rapid.Bool().Draw(t, "outOfOrder"))
		spec := carSpec(time.Duration(evict)*time.Millisecond, threshold)
		cut := rapid.IntRange(0, len(in)).Draw(t, "cut")
		par := rapid.IntRange(1, 3).Draw(t, "parallelism")
		want := naiveTopSpeed(in, evict, threshold)
		// Output before the cut comes from the first run in both cases.
		before := len(naiveTopSpeed(in[:cut], evict, threshold))
		fused := restoreRun(t, func() engine.Operator[car, car] { o, _ := NewDeltaTimeMax(carKeys(8), spec); return o },
			func(o engine.Operator[car, car]) []car { return o.(*DeltaTimeMax[int32, car]).out }, in, cut, par, 8)
		if !slices.Equal(fused, want[before:]) {
			t.Fatalf("fused after restore (cut %d, parallelism %d):\n got %v\nwant %v", cut, par, fused, want[before:])
		}
		gspec := AsSpec[int32](spec)
		gspec.KeyCodec = FixedCodec[int32]()
		generic := restoreRun(t, func() engine.Operator[car, car] { o, _ := New(carKeys(8), gspec); return o },
			func(o engine.Operator[car, car]) []car { return o.(*Operator[int32, car, car]).out }, in, cut, par, 8)
		if !slices.Equal(generic, want[before:]) {
			t.Fatalf("generic after restore (cut %d, parallelism %d):\n got %v\nwant %v", cut, par, generic, want[before:])
		}
	})
}

func TestDeltaTimeMaxCheckpointErrors(t *testing.T) {
	spec := carSpec(time.Second, 1)
	spec.Codec = nil
	o := newFused(t, spec, 8)
	if err := o.OnCheckpoint(1, engine.NewKeyedState()); err == nil {
		t.Error("checkpoint without a codec succeeded")
	}
	// A blob restored into the wrong key group is rejected.
	spec = carSpec(time.Second, 1)
	o = newFused(t, spec, 8)
	runBatches(t, o, []car{{ID: 1, TS: 1}}, nil)
	st := engine.NewKeyedState()
	if err := o.OnCheckpoint(1, st); err != nil {
		t.Fatal(err)
	}
	kg := carKeys(8).KeyGroup(1)
	bad := engine.NewKeyedState()
	bad.Put((kg+1)%8, st.Get(kg))
	o2, _ := NewDeltaTimeMax(carKeys(8), spec)
	if err := o2.Open(engine.OperatorContext{KeyGroups: engine.KeyGroupRange{Start: 0, End: 8}, MaxParallelism: 8, Restored: bad}); err == nil {
		t.Error("restored a key into the wrong key group")
	}
	for _, b := range [][]byte{{9}, {1, 5}, append(slices.Clone(st.Get(kg)), 0)} {
		bad := engine.NewKeyedState()
		bad.Put(kg, b)
		o3, _ := NewDeltaTimeMax(carKeys(8), spec)
		if err := o3.Open(engine.OperatorContext{KeyGroups: engine.KeyGroupRange{Start: 0, End: 8}, MaxParallelism: 8, Restored: bad}); err == nil {
			t.Errorf("restored corrupt state %v", b)
		}
	}
}

func TestGenericCheckpointTimers(t *testing.T) {
	// Tumbling and session windows with pending timers survive a restore.
	for _, a := range []Assigner{Tumbling(10*ms, 0), Session(5 * ms), Sliding(10*ms, 5*ms, 0)} {
		spec := Spec[string, ev, ev]{Assigner: a, Function: Reduce[string](sumEv), Timestamp: evTS, KeyCodec: StringCodec(), Codec: FixedCodecEv()}
		in := []ev{{"a", 1, 1}, {"b", 2, 3}, {"a", 4, 4}, {"a", 8, 12}, {"c", 16, 13}}
		whole := mustNew(t, evKeys(), spec)
		feed(t, whole, in...)
		want := watermark(t, whole, 1<<62)
		first := mustNew(t, evKeys(), spec)
		feed(t, first, in[:3]...)
		st := engine.NewKeyedState()
		if err := first.OnCheckpoint(1, st); err != nil {
			t.Fatal(err)
		}
		var got []ev
		for i := 0; i < 2; i++ {
			r := engine.KeyGroupRangeFor(i, 8, 2)
			o := newOperator(evKeys(), spec)
			if err := o.Open(engine.OperatorContext{KeyGroups: r, MaxParallelism: 8, Restored: st.Subset(r)}); err != nil {
				t.Fatal(err)
			}
			for _, e := range in[3:] {
				if r.Contains(evKeys().KeyGroup(e.K)) {
					feed(t, o, e)
				}
			}
			got = append(got, watermark(t, o, 1<<62)...)
		}
		byKeyTime := func(a, b ev) int {
			return cmp.Or(cmp.Compare(a.K, b.K), cmp.Compare(a.TS, b.TS), cmp.Compare(a.V, b.V))
		}
		slices.SortFunc(got, byKeyTime)
		slices.SortFunc(want, byKeyTime)
		expect(t, fmt.Sprintf("%T restored", a), got, want)
	}
	// Aggregate without AccCodec cannot checkpoint.
	o := mustNew(t, evKeys(), Spec[string, ev, int]{Assigner: Tumbling(ms, 0), Timestamp: evTS, KeyCodec: StringCodec(), Codec: FixedCodecEv(),
		Function: Aggregate[string](AggregateFunc[ev, int, int]{Create: func() int { return 0 }, Add: func(a int, e ev) int { return a + e.V }, Result: func(a int) int { return a }})})
	feed(t, o, ev{"a", 1, 1})
	if err := o.OnCheckpoint(1, engine.NewKeyedState()); err == nil {
		t.Error("Aggregate without AccCodec checkpointed")
	}
}

// FixedCodecEv encodes ev (its string key makes it variable-size).
func FixedCodecEv() Codec[ev] { return evCodec{} }

type evCodec struct{}

func (evCodec) Append(b []byte, e ev) []byte {
	b = StringCodec().Append(b, e.K)
	return FixedCodec[[2]int64]().Append(b, [2]int64{int64(e.V), e.TS})
}

func (evCodec) Decode(b []byte) (ev, int, error) {
	k, n, err := StringCodec().Decode(b)
	if err != nil {
		return ev{}, 0, err
	}
	v, m, err := FixedCodec[[2]int64]().Decode(b[n:])
	return ev{k, int(v[0]), v[1]}, n + m, err
}

// TestDeltaTimeMaxMemory checks the memory bound: a stopped car reporting
// the same speed every 100ms, in order, keeps only its last 10s of reports;
// with rising speeds only the last report; with jittered (out-of-order)
// timestamps at most twice the reports of the last 10s plus 16.
func TestDeltaTimeMaxMemory(t *testing.T) {
	spec := carSpec(10*time.Second, 50)
	o := newFused(t, spec, 8)
	for i := 0; i < 100000; i++ {
		runBatchesNoWM(t, o, car{ID: 1, Speed: 30, Dist: 7, TS: int64(i) * 100})
	}
	if got := o.Retained(); got != 100 {
		t.Errorf("stopped car: %d reports retained, want 100 (ts in (maxTs-10000, maxTs])", got)
	}
	o = newFused(t, spec, 8)
	for i := 0; i < 1000; i++ {
		runBatchesNoWM(t, o, car{ID: 1, Speed: int32(i), Dist: 7, TS: int64(i) * 100})
	}
	if got := o.Retained(); got != 1 {
		t.Errorf("rising speed: %d reports retained, want 1 (each dominates all before)", got)
	}
	o = newFused(t, spec, 8)
	for i := 0; i < 1000; i++ {
		runBatchesNoWM(t, o, car{ID: 1, Speed: int32(1000 - i), Dist: 7, TS: int64(i) * 100})
	}
	if got := o.Retained(); got != 100 {
		t.Errorf("falling speed: %d reports retained, want 100 (none dominated)", got)
	}
	o = newFused(t, spec, 8)
	for i := 0; i < 100000; i++ {
		ts := int64(i)*100 + int64(i%7)*150 // up to 900ms back in time
		runBatchesNoWM(t, o, car{ID: 1, Speed: 30, Dist: float64(i), TS: ts})
	}
	if !o.states.Get(1).heapMode {
		t.Error("out-of-order key not in heap mode")
	}
	if got := o.Retained(); got > 2*110+16 {
		t.Errorf("jittered car: %d reports retained", got)
	}
	if o.Keys() != 1 {
		t.Errorf("Keys = %d", o.Keys())
	}
}

func runBatchesNoWM(t tb, o *DeltaTimeMax[int32, car], in ...car) []car {
	return hook(t, o, func(out *engine.Output[car]) error { return o.ProcessBatch(in, out) })
}

// TestDeltaTimeMaxNoAllocs checks that the steady state allocates nothing
// per record: 100 keys in order, firing often (what ProcessBatch does, minus
// the engine's Output, which the engine reuses).
func TestDeltaTimeMaxNoAllocs(t *testing.T) {
	o := newFused(t, carSpec(10*time.Second, 50), 128)
	batch := make([]car, 1000)
	i := 0
	run := func() {
		for j := range batch {
			batch[j] = car{ID: int32(i % 100), Speed: int32(i*7919) % 200, Dist: float64(i) * 0.6, TS: int64(i) * 10}
			i++
		}
		o.out = o.out[:0]
		for j := range batch {
			o.process(&batch[j])
		}
	}
	for range 50 { // warm up: grow the ring buffers and the output buffer
		run()
	}
	if len(o.out) == 0 {
		t.Fatal("no output: the test does not exercise firing")
	}
	if allocs := testing.AllocsPerRun(20, run); allocs != 0 {
		t.Errorf("%.1f allocations per batch of 1000", allocs)
	}
}
