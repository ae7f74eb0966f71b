package engine

import (
	"context"
	"fmt"

	"go.uber.org/zap"
)

// sinkNode runs one Sink in its own goroutine. Its outlet copies each batch
// into a buffer from a free list, so producers may reuse theirs at once.
type sinkNode[T any] struct {
	n      string
	sink   Sink[T]
	inputs int
	in     chan message[T]
	free   chan []T

	eventTime func(T) int64 // SinkEventTime; nil if not given
	stats     *stageStats   // nil without metrics
}

func newSinkNode[T any](name string, sink Sink[T], inputs, queue int) *sinkNode[T] {
	return &sinkNode[T]{n: name, sink: sink, inputs: inputs, in: make(chan message[T], queue), free: make(chan []T, queue+2)}
}

func (s *sinkNode[T]) name() string { return s.n }

func (s *sinkNode[T]) push(x *execution, from int, batch []T) error {
	var b []T
	select {
	case b = <-s.free:
	default:
		b = make([]T, 0, len(batch))
	}
	b = append(b[:0], batch...)
	return send(x.ctx, s.in, message[T]{from: from, records: b})
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
	if err := s.sink.Open(ctx); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cerr := s.sink.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	if restored != nil {
		if err := stateful.RestoreState(restored); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	s.stats = x.attach(kindSink, s.n, 0, s.sink, func() (int, int) { return len(s.in), cap(s.in) })
	defer x.detach(s.stats)
	a := &sinkAlign[T]{node: s, x: x, stateful: stateful, align: stateful != nil,
		blocked: make([]bool, s.inputs), ended: make([]bool, s.inputs), counts: map[uint64]int{}}
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
	barrier        uint64         // aligning this checkpoint (align mode)
	held           []message[T]   // messages of blocked inputs
	counts         map[uint64]int // checkpoint -> inputs delivered (plain mode)
}

func (a *sinkAlign[T]) handle(m message[T]) error {
	s, x := a.node, a.x
	if a.blocked[m.from] {
		a.held = append(a.held, m)
		return nil
	}
	switch m.ctrl.kind {
	case 0:
		err := s.write(x, m.records)
		select {
		case s.free <- m.records[:0]:
		default:
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
	case ctrlBarrier:
		if !a.align {
			a.counts[m.ctrl.cp]++
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
// has arrived from every live input.
func (a *sinkAlign[T]) completeCounted() error {
	for id, n := range a.counts {
		if n+a.nEnded == len(a.ended) {
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
