package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Measure is one run of one command: wall time, CPU time of the process and
// all its reaped descendants (wait4's rusage), and the peak RSS of the
// largest of them (ru_maxrss).
type Measure struct {
	Wall    float64 `json:"wall_s"`
	User    float64 `json:"user_s"`
	Sys     float64 `json:"sys_s"`
	MaxRSSK int64   `json:"max_rss_kb"`
}

// CPU is user + system seconds.
func (m Measure) CPU() float64 { return m.User + m.Sys }

// Cmd is a command to run: the program, its arguments, extra environment,
// and the directory it writes its output into (removed before each run).
type Cmd struct {
	Args   []string
	Env    []string
	OutDir string // removed and left absent (Flink: FileSink creates it)
	Out    string // a file, removed before the run
}

func (c Cmd) String() string {
	var b strings.Builder
	for _, e := range c.Env {
		b.WriteString(e)
		b.WriteByte(' ')
	}
	jdk := false
	for i, a := range c.Args {
		if strings.HasPrefix(a, "--add-exports=") || strings.HasPrefix(a, "--add-opens=") {
			if !jdk {
				b.WriteString(" <JDK 17 options of bench/flink/run-topspeed.sh>")
				jdk = true
			}
			continue
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || strings.ContainsAny(a, " \"'$*") {
			a = strconv.Quote(a)
		}
		b.WriteString(a)
	}
	return b.String()
}

// runCmd runs c with its stdout and stderr kept in logBase.{out,err}.
func (r *runner) runCmd(c Cmd, logBase string, timeout time.Duration) (Measure, string, error) {
	if c.OutDir != "" {
		if err := os.RemoveAll(c.OutDir); err != nil {
			return Measure{}, "", err
		}
	}
	if c.Out != "" {
		_ = os.Remove(c.Out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	cmd.Dir = r.root
	cmd.Env = append(r.baseEnv(), c.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start).Seconds()
	_ = os.WriteFile(logBase+".out", stdout.Bytes(), 0o644)
	_ = os.WriteFile(logBase+".err", stderr.Bytes(), 0o644)
	var m Measure
	if ps := cmd.ProcessState; ps != nil {
		m = Measure{Wall: wall, User: ps.UserTime().Seconds(), Sys: ps.SystemTime().Seconds()}
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			m.MaxRSSK = ru.Maxrss
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %v", timeout)
		}
		return m, stdout.String(), fmt.Errorf("%s: %w: %s", c.Args[0], err, lastLines(stderr.String(), 3))
	}
	return m, stdout.String(), nil
}

// baseEnv is a small, clean environment: no CASSANDRA_* (topspeed would
// also write to Cassandra), no ops server port (it may be taken).
func (r *runner) baseEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C", "LC_ALL=C", "TOPSPEED_HTTP_ADDR="}
	for _, k := range []string{"TMPDIR", "JAVA_HOME", "TOPSPEED_CACHE", "GOPATH", "GOCACHE", "GOMODCACHE", "GOFLAGS", "GOPROXY"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var keep []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, " | ")
}

// Case is one engine on one input with one setting, run Reps times after
// an optional warm-up.
type Case struct {
	Scenario string             `json:"scenario"`
	ID       string             `json:"id"`
	Label    string             `json:"label"`
	Engine   string             `json:"engine"`
	Param    string             `json:"param,omitempty"`
	X        float64            `json:"x,omitempty"`
	Events   int64              `json:"events,omitempty"`
	Bytes    int64              `json:"bytes,omitempty"`
	Command  string             `json:"command"`
	Warmup   *Measure           `json:"warmup,omitempty"`
	Runs     []Measure          `json:"runs"`
	Median   Measure            `json:"median"`
	EvPerS   float64            `json:"events_per_s,omitempty"`
	MBPerS   float64            `json:"mb_per_s,omitempty"`
	State    map[string]float64 `json:"state,omitempty"`
	Check    string             `json:"check,omitempty"`
	Error    string             `json:"error,omitempty"`
	Note     string             `json:"note,omitempty"`

	cmd     Cmd
	warmCmd *Cmd
	runFn   func(logBase string) (Measure, string, error) // runs a repetition instead of runCmd(cmd) (S7)
	reps    int
	timeout time.Duration
	stdout  string // of the first run
}

func (c *Case) ok() bool { return c.Error == "" && len(c.Runs) > 0 }

// runCases runs the warm-ups, then the repetitions round-robin over the
// cases (rep 1 of every case, then rep 2, ...), so that a noisy stretch of
// time hits every engine alike.
func (r *runner) runCases(cases []*Case, afterFirst func()) {
	for _, c := range cases {
		if c.warmCmd == nil {
			continue
		}
		r.logf("%s %s: warm-up: %s", c.Scenario, c.ID, c.warmCmd)
		m, _, err := r.runCmd(*c.warmCmd, filepath.Join(r.logs, c.Scenario+"-"+c.ID+"-warmup"), c.timeout)
		if err != nil {
			c.Error = "warm-up failed: " + err.Error()
			r.logf("  FAILED: %v", err)
			continue
		}
		c.Warmup = &m
		r.logf("  %s", fmtMeasure(m))
	}
	maxReps := 0
	for _, c := range cases {
		maxReps = max(maxReps, c.reps)
	}
	for rep := 1; rep <= maxReps; rep++ {
		for _, c := range cases {
			if rep > c.reps || c.Error != "" {
				continue
			}
			if rep == 1 {
				c.Command = c.cmd.String()
			}
			r.logf("%s %s: run %d/%d: %s", c.Scenario, c.ID, rep, c.reps, c.cmd)
			logBase := filepath.Join(r.logs, fmt.Sprintf("%s-%s-%d", c.Scenario, c.ID, rep))
			var m Measure
			var out string
			var err error
			if c.runFn != nil {
				m, out, err = c.runFn(logBase)
			} else {
				m, out, err = r.runCmd(c.cmd, logBase, c.timeout)
			}
			if err != nil {
				c.Error = err.Error()
				r.logf("  FAILED: %v", err)
				continue
			}
			if rep == 1 {
				c.stdout = out
			}
			c.Runs = append(c.Runs, m)
			r.logf("  %s", fmtMeasure(m))
		}
		if rep == 1 && afterFirst != nil {
			afterFirst()
		}
	}
	for _, c := range cases {
		c.finish()
	}
}

func (c *Case) finish() {
	if len(c.Runs) == 0 {
		return
	}
	c.Median = Measure{
		Wall:    median(c.Runs, func(m Measure) float64 { return m.Wall }),
		User:    median(c.Runs, func(m Measure) float64 { return m.User }),
		Sys:     median(c.Runs, func(m Measure) float64 { return m.Sys }),
		MaxRSSK: int64(median(c.Runs, func(m Measure) float64 { return float64(m.MaxRSSK) })),
	}
	if c.Events > 0 && c.Median.Wall > 0 {
		c.EvPerS = float64(c.Events) / c.Median.Wall
	}
	if c.Bytes > 0 && c.Median.Wall > 0 {
		c.MBPerS = float64(c.Bytes) / 1e6 / c.Median.Wall
	}
}

func median(ms []Measure, f func(Measure) float64) float64 {
	v := make([]float64, len(ms))
	for i, m := range ms {
		v[i] = f(m)
	}
	return medianOf(v)
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = append([]float64(nil), v...)
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// percentile is the nearest-rank percentile of v (p in 0..100).
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = append([]float64(nil), v...)
	sort.Float64s(v)
	k := int(p/100*float64(len(v))+0.999999) - 1
	return v[min(max(k, 0), len(v)-1)]
}

func fmtMeasure(m Measure) string {
	return fmt.Sprintf("wall %.2fs cpu %.2fs (user %.2f sys %.2f) peak RSS %d MiB", m.Wall, m.CPU(), m.User, m.Sys, m.MaxRSSK/1024)
}

// kv parses "a=1 b=2" (the last line that has an '=').
func kv(out string) map[string]string {
	res := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				res[k] = v
			}
		}
	}
	return res
}

func kvFloat(m map[string]string, k string) (float64, error) {
	s, ok := m[k]
	if !ok {
		return 0, errors.New("no " + k + " in output")
	}
	return strconv.ParseFloat(s, 64)
}
