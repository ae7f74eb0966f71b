package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/internal/ops"
)

// opsRuntime is the run's metrics registry, checkpoint/raft recorder and
// ops server. Without --http-addr it has no registry: every method is then
// a no-op.
type opsRuntime struct {
	reg  *prometheus.Registry
	rec  *ops.Recorder
	srv  *ops.Server
	log  *zap.Logger
	name string
	f    *opsFlags
	b    ops.BuildInfo
	ns   ops.Option // the job's metrics namespace
	haf  *haFlags   // for the dashboard's peers (runner/ui.go)

	haStop, haDone chan struct{} // raft state poller (HA)
}

func buildInfo(job Job) ops.BuildInfo { return ops.ReadBuildInfo(job.Version, job.Commit) }

// newOps logs the version and configuration sources, and creates the
// registry and recorder (none without --http-addr).
func newOps(r *runner) *opsRuntime {
	b := buildInfo(r.job)
	fields := []zap.Field{zap.String("version", b.Version), zap.String("revision", b.Revision), zap.String("go", b.GoVersion)}
	if r.conf.file != "" {
		fields = append(fields, zap.String("config_file", r.conf.file))
	}
	for name, where := range r.conf.origin {
		fields = append(fields, zap.String("config."+name, where))
	}
	r.log.Info(r.job.Name+" starting", fields...)
	o := &opsRuntime{log: r.log, name: r.job.Name, f: &r.s.ops, b: b, ns: ops.WithNamespace(metricsNamespace(r.job)), haf: &r.s.ha}
	if o.f.httpAddr != "" {
		o.reg = ops.NewRegistry(b, o.ns)
		o.rec = ops.NewRecorder(o.reg, o.ns)
		r.log = withExceptions(r.log, o.rec) // errors logged from here on show on the dashboard
	}
	return o
}

// registerer is where the job's metrics go (nil: none).
func (o *opsRuntime) registerer() prometheus.Registerer {
	if o.reg == nil {
		return nil
	}
	return o.reg
}

func (o *opsRuntime) restored(d time.Duration) {
	if o.rec != nil {
		o.rec.Restored(d)
	}
}

// hookCoordinator makes the checkpoint coordinator report completed and
// failed checkpoints to the recorder (metrics and /api/v1/status). Call it
// once per coordinator, after creating it.
func (o *opsRuntime) hookCoordinator(c *checkpoint.Coordinator, interval time.Duration) {
	rec := o.rec
	if c == nil || rec == nil {
		return
	}
	rec.SetCheckpointInterval(interval)
	prevOK, prevFail := c.OnComplete, c.OnFailure
	c.OnComplete = func(st checkpoint.Stats) {
		rec.CheckpointDone(st.ID, st.Duration, st.Bytes, st.Path)
		if prevOK != nil {
			prevOK(st)
		}
	}
	c.OnFailure = func(id uint64, err error) {
		rec.CheckpointFailedBecause(id, err)
		if prevFail != nil {
			prevFail(id, err)
		}
	}
}

// start starts the server of a run without HA: ready once the pipeline
// runs with its state restored.
func (o *opsRuntime) start(b *build) error {
	if o.reg == nil {
		return nil
	}
	p := b.pipeline
	o.srv = ops.NewServer(ops.Config{
		Addr:       o.f.httpAddr,
		Gatherer:   o.reg,
		Registerer: o.reg,
		Status: func() ops.Status {
			return ops.Status{Job: o.name, State: p.State().String(), Parallelism: p.Config().Parallelism}
		},
		Counts:    p.RecordCounts,
		Recorder:  o.rec,
		Build:     o.b,
		Logger:    o.log,
		Savepoint: savepointFunc(func() *checkpoint.Coordinator { return b.coord }),
		Token:     o.f.token,
		TLSCert:   o.f.tlsCert,
		TLSKey:    o.f.tlsKey,
		Stages:    func() []ops.Stage { return stagesOf(p) },
	}, o.ns)
	o.srv.AddReadinessCheck("pipeline", func() error {
		if st := p.State(); st != engine.StateRunning {
			return fmt.Errorf("pipeline is %s", st)
		}
		return nil
	})
	if b.coord != nil {
		o.srv.AddReadinessCheck("checkpoints", checkpointsReady(b.coord))
	}
	return o.srv.Start()
}

// startGroup starts the server of a Kafka-group replica: ready while it
// is a member of the group (it may own no partition: a replica beyond the
// partition count idles); the status names the partitions it owns.
// Savepoints are refused: each partition checkpoints on its own.
func (o *opsRuntime) startGroup(g *groupRun) error {
	if o.reg == nil {
		return nil
	}
	o.srv = ops.NewServer(ops.Config{
		Addr:       o.f.httpAddr,
		Gatherer:   o.reg,
		Registerer: o.reg,
		Status: func() ops.Status {
			_, owned := g.counts()
			return ops.Status{Job: o.name, State: fmt.Sprintf("group member, partitions %v", owned), Parallelism: len(owned)}
		},
		Counts: func() (int64, int64) {
			t, _ := g.counts()
			return t.events, t.results
		},
		Savepoint: func(context.Context) (string, error) {
			return "", fmt.Errorf("%w: with --kafka-group every partition checkpoints on its own; there is no job-wide savepoint", ops.ErrUnavailable)
		},
		Token:    o.f.token,
		TLSCert:  o.f.tlsCert,
		TLSKey:   o.f.tlsKey,
		Recorder: o.rec,
		Build:    o.b,
		Logger:   o.log,
		Stages:   g.stages,
		Cluster:  groupCluster(g),
	}, o.ns)
	if err := o.reg.Register(newLagCollector(g, metricsNamespace(g.job))); err != nil {
		return err
	}
	o.srv.AddReadinessCheck("group", func() error {
		if g.member.Generation() < 0 {
			return errors.New("not a member of the consumer group (yet)")
		}
		return nil
	})
	return o.srv.Start()
}

// checkpointsReady fails while the last periodic checkpoint failed
// (--checkpoint-tolerable-failures lets the job go on meanwhile).
func checkpointsReady(c *checkpoint.Coordinator) func() error {
	return func() error {
		if n, err := c.ConsecutiveFailures(); n > 0 {
			return fmt.Errorf("the last %d checkpoint(s) failed: %v", n, err)
		}
		return nil
	}
}

// startHA starts the server for a replica: its role, term and leader come
// from raft, read afresh for each status request and metrics scrape (the
// recorder's OnRead hook; a poll every second also counts leader changes
// between scrapes), as does the last checkpoint: the pointer raft
// committed, which followers know too. It is ready while it is the leader
// or a follower that knows its leader, until SIGTERM.
func (o *opsRuntime) startHA(hs *haStatus, parallelism int) error {
	if o.reg == nil {
		return nil
	}
	o.rec.OnRead(func() { o.recordRaft(hs) })
	o.haDone = make(chan struct{})
	o.haStop = make(chan struct{})
	go func() {
		defer close(o.haDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			o.recordRaft(hs)
			select {
			case <-t.C:
			case <-o.haStop:
				return
			}
		}
	}()
	o.srv = ops.NewServer(ops.Config{
		Addr:       o.f.httpAddr,
		Gatherer:   o.reg,
		Registerer: o.reg,
		Status: func() ops.Status {
			state := "starting"
			if ro, ok := o.recordRaft(hs); ok {
				state = "follower"
				if ro == ops.RoleLeader {
					state = "leader"
				}
			}
			return ops.Status{Job: o.name, State: state, Parallelism: parallelism}
		},
		Counts:    hs.counts,
		Savepoint: savepointFunc(hs.coord.Load),
		Token:     o.f.token,
		TLSCert:   o.f.tlsCert,
		TLSKey:    o.f.tlsKey,
		Recorder:  o.rec,
		Build:     o.b,
		Logger:    o.log,
		Stages:    hs.stages,
		Cluster:   o.haCluster(),
	}, o.ns)
	o.srv.AddReadinessCheck("raft", func() error {
		ro, st, ok := hs.role()
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
	o.srv.AddReadinessCheck("checkpoints", func() error {
		if c := hs.coord.Load(); c != nil { // the leader's term
			return checkpointsReady(c)()
		}
		return nil
	})
	return o.srv.Start()
}

// recordRaft copies the raft state into the recorder.
func (o *opsRuntime) recordRaft(hs *haStatus) (ops.Role, bool) {
	ro, st, ok := hs.role()
	if ok {
		o.rec.SetRaft(ro, st.Term, st.Leader)
		p := st.LastCheckpoint
		o.rec.SetCommitted(p.ID, p.Path, p.Term, p.Time, p.Origin)
	}
	return ro, ok
}

// stop shuts the server down gracefully.
func (o *opsRuntime) stop() {
	if o == nil || o.srv == nil {
		return
	}
	if o.haStop != nil {
		close(o.haStop)
		<-o.haDone
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.f.shutdownTimeout)
	defer cancel()
	if err := o.srv.Shutdown(ctx); err != nil {
		o.log.Warn("ops server shutdown", zap.Error(err))
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
