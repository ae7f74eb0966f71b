package window_test

import (
	"context"
	"fmt"
	"time"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/sink"
	// Aliased: this package's example_test.go declares a type named source.
	slicesource "github.com/topspeed/topspeed/source"
	"github.com/topspeed/topspeed/window"
)

// view is one page view.
type view struct {
	Page string
	N    int
	Time int64 // event time, Unix ms
}

func viewTime(v view) int64 { return v.Time }

// Counts page views in tumbling 10-second event-time windows, run by
// engine.Run with the library's slice source and collecting sink, on input
// that is out of order.
//
// The source emits a watermark after every batch (2 records here): the
// largest timestamp so far minus the 2 s out-of-orderness minus 1 ms. A
// window [start,end) fires when the watermark reaches end-1, here after the
// third batch (watermark 12500-2001 = 10499), so docs@8000, 5 s older than
// home@12500 but in the same batch, is still counted. home@7000 comes in the
// next batch, after its window fired: it is late and goes to the late
// stream, which flows to a sink of its own. The end of the input fires the
// last window. Event time is declared once, by the source's strategy.
//
// The window function is an incremental Reduce: one running sum per page and
// window instead of the views. The sum keeps the first view's Time, which
// WindowStart maps back to the window.
func Example_outOfOrderPipeline() {
	views := []view{
		{"home", 1, 1_000}, {"docs", 1, 3_000}, // watermark 999
		{"home", 1, 9_000}, {"home", 1, 11_500}, // watermark 9499
		{"docs", 1, 8_000}, {"home", 1, 12_500}, // watermark 10499: [0,10000) fires
		{"home", 1, 7_000}, {"docs", 1, 21_000}, // late; watermark 18999: [10000,20000) fires
	}
	const size = 10 * time.Second

	p := engine.New(engine.WithParallelism(1), engine.WithBatchSize(2))
	in := engine.FromSource(p, "views", slicesource.NewSlice(views),
		engine.BoundedOutOfOrderness(viewTime, 2*time.Second))
	byPage := engine.KeyBy(in, func(v view) string { return v.Page }, engine.HashString)
	counts, late := window.ApplyWithLate(byPage, "views-per-10s", window.Spec[string, view, view]{
		Assigner: window.Tumbling(size, 0),
		Function: window.Reduce[string](func(a, b view) view { a.N += b.N; return a }),
	})
	out, lateOut := sink.NewCollect[view](), sink.NewCollect[view]()
	engine.ToSink(counts, "collect", engine.Sink[view](out))
	engine.ToSink(late, "late", engine.Sink[view](lateOut))

	if err := p.Run(context.Background()); err != nil {
		fmt.Println("run:", err)
		return
	}
	for _, c := range out.Records() {
		start := window.WindowStart(c.Time, 0, size.Milliseconds())
		fmt.Printf("%s [%d,%d) = %d\n", c.Page, start, start+size.Milliseconds(), c.N)
	}
	for _, v := range lateOut.Records() {
		fmt.Printf("late: %s@%d\n", v.Page, v.Time)
	}
	// Output:
	// home [0,10000) = 2
	// docs [0,10000) = 2
	// home [10000,20000) = 2
	// docs [20000,30000) = 1
	// late: home@7000
}
