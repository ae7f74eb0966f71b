package tester_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/sink"
	"github.com/topspeed/topspeed/source"
	"github.com/topspeed/topspeed/tester"
	"github.com/topspeed/topspeed/window"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// kv is a test record: a key and a value.
type kv struct {
	K string
	V int
}

func kvKey(r kv) string { return r.K }

// op is a configurable test operator: it emits, per record, the running sum
// of its key, and records the batch sizes it saw.
type op struct {
	sums    map[string]int
	ctx     context.Context
	batches *[]int
	failOn  int           // ProcessBatch fails on a record with this value (0: never)
	block   chan struct{} // if non-nil, ProcessBatch waits for it (ignoring ctx)
	wait    bool          // ProcessBatch waits for the context to end
}

func (o *op) Open(ctx engine.OperatorContext) error {
	o.sums = map[string]int{}
	o.ctx = ctx.Context
	return nil
}

func (o *op) ProcessBatch(in []kv, out *engine.Output[kv]) error {
	if o.batches != nil {
		*o.batches = append(*o.batches, len(in))
	}
	if o.block != nil {
		<-o.block
	}
	if o.wait {
		<-o.ctx.Done()
		return context.Cause(o.ctx)
	}
	for _, r := range in {
		if o.failOn != 0 && r.V == o.failOn {
			return fmt.Errorf("value %d: %w", r.V, errBoom)
		}
		o.sums[r.K] += r.V
		out.Emit(kv{r.K, o.sums[r.K]})
	}
	return nil
}

func (o *op) OnWatermark(int64, *engine.Output[kv]) error      { return nil }
func (o *op) OnProcessingTime(int64, *engine.Output[kv]) error { return nil }
func (o *op) OnCheckpoint(uint64, *engine.KeyedState) error    { return nil }
func (o *op) OnCommit(uint64) error                            { return nil }
func (o *op) Close(*engine.Output[kv]) error                   { return nil }

func newOp(cfg op) engine.OperatorFactory[string, kv, kv] {
	return func(engine.Keys[string, kv]) engine.Operator[kv, kv] { c := cfg; return &c }
}

func runningSum(cfg op) func(engine.Stream[kv]) engine.Stream[kv] {
	return func(s engine.Stream[kv]) engine.Stream[kv] {
		return engine.Process(engine.KeyBy(s, kvKey, engine.HashString), "sum", newOp(cfg))
	}
}

var errBoom = errors.New("boom")

var input = []kv{{"a", 1}, {"b", 10}, {"a", 2}, {"c", 100}, {"b", 20}, {"a", 3}, {"c", 200}}

func TestRunOrderAndValues(t *testing.T) {
	got := tester.Run(t, input, runningSum(op{}))
	want := []kv{{"a", 1}, {"b", 10}, {"a", 3}, {"c", 100}, {"b", 30}, {"a", 6}, {"c", 300}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestRunStatelessOnly(t *testing.T) {
	got := tester.Run(t, []int{1, 2, 3, 4, 5}, func(s engine.Stream[int]) engine.Stream[string] {
		even := engine.Filter(s, func(v int) bool { return v%2 == 0 })
		return engine.Map(even, func(v int) string { return fmt.Sprint(v * v) })
	})
	if want := []string{"4", "16"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestRunSource(t *testing.T) {
	parse := func(b []byte) (kv, error) {
		k, v, ok := strings.Cut(string(b), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			return kv{}, fmt.Errorf("bad pair %q", b)
		}
		return kv{k, n}, nil
	}
	got := tester.RunSource(t, source.NewLinesReader("pairs", strings.NewReader("a=1\nb=2\na=5\n"), parse), runningSum(op{}))
	if want := []kv{{"a", 1}, {"b", 2}, {"a", 6}}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	_, err := tester.RunSourceE(source.NewLinesReader("pairs", strings.NewReader("a=1\nb\n"), parse), runningSum(op{}))
	if !errors.Is(err, source.ErrBadRecord) || !strings.Contains(err.Error(), "pairs:2") {
		t.Errorf("bad line: err = %v", err)
	}
}

func TestRunEmptyInput(t *testing.T) {
	got := tester.Run(t, nil, runningSum(op{}))
	if len(got) != 0 {
		t.Fatalf("got %v, want nothing", got)
	}
}

func TestRunEFailingOperator(t *testing.T) {
	// The failing record is the 6th: with batches of 3 the first batch
	// (a1 b10 a2) has been emitted before the failure.
	got, err := tester.RunE(input, runningSum(op{failOn: 3}))
	if !errors.Is(err, errBoom) {
		t.Fatalf("err = %v, want %v", err, errBoom)
	}
	if !strings.Contains(err.Error(), `stage "sum"`) {
		t.Errorf("error %q does not name the stage", err)
	}
	// The sink may or may not have written them before the cancellation.
	if want := []kv{{"a", 1}, {"b", 10}, {"a", 3}}; len(got) > len(want) || !slices.Equal(got, want[:len(got)]) {
		t.Errorf("records before the failure: got %v, want a prefix of %v", got, want)
	}
}

// fakeTB records Fatalf instead of stopping the test.
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
}

func TestRunFailsTheTest(t *testing.T) {
	ft := &fakeTB{TB: t}
	tester.Run(ft, input, runningSum(op{failOn: 20}))
	if !strings.Contains(ft.fatal, "boom") || !strings.Contains(ft.fatal, "tester.Run") {
		t.Fatalf("Fatalf got %q, want the pipeline's error", ft.fatal)
	}
}

func TestTimeout(t *testing.T) {
	start := time.Now()
	_, err := tester.RunE(input, runningSum(op{wait: true}), tester.WithTimeout(100*time.Millisecond))
	if !errors.Is(err, tester.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestStuckStageDoesNotHang(t *testing.T) {
	release := make(chan struct{})
	_, err := tester.RunE(input, runningSum(op{block: release}), tester.WithTimeout(100*time.Millisecond))
	close(release) // let the leaked pipeline end, for goleak
	if !errors.Is(err, tester.ErrTimeout) || !strings.Contains(err.Error(), "ignores its context") {
		t.Fatalf("err = %v, want ErrTimeout about a stage ignoring its context", err)
	}
}

func TestContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("test over"))
	_, err := tester.RunE(input, runningSum(op{wait: true}), tester.WithContext(ctx))
	if err == nil || !strings.Contains(err.Error(), "test over") {
		t.Fatalf("err = %v, want the context's cause", err)
	}
}

func TestBatchSize(t *testing.T) {
	for _, tc := range []struct {
		opts []tester.Option
		want []int
	}{
		{nil, []int{3, 3, 1}},
		{[]tester.Option{tester.WithBatchSize(100)}, []int{7}},
		// Engine options override tester's.
		{[]tester.Option{tester.WithBatchSize(100), tester.WithEngineOptions(engine.WithBatchSize(1))}, []int{1, 1, 1, 1, 1, 1, 1}},
	} {
		var sizes []int
		tester.Run(t, input, runningSum(op{batches: &sizes}), tc.opts...)
		if !slices.Equal(sizes, tc.want) {
			t.Errorf("opts %d: batch sizes %v, want %v", len(tc.opts), sizes, tc.want)
		}
	}
}

func TestParallelismPerKeyOrder(t *testing.T) {
	var in []kv
	for i := range 1000 {
		in = append(in, kv{fmt.Sprint("k", i%37), i})
	}
	seq := tester.Run(t, in, runningSum(op{}))
	par := tester.Run(t, in, runningSum(op{}), tester.WithParallelism(4))
	if len(par) != len(seq) {
		t.Fatalf("parallel run: %d records, want %d", len(par), len(seq))
	}
	gs, gp := tester.GroupBy(seq, kvKey), tester.GroupBy(par, kvKey)
	if len(gs) != 37 || len(gp) != 37 {
		t.Fatalf("keys: %d and %d, want 37", len(gs), len(gp))
	}
	for k, want := range gs {
		if !slices.Equal(gp[k], want) {
			t.Errorf("key %s: got %v, want %v", k, gp[k], want)
		}
	}
}

func TestGroupBy(t *testing.T) {
	g := tester.GroupBy(input, kvKey)
	if want := []kv{{"a", 1}, {"a", 2}, {"a", 3}}; !slices.Equal(g["a"], want) {
		t.Errorf("a: %v, want %v", g["a"], want)
	}
	if len(g) != 3 {
		t.Errorf("%d keys, want 3", len(g))
	}
	if g := tester.GroupBy[string, kv](nil, kvKey); len(g) != 0 {
		t.Errorf("empty: %v", g)
	}
}

func TestInvalidRuns(t *testing.T) {
	if _, err := tester.RunE(input, runningSum(op{}), tester.WithWatermarks(engine.Monotonous(func(int) int64 { return 0 }))); err == nil ||
		!strings.Contains(err.Error(), "WithWatermarks") {
		t.Errorf("watermarks of the wrong type: err = %v", err)
	}
	if _, err := tester.RunE(input, runningSum(op{}), tester.WithParallelism(0)); !errors.Is(err, engine.ErrInvalidPipeline) {
		t.Errorf("parallelism 0: err = %v", err)
	}
	if _, err := tester.RunE(input, runningSum(op{}), tester.WithTimeout(0)); err == nil {
		t.Errorf("timeout 0: no error")
	}
	other := func(engine.Stream[kv]) engine.Stream[kv] {
		return engine.FromSource(engine.New(), "x", nil, engine.NoWatermarks[kv]())
	}
	if _, err := tester.RunE(input, other); err == nil {
		t.Errorf("stream of another pipeline: no error")
	}
	dup := func(s engine.Stream[kv]) engine.Stream[kv] {
		return engine.Process(engine.KeyBy(s, kvKey, engine.HashString), tester.SinkName, newOp(op{}))
	}
	if _, err := tester.RunE(input, dup); !errors.Is(err, engine.ErrInvalidPipeline) {
		t.Errorf("stage named like tester's sink: err = %v", err)
	}
}

// ev is an event-time record.
type ev struct {
	K  string
	V  int
	Ts int64
}

func evTime(e ev) int64 { return e.Ts }

// windowSum is a tumbling 10 ms event-time window sum per key, with late
// elements sent to the sink late.
func windowSum(late *sink.Collect[ev]) func(engine.Stream[ev]) engine.Stream[string] {
	return func(s engine.Stream[ev]) engine.Stream[string] {
		keyed := engine.KeyBy(s, func(e ev) string { return e.K }, engine.HashString)
		sums, lateStream := window.ApplyWithLate(keyed, "window", window.Spec[string, ev, string]{
			Assigner:  window.Tumbling(10*time.Millisecond, 0),
			Timestamp: evTime,
			Function: window.Process(func(k string, w window.Window, es []ev, emit func(string)) {
				sum := 0
				for _, e := range es {
					sum += e.V
				}
				emit(fmt.Sprintf("%s%v=%d", k, w, sum))
			}),
		})
		engine.ToSink(lateStream, "late", engine.Sink[ev](late))
		return sums
	}
}

func TestEventTime(t *testing.T) {
	in := []ev{{"a", 1, 1}, {"b", 2, 2}, {"a", 3, 12}, {"a", 4, 5}, {"b", 5, 25}, {"a", 6, 3}}
	// Without watermarks everything fires at the end of the input, in timer
	// order (window end, then first element), and nothing is late.
	lateSink := sink.NewCollect[ev]()
	got := tester.Run(t, in, windowSum(lateSink))
	late := lateSink.Records()
	want := []string{"a[0,10)=11", "b[0,10)=2", "a[10,20)=3", "b[20,30)=5"}
	if !slices.Equal(got, want) || len(late) != 0 {
		t.Errorf("no watermarks: got %v late %v, want %v and none late", got, late, want)
	}
	// Monotonous watermarks, batches of 3: after the first batch (max 12) the
	// watermark is 11, which fires [0,10); a4@5 arrives in the next batch
	// and is late, as is a6@3.
	lateSink = sink.NewCollect[ev]()
	got = tester.Run(t, in, windowSum(lateSink), tester.WithTimestamps(evTime))
	late = lateSink.Records()
	want = []string{"a[0,10)=1", "b[0,10)=2", "a[10,20)=3", "b[20,30)=5"}
	if !slices.Equal(got, want) || !slices.Equal(late, []ev{{"a", 4, 5}, {"a", 6, 3}}) {
		t.Errorf("monotonous: got %v late %v, want %v and a4, a6 late", got, late, want)
	}
	// Allowing 10 ms out of order keeps them all in time.
	lateSink = sink.NewCollect[ev]()
	got = tester.Run(t, in, windowSum(lateSink), tester.WithWatermarks(engine.BoundedOutOfOrderness(evTime, 10*time.Millisecond)))
	late = lateSink.Records()
	want = []string{"a[0,10)=11", "b[0,10)=2", "a[10,20)=3", "b[20,30)=5"}
	if !slices.Equal(got, want) || len(late) != 0 {
		t.Errorf("bounded: got %v late %v, want %v and none late", got, late, want)
	}
}

// TestTopSpeedMatchesGenericOperator checks, through tester, that the fused
// TopSpeed operator and the generic window operator with the same spec
// produce the same records, also with parallelism 4 per car.
func TestTopSpeedMatchesGenericOperator(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cars := make([]topspeed.Car, 0, 3000)
	dist := map[int32]float64{}
	ts := int64(0)
	for range cap(cars) {
		id := rng.Int32N(5)
		dist[id] += rng.Float64() * 30
		ts += rng.Int64N(700)
		cars = append(cars, topspeed.Car{ID: id, Speed: rng.Int32N(100), Distance: dist[id], Time: ts})
	}
	cfg := topspeed.DefaultConfig()
	fused := func(s engine.Stream[topspeed.Car]) engine.Stream[topspeed.Car] { return topspeed.Build(s, cfg) }
	generic := func(s engine.Stream[topspeed.Car]) engine.Stream[topspeed.Car] {
		keyed := engine.KeyBy(s, topspeed.CarID, engine.HashInt32)
		return window.Apply(keyed, "generic", window.AsSpec[int32](window.DeltaTimeMaxSpec[topspeed.Car]{
			Timestamp: topspeed.CarTime,
			Evict:     cfg.Evict,
			Threshold: cfg.TriggerMeters,
			Delta:     func(a, b topspeed.Car) float64 { return b.Distance - a.Distance },
			Compare: func(a, b topspeed.Car) int {
				return int(a.Speed) - int(b.Speed)
			},
		}))
	}
	want := tester.Run(t, cars, generic)
	if len(want) < 100 {
		t.Fatalf("only %d results: a weak test", len(want))
	}
	if got := tester.Run(t, cars, fused); !slices.Equal(got, want) {
		t.Fatalf("fused: %d records, generic: %d, or they differ", len(got), len(want))
	}
	got := tester.GroupBy(tester.Run(t, cars, fused, tester.WithParallelism(4), tester.WithBatchSize(64)), topspeed.CarID)
	for id, w := range tester.GroupBy(want, topspeed.CarID) {
		if !slices.Equal(got[id], w) {
			t.Errorf("car %d with parallelism 4: records differ", id)
		}
	}
}
