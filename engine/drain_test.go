package engine_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// drainSink is an engine.Drainer that records when records were written
// and drained, and fails the test if Drain overlaps another call.
type drainSink struct {
	writeDelay time.Duration
	failDrain  error

	busy atomic.Bool // inside a Sink or Drainer method
	mu   sync.Mutex
	// For each record: when Write returned, and when it was drained
	// (zero until then). Flush counts as a drain too.
	written []time.Time
	drained []time.Time
	drains  int
	flushes int
	overlap bool
}

func (d *drainSink) enter() {
	if d.busy.Swap(true) {
		d.mu.Lock()
		d.overlap = true
		d.mu.Unlock()
	}
}
func (d *drainSink) leave() { d.busy.Store(false) }

func (d *drainSink) Open(context.Context) error { return nil }
func (d *drainSink) Close() error               { return nil }
func (d *drainSink) Write(_ context.Context, b []int) error {
	d.enter()
	defer d.leave()
	if d.writeDelay > 0 {
		time.Sleep(d.writeDelay)
	}
	now := time.Now()
	d.mu.Lock()
	for range b {
		d.written = append(d.written, now)
	}
	d.mu.Unlock()
	return nil
}

func (d *drainSink) out(flush bool) {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.drained) < len(d.written) {
		d.drained = append(d.drained, now)
	}
	if flush {
		d.flushes++
	} else {
		d.drains++
	}
}

func (d *drainSink) Drain(context.Context) error {
	d.enter()
	defer d.leave()
	if d.failDrain != nil {
		return d.failDrain
	}
	d.out(false)
	return nil
}

func (d *drainSink) Flush(context.Context) error {
	d.enter()
	defer d.leave()
	d.out(true)
	return nil
}

// stats returns the number of records written and drained (or flushed),
// the drains, and the longest a drained record waited.
func (d *drainSink) stats() (written, drained, drains int, maxWait time.Duration, overlap bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, t := range d.drained {
		maxWait = max(maxWait, t.Sub(d.written[i]))
	}
	return len(d.written), len(d.drained), d.drains, maxWait, d.overlap
}

// pacedSource emits one record per Read, after spinning or sleeping for
// period, until stopped.
type pacedSource struct {
	period time.Duration
	spin   bool
	n      int
}

func (s *pacedSource) Open(context.Context) error { return nil }
func (s *pacedSource) Close() error               { return nil }
func (s *pacedSource) Read(ctx context.Context, buf []int) (int, error) {
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if s.spin {
		for start := time.Now(); time.Since(start) < s.period; {
		}
	} else if s.period > 0 {
		time.Sleep(s.period)
	}
	buf[0] = s.n
	s.n++
	return 1, nil
}

// drainPipeline is src -> key by -> running sum -> sink, parallelism 2.
func drainPipeline(src engine.Source[int], s engine.Sink[int], opts ...engine.SinkOption[int]) *engine.Pipeline {
	p := engine.New(engine.WithParallelism(2), engine.WithProcessingTimeInterval(0))
	st := engine.FromSource(p, "src", src, engine.NoWatermarks[int]())
	out := engine.Process(engine.KeyBy(st, key10, engine.HashInt), "sum", newSum)
	engine.ToSink(out, "sink", s, opts...)
	return p
}

// runFor runs p for d, stops it and returns Run's error.
func runFor(t *testing.T, p *engine.Pipeline, d time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	time.Sleep(d)
	p.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A sparse stream is drained about a millisecond after each write (the
// sink's input is idle), even with a long interval.
func TestDrainWhenIdle(t *testing.T) {
	s := &drainSink{}
	p := drainPipeline(&pacedSource{period: 20 * time.Millisecond}, s, engine.SinkFlushInterval[int](time.Hour))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, drained, drains, _, _ := s.stats()
		if drained >= 10 && drains >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drained %d records in %d drains while running", drained, drains)
		}
		time.Sleep(5 * time.Millisecond)
	}
	written, drained, _, maxWait, overlap := s.stats()
	p.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if overlap {
		t.Error("Drain ran concurrently with another sink call")
	}
	// Idle drains come after ~1 ms; allow for a loaded machine.
	if maxWait > 250*time.Millisecond {
		t.Errorf("a record waited %v for its drain (%d written, %d drained)", maxWait, written, drained)
	}
}

// A sink that is the bottleneck (its input queue never empties) is drained
// every interval, not per write.
func TestDrainWithinIntervalWhenBusy(t *testing.T) {
	const interval = 50 * time.Millisecond
	s := &drainSink{writeDelay: 2 * time.Millisecond}
	p := drainPipeline(&pacedSource{}, s, engine.SinkFlushInterval[int](interval))
	runFor(t, p, 600*time.Millisecond)
	written, drained, drains, maxWait, overlap := s.stats()
	t.Logf("%d records written, %d drained in %d drains, longest wait %v", written, drained, drains, maxWait)
	if overlap {
		t.Error("Drain ran concurrently with another sink call")
	}
	if drains < 3 {
		t.Errorf("%d drains in 600ms with a %v interval", drains, interval)
	}
	if maxWait > interval+150*time.Millisecond {
		t.Errorf("a record waited %v for a drain, interval %v", maxWait, interval)
	}
	if drains > 30 {
		t.Errorf("%d drains in 600ms: more than the interval asks for", drains)
	}
}

// A busy input whose sink keeps up (the queue empties after most writes,
// but the next batch comes within the idle delay) is not drained per
// write: the idle timer backs off.
func TestDrainBusyInputBacksOff(t *testing.T) {
	s := &drainSink{}
	p := drainPipeline(&pacedSource{period: 100 * time.Microsecond, spin: true}, s, engine.SinkFlushInterval[int](100*time.Millisecond))
	runFor(t, p, 600*time.Millisecond)
	written, drained, drains, maxWait, _ := s.stats()
	t.Logf("%d records written, %d drained in %d drains, longest wait %v", written, drained, drains, maxWait)
	if written < 1000 {
		t.Skipf("only %d records in 600ms: machine too busy for this test", written)
	}
	// About one drain per interval (6), plus idle drains when the source
	// was descheduled; a drain per idle millisecond would be hundreds.
	if drains > 60 {
		t.Errorf("%d drains for %d records in 600ms: the idle timer does not back off", drains, written)
	}
}

func TestDrainZeroIntervalOnlyFlushes(t *testing.T) {
	s := &drainSink{}
	p := drainPipeline(&pacedSource{period: 5 * time.Millisecond}, s, engine.SinkFlushInterval[int](0))
	runFor(t, p, 200*time.Millisecond)
	written, drained, drains, _, _ := s.stats()
	if drains != 0 || written == 0 || drained != written {
		t.Errorf("interval 0: %d drains, %d written, %d flushed", drains, written, drained)
	}
}

func TestDrainErrorFailsPipeline(t *testing.T) {
	boom := errors.New("pipe broken")
	s := &drainSink{failDrain: boom}
	p := drainPipeline(&pacedSource{period: time.Millisecond}, s)
	err := p.Run(context.Background())
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want %v", err, boom)
	}
}

func TestSinkFlushIntervalNegative(t *testing.T) {
	p := drainPipeline(&sliceSource{recs: seq(10), chunk: 10}, &drainSink{}, engine.SinkFlushInterval[int](-time.Second))
	if err := p.Run(context.Background()); !errors.Is(err, engine.ErrInvalidPipeline) {
		t.Fatalf("Run = %v, want ErrInvalidPipeline", err)
	}
}
