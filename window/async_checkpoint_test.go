package window

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/topspeed/topspeed/engine"
)

// genManyCars is genCars with up to 30 keys, so that key groups hold
// several keys and checkpoints see both changed and unchanged groups.
func genManyCars(t *rapid.T, evict int64, threshold float64) []car {
	nKeys := rapid.IntRange(1, 30).Draw(t, "keys")
	n := rapid.IntRange(0, 400).Draw(t, "n")
	ts := make([]int64, nKeys)
	dist := make([]float64, nKeys)
	steps := []int64{0, 1, 2, evict - 1, evict, evict + 1, -1, -evict - 1}
	dsteps := []float64{0, threshold, threshold + 0.5, 1, -1}
	in := make([]car, n)
	for i := range in {
		// Skewed: a few keys are hot, so that many groups stay unchanged
		// between two checkpoints.
		k := rapid.IntRange(0, nKeys-1).Draw(t, "key")
		if rapid.IntRange(0, 3).Draw(t, "hot") > 0 {
			k %= 3
			k %= nKeys
		}
		ts[k] += rapid.SampledFrom(steps).Draw(t, "dt")
		dist[k] += rapid.SampledFrom(dsteps).Draw(t, "dd")
		in[i] = car{ID: int32(k), Speed: rapid.Int32Range(0, 4).Draw(t, "speed"), Dist: dist[k], TS: ts[k], N: int32(i)}
	}
	return in
}

// syncSnapshot checkpoints a fresh operator fed in, encoding on the
// caller's goroutine: the reference for what a checkpoint after in holds.
func syncSnapshot(t tb, spec DeltaTimeMaxSpec[car], maxPar int, in []car) *engine.KeyedState {
	o := newFused(t, spec, maxPar)
	var out engine.Output[car]
	if err := o.ProcessBatch(in, &out); err != nil {
		t.Fatal(err)
	}
	st := engine.NewKeyedState()
	if err := o.OnCheckpoint(1, st); err != nil {
		t.Fatal(err)
	}
	if err := st.Resolve(); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestAsyncSnapshotIsTheStateAtTheBarrier checkpoints at random barriers
// and encodes each checkpoint on another goroutine while the operator
// processes the next records (as the engine does): every checkpoint must
// equal a synchronous snapshot of the same input prefix (after a restore:
// a chain of segments and one base hold the same keys);
// a key group put with the generation of the previous checkpoint must have
// that checkpoint's bytes; and restoring the last checkpoint and feeding
// the rest must give the reference output. Run with -race: the encoder
// and the operator share the frozen state.
func TestAsyncSnapshotIsTheStateAtTheBarrier(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		evict := rapid.SampledFrom([]int64{1, 3, 10}).Draw(t, "evict")
		threshold := rapid.SampledFrom([]float64{0, 2, 5}).Draw(t, "threshold")
		in := genManyCars(t, evict, threshold)
		spec := carSpec(time.Duration(evict)*time.Millisecond, threshold)
		maxPar := rapid.SampledFrom([]int{1, 4, 16}).Draw(t, "maxPar")
		cuts := rapid.SliceOfN(rapid.IntRange(0, len(in)), 1, 6).Draw(t, "cuts")
		slices.Sort(cuts)

		o := newFused(t, spec, maxPar)
		var out engine.Output[car]
		done := make(chan struct{})
		close(done)
		var snaps []*engine.KeyedState
		pos := 0
		for _, cut := range cuts {
			if err := o.ProcessBatch(in[pos:cut], &out); err != nil {
				t.Fatal(err)
			}
			pos = cut
			<-done // the engine waits for the last checkpoint's encoders
			st := engine.NewKeyedState()
			if err := o.OnCheckpoint(uint64(len(snaps)+1), st); err != nil {
				t.Fatal(err)
			}
			snaps = append(snaps, st)
			done = make(chan struct{})
			go func(st *engine.KeyedState, done chan struct{}) {
				defer close(done)
				if err := st.Resolve(); err != nil {
					panic(err)
				}
			}(st, done)
			// Keep processing while the encoder runs: a few records now,
			// the rest at the next cut.
			next := min(len(in), pos+rapid.IntRange(0, 20).Draw(t, "during"))
			if next > cuts[len(cuts)-1] {
				next = pos
			}
			if next > pos && (len(snaps) == len(cuts) || next <= cuts[len(snaps)]) {
				if err := o.ProcessBatch(in[pos:next], &out); err != nil {
					t.Fatal(err)
				}
				pos = next
			}
		}
		<-done
		for i, st := range snaps {
			want := syncSnapshot(t, spec, maxPar, in[:cuts[i]])
			if !slices.Equal(st.KeyGroups(), want.KeyGroups()) {
				t.Fatalf("checkpoint %d (after %d records): key groups %v, synchronous snapshot has %v", i+1, cuts[i], st.KeyGroups(), want.KeyGroups())
			}
			for _, kg := range want.KeyGroups() {
				if !bytes.Equal(canonical(t, spec, maxPar, st).Get(kg), want.Get(kg)) {
					t.Fatalf("checkpoint %d (after %d records): key group %d differs from the synchronous snapshot", i+1, cuts[i], kg)
				}
				if st.Gen(kg) == 0 {
					t.Fatalf("checkpoint %d: key group %d has no generation", i+1, kg)
				}
				if i > 0 && st.Gen(kg) == snaps[i-1].Gen(kg) && !bytes.Equal(st.Get(kg), snaps[i-1].Get(kg)) {
					t.Fatalf("checkpoint %d: key group %d kept generation %d but its bytes changed", i+1, kg, st.Gen(kg))
				}
			}
		}
		// Restore the last checkpoint and finish the input.
		last := cuts[len(cuts)-1]
		r, err := NewDeltaTimeMax(carKeys(maxPar), spec)
		if err != nil {
			t.Fatal(err)
		}
		openAll(t, r, engine.KeyGroupRange{Start: 0, End: maxPar}, maxPar, snaps[len(snaps)-1])
		var rout engine.Output[car]
		if err := r.ProcessBatch(in[last:], &rout); err != nil {
			t.Fatal(err)
		}
		want := naiveTopSpeed(in, evict, threshold)
		before := len(naiveTopSpeed(in[:last], evict, threshold))
		if got := r.pending(); !slices.Equal(got, want[before:]) {
			t.Fatalf("after restoring the checkpoint at %d:\n got %v\nwant %v", last, got, want[before:])
		}
	})
}

// TestUnchangedGroupsKeepTheirGeneration checks the incremental side: a
// checkpoint right after another, with records for one key only, changes
// the generation of that key's group only.
func TestUnchangedGroupsKeepTheirGeneration(t *testing.T) {
	spec := carSpec(time.Second, 1)
	o := newFused(t, spec, 16)
	var out engine.Output[car]
	var in []car
	for i := range 40 {
		in = append(in, car{ID: int32(i), Speed: 1, Dist: 1, TS: int64(i)})
	}
	if err := o.ProcessBatch(in, &out); err != nil {
		t.Fatal(err)
	}
	first, err := engine.CheckpointOperator[car, car](o, engine.OperatorContext{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.ProcessBatch([]car{{ID: 7, Speed: 3, Dist: 5, TS: 100}}, &out); err != nil {
		t.Fatal(err)
	}
	second, err := engine.CheckpointOperator[car, car](o, engine.OperatorContext{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	changed := carKeys(16).KeyGroup(7)
	for _, kg := range first.KeyGroups() {
		same := first.Gen(kg) == second.Gen(kg)
		if same == (kg == changed) {
			t.Errorf("key group %d: generation %d then %d (changed group %d)", kg, first.Gen(kg), second.Gen(kg), changed)
		}
		if same && !bytes.Equal(first.Get(kg), second.Get(kg)) {
			t.Errorf("key group %d: same generation, other bytes", kg)
		}
	}
}
