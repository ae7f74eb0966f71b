package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/topspeed/topspeed/internal/testenv"
	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/sink/cassandra"
)

// TestJobToCassandra runs the binary's code path on a generated input with
// both the file and the Cassandra sink, then reads the table back: it must
// hold exactly the distinct (carid, time) results the job wrote to the file.
// A second run on the same input (a replay) must leave it identical.
func TestJobToCassandra(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	env := map[string]string{"CASSANDRA_PASSWORD": srv.Password}
	table := fmt.Sprintf("job%d", time.Now().UnixNano()%1e12)
	dir := t.TempDir()
	in := filepath.Join(dir, "cars.txt")
	writeGenerated(t, in, 40, 30000)

	args := func(out string) []string {
		return []string{"--input", in, "--output", out, "--log-level", "error",
			"--cassandra-hosts", strings.Join(srv.Hosts, ","), "--cassandra-username", srv.Username,
			"--cassandra-consistency", "ONE", "--cassandra-create-schema", "--cassandra-replication", "1",
			"--cassandra-keyspace", "topspeed_it", "--cassandra-table", table, "--cassandra-batch-rows", "7"}
	}
	out1 := filepath.Join(dir, "out1.txt")
	if code, _, stderr := runCLIEnv(t, env, args(out1)...); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := distinctResults(t, out1)
	if len(want) < 1000 {
		t.Fatalf("only %d results: input too small to mean anything", len(want))
	}
	got := readTopSpeeds(t, srv, table)
	compareRows(t, got, want)

	out2 := filepath.Join(dir, "out2.txt")
	if code, _, stderr := runCLIEnv(t, env, args(out2)...); code != exitOK {
		t.Fatalf("replay: exit %d: %s", code, stderr)
	}
	compareRows(t, readTopSpeeds(t, srv, table), want)
}

func writeGenerated(t *testing.T, path string, cars int, events int64) {
	t.Helper()
	cfg := topspeed.DefaultGeneratorConfig()
	cfg.Cars, cfg.Rate, cfg.Events, cfg.Seed, cfg.Synthetic = cars, 0, events, 7, true
	cfg.StartTime = time.UnixMilli(1424951918630)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := topspeed.WriteReports(context.Background(), f, cfg); err != nil {
		t.Fatal(err)
	}
}

func distinctResults(t *testing.T, path string) map[[2]int64]topspeed.Car {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[[2]int64]topspeed.Car{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		c, err := topspeed.ParseCar([]byte(l))
		if err != nil {
			t.Fatalf("result line %q: %v", l, err)
		}
		m[[2]int64{int64(c.ID), c.Time}] = c
	}
	return m
}

func readTopSpeeds(t *testing.T, srv testenv.Cassandra, table string) map[[2]int64]topspeed.Car {
	t.Helper()
	cfg := cassandra.DefaultConfig()
	cfg.Hosts, cfg.Username, cfg.Password = srv.Hosts, srv.Username, srv.Password
	sess, err := cassandra.Connect(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	it := sess.Query("SELECT carid, speed, distance, time FROM topspeed_it." + table).Iter()
	m := map[[2]int64]topspeed.Car{}
	var c topspeed.Car
	for it.Scan(&c.ID, &c.Speed, &c.Distance, &c.Time) {
		m[[2]int64{int64(c.ID), c.Time}] = c
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return m
}

func compareRows(t *testing.T, got, want map[[2]int64]topspeed.Car) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("table has %d rows, the job produced %d distinct results", len(got), len(want))
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Fatalf("row %v: got %+v (present %t), want %+v", k, g, ok, w)
		}
	}
}
