package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func appendInt(dst []byte, v int) []byte { return strconv.AppendInt(dst, int64(v), 10) }

func TestFileWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a", "b", "out.txt") // parents created
	w := NewFile(path, appendInt, BufferSize(16))
	if err := w.Open(ctx); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 100 {
		batch := []int{i * 1000, -i}
		if err := w.Write(ctx, batch); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&want, "%d\n%d\n", i*1000, -i)
		if i == 50 {
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if !strings.HasSuffix(string(got), "50000\n-50\n") {
				t.Fatalf("after Flush the file ends with %q", got[max(0, len(got)-20):])
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want.String() {
		t.Fatalf("file content %q, %v", got, err)
	}

	// Reopening truncates; Append appends.
	w = NewFile(path, appendInt)
	w.Open(ctx)
	w.Write(ctx, []int{7})
	w.Close()
	a := NewFile(path, appendInt, Append())
	a.Open(ctx)
	a.Write(ctx, []int{8})
	a.Close()
	if got, _ := os.ReadFile(path); string(got) != "7\n8\n" {
		t.Errorf("truncate then append: %q", got)
	}
}

func TestWriterLongRecords(t *testing.T) {
	ctx := context.Background()
	var sb strings.Builder
	long := strings.Repeat("x", 300)
	w := NewWriter("buf", &sb, func(dst []byte, s string) []byte { return append(dst, s...) }, BufferSize(64))
	w.Open(ctx)
	for i := range 50 {
		rec := long[:i*6]
		if err := w.Write(ctx, []string{rec, "y"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 50 {
		want.WriteString(long[:i*6] + "\ny\n")
	}
	if sb.String() != want.String() {
		t.Error("content mismatch")
	}
	w.Close()
}

func TestWriterNoAllocs(t *testing.T) {
	ctx := context.Background()
	w := NewWriter("discard", discard{}, appendInt)
	w.Open(ctx)
	batch := []int{1, 22, 333, 4444}
	if a := testing.AllocsPerRun(1000, func() { w.Write(ctx, batch) }); a != 0 {
		t.Errorf("Write allocates %v times per batch", a)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk on fire")
	}
	f.after--
	return len(p), nil
}

func TestWriterErrors(t *testing.T) {
	ctx := context.Background()
	// The error surfaces from Flush when the buffer is not full...
	w := NewWriter("out", &failWriter{}, appendInt)
	w.Open(ctx)
	if err := w.Write(ctx, []int{1, 2}); err != nil {
		t.Fatalf("buffered Write failed: %v", err)
	}
	err := w.Flush(ctx)
	if err == nil || err.Error() != "sink: write out: disk on fire" {
		t.Fatalf("Flush: %v", err)
	}
	// ... and sticks.
	if err2 := w.Write(ctx, []int{3}); err2 != err {
		t.Errorf("Write after failure: %v", err2)
	}
	if err2 := w.Close(); err2 != err {
		t.Errorf("Close after failure: %v", err2)
	}

	// From Write once the buffer fills.
	w = NewWriter("out", &failWriter{}, appendInt, BufferSize(16))
	w.Open(ctx)
	err = nil
	for i := 0; i < 100 && err == nil; i++ {
		err = w.Write(ctx, []int{123456})
	}
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Write with a full buffer: %v", err)
	}
}

func TestFileWriterDevFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	ctx := context.Background()
	w := NewFile("/dev/full", appendInt)
	if err := w.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	err := w.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "/dev/full") || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("Flush to /dev/full: %v", err)
	}
	w.Close()
}

func TestFileWriterOpenError(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o644)
	w := NewFile(filepath.Join(blocker, "sub", "out.txt"), appendInt)
	err := w.Open(context.Background())
	if err == nil || !strings.Contains(err.Error(), blocker) {
		t.Errorf("Open under a file: %v", err)
	}
	if err := w.Write(context.Background(), []int{1}); err == nil {
		t.Error("Write before a successful Open")
	}
	var nilFormat func([]byte, int) []byte
	if err := NewFile(filepath.Join(dir, "x"), nilFormat).Open(context.Background()); err == nil {
		t.Error("nil format accepted")
	}
}

func TestStdoutWriter(t *testing.T) {
	r, wp, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stdout := os.Stdout
	os.Stdout = wp
	defer func() { os.Stdout = stdout }()
	for _, path := range []string{"-", ""} {
		w := NewFile(path, appendInt)
		w.Open(context.Background())
		w.Write(context.Background(), []int{1, 2})
		if err := w.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Close left stdout open.
	if _, err := fmt.Fprint(wp, "end"); err != nil {
		t.Fatalf("stdout closed: %v", err)
	}
	wp.Close()
	got, _ := io.ReadAll(r)
	if string(got) != "1\n2\n1\n2\nend" {
		t.Errorf("stdout got %q", got)
	}
}

func TestCollect(t *testing.T) {
	c := NewCollect[int]()
	ctx := context.Background()
	c.Open(ctx)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := []int{g, g}
			for range 100 {
				c.Write(ctx, batch)
				_ = c.Records()
			}
		}()
	}
	wg.Wait()
	c.Flush(ctx)
	if c.Len() != 800 || len(c.Records()) != 800 || c.Flushes() != 1 {
		t.Errorf("len %d flushes %d", c.Len(), c.Flushes())
	}
	// Write copies the batch.
	c.Reset()
	batch := []int{1, 2}
	c.Write(ctx, batch)
	batch[0] = 9
	if fmt.Sprint(c.Records()) != "[1 2]" {
		t.Errorf("records alias the batch: %v", c.Records())
	}
	c.Close()
}

func ExampleNewFile() {
	w := NewFile("-", func(dst []byte, v int) []byte {
		return strconv.AppendInt(append(dst, "value "...), int64(v), 10)
	})
	ctx := context.Background()
	if err := w.Open(ctx); err != nil {
		panic(err)
	}
	_ = w.Write(ctx, []int{1, 2})
	if err := w.Close(); err != nil { // flushes
		panic(err)
	}
	// Output:
	// value 1
	// value 2
}

func BenchmarkWriter(b *testing.B) {
	ctx := context.Background()
	w := NewWriter("discard", discard{}, appendInt)
	w.Open(ctx)
	batch := make([]int, 1024)
	for i := range batch {
		batch[i] = i * 7919
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
}
