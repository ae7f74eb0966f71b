package window

import (
	"fmt"
	"time"
)

// Assigner assigns each element to zero or more windows, Flink's
// WindowAssigner.
type Assigner interface {
	// AssignWindows appends to dst the windows of an element with timestamp
	// ts, processed at processing time now (both Unix milliseconds), and
	// returns the extended slice. Event-time assigners use ts, processing-time
	// assigners use now.
	AssignWindows(ts, now int64, dst []Window) []Window
	// IsEventTime reports whether the assigner works in event time: only then
	// are elements and windows late relative to the watermark, and window
	// state is cleaned up by event-time rather than processing-time timers.
	IsEventTime() bool
	// IsMerging reports whether overlapping windows merge (session windows).
	// The operator merges windows exactly like Flink's TimeWindow.mergeWindows:
	// sorted by Start, windows that Intersect are replaced by their Cover.
	IsMerging() bool
}

// WindowStart returns the start of the window of size size, shifted by
// offset, that contains ts: Flink's TimeWindow.getWindowStartWithOffset,
// ts - ((ts-offset) mod size), with the remainder taken in [0, size) also for
// negative timestamps. For example WindowStart(-1, 0, 10) = -10.
func WindowStart(ts, offset, size int64) int64 {
	r := (ts - offset) % size
	if r < 0 {
		r += size
	}
	return ts - r
}

type assignerKind uint8

const (
	tumbling assignerKind = iota
	sliding
	session
)

// timeAssigner implements the tumbling, sliding and session assigners.
type timeAssigner struct {
	kind      assignerKind
	size      int64 // tumbling and sliding window size, session gap
	slide     int64
	offset    int64
	eventTime bool
}

func (a timeAssigner) AssignWindows(ts, now int64, dst []Window) []Window {
	if !a.eventTime {
		ts = now
	}
	switch a.kind {
	case tumbling:
		start := WindowStart(ts, a.offset, a.size)
		dst = append(dst, Window{Start: start, End: start + a.size})
	case sliding:
		// Newest window first, as in Flink.
		for start := WindowStart(ts, a.offset, a.slide); start > ts-a.size; start -= a.slide {
			dst = append(dst, Window{Start: start, End: start + a.size})
		}
	case session:
		dst = append(dst, Window{Start: ts, End: ts + a.size})
	}
	return dst
}

func (a timeAssigner) IsEventTime() bool { return a.eventTime }
func (a timeAssigner) IsMerging() bool   { return a.kind == session }

func millis(what string, d time.Duration) int64 {
	ms := d.Milliseconds()
	if ms <= 0 {
		panic(fmt.Sprintf("window: %s must be at least 1ms, got %v", what, d))
	}
	return ms
}

func tumblingAssigner(size, offset time.Duration, eventTime bool) Assigner {
	s, o := millis("tumbling window size", size), offset.Milliseconds()
	if o >= s || -o >= s {
		panic(fmt.Sprintf("window: tumbling offset %v must satisfy |offset| < size %v", offset, size))
	}
	return timeAssigner{kind: tumbling, size: s, offset: o, eventTime: eventTime}
}

func slidingAssigner(size, slide, offset time.Duration, eventTime bool) Assigner {
	s, sl, o := millis("sliding window size", size), millis("sliding window slide", slide), offset.Milliseconds()
	if o >= sl || -o >= sl {
		panic(fmt.Sprintf("window: sliding offset %v must satisfy |offset| < slide %v", offset, slide))
	}
	return timeAssigner{kind: sliding, size: s, slide: sl, offset: o, eventTime: eventTime}
}

// Tumbling returns Flink's TumblingEventTimeWindows.of(size, offset): every
// element belongs to exactly one window [start, start+size) with
// start = WindowStart(ts, offset, size), ts the element's event time.
// Durations are truncated to milliseconds. It panics unless size >= 1ms and
// |offset| < size.
func Tumbling(size, offset time.Duration) Assigner { return tumblingAssigner(size, offset, true) }

// TumblingProcessingTime is Flink's TumblingProcessingTimeWindows.of(size,
// offset): like Tumbling, but by the processing time at which the element is
// processed.
func TumblingProcessingTime(size, offset time.Duration) Assigner {
	return tumblingAssigner(size, offset, false)
}

// Sliding returns Flink's SlidingEventTimeWindows.of(size, slide, offset):
// an element with event time ts belongs to every window [s, s+size) with
// s = WindowStart(ts, offset, slide) - i*slide > ts-size, i = 0, 1, ...
// (newest window first). It panics unless size and slide are >= 1ms and
// |offset| < slide.
func Sliding(size, slide, offset time.Duration) Assigner {
	return slidingAssigner(size, slide, offset, true)
}

// SlidingProcessingTime is Flink's SlidingProcessingTimeWindows: like
// Sliding, by processing time.
func SlidingProcessingTime(size, slide, offset time.Duration) Assigner {
	return slidingAssigner(size, slide, offset, false)
}

// Session returns Flink's EventTimeSessionWindows.withGap(gap): an element
// with event time ts gets the window [ts, ts+gap), and windows of one key
// that intersect (see Window.Intersects) merge into one session. It panics
// unless gap >= 1ms.
func Session(gap time.Duration) Assigner {
	return timeAssigner{kind: session, size: millis("session gap", gap), eventTime: true}
}

// SessionProcessingTime is Flink's ProcessingTimeSessionWindows.withGap:
// like Session, with the window [now, now+gap) by processing time.
func SessionProcessingTime(gap time.Duration) Assigner {
	return timeAssigner{kind: session, size: millis("session gap", gap), eventTime: false}
}

// globalAssigner is Flink's GlobalWindows.
type globalAssigner struct{}

func (globalAssigner) AssignWindows(_, _ int64, dst []Window) []Window {
	return append(dst, GlobalWindow())
}
func (globalAssigner) IsEventTime() bool { return false }
func (globalAssigner) IsMerging() bool   { return false }

// Global returns Flink's GlobalWindows.create(): every element of a key goes
// to the one GlobalWindow. It is not an event-time assigner, so nothing is
// ever late, and its window is never cleaned up; its default trigger (used
// when Spec.Trigger is nil) is Never, so a real trigger is needed.
func Global() Assigner { return globalAssigner{} }
