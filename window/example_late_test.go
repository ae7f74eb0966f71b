package window_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/sink"
	slicesource "github.com/topspeed/topspeed/source"
	"github.com/topspeed/topspeed/window"
)

// order is one shop order.
type order struct {
	Shop   string
	Amount int
	Time   int64 // event time, Unix ms
}

// Revenue per shop in 10-second windows, with the late orders sent to a
// sink of their own.
//
//   - Event time is declared once, by the source's watermark strategy; the
//     window spec has no Timestamp and reads the stream's.
//   - The watermarks are punctuated: after every order, the largest time so
//     far minus 1 s. Each one follows its order exactly, so which orders are
//     late does not depend on how the source batches its reads. north@8000
//     comes after the watermark reached 12500: its window [0,10000) has
//     fired and is gone, so it is late.
//   - AggregateProcess keeps one running sum per shop and window, and its
//     final function sees the shop and the window.
//   - ApplyWithLate returns the late orders as a stream, written by a sink
//     inside the pipeline.
func Example_lateOrders() {
	orders := []order{
		{"north", 10, 1_000}, {"south", 5, 2_000}, {"north", 3, 4_000},
		{"north", 7, 12_000}, {"south", 8, 12_500}, {"north", 1, 13_500},
		{"north", 9, 8_000}, // late
		{"south", 2, 14_000}, {"north", 4, 25_000}, {"south", 6, 30_000},
	}
	ts := func(o order) int64 { return o.Time }
	wm := engine.Punctuated(ts, func(_ order, t int64) (int64, bool) { return t - 1_000, true })

	p := engine.New(engine.WithParallelism(2), engine.WithBatchSize(4))
	in := engine.FromSource(p, "orders", slicesource.NewSlice(orders), wm)
	byShop := engine.KeyBy(in, func(o order) string { return o.Shop }, engine.HashString)
	revenue, late := window.ApplyWithLate(byShop, "revenue", window.Spec[string, order, string]{
		Assigner: window.Tumbling(10*time.Second, 0),
		Function: window.AggregateProcess(window.AggregateFunc[order, int, int]{
			Create: func() int { return 0 },
			Add:    func(sum int, o order) int { return sum + o.Amount },
			Result: func(sum int) int { return sum },
		}, func(shop string, w window.Window, sum int) string {
			return fmt.Sprintf("%s %v: %d", shop, w, sum)
		}),
	})
	out, lateOut := sink.NewCollect[string](), sink.NewCollect[order]()
	engine.ToSink(revenue, "print", engine.Sink[string](out))
	engine.ToSink(late, "late", engine.Sink[order](lateOut))
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	// With parallelism 2 only each shop's order of results is defined.
	for _, shop := range []string{"north", "south"} {
		for _, r := range out.Records() {
			if strings.HasPrefix(r, shop) {
				fmt.Println(r)
			}
		}
	}
	fmt.Println("late:", lateOut.Records())
	// Output:
	// north [0,10000): 13
	// north [10000,20000): 8
	// north [20000,30000): 4
	// south [0,10000): 5
	// south [10000,20000): 10
	// south [30000,40000): 6
	// late: [{north 9 8000}]
}
