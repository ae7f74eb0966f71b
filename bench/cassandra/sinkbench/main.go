// Command sinkbench measures Cassandra writers on the same rows, against the
// same server, at the same consistency (S4 in bench/README.md):
//
//	-mode sink     topspeed's sink (sink/cassandra) with its default settings
//	-mode naive    a synchronous one-INSERT-at-a-time writer
//	-mode raw      the best raw gocql writer we could build: the whole input
//	               grouped per partition into full unlogged batches up front,
//	               sent by -inflight goroutines with no sink machinery around
//	-mode prepare  only create the keyspace and table and truncate it
//	-mode verify   check that the table holds exactly the distinct
//	               (carid, time) rows of the input, with their values
//
// Each run is one process, so its peak RSS is its own. Rows come from a
// results file in Flink's format (-input, "(carId,speed,distance,time)" per
// line) or are generated. -limit N uses only the first N rows (the naive
// writer is too slow for the whole input). The writing modes create and
// truncate the table first, and with -verify check it afterwards.
//
// Output: one line "MODE rows=N seconds=S rows/s=R requests=Q p50=D p99=D
// peak_rss_mb=M" (verify: "verify table=T rows=N distinct_expected=E ok").
// Timing starts after the session is open and the table is empty: sink from
// the first Write to the end of Flush; naive and raw from the first request
// (raw includes its grouping) to the last answer.
//
// Connection settings come from CASSANDRA_HOSTS, CASSANDRA_USERNAME and
// CASSANDRA_PASSWORD_FILE (or CASSANDRA_PASSWORD), see make cassandra-up.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gocql/gocql"

	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/sink/cassandra"
)

type options struct {
	mode, input, table, cons string
	rows, cars, limit        int
	inflight, batch, chunk   int
	linger                   time.Duration
	buffered                 int
	verify                   bool
	cpuprofile               string
}

func main() {
	def := cassandra.DefaultConfig()
	var o options
	flag.StringVar(&o.mode, "mode", "sink", "sink, naive, raw, prepare or verify")
	flag.StringVar(&o.input, "input", "", "rows in Flink's format; empty generates -rows rows")
	flag.IntVar(&o.rows, "rows", 200000, "rows to generate when -input is empty")
	flag.IntVar(&o.cars, "cars", 1000, "partitions to spread generated rows over")
	flag.IntVar(&o.limit, "limit", 0, "use only the first N rows (0: all)")
	flag.StringVar(&o.table, "table", "bench", "table in keyspace example (created, truncated)")
	flag.StringVar(&o.cons, "consistency", "ONE", "consistency level")
	flag.IntVar(&o.inflight, "inflight", def.MaxInFlight, "sink and raw: concurrent requests")
	flag.IntVar(&o.batch, "batch-rows", def.BatchRows, "sink and raw: rows per partition batch")
	flag.IntVar(&o.chunk, "chunk", 1024, "sink: rows per Write call (the engine's batch size)")
	flag.DurationVar(&o.linger, "linger", def.Linger, "sink: linger")
	flag.IntVar(&o.buffered, "max-buffered", def.MaxBufferedRows, "sink: max collected rows")
	flag.BoolVar(&o.verify, "verify", false, "sink, naive, raw: verify the table after writing")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the timed part to this file")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "sinkbench:", err)
		os.Exit(1)
	}
}

func loadRows(o options) ([]topspeed.Car, error) {
	if o.input == "" {
		rs := make([]topspeed.Car, o.rows)
		for i := range rs {
			rs[i] = topspeed.Car{ID: int32(i % o.cars), Speed: int32(i % 101), Distance: float64(i) * 1.5, Time: 1_700_000_000_000 + int64(i)}
		}
		return limit(rs, o.limit), nil
	}
	f, err := os.Open(o.input)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rs []topspeed.Car
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() && (o.limit <= 0 || len(rs) < o.limit) {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		c, err := topspeed.ParseCar(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", o.input, line, err)
		}
		rs = append(rs, c)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("%s: no rows", o.input)
	}
	return rs, nil
}

func limit(rs []topspeed.Car, n int) []topspeed.Car {
	if n > 0 && n < len(rs) {
		return rs[:n]
	}
	return rs
}

func config(o options) (cassandra.Config, error) {
	c := cassandra.DefaultConfig()
	c.Hosts = strings.Split(os.Getenv("CASSANDRA_HOSTS"), ",")
	c.Username = os.Getenv("CASSANDRA_USERNAME")
	if f := os.Getenv("CASSANDRA_PASSWORD_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return c, fmt.Errorf("CASSANDRA_PASSWORD_FILE: %w", errors.Unwrap(err))
		}
		c.Password = strings.TrimSpace(string(b))
	} else {
		c.Password = os.Getenv("CASSANDRA_PASSWORD")
	}
	cl, err := cassandra.ParseConsistency(o.cons)
	if err != nil {
		return c, err
	}
	c.Keyspace = topspeed.CassandraKeyspace
	c.Consistency, c.Table, c.MaxInFlight, c.BatchRows = cl, o.table, o.inflight, o.batch
	c.Linger, c.MaxBufferedRows = o.linger, o.buffered
	c.Replication = "1"
	return c, c.Validate()
}

func run(o options) error {
	rows, err := loadRows(o)
	if err != nil {
		return err
	}
	cfg, err := config(o)
	if err != nil {
		return err
	}
	ctx := context.Background()
	sess, err := cassandra.Connect(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	if o.mode == "verify" {
		return verify(sess, cfg, rows)
	}
	if err := cassandra.CreateSchema(ctx, sess, cfg, topspeed.CassandraDDL(cfg.Keyspace, cfg.Table)...); err != nil {
		return err
	}
	if err := sess.Query(fmt.Sprintf("TRUNCATE %s.%s", cfg.Keyspace, cfg.Table)).Exec(); err != nil {
		return err
	}
	if o.mode == "prepare" {
		fmt.Printf("prepare table=%s.%s created and empty\n", cfg.Keyspace, cfg.Table)
		return nil
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	var lat []time.Duration
	var el time.Duration
	var p50, p99 time.Duration
	var reqs int64
	switch o.mode {
	case "sink":
		// The sink exactly as the job uses it: its defaults, its own session.
		s, err := cassandra.New(cfg, topspeed.CassandraMapping(), nil)
		if err != nil {
			return err
		}
		if err := s.Open(ctx); err != nil {
			return err
		}
		start := time.Now()
		for i := 0; i < len(rows); i += o.chunk {
			if err := s.Write(ctx, rows[i:min(i+o.chunk, len(rows))]); err != nil {
				return err
			}
		}
		if err := s.Flush(ctx); err != nil {
			return err
		}
		el = time.Since(start)
		st := s.Stats()
		s.Close()
		if st.Rows != int64(len(rows)) {
			return fmt.Errorf("sink acknowledged %d rows, wrote %d", st.Rows, len(rows))
		}
		p50, p99, reqs = st.P50, st.P99, st.Requests
	case "naive":
		stmt := insert(cfg)
		start := time.Now()
		for _, r := range rows {
			t0 := time.Now()
			if err := sess.Query(stmt, r.ID, r.Speed, r.Distance, r.Time).Exec(); err != nil {
				return err
			}
			lat = append(lat, time.Since(t0))
		}
		el = time.Since(start)
	case "raw":
		start := time.Now()
		lat, err = raw(ctx, sess, cfg, rows, o.inflight, o.batch)
		if err != nil {
			return err
		}
		el = time.Since(start)
	default:
		return fmt.Errorf("unknown mode %q", o.mode)
	}
	if o.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if lat != nil {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		p50, p99, reqs = q(0.5), q(0.99), int64(len(lat))
	}
	fmt.Printf("%-6s rows=%d seconds=%.2f rows/s=%.0f requests=%d p50=%v p99=%v peak_rss_mb=%.0f\n",
		o.mode, len(rows), el.Seconds(), float64(len(rows))/el.Seconds(), reqs, p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), peakRSS())
	if o.verify {
		return verify(sess, cfg, rows)
	}
	return nil
}

func insert(cfg cassandra.Config) string {
	return fmt.Sprintf("INSERT INTO %s.%s (carid, speed, distance, time) VALUES (?, ?, ?, ?)", cfg.Keyspace, cfg.Table)
}

// raw is the practical limit: the whole input grouped by partition into full
// unlogged batches up front, sent by `inflight` goroutines with nothing else
// around (no copying, lingering, retries or accounting).
func raw(ctx context.Context, sess *gocql.Session, cfg cassandra.Config, rows []topspeed.Car, inflight, batch int) ([]time.Duration, error) {
	stmt := insert(cfg)
	byCar := map[int32][]topspeed.Car{}
	work := make(chan []topspeed.Car, inflight)
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	for i := 0; i < inflight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for rs := range work {
				t0 := time.Now()
				b := sess.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
				for _, r := range rs {
					b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: stmt, Args: []any{r.ID, r.Speed, r.Distance, r.Time}, Idempotent: true})
				}
				if err := sess.ExecuteBatch(b); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	// Every partition's rows in full batches, with complete knowledge of
	// the input (no lingering, no partial batches but each partition's last).
	var order []int32
	for _, r := range rows {
		if len(byCar[r.ID]) == 0 {
			order = append(order, r.ID)
		}
		byCar[r.ID] = append(byCar[r.ID], r)
	}
	for _, id := range order {
		rs := byCar[id]
		for len(rs) > 0 {
			k := min(len(rs), batch)
			work <- rs[:k]
			rs = rs[k:]
		}
	}
	close(work)
	wg.Wait()
	return lat, firstErr
}

type key struct {
	id int32
	t  int64
}

type val struct {
	speed int32
	dist  float64
}

// verify reads the whole table back and checks that it holds exactly the
// distinct (carid, time) keys of rows, each with the row's speed and
// distance. A writer that loses or corrupts rows fails here.
func verify(sess *gocql.Session, cfg cassandra.Config, rows []topspeed.Car) error {
	want := make(map[key]val, len(rows))
	for _, r := range rows {
		k := key{r.ID, r.Time}
		if v, ok := want[k]; ok && (v.speed != r.Speed || v.dist != r.Distance) {
			return fmt.Errorf("verify: input has (carid %d, time %d) twice with different values", r.ID, r.Time)
		}
		want[k] = val{r.Speed, r.Distance}
	}
	it := sess.Query(fmt.Sprintf("SELECT carid, time, speed, distance FROM %s.%s", cfg.Keyspace, cfg.Table)).
		Consistency(cfg.Consistency).PageSize(5000).Iter()
	var (
		id           int32
		t            int64
		speed        int32
		dist         float64
		n, bad, extr int
		seen         = make(map[key]bool, len(want))
		example      string
	)
	for it.Scan(&id, &t, &speed, &dist) {
		n++
		k := key{id, t}
		v, ok := want[k]
		switch {
		case !ok:
			extr++
			if example == "" {
				example = fmt.Sprintf("unexpected row (%d,%d,%v,%d)", id, speed, dist, t)
			}
		case v.speed != speed || (v.dist != dist && !(math.IsNaN(v.dist) && math.IsNaN(dist))):
			bad++
			if example == "" {
				example = fmt.Sprintf("row (carid %d, time %d) has speed %d distance %v, want %d %v", id, t, speed, dist, v.speed, v.dist)
			}
		}
		seen[k] = true
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("verify: select: %w", err)
	}
	missing := 0
	for k := range want {
		if !seen[k] {
			missing++
			if example == "" {
				example = fmt.Sprintf("missing (carid %d, time %d)", k.id, k.t)
			}
		}
	}
	if missing+bad+extr > 0 {
		return fmt.Errorf("verify table=%s.%s: rows=%d distinct_expected=%d missing=%d wrong=%d unexpected=%d; e.g. %s",
			cfg.Keyspace, cfg.Table, n, len(want), missing, bad, extr, example)
	}
	fmt.Printf("verify table=%s.%s rows=%d distinct_expected=%d ok\n", cfg.Keyspace, cfg.Table, n, len(want))
	return nil
}

func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}
