package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/ha"
)

// defaultRaftPort is the raft port of --ha-bind. Not 7000: that is
// Cassandra's storage port (7001 its TLS one, 7199 JMX), and a replica
// running next to a Cassandra node, as on a developer's machine, could not
// bind it. 7110 is unassigned in IANA's registry and clear of what runs
// beside topspeed: Cassandra (7000, 7001, 7199, 9042), Kafka (9092, 9093),
// ZooKeeper (2181, 2888, 3888), Flink (6121-6125, 8081, metrics 9249-9260),
// Spark (7077-7079), the X font server (7100), etcd, Consul, Nomad and
// Vault's raft ports (2380, 8300, 4647, 8201). make ha-local uses
// 7111-7113.
const defaultRaftPort = "7110"

// haFlags are the --ha-* settings. HA is on when --ha-peers or
// --ha-replicas is given.
type haFlags struct {
	id, bind, advertise, peers, dir, service string
	replicas                                 int
	heartbeat, election, lease               time.Duration
}

func (h *haFlags) register(fs *pflag.FlagSet) {
	d := ha.DefaultConfig()
	fs.StringVar(&h.id, "ha-id", "", "this replica's stable raft server id (default: the host name, i.e. the pod name)")
	fs.StringVar(&h.bind, "ha-bind", "0.0.0.0:"+defaultRaftPort, "address the raft transport listens on")
	fs.StringVar(&h.advertise, "ha-advertise", "", "address other replicas reach this one at (default: --ha-bind, or <pod>.<service>:<port> with --ha-replicas)")
	fs.StringVar(&h.peers, "ha-peers", "", "all replicas as id=host:port,... (this one included); enables HA")
	fs.IntVar(&h.replicas, "ha-replicas", 0, "derive the peers from a StatefulSet: <name>-0..<name>-(N-1) at <pod>.<--ha-service>:<port>; enables HA")
	fs.StringVar(&h.service, "ha-service", "topspeed-raft", "headless service of the StatefulSet, for --ha-replicas")
	fs.StringVar(&h.dir, "ha-dir", "", "this replica's own raft directory (not the shared volume)")
	fs.DurationVar(&h.heartbeat, "ha-heartbeat-timeout", d.HeartbeatTimeout, "raft heartbeat timeout: a follower calls an election after this long without the leader")
	fs.DurationVar(&h.election, "ha-election-timeout", d.ElectionTimeout, "raft election timeout")
	fs.DurationVar(&h.lease, "ha-lease-timeout", d.LeaderLeaseTimeout, "raft leader lease: a leader without a quorum for this long steps down")
}

func (h *haFlags) enabled() bool { return h.peers != "" || h.replicas > 0 }

// config builds the ha.Config; hostname is the pod name by default.
func (h *haFlags) config(log *zap.Logger) (ha.Config, error) {
	c := ha.DefaultConfig()
	c.ID, c.Bind, c.Advertise, c.Dir = h.id, h.bind, h.advertise, h.dir
	c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = h.heartbeat, h.election, h.lease
	c.Logger = log
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

func (s *haStatus) set(n *ha.Node) { s.node.Store(n) }

// setTerm makes the endpoints see the job of the term t (nil: none runs).
func (s *haStatus) setTerm(t *leaderTerm) {
	var coord *checkpoint.Coordinator
	var pipe *engine.Pipeline
	if t != nil {
		coord, pipe = t.job.coord, t.job.pipeline
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

// get returns the raft status, or false in standalone mode.
func (s *haStatus) get() (ha.Status, bool) {
	n := s.node.Load()
	if n == nil {
		return ha.Status{}, false
	}
	return n.Status(), true
}

// leaderTerm is the job run during one term of leadership.
type leaderTerm struct {
	term   uint64
	job    *job
	cancel context.CancelFunc
	done   chan error // Run's result: nil = input exhausted or stopped
}

// runHA runs topspeed as one replica: it joins the raft cluster and runs
// the job only while it is the leader. It returns the exit code.
func runHA(o *options, stdout *os.File, stderr *os.File, log *zap.Logger, env func(string) (string, bool), status *haStatus) int {
	prog := newProgress(log, o.progress)
	prog.run()
	code := runReplica(o, stdout, stderr, log, env, status, prog)
	var err error
	if code != exitOK {
		err = fmt.Errorf("exit status %d", code)
	}
	prog.finish(nil, err)
	return code
}

// runReplica is runHA's body: it reports each term's job to prog.
func runReplica(o *options, stdout *os.File, stderr *os.File, log *zap.Logger, env func(string) (string, bool), status *haStatus, prog *progress) int {
	cfg, err := o.ha.config(log)
	if err == nil && !o.ckpt.enabled() {
		err = errors.New("HA needs --checkpoint-dir on the shared volume")
	}
	if err != nil {
		fmt.Fprintf(stderr, "topspeed: %v\n", err)
		return exitUsage
	}
	// Followers stay warm: the job's configuration is validated now.
	if _, err := buildJob(o, stdout, log, env); err != nil {
		fmt.Fprintf(stderr, "topspeed: %v\n", err)
		return exitUsage
	}
	node, err := ha.Start(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(stderr, "topspeed: %v\n", err)
		return exitFailure
	}
	status.set(node)
	log = log.With(zap.String("replica", cfg.ID))
	log.Info("replica started", zap.String("bind", cfg.Bind), zap.Int("peers", len(cfg.Peers)))
	defer func() {
		if err := node.Shutdown(); err != nil {
			log.Warn("raft shutdown", zap.Error(err))
		}
	}()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	finished := time.NewTicker(100 * time.Millisecond)
	defer finished.Stop()

	var cur *leaderTerm
	var finishedAt time.Time // when this leader saw the job finished
	stopTerm := func(why string) {
		if cur == nil {
			return
		}
		log.Warn("stopping the job at once", zap.String("reason", why), zap.Uint64("term", cur.term))
		status.setTerm(nil)
		cur.cancel()
		<-cur.done
		cur = nil
	}
	for {
		var curDone chan error
		if cur != nil {
			curDone = cur.done
		}
		select {
		case leader := <-node.LeaderCh():
			if leader && cur == nil {
				t, err := startTerm(o, stdout, log, env, node, prog)
				if err != nil {
					log.Error("cannot run the job as leader; handing leadership over", zap.Error(err))
					_ = node.TransferLeadership()
					continue
				}
				cur = t // nil if the job already finished
				if t != nil {
					status.setTerm(t)
				}
			} else if !leader {
				stopTerm("lost leadership")
			}
		case err := <-curDone:
			term := cur.term
			cur = nil
			status.setTerm(nil)
			if err != nil {
				log.Error("job failed; handing leadership over", zap.Error(err))
				_ = node.TransferLeadership()
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := node.MarkFinished(ctx, term); err != nil {
				log.Warn("recording that the job finished", zap.Error(err))
			}
			cancel()
		case <-finished.C:
			if cur != nil || !node.Pointer().Finished {
				continue
			}
			// The leader lingers a few heartbeats so that the followers learn
			// the entry is committed and apply it; leaving at once could
			// strand them without a quorum to commit it themselves.
			if node.IsLeader() {
				if finishedAt.IsZero() {
					finishedAt = time.Now()
				}
				if time.Since(finishedAt) < 3*cfg.HeartbeatTimeout {
					continue
				}
			}
			log.Info("the job has finished: exiting")
			return exitOK
		case s := <-sigs:
			status.stopping.Store(true)
			if cur == nil {
				leaveAsFollower(node, cfg, o.ckpt.stopTimeout, sigs, log.With(zap.String("signal", s.String())))
				return exitOK
			}
			log.Info("leader handing over", zap.String("signal", s.String()))
			// Tell the followers first: if they are being stopped too, they
			// keep their votes until the final checkpoint is committed.
			actx, acancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := node.AnnounceStop(actx, cur.term); err != nil {
				log.Warn("announcing the stop to the followers", zap.Error(err))
			}
			acancel()
			err := cur.job.stop(context.Background(), o.ckpt.stopTimeout, log)
			if err != nil {
				log.Error("final checkpoint failed", zap.Error(err))
				cur.cancel()
			}
			<-cur.done
			cur = nil
			status.setTerm(nil)
			if terr := node.TransferLeadership(); terr != nil {
				log.Warn("leadership transfer", zap.Error(terr))
			}
			if err != nil {
				return exitFailure
			}
			return exitOK
		}
	}
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
	go func() {
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
// this replica leads.
func startTerm(o *options, stdout *os.File, log *zap.Logger, env func(string) (string, bool), node *ha.Node, prog *progress) (*leaderTerm, error) {
	if err := node.Barrier(10 * time.Second); err != nil {
		return nil, err
	}
	term := node.Term()
	ptr := node.Pointer()
	log = log.With(zap.Uint64("term", term))
	if ptr.Finished {
		log.Info("leader: the job already finished")
		return nil, nil
	}
	j, err := buildJob(o, stdout, log, env)
	if err != nil {
		return nil, err
	}
	coord, err := newCoordinator(j, o, log, env, term)
	if err != nil {
		return nil, err
	}
	if ptr.ID > 0 {
		loadStart := time.Now()
		snap, info, err := checkpoint.Load(ptr.Path)
		if err != nil {
			return nil, fmt.Errorf("committed checkpoint %d: %w", ptr.ID, err)
		}
		if info.Manifest.ID != ptr.ID || info.Manifest.Term != ptr.Term {
			return nil, fmt.Errorf("committed pointer %+v does not match the manifest at its path (id %d, term %d)", ptr, info.Manifest.ID, info.Manifest.Term)
		}
		if err := checkpoint.Compatible(info.Manifest, coord.Meta.Fingerprint); err != nil {
			return nil, err
		}
		restore(j, o, snap, loadStart)
		log.Info("leader: restoring from the committed checkpoint", zap.Uint64("checkpoint", ptr.ID), zap.Uint64("checkpoint_term", ptr.Term), zap.String("path", ptr.Path))
	} else {
		log.Info("leader: no committed checkpoint, starting from the beginning")
	}
	coord.Initial = ptr.ID == 0
	coord.Commit = func(ctx context.Context, info checkpoint.Info) error {
		log.Debug("committing checkpoint", zap.Uint64("checkpoint", info.Manifest.ID))
		err := node.CommitCheckpoint(ctx, info.Manifest.ID, info.Path, term)
		if err == nil {
			log.Info("checkpoint committed", zap.Uint64("checkpoint", info.Manifest.ID))
		}
		return err
	}
	j.coord = coord
	o.ops.hookCoordinator(j.coord, o.ckpt.interval)
	ctx, cancel := context.WithCancel(context.Background())
	t := &leaderTerm{term: term, job: j, cancel: cancel, done: make(chan error, 1)}
	prog.attach(j)
	go func() { _ = j.coord.Run(ctx) }()
	go func() {
		err := j.pipeline.Run(ctx)
		if ctx.Err() != nil && err != nil {
			err = nil // stopped because leadership ended: not a job failure
		}
		t.done <- err
	}()
	return t, nil
}

// firstRecord wraps the job's source to log when the first records of this
// run are read: failover is measured from a kill to that line.
type firstRecord[T any] struct {
	engine.Source[T]
	log  *zap.Logger
	seen bool
}

func (f *firstRecord[T]) Read(ctx context.Context, buf []T) (int, error) {
	n, err := f.Source.Read(ctx, buf)
	if n > 0 && !f.seen {
		f.seen = true
		f.log.Info("first record processed", zap.Int64("unix_ms", time.Now().UnixMilli()))
	}
	return n, err
}

// SnapshotState and RestoreState pass through to a stateful source.
func (f *firstRecord[T]) SnapshotState() ([]byte, error) {
	ss, ok := f.Source.(engine.StatefulSource[T])
	if !ok {
		return nil, nil
	}
	return ss.SnapshotState()
}

func (f *firstRecord[T]) RestoreState(b []byte) error {
	ss, ok := f.Source.(engine.StatefulSource[T])
	if !ok {
		return errors.New("source cannot restore a position")
	}
	return ss.RestoreState(b)
}
