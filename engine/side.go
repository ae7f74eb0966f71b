package engine

// SideOperatorFactory creates the Operator of one subtask of a stage with
// a side output (ProcessWithSide). side is that subtask's side output: the
// operator keeps the pointer and may emit into it, like into the main
// Output, during any of its hooks (including Close at the end of the
// input), and only then, from the hook's goroutine. After each hook the
// engine hands the side records on to the side stream, as it does the main
// output: side has the same threading as out and needs no locking.
type SideOperatorFactory[K comparable, IN, OUT, S any] func(keys Keys[K, IN], side *Output[S]) Operator[IN, OUT]

// ProcessWithSide is Process for an operator with a second output (Flink's
// side output): it returns the stage's main stream and its side stream.
// Both have the stage's parallelism; the side stream is an ordinary Stream
// (map it, send it to a sink, union it) and receives the stage's
// watermarks, barriers and end of input like the main stream, each after
// the side records emitted before it. A side stream that feeds nothing
// costs nothing but the Emit calls. Neither stream has a timestamp
// function (see WithTimestamps).
func ProcessWithSide[K comparable, IN, OUT, S any](in KeyedStream[K, IN], name string, factory SideOperatorFactory[K, IN, OUT, S]) (Stream[OUT], Stream[S]) {
	par := in.in.p.cfg.Parallelism
	side := &fanout[S]{}
	ops := make([]Operator[IN, OUT], par)
	sides := make([]sideFlusher, par)
	for i := range ops {
		so := &sideOut[S]{outs: side}
		ops[i] = factory(in.keys, &so.out)
		sides[i] = so
	}
	main := process(in, name, ops, sides)
	main.outs.also = append(main.outs.also, side)
	return main, Stream[S]{p: in.in.p, producers: par, outs: side}
}

// sideFlusher hands a subtask's side output on; the subtask calls it from
// its goroutine after every hook, before it forwards a control message.
type sideFlusher interface {
	flush(x *execution, from int, ingest int64) error
}

// sideOut is one subtask's side output and the side stream's outlets.
type sideOut[S any] struct {
	out  Output[S]
	outs *fanout[S]
}

func (s *sideOut[S]) flush(x *execution, from int, ingest int64) error {
	if len(s.out.buf) == 0 {
		return nil
	}
	err := s.outs.push(x, from, s.out.buf, ingest)
	clear(s.out.buf) // drop references to what was handed on
	s.out.buf = s.out.buf[:0]
	return err
}
