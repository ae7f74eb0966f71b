package source_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/source"
)

// writeCars writes n reports of 1,000 cars from the job's generator, one
// line each as --input reads them.
func writeCars(b *testing.B, n int64) string {
	b.Helper()
	g, err := topspeed.NewGenerator(topspeed.GeneratorConfig{Cars: 1000, Seed: 1, Events: n, Synthetic: true,
		StartTime: time.UnixMilli(1424951918630), Interval: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "cars.txt")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	ctx := context.Background()
	if err := g.Open(ctx); err != nil {
		b.Fatal(err)
	}
	buf, line := make([]topspeed.Car, 1024), []byte(nil)
	for {
		k, err := g.Read(ctx, buf)
		for _, c := range buf[:k] {
			line = append(topspeed.AppendCar(line[:0], c), '\n')
			w.Write(line)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkParallelLines reads and parses a file of car reports (1M, or
// TOPSPEED_BENCH_EVENTS) with topspeed.ParseCar: "Lines" on one goroutine,
// the parse-only rate a job is compared with, and ParallelLines with 1
// and 2 workers. It reports events/s and allocations per event.
func BenchmarkParallelLines(b *testing.B) {
	n := int64(1_000_000)
	if s := os.Getenv("TOPSPEED_BENCH_EVENTS"); s != "" {
		var err error
		if n, err = strconv.ParseInt(s, 10, 64); err != nil || n <= 0 {
			b.Fatalf("TOPSPEED_BENCH_EVENTS=%q: want a positive count", s)
		}
	}
	path := writeCars(b, n)
	run := func(b *testing.B, open func() source.LineSource[topspeed.Car]) {
		buf := make([]topspeed.Car, engine.DefaultConfig().BatchSize)
		ctx := context.Background()
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
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
		b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "events/s")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("Lines", func(b *testing.B) {
		run(b, func() source.LineSource[topspeed.Car] { return source.NewLines(path, topspeed.ParseCar) })
	})
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			run(b, func() source.LineSource[topspeed.Car] {
				return source.NewParallelLines(path, topspeed.ParseCar, source.ParallelConfig{Workers: w})
			})
		})
	}
}
