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
	if err := s.sink.Flush(x.ctx); err != nil {
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
	ended := 0
	barriers := map[uint64]int{} // checkpoint id -> inputs that delivered it
	for ended < s.inputs {
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
		switch m.ctrl.kind {
		case 0:
			err := s.sink.Write(ctx, m.records)
			select {
			case s.free <- m.records[:0]:
			default:
			}
			if err != nil {
				return fmt.Errorf("write: %w", err)
			}
		case ctrlBarrier:
			// Records after a barrier from one input may be written before
			// the others' barriers arrive: flushing more than the checkpoint
			// needs is harmless, so the sink never blocks an input.
			barriers[m.ctrl.cp]++
			if barriers[m.ctrl.cp]+ended == s.inputs {
				delete(barriers, m.ctrl.cp)
				if err := s.complete(x, stateful, m.ctrl.cp); err != nil {
					return err
				}
			}
		case ctrlEnd:
			ended++
			for id, n := range barriers {
				if n+ended == s.inputs {
					delete(barriers, id)
					if err := s.complete(x, stateful, id); err != nil {
						return err
					}
				}
			}
		}
	}
	if err := s.sink.Flush(ctx); err != nil {
		return fmt.Errorf("final flush: %w", err)
	}
	if stateful != nil {
		if err := stateful.Commit(EndOfInput); err != nil {
			return fmt.Errorf("final commit: %w", err)
		}
	}
	x.log.Debug("sink finished", zap.String("sink", s.n))
	return nil
}
