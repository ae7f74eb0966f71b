package engine_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/topspeed/topspeed/engine"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sliceSource emits records in batches of at most `chunk`, optionally
// blocking after `stopAt` records until released.
type sliceSource struct {
	recs   []int
	pos    int
	chunk  int
	gate   chan struct{} // if non-nil, Read waits on it once pos >= stopAt
	stopAt int
	failAt int // Read fails when pos reaches failAt (>0)
}

func (s *sliceSource) Open(context.Context) error { return nil }
func (s *sliceSource) Close() error               { return nil }
func (s *sliceSource) Read(ctx context.Context, buf []int) (int, error) {
	if s.failAt > 0 && s.pos >= s.failAt {
		return 0, errors.New("disk on fire")
	}
	if s.gate != nil && s.pos >= s.stopAt {
		select {
		case <-s.gate:
			s.gate = nil
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
			return 0, nil
		}
	}
	if s.pos >= len(s.recs) {
		return 0, io.EOF
	}
	n := min(len(buf), s.chunk, len(s.recs)-s.pos)
	if s.gate != nil {
		n = min(n, s.stopAt-s.pos)
	}
	copy(buf, s.recs[s.pos:s.pos+n])
	s.pos += n
	return n, nil
}
func (s *sliceSource) SnapshotState() ([]byte, error) { return []byte{byte(s.pos)}, nil }
func (s *sliceSource) RestoreState(b []byte) error    { s.pos = int(b[0]); return nil }

type collect struct {
	mu      sync.Mutex
	got     []int
	flushes int
}

func (c *collect) Open(context.Context) error { return nil }
func (c *collect) Close() error               { return nil }
func (c *collect) Write(_ context.Context, b []int) error {
	c.mu.Lock()
	c.got = append(c.got, b...)
	c.mu.Unlock()
	return nil
}
func (c *collect) Flush(context.Context) error { c.mu.Lock(); c.flushes++; c.mu.Unlock(); return nil }
func (c *collect) records() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.got...)
}

// runningSum emits, per record, the running sum of its key (key = v % 10).
type runningSum struct {
	keys engine.Keys[int, int]
	sums map[int]int
	ctx  engine.OperatorContext
}

func (r *runningSum) Open(ctx engine.OperatorContext) error {
	r.ctx = ctx
	r.sums = map[int]int{}
	for _, kg := range ctx.Restored.KeyGroups() {
		b := ctx.Restored.Get(kg)
		for len(b) > 0 {
			k, n := binary.Uvarint(b)
			s, m := binary.Uvarint(b[n:])
			if n <= 0 || m <= 0 {
				return errors.New("corrupt state")
			}
			r.sums[int(k)] = int(s)
			b = b[n+m:]
		}
	}
	return nil
}
func (r *runningSum) ProcessBatch(in []int, out *engine.Output[int]) error {
	for _, v := range in {
		k := r.keys.Key(v)
		if !r.ctx.KeyGroups.Contains(r.keys.KeyGroup(k)) {
			return errors.New("record routed to the wrong subtask")
		}
		r.sums[k] += v
		out.Emit(r.sums[k]*100 + k)
	}
	return nil
}
func (r *runningSum) OnWatermark(int64, *engine.Output[int]) error      { return nil }
func (r *runningSum) OnProcessingTime(int64, *engine.Output[int]) error { return nil }
func (r *runningSum) OnCommit(uint64) error                             { return nil }
func (r *runningSum) Close(*engine.Output[int]) error                   { return nil }
func (r *runningSum) OnCheckpoint(_ uint64, st *engine.KeyedState) error {
	by := map[int][]byte{}
	for k, s := range r.sums {
		kg := r.keys.KeyGroup(k)
		by[kg] = binary.AppendUvarint(binary.AppendUvarint(by[kg], uint64(k)), uint64(s))
	}
	for kg, b := range by {
		st.Put(kg, b)
	}
	return nil
}

func newSum(keys engine.Keys[int, int]) engine.Operator[int, int] { return &runningSum{keys: keys} }

func key10(v int) int { return v % 10 }

// expectSums computes the expected output set of runningSum over recs.
func expectSums(recs []int) []int {
	sums := map[int]int{}
	var out []int
	for _, v := range recs {
		sums[v%10] += v
		out = append(out, sums[v%10]*100+v%10)
	}
	sort.Ints(out)
	return out
}

func build(src engine.Source[int], sink engine.Sink[int], opts ...engine.Option) *engine.Pipeline {
	p := engine.New(opts...)
	s := engine.FromSource(p, "src", src, engine.NoWatermarks[int]())
	s = engine.Map(s, func(v int) int { return v })
	s = engine.Filter(s, func(v int) bool { return v >= 0 })
	out := engine.Process(engine.KeyBy(s, key10, engine.HashInt), "sum", newSum)
	engine.ToSink(out, "collect", sink)
	return p
}

func seq(n int) []int {
	r := make([]int, n)
	for i := range r {
		r[i] = i % 37
	}
	return r
}

func TestRunParallelKeepsPerKeyOrder(t *testing.T) {
	for _, par := range []int{1, 2, 3, 8} {
		recs := seq(5000)
		c := &collect{}
		p := build(&sliceSource{recs: recs, chunk: 100}, c, engine.WithParallelism(par), engine.WithQueueBatches(1))
		if err := p.Run(context.Background()); err != nil {
			t.Fatalf("par %d: %v", par, err)
		}
		got := c.records()
		// Per key, running sums must be increasing: arrival order is kept.
		last := map[int]int{}
		for _, v := range got {
			k, s := v%100, v/100
			if s < last[k] {
				t.Fatalf("par %d: key %d out of order: %d after %d", par, k, s, last[k])
			}
			last[k] = s
		}
		sort.Ints(got)
		want := expectSums(recs)
		if len(got) != len(want) {
			t.Fatalf("par %d: got %d records, want %d", par, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("par %d: record %d: got %d want %d", par, i, got[i], want[i])
			}
		}
	}
}

func TestSourceErrorIsReturnedWithStage(t *testing.T) {
	p := build(&sliceSource{recs: seq(100), chunk: 10, failAt: 50}, &collect{}, engine.WithParallelism(2))
	err := p.Run(context.Background())
	if err == nil || !contains(err.Error(), `source "src"`) || !contains(err.Error(), "disk on fire") {
		t.Fatalf("want wrapped source error, got %v", err)
	}
	if err := p.Run(context.Background()); !errors.Is(err, engine.ErrAlreadyRunning) {
		t.Fatalf("second Run: %v", err)
	}
}

func TestCancelStopsPromptly(t *testing.T) {
	gate := make(chan struct{})
	p := build(&sliceSource{recs: seq(100), chunk: 10, gate: gate, stopAt: 50}, &collect{}, engine.WithParallelism(2))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestInvalidConfig(t *testing.T) {
	p := build(&sliceSource{recs: seq(1), chunk: 1}, &collect{}, engine.WithParallelism(0))
	if err := p.Run(context.Background()); !errors.Is(err, engine.ErrInvalidPipeline) {
		t.Fatalf("want ErrInvalidPipeline, got %v", err)
	}
	p = engine.New()
	s := engine.FromSource(p, "x", engine.Source[int](&sliceSource{}), engine.NoWatermarks[int]())
	engine.ToSink(s, "x", engine.Sink[int](&collect{}))
	if err := p.Run(context.Background()); !errors.Is(err, engine.ErrInvalidPipeline) {
		t.Fatalf("duplicate names: want ErrInvalidPipeline, got %v", err)
	}
}

// TestCheckpointRestore takes a checkpoint mid-stream, then runs a fresh
// pipeline (other parallelism) restored from it: the restored run's output
// must equal the part of an uninterrupted run after the barrier.
func TestCheckpointRestore(t *testing.T) {
	recs := seq(200)
	gate := make(chan struct{})
	c1 := &collect{}
	p1 := build(&sliceSource{recs: recs, chunk: 7, gate: gate, stopAt: 120}, c1, engine.WithParallelism(3))
	done := make(chan error)
	go func() { done <- p1.Run(context.Background()) }()
	var snap *engine.Snapshot
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		snap, err = p1.Checkpoint(context.Background())
		if err == nil {
			break
		}
		if !errors.Is(err, engine.ErrNotRunning) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if err := p1.Commit(snap.ID); err != nil {
		t.Fatal(err)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	pos := int(snap.Sources["src"][0])
	if pos > 120 {
		t.Fatalf("source position %d beyond the gate", pos)
	}
	c2 := &collect{}
	p2 := build(&sliceSource{recs: recs, chunk: 5}, c2, engine.WithParallelism(2))
	p2.RestoreFrom(snap)
	if err := p2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := expectSums(recs)
	before := expectSums(recs[:pos])
	// all minus before = what the restored run must produce.
	want := subtract(all, before)
	got := c2.records()
	sort.Ints(got)
	if len(got) != len(want) {
		t.Fatalf("restored run: %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("restored record %d: got %d want %d", i, got[i], want[i])
		}
	}
	if _, err := p2.Checkpoint(context.Background()); !errors.Is(err, engine.ErrNotRunning) {
		t.Fatalf("checkpoint after Run: %v", err)
	}
}

func subtract(all, some []int) []int {
	m := map[int]int{}
	for _, v := range some {
		m[v]++
	}
	var out []int
	for _, v := range all {
		if m[v] > 0 {
			m[v]--
			continue
		}
		out = append(out, v)
	}
	return out
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestStopFlushesWhatWasRead(t *testing.T) {
	gate := make(chan struct{}) // never opened: the source stalls at 60
	c := &collect{}
	p := build(&sliceSource{recs: seq(100), chunk: 10, gate: gate, stopAt: 60}, c, engine.WithParallelism(2))
	done := make(chan error)
	go func() { done <- p.Run(context.Background()) }()
	for deadline := time.Now().Add(5 * time.Second); len(c.records()) < 60; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d records arrived", len(c.records()))
		}
		time.Sleep(time.Millisecond)
	}
	p.Stop()
	p.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Stop")
	}
	if got := len(c.records()); got != 60 {
		t.Fatalf("got %d records after Stop, want the 60 read", got)
	}
	if c.flushes == 0 {
		t.Fatal("sink was not flushed")
	}
}

// A final checkpoint that completes while the pipeline is ending must be
// returned, not aborted or closed twice (the sink-only, non-stateful case).
func TestStopWithSavepointPlainSink(t *testing.T) {
	for i := 0; i < 50; i++ {
		gate := make(chan struct{})
		c := &collect{}
		p := build(&sliceSource{recs: seq(100), chunk: 10, gate: gate, stopAt: 60}, c, engine.WithParallelism(2))
		done := make(chan error)
		go func() { done <- p.Run(context.Background()) }()
		snap := stopWithSavepoint(t, p)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := int(snap.Sources["src"][0]); got != len(c.records()) {
			t.Fatalf("savepoint at position %d, but %d records were written", got, len(c.records()))
		}
	}
}

// stopWithSavepoint takes a final checkpoint of p, retrying while the run
// has not started yet (up to 5 s).
func stopWithSavepoint(t *testing.T, p *engine.Pipeline) *engine.Snapshot {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		snap, err := p.StopWithSavepoint(context.Background())
		if err == nil {
			return snap
		}
		if !errors.Is(err, engine.ErrNotRunning) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}
