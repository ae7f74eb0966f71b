package checkpoint_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/sink"
)

// Periodic checkpoints that fail in a row are counted; a success resets
// the count; a Committer's refusal (leadership ending) is not counted; the
// MaxConsecutiveFailures-th failure in a row ends Run with an error naming
// the last failure.
func TestCoordinatorMaxConsecutiveFailures(t *testing.T) {
	p := newPipeline(&ticks{n: -1, every: time.Millisecond}, sink.NewCollect[int](), 1)
	store := newStore(t, "checkpoint")
	st := newStats()
	refuse := errors.New("ha: not the leader")
	var refusing bool
	c := &checkpoint.Coordinator{Pipeline: p, Store: store, Interval: 5 * time.Millisecond,
		MaxConsecutiveFailures: 3, OnComplete: st.complete, OnFailure: st.fail,
		Commit: func(context.Context, checkpoint.Info) error {
			if refusing {
				return refuse
			}
			return nil
		}}
	running(t, p)

	// Refusals by the Committer: many, none counted, Run goes on.
	refusing = true
	stop := runCoordinator(t, c)
	st.waitFor(t, "5 refusals", func(_ []checkpoint.Stats, f []error) bool { return len(f) >= 5 })
	if err := stop(); err != nil {
		t.Fatalf("Run after refused commits: %v", err)
	}
	if n, err := c.ConsecutiveFailures(); n != 0 || err != nil {
		t.Fatalf("refused commits counted: %d, %v", n, err)
	}
	refusing = false

	// A store that cannot write: its directory is now a file.
	if err := os.RemoveAll(store.Dir()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store.Dir(), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.Run(ctx)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "3 checkpoint(s) failed in a row, more than the 2 tolerated; the last: checkpoint") ||
		!strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Run with a broken store: %v", err)
	}
	if n, last := c.ConsecutiveFailures(); n != 3 || last == nil {
		t.Fatalf("ConsecutiveFailures = %d, %v", n, last)
	}

	// The store works again: the next success resets the count.
	if err := os.Remove(store.Dir()); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(store.Dir(), 0o755); err != nil {
		t.Fatal(err)
	}
	n := len(func() []checkpoint.Stats { d, _ := st.snapshot(); return d }())
	stop = runCoordinator(t, c)
	st.waitFor(t, "a checkpoint", func(d []checkpoint.Stats, _ []error) bool { return len(d) > n })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n, last := c.ConsecutiveFailures(); n != 0 || last != nil {
		t.Fatalf("after a success: ConsecutiveFailures = %d, %v", n, last)
	}
}
