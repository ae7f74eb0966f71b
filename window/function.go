package window

import (
	"cmp"
	"errors"
)

// Function turns the contents of a fired window into output records. Build
// it with Reduce, Aggregate, ReduceProcess, AggregateProcess, MaxBy, MinBy,
// MaxByField, MinByField or Process.
//
// Reduce and Aggregate (and their Process forms, whose result also sees the
// key and the window) are incremental, as in Flink: without an evictor the
// operator keeps one accumulator per key and window, not the elements. With
// an evictor, the operator keeps the elements and folds them in arrival
// order when the window fires (Flink's EvictingWindowOperator).
type Function[K comparable, T, OUT any] struct {
	inc     incremental[K, T, OUT]
	process func(key K, w Window, elems []T, emit func(OUT))
	err     error // a constructor got an unusable argument; Spec.Validate reports it
}

// incremental creates the per-window accumulators of Reduce and Aggregate.
type incremental[K comparable, T, OUT any] interface {
	newAcc() accumulator[K, T, OUT]
	canMerge() bool
}

// accumulator is the state of one window of an incremental function.
type accumulator[K comparable, T, OUT any] interface {
	add(v T)
	merge(o accumulator[K, T, OUT])
	// result emits the result of key's window w; an empty Reduce emits
	// nothing.
	result(key K, w Window, emit func(OUT))
	encode(b []byte, elem Codec[T]) ([]byte, error)
	decode(r *reader, elem Codec[T])
}

// reducer is Reduce and ReduceProcess: fn folds, final makes the output.
type reducer[K comparable, T, OUT any] struct {
	fn    func(a, b T) T
	final func(key K, w Window, v T) OUT
}

func (r *reducer[K, T, OUT]) newAcc() accumulator[K, T, OUT] { return &reduceAcc[K, T, OUT]{r: r} }
func (r *reducer[K, T, OUT]) canMerge() bool                 { return true }

type reduceAcc[K comparable, T, OUT any] struct {
	r   *reducer[K, T, OUT]
	v   T
	has bool
}

func (a *reduceAcc[K, T, OUT]) add(v T) {
	if !a.has {
		a.v, a.has = v, true
		return
	}
	a.v = a.r.fn(a.v, v)
}

func (a *reduceAcc[K, T, OUT]) merge(o accumulator[K, T, OUT]) {
	if b := o.(*reduceAcc[K, T, OUT]); b.has {
		a.add(b.v)
	}
}

func (a *reduceAcc[K, T, OUT]) result(key K, w Window, emit func(OUT)) {
	if a.has {
		emit(a.r.final(key, w, a.v))
	}
}

func (a *reduceAcc[K, T, OUT]) encode(b []byte, elem Codec[T]) ([]byte, error) {
	if !a.has {
		return append(b, 0), nil
	}
	return elem.Append(append(b, 1), a.v), nil
}

func (a *reduceAcc[K, T, OUT]) decode(r *reader, elem Codec[T]) {
	if a.has = r.byte() == 1; a.has {
		a.v = readValue(r, elem)
	}
}

// Reduce returns Flink's reduce window function: the window's elements
// e1, e2, ..., en in arrival order are combined as fn(...fn(fn(e1, e2), e3)...,
// en) and the result is emitted when the window fires. When session windows
// merge, their results r1 (the surviving window) and r2 are combined as
// fn(r1, r2). A window with no elements (possible only after an evictor
// removed all) emits nothing. K must be given explicitly:
// window.Reduce[string](sum).
func Reduce[K comparable, T any](fn func(a, b T) T) Function[K, T, T] {
	return ReduceProcess(fn, func(_ K, _ Window, v T) T { return v })
}

// ReduceProcess is Flink's reduce(ReduceFunction, ProcessWindowFunction):
// the window's elements are reduced incrementally as by Reduce, and when
// the window fires, final turns the reduced value, together with the key
// and the window, into the output record. The operator still keeps one
// value per key and window, not the elements. For merging (session)
// windows, w is the merged window.
func ReduceProcess[K comparable, T, OUT any](fn func(a, b T) T, final func(key K, w Window, reduced T) OUT) Function[K, T, OUT] {
	f := Function[K, T, OUT]{inc: &reducer[K, T, OUT]{fn: fn, final: final}}
	if fn == nil || final == nil {
		f.err = errors.New("window: ReduceProcess (or Reduce) got a nil function")
	}
	return f
}

// AggregateFunc is Flink's AggregateFunction: an accumulator is created
// for a window's first element, each element is added in arrival order,
// accumulators of merging windows are merged, and Result produces the output.
type AggregateFunc[T, ACC, OUT any] struct {
	Create func() ACC
	Add    func(acc ACC, v T) ACC
	Merge  func(a, b ACC) ACC // required with merging (session) windows without an evictor
	Result func(acc ACC) OUT
	// AccCodec encodes accumulators for checkpoints; needed only if the
	// operator (without an evictor) is checkpointed.
	AccCodec Codec[ACC]
}

func (f *AggregateFunc[T, ACC, OUT]) check() error {
	if f.Create == nil || f.Add == nil || f.Result == nil {
		return errors.New("window: AggregateFunc needs Create, Add and Result")
	}
	return nil
}

// aggregator is Aggregate and AggregateProcess: f accumulates, final makes
// the output from f's Result.
type aggregator[K comparable, T, ACC, V, OUT any] struct {
	f     AggregateFunc[T, ACC, V]
	final func(key K, w Window, v V) OUT
}

func (g *aggregator[K, T, ACC, V, OUT]) newAcc() accumulator[K, T, OUT] {
	return &aggAcc[K, T, ACC, V, OUT]{g: g}
}
func (g *aggregator[K, T, ACC, V, OUT]) canMerge() bool { return g.f.Merge != nil }

type aggAcc[K comparable, T, ACC, V, OUT any] struct {
	g   *aggregator[K, T, ACC, V, OUT]
	acc ACC
	has bool
}

func (a *aggAcc[K, T, ACC, V, OUT]) add(v T) {
	if !a.has {
		a.acc, a.has = a.g.f.Create(), true
	}
	a.acc = a.g.f.Add(a.acc, v)
}

func (a *aggAcc[K, T, ACC, V, OUT]) merge(o accumulator[K, T, OUT]) {
	b := o.(*aggAcc[K, T, ACC, V, OUT])
	switch {
	case !b.has:
	case !a.has:
		a.acc, a.has = b.acc, true
	default:
		a.acc = a.g.f.Merge(a.acc, b.acc)
	}
}

func (a *aggAcc[K, T, ACC, V, OUT]) result(key K, w Window, emit func(OUT)) {
	acc := a.acc
	if !a.has {
		acc = a.g.f.Create()
	}
	emit(a.g.final(key, w, a.g.f.Result(acc)))
}

func (a *aggAcc[K, T, ACC, V, OUT]) encode(b []byte, _ Codec[T]) ([]byte, error) {
	if a.g.f.AccCodec == nil {
		return nil, errNoCodec
	}
	if !a.has {
		return append(b, 0), nil
	}
	return a.g.f.AccCodec.Append(append(b, 1), a.acc), nil
}

func (a *aggAcc[K, T, ACC, V, OUT]) decode(r *reader, _ Codec[T]) {
	if a.g.f.AccCodec == nil {
		r.fail(errNoCodec)
		return
	}
	if a.has = r.byte() == 1; a.has {
		a.acc = readValue(r, a.g.f.AccCodec)
	}
}

// Aggregate returns Flink's aggregate window function (see AggregateFunc).
// When an evictor empties a window before the function runs, the result of a
// fresh accumulator is emitted, as in Flink. K must be given explicitly.
func Aggregate[K comparable, T, ACC, OUT any](f AggregateFunc[T, ACC, OUT]) Function[K, T, OUT] {
	return AggregateProcess(f, func(_ K, _ Window, v OUT) OUT { return v })
}

// AggregateProcess is Flink's aggregate(AggregateFunction,
// ProcessWindowFunction): the window's elements are aggregated
// incrementally as by Aggregate, and when the window fires, final turns
// f.Result of the accumulator, together with the key and the window, into
// the output record. (To see the accumulator itself, let Result return
// it.) The operator still keeps one accumulator per key and window. For
// merging (session) windows, w is the merged window.
func AggregateProcess[K comparable, T, ACC, V, OUT any](f AggregateFunc[T, ACC, V], final func(key K, w Window, result V) OUT) Function[K, T, OUT] {
	fn := Function[K, T, OUT]{inc: &aggregator[K, T, ACC, V, OUT]{f: f, final: final}}
	if fn.err = f.check(); fn.err == nil && final == nil {
		fn.err = errors.New("window: AggregateProcess got a nil final function")
	}
	return fn
}

// MaxBy returns Flink's maxBy with first = true (ComparableAggregator):
// a Reduce that keeps the current element unless the next one is strictly
// greater by compare (compare(a, b) > 0 means a is greater), so among equal
// maxima the earliest element wins.
func MaxBy[K comparable, T any](compare func(a, b T) int) Function[K, T, T] {
	return Reduce[K](func(acc, v T) T {
		if compare(v, acc) > 0 {
			return v
		}
		return acc
	})
}

// MinBy returns Flink's minBy with first = true: the earliest of the
// smallest elements by compare.
func MinBy[K comparable, T any](compare func(a, b T) int) Function[K, T, T] {
	return Reduce[K](func(acc, v T) T {
		if compare(v, acc) < 0 {
			return v
		}
		return acc
	})
}

// MaxByField is MaxBy ordered by field(e), compared with cmp.Compare (for
// floats NaN sorts lowest, unlike Java's Double.compareTo).
func MaxByField[K comparable, T any, F cmp.Ordered](field func(T) F) Function[K, T, T] {
	return MaxBy[K](func(a, b T) int { return cmp.Compare(field(a), field(b)) })
}

// MinByField is MinBy ordered by field(e), compared with cmp.Compare.
func MinByField[K comparable, T any, F cmp.Ordered](field func(T) F) Function[K, T, T] {
	return MinBy[K](func(a, b T) int { return cmp.Compare(field(a), field(b)) })
}

// Process returns Flink's ProcessWindowFunction: when a window fires, fn
// gets the key, the window and all its elements in arrival order (after
// eviction), and emits any number of records. elems is only valid during the
// call.
func Process[K comparable, T, OUT any](fn func(key K, w Window, elems []T, emit func(OUT))) Function[K, T, OUT] {
	f := Function[K, T, OUT]{process: fn}
	if fn == nil {
		f.err = errors.New("window: Process got a nil function")
	}
	return f
}
