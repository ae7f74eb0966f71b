package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/topspeed/topspeed/internal/kafkaconn"
	"github.com/topspeed/topspeed/source"
)

func validConfig() Config {
	c := DefaultConfig()
	c.Conn = kafkaconn.Conn{Brokers: []string{"127.0.0.1:9092"}}
	c.Topic, c.Group = "cars", "topspeed"
	return c
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"valid", func(*Config) {}, ""},
		{"no brokers", func(c *Config) { c.Conn.Brokers = nil }, "--kafka-brokers"},
		{"no topic", func(c *Config) { c.Topic = "" }, "--kafka-topic"},
		{"bad topic", func(c *Config) { c.Topic = "a/b" }, "--kafka-topic \"a/b\""},
		{"dot topic", func(c *Config) { c.Topic = ".." }, "--kafka-topic"},
		{"long topic", func(c *Config) { c.Topic = strings.Repeat("t", 250) }, "--kafka-topic"},
		{"no group", func(c *Config) { c.Group = "" }, "--kafka-group"},
		{"bad group", func(c *Config) { c.Group = "a\nb" }, "--kafka-group"},
		{"start offset", func(c *Config) { c.StartOffset = 7 }, "--kafka-start-offset"},
		{"session short", func(c *Config) { c.SessionTimeout = 999 * time.Millisecond }, "--kafka-session-timeout"},
		{"session long", func(c *Config) { c.SessionTimeout = time.Hour }, "--kafka-session-timeout"},
		{"rebalance", func(c *Config) { c.RebalanceTimeout = 0 }, "--kafka-rebalance-timeout"},
		{"queue 0", func(c *Config) { c.QueueRecords = 0 }, "--kafka-queue-records"},
		{"queue big", func(c *Config) { c.QueueRecords = MaxQueueRecords + 1 }, "--kafka-queue-records"},
		{"idle negative", func(c *Config) { c.IdleTimeout = -1 }, "--kafka-idle-timeout"},
		{"idle off", func(c *Config) { c.IdleTimeout = 0 }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Validate accepted %+v", c)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("Validate: %v, want it to name %s", err, tc.want)
			}
		})
	}
	if _, err := NewMember(validConfig(), nil); err == nil {
		t.Fatal("NewMember accepted a nil Handler")
	}
}

func TestConfigFlags(t *testing.T) {
	c := DefaultConfig()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.Conn.RegisterFlags(fs)
	c.RegisterFlags(fs)
	err := fs.Parse([]string{"--kafka-brokers", "h:1", "--kafka-topic", "cars", "--kafka-group", "g",
		"--kafka-start-offset", "latest", "--kafka-session-timeout", "6s", "--kafka-queue-records", "5", "--kafka-idle-timeout", "0"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Topic != "cars" || c.Group != "g" || c.StartOffset != Latest || c.SessionTimeout != 6*time.Second ||
		c.QueueRecords != 5 || c.IdleTimeout != 0 || len(c.Conn.Brokers) != 1 {
		t.Fatalf("parsed %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--kafka-start-offset", "newest"}); err == nil || !strings.Contains(err.Error(), "earliest or latest") {
		t.Fatalf("bad start offset: %v", err)
	}
	for _, s := range []string{"earliest", "latest"} {
		o, err := ParseStartOffset(s)
		if err != nil || o.String() != s {
			t.Fatalf("ParseStartOffset(%q) = %v, %v", s, o, err)
		}
	}
}

func TestStateEncoding(t *testing.T) {
	st := State{Topic: "cars.v1", Partition: 7, Next: 123456789}
	b := EncodeState(st)
	got, err := DecodeState(b)
	if err != nil || got != st {
		t.Fatalf("DecodeState = %+v, %v; want %+v", got, err, st)
	}
	bad := [][]byte{nil, b[:14], append(append([]byte{}, b...), 'x'), append([]byte{2}, b[1:]...),
		EncodeState(State{Topic: "a b", Partition: 1}), EncodeState(State{Topic: "t", Partition: -1}),
		EncodeState(State{Topic: "t", Next: -5})}
	for _, x := range bad {
		if _, err := DecodeState(x); err == nil {
			t.Errorf("DecodeState(%x) accepted", x)
		}
	}
}

// testPartition makes a queue with counting pause and resume hooks.
func testPartition(start int64, bound int) (*Partition, *atomic.Int32, *atomic.Int32) {
	var pauses, resumes atomic.Int32
	p := newPartition("cars", 3, 5, start, bound, 50*time.Millisecond, func() { pauses.Add(1) }, func() { resumes.Add(1) })
	return p, &pauses, &resumes
}

func recs(from, to int64, value func(off int64) string) []*kgo.Record {
	var out []*kgo.Record
	for o := from; o < to; o++ {
		out = append(out, &kgo.Record{Topic: "cars", Partition: 3, Offset: o, Value: []byte(value(o))})
	}
	return out
}

func itoa(o int64) string { return fmt.Sprint(o) }

func TestPartitionQueue(t *testing.T) {
	ctx := context.Background()
	p, pauses, resumes := testPartition(10, 8)
	p.append(recs(5, 10, itoa), 100) // below the start: a stale fetch, dropped
	if p.Queued() != 0 || p.HighWatermark() != 100 {
		t.Fatalf("queued %d, hw %d", p.Queued(), p.HighWatermark())
	}
	p.append(recs(10, 17, itoa), 100)
	if pauses.Load() != 0 {
		t.Fatal("paused below the bound")
	}
	p.append(recs(17, 20, itoa), 120)
	if pauses.Load() != 1 || p.Queued() != 10 {
		t.Fatalf("pauses %d, queued %d; want 1 and 10", pauses.Load(), p.Queued())
	}
	p.append(recs(15, 18, itoa), 120) // overlaps what is queued: dropped
	dst := make([]*kgo.Record, 4)
	n, err := p.Take(ctx, dst, 0)
	if err != nil || n != 4 || dst[0].Offset != 10 || dst[3].Offset != 13 {
		t.Fatalf("Take = %d, %v, first %d", n, err, dst[0].Offset)
	}
	if resumes.Load() != 0 {
		t.Fatal("resumed above half the bound")
	}
	if lag := p.Lag(); lag != 120-14 {
		t.Fatalf("Lag = %d, want %d", lag, 120-14)
	}
	n, _ = p.Take(ctx, dst, 0) // 6 left -> 2: resume
	if n != 4 || dst[0].Offset != 14 || resumes.Load() != 1 {
		t.Fatalf("Take = %d from %d, resumes %d", n, dst[0].Offset, resumes.Load())
	}
	n, _ = p.Take(ctx, dst, 0)
	if n != 2 || dst[1].Offset != 19 {
		t.Fatalf("Take = %d, last %d", n, dst[1].Offset)
	}
	// Empty: waits, then returns nothing.
	t0 := time.Now()
	n, err = p.Take(ctx, dst, 30*time.Millisecond)
	if n != 0 || err != nil || time.Since(t0) < 25*time.Millisecond {
		t.Fatalf("empty Take = %d, %v after %v", n, err, time.Since(t0))
	}
	// A record arriving during the wait ends it.
	go func() { time.Sleep(20 * time.Millisecond); p.append(recs(20, 21, itoa), -1) }()
	n, err = p.Take(ctx, dst, 5*time.Second)
	if n != 1 || err != nil || dst[0].Offset != 20 {
		t.Fatalf("Take after arrival = %d, %v", n, err)
	}
	// A fetch error comes after the queued records.
	p.append(recs(21, 23, itoa), -1)
	p.fail(errors.New("boom"))
	if n, err = p.Take(ctx, dst, 0); n != 2 || err != nil {
		t.Fatalf("Take before the error = %d, %v", n, err)
	}
	if _, err = p.Take(ctx, dst, 0); err == nil || err.Error() != "boom" {
		t.Fatalf("Take = %v, want boom", err)
	}
	// Revoked: ErrRevoked, also during a wait; the queue is dropped.
	q, _, _ := testPartition(0, 100)
	q.append(recs(0, 5, itoa), -1)
	go func() { time.Sleep(20 * time.Millisecond); q.revoke() }()
	n, _ = q.Take(ctx, dst, 0)
	if n != 4 {
		t.Fatalf("Take = %d", n)
	}
	q.Take(ctx, dst, 0) // the fifth
	if _, err = q.Take(ctx, dst, 5*time.Second); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Take after revoke = %v", err)
	}
	if q.revoke() {
		t.Fatal("second revoke reported true")
	}
	q.append(recs(5, 6, itoa), -1)
	if q.Queued() != 0 {
		t.Fatal("a revoked queue accepted records")
	}
	// ctx cancelled during a wait.
	r, _, _ := testPartition(0, 100)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err = r.Take(cctx, dst, 5*time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Take with a done ctx = %v", err)
	}
}

func TestPartitionIdle(t *testing.T) {
	p, _, _ := testPartition(0, 100)
	if p.Idle() {
		t.Fatal("idle at once")
	}
	time.Sleep(60 * time.Millisecond)
	if !p.Idle() {
		t.Fatal("not idle after the idle timeout")
	}
	p.append(recs(0, 1, itoa), -1)
	if p.Idle() {
		t.Fatal("idle with a record queued")
	}
	p.Take(context.Background(), make([]*kgo.Record, 1), 0)
	if p.Idle() {
		t.Fatal("idle right after a record")
	}
	time.Sleep(60 * time.Millisecond)
	if !p.Idle() || p.IdleFor(0) {
		t.Fatal("Idle/IdleFor(0) wrong")
	}
}

// parseInt parses a decimal value without allocating.
func parseInt(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, errors.New("empty")
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number", b)
		}
		v = v*10 + int64(c-'0')
	}
	return v, nil
}

func TestSourceRead(t *testing.T) {
	ctx := context.Background()
	p, _, _ := testPartition(10, 1000)
	s := NewSource(p, parseInt)
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.RestoreState(EncodeState(State{Topic: "cars", Partition: 3, Next: 11})); err == nil ||
		!strings.Contains(err.Error(), "fetching started at 10") {
		t.Fatalf("RestoreState to another offset: %v", err)
	}
	if err := s.RestoreState(EncodeState(State{Topic: "cars", Partition: 4, Next: 10})); err == nil {
		t.Fatal("RestoreState of another partition accepted")
	}
	if err := s.RestoreState(EncodeState(State{Topic: "cars", Partition: 3, Next: 10})); err != nil {
		t.Fatal(err)
	}
	p.append(recs(10, 15, itoa), 15)
	buf := make([]int64, 3)
	n, err := s.Read(ctx, buf)
	if err != nil || n != 3 || buf[0] != 10 || buf[2] != 12 || s.Next() != 13 {
		t.Fatalf("Read = %d %v %v, next %d", n, buf, err, s.Next())
	}
	st, _ := s.SnapshotState()
	if got, _ := DecodeState(st); got != (State{Topic: "cars", Partition: 3, Next: 13}) {
		t.Fatalf("snapshot %+v", got)
	}
	if err := s.RestoreState(st); err == nil {
		t.Fatal("RestoreState after Read accepted")
	}
	n, _ = s.Read(ctx, buf)
	if n != 2 || buf[1] != 14 {
		t.Fatalf("Read = %d %v", n, buf)
	}
	t0 := time.Now()
	n, err = s.Read(ctx, buf) // nothing: returns after DefaultMaxWait
	if n != 0 || err != nil || time.Since(t0) > 2*time.Second {
		t.Fatalf("idle Read = %d, %v after %v", n, err, time.Since(t0))
	}
	p.revoke()
	if _, err = s.Read(ctx, buf); !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "partition 3") {
		t.Fatalf("Read after revoke = %v", err)
	}
	if _, err = s.Read(ctx, buf); !errors.Is(err, ErrRevoked) {
		t.Fatalf("second Read after revoke = %v", err)
	}
	if err := s.Open(ctx); err == nil {
		t.Fatal("reopen after Read accepted")
	}
	s.Close()
}

func TestSourceBadRecords(t *testing.T) {
	ctx := context.Background()
	bad := func(o int64) string {
		if o%4 == 1 {
			return "x" + itoa(o)
		}
		return itoa(o)
	}
	// Fail: the records before the bad one, then a RecordError naming it.
	p, _, _ := testPartition(0, 1000)
	s := NewSource(p, parseInt)
	s.Open(ctx)
	p.append(recs(0, 8, bad), -1)
	buf := make([]int64, 10)
	n, err := s.Read(ctx, buf)
	var re *RecordError
	if n != 1 || !errors.As(err, &re) || !errors.Is(err, source.ErrBadRecord) || re.Offset != 1 || re.Partition != 3 || re.Topic != "cars" {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if !strings.Contains(err.Error(), "kafka topic cars partition 3 offset 1:") {
		t.Fatalf("error text %q", err)
	}
	if _, err2 := s.Read(ctx, buf); err2 != err {
		t.Fatalf("not sticky: %v", err2)
	}
	if s.Next() != 1 {
		t.Fatalf("next %d after the bad record, want 1 (not past it)", s.Next())
	}
	// Skip: counted, kept, the rest delivered.
	p2, _, _ := testPartition(0, 1000)
	s2 := NewSource(p2, parseInt, WithBadRecords(source.Skip))
	s2.Open(ctx)
	p2.append(recs(0, 8, bad), -1)
	n, err = s2.Read(ctx, buf)
	if err != nil || n != 6 || s2.Skipped() != 2 || s2.Next() != 8 {
		t.Fatalf("Read = %d, %v, skipped %d, next %d", n, err, s2.Skipped(), s2.Next())
	}
	if es := s2.Errors(); len(es) != 2 || es[0].Offset != 1 || es[1].Offset != 5 {
		t.Fatalf("Errors = %v", es)
	}
}

func TestSourceNoAllocs(t *testing.T) {
	ctx := context.Background()
	p, _, _ := testPartition(0, 1<<20)
	s := NewSource(p, parseInt)
	s.Open(ctx)
	const batch = 256
	rs := recs(0, 100*batch+batch, itoa)
	buf := make([]int64, batch)
	next := 0
	// Warm up: buffers reach their size.
	p.append(rs[:batch], -1)
	s.Read(ctx, buf)
	next = batch
	allocs := testing.AllocsPerRun(50, func() {
		p.append(rs[next:next+batch], -1)
		next += batch
		if n, err := s.Read(ctx, buf); n != batch || err != nil {
			t.Fatalf("Read = %d, %v", n, err)
		}
	})
	if allocs > 0 {
		t.Fatalf("%.1f allocations per batch of %d records", allocs, batch)
	}
}
