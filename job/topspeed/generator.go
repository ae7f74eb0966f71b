package topspeed

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// Clock is the time source of a wall-clock Generator. Tests inject a fake
// one through GeneratorConfig.Clock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d, or until ctx is done and then returns ctx.Err().
	Sleep(ctx context.Context, d time.Duration) error
}

// systemClock is the real wall clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Generator limits.
const (
	// MaxGeneratorCars bounds GeneratorConfig.Cars.
	MaxGeneratorCars = 1 << 20
	// MaxGeneratorRate bounds GeneratorConfig.Rate (events per second).
	MaxGeneratorRate = 1e9
	// MaxInterval bounds the effective event-time interval.
	MaxInterval = 24 * time.Hour
	// DefaultInterval is the event-time spacing used when neither Rate nor
	// Interval is set: Flink's 10 events per second.
	DefaultInterval = 100 * time.Millisecond
	// maxReadWait bounds how long Read sleeps before returning, so that the
	// engine can inject checkpoint barriers.
	maxReadWait = 100 * time.Millisecond
)

// GeneratorConfig configures a Generator.
type GeneratorConfig struct {
	// Cars is the number of cars, with ids 0 to Cars-1.
	Cars int
	// Rate is the total number of events per second with the wall clock;
	// 0 means as fast as possible. A synthetic generator never sleeps and
	// uses Rate only to derive Interval.
	Rate float64
	// Seed seeds the random speed changes: the same seed and configuration
	// give the same sequence of reports.
	Seed int64
	// Events is the total number of events after which Read returns
	// io.EOF; 0 means unbounded.
	Events int64
	// Synthetic selects the synthetic clock: Read never sleeps and fills
	// every buffer at once, and event time starts at the Unix epoch unless
	// StartTime is set. For benchmarks and reproducible tests. Otherwise the
	// generator is paced by the wall clock at Rate events per second.
	Synthetic bool
	// StartTime is the event time of the first event. If zero, it is the
	// wall-clock time of the first Open, or the Unix epoch if Synthetic.
	StartTime time.Time
	// Interval is the event-time distance between two consecutive events
	// (of any car): event i has time StartTime + i*Interval, truncated to
	// milliseconds. If zero, it is 1s/Rate, or DefaultInterval if Rate is 0.
	Interval time.Duration
	// Clock is the time source of a wall-clock generator; nil means the
	// system clock. Meant for tests.
	Clock Clock
}

// DefaultGeneratorConfig returns the setting of Flink's example: 2 cars, 10
// events per second (one report per car every 200 ms), paced by the wall
// clock, unbounded, seed 0.
func DefaultGeneratorConfig() GeneratorConfig {
	return GeneratorConfig{Cars: 2, Rate: 10}
}

// Validate reports a setting that cannot work, as a *SettingError.
func (c GeneratorConfig) Validate() error {
	bad := func(setting string, value any, reason string) error {
		return &SettingError{Of: "generator", Setting: setting, Value: value, Reason: reason}
	}
	if c.Cars < 1 || c.Cars > MaxGeneratorCars {
		return bad("cars", c.Cars, fmt.Sprintf("must be between 1 and %d", MaxGeneratorCars))
	}
	if math.IsNaN(c.Rate) || c.Rate < 0 || c.Rate > MaxGeneratorRate {
		return bad("rate", c.Rate, fmt.Sprintf("must be between 0 and %g events/s", float64(MaxGeneratorRate)))
	}
	if c.Events < 0 {
		return bad("events", c.Events, "must be >= 0 (0 = unbounded)")
	}
	if c.Interval < 0 {
		return bad("interval", c.Interval, "must be >= 0")
	}
	if iv := c.interval(); iv > MaxInterval {
		return bad("interval", fmt.Sprintf("%v (rate %v)", iv, c.Rate), fmt.Sprintf("must be at most %v", MaxInterval))
	}
	if !c.StartTime.IsZero() && (c.StartTime.Before(minStart) || c.StartTime.After(maxStart)) {
		return bad("start time", c.StartTime, fmt.Sprintf("must be between %v and %v", minStart, maxStart))
	}
	return nil
}

// Event times are computed in Unix nanoseconds.
var (
	minStart = time.Unix(0, 0).UTC()
	maxStart = time.Unix(0, math.MaxInt64/2).UTC()
)

// interval returns the effective event-time interval.
func (c GeneratorConfig) interval() time.Duration {
	switch {
	case c.Interval > 0:
		return c.Interval
	case c.Rate > 0:
		ns := math.Round(float64(time.Second) / c.Rate)
		if ns >= math.MaxInt64 {
			return math.MaxInt64
		}
		return max(time.Duration(ns), 1)
	}
	return DefaultInterval
}

// Generator is a source of simulated car reports that behaves like the car
// source of Flink's TopSpeedWindowing example (CarSource, later
// CarGeneratorFunction): every car starts at speed 50 km/h and distance 0;
// the cars report in turn, and at each report the car's speed goes up or
// down by 5 km/h at random (a fair coin), clamped to 0..100, and its
// distance grows by speed/3.6 metres. This is CarSource's arithmetic;
// Flink 1.20's CarGeneratorFunction instead scales the distance by the wall
// time between two reports of a car (times a compatibility factor of 10)
// and, by an off-by-one, labels each report with the next car's id and
// values; neither is reproduced.
//
// Unlike Flink, event time does not come from the clock at emission but is
// StartTime + i*Interval for the i-th event (counting from 0), so that a run
// can be reproduced and restored; with the wall clock the events are also
// released at that pace, so event time tracks the wall clock (until a
// restore, after which it continues from the checkpoint's timeline).
//
// Generator implements engine.StatefulSource[Car]: its state is the event
// count, each car's speed and distance, the random generator's state and the
// event-time origin, and a restored Generator continues with exactly the
// events the original would have produced. A Generator is not safe for
// concurrent use.
type Generator struct {
	cfg      GeneratorConfig
	clock    Clock
	interval int64 // event-time spacing in ns
	rng      *rand.PCG
	speeds   []uint8 // 0 to 100
	dists    []float64
	next     int   // car of the next event
	tick     int64 // events produced so far
	baseTick int64 // event baseTick has time baseNs
	baseNs   int64
	started  bool // baseNs is fixed

	// Wall-clock pacing: event paceTick was due at paceStart.
	paced     bool
	paceStart time.Time
	paceTick  int64
}

var _ engine.StatefulSource[Car] = (*Generator)(nil)

// NewGenerator returns a Generator, or the error of cfg.Validate.
func NewGenerator(cfg GeneratorConfig) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:      cfg,
		clock:    cfg.Clock,
		interval: int64(cfg.interval()),
		rng:      rand.NewPCG(uint64(cfg.Seed), pcgStream),
		speeds:   make([]uint8, cfg.Cars),
		dists:    make([]float64, cfg.Cars),
	}
	if g.clock == nil {
		g.clock = systemClock{}
	}
	for i := range g.speeds {
		g.speeds[i] = 50
	}
	if !cfg.StartTime.IsZero() {
		g.baseNs, g.started = cfg.StartTime.UnixNano(), true
	} else if cfg.Synthetic {
		g.started = true // the Unix epoch
	}
	return g, nil
}

// pcgStream is the second PCG seed word; the first is the configured seed.
const pcgStream = 0x746f7073_70656564 // "topspeed"

// Open fixes the event-time origin at the wall clock's time on the first
// call if StartTime is unset and the generator is not synthetic. A reopened Generator continues where it stopped.
func (g *Generator) Open(ctx context.Context) error {
	if !g.started {
		g.baseNs, g.started = g.clock.Now().UnixNano(), true
	}
	g.paced = false
	return nil
}

// Read fills buf with the next reports. With the wall clock and a Rate it
// returns only the events that are due, sleeping up to 100 ms when none is
// (so it may return n == 0); it returns ctx's error once ctx is done. After
// Events events it returns io.EOF.
func (g *Generator) Read(ctx context.Context, buf []Car) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	want := int64(len(buf))
	if g.cfg.Events > 0 {
		left := g.cfg.Events - g.tick
		if left <= 0 {
			return 0, io.EOF
		}
		want = min(want, left)
	}
	if !g.cfg.Synthetic && g.cfg.Rate > 0 && want > 0 {
		due, err := g.due(ctx)
		if err != nil || due == 0 {
			return 0, err
		}
		want = min(want, due)
	}
	n := int(want)
	for i := range buf[:n] {
		buf[i] = g.step()
	}
	if g.cfg.Events > 0 && g.tick >= g.cfg.Events {
		return n, io.EOF
	}
	return n, nil
}

// due returns how many events are due by now, sleeping up to maxReadWait
// for the next one if none is.
func (g *Generator) due(ctx context.Context) (int64, error) {
	now := g.clock.Now()
	if !g.paced {
		g.paced, g.paceStart, g.paceTick = true, now, g.tick
	}
	n := g.dueBy(now)
	if n > 0 {
		return n, nil
	}
	// Event g.tick is due (g.tick-g.paceTick)/Rate after paceStart.
	at := g.paceStart.Add(time.Duration(math.Ceil(float64(g.tick-g.paceTick) / g.cfg.Rate * 1e9)))
	wait := min(at.Sub(now), maxReadWait)
	if err := g.clock.Sleep(ctx, wait); err != nil {
		return 0, err
	}
	return g.dueBy(g.clock.Now()), nil
}

// dueBy returns how many events beyond g.tick are due at now.
func (g *Generator) dueBy(now time.Time) int64 {
	elapsed := max(now.Sub(g.paceStart), 0)
	last := g.paceTick + int64(elapsed.Seconds()*g.cfg.Rate) // last due event
	return max(last+1-g.tick, 0)
}

// step produces the next report.
func (g *Generator) step() Car {
	c := g.next
	s := int32(g.speeds[c])
	if g.rng.Uint64()>>63 != 0 {
		s = min(100, s+5)
	} else {
		s = max(0, s-5)
	}
	g.speeds[c] = uint8(s)
	g.dists[c] += float64(s) / 3.6
	car := Car{ID: int32(c), Speed: s, Distance: g.dists[c], Time: g.eventTime(g.tick)}
	g.tick++
	if g.next++; g.next == len(g.speeds) {
		g.next = 0
	}
	return car
}

// eventTime returns the time of event tick in Unix milliseconds.
func (g *Generator) eventTime(tick int64) int64 {
	ns := g.baseNs + (tick-g.baseTick)*g.interval
	ms := ns / 1e6
	if ns%1e6 < 0 {
		ms--
	}
	return ms
}

// Close does nothing; the Generator keeps its state.
func (g *Generator) Close() error { return nil }

// Snapshot layout, little endian: magic, version, cars (u32), tick, baseTick,
// baseNs, interval (i64), PCG state length (u16) and bytes, then in
// version 2 every car's speed (u8, 0 to 100) followed by every car's
// distance (f64 bits); version 1, still restored, had per car speed (i32)
// and distance (f64 bits).
const (
	snapMagic   = "TSGN"
	snapVersion = 2
	snapHeader  = len(snapMagic) + 1 + 4 + 4*8 + 2
)

// SnapshotState encodes the generator's position: about 9 bytes per car,
// written with one copy for the speeds and one tight loop for the
// distances (a few milliseconds at a million cars).
func (g *Generator) SnapshotState() ([]byte, error) {
	rs, err := g.rng.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("topspeed: generator snapshot: %w", err)
	}
	n := len(g.speeds)
	b := make([]byte, snapHeader+len(rs)+9*n)
	h := append(b[:0], snapMagic...)
	h = append(h, snapVersion)
	h = binary.LittleEndian.AppendUint32(h, uint32(n))
	h = binary.LittleEndian.AppendUint64(h, uint64(g.tick))
	h = binary.LittleEndian.AppendUint64(h, uint64(g.baseTick))
	h = binary.LittleEndian.AppendUint64(h, uint64(g.baseNs))
	h = binary.LittleEndian.AppendUint64(h, uint64(g.interval))
	h = binary.LittleEndian.AppendUint16(h, uint16(len(rs)))
	h = append(h, rs...)
	copy(b[len(h):], g.speeds)
	dists := b[len(h)+n:]
	for i, d := range g.dists {
		binary.LittleEndian.PutUint64(dists[8*i:], math.Float64bits(d))
	}
	return b, nil
}

// errBadSnapshot is wrapped by RestoreState's decoding errors.
var errBadSnapshot = errors.New("topspeed: not a car generator snapshot")

// RestoreState continues from a SnapshotState of a Generator with the same
// number of cars (of this version or version 1). The seed and StartTime of
// the configuration are ignored; if the Interval differs, event time
// continues from the snapshot's last event time at the new interval.
func (g *Generator) RestoreState(state []byte) error {
	if len(state) < snapHeader || string(state[:len(snapMagic)]) != snapMagic {
		return errBadSnapshot
	}
	b := state[len(snapMagic):]
	version := b[0]
	if version != 1 && version != snapVersion {
		return fmt.Errorf("%w: unknown version %d", errBadSnapshot, version)
	}
	b = b[1:]
	cars := int(binary.LittleEndian.Uint32(b))
	tick := int64(binary.LittleEndian.Uint64(b[4:]))
	baseTick := int64(binary.LittleEndian.Uint64(b[12:]))
	baseNs := int64(binary.LittleEndian.Uint64(b[20:]))
	interval := int64(binary.LittleEndian.Uint64(b[28:]))
	rl := int(binary.LittleEndian.Uint16(b[36:]))
	b = b[38:]
	if cars != len(g.speeds) {
		return fmt.Errorf("topspeed: generator snapshot has %d cars, configured %d", cars, len(g.speeds))
	}
	perCar := 9
	if version == 1 {
		perCar = 12
	}
	if len(b) != rl+perCar*cars || tick < 0 || baseTick < 0 || baseTick > tick || interval <= 0 {
		return fmt.Errorf("%w: corrupt", errBadSnapshot)
	}
	rng := new(rand.PCG)
	if err := rng.UnmarshalBinary(b[:rl]); err != nil {
		return fmt.Errorf("%w: %v", errBadSnapshot, err)
	}
	speeds, dists, err := decodeCars(b[rl:], cars, version)
	if err != nil {
		return err
	}
	if interval != g.interval {
		// Rebase: keep the time of the next event on the old timeline.
		baseNs += (tick - baseTick) * interval
		baseTick = tick
		interval = g.interval
	}
	g.rng, g.speeds, g.dists = rng, speeds, dists
	g.tick, g.baseTick, g.baseNs, g.interval = tick, baseTick, baseNs, interval
	g.next = int(tick % int64(cars))
	g.started, g.paced = true, false
	return nil
}

// decodeCars reads the cars' speeds and distances of a snapshot of the
// given version (b has the right length) and checks them.
func decodeCars(b []byte, cars int, version byte) ([]uint8, []float64, error) {
	speeds := make([]uint8, cars)
	dists := make([]float64, cars)
	for i := range speeds {
		var s uint32
		if version == 1 {
			s = binary.LittleEndian.Uint32(b[12*i:])
			dists[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[12*i+4:]))
		} else {
			s = uint32(b[i])
			dists[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[cars+8*i:]))
		}
		if s > 100 || math.IsNaN(dists[i]) || math.IsInf(dists[i], 0) {
			return nil, nil, fmt.Errorf("%w: corrupt car %d", errBadSnapshot, i)
		}
		speeds[i] = uint8(s)
	}
	return speeds, dists, nil
}
