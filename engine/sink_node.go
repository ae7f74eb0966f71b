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
	return []func() error{func() error {
		err := s.run(x)
		if err != nil && x.ctx.Err() == nil {
			err = fmt.Errorf("engine: sink %q: %w", s.n, err)
		}
		return err
	}}, nil
}

func (s *sinkNode[T]) run(x *execution) (err error) {
	ctx := x.ctx
	if err := s.sink.Open(ctx); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cerr := s.sink.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	ended := 0
	barriers := map[uint64]int{} // checkpoint id -> inputs that delivered it
	for ended < s.inputs {
		var m message[T]
		select {
		case m = <-s.in:
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
				if err := s.sink.Flush(ctx); err != nil {
					return fmt.Errorf("flush for checkpoint %d: %w", m.ctrl.cp, err)
				}
				x.report(m.ctrl.cp, nil)
			}
		case ctrlEnd:
			ended++
			for id, n := range barriers {
				if n+ended == s.inputs {
					delete(barriers, id)
					if err := s.sink.Flush(ctx); err != nil {
						return fmt.Errorf("flush for checkpoint %d: %w", id, err)
					}
					x.report(id, nil)
				}
			}
		}
	}
	if err := s.sink.Flush(ctx); err != nil {
		return fmt.Errorf("final flush: %w", err)
	}
	x.log.Debug("sink finished", zap.String("sink", s.n))
	return nil
}
