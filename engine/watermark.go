package engine

import (
	"math"
	"time"
)

// MinWatermark is the watermark before any event was seen.
const MinWatermark int64 = math.MinInt64

// WatermarkStrategy tells a source how to read event time from a record and
// how far behind the largest seen timestamp its watermark trails. The zero
// value emits no watermarks (event time unused).
type WatermarkStrategy[T any] struct {
	// Timestamp returns a record's event time in Unix milliseconds.
	Timestamp func(T) int64
	// MaxOutOfOrderness is how late a record may arrive relative to the
	// largest timestamp seen so far before it counts as late.
	MaxOutOfOrderness time.Duration
}

// NoWatermarks returns a strategy that never advances event time.
func NoWatermarks[T any]() WatermarkStrategy[T] { return WatermarkStrategy[T]{} }

// Monotonous is for sources whose timestamps never decrease: the watermark
// is the largest timestamp seen minus one millisecond (Flink's
// forMonotonousTimestamps).
func Monotonous[T any](ts func(T) int64) WatermarkStrategy[T] {
	return WatermarkStrategy[T]{Timestamp: ts}
}

// BoundedOutOfOrderness lets records arrive up to d after a record with a
// larger timestamp: the watermark is max seen - d - 1 ms (Flink's
// forBoundedOutOfOrderness).
func BoundedOutOfOrderness[T any](ts func(T) int64, d time.Duration) WatermarkStrategy[T] {
	return WatermarkStrategy[T]{Timestamp: ts, MaxOutOfOrderness: d}
}

// watermarker tracks one source instance's watermark. It is a concrete type
// so that observing a batch costs no interface call per record.
type watermarker[T any] struct {
	ts      func(T) int64
	delay   int64
	maxSeen int64
	emitted int64
}

func newWatermarker[T any](s WatermarkStrategy[T]) *watermarker[T] {
	return &watermarker[T]{ts: s.Timestamp, delay: s.MaxOutOfOrderness.Milliseconds(), maxSeen: MinWatermark, emitted: MinWatermark}
}

// observe scans a batch and returns the new watermark and whether it advanced.
func (w *watermarker[T]) observe(batch []T) (int64, bool) {
	if w.ts == nil {
		return 0, false
	}
	for i := range batch {
		if t := w.ts(batch[i]); t > w.maxSeen {
			w.maxSeen = t
		}
	}
	if w.maxSeen == MinWatermark {
		return 0, false
	}
	wm := w.maxSeen - w.delay - 1
	if wm <= w.emitted {
		return 0, false
	}
	w.emitted = wm
	return wm, true
}

// restore resumes from a checkpointed watermark wm.
func (w *watermarker[T]) restore(wm int64) {
	w.emitted = wm
	if w.ts != nil {
		w.maxSeen = wm + w.delay + 1
	}
}
