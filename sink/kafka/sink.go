// Package kafka is a Kafka sink for a pipeline's results, on franz-go.
//
// Each record becomes one Kafka record of Config.Topic whose key and value
// the caller formats (for TopSpeed: the car id in decimal, and the result
// line without its newline). Records with the same key go to the same
// partition (franz-go's default partitioner hashes the key like Java's
// client, murmur2), in the order the sink received them.
//
// Guarantees:
//
//   - AtLeastOnce: an idempotent producer (no duplicates from the
//     producer's own retries). Flush, which the engine calls at every
//     checkpoint barrier and at the end of input, returns once every record
//     written so far is acknowledged by the brokers (acks=all), so every
//     record before a completed checkpoint is in the topic. After a failure
//     the pipeline restarts from its last checkpoint and writes the records
//     after it again: consumers may see duplicates, never gaps. Records are
//     visible as soon as they are acknowledged.
//
//   - ExactlyOnce: two-phase commit with Kafka transactions, like Flink's
//     KafkaSink with DeliveryGuarantee.EXACTLY_ONCE. The records of one
//     checkpoint interval go into one transaction. At the barrier, Flush
//     waits for their acknowledgement (pre-commit) and SnapshotState records
//     the transaction (transactional id, producer id, epoch) in the
//     checkpoint and starts the next interval's transaction on another
//     producer of a pool of TransactionPool. Commit(id), once checkpoint id
//     is durable, commits the transactions of checkpoints up to id; at the
//     end of input, Commit(engine.EndOfInput) commits everything. A restore
//     commits the transactions recorded in the restored checkpoint (a
//     crash between the checkpoint and its commit loses nothing), then
//     every producer of the pool initializes its transactional id, which
//     fences the producers of the previous run and aborts their open
//     transactions (records after the restored checkpoint, which the
//     replay writes again). A fresh start (no restore) aborts them all the
//     same. So a consumer reading with isolation.level=read_committed sees
//     every record exactly once, each checkpoint's records when it
//     commits; a read_uncommitted consumer (Kafka's default) also sees the
//     records of aborted transactions. The conditions are those of
//     Flink's: a pre-committed transaction must be committed within
//     Config.TransactionTimeout, by the commit or by a restore, or the
//     broker aborts it and its records are lost (the restore logs this; it
//     cannot tell it from a transaction committed earlier); and
//     Config.TransactionalID must be unique per sink and stable across
//     restarts.
//
// The sink is an engine.StatefulSink (its state is the list of
// pre-committed transactions; AtLeastOnce stores none), an
// engine.AckingSink (a batch is acknowledged once the brokers acknowledged
// all its records; with ExactlyOnce that is before they are committed) and
// an engine.ContextCloser. A stateful sink makes the engine align
// checkpoint barriers at the sink, also with AtLeastOnce.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/topspeed/topspeed/internal/kafkaconn"
	"go.uber.org/zap"

	"github.com/topspeed/topspeed/engine"
)

// Sink writes records of type T to a Kafka topic. SetAck, Open, Write,
// WriteStamped, Flush, SnapshotState, RestoreState, Commit and Close are
// called from one goroutine (the engine's sink goroutine); the producers
// work asynchronously inside.
type Sink[T any] struct {
	cfg   Config
	key   func(dst []byte, v T) []byte
	value func(dst []byte, v T) []byte
	log   *zap.Logger
	ack   engine.AckFunc

	ctx    context.Context // Open's, for the methods without one
	cancel context.CancelFunc
	cl     *kgo.Client // the producer records go to (ExactlyOnce: the open transaction's)
	tx     *txns       // ExactlyOnce only
	ready  bool        // prepare ran
	recov  []pendingTxn
	perRec int // bytes per record of the last batch, to size the next slab

	errMu sync.Mutex
	err   error // first failure, sticky

	written, acked atomic.Int64
}

var (
	_ engine.StatefulSink[int] = (*Sink[int])(nil)
	_ engine.AckingSink[int]   = (*Sink[int])(nil)
	_ engine.ContextCloser     = (*Sink[int])(nil)
)

// New returns a sink for cfg that writes each record v with key
// key(nil, v) and value value(nil, v); both append to dst and return it.
// A nil key writes records without key (round-robin partitions).
func New[T any](cfg Config, key, value func(dst []byte, v T) []byte) (*Sink[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if value == nil {
		return nil, errors.New("kafka sink: no value function")
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Sink[T]{cfg: cfg, key: key, value: value, log: log.Named("kafka-sink")}, nil
}

// Config returns the sink's configuration.
func (s *Sink[T]) Config() Config { return s.cfg }

// SetAck implements engine.AckingSink; call it before Open.
func (s *Sink[T]) SetAck(ack engine.AckFunc) { s.ack = ack }

// clientOpts are the franz-go options of a producer; txnID is empty for
// the idempotent (AtLeastOnce) producer.
func (s *Sink[T]) clientOpts(txnID string) ([]kgo.Opt, error) {
	opts, err := s.cfg.Conn.Opts()
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.DefaultProduceTopic(s.cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(s.cfg.Linger),
		kgo.MaxBufferedRecords(s.cfg.MaxBufferedRecords),
		kgo.WithLogger(kafkaconn.Logger(s.log)),
	)
	if s.cfg.DeliveryTimeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(s.cfg.DeliveryTimeout))
	}
	if txnID != "" {
		opts = append(opts, kgo.TransactionalID(txnID), kgo.TransactionTimeout(s.cfg.TransactionTimeout))
	}
	return opts, nil
}

// Open connects and checks that the topic exists. With ExactlyOnce it
// creates the pool's producers; their transactional ids are initialized
// (fencing an earlier run) on the first Write, Flush, SnapshotState or
// Commit, after RestoreState had the chance to commit what the restored
// checkpoint pre-committed.
func (s *Sink[T]) Open(ctx context.Context) error {
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.ready, s.recov = false, nil
	s.errMu.Lock()
	s.err = nil
	s.errMu.Unlock()
	if s.cfg.Guarantee == ExactlyOnce {
		tx, err := s.openPool()
		if err != nil {
			s.cancel()
			return err
		}
		s.tx, s.cl = tx, tx.slots[0]
	} else {
		opts, err := s.clientOpts("")
		if err != nil {
			s.cancel()
			return err
		}
		if s.cl, err = kgo.NewClient(opts...); err != nil {
			s.cancel()
			return fmt.Errorf("kafka sink: %w", err)
		}
	}
	if err := s.checkTopic(ctx); err != nil {
		s.closeClients()
		s.cancel()
		return err
	}
	s.log.Info("kafka sink open", zap.Object("conn", s.cfg.Conn), zap.String("topic", s.cfg.Topic),
		zap.Stringer("guarantee", s.cfg.Guarantee))
	return nil
}

// checkTopic fails clearly when the topic does not exist or the brokers
// cannot be reached.
func (s *Sink[T]) checkTopic(ctx context.Context) error {
	tds, err := kadm.NewClient(s.cl).ListTopics(ctx, s.cfg.Topic)
	if err != nil {
		return fmt.Errorf("kafka sink: looking up topic %s at %s: %w", s.cfg.Topic, s.cfg.Conn.String(), err)
	}
	td, ok := tds[s.cfg.Topic]
	switch {
	case !ok:
		return fmt.Errorf("kafka sink: topic %s does not exist (create it first)", s.cfg.Topic)
	case td.Err != nil:
		return fmt.Errorf("kafka sink: topic %s: %w", s.cfg.Topic, td.Err)
	}
	return nil
}

// prepare runs once before the first record or checkpoint: it commits the
// transactions the restored checkpoint pre-committed, then (ExactlyOnce)
// initializes the pool and begins the first transaction.
func (s *Sink[T]) prepare() error {
	if s.ready {
		return s.failure()
	}
	if s.cl == nil {
		return errors.New("kafka sink: not open")
	}
	s.ready = true
	for _, p := range s.recov {
		if err := recoverTxn(s.ctx, s.cl, p, s.log); err != nil {
			s.fail(err)
			return err
		}
	}
	s.recov = nil
	if s.tx != nil {
		if err := s.tx.start(s.ctx); err != nil {
			s.fail(err)
			return err
		}
	}
	return nil
}

// batchAck counts the records of one WriteStamped batch not yet
// acknowledged, plus one held by WriteStamped until all are produced.
type batchAck struct {
	stamp int64
	n     int
	left  atomic.Int64
}

// Write is WriteStamped with stamp 0.
func (s *Sink[T]) Write(ctx context.Context, batch []T) error {
	return s.WriteStamped(ctx, batch, 0)
}

// WriteStamped hands batch's records to the producer and returns; it
// blocks while Config.MaxBufferedRecords records await their
// acknowledgement. With SetAck, ack(stamp, len(batch)) is called once the
// brokers acknowledged every record of batch. A failed record fails the
// sink: the error is returned by this or the next call.
func (s *Sink[T]) WriteStamped(ctx context.Context, batch []T, stamp int64) error {
	if err := s.prepare(); err != nil {
		return err
	}
	var ref *batchAck
	if s.ack != nil {
		ref = &batchAck{stamp: stamp, n: len(batch)}
		ref.left.Store(int64(len(batch)) + 1)
	}
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			s.fail(fmt.Errorf("kafka sink: producing to %s: %w", s.cfg.Topic, err))
			return
		}
		s.acked.Add(1)
		if ref != nil && ref.left.Add(-1) == 0 {
			s.ack(ref.stamp, ref.n)
		}
	}
	recs := s.records(batch)
	if s.tx != nil && len(recs) > 0 {
		s.tx.written = true
	}
	for i := range recs {
		s.cl.Produce(ctx, &recs[i], promise)
	}
	s.written.Add(int64(len(recs)))
	if ref != nil && ref.left.Add(-1) == 0 {
		s.ack(ref.stamp, ref.n)
	}
	return s.failure()
}

// records formats batch into records whose keys and values share one
// allocation (the producer keeps them until acknowledged).
func (s *Sink[T]) records(batch []T) []kgo.Record {
	recs := make([]kgo.Record, len(batch))
	slab := make([]byte, 0, max(s.perRec, 16)*len(batch))
	ends := make([]int, 0, 2*len(batch))
	for _, v := range batch {
		if s.key != nil {
			slab = s.key(slab, v)
		}
		ends = append(ends, len(slab))
		slab = s.value(slab, v)
		ends = append(ends, len(slab))
	}
	start := 0
	for i := range recs {
		k, v := ends[2*i], ends[2*i+1]
		if s.key != nil {
			recs[i].Key = slab[start:k:k]
		}
		recs[i].Value = slab[k:v:v]
		recs[i].Topic = s.cfg.Topic
		start = v
	}
	if len(batch) > 0 {
		s.perRec = len(slab)/len(batch) + 1
	}
	return recs
}

// Flush returns once every record written so far is acknowledged by the
// brokers (ExactlyOnce: written to the open transaction, not committed),
// or with the sink's failure.
func (s *Sink[T]) Flush(ctx context.Context) error {
	if err := s.prepare(); err != nil {
		return err
	}
	if err := s.cl.Flush(ctx); err != nil {
		return fmt.Errorf("kafka sink: flush: %w", err)
	}
	return s.failure()
}

// SnapshotState is called after Flush at checkpoint id. AtLeastOnce has no
// state (nil). ExactlyOnce pre-commits the open transaction, if it has
// records, for checkpoint id, begins the next one on another producer,
// and returns the transactions not yet committed.
func (s *Sink[T]) SnapshotState(id uint64) ([]byte, error) {
	if err := s.prepare(); err != nil {
		return nil, err
	}
	if s.tx == nil {
		return nil, nil
	}
	if err := s.tx.preCommit(s.ctx, id); err != nil {
		s.fail(err)
		return nil, err
	}
	s.cl = s.tx.slots[s.tx.cur]
	return encodeState(s.tx.pending), nil
}

// RestoreState takes the transactions the restored checkpoint
// pre-committed; they are committed before anything else happens (also
// with AtLeastOnce, so that switching guarantees loses nothing).
func (s *Sink[T]) RestoreState(state []byte) error {
	ps, err := decodeState(state)
	if err != nil {
		return err
	}
	if s.ready {
		return errors.New("kafka sink: RestoreState after the first write")
	}
	s.recov = ps
	return nil
}

// Commit commits (ExactlyOnce) the transactions pre-committed for
// checkpoints up to id; with engine.EndOfInput also the open one, which
// the final Flush made complete. AtLeastOnce has nothing to commit.
func (s *Sink[T]) Commit(id uint64) error {
	if err := s.prepare(); err != nil {
		return err
	}
	if s.tx == nil {
		return nil
	}
	if err := s.tx.commit(s.ctx, id); err != nil {
		s.fail(err)
		return err
	}
	return nil
}

// Close is CloseContext with a 10 s bound.
func (s *Sink[T]) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.CloseContext(ctx)
}

// CloseContext closes the producers. Records not flushed are dropped (the
// engine flushes before closing after a clean end). With ExactlyOnce and a
// live ctx, the open transaction (records after the last checkpoint) is
// aborted; pre-committed transactions are left for a restore to commit.
// With ctx done it closes at once, and the next run's fencing (or the
// transaction timeout) aborts the open transaction.
func (s *Sink[T]) CloseContext(ctx context.Context) error {
	if s.cl == nil {
		return nil
	}
	var err error
	if s.tx != nil && ctx.Err() == nil && s.failure() == nil {
		err = s.tx.abortOpen(ctx)
	}
	s.cancel()
	s.closeClients()
	s.log.Info("kafka sink closed", zap.Int64("written", s.written.Load()), zap.Int64("acknowledged", s.acked.Load()), zap.Error(err))
	return err
}

func (s *Sink[T]) closeClients() {
	if s.tx != nil {
		s.tx.close()
	} else if s.cl != nil {
		s.cl.Close()
	}
	s.cl, s.tx, s.ready = nil, nil, false
}

// Stats are the sink's counters since it was created.
type Stats struct {
	// Written is the number of records handed to the producer, Acked how
	// many of them the brokers acknowledged.
	Written, Acked int64
}

// Stats returns the counters; safe for concurrent use.
func (s *Sink[T]) Stats() Stats { return Stats{Written: s.written.Load(), Acked: s.acked.Load()} }

func (s *Sink[T]) failure() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// fail records the sink's first failure; later calls return it.
func (s *Sink[T]) fail(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err == nil {
		s.err = err
		s.log.Error("kafka sink failed", zap.Error(err))
	}
}
