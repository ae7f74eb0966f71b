package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/topspeed/topspeed/engine"
)

// countersSum is runningSum reporting the counters in names, each with
// the number of batches processed since Open.
type countersSum struct {
	runningSum
	names   []string
	batches int64
}

func (c *countersSum) ProcessBatch(in []int, out *engine.Output[int]) error {
	c.batches++
	return c.runningSum.ProcessBatch(in, out)
}

func (c *countersSum) Metrics() engine.OperatorMetrics {
	m := engine.OperatorMetrics{Keys: int64(len(c.sums))}
	for _, n := range c.names {
		m.Counters = append(m.Counters, engine.OperatorCounter{Name: n, Value: c.batches})
	}
	return m
}

func countersPipeline(names []string, opts ...engine.Option) *engine.Pipeline {
	p := engine.New(append([]engine.Option{engine.WithParallelism(1), engine.WithProcessingTimeInterval(0)}, opts...)...)
	s := engine.FromSource(p, "src", engine.Source[int](&sliceSource{recs: seq(100), chunk: 10}), engine.NoWatermarks[int]())
	out := engine.Process(engine.KeyBy(s, key10, engine.HashInt), "sum", func(k engine.Keys[int, int]) engine.Operator[int, int] {
		return &countersSum{runningSum: runningSum{keys: k}, names: names}
	})
	engine.ToSink(out, "collect", engine.Sink[int](&collect{}))
	return p
}

func TestMetricsNamespace(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, ns := range []string{"wc", ""} {
		p := countersPipeline([]string{"window_fires"}, engine.WithMetrics(reg), engine.WithMetricsNamespace(ns))
		if err := p.Run(context.Background()); err != nil {
			t.Fatalf("namespace %q: %v", ns, err)
		}
	}
	f := families(t, reg)
	for _, name := range []string{"wc_records_in_total", "records_in_total", "wc_window_fires_total", "window_fires_total",
		"wc_sink_write_duration_seconds", "end_to_end_latency_seconds"} {
		if _, ok := f[name]; !ok {
			t.Errorf("%s not exported", name)
		}
	}
	for name := range f {
		if strings.HasPrefix(name, "topspeed_") {
			t.Errorf("%s exported with the default namespace", name)
		}
	}
	if v, _ := value(f, "wc_window_fires_total", "stage", "sum"); v != 10 {
		t.Errorf("wc_window_fires_total = %v, want 10 (one per batch)", v)
	}

	p := countersPipeline(nil, engine.WithMetrics(reg), engine.WithMetricsNamespace("1x"))
	if err := p.Run(context.Background()); !errors.Is(err, engine.ErrInvalidPipeline) || !strings.Contains(err.Error(), `metrics namespace "1x"`) {
		t.Fatalf("invalid namespace: %v", err)
	}
	if ns := engine.DefaultConfig().MetricsNamespace; ns != "topspeed" {
		t.Fatalf("default namespace %q", ns)
	}
}

// Operator counters add up across instances of a stage (a later pipeline
// on the same registry), and a counter with a bad or reserved name is
// logged once and not exported, while the scrape stays valid.
func TestOperatorCounters(t *testing.T) {
	reg := prometheus.NewRegistry()
	core, logs := observer.New(zapcore.WarnLevel)
	names := []string{"good", "records_in", "fires_total", "bad-name"}
	for i := 0; i < 2; i++ {
		p := countersPipeline(names, engine.WithMetrics(reg), engine.WithLogger(zap.New(core)))
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	f := families(t, reg)
	if v, ok := value(f, "topspeed_good_total", "stage", "sum", "subtask", "0"); !ok || v != 20 {
		t.Errorf("topspeed_good_total = %v (%v), want 20 over two runs", v, ok)
	}
	if v, _ := value(f, "topspeed_records_in_total", "stage", "sum"); v != 200 {
		t.Errorf("the engine's records_in of sum = %v, want 200 (not the operator's counter)", v)
	}
	for _, name := range []string{"topspeed_fires_total_total", "topspeed_bad-name_total"} {
		if _, ok := f[name]; ok {
			t.Errorf("%s exported", name)
		}
	}
	var warned []string
	for _, e := range logs.FilterMessageSnippet("operator counter not exported").All() {
		warned = append(warned, e.ContextMap()["counter"].(string))
	}
	if strings.Join(warned, ",") != "records_in,fires_total,bad-name" {
		t.Errorf("warnings for %v, want each bad name once", warned)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("lint: %s: %s", pr.Metric, pr.Text)
	}
}
