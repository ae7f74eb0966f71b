package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/engine"
)

// checkpointFlags are the --checkpoint-* and savepoint settings.
type checkpointFlags struct {
	dir           string
	interval      time.Duration
	retain        int
	savepointDir  string
	fromSavepoint string
	stopTimeout   time.Duration
}

func (c *checkpointFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.dir, "checkpoint-dir", "", "take periodic checkpoints into this directory (the shared RWX volume) and restore from the newest valid one at start; empty disables checkpoints. With it, --output names a directory of part files published exactly once")
	fs.DurationVar(&c.interval, "checkpoint-interval", 10*time.Second, "time between checkpoints")
	fs.IntVar(&c.retain, "checkpoint-retain", 3, "number of completed checkpoints kept")
	fs.StringVar(&c.savepointDir, "savepoint-dir", "", "directory for savepoints (taken on SIGTERM and on request)")
	fs.StringVar(&c.fromSavepoint, "from-savepoint", "", "restore from this savepoint or checkpoint directory instead of the newest checkpoint")
	fs.DurationVar(&c.stopTimeout, "stop-timeout", 30*time.Second, "bound on a graceful stop (final checkpoint and flush) after SIGTERM/SIGINT")
}

func (c *checkpointFlags) enabled() bool { return c.dir != "" }

func (c *checkpointFlags) validate() error {
	switch {
	case c.dir == "" && c.fromSavepoint != "":
		return errors.New("--from-savepoint needs --checkpoint-dir")
	case c.interval < 10*time.Millisecond:
		return fmt.Errorf("--checkpoint-interval %v: must be at least 10ms", c.interval)
	case c.retain < 1:
		return fmt.Errorf("--checkpoint-retain %d: must be at least 1", c.retain)
	case c.stopTimeout <= 0:
		return fmt.Errorf("--stop-timeout %v: must be positive", c.stopTimeout)
	}
	return nil
}

// fingerprint identifies what a checkpoint's state depends on: the window
// parameters, the number of key groups and the input. Parallelism, rates
// and sinks may change between restores.
func fingerprint(o *options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "topspeed/1 evict=%d trigger=%s maxpar=%d ", o.evict.Milliseconds(),
		strconv.FormatFloat(o.trigger, 'g', -1, 64), engine.DefaultMaxParallelism)
	if o.input == "" {
		fmt.Fprintf(&b, "generator cars=%d seed=%d", o.cars, o.seed)
	} else {
		abs, err := filepath.Abs(o.input)
		if err != nil {
			abs = o.input
		}
		fmt.Fprintf(&b, "file=%s", abs)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// setupCheckpoints restores the pipeline from the newest valid checkpoint
// (or --from-savepoint) and prepares the coordinator.
func setupCheckpoints(j *job, o *options, log *zap.Logger, env func(string) (string, bool)) error {
	c := &o.ckpt
	if !c.enabled() {
		return nil
	}
	coord, err := newCoordinator(j, o, log, env, 0)
	if err != nil {
		return err
	}
	var snap *engine.Snapshot
	var info checkpoint.Info
	start := time.Now()
	if c.fromSavepoint != "" {
		snap, info, err = checkpoint.Load(c.fromSavepoint)
		if err == nil {
			err = checkpoint.Compatible(info.Manifest, coord.Meta.Fingerprint)
		}
	} else {
		snap, info, err = coord.Store.Latest(coord.Meta.Fingerprint, nil)
		if errors.Is(err, checkpoint.ErrNoCheckpoint) {
			log.Info("no checkpoint to restore: starting from the beginning", zap.String("dir", c.dir))
			err, snap = nil, nil
		}
	}
	if err != nil {
		return err
	}
	if snap != nil {
		restore(j, o, snap, start)
		log.Info("restoring from checkpoint", zap.Uint64("checkpoint", snap.ID), zap.String("path", info.Path),
			zap.Int64("bytes", info.Bytes), zap.Duration("load", time.Since(start)))
	}
	coord.Initial = snap == nil
	j.coord = coord
	return nil
}

// newCoordinator builds the checkpoint coordinator of j: the checkpoint
// store (with the crash-test hook), the savepoint store, and the manifest
// metadata for the writer's term (0 without HA). Initial and Commit are
// left to the caller.
func newCoordinator(j *job, o *options, log *zap.Logger, env func(string) (string, bool), term uint64) (*checkpoint.Coordinator, error) {
	c := &o.ckpt
	store, err := checkpoint.NewStore(c.dir, c.retain, "checkpoint", log)
	if err != nil {
		return nil, err
	}
	if h, ok := env("TOPSPEED_TEST_CRASH_AT"); ok && h != "" {
		store.Hook = crashHook(h, log)
	}
	var savepoints *checkpoint.Store
	if c.savepointDir != "" {
		if savepoints, err = checkpoint.NewStore(c.savepointDir, 0, "savepoint", log); err != nil {
			return nil, err
		}
	}
	return &checkpoint.Coordinator{
		Pipeline: j.pipeline, Store: store, Savepoints: savepoints, Interval: c.interval, Log: log,
		Meta: checkpoint.Meta{Term: term, Fingerprint: fingerprint(o), MaxParallelism: engine.DefaultMaxParallelism},
	}, nil
}

// restore makes j start from snap and records the restore time.
func restore(j *job, o *options, snap *engine.Snapshot, start time.Time) {
	j.pipeline.RestoreFrom(snap)
	if o.ops.recorder != nil {
		o.ops.recorder.Restored(time.Since(start))
	}
}

// crashHook kills the process at a write point, for crash tests:
// TOPSPEED_TEST_CRASH_AT=files-written:3 dies after checkpoint 3's data
// files are durable and before its manifest is written.
func crashHook(spec string, log *zap.Logger) checkpoint.Hook {
	point, idStr, _ := strings.Cut(spec, ":")
	id, _ := strconv.ParseUint(idStr, 10, 64)
	return func(p string, cid uint64) {
		if p == point && (id == 0 || cid == id) {
			log.Warn("test crash hook: killing the process", zap.String("point", p), zap.Uint64("checkpoint", cid))
			_ = syscall.Kill(syscall.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
	}
}

// stop ends the job gracefully: with checkpoints, a final checkpoint (stop
// with savepoint) bounded by --stop-timeout; without, a plain Stop.
func (j *job) stop(ctx context.Context, timeout time.Duration, log *zap.Logger) error {
	if j.coord == nil {
		j.pipeline.Stop()
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	info, err := j.coord.StopWithSavepoint(ctx)
	if err != nil {
		return fmt.Errorf("stop with savepoint: %w", err)
	}
	log.Info("stopped with a final checkpoint", zap.Uint64("checkpoint", info.Manifest.ID), zap.String("path", info.Path))
	return nil
}
