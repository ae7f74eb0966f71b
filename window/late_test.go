package window

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// lateInput is out-of-order input: keys k0..k15, event time rising by
// about 2 ms per element, every 7th element up to 400 ms behind. Every
// element has V 1 and a unique TS-independent identity in V's high bits.
func lateInput(n int) []ev {
	x := uint64(7)
	next := func() uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
	out := make([]ev, n)
	for i := range out {
		ts := int64(i) * 2
		if next()%7 == 0 {
			ts -= int64(next() % 400)
		}
		out[i] = ev{K: fmt.Sprintf("k%d", next()%16), V: i<<1 | 1, TS: ts}
	}
	return out
}

// expectedLate replays the source's watermarks (bounded out-of-orderness
// d, one watermark after every batch of size batch) and returns the
// elements that arrive when their tumbling window of size has already
// fired and been cleaned up.
func expectedLate(in []ev, batch int, size, d int64) []ev {
	var late []ev
	wm, maxSeen := engine.MinWatermark, engine.MinWatermark
	for start := 0; start < len(in); start += batch {
		end := min(start+batch, len(in))
		for _, e := range in[start:end] {
			if WindowStart(e.TS, 0, size)+size-1 <= wm {
				late = append(late, e)
			}
			maxSeen = max(maxSeen, e.TS)
		}
		wm = max(wm, maxSeen-d-1)
	}
	return late
}

func sortEvs(es []ev) []ev {
	es = slices.Clone(es)
	slices.SortFunc(es, func(a, b ev) int {
		return cmp.Or(cmp.Compare(a.V, b.V), cmp.Compare(a.K, b.K), cmp.Compare(a.TS, b.TS))
	})
	return es
}

// sameEvs reports whether got and want hold the same elements, in any
// order, naming the first difference.
func sameEvs(t *testing.T, what string, got, want []ev) {
	t.Helper()
	g, w := sortEvs(got), sortEvs(want)
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			t.Errorf("%s: %d elements, want %d; first difference: %v, want %v", what, len(g), len(w), g[i], w[i])
			return
		}
	}
	if len(g) != len(w) {
		t.Errorf("%s: %d elements, want %d", what, len(g), len(w))
	}
}

// TestLateStreamParallel runs a tumbling window at parallelism 4 twice on
// the same out-of-order input: with Apply, which drops late elements and
// counts them, and with ApplyWithLate, whose late stream flows to a sink in
// the pipeline. The late stream must hold exactly the elements the first
// run dropped (as many, and the ones the watermarks make late), the window
// results must be the same, and every element must be counted once, in a
// result or in the late stream. Run it with -race: the late stream is fed
// from four subtask goroutines.
func TestLateStreamParallel(t *testing.T) {
	const batch, size, delay = 64, 100, 50
	in := lateInput(20000)
	want := expectedLate(in, batch, size, delay)
	if len(want) < 100 {
		t.Fatalf("only %d late elements: a weak test", len(want))
	}
	spec := Spec[string, ev, ev]{Assigner: Tumbling(size*ms, 0), Function: Reduce[string](sumEv)}
	build := func() (*engine.Pipeline, engine.KeyedStream[string, ev]) {
		p := engine.New(engine.WithParallelism(4), engine.WithMaxParallelism(32), engine.WithBatchSize(batch))
		s := engine.FromSource(p, "evs", engine.Source[ev](&sliceSource[ev]{recs: in, chunk: batch}),
			engine.BoundedOutOfOrderness(evTS, delay*time.Millisecond))
		return p, engine.KeyBy(s, func(e ev) string { return e.K }, engine.HashString)
	}

	// Run 1: Apply's operators drop late elements and count them.
	p, keyed := build()
	var ops []*Operator[string, ev, ev]
	dropped := &collectSink[ev]{}
	engine.ToSink(engine.Process(keyed, "sum", func(keys engine.Keys[string, ev]) engine.Operator[ev, ev] {
		o, err := New(keys, withStreamTimestamps(keyed, spec))
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, o)
		return o
	}), "out", dropped)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var nDropped int64
	for _, o := range ops {
		nDropped += o.LateDropped()
	}

	// Run 2: the late stream goes to a sink.
	p, keyed = build()
	results, late := ApplyWithLate(keyed, "sum", spec)
	resSink, lateSink := &collectSink[ev]{}, &collectSink[ev]{}
	engine.ToSink(results, "out", resSink)
	engine.ToSink(late, "late", lateSink)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	gotLate := lateSink.records()
	if int64(len(gotLate)) != nDropped {
		t.Errorf("late stream has %d elements, Apply dropped %d", len(gotLate), nDropped)
	}
	sameEvs(t, "late elements", gotLate, want)
	sameEvs(t, "window results", resSink.records(), dropped.records())
	if late.Timestamps() == nil || late.Timestamps()(ev{TS: 42}) != 42 {
		t.Errorf("late stream does not carry the stream's timestamps")
	}
	// Each element is in exactly one result or in the late stream: the sums
	// of element counts (V's low bit) and of V add up.
	var total, counted int
	for _, e := range in {
		total += e.V
	}
	for _, e := range append(resSink.records(), gotLate...) {
		counted += e.V
	}
	if counted != total {
		t.Errorf("results and late elements sum to %d, input to %d", counted, total)
	}
	// Per subtask the late stream keeps arrival order: per key, the late
	// elements come in input order (V grows with the input position).
	byK := map[string][]ev{}
	for _, e := range gotLate {
		byK[e.K] = append(byK[e.K], e)
	}
	for k, es := range byK {
		if !slices.IsSortedFunc(es, func(a, b ev) int { return cmp.Compare(a.V, b.V) }) {
			t.Errorf("key %s: late elements out of arrival order", k)
		}
	}
}
