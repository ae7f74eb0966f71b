package engine_test

import (
	"testing"

	"github.com/topspeed/topspeed/engine"
)

// TestStreamTimestamps checks which stages keep a stream's timestamp
// function: the source declares it, Filter and KeyBy keep it, Map and
// FlatMap (another record type in general) drop it, WithTimestamps sets it.
func TestStreamTimestamps(t *testing.T) {
	p := engine.New()
	ts := func(v int) int64 { return int64(v) * 10 }
	s := engine.FromSource(p, "src", engine.Source[int](&sliceSource{}), engine.Monotonous(ts))
	has := func(what string, f func(int) int64, want bool) {
		t.Helper()
		switch {
		case want && f == nil:
			t.Errorf("%s: no timestamp function", what)
		case want && f(3) != 30:
			t.Errorf("%s: timestamp of 3 = %d, want 30", what, f(3))
		case !want && f != nil:
			t.Errorf("%s: has a timestamp function, want none", what)
		}
	}
	has("source", s.Timestamps(), true)
	has("filter", engine.Filter(s, func(int) bool { return true }).Timestamps(), true)
	has("keyBy", engine.KeyBy(s, key10, engine.HashInt).Timestamps(), true)
	m := engine.Map(s, func(v int) int { return v })
	has("map", m.Timestamps(), false)
	has("flatMap", engine.FlatMap(s, func(v int, emit func(int)) { emit(v) }).Timestamps(), false)
	has("map + WithTimestamps", engine.WithTimestamps(m, ts).Timestamps(), true)
	has("map, original stream after WithTimestamps", m.Timestamps(), false)
	has("process", engine.Process(engine.KeyBy(s, key10, engine.HashInt), "sum", newSum).Timestamps(), false)
	none := engine.FromSource(p, "src2", engine.Source[int](&sliceSource{}), engine.NoWatermarks[int]())
	has("source without watermarks", none.Timestamps(), false)
}
