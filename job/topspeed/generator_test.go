package topspeed

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

// fakeClock is a Clock whose Sleep advances time instantly.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sleeps = append(c.sleeps, d)
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return nil
}

func synthetic(seed int64, cars int) GeneratorConfig {
	return GeneratorConfig{Cars: cars, Seed: seed, Synthetic: true}
}

func newGen(t testing.TB, cfg GeneratorConfig) *Generator {
	t.Helper()
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return g
}

// take reads n events with reads of at most batch records.
func take(t testing.TB, g *Generator, n, batch int) []Car {
	t.Helper()
	out := make([]Car, 0, n)
	buf := make([]Car, batch)
	for len(out) < n {
		k, err := g.Read(context.Background(), buf[:min(batch, n-len(out))])
		out = append(out, buf[:k]...)
		if err != nil {
			t.Fatalf("Read after %d events: %v", len(out), err)
		}
	}
	return out
}

func TestGeneratorBehaviour(t *testing.T) {
	const cars = 3
	cfg := synthetic(42, cars)
	cfg.StartTime = time.UnixMilli(1424951918630)
	cfg.Interval = 100 * time.Millisecond
	evs := take(t, newGen(t, cfg), 3000, 64)
	speed := [cars]int32{50, 50, 50}
	dist := [cars]float64{}
	ups := 0
	for i, e := range evs {
		if e.ID != int32(i%cars) {
			t.Fatalf("event %d: car %d, want %d", i, e.ID, i%cars)
		}
		if want := 1424951918630 + int64(i)*100; e.Time != want {
			t.Fatalf("event %d: time %d, want %d", i, e.Time, want)
		}
		prev := speed[e.ID]
		up, down := min(100, prev+5), max(0, prev-5)
		if e.Speed != up && e.Speed != down {
			t.Fatalf("event %d: speed %d after %d", i, e.Speed, prev)
		}
		if e.Speed > prev || (e.Speed == prev && prev == 100) {
			ups++
		}
		speed[e.ID] = e.Speed
		dist[e.ID] += float64(e.Speed) / 3.6
		if e.Distance != dist[e.ID] {
			t.Fatalf("event %d: distance %v, want %v", i, e.Distance, dist[e.ID])
		}
	}
	// A fair coin: about half of the changes go up.
	if ups < 1300 || ups > 1700 {
		t.Errorf("%d of 3000 speed changes went up", ups)
	}
}

func TestGeneratorDeterministic(t *testing.T) {
	a := take(t, newGen(t, synthetic(7, 2)), 500, 7)
	b := take(t, newGen(t, synthetic(7, 2)), 500, 500)
	c := take(t, newGen(t, synthetic(8, 2)), 500, 500)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("same seed, different sequences")
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Error("different seeds, same sequence")
	}
	if a[0].Time != 0 || a[1].Time != 100 {
		t.Errorf("synthetic clock should start at the epoch with 100ms steps: %v", a[:2])
	}
}

func TestGeneratorSnapshotRestore(t *testing.T) {
	const total = 1000
	want := take(t, newGen(t, synthetic(99, 5)), total, 1000)
	for _, k := range []int{0, 1, 4, 5, 333, 999, 1000} {
		g := newGen(t, synthetic(99, 5))
		got := take(t, g, k, 13)
		state, err := g.SnapshotState()
		if err != nil {
			t.Fatal(err)
		}
		// Keep going on the original; the snapshot must not alias it.
		take(t, g, 10, 10)

		// A fresh generator with another seed continues identically.
		h := newGen(t, synthetic(12345, 5))
		if err := h.RestoreState(state); err != nil {
			t.Fatal(err)
		}
		got = append(got, take(t, h, total-k, 17)...)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("restore after %d events: sequences differ", k)
		}
		again, _ := h.SnapshotState()
		if k == total && string(again) != string(state) {
			t.Fatalf("snapshot of restored generator differs")
		}
	}
}

// snapshotV1 encodes g in the version 1 layout, which RestoreState still
// reads: per car speed (i32) and distance (f64 bits).
func snapshotV1(t *testing.T, g *Generator) []byte {
	rs, err := g.rng.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b := append([]byte(snapMagic), 1)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(g.speeds)))
	for _, v := range []int64{g.tick, g.baseTick, g.baseNs, g.interval} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(rs)))
	b = append(b, rs...)
	for i, s := range g.speeds {
		b = binary.LittleEndian.AppendUint32(b, uint32(s))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(g.dists[i]))
	}
	return b
}

// TestGeneratorRestoresVersion1 restores a checkpoint written before the
// compact layout: the same continuation, and a version 2 snapshot after.
func TestGeneratorRestoresVersion1(t *testing.T) {
	const cars = 7
	want := take(t, newGen(t, synthetic(42, cars)), 500, 500)
	g := newGen(t, synthetic(42, cars))
	got := take(t, g, 123, 10)
	v1, v2 := snapshotV1(t, g), mustSnapshot(t, g)
	if len(v2) != snapHeader+len(v1)-snapHeader-3*cars || v2[len(snapMagic)] != snapVersion {
		t.Fatalf("version 2 snapshot of %d bytes (version 1: %d)", len(v2), len(v1))
	}
	h := newGen(t, synthetic(7, cars))
	if err := h.RestoreState(v1); err != nil {
		t.Fatal(err)
	}
	if again := mustSnapshot(t, h); string(again) != string(v2) {
		t.Fatal("version 1 restore differs from the version 2 snapshot of the same state")
	}
	got = append(got, take(t, h, 500-123, 50)...)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("restore from version 1: sequences differ")
	}
	bad := append([]byte(nil), v1...)
	bad[len(bad)-12] = 101 // the last car's speed
	if err := newGen(t, synthetic(7, cars)).RestoreState(bad); err == nil || !strings.Contains(err.Error(), "corrupt car 6") {
		t.Fatalf("speed 101 in version 1: %v", err)
	}
	bad = mustSnapshot(t, g)
	bad[len(bad)-8*cars-1] = 101
	if err := newGen(t, synthetic(7, cars)).RestoreState(bad); err == nil || !strings.Contains(err.Error(), "corrupt car 6") {
		t.Fatalf("speed 101 in version 2: %v", err)
	}
}

func mustSnapshot(t *testing.T, g *Generator) []byte {
	t.Helper()
	b, err := g.SnapshotState()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGeneratorRestoreErrors(t *testing.T) {
	g := newGen(t, synthetic(1, 2))
	take(t, g, 10, 10)
	state, _ := g.SnapshotState()
	tests := []struct {
		name  string
		state []byte
		want  string
	}{
		{"empty", nil, "not a car generator snapshot"},
		{"garbage", []byte("hello world, this is not a snapshot at all!!!!!!"), "not a car generator snapshot"},
		{"truncated", state[:len(state)-1], "corrupt"},
		{"version", append([]byte("TSGN\x09"), state[5:]...), "unknown version 9"},
	}
	for _, tt := range tests {
		h := newGen(t, synthetic(1, 2))
		if err := h.RestoreState(tt.state); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	h := newGen(t, synthetic(1, 3))
	if err := h.RestoreState(state); err == nil || !strings.Contains(err.Error(), "has 2 cars, configured 3") {
		t.Errorf("cars mismatch: %v", err)
	}
}

func TestGeneratorRestoreNewInterval(t *testing.T) {
	g := newGen(t, synthetic(1, 2))
	first := take(t, g, 10, 10) // times 0..900
	state, _ := g.SnapshotState()
	cfg := synthetic(1, 2)
	cfg.Interval = time.Second
	h := newGen(t, cfg)
	if err := h.RestoreState(state); err != nil {
		t.Fatal(err)
	}
	rest := take(t, h, 3, 3)
	if first[9].Time != 900 || rest[0].Time != 1000 || rest[1].Time != 2000 || rest[2].Time != 3000 {
		t.Errorf("times %d then %v", first[9].Time, rest)
	}
}

func TestGeneratorEventsLimit(t *testing.T) {
	cfg := synthetic(3, 2)
	cfg.Events = 10
	g := newGen(t, cfg)
	buf := make([]Car, 4)
	var got []Car
	for i := 0; ; i++ {
		n, err := g.Read(context.Background(), buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			if n != 2 || i != 2 {
				t.Errorf("EOF with %d records on read %d, want 2 on read 2", n, i)
			}
			break
		}
		if err != nil || n != 4 {
			t.Fatalf("read %d: n=%d err=%v", i, n, err)
		}
	}
	if len(got) != 10 {
		t.Errorf("got %d events", len(got))
	}
	if n, err := g.Read(context.Background(), buf); n != 0 || err != io.EOF {
		t.Errorf("after the end: %d, %v", n, err)
	}
}

func TestGeneratorPacing(t *testing.T) {
	clk := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
	cfg := DefaultGeneratorConfig()
	cfg.Clock = clk
	g := newGen(t, cfg)
	buf := make([]Car, 100)
	ctx := context.Background()

	// Event 0 is due at once, and its time is the wall clock at Open.
	n, err := g.Read(ctx, buf)
	if n != 1 || err != nil || buf[0].Time != 1_700_000_000_000 {
		t.Fatalf("first read: %d %v %+v", n, err, buf[0])
	}
	// Nothing else is due: Read sleeps until the next event (100 ms).
	n, err = g.Read(ctx, buf)
	if n != 1 || err != nil || buf[0].Time != 1_700_000_000_100 {
		t.Fatalf("second read: %d %v %+v", n, err, buf[:n])
	}
	if len(clk.sleeps) != 1 || clk.sleeps[0] != 100*time.Millisecond {
		t.Fatalf("sleeps %v", clk.sleeps)
	}
	// After a 1 s stall, the 10 events due are released at once.
	clk.now = clk.now.Add(time.Second)
	n, err = g.Read(ctx, buf)
	if n != 10 || err != nil {
		t.Fatalf("after a stall: %d %v", n, err)
	}
	// ... but no more than buf holds.
	clk.now = clk.now.Add(time.Second)
	if n, _ = g.Read(ctx, buf[:3]); n != 3 {
		t.Fatalf("small buffer: %d", n)
	}
	if n, _ = g.Read(ctx, buf); n != 7 {
		t.Fatalf("rest of the backlog: %d", n)
	}
	// Over 100 s of fake time, about 1000 events.
	start, total := clk.now, 0
	for clk.now.Sub(start) < 100*time.Second {
		n, err := g.Read(ctx, buf)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total < 995 || total > 1005 {
		t.Errorf("%d events in 100 s at 10/s", total)
	}
}

func TestGeneratorSlowRateReturnsEarly(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	cfg := GeneratorConfig{Cars: 1, Rate: 0.5, Clock: clk} // one event every 2 s
	g := newGen(t, cfg)
	buf := make([]Car, 10)
	if n, _ := g.Read(context.Background(), buf); n != 1 {
		t.Fatalf("first read: %d", n)
	}
	// The next event is 2 s away, but Read returns after 100 ms at most.
	for i := range 19 {
		n, err := g.Read(context.Background(), buf)
		if n != 0 || err != nil {
			t.Fatalf("read %d: %d %v", i, n, err)
		}
	}
	for _, d := range clk.sleeps {
		if d > 100*time.Millisecond {
			t.Fatalf("slept %v", d)
		}
	}
	if n, _ := g.Read(context.Background(), buf); n != 1 || buf[0].Time != 1002000 {
		t.Fatalf("after 2 s: %d %+v", n, buf[0])
	}
}

func TestGeneratorWallClockHonoursContext(t *testing.T) {
	cfg := GeneratorConfig{Cars: 1, Rate: 0.1} // real clock, 10 s between events
	g := newGen(t, cfg)
	buf := make([]Car, 10)
	ctx, cancel := context.WithCancel(context.Background())
	if n, err := g.Read(ctx, buf); n != 1 || err != nil {
		t.Fatalf("first read: %d %v", n, err)
	}
	start := time.Now()
	if n, err := g.Read(ctx, buf); n != 0 || err != nil {
		t.Fatalf("second read: %d %v", n, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Read took %v, want about 100ms", d)
	}
	cancel()
	if _, err := g.Read(ctx, buf); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}
	// Cancellation during the sleep.
	ctx, cancel = context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	for {
		_, err := g.Read(ctx, buf)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("during sleep: %v", err)
			}
			break
		}
	}
}

func TestGeneratorWallClockRestoreKeepsTimeline(t *testing.T) {
	clk := &fakeClock{now: time.UnixMilli(5_000)}
	cfg := DefaultGeneratorConfig()
	cfg.Clock = clk
	g := newGen(t, cfg)
	take(t, g, 5, 5) // times 5000..5400
	state, _ := g.SnapshotState()

	clk.now = time.UnixMilli(60_000) // restarted much later
	h := newGen(t, cfg)
	if err := h.RestoreState(state); err != nil {
		t.Fatal(err)
	}
	buf := make([]Car, 10)
	n, err := h.Read(context.Background(), buf)
	if n != 1 || err != nil || buf[0].Time != 5_500 {
		t.Fatalf("after restore: %d %v %+v", n, err, buf[:n])
	}
}

func TestGeneratorConfigValidate(t *testing.T) {
	if err := DefaultGeneratorConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		mod  func(*GeneratorConfig)
		want string
	}{
		{func(c *GeneratorConfig) { c.Cars = 0 }, "cars 0"},
		{func(c *GeneratorConfig) { c.Cars = MaxGeneratorCars + 1 }, "cars"},
		{func(c *GeneratorConfig) { c.Rate = -1 }, "rate -1"},
		{func(c *GeneratorConfig) { c.Rate = math.NaN() }, "rate NaN"},
		{func(c *GeneratorConfig) { c.Rate = math.Inf(1) }, "rate +Inf"},
		{func(c *GeneratorConfig) { c.Rate = 1e-9 }, "interval"},
		{func(c *GeneratorConfig) { c.Events = -1 }, "events -1"},
		{func(c *GeneratorConfig) { c.Interval = -time.Second }, "interval -1s"},
		{func(c *GeneratorConfig) { c.StartTime = time.Unix(-1, 0) }, "start time"},
	}
	for _, tt := range bad {
		c := DefaultGeneratorConfig()
		tt.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, tt.want)
		}
		if _, err := NewGenerator(c); err == nil {
			t.Errorf("NewGenerator accepted %+v", c)
		}
	}
}

func ExampleGenerator() {
	g, err := NewGenerator(GeneratorConfig{
		Cars:      2,
		Seed:      1,
		Synthetic: true,
		StartTime: time.UnixMilli(1424951918630),
		Interval:  100 * time.Millisecond,
		Events:    3,
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := g.Open(ctx); err != nil {
		panic(err)
	}
	defer g.Close()
	buf := make([]Car, 10)
	n, err := g.Read(ctx, buf)
	for _, c := range buf[:n] {
		fmt.Println(string(AppendCar(nil, c)))
	}
	fmt.Println(err)
	// Output:
	// (0,55,15.277777777777777,1424951918630)
	// (1,45,12.5,1424951918730)
	// (0,60,31.944444444444443,1424951918830)
	// EOF
}

func BenchmarkGenerator(b *testing.B) {
	g := newGen(b, synthetic(1, 2))
	buf := make([]Car, 1024)
	b.ReportAllocs()
	ctx := context.Background()
	var n int
	for b.Loop() {
		k, _ := g.Read(ctx, buf)
		n += k
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkGeneratorSnapshot measures the pause SnapshotState puts on the
// source's goroutine at 1M cars.
func BenchmarkGeneratorSnapshot(b *testing.B) {
	g, err := NewGenerator(GeneratorConfig{Cars: 1 << 20, Synthetic: true, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]Car, 4096)
	for range 300 {
		if _, err := g.Read(context.Background(), buf); err != nil {
			b.Fatal(err)
		}
	}
	var size int
	for b.Loop() {
		state, err := g.SnapshotState()
		if err != nil {
			b.Fatal(err)
		}
		size = len(state)
	}
	b.ReportMetric(float64(size), "bytes")
}
