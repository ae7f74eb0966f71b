package engine_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// TestUnionTwoSources joins a fast and a slow source (parallelism 2). The
// keyed stage behind the union must get every record of both, each
// source's records of a key in order; its watermark must be the minimum of
// the two sources' (the fast one's watermarks never pass while the slow
// one has emitted none); a checkpoint taken while both run must align the
// barriers of both and record both positions.
func TestUnionTwoSources(t *testing.T) {
	var fast, slow []int
	for i := range 1000 {
		fast = append(fast, 2*i)          // even, event time 0..1998
		slow = append(slow, 100000+2*i+1) // odd, event time from 100001
	}
	gateFast, gateSlow := make(chan struct{}), make(chan struct{})
	p := engine.New(engine.WithParallelism(2))
	ts := func(v int) int64 { return int64(v) }
	a := engine.FromSource(p, "fast", engine.Source[int](&sliceSource{recs: fast, chunk: 10, gate: gateFast, stopAt: 500}), engine.Monotonous(ts))
	b := engine.FromSource(p, "slow", engine.Source[int](&sliceSource{recs: slow, chunk: 10, gate: gateSlow, stopAt: 0}), engine.Monotonous(ts))
	u := engine.Union(a, b)
	if u.Timestamps() == nil {
		t.Errorf("union of two streams with timestamps has none")
	}
	var mu sync.Mutex
	var wms []int64
	out := engine.Process(engine.KeyBy(u, key10, engine.HashInt), "merged",
		func(engine.Keys[int, int]) engine.Operator[int, int] { return &wmRecorder{mu: &mu, wms: &wms} })
	c := &collect{}
	engine.ToSink(out, "sink", engine.Sink[int](c))

	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	var snap *engine.Snapshot
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		var err error
		if snap, err = p.Checkpoint(context.Background()); err == nil {
			break
		}
		if !errors.Is(err, engine.ErrNotRunning) || time.Now().After(deadline) {
			t.Fatalf("checkpoint across a union: %v", err)
		}
	}
	if snap.Sources["fast"] == nil || snap.Sources["slow"] == nil {
		t.Errorf("snapshot lacks a source position: %v", snap.Sources)
	}
	// Let the fast source finish while the slow one still holds back.
	close(gateFast)
	for deadline := time.Now().Add(5 * time.Second); p.Progress().Read < int64(len(fast)); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("fast source did not finish")
		}
	}
	time.Sleep(20 * time.Millisecond)
	close(gateSlow)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	got := c.records()
	want := append(slices.Clone(fast), slow...)
	sort.Ints(got)
	sort.Ints(want)
	if !slices.Equal(got, want) {
		t.Fatalf("union delivered %d records, want %d (or they differ)", len(got), len(want))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(wms) == 0 || slices.Max(wms) != math.MaxInt64 {
		t.Fatalf("watermarks %v: no end of input", wms)
	}
	for _, wm := range wms {
		if wm < 100000 {
			t.Fatalf("watermark %d passed while the slow source had emitted none: not the minimum of the inputs (all: %v)", wm, wms)
		}
	}
	if len(wms) < 3 {
		t.Errorf("watermarks %v: the slow source's did not come through", wms)
	}
}

// TestUnionInputsAndErrors: a union of two Maps of one source, one of them
// twice, delivers each input's records once per appearance; a stream of
// another pipeline fails the pipeline; inputs without timestamps leave the
// union without.
func TestUnionInputsAndErrors(t *testing.T) {
	p := engine.New(engine.WithParallelism(3))
	s := engine.FromSource(p, "src", engine.Source[int](&sliceSource{recs: seq(2000), chunk: 13}), engine.Monotonous(func(v int) int64 { return 0 }))
	pos := engine.Map(s, func(v int) int { return v })
	neg := engine.Map(s, func(v int) int { return -v - 1 })
	u := engine.Union(pos, neg, pos)
	if u.Timestamps() != nil {
		t.Errorf("union of Map outputs (no timestamps) has a timestamp function")
	}
	c := &collect{}
	engine.ToSink(u, "sink", engine.Sink[int](c))
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, v := range seq(2000) {
		want = append(want, v, v, -v-1)
	}
	got := c.records()
	sort.Ints(got)
	sort.Ints(want)
	if !slices.Equal(got, want) {
		t.Fatalf("got %d records, want %d (or they differ)", len(got), len(want))
	}

	p2 := engine.New()
	other := engine.FromSource(engine.New(), "x", engine.Source[int](&sliceSource{}), engine.NoWatermarks[int]())
	mine := engine.FromSource(p2, "y", engine.Source[int](&sliceSource{}), engine.NoWatermarks[int]())
	engine.ToSink(engine.Union(mine, other), "sink", engine.Sink[int](&collect{}))
	if err := p2.Run(context.Background()); !errors.Is(err, engine.ErrInvalidPipeline) || !strings.Contains(err.Error(), "another pipeline") {
		t.Errorf("union across pipelines: err = %v", err)
	}
}
