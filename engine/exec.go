package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// ctrlKind says what a control message means.
type ctrlKind uint8

const (
	ctrlWatermark ctrlKind = iota + 1
	ctrlBarrier
	ctrlEnd
)

// ctrl is an in-band control message: it travels between data batches.
type ctrl struct {
	kind ctrlKind
	wm   int64  // ctrlWatermark
	cp   uint64 // ctrlBarrier: checkpoint id
	// stopped marks a ctrlEnd caused by Stop rather than the input's end:
	// event time does not jump to the end, so open windows do not fire.
	stopped bool
	// ingest is, for ctrlWatermark, the ingest stamp of the source batch
	// whose records advanced the watermark (see message.ingest), so that
	// results fired by OnWatermark are timed from that batch's read.
	ingest int64
}

// message is what queues between stages carry: a batch or a control message.
type message[T any] struct {
	from    int
	records []T
	ctrl    ctrl // kind == 0 for data
	// ingest is when the source batch that produced records was read
	// (ingestNow), or 0 when unknown: records emitted by OnProcessingTime,
	// at the end of input or by Close. Sinks time their end-to-end latency
	// from it.
	ingest int64
}

// ingestEpoch is the origin of ingest stamps.
var ingestEpoch = time.Now()

// ingestNow returns an ingest stamp: nanoseconds on the monotonic clock
// since ingestEpoch, plus one so that a stamp is never 0 (unknown). Wall
// clock steps do not change differences of stamps.
func ingestNow() int64 { return int64(time.Since(ingestEpoch)) + 1 }

// Snapshot is a consistent checkpoint of a running pipeline: the sources'
// positions and every keyed stage's state by key group, all taken at the
// same barrier, with every sink flushed up to it. It names every stage
// whose state it holds, and the key groups of each keyed stage, so that
// RestoreFrom can refuse state the pipeline would silently lose.
type Snapshot struct {
	// ID is the checkpoint id, increasing within one Run.
	ID uint64
	// MaxParallelism is the number of key groups the keyed state is split
	// into: the max parallelism of the pipeline that took it. A pipeline
	// restores it only with the same max parallelism. 0 means unknown (a
	// Snapshot built by hand): then only the key groups are checked.
	MaxParallelism int
	// Sources maps a source stage's name to its SnapshotState, for sources
	// that implement StatefulSource.
	Sources map[string][]byte
	// Operators maps every keyed stage's name to its state, key groups in
	// [0, MaxParallelism); a stage without state has an empty entry.
	Operators map[string]*KeyedState
	// Watermarks maps a source stage's name to the last watermark it had
	// emitted before the barrier.
	Watermarks map[string]int64
	// Sinks maps a sink stage's name to its state, for sinks that implement
	// StatefulSink.
	Sinks map[string][]byte
	// Pauses are how long each part (a source, a subtask, a sink snapshot)
	// held up its own goroutine to take its share of the snapshot; with the
	// sinks' flushes excluded, this is the checkpoint's cost on the hot path.
	Pauses []time.Duration
	// OperatorPauses are the keyed subtasks' pauses alone (they are in
	// Pauses too): freezing their state at the barrier, and waiting for the
	// encoding of their previous checkpoint if it still runs; the encoding
	// itself runs beside the hot path.
	OperatorPauses []time.Duration
}

func newSnapshot(id uint64, maxParallelism int) *Snapshot {
	return &Snapshot{ID: id, MaxParallelism: maxParallelism, Sources: map[string][]byte{}, Operators: map[string]*KeyedState{},
		Watermarks: map[string]int64{}, Sinks: map[string][]byte{}}
}

// execution is the state of one Run.
type execution struct {
	ctx context.Context
	log *zap.Logger
	p   *Pipeline

	mu      sync.Mutex
	pending map[uint64]*pendingCheckpoint
	nextID  uint64
	parts   int // reports a checkpoint needs: sources + subtasks + sinks

	sources   []*sourceControl // one per source: barrier requests
	commitChs []chan uint64    // one per keyed subtask: commit notifications

	opened atomic.Int64 // stages open with their state restored (see attach)

	// goAsync runs a function in the pipeline's errgroup: its error fails
	// the pipeline, and Run waits for it. Subtasks encode checkpoints with it.
	goAsync func(func() error)
}

type pendingCheckpoint struct {
	snap      *Snapshot
	remaining int
	done      chan struct{}
}

// report records one part of checkpoint id: a source position, a subtask's
// state, or a sink's flush (name "" and no data).
func (x *execution) report(id uint64, fn func(s *Snapshot)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	pc := x.pending[id]
	if pc == nil {
		return
	}
	if fn != nil {
		fn(pc.snap)
	}
	pc.remaining--
	if pc.remaining == 0 {
		close(pc.done)
	}
}

// send delivers m on ch unless the execution is cancelled.
func send[T any](ctx context.Context, ch chan<- message[T], m message[T]) error {
	select {
	case ch <- m:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Run executes the pipeline until every source is exhausted and every sink
// flushed (nil), or until the first failure or ctx's cancellation (the
// cause). It returns only after all goroutines it started have ended. A
// Pipeline runs once.
func (p *Pipeline) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.started {
		p.mu.Unlock()
		return ErrAlreadyRunning
	}
	p.started = true
	if p.err != nil {
		p.mu.Unlock()
		return p.err
	}
	if len(p.nodes) == 0 {
		p.mu.Unlock()
		return fmt.Errorf("%w: no stages", ErrInvalidPipeline)
	}
	if err := p.prepareRestore(); err != nil { // before any stage starts
		p.mu.Unlock()
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	x := &execution{ctx: gctx, log: p.cfg.Logger, p: p, pending: map[uint64]*pendingCheckpoint{}, goAsync: g.Go}
	if p.restore != nil {
		x.nextID = p.restore.ID // ids keep increasing across restores
	}
	var fns []func() error
	for _, n := range p.nodes {
		f, err := n.start(x)
		if err != nil {
			p.mu.Unlock()
			return fmt.Errorf("engine: stage %q: %w", n.name(), err)
		}
		fns = append(fns, f...)
	}
	p.run = x
	p.mu.Unlock()

	x.log.Info("pipeline started", zap.Int("parallelism", p.cfg.Parallelism), zap.Int("stages", len(p.nodes)))
	for _, f := range fns {
		g.Go(f)
	}
	err := g.Wait()

	p.mu.Lock()
	p.run = nil
	p.finish(err)
	p.mu.Unlock()
	x.abortPending()
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Cause(ctx)) {
		x.log.Info("pipeline cancelled", zap.Error(err))
		return err
	}
	if err != nil {
		x.log.Error("pipeline failed", zap.Error(err))
		return err
	}
	x.log.Info("pipeline finished")
	return nil
}

func (x *execution) abortPending() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, pc := range x.pending {
		delete(x.pending, id)
		if pc.remaining > 0 { // a complete one's done is closed already
			close(pc.done) // waiters see remaining > 0 and report an abort
		}
	}
}

// Checkpoint takes a consistent snapshot of the running pipeline: it injects
// a barrier at every source, waits until every keyed subtask has snapshotted
// its state at that barrier and every sink has flushed everything before it,
// and returns the snapshot. It does not tell operators that the checkpoint
// is durable; call Commit once the snapshot is stored. Checkpoints may be
// requested from any goroutine; barriers are injected in id order. After a
// restore, ids continue from the restored snapshot's.
func (p *Pipeline) Checkpoint(ctx context.Context) (*Snapshot, error) {
	return p.checkpoint(ctx, false)
}

// StopWithSavepoint takes a final checkpoint and stops the pipeline right
// after it: every source ends its input at the barrier (as with Stop), so
// the snapshot describes exactly the state in which the pipeline stops, and
// a run restored from it continues with nothing lost or repeated. Run
// returns nil once everything is flushed.
func (p *Pipeline) StopWithSavepoint(ctx context.Context) (*Snapshot, error) {
	return p.checkpoint(ctx, true)
}

func (p *Pipeline) checkpoint(ctx context.Context, final bool) (*Snapshot, error) {
	p.mu.Lock()
	x := p.run
	p.mu.Unlock()
	if x == nil {
		return nil, ErrNotRunning
	}
	x.mu.Lock()
	x.nextID++
	id := x.nextID
	pc := &pendingCheckpoint{snap: newSnapshot(id, p.cfg.MaxParallelism), remaining: x.parts, done: make(chan struct{})}
	x.pending[id] = pc
	srcs := x.sources
	x.mu.Unlock()
	abandon := func() {
		x.mu.Lock()
		delete(x.pending, id)
		x.mu.Unlock()
	}

	for _, sc := range srcs {
		select {
		case sc.req <- barrierRequest{id: id, final: final}:
		case <-sc.done:
			abandon()
			return nil, fmt.Errorf("%w: checkpoint %d: a source has already ended", ErrCheckpointAborted, id)
		case <-x.ctx.Done():
			abandon()
			return nil, fmt.Errorf("%w: %w", ErrCheckpointAborted, context.Cause(x.ctx))
		case <-ctx.Done():
			abandon()
			return nil, context.Cause(ctx)
		}
	}
	select {
	case <-pc.done:
	case <-ctx.Done():
		abandon()
		return nil, context.Cause(ctx)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if pc.remaining > 0 {
		return nil, fmt.Errorf("%w: checkpoint %d: pipeline ended", ErrCheckpointAborted, id)
	}
	delete(x.pending, id) // may be gone already: Run ended right after it completed
	return pc.snap, nil
}

// Commit tells every operator (OnCommit) and every StatefulSink (Commit)
// that checkpoint id is durable. It does not wait for them to run the hook.
func (p *Pipeline) Commit(id uint64) error {
	p.mu.Lock()
	x := p.run
	p.mu.Unlock()
	if x == nil {
		return ErrNotRunning
	}
	for _, ch := range x.commitChs {
		select {
		case ch <- id:
		case <-x.ctx.Done():
			return context.Cause(x.ctx)
		}
	}
	return nil
}
