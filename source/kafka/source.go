package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/source"
)

// RecordError reports a record whose value could not be parsed. It
// matches source.ErrBadRecord with errors.Is and unwraps to Err.
type RecordError struct {
	Topic     string
	Partition int32
	Offset    int64
	// Err is the parse function's error.
	Err error
}

// Error returns "kafka topic T partition P offset O: err".
func (e *RecordError) Error() string {
	return fmt.Sprintf("kafka topic %s partition %d offset %d: %v", e.Topic, e.Partition, e.Offset, e.Err)
}

// Unwrap returns Err.
func (e *RecordError) Unwrap() error { return e.Err }

// Is reports whether target is source.ErrBadRecord.
func (e *RecordError) Is(target error) bool { return target == source.ErrBadRecord }

const (
	// DefaultMaxWait is how long Read waits for records before it returns
	// none, so that checkpoint barriers get through a quiet partition.
	DefaultMaxWait = 200 * time.Millisecond
	// KeptErrors is how many errors a Skip-policy Source keeps for Errors
	// (source.KeptErrors).
	KeptErrors = source.KeptErrors
	// maxScratch bounds the records one Read takes from the queue.
	maxScratch = 1 << 16
)

// Option configures a Source.
type Option func(*options)

type options struct {
	onBad   source.BadRecordPolicy
	logger  *zap.Logger
	maxWait time.Duration
}

// WithBadRecords sets the policy for values that do not parse: source.Fail
// (the default) fails Read with a *RecordError, source.Skip drops and
// counts them (Skipped, Errors).
func WithBadRecords(p source.BadRecordPolicy) Option { return func(o *options) { o.onBad = p } }

// WithLogger makes a Skip-policy source log a warning for each of the first
// few skipped records, then one notice that further ones are only counted.
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.logger = l } }

// WithMaxWait sets how long Read waits for a record before returning none
// (default DefaultMaxWait; at most a second; <= 0 restores the default).
func WithMaxWait(d time.Duration) Option { return func(o *options) { o.maxWait = d } }

// Source reads one owned partition's records (see Member.Partition) and
// parses their values into records of type T; the key is ignored.
//
// It implements engine.StatefulSource: its state is the offset of the
// next record to read (with the topic and partition, versioned; see
// DecodeState), and RestoreState checks that the partition's fetching
// started exactly there, which is where Handler.Assigned said.
//
// Read returns at least every 200 ms (WithMaxWait), with no record if none
// came, so that checkpoint barriers get through; it ends with an error
// matching ErrRevoked once the partition is revoked, and fails with the
// partition's fetch error (such as an offset out of range) after the
// records fetched before it.
//
// A Source is used by one goroutine (the engine's source goroutine),
// except Idle, Skipped and Errors, which are safe from any goroutine. Its
// state cannot rewind: Open after a Read is an error.
type Source[T any] struct {
	p     *Partition
	parse func([]byte) (T, error)
	opts  options

	next    int64
	read    bool
	err     error // sticky: revoked, fetch error, or a bad record under Fail
	scratch []*kgo.Record
	timer   *time.Timer

	bad source.BadRecords[*RecordError] // the bad-record policy, count and kept errors
}

var (
	_ engine.StatefulSource[int] = (*Source[int])(nil)
	_ engine.SkipCounter         = (*Source[int])(nil)
)

// NewSource returns a source reading partition p and parsing each value
// with parse. parse receives the record's value; the slice is only valid
// during the call (copy what the result keeps).
func NewSource[T any](p *Partition, parse func(value []byte) (T, error), opts ...Option) *Source[T] {
	s := &Source[T]{p: p, parse: parse}
	for _, o := range opts {
		o(&s.opts)
	}
	s.bad.Policy, s.bad.Log = s.opts.onBad, s.opts.logger
	if s.opts.maxWait <= 0 {
		s.opts.maxWait = DefaultMaxWait
	}
	s.opts.maxWait = min(s.opts.maxWait, time.Second)
	if p != nil {
		s.next = p.Start()
	}
	return s
}

// Partition returns the partition the source reads.
func (s *Source[T]) Partition() *Partition { return s.p }

// Open checks the source; reading starts at the partition's start offset.
func (s *Source[T]) Open(ctx context.Context) error {
	switch {
	case s.p == nil:
		return errors.New("kafka: source: nil Partition")
	case s.parse == nil:
		return fmt.Errorf("kafka: source %s: nil parse function", s.p)
	case s.read:
		return fmt.Errorf("kafka: source %s: cannot be reopened after reading (the partition's queue does not rewind)", s.p)
	}
	s.next, s.err = s.p.Start(), nil
	if s.timer == nil {
		s.timer = time.NewTimer(time.Hour)
		s.timer.Stop()
	}
	return nil
}

// Read parses the next queued records into buf; see Source.
func (s *Source[T]) Read(ctx context.Context, buf []T) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if s.timer == nil {
		return 0, fmt.Errorf("kafka: source %s: Read before Open", s.p)
	}
	s.read = true
	want := min(len(buf), maxScratch)
	if cap(s.scratch) < want {
		s.scratch = make([]*kgo.Record, want)
	}
	recs := s.scratch[:want]
	n, err := s.p.take(ctx, recs, s.opts.maxWait, s.timer)
	if err != nil {
		if errors.Is(err, ErrRevoked) {
			s.err = fmt.Errorf("kafka: topic %s partition %d: %w", s.p.topic, s.p.id, ErrRevoked)
			return 0, s.err
		}
		if ctx.Err() != nil {
			return 0, err
		}
		s.err = err
		return 0, err
	}
	out := 0
	for i, r := range recs[:n] {
		v, perr := s.parse(r.Value)
		if perr != nil {
			re := &RecordError{Topic: s.p.topic, Partition: s.p.id, Offset: r.Offset, Err: perr}
			if !s.badRecord(re) {
				clear(recs[i:n])
				s.next, s.err = r.Offset, re
				return out, re
			}
		} else {
			buf[out] = v
			out++
		}
		s.next = r.Offset + 1
		recs[i] = nil
	}
	return out, nil
}

// badRecord applies the policy to re and reports whether to carry on.
func (s *Source[T]) badRecord(re *RecordError) bool {
	return s.bad.Skip(re, zap.String("topic", re.Topic), zap.Int32("partition", re.Partition), zap.Int64("offset", re.Offset))
}

// Skipped returns how many bad records were skipped so far.
func (s *Source[T]) Skipped() int64 { return s.bad.Skipped() }

// Errors returns the first KeptErrors errors of skipped records.
func (s *Source[T]) Errors() []*RecordError { return s.bad.Errors() }

// Idle reports whether the partition had no record for Config.IdleTimeout
// and none is waiting (Flink's withIdleness): its watermark should not
// hold the others back.
func (s *Source[T]) Idle() bool { return s.p != nil && s.p.Idle() }

// Next returns the offset of the next record to read.
func (s *Source[T]) Next() int64 { return s.next }

// Close releases the source's timer. It does not revoke the partition.
func (s *Source[T]) Close() error {
	if s.timer != nil {
		s.timer.Stop()
	}
	return nil
}

// SnapshotState returns the topic, partition and next offset to read.
func (s *Source[T]) SnapshotState() ([]byte, error) {
	return EncodeState(State{Topic: s.p.topic, Partition: s.p.id, Next: s.next}), nil
}

// RestoreState continues from a SnapshotState of the same topic and
// partition. It must be called after Open and before Read, and the
// state's offset must be where the partition's fetching started
// (Partition.Start): the offset Handler.Assigned returned from the same
// checkpoint.
func (s *Source[T]) RestoreState(state []byte) error {
	st, err := DecodeState(state)
	if err != nil {
		return fmt.Errorf("kafka: source %s: %w", s.p, err)
	}
	switch {
	case s.read:
		return fmt.Errorf("kafka: source %s: RestoreState after Read", s.p)
	case st.Topic != s.p.topic || st.Partition != s.p.id:
		return fmt.Errorf("kafka: source %s: the state is of topic %s partition %d", s.p, st.Topic, st.Partition)
	case st.Next != s.p.Start():
		return fmt.Errorf("kafka: source %s: restoring next offset %d, but fetching started at %d: Handler.Assigned must return the checkpoint's offset (DecodeState) for this partition",
			s.p, st.Next, s.p.Start())
	}
	s.next = st.Next
	return nil
}

// State is a Source's checkpointed state.
type State struct {
	Topic     string
	Partition int32
	// Next is the offset of the next record to read.
	Next int64
}

// stateVersion 1: version (u8), partition (i32), next (i64), topic length
// (u16), topic.
const stateVersion = 1

// EncodeState encodes st as SnapshotState does.
func EncodeState(st State) []byte {
	b := make([]byte, 0, 15+len(st.Topic))
	b = append(b, stateVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(st.Partition))
	b = binary.BigEndian.AppendUint64(b, uint64(st.Next))
	b = binary.BigEndian.AppendUint16(b, uint16(len(st.Topic)))
	return append(b, st.Topic...)
}

// DecodeState decodes a Source's state: a runner reads the checkpointed
// next offset with it for Handler.Assigned.
func DecodeState(b []byte) (State, error) {
	if len(b) < 15 {
		return State{}, fmt.Errorf("not a kafka source state (%d bytes)", len(b))
	}
	if b[0] != stateVersion {
		return State{}, fmt.Errorf("kafka source state version %d, want %d", b[0], stateVersion)
	}
	st := State{
		Partition: int32(binary.BigEndian.Uint32(b[1:])),
		Next:      int64(binary.BigEndian.Uint64(b[5:])),
	}
	n := int(binary.BigEndian.Uint16(b[13:]))
	if len(b) != 15+n {
		return State{}, fmt.Errorf("corrupt kafka source state: %d bytes, want %d", len(b), 15+n)
	}
	st.Topic = string(b[15:])
	if st.Partition < 0 || st.Next < 0 || st.Next == math.MaxInt64 || validateTopic(st.Topic) != nil {
		return State{}, fmt.Errorf("corrupt kafka source state: topic %q partition %d next %d", st.Topic, st.Partition, st.Next)
	}
	return st, nil
}
