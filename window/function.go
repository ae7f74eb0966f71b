package window

import "cmp"

// Function turns the contents of a fired window into output records. Build
// it with Reduce, Aggregate, MaxBy, MinBy, MaxByField, MinByField or Process.
//
// Reduce and Aggregate are incremental, as in Flink: without an evictor the
// operator keeps one accumulator per key and window, not the elements. With
// an evictor, the operator keeps the elements and folds them in arrival
// order when the window fires (Flink's EvictingWindowOperator).
type Function[K comparable, T, OUT any] struct {
	inc     incremental[T, OUT]
	process func(key K, w Window, elems []T, emit func(OUT))
}

// incremental creates the per-window accumulators of Reduce and Aggregate.
type incremental[T, OUT any] interface {
	newAcc() accumulator[T, OUT]
	canMerge() bool
}

// accumulator is the state of one window of an incremental function.
type accumulator[T, OUT any] interface {
	add(v T)
	merge(o accumulator[T, OUT])
	// result emits the window's result; an empty Reduce emits nothing.
	result(emit func(OUT))
	encode(b []byte, elem Codec[T]) ([]byte, error)
	decode(r *reader, elem Codec[T])
}

type reducer[T any] struct{ fn func(a, b T) T }

func (r reducer[T]) newAcc() accumulator[T, T] { return &reduceAcc[T]{fn: r.fn} }
func (r reducer[T]) canMerge() bool            { return true }

type reduceAcc[T any] struct {
	fn  func(a, b T) T
	v   T
	has bool
}

func (a *reduceAcc[T]) add(v T) {
	if !a.has {
		a.v, a.has = v, true
		return
	}
	a.v = a.fn(a.v, v)
}

func (a *reduceAcc[T]) merge(o accumulator[T, T]) {
	if b := o.(*reduceAcc[T]); b.has {
		a.add(b.v)
	}
}

func (a *reduceAcc[T]) result(emit func(T)) {
	if a.has {
		emit(a.v)
	}
}

func (a *reduceAcc[T]) encode(b []byte, elem Codec[T]) ([]byte, error) {
	if !a.has {
		return append(b, 0), nil
	}
	return elem.Append(append(b, 1), a.v), nil
}

func (a *reduceAcc[T]) decode(r *reader, elem Codec[T]) {
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
	return Function[K, T, T]{inc: reducer[T]{fn: fn}}
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

func (f *AggregateFunc[T, ACC, OUT]) newAcc() accumulator[T, OUT] { return &aggAcc[T, ACC, OUT]{f: f} }
func (f *AggregateFunc[T, ACC, OUT]) canMerge() bool              { return f.Merge != nil }

type aggAcc[T, ACC, OUT any] struct {
	f   *AggregateFunc[T, ACC, OUT]
	acc ACC
	has bool
}

func (a *aggAcc[T, ACC, OUT]) add(v T) {
	if !a.has {
		a.acc, a.has = a.f.Create(), true
	}
	a.acc = a.f.Add(a.acc, v)
}

func (a *aggAcc[T, ACC, OUT]) merge(o accumulator[T, OUT]) {
	b := o.(*aggAcc[T, ACC, OUT])
	switch {
	case !b.has:
	case !a.has:
		a.acc, a.has = b.acc, true
	default:
		a.acc = a.f.Merge(a.acc, b.acc)
	}
}

func (a *aggAcc[T, ACC, OUT]) result(emit func(OUT)) {
	acc := a.acc
	if !a.has {
		acc = a.f.Create()
	}
	emit(a.f.Result(acc))
}

func (a *aggAcc[T, ACC, OUT]) encode(b []byte, _ Codec[T]) ([]byte, error) {
	if a.f.AccCodec == nil {
		return nil, errNoCodec
	}
	if !a.has {
		return append(b, 0), nil
	}
	return a.f.AccCodec.Append(append(b, 1), a.acc), nil
}

func (a *aggAcc[T, ACC, OUT]) decode(r *reader, _ Codec[T]) {
	if a.f.AccCodec == nil {
		r.fail(errNoCodec)
		return
	}
	if a.has = r.byte() == 1; a.has {
		a.acc = readValue(r, a.f.AccCodec)
	}
}

// Aggregate returns Flink's aggregate window function (see AggregateFunc).
// When an evictor empties a window before the function runs, the result of a
// fresh accumulator is emitted, as in Flink. K must be given explicitly.
func Aggregate[K comparable, T, ACC, OUT any](f AggregateFunc[T, ACC, OUT]) Function[K, T, OUT] {
	return Function[K, T, OUT]{inc: &f}
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
	return Function[K, T, OUT]{process: fn}
}
