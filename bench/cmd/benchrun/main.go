// Command benchrun runs topspeed and Apache Flink 1.20.3 side by side on the
// same inputs and writes the report: bench/run (make bench, make
// bench-quick) starts it. See bench/README.md for the scenarios and the
// method.
//
//	benchrun [-quick] [-only S1,S2,...] [-work DIR] [-keep] [-results DIR] [-readme FILE]
//
// Full mode writes bench/results/<date>.md, <date>.json and <date>-s*.png
// and updates the summary block of bench/README.md. Quick mode uses small
// inputs and one repetition of the slow runs, writes its report into the
// work directory only and prints one line per scenario whose last field is
// the scenario's headline ratio.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type runner struct {
	root, work, logs, bin, outs string
	quick, keep                 bool
	flinkLib, flinkClasses      string
	flinkVersion                string
	javaOpts                    []string // bench/flink/jdk17.opts
	rep                         *Report
	logFile                     io.Writer
	localServers                []localServer // localServers; tests give fakes
}

// Report is everything one run of benchrun measured; the .json file.
type Report struct {
	Date     string              `json:"date"`
	Started  time.Time           `json:"started"`
	Finished time.Time           `json:"finished"`
	Mode     string              `json:"mode"`
	Machine  Machine             `json:"machine"`
	Settings map[string]string   `json:"settings"`
	Cases    []*Case             `json:"cases"`
	Ratios   []Ratio             `json:"ratios"`
	Failover *Failover           `json:"failover,omitempty"`
	S4       *S4                 `json:"s4,omitempty"`
	S8       *S8                 `json:"s8,omitempty"`
	Notes    map[string][]string `json:"notes"`
	Errors   []string            `json:"errors,omitempty"`
}

// Machine describes where the numbers were taken.
type Machine struct {
	CPUs      int     `json:"cpus"`
	CPUModel  string  `json:"cpu_model"`
	MemGiB    float64 `json:"mem_gib"`
	Kernel    string  `json:"kernel"`
	Java      string  `json:"java"`
	Go        string  `json:"go"`
	Flink     string  `json:"flink"`
	LoadStart string  `json:"load_start"`
	LoadEnd   string  `json:"load_end"`
}

// Ratio is one comparison; Headline marks the scenario's quick line.
type Ratio struct {
	Scenario string  `json:"scenario"`
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Detail   string  `json:"detail,omitempty"`
	Headline bool    `json:"headline,omitempty"`
	Quick    string  `json:"quick,omitempty"` // the quick line without the value
}

// Failover is S5: TestHAFailover's failover and handover times.
type Failover struct {
	Runs       int       `json:"runs"`
	Passed     int       `json:"passed"`
	FailoverMS []float64 `json:"failover_ms"`
	HandoverMS []float64 `json:"handover_ms"`
	P50        float64   `json:"p50_ms"`
	P99        float64   `json:"p99_ms"`
	Max        float64   `json:"max_ms"`
	HandP50    float64   `json:"handover_p50"`
	HandMax    float64   `json:"handover_max"`
	Command    string    `json:"command"`
	Errors     []string  `json:"errors,omitempty"`
}

// S4 is what bench/cassandra/run.sh reported (or the README's last record).
type S4 struct {
	Ran     bool    `json:"ran"`
	Ratio   float64 `json:"ratio_sink_vs_flink"`
	Label   string  `json:"label,omitempty"`
	Source  string  `json:"source"`
	Command string  `json:"command,omitempty"`
	Error   string  `json:"error,omitempty"`
	Report  string  `json:"report,omitempty"` // run.sh's markdown, when it ran
}

func main() {
	quick := flag.Bool("quick", false, "small inputs, one repetition of the slow runs; print one line per scenario")
	only := flag.String("only", "S1,S2,S3,S4,S5,S6,S7,S8", "scenarios to run")
	work := flag.String("work", "", "work directory for inputs, outputs and logs (default: a new temp dir, removed at the end unless -keep)")
	keep := flag.Bool("keep", false, "keep the work directory (and S6's large inputs and outputs)")
	results := flag.String("results", "bench/results", "where full runs write <date>.md, .json and plots")
	readme := flag.String("readme", "bench/README.md", "README whose summary block a full run updates (empty: none)")
	render := flag.String("render", "", "only rewrite the .md, the plots and the README summary of an earlier run from its .json")
	flag.Parse()

	root, err := os.Getwd()
	check(err)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		fatalf("run from the repository root (bench/run does)")
	}
	r := &runner{root: root, quick: *quick, keep: *keep, localServers: localServers}
	cleanup := func() {}
	if *render != "" {
		if err := r.rerender(*render, *readme); err != nil {
			fatalf("%v", err)
		}
		return
	}
	if *work == "" {
		r.work, err = os.MkdirTemp("", "topspeed-bench.")
		check(err)
		if !*keep {
			dir := r.work
			cleanup = func() { os.RemoveAll(dir) }
			defer cleanup()
		}
	} else {
		r.work, err = filepath.Abs(*work)
		check(err)
	}
	r.logs = filepath.Join(r.work, "logs")
	r.bin = filepath.Join(r.work, "bin")
	r.outs = filepath.Join(r.work, "out")
	for _, d := range []string{r.logs, r.bin, r.outs, filepath.Join(r.work, "in")} {
		check(os.MkdirAll(d, 0o755))
	}
	lf, err := os.Create(filepath.Join(r.logs, "benchrun.log"))
	check(err)
	defer lf.Close()
	r.logFile = lf

	mode := "full"
	if *quick {
		mode = "quick"
	}
	now := time.Now().UTC()
	r.rep = &Report{Date: now.Format("2006-01-02"), Started: now, Mode: mode, Settings: map[string]string{}, Notes: map[string][]string{}}
	r.logf("benchrun %s mode, work dir %s", mode, r.work)
	r.machine()
	if err := r.build(); err != nil {
		fatalf("build: %v", err)
	}

	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		want[strings.ToUpper(strings.TrimSpace(s))] = true
	}
	scen := []struct {
		id string
		fn func() error
	}{{"S1", r.s1}, {"S2", r.s2}, {"S3", r.s3}, {"S4", r.s4}, {"S5", r.s5}, {"S6", r.s6}, {"S7", r.s7}, {"S8", r.s8}}
	serversBefore := r.serversRunning()
	for i, s := range scen {
		if !want[s.id] {
			continue
		}
		t0 := time.Now()
		r.logf("=== %s", s.id)
		if err := s.fn(); err != nil {
			r.rep.Errors = append(r.rep.Errors, s.id+": "+err.Error())
			r.logf("%s FAILED: %v", s.id, err)
		}
		r.logf("=== %s done in %v", s.id, time.Since(t0).Round(time.Second))
		var left []string
		for _, l := range scen[i+1:] {
			if want[l.id] {
				left = append(left, l.id)
			}
		}
		r.stopServersDone(serversBefore, left)
	}
	r.rep.Finished = time.Now().UTC()
	r.rep.Machine.LoadEnd = loadavg()

	outDir := filepath.Join(root, *results)
	if *quick {
		outDir = filepath.Join(r.work, "results")
	}
	check(os.MkdirAll(outDir, 0o755))
	base := filepath.Join(outDir, r.rep.Date)
	if *quick {
		base = filepath.Join(outDir, r.rep.Date+"-quick")
	}
	js, err := json.MarshalIndent(r.rep, "", "  ")
	check(err)
	check(os.WriteFile(base+".json", append(js, '\n'), 0o644))
	plots := r.plot(base)
	md := r.markdown(filepath.Base(base), plots)
	check(os.WriteFile(base+".md", []byte(md), 0o644))
	r.logf("wrote %s.md, %s.json and %d plots", base, base, len(plots))
	if !*quick && *readme != "" {
		if err := r.updateReadme(filepath.Join(root, *readme), filepath.Base(base), plots); err != nil {
			r.logf("README not updated: %v", err)
		} else {
			r.logf("updated the summary in %s", *readme)
		}
	}
	for _, l := range r.quickLines() {
		fmt.Println(l)
	}
	if len(r.rep.Errors) > 0 {
		for _, e := range r.rep.Errors {
			fmt.Fprintln(os.Stderr, "benchrun: error:", e)
		}
		cleanup()
		os.Exit(1)
	}
}

// rerender rewrites an earlier run's report from its JSON.
func (r *runner) rerender(path, readme string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	r.rep = &Report{}
	if err := json.Unmarshal(b, r.rep); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "benchrun-render.")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	r.bin = dir
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "benchplot"), "./bench/plot")
	cmd.Dir = r.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./bench/plot: %v: %s", err, out)
	}
	base := strings.TrimSuffix(path, ".json")
	plots := r.plot(base)
	if err := os.WriteFile(base+".md", []byte(r.markdown(filepath.Base(base), plots)), 0o644); err != nil {
		return err
	}
	if r.rep.Mode == "full" && readme != "" {
		return r.updateReadme(filepath.Join(r.root, readme), filepath.Base(base), plots)
	}
	return nil
}

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "benchrun: "+format+"\n", a...)
	os.Exit(2)
}

func (r *runner) logf(format string, a ...any) {
	line := time.Now().UTC().Format("15:04:05 ") + fmt.Sprintf(format, a...)
	fmt.Fprintln(os.Stderr, line)
	if r.logFile != nil {
		fmt.Fprintln(r.logFile, line)
	}
}

func (r *runner) note(s, format string, a ...any) {
	r.rep.Notes[s] = append(r.rep.Notes[s], fmt.Sprintf(format, a...))
}

func (r *runner) warmNote(full string) string {
	if r.quick {
		return "quick mode: topspeed is warmed up, Flink is not"
	}
	return full
}

func (r *runner) pick(full, quick int64) int64 {
	if r.quick {
		return quick
	}
	return full
}

// envInt reads a positive integer override.
func envInt(name string, def int64) int64 {
	if s := os.Getenv(name); s != "" {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil && v > 0 {
			return v
		}
		fatalf("%s must be a positive integer, got %q", name, s)
	}
	return def
}

// ------------------------------------------------------------ setup

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func (r *runner) machine() {
	m := &r.rep.Machine
	m.CPUs = runtime.NumCPU()
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%f", &kb)
		m.MemGiB = math.Round(kb/1048576*10) / 10
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	m.Kernel = cmdOut("uname", "-sr")
	m.Java = strings.SplitN(cmdOut("java", "-version"), "\n", 2)[0]
	m.Go = strings.TrimPrefix(cmdOut("go", "version"), "go version ")
	b, err := os.ReadFile(filepath.Join(r.root, "bench/flink/pom.xml"))
	if err == nil {
		if mm := regexp.MustCompile(`<flink.version>([^<]+)</flink.version>`).FindSubmatch(b); mm != nil {
			r.flinkVersion = string(mm[1])
		}
	}
	m.Flink = r.flinkVersion
	m.LoadStart = loadavg()
	r.logf("machine: %d CPUs, %.1f GiB, %s; %s; go %s; Flink %s; load %s", m.CPUs, m.MemGiB, m.Kernel, m.Java, m.Go, m.Flink, m.LoadStart)
}

// build compiles the Go programs into the work dir, makes sure Flink's jars
// are cached, and compiles the S2 Flink job with javac against them.
func (r *runner) build() error {
	r.logf("building topspeed, wordcount, benchtool, geninputs, compare, benchplot")
	for _, b := range [][2]string{
		{"topspeed", "./cmd/topspeed"},
		{"wordcount", "./examples/wordcount"},
		{"benchtool", "./bench/cmd/benchtool"},
		{"geninputs", "./bench/parity/geninputs"},
		{"compare", "./bench/parity/compare"},
		{"benchplot", "./bench/plot"},
	} {
		if err := r.goTool("build", "-o", filepath.Join(r.bin, b[0]), b[1]); err != nil {
			return err
		}
	}
	r.logf("caching Flink's jars (bench/flink/run-topspeed.sh --deps)")
	cmd := exec.Command("bash", "bench/flink/run-topspeed.sh", "--deps")
	cmd.Dir = r.root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("run-topspeed.sh --deps: %v", err)
	}
	r.flinkLib = strings.TrimSpace(string(out))
	r.flinkClasses = filepath.Join(r.work, "flink-classes")
	if r.javaOpts, err = jdk17Opts(r.root); err != nil {
		return err
	}
	src := "bench/flink/src/main/java/org/topspeed/bench/"
	r.logf("javac %s{TopSpeedWindowingEvict,TunedEnv,TopSpeedTuned,WordCountTuned}.java", src)
	cmd = exec.Command("javac", "-nowarn", "-d", r.flinkClasses, "-cp", r.flinkLib+"/*",
		src+"TopSpeedWindowingEvict.java", src+"TunedEnv.java", src+"TopSpeedTuned.java", src+"WordCountTuned.java")
	cmd.Dir = r.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("javac: %v\n%s", err, out)
	}
	return nil
}

// jdk17Opts reads bench/flink/jdk17.opts, the JDK 17 options Flink needs
// (shared with bench/flink/run-topspeed.sh and bench/cassandra/run.sh).
func jdk17Opts(root string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(root, "bench/flink/jdk17.opts"))
	if err != nil {
		return nil, err
	}
	var opts []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			opts = append(opts, l)
		}
	}
	return opts, nil
}

// javaCmd runs a Flink program on a local mini-cluster in one JVM, with
// the JDK 17 options of flink-dist's config (as bench/flink/run-topspeed.sh).
func (r *runner) javaCmd(heap string, class string, args ...string) []string {
	c := append([]string{"java"}, r.javaOpts...)
	c = append(c,
		"-Xmx"+heap, "-XX:+UseG1GC",
		"-Dlog4j.configurationFile="+filepath.Join(r.root, "bench/flink/log4j2.properties"),
		"-Dtopspeed.flink.loglevel=WARN",
		"-Djava.io.tmpdir="+r.work, // not /tmp/flink-web-upload: the work dir goes with the run
		"-cp", r.flinkClasses+":"+r.flinkLib+"/*",
		class)
	return append(c, args...)
}

// javaTuned is javaCmd with the initial heap set to the maximum (-Xms =
// -Xmx, as Flink's own TaskManager start script does): the "Flink tuned"
// runs of S1 and S6 (bench/README.md, "Flink tuned").
func (r *runner) javaTuned(heap string, class string, args ...string) []string {
	c := r.javaCmd(heap, class, args...)
	for i, a := range c {
		if a == "-Xmx"+heap {
			return append(c[:i:i], append([]string{"-Xms" + heap}, c[i:]...)...)
		}
	}
	return c
}

// flinkTopSpeed is Flink's own TopSpeedWindowing through the parity harness.
func (r *runner) flinkTopSpeed(input, outDir, heap string) Cmd {
	return Cmd{Args: []string{"bash", filepath.Join(r.root, "bench/flink/run-topspeed.sh"), input, outDir},
		Env: []string{"FLINK_PARALLELISM=2", "FLINK_HEAP=" + heap}, OutDir: outDir}
}

func (r *runner) topspeed(input, out string, par int, extra ...string) Cmd {
	args := []string{filepath.Join(r.bin, "topspeed"), "--input", input, "--output", out, "--parallelism", strconv.Itoa(par), "--http-addr", ""}
	return Cmd{Args: append(args, extra...), Out: out}
}

// genCars writes (once per work dir) a generated car-report file.
func (r *runner) genCars(events, cars int64) (string, int64, error) {
	p := filepath.Join(r.work, "in", fmt.Sprintf("cars-%d-%d.txt", events, cars))
	if fi, err := os.Stat(p + ".ok"); err == nil && !fi.IsDir() {
		st, err := os.Stat(p)
		if err == nil {
			return p, st.Size(), nil
		}
	}
	r.logf("generating %s (%d events, %d cars)", filepath.Base(p), events, cars)
	cmd := exec.Command(filepath.Join(r.bin, "geninputs"), "-kind", "gen", "-o", p, "-events", strconv.FormatInt(events, 10), "-cars", strconv.FormatInt(cars, 10), "-seed", "1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", 0, fmt.Errorf("geninputs: %v: %s", err, out)
	}
	st, err := os.Stat(p)
	if err != nil {
		return "", 0, err
	}
	return p, st.Size(), os.WriteFile(p+".ok", nil, 0o644)
}

// compare runs bench/parity/compare on two outputs and returns its verdict.
func (r *runner) compare(a, b string) string {
	out, err := exec.Command(filepath.Join(r.bin, "compare"), a, b).CombinedOutput()
	s := strings.TrimSpace(string(out))
	s = strings.TrimPrefix(s, "compare: ")
	if i := strings.Index(s, " ("); i > 0 {
		s = s[:i]
	}
	if err != nil {
		return "DIFFERENT: " + lastLines(s, 2)
	}
	return s
}

func (r *runner) add(cs ...*Case) { r.rep.Cases = append(r.rep.Cases, cs...) }

func (r *runner) ratio(scenario, name string, num, den float64, detail string, headline bool, quick string) {
	if num <= 0 || den <= 0 || math.IsNaN(num/den) {
		return
	}
	r.rep.Ratios = append(r.rep.Ratios, Ratio{Scenario: scenario, Name: name, Value: num / den, Detail: detail, Headline: headline, Quick: quick})
}

func (r *runner) quickLines() []string {
	var lines []string
	for _, s := range []string{"S1", "S2", "S3", "S4", "S5", "S6", "S7"} {
		found := false
		for _, q := range r.rep.Ratios {
			if q.Scenario == s && q.Headline {
				lines = append(lines, fmt.Sprintf("%s %s %s", s, q.Quick, fmtRatio(q.Value)))
				found = true
			}
		}
		if !found {
			for _, e := range r.rep.Errors {
				if strings.HasPrefix(e, s+":") {
					lines = append(lines, fmt.Sprintf("%s FAILED (%s) ratio NaN", s, strings.TrimSpace(strings.TrimPrefix(e, s+":"))))
				}
			}
		}
	}
	return lines
}

func fmtRatio(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// ------------------------------------------------------------ S1

func (r *runner) s1() error {
	events := envInt("BENCH_S1_EVENTS", r.pick(10_000_000, 500_000))
	cars := int64(1000)
	in, size, err := r.genCars(events, cars)
	if err != nil {
		return err
	}
	small, _, err := r.genCars(1000, 10)
	if err != nil {
		return err
	}
	// Five Flink runs per configuration (two for the other scenarios): on
	// this shared machine Flink's runs of S1 differ by up to 30% (21.1 to
	// 28.2 s in one run of three), and the headline ratio rests on their
	// median. topspeed's runs take under a second and differ by up to 25%
	// (0.52 to 0.67 s in one run of five): eleven of them.
	slow, fast := int(r.pick(5, 1)), int(r.pick(11, 3))
	r.rep.Settings["S1"] = fmt.Sprintf("%d events, %d cars (geninputs -kind gen -seed 1), %.0f MB; topspeed/parse-only: warm-up + median of %d; Flink, the example's defaults and tuned: warm-up on 1,000 events + median of %d", events, cars, float64(size)/1e6, fast, slow)
	mk := func(id, label, engine string, c Cmd, warm *Cmd, reps int) *Case {
		return &Case{Scenario: "S1", ID: id, Label: label, Engine: engine, Events: events, Bytes: size, cmd: c, warmCmd: warm, reps: reps, timeout: 60 * time.Minute}
	}
	ts1 := r.topspeed(in, filepath.Join(r.outs, "s1-ts1.txt"), 1)
	ts2 := r.topspeed(in, filepath.Join(r.outs, "s1-ts2.txt"), 2)
	parse := Cmd{Args: []string{filepath.Join(r.bin, "benchtool"), "parse", "-input", in}}
	parse2 := Cmd{Args: []string{filepath.Join(r.bin, "benchtool"), "parse", "-input", in, "-workers", "2"}}
	fl := r.flinkTopSpeed(in, filepath.Join(r.outs, "s1-flink"), "2g")
	flWarm := r.flinkTopSpeed(small, filepath.Join(r.outs, "s1-flink-warm"), "2g")
	ft := r.flinkTopSpeedTuned(in, filepath.Join(r.outs, "s1-flink-tuned"))
	ftWarm := r.flinkTopSpeedTuned(small, filepath.Join(r.outs, "s1-flink-tuned-warm"))
	c1 := mk("topspeed-p1", "topspeed, parallelism 1", "topspeed", ts1, &ts1, fast)
	c2 := mk("topspeed-p2", "topspeed, parallelism 2", "topspeed", ts2, &ts2, fast)
	// The same command on one core: what the second core gives the whole
	// job (read, parse, window, format, write), beside what it gives the
	// parsing alone (parse-only-2).
	ts2one := r.topspeed(in, filepath.Join(r.outs, "s1-ts2-1core.txt"), 2)
	ts2one.Env = []string{"GOMAXPROCS=1"}
	c2one := mk("topspeed-p2-1core", "topspeed, parallelism 2, on one core (GOMAXPROCS=1)", "topspeed", ts2one, &ts2one, fast)
	cp := mk("parse-only", "parse only (read + parse on one core, no job)", "parse-only", parse, &parse, fast)
	cp2 := mk("parse-only-2", "parse only, the binary's parallel reader (source.ParallelLines, 2 workers), no job", "parse-only", parse2, &parse2, fast)
	// The job's pipeline with its window replaced by an operator that
	// drops every record: the most the job's ratio to parse-only could be
	// if the window and the output cost nothing.
	noWin := Cmd{Args: []string{filepath.Join(r.bin, "benchtool"), "nowindow", "-input", in, "-parallelism", "2"}}
	cnw := mk("no-window", "the job's pipeline without its window (parallel reader, key-group exchange, an operator dropping every record), p=2", "parse-only", noWin, &noWin, fast)
	cf := mk("flink-p2", "Flink TopSpeedWindowing, parallelism 2 (the example's defaults)", "flink", fl, &flWarm, slow)
	cf.Note = "warm-up = Flink on 1,000 events: JVM + mini-cluster start-up cost"
	ct := mk("flink-tuned", "Flink tuned, parallelism 2 (source p=1 feeding 2 window subtasks)", "flink", ft, &ftWarm, slow)
	ct.Note = "bench/flink/src/main/java/org/topspeed/bench/TopSpeedTuned.java: " + flinkTunedSummary
	cases := []*Case{c1, c2, c2one, cp, cp2, cnw, cf, ct}
	r.runCases(cases, func() {
		for _, p := range []struct {
			ts   *Case
			name string
		}{{c2, "topspeed p=2"}, {c1, "topspeed p=1"}, {c2one, "topspeed p=2 on one core"}} {
			for _, f := range []*Case{cf, ct} {
				if !p.ts.ok() || !f.ok() {
					continue
				}
				v := r.compare(p.ts.cmd.Out, f.cmd.OutDir)
				p.ts.Check = appendCheck(p.ts.Check, "vs "+f.ID+": "+v)
				if p.ts == c2 {
					f.Check = "vs " + p.name + ": " + v
				}
			}
		}
	})
	r.add(cases...)
	for _, c := range []*Case{cp, cp2, cnw} {
		if !c.ok() {
			continue
		}
		if v, err := kvFloat(kv(c.stdout), "events"); err != nil || int64(v) != events {
			c.Check = fmt.Sprintf("parsed %v events, want %d", v, events)
		} else {
			c.Check = fmt.Sprintf("parsed all %d events", events)
		}
	}
	if !c2.ok() || (!cf.ok() && !ct.ok()) {
		return errors.New("topspeed p=2 or both Flink runs did not run")
	}
	r.s1Ratios(c1, c2, cp, cf, ct)
	r.s1ParseRatio(cp, cp2, cnw)
	r.s1CoreRatio(c2, c2one)
	return nil
}

// flinkTunedSummary says what the "Flink tuned" runs change from the
// examples' defaults (bench/README.md, "Flink tuned", says why).
const flinkTunedSummary = "object reuse on; execution.buffer-timeout -1 (flush full buffers only); managed memory 0 (heap state backend); network memory 64 MiB; -Xms = -Xmx = 2g; G1; operator chaining on; STREAMING, no checkpoints (as the example)"

// flinkTopSpeedTuned is TopSpeedWindowing's pipeline on the tuned
// environment (bench/flink/.../TopSpeedTuned.java).
func (r *runner) flinkTopSpeedTuned(input, outDir string) Cmd {
	return Cmd{Args: r.javaTuned("2g", "org.topspeed.bench.TopSpeedTuned", "--input", input, "--output", outDir,
		"--parallelism", "2", "--source-parallelism", "1"), OutDir: outDir}
}

func appendCheck(s, add string) string {
	if s == "" {
		return add
	}
	return s + "; " + add
}

// s1Ratios records S1's ratios: the headline is topspeed p=2 against
// tuned Flink, the untuned ratio next to it.
func (r *runner) s1Ratios(c1, c2, cp, cf, ct *Case) {
	perM := func(c *Case) float64 { return c.Median.CPU() / (float64(c.Events) / 1e6) }
	if ct.ok() {
		r.ratio("S1", "events/s, topspeed p=2 / Flink tuned", c2.EvPerS, ct.EvPerS, "", true, "engine topspeed/flink-tuned events/s ratio")
		if c1.ok() {
			r.ratio("S1", "events/s, topspeed p=1 / Flink tuned", c1.EvPerS, ct.EvPerS, "", false, "")
		}
		r.ratio("S1", "CPU seconds per million events, Flink tuned / topspeed p=2", perM(ct), perM(c2),
			fmt.Sprintf("%.3f vs %.2f CPU s per million events", perM(c2), perM(ct)), false, "")
		r.ratio("S1", "peak RSS, Flink tuned / topspeed p=2", float64(ct.Median.MaxRSSK), float64(c2.Median.MaxRSSK), "", false, "")
	}
	if cf.ok() {
		r.ratio("S1", "events/s, topspeed p=2 / Flink p=2", c2.EvPerS, cf.EvPerS, "Flink's example with its defaults (untuned)", !ct.ok(), "engine topspeed/flink events/s ratio")
		if c1.ok() {
			r.ratio("S1", "events/s, topspeed p=1 / Flink p=2", c1.EvPerS, cf.EvPerS, "", false, "")
		}
		r.ratio("S1", "CPU seconds, Flink p=2 / topspeed p=2", cf.Median.CPU(), c2.Median.CPU(), "", false, "")
		r.ratio("S1", "peak RSS, Flink p=2 / topspeed p=2", float64(cf.Median.MaxRSSK), float64(c2.Median.MaxRSSK), "", false, "")
	}
	if cf.ok() && ct.ok() {
		r.ratio("S1", "events/s, Flink tuned / Flink's defaults", ct.EvPerS, cf.EvPerS, "what the tuning gained", false, "")
	}
	if cp.ok() {
		r.ratio("S1", "events/s, topspeed p=2 / parse-only", c2.EvPerS, cp.EvPerS, "1.0 = the job runs as fast as its input can be read and parsed on one core; goal >= 1.5 on 2 cores", false, "")
		if c1.ok() {
			r.ratio("S1", "events/s, topspeed p=1 / parse-only", c1.EvPerS, cp.EvPerS, "", false, "")
		}
	}
	if c1.ok() {
		r.ratio("S1", "events/s, topspeed p=2 / p=1", c2.EvPerS, c1.EvPerS, "what the second keyed subtask gained on the same file", false, "")
	}
	for _, f := range []*Case{cf, ct} {
		if f.ok() && f.Warmup != nil && f.Median.Wall > f.Warmup.Wall {
			net := float64(f.Events) / (f.Median.Wall - f.Warmup.Wall)
			name := "Flink p=2"
			if f == ct {
				name = "Flink tuned"
			}
			r.ratio("S1", "events/s, topspeed p=2 / "+name+" without Flink's start-up", c2.EvPerS, net,
				fmt.Sprintf("Flink's rate over its wall time minus its 1,000-event run (%.1f s)", f.Warmup.Wall), false, "")
		}
	}
}

// s1ParseRatio records what the parallel reader gains over one parsing
// core, parse only (no job): item 1 of the throughput issue.
func (r *runner) s1ParseRatio(cp, cp2, cnw *Case) {
	if cp.ok() && cp2.ok() {
		r.ratio("S1", "events/s, parse-only on 2 cores (parallel reader) / on one core", cp2.EvPerS, cp.EvPerS,
			"what ordered parallel parsing gains on 2 cores (goal >= 1.5: two cores parse about twice what one does)", false, "")
	}
	if cp.ok() && cnw.ok() {
		r.ratio("S1", "events/s, the pipeline without its window / parse-only", cnw.EvPerS, cp.EvPerS,
			"the bound on topspeed p=2 / parse-only: the job's pipeline at p=2 with the window and the output left out", false, "")
	}
}

// s1CoreRatio records what the second core gives the whole job: the
// same command with GOMAXPROCS=1 against the default 2.
func (r *runner) s1CoreRatio(c2, c2one *Case) {
	if c2.ok() && c2one.ok() {
		r.ratio("S1", "events/s, topspeed p=2 on 2 cores / the same on one core", c2.EvPerS, c2one.EvPerS,
			"what the second core gives the whole job: read, parse, window, format, write (GOMAXPROCS=1 against the default 2)", false, "")
	}
}

// ------------------------------------------------------------ S2

var s2Evicts = []struct {
	name string
	d    time.Duration
}{{"10s", 10 * time.Second}, {"1m", time.Minute}, {"10m", 10 * time.Minute}}

func (r *runner) s2() error {
	events := envInt("BENCH_S2_EVENTS", r.pick(1_000_000, 100_000))
	cars := envInt("BENCH_S2_CARS", r.pick(100, 10))
	in, size, err := r.genCars(events, cars)
	if err != nil {
		return err
	}
	slow := int(r.pick(2, 1))
	span := float64(events/cars) * 0.1
	r.rep.Settings["S2"] = fmt.Sprintf("%d events, %d cars (%d reports per car, one every 100 ms: %.0f s of event time per car); evict 10 s, 1 min, 10 min; topspeed: median of 3; Flink (TopSpeedWindowingEvict): median of %d; %s", events, cars, events/cars, span, slow, r.warmNote("the first setting of each engine is warmed up"))
	var cases []*Case
	type pair struct{ ts, fl *Case }
	var pairs []pair
	for i, e := range s2Evicts {
		ts := r.topspeed(in, filepath.Join(r.outs, "s2-ts-"+e.name+".txt"), 2, "--evict", e.name)
		fl := Cmd{Args: r.javaCmd("2g", "org.topspeed.bench.TopSpeedWindowingEvict", "--input", in, "--output", filepath.Join(r.outs, "s2-flink-"+e.name),
			"--evict-ms", strconv.FormatInt(e.d.Milliseconds(), 10), "--state-sample", "32"), OutDir: filepath.Join(r.outs, "s2-flink-"+e.name)}
		ct := &Case{Scenario: "S2", ID: "topspeed-" + e.name, Label: "topspeed, evict " + e.name, Engine: "topspeed", Param: "evict=" + e.name, X: e.d.Seconds(),
			Events: events, Bytes: size, cmd: ts, reps: 3, timeout: 30 * time.Minute}
		cf := &Case{Scenario: "S2", ID: "flink-" + e.name, Label: "Flink, evict " + e.name, Engine: "flink", Param: "evict=" + e.name, X: e.d.Seconds(),
			Events: events, Bytes: size, cmd: fl, reps: slow, timeout: 60 * time.Minute}
		if i == 0 {
			ct.warmCmd = &ts
			if !r.quick { // quick: no Flink warm-up (it costs as much as the run)
				cf.warmCmd = &fl
			}
		}
		cases = append(cases, ct, cf)
		pairs = append(pairs, pair{ct, cf})
	}
	r.runCases(cases, func() {
		for _, p := range pairs {
			if p.ts.ok() && p.fl.ok() {
				p.ts.Check = "vs Flink: " + r.compare(p.ts.cmd.Out, p.fl.cmd.OutDir)
				p.fl.Check = "vs topspeed: " + strings.TrimPrefix(p.ts.Check, "vs Flink: ")
			}
		}
	})
	r.add(cases...)
	// State sizes: topspeed's operators after the input (benchtool state),
	// Flink's sampled window contents from its first run.
	for i, e := range s2Evicts {
		p := pairs[i]
		m, out, err := r.runCmd(Cmd{Args: []string{filepath.Join(r.bin, "benchtool"), "state", "-input", in, "-evict", e.name, "-parallelism", "2"}},
			filepath.Join(r.logs, "S2-state-"+e.name), 30*time.Minute)
		if err != nil {
			p.ts.Error = "state: " + err.Error()
			continue
		}
		kvs := kv(out)
		p.ts.State = map[string]float64{}
		for _, k := range []string{"keys", "retained", "checkpoint_bytes", "heap_inuse_bytes"} {
			if v, err := kvFloat(kvs, k); err == nil {
				p.ts.State[k] = v
			}
		}
		r.logf("S2 state evict %s: %s (%s)", e.name, strings.TrimSpace(out), fmtMeasure(m))
		if p.fl.ok() {
			fk := kv(p.fl.stdout)
			p.fl.State = map[string]float64{}
			if v, err := kvFloat(fk, "sampled_elements"); err == nil {
				p.fl.State["elements"] = v
			}
			if v, err := kvFloat(fk, "cars"); err == nil {
				p.fl.State["keys"] = v
			}
			if v, err := kvFloat(fk, "job_seconds"); err == nil {
				p.fl.State["job_seconds"] = v
			}
		}
	}
	for i, e := range s2Evicts {
		p := pairs[i]
		if !p.ts.ok() || !p.fl.ok() {
			continue
		}
		last := i == len(s2Evicts)-1
		q := ""
		if last {
			q = "window-length evict=" + e.name + " topspeed/flink events/s ratio"
		}
		r.ratio("S2", "events/s, topspeed / Flink, evict "+e.name, p.ts.EvPerS, p.fl.EvPerS, "", last, q)
		if p.fl.State != nil && p.ts.State != nil {
			r.ratio("S2", "elements held, Flink / topspeed, evict "+e.name, p.fl.State["elements"], p.ts.State["retained"], "", false, "")
		}
	}
	r.note("S2", "Flink's example hard-codes TimeEvictor.of(10 s); S2 runs bench/flink/src/main/java/org/topspeed/bench/TopSpeedWindowingEvict.java, the same job with the evictor's size as a flag (at 10 s its output is checked equal to topspeed's, as at 1 min and 10 min).")
	r.note("S2", "Flink's state: GlobalWindows + an evictor keep every element until a firing evicts it; the job wraps Flink's TimeEvictor and, at a random 1 in 32 firings, counts the window's elements after eviction (the last count per car, summed). topspeed's: window.DeltaTimeMax Retained() (deque/heap entries) after the input, from benchtool state, and the bytes its OnCheckpoint writes.")
	return nil
}

// ------------------------------------------------------------ S3

func (r *runner) s3() error {
	carsList := []int64{10, 1000, 100_000, 1_000_000}
	minEvents, perCar := int64(1_000_000), int64(5)
	slow := int(r.pick(2, 1))
	if r.quick {
		carsList = []int64{1000, 50_000}
		minEvents = 100_000
	}
	r.rep.Settings["S3"] = fmt.Sprintf("cars %v; events = max(%d, %d × cars) per file (geninputs -kind gen: all cars report every 100 ms of event time); topspeed p=2: median of 3; Flink p=2 (its own TopSpeedWindowing): median of %d, -Xmx2g (4g at 1M cars); %s", carsList, minEvents, perCar, slow, r.warmNote("warm-up: each engine once on the first file"))
	var cases []*Case
	type pair struct{ ts, fl *Case }
	var pairs []pair
	for i, cars := range carsList {
		events := max(minEvents, perCar*cars)
		in, size, err := r.genCars(events, cars)
		if err != nil {
			return err
		}
		heap := "2g"
		if cars >= 1_000_000 {
			heap = "4g"
		}
		name := strconv.FormatInt(cars, 10)
		ts := r.topspeed(in, filepath.Join(r.outs, "s3-ts-"+name+".txt"), 2)
		fl := r.flinkTopSpeed(in, filepath.Join(r.outs, "s3-flink-"+name), heap)
		ct := &Case{Scenario: "S3", ID: "topspeed-" + name, Label: "topspeed, " + name + " cars", Engine: "topspeed", Param: "cars=" + name, X: float64(cars),
			Events: events, Bytes: size, cmd: ts, reps: 3, timeout: 30 * time.Minute}
		cf := &Case{Scenario: "S3", ID: "flink-" + name, Label: "Flink, " + name + " cars", Engine: "flink", Param: "cars=" + name, X: float64(cars),
			Events: events, Bytes: size, cmd: fl, reps: slow, timeout: 60 * time.Minute}
		if i == 0 {
			ct.warmCmd = &ts
			if !r.quick { // quick: no Flink warm-up (it costs as much as the run)
				cf.warmCmd = &fl
			}
		}
		cases = append(cases, ct, cf)
		pairs = append(pairs, pair{ct, cf})
	}
	r.runCases(cases, func() {
		for _, p := range pairs {
			if p.ts.ok() && p.fl.ok() {
				p.ts.Check = "vs Flink: " + r.compare(p.ts.cmd.Out, p.fl.cmd.OutDir)
				p.fl.Check = "vs topspeed: " + strings.TrimPrefix(p.ts.Check, "vs Flink: ")
			}
		}
	})
	r.add(cases...)
	for i, p := range pairs {
		if !p.ts.ok() || !p.fl.ok() {
			continue
		}
		last := i == len(pairs)-1
		q := ""
		if last {
			q = "keys cars=" + strconv.FormatInt(carsList[i], 10) + " topspeed/flink events/s ratio"
		}
		r.ratio("S3", "events/s, topspeed / Flink, "+strconv.FormatInt(carsList[i], 10)+" cars", p.ts.EvPerS, p.fl.EvPerS, "", last, q)
	}
	return nil
}

// ------------------------------------------------------------ S4

// s4Ratios are the ratios of bench/cassandra/run.sh's report, in order of
// preference: the Flink job's CassandraSink with the connector's defaults
// (d), or, when (d) failed, the same job with a bounded sink (d*).
var s4Ratios = []struct {
	re    *regexp.Regexp
	label string
}{
	{regexp.MustCompile(`\(a\)/\(d\)[^*\n]*\*\*([0-9.]+)\*\*`), "rows/s, topspeed's sink / the Flink job's CassandraSink, connector defaults ((a)/(d))"},
	{regexp.MustCompile(`\(a\)/\(d\*\)[^*\n]*\*\*([0-9.]+)\*\*`), "rows/s, topspeed's sink / the Flink job's bounded CassandraSink ((a)/(d*); (d) with the connector's defaults failed)"},
}

// s4Ratio finds the preferred ratio in run.sh's markdown.
func s4Ratio(md string) (float64, string, bool) {
	for _, x := range s4Ratios {
		if m := x.re.FindStringSubmatch(md); m != nil {
			v, err := strconv.ParseFloat(m[1], 64)
			if err == nil {
				return v, x.label, true
			}
		}
	}
	return 0, "", false
}

func (r *runner) s4() error {
	script := filepath.Join(r.root, "bench/cassandra/run.sh")
	readme := filepath.Join(r.root, "bench/README.md")
	fromReadme := func(why string) error {
		b, err := os.ReadFile(readme)
		if err != nil {
			return err
		}
		v, label, ok := s4Ratio(string(b))
		if !ok {
			return errors.New("no S4 ratio (a)/(d) or (a)/(d*) recorded in bench/README.md")
		}
		r.rep.S4 = &S4{Ratio: v, Label: label, Source: "bench/README.md, section S4 (" + why + ")"}
		r.ratio("S4", label, v, 1, "recorded by bench/cassandra/run.sh in bench/README.md; "+why, true, "cassandra-sink topspeed/flink rows/s (recorded in bench/README.md S4, "+why+") ratio")
		return nil
	}
	if _, err := os.Stat(script); err != nil {
		return fromReadme("bench/cassandra/run.sh not found")
	}
	if r.quick || os.Getenv("BENCH_S4") == "0" {
		return fromReadme("not re-run: make bench-sink takes ~10 min")
	}
	rounds := strconv.FormatInt(envInt("BENCH_S4_ROUNDS", 1), 10)
	c := Cmd{Args: []string{"bash", "bench/cassandra/run.sh"}, Env: []string{"S4_ROUNDS=" + rounds, "S4_README=0", "GO=go"}}
	r.logf("S4: %s", c)
	m, out, err := r.runCmd(c, filepath.Join(r.logs, "S4"), 60*time.Minute)
	r.rep.S4 = &S4{Ran: true, Command: c.String(), Source: "this run (" + c.String() + ")"}
	if err != nil {
		r.rep.S4.Error = err.Error()
		return fmt.Errorf("bench/cassandra/run.sh: %v", err)
	}
	r.logf("S4 done: %s", fmtMeasure(m))
	_ = os.WriteFile(filepath.Join(r.logs, "S4.md"), []byte(out), 0o644)
	r.rep.S4.Report = strings.TrimSpace(out)
	v, label, ok := s4Ratio(out)
	if !ok {
		r.rep.S4.Error = "no (a)/(d) or (a)/(d*) ratio in its output"
		return errors.New("bench/cassandra/run.sh printed no (a)/(d) or (a)/(d*) ratio (see logs/S4.md)")
	}
	r.rep.S4.Ratio, r.rep.S4.Label = v, label
	r.ratio("S4", label, v, 1, "bench/cassandra/run.sh, S4_ROUNDS="+rounds, true, "cassandra-sink topspeed/flink rows/s ratio")
	return nil
}

// ------------------------------------------------------------ S5

// flinkFailoverFloorMS is the documented floor of Flink's JobManager
// failover with Kubernetes HA: a standby takes over only once the leader's
// lease has expired (high-availability.kubernetes.leader-election.lease-duration,
// default 15 s).
const flinkFailoverFloorMS = 15000

func (r *runner) s5() error {
	runs := int(envInt("BENCH_S5_RUNS", r.pick(3, 1)))
	env, err := r.cassandraEnv()
	if err != nil {
		return err
	}
	f := &Failover{Runs: runs}
	r.rep.Failover = f
	for i := 1; i <= runs; i++ {
		report := filepath.Join(r.work, fmt.Sprintf("ha-report-%d.txt", i))
		_ = os.Remove(report)
		// Quick mode gives up after 3 minutes (a passing run takes ~70 s).
		timeout := time.Duration(r.pick(15, 3)) * time.Minute
		c := Cmd{Args: []string{"go", "test", "-count=1", "-timeout", timeout.String(), "-run", "^TestHAFailover$", "./cmd/topspeed"},
			Env: append([]string{"TOPSPEED_REQUIRE_SERVERS=1", "TOPSPEED_HA_REPORT=" + report}, env...)}
		f.Command = "eval \"$(make -s cassandra-up)\"; TOPSPEED_REQUIRE_SERVERS=1 TOPSPEED_HA_REPORT=FILE go test -count=1 -timeout " + timeout.String() + " -run '^TestHAFailover$' ./cmd/topspeed"
		r.logf("S5: run %d/%d: %s", i, runs, f.Command)
		m, out, err := r.runCmd(c, filepath.Join(r.logs, fmt.Sprintf("S5-%d", i)), timeout+time.Minute)
		if err != nil {
			msg := testFailure(out)
			f.Errors = append(f.Errors, fmt.Sprintf("run %d: %s (log: logs/S5-%d.out)", i, msg, i))
			r.logf("  FAILED: %s", msg)
			continue
		}
		r.logf("  %s", fmtMeasure(m))
		b, err := os.ReadFile(report)
		if err != nil {
			f.Errors = append(f.Errors, fmt.Sprintf("run %d: passed but wrote no report (%v)", i, err))
			continue
		}
		f.Passed++
		for _, line := range strings.Split(string(b), "\n") {
			fs := strings.Fields(line)
			if len(fs) == 0 {
				continue
			}
			for _, s := range fs[1:] {
				v, err := strconv.ParseFloat(s, 64)
				if err != nil {
					continue
				}
				switch fs[0] {
				case "failover_ms":
					f.FailoverMS = append(f.FailoverMS, v)
				case "handover_ms":
					f.HandoverMS = append(f.HandoverMS, v)
				}
			}
		}
	}
	if len(f.FailoverMS) == 0 {
		return fmt.Errorf("no failover measured (%d runs, %d passed): %s", runs, f.Passed, strings.Join(f.Errors, "; "))
	}
	f.P50, f.P99 = percentile(f.FailoverMS, 50), percentile(f.FailoverMS, 99)
	f.Max = percentile(f.FailoverMS, 100)
	f.HandP50, f.HandMax = percentile(f.HandoverMS, 50), percentile(f.HandoverMS, 100)
	r.ratio("S5", "failover, Flink's documented floor (15 s lease) / topspeed p50 after kill -9", flinkFailoverFloorMS, f.P50,
		"Flink: not measured; Kubernetes HA lease-duration 15 s, renew-deadline 15 s, retry-period 5 s", true, "failover flink-floor-15s/topspeed-p50 ratio")
	r.ratio("S5", "failover, Flink's documented floor / topspeed p99", flinkFailoverFloorMS, f.P99, "", false, "")
	return nil
}

// testFailure picks the lines that say why a go test run failed: the
// test's own failure messages and any panic of a replica, rather than the
// last lines of its log.
func testFailure(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "--- FAIL") || strings.Contains(t, "_test.go:") || strings.HasPrefix(t, "panic:") ||
			(strings.HasPrefix(t, "/") && strings.Contains(t, ".go:") && len(keep) > 0 && strings.HasPrefix(keep[len(keep)-1], "panic:")) {
			if len(t) > 200 {
				t = t[:200] + "..."
			}
			keep = append(keep, t)
		}
	}
	if len(keep) == 0 {
		return lastLines(out, 3)
	}
	if len(keep) > 8 {
		keep = keep[:8]
	}
	return strings.Join(keep, " / ")
}

// cassandraEnv starts the local Cassandra (make cassandra-up) and returns
// the variables it exports.
func (r *runner) cassandraEnv() ([]string, error) {
	cmd := exec.Command("bash", "scripts/cassandra/cassandra.sh", "up")
	cmd.Dir = r.root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("make cassandra-up: %v: %s", err, lastLines(stderr.String(), 3))
	}
	var env []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(k, "CASSANDRA_") {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		} else {
			v = strings.Trim(v, "'")
		}
		env = append(env, k+"="+v)
	}
	if len(env) == 0 {
		return nil, errors.New("make cassandra-up exported nothing")
	}
	return env, nil
}

// ------------------------------------------------------------ S6

// S6 sizes: the large text (BENCH_S6_MB, default 2 GB; 10240 for the
// seed's 10 GB) and the slice of it every engine runs on for the ratio.
const (
	s6DefaultMB = 2048
	s6SliceMB   = 1024
	s6MaxMB     = 100 * 1024
	// seedWordCountMin is the seed's WordCount (Table 4): Flink on a
	// text of more than 10 GB, parallelism 32 on 4 TaskManagers, 1 h 8 min,
	// on the seed's own cluster.
	seedWordCountMin = 68
)

// s6Text generates (once per work dir) mb MB of Zipf text; the same seed
// makes a smaller file a prefix of a larger one (one generator, stopped
// earlier), so the slice is the large text's first MB.
func (r *runner) s6Text(mb int64) (path string, words, size int64, err error) {
	path = filepath.Join(r.work, "in", fmt.Sprintf("zipf-%dmb.txt", mb))
	okFile := path + ".ok"
	if b, err := os.ReadFile(okFile); err == nil {
		if st, err := os.Stat(path); err == nil {
			w, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			return path, w, st.Size(), nil
		}
	}
	r.logf("S6: benchtool zipf -mb %d", mb)
	out, err := exec.Command(filepath.Join(r.bin, "benchtool"), "zipf", "-o", path, "-mb", strconv.FormatInt(mb, 10)).CombinedOutput()
	if err != nil {
		return "", 0, 0, fmt.Errorf("benchtool zipf: %v: %s", err, out)
	}
	v, err := kvFloat(kv(string(out)), "words")
	if err != nil {
		return "", 0, 0, fmt.Errorf("benchtool zipf: %v: %s", err, out)
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", 0, 0, err
	}
	return path, int64(v), st.Size(), os.WriteFile(okFile, []byte(strconv.FormatInt(int64(v), 10)), 0o644)
}

// checkDisk fails early when the work dir cannot hold S6's files: the
// text, its slice, and outputs of ~2.4 bytes per input byte (one
// "(word,count)" line per word) for the largest run and the slice's
// three runs.
func (r *runner) checkDisk(mb, sliceMB int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(r.work, &st); err != nil {
		return err
	}
	free := int64(st.Bavail) * int64(st.Bsize) / 1e6
	need := mb*7/2 + sliceMB*8 + 1000
	if sliceMB == mb {
		need = mb*8 + 1000
	}
	r.logf("S6: %d MB free in %s, need about %d MB", free, r.work, need)
	if free < need {
		return fmt.Errorf("S6 at %d MB needs about %d MB of disk in %s, %d MB free (BENCH_S6_MB sets the size)", mb, need, r.work, free)
	}
	return nil
}

func (r *runner) s6() error {
	mb := envInt("BENCH_S6_MB", r.pick(s6DefaultMB, 5))
	if mb > s6MaxMB {
		return fmt.Errorf("BENCH_S6_MB=%d: at most %d", mb, s6MaxMB)
	}
	sliceMB := min(mb, s6SliceMB)
	if err := r.checkDisk(mb, sliceMB); err != nil {
		return err
	}
	text, words, size, err := r.s6Text(mb)
	if err != nil {
		return err
	}
	slice, sliceWords, sliceSize := text, words, size
	if sliceMB < mb {
		if slice, sliceWords, sliceSize, err = r.s6Text(sliceMB); err != nil {
			return err
		}
	}
	small, _, _, err := r.s6Text(1)
	if err != nil {
		return err
	}
	defer r.dropS6(text, slice)
	largeReps := 3
	if mb > s6DefaultMB || r.quick {
		largeReps = 1
	}
	r.rep.Settings["S6"] = fmt.Sprintf("Zipf text (s = 1.1, 200,000-word vocabulary; benchtool zipf): S6-large = %d MB (%d words), topspeed only, %s; "+
		"the slice = its first %d MB (%d words), every engine, for the ratio: topspeed warm-up + median of 3, Flink's WordCount example with its defaults and Flink tuned: "+
		"one run each after a warm-up on 1 MB (a run of Flink on the slice takes ~10 min); all parallelism 2",
		mb, words, plural(largeReps, "run"), sliceMB, sliceWords)
	wc := func(in, out string) Cmd {
		return Cmd{Args: []string{filepath.Join(r.bin, "wordcount"), "--input", in, "--output", out, "--parallelism", "2", "--http-addr", "", "--log-level", "warn"}, Out: out}
	}
	flinkWC := func(in, out string) Cmd {
		return Cmd{Args: r.javaCmd("2g", "org.apache.flink.streaming.examples.wordcount.WordCount", "--input", in, "--output", out), OutDir: out}
	}
	flinkWCTuned := func(in, out string) Cmd {
		return Cmd{Args: r.javaTuned("2g", "org.topspeed.bench.WordCountTuned", "--input", in, "--output", out, "--parallelism", "2", "--source-parallelism", "1"), OutDir: out}
	}
	sl := fmt.Sprintf(", %d MB slice", sliceMB)
	goOut, flOut, ftOut := filepath.Join(r.outs, "s6-go.txt"), filepath.Join(r.outs, "s6-flink"), filepath.Join(r.outs, "s6-flink-tuned")
	gc, fc, tc := wc(slice, goOut), flinkWC(slice, flOut), flinkWCTuned(slice, ftOut)
	fw, tw := flinkWC(small, flOut+"-warm"), flinkWCTuned(small, ftOut+"-warm")
	lc := wc(text, filepath.Join(r.outs, "s6-go-large.txt"))
	cg := &Case{Scenario: "S6", ID: "wordcount-go", Label: "topspeed examples/wordcount" + sl, Engine: "topspeed", Events: sliceWords, Bytes: sliceSize, cmd: gc, warmCmd: &gc, reps: 3, timeout: 60 * time.Minute}
	cf := &Case{Scenario: "S6", ID: "wordcount-flink", Label: "Flink WordCount (the example's defaults)" + sl, Engine: "flink", Events: sliceWords, Bytes: sliceSize, cmd: fc, warmCmd: &fw, reps: 1, timeout: 120 * time.Minute}
	ct := &Case{Scenario: "S6", ID: "wordcount-flink-tuned", Label: "Flink tuned WordCount (source p=1, 2 counters)" + sl, Engine: "flink", Events: sliceWords, Bytes: sliceSize, cmd: tc, warmCmd: &tw, reps: 1, timeout: 120 * time.Minute,
		Note: "bench/flink/src/main/java/org/topspeed/bench/WordCountTuned.java: " + flinkTunedSummary}
	cl := &Case{Scenario: "S6", ID: "wordcount-go-large", Label: fmt.Sprintf("topspeed examples/wordcount, S6-large %d MB", mb), Engine: "topspeed", Events: words, Bytes: size, cmd: lc, reps: largeReps, timeout: 180 * time.Minute}
	if r.quick {
		cf.warmCmd, ct.warmCmd = nil, nil
	}
	cases := []*Case{cg, cf, ct}
	if sliceMB < mb {
		cases = append(cases, cl)
	}
	r.runCases(cases, func() { r.s6Check(cg, cf, ct, cl) })
	r.add(cases...)
	if !cg.ok() || (!cf.ok() && !ct.ok()) {
		return errors.New("a WordCount run failed")
	}
	r.s6Ratios(cg, cf, ct, cl)
	return nil
}

// s6Check compares every Flink output with topspeed's on the slice, and
// the large run's record count with its words, then removes the outputs
// the later repetitions do not overwrite (disk).
func (r *runner) s6Check(cg, cf, ct, cl *Case) {
	for _, f := range []*Case{cf, ct} {
		if !cg.ok() || !f.ok() {
			continue
		}
		out, err := exec.Command(filepath.Join(r.bin, "benchtool"), "wccheck", cg.cmd.Out, f.cmd.OutDir).CombinedOutput()
		v := strings.TrimSpace(string(out))
		if err != nil {
			v = "DIFFERENT: " + v
		}
		f.Check = "final count per word vs topspeed: " + v
		cg.Check = appendCheck(cg.Check, "vs "+f.ID+": "+v)
		if !r.keep {
			_ = os.RemoveAll(f.cmd.OutDir)
		}
	}
	if cl.ok() {
		if st, err := os.Stat(cl.cmd.Out); err == nil {
			cl.Check = fmt.Sprintf("exit 0, %d MB of output", st.Size()/1e6)
		}
	}
}

// dropS6 removes the large text and its outputs unless -keep: a 10 GB
// run writes ~30 GB.
func (r *runner) dropS6(text, slice string) {
	if r.keep {
		return
	}
	for _, p := range []string{text, text + ".ok", slice, slice + ".ok", filepath.Join(r.outs, "s6-go-large.txt"), filepath.Join(r.outs, "s6-go.txt")} {
		_ = os.Remove(p)
	}
	_ = os.RemoveAll(filepath.Join(r.outs, "s6-flink"))
	_ = os.RemoveAll(filepath.Join(r.outs, "s6-flink-tuned"))
}

// s6Ratios records S6's ratios (the headline against tuned Flink on the
// slice) and the minutes for 10 GB, measured and the seed's.
func (r *runner) s6Ratios(cg, cf, ct, cl *Case) {
	if ct.ok() {
		r.ratio("S6", "MB/s, topspeed wordcount / Flink tuned WordCount (same slice)", cg.MBPerS, ct.MBPerS, "", true, "wordcount topspeed/flink-tuned MB/s ratio")
		r.ratio("S6", "CPU seconds, Flink tuned / topspeed (same slice)", ct.Median.CPU(), cg.Median.CPU(), "", false, "")
	}
	if cf.ok() {
		r.ratio("S6", "MB/s, topspeed wordcount / Flink WordCount (same slice)", cg.MBPerS, cf.MBPerS, "Flink's example with its defaults (untuned)", !ct.ok(), "wordcount topspeed/flink MB/s ratio")
		r.ratio("S6", "CPU seconds, Flink / topspeed (same slice)", cf.Median.CPU(), cg.Median.CPU(), "", false, "")
		r.ratio("S6", "peak RSS, Flink / topspeed (same slice)", float64(cf.Median.MaxRSSK), float64(cg.Median.MaxRSSK), "", false, "")
	}
	big := cg
	if cl.ok() {
		big = cl
	}
	if big.MBPerS > 0 {
		min10 := 1e4 / big.MBPerS / 60
		r.note("S6", "10 GB (10,000 MB) at topspeed's %.1f MB/s on %.0f MB: %.1f min on this 2-core machine (goal <= 3 min, i.e. >= 55 MB/s). "+
			"The seed's figure, on a different machine: Flink, 10 GB, parallelism 32 on 4 TaskManagers, 1 h 8 min (%d min).", big.MBPerS, float64(big.Bytes)/1e6, min10, seedWordCountMin)
		r.ratio("S6", "minutes for 10 GB, the seed's Flink (a 4-TaskManager cluster, p=32) / topspeed here (2 cores)", seedWordCountMin, min10,
			"different machines: context, not a measurement of the same hardware", false, "")
	}
}
