package engine_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/topspeed/topspeed/engine"
)

// A snapshot whose keyed stage the pipeline no longer has is refused
// before any stage opens; AllowNonRestoredState drops that state (and logs
// it on the pipeline's logger) so that the run can go ahead.
func ExamplePipeline_RestoreFrom() {
	old := engine.NewKeyedState()
	old.Put(3, []byte("state of key group 3"))
	snap := &engine.Snapshot{ID: 7, MaxParallelism: 8, Operators: map[string]*engine.KeyedState{"sum-v1": old}}

	for _, opts := range [][]engine.RestoreOption{nil, {engine.AllowNonRestoredState()}} {
		c := &collect{}
		p := build(&sliceSource{recs: []int{1, 2, 3}, chunk: 10}, c, engine.WithParallelism(2), engine.WithMaxParallelism(8))
		p.RestoreFrom(snap, opts...)
		err := p.Run(context.Background())
		fmt.Println(errors.Is(err, engine.ErrIncompatibleState), len(c.records()))
		if err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// true 0
	// engine: snapshot does not fit the pipeline: checkpoint 7 holds state no stage of this pipeline claims: operator stage "sum-v1" state (key groups 3): the pipeline has no stage of that name; restore with AllowNonRestoredState to drop it
	// false 3
}
