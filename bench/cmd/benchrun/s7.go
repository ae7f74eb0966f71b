package main

// S7: the job reading a pre-loaded Kafka topic (bench/README.md, S7).
// topspeed runs in Kafka-group mode (one or two replicas, which never end
// by themselves: they are timed until every partition's consumer lag is 0,
// then stopped with SIGTERM); Flink runs TopSpeedKafka, the example's
// pipeline behind a bounded KafkaSource, which ends when it has read the
// topic.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	s7Partitions = 8
	s7Cars       = 1000
	s7MaxEvents  = 100_000_000
	// s7Poll is how often the replicas' lag is read: the resolution of
	// topspeed's time to consume the topic.
	s7Poll = 50 * time.Millisecond
)

// s7Group is one topspeed configuration of S7: how many replicas, pinned
// or not.
type s7Group struct {
	replicas int
	pin      bool // taskset -c i for replica i, --parallelism 1
	topic    string
	brokers  string
	out, ck  string
}

func (r *runner) s7() error {
	events := envInt("BENCH_S7_EVENTS", r.pick(10_000_000, 300_000))
	if events > s7MaxEvents {
		return fmt.Errorf("BENCH_S7_EVENTS %d is above the limit of %d", events, s7MaxEvents)
	}
	brokers, err := r.kafkaBrokers()
	if err != nil {
		return err
	}
	topic := fmt.Sprintf("topspeed-bench-s7-%d", time.Now().UnixNano())
	adm, closeAdm, err := s7Admin(brokers)
	if err != nil {
		return err
	}
	defer closeAdm()
	defer r.s7DeleteTopic(adm, topic)
	if err := r.s7Load(adm, brokers, topic, events); err != nil {
		return err
	}
	cp, err := r.flinkKafkaClasspath()
	if err != nil {
		return err
	}
	cs := r.s7Cases(events, brokers, topic, cp)
	r.runCases(cs.all, func() { r.s7Check(events, cs.flink, cs.ts, cs.pin1, cs.pin2) })
	r.add(cs.all...)
	ct, cf := cs.ts, cs.flink
	if ct.ok() && cf.ok() {
		r.ratio("S7", "events/s, topspeed 1 replica / Flink p=2", ct.EvPerS, cf.EvPerS, "", true, "kafka topspeed/flink events/s ratio")
		r.ratio("S7", "CPU seconds, Flink p=2 / topspeed 1 replica", cf.Median.CPU(), ct.Median.CPU(), "", false, "")
		r.ratio("S7", "peak RSS, Flink p=2 / topspeed 1 replica", float64(cf.Median.MaxRSSK), float64(ct.Median.MaxRSSK), "", false, "")
	}
	if cs.pin1 != nil && cs.pin1.ok() && cs.pin2.ok() {
		r.ratio("S7", "events/s, 2 pinned replicas / 1 pinned replica", cs.pin2.EvPerS, cs.pin1.EvPerS, "the goal is >= 1.8; the Kafka broker shares the same 2 cores", false, "")
	}
	r.note("S7", "topspeed's time is from starting the replicas to the first poll (every 50 ms, the replicas' /metrics) at which every partition is owned and its lag (high watermark minus the records handed to its task) is 0; the replicas then publish their results (two checkpoints per partition), are stopped with SIGTERM, and their CPU seconds and peak RSS cover the whole process. Flink's time is the whole JVM, start-up included, as in S1. Neither includes the broker's CPU.")
	if !ct.ok() || !cf.ok() {
		return errors.New("topspeed (1 replica) or Flink did not run")
	}
	return nil
}

// s7Set is S7's runs: topspeed with 1 replica, Flink, and, when replicas
// can be pinned to a core each, 1 and 2 pinned replicas (else nil).
type s7Set struct {
	ts, flink, pin1, pin2 *Case
	all                   []*Case // in the order of the repetitions
}

func (r *runner) s7Cases(events int64, brokers, topic, cp string) s7Set {
	slow := int(r.pick(2, 1))
	r.rep.Settings["S7"] = fmt.Sprintf("topic of %d events, %d cars, %d partitions (topspeed gen --seed 1 --event-interval 1ms) on the Kafka at %s; topspeed in Kafka-group mode, a fresh --kafka-group per run, --checkpoint-interval 1s, timed until every partition's lag is 0: median of 3; Flink TopSpeedKafka (bounded KafkaSource, parallelism 2): median of %d, no warm-up", events, s7Cars, s7Partitions, brokers, slow)
	mk := func(id, label string, n int, pin bool, x float64) *Case {
		g := s7Group{replicas: n, pin: pin, topic: topic, brokers: brokers,
			out: filepath.Join(r.outs, "s7-"+id), ck: filepath.Join(r.work, "s7-ck-"+id)}
		c := &Case{Scenario: "S7", ID: id, Label: label, Engine: "topspeed", X: x, Events: events, reps: 3, timeout: 30 * time.Minute}
		c.cmd = r.s7ShowCmd(g)
		c.runFn = func(logBase string) (Measure, string, error) { return r.s7RunGroup(g, events, logBase, c.timeout) }
		return c
	}
	var cs s7Set
	cs.ts = mk("topspeed", "topspeed, 1 replica (parallelism 2)", 1, false, 0)
	flOut := filepath.Join(r.outs, "s7-flink")
	cs.flink = &Case{Scenario: "S7", ID: "flink", Label: "Flink TopSpeedKafka, parallelism 2", Engine: "flink", Events: events,
		cmd: Cmd{Args: r.s7FlinkCmd(cp, brokers, topic, flOut), OutDir: flOut}, reps: slow, timeout: 60 * time.Minute}
	cs.all = []*Case{cs.ts, cs.flink}
	_, err := exec.LookPath("taskset")
	switch {
	case err != nil:
		r.note("S7", "scaling 1 vs 2 replicas not run: taskset not found (each replica is pinned to its own core)")
	case runtime.NumCPU() < 2:
		r.note("S7", "scaling 1 vs 2 replicas not run: %d CPU (each replica needs its own core)", runtime.NumCPU())
	default:
		cs.pin1 = mk("topspeed-1r", "topspeed, 1 replica on core 0 (taskset -c 0)", 1, true, 1)
		cs.pin2 = mk("topspeed-2r", "topspeed, 2 replicas on cores 0 and 1 (taskset -c 0, -c 1)", 2, true, 2)
		cs.all = append(cs.all, cs.pin1, cs.pin2)
	}
	return cs
}

// kafkaBrokers returns BENCH_S7_BROKERS, or starts the local Kafka
// (scripts/kafka/kafka.sh up; stopped once no scenario left needs it, see
// stopServersDone) and returns its KAFKA_BROKERS.
func (r *runner) kafkaBrokers() (string, error) {
	if b := os.Getenv("BENCH_S7_BROKERS"); b != "" {
		return b, nil
	}
	cmd := exec.Command("bash", "scripts/kafka/kafka.sh", "up")
	cmd.Dir = r.root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/kafka/kafka.sh up: %v: %s", err, lastLines(stderr.String(), 3))
	}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "export "), "=")
		if ok && k == "KAFKA_BROKERS" {
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
			return strings.Trim(v, "'"), nil
		}
	}
	return "", errors.New("scripts/kafka/kafka.sh up exported no KAFKA_BROKERS")
}

// s7Admin connects an admin client; close releases it.
func s7Admin(brokers string) (*kadm.Client, func(), error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		return nil, nil, fmt.Errorf("kafka client for %s: %w", brokers, err)
	}
	return kadm.NewClient(cl), cl.Close, nil
}

// s7Load writes the topic with topspeed gen and checks that its partitions
// hold exactly events records.
func (r *runner) s7Load(adm *kadm.Client, brokers, topic string, events int64) error {
	c := Cmd{Args: []string{filepath.Join(r.bin, "topspeed"), "gen", "--cars", strconv.Itoa(s7Cars), "--events", strconv.FormatInt(events, 10),
		"--rate", "0", "--seed", "1", "--start-time", "1424951918630", "--event-interval", "1ms",
		"--kafka-brokers", brokers, "--kafka-topic", topic, "--kafka-partitions", strconv.Itoa(s7Partitions)}}
	r.logf("S7: loading the topic: %s", c)
	m, _, err := r.runCmd(c, filepath.Join(r.logs, "S7-load"), 30*time.Minute)
	if err != nil {
		return fmt.Errorf("loading the topic: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	var total int64
	parts := 0
	ends.Each(func(o kadm.ListedOffset) {
		total += o.Offset
		parts++
	})
	if total != events || parts != s7Partitions {
		return fmt.Errorf("topic %s holds %d records in %d partitions, want %d in %d", topic, total, parts, events, s7Partitions)
	}
	r.logf("S7: loaded %d events into %s (%d partitions) in %s", events, topic, parts, fmtMeasure(m))
	r.note("S7", "loading the topic (topspeed gen, idempotent producer) took %.1f s: %.0f events/s", m.Wall, float64(events)/m.Wall)
	return nil
}

func (r *runner) s7DeleteTopic(adm *kadm.Client, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.DeleteTopic(ctx, topic); err != nil {
		r.logf("S7: deleting topic %s: %v", topic, err)
		return
	}
	r.logf("S7: deleted topic %s", topic)
}

// flinkKafkaClasspath caches the runtime classpath of bench/flink's
// kafka-bench profile next to Flink's lib (once per pom.xml: the stamp is
// its sha256) and compiles TopSpeedKafka against it; it returns the
// classpath to run it with.
func (r *runner) flinkKafkaClasspath() (string, error) {
	pom := filepath.Join(r.root, "bench/flink/pom.xml")
	b, err := os.ReadFile(pom)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	want := hex.EncodeToString(sum[:])
	dir := filepath.Join(filepath.Dir(r.flinkLib), "kafka-bench")
	lib, stamp := filepath.Join(dir, "lib"), filepath.Join(dir, "lib.stamp")
	if have, err := os.ReadFile(stamp); err != nil || strings.TrimSpace(string(have)) != want {
		r.logf("S7: caching the Kafka connector's classpath in %s (mvn -P kafka-bench)", lib)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		_ = os.RemoveAll(lib + ".tmp")
		cmd := exec.Command("mvn", "-B", "-Dstyle.color=never", "-f", pom, "-P", "kafka-bench", "dependency:copy-dependencies",
			"-DincludeScope=runtime", "-DoutputDirectory="+lib+".tmp")
		out, err := cmd.CombinedOutput()
		_ = os.WriteFile(filepath.Join(dir, "mvn.log"), out, 0o644)
		if err != nil {
			return "", fmt.Errorf("mvn -P kafka-bench: %v (log: %s)", err, filepath.Join(dir, "mvn.log"))
		}
		if err := os.RemoveAll(lib); err != nil {
			return "", err
		}
		if err := os.Rename(lib+".tmp", lib); err != nil {
			return "", err
		}
		if err := os.WriteFile(stamp, []byte(want+"\n"), 0o644); err != nil {
			return "", err
		}
	}
	classes := filepath.Join(r.work, "flink-kafka-classes")
	src := "bench/flink/src/main/java/org/topspeed/bench/"
	r.logf("S7: javac %sTopSpeedKafka.java", src)
	cmd := exec.Command("javac", "-nowarn", "-d", classes, "-cp", lib+"/*", src+"TopSpeedKafka.java", src+"TopSpeedWindowingEvict.java")
	cmd.Dir = r.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("javac TopSpeedKafka: %v\n%s", err, out)
	}
	return classes + ":" + lib + "/*", nil
}

// s7FlinkCmd runs TopSpeedKafka on a local mini-cluster (as javaCmd, with
// the kafka-bench classpath).
func (r *runner) s7FlinkCmd(cp, brokers, topic, out string) []string {
	c := append([]string{"java"}, r.javaOpts...)
	return append(c, "-Xmx2g", "-XX:+UseG1GC",
		"-Dlog4j.configurationFile="+filepath.Join(r.root, "bench/flink/log4j2.properties"),
		"-Dtopspeed.flink.loglevel=WARN",
		"-Djava.io.tmpdir="+r.work,
		"-cp", cp, "org.topspeed.bench.TopSpeedKafka",
		"--brokers", brokers, "--topic", topic, "--group", topic+"-flink", "--output", out, "--parallelism", "2")
}

// s7ReplicaCmd is replica i of g in consumer group group, its ops server
// (for /metrics) on 127.0.0.1:port.
func (r *runner) s7ReplicaCmd(g s7Group, i int, group string, port int) Cmd {
	var args []string
	if g.pin {
		args = []string{"taskset", "-c", strconv.Itoa(i)}
	}
	args = append(args, filepath.Join(r.bin, "topspeed"),
		"--kafka-brokers", g.brokers, "--kafka-topic", g.topic, "--kafka-group", group, "--kafka-start-offset", "earliest",
		"--checkpoint-dir", g.ck, "--checkpoint-interval", "1s", "--output", g.out,
		"--http-addr", "127.0.0.1:"+strconv.Itoa(port), "--log-format", "json", "--progress-interval", "1s")
	if g.pin {
		args = append(args, "--parallelism", "1")
	}
	return Cmd{Args: args}
}

// s7ShowCmd is how the report shows g's replicas (group name and ports
// change per run); its OutDir is where they write.
func (r *runner) s7ShowCmd(g s7Group) Cmd {
	var args []string
	for i := 0; i < g.replicas; i++ {
		if i > 0 {
			args = append(args, "&")
		}
		for _, a := range r.s7ReplicaCmd(g, i, "<fresh group>", 0).Args {
			args = append(args, strings.Replace(a, "127.0.0.1:0", "127.0.0.1:<free port>", 1))
		}
	}
	return Cmd{Args: args, OutDir: g.out}
}

// s7Proc is one running replica.
type s7Proc struct {
	cmd     *exec.Cmd
	port    int
	errLog  string
	exited  chan struct{} // closed when Wait returned
	waitErr error         // set before exited is closed
}

// kill ends the replica's process group with SIGKILL unless it has exited.
func (p *s7Proc) kill() {
	select {
	case <-p.exited:
	default:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// s7Start starts replica i; its stdout and stderr go to logBase-r<i>.{out,err}.
func (r *runner) s7Start(g s7Group, i int, group, logBase string) (*s7Proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := r.s7ReplicaCmd(g, i, group, port)
	base := fmt.Sprintf("%s-r%d", logBase, i)
	stdout, err := os.Create(base + ".out")
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := os.Create(base + ".err")
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	cmd := exec.Command(c.Args[0], c.Args[1:]...)
	cmd.Dir = r.root
	cmd.Env = r.baseEnv()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting replica %d: %w", i, err)
	}
	p := &s7Proc{cmd: cmd, port: port, errLog: base + ".err", exited: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// s7RunGroup runs g's replicas in a fresh consumer group on an empty
// output and checkpoint directory. Wall is the time from starting them to
// every partition's lag 0; CPU and peak RSS cover each replica's whole
// life (summed and the largest). The output names the events and results
// the replicas counted (their exit summaries).
func (r *runner) s7RunGroup(g s7Group, events int64, logBase string, timeout time.Duration) (Measure, string, error) {
	for _, d := range []string{g.out, g.ck} {
		if err := os.RemoveAll(d); err != nil {
			return Measure{}, "", err
		}
	}
	if err := os.MkdirAll(g.ck, 0o755); err != nil {
		return Measure{}, "", err
	}
	group := fmt.Sprintf("bench-s7-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var procs []*s7Proc
	defer func() {
		for _, p := range procs {
			p.kill()
		}
	}()
	start := time.Now()
	for i := 0; i < g.replicas; i++ {
		p, err := r.s7Start(g, i, group, logBase)
		if err != nil {
			return Measure{}, "", err
		}
		procs = append(procs, p)
	}
	if err := s7WaitLag(ctx, procs); err != nil {
		return Measure{}, "", err
	}
	wall := time.Since(start).Seconds()
	if err := s7WaitPublished(ctx, procs, g.out); err != nil {
		return Measure{}, "", err
	}
	m, out, err := s7Stop(procs)
	m.Wall = wall
	r.logf("  all %d events consumed after %.2f s (%.0f events/s); %s", events, wall, float64(events)/wall, out)
	return m, out, err
}

// s7Metrics is what S7 reads from a replica's /metrics.
type s7Metrics struct {
	lag         map[int]int64 // partition -> lag (-1: not fetched yet)
	checkpoints float64       // topspeed_checkpoints_completed_total
}

var s7HTTP = &http.Client{Timeout: 2 * time.Second}

// s7Scrape reads a replica's /metrics; an error means it is not serving
// (yet, or any more).
func s7Scrape(ctx context.Context, port int) (s7Metrics, error) {
	m := s7Metrics{lag: map[int]int64{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), nil)
	if err != nil {
		return m, err
	}
	resp, err := s7HTTP.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("/metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		switch {
		case strings.HasPrefix(line, "topspeed_kafka_consumer_lag_records{"):
			_, rest, ok := strings.Cut(f[0], `partition="`)
			ps, _, ok2 := strings.Cut(rest, `"`)
			p, err := strconv.Atoi(ps)
			v, err2 := strconv.ParseFloat(f[1], 64)
			if !ok || !ok2 || err != nil || err2 != nil {
				return m, fmt.Errorf("/metrics: bad line %q", line)
			}
			m.lag[p] = int64(v)
		case f[0] == "topspeed_checkpoints_completed_total":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return m, fmt.Errorf("/metrics: bad line %q", line)
			}
			m.checkpoints = v
		}
	}
	return m, sc.Err()
}

// s7Exited returns an error if a replica has exited.
func s7Exited(procs []*s7Proc) error {
	for i, p := range procs {
		select {
		case <-p.exited:
			b, _ := os.ReadFile(p.errLog)
			return fmt.Errorf("replica %d exited before the end (%v): %s", i, p.waitErr, lastLines(string(b), 3))
		default:
		}
	}
	return nil
}

// s7WaitLag polls the replicas until every partition of the topic is owned
// by one of them with lag 0.
func s7WaitLag(ctx context.Context, procs []*s7Proc) error {
	tk := time.NewTicker(s7Poll)
	defer tk.Stop()
	for {
		if err := s7Exited(procs); err != nil {
			return err
		}
		lag := map[int]int64{}
		for _, p := range procs {
			m, err := s7Scrape(ctx, p.port)
			if err != nil {
				continue // not serving yet
			}
			for part, v := range m.lag {
				if old, ok := lag[part]; !ok || v > old || v < 0 {
					lag[part] = v
				}
			}
		}
		done := len(lag) == s7Partitions
		for _, v := range lag {
			done = done && v == 0
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the topic was not consumed in time (lag per partition at the end: %v)", lag)
		case <-tk.C:
		}
	}
}

// s7WaitPublished waits, after the topic was consumed, until each
// partition has had about two more checkpoints (2 × partitions completed
// over all replicas) and the published part files stopped growing: every
// result is then in a published part file.
func s7WaitPublished(ctx context.Context, procs []*s7Proc, out string) error {
	ckpts := func() (float64, error) {
		var n float64
		for i, p := range procs {
			m, err := s7Scrape(ctx, p.port)
			if err != nil {
				return 0, fmt.Errorf("replica %d: %w", i, err)
			}
			n += m.checkpoints
		}
		return n, nil
	}
	c0, err := ckpts()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	prev := int64(-1)
	for {
		select {
		case <-ctx.Done():
			return errors.New("the results were not published within 2 minutes of consuming the topic")
		case <-time.After(200 * time.Millisecond):
		}
		if err := s7Exited(procs); err != nil {
			return err
		}
		c, err := ckpts()
		if err != nil {
			return err
		}
		if c < c0+2*s7Partitions {
			continue
		}
		n, err := s7Concat(out, "")
		if err != nil {
			return err
		}
		if n == prev {
			return nil
		}
		prev = n
	}
}

// s7Summary is a replica's exit summary (its last "summary" log line).
type s7Summary struct {
	Msg     string `json:"msg"`
	Events  int64  `json:"events"`
	Results int64  `json:"results"`
}

// s7Stop sends SIGTERM to every replica and waits for them (SIGKILL after
// a minute); it sums their CPU, takes the largest peak RSS, and reports
// their summed exit summaries as "events_read=N results=R".
func s7Stop(procs []*s7Proc) (Measure, string, error) {
	t0 := time.Now()
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	var errs []error
	var m Measure
	var sum s7Summary
	for i, p := range procs {
		select {
		case <-p.exited:
		case <-time.After(time.Minute):
			errs = append(errs, fmt.Errorf("replica %d did not stop within a minute of SIGTERM", i))
			p.kill()
		}
		if p.waitErr != nil {
			b, _ := os.ReadFile(p.errLog)
			errs = append(errs, fmt.Errorf("replica %d: %v: %s", i, p.waitErr, lastLines(string(b), 3)))
		}
		if ps := p.cmd.ProcessState; ps != nil {
			m.User += ps.UserTime().Seconds()
			m.Sys += ps.SystemTime().Seconds()
			if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
				m.MaxRSSK = max(m.MaxRSSK, ru.Maxrss)
			}
		}
		s, err := s7LastSummary(p.errLog)
		if err != nil {
			errs = append(errs, fmt.Errorf("replica %d: %w", i, err))
		}
		sum.Events += s.Events
		sum.Results += s.Results
	}
	out := fmt.Sprintf("events_read=%d results=%d stop_s=%.2f", sum.Events, sum.Results, time.Since(t0).Seconds())
	return m, out, errors.Join(errs...)
}

func s7LastSummary(errLog string) (s7Summary, error) {
	f, err := os.Open(errLog)
	if err != nil {
		return s7Summary{}, err
	}
	defer f.Close()
	var last s7Summary
	found := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var s s7Summary
		if json.Unmarshal(sc.Bytes(), &s) == nil && s.Msg == "summary" {
			last, found = s, true
		}
	}
	if err := sc.Err(); err != nil {
		return last, err
	}
	if !found {
		return last, fmt.Errorf("no summary line in %s", errLog)
	}
	return last, nil
}

// s7Concat counts the lines of the published part files under out (one
// directory per partition; hidden in-progress and pending files are not
// output) and, if dst is not empty, writes them to dst, each partition's
// parts in sequence order, so that each car's results stay in order.
func s7Concat(out, dst string) (int64, error) {
	dirs, err := os.ReadDir(out)
	if err != nil {
		return 0, err
	}
	var w *bufio.Writer
	if dst != "" {
		f, err := os.Create(dst)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		w = bufio.NewWriter(f)
	}
	var n int64
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(out, d.Name()))
		if err != nil {
			return 0, err
		}
		var names []string
		for _, f := range files {
			if strings.HasPrefix(f.Name(), "part-") {
				names = append(names, f.Name())
			}
		}
		sort.Strings(names)
		for _, name := range names {
			b, err := os.ReadFile(filepath.Join(out, d.Name(), name))
			if err != nil {
				return 0, err
			}
			n += int64(strings.Count(string(b), "\n"))
			if w != nil {
				if _, err := w.Write(b); err != nil {
					return 0, err
				}
			}
		}
	}
	if w != nil {
		return n, w.Flush()
	}
	return n, nil
}

// s7Check compares each topspeed configuration's published results with
// Flink's, car by car, after the first repetition.
func (r *runner) s7Check(events int64, cf *Case, ts ...*Case) {
	for _, c := range ts {
		if c == nil || !c.ok() {
			continue
		}
		read := kv(c.stdout)["events_read"]
		what := "read " + read + " events"
		if n, err := strconv.ParseInt(read, 10, 64); err == nil && n > events {
			what = fmt.Sprintf("read %d events (%d again after partitions moved)", n, n-events)
		} else if err != nil || n != events {
			what = fmt.Sprintf("read %s events, want %d", read, events)
		}
		file := filepath.Join(r.outs, "s7-"+c.ID+"-published.txt")
		if _, err := s7Concat(c.cmd.OutDir, file); err != nil {
			c.Check = what + "; results: " + err.Error()
			continue
		}
		if !cf.ok() {
			c.Check = what
			continue
		}
		verdict := r.compare(file, cf.cmd.OutDir)
		c.Check = what + "; vs Flink: " + verdict
		if c.ID == "topspeed" {
			cf.Check = "vs topspeed 1 replica: " + verdict
		}
	}
	if cf.ok() {
		if v, err := kvFloat(kv(cf.stdout), "job_seconds"); err == nil {
			cf.Note = fmt.Sprintf("in its first run, env.execute() took %.1f s of the wall time (the rest: JVM start, building the job graph)", v)
		}
	}
}

// summaryS7 adds S7's rows to the summary table.
func (r *runner) summaryS7(row func(s, m, t, f string, v float64, ok bool)) {
	ct, cf := r.find("S7", "topspeed"), r.find("S7", "flink")
	if ct != nil && cf != nil {
		s := fmt.Sprintf("S7 Kafka topic (%s events, %d partitions)", human(float64(ct.Events)), s7Partitions)
		v, ok := r.ratioOf("S7", "events/s, topspeed 1 replica / Flink p=2")
		row(s, "events/s (topspeed 1 replica, Flink p=2)", human(ct.EvPerS), human(cf.EvPerS), v, ok)
		v, ok = r.ratioOf("S7", "CPU seconds, Flink p=2 / topspeed 1 replica")
		row(s, "CPU seconds (Flink ÷ topspeed)", secs(ct.Median.CPU()), secs(cf.Median.CPU()), v, ok)
	}
	if c1, c2 := r.find("S7", "topspeed-1r"), r.find("S7", "topspeed-2r"); c1 != nil && c2 != nil {
		v, ok := r.ratioOf("S7", "events/s, 2 pinned replicas / 1 pinned replica")
		row("S7 scaling, replicas pinned to a core each", "events/s, 2 replicas ÷ 1 replica (goal ≥ 1.8)",
			human(c2.EvPerS)+" / "+human(c1.EvPerS), "", v, ok)
	}
}
