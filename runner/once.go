package runner

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"go.uber.org/zap"
)

// signals returns the channel of stop signals: Env.Signals, or SIGINT and
// SIGTERM (release them with the returned function).
func (r *runner) signals() (<-chan os.Signal, func()) {
	if r.env.Signals != nil {
		return r.env.Signals, func() {}
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	return sigs, func() { signal.Stop(sigs) }
}

// runOnce runs the job without HA: build, restore (newest valid
// checkpoint or --from-savepoint), run with periodic checkpoints until the
// input ends or a signal stops it.
func (r *runner) runOnce(ctx context.Context) int {
	b, err := r.newBuild(r.log)
	if err != nil {
		r.errorf("%v", err)
		return ExitUsage
	}
	if r.s.ckpt.enabled() {
		if b.coord, err = r.newCoordinator(b.pipeline, r.log, 0); err == nil {
			err = r.restoreLatest(b)
		}
		if err != nil {
			r.errorf("%v", err)
			return ExitFailure
		}
	}
	if err := r.ops.start(b); err != nil {
		r.errorf("%v", err)
		return ExitFailure
	}
	defer r.ops.stop()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := r.stopOnSignal(ctx, cancel, b)

	prog := newProgress(r.log, r.s.progress)
	prog.attach(b)
	prog.run()
	runErr := execute(ctx, b)
	if err := stopped(); err != nil && runErr == nil {
		runErr = err
	}
	return r.exit(prog, runErr)
}

// stopOnSignal stops b gracefully on the first signal (with checkpoints:
// a final checkpoint, then stop; everything read is flushed) and cancels
// on the second. The graceful stop runs beside Run: Run returns once the
// pipeline has drained, and the returned function, called after Run,
// waits for the stop's result (the final checkpoint being durable).
func (r *runner) stopOnSignal(ctx context.Context, cancel context.CancelFunc, b *build) func() error {
	sigs, release := r.signals()
	var stopping atomic.Bool
	stopDone := make(chan error, 1)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			select {
			case s := <-sigs:
				if stopping.CompareAndSwap(false, true) {
					r.log.Info("stopping: flushing what was read; send the signal again to abort", zap.String("signal", s.String()))
					go func() {
						err := r.stop(ctx, b, r.log)
						if err != nil {
							r.log.Error("graceful stop failed, aborting", zap.Error(err))
							cancel()
						}
						stopDone <- err
					}()
				} else {
					r.log.Warn("aborting", zap.String("signal", s.String()))
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() error {
		var err error
		waited := stopping.Load()
		if waited {
			err = <-stopDone
		}
		cancel()
		<-watchDone
		if !waited && stopping.Load() {
			<-stopDone // a signal after the end: its stop had nothing left to do
		}
		release()
		return err
	}
}

// exit logs the summary and returns the exit code of a run that ended
// with runErr.
func (r *runner) exit(prog *progress, runErr error) int {
	t := prog.finish(runErr)
	if t.bad > 0 {
		r.errorf("skipped %d bad input record(s)", t.bad)
	}
	if runErr != nil {
		r.errorf("%v", r.explainRestore(runErr))
		return ExitFailure
	}
	return ExitOK
}
