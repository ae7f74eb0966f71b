package tester_test

import (
	"fmt"
	"slices"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/tester"
)

// wordCounter emits each word with its running count, kept in a typed
// ValueState that the engine (here the harness) checkpoints.
type wordCounter struct {
	engine.BaseOperator[string, string]
	counts *engine.ValueState[string, int64]
}

func (c *wordCounter) Open(ctx engine.OperatorContext) (err error) {
	c.counts, err = engine.NewValueState[string, int64](ctx, "count", engine.StringCodec{}, engine.Int64Codec{})
	return err
}

func (c *wordCounter) ProcessBatch(in []string, out *engine.Output[string]) error {
	for _, w := range in {
		n, _ := c.counts.Get(w)
		c.counts.Set(w, n+1)
		out.Emit(fmt.Sprintf("%s=%d", w, n+1))
	}
	return nil
}

func newWordCounter(engine.Keys[string, string]) engine.Operator[string, string] {
	return &wordCounter{}
}

// Drive an operator step by step: process records, read its output, take
// a checkpoint and restore it into two subtasks, which continue the
// counts of the keys they own.
func ExampleHarness() {
	keys := engine.Keys[string, string]{Key: func(w string) string { return w }, Hash: engine.HashString}
	h := tester.NewHarness(newWordCounter, keys)
	if err := h.Open(); err != nil {
		fmt.Println(err)
		return
	}
	if err := h.Process("a", "b", "a"); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.TakeOutput())
	snap, err := h.Snapshot(1)
	if err != nil {
		fmt.Println(err)
		return
	}

	h2 := h.Restore(snap, tester.AllSubtasks(2))
	if err := h2.Open(); err != nil {
		fmt.Println(err)
		return
	}
	if err := h2.Process("a", "c", "b"); err != nil {
		fmt.Println(err)
		return
	}
	// The output comes subtask by subtask: sort it, as the subtask of a
	// key depends on its hash.
	fmt.Println(slices.Sorted(slices.Values(h2.Output())))
	fmt.Println(h2.Close())
	// Output:
	// [a=1 b=1 a=2]
	// [a=3 b=2 c=1]
	// <nil>
}
