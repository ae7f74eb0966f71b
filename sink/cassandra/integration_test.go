package cassandra_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/topspeed/topspeed/internal/testenv"
	"github.com/topspeed/topspeed/sink/cassandra"
)

// These tests run against the real local Cassandra (make cassandra-up).

type row struct {
	ID, Speed int32
	Dist      float64
	TS        int64
}

// mapping is a test job's: its own table definition and default place.
var mapping = cassandra.Mapping[row, int32]{
	Keyspace:     "topspeed_it",
	Table:        "rows",
	Columns:      []string{"carid", "speed", "distance", "time"},
	Bind:         func(dst []any, r row) []any { return append(dst, r.ID, r.Speed, r.Dist, r.TS) },
	PartitionKey: func(r row) int32 { return r.ID },
	Schema: func(keyspace, table string) []string {
		return []string{fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s (carid int, speed int, distance double, time bigint, PRIMARY KEY (carid, time))", keyspace, table)}
	},
}

func config(t *testing.T, srv testenv.Cassandra) cassandra.Config {
	c := cassandra.DefaultConfig()
	c.Hosts = srv.Hosts
	c.Username, c.Password = srv.Username, srv.Password
	c.Consistency = gocql.One
	c.Keyspace = "topspeed_it"
	c.Table = fmt.Sprintf("t%d", time.Now().UnixNano()%1e12)
	c.CreateSchema = true
	c.Replication = "1"
	c.ConnectBudget = 20 * time.Second
	return c
}

func genRows(n, cars int) []row {
	rs := make([]row, n)
	for i := range rs {
		rs[i] = row{ID: int32(i%cars) - int32(cars/2), Speed: int32(i % 101), Dist: float64(i) * 13.888888888888889, TS: 1_700_000_000_000 + int64(i)}
	}
	return rs
}

func writeAll(t *testing.T, s *cassandra.Sink[row, int32], rows []row, chunk int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < len(rows); i += chunk {
		if err := s.Write(ctx, rows[i:min(i+chunk, len(rows))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func readTable(t *testing.T, c cassandra.Config) map[[2]int64]row {
	t.Helper()
	c.CreateSchema = false
	sess, err := cassandra.Connect(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	got := map[[2]int64]row{}
	it := sess.Query(fmt.Sprintf("SELECT carid, speed, distance, time FROM %s.%s", c.Keyspace, c.Table)).Iter()
	var r row
	for it.Scan(&r.ID, &r.Speed, &r.Dist, &r.TS) {
		got[[2]int64{int64(r.ID), r.TS}] = r
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return got
}

func sameTable(t *testing.T, got map[[2]int64]row, want []row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("table has %d rows, want %d", len(got), len(want))
	}
	for _, w := range want {
		g, ok := got[[2]int64{int64(w.ID), w.TS}]
		if !ok || g != w {
			t.Fatalf("row (%d,%d): got %+v (present %t), want %+v", w.ID, w.TS, g, ok, w)
		}
	}
}

func open(t *testing.T, c cassandra.Config) *cassandra.Sink[row, int32] {
	t.Helper()
	s, err := cassandra.New(c, mapping, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSinkWritesExactlyTheRowsAndReplayIsIdempotent(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	c := config(t, srv)
	c.BatchRows = 17 // odd, so partitions split over several batches
	rows := genRows(20000, 64)
	s := open(t, c)
	writeAll(t, s, rows, 1000)
	st := s.Stats()
	if st.Rows != int64(len(rows)) {
		t.Fatalf("acknowledged %d rows, want %d", st.Rows, len(rows))
	}
	sameTable(t, readTable(t, c), rows)

	// Replay: the same input again (as after a restore) leaves the table identical.
	s2 := open(t, c)
	writeAll(t, s2, rows, 333)
	sameTable(t, readTable(t, c), rows)
}

func TestSinkWrongPasswordFailsClearly(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	c := config(t, srv)
	c.Password = "not-the-password-" + strconv.Itoa(os.Getpid())
	s, err := cassandra.New(c, mapping, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.Open(context.Background())
	if !errors.Is(err, cassandra.ErrAuth) {
		t.Fatalf("want ErrAuth, got %v", err)
	}
	if strings.Contains(err.Error(), c.Password) || !strings.Contains(err.Error(), c.Username) {
		t.Fatalf("message must name the user and hide the password: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("a credential error must not be retried for the whole budget (took %v)", time.Since(start))
	}
}

func TestSinkServerDownAtStartIsRetriedThenReported(t *testing.T) {
	c := cassandra.DefaultConfig()
	c.Hosts = []string{"127.0.0.1:1"} // nothing listens on port 1
	c.ConnectBudget = 1500 * time.Millisecond
	c.ConnectTimeout = 200 * time.Millisecond
	s, err := cassandra.New(c, mapping, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.Open(context.Background())
	took := time.Since(start)
	if !errors.Is(err, cassandra.ErrUnavailable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("want ErrUnavailable naming the host, got %v", err)
	}
	if took < c.ConnectBudget/2 || strings.Contains(err.Error(), " after 1 attempts") || !strings.Contains(err.Error(), "attempts") {
		t.Fatalf("gave up after %v without retrying for the budget: %v", took, err)
	}
}

// TestSinkSurvivesServerPause freezes the real server (SIGSTOP) for 20 s
// while a producer writes: no row may be lost, and the rows accepted by
// Write during the pause must stay bounded (the sink pushes back).
func TestSinkSurvivesServerPause(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	pid := serverPID(t, srv)
	c := config(t, srv)
	c.MaxInFlight, c.BatchRows, c.MaxBufferedRows = 8, 10, 80
	c.Timeout = 2 * time.Second
	s := open(t, c)
	rows := genRows(30000, 50)

	var accepted atomic.Int64
	done := make(chan error, 1)
	go func() {
		ctx := context.Background()
		for i := 0; i < len(rows); i += 100 {
			if err := s.Write(ctx, rows[i:i+100]); err != nil {
				done <- err
				return
			}
			accepted.Add(100)
			time.Sleep(2 * time.Millisecond) // about 50k rows/s at most
		}
		done <- s.Flush(ctx)
	}()
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	defer resume()
	time.Sleep(3 * time.Second) // let in-flight requests stall
	atPause := accepted.Load()
	time.Sleep(17 * time.Second)
	during := accepted.Load() - atPause
	resume()
	// While frozen, at most the collected rows (MaxBufferedRows), the queue
	// and the workers' batches (2 × MaxInFlight batches) and one Write's rows
	// can be accepted.
	bound := int64(c.MaxBufferedRows + 2*c.MaxInFlight*c.BatchRows + 100)
	if during > bound {
		t.Fatalf("%d rows accepted while the server was frozen, bound %d: no backpressure", during, bound)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sink failed after the pause: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("producer did not finish after the server resumed")
	}
	sameTable(t, readTable(t, c), rows)
	t.Logf("accepted %d rows during the 17 s freeze (bound %d); retries %d", during, bound, s.Stats().Retries)
}

func serverPID(t *testing.T, srv testenv.Cassandra) int {
	t.Helper()
	b, err := os.ReadFile(srv.PIDFile)
	if err != nil {
		msg := fmt.Sprintf("server pid file unknown (%q): set CASSANDRA_PID_FILE", srv.PIDFile)
		if testenv.Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %s: %v", srv.PIDFile, err)
	}
	return pid
}

// Close while the linger goroutine is dispatching must not panic (it once
// sent on the closed work queue).
func TestSinkCloseWhileLingering(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	c := config(t, srv)
	c.Linger = time.Millisecond
	rows := genRows(2000, 500)
	for i := 0; i < 15; i++ {
		s, err := cassandra.New(c, mapping, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		_ = s.Write(context.Background(), rows)
		time.Sleep(time.Duration(i%3) * time.Millisecond)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// CloseContext with a context that is already done (the engine's, after a
// failure or a lost leadership) closes the session while workers may still
// be sending: they must fail on the closed session, not crash on a nil one.
func TestSinkCloseContextCancelledWhileSending(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	c := config(t, srv)
	c.Linger = time.Millisecond
	rows := genRows(5000, 1000)
	for i := 0; i < 10; i++ {
		s, err := cassandra.New(c, mapping, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		_ = s.Write(context.Background(), rows)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.CloseContext(ctx)           // an error is expected (requests still running); a panic is not
		time.Sleep(20 * time.Millisecond) // let abandoned workers run into the closed session
	}
}
