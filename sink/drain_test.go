package sink

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// countingWriter records what reaches the output and how many writes did.
type countingWriter struct {
	mu     sync.Mutex
	buf    strings.Builder
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.buf.Write(p)
}

func (c *countingWriter) get() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String(), c.writes
}

func TestWriterDrain(t *testing.T) {
	ctx := context.Background()
	var out countingWriter
	w := NewWriter("test", &out, appendInt)
	if err := w.Drain(ctx); err == nil {
		t.Fatal("Drain before Open succeeded")
	}
	if err := w.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, n := out.get(); n != 0 {
		t.Fatalf("Drain of an empty buffer made %d writes", n)
	}
	if err := w.Write(ctx, []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	if s, _ := out.get(); s != "" {
		t.Fatalf("written before Drain: %q", s)
	}
	if err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if s, n := out.get(); s != "1\n2\n" || n != 1 {
		t.Fatalf("after Drain: %q in %d writes", s, n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// Errors are sticky: a failed Drain fails later calls.
	f := NewWriter("broken", &failWriter{after: 0}, appendInt)
	_ = f.Open(ctx)
	_ = f.Write(ctx, []int{1})
	err := f.Drain(ctx)
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Drain = %v, want an error naming the output", err)
	}
	if err2 := f.Write(ctx, []int{2}); !errors.Is(err2, err) && (err2 == nil || err2.Error() != err.Error()) {
		t.Fatalf("Write after a failed Drain = %v, want %v", err2, err)
	}
	if err2 := f.Drain(ctx); err2 == nil {
		t.Fatal("second Drain succeeded")
	}
	_ = f.Close()
}

// A regular file is drained but not synced: Drain must not touch the
// durability of Flush. Here we can only check that the data is in the file.
func TestFileWriterDrain(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "out.txt")
	w := NewFile(path, appendInt)
	if err := w.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_ = w.Write(ctx, []int{42})
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Fatalf("file has %q before Drain", b)
	}
	if err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "42\n" {
		t.Fatalf("file has %q after Drain", b)
	}
}

func TestPartsDrainPublishesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := NewParts(dir, itoa)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(p.Open(ctx))
	must(p.Drain(ctx)) // no part yet
	must(p.Write(ctx, []int{1, 2}))
	inprogress := filepath.Join(dir, ".part-000000000000.inprogress")
	if b, _ := os.ReadFile(inprogress); len(b) != 0 {
		t.Fatalf("in-progress part has %q before Drain", b)
	}
	must(p.Drain(ctx))
	if b, _ := os.ReadFile(inprogress); string(b) != "1\n2\n" {
		t.Fatalf("in-progress part has %q after Drain", b)
	}
	if got := published(t, dir); len(got) != 0 {
		t.Fatalf("Drain published %v", got)
	}
	_, err := p.SnapshotState(1)
	must(err)
	must(p.Write(ctx, []int{3}))
	must(p.Drain(ctx))
	if got := published(t, dir); len(got) != 0 {
		t.Fatalf("published before commit: %v", got)
	}
	must(p.Commit(1))
	if got := strings.Join(published(t, dir), ","); got != "1,2" {
		t.Fatalf("after commit 1: %s", got) // 3 is in the next, unpublished part
	}
	must(p.Commit(engine.EndOfInput))
	must(p.Close())
	if got := strings.Join(published(t, dir), ","); got != "1,2,3" {
		t.Fatalf("final: %s", got)
	}
}

// tickSource emits one record (its index) every period until stopped.
type tickSource struct {
	period time.Duration
	n      int
}

func (s *tickSource) Open(context.Context) error { return nil }
func (s *tickSource) Close() error               { return nil }
func (s *tickSource) Read(ctx context.Context, buf []int) (int, error) {
	select {
	case <-time.After(s.period):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	buf[0] = s.n
	s.n++
	return 1, nil
}

// passThrough is a keyed operator that emits its input.
type passThrough struct{}

func (passThrough) Open(engine.OperatorContext) error { return nil }
func (passThrough) ProcessBatch(in []int, out *engine.Output[int]) error {
	out.EmitAll(in)
	return nil
}
func (passThrough) OnWatermark(int64, *engine.Output[int]) error      { return nil }
func (passThrough) OnProcessingTime(int64, *engine.Output[int]) error { return nil }
func (passThrough) OnCheckpoint(uint64, *engine.KeyedState) error     { return nil }
func (passThrough) OnCommit(uint64) error                             { return nil }
func (passThrough) Close(*engine.Output[int]) error                   { return nil }

// slowPipeline runs tickSource -> key by -> passThrough -> sink.
func slowPipeline(period time.Duration, s engine.Sink[int], opts ...engine.SinkOption[int]) *engine.Pipeline {
	p := engine.New(engine.WithParallelism(2))
	src := engine.FromSource(p, "ticks", engine.Source[int](&tickSource{period: period}), engine.NoWatermarks[int]())
	keyed := engine.KeyBy(src, func(v int) int { return v }, engine.HashInt)
	out := engine.Process(keyed, "pass", func(engine.Keys[int, int]) engine.Operator[int, int] { return passThrough{} })
	engine.ToSink(out, "out", s, opts...)
	return p
}

// readLines reads lines from r into a channel until r ends.
func readLines(r *os.File) <-chan string {
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// A Writer on a pipe behind a slow source: its records reach the reader
// while the pipeline runs, soon after each is written (the sink's input is
// idle between records), not only at the end.
func TestWriterStreamsThroughPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	lines := readLines(pr)
	p := slowPipeline(30*time.Millisecond, NewWriter("pipe", pw, appendInt), engine.SinkFlushInterval[int](time.Hour))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()); pw.Close() }()
	defer func() {
		p.Stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// The interval is an hour: only idle drains can deliver these.
	deadline := time.After(5 * time.Second)
	for i := range 3 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("pipe closed early")
			}
			if l != []string{"0", "1", "2"}[i] {
				t.Fatalf("line %d = %q", i, l)
			}
		case <-deadline:
			t.Fatalf("only %d lines arrived while the pipeline ran", i)
		}
	}
	if st := p.State(); st != engine.StateRunning {
		t.Fatalf("state %v, want running", st)
	}
}

// SinkFlushInterval(0) is the old behaviour: nothing reaches the output
// before the end of the run.
func TestWriterNoStreamingWithZeroInterval(t *testing.T) {
	var out countingWriter
	p := slowPipeline(5*time.Millisecond, NewWriter("buf", &out, appendInt), engine.SinkFlushInterval[int](0))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	deadline := time.Now().Add(5 * time.Second)
	for p.Progress().Sinks == nil || p.Progress().Sinks[0].Written < 20 {
		if time.Now().After(deadline) {
			t.Fatal("no records written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s, _ := out.get(); s != "" {
		t.Errorf("output before the end with interval 0: %q", s)
	}
	p.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s, _ := out.get(); strings.Count(s, "\n") < 20 {
		t.Errorf("final output %q", s)
	}
}
