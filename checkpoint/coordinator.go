package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/topspeed/topspeed/engine"
)

// Pipeline is what the coordinator needs of an engine.Pipeline.
type Pipeline interface {
	Checkpoint(ctx context.Context) (*engine.Snapshot, error)
	StopWithSavepoint(ctx context.Context) (*engine.Snapshot, error)
	Commit(id uint64) error
}

// Committer makes a written checkpoint count. Without HA it is nil and a
// checkpoint counts once its manifest is durable; with HA it commits the
// checkpoint's pointer through raft and fails if this process is no longer
// the leader (fencing).
type Committer func(ctx context.Context, info Info) error

// Stats describe one completed checkpoint.
type Stats struct {
	ID uint64
	// Duration is from the barrier request to the durable commit.
	Duration time.Duration
	// Pauses are the per-part hot-path pauses (engine.Snapshot.Pauses).
	Pauses []time.Duration
	Bytes  int64
	Path   string
}

// Coordinator takes periodic checkpoints of a running pipeline, one at a
// time: barrier, durable write, commit (Committer), then Pipeline.Commit.
// Savepoints go through the same path, so checkpoints never overlap.
type Coordinator struct {
	// Pipeline is the running pipeline.
	Pipeline Pipeline
	// Store receives checkpoints; Savepoints receives savepoints (may be nil).
	Store, Savepoints *Store
	// Interval between periodic checkpoints; 0 disables them.
	Interval time.Duration
	// Initial takes a first checkpoint as soon as the pipeline runs, so that
	// what a fresh start chose (for example the generator's time origin) is
	// durable before anything else can fail.
	Initial bool
	// Meta is written into every manifest.
	Meta Meta
	// Commit, if set, makes a checkpoint count (HA fencing).
	Commit Committer
	// OnComplete, if set, is called after each successful checkpoint.
	OnComplete func(Stats)
	// OnFailure, if set, is called after each failed checkpoint with its
	// id (0 if the pipeline failed before the checkpoint had one) and the
	// cause. A checkpoint skipped because the pipeline is not running, or
	// abandoned at the barrier (also because ctx ended), is not a failure.
	OnFailure func(id uint64, err error)
	// MaxConsecutiveFailures, if positive, makes Run fail once this many
	// periodic checkpoints in a row have failed (Flink's tolerable failed
	// checkpoints plus one); 0 never fails. A checkpoint that is skipped
	// because the pipeline is not running, or abandoned because ctx ended,
	// does not count, nor does one the Committer refused: that means
	// leadership is ending, which HA handles.
	MaxConsecutiveFailures int
	// Log receives progress; nil logs nothing.
	Log *zap.Logger

	mu sync.Mutex // one checkpoint at a time

	failMu  sync.Mutex
	failed  int   // periodic checkpoints failed in a row
	lastErr error // the last one's error
}

// ConsecutiveFailures returns how many periodic checkpoints in a row have
// failed up to now, and the last one's error (0 and nil once one
// succeeds). It is safe to call concurrently with Run.
func (c *Coordinator) ConsecutiveFailures() (int, error) {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	return c.failed, c.lastErr
}

// Run takes a checkpoint every Interval until ctx is cancelled or the
// pipeline has ended. A failed checkpoint is logged and counted, and the
// next one is tried at the next tick; the pipeline keeps running unless
// MaxConsecutiveFailures have failed in a row: Run then returns an error
// naming the last failure.
func (c *Coordinator) Run(ctx context.Context) error {
	if c.Interval <= 0 {
		<-ctx.Done()
		return nil
	}
	if c.Initial {
		for {
			_, err := c.take(ctx, c.Store, false)
			if err == nil || ctx.Err() != nil || !errors.Is(err, engine.ErrNotRunning) {
				if ferr := c.outcome(ctx, err); ferr != nil {
					return ferr
				}
				break
			}
			select { // Run has not started the pipeline yet
			case <-ctx.Done():
				return nil
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	t := time.NewTicker(c.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// outcome also runs when ctx ended during take: a checkpoint that
		// completed (OnComplete was called) resets the failure count, and
		// a failure that ctx caused is not counted.
		_, err := c.take(ctx, c.Store, false)
		if ferr := c.outcome(ctx, err); ferr != nil {
			return ferr
		}
	}
}

// outcome logs and counts the result of a periodic checkpoint, and
// returns an error once MaxConsecutiveFailures have failed in a row.
func (c *Coordinator) outcome(ctx context.Context, err error) error {
	var refused *commitError
	switch {
	case err == nil:
		c.setFailed(0, nil)
		return nil
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, engine.ErrNotRunning), errors.Is(err, engine.ErrCheckpointAborted):
		// The pipeline ended or is not started yet.
		c.log().Debug("checkpoint skipped", zap.Error(err))
		return nil
	case errors.As(err, &refused):
		c.log().Warn("checkpoint not committed", zap.Error(err))
		return nil
	}
	n, _ := c.ConsecutiveFailures()
	n++
	c.setFailed(n, err)
	c.log().Warn("checkpoint failed", zap.Int("consecutive_failures", n), zap.Error(err))
	if c.MaxConsecutiveFailures > 0 && n >= c.MaxConsecutiveFailures {
		return fmt.Errorf("%d checkpoint(s) failed in a row, more than the %d tolerated; the last: %w", n, c.MaxConsecutiveFailures-1, err)
	}
	return nil
}

func (c *Coordinator) setFailed(n int, err error) {
	c.failMu.Lock()
	c.failed, c.lastErr = n, err
	c.failMu.Unlock()
}

// commitError is a checkpoint the Committer refused.
type commitError struct{ err error }

func (e *commitError) Error() string { return e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// Savepoint takes a checkpoint into the savepoint store and returns it.
func (c *Coordinator) Savepoint(ctx context.Context) (Info, error) {
	if c.Savepoints == nil {
		return Info{}, errors.New("checkpoint: no savepoint directory configured")
	}
	return c.take(ctx, c.Savepoints, false)
}

// StopWithSavepoint takes a final checkpoint, after which the pipeline
// stops, and stores it in the checkpoint store (so that a restart resumes
// from it) and, if configured, in the savepoint store.
func (c *Coordinator) StopWithSavepoint(ctx context.Context) (Info, error) {
	info, err := c.take(ctx, c.Store, true)
	if err != nil {
		return info, err
	}
	if c.Savepoints != nil {
		snap, _, lerr := Load(info.Path)
		if lerr != nil {
			return info, lerr
		}
		sp, werr := c.Savepoints.Write(ctx, snap, c.Meta)
		if werr != nil {
			return info, fmt.Errorf("savepoint: %w", werr)
		}
		c.log().Info("savepoint written", zap.String("path", sp.Path))
	}
	return info, nil
}

func (c *Coordinator) log() *zap.Logger {
	if c.Log == nil {
		return zap.NewNop()
	}
	return c.Log
}

// take runs one checkpoint end to end.
func (c *Coordinator) take(ctx context.Context, store *Store, final bool) (Info, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	var snap *engine.Snapshot
	var err error
	if final {
		snap, err = c.Pipeline.StopWithSavepoint(ctx)
	} else {
		snap, err = c.Pipeline.Checkpoint(ctx)
	}
	if err != nil {
		if c.OnFailure != nil && ctx.Err() == nil && !errors.Is(err, engine.ErrNotRunning) && !errors.Is(err, engine.ErrCheckpointAborted) {
			c.OnFailure(0, err)
		}
		return Info{}, err
	}
	info, err := store.Write(ctx, snap, c.Meta)
	if err == nil && c.Commit != nil {
		withSnap := info
		withSnap.Snapshot = snap
		if cerr := c.Commit(ctx, withSnap); cerr != nil {
			err = &commitError{cerr}
		}
	}
	if err != nil {
		if c.OnFailure != nil {
			c.OnFailure(snap.ID, err)
		}
		return info, fmt.Errorf("checkpoint %d: %w", snap.ID, err)
	}
	// Tell operators and two-phase sinks. After a final checkpoint the
	// pipeline may already have ended: its sinks committed at end of input.
	if cerr := c.Pipeline.Commit(snap.ID); cerr != nil && !errors.Is(cerr, engine.ErrNotRunning) {
		c.log().Warn("notifying commit", zap.Uint64("checkpoint", snap.ID), zap.Error(cerr))
	}
	st := Stats{ID: snap.ID, Duration: time.Since(start), Pauses: snap.Pauses, Bytes: info.Bytes, Path: info.Path}
	c.log().Debug("checkpoint complete", zap.Uint64("checkpoint", st.ID), zap.Duration("duration", st.Duration),
		zap.Int64("bytes", st.Bytes), zap.Uint64("term", c.Meta.Term))
	if c.OnComplete != nil {
		c.OnComplete(st)
	}
	return info, nil
}
