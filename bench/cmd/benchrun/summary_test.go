package main

import (
	"strings"
	"testing"
)

// TestSummaryS1S6 builds a report with S1's and S6's cases as s1Ratios and
// s6Ratios record them and checks the summary: the headline against tuned
// Flink, the untuned ratio beside it, the parse-only rows and the 10 GB
// minutes beside the seed's figure.
func TestSummaryS1S6(t *testing.T) {
	r := &runner{rep: &Report{Notes: map[string][]string{}}}
	c := func(s, id string, events, bytes int64, wall, cpu float64) *Case {
		k := &Case{Scenario: s, ID: id, Events: events, Bytes: bytes, Runs: []Measure{{Wall: wall, User: cpu, MaxRSSK: 20480}}}
		k.finish()
		return k
	}
	c1 := c("S1", "topspeed-p1", 10e6, 4e8, 2.5, 2)
	c2 := c("S1", "topspeed-p2", 10e6, 4e8, 2, 2)
	cp := c("S1", "parse-only", 10e6, 4e8, 1.6, 1)
	cp2 := c("S1", "parse-only-2", 10e6, 4e8, 0.8, 1)
	nw := c("S1", "no-window", 10e6, 4e8, 1.25, 1.9)
	one := c("S1", "topspeed-p2-1core", 10e6, 4e8, 3, 1.8)
	cf := c("S1", "flink-p2", 10e6, 4e8, 80, 55)
	ct := c("S1", "flink-tuned", 10e6, 4e8, 64, 50)
	r.add(c1, c2, one, cp, cp2, nw, cf, ct)
	r.s1Ratios(c1, c2, cp, cf, ct)
	r.s1ParseRatio(cp, cp2, nw)
	r.s1CoreRatio(c2, one)
	gs := c("S6", "wordcount-go", 1e8, 1024e6, 20, 30)
	gf := c("S6", "wordcount-flink", 1e8, 1024e6, 500, 600)
	gt := c("S6", "wordcount-flink-tuned", 1e8, 1024e6, 400, 550)
	gl := c("S6", "wordcount-go-large", 2e8, 2048e6, 40, 60)
	r.add(gs, gf, gt, gl)
	r.s6Ratios(gs, gf, gt, gl)

	sum := r.summary()
	for _, want := range []string{
		"| events/s, topspeed p=2 vs Flink tuned | 5.00 M | 156.2 k | **32.0×** |",
		"| events/s, topspeed p=2 vs Flink's defaults | 5.00 M | 125.0 k | **40.0×** |",
		"| events/s, topspeed p=1 vs Flink tuned | 4.00 M | 156.2 k | **25.6×** |",
		"events/s p=2 vs parse-only on one core (6.25 M/s) | 5.00 M |  | **0.80×** |",
		"| parse-only: parallel reader on 2 cores vs one core | 12.50 M |  | **2.00×** |",
		"| bound: the job's pipeline without its window vs parse-only on one core | 8.00 M |  | **1.28×** |",
		"| whole job: 2 cores vs one core (GOMAXPROCS=1, 3.33 M/s) | 5.00 M |  | **1.50×** |",
		"| CPU s per million events (Flink tuned ÷ topspeed p=2) | 0.200 | 5.000 | **25.0×** |",
		"| MB/s vs Flink tuned | 51.2 | 2.56 | **20.0×** |",
		"| MB/s vs Flink's defaults | 51.2 | 2.05 | **25.0×** |",
		"| S6-large WordCount (2048 MB) | MB/s (topspeed only) | 51.2 |",
		"| 3.3 | 68 (seed) | — |",
	} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	var head []string
	for _, q := range r.rep.Ratios {
		if q.Headline {
			head = append(head, q.Scenario+" "+q.Quick)
		}
	}
	if got := strings.Join(head, "; "); got != "S1 engine topspeed/flink-tuned events/s ratio; S6 wordcount topspeed/flink-tuned MB/s ratio" {
		t.Errorf("headlines: %s", got)
	}
	if n := r.rep.Notes["S6"]; len(n) != 1 || !strings.Contains(n[0], "3.3 min") || !strings.Contains(n[0], "different machine") {
		t.Errorf("S6 note: %q", n)
	}
}

// TestParseGoBench reads go test -bench lines with custom metrics.
func TestParseGoBench(t *testing.T) {
	out := "goos: linux\nBenchmarkParseOnly/Lines-2         	       3	         0.0000006 allocs/event	  21584664 events/s\nBenchmarkPipeline/parallelism=2-2  	       3	         0.0006299 allocs/event	  12048217 events/s\nPASS\n"
	got := parseGoBench(out)
	if len(got) != 2 || got[0].Name != "BenchmarkParseOnly/Lines" || got[1].Name != "BenchmarkPipeline/parallelism=2" ||
		got[1].EvPerS != 12048217 || got[1].Allocs != 0.0006299 || got[1].Samples != 3 {
		t.Fatalf("parseGoBench: %+v", got)
	}
	kv := parseKV(" cars=1000000 pause_p99_ms=5.85 incremental_pct=1.2 note=x")
	if kv["cars"] != 1e6 || kv["pause_p99_ms"] != 5.85 || kv["note"] != "x" {
		t.Fatalf("parseKV: %v", kv)
	}
}

// TestSummaryS8PausesOfSubtasks checks that S8's summary gives the window
// subtasks' pause (what issue 16's goals bound) with every stage's beside
// it, and falls back to every stage's for reports without the former.
func TestSummaryS8PausesOfSubtasks(t *testing.T) {
	r := &runner{rep: &Report{Notes: map[string][]string{}, S8: &S8{CkKV: []map[string]any{
		{"cars": 1e6, "pause_p99_ms": 25.76, "operator_pause_p99_ms": 1.49, "incremental_pct": 1.23, "steady_mean_pct": 2.37},
		{"cars": 100.0, "pause_p99_ms": 0.14, "incremental_pct": 3.16},
	}}}}
	sum := r.summary()
	for _, want := range []string{
		"| S8 checkpoints, 1.00 M cars | pause p99 of the window subtasks (of every stage, ckbench's generator source included); written after 1% of the cars changed, % of full (mean of the next such checkpoints) | 1.49 ms (25.76 ms); 1.23% (2.37%) |",
		"| S8 checkpoints, 100 cars | pause p99; written after 1% of the cars changed, % of full | 0.14 ms; 3.16% |",
	} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}
