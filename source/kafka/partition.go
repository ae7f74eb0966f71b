package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrRevoked is returned by Partition.Take and Source.Read once the
// partition was revoked from the member (or lost, or the member stopped):
// another member owns it now, or will, and this task must stop.
var ErrRevoked = errors.New("kafka: partition revoked")

// Partition is the record queue of one partition the member owns, for one
// assignment: when the partition is revoked and later assigned again, the
// member makes a new Partition.
//
// The member's poll loop appends fetched records; one reader (a Source)
// takes them. The queue holds about Config.QueueRecords records: once it
// holds that many, the member pauses fetching this partition, and resumes
// it when the reader has drained it to half, so that a slow task does not
// hold up the partitions of the others. (A single fetch may overshoot the
// bound by what Kafka returns for one partition in one fetch, at most
// about 1 MiB.)
//
// Take must be called from one goroutine at a time; every other method is
// safe for concurrent use.
type Partition struct {
	topic string
	id    int32
	gen   int32
	start int64
	bound int
	idle  time.Duration

	// pause and resume stop and restart fetching this partition; they are
	// called with mu held and must not block.
	pause, resume func()

	mu      sync.Mutex
	recs    []*kgo.Record // queued records, recs[head:]
	head    int
	paused  bool
	next    int64 // offset the next appended record must have at least
	err     error // sticky fetch error, returned once the queue is empty
	revoked bool

	notify    chan struct{} // cap 1: records or an error arrived
	revokedCh chan struct{} // closed by revoke

	queued    atomic.Int64
	delivered atomic.Int64 // offset after the last record taken
	hw        atomic.Int64 // high watermark seen in the last fetch, -1 before
	arrival   atomic.Int64 // UnixNano of the last append, or of the assignment
}

func newPartition(topic string, id, gen int32, start int64, bound int, idle time.Duration, pause, resume func()) *Partition {
	p := &Partition{
		topic: topic, id: id, gen: gen, start: start, bound: bound, idle: idle,
		pause: pause, resume: resume,
		next:      start,
		notify:    make(chan struct{}, 1),
		revokedCh: make(chan struct{}),
	}
	p.delivered.Store(start)
	p.hw.Store(-1)
	p.arrival.Store(time.Now().UnixNano())
	return p
}

// Topic returns the partition's topic.
func (p *Partition) Topic() string { return p.topic }

// ID returns the partition number.
func (p *Partition) ID() int32 { return p.id }

// Generation returns the group generation in which the member was
// assigned this partition: the fencing epoch of this ownership (a later
// owner has a larger one).
func (p *Partition) Generation() int32 { return p.gen }

// Start returns the offset fetching started at: the offset Handler.Assigned
// returned for this partition, or where StartOffset resolved to.
func (p *Partition) Start() int64 { return p.start }

// Revoked returns a channel closed once the partition is revoked or lost.
func (p *Partition) Revoked() <-chan struct{} { return p.revokedCh }

// Queued returns how many records wait in the queue.
func (p *Partition) Queued() int { return int(p.queued.Load()) }

// HighWatermark returns the partition's high watermark (the offset after
// the last committed record in Kafka) as of the last fetch, or -1 before
// the first fetch answered.
func (p *Partition) HighWatermark() int64 { return p.hw.Load() }

// Lag returns how many records the reader is behind the high watermark
// (queued records included), or -1 before the first fetch answered.
func (p *Partition) Lag() int64 {
	hw := p.hw.Load()
	if hw < 0 {
		return -1
	}
	return max(0, hw-p.delivered.Load())
}

// Idle reports whether the partition is idle for Config.IdleTimeout: see
// IdleFor.
func (p *Partition) Idle() bool { return p.IdleFor(p.idle) }

// IdleFor reports whether no record arrived for at least d (since the
// assignment, at first) and none is queued. d <= 0 never counts as idle.
func (p *Partition) IdleFor(d time.Duration) bool {
	if d <= 0 || p.queued.Load() > 0 {
		return false
	}
	return time.Since(time.Unix(0, p.arrival.Load())) >= d
}

// String returns "topic/partition".
func (p *Partition) String() string { return fmt.Sprintf("%s/%d", p.topic, p.id) }

// append queues fetched records, called by the member's poll loop. Records
// below the next expected offset (a stale fetch) are dropped. It pauses
// fetching once the queue reaches its bound.
func (p *Partition) append(recs []*kgo.Record, hw int64) {
	if hw >= 0 {
		p.hw.Store(hw)
	}
	if len(recs) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.revoked {
		return
	}
	n := 0
	for _, r := range recs {
		if r.Offset < p.next {
			continue
		}
		p.recs = append(p.recs, r)
		p.next = r.Offset + 1
		n++
	}
	if n == 0 {
		return
	}
	p.queued.Add(int64(n))
	p.arrival.Store(time.Now().UnixNano())
	if !p.paused && len(p.recs)-p.head >= p.bound {
		p.paused = true
		if p.pause != nil {
			p.pause()
		}
	}
	p.signal()
}

// fail records a fetch error for the reader, after the queued records.
func (p *Partition) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil && !p.revoked {
		p.err = err
		p.signal()
	}
}

// failed reports whether a fetch error was recorded.
func (p *Partition) failed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err != nil
}

func (p *Partition) signal() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// revoke ends the assignment: Take returns ErrRevoked from now on and
// queued records are dropped. It reports whether this call revoked it.
func (p *Partition) revoke() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.revoked {
		return false
	}
	p.revoked = true
	clear(p.recs)
	p.recs, p.head = nil, 0
	p.queued.Store(0)
	close(p.revokedCh)
	return true
}

// Take moves up to len(dst) queued records into dst, in offset order, and
// returns how many. If none is queued it waits up to wait for some (wait
// <= 0: not at all), returning 0 and nil when none came. It returns
// ErrRevoked once the partition is revoked, a fetch error (such as an
// offset out of range) once the records queued before it are taken, and
// ctx's error when ctx is done. The records stay valid after Take; the
// caller owns them.
func (p *Partition) Take(ctx context.Context, dst []*kgo.Record, wait time.Duration) (int, error) {
	return p.take(ctx, dst, wait, nil)
}

// take is Take with a reusable timer (nil: a new one per wait).
func (p *Partition) take(ctx context.Context, dst []*kgo.Record, wait time.Duration, timer *time.Timer) (int, error) {
	var deadline time.Time
	for {
		n, err, ok := p.tryTake(dst)
		if ok || wait <= 0 {
			return n, err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(wait)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return 0, nil
		}
		if err := p.waitReady(ctx, left, timer); err != nil {
			return 0, err
		}
	}
}

// tryTake takes what is queued; ok is false when there was nothing to
// report (no record, no error).
func (p *Partition) tryTake(dst []*kgo.Record) (n int, err error, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.revoked {
		return 0, ErrRevoked, true
	}
	n = copy(dst, p.recs[p.head:])
	if n == 0 {
		if p.err != nil {
			return 0, p.err, true
		}
		return 0, nil, len(dst) == 0
	}
	clear(p.recs[p.head : p.head+n])
	p.head += n
	if p.head == len(p.recs) {
		p.recs, p.head = p.recs[:0], 0
	} else if p.head > cap(p.recs)/2 {
		m := copy(p.recs, p.recs[p.head:])
		clear(p.recs[m:])
		p.recs, p.head = p.recs[:m], 0
	}
	p.queued.Add(-int64(n))
	p.delivered.Store(dst[n-1].Offset + 1)
	if p.paused && len(p.recs)-p.head <= p.bound/2 {
		p.paused = false
		if p.resume != nil {
			p.resume()
		}
	}
	return n, nil, true
}

// waitReady waits until records or an error may be ready, the partition
// is revoked, wait passed (nil), or ctx is done (its error).
func (p *Partition) waitReady(ctx context.Context, wait time.Duration, timer *time.Timer) error {
	if timer == nil {
		timer = time.NewTimer(wait)
		defer timer.Stop()
	} else {
		timer.Reset(wait)
		defer timer.Stop()
	}
	select {
	case <-p.notify:
	case <-p.revokedCh:
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}
