package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/topspeed/topspeed/internal/kafkaconn"
	"go.uber.org/zap"
)

// Handler is told about the partitions the member gains and gives up.
//
// Both methods are called from the consumer group's own goroutines (not
// from Run's), one call at a time, never concurrently with each other.
// While one runs, the member delivers no records and the group cannot
// finish a rebalance, so each must return well within
// Config.RebalanceTimeout; a member that takes longer is removed from the
// group (its partitions then come back through Revoked with lost=true).
//
// Inside them, do not call Member.Close and do not wait for Run to return:
// leaving the group waits for the callback, a deadlock. Do not call
// Member.Partition synchronously inside Assigned for the partitions being
// assigned (it waits for Assigned to return); start the tasks in
// goroutines, which may. Generation and Commit may be called.
type Handler interface {
	// Assigned is told the partitions newly assigned to the member (sorted)
	// and the group generation of this assignment, the fencing epoch of
	// the new ownership (Partition.Generation). It returns, for each
	// partition with a checkpoint, the next offset to read (the offset the
	// checkpointed source state holds, see DecodeState); fetching starts
	// exactly there. Partitions it leaves out start at
	// Config.StartOffset. The group's committed offsets are never used.
	//
	// An error stops the member: Run leaves the group and returns it.
	// Once Assigned returned, Member.Partition gives each partition's
	// record queue. ctx is cancelled only when the member's client closes.
	Assigned(ctx context.Context, gen int32, parts []int32) (map[int32]int64, error)
	// Revoked is told partitions that are moving away (sorted). lost is
	// false for a clean handover in a rebalance or when the member
	// leaves, true when the member lost them without one (its session
	// expired: it was paused or cut off for longer than
	// Config.SessionTimeout, or fenced): another member may already own
	// them. Before Revoked is called, their Partitions are revoked: Take
	// and Source.Read return ErrRevoked. Revoked must return only once
	// nothing reads those partitions' sources any more and their tasks
	// wrote their last checkpoint (so the next owner restores from it).
	Revoked(ctx context.Context, parts []int32, lost bool)
}

// ErrFenced is matched by Commit's error when the commit's generation is
// no longer the member's (or the group's) current one.
var ErrFenced = errors.New("kafka: fenced")

// ErrNotOwned is matched by Commit's error for a partition the member does
// not own.
var ErrNotOwned = errors.New("kafka: partition not owned by this member")

// ErrClosed is returned by Run after Close, and by Commit when the member
// is not running.
var ErrClosed = errors.New("kafka: member closed")

// Member is one member of a consumer group reading one topic.
//
// Lifecycle: NewMember, then Run once, in its own goroutine; Run returns
// when its context is cancelled, Close is called, or a fatal error
// occurs, after leaving the group cleanly (every owned partition is then
// Revoked with lost=false). Partition, Generation, Commit and Close are
// safe for concurrent use, from any goroutine but the Handler's callbacks
// for Close.
type Member struct {
	cfg   Config
	h     Handler
	log   *zap.Logger
	start func(*Member) ([]kgo.Opt, error) // client options; tests may wrap

	mu        sync.Mutex
	cl        *kgo.Client
	gen       int32 // -1 outside a group session
	parts     map[int32]*Partition
	assigning map[int32]chan struct{} // partitions inside Handler.Assigned
	told      map[int32]bool          // partitions the handler owns (Assigned called, Revoked not yet)
	fatal     error
	started   bool
	closed    bool
	cancel    context.CancelFunc
	done      chan struct{}
}

// NewMember validates cfg and returns a member that joins the group when
// Run is called.
func NewMember(cfg Config, h Handler) (*Member, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("kafka: NewMember: nil Handler")
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("topic", cfg.Topic), zap.String("group", cfg.Group))
	return &Member{
		cfg: cfg, h: h, log: log, start: (*Member).clientOpts,
		gen:       -1,
		parts:     make(map[int32]*Partition),
		assigning: make(map[int32]chan struct{}),
		told:      make(map[int32]bool),
		done:      make(chan struct{}),
	}, nil
}

// clientOpts returns the franz-go options of the member's client.
func (m *Member) clientOpts() ([]kgo.Opt, error) {
	opts, err := m.cfg.Conn.Opts()
	if err != nil {
		return nil, err
	}
	hb := min(3*time.Second, m.cfg.SessionTimeout/3)
	return append(opts,
		kgo.ConsumerGroup(m.cfg.Group),
		kgo.ConsumeTopics(m.cfg.Topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(m.cfg.SessionTimeout),
		kgo.RebalanceTimeout(m.cfg.RebalanceTimeout),
		kgo.HeartbeatInterval(hb),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()), // an offset out of range is an error, not a silent skip
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(500*time.Millisecond), // a resumed partition is fetched soon
		kgo.FetchMaxPartitionBytes(1<<20),
		kgo.OnPartitionsAssigned(m.onAssigned),
		kgo.OnPartitionsRevoked(m.onRevoked),
		kgo.OnPartitionsLost(m.onLost),
		kgo.AdjustFetchOffsetsFn(m.adjustOffsets),
		kgo.WithLogger(kafkaconn.Logger(m.log)),
	), nil
}

// Run joins the group and delivers records to the owned partitions'
// queues until ctx is cancelled, Close is called or a fatal error occurs
// (Handler.Assigned failed, authentication or authorization refused).
// Before returning it leaves the group: the owned partitions are Revoked
// (lost=false) and handed over. It returns nil after a cancellation or
// Close, ErrClosed if Close came first, and the fatal error otherwise.
// Run may be called once.
func (m *Member) Run(ctx context.Context) error {
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return ErrClosed
	case m.started:
		m.mu.Unlock()
		return errors.New("kafka: Member.Run called twice")
	}
	m.started = true
	ctx, cancel := context.WithCancel(ctx)
	m.cancel = cancel
	m.mu.Unlock()
	defer close(m.done)
	defer cancel()

	opts, err := m.start(m)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	m.mu.Lock()
	m.cl = cl
	m.mu.Unlock()
	m.log.Info("joining the consumer group", zap.Object("kafka", m.cfg.Conn))

	m.poll(ctx, cl)
	cl.Close() // leaves the group: onRevoked for everything still owned
	m.mu.Lock()
	m.gen = -1
	m.cl = nil
	err = m.fatal
	m.mu.Unlock()
	m.log.Info("left the consumer group", zap.Error(err))
	return err
}

// Close stops Run, which leaves the group, and waits for it to return. It
// may be called more than once, and before Run (Run then returns
// ErrClosed). Do not call it from a Handler callback.
func (m *Member) Close() {
	m.mu.Lock()
	m.closed = true
	cancel, started := m.cancel, m.started
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if started {
		<-m.done
	}
}

// Generation returns the group generation of the member's current
// session, or -1 when it is not in one (before the first assignment,
// after losing its partitions, after Run).
func (m *Member) Generation() int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen
}

// Partition returns the record queue of partition p if the member owns it
// in the current assignment. While p's Handler.Assigned runs, it waits for
// Assigned to return.
func (m *Member) Partition(p int32) (*Partition, bool) {
	m.mu.Lock()
	ch := m.assigning[p]
	m.mu.Unlock()
	if ch != nil {
		<-ch
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	part, ok := m.parts[p]
	return part, ok
}

// Owned returns the partitions the member owns, sorted.
func (m *Member) Owned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.parts))
}

// setFatal records the first fatal error and stops Run.
func (m *Member) setFatal(err error) {
	m.mu.Lock()
	if m.fatal == nil {
		m.fatal = err
	}
	cancel := m.cancel
	m.mu.Unlock()
	m.log.Error("kafka member failing", zap.Error(err))
	if cancel != nil {
		cancel()
	}
}

// poll fetches records and dispatches them to the partitions' queues until
// ctx is done or the client is closed. The dispatch never blocks: a full
// queue pauses its partition instead.
func (m *Member) poll(ctx context.Context, cl *kgo.Client) {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if fs.IsClientClosed() {
			return
		}
		fs.EachError(func(topic string, p int32, err error) { m.fetchError(ctx, topic, p, err) })
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if fp.Topic != m.cfg.Topic || fp.Err != nil {
				return
			}
			m.mu.Lock()
			part := m.parts[fp.Partition]
			m.mu.Unlock()
			if part != nil {
				part.append(fp.Records, fp.HighWatermark)
			}
		})
		// Only now may a rebalance run (BlockRebalanceOnPoll): records of a
		// revoked partition never reach its successor's queue.
		cl.AllowRebalance()
	}
}

// fetchError handles an error of a poll: a partition's goes to its reader;
// a group session's is logged, and stops the member if retrying cannot
// help (authentication, authorization, a refused setting).
func (m *Member) fetchError(ctx context.Context, topic string, p int32, err error) {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
		return
	}
	var gs *kgo.ErrGroupSession
	if errors.As(err, &gs) || topic == "" {
		if fatalGroupError(err) {
			m.setFatal(fmt.Errorf("kafka: group %s: %w", m.cfg.Group, err))
			return
		}
		m.log.Warn("consumer group error; retrying", zap.Error(err))
		return
	}
	m.mu.Lock()
	part := m.parts[p]
	m.mu.Unlock()
	if topic != m.cfg.Topic || part == nil {
		m.log.Warn("fetch error for a partition not owned", zap.String("fetch_topic", topic), zap.Int32("partition", p), zap.Error(err))
		return
	}
	if errors.Is(err, kerr.OffsetOutOfRange) {
		err = fmt.Errorf("%w: the next offset to read is no longer (or not yet) in the partition: records deleted by retention, or the topic recreated", err)
	}
	part.fail(fmt.Errorf("kafka: fetch topic %s partition %d: %w", topic, p, err))
}

// fatalGroupError reports errors that retrying the group session cannot
// fix.
func fatalGroupError(err error) bool {
	for _, e := range []error{
		kerr.GroupAuthorizationFailed, kerr.TopicAuthorizationFailed, kerr.SaslAuthenticationFailed,
		kerr.ClusterAuthorizationFailed, kerr.InvalidSessionTimeout, kerr.InconsistentGroupProtocol,
		kerr.InvalidGroupID, kerr.UnsupportedSaslMechanism, kerr.IllegalSaslState,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
