package window

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// sliceSource replays recs in chunks; if gate is set it stops at stopAt
// until the gate is closed. Its checkpointed state is the position.
type sliceSource[T any] struct {
	recs   []T
	pos    int
	chunk  int
	gate   chan struct{}
	stopAt int
}

func (s *sliceSource[T]) Open(context.Context) error { return nil }
func (s *sliceSource[T]) Close() error               { return nil }
func (s *sliceSource[T]) Read(ctx context.Context, buf []T) (int, error) {
	if s.gate != nil && s.pos >= s.stopAt {
		select {
		case <-s.gate:
			s.gate = nil
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
			return 0, nil
		}
	}
	if s.pos >= len(s.recs) {
		return 0, io.EOF
	}
	n := min(len(buf), s.chunk, len(s.recs)-s.pos)
	if s.gate != nil {
		n = min(n, s.stopAt-s.pos)
	}
	copy(buf, s.recs[s.pos:s.pos+n])
	s.pos += n
	return n, nil
}
func (s *sliceSource[T]) SnapshotState() ([]byte, error) {
	return binary.AppendUvarint(nil, uint64(s.pos)), nil
}
func (s *sliceSource[T]) RestoreState(b []byte) error {
	p, _ := binary.Uvarint(b)
	s.pos = int(p)
	return nil
}

type collectSink[T any] struct {
	mu  sync.Mutex
	got []T
}

func (c *collectSink[T]) Open(context.Context) error  { return nil }
func (c *collectSink[T]) Close() error                { return nil }
func (c *collectSink[T]) Flush(context.Context) error { return nil }
func (c *collectSink[T]) Write(_ context.Context, b []T) error {
	c.mu.Lock()
	c.got = append(c.got, b...)
	c.mu.Unlock()
	return nil
}
func (c *collectSink[T]) records() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// byKey splits records into per-key sequences (order within a key is
// deterministic; across subtasks it is not).
func byKey(cs []car) map[int32][]car {
	m := map[int32][]car{}
	for _, c := range cs {
		m[c.ID] = append(m[c.ID], c)
	}
	return m
}

// pseudoCars is a deterministic TopSpeed-like input: cars reporting every
// ~100ms, speeds with ties, and every 13th report of a car 0.5-2.5s late.
func pseudoCars(n, cars int) []car {
	out := make([]car, n)
	x := uint64(42)
	next := func() uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
	dist := make([]float64, cars)
	for i := range out {
		id := int32(next() % uint64(cars))
		dist[id] += float64(next()%30) + 0.5
		ts := int64(i) * 100 / int64(cars) * int64(cars)
		if next()%13 == 0 {
			ts -= int64(500 + next()%2000)
		}
		out[i] = car{ID: id, Speed: int32(next() % 8), Dist: dist[id], TS: ts, N: int32(i)}
	}
	return out
}

func TestEngineDeltaTimeMaxAndGeneric(t *testing.T) {
	in := pseudoCars(20000, 17)
	spec := carSpec(10*time.Second, 50)
	want := byKey(naiveTopSpeed(in, 10000, 50))
	p := engine.New(engine.WithParallelism(3), engine.WithMaxParallelism(16), engine.WithBatchSize(97))
	cars := engine.FromSource(p, "cars", engine.Source[car](&sliceSource[car]{recs: in, chunk: 97}), engine.NoWatermarks[car]())
	keyed := engine.KeyBy(cars, func(c car) int32 { return c.ID }, engine.HashInt32)
	fused, generic := &collectSink[car]{}, &collectSink[car]{}
	engine.ToSink(ApplyDeltaTimeMax(keyed, "fused", spec), "fused-out", fused)
	engine.ToSink(Apply(keyed, "generic", AsSpec[int32](spec)), "generic-out", generic)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("test input produces no output")
	}
	for name, got := range map[string][]car{"fused": fused.records(), "generic": generic.records()} {
		g := byKey(got)
		for id, w := range want {
			if !slices.Equal(g[id], w) {
				t.Errorf("%s, car %d: got %d records, want %d", name, id, len(g[id]), len(w))
			}
		}
		if len(g) != len(want) {
			t.Errorf("%s: output for %d cars, want %d", name, len(g), len(want))
		}
	}
}

func TestEngineDeltaTimeMaxCheckpointRestore(t *testing.T) {
	in := pseudoCars(5000, 9)
	spec := carSpec(10*time.Second, 50)
	build := func(src engine.Source[car], sink *collectSink[car], par int) *engine.Pipeline {
		p := engine.New(engine.WithParallelism(par), engine.WithMaxParallelism(16), engine.WithBatchSize(50))
		cars := engine.FromSource(p, "cars", src, engine.NoWatermarks[car]())
		keyed := engine.KeyBy(cars, func(c car) int32 { return c.ID }, engine.HashInt32)
		engine.ToSink(ApplyDeltaTimeMax(keyed, "top", spec), "out", sink)
		return p
	}
	gate := make(chan struct{})
	p1 := build(&sliceSource[car]{recs: in, chunk: 50, gate: gate, stopAt: 2600}, &collectSink[car]{}, 3)
	done := make(chan error, 1)
	go func() { done <- p1.Run(context.Background()) }()
	var snap *engine.Snapshot
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		snap, err = p1.Checkpoint(context.Background())
		if err == nil {
			// Under load the first checkpoint may come before the first
			// record: take another until the source has read some.
			if pos, _ := binary.Uvarint(snap.Sources["cars"]); pos > 0 && len(snap.Operators["top"].KeyGroups()) > 0 {
				break
			}
		} else if !errors.Is(err, engine.ErrNotRunning) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint with state within 10 s: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	pos, _ := binary.Uvarint(snap.Sources["cars"])
	if pos == 0 || len(snap.Operators["top"].KeyGroups()) == 0 {
		t.Fatalf("checkpoint at position %d with %d key groups: test did not checkpoint mid-stream", pos, len(snap.Operators["top"].KeyGroups()))
	}
	sink := &collectSink[car]{}
	p2 := build(&sliceSource[car]{recs: in, chunk: 50}, sink, 2)
	p2.RestoreFrom(snap)
	if err := p2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := byKey(naiveTopSpeed(in, 10000, 50))
	before := byKey(naiveTopSpeed(in[:pos], 10000, 50))
	got := byKey(sink.records())
	for id, w := range all {
		if want := w[len(before[id]):]; !slices.Equal(got[id], want) {
			t.Errorf("car %d after restore: got %d records, want %d", id, len(got[id]), len(want))
		}
	}
}

func TestEngineTumblingWatermarks(t *testing.T) {
	// Monotonous watermarks (max ts - 1) fire [0,10) once ts 10 is seen;
	// the end of input (watermark MaxInt64) fires the rest.
	in := []ev{{"a", 1, 1}, {"b", 2, 2}, {"a", 4, 9}, {"a", 8, 10}, {"b", 16, 25}, {"a", 32, 29}}
	p := engine.New(engine.WithParallelism(2), engine.WithMaxParallelism(8), engine.WithBatchSize(2))
	evs := engine.FromSource(p, "evs", engine.Source[ev](&sliceSource[ev]{recs: in, chunk: 2}), engine.Monotonous(evTS))
	keyed := engine.KeyBy(evs, func(e ev) string { return e.K }, engine.HashString)
	sink := &collectSink[ev]{}
	engine.ToSink(Apply(keyed, "sum", Spec[string, ev, ev]{Assigner: Tumbling(10*ms, 0), Function: Reduce[string](sumEv), Timestamp: evTS}), "out", sink)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := sink.records()
	slices.SortFunc(got, func(a, b ev) int { return int(a.TS - b.TS) })
	expect(t, "tumbling sums", got, []ev{{"a", 5, 1}, {"b", 2, 2}, {"a", 8, 10}, {"b", 16, 25}, {"a", 32, 29}})
}
