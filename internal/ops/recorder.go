package ops

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Role is this process's part in high availability.
type Role string

// Roles. A job without HA is standalone.
const (
	RoleStandalone Role = "standalone"
	RoleFollower   Role = "follower"
	RoleCandidate  Role = "candidate"
	RoleLeader     Role = "leader"
)

var roles = []Role{RoleStandalone, RoleFollower, RoleCandidate, RoleLeader}

// CheckpointInfo describes the last completed checkpoint in the status.
// With HA it is the checkpoint whose pointer raft committed, on every
// replica: Path and Term come from the pointer, Time is when the leader
// appended it; DurationSeconds and SizeBytes are known only on the replica
// that took it (omitted elsewhere).
type CheckpointInfo struct {
	ID              uint64    `json:"id"`
	Path            string    `json:"path,omitempty"`
	Term            uint64    `json:"term,omitempty"`
	Time            time.Time `json:"time,omitzero"`
	DurationSeconds float64   `json:"duration_seconds,omitempty"`
	SizeBytes       int64     `json:"size_bytes,omitempty"`
	// Origin is the savepoint the committed history started from (HA,
	// --from-savepoint), empty if it started from the beginning.
	Origin string `json:"origin,omitempty"`
}

// Recorder holds what checkpointing and HA report about the job: it
// exports it as metrics and shows it in /api/v1/status. All methods are
// safe for concurrent use, and a nil *Recorder ignores every call.
type Recorder struct {
	ckDuration prometheus.Histogram
	ckSize     prometheus.Gauge
	ckLast     prometheus.Gauge
	ckDone     prometheus.Counter
	ckFailed   prometheus.Counter
	ckInterval prometheus.Gauge
	restore    prometheus.Gauge
	role       *prometheus.GaugeVec
	term       prometheus.Gauge
	leaderChg  prometheus.Counter

	refresh atomic.Pointer[func()] // OnRead's hook

	mu         sync.Mutex
	last       *CheckpointInfo // completed here
	committed  *CheckpointInfo // committed through raft (HA)
	cur        Role
	curTerm    uint64
	leader     string
	prevLeader string
	ckHist     ring[CheckpointEntry] // the last MaxCheckpointHistory
	excs       ring[Exception]       // the last MaxExceptions
}

// NewRecorder registers the checkpoint and raft metrics on reg (which may
// be nil: status only) and starts in role standalone, term 0.
func NewRecorder(reg prometheus.Registerer, opts ...Option) *Recorder {
	o := newOptions(opts)
	r := &Recorder{
		ckDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: o.ns,
			Name:      "checkpoint_duration_seconds",
			Help:      "Time from a checkpoint's barrier request to its durable commit.",
			Buckets:   []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		ckSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: o.ns,
			Name:      "checkpoint_size_bytes",
			Help:      "Size of the last completed checkpoint.",
		}),
		ckLast: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: o.ns,
			Name:      "checkpoint_last_success_timestamp_seconds",
			Help:      "Unix time of the last completed checkpoint (0: none yet).",
		}),
		ckDone: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: o.ns,
			Name:      "checkpoints_completed_total",
			Help:      "Checkpoints completed (durable and committed).",
		}),
		ckFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: o.ns,
			Name:      "checkpoint_failures_total",
			Help:      "Checkpoints that failed.",
		}),
		ckInterval: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: o.ns,
			Name:      "checkpoint_interval_seconds",
			Help:      "Configured time between checkpoints (0: checkpoints disabled).",
		}),
		restore: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: o.ns,
			Name:      "restore_duration_seconds",
			Help:      "Time the last restore from a checkpoint took.",
		}),
		role: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: o.ns,
			Name:      "raft_role",
			Help:      "1 for this process's current HA role, 0 for the others.",
		}, []string{"role"}),
		term: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: o.ns,
			Name:      "raft_term",
			Help:      "Current raft term (0 without HA).",
		}),
		leaderChg: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: o.ns,
			Name:      "raft_leader_changes_total",
			Help:      "Times the known raft leader changed.",
		}),
		cur: RoleStandalone,
	}
	for _, ro := range roles {
		r.role.WithLabelValues(string(ro)).Set(0)
	}
	r.role.WithLabelValues(string(RoleStandalone)).Set(1)
	if reg != nil {
		reg.MustRegister(r.ckDuration, r.ckSize, r.ckLast, r.ckDone, r.ckFailed, r.ckInterval, r.restore, raftCollector{r}, r.leaderChg)
	}
	return r
}

// SetCheckpointInterval records the configured checkpoint interval; the
// "no checkpoint in 3 intervals" alert needs it.
func (r *Recorder) SetCheckpointInterval(d time.Duration) {
	if r != nil {
		r.ckInterval.Set(d.Seconds())
	}
}

// CheckpointCompleted records a durable, committed checkpoint.
func (r *Recorder) CheckpointCompleted(id uint64, d time.Duration, sizeBytes int64) {
	if r == nil {
		return
	}
	now := time.Now()
	r.ckDuration.Observe(d.Seconds())
	r.ckSize.Set(float64(sizeBytes))
	r.ckLast.Set(float64(now.UnixNano()) / 1e9)
	r.ckDone.Inc()
	r.mu.Lock()
	r.last = &CheckpointInfo{ID: id, Time: now.UTC(), DurationSeconds: d.Seconds(), SizeBytes: sizeBytes}
	r.mu.Unlock()
}

// CheckpointFailed counts a failed checkpoint.
func (r *Recorder) CheckpointFailed() {
	if r != nil {
		r.ckFailed.Inc()
	}
}

// Restored records how long restoring from a checkpoint took.
func (r *Recorder) Restored(d time.Duration) {
	if r != nil {
		r.restore.Set(d.Seconds())
	}
}

// SetRaft records the HA role, term and leader (address or id, "" if
// unknown). A change of the known leader counts as a leader change.
func (r *Recorder) SetRaft(role Role, term uint64, leader string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if leader != "" && r.prevLeader != "" && leader != r.prevLeader {
		r.leaderChg.Inc()
	}
	if leader != "" {
		r.prevLeader = leader
	}
	r.role.WithLabelValues(string(r.cur)).Set(0)
	r.role.WithLabelValues(string(role)).Set(1)
	r.cur, r.curTerm, r.leader = role, term, leader
	r.term.Set(float64(term))
}

// SetCommitted records the checkpoint pointer raft has committed (HA): id
// (0: none yet), path, the term of the leader that took it and when it was
// appended (zero if unknown). Followers report it as the last checkpoint.
func (r *Recorder) SetCommitted(id uint64, path string, term uint64, at time.Time, origin string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if id == 0 {
		r.committed = nil
		return
	}
	if !at.IsZero() {
		at = at.UTC()
	}
	r.committed = &CheckpointInfo{ID: id, Path: path, Term: term, Time: at, Origin: origin}
}

// OnRead sets a hook that State and a scrape of the raft metrics call
// first, without locks held: with HA it copies the node's current role,
// term, leader and committed pointer in (SetRaft, SetCommitted), so that
// /api/v1/status and /metrics show a leadership change at once rather
// than at the next poll. It must be cheap and must not call State.
func (r *Recorder) OnRead(fn func()) { r.refresh.Store(&fn) }

func (r *Recorder) refreshNow() {
	if fn := r.refresh.Load(); fn != nil && *fn != nil {
		(*fn)()
	}
}

// raftCollector serves the raft role and term gauges, refreshed first.
type raftCollector struct{ r *Recorder }

func (c raftCollector) Describe(ch chan<- *prometheus.Desc) {
	c.r.role.Describe(ch)
	c.r.term.Describe(ch)
}

func (c raftCollector) Collect(ch chan<- prometheus.Metric) {
	c.r.refreshNow()
	c.r.role.Collect(ch)
	c.r.term.Collect(ch)
}

// State returns the HA role, term, leader and the last checkpoint (nil if
// none): the newer of the one completed here and the one committed through
// raft, the committed one completed with this replica's duration and size
// when it took that checkpoint itself. It calls the OnRead hook first.
func (r *Recorder) State() (role Role, term uint64, leader string, last *CheckpointInfo) {
	if r == nil {
		return RoleStandalone, 0, "", nil
	}
	r.refreshNow()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.committed != nil && (r.last == nil || r.committed.ID >= r.last.ID):
		c := *r.committed
		if r.last != nil && r.last.ID == c.ID {
			c.DurationSeconds, c.SizeBytes = r.last.DurationSeconds, r.last.SizeBytes
			if c.Time.IsZero() {
				c.Time = r.last.Time
			}
		}
		last = &c
	case r.last != nil:
		c := *r.last
		last = &c
	}
	return r.cur, r.curTerm, r.leader, last
}
