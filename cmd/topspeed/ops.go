package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/ha"
	"github.com/topspeed/topspeed/internal/ops"
)

// opsFlags are the configuration-file and ops-server settings.
type opsFlags struct {
	config          string
	httpAddr        string
	shutdownTimeout time.Duration

	// Set by newOps: where the job registers its metrics and the recorder
	// of checkpoints and raft state (both nil: no metrics).
	metrics  prometheus.Registerer
	recorder *ops.Recorder
}

func (f *opsFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "read settings from this YAML file (keys are flag names, e.g. cassandra-hosts: [a, b]); flags and environment variables override it")
	fs.StringVar(&f.httpAddr, "http-addr", ops.DefaultAddr, "serve /metrics, /livez, /readyz and /api/v1/status on this address; empty disables the ops server and metrics")
	fs.DurationVar(&f.shutdownTimeout, "http-shutdown-timeout", 5*time.Second, "how long the ops server waits for requests in progress when the job ends")
}

func (f *opsFlags) validate() error {
	if f.httpAddr != "" {
		if _, port, err := net.SplitHostPort(f.httpAddr); err != nil || port == "" {
			return fmt.Errorf("--http-addr %q: must be host:port or :port (e.g. %s), or empty to disable", f.httpAddr, ops.DefaultAddr)
		}
	}
	if f.shutdownTimeout <= 0 {
		return fmt.Errorf("--http-shutdown-timeout %v: must be positive", f.shutdownTimeout)
	}
	return nil
}

// opsRuntime is the command's registry, checkpoint/raft recorder and ops
// server.
type opsRuntime struct {
	reg *prometheus.Registry
	rec *ops.Recorder
	srv *ops.Server
	log *zap.Logger
	o   *opsFlags

	haStop, haDone chan struct{} // raft state poller (HA)
}

// newOps logs the version and configuration sources, and creates the
// registry and recorder (none without --http-addr), pointing
// o.ops.metrics at the registry for buildJob.
func newOps(o *options, conf *settings, log *zap.Logger) *opsRuntime {
	b := buildInfo()
	fields := []zap.Field{zap.String("version", b.Version), zap.String("revision", b.Revision), zap.String("go", b.GoVersion)}
	if conf != nil {
		if conf.file != "" {
			fields = append(fields, zap.String("config_file", conf.file))
		}
		for name, where := range conf.origin {
			fields = append(fields, zap.String("config."+name, where))
		}
	}
	log.Info("topspeed starting", fields...)
	r := &opsRuntime{log: log, o: &o.ops}
	if o.ops.httpAddr == "" {
		return r
	}
	r.reg = ops.NewRegistry(b)
	r.rec = ops.NewRecorder(r.reg)
	o.ops.metrics, o.ops.recorder = r.reg, r.rec
	return r
}

// registerCollector registers c (the Cassandra sink) on the job's
// registry, replacing a collector of an earlier build of the job (HA
// builds the job once per term of leadership).
func (f *opsFlags) registerCollector(c prometheus.Collector) error {
	if f.metrics == nil {
		return nil
	}
	err := f.metrics.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		f.metrics.Unregister(are.ExistingCollector)
		err = f.metrics.Register(c)
	}
	return err
}

// hookCoordinator makes the checkpoint coordinator report completed and
// failed checkpoints to the recorder (metrics and /api/v1/status). Call it
// once per coordinator, after creating it.
func (f *opsFlags) hookCoordinator(c *checkpoint.Coordinator, interval time.Duration) {
	rec := f.recorder
	if c == nil || rec == nil {
		return
	}
	rec.SetCheckpointInterval(interval)
	prevOK, prevFail := c.OnComplete, c.OnFailure
	c.OnComplete = func(st checkpoint.Stats) {
		rec.CheckpointCompleted(st.ID, st.Duration, st.Bytes)
		if prevOK != nil {
			prevOK(st)
		}
	}
	c.OnFailure = func(err error) {
		rec.CheckpointFailed()
		if prevFail != nil {
			prevFail(err)
		}
	}
}

// Skipped passes the wrapped source's bad-record count through to the
// engine (engine.SkipCounter), for topspeed_bad_records_total.
func (f *firstRecord[T]) Skipped() int64 {
	if sc, ok := f.Source.(engine.SkipCounter); ok {
		return sc.Skipped()
	}
	return 0
}

// start hooks the checkpoint coordinator to the recorder and starts the
// server: ready once the pipeline runs with its state restored.
func (r *opsRuntime) start(j *job, o *options) error {
	if r.reg == nil {
		return nil
	}
	o.ops.hookCoordinator(j.coord, o.ckpt.interval)
	p := j.pipeline
	r.srv = ops.NewServer(ops.Config{
		Addr:       o.ops.httpAddr,
		Gatherer:   r.reg,
		Registerer: r.reg,
		Status: func() ops.Status {
			return ops.Status{Job: "topspeed", State: p.State().String(), Parallelism: p.Config().Parallelism}
		},
		Counts:    p.RecordCounts,
		Recorder:  r.rec,
		Build:     buildInfo(),
		Logger:    r.log,
		Savepoint: savepointFunc(func() *checkpoint.Coordinator { return j.coord }),
	})
	r.srv.AddReadinessCheck("pipeline", func() error {
		if st := p.State(); st != engine.StateRunning {
			return fmt.Errorf("pipeline is %s", st)
		}
		return nil
	})
	return r.srv.Start()
}

// startHA starts the server for a replica: its role, term and leader come
// from raft (polled every second into the recorder, and read afresh for
// each status request), as does the last checkpoint: the pointer raft
// committed, which followers know too. It is ready while it is the leader
// or a follower that knows its leader, until SIGTERM.
func (r *opsRuntime) startHA(o *options, hs *haStatus) error {
	if r.reg == nil {
		return nil
	}
	role := func() (ops.Role, ha.Status, bool) {
		st, ok := hs.get()
		switch st.Role {
		case "leader":
			return ops.RoleLeader, st, ok
		case "candidate":
			return ops.RoleCandidate, st, ok
		}
		return ops.RoleFollower, st, ok
	}
	// record copies the raft state into the recorder.
	record := func() (ops.Role, bool) {
		ro, st, ok := role()
		if ok {
			r.rec.SetRaft(ro, st.Term, st.Leader)
			p := st.LastCheckpoint
			r.rec.SetCommitted(p.ID, p.Path, p.Term, p.Time)
		}
		return ro, ok
	}
	r.haDone = make(chan struct{})
	r.haStop = make(chan struct{})
	go func() {
		defer close(r.haDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			record()
			select {
			case <-t.C:
			case <-r.haStop:
				return
			}
		}
	}()
	r.srv = ops.NewServer(ops.Config{
		Addr:       o.ops.httpAddr,
		Gatherer:   r.reg,
		Registerer: r.reg,
		Status: func() ops.Status {
			state := "starting"
			if ro, ok := record(); ok {
				state = "follower"
				if ro == ops.RoleLeader {
					state = "leader"
				}
			}
			return ops.Status{Job: "topspeed", State: state, Parallelism: o.parallelism}
		},
		Counts:    hs.counts,
		Savepoint: savepointFunc(hs.coord.Load),
		Recorder:  r.rec,
		Build:     buildInfo(),
		Logger:    r.log,
	})
	r.srv.AddReadinessCheck("raft", func() error {
		ro, st, ok := role()
		switch {
		case !ok:
			return errors.New("raft not started")
		case hs.stopping.Load():
			return errors.New("stopping")
		case ro != ops.RoleLeader && st.Leader == "":
			return fmt.Errorf("%s without a known leader", ro)
		}
		return nil
	})
	return r.srv.Start()
}

// stop shuts the server down gracefully.
func (r *opsRuntime) stop() {
	if r == nil || r.srv == nil {
		return
	}
	if r.haStop != nil {
		close(r.haStop)
		<-r.haDone
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.o.shutdownTimeout)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		r.log.Warn("ops server shutdown", zap.Error(err))
	}
}

// savepointFunc serves POST /api/v1/savepoints with the coordinator that
// current returns (nil: no checkpointing here, or not the leader).
func savepointFunc(current func() *checkpoint.Coordinator) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		c := current()
		if c == nil {
			return "", fmt.Errorf("%w: no running job with checkpoints here (not the leader, or no --checkpoint-dir)", ops.ErrUnavailable)
		}
		info, err := c.Savepoint(ctx)
		return info.Path, err
	}
}
