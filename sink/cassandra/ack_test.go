package cassandra_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/internal/testenv"
	"github.com/topspeed/topspeed/sink/cassandra"
)

var _ engine.AckingSink[row] = (*cassandra.Sink[row, int32])(nil)

// Every WriteStamped batch is acknowledged exactly once, with its size,
// only after its rows reached the server.
func TestSinkAcknowledgesEachBatchOnce(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	c := config(t, srv)
	c.BatchRows = 7
	c.Linger = time.Hour // rows go out when partitions fill, and at Flush
	s, err := cassandra.New(c, mapping, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acks := map[int64]int{}
	calls := map[int64]int{}
	s.SetAck(func(stamp int64, n int) {
		mu.Lock()
		acks[stamp] += n
		calls[stamp]++
		mu.Unlock()
	})
	ctx := context.Background()
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	rows := genRows(5000, 40)
	const chunk = 97
	for i := 0; i < len(rows); i += chunk {
		if err := s.WriteStamped(ctx, rows[i:min(i+chunk, len(rows))], int64(i/chunk+1)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	early := len(calls)
	mu.Unlock()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	batches := (len(rows) + chunk - 1) / chunk
	if early == batches {
		t.Errorf("all %d batches acknowledged before Flush sent the lingering rows", batches)
	}
	mu.Lock()
	defer mu.Unlock()
	for b := 1; b <= batches; b++ {
		want := min(chunk, len(rows)-(b-1)*chunk)
		if calls[int64(b)] != 1 || acks[int64(b)] != want {
			t.Fatalf("batch %d: %d acks for %d rows, want 1 for %d", b, calls[int64(b)], acks[int64(b)], want)
		}
	}
	if len(calls) != batches {
		t.Fatalf("%d stamps acknowledged, want %d", len(calls), batches)
	}
	sameTable(t, readTable(t, c), rows)
}

// sliceSource emits rows in batches of 100.
type sliceSource struct {
	rows []row
	pos  int
}

func (s *sliceSource) Open(context.Context) error { return nil }
func (s *sliceSource) Close() error               { return nil }
func (s *sliceSource) Read(_ context.Context, buf []row) (int, error) {
	if s.pos == len(s.rows) {
		return 0, io.EOF
	}
	n := copy(buf[:min(len(buf), 100)], s.rows[s.pos:])
	s.pos += n
	return n, nil
}

// In a pipeline, the engine counts the sink's rows as written when the
// server acknowledged them, and times each batch to its acknowledgement.
func TestSinkProgressInPipeline(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	c := config(t, srv)
	s, err := cassandra.New(c, mapping, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := genRows(3000, 30)
	reg := prometheus.NewRegistry()
	p := engine.New(engine.WithParallelism(1), engine.WithMetrics(reg))
	src := engine.FromSource(p, "rows", engine.Source[row](&sliceSource{rows: rows}), engine.NoWatermarks[row]())
	engine.ToSink(src, "cassandra", engine.Sink[row](s))
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	sp := p.Progress().Sinks[0]
	if sp.Written != int64(len(rows)) || sp.LatencyCount != int64(len(rows)/100) {
		t.Fatalf("progress %+v: want %d written in %d timed batches", sp, len(rows), len(rows)/100)
	}
	if sp.LatencySum <= 0 || sp.LatencyMax <= 0 {
		t.Fatalf("progress %+v: no latency", sp)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var samples uint64
	for _, mf := range mfs {
		if mf.GetName() == "topspeed_end_to_end_latency_seconds" {
			for _, m := range mf.GetMetric() {
				samples += m.GetHistogram().GetSampleCount()
			}
		}
	}
	if samples != uint64(sp.LatencyCount) {
		t.Errorf("histogram has %d samples, progress %d observations", samples, sp.LatencyCount)
	}
	sameTable(t, readTable(t, c), rows)
}

var _ engine.ContextCloser = (*cassandra.Sink[row, int32])(nil)
