package engine_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/topspeed/topspeed/engine"
)

// blockSink blocks every Write until release is closed.
type blockSink struct {
	collect
	release chan struct{}
}

func (b *blockSink) Write(ctx context.Context, r []int) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.collect.Write(ctx, r)
}

func stageByName(t *testing.T, st []engine.StageStats, name string) engine.StageStats {
	t.Helper()
	for _, s := range st {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no stage %q in %+v", name, st)
	return engine.StageStats{}
}

// TestStages runs source -> Map -> keyed "sum" -> two sinks, one of which
// blocks: Stages shows the graph, the counts while the source is gated,
// the keyed watermark, and the blocked sink's full queue (backpressure).
func TestStages(t *testing.T) {
	const n, stopAt = 3000, 1000
	base := time.Now().UnixMilli() - time.Hour.Milliseconds()
	gate := make(chan struct{})
	recs := make([]int, n)
	for i := range recs {
		recs[i] = i
	}
	p := engine.New(engine.WithParallelism(3), engine.WithMetrics(prometheus.NewRegistry()), engine.WithQueueBatches(4))
	s := engine.FromSource(p, "src", engine.Source[int](&sliceSource{recs: recs, chunk: 100, gate: gate, stopAt: stopAt}),
		engine.Monotonous(func(v int) int64 { return base + int64(v) }))
	m := engine.WithTimestamps(engine.Map(s, func(v int) int { return v }), func(v int) int64 { return base + int64(v) })
	out := engine.Process(engine.KeyBy(m, key10, engine.HashInt), "sum", newSum)
	engine.ToSink(out, "fast", engine.Sink[int](&collect{}))

	before := p.Stages()
	if got := names(before); !slices.Equal(got, []string{"src", "sum", "fast"}) {
		t.Fatalf("before Run: stages %v", got)
	}
	want := map[string]struct {
		kind   string
		par    int
		inputs []string
	}{"src": {"source", 1, nil}, "sum": {"operator", 3, []string{"src"}}, "fast": {"sink", 1, []string{"sum"}}}
	for _, st := range before {
		w := want[st.Name]
		if st.Kind != w.kind || st.Parallelism != w.par || !slices.Equal(st.Inputs, w.inputs) || st.RecordsIn != 0 || st.RecordsOut != 0 {
			t.Errorf("before Run: %+v, want %+v", st, w)
		}
	}
	if sum := stageByName(t, before, "sum"); sum.QueueCapacity != 3*4 || sum.Queued != 0 {
		t.Errorf("sum's queues: %d of %d, want 0 of 12", sum.Queued, sum.QueueCapacity)
	}

	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := p.Stages()
		src, sum, fast := stageByName(t, st, "src"), stageByName(t, st, "sum"), stageByName(t, st, "fast")
		if src.RecordsIn == stopAt && src.RecordsOut == stopAt && sum.RecordsIn == stopAt && sum.RecordsOut == stopAt &&
			fast.RecordsIn == stopAt && fast.RecordsOut == stopAt && sum.Watermark == base+stopAt-2 && src.Watermark == base+stopAt-2 {
			if fast.Watermark != engine.MinWatermark {
				t.Errorf("sink watermark %d, want MinWatermark", fast.Watermark)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("while gated (base %d): %+v", base, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, st := range p.Stages() {
		if st.RecordsIn != n || st.RecordsOut != n || st.Queued != 0 {
			t.Errorf("after Run: %+v", st)
		}
	}
}

// TestStagesBackpressure: a sink that does not return fills its queue,
// which Stages reports full.
func TestStagesBackpressure(t *testing.T) {
	release := make(chan struct{})
	p := engine.New(engine.WithParallelism(2), engine.WithQueueBatches(2), engine.WithBatchSize(10))
	s := engine.FromSource(p, "src", engine.Source[int](&sliceSource{recs: seq(5000), chunk: 10}), engine.NoWatermarks[int]())
	engine.ToSink(engine.Process(engine.KeyBy(s, key10, engine.HashInt), "sum", newSum), "stuck", engine.Sink[int](&blockSink{release: release}))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		stuck := stageByName(t, p.Stages(), "stuck")
		if stuck.Queued == stuck.QueueCapacity && stuck.QueueCapacity == 2 && stuck.MaxQueueFill == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the blocked sink's queue never filled: %+v", stuck)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Without metrics an operator's counts are unknown; the source's read
	// count and the sink's written count are kept.
	if src := stageByName(t, p.Stages(), "src"); src.RecordsIn == 0 || src.RecordsOut != src.RecordsIn {
		t.Errorf("source without metrics: %+v", src)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if stuck := stageByName(t, p.Stages(), "stuck"); stuck.RecordsOut != 5000 || stuck.RecordsIn != 5000 {
		t.Errorf("sink after Run: %+v", stuck)
	}
}

// TestStagesUnionEdges: a union of two sources into a keyed stage, and a
// keyed stage feeding another: exact edges from sources, the nearest
// keyed stage for the rest.
func TestStagesUnionEdges(t *testing.T) {
	p := engine.New(engine.WithParallelism(2))
	a := engine.FromSource(p, "a", engine.Source[int](&sliceSource{recs: seq(10), chunk: 5}), engine.NoWatermarks[int]())
	b := engine.FromSource(p, "b", engine.Source[int](&sliceSource{recs: seq(10), chunk: 5}), engine.NoWatermarks[int]())
	u := engine.Union(a, engine.Filter(b, func(int) bool { return true }))
	first := engine.Process(engine.KeyBy(u, key10, engine.HashInt), "first", newSum)
	second := engine.Process(engine.KeyBy(first, key10, engine.HashInt), "second", newSum)
	engine.ToSink(second, "out", engine.Sink[int](&collect{}))
	engine.ToSink(a, "raw", engine.Sink[int](&collect{}))
	want := map[string][]string{"a": nil, "b": nil, "first": {"a", "b"}, "second": {"first"}, "out": {"second"}, "raw": {"a"}}
	st := p.Stages()
	if len(st) != len(want) {
		t.Fatalf("stages %v", names(st))
	}
	for _, s := range st {
		if !slices.Equal(s.Inputs, want[s.Name]) {
			t.Errorf("%s: inputs %v, want %v", s.Name, s.Inputs, want[s.Name])
		}
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func names(st []engine.StageStats) []string {
	var out []string
	for _, s := range st {
		out = append(out, s.Name)
	}
	return out
}
