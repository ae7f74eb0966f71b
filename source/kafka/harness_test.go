package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/topspeed/topspeed/internal/kafkaconn"
	"github.com/topspeed/topspeed/internal/testenv"
)

// Helpers for the tests against a real broker.

// brokerConfig returns a member configuration for topic and group on the
// local broker, with short timeouts (the broker allows 1 s sessions).
func brokerConfig(t *testing.T, topic, group string) Config {
	c := DefaultConfig()
	c.Conn = kafkaconn.Conn{Brokers: testenv.KafkaBrokers(t), ClientID: "topspeed-test"}
	c.Topic, c.Group = topic, group
	c.SessionTimeout, c.RebalanceTimeout = 3*time.Second, 10*time.Second
	c.QueueRecords = 64
	return c
}

// produce writes values to partition p of topic, in order; with one
// idempotent producer and nothing else writing, value i lands at offset
// i of a fresh partition.
func produce(t *testing.T, cl *kgo.Client, topic string, p int32, values ...string) {
	t.Helper()
	rs := make([]*kgo.Record, len(values))
	for i, v := range values {
		rs[i] = &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s/%d: %v", topic, p, err)
	}
}

func producer(t *testing.T, brokers []string) *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func seq(from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

// event is a Handler call seen by a testHandler.
type event struct {
	assigned bool
	lost     bool
	gen      int32
	parts    []int32
}

// delivery is a record a task read: value (== its offset) from partition
// part in the assignment of generation gen.
type delivery struct {
	member string
	part   int32
	gen    int32
	value  int64
}

// store stands for the checkpoints of a group's members: each task keeps
// its next offset there when it stops, and the next owner starts there.
type store struct {
	mu   sync.Mutex
	next map[int32]int64
	recs []delivery
}

func newStore() *store { return &store{next: make(map[int32]int64)} }

func (s *store) deliveries() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.recs)
}

// testHandler runs one task per assigned partition: it reads the
// partition's Source until it is revoked, checks that values are the
// consecutive offsets from where it started, and records what it read.
type testHandler struct {
	t      *testing.T
	name   string
	m      *Member
	st     *store
	fixed  map[int32]int64 // offsets Assigned returns (else the store's)
	events chan event

	mu    sync.Mutex
	tasks map[int32]chan struct{}
	errs  map[int32]error
}

func newTestHandler(t *testing.T, name string, st *store) *testHandler {
	return &testHandler{t: t, name: name, st: st, events: make(chan event, 100),
		tasks: make(map[int32]chan struct{}), errs: make(map[int32]error)}
}

func (h *testHandler) Assigned(ctx context.Context, gen int32, parts []int32) (map[int32]int64, error) {
	out := make(map[int32]int64)
	h.st.mu.Lock()
	for _, p := range parts {
		if off, ok := h.fixed[p]; ok {
			out[p] = off
		} else if off, ok := h.st.next[p]; ok {
			out[p] = off
		}
	}
	h.st.mu.Unlock()
	h.mu.Lock()
	for _, p := range parts {
		done := make(chan struct{})
		h.tasks[p] = done
		_, restore := out[p]
		go h.run(p, gen, restore, done)
	}
	h.mu.Unlock()
	h.events <- event{assigned: true, gen: gen, parts: parts}
	return out, nil
}

func (h *testHandler) Revoked(ctx context.Context, parts []int32, lost bool) {
	h.events <- event{lost: lost, parts: parts}
	for _, p := range parts {
		h.mu.Lock()
		done := h.tasks[p]
		delete(h.tasks, p)
		h.mu.Unlock()
		if done == nil {
			h.t.Errorf("%s: Revoked(%d) without a task", h.name, p)
			continue
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			h.t.Errorf("%s: the task of partition %d did not stop after its revocation", h.name, p)
		}
	}
}

// run is one partition's task.
func (h *testHandler) run(p, gen int32, restore bool, done chan struct{}) {
	defer close(done)
	fail := func(err error) {
		h.mu.Lock()
		h.errs[p] = err
		h.mu.Unlock()
	}
	part, ok := h.m.Partition(p)
	if !ok {
		fail(fmt.Errorf("%s: partition %d not owned after Assigned", h.name, p))
		return
	}
	if part.Generation() != gen {
		fail(fmt.Errorf("partition %d: generation %d, assigned in %d", p, part.Generation(), gen))
	}
	src := NewSource(part, parseInt)
	ctx := context.Background()
	if err := src.Open(ctx); err != nil {
		fail(err)
		return
	}
	defer src.Close()
	if restore {
		if err := src.RestoreState(EncodeState(State{Topic: part.Topic(), Partition: p, Next: part.Start()})); err != nil {
			fail(err)
			return
		}
	}
	buf := make([]int64, 50)
	for {
		before := src.Next()
		n, err := src.Read(ctx, buf)
		for i, v := range buf[:n] {
			if v != before+int64(i) {
				fail(fmt.Errorf("partition %d: value %d at offset %d", p, v, before+int64(i)))
			}
			h.st.mu.Lock()
			h.st.recs = append(h.st.recs, delivery{member: h.name, part: p, gen: gen, value: v})
			h.st.mu.Unlock()
		}
		if errors.Is(err, ErrRevoked) {
			h.st.mu.Lock()
			h.st.next[p] = src.Next()
			h.st.mu.Unlock()
			return
		}
		if err != nil {
			fail(err)
			<-part.Revoked()
			return
		}
	}
}

func (h *testHandler) taskErr(p int32) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.errs[p]
}

func (h *testHandler) checkNoErrors() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for p, err := range h.errs {
		h.t.Errorf("%s: task of partition %d: %v", h.name, p, err)
	}
}

// start runs a member with h until the test ends.
func startMember(t *testing.T, cfg Config, h *testHandler) *Member {
	t.Helper()
	m, err := NewMember(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	errc := make(chan error, 1)
	go func() { errc <- m.Run(context.Background()) }()
	t.Cleanup(func() {
		m.Close()
		if err := <-errc; err != nil {
			t.Errorf("%s: Run: %v", h.name, err)
		}
	})
	return m
}

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nextEvent waits for h's next Handler call.
func nextEvent(t *testing.T, h *testHandler, d time.Duration) event {
	t.Helper()
	select {
	case e := <-h.events:
		return e
	case <-time.After(d):
		t.Fatalf("%s: no Handler call within %v", h.name, d)
		return event{}
	}
}
