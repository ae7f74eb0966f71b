package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// errBadWord is the flat test parse's error for a line with the word "bad".
var errBadWord = errors.New(`the word "bad"`)

// newWordParse returns a FlatParse factory that splits a line into
// space-separated words (records), failing on the word "bad". Each parse
// function fails the test if two goroutines call it at once: parse
// functions are per goroutine.
func newWordParse(t interface{ Error(...any) }) func() FlatParse[string] {
	return func() FlatParse[string] {
		var mu sync.Mutex
		return func(dst []string, line []byte) ([]string, error) {
			if !mu.TryLock() {
				t.Error("a FlatParse called by two goroutines at once")
				return dst, nil
			}
			defer mu.Unlock()
			for _, w := range strings.Fields(string(line)) {
				if w == "bad" {
					return dst, errBadWord
				}
				dst = append(dst, w)
			}
			return dst, nil
		}
	}
}

// genWordLines draws a file of lines of 0..12 words: with a bad word,
// blank, around max bytes or beyond, ended by "\n" or "\r\n" (the last
// maybe by nothing).
func genWordLines(t *rapid.T, max int) string {
	var sb strings.Builder
	n := rapid.IntRange(0, 40).Draw(t, "lines")
	for i := range n {
		switch rapid.IntRange(0, 9).Draw(t, "kind") {
		case 0:
			sb.WriteString("a bad b")
		case 1: // blank or spaces only
			sb.WriteString(strings.Repeat(" ", rapid.IntRange(0, 2).Draw(t, "spaces")))
		case 2:
			k := rapid.SampledFrom([]int{max - 1, max, max + 1, 3*max + 5}).Draw(t, "long")
			sb.WriteString(strings.Repeat("z ", k)[:k])
		default:
			for j := range rapid.IntRange(1, 12).Draw(t, "words") {
				if j > 0 {
					sb.WriteString(rapid.SampledFrom([]string{" ", " ", "  "}).Draw(t, "sep"))
				}
				sb.WriteString(rapid.SampledFrom([]string{"a", "b", "cc", "ddd", "e1"}).Draw(t, "word"))
			}
		}
		if i < n-1 || rapid.Bool().Draw(t, "terminated") {
			sb.WriteString(rapid.SampledFrom([]string{"\n", "\n", "\r\n"}).Draw(t, "eol"))
		}
	}
	return sb.String()
}

// flatModel is what reading text gives, sequentially: the words of each
// line, and "!error" for a bad line under the Fail policy; and how many
// lines are bad.
func flatModel(name, text string, max int, policy BadRecordPolicy) (out []string, bad int64) {
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, ln := range lines {
		ln = strings.TrimSuffix(strings.TrimSuffix(ln, "\n"), "\r")
		var err error
		words := strings.Fields(ln)
		switch {
		case len(ln) > max:
			err = fmt.Errorf("%w (more than %d bytes)", ErrLineTooLong, max)
		case slices.Contains(words, "bad"):
			err = errBadWord
		}
		if err == nil {
			out = append(out, words...)
			continue
		}
		bad++
		if policy == Fail {
			out = append(out, "!"+(&RecordError{File: name, Line: int64(i + 1), Err: err}).Error())
		}
	}
	return out, bad
}

type flatCase struct {
	path    string
	want    []string
	bad     int64 // bad lines skipped under the Skip policy, else 0
	opts    []Option
	workers int
	chunk   int
}

func drawFlatCase(t *rapid.T, dir string) flatCase {
	max := rapid.IntRange(2, 30).Draw(t, "max")
	text := genWordLines(t, max)
	path := filepath.Join(dir, "words.txt")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	policy := rapid.SampledFrom([]BadRecordPolicy{Fail, Skip}).Draw(t, "policy")
	want, bad := flatModel(path, text, max, policy)
	if policy == Fail {
		bad = 0
	}
	return flatCase{
		path: path, want: want, bad: bad,
		opts:    []Option{WithBadRecords(policy), WithMaxLineBytes(max)},
		workers: rapid.IntRange(1, 4).Draw(t, "workers"),
		chunk:   rapid.IntRange(1, 64).Draw(t, "chunk"),
	}
}

// source returns an opened flat source for c: a ParallelLines with c's
// tiny chunks, or a Lines.
func (c flatCase) source(t *rapid.T, parallel bool) LineSource[string] {
	if parallel {
		p := NewParallelLinesFlat(c.path, newWordParse(t), ParallelConfig{Workers: c.workers}, c.opts...)
		if err := p.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		p.chunkBytes = c.chunk // below MinChunkBytes: only tests may
		return p
	}
	l := NewLinesFlat(c.path, newWordParse(t), c.opts...)
	if err := l.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return l
}

// readFlat reads src with reads of 1..batch records, at most reads times
// (-1: to the end), and returns what it read and whether it ended.
func readFlat(t *rapid.T, src LineSource[string], batch, reads int, label string) ([]string, bool) {
	var out []string
	for i := 0; reads < 0 || i < reads; i++ {
		if i > 100_000 {
			t.Fatal("no end of input")
		}
		buf := make([]string, rapid.IntRange(1, batch).Draw(t, label))
		n, err := src.Read(context.Background(), buf)
		out = append(out, buf[:n]...)
		var re *RecordError
		switch {
		case err == io.EOF:
			return out, true
		case errors.As(err, &re):
			out = append(out, "!"+err.Error())
		case err != nil:
			t.Fatalf("Read: %v", err)
		}
	}
	return out, false
}

// TestFlatLinesModel: Lines and ParallelLines with a FlatParse read what
// the sequential model says, with any read sizes, chunk sizes and
// workers.
func TestFlatLinesModel(t *testing.T) {
	dir := t.TempDir()
	rapid.Check(t, func(t *rapid.T) {
		c := drawFlatCase(t, dir)
		src := c.source(t, rapid.Bool().Draw(t, "parallel"))
		defer src.Close()
		got, _ := readFlat(t, src, rapid.IntRange(1, 9).Draw(t, "batch"), -1, "read")
		if !slices.Equal(got, c.want) {
			t.Fatalf("%T read\n%q\nwant\n%q", src, got, c.want)
		}
		if src.Skipped() != c.bad {
			t.Fatalf("skipped %d, want %d", src.Skipped(), c.bad)
		}
	})
}

// TestFlatLinesRestore reads a few times, snapshots (often in the middle
// of a line's records), restores into a new Lines or ParallelLines, and
// so on a few times: all reads together are the model's records, each
// once, and the skip counts add up.
func TestFlatLinesRestore(t *testing.T) {
	dir := t.TempDir()
	mid := 0
	rapid.Check(t, func(t *rapid.T) {
		c := drawFlatCase(t, dir)
		var got []string
		var skipped int64
		var state []byte
		for seg := 0; ; seg++ {
			src := c.source(t, rapid.Bool().Draw(t, "parallel"))
			if state != nil {
				if err := src.RestoreState(state); err != nil {
					t.Fatalf("restore %x: %v", state, err)
				}
			}
			reads := -1
			if seg < 3 {
				reads = rapid.IntRange(0, 8).Draw(t, "reads")
			}
			out, end := readFlat(t, src, 5, reads, "read")
			got = append(got, out...)
			var err error
			if state, err = src.SnapshotState(); err != nil {
				t.Fatal(err)
			}
			if state[0] == linesStateVersionMid {
				mid++
			}
			skipped += src.Skipped()
			src.Close()
			if end {
				break
			}
		}
		if !slices.Equal(got, c.want) {
			t.Fatalf("read with restores\n%q\nwant\n%q", got, c.want)
		}
		if skipped != c.bad {
			t.Fatalf("skipped %d, want %d", skipped, c.bad)
		}
	})
	if mid == 0 {
		t.Error("no state was in the middle of a line")
	}
}

// TestFlatParallelLinesNoAllocs: once its chunks have grown, a
// ParallelLines with a FlatParse that allocates nothing reads without
// allocating, in the middle of lines too.
func TestFlatParallelLinesNoAllocs(t *testing.T) {
	var sb strings.Builder
	for i := range 300_000 {
		fmt.Fprintf(&sb, "%d %d %d\n", 1_000_000+i, i%7, i%3) // equal lengths: equal chunks
	}
	path := writeFile(t, sb.String())
	fields := func() FlatParse[int] {
		return func(dst []int, line []byte) ([]int, error) {
			n := 0
			for _, c := range line {
				if c == ' ' {
					dst, n = append(dst, n), 0
				} else {
					n = 10*n + int(c-'0')
				}
			}
			return append(dst, n), nil
		}
	}
	p := NewParallelLinesFlat(path, fields, ParallelConfig{Workers: 2, ChunkBytes: 64 << 10})
	checkNoReadAllocs(t, p, make([]int, 1000)) // not a multiple of 3: reads end inside lines
}
