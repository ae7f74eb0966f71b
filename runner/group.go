package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/source"
	"github.com/topspeed/topspeed/source/kafka"
)

// Kafka-group mode (the third way to run a job, like Flink's Reactive Mode
// or a Kafka Streams application): every replica started with the same
// --kafka-group joins one consumer group, and Kafka's group coordinator
// (cooperative-sticky) decides which replica owns which partitions of
// --kafka-topic. Each owned partition is a task: an independent pipeline
// built by Job.Build over that partition's records, checkpointed on its
// own into
//
//	--checkpoint-dir/<job-id>/partitions/<topic>-<p>/epoch-<generation>/chk-N
//
// A partition is the unit of ownership and of state: its keys (the record
// key is the car id, so all of a car's reports are in one partition), their
// window state and the partition's next offset are checkpointed together,
// and move whole. No record crosses between replicas or tasks.
//
// Fencing: the generation of the group at the assignment is the owner's
// epoch. A new owner creates its epoch directory (the claim) before it
// chooses what to restore, and restores the newest checkpoint by (epoch,
// id). An old owner (a zombie, paused past its session timeout) may still
// write checkpoints into its own, older epoch directory, but its commit
// hook sees the newer claim and refuses to publish (and stops the task):
// part files and offsets are never published by a fenced owner, and a
// restore never prefers its checkpoints over the new owner's. The rows a
// zombie writes to Cassandra before it notices are the same upserts the new
// owner writes, because replay is deterministic.
//
// Offsets are committed to the group after each completed checkpoint,
// only so that Kafka's tools show the lag; restores use the checkpoints.

// groupFlags are the Kafka flags: the connection (also the job's Kafka
// sinks', through BuildEnv.Kafka) and the group's source settings.
type groupFlags struct {
	cfg kafka.Config
}

func (g *groupFlags) register(fs *pflag.FlagSet) {
	g.cfg = kafka.DefaultConfig()
	g.cfg.Conn.RegisterFlags(fs)
	g.cfg.RegisterFlags(fs)
	if f := fs.Lookup("kafka-topic"); f != nil {
		f.Usage = "Kafka-group mode: read the job's input from this topic (one input line per record value, keyed by the record's key); with --kafka-group. Replicas with the same group share its partitions"
	}
}

// enabled reports whether the run is in Kafka-group mode.
func (g *groupFlags) enabled() bool { return g.cfg.Topic != "" || g.cfg.Group != "" }

func (g *groupFlags) validate(s *settings) error {
	if !g.enabled() {
		return nil
	}
	switch {
	case s.ha.enabled():
		return errors.New("--kafka-group and --ha-peers/--ha-replicas are two ways to run: Kafka-group scale-out needs no raft (the consumer group decides ownership)")
	case !s.ckpt.enabled():
		return errors.New("--kafka-group needs --checkpoint-dir: each partition's state and offset are checkpointed there, on a directory all replicas share")
	case s.ckpt.fromSavepoint != "":
		return errors.New("--from-savepoint is not supported with --kafka-group: each partition restores its own newest checkpoint")
	case s.ckpt.savepointDir != "":
		return errors.New("--savepoint-dir is not supported with --kafka-group: checkpoints are per partition")
	}
	return g.cfg.Validate()
}

// groupEnv is what a task's Build sees (BuildEnv.group).
type groupEnv struct {
	part *kafka.Partition // nil in the settings check before joining
	log  *zap.Logger
	src  any // the *kafka.Source[T] PartitionSource made
	// cancel ends the task's context with kafka.ErrRevoked when its source
	// sees the partition revoked, before the source's error reaches the
	// engine: a move is then logged as a cancellation, not a failure.
	cancel context.CancelCauseFunc
}

// PartitionSource returns, in Kafka-group mode, the input of the task this
// Build serves: the values of its partition's records parsed with parse
// (the record key is not parsed), bad ones handled by policy and reported
// with topic, partition and offset. It is an engine.StatefulSource whose
// state is the partition's next offset. ok is false in the other modes,
// where the job reads its own input.
func PartitionSource[T any](env BuildEnv, parse func(value []byte) (T, error), policy source.BadRecordPolicy) (src engine.Source[T], ok bool) {
	if env.group == nil {
		return nil, false
	}
	s := kafka.NewSource(env.group.part, parse, kafka.WithBadRecords(policy), kafka.WithLogger(env.group.log))
	env.group.src = s
	return &revocable[T]{Source: s, ge: env.group}, true
}

// revocable is PartitionSource's source: a kafka.Source that cancels its
// task when the partition is revoked.
type revocable[T any] struct {
	*kafka.Source[T]
	ge *groupEnv
}

func (r *revocable[T]) Read(ctx context.Context, buf []T) (int, error) {
	n, err := r.Source.Read(ctx, buf)
	if errors.Is(err, kafka.ErrRevoked) && r.ge.cancel != nil {
		r.ge.cancel(kafka.ErrRevoked)
	}
	return n, err
}

// runGroup runs the job as one member of the consumer group until a
// signal, the context's end or a task's failure; it returns the exit code.
func (r *runner) runGroup(ctx context.Context) int {
	// The settings are checked once before joining (the pipeline is never run).
	if _, err := r.newTaskBuild(r.log, nil); err != nil {
		r.errorf("%v", err)
		return ExitUsage
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := &groupRun{runner: r, ctx: ctx, log: r.log.With(zap.String("group", r.s.group.cfg.Group)),
		root: filepath.Join(r.s.ckpt.jobDir(), "partitions"), tasks: map[int32]*partTask{}, failed: make(chan error, 1)}
	cfg := r.s.group.cfg
	cfg.Logger = r.log.Named("kafka")
	m, err := kafka.NewMember(cfg, g)
	if err != nil {
		r.errorf("%v", err)
		return ExitUsage
	}
	g.member = m
	if err := r.ops.startGroup(g); err != nil {
		r.errorf("%v", err)
		return ExitFailure
	}
	defer r.ops.stop()
	prog := newGroupProgress(g, r.s.progress)
	defer prog.stop()

	runErr := make(chan error, 1)
	go func() { runErr <- m.Run(ctx) }()
	sigs, release := r.signals()
	defer release()
	var err2 error
	select {
	case s := <-sigs:
		g.log.Info("leaving the group: the partitions go to the other replicas", zap.String("signal", s.String()))
		m.Close()
		err2 = <-runErr
	case err2 = <-runErr:
	case err2 = <-g.failed:
		m.Close()
		<-runErr
	}
	g.stopAll()
	code := ExitOK
	if err2 != nil && !errors.Is(err2, kafka.ErrClosed) && ctx.Err() == nil {
		r.errorf("%v", err2)
		code = ExitFailure
	}
	g.summary(err2)
	return code
}

// groupRun is one replica's membership: its tasks by partition.
type groupRun struct {
	*runner
	ctx    context.Context
	log    *zap.Logger
	member *kafka.Member
	root   string // DIR/<job-id>/partitions

	mu     sync.Mutex
	tasks  map[int32]*partTask
	ended  totals     // counts of tasks that ended
	failed chan error // a task's failure ends the run
}

// partTask is the pipeline of one owned partition.
type partTask struct {
	kp     *kafka.Partition
	part   int32
	epoch  int32
	dir    string // this owner's epoch directory
	b      *build
	cancel context.CancelFunc
	done   chan struct{}
	pruned bool // older epochs deleted after the first commit
}

// partitionDir is DIR/<job-id>/partitions/<topic>-<p>.
func (g *groupRun) partitionDir(p int32) string {
	return filepath.Join(g.root, fmt.Sprintf("%s-%d", g.s.group.cfg.Topic, p))
}

func epochName(e int32) string { return fmt.Sprintf("epoch-%010d", e) }

// epochs lists the epochs that have a directory under dir, newest first.
func epochs(dir string) ([]int32, error) {
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var es []int32
	for _, e := range ents {
		if n, ok := strings.CutPrefix(e.Name(), "epoch-"); ok && e.IsDir() {
			if v, err := strconv.ParseInt(n, 10, 32); err == nil {
				es = append(es, int32(v))
			}
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i] > es[j] })
	return es, nil
}

// Assigned claims each new partition for epoch gen (its directory), loads
// the newest valid checkpoint by (epoch, id), and starts its task; the
// returned offsets are where fetching starts.
func (g *groupRun) Assigned(_ context.Context, gen int32, parts []int32) (map[int32]int64, error) {
	next := map[int32]int64{}
	snaps := map[int32]*engine.Snapshot{}
	for _, p := range parts {
		dir := filepath.Join(g.partitionDir(p), epochName(gen))
		if err := os.MkdirAll(dir, 0o755); err != nil { // the claim, before choosing what to restore
			return nil, fmt.Errorf("claiming partition %d: %w", p, err)
		}
		snap, off, err := g.newest(p, gen)
		if err != nil {
			return nil, err
		}
		if snap != nil {
			next[p], snaps[p] = off, snap
		}
	}
	g.log.Info("partitions assigned", zap.Int32("epoch", gen), zap.Int32s("partitions", parts), zap.Int("restoring", len(snaps)))
	for _, p := range parts {
		go g.startTask(p, gen, snaps[p])
	}
	return next, nil
}

// newest loads partition p's newest valid checkpoint with the job's
// fingerprint: the newest epoch (up to gen) that has one, its newest id.
func (g *groupRun) newest(p int32, gen int32) (*engine.Snapshot, int64, error) {
	es, err := epochs(g.partitionDir(p))
	if err != nil {
		return nil, 0, err
	}
	for _, e := range es {
		if e > gen {
			continue // a newer owner's: not ours to take (we are being fenced)
		}
		store, err := checkpoint.NewStore(filepath.Join(g.partitionDir(p), epochName(e)), 0, "checkpoint", g.log) // only read
		if err != nil {
			return nil, 0, err
		}
		snap, info, err := store.Latest(g.fingerprint(), nil)
		if errors.Is(err, checkpoint.ErrNoCheckpoint) {
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("partition %d: %w", p, err)
		}
		off, err := sourceOffset(snap, p)
		if err != nil {
			return nil, 0, fmt.Errorf("partition %d, checkpoint %s: %w", p, info.Path, err)
		}
		g.log.Info("partition restores", zap.Int32("partition", p), zap.Int32("from_epoch", e), zap.Uint64("checkpoint", snap.ID), zap.Int64("next_offset", off))
		return snap, off, nil
	}
	return nil, 0, nil
}

// sourceOffset finds the Kafka source state of partition p in snap.
func sourceOffset(snap *engine.Snapshot, p int32) (int64, error) {
	for _, b := range snap.Sources {
		if st, err := kafka.DecodeState(b); err == nil && st.Partition == p {
			return st.Next, nil
		}
	}
	return 0, errors.New("no Kafka source state for this partition in the checkpoint")
}

// newTaskBuild builds the job's pipeline for partition part (nil: the
// settings check).
func (r *runner) newTaskBuild(log *zap.Logger, part *kafka.Partition) (*build, error) {
	ge := &groupEnv{part: part, log: log}
	b, err := r.buildWith(log, func(e *BuildEnv) {
		e.run.group = ge
		e.group = ge
		e.metrics = taskRegisterer(e.metrics, part)
		if part != nil {
			e.Instance = fmt.Sprintf("%s-%d", part.Topic(), part.ID())
		}
	})
	if err == nil && ge.src == nil {
		err = errors.New("--kafka-group: the job's Build did not use runner.PartitionSource, so it cannot read a Kafka partition")
	}
	return b, err
}

// taskRegisterer is where a partition's task exports its engine and job
// metrics: reg with the constant labels topic and partition, so that the
// tasks of one replica, which run the same stages at the same time, export
// separate series (as topspeed_kafka_consumer_lag_records does). A later
// task of the same partition continues its counters (engine.WithMetrics);
// the series of a partition that moved away keep their last counts, one
// set per partition the replica ever owned, so their number is bounded by
// the topic's partitions. nil (no ops server, or the settings check
// without a partition) exports nothing.
func taskRegisterer(reg prometheus.Registerer, part *kafka.Partition) prometheus.Registerer {
	if reg == nil || part == nil {
		return nil
	}
	return prometheus.WrapRegistererWith(prometheus.Labels{"topic": part.Topic(), "partition": strconv.Itoa(int(part.ID()))}, reg)
}

// startTask builds, restores and runs partition p's task for epoch gen.
func (g *groupRun) startTask(p, gen int32, snap *engine.Snapshot) {
	log := g.log.With(zap.Int32("partition", p), zap.Int32("epoch", gen))
	part, ok := g.member.Partition(p) // waits for Assigned to return
	if !ok || part.Generation() != gen {
		log.Info("partition gone before its task started")
		return
	}
	t, err := g.newTask(part, snap, log)
	if err != nil {
		g.fail(fmt.Errorf("partition %d: %w", p, err))
		return
	}
	g.mu.Lock()
	g.tasks[p] = t
	g.mu.Unlock()
	ctx, cancel := context.WithCancelCause(g.ctx)
	t.cancel = func() { cancel(context.Canceled) }
	t.b.group.cancel = cancel
	go func() {
		defer close(t.done)
		err := execute(ctx, t.b)
		select {
		case <-part.Revoked():
			err = nil // moved away: not a failure
		default:
		}
		if ctx.Err() != nil || errors.Is(err, kafka.ErrRevoked) {
			err = nil
		}
		if newer, fenced := g.fencedBy(t); err != nil && fenced {
			// A newer owner claimed the partition and may have deleted
			// this epoch's directory under a checkpoint being written:
			// this task is the zombie, not a failure of the replica.
			log.Warn("task stopped: a newer owner claimed the partition", zap.Int32("newer_epoch", newer), zap.Error(err))
			err = nil
		}
		if err != nil {
			g.fail(fmt.Errorf("partition %d: %w", p, g.explainRestore(err)))
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.tasks[p] == t {
			delete(g.tasks, p)
		}
		g.ended.add(countsOf(t.b))
	}()
}

// newTask builds the task of part with its coordinator in this owner's
// epoch directory, restored from snap (nil: from the start offset).
func (g *groupRun) newTask(part *kafka.Partition, snap *engine.Snapshot, log *zap.Logger) (*partTask, error) {
	p, gen := part.ID(), part.Generation()
	b, err := g.newTaskBuild(log, part)
	if err != nil {
		return nil, err
	}
	t := &partTask{kp: part, part: p, epoch: gen, dir: filepath.Join(g.partitionDir(p), epochName(gen)), b: b, done: make(chan struct{})}
	if b.coord, err = g.newCoordinatorIn(t.dir, b.pipeline, log, uint64(gen)); err != nil {
		return nil, err
	}
	b.coord.Savepoints = nil
	b.coord.Initial = snap == nil
	b.coord.Commit = func(ctx context.Context, info checkpoint.Info) error { return g.commit(ctx, t, info, log) }
	if snap != nil {
		g.restore(b, snap, time.Now())
	}
	return t, nil
}

// errFencedOwner marks a checkpoint refused because a newer owner claimed
// the partition.
var errFencedOwner = errors.New("a newer owner claimed this partition")

// fencedBy reports whether an owner of a newer epoch than t's claimed t's
// partition, and that epoch.
func (g *groupRun) fencedBy(t *partTask) (int32, bool) {
	es, err := epochs(g.partitionDir(t.part))
	if err != nil {
		return 0, false
	}
	return newerEpoch(es, t.epoch)
}

// newerEpoch returns the newest of es (newest first, as epochs lists
// them) if it is newer than epoch.
func newerEpoch(es []int32, epoch int32) (int32, bool) {
	if len(es) == 0 || es[0] <= epoch {
		return 0, false
	}
	return es[0], true
}

// commit publishes a written checkpoint of t unless a newer owner claimed
// the partition (then the task stops), deletes older epochs after the
// first commit, and commits the offset to the group for lag reporting.
func (g *groupRun) commit(ctx context.Context, t *partTask, info checkpoint.Info, log *zap.Logger) error {
	es, err := epochs(g.partitionDir(t.part))
	if err != nil {
		return err
	}
	if newer, fenced := newerEpoch(es, t.epoch); fenced {
		log.Warn("fenced: a newer owner claimed the partition; stopping its task here", zap.Int32("newer_epoch", newer))
		t.cancel()
		return fmt.Errorf("partition %d, epoch %d: %w (epoch %d)", t.part, t.epoch, errFencedOwner, newer)
	}
	if !t.pruned {
		t.pruned = true
		for _, e := range es {
			if e < t.epoch {
				_ = os.RemoveAll(filepath.Join(g.partitionDir(t.part), epochName(e)))
			}
		}
	}
	if info.Snapshot != nil {
		if off, err := sourceOffset(info.Snapshot, t.part); err == nil {
			if err := g.member.Commit(ctx, g.member.Generation(), map[int32]int64{t.part: off}); err != nil {
				log.Debug("committing the offset to the group (for lag only)", zap.Error(err))
			}
		}
	}
	return nil
}

// Revoked stops the tasks of partitions moving away and waits for them.
// Their records already stopped (the source returns ErrRevoked); the next
// owner restores the newest checkpoint and replays from its offset.
func (g *groupRun) Revoked(_ context.Context, parts []int32, lost bool) {
	g.log.Info("partitions revoked", zap.Int32s("partitions", parts), zap.Bool("lost", lost))
	for _, p := range parts {
		g.mu.Lock()
		t := g.tasks[p]
		g.mu.Unlock()
		if t != nil { // its goroutine removes it and counts it
			t.cancel()
			<-t.done
		}
	}
}

// stopAll stops the tasks left (the member has left the group).
func (g *groupRun) stopAll() {
	g.mu.Lock()
	var ps []int32
	for p := range g.tasks {
		ps = append(ps, p)
	}
	g.mu.Unlock()
	g.Revoked(context.Background(), ps, false)
}

// fail ends the run with err (the first one wins): on Kubernetes the pod
// restarts, and the group moves its partitions meanwhile.
func (g *groupRun) fail(err error) {
	g.log.Error("task failed: leaving the group", zap.Error(err))
	select {
	case g.failed <- err:
	default:
	}
}

// counts adds up the tasks' record counts (running and ended).
func (g *groupRun) counts() (t totals, owned []int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t = g.ended
	for p, task := range g.tasks {
		t.add(countsOf(task.b))
		owned = append(owned, p)
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i] < owned[j] })
	return t, owned
}

// summary logs the replica's totals at exit.
func (g *groupRun) summary(runErr error) {
	t, _ := g.counts()
	fields := []zap.Field{zap.Int64("events", t.events), zap.Int64("results", t.results), zap.Int64("rows", t.rows), zap.Int64("bad_records", t.bad)}
	if runErr != nil && !errors.Is(runErr, kafka.ErrClosed) {
		fields = append(fields, zap.Error(runErr))
	}
	g.log.Info("summary", fields...)
}

// groupProgress logs the replica's progress line every interval.
type groupProgress struct {
	done chan struct{}
	wg   sync.WaitGroup
}

func newGroupProgress(g *groupRun, interval time.Duration) *groupProgress {
	p := &groupProgress{done: make(chan struct{})}
	if interval <= 0 {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tk := time.NewTicker(interval)
		defer tk.Stop()
		var prev int64
		for {
			select {
			case <-tk.C:
				t, owned := g.counts()
				g.log.Info("progress", zap.Int32s("partitions", owned), zap.Int64("events", t.events),
					zap.Float64("events_per_s", float64(t.events-prev)/interval.Seconds()), zap.Int64("results", t.results), zap.Int64("rows", t.rows))
				prev = t.events
			case <-p.done:
				return
			}
		}
	}()
	return p
}

func (p *groupProgress) stop() { close(p.done); p.wg.Wait() }

// lagCollector exports the owned partitions and each one's consumer lag
// (records between the task's position and the partition's end), read at
// scrape time.
type lagCollector struct {
	g          *groupRun
	lag, owned *prometheus.Desc
}

func newLagCollector(g *groupRun, ns string) lagCollector {
	return lagCollector{g: g,
		lag: prometheus.NewDesc(ns+"_kafka_consumer_lag_records", "Records of an owned partition not yet read by its task (high watermark minus position).",
			[]string{"topic", "partition"}, nil),
		owned: prometheus.NewDesc(ns+"_kafka_partitions_owned", "Partitions of --kafka-topic this replica owns (runs a task for).", nil, nil)}
}

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.lag; ch <- c.owned }

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.owned, prometheus.GaugeValue, float64(len(c.g.tasks)))
	for p, t := range c.g.tasks {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(t.kp.Lag()), t.kp.Topic(), strconv.Itoa(int(p)))
	}
}
