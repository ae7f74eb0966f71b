package window_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/window"
)

// source replays a slice.
type source[T any] struct{ recs []T }

func (s *source[T]) Open(context.Context) error { return nil }
func (s *source[T]) Close() error               { return nil }
func (s *source[T]) Read(_ context.Context, buf []T) (int, error) {
	n := copy(buf, s.recs)
	s.recs = s.recs[n:]
	if len(s.recs) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// printer prints every record it gets.
type printer[T any] struct{}

func (printer[T]) Open(context.Context) error  { return nil }
func (printer[T]) Close() error                { return nil }
func (printer[T]) Flush(context.Context) error { return nil }
func (printer[T]) Write(_ context.Context, b []T) error {
	for _, v := range b {
		fmt.Println(v)
	}
	return nil
}

type click struct {
	User string
	N    int
	Time int64 // Unix ms
}

// Sums clicks per user in tumbling 10-second event-time windows. A window
// fires when the watermark passes its end; the end of the input fires the
// rest. Event time is declared once, at the source: the spec has no
// Timestamp, so the window reads the stream's.
func Example_tumblingSum() {
	clicks := []click{
		{"ann", 1, 1_000}, {"bob", 2, 2_000}, {"ann", 3, 9_999},
		{"ann", 4, 10_000}, {"bob", 5, 15_000}, {"ann", 6, 25_000},
	}
	p := engine.New(engine.WithParallelism(1))
	in := engine.FromSource(p, "clicks", engine.Source[click](&source[click]{recs: clicks}),
		engine.Monotonous(func(c click) int64 { return c.Time }))
	keyed := engine.KeyBy(in, func(c click) string { return c.User }, engine.HashString)
	sums := window.Apply(keyed, "sum", window.Spec[string, click, string]{
		Assigner: window.Tumbling(10*time.Second, 0),
		Function: window.Process(func(user string, w window.Window, cs []click, emit func(string)) {
			sum := 0
			for _, c := range cs {
				sum += c.N
			}
			emit(fmt.Sprintf("%s %v %d", user, w, sum))
		}),
	})
	engine.ToSink(sums, "print", engine.Sink[string](printer[string]{}))
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// ann [0,10000) 4
	// bob [0,10000) 2
	// ann [10000,20000) 4
	// bob [10000,20000) 5
	// ann [20000,30000) 6
}

type report struct {
	Car      int32
	Speed    int32   // km/h
	Distance float64 // m
	Time     int64   // Unix ms
}

func (r report) String() string {
	return fmt.Sprintf("car %d: %d km/h at %dms", r.Car, r.Speed, r.Time)
}

// Flink's TopSpeedWindowing: every time a car has driven more than 50 m
// since its last result, emit its top speed over the last 10 seconds.
func Example_deltaTimeMax() {
	reports := []report{
		{1, 50, 0, 0},
		{1, 60, 20, 1_000},
		{1, 55, 50, 2_000}, // 50 m is not more than 50 m
		{1, 40, 51, 3_000}, // fires: top speed of 0..3s is 60
		{1, 60, 80, 12_000},
		{1, 60, 102, 13_000}, // fires: 0..3s evicted (3s exactly 10s before 13s); tie: first 60 wins
		{1, 10, 153, 23_000}, // fires: 12s and 13s evicted
		{2, 100, 0, 500},
		{2, 90, 100, 600},  // fires
		{2, 120, 110, 700}, // 10 m: no result
	}
	p := engine.New(engine.WithParallelism(1))
	in := engine.FromSource(p, "cars", engine.Source[report](&source[report]{recs: reports}), engine.NoWatermarks[report]())
	keyed := engine.KeyBy(in, func(r report) int32 { return r.Car }, engine.HashInt32)
	top := window.ApplyDeltaTimeMax(keyed, "top-speed", window.DeltaTimeMaxSpec[report]{
		Timestamp: func(r report) int64 { return r.Time },
		Evict:     10 * time.Second,
		Threshold: 50,
		Delta:     func(old, cur report) float64 { return cur.Distance - old.Distance },
		Compare:   func(a, b report) int { return int(a.Speed - b.Speed) },
	})
	engine.ToSink(top, "print", engine.Sink[report](printer[report]{}))
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// car 1: 60 km/h at 1000ms
	// car 1: 60 km/h at 12000ms
	// car 1: 10 km/h at 23000ms
	// car 2: 100 km/h at 500ms
}
