package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"github.com/topspeed/topspeed/checkpoint"
)

// A task of an older epoch (a zombie that was paused past its session
// timeout) must not publish a checkpoint once a newer owner claimed the
// partition: its commit is refused and its task stopped. The current
// owner's first commit deletes the older epochs.
func TestGroupCommitFencedByNewerEpoch(t *testing.T) {
	root := t.TempDir()
	g := &groupRun{runner: &runner{s: &settings{}}, root: root, log: zap.NewNop(), tasks: map[int32]*partTask{}}
	g.s.group.cfg.Topic = "cars"
	pdir := g.partitionDir(3)
	for _, e := range []int32{5, 7} {
		if err := os.MkdirAll(filepath.Join(pdir, epochName(e)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cancelled := false
	zombie := &partTask{part: 3, epoch: 5, cancel: func() { cancelled = true }}
	err := g.commit(context.Background(), zombie, checkpoint.Info{}, zap.NewNop())
	if !errors.Is(err, errFencedOwner) || !cancelled {
		t.Fatalf("zombie commit: %v (task cancelled %t), want errFencedOwner and a cancelled task", err, cancelled)
	}
	owner := &partTask{part: 3, epoch: 7, cancel: func() { t.Fatal("the owner's task was cancelled") }}
	if err := g.commit(context.Background(), owner, checkpoint.Info{}, zap.NewNop()); err != nil {
		t.Fatalf("owner commit: %v", err)
	}
	if es, _ := epochs(pdir); len(es) != 1 || es[0] != 7 {
		t.Fatalf("epochs after the owner's first commit: %v, want [7]", es)
	}
	// Its directory gone, a zombie's checkpoint in flight fails; the task
	// sees it was fenced (the error is not the replica's failure).
	if newer, fenced := g.fencedBy(zombie); !fenced || newer != 7 {
		t.Fatalf("zombie fencedBy: %d %t, want 7 true", newer, fenced)
	}
	if _, fenced := g.fencedBy(owner); fenced {
		t.Fatal("the owner is fenced by nobody")
	}
}
