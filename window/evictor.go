package window

import (
	"math"
	"time"
)

// EvictorContext tells an Evictor about the operator's clocks and whether
// elements carry timestamps (Spec.Timestamp set).
type EvictorContext struct {
	Watermark      int64
	ProcessingTime int64
	HasTimestamps  bool
}

// Evictor removes elements from a window's contents when it fires, Flink's
// Evictor. Both methods filter elems in place (arrival order) and return the
// kept elements; the operator stores what they return as the new contents.
type Evictor[T any] interface {
	// EvictBefore runs before the window function.
	EvictBefore(elems []Element[T], w Window, c EvictorContext) []Element[T]
	// EvictAfter runs after the window function.
	EvictAfter(elems []Element[T], w Window, c EvictorContext) []Element[T]
}

type timeEvictor[T any] struct {
	size  int64
	after bool
}

// TimeEvictor returns Flink's TimeEvictor.of(size, evictAfter): when the window
// fires (before the function, or after it if evictAfter), and only if
// elements have timestamps, it computes cutoff = (largest timestamp among
// the window's elements) - size and removes every element whose timestamp is
// <= cutoff, wherever it is in the contents (not just a prefix). size is
// truncated to milliseconds.
func TimeEvictor[T any](size time.Duration, evictAfter bool) Evictor[T] {
	return timeEvictor[T]{size: size.Milliseconds(), after: evictAfter}
}

func (e timeEvictor[T]) evict(elems []Element[T], c EvictorContext) []Element[T] {
	if !c.HasTimestamps || len(elems) == 0 {
		return elems
	}
	maxTs := int64(math.MinInt64)
	for i := range elems {
		maxTs = max(maxTs, elems[i].Timestamp)
	}
	cutoff := evictCutoff(maxTs, e.size) // saturates: no wrap near MinInt64
	kept := elems[:0]
	for _, x := range elems {
		if x.Timestamp > cutoff {
			kept = append(kept, x)
		}
	}
	clear(elems[len(kept):])
	return kept
}

func (e timeEvictor[T]) EvictBefore(elems []Element[T], _ Window, c EvictorContext) []Element[T] {
	if e.after {
		return elems
	}
	return e.evict(elems, c)
}

func (e timeEvictor[T]) EvictAfter(elems []Element[T], _ Window, c EvictorContext) []Element[T] {
	if !e.after {
		return elems
	}
	return e.evict(elems, c)
}

type countEvictor[T any] struct {
	n     int
	after bool
}

// CountEvictor returns Flink's CountEvictor.of(n, evictAfter): when the
// window fires (before or after the function) and it holds more than n
// elements, it removes the oldest (earliest arrived) ones so that the last n
// remain.
func CountEvictor[T any](n int, evictAfter bool) Evictor[T] {
	return countEvictor[T]{n: max(n, 0), after: evictAfter}
}

func (e countEvictor[T]) evict(elems []Element[T]) []Element[T] {
	if len(elems) <= e.n {
		return elems
	}
	drop := len(elems) - e.n
	copy(elems, elems[drop:])
	clear(elems[e.n:])
	return elems[:e.n]
}

func (e countEvictor[T]) EvictBefore(elems []Element[T], _ Window, _ EvictorContext) []Element[T] {
	if e.after {
		return elems
	}
	return e.evict(elems)
}

func (e countEvictor[T]) EvictAfter(elems []Element[T], _ Window, _ EvictorContext) []Element[T] {
	if !e.after {
		return elems
	}
	return e.evict(elems)
}
