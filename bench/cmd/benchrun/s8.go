package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ------------------------------------------------------------ S8

// S8 is topspeed's own internals, measured in the same run as the
// comparisons: the Go benchmarks of the hot path on S1's input (events/s
// and allocations per event) and bench/ckbench (checkpoint pauses,
// durations, bytes written full and incremental, restore time). There is
// no Flink side: the figures are absolute, or ratios within one run.
type S8 struct {
	GoBench  []GoBench        `json:"go_bench,omitempty"`
	GoCmd    string           `json:"go_bench_command,omitempty"`
	CkCmd    string           `json:"ckbench_command,omitempty"`
	CkReport string           `json:"ckbench_report,omitempty"` // ckbench's markdown
	CkKV     []map[string]any `json:"ckbench_kv,omitempty"`     // its "ckbench:" lines
	Errors   []string         `json:"errors,omitempty"`
}

// GoBench is one line of `go test -bench` output.
type GoBench struct {
	Name    string  `json:"name"`
	EvPerS  float64 `json:"events_per_s"`
	Allocs  float64 `json:"allocs_per_event"`
	Samples int     `json:"iterations"`
}

func (r *runner) s8() error {
	s := &S8{}
	r.rep.S8 = s
	if err := r.s8GoBench(s); err != nil {
		s.Errors = append(s.Errors, "go benchmarks: "+err.Error())
	}
	if err := r.s8Ckbench(s); err != nil {
		s.Errors = append(s.Errors, "ckbench: "+err.Error())
	}
	if len(s.Errors) > 0 {
		return fmt.Errorf("%s", strings.Join(s.Errors, "; "))
	}
	return nil
}

// s8GoBench runs bench's BenchmarkParseOnly and BenchmarkPipeline on S1's
// input.
func (r *runner) s8GoBench(s *S8) error {
	events := r.pick(10_000_000, 500_000)
	in, _, err := r.genCars(events, 1000)
	if err != nil {
		return err
	}
	bin := filepath.Join(r.bin, "bench.test")
	if err := r.goTool("test", "-c", "-o", bin, "./bench"); err != nil {
		return err
	}
	c := Cmd{Args: []string{bin, "-test.run", "^$", "-test.bench", "ParseOnly|Pipeline", "-test.benchtime", "3x"},
		Env: []string{"TOPSPEED_BENCH_FILE=" + in}}
	s.GoCmd = c.String()
	r.logf("S8: %s", c)
	m, out, err := r.runCmd(c, filepath.Join(r.logs, "S8-gobench"), 30*time.Minute)
	if err != nil {
		return err
	}
	r.logf("S8 go benchmarks done: %s", fmtMeasure(m))
	s.GoBench = parseGoBench(out)
	if len(s.GoBench) == 0 {
		return fmt.Errorf("no benchmark lines in its output (logs/S8-gobench.out)")
	}
	return nil
}

var goBenchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// parseGoBench reads the events/s and allocs/event metrics of go test
// -bench output lines.
func parseGoBench(out string) []GoBench {
	var res []GoBench
	for _, l := range strings.Split(out, "\n") {
		m := goBenchLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		g := GoBench{Name: m[1]}
		g.Samples, _ = strconv.Atoi(m[2])
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "events/s":
				g.EvPerS = v
			case "allocs/event":
				g.Allocs = v
			}
		}
		res = append(res, g)
	}
	return res
}

// s8Ckbench runs bench/ckbench.
func (r *runner) s8Ckbench(s *S8) error {
	bin := filepath.Join(r.bin, "ckbench")
	if err := r.goTool("build", "-o", bin, "./bench/ckbench"); err != nil {
		return err
	}
	cars, n := "100,10000,1000000", "10"
	if r.quick {
		cars, n = "100,10000", "5"
	}
	c := Cmd{Args: []string{bin, "-cars", cars, "-checkpoints", n, "-steady", "60"}}
	s.CkCmd = c.String()
	r.logf("S8: %s", c)
	m, out, err := r.runCmd(c, filepath.Join(r.logs, "S8-ckbench"), 30*time.Minute)
	if err != nil {
		return err
	}
	r.logf("S8 ckbench done: %s", fmtMeasure(m))
	var table []string
	for _, l := range strings.Split(out, "\n") {
		if kv, ok := strings.CutPrefix(l, "ckbench:"); ok {
			s.CkKV = append(s.CkKV, parseKV(kv))
			continue
		}
		table = append(table, l)
	}
	s.CkReport = strings.TrimSpace(strings.Join(table, "\n"))
	return nil
}

// goTool runs the go command with args in the repository.
func (r *runner) goTool(args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = r.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// parseKV parses "k=v k=v" fields, numbers as float64.
func parseKV(s string) map[string]any {
	kv := map[string]any{}
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		if x, err := strconv.ParseFloat(v, 64); err == nil {
			kv[k] = x
		} else {
			kv[k] = v
		}
	}
	return kv
}

// s8MD writes S8's section: the Go benchmarks' table and ckbench's report.
func (r *runner) s8MD(b *strings.Builder) {
	s := r.rep.S8
	for _, e := range s.Errors {
		fmt.Fprintf(b, "Failed: %s\n\n", e)
	}
	if len(s.GoBench) > 0 {
		fmt.Fprintf(b, "Go benchmarks on S1's input (`%s`):\n\n| benchmark | events/s | allocs/event | iterations |\n| --- | ---: | ---: | ---: |\n", s.GoCmd)
		for _, g := range s.GoBench {
			fmt.Fprintf(b, "| %s | %s | %.6f | %d |\n", g.Name, human(g.EvPerS), g.Allocs, g.Samples)
		}
		b.WriteString("\n")
	}
	if s.CkReport != "" {
		fmt.Fprintf(b, "Checkpoints (`%s`; what it measures: [bench/README.md](../README.md#checkpoints-issue-consistent-checkpoints)):\n\n%s\n\n", s.CkCmd, s.CkReport)
	}
}

// summaryS8 is S8's rows: the pipeline's allocations per event.
func (r *runner) summaryS8(row func(s, m, t, f string, v float64, ok bool)) {
	s := r.rep.S8
	if s == nil {
		return
	}
	for _, g := range s.GoBench {
		if strings.HasPrefix(g.Name, "BenchmarkPipeline") {
			row("S8 hot path (Go benchmark, S1's input)", strings.TrimPrefix(g.Name, "Benchmark")+": allocs/event", fmt.Sprintf("%.6f", g.Allocs), "", 0, false)
		}
	}
	for _, kv := range s.CkKV {
		cars, _ := kv["cars"].(float64)
		p99, ok1 := kv["pause_p99_ms"].(float64)
		pct, ok2 := kv["incremental_pct"].(float64)
		mean, ok3 := kv["steady_mean_pct"].(float64)
		if ok1 && ok2 {
			m, v := "pause p99; written after 1% of the cars changed, % of full", fmt.Sprintf("%.2f ms; %.2f%%", p99, pct)
			// The window subtask's pause is what the goals of issue 16
			// bound; the pause of every stage includes ckbench's
			// generator source snapshotting its cars.
			if op, ok := kv["operator_pause_p99_ms"].(float64); ok {
				m = "pause p99 of the window subtasks (of every stage, ckbench's generator source included); written after 1% of the cars changed, % of full"
				v = fmt.Sprintf("%.2f ms (%.2f ms); %.2f%%", op, p99, pct)
			}
			if ok3 {
				m, v = m+" (mean of the next such checkpoints)", v+fmt.Sprintf(" (%.2f%%)", mean)
			}
			row(fmt.Sprintf("S8 checkpoints, %s cars", human(cars)), m, v, "", 0, false)
		}
	}
}
