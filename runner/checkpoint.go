package runner

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/engine"
)

// newBuild calls Job.Build. With --checkpoint-dir it checks that the
// sources can be checkpointed; the coordinator is the caller's
// (newCoordinator).
func (r *runner) newBuild(log *zap.Logger) (*build, error) { return r.buildWith(log, nil) }

// buildWith is newBuild with the BuildEnv adjusted by adjust (if not nil).
func (r *runner) buildWith(log *zap.Logger, adjust func(*BuildEnv)) (*build, error) {
	b := &build{}
	env := BuildEnv{
		Log: log, Stdin: r.env.Stdin, Stdout: r.env.Stdout, LookupEnv: r.env.LookupEnv,
		Checkpoints: r.s.ckpt.enabled(), MetricsNamespace: metricsNamespace(r.job), Kafka: r.s.group.cfg.Conn,
		metrics: r.ops.registerer(), run: b,
	}
	if adjust != nil {
		adjust(&env)
	}
	p, err := r.job.Build(env)
	if err == nil && p == nil {
		err = errors.New("the job's Build returned no pipeline")
	}
	if err != nil {
		return nil, err
	}
	b.pipeline = p
	if r.s.ckpt.enabled() && len(b.stateless) > 0 {
		return nil, fmt.Errorf("--checkpoint-dir: source %s cannot be checkpointed (it is not an engine.StatefulSource)", strings.Join(b.stateless, ", "))
	}
	return b, nil
}

// newCoordinator builds the checkpoint coordinator of p: the checkpoint
// store in DIR/<job-id> (with the crash-test hook), the savepoint store
// (savepoints named by job id, the newest --savepoint-retain kept), the
// tolerated failures, and the manifest
// metadata for the writer's term (0 without HA). Restore, Initial and
// Commit are left to the caller.
func (r *runner) newCoordinator(p *engine.Pipeline, log *zap.Logger, term uint64) (*checkpoint.Coordinator, error) {
	return r.newCoordinatorIn(r.s.ckpt.jobDir(), p, log, term)
}

// newCoordinatorIn is newCoordinator with its checkpoints in dir.
func (r *runner) newCoordinatorIn(dir string, p *engine.Pipeline, log *zap.Logger, term uint64) (*checkpoint.Coordinator, error) {
	c := &r.s.ckpt
	store, err := checkpoint.NewStore(dir, c.retain, "checkpoint", log)
	if err != nil {
		return nil, err
	}
	if h, ok := r.env.LookupEnv(envPrefix(r.job) + "TEST_CRASH_AT"); ok && h != "" {
		store.Hook = crashHook(h, log)
	}
	var savepoints *checkpoint.Store
	if c.savepointDir != "" {
		if savepoints, err = checkpoint.NewStore(c.savepointDir, c.savepointKeep, "savepoint", log); err != nil {
			return nil, err
		}
		savepoints.Job = c.jobID
	}
	coord := &checkpoint.Coordinator{
		Pipeline: p, Store: store, Savepoints: savepoints, Interval: c.interval, Log: log,
		MaxConsecutiveFailures: c.tolerable + 1,
		Meta:                   checkpoint.Meta{Term: term, Fingerprint: r.fingerprint(), MaxParallelism: p.Config().MaxParallelism},
	}
	r.ops.hookCoordinator(coord, c.interval)
	return coord, nil
}

// restoreLatest takes the lock of the job's checkpoint directory (one
// process per directory without HA; execute releases it when the run
// ends, restoreLatest itself if the restore fails), then restores b.
func (r *runner) restoreLatest(b *build) (err error) {
	if err := b.coord.Store.Lock(); err != nil {
		var le *checkpoint.LockedError
		if errors.As(err, &le) {
			return fmt.Errorf("%w; each job needs its own --job-id or --checkpoint-dir", err)
		}
		return err
	}
	defer func() {
		if err != nil { // the run ends here: another Run in this process may lock
			_ = b.coord.Store.Unlock()
		}
	}()
	return r.restoreFrom(b)
}

// restoreFrom restores b from --from-savepoint or else the newest valid
// checkpoint, if any.
func (r *runner) restoreFrom(b *build) error {
	c := &r.s.ckpt
	var snap *engine.Snapshot
	var info checkpoint.Info
	var err error
	start := time.Now()
	if c.fromSavepoint != "" {
		snap, info, err = checkpoint.Load(c.fromSavepoint)
		if err == nil {
			err = checkpoint.Compatible(info.Manifest, b.coord.Meta.Fingerprint)
		}
	} else {
		snap, info, err = b.coord.Store.Latest(b.coord.Meta.Fingerprint, nil)
		if errors.Is(err, checkpoint.ErrNoCheckpoint) {
			snap, info, err = r.latestOldLayout(b.coord.Meta.Fingerprint)
		}
		if errors.Is(err, checkpoint.ErrNoCheckpoint) {
			r.log.Info("no checkpoint to restore: starting from the beginning", zap.String("dir", c.jobDir()))
			err, snap = nil, nil
		}
	}
	if err != nil {
		return err
	}
	if snap != nil {
		r.restore(b, snap, start)
		r.log.Info("restoring from checkpoint", zap.Uint64("checkpoint", snap.ID), zap.String("path", info.Path),
			zap.Int64("bytes", info.Bytes), zap.Duration("load", time.Since(start)))
	}
	b.coord.Initial = snap == nil
	return nil
}

// latestOldLayout loads the newest valid checkpoint written directly into
// --checkpoint-dir, where checkpoints lived before --job-id, so that an
// upgrade resumes where the old version stopped. New checkpoints go to
// DIR/<job-id>; the old directories are left alone (never pruned).
func (r *runner) latestOldLayout(fingerprint string) (*engine.Snapshot, checkpoint.Info, error) {
	c := &r.s.ckpt
	old, err := checkpoint.NewStore(c.dir, 0, "checkpoint", r.log) // only read
	if err != nil {
		return nil, checkpoint.Info{}, err
	}
	snap, info, err := old.Latest(fingerprint, nil)
	if err == nil {
		r.log.Warn("restoring from a checkpoint in the old layout (directly in --checkpoint-dir); "+
			"new checkpoints go to --checkpoint-dir/<job-id>, and the old chk-* directories are no longer used or pruned: delete them once a new checkpoint is written",
			zap.String("old", info.Path), zap.String("new_dir", c.jobDir()))
	}
	return snap, info, err
}

// restore makes b start from snap and records the restore time. Whether
// snap fits the pipeline is checked when it runs; state no stage claims is
// dropped only with --allow-non-restored-state.
func (r *runner) restore(b *build, snap *engine.Snapshot, start time.Time) {
	var opts []engine.RestoreOption
	if r.s.ckpt.allowDrop {
		opts = append(opts, engine.AllowNonRestoredState())
	}
	b.pipeline.RestoreFrom(snap, opts...)
	r.ops.restored(time.Since(start))
}

// explainRestore adds the flag's name to a restore refused for state no
// stage claims.
func (r *runner) explainRestore(err error) error {
	if errors.Is(err, engine.ErrIncompatibleState) && !r.s.ckpt.allowDrop {
		return fmt.Errorf("%w (--allow-non-restored-state drops state no stage claims)", err)
	}
	return err
}

// crashHook kills the process at a write point, for crash tests:
// NAME_TEST_CRASH_AT=files-written:3 dies after checkpoint 3's data files
// are durable and before its manifest is written.
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

// execute runs b's pipeline and, beside it, its checkpoint coordinator,
// and returns when both have ended: the pipeline's error, or the
// coordinator's if it failed (which cancels the pipeline).
func execute(ctx context.Context, b *build) error {
	if b.coord == nil {
		return b.pipeline.Run(ctx)
	}
	// The directory lock (restoreLatest; not with HA) is held until ctx
	// ends: runOnce cancels it once a graceful stop's final checkpoint is
	// durable, or when it returns. AfterFunc runs on a goroutine of its own,
	// so execute also releases it before returning: another Run in this
	// process may take it as soon as this one has returned.
	context.AfterFunc(ctx, func() { _ = b.coord.Store.Unlock() })
	defer func() { _ = b.coord.Store.Unlock() }()
	g, gctx := errgroup.WithContext(ctx)
	cctx, ccancel := context.WithCancel(gctx)
	g.Go(func() error {
		defer ccancel() // the input ended: no more checkpoints
		return b.pipeline.Run(gctx)
	})
	g.Go(func() error {
		if err := b.coord.Run(cctx); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("checkpoint coordinator: %w", err)
		}
		return nil
	})
	return g.Wait()
}

// stop ends b gracefully: with checkpoints, a final checkpoint (stop with
// savepoint) bounded by --stop-timeout; without, a plain Stop.
func (r *runner) stop(ctx context.Context, b *build, log *zap.Logger) error {
	if b.coord == nil {
		b.pipeline.Stop()
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.s.ckpt.stopTimeout)
	defer cancel()
	info, err := b.coord.StopWithSavepoint(ctx)
	if err != nil {
		return fmt.Errorf("stop with savepoint: %w", err)
	}
	log.Info("stopped with a final checkpoint", zap.Uint64("checkpoint", info.Manifest.ID), zap.String("path", info.Path))
	return nil
}
