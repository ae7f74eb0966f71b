package engine

import "fmt"

// Union merges streams of one type into one (Flink's DataStream.union):
// the stages downstream get every record of every input, each input's
// records in its own order, with no order across inputs. Nothing is copied
// or queued: each input's producers push straight into the union's outlets,
// which see them as separate producers. So a keyed stage or a sink behind
// a union works as behind any stage with several producers: its watermark
// is the minimum over all inputs' producers that have not ended (an input
// without watermarks holds event time back until it ends, as in Flink),
// and it aligns checkpoint barriers from all of them.
//
// Every stream must belong to the same pipeline, or the pipeline fails
// with ErrInvalidPipeline. A stream may appear more than once; its records
// then arrive once per appearance. The union keeps first's timestamp
// function if every input has one (they are expected to agree: declare
// another with WithTimestamps), and has none otherwise.
func Union[T any](first Stream[T], more ...Stream[T]) Stream[T] {
	p := first.p
	out := &fanout[T]{}
	u := Stream[T]{p: p, outs: out, ts: first.ts}
	for i, s := range append([]Stream[T]{first}, more...) {
		if s.p != p {
			p.fail(fmt.Errorf("%w: Union: stream %d belongs to another pipeline", ErrInvalidPipeline, i))
			continue
		}
		s.outs.list = append(s.outs.list, &unionOutlet[T]{offset: u.producers, next: out})
		u.producers += s.producers
		if s.ts == nil {
			u.ts = nil
		}
	}
	return u
}

// unionOutlet forwards one input of a union, renumbering its producers
// after those of the inputs before it.
type unionOutlet[T any] struct {
	offset int
	next   *fanout[T]
}

func (u *unionOutlet[T]) push(x *execution, from int, batch []T, ingest int64) error {
	return u.next.push(x, u.offset+from, batch, ingest)
}

func (u *unionOutlet[T]) control(x *execution, from int, c ctrl) error {
	return u.next.control(x, u.offset+from, c)
}
