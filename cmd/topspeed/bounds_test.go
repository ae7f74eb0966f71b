package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBoundsAreUsageErrors: every size a user can give is bounded; a bad
// value is a usage error (exit 2) naming the flag, found before anything
// is allocated or read.
func TestBoundsAreUsageErrors(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", 1<<20)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cass := []string{"--cassandra-hosts", "127.0.0.1"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--batch-size", "2000000000"}, "--batch-size 2000000000: must be in [1, 1048576]"},
		{[]string{"--batch-size", "0"}, "--batch-size 0:"},
		{[]string{"--cars", "-3"}, "--cars -3: must be between 1 and"},
		{[]string{"--cars", "2000000000"}, "--cars 2000000000:"},
		{[]string{"--rate", "-1"}, "--rate -1:"},
		{[]string{"--events", "-5"}, "--events -5:"},
		{[]string{"--event-interval", "-1s"}, "--event-interval -1s"},
		{[]string{"--rate", "0.000001"}, "--event-interval"},
		{[]string{"--start-time", "-99999999999999"}, "--start-time -99999999999999:"},
		{[]string{"--evict", "0s"}, "--evict 0s: must be at least 1ms"},
		{[]string{"--trigger-meters", "NaN"}, "--trigger-meters NaN:"},
		{[]string{"--ha-replicas", "-1"}, "--ha-replicas -1:"},
		{[]string{"--http-shutdown-timeout", "10000h"}, "--http-shutdown-timeout"},
		{append(cass, "--cassandra-max-inflight", "100000000"), "--cassandra-max-inflight 100000000: must be in [1, 4096]"},
		{append(cass, "--cassandra-batch-rows", "100000000"), "--cassandra-batch-rows 100000000:"},
		{append(cass, "--cassandra-max-buffered-rows", "2000000000"), "--cassandra-max-buffered-rows 2000000000:"},
		{append(cass, "--cassandra-linger", "0s"), "--cassandra-linger 0s:"},
		{append(cass, "--cassandra-password-file", "/dev/zero", "--cassandra-username", "u"), "--cassandra-password-file /dev/zero: not a regular file"},
		{[]string{"--config", "/dev/zero"}, "config file /dev/zero: not a regular file"},
		{[]string{"--config", big}, "more than the limit of 1048576"},
		{[]string{"--http-token-file", "/dev/zero"}, "--http-token-file /dev/zero: not a regular file"},
		{[]string{"--http-tls-cert", big}, "--http-tls-key"},
		{[]string{"--http-tls-cert", big, "--http-tls-key", big}, "--http-tls-cert " + big + ", --http-tls-key " + big + ":"},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "topspeed: topspeed:") {
			t.Errorf("%v: exit %d, want %d and %q; stderr %q", c.args, code, exitUsage, c.want, stderr)
		}
	}
}

// TestOutputIsInputRefused: an output that is the input (same path, a
// symbolic link to it, a hard link) is a usage error and the input is left
// untouched.
func TestOutputIsInputRefused(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "cars.txt")
	content := "(0,100,10.0,1000)\n(0,120,80.0,2000)\n"
	if err := os.WriteFile(in, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	link, hard := filepath.Join(dir, "link.txt"), filepath.Join(dir, "hard.txt")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{in, link, hard, filepath.Join(dir, ".", "cars.txt")} {
		code, _, stderr := runCLI(t, "--input", in, "--output", out)
		if code != exitUsage || !strings.Contains(stderr, "--output "+out+" is the input file") {
			t.Errorf("--output %s: exit %d, stderr %q", out, code, stderr)
		}
		if b, err := os.ReadFile(in); err != nil || string(b) != content {
			t.Fatalf("--output %s: input now %q (%v)", out, b, err)
		}
	}
	// The symlink the other way round: the input is the link.
	if code, _, stderr := runCLI(t, "--input", link, "--output", in); code != exitUsage {
		t.Errorf("--input link --output target: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "--input", in, "--output", filepath.Join(dir, "out.txt")); code != exitOK {
		t.Errorf("a different output: exit %d, stderr %q", code, stderr)
	}
}

// TestTimestampsNearMinInt64: the results of reports timestamped within
// --evict of math.MinInt64 are those of the same reports shifted to
// ordinary times: the eviction cutoff no longer wraps around (which
// dropped reports and emitted an old maximum again).
func TestTimestampsNearMinInt64(t *testing.T) {
	const shift = int64(1) << 40
	base := int64(math.MinInt64)
	reports := []struct {
		car, speed int
		dist       float64
		dt         int64
	}{
		{0, 100, 100, 0}, {1, 50, 10, 1}, {0, 120, 200, 5808}, {0, 90, 300, 15808}, {1, 60, 100, 20000},
		{0, 95, 400, 30000}, {0, 130, 460, 30001}, {1, 40, 200, 41000},
	}
	write := func(name string, t0 int64) string {
		var b strings.Builder
		for _, r := range reports {
			fmt.Fprintf(&b, "(%d,%d,%.1f,%d)\n", r.car, r.speed, r.dist, t0+r.dt)
		}
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	results := func(path string, t0 int64) []string {
		code, out, stderr := runCLI(t, "--input", path, "--parallelism", "1")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var rs []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var car, speed int
			var dist float64
			var ts int64
			if _, err := fmt.Sscanf(line, "(%d,%d,%g,%d)", &car, &speed, &dist, &ts); err != nil {
				t.Fatalf("result %q: %v", line, err)
			}
			rs = append(rs, fmt.Sprintf("car %d speed %d dist %g at +%d", car, speed, dist, ts-t0))
		}
		return rs
	}
	low := results(write("low.txt", base), base)
	normal := results(write("normal.txt", base+shift), base+shift)
	if strings.Join(low, "\n") != strings.Join(normal, "\n") {
		t.Fatalf("near MinInt64:\n%s\nshifted:\n%s", strings.Join(low, "\n"), strings.Join(normal, "\n"))
	}
	if len(normal) < 3 {
		t.Fatalf("too few results to compare: %v", normal)
	}
}
