package engine_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/topspeed/topspeed/engine"
)

// reportingSum is runningSum plus engine.MetricsReporter. Metrics reads the
// operator's state without locks: the race detector checks that the engine
// calls it on the subtask goroutine.
type reportingSum struct {
	runningSum
	batches int64
}

func (r *reportingSum) ProcessBatch(in []int, out *engine.Output[int]) error {
	r.batches++
	return r.runningSum.ProcessBatch(in, out)
}

func (r *reportingSum) Metrics() engine.OperatorMetrics {
	return engine.OperatorMetrics{Keys: int64(len(r.sums)), Retained: 2 * int64(len(r.sums)), Counters: []engine.OperatorCounter{
		{Name: "window_fires", Help: "Window firings of an operator.", Value: r.batches},
		{Name: "late_records_dropped", Help: "Records an operator dropped as late.", Value: 1},
	}}
}

// skippingSource is a sliceSource that reports a skip count.
type skippingSource struct {
	sliceSource
	skipped atomic.Int64
}

func (s *skippingSource) Read(ctx context.Context, buf []int) (int, error) {
	s.skipped.Store(3)
	return s.sliceSource.Read(ctx, buf)
}
func (s *skippingSource) Skipped() int64 { return s.skipped.Load() }

// families gathers reg into name -> metrics.
func families(t *testing.T, reg *prometheus.Registry) map[string][]*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*dto.Metric{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetMetric()
	}
	return out
}

// value returns the value of the series of name whose labels include want
// (name=value pairs), and whether it exists.
func value(fams map[string][]*dto.Metric, name string, want ...string) (float64, bool) {
	for _, m := range fams[name] {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(want); i += 2 {
			ok = ok && labels[want[i]] == want[i+1]
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func metricsPipeline(src engine.Source[int], sink engine.Sink[int], base int64, opts ...engine.Option) *engine.Pipeline {
	p := engine.New(opts...)
	s := engine.FromSource(p, "src", src, engine.Monotonous(func(v int) int64 { return base + int64(v) }))
	out := engine.Process(engine.KeyBy(s, key10, engine.HashInt), "sum", func(k engine.Keys[int, int]) engine.Operator[int, int] {
		return &reportingSum{runningSum: runningSum{keys: k}}
	})
	engine.ToSink(out, "collect", sink)
	return p
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	const n, stopAt = 3000, 1000
	base := time.Now().UnixMilli() - 5000
	recs := make([]int, n)
	for i := range recs {
		recs[i] = i
	}
	gate := make(chan struct{})
	src := &skippingSource{sliceSource: sliceSource{recs: recs, chunk: 100, gate: gate, stopAt: stopAt}}
	p := metricsPipeline(src, &collect{}, base, engine.WithParallelism(2), engine.WithMetrics(reg), engine.WithProcessingTimeInterval(0))
	if st := p.State(); st != engine.StateCreated {
		t.Fatalf("state %v before Run", st)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()

	// While the source waits at the gate: counters, watermarks, lag, queues
	// and, after a sampling tick, the operator's sample.
	deadline := time.Now().Add(10 * time.Second)
	for {
		f := families(t, reg)
		in, _ := value(f, "topspeed_records_in_total", "stage", "src")
		keys, _ := value(f, "topspeed_operator_keys", "stage", "sum", "subtask", "1")
		if in == stopAt && keys > 0 && p.State() == engine.StateRunning {
			wm, ok := value(f, "topspeed_watermark_seconds", "stage", "src")
			if !ok || wm != float64(base+stopAt-2)/1e3 {
				t.Errorf("source watermark %v %v, want %v", wm, ok, float64(base+stopAt-2)/1e3)
			}
			if lag, ok := value(f, "topspeed_event_time_lag_seconds", "stage", "sum", "subtask", "0"); !ok || lag < 3 || lag > 60 {
				t.Errorf("subtask lag %v %v, want about 4s", lag, ok)
			}
			if c, ok := value(f, "topspeed_queue_capacity_batches", "stage", "collect"); !ok || c != float64(engine.DefaultConfig().QueueBatches) {
				t.Errorf("sink queue capacity %v %v", c, ok)
			}
			if r, ok := value(f, "topspeed_operator_retained_elements", "stage", "sum", "subtask", "1"); !ok || r != 2*keys {
				t.Errorf("retained %v %v, want %v", r, ok, 2*keys)
			}
			if b, ok := value(f, "topspeed_bad_records_total", "stage", "src"); !ok || b != 3 {
				t.Errorf("bad records %v %v", b, ok)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics while running: in=%v keys=%v state=%v", in, keys, p.State())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r, w := p.RecordCounts(); r != stopAt {
		t.Errorf("RecordCounts read %d, want %d (written %d)", r, stopAt, w)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := p.State(); st != engine.StateFinished {
		t.Fatalf("state %v after Run", st)
	}

	f := families(t, reg)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"topspeed_records_in_total", []string{"stage", "src"}, n},
		{"topspeed_records_out_total", []string{"stage", "src"}, n},
		{"topspeed_records_in_total", []string{"stage", "collect"}, n},
		{"topspeed_records_out_total", []string{"stage", "collect"}, n},
		{"topspeed_bad_records_total", []string{"stage", "src"}, 3},
	} {
		if v, ok := value(f, c.name, c.labels...); !ok || v != c.want {
			t.Errorf("%s%v = %v (%v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	var in, out, fires, late float64
	for _, st := range []string{"0", "1"} {
		a, _ := value(f, "topspeed_records_in_total", "stage", "sum", "subtask", st)
		b, _ := value(f, "topspeed_records_out_total", "stage", "sum", "subtask", st)
		c, _ := value(f, "topspeed_window_fires_total", "stage", "sum", "subtask", st)
		d, _ := value(f, "topspeed_late_records_dropped_total", "stage", "sum", "subtask", st)
		in, out, fires, late = in+a, out+b, fires+c, late+d
	}
	if in != n || out != n || fires < 2 || late != 2 {
		t.Errorf("operator in %v out %v fires %v late %v", in, out, fires, late)
	}
	if c, ok := value(f, "topspeed_end_to_end_latency_seconds", "stage", "collect"); !ok || c == 0 {
		t.Errorf("no end-to-end latency observed")
	}
	if c, ok := value(f, "topspeed_sink_flush_duration_seconds", "stage", "collect"); !ok || c == 0 {
		t.Errorf("no flush observed")
	}
	// Gauges describe running stages only.
	for _, g := range []string{"topspeed_watermark_seconds", "topspeed_event_time_lag_seconds", "topspeed_queue_batches", "topspeed_operator_keys"} {
		if _, ok := f[g]; ok {
			t.Errorf("%s still exported after Run", g)
		}
	}
	if r, w := p.RecordCounts(); r != n || w != n {
		t.Errorf("RecordCounts %d, %d", r, w)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("lint: %s: %s", pr.Metric, pr.Text)
	}

	// A second pipeline on the same registry continues the counters.
	p2 := metricsPipeline(&sliceSource{recs: recs[:500], chunk: 100}, &collect{}, base, engine.WithParallelism(1), engine.WithMetrics(reg))
	if err := p2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v, _ := value(families(t, reg), "topspeed_records_in_total", "stage", "src"); v != n+500 {
		t.Errorf("records after a second pipeline: %v, want %v", v, n+500)
	}
}

func TestNoMetrics(t *testing.T) {
	p := metricsPipeline(&sliceSource{recs: seq(100), chunk: 10}, &collect{}, 0, engine.WithParallelism(2))
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r, w := p.RecordCounts(); r != 0 || w != 0 || p.State() != engine.StateFinished {
		t.Fatalf("RecordCounts %d %d state %v", r, w, p.State())
	}
}

func TestMetricsRegistrationConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "topspeed_records_in_total", Help: "taken"}))
	p := metricsPipeline(&sliceSource{recs: seq(10), chunk: 10}, &collect{}, 0, engine.WithMetrics(reg))
	err := p.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Fatalf("Run = %v, want a metrics registration error", err)
	}
	if p.State() != engine.StateFailed {
		t.Fatalf("state %v", p.State())
	}
}
