package engine_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// slowCount counts records per key and checkpoints each key group with an
// encoder that takes a few milliseconds on subtask 1 (asynchronous
// snapshots), so that subtask's part of a checkpoint arrives last.
type slowCount struct {
	engine.BaseOperator[int, int]
	keys    engine.Keys[int, int]
	subtask int
	counts  map[int]uint64
}

func (c *slowCount) Open(ctx engine.OperatorContext) error {
	c.subtask, c.counts = ctx.Subtask, map[int]uint64{}
	return nil
}
func (c *slowCount) ProcessBatch(in []int, _ *engine.Output[int]) error {
	for _, v := range in {
		c.counts[v]++
	}
	return nil
}
func (c *slowCount) OnProcessingTime(int64, *engine.Output[int]) error { return nil }
func (c *slowCount) OnCommit(uint64) error                             { return nil }
func (c *slowCount) Close(*engine.Output[int]) error                   { return nil }
func (c *slowCount) OnCheckpoint(_ uint64, st *engine.KeyedState) error {
	by := map[int][]byte{}
	for k, n := range c.counts {
		kg := c.keys.KeyGroup(k)
		by[kg] = binary.AppendUvarint(binary.AppendUvarint(by[kg], uint64(k)), n)
	}
	slow := c.subtask == 1
	for kg, b := range by {
		st.PutFunc(kg, 0, func() ([]byte, error) {
			if slow {
				time.Sleep(3 * time.Millisecond)
			}
			return b, nil
		})
	}
	return nil
}

// A final checkpoint (stop with savepoint) holds every subtask's state even
// when a subtask's asynchronous encoding finishes after the plain sink saw
// all barriers: the sink completes its part once per checkpoint, when every
// input delivered the barrier or ended. (It used to count an input that
// delivered the barrier and then ended twice, and completed the checkpoint
// without the slow subtask's state.)
func TestStopWithSavepointHasEverySubtask(t *testing.T) {
	for i := 0; i < 20; i++ {
		gate := make(chan struct{})
		p := engine.New(engine.WithParallelism(2), engine.WithMaxParallelism(16))
		s := engine.FromSource(p, "src", &sliceSource{recs: seq(250), chunk: 10, gate: gate, stopAt: 200}, engine.NoWatermarks[int]())
		out := engine.Process(engine.KeyBy(s, func(v int) int { return v }, engine.HashInt), "count", func(k engine.Keys[int, int]) engine.Operator[int, int] {
			return &slowCount{keys: k}
		})
		engine.ToSink(out, "collect", engine.Sink[int](&collect{}))
		done := make(chan error, 1)
		go func() { done <- p.Run(context.Background()) }()
		snap := stopWithSavepoint(t, p)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		var total uint64
		st := snap.Operators["count"]
		for _, kg := range st.KeyGroups() {
			for b := st.Get(kg); len(b) > 0; {
				_, n := binary.Uvarint(b)
				v, m := binary.Uvarint(b[n:])
				total += v
				b = b[n+m:]
			}
		}
		if pos := int(snap.Sources["src"][0]); total != uint64(pos) {
			t.Fatalf("run %d: the savepoint's counts add up to %d, its source position is %d (key groups %v)", i, total, pos, st.KeyGroups())
		}
	}
}
