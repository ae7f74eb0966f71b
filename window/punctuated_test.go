package window_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/sink"
	"github.com/topspeed/topspeed/tester"
	"github.com/topspeed/topspeed/window"
)

// reading is a sensor reading: out of order by up to a second.
type reading struct {
	Sensor string
	Value  int
	Time   int64 // Unix ms
}

func readingTime(r reading) int64 { return r.Time }

// readings: 4 sensors, a reading every 10 ms, every 5th one 100-900 ms late.
func readings(n int) []reading {
	x := uint64(3)
	next := func() uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
	out := make([]reading, n)
	for i := range out {
		ts := int64(i) * 10
		if next()%5 == 0 {
			ts -= int64(100 + next()%800)
		}
		out[i] = reading{Sensor: fmt.Sprintf("s%d", next()%4), Value: i, Time: ts}
	}
	return out
}

// runReadings runs a 100 ms tumbling window count per sensor (results see
// key and window: AggregateProcess), late readings to a sink, with the
// given watermarks and batch size, and returns results and late readings.
func runReadings(t *testing.T, in []reading, ws engine.WatermarkStrategy[reading], batch int) ([]string, []reading) {
	t.Helper()
	late := sink.NewCollect[reading]()
	count := window.AggregateFunc[reading, int64, int64]{
		Create: func() int64 { return 0 },
		Add:    func(n int64, _ reading) int64 { return n + 1 },
		Result: func(n int64) int64 { return n },
	}
	got := tester.Run(t, in, func(s engine.Stream[reading]) engine.Stream[string] {
		keyed := engine.KeyBy(s, func(r reading) string { return r.Sensor }, engine.HashString)
		res, lateStream := window.ApplyWithLate(keyed, "count", window.Spec[string, reading, string]{
			Assigner: window.Tumbling(100*time.Millisecond, 0),
			Function: window.AggregateProcess(count, func(sensor string, w window.Window, n int64) string {
				return fmt.Sprintf("%s%v=%d", sensor, w, n)
			}),
		})
		engine.ToSink(lateStream, "late", engine.Sink[reading](late))
		return res
	}, tester.WithWatermarks(ws), tester.WithBatchSize(batch))
	return got, late.Records()
}

// TestPunctuatedResultsIndependentOfBatchSize: with a punctuated generator
// (a watermark after every reading: the largest time so far minus 300 ms)
// the window results and the late readings are the same for batch sizes
// 1, 7 and 1024. The periodic BoundedOutOfOrderness with the same bound
// emits after each batch instead, and its results depend on the batch size.
func TestPunctuatedResultsIndependentOfBatchSize(t *testing.T) {
	in := readings(3000)
	punct := engine.Punctuated(readingTime, func(_ reading, ts int64) (int64, bool) { return ts - 300 - 1, true })
	want, wantLate := runReadings(t, in, punct, 1)
	if len(wantLate) < 50 || len(want) < 100 {
		t.Fatalf("%d results, %d late: a weak test", len(want), len(wantLate))
	}
	for _, batch := range []int{7, 1024} {
		got, gotLate := runReadings(t, in, punct, batch)
		if !slices.Equal(got, want) {
			t.Errorf("punctuated, batch size %d: %d results differ from batch size 1's %d", batch, len(got), len(want))
		}
		if !slices.Equal(gotLate, wantLate) {
			t.Errorf("punctuated, batch size %d: %d late readings, batch size 1: %d (or they differ)", batch, len(gotLate), len(wantLate))
		}
	}
	// Periodic watermarks with the same bound: after batch 1 the same as
	// punctuated; after batches of 1024 far fewer readings are late.
	periodic := engine.BoundedOutOfOrderness(readingTime, 300*time.Millisecond)
	p1, p1Late := runReadings(t, in, periodic, 1)
	if !slices.Equal(p1, want) || !slices.Equal(p1Late, wantLate) {
		t.Errorf("periodic with batch size 1 differs from punctuated")
	}
	_, pLate := runReadings(t, in, periodic, 1024)
	if len(pLate) >= len(wantLate) {
		t.Errorf("periodic with batch size 1024: %d late readings, want fewer than %d (the test input does not show the batch-size dependence)", len(pLate), len(wantLate))
	}
}
