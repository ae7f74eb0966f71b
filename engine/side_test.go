package engine_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// splitter emits even records on its main output and odd ones, negated, on
// its side output.
type splitter struct {
	side *engine.Output[int]
}

func (s *splitter) Open(engine.OperatorContext) error { return nil }
func (s *splitter) ProcessBatch(in []int, out *engine.Output[int]) error {
	for _, v := range in {
		if v%2 == 0 {
			out.Emit(v)
		} else {
			s.side.Emit(-v)
		}
	}
	return nil
}
func (s *splitter) OnWatermark(int64, *engine.Output[int]) error      { return nil }
func (s *splitter) OnProcessingTime(int64, *engine.Output[int]) error { return nil }
func (s *splitter) OnCheckpoint(uint64, *engine.KeyedState) error     { return nil }
func (s *splitter) OnCommit(uint64) error                             { return nil }
func (s *splitter) Close(*engine.Output[int]) error                   { return nil }

// wmRecorder is a keyed stage that records the watermarks it gets and
// passes its records on.
type wmRecorder struct {
	mu  *sync.Mutex
	wms *[]int64
}

func (w *wmRecorder) Open(engine.OperatorContext) error { return nil }
func (w *wmRecorder) ProcessBatch(in []int, out *engine.Output[int]) error {
	out.EmitAll(in)
	return nil
}
func (w *wmRecorder) OnWatermark(wm int64, _ *engine.Output[int]) error {
	w.mu.Lock()
	*w.wms = append(*w.wms, wm)
	w.mu.Unlock()
	return nil
}
func (w *wmRecorder) OnProcessingTime(int64, *engine.Output[int]) error { return nil }
func (w *wmRecorder) OnCheckpoint(uint64, *engine.KeyedState) error     { return nil }
func (w *wmRecorder) OnCommit(uint64) error                             { return nil }
func (w *wmRecorder) Close(*engine.Output[int]) error                   { return nil }

// TestProcessWithSide: the side stream gets exactly the side records, the
// stage's watermarks (so a keyed stage behind it sees event time advance
// and end) and its barriers (a checkpoint completes with a sink behind the
// side stream), at parallelism 3.
func TestProcessWithSide(t *testing.T) {
	recs := seq(3000)
	gate := make(chan struct{})
	p := engine.New(engine.WithParallelism(3))
	src := &sliceSource{recs: recs, chunk: 16, gate: gate, stopAt: 1500}
	s := engine.FromSource(p, "src", engine.Source[int](src), engine.Monotonous(func(v int) int64 { return int64(v) }))
	main, side := engine.ProcessWithSide(engine.KeyBy(s, key10, engine.HashInt), "split",
		func(_ engine.Keys[int, int], side *engine.Output[int]) engine.Operator[int, int] {
			return &splitter{side: side}
		})
	var mu sync.Mutex
	var wms []int64
	behind := engine.Process(engine.KeyBy(side, func(v int) int { return -v % 10 }, engine.HashInt), "behind-side",
		func(engine.Keys[int, int]) engine.Operator[int, int] { return &wmRecorder{mu: &mu, wms: &wms} })
	mainOut, sideOut := &collect{}, &collect{}
	engine.ToSink(main, "main", engine.Sink[int](mainOut))
	engine.ToSink(behind, "side", engine.Sink[int](sideOut))

	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	var snap *engine.Snapshot
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		var err error
		if snap, err = p.Checkpoint(context.Background()); err == nil {
			break
		}
		if !errors.Is(err, engine.ErrNotRunning) || time.Now().After(deadline) {
			t.Fatalf("checkpoint with a side stream: %v", err)
		}
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if snap.Sources["src"] == nil {
		t.Errorf("snapshot without the source position")
	}
	var wantMain, wantSide []int
	for _, v := range recs {
		if v%2 == 0 {
			wantMain = append(wantMain, v)
		} else {
			wantSide = append(wantSide, -v)
		}
	}
	for name, c := range map[string]struct{ got, want []int }{"main": {mainOut.records(), wantMain}, "side": {sideOut.records(), wantSide}} {
		sort.Ints(c.got)
		sort.Ints(c.want)
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s stream: %d records, want %d (or they differ)", name, len(c.got), len(c.want))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(wms) < 2 || slices.Max(wms) != math.MaxInt64 || slices.Min(wms) == math.MaxInt64 {
		t.Errorf("stage behind the side stream saw watermarks %v, want some below the end and the end", wms)
	}
}
