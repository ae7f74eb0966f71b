package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topspeed/topspeed/internal/testenv"
	"github.com/topspeed/topspeed/job/topspeed"
)

// These tests run the real binary as a child process and crash it.

// topspeedBin is the command built once for the tests that run it as a
// child process; TestMain removes it.
var topspeedBin = &testenv.Binary{Name: "topspeed", Pkg: "."}

// binary builds the command once per test binary.
func binary(t *testing.T) string { return topspeedBin.Path(t) }

// start runs the binary with only the environment the test passes: the
// binary reads TOPSPEED_* and CASSANDRA_*. No ops server: parallel tests and
// lives would fight over its port. It dies with the test, also when the
// test binary is killed.
func start(t *testing.T, env []string, args ...string) *testenv.Life {
	t.Helper()
	env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TOPSPEED_HTTP_ADDR="}, env...)
	return testenv.Start(t, binary(t), env, args...)
}

// perCar reads published part files and groups result lines by car.
func perCar(t *testing.T, dir string) map[int32][]topspeed.Car {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32][]topspeed.Car{}
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), "part-") {
			continue // hidden parts are not output
		}
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l == "" {
				continue
			}
			c, err := topspeed.ParseCar([]byte(l))
			if err != nil {
				t.Fatalf("%s: %v", de.Name(), err)
			}
			out[c.ID] = append(out[c.ID], c)
		}
	}
	return out
}

func samePerCar(t *testing.T, got, want map[int32][]topspeed.Car) {
	t.Helper()
	n := 0
	for id, w := range want {
		g := got[id]
		if len(g) != len(w) {
			t.Fatalf("car %d: %d results, failure-free run has %d", id, len(g), len(w))
		}
		for i := range w {
			if g[i] != w[i] {
				t.Fatalf("car %d result %d: %+v, failure-free run has %+v", id, i, g[i], w[i])
			}
		}
		n += len(w)
	}
	if len(got) != len(want) || n == 0 {
		t.Fatalf("%d cars, failure-free run has %d (%d results)", len(got), len(want), n)
	}
}

func kills() int {
	if n, err := strconv.Atoi(os.Getenv("TOPSPEED_CRASH_KILLS")); err == nil && n > 0 {
		return n
	}
	return 20
}

// TestCrashRecoveryIsExact kills -9 the job at random moments (and once
// in the middle of writing a checkpoint), restarting it each time, then
// lets it finish: the published output and the Cassandra table must equal
// a failure-free run's, row for row.
func TestCrashRecoveryIsExact(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	dir := t.TempDir()
	suffix := time.Now().UnixNano() % 1e9
	common := []string{"--cars", "200", "--rate", "40000", "--events", "400000", "--start-time", "1424951918630",
		"--seed", "11", "--checkpoint-interval", "200ms", "--log-level", "warn",
		"--cassandra-hosts", strings.Join(srv.Hosts, ","), "--cassandra-username", srv.Username,
		"--cassandra-consistency", "ONE", "--cassandra-create-schema", "--cassandra-keyspace", "topspeed_it"}
	env := []string{"CASSANDRA_PASSWORD=" + srv.Password}
	args := func(name string) []string {
		return append(append([]string{}, common...), "--output", filepath.Join(dir, name+"-out"),
			"--checkpoint-dir", filepath.Join(dir, name+"-ck"), "--cassandra-table", fmt.Sprintf("%s%d", name, suffix))
	}

	ref := start(t, env, args("ref")...)
	if err := ref.Wait(t, 2*time.Minute); err != nil {
		t.Fatalf("failure-free run: %v\n%s", err, ref.Stderr)
	}

	rng := rand.New(rand.NewPCG(uint64(suffix), 1))
	survived, torn := 0, 0
	for i := 0; survived < kills(); i++ {
		var extra []string
		if i%7 == 3 {
			// Die after the data files of the next checkpoint are durable,
			// before its manifest: a half-written checkpoint.
			extra = append(extra, "TOPSPEED_TEST_CRASH_AT=files-written")
		}
		l := start(t, append(env, extra...), args("crash")...)
		lifetime := time.Duration(250+rng.IntN(450)) * time.Millisecond
		if extra != nil {
			lifetime = 10 * time.Second // it kills itself at its first checkpoint
		}
		select {
		case err := <-l.Done():
			if extra != nil {
				if ws, ok := l.Cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					torn++
					survived++
					continue
				}
			}
			if err != nil {
				t.Fatalf("life %d failed: %v\n%s", i, err, l.Stderr)
			}
			t.Fatalf("life %d finished the whole input before being killed: make the input longer", i)
		case <-time.After(lifetime):
		}
		_ = l.Cmd.Process.Signal(syscall.SIGKILL)
		<-l.Done()
		survived++
	}
	last := start(t, env, args("crash")...)
	if err := last.Wait(t, 2*time.Minute); err != nil {
		t.Fatalf("final life: %v\n%s", err, last.Stderr)
	}
	if torn == 0 {
		t.Fatal("no life died in the middle of a checkpoint")
	}

	samePerCar(t, perCar(t, filepath.Join(dir, "crash-out")), perCar(t, filepath.Join(dir, "ref-out")))
	compareRows(t, readTopSpeeds(t, srv, fmt.Sprintf("crash%d", suffix)), readTopSpeeds(t, srv, fmt.Sprintf("ref%d", suffix)))
	t.Logf("survived %d kill -9 (%d in the middle of a checkpoint): output and table identical to the failure-free run", survived, torn)
}

// TestStopWithSavepointAndRescale stops the job with SIGTERM (final
// checkpoint and savepoint) twice and restarts it each time at another
// parallelism, 1 -> 4 -> 2: the result must equal an uninterrupted run.
func TestStopWithSavepointAndRescale(t *testing.T) {
	dir := t.TempDir()
	common := []string{"--cars", "300", "--rate", "30000", "--events", "150000", "--start-time", "1424951918630",
		"--seed", "5", "--checkpoint-interval", "300ms", "--log-level", "info"}
	ref := start(t, nil, append(append([]string{}, common...), "--parallelism", "3",
		"--output", filepath.Join(dir, "ref-out"), "--checkpoint-dir", filepath.Join(dir, "ref-ck"))...)
	if err := ref.Wait(t, time.Minute); err != nil {
		t.Fatalf("reference: %v\n%s", err, ref.Stderr)
	}
	args := func(par string) []string {
		return append(append([]string{}, common...), "--parallelism", par, "--output", filepath.Join(dir, "out"),
			"--checkpoint-dir", filepath.Join(dir, "ck"), "--savepoint-dir", filepath.Join(dir, "sp"))
	}
	for _, par := range []string{"1", "4"} {
		l := start(t, nil, args(par)...)
		time.Sleep(1200 * time.Millisecond)
		_ = l.Cmd.Process.Signal(syscall.SIGTERM)
		if err := l.Wait(t, 30*time.Second); err != nil {
			t.Fatalf("SIGTERM at parallelism %s: %v\n%s", par, err, l.Stderr)
		}
		if !strings.Contains(l.Stderr.String(), "stopped with a final checkpoint") {
			t.Fatalf("no final checkpoint logged at parallelism %s:\n%s", par, l.Stderr)
		}
		if strings.Contains(l.Stderr.String(), "source exhausted") {
			t.Fatalf("the input ended before SIGTERM at parallelism %s: make it longer", par)
		}
	}
	sps, _ := filepath.Glob(filepath.Join(dir, "sp", "sp-*"))
	if len(sps) != 2 {
		t.Fatalf("want 2 savepoints, found %v", sps)
	}
	last := start(t, nil, args("2")...)
	if err := last.Wait(t, time.Minute); err != nil {
		t.Fatalf("final run: %v\n%s", err, last.Stderr)
	}
	if !strings.Contains(last.Stderr.String(), "restoring from checkpoint") {
		t.Fatalf("final run did not restore:\n%s", last.Stderr)
	}
	samePerCar(t, perCar(t, filepath.Join(dir, "out")), perCar(t, filepath.Join(dir, "ref-out")))
}

var _ = context.Background
