// Package cassandra is a batched, bounded, idempotent Cassandra sink on gocql.
//
// Records are collected per partition key across Write calls and sent as
// unlogged batches of at most Config.BatchRows rows (never a multi-partition
// batch) by Config.MaxInFlight workers. A partition's rows are sent when
// they fill a batch, when its first row has waited Config.Linger, and on
// Flush; when all partitions together hold Config.MaxBufferedRows rows, the
// fullest partitions are sent until half of that is left. When every worker is busy, Write blocks: that is how a slow or
// absent server pushes back on the pipeline, and why memory stays bounded
// (the collected rows, plus at most 2 × MaxInFlight batches queued or in
// flight).
// Writes are idempotent upserts, retried with exponential backoff for up to
// Config.RetryBudget; a failure that outlasts it fails the sink, and the
// error is returned by the next Write or Flush. Flush returns only when
// every record accepted so far is acknowledged.
//
// The sink is an engine.AckingSink: given an acknowledgement function
// (SetAck), it reports each WriteStamped batch once every one of its rows
// is acknowledged by the server, which the engine turns into the
// end-to-end latency and the sink's progress. Each collected row carries a
// pointer to its batch's reference count; a worker releases the counts of
// the rows of a request once the request succeeds.
package cassandra

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/gocql/gocql"
	"go.uber.org/zap"

	"github.com/topspeed/topspeed/engine"
)

// Mapping tells the sink how to store records of type T in a table whose
// partition key has type K. A job owns its mapping: the table's columns,
// its definition and where it lives by default.
type Mapping[T any, K comparable] struct {
	// Keyspace and Table are where the job's table lives unless
	// Config.Keyspace or Config.Table say otherwise.
	Keyspace, Table string
	// Columns are the table's columns written, in bind order.
	Columns []string
	// Bind appends the column values of v to dst and returns it.
	Bind func(dst []any, v T) []any
	// PartitionKey returns v's partition key; batches never mix keys.
	PartitionKey func(v T) K
	// Schema returns the statements that create the table in
	// keyspace.table, all IF NOT EXISTS (CREATE TABLE, and CREATE TYPE or
	// CREATE INDEX if it needs them), run in order after the keyspace is
	// created when Config.CreateSchema is set.
	Schema func(keyspace, table string) []string
}

// Resolve returns c with an empty Keyspace or Table set to m's defaults.
func (m Mapping[T, K]) Resolve(c Config) Config {
	if c.Keyspace == "" {
		c.Keyspace = m.Keyspace
	}
	if c.Table == "" {
		c.Table = m.Table
	}
	return c
}

// Stats are the sink's counters since Open.
type Stats struct {
	Rows, Requests, Retries, Failures int64
	// Latency quantiles of acknowledged requests (including retries).
	P50, P99, Max time.Duration
}

// Sink writes records of type T to Cassandra. It implements
// engine.Sink[T] and engine.AckingSink[T]: SetAck, Open, Write,
// WriteStamped and Flush are called from one goroutine.
type Sink[T any, K comparable] struct {
	cfg  Config
	m    Mapping[T, K]
	log  *zap.Logger
	stmt string

	session       *gocql.Session
	sessionClosed bool // CloseContext ran: session is closed but kept for workers still running
	ctx           context.Context
	cancel        context.CancelFunc
	work          chan request[T]
	free          chan request[T] // request buffers returned by the workers
	ack           engine.AckFunc  // SetAck; nil: rows carry no references
	refs          sync.Pool       // *ackRef
	workers       sync.WaitGroup
	pending       sync.WaitGroup

	mu       sync.Mutex // guards the collected rows and closed; held while dispatching
	closed   bool       // work is closed: nothing may be dispatched any more
	groups   map[K]group[T]
	buffered int
	sizes    []keySize[K] // scratch for sendFullest

	errMu sync.Mutex
	err   error // first failure, sticky

	rows, requests, retries, failures atomic.Int64
	lat                               latencyHist
	met                               *sinkMetrics // see Describe
}

// New returns a sink for cfg and mapping; an empty cfg.Keyspace or
// cfg.Table is the mapping's (Mapping.Resolve). log may be nil.
func New[T any, K comparable](cfg Config, m Mapping[T, K], log *zap.Logger) (*Sink[T, K], error) {
	cfg = m.Resolve(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.Keyspace == "" || cfg.Table == "":
		return nil, errors.New("cassandra: no keyspace or table: set them in the Config or the Mapping")
	case len(m.Columns) == 0 || m.Bind == nil || m.PartitionKey == nil:
		return nil, errors.New("cassandra: mapping needs Columns, Bind and PartitionKey")
	case cfg.CreateSchema && m.Schema == nil:
		return nil, errors.New("cassandra: CreateSchema is set but the mapping has no Schema")
	}
	if log == nil {
		log = zap.NewNop()
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(m.Columns)), ", ")
	stmt := fmt.Sprintf("INSERT INTO %s.%s (%s) VALUES (%s)", cfg.Keyspace, cfg.Table, strings.Join(m.Columns, ", "), marks)
	return &Sink[T, K]{cfg: cfg, m: m, log: log, stmt: stmt, groups: map[K]group[T]{}, met: newSinkMetrics(cfg.MetricsNamespace)}, nil
}

// Config returns the sink's configuration, keyspace and table resolved.
func (s *Sink[T, K]) Config() Config { return s.cfg }

// Open connects (retrying within Config.ConnectBudget), creates the schema
// if configured, and starts the workers.
func (s *Sink[T, K]) Open(ctx context.Context) error {
	s.log.Info("cassandra sink connecting", zap.Stringer("config", s.cfg))
	sess, err := Connect(ctx, s.cfg, s.log)
	if err != nil {
		return err
	}
	if s.cfg.CreateSchema {
		if err := CreateSchema(ctx, sess, s.cfg, s.m.Schema(s.cfg.Keyspace, s.cfg.Table)...); err != nil {
			sess.Close()
			return err
		}
	}
	s.session, s.sessionClosed = sess, false
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.work = make(chan request[T], s.cfg.MaxInFlight)
	s.free = make(chan request[T], 2*s.cfg.MaxInFlight+1)
	for i := 0; i < s.cfg.MaxInFlight; i++ {
		s.workers.Add(1)
		go s.worker()
	}
	s.workers.Add(1)
	go s.linger()
	return nil
}

// linger sends rows that have waited Config.Linger, so that a slow stream's
// results do not wait for the next Flush.
func (s *Sink[T, K]) linger() {
	defer s.workers.Done()
	t := time.NewTicker(max(s.cfg.Linger/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			now := time.Now()
			for k, g := range s.groups {
				if now.Sub(g.since) >= s.cfg.Linger {
					if err := s.dispatch(s.ctx, k, g); err != nil {
						break // sticky: seen by the next Write or Flush
					}
				}
			}
			s.mu.Unlock()
		}
	}
}

// dispatch queues one partition's rows for a worker. Called with mu held;
// it blocks while the queue is full (backpressure).
func (s *Sink[T, K]) dispatch(ctx context.Context, k K, g group[T]) error {
	if s.closed {
		return errors.New("cassandra: sink closed")
	}
	delete(s.groups, k)
	s.buffered -= len(g.rows)
	s.pending.Add(1)
	select {
	case s.work <- g.request:
		return nil
	case <-ctx.Done():
		s.pending.Done()
		return context.Cause(ctx)
	case <-s.ctx.Done():
		s.pending.Done()
		return s.failureOr(context.Cause(s.ctx))
	}
}

// request is one partition's rows sent in one request, and, when the sink
// reports acknowledgements, each row's batch reference (refs[i] is rows[i]'s).
type request[T any] struct {
	rows []T
	refs []*ackRef
}

// group is one partition's collected rows and when the first arrived.
type group[T any] struct {
	request[T]
	since time.Time
}

// ackRef counts the rows of one WriteStamped batch not yet acknowledged,
// plus one held by WriteStamped itself until it has collected them all.
type ackRef struct {
	stamp int64
	n     int
	left  atomic.Int64
}

// release acknowledges n of r's rows and reports the batch when it was
// the last.
func (s *Sink[T, K]) release(r *ackRef, n int) {
	if r.left.Add(-int64(n)) == 0 {
		s.ack(r.stamp, r.n)
		s.refs.Put(r)
	}
}

// acked releases the references of a request's rows, one atomic operation
// per run of rows from the same batch.
func (s *Sink[T, K]) acked(refs []*ackRef) {
	for i := 0; i < len(refs); {
		r, j := refs[i], i+1
		for j < len(refs) && refs[j] == r {
			j++
		}
		s.release(r, j-i)
		i = j
	}
}

type keySize[K comparable] struct {
	k K
	n int
}

// dispatchAll queues every collected row. Called with mu held.
func (s *Sink[T, K]) dispatchAll(ctx context.Context) error {
	for k, g := range s.groups {
		if err := s.dispatch(ctx, k, g); err != nil {
			return err
		}
	}
	return nil
}

// sendFullest queues the fullest partitions until at most half of
// MaxBufferedRows rows are left collected. Called with mu held.
func (s *Sink[T, K]) sendFullest(ctx context.Context) error {
	s.sizes = s.sizes[:0]
	for k, g := range s.groups {
		s.sizes = append(s.sizes, keySize[K]{k, len(g.rows)})
	}
	sort.Slice(s.sizes, func(i, j int) bool { return s.sizes[i].n > s.sizes[j].n })
	for _, ks := range s.sizes {
		if s.buffered <= s.cfg.MaxBufferedRows/2 {
			break
		}
		if err := s.dispatch(ctx, ks.k, s.groups[ks.k]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink[T, K]) newRequest() request[T] {
	select {
	case r := <-s.free:
		return r
	default:
		r := request[T]{rows: make([]T, 0, s.cfg.BatchRows)}
		if s.ack != nil {
			r.refs = make([]*ackRef, 0, s.cfg.BatchRows)
		}
		return r
	}
}

// SetAck implements engine.AckingSink: ack is called once all the rows of a
// WriteStamped batch are acknowledged. Call it before Open.
func (s *Sink[T, K]) SetAck(ack engine.AckFunc) { s.ack = ack }

// Write collects batch's rows by partition key and queues every partition
// batch that is full. It blocks while MaxInFlight requests are queued.
// With SetAck, it is WriteStamped with stamp 0.
func (s *Sink[T, K]) Write(ctx context.Context, batch []T) error {
	return s.WriteStamped(ctx, batch, 0)
}

// WriteStamped is Write that, with SetAck, reports ack(stamp, len(batch))
// once every row of batch is acknowledged (engine.AckingSink).
func (s *Sink[T, K]) WriteStamped(ctx context.Context, batch []T, stamp int64) error {
	if err := s.failure(); err != nil {
		return err
	}
	var ref *ackRef
	if s.ack != nil {
		ref, _ = s.refs.Get().(*ackRef)
		if ref == nil {
			ref = &ackRef{}
		}
		ref.stamp, ref.n = stamp, len(batch)
		ref.left.Store(int64(len(batch)) + 1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var now time.Time
	for i := range batch {
		k := s.m.PartitionKey(batch[i])
		g, ok := s.groups[k]
		if !ok {
			if now.IsZero() {
				now = time.Now()
			}
			g = group[T]{request: s.newRequest(), since: now}
		}
		g.rows = append(g.rows, batch[i])
		if ref != nil {
			g.refs = append(g.refs, ref)
		}
		s.groups[k] = g
		s.buffered++
		if len(g.rows) >= s.cfg.BatchRows {
			if err := s.dispatch(ctx, k, g); err != nil {
				return err
			}
		}
		if s.buffered >= s.cfg.MaxBufferedRows {
			if err := s.sendFullest(ctx); err != nil {
				return err
			}
		}
	}
	if ref != nil {
		s.release(ref, 1) // every row is collected
	}
	return nil
}

// Flush sends every collected row, waits until every request is
// acknowledged, and returns the first failure, if any.
func (s *Sink[T, K]) Flush(ctx context.Context) error {
	s.mu.Lock()
	err := s.dispatchAll(ctx)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { s.pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	return s.failure()
}

// Close is CloseContext bounded by Config.Timeout, the time one request
// may take: it implements engine.Sink, whose Close takes no context.
func (s *Sink[T, K]) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	return s.CloseContext(ctx)
}

// CloseContext stops the sink: it cancels the requests in flight (records
// not flushed are dropped; the engine always flushes before Close after a
// clean end), waits until every worker has returned, and closes the
// session. If ctx ends first, it closes the session anyway, which fails
// the requests still running, and returns an error wrapping ctx's cause;
// the workers then end in the background. Call it from the goroutine that
// called Open and Write.
func (s *Sink[T, K]) CloseContext(ctx context.Context) error {
	if s.session == nil || s.sessionClosed {
		return nil
	}
	s.cancel()
	s.mu.Lock() // the linger goroutine may be dispatching (it gives up: s.ctx is done)
	s.closed = true
	close(s.work)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.workers.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("cassandra: close: requests still running: %w", context.Cause(ctx))
	}
	// Workers still running (ctx ended first) fail fast on the closed
	// session; it stays set, since they may still read it.
	s.session.Close()
	s.sessionClosed = true
	st := s.Stats()
	s.log.Info("cassandra sink closed", zap.Int64("rows", st.Rows), zap.Int64("requests", st.Requests),
		zap.Int64("retries", st.Retries), zap.Duration("p50", st.P50), zap.Duration("p99", st.P99), zap.Error(err))
	return err
}

// Stats returns the counters.
func (s *Sink[T, K]) Stats() Stats {
	p50, p99, mx := s.lat.quantiles()
	return Stats{Rows: s.rows.Load(), Requests: s.requests.Load(), Retries: s.retries.Load(), Failures: s.failures.Load(), P50: p50, P99: p99, Max: mx}
}

func (s *Sink[T, K]) failure() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *Sink[T, K]) failureOr(err error) error {
	if f := s.failure(); f != nil {
		return f
	}
	return err
}

func (s *Sink[T, K]) fail(err error) {
	s.errMu.Lock()
	if s.err == nil {
		s.err = err
		s.log.Error("cassandra sink failed", zap.Error(err))
	}
	s.errMu.Unlock()
	s.cancel()
}

func (s *Sink[T, K]) worker() {
	defer s.workers.Done()
	var args []any
	for r := range s.work {
		if s.ctx.Err() == nil {
			var err error
			args, err = s.send(r.rows, args)
			if err != nil {
				s.failures.Add(1)
				s.fail(err)
			} else if r.refs != nil {
				s.acked(r.refs)
			}
		}
		clear(r.refs) // drop the references: the batches may be reused
		r.rows, r.refs = r.rows[:0], r.refs[:0]
		select {
		case s.free <- r:
		default:
		}
		s.pending.Done()
	}
}

// permanent reports errors a retry cannot fix.
func permanent(err error) bool {
	var re gocql.RequestError
	if errors.As(err, &re) {
		switch re.Code() {
		case gocql.ErrCodeSyntax, gocql.ErrCodeInvalid, gocql.ErrCodeUnauthorized, gocql.ErrCodeCredentials, gocql.ErrCodeConfig:
			return true
		}
	}
	return false
}

// send writes rows (one partition) as one statement or one unlogged batch,
// retrying transient failures within the retry budget.
func (s *Sink[T, K]) send(rows []T, args []any) ([]any, error) {
	start := time.Now()
	attempts := 0
	s.met.inFlight.Inc()
	defer s.met.inFlight.Dec()
	op := func() (struct{}, error) {
		attempts++
		var err error
		if len(rows) == 1 {
			args = s.m.Bind(args[:0], rows[0])
			err = s.session.Query(s.stmt, args...).WithContext(s.ctx).Idempotent(true).Exec()
		} else {
			b := s.session.NewBatch(gocql.UnloggedBatch).WithContext(s.ctx)
			b.Entries = make([]gocql.BatchEntry, 0, len(rows))
			for i := range rows {
				b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: s.stmt, Args: s.m.Bind(nil, rows[i]), Idempotent: true})
			}
			err = s.session.ExecuteBatch(b)
		}
		if err != nil && s.ctx.Err() == nil {
			s.met.errors.WithLabelValues(errKind(err)).Inc()
		}
		if err != nil && permanent(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		if err != nil && attempts > 1 && attempts%10 == 2 {
			s.log.Warn("cassandra write failing, retrying", zap.Int("attempt", attempts), zap.Error(err))
		}
		return struct{}{}, err
	}
	eb := backoff.NewExponentialBackOff()
	eb.InitialInterval, eb.MaxInterval = s.cfg.RetryInitial, s.cfg.RetryMax
	_, err := backoff.Retry(s.ctx, op, backoff.WithBackOff(eb), backoff.WithMaxElapsedTime(s.cfg.RetryBudget))
	s.requests.Add(1)
	if attempts > 1 {
		s.retries.Add(int64(attempts - 1))
	}
	if err != nil {
		if s.ctx.Err() != nil {
			return args, context.Cause(s.ctx)
		}
		return args, fmt.Errorf("cassandra: write of %d row(s) failed after %d attempt(s) in %v: %w", len(rows), attempts, time.Since(start).Round(time.Millisecond), err)
	}
	s.lat.record(time.Since(start))
	s.met.duration.Observe(time.Since(start).Seconds())
	s.met.rows.Observe(float64(len(rows)))
	s.rows.Add(int64(len(rows)))
	return args, nil
}
