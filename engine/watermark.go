package engine

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// MinWatermark is the watermark before any event was seen.
const MinWatermark int64 = math.MinInt64

// WatermarkStrategy tells a source how to read event time from a record and
// when to emit watermarks: Flink's WatermarkStrategy, a timestamp assigner
// plus a watermark generator. The zero value emits no watermarks (event
// time unused).
//
// Without a Generator the source runs the built-in periodic generator of
// Monotonous and BoundedOutOfOrderness: the watermark is the largest
// timestamp seen minus MaxOutOfOrderness minus 1 ms, emitted after every
// batch the source reads (see AutoWatermarkInterval). Which records count
// as late then depends on the batch size; a punctuated generator
// (Punctuated) places each watermark right after a record, which makes
// results independent of it.
type WatermarkStrategy[T any] struct {
	// Timestamp returns a record's event time in Unix milliseconds.
	Timestamp func(T) int64
	// MaxOutOfOrderness is how late a record may arrive relative to the
	// largest timestamp seen so far before it counts as late, for the
	// built-in generator. Unused with a Generator.
	MaxOutOfOrderness time.Duration
	// Generator, if not nil, creates the WatermarkGenerator of a source
	// (once per Run) in place of the built-in one; Timestamp is then
	// required. Punctuated and ForGenerator set it.
	Generator func() WatermarkGenerator[T]
	// AutoWatermarkInterval says when the periodic part of the generator
	// runs (the built-in one's watermark, OnPeriodicEmit). 0, the default:
	// after every Read that returned records, so a watermark follows each
	// batch, as before generators existed. A positive interval is Flink's
	// pipeline.auto-watermark-interval (200 ms there): after a Read,
	// records or not, once at least the interval has passed since the last
	// time, which sends far fewer watermarks at high rates (one per interval
	// instead of one per batch) and lets a watermark advance while the
	// source is idle, at the price of results that depend on timing. The
	// clock is read once per Read, never per record.
	AutoWatermarkInterval time.Duration

	err error // set by a constructor that got a nil function
}

// NoWatermarks returns a strategy that never advances event time.
func NoWatermarks[T any]() WatermarkStrategy[T] { return WatermarkStrategy[T]{} }

// Monotonous is for sources whose timestamps never decrease: the watermark
// is the largest timestamp seen minus one millisecond (Flink's
// forMonotonousTimestamps), emitted after every batch.
func Monotonous[T any](ts func(T) int64) WatermarkStrategy[T] {
	return WatermarkStrategy[T]{Timestamp: ts}
}

// BoundedOutOfOrderness lets records arrive up to d after a record with a
// larger timestamp: the watermark is max seen - d - 1 ms (Flink's
// forBoundedOutOfOrderness), emitted after every batch.
func BoundedOutOfOrderness[T any](ts func(T) int64, d time.Duration) WatermarkStrategy[T] {
	return WatermarkStrategy[T]{Timestamp: ts, MaxOutOfOrderness: d}
}

// WatermarkGenerator decides when a source emits watermarks and which
// (Flink's WatermarkGenerator). A watermark wm says that no record with a
// timestamp <= wm is expected any more.
//
// The engine creates one per source and Run (WatermarkStrategy.Generator)
// and calls it only from that source's goroutine, OnEvent in record order,
// so a generator needs no locking. It forwards a watermark only if it is
// larger than every one the source emitted before, including the one
// restored from a checkpoint; smaller ones are ignored, so a generator may
// simply return its current watermark. The generator itself is not
// checkpointed: after a restore it starts fresh, and event time resumes
// once it passes the restored watermark.
type WatermarkGenerator[T any] interface {
	// OnEvent is called for every record the source reads, with its
	// timestamp (WatermarkStrategy.Timestamp). If it returns emit, the
	// watermark wm follows this very record: the source splits its batch
	// after the record, so every stage downstream sees the same sequence
	// of records and watermarks whatever the batch size (a punctuated
	// generator). It is on the per-record path: keep it cheap and
	// allocation-free.
	OnEvent(record T, ts int64) (wm int64, emit bool)
	// OnPeriodicEmit is called after reads, as AutoWatermarkInterval says;
	// if it returns emit, wm follows the batch just read. A periodic
	// generator tracks what it needs in OnEvent and emits here.
	OnPeriodicEmit() (wm int64, emit bool)
}

// Punctuated returns a strategy with a punctuated generator: after every
// record, mark decides whether a watermark follows it, and which (Flink's
// onEvent emitting a watermark). The watermarks, and so which records are
// late downstream, do not depend on the batch size; the cost is one batch
// hand-off per watermark. For example, a watermark after every record of
// an in-order source, like Monotonous but exact:
//
//	engine.Punctuated(ts, func(_ T, ts int64) (int64, bool) { return ts - 1, true })
func Punctuated[T any](ts func(T) int64, mark func(record T, ts int64) (wm int64, emit bool)) WatermarkStrategy[T] {
	s := ForGenerator(ts, func() WatermarkGenerator[T] { return punctuated[T](mark) })
	if mark == nil {
		s.err = errors.New("Punctuated got a nil mark function")
	}
	return s
}

// ForGenerator returns a strategy with a custom generator: newGen is called
// once per source and Run (Flink's WatermarkStrategy.forGenerator with a
// timestamp assigner).
func ForGenerator[T any](ts func(T) int64, newGen func() WatermarkGenerator[T]) WatermarkStrategy[T] {
	s := WatermarkStrategy[T]{Timestamp: ts, Generator: newGen}
	if newGen == nil {
		s.err = errors.New("ForGenerator got a nil generator factory")
	}
	return s
}

// punctuated is Punctuated's generator.
type punctuated[T any] func(record T, ts int64) (int64, bool)

func (p punctuated[T]) OnEvent(record T, ts int64) (int64, bool) { return p(record, ts) }
func (p punctuated[T]) OnPeriodicEmit() (int64, bool)            { return 0, false }

// validate reports a strategy that cannot run.
func (s WatermarkStrategy[T]) validate() error {
	switch {
	case s.err != nil:
		return s.err
	case s.MaxOutOfOrderness < 0:
		return fmt.Errorf("negative MaxOutOfOrderness %v", s.MaxOutOfOrderness)
	case s.AutoWatermarkInterval < 0:
		return fmt.Errorf("negative AutoWatermarkInterval %v", s.AutoWatermarkInterval)
	case s.Generator != nil && s.Timestamp == nil:
		return errors.New("a watermark Generator needs a Timestamp function")
	}
	return nil
}

// watermarker drives one source instance's watermarks. The built-in
// generator is inlined (gen == nil) so that a batch costs no interface
// call per record.
type watermarker[T any] struct {
	ts       func(T) int64
	gen      WatermarkGenerator[T] // nil: built-in bounded out-of-orderness
	delay    int64
	maxSeen  int64
	emitted  int64
	interval time.Duration
	due      time.Time // interval > 0: when the periodic emit runs next
}

func newWatermarker[T any](s WatermarkStrategy[T]) (*watermarker[T], error) {
	w := &watermarker[T]{ts: s.Timestamp, delay: s.MaxOutOfOrderness.Milliseconds(), maxSeen: MinWatermark,
		emitted: MinWatermark, interval: s.AutoWatermarkInterval}
	if s.Generator != nil {
		if w.gen = s.Generator(); w.gen == nil {
			return nil, errors.New("the WatermarkStrategy's Generator returned nil")
		}
	}
	return w, nil
}

// scan tracks the largest timestamp of a batch, for the built-in generator.
func (w *watermarker[T]) scan(batch []T) {
	if w.ts == nil {
		return
	}
	for i := range batch {
		if t := w.ts(batch[i]); t > w.maxSeen {
			w.maxSeen = t
		}
	}
}

// onEvent runs the generator's OnEvent and returns a watermark to place
// right after v, if it advances.
func (w *watermarker[T]) onEvent(v T) (int64, bool) {
	wm, ok := w.gen.OnEvent(v, w.ts(v))
	return w.advance(wm, ok)
}

// periodic returns the periodic watermark to emit after a read that
// returned records (read), if one is due and it advances.
func (w *watermarker[T]) periodic(read bool) (int64, bool) {
	if w.interval <= 0 {
		if !read {
			return 0, false
		}
	} else {
		now := time.Now()
		if now.Before(w.due) {
			return 0, false
		}
		w.due = now.Add(w.interval)
	}
	if w.gen != nil {
		return w.advance(w.gen.OnPeriodicEmit())
	}
	if w.ts == nil || w.maxSeen == MinWatermark {
		return 0, false
	}
	return w.advance(w.maxSeen-w.delay-1, true)
}

func (w *watermarker[T]) advance(wm int64, ok bool) (int64, bool) {
	if !ok || wm <= w.emitted {
		return 0, false
	}
	w.emitted = wm
	return wm, true
}

// restore resumes from a checkpointed watermark wm.
func (w *watermarker[T]) restore(wm int64) {
	w.emitted = wm
	if w.ts != nil && w.gen == nil {
		w.maxSeen = wm + w.delay + 1
	}
}
