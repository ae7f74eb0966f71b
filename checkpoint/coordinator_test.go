package checkpoint_test

// Tests of the Coordinator against a real engine pipeline: an unbounded
// (or long) stateful source, a keyed operator with typed state, and an
// in-memory sink.

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/sink"
)

// ticks is a StatefulSource of 0, 1, 2, ... (n < 0: forever), a few
// records per Read with a pause before each, so that checkpoints land
// while it runs.
type ticks struct {
	pos, n int
	every  time.Duration
}

func (s *ticks) Open(context.Context) error { return nil }
func (s *ticks) Close() error               { return nil }
func (s *ticks) Read(ctx context.Context, buf []int) (int, error) {
	if s.n >= 0 && s.pos >= s.n {
		return 0, io.EOF
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(s.every):
	}
	k := min(len(buf), 4)
	if s.n >= 0 {
		k = min(k, s.n-s.pos)
	}
	for i := range k {
		buf[i] = s.pos + i
	}
	s.pos += k
	return k, nil
}
func (s *ticks) SnapshotState() ([]byte, error) { return binary.AppendUvarint(nil, uint64(s.pos)), nil }
func (s *ticks) RestoreState(b []byte) error {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return errors.New("ticks: corrupt position")
	}
	s.pos = int(v)
	return nil
}

const nKeys = 7

// keyCount counts records per key (v % nKeys) in a ValueState and emits
// key*1e6+count for every key at Close.
type keyCount struct {
	engine.BaseOperator[int, int]
	counts *engine.ValueState[int, int]
}

func (o *keyCount) Open(ctx engine.OperatorContext) (err error) {
	o.counts, err = engine.NewValueState[int, int](ctx, "count", engine.IntCodec{}, engine.IntCodec{})
	return err
}

func (o *keyCount) ProcessBatch(in []int, _ *engine.Output[int]) error {
	for _, v := range in {
		n, _ := o.counts.Get(v % nKeys)
		o.counts.Set(v%nKeys, n+1)
	}
	return nil
}

func (o *keyCount) Close(out *engine.Output[int]) error {
	o.counts.Range(func(k, n int) bool { out.Emit(k*1_000_000 + n); return true })
	return nil
}

func newPipeline(src engine.Source[int], col *sink.Collect[int], par int) *engine.Pipeline {
	p := engine.New(engine.WithParallelism(par), engine.WithBatchSize(16))
	s := engine.FromSource(p, "ticks", src, engine.NoWatermarks[int]())
	keyed := engine.KeyBy(s, func(v int) int { return v % nKeys }, engine.HashInt)
	out := engine.Process(keyed, "count", func(engine.Keys[int, int]) engine.Operator[int, int] { return &keyCount{} })
	engine.ToSink(out, "collect", engine.Sink[int](col))
	return p
}

// watched is the coordinator's view of a pipeline, recording how many
// checkpoints run at once and which ids were committed.
type watched struct {
	p     *engine.Pipeline
	hold  time.Duration // inside each checkpoint, to make overlaps likely
	now   atomic.Int32
	most  atomic.Int32
	mu    sync.Mutex
	comms []uint64
}

func (w *watched) enter() func() {
	n := w.now.Add(1)
	for m := w.most.Load(); n > m && !w.most.CompareAndSwap(m, n); m = w.most.Load() {
	}
	time.Sleep(w.hold)
	return func() { w.now.Add(-1) }
}

func (w *watched) Checkpoint(ctx context.Context) (*engine.Snapshot, error) {
	defer w.enter()()
	return w.p.Checkpoint(ctx)
}

func (w *watched) StopWithSavepoint(ctx context.Context) (*engine.Snapshot, error) {
	defer w.enter()()
	return w.p.StopWithSavepoint(ctx)
}

func (w *watched) Commit(id uint64) error {
	w.mu.Lock()
	w.comms = append(w.comms, id)
	w.mu.Unlock()
	return w.p.Commit(id)
}

func (w *watched) committed() []uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.comms)
}

func newStore(t *testing.T, kind string) *checkpoint.Store {
	t.Helper()
	st, err := checkpoint.NewStore(t.TempDir(), 100, kind, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// running starts p, waits until it runs, and returns a function that
// cancels it and waits.
func running(t *testing.T, p *engine.Pipeline) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for deadline := time.Now().Add(5 * time.Second); p.State() != engine.StateRunning; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pipeline not running: %v", p.State())
		}
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// stats collects OnComplete and OnFailure calls.
type stats struct {
	mu       sync.Mutex
	done     []checkpoint.Stats
	failures []error
	failedID []uint64
	changed  chan struct{}
}

func newStats() *stats { return &stats{changed: make(chan struct{}, 1000)} }

func (s *stats) complete(st checkpoint.Stats) {
	s.mu.Lock()
	s.done = append(s.done, st)
	s.mu.Unlock()
	s.changed <- struct{}{}
}

// fail records a failure. A checkpoint abandoned because the test stopped
// the coordinator (its context cancelled) is not one.
func (s *stats) fail(id uint64, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	s.mu.Lock()
	s.failures = append(s.failures, err)
	s.failedID = append(s.failedID, id)
	s.mu.Unlock()
	s.changed <- struct{}{}
}

func (s *stats) snapshot() ([]checkpoint.Stats, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.done), slices.Clone(s.failures)
}

// waitFor waits until cond holds over the collected calls.
func (s *stats) waitFor(t *testing.T, what string, cond func(done []checkpoint.Stats, failures []error) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if cond(s.snapshot()) {
			return
		}
		select {
		case <-s.changed:
		case <-deadline:
			d, f := s.snapshot()
			t.Fatalf("timed out waiting for %s: %d completed, failures %v", what, len(d), f)
		}
	}
}

// runCoordinator runs c.Run until the returned function is called, which
// returns Run's error.
func runCoordinator(t *testing.T, c *checkpoint.Coordinator) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestCoordinatorPeriodic(t *testing.T) {
	p := newPipeline(&ticks{n: -1, every: time.Millisecond}, sink.NewCollect[int](), 2)
	w := &watched{p: p}
	store := newStore(t, "checkpoint")
	st := newStats()
	c := &checkpoint.Coordinator{Pipeline: w, Store: store, Interval: 5 * time.Millisecond,
		Meta: checkpoint.Meta{Fingerprint: "fp"}, OnComplete: st.complete, OnFailure: st.fail}
	stopPipeline := running(t, p)
	stopCoord := runCoordinator(t, c)
	st.waitFor(t, "3 checkpoints", func(d []checkpoint.Stats, _ []error) bool { return len(d) >= 3 })
	if err := stopCoord(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := stopPipeline(); !errors.Is(err, context.Canceled) {
		t.Fatalf("pipeline: %v", err)
	}
	done, failures := st.snapshot()
	if len(failures) > 0 {
		t.Errorf("failures: %v", failures)
	}
	var ids []uint64
	for i, s := range done {
		ids = append(ids, s.ID)
		if s.ID != uint64(i+1) || s.Bytes <= 0 || s.Duration <= 0 || len(s.Pauses) == 0 {
			t.Errorf("checkpoint %d: %+v", i, s)
		}
		if _, err := os.Stat(s.Path); err != nil {
			t.Errorf("checkpoint %d: %v", s.ID, err)
		}
	}
	if got := w.committed(); !slices.Equal(got, ids) {
		t.Errorf("Pipeline.Commit got %v, want the completed %v", got, ids)
	}
	snap, info, err := store.Latest("fp", nil)
	if err != nil || snap.ID != ids[len(ids)-1] || info.Path != done[len(done)-1].Path {
		t.Errorf("Latest: %v, %+v, %v; want checkpoint %d", snap, info, err, ids[len(ids)-1])
	}
}

// TestCoordinatorOneAtATime: periodic checkpoints and savepoints requested
// from several goroutines never overlap.
func TestCoordinatorOneAtATime(t *testing.T) {
	p := newPipeline(&ticks{n: -1, every: time.Millisecond}, sink.NewCollect[int](), 2)
	w := &watched{p: p, hold: 3 * time.Millisecond}
	st := newStats()
	c := &checkpoint.Coordinator{Pipeline: w, Store: newStore(t, "checkpoint"), Savepoints: newStore(t, "savepoint"),
		Interval: time.Millisecond, OnComplete: st.complete, OnFailure: st.fail}
	running(t, p)
	stopCoord := runCoordinator(t, c)
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				if _, err := c.Savepoint(context.Background()); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Savepoint: %v", err)
	}
	st.waitFor(t, "12 savepoints and 2 checkpoints", func(d []checkpoint.Stats, _ []error) bool { return len(d) >= 14 })
	if err := stopCoord(); err != nil {
		t.Fatal(err)
	}
	if m := w.most.Load(); m != 1 {
		t.Errorf("%d checkpoints ran at once", m)
	}
	done, _ := st.snapshot()
	seen := map[uint64]bool{}
	for _, s := range done {
		if seen[s.ID] {
			t.Errorf("checkpoint id %d twice", s.ID)
		}
		seen[s.ID] = true
	}
}

// TestCoordinatorFailures: a Committer that refuses (fencing) and a store
// that cannot write fail the checkpoint: OnFailure sees each failure, the
// pipeline is not told to commit, and periodic checkpoints go on and
// succeed once the cause is gone.
func TestCoordinatorFailures(t *testing.T) {
	p := newPipeline(&ticks{n: -1, every: time.Millisecond}, sink.NewCollect[int](), 1)
	w := &watched{p: p}
	store := newStore(t, "checkpoint")
	st := newStats()
	fenced := errors.New("not the leader")
	var refuse atomic.Int32
	refuse.Store(3)
	var offered []uint64
	c := &checkpoint.Coordinator{Pipeline: w, Store: store, Interval: 2 * time.Millisecond,
		OnComplete: st.complete, OnFailure: st.fail,
		Commit: func(_ context.Context, info checkpoint.Info) error {
			offered = append(offered, info.Manifest.ID)
			if refuse.Add(-1) >= 0 {
				return fenced
			}
			return nil
		}}
	running(t, p)

	// One by hand, through Savepoint's path: the error names the
	// checkpoint and wraps the Committer's.
	c.Savepoints = newStore(t, "savepoint")
	_, err := c.Savepoint(context.Background())
	if !errors.Is(err, fenced) {
		t.Fatalf("Savepoint with a refusing Committer: %v", err)
	}
	stopCoord := runCoordinator(t, c)
	st.waitFor(t, "3 refusals, then a checkpoint", func(d []checkpoint.Stats, f []error) bool { return len(f) >= 3 && len(d) >= 1 })
	if err := stopCoord(); err != nil {
		t.Fatalf("Run after failures: %v", err)
	}
	done, failures := st.snapshot()
	for _, f := range failures {
		if !errors.Is(f, fenced) {
			t.Errorf("OnFailure got %v, want the Committer's error", f)
		}
	}
	st.mu.Lock()
	if ids := st.failedID; len(ids) < 3 || !slices.Equal(ids[:3], offered[:3]) {
		t.Errorf("OnFailure ids %v, want the refused checkpoints' %v", ids, offered[:3])
	}
	st.mu.Unlock()
	committed := w.committed()
	for _, id := range offered[:3] {
		if slices.Contains(committed, id) {
			t.Errorf("refused checkpoint %d was committed to the pipeline", id)
		}
	}
	if !slices.Contains(committed, done[0].ID) {
		t.Errorf("completed checkpoint %d not committed to the pipeline (%v)", done[0].ID, committed)
	}

	// A store that cannot write: its directory is now a file.
	if err := os.RemoveAll(store.Dir()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store.Dir(), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n := len(failures)
	stopCoord = runCoordinator(t, c)
	st.waitFor(t, "a failed write", func(_ []checkpoint.Stats, f []error) bool { return len(f) > n })
	if err := stopCoord(); err != nil {
		t.Fatal(err)
	}
	if _, f := st.snapshot(); errors.Is(f[n], fenced) {
		t.Errorf("failed write reported as %v", f[n])
	}
}

// TestCoordinatorStopWithSavepoint: the pipeline stops right after the
// final checkpoint, which both stores hold; a pipeline restored from the
// savepoint, with another parallelism, ends with the counts of the whole
// input.
func TestCoordinatorStopWithSavepoint(t *testing.T) {
	const n = 4000
	p := newPipeline(&ticks{n: n, every: 200 * time.Microsecond}, sink.NewCollect[int](), 2)
	st := newStats()
	ckpts, saves := newStore(t, "checkpoint"), newStore(t, "savepoint")
	c := &checkpoint.Coordinator{Pipeline: p, Store: ckpts, Savepoints: saves, Meta: checkpoint.Meta{Fingerprint: "fp"},
		OnComplete: st.complete, OnFailure: st.fail}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	var info checkpoint.Info
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		var err error
		if info, err = c.StopWithSavepoint(context.Background()); err == nil {
			break
		} else if !errors.Is(err, engine.ErrNotRunning) || time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after StopWithSavepoint: %v", err)
	}
	_, cinfo, err := ckpts.Latest("fp", nil)
	if err != nil || cinfo.Manifest.ID != info.Manifest.ID {
		t.Fatalf("checkpoint store: %+v, %v; want checkpoint %d", cinfo.Manifest, err, info.Manifest.ID)
	}
	snap, sinfo, err := saves.Latest("fp", nil)
	if err != nil || sinfo.Manifest.ID != info.Manifest.ID {
		t.Fatalf("savepoint store: %+v, %v; want checkpoint %d", sinfo.Manifest, err, info.Manifest.ID)
	}
	var pos uint64
	if pos, _ = binary.Uvarint(snap.Sources["ticks"]); pos == 0 || pos >= n {
		t.Fatalf("savepoint at source position %d, want inside (0, %d)", pos, n)
	}

	col := sink.NewCollect[int]()
	p2 := newPipeline(&ticks{n: n}, col, 3)
	p2.RestoreFrom(snap)
	if err := p2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := col.Records()
	slices.Sort(got)
	var want []int
	for k := range nKeys {
		want = append(want, k*1_000_000+(n-k+nKeys-1)/nKeys)
	}
	if !slices.Equal(got, want) {
		t.Errorf("restored run's final counts %v, want %v", got, want)
	}
}

// TestCoordinatorInitial: with Initial, the first checkpoint is taken as
// soon as the pipeline runs, long before the first interval; Run started
// before the pipeline waits for it.
func TestCoordinatorInitial(t *testing.T) {
	p := newPipeline(&ticks{n: -1, every: time.Millisecond}, sink.NewCollect[int](), 1)
	st := newStats()
	c := &checkpoint.Coordinator{Pipeline: p, Store: newStore(t, "checkpoint"), Interval: time.Hour, Initial: true,
		OnComplete: st.complete, OnFailure: st.fail}
	stopCoord := runCoordinator(t, c)
	time.Sleep(20 * time.Millisecond) // Run meets ErrNotRunning first
	running(t, p)
	st.waitFor(t, "the initial checkpoint", func(d []checkpoint.Stats, _ []error) bool { return len(d) == 1 })
	if err := stopCoord(); err != nil {
		t.Fatal(err)
	}
	if d, f := st.snapshot(); len(d) != 1 || d[0].ID != 1 || len(f) != 0 {
		t.Errorf("checkpoints %+v, failures %v", d, f)
	}
}

// TestCoordinatorIdle: without an interval Run takes nothing; after the
// pipeline ended, periodic ticks are skipped, not failures; Savepoint
// needs a savepoint store.
func TestCoordinatorIdle(t *testing.T) {
	p := newPipeline(&ticks{n: 10}, sink.NewCollect[int](), 1)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := newStats()
	for _, interval := range []time.Duration{0, time.Millisecond} {
		c := &checkpoint.Coordinator{Pipeline: p, Store: newStore(t, "checkpoint"), Interval: interval,
			OnComplete: st.complete, OnFailure: st.fail}
		stop := runCoordinator(t, c)
		time.Sleep(20 * time.Millisecond)
		if err := stop(); err != nil {
			t.Errorf("interval %v: Run: %v", interval, err)
		}
		if _, err := c.Savepoint(context.Background()); err == nil {
			t.Errorf("Savepoint without a savepoint store succeeded")
		}
	}
	if d, f := st.snapshot(); len(d) != 0 || len(f) != 0 {
		t.Errorf("checkpoints %+v, failures %v", d, f)
	}
}
