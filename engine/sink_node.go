package engine

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// DefaultSinkFlushInterval is the default of SinkFlushInterval.
const DefaultSinkFlushInterval = 200 * time.Millisecond

// sinkIdleDelay is how long a sink whose input queue ran empty after a
// write waits for more input before it drains (Drainer). Short enough to be
// "at once" for a person watching; long enough that, at high throughput,
// the next batch usually arrives first and no drain is made for nothing.
const sinkIdleDelay = time.Millisecond

// SinkFlushInterval bounds how long records written to a sink that
// implements Drainer stay buffered in the process: the sink stage drains
// at the latest d after the first write since the last drain or flush,
// and at once when its input is idle. 0 drains only on Flush (checkpoints
// and end of input). The default is DefaultSinkFlushInterval. It has no
// effect on a sink that does not implement Drainer.
func SinkFlushInterval[T any](d time.Duration) SinkOption[T] {
	return func(s *sinkNode[T]) { s.flushInterval = d }
}

// sinkNode runs one Sink in its own goroutine. Its outlet copies each batch
// into a buffer from a free list, so producers may reuse theirs at once.
type sinkNode[T any] struct {
	n      string
	sink   Sink[T]
	acking AckingSink[T] // sink, if it reports acknowledgements
	inputs int
	in     chan message[T]
	free   chan []T

	flushInterval time.Duration // SinkFlushInterval
	drain         *drainSched   // nil if the sink is not drained
	stats         *stageStats   // nil without metrics
	prog          sinkProgress  // for Pipeline.Progress
}

func newSinkNode[T any](name string, sink Sink[T], inputs, queue int) *sinkNode[T] {
	s := &sinkNode[T]{n: name, sink: sink, inputs: inputs, in: make(chan message[T], queue), free: make(chan []T, queue+2),
		flushInterval: DefaultSinkFlushInterval}
	s.acking, _ = sink.(AckingSink[T])
	s.prog.name = name
	return s
}

func (s *sinkNode[T]) name() string { return s.n }

func (s *sinkNode[T]) push(x *execution, from int, batch []T, ingest int64) error {
	var b []T
	select {
	case b = <-s.free:
	default:
		b = make([]T, 0, len(batch))
	}
	b = append(b[:0], batch...)
	return send(x.ctx, s.in, message[T]{from: from, records: b, ingest: ingest})
}

func (s *sinkNode[T]) control(x *execution, from int, c ctrl) error {
	if c.kind == ctrlWatermark {
		return nil // sinks have no use for event time
	}
	return send(x.ctx, s.in, message[T]{from: from, ctrl: c})
}

func (s *sinkNode[T]) start(x *execution) ([]func() error, error) {
	x.parts++
	commit := make(chan uint64, 16)
	x.commitChs = append(x.commitChs, commit)
	var restored []byte
	if snap := x.p.restore; snap != nil {
		restored = snap.Sinks[s.n]
	}
	stateful, _ := s.sink.(StatefulSink[T])
	if restored != nil && stateful == nil {
		return nil, fmt.Errorf("checkpoint holds sink state but the sink cannot restore it")
	}
	x.p.progSinks = append(x.p.progSinks, &s.prog)
	return []func() error{func() error {
		err := s.run(x, stateful, restored, commit)
		if err != nil && x.ctx.Err() == nil {
			err = fmt.Errorf("engine: sink %q: %w", s.n, err)
		}
		return err
	}}, nil
}

// complete finishes the sink's part of checkpoint id: everything written
// before the barrier is flushed, then a stateful sink snapshots.
func (s *sinkNode[T]) complete(x *execution, stateful StatefulSink[T], id uint64) error {
	if err := s.flush(x); err != nil {
		return fmt.Errorf("flush for checkpoint %d: %w", id, err)
	}
	var state []byte
	if stateful != nil {
		b, err := stateful.SnapshotState(id)
		if err != nil {
			return fmt.Errorf("snapshot for checkpoint %d: %w", id, err)
		}
		state = b
	}
	x.report(id, func(snap *Snapshot) {
		if state != nil {
			snap.Sinks[s.n] = state
		}
	})
	return nil
}

func (s *sinkNode[T]) run(x *execution, stateful StatefulSink[T], restored []byte, commit chan uint64) (err error) {
	ctx := x.ctx
	if s.acking != nil {
		s.acking.SetAck(s.prog.acked)
	}
	if err := s.sink.Open(ctx); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cerr := closeSink(ctx, s.sink); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	if d, ok := s.sink.(Drainer); ok && s.flushInterval > 0 {
		s.drain = newDrainSched(d, s.flushInterval)
		defer s.drain.stop()
	}
	if restored != nil {
		if err := stateful.RestoreState(restored); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	s.stats = x.attach(kindSink, s.n, 0, s.sink, func() (int, int) { return len(s.in), cap(s.in) })
	defer x.detach(s.stats)
	if s.stats != nil {
		s.prog.e2e = s.stats.e2e // before the first Write, so before any ack
	}
	a := &sinkAlign[T]{node: s, x: x, stateful: stateful, align: stateful != nil,
		blocked: make([]bool, s.inputs), ended: make([]bool, s.inputs), counts: map[uint64][]bool{}}
	for a.nEnded < s.inputs {
		var m message[T]
		select {
		case m = <-s.in:
		case id := <-commit:
			if stateful != nil {
				if err := stateful.Commit(id); err != nil {
					return fmt.Errorf("commit %d: %w", id, err)
				}
			}
			continue
		case <-s.drain.timer():
			if err := s.drain.fired(ctx); err != nil {
				return fmt.Errorf("drain: %w", err)
			}
			continue
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if err := a.handle(m); err != nil {
			return err
		}
	}
	if err := s.flush(x); err != nil {
		return fmt.Errorf("final flush: %w", err)
	}
	if stateful != nil {
		if err := stateful.Commit(EndOfInput); err != nil {
			return fmt.Errorf("final commit: %w", err)
		}
	}
	x.log.Debug("sink finished", zap.String("stage", s.n))
	return nil
}

// sinkAlign is the sink's input loop state. A stateful sink aligns
// barriers like a keyed subtask: an input that delivered barrier n is held
// back until all have, so that the sink's state at n covers exactly the
// records before n. A plain sink never blocks an input: it flushes once the
// last barrier arrives, and flushing records from after the barrier too is
// harmless.
type sinkAlign[T any] struct {
	node     *sinkNode[T]
	x        *execution
	stateful StatefulSink[T]
	align    bool

	blocked, ended []bool
	nBlock, nEnded int
	barrier        uint64            // aligning this checkpoint (align mode)
	held           []message[T]      // messages of blocked inputs
	counts         map[uint64][]bool // checkpoint -> which inputs delivered its barrier (plain mode)
}

func (a *sinkAlign[T]) handle(m message[T]) error {
	s, x := a.node, a.x
	if a.blocked[m.from] {
		a.held = append(a.held, m)
		return nil
	}
	switch m.ctrl.kind {
	case 0:
		err := s.write(x, m.records, m.ingest)
		select {
		case s.free <- m.records[:0]:
		default:
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
	case ctrlBarrier:
		if !a.align {
			got := a.counts[m.ctrl.cp]
			if got == nil {
				got = make([]bool, len(a.ended))
				a.counts[m.ctrl.cp] = got
			}
			got[m.from] = true
			return a.completeCounted()
		}
		if a.barrier != 0 && a.barrier != m.ctrl.cp {
			return fmt.Errorf("barrier %d arrived while aligning %d", m.ctrl.cp, a.barrier)
		}
		a.barrier = m.ctrl.cp
		a.blocked[m.from] = true
		a.nBlock++
		return a.maybeAligned()
	case ctrlEnd:
		a.ended[m.from] = true
		a.nEnded++
		if !a.align {
			return a.completeCounted()
		}
		return a.maybeAligned()
	}
	return nil
}

// completeCounted completes, in plain mode, every checkpoint whose barrier
// has arrived from every input that has not ended. An input that delivered
// the barrier and then ended (a final checkpoint) counts once, not twice:
// counting it twice completed the checkpoint before the other inputs'
// barriers, and again when they came.
func (a *sinkAlign[T]) completeCounted() error {
	for id, got := range a.counts {
		all := true
		for i, ok := range got {
			all = all && (ok || a.ended[i])
		}
		if all {
			delete(a.counts, id)
			if err := a.node.complete(a.x, a.stateful, id); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *sinkAlign[T]) maybeAligned() error {
	if a.barrier == 0 || a.nBlock+a.nEnded < len(a.blocked) {
		return nil
	}
	if err := a.node.complete(a.x, a.stateful, a.barrier); err != nil {
		return err
	}
	a.barrier, a.nBlock = 0, 0
	for i := range a.blocked {
		a.blocked[i] = false
	}
	held := a.held
	a.held = nil
	for i, m := range held {
		if err := a.handle(m); err != nil {
			return err
		}
		held[i] = message[T]{}
	}
	return nil
}

// drainSched decides when a sink stage calls Drainer.Drain. It runs on the
// sink's goroutine and costs, per written batch, a counter increment and a
// length check of the input queue; its one timer is armed at most about ten
// times per interval.
//
// After the first write since the last drain or flush, a drain is due
// within the interval (the deadline). When the input queue is empty after a
// write, the idle timer is armed instead, first for sinkIdleDelay: if no
// batch was written until it fires, the input is idle and the sink drains
// at once. If one was, the input is busy and the idle timer is armed again
// with twice the delay, never past the deadline. So a sparse stream is
// drained about a millisecond after each result, a busy one about once per
// interval (with a handful of timer wake-ups and no extra drain), and the
// end of a burst within about the time the burst lasted.
type drainSched struct {
	d        Drainer
	interval time.Duration
	t        *time.Timer
	c        <-chan time.Time // t.C while armed, nil otherwise

	pending bool          // written since the last drain or flush
	since   time.Time     // first of those writes
	idle    bool          // the timer is the idle timer
	delay   time.Duration // the idle timer's next delay
	writes  uint64        // batches written
	armedAt uint64        // writes when the idle timer was armed
}

func newDrainSched(d Drainer, interval time.Duration) *drainSched {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &drainSched{d: d, interval: interval, t: t, delay: sinkIdleDelay}
}

// timer is the channel to select on: nil (never ready) when not armed or
// without a drainer.
func (ds *drainSched) timer() <-chan time.Time {
	if ds == nil {
		return nil
	}
	return ds.c
}

func (ds *drainSched) arm(d time.Duration) {
	ds.t.Reset(d) // Go >= 1.23: no stale tick survives Reset or Stop
	ds.c = ds.t.C
}

// wrote records a successful write; queueEmpty says whether the sink's
// input queue was empty after it.
func (ds *drainSched) wrote(queueEmpty bool) {
	if ds == nil {
		return
	}
	ds.writes++
	if !ds.pending {
		ds.pending, ds.since = true, time.Now()
	}
	switch {
	case queueEmpty && !ds.idle:
		ds.idle, ds.armedAt = true, ds.writes
		ds.arm(min(ds.delay, ds.interval-time.Since(ds.since)))
	case ds.c == nil:
		ds.arm(ds.interval - time.Since(ds.since))
	}
}

// fired handles the timer: drain if the input was idle or the deadline has
// come, otherwise back off.
func (ds *drainSched) fired(ctx context.Context) error {
	ds.c = nil
	if !ds.pending {
		return nil
	}
	if ds.idle && ds.writes != ds.armedAt {
		if rest := ds.interval - time.Since(ds.since); rest > 0 {
			ds.delay *= 2
			ds.armedAt = ds.writes
			ds.arm(min(ds.delay, rest))
			return nil
		}
	}
	ds.reset()
	return ds.d.Drain(ctx)
}

// reset forgets pending writes: they were drained or flushed.
func (ds *drainSched) reset() {
	if ds == nil {
		return
	}
	ds.pending, ds.idle, ds.delay = false, false, sinkIdleDelay
	ds.stop()
}

// stop disarms the timer.
func (ds *drainSched) stop() {
	if ds.c != nil {
		ds.t.Stop()
		ds.c = nil
	}
}

// closeSink closes a sink, through CloseContext when it has one.
func closeSink[T any](ctx context.Context, s Sink[T]) error {
	if cc, ok := s.(ContextCloser); ok {
		return cc.CloseContext(ctx)
	}
	return s.Close()
}
