package engine_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/topspeed/topspeed/engine"
)

// countSource yields the integers 0..n-1 without allocating.
type countSource struct{ next, n int }

func (s *countSource) Open(context.Context) error { return nil }
func (s *countSource) Close() error               { return nil }
func (s *countSource) Read(_ context.Context, buf []int) (int, error) {
	k := 0
	for k < len(buf) && s.next < s.n {
		buf[k] = s.next
		s.next++
		k++
	}
	if s.next == s.n {
		return k, io.EOF
	}
	return k, nil
}

// countOp counts its records and emits nothing.
type countOp struct{ n int }

func (c *countOp) Open(engine.OperatorContext) error                  { return nil }
func (c *countOp) ProcessBatch(in []int, _ *engine.Output[int]) error { c.n += len(in); return nil }
func (c *countOp) OnWatermark(int64, *engine.Output[int]) error       { return nil }
func (c *countOp) OnProcessingTime(int64, *engine.Output[int]) error  { return nil }
func (c *countOp) OnCheckpoint(uint64, *engine.KeyedState) error      { return nil }
func (c *countOp) OnCommit(uint64) error                              { return nil }
func (c *countOp) Close(*engine.Output[int]) error                    { return nil }

type discard struct{}

func (discard) Open(context.Context) error         { return nil }
func (discard) Close() error                       { return nil }
func (discard) Write(context.Context, []int) error { return nil }
func (discard) Flush(ctx context.Context) error    { return nil }

// BenchmarkSourceWatermarks measures the source's per-record path with
// monotonous watermarks (read, watermark observation, key-by exchange,
// one watermark per batch to every subtask). ns/op and allocs are per record.
func BenchmarkSourceWatermarks(b *testing.B) {
	for _, par := range []int{1, 2} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) {
			benchSource(b, par, engine.Monotonous(func(v int) int64 { return int64(v) }))
		})
	}
}

// BenchmarkSourcePunctuated is BenchmarkSourceWatermarks with a punctuated
// generator: OnEvent for every record, a watermark (and a batch split)
// after every 256th.
func BenchmarkSourcePunctuated(b *testing.B) {
	ws := engine.Punctuated(func(v int) int64 { return int64(v) }, func(v int, ts int64) (int64, bool) { return ts, v%256 == 255 })
	for _, par := range []int{1, 2} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) { benchSource(b, par, ws) })
	}
}

func benchSource(b *testing.B, par int, ws engine.WatermarkStrategy[int]) {
	const n = 1 << 20
	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	records := 0
	for records < b.N {
		p := engine.New(engine.WithParallelism(par), engine.WithProcessingTimeInterval(0))
		s := engine.FromSource(p, "src", engine.Source[int](&countSource{n: n}), ws)
		out := engine.Process(engine.KeyBy(s, key10, engine.HashInt), "count", func(engine.Keys[int, int]) engine.Operator[int, int] { return &countOp{} })
		engine.ToSink(out, "discard", engine.Sink[int](discard{}))
		if err := p.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		records += n
	}
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(records), "allocs/record")
}
