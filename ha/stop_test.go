package ha

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestStopAllKeepsFinalCommit stops a real 3-node cluster the way a scale
// to zero does: the followers are told to stop first, the leader a moment
// later; it announces the stop, takes longer than the followers' grace to
// write its final checkpoint, commits it and hands over. The followers
// must stay for that commit and leave once the leader is done, and a
// restarted cluster must see the final pointer.
func TestStopAllKeepsFinalCommit(t *testing.T) {
	nodes, cfgs := startCluster(t, 3)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.Shutdown()
			}
		}
	}()
	l := waitLeader(t, nodes)
	ctx := context.Background()
	if err := nodes[l].Barrier(time.Second); err != nil {
		t.Fatal(err)
	}
	term := nodes[l].Term()
	if err := nodes[l].CommitCheckpoint(ctx, 1, "/ck/1", term); err != nil {
		t.Fatal(err)
	}

	grace := 500 * time.Millisecond
	type left struct {
		why string
		at  time.Time
	}
	var wg sync.WaitGroup
	res := make([]left, 3)
	for i := range nodes {
		if i == l {
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			why := nodes[i].StayForStoppingLeader(sctx, grace)
			res[i] = left{why, time.Now()}
			nodes[i].Shutdown()
		}(i)
	}
	time.Sleep(100 * time.Millisecond) // the leader's SIGTERM comes later
	if err := nodes[l].AnnounceStop(ctx, term); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * grace) // a final checkpoint slower than the grace
	if err := nodes[l].CommitCheckpoint(ctx, 2, "/ck/2-final", term); err != nil {
		t.Fatalf("final commit with the followers stopping: %v", err)
	}
	committed := time.Now()
	_ = nodes[l].TransferLeadership() // to a follower that is leaving: may fail
	nodes[l].Shutdown()
	wg.Wait()
	for i, r := range res {
		if i == l {
			continue
		}
		if r.why != StayLeaderDone {
			t.Errorf("follower %d left with %q, want %q", i, r.why, StayLeaderDone)
		}
		if r.at.Before(committed) {
			t.Errorf("follower %d left %v before the final commit", i, committed.Sub(r.at))
		}
	}

	// The whole cluster restarts and restores the final pointer.
	for i := range nodes {
		n, err := Start(context.Background(), cfgs[i])
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = n
	}
	l = waitLeader(t, nodes)
	if err := nodes[l].Barrier(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if p := nodes[l].Pointer(); p.ID != 2 || p.Path != "/ck/2-final" || p.StopTerm != term || p.Time.IsZero() {
		t.Fatalf("after a stop-all and restart the pointer is %+v, want the final checkpoint 2", p)
	}
}

// TestFollowerLeavesWhenLeaderRuns: a follower stopped alone (a rolling
// update) leaves after the grace, and the leader keeps committing with the
// remaining quorum.
func TestFollowerLeavesWhenLeaderRuns(t *testing.T) {
	nodes, _ := startCluster(t, 3)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.Shutdown()
			}
		}
	}()
	l := waitLeader(t, nodes)
	if err := nodes[l].Barrier(time.Second); err != nil {
		t.Fatal(err)
	}
	f := (l + 1) % 3
	// The follower must know the leader first.
	deadline := time.Now().Add(5 * time.Second)
	for nodes[f].Status().Leader == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	grace := 300 * time.Millisecond
	if why := nodes[f].StayForStoppingLeader(context.Background(), grace); why != StayLeaderRuns {
		t.Fatalf("left with %q, want %q", why, StayLeaderRuns)
	}
	if d := time.Since(start); d < grace || d > grace+time.Second {
		t.Fatalf("left after %v, want about the grace %v", d, grace)
	}
	nodes[f].Shutdown()
	nodes[f] = nil
	if err := nodes[l].CommitCheckpoint(context.Background(), 1, "/ck/1", nodes[l].Term()); err != nil {
		t.Fatal(err)
	}
	// The leader itself does not wait.
	if why := nodes[l].StayForStoppingLeader(context.Background(), grace); why != StayLeading {
		t.Fatalf("leader: %q", why)
	}
	// A bound ends the wait even when the leader announced a stop and
	// never finishes.
	if err := nodes[l].AnnounceStop(context.Background(), nodes[l].Term()); err != nil {
		t.Fatal(err)
	}
	o := (l + 2) % 3
	deadline = time.Now().Add(5 * time.Second)
	for nodes[o].Pointer().StopTerm == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if why := nodes[o].StayForStoppingLeader(ctx, grace); why != StayBoundReached {
		t.Fatalf("left with %q, want %q", why, StayBoundReached)
	}
}
