// Package tester runs a pipeline on in-memory input inside a unit test and
// returns its output, with no files, servers or goroutines left behind.
//
// A test gives the input records and a build function that adds the stages
// under test to the input stream; tester wires an in-memory source
// (source.Slice) in front and an in-memory sink (sink.Collect) behind, runs
// the pipeline to the end of the input with a timeout, and returns what the
// sink received (RunSource takes any source instead of a slice):
//
//	func TestTopSpeed(t *testing.T) {
//		got := tester.Run(t, cars, func(s engine.Stream[topspeed.Car]) engine.Stream[topspeed.Car] {
//			return topspeed.Build(s, topspeed.DefaultConfig())
//		})
//		if !slices.Equal(got, want) {
//			t.Errorf("got %v, want %v", got, want)
//		}
//	}
//
// # Determinism
//
// By default the pipeline runs with parallelism 1, so the output order is
// fully defined: records leave every stage in the order they were produced.
// With WithParallelism(n > 1) keyed stages run n subtasks concurrently and
// only the order of the records of one key (more exactly, of one subtask) is
// defined; compare per key with GroupBy, or sort.
//
// Sources read at most 3 records per batch by default (WithBatchSize), so
// that operators see several batches and, with watermarks, several
// watermark advances, which is where batching bugs hide. Output that depends
// on the batch size (for example whether an element is late) depends on this
// setting, unless the watermarks are punctuated (engine.Punctuated): then a
// watermark follows the very record that produced it, whatever the batch
// size.
//
// # Event time
//
// Without WithWatermarks the source emits no watermarks, but at the end of
// the input the engine advances event time to the end (math.MaxInt64), as
// Flink does for a bounded input: event-time windows still fire, all at the
// end. With WithWatermarks the source emits watermarks as its strategy says
// (the built-in ones: after every batch that advances it). WithTimestamps
// and WithWatermarks also declare the input's timestamp function on the
// stream build receives (engine.Stream.Timestamps), so window specs there
// need no Timestamp of their own: event time is declared once.
//
// Processing-time callbacks keep the engine's default interval (100 ms):
// output that depends on the wall clock is not deterministic. Give
// processing-time windows a fake clock (window.Spec.Now) instead.
package tester

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/sink"
	"github.com/topspeed/topspeed/source"
)

// Defaults of the settings that Options change.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultParallelism = 1
	DefaultBatchSize   = 3
)

// Stage names of the stages tester adds; build must not reuse them.
const (
	SourceName = "tester-input"
	SinkName   = "tester-output"
)

// ErrTimeout is matched (errors.Is) by the error of a run that did not end
// within its timeout.
var ErrTimeout = errors.New("tester: timeout")

// Option changes how Run and RunE run a pipeline.
type Option func(*config)

type config struct {
	timeout     time.Duration
	parallelism int
	batchSize   int
	engineOpts  []engine.Option
	watermarks  any // engine.WatermarkStrategy[IN], checked by runE
	ctx         context.Context
}

// WithTimeout bounds the run (default DefaultTimeout). When it expires the
// pipeline is cancelled and the run fails with an error matching ErrTimeout.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithParallelism sets the number of subtasks of every keyed stage (default
// 1). With more than one, only the order of the records of each key is
// defined; see GroupBy.
func WithParallelism(n int) Option { return func(c *config) { c.parallelism = n } }

// WithBatchSize sets how many records the source reads per batch (default
// DefaultBatchSize, 3).
func WithBatchSize(n int) Option { return func(c *config) { c.batchSize = n } }

// WithEngineOptions passes options to engine.New. They are applied after
// tester's own settings (parallelism, batch size), so they override them.
func WithEngineOptions(opts ...engine.Option) Option {
	return func(c *config) { c.engineOpts = append(c.engineOpts, opts...) }
}

// WithWatermarks makes the source emit watermarks by ws (for example
// engine.Monotonous, engine.BoundedOutOfOrderness, or engine.Punctuated for
// results that do not depend on WithBatchSize) and declares ws.Timestamp on
// the input stream. IN must be the type of the input records; a strategy for
// another type fails the run.
func WithWatermarks[IN any](ws engine.WatermarkStrategy[IN]) Option {
	return func(c *config) { c.watermarks = ws }
}

// WithTimestamps is WithWatermarks(engine.Monotonous(ts)): the input's
// timestamps must not decrease, and the watermark trails the largest one by
// 1 ms.
func WithTimestamps[IN any](ts func(IN) int64) Option {
	return WithWatermarks(engine.Monotonous(ts))
}

// WithContext sets the context the run derives from (default: the test's
// context for Run, context.Background for RunE). Cancelling it cancels the
// run, which then fails with the context's cause.
func WithContext(ctx context.Context) Option { return func(c *config) { c.ctx = ctx } }

// Run runs input through the stages that build adds and returns every
// record that reached the end, in arrival order. build receives the input
// stream (its pipeline is build's Stream.Pipeline()) and returns the stream
// to collect. Run fails the test with t.Fatalf if the pipeline fails, for
// example because an operator returned an error, or does not end within the
// timeout. It never hangs: after the timeout it waits a little for the
// pipeline to stop and then fails even if a stage ignores cancellation.
func Run[IN, OUT any](t testing.TB, input []IN, build func(engine.Stream[IN]) engine.Stream[OUT], opts ...Option) []OUT {
	t.Helper()
	out, err := runE(t.Context(), source.NewSlice(input), build, opts)
	if err != nil {
		t.Fatalf("tester.Run: %v (%d records collected before the failure)", err, len(out))
	}
	return out
}

// RunE is Run for tests that expect a failure and for code without a
// testing.TB, such as examples: it returns the pipeline's error instead of
// failing a test. On error the output holds the records the sink received
// before the failure.
func RunE[IN, OUT any](input []IN, build func(engine.Stream[IN]) engine.Stream[OUT], opts ...Option) ([]OUT, error) {
	return runE(context.Background(), source.NewSlice(input), build, opts)
}

// RunSource is Run with the records read from src instead of a slice, for
// testing a pipeline together with its own source (a source.Lines over a
// strings.Reader, a generator, ...). src must end its input (io.EOF) for the
// run to succeed.
func RunSource[IN, OUT any](t testing.TB, src engine.Source[IN], build func(engine.Stream[IN]) engine.Stream[OUT], opts ...Option) []OUT {
	t.Helper()
	out, err := runE(t.Context(), src, build, opts)
	if err != nil {
		t.Fatalf("tester.RunSource: %v (%d records collected before the failure)", err, len(out))
	}
	return out
}

// RunSourceE is RunE with the records read from src.
func RunSourceE[IN, OUT any](src engine.Source[IN], build func(engine.Stream[IN]) engine.Stream[OUT], opts ...Option) ([]OUT, error) {
	return runE(context.Background(), src, build, opts)
}

func runE[IN, OUT any](parent context.Context, src engine.Source[IN], build func(engine.Stream[IN]) engine.Stream[OUT], opts []Option) ([]OUT, error) {
	cfg := config{timeout: DefaultTimeout, parallelism: DefaultParallelism, batchSize: DefaultBatchSize, ctx: parent}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.timeout <= 0 {
		return nil, fmt.Errorf("tester: timeout %v must be positive", cfg.timeout)
	}
	ws := engine.NoWatermarks[IN]()
	if cfg.watermarks != nil {
		w, ok := cfg.watermarks.(engine.WatermarkStrategy[IN])
		if !ok {
			return nil, fmt.Errorf("tester: WithWatermarks got a %T, but the input records are %v", cfg.watermarks, reflect.TypeFor[IN]())
		}
		ws = w
	}
	if build == nil || src == nil {
		return nil, errors.New("tester: nil build function or source")
	}

	eopts := append([]engine.Option{engine.WithParallelism(cfg.parallelism), engine.WithBatchSize(cfg.batchSize)}, cfg.engineOpts...)
	p := engine.New(eopts...)
	in := engine.FromSource(p, SourceName, src, ws)
	out := build(in)
	if out.Pipeline() != p {
		return nil, errors.New("tester: build returned a stream of another pipeline")
	}
	col := sink.NewCollect[OUT]()
	engine.ToSink(out, SinkName, engine.Sink[OUT](col))

	ctx, cancel := context.WithTimeoutCause(cfg.ctx, cfg.timeout,
		fmt.Errorf("%w: pipeline did not finish within %v (see tester.WithTimeout)", ErrTimeout, cfg.timeout))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		// Run returns once every stage has seen the cancellation. A stage
		// that blocks without watching its context would keep it forever:
		// give up on it after a grace period rather than hang the test.
		grace := time.NewTimer(min(cfg.timeout, 5*time.Second))
		defer grace.Stop()
		select {
		case err = <-done:
		case <-grace.C:
			err = fmt.Errorf("%w; the pipeline did not stop within a grace period after cancellation, so a source, operator or sink ignores its context (its goroutines are leaked)", context.Cause(ctx))
		}
	}
	return col.Records(), err
}

// GroupBy splits recs by key, keeping the order of each key's records: the
// way to compare the output of a run with parallelism > 1, where only the
// order within a key is defined.
func GroupBy[K comparable, T any](recs []T, key func(T) K) map[K][]T {
	m := make(map[K][]T)
	for _, r := range recs {
		k := key(r)
		m[k] = append(m[k], r)
	}
	return m
}
