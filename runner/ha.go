package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/ha"
	"github.com/topspeed/topspeed/internal/ops"
)

// config builds the ha.Config; hostname is the pod name by default.
func (h *haFlags) config(log *zap.Logger) (ha.Config, error) {
	c := ha.DefaultConfig()
	c.ID, c.Bind, c.Advertise, c.Dir = h.id, h.bind, h.advertise, h.dir
	c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = h.heartbeat, h.election, h.lease
	c.Logger = log
	c.AllowInsecure = h.allowInsecure
	if h.tlsCA != "" || h.tlsCert != "" || h.tlsKey != "" {
		c.TLS = &ha.TLSFiles{CA: h.tlsCA, Cert: h.tlsCert, Key: h.tlsKey}
	}
	if c.ID == "" {
		host, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("--ha-id: %w", err)
		}
		c.ID = host
	}
	if h.peers != "" {
		ps, err := ha.ParsePeers(h.peers)
		if err != nil {
			return c, fmt.Errorf("--ha-peers: %w", err)
		}
		c.Peers = ps
	} else {
		i := strings.LastIndex(c.ID, "-")
		if i <= 0 {
			return c, fmt.Errorf("--ha-replicas needs a StatefulSet pod name like topspeed-0, got %q", c.ID)
		}
		_, port, _ := strings.Cut(c.Bind, ":")
		var p int
		fmt.Sscanf(port, "%d", &p)
		c.Peers = ha.StatefulSetPeers(c.ID[:i], h.service, h.replicas, p)
		if c.Advertise == "" {
			c.Advertise = fmt.Sprintf("%s.%s:%d", c.ID, h.service, p)
		}
	}
	return c, c.Validate()
}

// haStatus lets the HTTP endpoints see the replica's raft state.
type haStatus struct {
	node     atomic.Pointer[ha.Node]
	coord    atomic.Pointer[checkpoint.Coordinator] // the running term's, nil on followers
	stopping atomic.Bool                            // SIGTERM received: not ready any more

	mu              sync.Mutex
	pipe            *engine.Pipeline // the running term's, nil on followers
	baseIn, baseOut int64            // records read and written in earlier terms
}

// setTerm makes the endpoints see the job of the term t (nil: none runs).
func (s *haStatus) setTerm(t *leaderTerm) {
	var coord *checkpoint.Coordinator
	var pipe *engine.Pipeline
	if t != nil {
		coord, pipe = t.b.coord, t.b.pipeline
	}
	s.coord.Store(coord)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pipe != nil {
		in, out := s.pipe.RecordCounts()
		s.baseIn, s.baseOut = s.baseIn+in, s.baseOut+out
	}
	s.pipe = pipe
}

// counts returns the records read and written by this replica's jobs, over
// all its terms of leadership (so the status rates never go negative).
func (s *haStatus) counts() (in, out int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, out = s.baseIn, s.baseOut
	if s.pipe != nil {
		i, o := s.pipe.RecordCounts()
		in, out = in+i, out+o
	}
	return in, out
}

// role returns the replica's raft role and status, or false before raft
// started.
func (s *haStatus) role() (ops.Role, ha.Status, bool) {
	n := s.node.Load()
	if n == nil {
		return ops.RoleFollower, ha.Status{}, false
	}
	st := n.Status()
	switch st.Role {
	case "leader":
		return ops.RoleLeader, st, true
	case "candidate":
		return ops.RoleCandidate, st, true
	}
	return ops.RoleFollower, st, true
}

// leaderTerm is the job run during one term of leadership.
type leaderTerm struct {
	term   uint64
	b      *build
	cancel context.CancelFunc
	done   chan error // the run's result: nil = input exhausted or stopped
	// committed is set once the term committed a checkpoint (it made
	// progress: the next failure starts the backoff over).
	committed atomic.Bool
}

// runHA runs the job as one replica: it joins the raft cluster and runs
// the job only while it is the leader. It returns the exit code.
func (r *runner) runHA(ctx context.Context) int {
	cfg, err := r.s.ha.config(r.log)
	if err == nil && !r.s.ckpt.enabled() {
		err = errors.New("HA needs --checkpoint-dir on the shared volume")
	}
	if err != nil {
		r.errorf("%v", err)
		return ExitUsage
	}
	// Followers stay warm: the job's configuration is checked now.
	b, err := r.newBuild(r.log)
	if err != nil {
		r.errorf("%v", err)
		return ExitUsage
	}
	hs := &haStatus{}
	if err := r.ops.startHA(hs, b.pipeline.Config().Parallelism); err != nil {
		r.errorf("%v", err)
		return ExitFailure
	}
	defer r.ops.stop()
	prog := newProgress(r.log, r.s.progress)
	prog.run()
	code := r.runReplica(ctx, cfg, hs, prog)
	var runErr error
	if code != ExitOK {
		runErr = fmt.Errorf("exit status %d", code)
	}
	prog.finish(runErr)
	return code
}

// replica is runReplica's state: the raft node and the term running now.
type replica struct {
	*runner
	ctx        context.Context
	node       *ha.Node
	cfg        ha.Config
	hs         *haStatus
	prog       *progress
	log        *zap.Logger
	cur        *leaderTerm // nil on a follower
	fatal      error       // set when the replica must exit (ExitUsage)
	finishedAt time.Time   // when this leader saw the job finished

	// After a failed term (the job could not start or failed), the replica
	// stays leader idle until notBefore, then hands leadership over; it
	// does not try again before notBefore either (see failed). The delay
	// doubles from 1 s to 30 s and starts over after a term that committed
	// a checkpoint.
	bo        *backoff.ExponentialBackOff
	notBefore time.Time
	retry     *time.Timer // fires at notBefore while this replica leads idle
	handover  bool        // at retry: hand over (else: try to start)
}

// runReplica is runHA's body: it reports each term's job to prog.
func (r *runner) runReplica(ctx context.Context, cfg ha.Config, hs *haStatus, prog *progress) int {
	node, err := ha.Start(ctx, cfg)
	if err != nil {
		r.errorf("%v", err)
		return ExitFailure
	}
	hs.node.Store(node)
	node.LogApplied() // debug "raft entry applied" lines: the order this replica's FSM applied
	log := r.log.With(zap.String("replica", cfg.ID))
	log.Info("replica started", zap.String("bind", cfg.Bind), zap.Int("peers", len(cfg.Peers)))
	defer func() {
		if err := node.Shutdown(); err != nil {
			log.Warn("raft shutdown", zap.Error(err))
		}
	}()
	sigs, release := r.signals()
	defer release()
	finished := time.NewTicker(100 * time.Millisecond)
	defer finished.Stop()

	x := &replica{runner: r, ctx: ctx, node: node, cfg: cfg, hs: hs, prog: prog, log: log, bo: newTermBackoff()}
	defer x.stopTerm("the run was cancelled")
	defer x.disarm()
	for {
		if x.fatal != nil {
			x.errorf("%v", x.fatal)
			return ExitUsage
		}
		var curDone chan error
		if x.cur != nil {
			curDone = x.cur.done
		}
		var retry <-chan time.Time
		if x.retry != nil {
			retry = x.retry.C
		}
		select {
		case leader := <-node.LeaderCh():
			x.leadership(leader)
		case <-retry:
			x.retry = nil
			x.retryDue()
		case err := <-curDone:
			x.termEnded(err)
		case <-finished.C:
			if x.finished() {
				log.Info("the job has finished: exiting")
				return ExitOK
			}
		case s := <-sigs:
			return x.leave(s, sigs)
		case <-ctx.Done():
			return ExitFailure
		}
	}
}

// leadership starts the job on gaining leadership and stops it at once on
// losing it.
func (x *replica) leadership(leader bool) {
	switch {
	case leader && x.cur == nil:
		if wait := time.Until(x.notBefore); wait > 0 {
			x.arm(wait) // try again then, if still leading
			return
		}
		t, err := x.startTerm()
		if errors.Is(err, errSavepointRefused) {
			x.fatal = err
			return
		}
		if err != nil {
			x.failed("cannot run the job as leader", false, err)
			return
		}
		x.cur = t // nil if the job already finished
		if t != nil {
			x.hs.setTerm(t)
		}
	case !leader:
		x.disarm()
		x.stopTerm("lost leadership")
	}
}

// newTermBackoff is the delay between a replica's attempts to run the job:
// 1 s doubling to 30 s.
func newTermBackoff() *backoff.ExponentialBackOff {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.Multiplier, bo.MaxInterval = time.Second, 2, 30*time.Second
	bo.RandomizationFactor = 0.2
	return bo
}

// failed handles a term that could not start or whose job failed: one
// error line; the replica stays leader, idle, for the backoff delay, then
// hands leadership over (retryDue), and it does not try again itself
// before that delay either. The leader's heartbeats keep the followers
// from calling elections meanwhile, so a job that cannot run on any
// replica moves the raft term about once per backoff period instead of in
// a storm.
func (x *replica) failed(what string, progressed bool, err error) {
	if progressed {
		x.bo.Reset()
	}
	d := x.bo.NextBackOff()
	x.notBefore = time.Now().Add(d)
	x.log.Error(what+"; handing leadership over after a backoff", zap.Error(err), zap.Duration("backoff", d))
	x.arm(d)
	x.handover = true
}

// retryDue runs when the backoff delay ended while this replica leads
// idle: it hands leadership over after a failure, or starts the job (also
// when no other replica could take leadership).
func (x *replica) retryDue() {
	if !x.node.IsLeader() || x.cur != nil {
		return
	}
	if x.handover {
		x.handover = false
		if err := x.node.TransferLeadership(); err == nil || !x.node.IsLeader() {
			return
		}
	}
	x.leadership(true)
}

func (x *replica) arm(d time.Duration) {
	x.disarm()
	x.retry = time.NewTimer(d)
}

func (x *replica) disarm() {
	x.handover = false
	if x.retry != nil {
		x.retry.Stop()
		x.retry = nil
	}
}

// stopTerm cancels the running term's job, if any, and waits for it.
func (x *replica) stopTerm(why string) {
	if x.cur == nil {
		return
	}
	x.log.Warn("stopping the job at once", zap.String("reason", why), zap.Uint64("term", x.cur.term))
	x.hs.setTerm(nil)
	x.cur.cancel()
	<-x.cur.done
	x.cur = nil
}

// termEnded handles the end of the term's job: a failure hands leadership
// over; the end of the input is committed as finished.
func (x *replica) termEnded(err error) {
	term, progressed := x.cur.term, x.cur.committed.Load()
	x.cur = nil
	x.hs.setTerm(nil)
	if err != nil {
		x.failed("job failed", progressed, x.explainRestore(err))
		return
	}
	ctx, cancel := context.WithTimeout(x.ctx, 5*time.Second)
	defer cancel()
	if err := x.node.MarkFinished(ctx, term); err != nil {
		x.log.Warn("recording that the job finished", zap.Error(err))
	}
}

// finished reports whether the replica may exit because the job finished.
// The leader lingers a few heartbeats so that the followers learn the
// entry is committed and apply it; leaving at once could strand them
// without a quorum to commit it themselves.
func (x *replica) finished() bool {
	ptr := x.node.Pointer()
	if x.cur != nil || !ptr.Finished {
		return false
	}
	if err := x.finishedRefusal(ptr); err != nil {
		x.fatal = err // exit 2, not 0: the savepoint was not run
		return false
	}
	if x.node.IsLeader() {
		if x.finishedAt.IsZero() {
			x.finishedAt = time.Now()
		}
		if time.Since(x.finishedAt) < 3*x.cfg.HeartbeatTimeout {
			return false
		}
	}
	return true
}

// leave handles a stop signal: a follower leaves (see leaveAsFollower);
// the leader announces the stop, takes the final checkpoint and hands
// leadership over.
func (x *replica) leave(s os.Signal, sigs <-chan os.Signal) int {
	x.hs.stopping.Store(true)
	if x.cur == nil {
		leaveAsFollower(x.node, x.cfg, x.s.ckpt.stopTimeout, sigs, x.log.With(zap.String("signal", s.String())))
		return ExitOK
	}
	x.log.Info("leader handing over", zap.String("signal", s.String()))
	// Tell the followers first: if they are being stopped too, they keep
	// their votes until the final checkpoint is committed.
	actx, acancel := context.WithTimeout(x.ctx, 2*time.Second)
	if err := x.node.AnnounceStop(actx, x.cur.term); err != nil {
		x.log.Warn("announcing the stop to the followers", zap.Error(err))
	}
	acancel()
	err := x.stop(x.ctx, x.cur.b, x.log)
	if err != nil {
		x.log.Error("final checkpoint failed", zap.Error(err))
		x.cur.cancel()
	}
	<-x.cur.done
	x.cur = nil
	x.hs.setTerm(nil)
	if terr := x.node.TransferLeadership(); terr != nil {
		x.log.Warn("leadership transfer", zap.Error(terr))
	}
	if err != nil {
		return ExitFailure
	}
	return ExitOK
}

// leaveAsFollower is a replica without a running job (a follower) told to
// stop. If the leader is stopping too (the whole cluster is: a scale to
// zero, make ha-local-down), leaving at once would take away the quorum the
// leader's final checkpoint needs, and the restart would replay from the
// checkpoint before. So the replica keeps serving raft, ready to vote,
// until that leader has handed over or left, at most --stop-timeout (a
// second signal cuts it short); if the leader does not announce a stop
// within ha.Config.StayGrace, it is not stopping and this replica leaves.
func leaveAsFollower(node *ha.Node, cfg ha.Config, bound time.Duration, sigs <-chan os.Signal, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	go func() {
		defer close(done)
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	why := node.StayForStoppingLeader(ctx, min(cfg.StayGrace(), bound))
	p := node.Pointer()
	log.Info("follower leaving", zap.String("reason", why), zap.Duration("waited", time.Since(start)),
		zap.Uint64("applied_checkpoint", p.ID), zap.Uint64("checkpoint_term", p.Term))
}

// startTerm restores the job from the committed pointer and runs it while
// this replica leads. It returns nil if the job already finished.
func (x *replica) startTerm() (*leaderTerm, error) {
	if err := x.node.Barrier(10 * time.Second); err != nil {
		return nil, err
	}
	term := x.node.Term()
	ptr := x.node.Pointer()
	log := x.log.With(zap.Uint64("term", term))
	ptr, err := x.savepointPolicy(ptr, term, log)
	if err != nil {
		return nil, err
	}
	if ptr.Finished {
		log.Info("leader: the job already finished")
		return nil, nil
	}
	b, err := x.newBuild(log)
	if err != nil {
		return nil, err
	}
	if b.coord, err = x.newCoordinator(b.pipeline, log, term); err != nil {
		return nil, err
	}
	if err := x.restoreCommitted(b, ptr, term, log); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(x.ctx)
	t := &leaderTerm{term: term, b: b, cancel: cancel, done: make(chan error, 1)}
	b.coord.Commit = func(ctx context.Context, info checkpoint.Info) error {
		log.Debug("committing checkpoint", zap.Uint64("checkpoint", info.Manifest.ID))
		err := x.node.CommitCheckpoint(ctx, info.Manifest.ID, info.Path, term)
		if err == nil {
			t.committed.Store(true)
			log.Info("checkpoint committed", zap.Uint64("checkpoint", info.Manifest.ID))
		}
		return err
	}
	x.prog.attach(b)
	go func() {
		err := execute(ctx, b)
		if ctx.Err() != nil && err != nil {
			err = nil // stopped because leadership ended: not a job failure
		}
		t.done <- err
	}()
	return t, nil
}

// restoreCommitted restores b from the checkpoint whose pointer raft
// committed, if any: never from a checkpoint a deposed leader wrote. If
// that checkpoint cannot be used (corrupt, missing, outside
// --checkpoint-dir, not the one the pointer names), it falls back to the
// newest older valid one and commits that choice (see fallBack). A valid
// checkpoint of another configuration (ErrIncompatible) is an error, not a
// reason to fall back.
func (x *replica) restoreCommitted(b *build, ptr ha.Pointer, term uint64, log *zap.Logger) error {
	b.coord.Initial = ptr.ID == 0 && ptr.Origin == ""
	if ptr.ID == 0 && ptr.Origin != "" {
		return x.restoreOrigin(b, ptr.Origin, log)
	}
	if ptr.ID == 0 {
		log.Info("leader: no committed checkpoint, starting from the beginning")
		return nil
	}
	loadStart := time.Now()
	snap, err := loadCommitted(b, ptr)
	if errors.Is(err, checkpoint.ErrIncompatible) {
		return err // the job's configuration changed: the operator decides
	}
	if err != nil {
		if snap, err = x.fallBack(b, ptr, term, err, log); err != nil {
			return err
		}
	} else {
		log.Info("leader: restoring from the committed checkpoint", zap.Uint64("checkpoint", ptr.ID), zap.Uint64("checkpoint_term", ptr.Term), zap.String("path", ptr.Path))
	}
	x.restore(b, snap, loadStart)
	return nil
}

// loadCommitted loads and checks the checkpoint the pointer names.
func loadCommitted(b *build, ptr ha.Pointer) (*engine.Snapshot, error) {
	if err := insideDir(b.coord.Store.Dir(), ptr.Path); err != nil {
		return nil, err
	}
	snap, info, err := checkpoint.Load(ptr.Path)
	if err != nil {
		return nil, err
	}
	if info.Manifest.ID != ptr.ID || info.Manifest.Term != ptr.Term {
		return nil, fmt.Errorf("the manifest at %s is checkpoint %d of term %d, not the committed %d of term %d", ptr.Path, info.Manifest.ID, info.Manifest.Term, ptr.ID, ptr.Term)
	}
	if err := checkpoint.Compatible(info.Manifest, b.coord.Meta.Fingerprint); err != nil {
		return nil, err
	}
	return snap, nil
}

// fallBack replaces the unusable committed checkpoint by the newest valid
// one older than it (lower id, not a later term) with the job's
// fingerprint, and commits the move through raft, so every replica
// restores from it from now on. Without one the job cannot restore: an
// error.
func (x *replica) fallBack(b *build, ptr ha.Pointer, term uint64, why error, log *zap.Logger) (*engine.Snapshot, error) {
	snap, info, err := b.coord.Store.Latest(b.coord.Meta.Fingerprint, func(m checkpoint.Manifest) bool {
		return m.ID < ptr.ID && m.Term <= ptr.Term
	})
	if err != nil {
		return nil, fmt.Errorf("committed checkpoint %d (%s) is unusable: %v; no older valid checkpoint to fall back to: %w", ptr.ID, ptr.Path, why, err)
	}
	log.Error("leader: the committed checkpoint is unusable; falling back to the newest older valid one",
		zap.Uint64("committed", ptr.ID), zap.String("committed_path", ptr.Path), zap.NamedError("reason", why),
		zap.Uint64("checkpoint", info.Manifest.ID), zap.Uint64("checkpoint_term", info.Manifest.Term), zap.String("path", info.Path))
	ctx, cancel := context.WithTimeout(x.ctx, 10*time.Second)
	defer cancel()
	if err := x.node.FallBack(ctx, info.Manifest.ID, info.Path, info.Manifest.Term, term); err != nil {
		return nil, fmt.Errorf("committing the fallback from checkpoint %d to %d: %w", ptr.ID, info.Manifest.ID, err)
	}
	return snap, nil
}

// insideDir checks that path, cleaned, lies inside dir (as given or with
// its symlinks resolved): a committed pointer must name a checkpoint of
// --checkpoint-dir, nothing else on the file system.
func insideDir(dir, path string) error {
	p, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("committed checkpoint path %q: %w", path, err)
	}
	d, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("checkpoint directory %q: %w", dir, err)
	}
	dirs := []string{d}
	if r, err := filepath.EvalSymlinks(d); err == nil && r != d {
		dirs = append(dirs, r)
	}
	for _, d := range dirs {
		rel, err := filepath.Rel(d, p)
		if err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil
		}
	}
	return fmt.Errorf("committed checkpoint path %q is outside --checkpoint-dir %s", path, dir)
}
