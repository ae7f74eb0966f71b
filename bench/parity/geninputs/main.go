// Command geninputs writes deterministic TopSpeedWindowing inputs in Flink's
// line format "(carId,speed,distance,timestamp)", one event per line.
//
//	geninputs -dir D [-set small|full]     the standard parity set into D
//	geninputs -kind K -o FILE [flags]      one file
//
// Kinds:
//
//	edge    hand-made corner cases (see edgeEvents), no flags
//	random  a few thousand random events over ~20 cars (-events, -cars, -seed)
//	gen     Flink's car generator emulated (-events, -cars, -seed, -tick-ms)
//
// Sets: small = edge.txt, random-small.txt, gen-20k.txt;
// full = small + gen-1m.txt (1,000,000 events, 1000 cars).
//
// Distances are printed the way Java's Double.toString prints a double
// (plain decimal in [1e-3, 1e7), otherwise "1.0E7" style), with the shortest
// digits that round-trip, so Flink's Double.valueOf reads back the exact value.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// event is one input line.
type event struct {
	car      int32
	speed    int32
	distance float64
	ts       int64
}

func (e event) String() string {
	return "(" + strconv.FormatInt(int64(e.car), 10) + "," +
		strconv.FormatInt(int64(e.speed), 10) + "," +
		javaDouble(e.distance) + "," +
		strconv.FormatInt(e.ts, 10) + ")"
}

// javaDouble formats d like java.lang.Double.toString (JDK 19+ shortest
// digits; JDK 17 may print more digits in rare cases, the value is the same).
func javaDouble(d float64) string {
	switch {
	case math.IsNaN(d):
		return "NaN"
	case math.IsInf(d, 1):
		return "Infinity"
	case math.IsInf(d, -1):
		return "-Infinity"
	case d == 0:
		if math.Signbit(d) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(d); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(d, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(d, 'e', -1, 64) // e.g. 1.2345e+07, 1e-05
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// epoch is the first timestamp of generated data (2015-02-26, like Flink's
// example data).
const epoch int64 = 1424951918630

func main() {
	dir := flag.String("dir", "", "write the standard set of inputs into this directory")
	set := flag.String("set", "small", "with -dir: small or full")
	kind := flag.String("kind", "", "with -o: edge, random or gen")
	out := flag.String("o", "", "output file for -kind")
	events := flag.Int("events", 0, "number of events (random: default 3000, gen: default 1000000)")
	cars := flag.Int("cars", 0, "number of cars (random: default 20, gen: default 1000)")
	seed := flag.Int64("seed", 42, "random seed")
	tickMs := flag.Int64("tick-ms", 100, "gen: milliseconds between rounds of all cars")
	flag.Parse()

	switch {
	case *dir != "" && *kind == "":
		if err := writeSet(*dir, *set); err != nil {
			fail(err)
		}
	case *kind != "" && *out != "" && *dir == "":
		var evs []event
		switch *kind {
		case "edge":
			evs = edgeEvents()
		case "random":
			evs = randomEvents(orDefault(*events, 3000), orDefault(*cars, 20), *seed)
		case "gen":
			evs = genEvents(orDefault(*events, 1_000_000), orDefault(*cars, 1000), *seed, *tickMs)
		default:
			fail(fmt.Errorf("unknown -kind %q", *kind))
		}
		if err := writeFile(*out, evs); err != nil {
			fail(err)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: geninputs -dir D [-set small|full]  |  geninputs -kind edge|random|gen -o FILE [-events N -cars C -seed S -tick-ms T]")
		os.Exit(2)
	}
}

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "geninputs: %v\n", err)
	os.Exit(1)
}

func writeSet(dir, set string) error {
	if set != "small" && set != "full" {
		return fmt.Errorf("unknown -set %q", set)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := []struct {
		name string
		evs  func() []event
	}{
		{"edge.txt", edgeEvents},
		{"random-small.txt", func() []event { return randomEvents(3000, 20, 42) }},
		{"gen-20k.txt", func() []event { return genEvents(20_000, 100, 7, 100) }},
	}
	if set == "full" {
		files = append(files, struct {
			name string
			evs  func() []event
		}{"gen-1m.txt", func() []event { return genEvents(1_000_000, 1000, 1, 100) }})
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, f.name), f.evs()); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, evs []event) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, e := range evs {
		w.WriteString(e.String())
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// javaRandom is java.util.Random (48-bit LCG), so that genEvents with seed S
// draws the same booleans as Flink's car source built on new Random(S).
type javaRandom struct{ seed int64 }

const (
	jrMult = 0x5DEECE66D
	jrMask = (1 << 48) - 1
)

func newJavaRandom(seed int64) *javaRandom { return &javaRandom{(seed ^ jrMult) & jrMask} }

func (r *javaRandom) next(bits uint) int32 {
	r.seed = (r.seed*jrMult + 0xB) & jrMask
	return int32(r.seed >> (48 - bits))
}

func (r *javaRandom) nextBoolean() bool { return r.next(1) != 0 }

// genEvents emulates Flink's TopSpeedWindowing car source (CarSource, the
// pre-1.18 SourceFunction of the example): every car starts at speed 50 and
// distance 0; each round visits cars 0..cars-1 in order and, per car, moves the
// speed up or down by 5 (nextBoolean, clamped to 0..100) and adds speed/3.6 to
// the distance. Instead of the wall clock, a round's timestamp is
// epoch + round*tickMs.
func genEvents(n, cars int, seed, tickMs int64) []event {
	rnd := newJavaRandom(seed)
	speeds := make([]int32, cars)
	dist := make([]float64, cars)
	for i := range speeds {
		speeds[i] = 50
	}
	evs := make([]event, 0, n)
	for round := int64(0); len(evs) < n; round++ {
		ts := epoch + round*tickMs
		for c := 0; c < cars && len(evs) < n; c++ {
			if rnd.nextBoolean() {
				speeds[c] = min(100, speeds[c]+5)
			} else {
				speeds[c] = max(0, speeds[c]-5)
			}
			dist[c] += float64(speeds[c]) / 3.6
			evs = append(evs, event{int32(c), speeds[c], dist[c], ts})
		}
	}
	return evs
}

// randomEvents: cars with ids spread over negative and positive values; speeds
// from a few values (many ties); half of the cars step their distance by
// multiples of 12.5 (exact in binary, so a delta of exactly 50 from the last
// firing element happens often and must not fire), the other half by
// speed/3.6 (inexact decimals). Timestamps mostly advance ~100-900 ms per
// event with jitter that makes them partly out of order, and sometimes jump
// forward past the 10 s window or back several seconds.
func randomEvents(n, cars int, seed int64) []event {
	rnd := rand.New(rand.NewPCG(uint64(seed), 0x70b5eed))
	type car struct {
		id    int32
		dist  float64
		ts    int64
		exact bool
	}
	cs := make([]car, cars)
	for i := range cs {
		id := int32(i*7919 - cars*3000) // some negative, some positive
		cs[i] = car{id: id, ts: epoch + rnd.Int64N(5000), exact: i%2 == 0}
	}
	speedsSet := []int32{0, 40, 45, 50, 50, 55, 60, 60, 60, 65}
	evs := make([]event, 0, n)
	for len(evs) < n {
		c := &cs[rnd.IntN(cars)]
		sp := speedsSet[rnd.IntN(len(speedsSet))]
		if c.exact {
			// 0, 12.5, 25, 37.5, 50 (twice as likely), 62.5
			steps := []float64{0, 12.5, 25, 25, 37.5, 50, 50, 62.5}
			c.dist += steps[rnd.IntN(len(steps))]
		} else {
			c.dist += float64(sp) / 3.6 * float64(1+rnd.IntN(4))
		}
		switch r := rnd.IntN(100); {
		case r < 3: // jump forward beyond the window
			c.ts += 10_000 + rnd.Int64N(5000)
		case r < 8: // jump back a few seconds
			c.ts -= rnd.Int64N(8000)
		case r < 10: // same timestamp again
		default:
			c.ts += 100 + rnd.Int64N(800) - 200
		}
		evs = append(evs, event{c.id, sp, c.dist, c.ts})
	}
	return evs
}

// edgeEvents returns hand-made corner cases, cars interleaved. Semantics
// under test (Flink 1.20 TopSpeedWindowing): per car, GlobalWindows +
// TimeEvictor(10 s, before the function: evicts ts <= maxTs-10000) +
// DeltaTrigger(50: the first element is the reference; an element fires when
// its distance - reference > 50 and becomes the new reference) + maxBy(speed),
// first of equal maxima wins.
func edgeEvents() []event {
	const t = int64(1_700_000_000_000)
	var cars [][]event
	add := func(evs ...event) { cars = append(cars, evs) }

	// Car 1: ties on the max speed; the first of the equal maxima must win,
	// also after evictions. Distances are exact binary fractions.
	add(
		event{1, 60, 0.0, t},
		event{1, 70, 10.0, t + 1000},
		event{1, 70, 20.0, t + 2000},
		event{1, 65, 30.0, t + 3000},
		event{1, 70, 40.0, t + 4000},
		event{1, 70, 50.5, t + 5000}, // fires: first 70 (10.0) wins
		event{1, 70, 60.0, t + 6000},
		event{1, 70, 70.0, t + 11_000},   // no fire, 70-50.5 < 50
		event{1, 55, 110.0, t + 12_000},  // fires; evicts ts <= t+2000: first 70 left is 40.0
		event{1, 70, 160.0, t + 12_000},  // exactly 50 after 110: no fire
		event{1, 70, 160.25, t + 12_001}, // fires (50.25)
	)
	// Car 2: deltas of exactly 50.0 never fire, just above does.
	add(
		event{2, 50, 100.25, t},
		event{2, 55, 150.25, t + 100}, // exactly 50: no fire
		event{2, 45, 150.25, t + 200},
		event{2, 40, 150.5, t + 300},              // 50.25: fires
		event{2, 60, 200.5, t + 400},              // exactly 50 from 150.5: no fire
		event{2, 30, 200.50000000000003, t + 500}, // 50.00000000000003: fires
		event{2, 35, 0.1, t + 600},                // distance goes backwards: negative delta
		event{2, 50, 250.5, t + 700},              // 49.99999999999997: no fire
		event{2, 65, 250.6, t + 800},              // fires
		event{2, 20, 300.6, t + 900},              // 50.00000000000003 in float64 (looks like 50): fires
		event{2, 25, 350.7, t + 1000},             // 50.1: fires
	)
	// Car 3: eviction cutoff. The fire at t+10000 evicts ts <= t exactly.
	add(
		event{3, 99, 0.0, t},     // reference; evicted at the first fire (ts == max-10000)
		event{3, 98, 1.0, t + 1}, // kept (ts == max-9999): wins the first fire
		event{3, 50, 2.0, t + 5000},
		event{3, 40, 60.0, t + 10_000}, // fires: max ts t+10000, cutoff t
		event{3, 97, 61.0, t + 10_001},
		event{3, 10, 120.0, t + 20_001}, // fires: cutoff t+10001 evicts the 97 (ts == cutoff)
		event{3, 10, 121.0, t + 20_002},
		event{3, 96, 122.0, t + 20_002},
		event{3, 11, 200.0, t + 30_002}, // fires: cutoff t+20002 evicts both at t+20002
	)
	// Extreme and negative car ids.
	add(
		event{-1, 50, 0.0, t},
		event{-1, 60, 30.0, t + 1000},
		event{-1, 55, 60.0, t + 2000},  // fires
		event{-1, 70, 120.0, t + 3000}, // fires
	)
	add(
		event{math.MaxInt32, 80, 5.0, t},
		event{math.MaxInt32, 90, 56.0, t + 1000},  // fires
		event{math.MaxInt32, 90, 107.0, t + 2000}, // fires; tie 90/90: first wins
	)
	add(
		event{math.MinInt32, 10, -100.0, t},
		event{math.MinInt32, 20, -49.0, t + 1000}, // 51: fires
		event{math.MinInt32, 30, 2.0, t + 2000},   // 51: fires
	)
	// Car 4: only its first element, with a huge distance: the first element
	// never fires, so no output for this car.
	add(event{4, 100, 1e9, t})
	// Car 5: the first element is only the reference even if the next one is
	// far; large distances print as 1.0E7 and the like, small ones as 1.0E-4.
	add(
		event{5, 30, 1e-4, t},
		event{5, 35, 0.00123, t + 10},
		event{5, 40, 1e7, t + 20},             // fires
		event{5, 45, 1.0000050e7, t + 30},     // 50 exactly (exact in binary? 10000050 yes): no fire
		event{5, 50, 1.00000505e7, t + 40},    // 50.5: fires
		event{5, 20, 1.2345678912e10, t + 50}, // fires
	)
	// Car 6: stops (speed 0, same distance) for 40 s, then moves again: the
	// fire evicts everything older than 10 s before it.
	stop := []event{{6, 80, 0.0, t}, {6, 90, 60.0, t + 1000}} // fires: 90
	for i := int64(0); i < 40; i++ {
		stop = append(stop, event{6, 0, 60.0, t + 2000 + i*1000})
	}
	stop = append(stop,
		event{6, 5, 100.0, t + 42_000},
		event{6, 10, 110.5, t + 43_000}, // fires (50.5): window = ts > t+33000
		event{6, 0, 110.5, t + 60_000},
		event{6, 0, 160.5, t + 60_000}, // exactly 50: no fire
		event{6, 0, 161.0, t + 60_001}, // fires: all speeds 0 in window, first wins
	)
	add(stop...)
	// Car 7: out-of-order timestamps. The max timestamp, not the latest one,
	// sets the cutoff; a late firing element can itself be evicted.
	add(
		event{7, 50, 0.0, t + 20_000},
		event{7, 90, 10.0, t + 5000}, // late, already older than 10 s vs t+20000
		event{7, 60, 20.0, t + 25_000},
		event{7, 55, 51.0, t + 1000},   // fires; evicts t+5000 and itself (t+1000 <= t+15000)
		event{7, 95, 60.0, t + 40_000}, // future: next fire evicts all before t+30000
		event{7, 45, 70.0, t + 29_000},
		event{7, 85, 102.0, t + 31_000}, // fires: cutoff t+30000 keeps 95 and 85
		event{7, 99, 120.0, t + 10_000}, // late
		event{7, 70, 153.0, t + 30_000}, // fires: 70 at ts == cutoff evicted too, 99 evicted
	)
	// Car 8: negative speeds (the max is not floored at 0), duplicates.
	add(
		event{8, -5, 0.0, t},
		event{8, -10, 25.0, t + 100},
		event{8, -10, 25.0, t + 100},    // duplicate
		event{8, -7, 50.5, t + 200},     // fires: max -5
		event{8, -20, 101.0, t + 300},   // fires: max -5 still in window
		event{8, -3, 151.5, t + 20_000}, // fires: older evicted
	)
	// Car 9: timestamps around zero and negative, and a constant timestamp.
	add(
		event{9, 10, 0.0, -20_000},
		event{9, 20, 25.0, -15_000},
		event{9, 15, 60.0, -5000}, // fires: cutoff -15000 evicts 2 elements, only 15 remains
		event{9, 15, 70.0, 0},
		event{9, 25, 111.0, 0},      // fires
		event{9, 25, 162.0, 0},      // fires: all ts 0
		event{9, 30, 213.0, 10_000}, // fires: cutoff 0 evicts all ts 0
	)

	// Interleave the cars round-robin so grouping by car is exercised.
	var evs []event
	for i := 0; ; i++ {
		added := false
		for _, c := range cars {
			if i < len(c) {
				evs = append(evs, c[i])
				added = true
			}
		}
		if !added {
			return evs
		}
	}
}
