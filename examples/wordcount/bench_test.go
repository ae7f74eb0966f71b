package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkJob runs the whole WordCount binary's job (read, tokenize, key,
// count, write) on the file named by WORDCOUNT_BENCH_FILE, for profiling:
//
//	go run ./bench/cmd/benchtool zipf -o /tmp/z.txt -mb 200
//	WORDCOUNT_BENCH_FILE=/tmp/z.txt go test -run '^$' -bench Job -benchtime 1x -cpuprofile cpu.out ./examples/wordcount
//	go tool pprof -top examples/wordcount.test cpu.out
//
// Without the variable it runs on testdata/hamlet.txt.
func BenchmarkJob(b *testing.B) {
	in := os.Getenv("WORDCOUNT_BENCH_FILE")
	if in == "" {
		in = filepath.Join("testdata", "hamlet.txt")
	}
	st, err := os.Stat(in)
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(b.TempDir(), "counts.txt")
	b.SetBytes(st.Size())
	for b.Loop() {
		code := run(context.Background(), []string{"--input", in, "--output", out, "--parallelism", "2", "--log-level", "warn"}, nil, io.Discard, io.Discard, noOpsServer)
		if code != 0 {
			b.Fatalf("exit code %d", code)
		}
	}
}
