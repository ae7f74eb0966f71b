package ha

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestDecideFencing(t *testing.T) {
	cur := Pointer{ID: 5, Path: "p5", Term: 2}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := decide(cur, command{Op: "checkpoint", ID: 6, Path: "p6", Term: 2}, 3, at); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("a checkpoint taken in term 2 appended in term 3 must be refused: %v", err)
	}
	if _, err := decide(cur, command{Op: "checkpoint", ID: 5, Path: "x", Term: 3}, 3, at); err == nil {
		t.Fatal("a pointer that does not advance must be refused")
	}
	next, err := decide(cur, command{Op: "checkpoint", ID: 9, Path: "p9", Term: 3}, 3, at)
	if err != nil || next != (Pointer{ID: 9, Path: "p9", Term: 3, Time: at}) {
		t.Fatalf("got %+v %v", next, err)
	}
	fin, err := decide(next, command{Op: "finished", Term: 3}, 3, at.Add(time.Second))
	if err != nil || !fin.Finished || fin.ID != 9 || fin.Time != at {
		t.Fatalf("got %+v %v", fin, err)
	}
	if _, err := decide(cur, command{Op: "bogus", Term: 1}, 1, at); err == nil {
		t.Fatal("unknown op accepted")
	}
	// A stop announcement is fenced like a checkpoint, and later
	// checkpoints keep it (and Finished).
	if _, err := decide(next, command{Op: "stopping", Term: 2}, 3, at); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("a stop announced in term 2 appended in term 3 must be refused: %v", err)
	}
	stop, err := decide(fin, command{Op: "stopping", Term: 3}, 3, at)
	if err != nil || stop.StopTerm != 3 || stop.ID != 9 || !stop.Finished {
		t.Fatalf("got %+v %v", stop, err)
	}
	last, err := decide(stop, command{Op: "checkpoint", ID: 10, Path: "p10", Term: 3}, 3, at)
	if err != nil || last != (Pointer{ID: 10, Path: "p10", Term: 3, Time: at, Finished: true, StopTerm: 3}) {
		t.Fatalf("got %+v %v", last, err)
	}
}

func TestParsePeersAndValidate(t *testing.T) {
	ps, err := ParsePeers("a=127.0.0.1:1, b=host:2")
	if err != nil || len(ps) != 2 || ps[1] != (Peer{"b", "host:2"}) {
		t.Fatalf("%v %v", ps, err)
	}
	for _, bad := range []string{"", "a", "=h:1", "a=nohost"} {
		if _, err := ParsePeers(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	c := DefaultConfig()
	c.ID, c.Bind, c.Dir, c.Peers = "a", "127.0.0.1:1", "/tmp/x", ps
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.ID = "z"
	if err := c.Validate(); err == nil {
		t.Fatal("id not among peers accepted")
	}
	sts := StatefulSetPeers("topspeed", "topspeed-raft", 3, 7110)
	if sts[2] != (Peer{"topspeed-2", "topspeed-2.topspeed-raft:7110"}) {
		t.Fatalf("%v", sts)
	}
}

func freePorts(t *testing.T, n int) []string {
	var addrs []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		l.Close()
	}
	return addrs
}

func startCluster(t *testing.T, n int) ([]*Node, []Config) {
	t.Helper()
	addrs := freePorts(t, n)
	var peers []Peer
	for i, a := range addrs {
		peers = append(peers, Peer{ID: fmt.Sprintf("n%d", i), Address: a})
	}
	var nodes []*Node
	var cfgs []Config
	for i := range addrs {
		c := DefaultConfig()
		c.ID, c.Bind, c.Peers, c.Dir = peers[i].ID, addrs[i], peers, t.TempDir()
		nd, err := Start(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, nd)
		cfgs = append(cfgs, c)
	}
	return nodes, cfgs
}

func waitLeader(t *testing.T, nodes []*Node) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, n := range nodes {
			if n != nil && n.IsLeader() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no leader elected")
	return -1
}

// TestFailoverKeepsPointerAndFencesOldTerm runs a real 3-node cluster on
// loopback with durable bolt stores: the committed pointer survives the
// leader's death, a checkpoint claiming the old term is refused by the new
// leader, and the restarted node rejoins without re-bootstrapping.
func TestFailoverKeepsPointerAndFencesOldTerm(t *testing.T) {
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
	term1 := nodes[l].Term()
	if err := nodes[l].CommitCheckpoint(ctx, 1, "/ck/1", term1); err != nil {
		t.Fatal(err)
	}
	follower := (l + 1) % 3
	if err := nodes[follower].CommitCheckpoint(ctx, 2, "/ck/2", term1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a follower must not commit: %v", err)
	}
	// The leader dies.
	killed := time.Now()
	nodes[l].Shutdown()
	nodes[l] = nil
	l2 := waitLeader(t, nodes)
	t.Logf("new leader after %v", time.Since(killed))
	if err := nodes[l2].Barrier(time.Second); err != nil {
		t.Fatal(err)
	}
	if p := nodes[l2].Pointer(); p.ID != 1 || p.Path != "/ck/1" || p.Term != term1 {
		t.Fatalf("new leader sees pointer %+v", p)
	}
	term2 := nodes[l2].Term()
	if term2 <= term1 {
		t.Fatalf("term did not advance: %d -> %d", term1, term2)
	}
	// A checkpoint taken under the old term (a zombie's) never counts.
	if err := nodes[l2].CommitCheckpoint(ctx, 2, "/zombie/2", term1); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("stale-term checkpoint accepted: %v", err)
	}
	if err := nodes[l2].CommitCheckpoint(ctx, 2, "/ck/2", term2); err != nil {
		t.Fatal(err)
	}
	// The dead node restarts from its durable store and catches up.
	n, err := Start(context.Background(), cfgs[l])
	if err != nil {
		t.Fatal(err)
	}
	nodes[l] = n
	deadline := time.Now().Add(10 * time.Second)
	for n.Pointer().ID != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("restarted node stuck at %+v", n.Pointer())
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := nodes[l2].Status()
	if st.Role != "leader" || st.LastCheckpoint.ID != 2 || st.Leader == "" {
		t.Fatalf("status %+v", st)
	}
	// Graceful handover.
	if err := nodes[l2].TransferLeadership(); err != nil {
		t.Fatal(err)
	}
	l3 := waitLeader(t, nodes)
	if l3 == l2 {
		t.Fatal("leadership did not move")
	}
}

// Start gives up waiting for its advertise address when ctx ends, instead
// of waiting the whole ResolveBudget.
func TestStartStopsWaitingWhenContextEnds(t *testing.T) {
	c := DefaultConfig()
	addr := freePorts(t, 1)[0]
	c.ID, c.Bind, c.Dir = "n0", addr, t.TempDir()
	c.Advertise = "replica.topspeed-test.invalid:7110" // .invalid never resolves (RFC 6761)
	c.Peers = []Peer{{ID: "n0", Address: c.Advertise}}
	c.ResolveBudget = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	n, err := Start(ctx, c)
	if err == nil {
		n.Shutdown()
		t.Fatal("Start resolved an .invalid name")
	}
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Fatalf("after %v: %v; want the context's error well before ResolveBudget", time.Since(start), err)
	}
}
