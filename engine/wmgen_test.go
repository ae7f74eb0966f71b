package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// eventLog is a keyed stage (run it at parallelism 1) that logs the
// records and watermarks it gets, in order, as "r<v>" and "w<wm>".
type eventLog struct {
	mu  *sync.Mutex
	log *[]string
}

func (e *eventLog) Open(engine.OperatorContext) error { return nil }
func (e *eventLog) ProcessBatch(in []int, _ *engine.Output[int]) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, v := range in {
		*e.log = append(*e.log, fmt.Sprintf("r%d", v))
	}
	return nil
}
func (e *eventLog) OnWatermark(wm int64, _ *engine.Output[int]) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if wm == math.MaxInt64 {
		*e.log = append(*e.log, "end")
	} else {
		*e.log = append(*e.log, fmt.Sprintf("w%d", wm))
	}
	return nil
}
func (e *eventLog) OnProcessingTime(int64, *engine.Output[int]) error { return nil }
func (e *eventLog) OnCheckpoint(uint64, *engine.KeyedState) error     { return nil }
func (e *eventLog) OnCommit(uint64) error                             { return nil }
func (e *eventLog) Close(*engine.Output[int]) error                   { return nil }

// runLog runs recs through a source with strategy ws and batches of batch
// records into one eventLog subtask and returns its log.
func runLog(t *testing.T, recs []int, batch int, ws engine.WatermarkStrategy[int]) []string {
	t.Helper()
	var mu sync.Mutex
	var log []string
	p := engine.New(engine.WithParallelism(1), engine.WithBatchSize(batch))
	s := engine.FromSource(p, "src", engine.Source[int](&sliceSource{recs: recs, chunk: batch}), ws)
	out := engine.Process(engine.KeyBy(s, key10, engine.HashInt), "log",
		func(engine.Keys[int, int]) engine.Operator[int, int] { return &eventLog{mu: &mu, log: &log} })
	engine.ToSink(out, "sink", engine.Sink[int](&collect{}))
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return log
}

func intTS(v int) int64 { return int64(v) }

// TestPunctuatedWatermarks: a punctuated generator's watermarks follow
// exactly the records that produced them, so the sequence a stage sees is
// the same for every batch size; the built-in periodic generator's is not.
func TestPunctuatedWatermarks(t *testing.T) {
	recs := []int{5, 3, 10, 8, 20, 12, 30, 31, 25, 40, 41, 42, 50, 35, 60}
	// A watermark after every record that is a multiple of 10: its value.
	tens := engine.Punctuated(intTS, func(v int, ts int64) (int64, bool) { return ts, v%10 == 0 })
	want := runLog(t, recs, 1, tens)
	if !slices.Contains(want, "w10") || !slices.Contains(want, "w60") {
		t.Fatalf("log %v lacks the punctuated watermarks", want)
	}
	// w10 right after r10, w20 right after r20, ...
	for i, e := range want {
		if strings.HasPrefix(e, "w") && (i == 0 || want[i-1] != "r"+e[1:]) {
			t.Errorf("watermark %s does not follow its record: %v", e, want)
		}
	}
	for _, batch := range []int{2, 7, 1024} {
		if got := runLog(t, recs, batch, tens); !slices.Equal(got, want) {
			t.Errorf("batch size %d: %v, want %v", batch, got, want)
		}
	}
	// The built-in periodic generator emits after each batch: the sequence
	// depends on the batch size.
	a, b := runLog(t, recs, 1, engine.Monotonous(intTS)), runLog(t, recs, 7, engine.Monotonous(intTS))
	if slices.Equal(a, b) {
		t.Errorf("periodic watermarks: same sequence for batch sizes 1 and 7: %v", a)
	}
}

// periodicMax is a custom periodic generator: OnEvent tracks the largest
// timestamp, OnPeriodicEmit emits it minus 100, and it counts its calls.
type periodicMax struct {
	max            int64
	events, emits  *int
	punctuateAbove int64 // OnEvent emits for timestamps above this too
}

func (g *periodicMax) OnEvent(_ int, ts int64) (int64, bool) {
	*g.events++
	g.max = max(g.max, ts)
	return ts, ts > g.punctuateAbove
}

func (g *periodicMax) OnPeriodicEmit() (int64, bool) {
	*g.emits++
	return g.max - 100, true
}

// TestCustomGenerator: OnEvent sees every record, OnPeriodicEmit runs after
// every batch (AutoWatermarkInterval 0) or at most once per interval, and
// both kinds of watermark reach the stage, never decreasing.
func TestCustomGenerator(t *testing.T) {
	recs := make([]int, 100)
	for i := range recs {
		recs[i] = 1000 + 10*i
	}
	var events, emits int
	gen := engine.ForGenerator(intTS, func() engine.WatermarkGenerator[int] {
		return &periodicMax{max: math.MinInt32, events: &events, emits: &emits, punctuateAbove: 1980}
	})
	log := runLog(t, recs, 10, gen)
	if events != len(recs) || emits != 10 {
		t.Errorf("OnEvent %d times, OnPeriodicEmit %d times; want %d and 10 (one per batch)", events, emits, len(recs))
	}
	var wms []int64
	for _, e := range log {
		var wm int64
		if _, err := fmt.Sscanf(e, "w%d", &wm); err == nil {
			wms = append(wms, wm)
		}
	}
	// Periodic: 1090-100, 1190-100, ..., 1990-100; punctuated: 1990 after
	// its record (above 1980), then the periodic 1890 is ignored (smaller).
	want := []int64{990, 1090, 1190, 1290, 1390, 1490, 1590, 1690, 1790, 1990}
	if !slices.Equal(wms, want) {
		t.Errorf("watermarks %v, want %v", wms, want)
	}

	// An interval longer than the run: the periodic part runs once, after
	// the first read.
	events, emits = 0, 0
	gen.AutoWatermarkInterval = time.Hour
	gen.Generator = func() engine.WatermarkGenerator[int] {
		return &periodicMax{max: math.MinInt32, events: &events, emits: &emits, punctuateAbove: math.MaxInt64}
	}
	runLog(t, recs, 10, gen)
	if emits != 1 || events != len(recs) {
		t.Errorf("interval 1h: OnPeriodicEmit %d times, OnEvent %d; want 1 and %d", emits, events, len(recs))
	}
}

// idleSource returns no records, a few times, before its input ends.
type idleSource struct{ reads int }

func (s *idleSource) Open(context.Context) error { return nil }
func (s *idleSource) Close() error               { return nil }
func (s *idleSource) Read(ctx context.Context, buf []int) (int, error) {
	if s.reads++; s.reads > 20 {
		return 0, io.EOF
	}
	time.Sleep(2 * time.Millisecond)
	return 0, nil
}

// TestAutoWatermarkIntervalWhileIdle: with an interval, the periodic part
// also runs after empty reads, so a generator can advance event time while
// the source is idle; without one it runs only after records.
func TestAutoWatermarkIntervalWhileIdle(t *testing.T) {
	for _, c := range []struct {
		interval time.Duration
		want     bool
	}{{0, false}, {time.Millisecond, true}} {
		var events, emits int
		ws := engine.ForGenerator(intTS, func() engine.WatermarkGenerator[int] {
			return &periodicMax{max: 5000, events: &events, emits: &emits, punctuateAbove: math.MaxInt64}
		})
		ws.AutoWatermarkInterval = c.interval
		var mu sync.Mutex
		var log []string
		p := engine.New(engine.WithParallelism(1))
		s := engine.FromSource(p, "idle", engine.Source[int](&idleSource{}), ws)
		engine.ToSink(engine.Process(engine.KeyBy(s, key10, engine.HashInt), "log",
			func(engine.Keys[int, int]) engine.Operator[int, int] { return &eventLog{mu: &mu, log: &log} }), "sink", engine.Sink[int](&collect{}))
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(log, "w4900"); got != c.want {
			t.Errorf("interval %v: watermark while idle = %v, want %v (log %v, %d periodic calls)", c.interval, got, c.want, log, emits)
		}
	}
}

// TestWatermarkStrategyErrors: unusable strategies fail the pipeline with
// an error naming the source, before anything runs.
func TestWatermarkStrategyErrors(t *testing.T) {
	cases := map[string]struct {
		ws   engine.WatermarkStrategy[int]
		want string
	}{
		"negative interval":     {engine.WatermarkStrategy[int]{Timestamp: intTS, AutoWatermarkInterval: -time.Second}, "negative AutoWatermarkInterval"},
		"negative bound":        {engine.BoundedOutOfOrderness(intTS, -time.Second), "negative MaxOutOfOrderness"},
		"generator without ts":  {engine.ForGenerator[int](nil, func() engine.WatermarkGenerator[int] { return nil }), "needs a Timestamp"},
		"nil mark":              {engine.Punctuated[int](intTS, nil), "nil mark"},
		"nil factory":           {engine.ForGenerator[int](intTS, nil), "nil generator factory"},
		"factory returning nil": {engine.ForGenerator(intTS, func() engine.WatermarkGenerator[int] { return nil }), "Generator returned nil"},
	}
	for name, c := range cases {
		p := engine.New()
		s := engine.FromSource(p, "numbers", engine.Source[int](&sliceSource{recs: seq(10), chunk: 3}), c.ws)
		engine.ToSink(s, "sink", engine.Sink[int](&collect{}))
		err := p.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), `"numbers"`) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one naming the source and %q", name, err, c.want)
		}
		if name != "factory returning nil" && !errors.Is(err, engine.ErrInvalidPipeline) {
			t.Errorf("%s: err = %v, want ErrInvalidPipeline", name, err)
		}
	}
}
