package engine_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/topspeed/topspeed/engine"
)

func TestProgressWithoutMetrics(t *testing.T) {
	const n, stopAt = 3000, 1000
	base := time.Now().UnixMilli() - time.Hour.Milliseconds() // event time an hour ago
	recs := make([]int, n)
	for i := range recs {
		recs[i] = i
	}
	gate := make(chan struct{})
	src := &sliceSource{recs: recs, chunk: 100, gate: gate, stopAt: stopAt}
	p := engine.New(engine.WithParallelism(2))
	s := engine.FromSource(p, "src", engine.Source[int](src), engine.Monotonous(func(v int) int64 { return base + int64(v) }))
	out := engine.Process(engine.KeyBy(s, key10, engine.HashInt), "sum", newSum)
	slow := &collect{}
	engine.ToSink(out, "first", engine.Sink[int](&slowSink{collect: slow, delay: 5 * time.Millisecond}))
	engine.ToSink(out, "second", engine.Sink[int](&collect{}))

	if pr := p.Progress(); pr.Read != 0 || pr.Watermark != engine.MinWatermark || pr.Sinks != nil {
		t.Fatalf("before Run: %+v", pr)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pr := p.Progress()
		// The watermark is emitted right after its batch was pushed.
		if pr.Read == stopAt && len(pr.Sinks) == 2 && pr.Sinks[0].Written == stopAt && pr.Sinks[1].Written == stopAt && pr.Watermark == base+stopAt-2 {
			if pr.Sinks[0].Name != "first" || pr.Sinks[1].Name != "second" {
				t.Errorf("sinks %q, %q: not in the order added", pr.Sinks[0].Name, pr.Sinks[1].Name)
			}
			break
		}
		if pr.Read > stopAt || time.Now().After(deadline) {
			t.Fatalf("progress while gated: %+v", pr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	pr := p.Progress()
	if pr.Read != n || pr.Sinks[0].Written != n || pr.Sinks[1].Written != n {
		t.Fatalf("after Run: %+v", pr)
	}
	// Transit, not event-time age: the records' event time is an hour old.
	for _, sp := range pr.Sinks {
		if sp.LatencyCount == 0 {
			t.Fatalf("%s: no latency observed", sp.Name)
		}
		mean := sp.LatencySum / time.Duration(sp.LatencyCount)
		if mean <= 0 || sp.LatencyMax < mean || sp.LatencyMax > 10*time.Second {
			t.Errorf("%s: latency mean %v max %v", sp.Name, mean, sp.LatencyMax)
		}
	}
	// The first sink takes 5ms per Write: its batches wait at least that.
	if mean := pr.Sinks[0].LatencySum / time.Duration(pr.Sinks[0].LatencyCount); mean < 5*time.Millisecond {
		t.Errorf("slow sink's mean latency %v < its Write time", mean)
	}
	// LatencyMax is reset by each call.
	if again := p.Progress(); again.Sinks[0].LatencyMax != 0 || again.Sinks[0].LatencyCount != pr.Sinks[0].LatencyCount {
		t.Errorf("second call: %+v", again.Sinks[0])
	}
}

// slowSink takes delay per Write.
type slowSink struct {
	*collect
	delay time.Duration
}

func (s *slowSink) Write(ctx context.Context, b []int) error {
	time.Sleep(s.delay)
	return s.collect.Write(ctx, b)
}

// ackSink is an asynchronous engine.AckingSink: it acknowledges each batch
// delay after WriteStamped, from another goroutine.
type ackSink struct {
	collect
	delay   time.Duration
	ack     engine.AckFunc
	wg      sync.WaitGroup
	plain   atomic.Int64 // Write calls (the engine should use WriteStamped)
	batches atomic.Int64
}

func (a *ackSink) SetAck(f engine.AckFunc) { a.ack = f }
func (a *ackSink) Write(ctx context.Context, b []int) error {
	a.plain.Add(1)
	return a.collect.Write(ctx, b)
}
func (a *ackSink) WriteStamped(ctx context.Context, b []int, stamp int64) error {
	a.batches.Add(1)
	n := len(b)
	a.wg.Add(1)
	time.AfterFunc(a.delay, func() {
		defer a.wg.Done()
		a.ack(stamp, n)
	})
	return a.collect.Write(ctx, b)
}
func (a *ackSink) Flush(ctx context.Context) error {
	a.wg.Wait()
	return a.collect.Flush(ctx)
}

func TestProgressAckingSink(t *testing.T) {
	const n = 2000
	reg := prometheus.NewRegistry()
	a := &ackSink{delay: 40 * time.Millisecond}
	gate := make(chan struct{})
	p := engine.New(engine.WithParallelism(2), engine.WithMetrics(reg))
	s := engine.FromSource(p, "src", engine.Source[int](&sliceSource{recs: seq(n), chunk: 100, gate: gate, stopAt: 100}), engine.NoWatermarks[int]())
	out := engine.Process(engine.KeyBy(s, key10, engine.HashInt), "sum", newSum)
	engine.ToSink(out, "async", engine.Sink[int](a))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()

	// Accepted is not acknowledged: Written waits for the acks.
	for len(a.records()) < 100 {
		time.Sleep(time.Millisecond)
	}
	if w := p.Progress().Sinks[0].Written; w == 100 {
		t.Errorf("Written %d right after the Writes: counted before the acknowledgement", w)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a.plain.Load() != 0 {
		t.Errorf("engine called Write %d times instead of WriteStamped", a.plain.Load())
	}
	sp := p.Progress().Sinks[0]
	if sp.Written != n || sp.LatencyCount != a.batches.Load() {
		t.Fatalf("progress %+v, want %d written and %d observations", sp, n, a.batches.Load())
	}
	if mean := sp.LatencySum / time.Duration(sp.LatencyCount); mean < 40*time.Millisecond {
		t.Errorf("mean latency %v: shorter than the acknowledgement delay", mean)
	}
	h := histogram(t, reg, "topspeed_end_to_end_latency_seconds", "async")
	if int64(h.GetSampleCount()) != sp.LatencyCount {
		t.Errorf("histogram has %d samples, progress %d", h.GetSampleCount(), sp.LatencyCount)
	}
	if got, want := h.GetSampleSum(), sp.LatencySum.Seconds(); got < want*0.99 || got > want*1.01 {
		t.Errorf("histogram sum %v, progress %v", got, want)
	}
}

func histogram(t *testing.T, reg *prometheus.Registry, name, stage string) *dto.Histogram {
	t.Helper()
	for _, m := range families(t, reg)[name] {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "stage" && lp.GetValue() == stage {
				return m.GetHistogram()
			}
		}
	}
	t.Fatalf("no %s{stage=%q}", name, stage)
	return nil
}

// hookEmitter emits one record per hook of the kind it is told to.
type hookEmitter struct {
	onWatermark, onProcessingTime bool
	seen                          int
}

func (h *hookEmitter) Open(engine.OperatorContext) error { return nil }
func (h *hookEmitter) ProcessBatch(in []int, _ *engine.Output[int]) error {
	h.seen += len(in)
	return nil
}
func (h *hookEmitter) OnWatermark(wm int64, out *engine.Output[int]) error {
	if h.onWatermark && h.seen > 0 {
		out.Emit(h.seen)
	}
	return nil
}
func (h *hookEmitter) OnProcessingTime(_ int64, out *engine.Output[int]) error {
	if h.onProcessingTime && h.seen > 0 {
		out.Emit(h.seen)
	}
	return nil
}
func (h *hookEmitter) OnCheckpoint(uint64, *engine.KeyedState) error { return nil }
func (h *hookEmitter) OnCommit(uint64) error                         { return nil }
func (h *hookEmitter) Close(*engine.Output[int]) error               { return nil }

// Results fired by OnWatermark are timed from the batch that advanced the
// watermark; results of OnProcessingTime are counted but not timed.
func TestLatencyOfTimerOutput(t *testing.T) {
	for _, tc := range []struct {
		name        string
		op          hookEmitter
		wantLatency bool
	}{
		{"watermark", hookEmitter{onWatermark: true}, true},
		{"processing-time", hookEmitter{onProcessingTime: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := engine.New(engine.WithParallelism(1), engine.WithProcessingTimeInterval(time.Millisecond))
			s := engine.FromSource(p, "src", engine.Source[int](&pacedSource{period: 2 * time.Millisecond}), engine.Monotonous(func(v int) int64 { return int64(v) }))
			op := tc.op
			out := engine.Process(engine.KeyBy(s, key10, engine.HashInt), "hooks", func(engine.Keys[int, int]) engine.Operator[int, int] { return &op })
			engine.ToSink(out, "sink", engine.Sink[int](&collect{}))
			runFor(t, p, 200*time.Millisecond)
			sp := p.Progress().Sinks[0]
			if sp.Written == 0 {
				t.Fatal("nothing written")
			}
			if got := sp.LatencyCount > 0; got != tc.wantLatency {
				t.Errorf("%d latency observations for %d records", sp.LatencyCount, sp.Written)
			}
		})
	}
}
