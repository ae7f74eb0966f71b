package engine

import "fmt"

// Stream is a typed stream of records in a pipeline under construction.
//
// A stream may carry its records' timestamp function (see Timestamps), so
// that event time is declared once, at the source, and every stage that
// needs a record's event time (window specs, tester) finds it there.
type Stream[T any] struct {
	p *Pipeline
	// producers is the number of instances that push into outs.
	producers int
	outs      *fanout[T]
	ts        func(T) int64 // event time of a record; nil if not declared
}

// Pipeline returns the pipeline the stream belongs to.
func (s Stream[T]) Pipeline() *Pipeline { return s.p }

// Timestamps returns the function that reads a record's event time (Unix
// milliseconds), or nil if the stream has none. FromSource sets it to the
// WatermarkStrategy's Timestamp; Filter, KeyBy and Union keep it; Map,
// FlatMap and Process produce records of another kind and drop it;
// WithTimestamps declares it.
func (s Stream[T]) Timestamps() func(T) int64 { return s.ts }

// WithTimestamps returns s declaring ts as its records' event time, for
// the stages downstream that read event time (a window spec without its own
// Timestamp, for example). It changes nothing else: the stream's records and
// its watermarks, which only a source emits, stay as they are. Use it after
// a Map or FlatMap, whose output has no timestamps, or to read event time
// from a source that emits no watermarks.
func WithTimestamps[T any](s Stream[T], ts func(T) int64) Stream[T] {
	s.ts = ts
	return s
}

// KeyedStream is a stream partitioned by key: every record of one key goes
// to the same subtask of the next stage.
type KeyedStream[K comparable, T any] struct {
	in   Stream[T]
	keys Keys[K, T]
}

// Keys describes how a KeyedStream's records map to keys and key groups.
// Operators use it to group their state by key group for checkpoints.
type Keys[K comparable, T any] struct {
	// Key extracts a record's key.
	Key func(T) K
	// Hash hashes a key; it must be stable across processes.
	Hash func(K) uint64
	// MaxParallelism is the number of key groups.
	MaxParallelism int
}

// KeyGroup returns key's key group.
func (k Keys[K, T]) KeyGroup(key K) int { return KeyGroup(k.Hash(key), k.MaxParallelism) }

// outlet receives what a producing instance emits. push and control for one
// `from` are only ever called from that producer's goroutine. push must not
// keep batch after it returns. ingest is the batch's ingest stamp (see
// message.ingest), 0 if unknown.
type outlet[T any] interface {
	push(x *execution, from int, batch []T, ingest int64) error
	control(x *execution, from int, c ctrl) error
}

// fanout forwards to every outlet attached to a stream. also are the
// streams that get a copy of its control messages (a stage's side streams,
// see ProcessWithSide), after its own outlets.
type fanout[T any] struct {
	list []outlet[T]
	also []controller
}

// controller receives control messages; see outlet.
type controller interface {
	control(x *execution, from int, c ctrl) error
}

func (f *fanout[T]) push(x *execution, from int, batch []T, ingest int64) error {
	for _, o := range f.list {
		if err := o.push(x, from, batch, ingest); err != nil {
			return err
		}
	}
	return nil
}

func (f *fanout[T]) control(x *execution, from int, c ctrl) error {
	for _, o := range f.list {
		if err := o.control(x, from, c); err != nil {
			return err
		}
	}
	for _, o := range f.also {
		if err := o.control(x, from, c); err != nil {
			return err
		}
	}
	return nil
}

func (p *Pipeline) addNode(n node) {
	for _, m := range p.nodes {
		if m.name() == n.name() {
			p.fail(fmt.Errorf("%w: two stages named %q", ErrInvalidPipeline, n.name()))
		}
	}
	p.nodes = append(p.nodes, n)
}

// FromSource adds a source to the pipeline. ws says how to read event time
// from its records and when to emit watermarks; pass NoWatermarks() if event
// time is not used. The stream carries ws.Timestamp (see Stream.Timestamps).
func FromSource[T any](p *Pipeline, name string, src Source[T], ws WatermarkStrategy[T]) Stream[T] {
	if err := ws.validate(); err != nil {
		p.fail(fmt.Errorf("%w: source %q: %w", ErrInvalidPipeline, name, err))
	}
	out := &fanout[T]{}
	p.addNode(&sourceNode[T]{n: name, src: src, ws: ws, outs: out})
	return Stream[T]{p: p, producers: 1, outs: out, ts: ws.Timestamp}
}

// KeyBy partitions a stream by key. hash must be stable across processes
// (see HashInt32, HashString), because it decides which key group, and so
// which checkpointed state, a key belongs to.
func KeyBy[K comparable, T any](s Stream[T], key func(T) K, hash func(K) uint64) KeyedStream[K, T] {
	return KeyedStream[K, T]{in: s, keys: Keys[K, T]{Key: key, Hash: hash, MaxParallelism: s.p.cfg.MaxParallelism}}
}

// Keys returns how the stream maps records to keys and key groups.
func (k KeyedStream[K, T]) Keys() Keys[K, T] { return k.keys }

// Timestamps returns the timestamp function of the stream that was keyed
// (see Stream.Timestamps), or nil.
func (k KeyedStream[K, T]) Timestamps() func(T) int64 { return k.in.ts }

// OperatorFactory creates the Operator of one subtask.
type OperatorFactory[K comparable, IN, OUT any] func(keys Keys[K, IN]) Operator[IN, OUT]

// Process adds a keyed stage running one Operator per subtask, with the
// pipeline's parallelism.
func Process[K comparable, IN, OUT any](in KeyedStream[K, IN], name string, factory OperatorFactory[K, IN, OUT]) Stream[OUT] {
	ops := make([]Operator[IN, OUT], in.in.p.cfg.Parallelism)
	for i := range ops {
		ops[i] = factory(in.keys)
	}
	return process(in, name, ops, nil)
}

// process adds a keyed stage running ops, one per subtask; sides, if not
// nil, are the subtasks' side outputs.
func process[K comparable, IN, OUT any](in KeyedStream[K, IN], name string, ops []Operator[IN, OUT], sides []sideFlusher) Stream[OUT] {
	p := in.in.p
	par := len(ops)
	out := &fanout[OUT]{}
	st := newKeyedNode(name, par, in.in.producers, p.cfg.QueueBatches, ops, out, sides...)
	ex := newExchange(in.keys, st)
	in.in.outs.list = append(in.in.outs.list, ex)
	p.addNode(st)
	return Stream[OUT]{p: p, producers: par, outs: out}
}

// ToSink sends a stream to a sink. A stream may feed several sinks; each
// gets every record. Options: SinkFlushInterval.
func ToSink[T any](s Stream[T], name string, sink Sink[T], opts ...SinkOption[T]) {
	sn := newSinkNode(name, sink, s.producers, s.p.cfg.QueueBatches)
	for _, o := range opts {
		o(sn)
	}
	if sn.flushInterval < 0 {
		s.p.fail(fmt.Errorf("%w: sink %q: negative flush interval %v", ErrInvalidPipeline, name, sn.flushInterval))
	}
	s.outs.list = append(s.outs.list, sn)
	s.p.addNode(sn)
}

// Map applies fn to every record. It runs chained in the producer's
// goroutine, without a queue. The result has no timestamp function (see
// WithTimestamps).
func Map[T, U any](s Stream[T], fn func(T) U) Stream[U] {
	out := &fanout[U]{}
	s.outs.list = append(s.outs.list, &mapOutlet[T, U]{fn: fn, bufs: make([][]U, s.producers), next: out})
	return Stream[U]{p: s.p, producers: s.producers, outs: out}
}

// Filter keeps the records for which keep returns true, chained like Map.
// The result keeps s's timestamp function.
func Filter[T any](s Stream[T], keep func(T) bool) Stream[T] {
	return WithTimestamps(FlatMap(s, func(v T, emit func(T)) {
		if keep(v) {
			emit(v)
		}
	}), s.ts)
}

// FlatMap calls fn for every record; fn emits zero or more records. It is
// chained like Map. The result has no timestamp function (see
// WithTimestamps).
func FlatMap[T, U any](s Stream[T], fn func(T, func(U))) Stream[U] {
	out := &fanout[U]{}
	fo := &flatMapOutlet[T, U]{fn: fn, bufs: make([][]U, s.producers), next: out}
	s.outs.list = append(s.outs.list, fo)
	return Stream[U]{p: s.p, producers: s.producers, outs: out}
}

type mapOutlet[T, U any] struct {
	fn   func(T) U
	bufs [][]U
	next *fanout[U]
}

func (m *mapOutlet[T, U]) push(x *execution, from int, batch []T, ingest int64) error {
	buf := m.bufs[from][:0]
	for i := range batch {
		buf = append(buf, m.fn(batch[i]))
	}
	m.bufs[from] = buf
	return m.next.push(x, from, buf, ingest)
}

func (m *mapOutlet[T, U]) control(x *execution, from int, c ctrl) error {
	return m.next.control(x, from, c)
}

type flatMapOutlet[T, U any] struct {
	fn   func(T, func(U))
	bufs [][]U
	next *fanout[U]
}

func (m *flatMapOutlet[T, U]) push(x *execution, from int, batch []T, ingest int64) error {
	buf := m.bufs[from][:0]
	emit := func(u U) { buf = append(buf, u) }
	for i := range batch {
		m.fn(batch[i], emit)
	}
	m.bufs[from] = buf
	if len(buf) == 0 {
		return nil
	}
	return m.next.push(x, from, buf, ingest)
}

func (m *flatMapOutlet[T, U]) control(x *execution, from int, c ctrl) error {
	return m.next.control(x, from, c)
}
