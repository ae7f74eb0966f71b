package window

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/engine"
)

// canonical restores st into a fresh operator and returns its first
// checkpoint: one base per key group, whatever chains st holds.
func canonical(t tb, spec DeltaTimeMaxSpec[car], maxPar int, st *engine.KeyedState) *engine.KeyedState {
	o, err := NewDeltaTimeMax(carKeys(maxPar), spec)
	if err != nil {
		t.Fatal(err)
	}
	openAll(t, o, engine.KeyGroupRange{Start: 0, End: maxPar}, maxPar, st)
	out := engine.NewKeyedState()
	if err := o.OnCheckpoint(1, out); err != nil {
		t.Fatal(err)
	}
	if err := out.Resolve(); err != nil {
		t.Fatal(err)
	}
	return out
}

// fedCars returns an operator that has seen one record of each of n cars,
// car i at time ts(i), and the records.
func fedCars(t tb, spec DeltaTimeMaxSpec[car], maxPar, n int, ts func(int) int64) (*DeltaTimeMax[int32, car], []car) {
	o := newFused(t, spec, maxPar)
	in := make([]car, n)
	for i := range in {
		in[i] = car{ID: int32(i), Speed: 1, Dist: 1, TS: ts(i)}
	}
	var out engine.Output[car]
	if err := o.ProcessBatch(in, &out); err != nil {
		t.Fatal(err)
	}
	return o, in
}

// checkpointNow takes a checkpoint of o and resolves it.
func checkpointNow(t tb, o *DeltaTimeMax[int32, car], id uint64) *engine.KeyedState {
	st := engine.NewKeyedState()
	if err := o.OnCheckpoint(id, st); err != nil {
		t.Fatal(err)
	}
	if err := st.Resolve(); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDeltaSegmentHoldsOnlyChangedKeys: after a base, a change to one key
// of 100 gives its group a delta segment holding that key only; the other
// groups keep their segments; the chain restores to the same state.
func TestDeltaSegmentHoldsOnlyChangedKeys(t *testing.T) {
	spec := carSpec(time.Second, 1)
	o, in := fedCars(t, spec, 4, 100, func(i int) int64 { return int64(i) })
	var out engine.Output[car]
	first := checkpointNow(t, o, 1)
	if err := o.ProcessBatch([]car{{ID: 7, Speed: 3, Dist: 5, TS: 100}}, &out); err != nil {
		t.Fatal(err)
	}
	second := checkpointNow(t, o, 2)
	changed := carKeys(4).KeyGroup(7)
	for _, kg := range first.KeyGroups() {
		a, b := first.Segments(kg), second.Segments(kg)
		if kg != changed {
			if len(b) != 1 || b[0].Gen != a[0].Gen {
				t.Fatalf("key group %d: unchanged, but segments %d (gen %d, was %d)", kg, len(b), b[0].Gen, a[0].Gen)
			}
			continue
		}
		if len(b) != 2 || b[0].Gen != a[0].Gen || b[1].Gen == a[0].Gen {
			t.Fatalf("key group %d: want the base and one delta, got %d segments", kg, len(b))
		}
		if b[1].Data[0] != dtmStateV2 || b[1].Data[1] != 1 || len(b[1].Data) > len(b[0].Data)/10 {
			t.Fatalf("delta of %d bytes (base %d): want one key", len(b[1].Data), len(b[0].Data))
		}
	}
	want := syncSnapshot(t, spec, 4, append(in, car{ID: 7, Speed: 3, Dist: 5, TS: 100}))
	got := canonical(t, spec, 4, second)
	for _, kg := range want.KeyGroups() {
		if string(got.Get(kg)) != string(want.Get(kg)) {
			t.Fatalf("key group %d: the chain restores to another state", kg)
		}
	}
}

// TestChainCompacts: a key group changed at every checkpoint keeps a
// chain of at most dtmMaxChain segments, and a delta as large as the base
// gives a new base at once.
func TestChainCompacts(t *testing.T) {
	spec := carSpec(time.Second, 1)
	// Enough keys that 63 deltas of one growing key stay below
	// dtmMaxDeltaPct of the base: the length bound acts.
	o, in := fedCars(t, spec, 1, 20000, func(int) int64 { return 0 })
	var out engine.Output[car]
	longest := 0
	for i := range 3 * dtmMaxChain {
		if err := o.ProcessBatch([]car{{ID: 3, Speed: 2, Dist: float64(i), TS: int64(i)}}, &out); err != nil {
			t.Fatal(err)
		}
		n := len(checkpointNow(t, o, uint64(i+1)).Segments(0))
		if n > dtmMaxChain {
			t.Fatalf("checkpoint %d: %d segments", i+1, n)
		}
		longest = max(longest, n)
	}
	if longest != dtmMaxChain {
		t.Fatalf("longest chain %d, want %d", longest, dtmMaxChain)
	}
	for i := range in {
		in[i].TS = 1000
	}
	if err := o.ProcessBatch(in, &out); err != nil {
		t.Fatal(err)
	}
	if n := len(checkpointNow(t, o, 100).Segments(0)); n != 1 {
		t.Fatalf("every key changed: %d segments, want a new base", n)
	}
}

// TestEarlierCheckpointsKeepTheirChains: a barrier extends a key group's
// chain in place (deltaSegment), so the segments of earlier checkpoints,
// which a store may still be writing, must stay as they were: each kept
// checkpoint restores, after 300 more, to what it restored to when taken.
// Some checkpoints are dropped before their encoders run, as the engine
// drops a failed one; the next barrier then starts a new base.
func TestEarlierCheckpointsKeepTheirChains(t *testing.T) {
	spec := carSpec(time.Second, 1)
	const maxPar, keys = 4, 400
	o, _ := fedCars(t, spec, maxPar, keys, func(int) int64 { return 0 })
	r := rand.New(rand.NewPCG(1, 2))
	var out engine.Output[car]
	type kept struct {
		st   *engine.KeyedState
		want map[int]string
	}
	var all []kept
	restored := func(st *engine.KeyedState) map[int]string {
		c := canonical(t, spec, maxPar, st)
		m := map[int]string{}
		for _, kg := range c.KeyGroups() {
			m[kg] = string(c.Get(kg))
		}
		return m
	}
	for i := range 300 {
		for range 1 + r.IntN(8) {
			c := car{ID: int32(r.IntN(keys)), Speed: int32(r.IntN(100)), Dist: float64(i), TS: int64(i + 1)}
			if err := o.ProcessBatch([]car{c}, &out); err != nil {
				t.Fatal(err)
			}
		}
		st := engine.NewKeyedState()
		if err := o.OnCheckpoint(uint64(i+1), st); err != nil {
			t.Fatal(err)
		}
		if i%9 == 4 {
			continue // dropped: its encoders never run
		}
		if err := st.Resolve(); err != nil {
			t.Fatal(err)
		}
		all = append(all, kept{st, restored(st)})
	}
	for i, k := range all {
		if got := restored(k.st); !maps.Equal(got, k.want) {
			t.Fatalf("kept checkpoint %d of %d restores to another state after later checkpoints", i+1, len(all))
		}
	}
}

// TestChainEncodingErrors: corrupt or inconsistent chains are errors
// naming the segment, never panics; a delete removes a key; a key in the
// wrong key group stays an error.
func TestChainEncodingErrors(t *testing.T) {
	spec := carSpec(time.Second, 1)
	keys := carKeys(8)
	var kg int
	var carsIn []car
	for id := int32(0); len(carsIn) < 2; id++ {
		if keys.KeyGroup(id) == 3 {
			carsIn = append(carsIn, car{ID: id, Speed: 1, Dist: 1})
		}
		if keys.KeyGroup(id) == 5 && kg == 0 {
			kg = int(id) // a key of another group
		}
	}
	codec := FixedCodec[car]()
	put := func(c car) []byte {
		b := binary.AppendVarint([]byte{dtmPut}, 0)
		return append(codec.Append(b, c), 0, 0)
	}
	del := func(c car) []byte { return codec.Append([]byte{dtmDelete}, c) }
	seg := func(entries ...[]byte) []byte {
		b := binary.AppendUvarint([]byte{dtmStateV2}, uint64(len(entries)))
		return slices.Concat(append([][]byte{b}, entries...)...)
	}
	a, b := carsIn[0], carsIn[1]
	restore := func(blob []byte) (*DeltaTimeMax[int32, car], error) {
		o, err := NewDeltaTimeMax(keys, spec)
		if err != nil {
			t.Fatal(err)
		}
		st := engine.NewKeyedState()
		st.Put(3, blob)
		return o, o.Open(engine.OperatorContext{KeyGroups: engine.KeyGroupRange{Start: 0, End: 8}, MaxParallelism: 8, Parallelism: 1, Restored: st})
	}
	o, err := restore(slices.Concat(seg(put(a), put(b)), seg(del(a)), seg(put(b))))
	if err != nil || o.Keys() != 1 || o.states.Get(b.ID) == nil {
		t.Fatalf("put a, b; delete a; put b: %d keys, %v", o.Keys(), err)
	}
	for name, blob := range map[string][]byte{
		"delete of an absent key": slices.Concat(seg(put(a)), seg(del(b))),
		"key twice in a segment":  seg(put(a), put(a)),
		"bad tag":                 append(seg(), 1, 7),
		"wrong key group":         seg(put(car{ID: int32(kg)})),
		"truncated":               seg(put(a), put(b))[:20],
		"bad version":             append(seg(put(a)), 9),
	} {
		if _, err := restore(blob); err == nil {
			t.Errorf("%s: restored", name)
		} else if !strings.Contains(err.Error(), "segment") && !strings.Contains(err.Error(), "corrupt") && !strings.Contains(err.Error(), "key group") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestChainsThroughTheStore is the property: random records, checkpoints
// written to a checkpoint.Store (some abandoned, so the operator's chain
// is ahead of what the store holds), compactions; the latest checkpoint,
// loaded from disk and restored at parallelism 1..4, holds the state of a
// synchronous snapshot of the input so far.
func TestChainsThroughTheStore(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const maxPar = 8
		spec := carSpec(50*time.Millisecond, 2)
		dir, err := os.MkdirTemp("", "dtmchain")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		store, err := checkpoint.NewStore(dir, rapid.IntRange(1, 3).Draw(t, "retain"), "checkpoint", nil)
		if err != nil {
			t.Fatal(err)
		}
		o := newFused(t, spec, maxPar)
		var out engine.Output[car]
		var in []car
		ts := int64(0)
		written := -1 // input length at the last written checkpoint
		for id := uint64(1); id <= uint64(rapid.IntRange(1, 25).Draw(t, "checkpoints")); id++ {
			nKeys := rapid.IntRange(1, 40).Draw(t, "keys")
			batch := rapid.SliceOfN(rapid.IntRange(0, nKeys-1), 0, 30).Draw(t, "batch")
			for _, k := range batch {
				ts += int64(rapid.IntRange(-3, 20).Draw(t, "dt"))
				in = append(in, car{ID: int32(k), Speed: int32(rapid.IntRange(0, 9).Draw(t, "speed")), Dist: float64(ts), TS: ts})
				if err := o.ProcessBatch(in[len(in)-1:], &out); err != nil {
					t.Fatal(err)
				}
			}
			st := engine.NewKeyedState()
			if err := o.OnCheckpoint(id, st); err != nil {
				t.Fatal(err)
			}
			snap := &engine.Snapshot{ID: id, MaxParallelism: maxPar, Sources: map[string][]byte{}, Sinks: map[string][]byte{},
				Watermarks: map[string]int64{}, Operators: map[string]*engine.KeyedState{"top": st}}
			switch rapid.IntRange(0, 4).Draw(t, "fate") {
			case 0: // dropped: the encoders never run
				continue
			case 1: // encoded, but the write is abandoned
				if err := st.Resolve(); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				if _, err := store.Write(ctx, snap, checkpoint.Meta{Fingerprint: "p"}); err == nil {
					t.Fatal("an abandoned write succeeded")
				}
				continue
			}
			if err := st.Resolve(); err != nil {
				t.Fatal(err)
			}
			if _, err := store.Write(context.Background(), snap, checkpoint.Meta{Fingerprint: "p"}); err != nil {
				t.Fatal(err)
			}
			written = len(in)
		}
		if written < 0 {
			return
		}
		snap, _, err := store.Latest("p", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := syncSnapshot(t, spec, maxPar, in[:written])
		par := rapid.IntRange(1, 4).Draw(t, "parallelism")
		got := engine.NewKeyedState()
		for i := range par {
			kgs := engine.KeyGroupRangeFor(i, maxPar, par)
			r, err := NewDeltaTimeMax(carKeys(maxPar), spec)
			if err != nil {
				t.Fatal(err)
			}
			openAll(t, r, kgs, maxPar, snap.Operators["top"].Subset(kgs))
			got.Merge(checkpointNow(t, r, 1))
		}
		if fmt.Sprint(got.KeyGroups()) != fmt.Sprint(want.KeyGroups()) {
			t.Fatalf("key groups %v, want %v", got.KeyGroups(), want.KeyGroups())
		}
		for _, kg := range want.KeyGroups() {
			if string(got.Get(kg)) != string(want.Get(kg)) {
				t.Fatalf("key group %d: restored state differs from the model", kg)
			}
		}
	})
}

// TestDirtyTrackingNoAllocs: between checkpoints that produce deltas,
// processing records (which marks keys dirty) allocates nothing once the
// dirty lists have grown.
func TestDirtyTrackingNoAllocs(t *testing.T) {
	o := newFused(t, carSpec(10*time.Second, 50), 128)
	batch := make([]car, 100)
	i := 0
	run := func(keys int) {
		for j := range batch {
			batch[j] = car{ID: int32(i % keys), Speed: int32(i*7919) % 200, Dist: float64(i) * 0.6, TS: int64(i) * 10}
			i++
		}
		o.out = o.out[:0]
		for j := range batch {
			o.process(&batch[j])
		}
	}
	for range 50 { // every key exists and has grown its buffers
		run(1000)
	}
	var before, after runtime.MemStats
	var allocs uint64
	deltas := 0
	for id := range uint64(40) {
		st := checkpointNow(t, o, id+1)
		for _, kg := range st.KeyGroups() {
			if len(st.Segments(kg)) > 1 {
				deltas++
			}
		}
		runtime.ReadMemStats(&before)
		run(1000)
		runtime.ReadMemStats(&after)
		if id >= 20 {
			allocs += after.Mallocs - before.Mallocs
		}
	}
	if deltas == 0 {
		t.Fatal("no delta segments: the test does not exercise dirty tracking")
	}
	if allocs != 0 {
		t.Errorf("%d allocations in 20 batches between checkpoints", allocs)
	}
}
