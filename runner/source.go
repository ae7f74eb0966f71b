package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/engine"
)

// build is what one call of Job.Build made: the pipeline, its checkpoint
// coordinator (nil without --checkpoint-dir), and the sources it wrapped
// with Source.
type build struct {
	pipeline *engine.Pipeline
	coord    *checkpoint.Coordinator

	mu        sync.Mutex
	skips     []engine.SkipCounter
	group     *groupEnv // Kafka-group mode: the task's partition
	stateless []string  // types of wrapped sources that cannot be checkpointed
}

// skipped returns how many bad records the build's sources skipped.
func (b *build) skipped() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n int64
	for _, s := range b.skips {
		n += s.Skipped()
	}
	return n
}

// Source returns src observed by the runner; Build should wrap each of
// the job's sources with it. The runner then logs "first record
// processed" when the run reads its first record (failover is measured
// from a kill to that line), and counts the records src skips (if it is
// an engine.SkipCounter, like source.Lines) in the exit summary. With
// --checkpoint-dir, Run refuses to start if src is not an
// engine.StatefulSource (a restore would replay its input from the
// start). The result is an engine.StatefulSource that passes positions
// through to src, and an engine.SkipCounter.
func Source[T any](env BuildEnv, src engine.Source[T]) engine.Source[T] {
	if b := env.run; b != nil {
		b.mu.Lock()
		if sc, ok := src.(engine.SkipCounter); ok {
			b.skips = append(b.skips, sc)
		}
		if _, ok := src.(engine.StatefulSource[T]); !ok {
			b.stateless = append(b.stateless, fmt.Sprintf("%T", src))
		}
		b.mu.Unlock()
	}
	log := env.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &observed[T]{Source: src, log: log}
}

// observed is Source's wrapper.
type observed[T any] struct {
	engine.Source[T]
	log  *zap.Logger
	seen bool
}

func (f *observed[T]) Read(ctx context.Context, buf []T) (int, error) {
	n, err := f.Source.Read(ctx, buf)
	if n > 0 && !f.seen {
		f.seen = true
		f.log.Info("first record processed", zap.Int64("unix_ms", time.Now().UnixMilli()))
	}
	return n, err
}

// SnapshotState and RestoreState pass through to a stateful source.
func (f *observed[T]) SnapshotState() ([]byte, error) {
	ss, ok := f.Source.(engine.StatefulSource[T])
	if !ok {
		return nil, nil
	}
	return ss.SnapshotState()
}

func (f *observed[T]) RestoreState(b []byte) error {
	ss, ok := f.Source.(engine.StatefulSource[T])
	if !ok {
		return errors.New("source cannot restore a position")
	}
	return ss.RestoreState(b)
}

// Skipped passes the wrapped source's bad-record count through to the
// engine (engine.SkipCounter), for the bad-records metric.
func (f *observed[T]) Skipped() int64 {
	if sc, ok := f.Source.(engine.SkipCounter); ok {
		return sc.Skipped()
	}
	return 0
}
