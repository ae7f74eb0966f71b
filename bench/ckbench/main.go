// Command ckbench measures checkpoints of the TopSpeed job: the pause each
// checkpoint causes on the hot path (p50/p99 over every part), the
// checkpoint's duration (barrier to durable manifest), the bytes each
// checkpoint writes (incremental: only the segments of key groups that
// changed, deltas of their changed keys) beside the full size, the bytes
// of a checkpoint after only 1% of the cars reported, as a percentage of
// the full size, the mean and largest of -steady more such checkpoints
// (each after the next 1% of the cars: the steady state, compactions
// included), and the time to restore the newest checkpoint (its chains of
// files included, after the steady rounds), at several numbers of cars.
//
//	go run ./bench/ckbench -cars 100,10000,1000000 -checkpoints 10 -steady 60
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/window"
)

func main() {
	carsFlag := flag.String("cars", "100,10000,1000000", "car counts")
	n := flag.Int("checkpoints", 10, "checkpoints per car count")
	par := flag.Int("parallelism", 2, "parallelism")
	steady := flag.Int("steady", 60, "checkpoints after the 1% one, each after the next 1% of the cars reported (0..1000)")
	flag.Parse()
	if *n < 2 || *n > 1000 || *par < 1 || *par > 64 || *steady < 0 || *steady > 1000 {
		fmt.Fprintf(os.Stderr, "ckbench: -checkpoints %d (2..1000), -parallelism %d (1..64) or -steady %d (0..1000) out of range\n", *n, *par, *steady)
		os.Exit(2)
	}
	fmt.Printf("| cars | events before first checkpoint | pause p50 | pause p99 | operator pause p99 | duration p50 | duration max | full size | written p50 | written after 1%% of cars reported (of full) | ... over the next N such checkpoints: mean / max | files restored | restore (load+verify / decode) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	var kvs []string
	for _, c := range strings.Split(*carsFlag, ",") {
		cars, err := strconv.Atoi(c)
		if err != nil || cars < 1 || cars > 10_000_000 {
			fmt.Fprintf(os.Stderr, "ckbench: -cars: %q is not a count from 1 to 10000000\n", c)
			os.Exit(2)
		}
		kv, err := measure(cars, *n, *par, *steady)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ckbench:", err)
			os.Exit(1)
		}
		kvs = append(kvs, kv)
	}
	// Machine-readable, after the table (bench/cmd/benchrun's S8 reads them).
	for _, kv := range kvs {
		fmt.Println(kv)
	}
}

// measure runs the job with cars cars, prints its row of the table and
// returns its "ckbench:" line of key=value fields.
func measure(cars, n, par, steady int) (string, error) {
	dir, err := os.MkdirTemp("", "ckbench")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	store, err := checkpoint.NewStore(dir, 2, "checkpoint", nil)
	if err != nil {
		return "", err
	}
	g := topspeed.DefaultGeneratorConfig()
	g.Cars, g.Rate, g.Synthetic, g.Seed = cars, 0, true, 1
	g.StartTime = time.UnixMilli(1_700_000_000_000)
	g.Interval = 100 * time.Millisecond / time.Duration(min(cars, 1000)) // every car reports about every 100 ms..100 s
	gen, err := topspeed.NewGenerator(g)
	if err != nil {
		return "", err
	}
	p := engine.New(engine.WithParallelism(par))
	counted := &countingSource{Generator: gen}
	src := engine.FromSource(p, "cars", engine.Source[topspeed.Car](counted), engine.Monotonous(topspeed.CarTime))
	out := topspeed.Build(src, topspeed.DefaultConfig())
	var count countSink
	engine.ToSink(out, "count", engine.Sink[topspeed.Car](&count))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	// Warm up: every car has reported several times.
	warm := int64(max(5*cars, 2_000_000))
	for counted.n.Load() < warm {
		time.Sleep(20 * time.Millisecond)
	}
	var pauses, opPauses, durations []time.Duration
	var written []int64
	var size int64
	var full int64 // the full size of the last checkpoint taken
	take := func() (checkpoint.Info, error) {
		t0 := time.Now()
		snap, err := p.Checkpoint(ctx)
		if err != nil {
			return checkpoint.Info{}, err
		}
		full = fullSize(snap)
		info, err := store.Write(context.Background(), snap, checkpoint.Meta{Fingerprint: "bench", MaxParallelism: engine.DefaultMaxParallelism})
		if err != nil {
			return info, err
		}
		if err := p.Commit(snap.ID); err != nil {
			return info, err
		}
		durations = append(durations, time.Since(t0))
		pauses = append(pauses, snap.Pauses...)
		opPauses = append(opPauses, snap.OperatorPauses...)
		return info, nil
	}
	for i := 0; i < n; i++ {
		info, err := take()
		if err != nil {
			return "", err
		}
		size = full
		if i > 0 { // the first one of a run is always full
			written = append(written, info.Bytes)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Let only 1% of the cars report (consecutive ids, as the generator
	// goes round), then checkpoint: what an incremental checkpoint writes.
	// First stop the input and checkpoint what is in flight.
	counted.limit.Store(counted.n.Load())
	time.Sleep(200 * time.Millisecond)
	if _, err := take(); err != nil {
		return "", err
	}
	onePctOf := func(settle time.Duration) (float64, int64, error) {
		// From what was read: a Read in flight when the limit was first
		// set may have read past it.
		counted.limit.Store(counted.n.Load() + int64(max(1, cars/100)))
		for counted.n.Load() < counted.limit.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(settle) // until the operator has them
		info, err := take()
		return 100 * float64(info.Bytes) / float64(full), info.Bytes, err
	}
	onePctPct, onePctBytes, err := onePctOf(300 * time.Millisecond)
	if err != nil {
		return "", err
	}
	var steadySum, steadyMax float64
	for range steady {
		pct, _, err := onePctOf(50 * time.Millisecond)
		if err != nil {
			return "", err
		}
		steadySum, steadyMax = steadySum+pct, max(steadyMax, pct)
	}
	steadyMean := steadySum / float64(max(steady, 1))
	cancel()
	<-done

	// Restore: load and verify the newest checkpoint, then decode every key
	// group into fresh operators (what a restarted job does at Open).
	t0 := time.Now()
	snap, latest, err := store.Latest("bench", nil)
	if err != nil {
		return "", err
	}
	load := time.Since(t0)
	t1 := time.Now()
	keys := engine.Keys[int32, topspeed.Car]{Key: topspeed.CarID, Hash: engine.HashInt32, MaxParallelism: engine.DefaultMaxParallelism}
	restoredKeys := 0
	for i := 0; i < par; i++ {
		op := window.DeltaTimeMaxFactory[int32](topspeed.Spec(topspeed.DefaultConfig()))(keys)
		kgs := engine.KeyGroupRangeFor(i, engine.DefaultMaxParallelism, par)
		if err := op.Open(engine.OperatorContext{Context: context.Background(), Subtask: i, Parallelism: par, KeyGroups: kgs,
			MaxParallelism: engine.DefaultMaxParallelism, Restored: snap.Operators[topspeed.StageName].Subset(kgs)}); err != nil {
			return "", err
		}
		restoredKeys += op.(*window.DeltaTimeMax[int32, topspeed.Car]).Keys()
	}
	decode := time.Since(t1)
	if restoredKeys != cars {
		return "", fmt.Errorf("restored %d cars, want %d", restoredKeys, cars)
	}
	slices.Sort(written)
	fmt.Printf("| %d | %d | %v | %v | %v | %v | %v | %s | %s | %s (%.1f%%) | N=%d: %.1f%% / %.1f%% | %d (format %d) | %v / %v |\n", cars, warm, q(pauses, 0.5), q(pauses, 0.99), q(opPauses, 0.99),
		q(durations, 0.5), q(durations, 1), mb(size), mb(written[len(written)/2]), mb(onePctBytes),
		onePctPct, steady, steadyMean, steadyMax, 1+len(latest.Manifest.Shared), latest.Manifest.FormatVersion,
		load.Round(time.Millisecond), decode.Round(time.Millisecond))
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) }
	return fmt.Sprintf("ckbench: cars=%d pause_p50_ms=%s pause_p99_ms=%s operator_pause_p99_ms=%s duration_p50_ms=%s full_bytes=%d written_p50_bytes=%d incremental_bytes=%d incremental_pct=%.2f steady_checkpoints=%d steady_mean_pct=%.2f steady_max_pct=%.2f files_restored=%d restore_load_ms=%s restore_decode_ms=%s",
		cars, ms(q(pauses, 0.5)), ms(q(pauses, 0.99)), ms(q(opPauses, 0.99)), ms(q(durations, 0.5)), size, written[len(written)/2], onePctBytes,
		onePctPct, steady, steadyMean, steadyMax, 1+len(latest.Manifest.Shared), ms(load), ms(decode)), nil
}

// fullSize is about what snap takes written in full: its sources, sinks
// and every key group's segments (the framing left out).
func fullSize(snap *engine.Snapshot) int64 {
	var n int64
	for _, b := range snap.Sources {
		n += int64(len(b))
	}
	for _, b := range snap.Sinks {
		n += int64(len(b))
	}
	for _, st := range snap.Operators {
		for _, kg := range st.KeyGroups() {
			for _, seg := range st.Segments(kg) {
				n += int64(len(seg.Data))
			}
		}
	}
	return n
}

func mb(n int64) string { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }

func q(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := min(len(s)-1, int(p*float64(len(s))))
	return s[i].Round(10 * time.Microsecond)
}

// countSink counts results; the benchmark is about state, not output.
type countSink struct{ n int64 }

func (c *countSink) Open(context.Context) error { return nil }
func (c *countSink) Write(_ context.Context, b []topspeed.Car) error {
	c.n += int64(len(b))
	return nil
}
func (c *countSink) Flush(context.Context) error { return nil }
func (c *countSink) Close() error                { return nil }

// countingSource counts what the generator emitted, for the warm-up, and
// stops emitting at limit (if > 0).
type countingSource struct {
	*topspeed.Generator
	n     atomic.Int64
	limit atomic.Int64
}

func (c *countingSource) Read(ctx context.Context, buf []topspeed.Car) (int, error) {
	if l := c.limit.Load(); l > 0 {
		left := l - c.n.Load()
		if left <= 0 {
			time.Sleep(time.Millisecond)
			return 0, nil
		}
		buf = buf[:min(int64(len(buf)), left)]
	}
	n, err := c.Generator.Read(ctx, buf)
	c.n.Add(int64(n))
	return n, err
}
