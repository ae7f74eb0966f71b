package engine_test

import (
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// asyncSum is runningSum with an asynchronous snapshot: OnCheckpoint
// copies the sums and puts an encoder that waits until the subtask has
// processed a record after the barrier, which it can only do if the engine
// runs the encoder on another goroutine.
type asyncSum struct {
	runningSum
	checkpointed chan struct{} // closed by the first OnCheckpoint
	after        chan struct{} // closed by the first ProcessBatch after it
}

func (a *asyncSum) ProcessBatch(in []int, out *engine.Output[int]) error {
	select {
	case <-a.checkpointed:
		if a.after != nil && len(in) > 0 {
			close(a.after)
			a.after = nil
		}
	default:
	}
	return a.runningSum.ProcessBatch(in, out)
}

func (a *asyncSum) OnCheckpoint(_ uint64, st *engine.KeyedState) error {
	frozen := maps.Clone(a.sums)
	after := a.after
	close(a.checkpointed)
	by := map[int][]int{}
	for k := range frozen {
		kg := a.keys.KeyGroup(k)
		by[kg] = append(by[kg], k)
	}
	for kg, ks := range by {
		st.PutFunc(kg, engine.NewStateGen(), func() ([]byte, error) {
			select {
			case <-after:
			case <-time.After(10 * time.Second):
				return nil, errors.New("the subtask processed nothing while its checkpoint was encoded")
			}
			var b []byte
			for _, k := range ks {
				b = binary.AppendUvarint(binary.AppendUvarint(b, uint64(k)), uint64(frozen[k]))
			}
			return b, nil
		})
	}
	return nil
}

func TestSnapshotIsEncodedOffTheHotPath(t *testing.T) {
	recs := seq(200)
	src := &sliceSource{recs: recs, chunk: 10, gate: make(chan struct{}), stopAt: 100}
	op := &asyncSum{checkpointed: make(chan struct{}), after: make(chan struct{})}
	p := engine.New(engine.WithParallelism(1))
	s := engine.FromSource(p, "src", engine.Source[int](src), engine.NoWatermarks[int]())
	out := engine.Process(engine.KeyBy(s, key10, engine.HashInt), "sum", func(keys engine.Keys[int, int]) engine.Operator[int, int] {
		op.keys = keys
		return op
	})
	sink := &collect{}
	engine.ToSink(out, "collect", engine.Sink[int](sink))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	type result struct {
		snap *engine.Snapshot
		err  error
	}
	ck := make(chan result, 1)
	for {
		if n := len(sink.records()); n == 100 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	go func() { snap, err := p.Checkpoint(ctx); ck <- result{snap, err} }()
	<-op.checkpointed
	close(src.gate) // the rest of the input flows while the checkpoint is encoded
	r := <-ck
	if r.err != nil {
		t.Fatal(r.err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := map[int]int{}
	for _, v := range recs[:100] {
		want[v%10] += v
	}
	restored := &runningSum{}
	ctxR := engine.OperatorContext{KeyGroups: engine.KeyGroupRange{Start: 0, End: engine.DefaultMaxParallelism},
		Restored: r.snap.Operators["sum"]}
	if err := restored.Open(ctxR); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(restored.sums, want) {
		t.Fatalf("checkpoint holds %v, the state at the barrier was %v", restored.sums, want)
	}
	if len(sink.records()) != len(recs) {
		t.Fatalf("%d results, want %d", len(sink.records()), len(recs))
	}
}
