package kafka

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/internal/kafkaconn"
	"github.com/topspeed/topspeed/internal/testenv"
)

// Test records are ints v, keyed by v%keys in decimal, valued "v=<v>".
const keys = 7

func appendKey(dst []byte, v int) []byte { return strconv.AppendInt(dst, int64(v%keys), 10) }
func appendValue(dst []byte, v int) []byte {
	return strconv.AppendInt(append(dst, "v="...), int64(v), 10)
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func testConfig(brokers []string, topic string, g Guarantee, txnID string) Config {
	c := DefaultConfig()
	c.Conn = kafkaconn.Conn{Brokers: brokers}
	c.Topic, c.Guarantee, c.TransactionalID = topic, g, txnID
	c.TransactionTimeout = time.Minute
	c.DeliveryTimeout = 30 * time.Second
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// endKey prefixes the keys of readAll's end markers.
const endKey = "__end__"

var readCalls atomic.Int64

// readAll appends an end marker to every partition with a plain producer
// and reads the topic from the start until it has seen them all, with
// read_committed or read_uncommitted. A transaction left open before a
// marker hides it from read_committed: the read then times out and fails.
// It returns the records before the markers.
func readAll(t *testing.T, brokers []string, topic string, partitions int, committed bool) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	must(t, err)
	marker := fmt.Sprintf("%s%d", endKey, readCalls.Add(1))
	for i := 0; i < partitions; i++ {
		must(t, p.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: int32(i), Key: []byte(marker)}).FirstErr())
	}
	p.Close()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	must(t, err)
	defer c.Close()
	var out []*kgo.Record
	ends := map[int32]bool{}
	for len(ends) < partitions {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s (committed=%v): saw the end marker of %d of %d partitions in 60 s (a transaction left open?)",
				topic, committed, len(ends), partitions)
		}
		must(t, fs.Err())
		fs.EachRecord(func(r *kgo.Record) {
			switch {
			case string(r.Key) == marker:
				ends[r.Partition] = true
			case strings.HasPrefix(string(r.Key), endKey): // an earlier call's
			case !ends[r.Partition]:
				out = append(out, r)
			}
		})
	}
	return out
}

// peekCommitted returns what a read_committed consumer sees within d.
func peekCommitted(t *testing.T, brokers []string, topic string, d time.Duration) []*kgo.Record {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	must(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out []*kgo.Record
	for ctx.Err() == nil {
		c.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// values checks every record's key against its value and each key's
// values for increasing order in its partition, and returns the values
// sorted.
func values(t *testing.T, recs []*kgo.Record) []int {
	t.Helper()
	var out []int
	last := map[string]int{}
	part := map[string]int32{}
	for _, r := range recs {
		var v int
		if _, err := fmt.Sscanf(string(r.Value), "v=%d", &v); err != nil {
			t.Fatalf("value %q: %v", r.Value, err)
		}
		if want := strconv.Itoa(v % keys); string(r.Key) != want {
			t.Fatalf("value %d has key %q, want %q", v, r.Key, want)
		}
		k := string(r.Key)
		if p, ok := part[k]; ok && p != r.Partition {
			t.Fatalf("key %s in partitions %d and %d", k, p, r.Partition)
		}
		if l, ok := last[k]; ok && v <= l {
			t.Fatalf("key %s: value %d after %d (out of order or repeated)", k, v, l)
		}
		last[k], part[k] = v, r.Partition
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

func TestAtLeastOnceKeyedAndFlushed(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.KafkaTopic(t, brokers, 4)
	s, err := New(testConfig(brokers, topic, AtLeastOnce, ""), appendKey, appendValue)
	must(t, err)
	var ackedRecs atomic.Int64
	s.SetAck(func(_ int64, n int) { ackedRecs.Add(int64(n)) })
	ctx := context.Background()
	must(t, s.Open(ctx))
	defer s.Close()
	for i := 0; i < 1000; i += 100 {
		must(t, s.WriteStamped(ctx, seq(i, i+100), int64(i)))
	}
	must(t, s.Flush(ctx))
	// Flush returns only once every record is acknowledged.
	if st := s.Stats(); st.Written != 1000 || st.Acked != 1000 || ackedRecs.Load() != 1000 {
		t.Fatalf("after Flush: %+v, acknowledged batches cover %d records; want 1000 each", st, ackedRecs.Load())
	}
	if st, err := s.SnapshotState(1); err != nil || st != nil {
		t.Fatalf("at-least-once state: %v, %v; want none", st, err)
	}
	must(t, s.Commit(1))
	must(t, s.Close())
	got := values(t, readAll(t, brokers, topic, 4, false))
	if !slices.Equal(got, seq(0, 1000)) {
		t.Fatalf("read %d records, want 0..999 once each", len(got))
	}
}

func TestOpenMissingTopic(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	s, err := New(testConfig(brokers, "no-such-topic-for-topspeed", AtLeastOnce, ""), appendKey, appendValue)
	must(t, err)
	err = s.Open(context.Background())
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a missing topic")
	}
	t.Log(err)
}

// Two-phase commit driven by hand: records appear at their checkpoint's
// commit; a crash after a checkpoint and before its commit loses nothing
// (the restore commits it); records after it are aborted and replayed.
func TestExactlyOnceRestoreCommitsPending(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.KafkaTopic(t, brokers, 3)
	cfg := testConfig(brokers, topic, ExactlyOnce, topic)
	ctx := context.Background()

	s1, err := New(cfg, appendKey, appendValue)
	must(t, err)
	must(t, s1.Open(ctx))
	must(t, s1.Write(ctx, seq(0, 50)))
	must(t, s1.Flush(ctx))
	_, err = s1.SnapshotState(1)
	must(t, err)
	if got := peekCommitted(t, brokers, topic, time.Second); len(got) != 0 {
		t.Fatalf("visible before the commit: %d records", len(got))
	}
	must(t, s1.Write(ctx, seq(50, 80)))
	must(t, s1.Flush(ctx))
	snap2, err := s1.SnapshotState(2)
	must(t, err)
	must(t, s1.Commit(1))
	if got := values(t, peekCommitted(t, brokers, topic, 2*time.Second)); !slices.Equal(got, seq(0, 50)) {
		t.Fatalf("after commit 1, read_committed sees %v, want 0..49", got)
	}
	must(t, s1.Write(ctx, seq(80, 100)))
	must(t, s1.Flush(ctx))
	dead, cancel := context.WithCancel(ctx)
	cancel()
	_ = s1.CloseContext(dead) // crash: checkpoint 2 durable, its commit never came

	s2, err := New(cfg, appendKey, appendValue)
	must(t, err)
	must(t, s2.Open(ctx))
	must(t, s2.RestoreState(snap2))
	must(t, s2.Write(ctx, seq(80, 100))) // the replay after checkpoint 2
	must(t, s2.Flush(ctx))
	must(t, s2.Commit(engine.EndOfInput))
	must(t, s2.Close())

	if got := values(t, readAll(t, brokers, topic, 3, true)); !slices.Equal(got, seq(0, 100)) {
		t.Fatalf("read_committed: %v, want 0..99 once each", got)
	}
	// read_uncommitted also sees the aborted 80..99: the guarantee needs
	// read_committed.
	all := readAll(t, brokers, topic, 3, false)
	if len(all) != 120 {
		t.Fatalf("read_uncommitted: %d records, want 120 (100 + 20 aborted)", len(all))
	}
}

// gatedSource emits 0..total-1, but only below limit; its state is its
// position.
type gatedSource struct {
	pos, total int
	limit      *atomic.Int64
}

func (g *gatedSource) Open(context.Context) error { return nil }
func (g *gatedSource) Close() error               { return nil }

func (g *gatedSource) Read(ctx context.Context, buf []int) (int, error) {
	if g.pos >= g.total {
		return 0, io.EOF
	}
	n := 0
	for n < len(buf) && g.pos < int(g.limit.Load()) && g.pos < g.total {
		buf[n] = g.pos
		n++
		g.pos++
	}
	if n == 0 {
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return n, nil
}

func (g *gatedSource) SnapshotState() ([]byte, error) {
	return strconv.AppendInt(nil, int64(g.pos), 10), nil
}

func (g *gatedSource) RestoreState(b []byte) error {
	pos, err := strconv.Atoi(string(b))
	g.pos = pos
	return err
}

type run struct {
	p     *engine.Pipeline
	s     *Sink[int]
	limit *atomic.Int64
	done  chan error
}

func startRun(t *testing.T, cfg Config, total, limit int, restore *engine.Snapshot, ctx context.Context) *run {
	t.Helper()
	s, err := New(cfg, appendKey, appendValue)
	must(t, err)
	r := &run{p: engine.New(engine.WithParallelism(2)), s: s, limit: new(atomic.Int64), done: make(chan error, 1)}
	r.limit.Store(int64(limit))
	if restore != nil {
		r.p.RestoreFrom(restore)
	}
	src := engine.FromSource(r.p, "src", engine.Source[int](&gatedSource{total: total, limit: r.limit}), engine.NoWatermarks[int]())
	engine.ToSink(src, "kafka", engine.Sink[int](s))
	go func() { r.done <- r.p.Run(ctx) }()
	return r
}

// waitAcked waits until the sink has n records acknowledged.
func (r *run) waitAcked(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r.s.Stats().Acked < n {
		if time.Now().After(deadline) {
			t.Fatalf("acknowledged %d of %d records in 30 s", r.s.Stats().Acked, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A pipeline killed before its checkpoint's commit leaves nothing visible
// to read_committed consumers, also after a fresh restart; a restore from
// the checkpoint then gives every record exactly once.
func TestExactlyOncePipelineKilledAndRestored(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.KafkaTopic(t, brokers, 4)
	cfg := testConfig(brokers, topic, ExactlyOnce, topic)

	ctx1, kill := context.WithCancel(context.Background())
	r1 := startRun(t, cfg, 1000, 300, nil, ctx1)
	r1.waitAcked(t, 300)
	if _, err := r1.p.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	r1.limit.Store(500)
	r1.waitAcked(t, 500)
	kill() // before Commit(snap.ID)
	<-r1.done
	if got := peekCommitted(t, brokers, topic, 2*time.Second); len(got) != 0 {
		t.Fatalf("killed before the commit, read_committed sees %d records", len(got))
	}

	// A fresh run (no restore) with the same transactional id fences the
	// killed one and aborts its transactions; it writes nothing itself.
	fresh, err := New(cfg, appendKey, appendValue)
	must(t, err)
	must(t, fresh.Open(context.Background()))
	must(t, fresh.Flush(context.Background()))
	must(t, fresh.Close())
	if got := readAll(t, brokers, topic, 4, true); len(got) != 0 {
		t.Fatalf("after the fresh start, read_committed sees %d records, want none", len(got))
	}

	// A run killed after a checkpoint and before its commit, restored
	// from that checkpoint: the restore commits the checkpoint's
	// transaction (0..399), aborts the one after it (400..699), and the
	// replay writes 400..999.
	ctx2, kill2 := context.WithCancel(context.Background())
	r2 := startRun(t, cfg, 1000, 400, nil, ctx2)
	r2.waitAcked(t, 400)
	snap2, err := r2.p.Checkpoint(context.Background())
	must(t, err)
	r2.limit.Store(700)
	r2.waitAcked(t, 700)
	kill2()
	<-r2.done

	r3 := startRun(t, cfg, 1000, 1000, snap2, context.Background())
	must(t, <-r3.done)
	got := values(t, readAll(t, brokers, topic, 4, true))
	if !slices.Equal(got, seq(0, 1000)) {
		t.Fatalf("after restore: read_committed has %d records, want 0..999 once each", len(got))
	}
}
