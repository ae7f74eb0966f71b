package sink

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/topspeed/topspeed/engine"
)

// TestFileWriterPastWriteback writes several writebackBytes through a file
// Writer and a Parts sink, drains in between (as the engine does when the
// input is idle), and reads every line back in order: starting writeback
// changes nothing in what is written.
func TestFileWriterPastWriteback(t *testing.T) {
	ctx := context.Background()
	const lines = 3*writebackBytes/8 + 12345 // "1234567\n" is 8 bytes
	batch := make([]int, 4096)
	write := func(t *testing.T, s interface {
		Write(context.Context, []int) error
		Drain(context.Context) error
	}) {
		for i := 0; i < lines; i += len(batch) {
			n := min(len(batch), lines-i)
			for j := range batch[:n] {
				batch[j] = 1_000_000 + i + j
			}
			if err := s.Write(ctx, batch[:n]); err != nil {
				t.Fatal(err)
			}
			if i%(1<<20) == 0 {
				if err := s.Drain(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	check := func(t *testing.T, path string) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		n := 0
		for ; sc.Scan(); n++ {
			if want := strconv.Itoa(1_000_000 + n); sc.Text() != want {
				t.Fatalf("line %d: %q, want %q", n+1, sc.Text(), want)
			}
		}
		if err := sc.Err(); err != nil || n != lines {
			t.Fatalf("read %d lines (%v), want %d", n, err, lines)
		}
	}
	t.Run("Writer", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "out.txt")
		w := NewFile(path, appendInt)
		if err := w.Open(ctx); err != nil {
			t.Fatal(err)
		}
		write(t, w)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		check(t, path)
	})
	t.Run("Parts", func(t *testing.T) {
		dir := t.TempDir()
		p := NewParts(dir, appendInt)
		if err := p.Open(ctx); err != nil {
			t.Fatal(err)
		}
		write(t, p)
		if err := p.Commit(engine.EndOfInput); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		parts, err := filepath.Glob(filepath.Join(dir, "part-*"))
		if err != nil || len(parts) != 1 {
			t.Fatalf("parts %v (%v), want one", parts, err)
		}
		check(t, parts[0])
	})
}
