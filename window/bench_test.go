package window

import (
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// benchCars generates Flink's CarSource traffic for `cars` cars over
// `rounds` reports each: every 100ms each car's speed moves by ±5 km/h
// within [0, 100] and its distance grows by speed/3.6 m. Input is in order.
func benchCars(cars, rounds int) []car {
	out := make([]car, 0, cars*rounds)
	speed := make([]int32, cars)
	dist := make([]float64, cars)
	x := uint64(7)
	for r := 0; r < rounds; r++ {
		for c := 0; c < cars; c++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			if x&1 == 0 {
				speed[c] = min(100, speed[c]+5)
			} else {
				speed[c] = max(0, speed[c]-5)
			}
			dist[c] += float64(speed[c]) / 3.6
			out = append(out, car{ID: int32(c), Speed: speed[c], Dist: dist[c], TS: int64(r) * 100})
		}
	}
	return out
}

// benchFeed feeds b.N events to op in batches of 1024, replaying the input
// with time and distance shifted on each pass so that it stays in order.
// A fresh engine.Output per batch costs the harness about one allocation
// per 1024 events (the engine itself reuses its Output).
func benchFeed(b *testing.B, op engine.Operator[car, car], in []car, rounds int) {
	batch := make([]car, 1024)
	var out engine.Output[car]
	span, pass, pos := int64(rounds)*100, int64(0), 0
	fill := func(n int) {
		for i := 0; i < n; i++ {
			if pos == len(in) {
				pos = 0
				pass++
			}
			c := in[pos]
			c.TS += pass * span
			c.Dist += float64(pass) * 1e6
			batch[i] = c
			pos++
		}
	}
	warm := len(in)
	for warm > 0 {
		n := min(warm, len(batch))
		fill(n)
		_ = op.ProcessBatch(batch[:n], &out)
		out = engine.Output[car]{}
		warm -= n
	}
	b.ReportAllocs()
	b.ResetTimer()
	emitted := 0
	for done := 0; done < b.N; {
		n := min(b.N-done, len(batch))
		fill(n)
		if err := op.ProcessBatch(batch[:n], &out); err != nil {
			b.Fatal(err)
		}
		done += n
		emitted += out.Len()
		out = engine.Output[car]{}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(emitted)/float64(b.N), "out/event")
}

// BenchmarkTopSpeed compares the fused operator with the generic window
// operator (Global + TimeEvictor + Delta + MaxBy) on 1000 cars, in-order
// input, Flink's example parameters (10 s, 50 m). ns/op is per event.
func BenchmarkTopSpeed(b *testing.B) {
	const cars, rounds = 1000, 300
	in := benchCars(cars, rounds)
	spec := carSpec(10*time.Second, 50)
	b.Run("fused", func(b *testing.B) {
		o, _ := NewDeltaTimeMax(carKeys(128), spec)
		benchFeed(b, o, in, rounds)
	})
	late := benchCars(cars, rounds)
	for i := range late {
		if i%13 == 0 {
			late[i].TS -= 500 // half a second late: heap mode for every car
		}
	}
	b.Run("fused-out-of-order", func(b *testing.B) {
		o, _ := NewDeltaTimeMax(carKeys(128), spec)
		benchFeed(b, o, late, rounds)
	})
	b.Run("generic", func(b *testing.B) {
		o, _ := New(carKeys(128), AsSpec[int32](spec))
		benchFeed(b, o, in, rounds)
	})
}

// BenchmarkCheckpointPause measures what a checkpoint costs the subtask's
// goroutine (OnCheckpoint; the encoders run elsewhere): one subtask of
// ckbench's 10k cars (5,000 keys in 64 key groups) where 1% of the keys
// changed since the last checkpoint, with the chains of deltas that such
// checkpoints build up (compactions included).
func BenchmarkCheckpointPause(b *testing.B) {
	const keys, changed = 5000, 50
	o, in := fedCars(b, carSpec(10*time.Second, 50), 64, keys, func(int) int64 { return 0 })
	var out engine.Output[car]
	ts, next := int64(0), 0
	step := func() {
		ts++
		batch := in[:0:0]
		for range changed {
			c := in[next%keys]
			c.TS, c.Dist = ts, float64(ts)
			batch = append(batch, c)
			next++
		}
		if err := o.ProcessBatch(batch, &out); err != nil {
			b.Fatal(err)
		}
		out.Reset()
	}
	for i := 0; i < 200; i++ { // chains of every length up to compaction
		step()
		checkpointNow(b, o, uint64(i+1))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		step()
		st := engine.NewKeyedState()
		b.StartTimer()
		if err := o.OnCheckpoint(uint64(1000+i), st); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := st.Resolve(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
