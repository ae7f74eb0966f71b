package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/topspeed/topspeed/engine"
)

// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// drain reads src to its end with reads of batch records, and flattens
// what it returned: "v" per record and "!error" per bad-record error, as
// Read keeps going after those. Other errors fail the test.
func drain(t tb, src engine.Source[int], batch int) []string {
	t.Helper()
	var out []string
	buf := make([]int, batch)
	for range 1_000_000 {
		n, err := src.Read(context.Background(), buf)
		for _, v := range buf[:n] {
			out = append(out, strconv.Itoa(v))
		}
		var re *RecordError
		switch {
		case err == io.EOF:
			return out
		case errors.As(err, &re):
			out = append(out, "!"+err.Error())
		case err != nil:
			t.Fatalf("Read: %v", err)
		}
	}
	t.Fatal("no end of input")
	return nil
}

// genLines draws a file's content: numbers, bad records, blank lines and
// lines around max bytes, ended by "\n" or "\r\n", the last maybe by
// nothing.
func genLines(t *rapid.T, max int) string {
	var sb strings.Builder
	n := rapid.IntRange(0, 80).Draw(t, "lines")
	for i := range n {
		switch rapid.IntRange(0, 9).Draw(t, "kind") {
		case 0:
			sb.WriteString("bad")
		case 1: // blank
		case 2: // around the limit, or far beyond it
			k := rapid.SampledFrom([]int{max - 1, max, max + 1, max + 2, 3*max + 5}).Draw(t, "long")
			sb.WriteString(strings.Repeat("7", k))
		case 3:
			sb.WriteString("1\r2")
		default:
			sb.WriteString(strconv.Itoa(rapid.IntRange(-999, 99999).Draw(t, "v")))
		}
		if i < n-1 || rapid.Bool().Draw(t, "terminated") {
			sb.WriteString(rapid.SampledFrom([]string{"\n", "\n", "\r\n"}).Draw(t, "eol"))
		}
	}
	return sb.String()
}

// lineSources draws the options shared by the sources of one case.
type lineCase struct {
	path    string
	opts    []Option
	workers int
	chunk   int // bytes; below MinChunkBytes to split lines often
}

func drawCase(t *rapid.T, dir string) lineCase {
	max := rapid.IntRange(2, 12).Draw(t, "max") // 12 digits still parse
	path := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(path, []byte(genLines(t, max)), 0o644); err != nil {
		t.Fatal(err)
	}
	policy := rapid.SampledFrom([]BadRecordPolicy{Fail, Skip}).Draw(t, "policy")
	return lineCase{
		path:    path,
		opts:    []Option{WithBadRecords(policy), WithMaxLineBytes(max)},
		workers: rapid.IntRange(1, 4).Draw(t, "workers"),
		chunk:   rapid.IntRange(1, 64).Draw(t, "chunk"),
	}
}

// parallel returns an opened ParallelLines for c, with c's tiny chunks.
func (c lineCase) parallel(t tb) *ParallelLines[int] {
	p := NewParallelLines(c.path, parseInt, ParallelConfig{Workers: c.workers}, c.opts...)
	if err := p.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.chunkBytes = c.chunk // below MinChunkBytes: only tests may
	return p
}

func (c lineCase) lines(t tb) *Lines[int] {
	l := NewLines(c.path, parseInt, c.opts...)
	if err := l.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return l
}

func errorStrings(errs []*RecordError) []string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return s
}

func TestParallelLinesEqualsLines(t *testing.T) {
	dir := t.TempDir()
	rapid.Check(t, func(t *rapid.T) {
		c := drawCase(t, dir)
		batch := rapid.IntRange(1, 9).Draw(t, "batch")
		l := c.lines(t)
		defer l.Close()
		p := c.parallel(t)
		defer p.Close()
		want, got := drain(t, l, batch), drain(t, p, batch)
		if !slices.Equal(got, want) {
			t.Fatalf("ParallelLines read\n%q\nLines read\n%q", got, want)
		}
		if p.Skipped() != l.Skipped() || !slices.Equal(errorStrings(p.Errors()), errorStrings(l.Errors())) {
			t.Fatalf("skipped %d %q, Lines %d %q", p.Skipped(), errorStrings(p.Errors()), l.Skipped(), errorStrings(l.Errors()))
		}
		ps, _ := p.SnapshotState()
		ls, _ := l.SnapshotState()
		if string(ps) != string(ls) {
			t.Fatalf("state at the end %x, Lines %x", ps, ls)
		}
	})
}

// TestParallelLinesRestore snapshots a ParallelLines or a Lines after a
// few reads and restores the state in either: the rest is exactly what a
// single run read after that point, with the same line numbers and
// skip counts.
func TestParallelLinesRestore(t *testing.T) {
	dir := t.TempDir()
	rapid.Check(t, func(t *rapid.T) {
		c := drawCase(t, dir)
		batch := rapid.IntRange(1, 9).Draw(t, "batch")
		full := c.lines(t)
		want := drain(t, full, 5)
		full.Close()

		var first, second LineSource[int] = c.lines(t), c.lines(t)
		if rapid.Bool().Draw(t, "parallel first") {
			first = c.parallel(t)
		}
		if rapid.Bool().Draw(t, "parallel second") {
			second = c.parallel(t)
		}
		defer first.Close()
		defer second.Close()
		var got []string
		buf := make([]int, batch)
		for range rapid.IntRange(0, 12).Draw(t, "reads") {
			n, err := first.Read(context.Background(), buf)
			for _, v := range buf[:n] {
				got = append(got, strconv.Itoa(v))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				got = append(got, "!"+err.Error())
			}
		}
		state, err := first.SnapshotState()
		if err != nil {
			t.Fatal(err)
		}
		if err := second.RestoreState(state); err != nil {
			t.Fatal(err)
		}
		got = append(got, drain(t, second, batch)...)
		if !slices.Equal(got, want) {
			t.Fatalf("restored from %x (%T into %T):\n%q\nwant\n%q", state, first, second, got, want)
		}
		if n := first.Skipped() + second.Skipped(); n != full.Skipped() {
			t.Fatalf("skipped %d+%d, want %d", first.Skipped(), second.Skipped(), full.Skipped())
		}
	})
}

// TestParallelLinesLarge compares with Lines on a file of many real-size
// chunks, with several workers.
func TestParallelLinesLarge(t *testing.T) {
	var sb strings.Builder
	for i := range 200_000 {
		switch {
		case i%50_021 == 7:
			sb.WriteString("oops\n")
		case i%3 == 0:
			fmt.Fprintf(&sb, "%d\r\n", i)
		default:
			fmt.Fprintf(&sb, "%d\n", i)
		}
	}
	path := writeFile(t, sb.String())
	for _, policy := range []BadRecordPolicy{Skip, Fail} {
		opts := []Option{WithBadRecords(policy)}
		want := drain(t, open(t, NewLines(path, parseInt, opts...)), 1000)
		p := NewParallelLines(path, parseInt, ParallelConfig{Workers: 3, ChunkBytes: MinChunkBytes}, opts...)
		if err := p.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := drain(t, p, 1000)
		p.Close()
		if !slices.Equal(got, want) {
			t.Fatalf("%v: %d items, Lines %d", policy, len(got), len(want))
		}
		if policy == Fail && (len(got) != 200_000 || got[7] != "!"+path+":8: \"oops\": not an integer") {
			t.Errorf("Fail: %d items, item 7 %q", len(got), got[7])
		}
	}
}

// slowParse parses ints, but sleeps on "slow", so that a later chunk is
// parsed first.
func slowParse(b []byte) (int, error) {
	if string(b) == "slow" {
		time.Sleep(100 * time.Millisecond)
		return 0, nil
	}
	return parseInt(b)
}

// TestParallelLinesFirstBadLine: the error is the first bad line's in
// input order, though a later chunk's worker fails first.
func TestParallelLinesFirstBadLine(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("slow\n")
	for i := range 10_000 {
		switch i {
		case 500:
			sb.WriteString("first\n")
		case 9000:
			sb.WriteString("second\n")
		default:
			fmt.Fprintf(&sb, "%d\n", i)
		}
	}
	path := writeFile(t, sb.String())
	cfg := ParallelConfig{Workers: 2, ChunkBytes: MinChunkBytes}
	p := NewParallelLines(path, slowParse, cfg)
	if err := p.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	buf := make([]int, 100_000)
	n, err := p.Read(context.Background(), buf)
	for n < 501 && err == nil { // Read may return before the error
		var m int
		m, err = p.Read(context.Background(), buf[n:])
		n += m
	}
	if n != 501 || err == nil || err.Error() != path+":502: \"first\": not an integer" {
		t.Fatalf("read %d records, then %v", n, err)
	}

	s := NewParallelLines(path, slowParse, cfg, WithBadRecords(Skip))
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := drain(t, s, 1000); len(got) != 9999 {
		t.Errorf("Skip: %d records, want 9999", len(got))
	}
	want := []string{path + ":502: \"first\": not an integer", path + ":9002: \"second\": not an integer"}
	if got := errorStrings(s.Errors()); s.Skipped() != 2 || !slices.Equal(got, want) {
		t.Errorf("Skip: skipped %d, errors %q", s.Skipped(), got)
	}
}

// TestParallelLinesCloseMidway: Close stops every goroutine, also with
// chunks in flight and workers blocked on a full queue.
func TestParallelLinesCloseMidway(t *testing.T) {
	defer goleak.VerifyNone(t)
	var sb strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&sb, "%d\n", i)
	}
	path := writeFile(t, sb.String())
	for reads := range 3 {
		p := NewParallelLines(path, parseInt, ParallelConfig{Workers: 2, ChunkBytes: MinChunkBytes})
		if err := p.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		for range reads {
			if _, err := p.Read(context.Background(), make([]int, 10)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(10 * time.Millisecond) // let the queue fill
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
}

// TestParallelLinesContext: a Read waiting for a worker to parse the head
// chunk returns within 200 ms with nothing, and at once when ctx is
// cancelled.
func TestParallelLinesContext(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := writeFile(t, "1\n2\n")
	entered, release := make(chan struct{}, 2), make(chan struct{})
	parse := func(b []byte) (int, error) {
		entered <- struct{}{}
		<-release
		return parseInt(b)
	}
	p := NewParallelLines(path, parse, ParallelConfig{Workers: 1})
	if err := p.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.startRun()
	<-entered // the worker has claimed the only chunk
	buf := make([]int, 10)
	t0 := time.Now()
	if n, err := p.Read(context.Background(), buf); n != 0 || err != nil || time.Since(t0) > 2*time.Second {
		t.Errorf("waiting Read: %d, %v after %v", n, err, time.Since(t0))
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := p.Read(ctx, buf); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Read: %v", err)
	}
	if _, err := p.Read(ctx, buf); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a done ctx: %v", err)
	}
	close(release)
	if got := drain(t, p, 10); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("after release: %q", got)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// parseDigits parses a non-negative decimal without allocating.
func parseDigits(b []byte) (int, error) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		v = v*10 + int(c-'0')
	}
	return v, nil
}

// TestParallelLinesNoAllocs: in steady state, reading allocates nothing,
// on any goroutine (chunks and record buffers are reused).
func TestParallelLinesNoAllocs(t *testing.T) {
	var sb strings.Builder
	for i := range 1_000_000 {
		fmt.Fprintf(&sb, "%d\n", 1_000_000+i) // equal lengths: equal chunks
	}
	path := writeFile(t, sb.String())
	p := NewParallelLines(path, parseDigits, ParallelConfig{Workers: 2, ChunkBytes: 64 << 10})
	checkNoReadAllocs(t, p, make([]int, 1024))
}

// checkNoReadAllocs opens p, reads 200 times into buf (every chunk is
// used, twice for 200k records), then fails t if a Read allocates.
func checkNoReadAllocs[T any](t *testing.T, p *ParallelLines[T], buf []T) {
	t.Helper()
	if err := p.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	read := func() {
		if _, err := p.Read(context.Background(), buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 200 {
		read()
	}
	if a := testing.AllocsPerRun(300, read); a != 0 {
		t.Errorf("%v allocations per Read of %d records", a, len(buf))
	}
}

func TestParallelLinesOpenErrors(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "1\n")
	for _, tc := range []struct {
		path string
		cfg  ParallelConfig
		want string
	}{
		{filepath.Join(dir, "missing"), ParallelConfig{}, "no such file"},
		{dir, ParallelConfig{}, "is a directory"},
		{fifo, ParallelConfig{}, "not a regular file"},
		{path, ParallelConfig{Workers: MaxWorkers + 1}, "parse workers"},
		{path, ParallelConfig{Workers: -1}, "parse workers"},
		{path, ParallelConfig{ChunkBytes: MinChunkBytes - 1}, "chunk of"},
		{path, ParallelConfig{ChunkBytes: MaxChunkBytes + 1}, "chunk of"},
	} {
		p := NewParallelLines(tc.path, parseInt, tc.cfg)
		if err := p.Open(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s, %+v): %v, want %q", tc.path, tc.cfg, err, tc.want)
		}
		p.Close()
	}
	p := NewParallelLines(path, parseInt, ParallelConfig{})
	if _, err := p.Read(context.Background(), make([]int, 1)); err == nil {
		t.Error("Read before Open succeeded")
	}
	if err := p.RestoreState(make([]byte, 18)); err == nil {
		t.Error("RestoreState before Open succeeded")
	}
}

func TestNewFileLinesChooses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		writeFile(t, "1\n"):           "*source.ParallelLines[int]",
		"-":                           "*source.Lines[int]",
		fifo:                          "*source.Lines[int]",
		filepath.Join(dir, "missing"): "*source.Lines[int]",
	} {
		if got := fmt.Sprintf("%T", NewFileLines(path, parseInt, ParallelConfig{})); got != want {
			t.Errorf("NewFileLines(%s) is a %s, want %s", path, got, want)
		}
	}
}

func TestParallelLinesRestoreErrors(t *testing.T) {
	path := writeFile(t, "1\n2\n3\n")
	p := NewParallelLines(path, parseInt, ParallelConfig{})
	if err := p.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Read(context.Background(), make([]int, 3)); err != nil {
		t.Fatal(err)
	}
	state, _ := p.SnapshotState()
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := NewParallelLines(path, parseInt, ParallelConfig{})
	if err := r.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.RestoreState(state); err == nil || !strings.Contains(err.Error(), "fewer than the checkpointed offset 6") {
		t.Errorf("truncated file: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("garbage"), append([]byte{9}, state[1:]...), append(state[:17:17], 2)} {
		if err := r.RestoreState(bad); err == nil {
			t.Errorf("RestoreState(%q) accepted", bad)
		}
	}
}

// TestParallelLinesReopen: Open again rewinds, also in the middle of a
// run, and a RestoreState after reads restarts there.
func TestParallelLinesReopen(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := writeFile(t, "1\n2\n3\n")
	p := NewParallelLines(path, parseInt, ParallelConfig{Workers: 2})
	defer p.Close()
	for range 2 {
		if err := p.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n, err := p.Read(context.Background(), make([]int, 1)); n != 1 || err != nil {
			t.Fatalf("Read: %d, %v", n, err)
		}
	}
	state, _ := p.SnapshotState()
	if got := drain(t, p, 10); !slices.Equal(got, []string{"2", "3"}) {
		t.Errorf("after reopen: %q", got)
	}
	if err := p.RestoreState(state); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, p, 10); !slices.Equal(got, []string{"2", "3"}) {
		t.Errorf("after restore: %q", got)
	}
}

// TestParallelLinesHelpsWhileHeadIsParsed: while a worker is stuck on the
// head chunk, Read parses the later chunks itself, and still returns the
// records in input order.
func TestParallelLinesHelpsWhileHeadIsParsed(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("slow\n")
	for i := range 100 {
		fmt.Fprintf(&sb, "%d\n", i)
	}
	path := writeFile(t, sb.String())
	entered, release := make(chan struct{}, 1), make(chan struct{})
	parse := func(b []byte) (int, error) {
		if string(b) == "slow" {
			entered <- struct{}{}
			<-release
			return -1, nil
		}
		return parseInt(b)
	}
	p := NewParallelLines(path, parse, ParallelConfig{Workers: 1})
	if err := p.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	unblock := sync.OnceFunc(func() { close(release) })
	defer unblock() // before Close, which waits for the worker
	p.chunkBytes = 16
	p.startRun()
	<-entered // the worker holds the head chunk
	// The reader holds one chunk while it waits for a free one.
	for deadline := time.Now().Add(5 * time.Second); len(p.run.order) < len(p.chunks)-1; {
		if time.Now().After(deadline) { // Read helps only with chunks already read
			t.Fatalf("the reader queued %d chunks of %d", len(p.run.order), len(p.chunks))
		}
		time.Sleep(time.Millisecond)
	}
	if n, err := p.Read(context.Background(), make([]int, 10)); n != 0 || err != nil {
		t.Fatalf("Read while the head is parsed: %d, %v", n, err)
	}
	helped := 0
	for _, c := range p.pend[1:] {
		if c.parsed && c.claim.Load() == 2*c.seq+1 {
			helped++
		}
	}
	if helped == 0 || helped != len(p.pend)-1 {
		t.Errorf("Read parsed %d of the %d chunks after the head", helped, len(p.pend)-1)
	}
	unblock()
	want := []string{"-1"}
	for i := range 100 {
		want = append(want, strconv.Itoa(i))
	}
	if got := drain(t, p, 7); !slices.Equal(got, want) {
		t.Errorf("read %q", got)
	}
}
