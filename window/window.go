package window

import (
	"fmt"
	"math"
)

// Window is a time window: the half-open interval [Start, End) of event or
// processing time in milliseconds, like Flink's TimeWindow. The one
// exception is the global window (see GlobalWindow), which holds every
// timestamp.
type Window struct {
	Start, End int64
}

// GlobalWindow returns the single window of the Global assigner, Flink's
// GlobalWindow. It is represented as {math.MinInt64, math.MaxInt64}; its
// MaxTimestamp is math.MaxInt64, so it is never late and never cleaned up.
func GlobalWindow() Window { return Window{Start: math.MinInt64, End: math.MaxInt64} }

// IsGlobal reports whether w is the global window.
func (w Window) IsGlobal() bool { return w == GlobalWindow() }

// MaxTimestamp is the largest timestamp that belongs to w: End-1, or
// math.MaxInt64 for the global window. Event-time triggers fire a window
// when the watermark reaches MaxTimestamp.
func (w Window) MaxTimestamp() int64 {
	if w.IsGlobal() {
		return math.MaxInt64
	}
	return w.End - 1
}

// Intersects reports whether w and o overlap or touch, exactly like Flink's
// TimeWindow.intersects: w.Start <= o.End && w.End >= o.Start. Touching
// windows ([0,10) and [10,20)) intersect, so adjacent sessions merge.
func (w Window) Intersects(o Window) bool { return w.Start <= o.End && w.End >= o.Start }

// Cover returns the smallest window containing w and o.
func (w Window) Cover(o Window) Window {
	return Window{Start: min(w.Start, o.Start), End: max(w.End, o.End)}
}

// String formats w as [Start,End) or "global".
func (w Window) String() string {
	if w.IsGlobal() {
		return "global"
	}
	return fmt.Sprintf("[%d,%d)", w.Start, w.End)
}

// Element is a window element together with its timestamp, Flink's
// TimestampedValue. Evictors see the contents of a window as []Element.
type Element[T any] struct {
	Value     T
	Timestamp int64
}
