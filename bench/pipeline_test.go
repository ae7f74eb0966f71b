package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/internal/testenv"
	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/sink"
	"github.com/topspeed/topspeed/source"
)

// The input: TOPSPEED_BENCH_EVENTS generated reports (default 10M) of 1000
// cars, written once per process to a temporary directory that TestMain
// removes (inside go test's work directory, see testenv.MainTempDir), or
// TOPSPEED_BENCH_FILE if set. The first pass warms the page cache.
var (
	inputOnce sync.Once
	inputDir  string
	inputPath string
	inputN    int64
	inputErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if inputDir != "" {
		os.RemoveAll(inputDir)
	}
	os.Exit(code)
}

func input(b *testing.B) (string, int64) {
	b.Helper()
	inputOnce.Do(func() {
		if p := os.Getenv("TOPSPEED_BENCH_FILE"); p != "" {
			inputPath = p
			inputN, inputErr = countLines(p)
			return
		}
		n := int64(10_000_000)
		if s := os.Getenv("TOPSPEED_BENCH_EVENTS"); s != "" {
			n, inputErr = strconv.ParseInt(s, 10, 64)
			if inputErr != nil {
				return
			}
		}
		inputDir, inputErr = testenv.MainTempDir("topspeed-bench")
		if inputErr != nil {
			return
		}
		inputPath, inputN = filepath.Join(inputDir, fmt.Sprintf("cars-%d.txt", n)), n
		inputErr = writeInput(inputPath, n)
	})
	if inputErr != nil {
		b.Fatal(inputErr)
	}
	return inputPath, inputN
}

func countLines(p string) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}

func writeInput(path string, n int64) error {
	cfg := topspeed.DefaultGeneratorConfig()
	cfg.Cars, cfg.Rate, cfg.Events, cfg.Seed, cfg.Synthetic = 1000, 0, n, 1, true
	cfg.StartTime = time.UnixMilli(1_700_000_000_000)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := topspeed.WriteReports(context.Background(), f, cfg); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// report sets events/s and allocs/event for a benchmark whose every
// iteration processes the whole input of n events.
func report(b *testing.B, n int64, start time.Time, m0 *runtime.MemStats) {
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	secs := time.Since(start).Seconds()
	events := float64(n) * float64(b.N)
	b.ReportMetric(events/secs, "events/s")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/events, "allocs/event")
	b.ReportMetric(0, "ns/op") // one op is a whole file: events/s is the figure
}

// BenchmarkParseOnly reads and parses the file and nothing else: the
// baseline the pipeline is compared against. "Lines" is one goroutine
// (source.Lines, the single-core rate S1 compares with); "workers=N" is
// source.ParallelLines with N parse workers, how the binary reads a
// regular file (its Read goroutine parses too when the workers are busy).
func BenchmarkParseOnly(b *testing.B) {
	path, n := input(b)
	for _, c := range []struct {
		name string
		open func() source.LineSource[topspeed.Car]
	}{
		{"Lines", func() source.LineSource[topspeed.Car] { return source.NewLines(path, topspeed.ParseCar) }},
		{"workers=1", func() source.LineSource[topspeed.Car] {
			return source.NewParallelLines(path, topspeed.ParseCar, source.ParallelConfig{Workers: 1})
		}},
		{"workers=2", func() source.LineSource[topspeed.Car] {
			return source.NewParallelLines(path, topspeed.ParseCar, source.ParallelConfig{Workers: 2})
		}},
	} {
		b.Run(c.name, func(b *testing.B) { parseAll(b, n, c.open) })
	}
}

func parseAll(b *testing.B, n int64, open func() source.LineSource[topspeed.Car]) {
	ctx := context.Background()
	buf := make([]topspeed.Car, engine.DefaultConfig().BatchSize)
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	for i := 0; i < b.N; i++ {
		src := open()
		if err := src.Open(ctx); err != nil {
			b.Fatal(err)
		}
		var got int64
		for {
			k, err := src.Read(ctx, buf)
			got += int64(k)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		src.Close()
		if got != n {
			b.Fatalf("read %d events, want %d", got, n)
		}
	}
	report(b, n, start, &m0)
}

// BenchmarkPipeline runs the whole job as the binary does: the file source
// (source.NewFileLines: parallel parsing of a regular file), key by car,
// the fused TopSpeed window, and formatting of every result (to io.Discard).
// TOPSPEED_BENCH_METRICS=1 enables the metrics as the binary does (a
// registry; the sink's end-to-end latency is always measured).
func BenchmarkPipeline(b *testing.B) {
	metrics := os.Getenv("TOPSPEED_BENCH_METRICS") == "1"
	for _, par := range []int{1, 2} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) {
			path, n := input(b)
			var m0 runtime.MemStats
			runtime.ReadMemStats(&m0)
			start := time.Now()
			for i := 0; i < b.N; i++ {
				opts := []engine.Option{engine.WithParallelism(par)}
				if metrics {
					opts = append(opts, engine.WithMetrics(prometheus.NewRegistry()))
				}
				p := engine.New(opts...)
				src := source.NewFileLines(path, topspeed.ParseCar, source.ParallelConfig{})
				cars := engine.FromSource(p, "cars", engine.Source[topspeed.Car](src), engine.Monotonous(topspeed.CarTime))
				out := topspeed.Build(cars, topspeed.DefaultConfig())
				engine.ToSink(out, "discard", engine.Sink[topspeed.Car](sink.NewWriter("discard", io.Discard, topspeed.NewCarFormatter().Append)))
				if err := p.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			report(b, n, start, &m0)
		})
	}
}
