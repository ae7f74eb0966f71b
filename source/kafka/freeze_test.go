package kafka

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/topspeed/topspeed/internal/testenv"
)

// freezer dials connections whose writes block while it is frozen: the
// member's requests (heartbeats included) stop reaching the broker, as
// for a paused or cut-off replica, while the process itself runs on.
type freezer struct {
	mu     sync.Mutex
	frozen bool
	thaw   chan struct{}
}

func newFreezer() *freezer { return &freezer{thaw: make(chan struct{})} }

func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.frozen {
		f.frozen, f.thaw = true, make(chan struct{})
	}
}

func (f *freezer) unfreeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen {
		f.frozen = false
		close(f.thaw)
	}
}

func (f *freezer) wait() {
	f.mu.Lock()
	frozen, thaw := f.frozen, f.thaw
	f.mu.Unlock()
	if frozen {
		<-thaw
	}
}

func (f *freezer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	return &frozenConn{Conn: c, f: f}, nil
}

type frozenConn struct {
	net.Conn
	f *freezer
}

func (c *frozenConn) Write(b []byte) (int, error) {
	c.f.wait()
	return c.Conn.Write(b)
}

// TestBrokerFencesZombie: a member whose requests stop reaching the broker
// for longer than its session timeout is replaced; a Commit it starts
// before noticing passes its own generation check, and the broker refuses
// it. Then the member learns it lost its partitions (Revoked, lost=true).
func TestBrokerFencesZombie(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.KafkaTopic(t, brokers, 4)
	group := topic + "-g"
	cfg := brokerConfig(t, topic, group)
	cfg.SessionTimeout, cfg.RebalanceTimeout = 2*time.Second, 5*time.Second

	fz := newFreezer()
	defer fz.unfreeze()
	ha := &plainHandler{assigned: make(chan []int32, 10), revoked: make(chan []int32, 10)}
	lostc := make(chan []int32, 10)
	a, err := NewMember(cfg, &lostHandler{plainHandler: ha, lost: lostc})
	if err != nil {
		t.Fatal(err)
	}
	a.start = func(m *Member) ([]kgo.Opt, error) {
		opts, err := m.clientOpts()
		return append(opts, kgo.Dialer(fz.dial)), err
	}
	errc := make(chan error, 1)
	go func() { errc <- a.Run(context.Background()) }()
	defer func() {
		fz.unfreeze()
		a.Close()
		if err := <-errc; err != nil {
			t.Errorf("a: Run: %v", err)
		}
	}()
	<-ha.assigned
	hb := &plainHandler{assigned: make(chan []int32, 10)}
	b := startMemberPlain(t, cfg, hb)
	<-ha.revoked
	<-hb.assigned
	waitFor(t, 20*time.Second, "a and b sharing the partitions in one generation", func() bool {
		return len(a.Owned()) > 0 && len(b.Owned()) > 0 && a.Generation() == b.Generation()
	})
	gen, kept := a.Generation(), a.Owned()

	fz.freeze()
	frozen := time.Now()
	waitFor(t, 30*time.Second, "b owning every partition while a is cut off", func() bool { return len(b.Owned()) == 4 })
	t.Logf("b took a's partitions %v after the freeze", time.Since(frozen).Round(time.Millisecond))
	if a.Generation() != gen {
		t.Fatalf("a noticed while cut off: generation %d -> %d", gen, a.Generation())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	commitErr := make(chan error, 1)
	go func() { commitErr <- a.Commit(ctx, gen, map[int32]int64{kept[0]: 1}) }()
	time.Sleep(100 * time.Millisecond) // the commit waits behind the frozen connection
	fz.unfreeze()
	err = <-commitErr
	if !errors.Is(err, ErrFenced) || !(errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration)) {
		t.Fatalf("the zombie's Commit(generation %d): %v, want it fenced by the broker", gen, err)
	}
	t.Logf("zombie commit: %v", err)
	select {
	case parts := <-lostc:
		if len(parts) != len(kept) {
			t.Fatalf("a lost %v, owned %v", parts, kept)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a was not told it lost its partitions")
	}
}

// lostHandler is a plainHandler that also reports lost partitions.
type lostHandler struct {
	*plainHandler
	lost chan []int32
}

func (h *lostHandler) Revoked(ctx context.Context, parts []int32, lost bool) {
	if lost {
		h.lost <- parts
		return
	}
	h.plainHandler.Revoked(ctx, parts, lost)
}
