package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A running job logs progress lines, and at exit a summary whose counts
// are the job's: every event read, every result line written.
func TestProgressAndSummary(t *testing.T) {
	code, stdout, stderr := runCLI(t, "--cars", "3", "--rate", "300", "--events", "450",
		"--progress-interval", "200ms", "--http-addr", "", "--log-format", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := regexp.MustCompile(`(?m)^\{.*"msg":"progress".*"events":(\d+).*$`).FindAllStringSubmatch(stderr, -1)
	if len(lines) < 2 {
		t.Fatalf("want progress lines every 200ms over a 1.5 s run, got %d:\n%s", len(lines), stderr)
	}
	if n, _ := strconv.Atoi(lines[len(lines)-1][1]); n <= 0 || n > 450 {
		t.Errorf("last progress line counts %d events", n)
	}
	m := regexp.MustCompile(`"msg":"summary","events":(\d+),"results":(\d+),"rows":0,"bad_records":0`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no summary in:\n%s", stderr)
	}
	results := strings.Count(stdout, "\n")
	if m[1] != "450" || m[2] != strconv.Itoa(results) || results == 0 {
		t.Fatalf("summary says %s events, %s results; the run read 450 and wrote %d lines", m[1], m[2], results)
	}
}

// A failing job still logs its summary, with the bad-record count and the error.
func TestSummaryOnFailureAndSkips(t *testing.T) {
	in := writeFile(t, sample+"(not a record)\n")
	_, _, stderr := runCLI(t, "--input", in, "--http-addr", "", "--log-format", "json", "--on-bad-record", "skip")
	if !strings.Contains(stderr, `"msg":"summary","events":5,`) || !strings.Contains(stderr, `"bad_records":1`) {
		t.Fatalf("skip run summary:\n%s", stderr)
	}
	code, _, stderr := runCLI(t, "--input", in, "--http-addr", "", "--log-format", "json")
	if code != exitFailure || !strings.Contains(stderr, `"msg":"summary: the job failed"`) || !strings.Contains(stderr, `"error":`) {
		t.Fatalf("exit %d, failure summary:\n%s", code, stderr)
	}
}
