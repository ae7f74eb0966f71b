// Command sinkbench measures Cassandra writers on the same rows, against the
// same server, at the same consistency: topspeed's sink (-mode sink), a
// naive synchronous one-INSERT-at-a-time writer (-mode naive), and the best
// raw gocql writer we could build (-mode raw: concurrent per-partition
// unlogged batches on a prepared statement, no sink machinery). Each run is
// one process, so its peak RSS is its own. Rows come from a results file in
// Flink's format (-input) or are generated.
//
// Connection settings come from CASSANDRA_HOSTS, CASSANDRA_USERNAME and
// CASSANDRA_PASSWORD_FILE (see make cassandra-up).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gocql/gocql"

	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/sink/cassandra"
)

func main() {
	mode := flag.String("mode", "sink", "sink, naive or raw")
	input := flag.String("input", "", "rows in Flink's format; empty generates -rows rows")
	rows := flag.Int("rows", 200000, "rows to generate when -input is empty")
	cars := flag.Int("cars", 1000, "partitions to spread generated rows over")
	table := flag.String("table", "bench", "table in keyspace example (created, truncated)")
	cons := flag.String("consistency", "ONE", "consistency level")
	inflight := flag.Int("inflight", 64, "sink and raw: concurrent requests")
	batch := flag.Int("batch-rows", 50, "sink and raw: rows per partition batch")
	chunk := flag.Int("chunk", 1024, "sink: rows per Write call (the engine's batch)")
	linger := flag.Duration("linger", cassandra.DefaultConfig().Linger, "sink: linger")
	buffered := flag.Int("max-buffered", cassandra.DefaultConfig().MaxBufferedRows, "sink: max collected rows")
	flag.Parse()
	lingerFlag, bufferedFlag = *linger, *buffered
	if err := run(*mode, *input, *rows, *cars, *table, *cons, *inflight, *batch, *chunk); err != nil {
		fmt.Fprintln(os.Stderr, "sinkbench:", err)
		os.Exit(1)
	}
}

var (
	lingerFlag   time.Duration
	bufferedFlag int
)

func loadRows(input string, n, cars int) ([]topspeed.Car, error) {
	if input == "" {
		rs := make([]topspeed.Car, n)
		for i := range rs {
			rs[i] = topspeed.Car{ID: int32(i % cars), Speed: int32(i % 101), Distance: float64(i) * 1.5, Time: 1_700_000_000_000 + int64(i)}
		}
		return rs, nil
	}
	f, err := os.Open(input)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rs []topspeed.Car
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		c, err := topspeed.ParseCar(sc.Bytes())
		if err != nil {
			return nil, err
		}
		rs = append(rs, c)
	}
	return rs, sc.Err()
}

func config(table, cons string, inflight, batch int) (cassandra.Config, error) {
	c := cassandra.DefaultConfig()
	c.Hosts = strings.Split(os.Getenv("CASSANDRA_HOSTS"), ",")
	c.Username = os.Getenv("CASSANDRA_USERNAME")
	if f := os.Getenv("CASSANDRA_PASSWORD_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return c, err
		}
		c.Password = strings.TrimSpace(string(b))
	}
	cl, err := cassandra.ParseConsistency(cons)
	if err != nil {
		return c, err
	}
	c.Consistency, c.Table, c.MaxInFlight, c.BatchRows = cl, table, inflight, batch
	c.CreateSchema, c.Replication = true, "1"
	c.Linger, c.MaxBufferedRows = lingerFlag, bufferedFlag
	return c, c.Validate()
}

func run(mode, input string, n, cars int, table, cons string, inflight, batch, chunk int) error {
	rows, err := loadRows(input, n, cars)
	if err != nil {
		return err
	}
	cfg, err := config(table, cons, inflight, batch)
	if err != nil {
		return err
	}
	ctx := context.Background()
	sess, err := cassandra.Connect(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	if err := cassandra.CreateSchema(ctx, sess, cfg, cassandra.TopSpeedsDDL(cfg.Keyspace, cfg.Table)); err != nil {
		return err
	}
	if err := sess.Query(fmt.Sprintf("TRUNCATE %s.%s", cfg.Keyspace, cfg.Table)).Exec(); err != nil {
		return err
	}
	var lat []time.Duration
	start := time.Now()
	switch mode {
	case "sink":
		s, err := cassandra.New(cfg, topspeed.CassandraMapping(), nil)
		if err != nil {
			return err
		}
		cfg.CreateSchema = false
		if err := s.Open(ctx); err != nil {
			return err
		}
		start = time.Now()
		for i := 0; i < len(rows); i += chunk {
			if err := s.Write(ctx, rows[i:min(i+chunk, len(rows))]); err != nil {
				return err
			}
		}
		if err := s.Flush(ctx); err != nil {
			return err
		}
		st := s.Stats()
		s.Close()
		return printResult(mode, len(rows), time.Since(start), st.P50, st.P99, st.Requests)
	case "naive":
		stmt := insert(cfg)
		for _, r := range rows {
			t0 := time.Now()
			if err := sess.Query(stmt, r.ID, r.Speed, r.Distance, r.Time).Exec(); err != nil {
				return err
			}
			lat = append(lat, time.Since(t0))
		}
	case "raw":
		lat, err = raw(ctx, sess, cfg, rows, inflight, batch)
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return printResult(mode, len(rows), el, q(0.5), q(0.99), int64(len(lat)))
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
					firstErr = err
					mu.Unlock()
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	// The practical limit: every partition's rows in full batches, with
	// complete knowledge of the input (no lingering, no partial batches).
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

func printResult(mode string, n int, el time.Duration, p50, p99 time.Duration, reqs int64) error {
	rss := peakRSS()
	fmt.Printf("%-6s rows=%d seconds=%.2f rows/s=%.0f requests=%d p50=%v p99=%v peak_rss_mb=%.0f\n",
		mode, n, el.Seconds(), float64(n)/el.Seconds(), reqs, p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), rss)
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
