// Command s4report turns the result lines of bench/cassandra/run.sh into
// the markdown table of S4 in bench/README.md: the median of each writer's
// rounds, and the ratios the issue asks for.
//
//	s4report -results results.tsv -facts facts.txt [-readme bench/README.md]
//
// results.tsv has one line per writer and round: writer, round, then the
// writer's own result line ("MODE rows=N seconds=S rows/s=R requests=Q
// p50=D p99=D ...") and the peak RSS in KiB from /usr/bin/time -v. facts.txt
// holds the lines printed above the table (command, machine, date). With
// -readme, the part of the file between the S4 markers is replaced (the
// markers are added at the end of the file if missing).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	beginMark = "<!-- S4:results:begin (written by bench/cassandra/run.sh) -->"
	endMark   = "<!-- S4:results:end -->"
)

// writer describes one row of the table, in table order.
type writer struct {
	key, label string
}

var writers = []writer{
	{"sink", "(a) topspeed sink/cassandra, defaults"},
	{"naive", "(b) naive gocql, 1 synchronous INSERT at a time"},
	{"raw", "(c) raw gocql, pre-grouped full partition batches"},
	{"flink", "(d) Flink TopSpeedWindowing → CassandraSink, connector defaults"},
	{"flink-bounded", "(d*) the same Flink job, bounded CassandraSink"},
	{"flink-sink", "(d′) Flink FileSource → CassandraSink only"},
	{"sink-tuned", "(a*) topspeed sink/cassandra, tuned"},
}

type run struct {
	rows, requests     int64
	seconds, rate      float64
	p50, p99           time.Duration
	rssKiB             int64
	jobSeconds         float64
	hasJob, hasLatency bool
}

// fails holds the failure messages per writer.
var fails map[string][]string

func main() {
	results := flag.String("results", "", "results TSV")
	facts := flag.String("facts", "", "lines to print above the table")
	readme := flag.String("readme", "", "update this file between the S4 markers")
	flag.Parse()
	if err := mainErr(*results, *facts, *readme); err != nil {
		fmt.Fprintln(os.Stderr, "s4report:", err)
		os.Exit(1)
	}
}

func mainErr(results, facts, readme string) error {
	runs, notes, err := load(results)
	if err != nil {
		return err
	}
	var head []byte
	if facts != "" {
		if head, err = os.ReadFile(facts); err != nil {
			return err
		}
	}
	table := render(runs, notes, string(head))
	fmt.Print(table)
	if readme == "" {
		return nil
	}
	return update(readme, table)
}

func load(path string) (map[string][]run, map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	runs := map[string][]run{}
	notes := map[string]string{}
	fails = map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "\t")
		if len(parts) == 3 && parts[0] == "#note" {
			notes[parts[1]] = parts[2]
			continue
		}
		if len(parts) == 3 && parts[0] == "#fail" {
			fails[parts[1]] = append(fails[parts[1]], parts[2])
			continue
		}
		if len(parts) != 4 {
			continue
		}
		r, err := parse(parts[2])
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", parts[2], err)
		}
		r.rssKiB, _ = strconv.ParseInt(strings.TrimSpace(parts[3]), 10, 64)
		runs[parts[0]] = append(runs[parts[0]], r)
	}
	return runs, notes, sc.Err()
}

func parse(line string) (run, error) {
	var r run
	fields := strings.Fields(line)
	seen := 0
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		var err error
		switch k {
		case "rows":
			r.rows, err = strconv.ParseInt(v, 10, 64)
			seen++
		case "seconds":
			r.seconds, err = strconv.ParseFloat(v, 64)
			seen++
		case "rows/s":
			r.rate, err = strconv.ParseFloat(v, 64)
		case "requests":
			r.requests, err = strconv.ParseInt(v, 10, 64)
		case "p50":
			r.p50, err = time.ParseDuration(v)
			r.hasLatency = true
		case "p99":
			r.p99, err = time.ParseDuration(v)
		case "job_seconds":
			r.jobSeconds, err = strconv.ParseFloat(v, 64)
			r.hasJob = true
		}
		if err != nil {
			return r, fmt.Errorf("field %s: %w", k, err)
		}
	}
	if seen < 2 || r.seconds <= 0 {
		return r, errors.New("no rows= and seconds=")
	}
	if r.rate == 0 {
		r.rate = float64(r.rows) / r.seconds
	}
	return r, nil
}

func median[T any](rs []run, get func(run) T, less func(a, b T) bool) T {
	vs := make([]T, len(rs))
	for i, r := range rs {
		vs[i] = get(r)
	}
	sort.Slice(vs, func(i, j int) bool { return less(vs[i], vs[j]) })
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	// Even count: the lower middle (a measured value, not an average).
	return vs[len(vs)/2-1]
}

func fl(a, b float64) bool              { return a < b }
func du(a, b time.Duration) bool        { return a < b }
func in(a, b int64) bool                { return a < b }
func rateOf(r run) float64              { return r.rate }
func fmtRate(v float64) string          { return groupDigits(int64(v + 0.5)) }
func fmtDur(d time.Duration) string     { return d.Round(10 * time.Microsecond).String() }
func fmtMiB(kib int64) string           { return strconv.FormatInt((kib+512)/1024, 10) }
func ratio(a, b float64) (string, bool) { return fmt.Sprintf("%.2f", a/b), b > 0 }

func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func render(runs map[string][]run, notes map[string]string, head string) string {
	var b strings.Builder
	b.WriteString(head)
	if head != "" && !strings.HasSuffix(head, "\n\n") {
		b.WriteString("\n")
	}
	b.WriteString("| writer | rows written | requests | rows/s median (min–max) | p50 | p99 | peak RSS MiB | rounds |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	med := map[string]float64{}
	for _, w := range writers {
		rs := runs[w.key]
		label := w.label
		if n := notes[w.key]; n != "" {
			label += " " + n
		}
		nf := len(fails[w.key])
		rounds := strconv.Itoa(len(rs))
		if nf > 0 {
			rounds = fmt.Sprintf("%d ok, **%d failed**", len(rs), nf)
		}
		if len(rs) == 0 {
			if nf > 0 {
				fmt.Fprintf(&b, "| %s | – | – | **failed** | – | – | – | %s |\n", label, rounds)
			}
			continue
		}
		rate := median(rs, rateOf, fl)
		med[w.key] = rate
		lo, hi := rs[0].rate, rs[0].rate
		for _, r := range rs {
			lo, hi = min(lo, r.rate), max(hi, r.rate)
		}
		p50 := median(rs, func(r run) time.Duration { return r.p50 }, du)
		p99 := median(rs, func(r run) time.Duration { return r.p99 }, du)
		rss := median(rs, func(r run) int64 { return r.rssKiB }, in)
		reqs := median(rs, func(r run) int64 { return r.requests }, in)
		lat := fmtDur(p50) + " | " + fmtDur(p99)
		if !rs[0].hasLatency {
			lat = "n/a | n/a"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | **%s** (%s–%s) | %s | %s | %s |\n",
			label, groupDigits(rs[0].rows), groupDigits(reqs), fmtRate(rate), fmtRate(lo), fmtRate(hi), lat, fmtMiB(rss), rounds)
	}
	b.WriteString("\n")
	for _, c := range []struct{ a, b, what, goal string }{
		{"sink", "raw", "(a)/(c), sink vs practical limit", "goal ≥ 0.90"},
		{"sink", "flink", "(a)/(d), sink vs Flink job's sink (connector defaults, successful rounds)", "goal ≥ 3"},
		{"sink", "flink-bounded", "(a)/(d*), sink vs Flink job's bounded sink", "goal ≥ 3"},
		{"sink", "flink-sink", "(a)/(d′), sink vs Flink's sink alone", "for reference"},
		{"sink-tuned", "raw", "(a*)/(c), tuned sink vs practical limit", "for reference"},
		{"sink", "naive", "(a)/(b), sink vs naive", "for reference"},
	} {
		if c.a == "sink-tuned" && len(runs[c.a]) == 0 {
			continue
		}
		if r, ok := ratio(med[c.a], med[c.b]); ok && med[c.a] > 0 {
			verdict := ""
			switch c.goal {
			case "goal ≥ 0.90":
				verdict = map[bool]string{true: " — met", false: " — **not met**"}[med[c.a]/med[c.b] >= 0.90]
			case "goal ≥ 3":
				verdict = map[bool]string{true: " — met", false: " — **not met**"}[med[c.a]/med[c.b] >= 3]
			}
			fmt.Fprintf(&b, "- %s: **%s** (%s%s)\n", c.what, r, c.goal, verdict)
		} else {
			fmt.Fprintf(&b, "- %s: n/a (a writer failed)\n", c.what)
		}
	}
	if rs := runs["flink"]; len(rs) > 0 && rs[0].hasJob {
		job := median(rs, func(r run) float64 { return r.jobSeconds }, fl)
		fmt.Fprintf(&b, "- (d) the whole Flink job (every car report through the pipeline, then the sink): %.1f s median from env.execute() to its return; the sink's own time above is part of it.\n", job)
	}
	return b.String()
}

func update(path, table string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	block := beginMark + "\n" + table + endMark
	i := bytes.Index(old, []byte(beginMark))
	j := bytes.Index(old, []byte(endMark))
	var out []byte
	if i >= 0 && j > i {
		out = append(append(append([]byte{}, old[:i]...), block...), old[j+len(endMark):]...)
	} else {
		out = append(append([]byte{}, bytes.TrimRight(old, "\n")...), []byte("\n\n"+block+"\n")...)
	}
	return os.WriteFile(path, out, 0o644)
}
