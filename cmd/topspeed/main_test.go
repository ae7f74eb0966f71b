package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines and removes the binary that the
// tests running it as a child process built (crash_test.go), whatever the
// result; its directory is inside go test's work directory anyway, which
// the go command removes even when this binary is killed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		topspeedBin.Remove()
		os.Exit(code)
	}))
}

// runCLI runs the command in-process, with an environment holding only
// testEnv, and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	return runCLIEnv(t, nil, args...)
}

func runCLIEnv(t *testing.T, testEnv map[string]string, args ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	code := run(args, out, errf, func(k string) (string, bool) {
		v, ok := testEnv[k]
		if !ok && k == "TOPSPEED_HTTP_ADDR" {
			return "127.0.0.1:0", true // never the shared default port
		}
		return v, ok
	})
	out.Close()
	errf.Close()
	o, _ := os.ReadFile(out.Name())
	e, _ := os.ReadFile(errf.Name())
	return code, string(o), string(e)
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cars.txt")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Hand-computed: car 7 fires at the 3rd report (60.5 - 0 > 50) with the
// fastest of the three (speed 90), and at the 5th (121.0 - 60.5 > 50) when the
// 10 s evictor has dropped everything older than 20000 - 10000: the fastest
// left is speed 80 at ts 20000 (ties keep the earlier one).
const sample = `(7,50,0.0,1000)
(7,90,30.0,2000)
(7,70,60.5,3000)
(7,80,110.5,20000)
(7,80,121.0,20001)
`

func TestFileToFile(t *testing.T) {
	in := writeFile(t, sample)
	outPath := filepath.Join(t.TempDir(), "out", "results.txt")
	code, stdout, stderr := runCLI(t, "--input", in, "--output", outPath, "--log-level", "error")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Fatalf("stdout should be empty with --output, got %q", stdout)
	}
	got, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	want := "(7,90,30.0,2000)\n(7,80,110.5,20000)\n"
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestBadLineFailsWithFileAndLine(t *testing.T) {
	in := writeFile(t, sample+"(7,fast,130.0,20002)\n")
	code, _, stderr := runCLI(t, "--input", in, "--output", filepath.Join(t.TempDir(), "o"), "--log-level", "error")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitFailure, stderr)
	}
	if !strings.Contains(stderr, in+":6") || !strings.Contains(stderr, "fast") {
		t.Fatalf("stderr must name %s:6 and the bad field: %s", in, stderr)
	}
}

func TestSkipCountsBadLines(t *testing.T) {
	in := writeFile(t, "garbage\n"+sample+"(1,2,NaN,3)\n(1,2,3.0,99999999999999999999)\n(1,2)\n")
	code, stdout, stderr := runCLI(t, "--input", in, "--on-bad-record", "skip", "--log-level", "error")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "skipped 4 bad input record(s)") {
		t.Fatalf("want the skip count on stderr, got %q", stderr)
	}
	if stdout != "(7,90,30.0,2000)\n(7,80,110.5,20000)\n" {
		t.Fatalf("stdout %q", stdout)
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	args := []string{"--cars", "5", "--rate", "0", "--events", "2000", "--event-clock", "synthetic", "--start-time", "1424951918630", "--seed", "42", "--log-level", "error"}
	c1, o1, e1 := runCLI(t, append(args, "--parallelism", "1")...)
	c2, o2, e2 := runCLI(t, append(args, "--parallelism", "3")...)
	if c1 != 0 || c2 != 0 {
		t.Fatalf("exit %d/%d: %s %s", c1, c2, e1, e2)
	}
	if o1 == "" || len(strings.Split(o1, "\n")) < 50 {
		t.Fatalf("too few results: %q", o1)
	}
	// Parallelism changes the interleaving of cars, never a car's own results.
	if g1, g2 := byCar(o1), byCar(o2); len(g1) != 5 || !equalGroups(g1, g2) {
		t.Fatalf("per-car results differ between parallelism 1 and 3")
	}
}

func byCar(out string) map[string][]string {
	g := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		id, _, _ := strings.Cut(strings.TrimPrefix(l, "("), ",")
		g[id] = append(g[id], l)
	}
	return g
}

func equalGroups(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "|") != strings.Join(b[k], "|") {
			return false
		}
	}
	return true
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{"--parallelism", "0"},
		{"--on-bad-record", "ignore"},
		{"--evict", "0s"},
		{"--trigger-meters", "NaN"},
		{"--no-such-flag"},
		{"extra-arg"},
		{"--cassandra-hosts", "127.0.0.1", "--cassandra-consistency", "most"},
		{"--cassandra-hosts", "127.0.0.1", "--cassandra-username", "u"}, // no password anywhere
	}
	for _, args := range cases {
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(stderr, "topspeed:") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	code, _, stderr := runCLI(t, "--help")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var o options
	fs := newFlagSet(&o)
	for _, name := range []string{"input", "output", "cars", "rate", "seed", "events", "parallelism", "evict", "trigger-meters", "on-bad-record", "cassandra-hosts", "cassandra-password-file"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag --%s missing", name)
		}
		if !strings.Contains(stderr, "--"+name) {
			t.Errorf("--help does not explain --%s", name)
		}
	}
	if strings.Contains(stderr, "cassandra-password ") {
		t.Error("there must be no password flag")
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	in := writeFile(t, sample)
	env := map[string]string{"TOPSPEED_INPUT": in, "TOPSPEED_TRIGGER_METERS": "1000"}
	code, stdout, stderr := runCLIEnv(t, env, "--log-level", "error")
	if code != exitOK || stdout != "" {
		t.Fatalf("exit %d, stdout %q (a 1000 m trigger never fires), stderr %s", code, stdout, stderr)
	}
	// A command-line flag wins over the environment.
	code, stdout, _ = runCLIEnv(t, env, "--log-level", "error", "--trigger-meters", "50")
	if code != exitOK || !strings.Contains(stdout, "(7,90,30.0,2000)") {
		t.Fatalf("flag did not override env: exit %d, %q", code, stdout)
	}
}
