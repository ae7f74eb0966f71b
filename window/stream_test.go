package window

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// runEvs runs in through one window stage built by apply on a stream made
// by src (parallelism 1, batches of 2) and returns the output.
func runEvs[OUT any](t *testing.T, in []ev, ws engine.WatermarkStrategy[ev], decl func(engine.Stream[ev]) engine.Stream[ev],
	apply func(engine.KeyedStream[string, ev]) engine.Stream[OUT]) ([]OUT, error) {
	t.Helper()
	p := engine.New(engine.WithParallelism(1), engine.WithMaxParallelism(8), engine.WithBatchSize(2))
	s := engine.FromSource(p, "evs", engine.Source[ev](&sliceSource[ev]{recs: in, chunk: 2}), ws)
	if decl != nil {
		s = decl(s)
	}
	sink := &collectSink[OUT]{}
	engine.ToSink(apply(engine.KeyBy(s, func(e ev) string { return e.K }, engine.HashString)), "out", sink)
	err := p.Run(context.Background())
	return sink.records(), err
}

// TestSpecTimestampFromStream: a spec without Timestamp reads the
// stream's; a spec's own Timestamp overrides it; with neither, the run
// fails naming what is missing.
func TestSpecTimestampFromStream(t *testing.T) {
	in := []ev{{"a", 1, 1}, {"a", 2, 5}, {"a", 4, 12}, {"a", 8, 25}}
	sum := func(ts func(ev) int64) func(engine.KeyedStream[string, ev]) engine.Stream[ev] {
		return func(k engine.KeyedStream[string, ev]) engine.Stream[ev] {
			return Apply(k, "sum", Spec[string, ev, ev]{Assigner: Tumbling(10*ms, 0), Function: Reduce[string](sumEv), Timestamp: ts})
		}
	}
	want := []ev{{"a", 3, 1}, {"a", 4, 12}, {"a", 8, 25}}
	got, err := runEvs(t, in, engine.Monotonous(evTS), nil, sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "stream's timestamps", got, want)

	// Override: the spec reads event time as 10 × TS, so every element
	// lands in its own 10 ms window.
	got, err = runEvs(t, in, engine.Monotonous(evTS), nil, sum(func(e ev) int64 { return e.TS * 10 }))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "spec's own timestamps", got, in)

	// Declared after the source, without watermarks: windows fire at the end.
	got, err = runEvs(t, in, engine.NoWatermarks[ev](), func(s engine.Stream[ev]) engine.Stream[ev] {
		return engine.WithTimestamps(engine.Map(s, func(e ev) ev { return e }), evTS)
	}, sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "WithTimestamps after Map", got, want)

	_, err = runEvs(t, in, engine.NoWatermarks[ev](), nil, sum(nil))
	if err == nil || !strings.Contains(err.Error(), "needs timestamps") || !strings.Contains(err.Error(), "WithTimestamps") {
		t.Errorf("no timestamps anywhere: err = %v, want one naming the missing timestamps", err)
	}
}

// TestDeltaTimeMaxTimestampFromStream: ApplyDeltaTimeMax reads the
// stream's timestamps when its spec has none.
func TestDeltaTimeMaxTimestampFromStream(t *testing.T) {
	in := pseudoCars(3000, 5)
	spec := carSpec(10*time.Second, 50)
	want := naiveTopSpeed(in, 10000, 50)
	carTS := spec.Timestamp
	spec.Timestamp = nil
	run := func(ws engine.WatermarkStrategy[car]) ([]car, error) {
		p := engine.New(engine.WithParallelism(1), engine.WithMaxParallelism(8))
		s := engine.FromSource(p, "cars", engine.Source[car](&sliceSource[car]{recs: in, chunk: 64}), ws)
		sink := &collectSink[car]{}
		engine.ToSink(ApplyDeltaTimeMax(engine.KeyBy(s, func(c car) int32 { return c.ID }, engine.HashInt32), "top", spec), "out", sink)
		err := p.Run(context.Background())
		return sink.records(), err
	}
	got, err := run(engine.BoundedOutOfOrderness(carTS, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("got %d records, want %d (or they differ)", len(got), len(want))
	}
	if _, err := run(engine.NoWatermarks[car]()); err == nil || !strings.Contains(err.Error(), "Timestamp is nil") {
		t.Errorf("no timestamps: err = %v", err)
	}
}
