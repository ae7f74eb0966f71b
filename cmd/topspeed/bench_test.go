package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/topspeed/topspeed/job/topspeed"
)

// BenchmarkJob runs the whole command's job (read and parse the file,
// key, window, format, write the output file) in-process on the file
// named by TOPSPEED_BENCH_FILE, or on 1M generated reports of 1,000 cars.
// It is what scripts/pgo/refresh.sh profiles for default.pgo, the profile go build
// optimises this command with (see docs/ARCHITECTURE.md, "Performance"):
//
//	TOPSPEED_BENCH_FILE=/tmp/cars.txt go test -run '^$' -bench Job -benchtime 5x -cpuprofile cpu.out ./cmd/topspeed
func BenchmarkJob(b *testing.B) {
	in := os.Getenv("TOPSPEED_BENCH_FILE")
	if in == "" {
		in = filepath.Join(b.TempDir(), "cars.txt")
		f, err := os.Create(in)
		if err != nil {
			b.Fatal(err)
		}
		cfg := topspeed.DefaultGeneratorConfig()
		// Each car every 100 ms of event time, as in Flink's CarSource and
		// scripts/pgo/refresh.sh: a car's 10 s window holds 100 reports.
		cfg.Cars, cfg.Events, cfg.Synthetic = 1000, 1_000_000, true
		cfg.Interval = 100 * time.Microsecond
		if _, err := topspeed.WriteReports(context.Background(), f, cfg); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	st, err := os.Stat(in)
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(b.TempDir(), "out.txt")
	noEnv := func(string) (string, bool) { return "", false }
	b.SetBytes(st.Size())
	for b.Loop() {
		if code := run([]string{"--input", in, "--output", out, "--parallelism", "2", "--http-addr", "", "--log-level", "warn"}, io.Discard, io.Discard, noEnv); code != 0 {
			b.Fatalf("exit code %d", code)
		}
	}
}
