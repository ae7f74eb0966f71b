package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	summaryBegin = "<!-- bench:summary:begin (written by bench/run) -->"
	summaryEnd   = "<!-- bench:summary:end -->"
)

// plot runs bench/plot on the report's JSON; it prints the files it wrote.
func (r *runner) plot(base string) []string {
	cmd := exec.Command(filepath.Join(r.bin, "benchplot"), "-json", base+".json", "-prefix", base)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.rep.Errors = append(r.rep.Errors, "plots: "+err.Error()+": "+lastLines(stderr.String(), 3))
		r.logf("plots FAILED: %v %s", err, stderr.String())
	}
	var files []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			files = append(files, filepath.Base(l))
		}
	}
	return files
}

func (r *runner) cases(s string) []*Case {
	var out []*Case
	for _, c := range r.rep.Cases {
		if c.Scenario == s {
			out = append(out, c)
		}
	}
	return out
}

func (r *runner) find(s, id string) *Case {
	for _, c := range r.rep.Cases {
		if c.Scenario == s && c.ID == id && c.ok() {
			return c
		}
	}
	return nil
}

func (r *runner) ratioOf(s, name string) (float64, bool) {
	for _, q := range r.rep.Ratios {
		if q.Scenario == s && q.Name == name {
			return q.Value, true
		}
	}
	return 0, false
}

// human formats a rate: 2.41 M, 70.3 k.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func mib(kb int64) string { return strconv.FormatInt(kb/1024, 10) }

func secs(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	if v >= 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return fmt.Sprintf("%d %ss", n, s)
}

// summaryS1 is S1's rows: the headline against tuned Flink, then the
// example's defaults, p=1, the parse-only ratios and the costs.
func (r *runner) summaryS1(row func(s, m, t, f string, v float64, ok bool)) {
	c2 := r.find("S1", "topspeed-p2")
	if c2 == nil {
		return
	}
	s := fmt.Sprintf("S1 engine (%s events, 1,000 cars)", human(float64(c2.Events)))
	c1, cp := r.find("S1", "topspeed-p1"), r.find("S1", "parse-only")
	perM := func(c *Case) string { return fmt.Sprintf("%.3f", c.Median.CPU()/(float64(c.Events)/1e6)) }
	for _, f := range []struct{ id, name, suffix string }{{"flink-tuned", "Flink tuned", "Flink tuned"}, {"flink-p2", "Flink's defaults", "Flink p=2"}} {
		cf := r.find("S1", f.id)
		if cf == nil {
			continue
		}
		v, ok := r.ratioOf("S1", "events/s, topspeed p=2 / "+f.suffix)
		row(s, "events/s, topspeed p=2 vs "+f.name, human(c2.EvPerS), human(cf.EvPerS), v, ok)
		if c1 != nil {
			v, ok := r.ratioOf("S1", "events/s, topspeed p=1 / "+f.suffix)
			row(s, "events/s, topspeed p=1 vs "+f.name, human(c1.EvPerS), human(cf.EvPerS), v, ok)
		}
	}
	if cp != nil {
		v, ok := r.ratioOf("S1", "events/s, topspeed p=2 / parse-only")
		row(s, "events/s p=2 vs parse-only on one core ("+human(cp.EvPerS)+"/s)", human(c2.EvPerS), "", v, ok)
		if c1 != nil {
			v, ok := r.ratioOf("S1", "events/s, topspeed p=1 / parse-only")
			row(s, "events/s p=1 vs parse-only on one core", human(c1.EvPerS), "", v, ok)
		}
		if cp2 := r.find("S1", "parse-only-2"); cp2 != nil {
			v, ok := r.ratioOf("S1", "events/s, parse-only on 2 cores (parallel reader) / on one core")
			row(s, "parse-only: parallel reader on 2 cores vs one core", human(cp2.EvPerS), "", v, ok)
		}
		if nw := r.find("S1", "no-window"); nw != nil {
			v, ok := r.ratioOf("S1", "events/s, the pipeline without its window / parse-only")
			row(s, "bound: the job's pipeline without its window vs parse-only on one core", human(nw.EvPerS), "", v, ok)
		}
	}
	if one := r.find("S1", "topspeed-p2-1core"); one != nil {
		v, ok := r.ratioOf("S1", "events/s, topspeed p=2 on 2 cores / the same on one core")
		row(s, "whole job: 2 cores vs one core (GOMAXPROCS=1, "+human(one.EvPerS)+"/s)", human(c2.EvPerS), "", v, ok)
	}
	if ct := r.find("S1", "flink-tuned"); ct != nil {
		v, ok := r.ratioOf("S1", "CPU seconds per million events, Flink tuned / topspeed p=2")
		row(s, "CPU s per million events (Flink tuned ÷ topspeed p=2)", perM(c2), perM(ct), v, ok)
		v, ok = r.ratioOf("S1", "peak RSS, Flink tuned / topspeed p=2")
		row(s, "peak RSS MiB (Flink tuned ÷ topspeed p=2)", mib(c2.Median.MaxRSSK), mib(ct.Median.MaxRSSK), v, ok)
	}
	if cf := r.find("S1", "flink-p2"); cf != nil {
		v, ok := r.ratioOf("S1", "CPU seconds, Flink p=2 / topspeed p=2")
		row(s, "CPU seconds (Flink's defaults ÷ topspeed p=2)", secs(c2.Median.CPU()), secs(cf.Median.CPU()), v, ok)
	}
}

// summaryS6 is S6's rows: MB/s on the slice against tuned Flink and the
// example's defaults, then S6-large and its minutes for 10 GB beside the
// seed's figure (a different machine).
func (r *runner) summaryS6(row func(s, m, t, f string, v float64, ok bool)) {
	cg := r.find("S6", "wordcount-go")
	if cg == nil {
		return
	}
	s := fmt.Sprintf("S6 WordCount (%.0f MB slice of the Zipf text)", float64(cg.Bytes)/1e6)
	if cf := r.find("S6", "wordcount-flink-tuned"); cf != nil {
		v, ok := r.ratioOf("S6", "MB/s, topspeed wordcount / Flink tuned WordCount (same slice)")
		row(s, "MB/s vs Flink tuned", fmt.Sprintf("%.1f", cg.MBPerS), fmt.Sprintf("%.2f", cf.MBPerS), v, ok)
	}
	if cf := r.find("S6", "wordcount-flink"); cf != nil {
		v, ok := r.ratioOf("S6", "MB/s, topspeed wordcount / Flink WordCount (same slice)")
		row(s, "MB/s vs Flink's defaults", fmt.Sprintf("%.1f", cg.MBPerS), fmt.Sprintf("%.2f", cf.MBPerS), v, ok)
		v, ok = r.ratioOf("S6", "CPU seconds, Flink / topspeed (same slice)")
		row(s, "CPU seconds (Flink's defaults ÷ topspeed)", secs(cg.Median.CPU()), secs(cf.Median.CPU()), v, ok)
	}
	big := cg
	if cl := r.find("S6", "wordcount-go-large"); cl != nil {
		big = cl
		row(fmt.Sprintf("S6-large WordCount (%.0f MB)", float64(cl.Bytes)/1e6), "MB/s (topspeed only)", fmt.Sprintf("%.1f", cl.MBPerS), "", 0, false)
	}
	if big.MBPerS > 0 {
		row("S6 WordCount, 10 GB", fmt.Sprintf("minutes for 10 GB (topspeed: 10,000 MB at the %.0f MB run's rate, 2 cores here; Flink: the seed's figure, p=32 on 4 TaskManagers, a different machine)", float64(big.Bytes)/1e6),
			fmt.Sprintf("%.1f", 1e4/big.MBPerS/60), fmt.Sprintf("%d (seed)", seedWordCountMin), 0, false)
	}
}

// summary is the table bench/README.md shows: per scenario, the measure,
// topspeed's and Flink's medians and the ratio, all from this run.
func (r *runner) summary() string {
	var b strings.Builder
	b.WriteString("| scenario | measure | topspeed | Flink 1.20.3 | ratio |\n| --- | --- | ---: | ---: | ---: |\n")
	row := func(s, m, t, f string, v float64, ok bool) {
		rs := "—"
		if ok {
			rs = "**" + fmtRatio(v) + "×**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", s, m, t, f, rs)
	}
	r.summaryS1(row)
	for _, e := range s2Evicts {
		ct, cf := r.find("S2", "topspeed-"+e.name), r.find("S2", "flink-"+e.name)
		if ct == nil || cf == nil {
			continue
		}
		s := "S2 window length, evict " + e.name
		v, ok := r.ratioOf("S2", "events/s, topspeed / Flink, evict "+e.name)
		row(s, "events/s", human(ct.EvPerS), human(cf.EvPerS), v, ok)
		if ct.State != nil && cf.State != nil {
			v, ok := r.ratioOf("S2", "elements held, Flink / topspeed, evict "+e.name)
			row(s, "elements held in state (Flink ÷ topspeed)", human(ct.State["retained"]), human(cf.State["elements"]), v, ok)
		}
	}
	for _, c := range r.cases("S3") {
		if c.Engine != "topspeed" || !c.ok() {
			continue
		}
		cf := r.find("S3", "flink-"+strings.TrimPrefix(c.ID, "topspeed-"))
		if cf == nil {
			continue
		}
		name := strings.TrimPrefix(c.ID, "topspeed-")
		v, ok := r.ratioOf("S3", "events/s, topspeed / Flink, "+name+" cars")
		row(fmt.Sprintf("S3 keys, %s cars (%s events)", human(c.X), human(float64(c.Events))), "events/s", human(c.EvPerS), human(cf.EvPerS), v, ok)
	}
	if s4 := r.rep.S4; s4 != nil && s4.Ratio > 0 {
		src := s4.Source
		if s4.Ran {
			src = "bench/cassandra/run.sh in this run"
			if m := regexp.MustCompile(`S4_ROUNDS=(\d+)`).FindStringSubmatch(s4.Command); m != nil {
				src += ", " + plural(atoi(m[1]), "round")
			}
		}
		label := s4.Label
		if label == "" {
			label = "rows/s, topspeed's sink / the Flink job's CassandraSink"
		}
		row("[S4 Cassandra sink](#s4-cassandra-sink)", label+" ("+src+")", "", "", s4.Ratio, true)
	}
	if f := r.rep.Failover; f != nil && len(f.FailoverMS) > 0 {
		v, ok := r.ratioOf("S5", "failover, Flink's documented floor (15 s lease) / topspeed p50 after kill -9")
		row(fmt.Sprintf("S5 failover (%s; %d of %s passed)", plural(len(f.FailoverMS), "kill"), f.Passed, plural(f.Runs, "test run")), "failover after kill -9, p50 / p99 / max ms",
			fmt.Sprintf("%.0f / %.0f / %.0f", f.P50, f.P99, f.Max), "≥ 15,000 (documented, not measured)", v, ok)
		row("S5 failover", "SIGTERM handover, p50 / max ms", fmt.Sprintf("%.0f / %.0f", f.HandP50, f.HandMax), "", 0, false)
	}
	r.summaryS6(row)
	r.summaryS7(row)
	r.summaryS8(row)
	return b.String()
}

func (r *runner) header() string {
	m := r.rep.Machine
	return fmt.Sprintf("Run %s (%s mode), %s to %s UTC (%v). Machine: %d CPUs (%s), %.1f GiB, %s; %s; %s; Flink %s (local mini-cluster, parallelism 2, G1). Load average %s at the start, %s at the end: the machine is shared, so compare the ratios (both engines measured in the same run, repetitions interleaved), not absolute numbers across runs.\n",
		r.rep.Date, r.rep.Mode, r.rep.Started.Format("15:04"), r.rep.Finished.Format("15:04"), r.rep.Finished.Sub(r.rep.Started).Round(time.Minute),
		m.CPUs, m.CPUModel, m.MemGiB, m.Kernel, m.Java, m.Go, m.Flink, m.LoadStart, m.LoadEnd)
}

func (r *runner) markdown(base string, plots []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks %s\n\n", r.rep.Date)
	cmd := "make bench"
	if r.rep.Mode == "quick" {
		cmd = "make bench-quick"
	}
	fmt.Fprintf(&b, "`%s` (bench/run). %s\nMethod and how to reproduce each number: [bench/README.md](../README.md). Raw numbers: [%s.json](%s.json).\n\n", cmd, r.header(), base, base)
	b.WriteString("## Summary\n\n")
	b.WriteString(r.summary())
	b.WriteString("\n")
	if errs := r.allErrors(); len(errs) > 0 {
		b.WriteString("**Failures in this run:**\n\n")
		for _, e := range errs {
			fmt.Fprintf(&b, "- %s\n", e)
		}
		b.WriteString("\n")
	}
	titles := map[string]string{"S1": "S1: engine", "S2": "S2: window length", "S3": "S3: number of keys", "S4": "S4: Cassandra sink", "S5": "S5: failover", "S6": "S6: WordCount", "S7": "S7: Kafka", "S8": "S8: hot path and checkpoints (topspeed only)"}
	for _, s := range []string{"S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"} {
		cs := r.cases(s)
		if len(cs) == 0 && !(s == "S4" && r.rep.S4 != nil) && !(s == "S5" && r.rep.Failover != nil) && !(s == "S8" && r.rep.S8 != nil) {
			continue
		}
		fmt.Fprintf(&b, "## %s\n\n", titles[s])
		if st := r.rep.Settings[s]; st != "" {
			fmt.Fprintf(&b, "%s.\n\n", st)
		}
		switch s {
		case "S4":
			s4 := r.rep.S4
			if s4.Error != "" {
				fmt.Fprintf(&b, "bench/cassandra/run.sh failed: %s\n\n", s4.Error)
			} else {
				fmt.Fprintf(&b, "From %s. What is measured: [bench/README.md, S4](../README.md#s4-cassandra-sink).\n\n", s4.Source)
				if s4.Report != "" {
					b.WriteString("bench/cassandra/run.sh's report of this run:\n\n")
					for _, l := range strings.Split(s4.Report, "\n") {
						if !strings.HasPrefix(l, "<!--") {
							b.WriteString("> " + l + "\n")
						}
					}
					b.WriteString("\n")
				}
			}
		case "S5":
			r.failoverMD(&b)
		case "S8":
			r.s8MD(&b)
		default:
			r.casesMD(&b, s, cs)
		}
		for _, q := range r.rep.Ratios {
			if q.Scenario == s {
				fmt.Fprintf(&b, "- %s: **%s**", q.Name, fmtRatio(q.Value))
				if q.Detail != "" {
					fmt.Fprintf(&b, " (%s)", q.Detail)
				}
				b.WriteString("\n")
			}
		}
		for _, n := range r.rep.Notes[s] {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
		for _, p := range plots {
			if strings.HasSuffix(p, "-"+strings.ToLower(s)+".png") || strings.Contains(p, "-"+strings.ToLower(s)+"-") {
				fmt.Fprintf(&b, "![%s](%s)\n\n", p, p)
			}
		}
	}
	b.WriteString("## Commands\n\n")
	for _, c := range r.rep.Cases {
		fmt.Fprintf(&b, "- %s %s: `%s`\n", c.Scenario, c.ID, c.Command)
	}
	if f := r.rep.Failover; f != nil {
		fmt.Fprintf(&b, "- S5: `%s`\n", f.Command)
	}
	if s4 := r.rep.S4; s4 != nil && s4.Command != "" {
		fmt.Fprintf(&b, "- S4: `%s`\n", s4.Command)
	}
	return b.String()
}

func (r *runner) casesMD(b *strings.Builder, s string, cs []*Case) {
	state := s == "S2"
	mb := s == "S6"
	b.WriteString("| run | wall s (median) | ")
	if mb {
		b.WriteString("MB/s | words/s | ")
	} else {
		b.WriteString("events/s | ")
	}
	b.WriteString("CPU s (user+sys) | peak RSS MiB | ")
	if state {
		b.WriteString("elements held | checkpoint KiB | ")
	}
	b.WriteString("wall s of each run | warm-up s | check |\n| --- | ---: | ")
	if mb {
		b.WriteString("---: | ---: | ")
	} else {
		b.WriteString("---: | ")
	}
	b.WriteString("---: | ---: | ")
	if state {
		b.WriteString("---: | ---: | ")
	}
	b.WriteString("--- | ---: | --- |\n")
	for _, c := range cs {
		if !c.ok() {
			fmt.Fprintf(b, "| %s | failed: %s |\n", c.Label, strings.ReplaceAll(c.Error, "|", "/"))
			continue
		}
		var runs []string
		for _, m := range c.Runs {
			runs = append(runs, secs(m.Wall))
		}
		fmt.Fprintf(b, "| %s | %s | ", c.Label, secs(c.Median.Wall))
		if mb {
			fmt.Fprintf(b, "%.2f | %s | ", c.MBPerS, human(c.EvPerS))
		} else {
			fmt.Fprintf(b, "%s | ", human(c.EvPerS))
		}
		fmt.Fprintf(b, "%s | %s | ", secs(c.Median.CPU()), mib(c.Median.MaxRSSK))
		if state {
			el, ck := "", ""
			if c.State != nil {
				if v, ok := c.State["retained"]; ok {
					el = fmt.Sprintf("%.0f (%.0f per car)", v, v/max(c.State["keys"], 1))
					ck = fmt.Sprintf("%.0f", c.State["checkpoint_bytes"]/1024)
				}
				if v, ok := c.State["elements"]; ok {
					el = fmt.Sprintf("%.0f (%.0f per car, sampled)", v, v/max(c.State["keys"], 1))
				}
			}
			fmt.Fprintf(b, "%s | %s | ", el, ck)
		}
		warm := ""
		if c.Warmup != nil {
			warm = secs(c.Warmup.Wall)
		}
		fmt.Fprintf(b, "%s | %s | %s |\n", strings.Join(runs, ", "), warm, c.Check)
	}
	b.WriteString("\n")
	for _, c := range cs {
		if c.Note != "" {
			fmt.Fprintf(b, "- %s: %s\n", c.Label, c.Note)
		}
	}
}

func (r *runner) failoverMD(b *strings.Builder) {
	f := r.rep.Failover
	fmt.Fprintf(b, "`%s`, %s (%d passed): 3 replicas on loopback, the leader killed with SIGKILL 10 times per run (and restarted), then a SIGTERM handover. Failover = from the kill to the first log line of the new leader.\n\n", f.Command, plural(f.Runs, "run"), f.Passed)
	if len(f.FailoverMS) > 0 {
		b.WriteString("| | samples | p50 ms | p99 ms | max ms |\n| --- | ---: | ---: | ---: | ---: |\n")
		fmt.Fprintf(b, "| topspeed failover after kill -9 | %d | %.0f | %.0f | %.0f |\n", len(f.FailoverMS), f.P50, f.P99, f.Max)
		fmt.Fprintf(b, "| topspeed SIGTERM handover | %d | %.0f | %.0f | %.0f |\n", len(f.HandoverMS), f.HandP50, percentile(f.HandoverMS, 99), f.HandMax)
		b.WriteString("| Flink JobManager HA on Kubernetes (documented: lease 15 s, renew 15 s, retry 5 s) | — | ≥ 15,000 | | |\n\n")
	}
	for _, e := range f.Errors {
		fmt.Fprintf(b, "- failed: %s\n", e)
	}
}

// allErrors lists the scenario errors and the failed runs that did not stop
// a scenario (a failed S5 test run, a failed repetition).
func (r *runner) allErrors() []string {
	errs := append([]string(nil), r.rep.Errors...)
	if f := r.rep.Failover; f != nil {
		for _, e := range f.Errors {
			errs = append(errs, "S5: "+e)
		}
	}
	for _, c := range r.rep.Cases {
		if c.Error != "" {
			errs = append(errs, c.Scenario+" "+c.ID+": "+c.Error)
		}
	}
	return errs
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// updateReadme replaces the summary block of bench/README.md.
func (r *runner) updateReadme(path, base string, plots []string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, summaryBegin), strings.Index(s, summaryEnd)
	if i < 0 || j < i {
		return fmt.Errorf("no %q ... %q block in %s", summaryBegin, summaryEnd, path)
	}
	var blk strings.Builder
	blk.WriteString(summaryBegin + "\n")
	fmt.Fprintf(&blk, "%s\nFull report: [results/%s.md](results/%s.md) ([json](results/%s.json)).\n\n", r.header(), base, base, base)
	blk.WriteString(r.summary())
	if errs := r.allErrors(); len(errs) > 0 {
		blk.WriteString("\nFailures in this run:\n\n")
		for _, e := range errs {
			fmt.Fprintf(&blk, "- %s\n", e)
		}
	}
	if len(plots) > 0 {
		blk.WriteString("\n")
		for _, p := range plots {
			fmt.Fprintf(&blk, "![%s](results/%s)\n", p, p)
		}
	}
	s = s[:i] + blk.String() + s[j:]
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
