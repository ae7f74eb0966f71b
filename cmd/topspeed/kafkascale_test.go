package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/topspeed/topspeed/internal/testenv"
)

// TestKafkaScaleAndKill is Reactive Mode with failures, against the real
// Kafka and Cassandra: while a loader writes an 8-partition topic at a
// steady rate, the group scales 1 -> 3 -> 2 replicas (SIGTERM), one replica
// is killed with SIGKILL and restarted (as a pod), and one is frozen with
// SIGSTOP past its session timeout and resumed (a zombie that must not
// overwrite the new owners' checkpoints). Afterwards the Cassandra table
// must equal a failure-free --input run's, row for row. It also reports how
// long each moved partition took to resume at its new owner (from the
// move's cause: a revoke, a kill or a freeze, to the new owner's first
// record of that partition).
func TestKafkaScaleAndKill(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.KafkaTopic(t, brokers, 8)
	dir := t.TempDir()
	if keep := os.Getenv("TOPSPEED_TEST_KEEP"); keep != "" {
		dir = filepath.Join(keep, t.Name())
		_ = os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	in := filepath.Join(dir, "cars.txt")
	runGenTool(t, append(kgInput(40, 40000), "--output", in)...)
	stamp := time.Now().UnixNano() % 1e12
	cass := func(table string) []string {
		return []string{"--cassandra-hosts", strings.Join(srv.Hosts, ","), "--cassandra-username", srv.Username,
			"--cassandra-consistency", "ONE", "--cassandra-create-schema", "--cassandra-replication", "1",
			"--cassandra-keyspace", "topspeed_it", "--cassandra-table", table}
	}
	env := map[string]string{"CASSANDRA_PASSWORD": srv.Password}
	ref := fmt.Sprintf("kref%d", stamp)
	if code, _, stderr := runCLIEnv(t, env, append([]string{"--input", in, "--output", "/dev/null", "--log-level", "error"}, cass(ref)...)...); code != exitOK {
		t.Fatalf("reference: exit %d: %s", code, stderr)
	}
	want := readTopSpeeds(t, srv, ref)

	// The loader: 40,000 lines in 40 chunks over about 20 s.
	lines := readLines(t, in)
	var loaded sync.WaitGroup
	loaded.Add(1)
	go func() {
		defer loaded.Done()
		for i := 0; i < len(lines); i += 1000 {
			produceLines(t, brokers, topic, lines[i:min(i+1000, len(lines))])
			time.Sleep(500 * time.Millisecond)
		}
	}()

	table := fmt.Sprintf("kscale%d", stamp)
	ck := filepath.Join(dir, "ck")
	pw := []string{"CASSANDRA_PASSWORD=" + srv.Password, "TOPSPEED_HTTP_ADDR="}
	var reps []*replica
	var causes []moveCause
	newReplica := func(id string) *replica {
		r := &replica{id: id, logPath: filepath.Join(dir, id+".log")}
		r.args = append([]string{"--kafka-brokers", strings.Join(brokers, ","), "--kafka-topic", topic, "--kafka-group", "g-" + topic,
			"--checkpoint-dir", ck, "--checkpoint-interval", "300ms", "--kafka-session-timeout", "3s",
			"--log-format", "json", "--progress-interval", "0"}, cass(table)...)
		r.start(t, pw)
		reps = append(reps, r)
		return r
	}
	r0 := newReplica("r0")
	time.Sleep(3 * time.Second)
	r1, r2 := newReplica("r1"), newReplica("r2") // 1 -> 3
	time.Sleep(4 * time.Second)
	_ = r2.cmd.Process.Signal(syscall.SIGTERM) // 3 -> 2
	if err := <-r2.done; err != nil {
		t.Fatalf("r2 after SIGTERM: %v\n%s", err, tail(r2.logPath))
	}
	time.Sleep(3 * time.Second)
	causes = append(causes, moveCause{"r1", time.Now()})
	_ = r1.cmd.Process.Signal(syscall.SIGKILL) // a crash; the pod restarts
	<-r1.done
	r1.start(t, pw)
	time.Sleep(4 * time.Second)
	causes = append(causes, moveCause{"r0", time.Now()})
	_ = r0.cmd.Process.Signal(syscall.SIGSTOP) // a zombie: past its 3 s session
	time.Sleep(6 * time.Second)
	_ = r0.cmd.Process.Signal(syscall.SIGCONT)
	loaded.Wait()

	deadline := time.Now().Add(90 * time.Second)
	for len(readTopSpeeds(t, srv, table)) < len(want) && time.Now().Before(deadline) {
		time.Sleep(time.Second)
	}
	time.Sleep(2 * time.Second) // anything still in flight would show now
	compareRows(t, readTopSpeeds(t, srv, table), want)
	for _, r := range []*replica{r0, r1} {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, r := range []*replica{r0, r1} {
		if err := <-r.done; err != nil {
			t.Errorf("%s after SIGTERM: %v\n%s", r.id, err, tail(r.logPath))
		}
	}
	lost, fenced := 0, 0
	for _, e := range readEvents(t, reps) {
		if e.str("replica") == "r0" && e.str("msg") == "partitions revoked" && e["lost"] == true {
			lost++
		}
		if strings.HasPrefix(e.str("msg"), "fenced:") {
			fenced++
		}
	}
	if lost == 0 {
		t.Fatal("the frozen replica never learnt that it lost its partitions")
	}
	t.Logf("the frozen replica lost its partitions %d time(s); %d checkpoint commit(s) refused as fenced", lost, fenced)
	ms := resumeTimes(t, reps, causes)
	if len(ms) < 10 {
		t.Fatalf("only %d partition moves measured, want at least 10", len(ms))
	}
	sort.Float64s(ms)
	p := func(q float64) float64 { return ms[min(len(ms)-1, int(q*float64(len(ms))))] }
	t.Logf("table identical to the failure-free run: %d rows; %d partition moves resumed in p50 %.0f ms, p99 %.0f ms, max %.0f ms", len(want), len(ms), p(0.5), p(0.99), ms[len(ms)-1])
	if f := os.Getenv("TOPSPEED_KAFKA_REPORT"); f != "" {
		_ = os.WriteFile(f, []byte(fmt.Sprintf("resume_ms %v\n", ms)), 0o644)
	}
}

// moveCause is a replica that lost its partitions without a revoke
// (killed or frozen) at a time.
type moveCause struct {
	replica string
	at      time.Time
}

// resumeTimes measures, for every partition assigned after the first
// assignment, the time from the move's cause to the new owner's first
// record of that partition in its new epoch. The cause is the latest
// "partitions revoked" of that partition on another replica or the latest
// kill/freeze of its previous owner, before the assignment.
func resumeTimes(t *testing.T, reps []*replica, causes []moveCause) []float64 {
	t.Helper()
	evs := readEvents(t, reps)
	owner := map[int64]string{}
	lastLoss := map[int64]time.Time{}
	type pending struct {
		from  time.Time
		epoch int64
		rep   string
	}
	waiting := map[int64]pending{}
	var ms []float64
	for _, e := range evs {
		ts, err := time.Parse(time.RFC3339Nano, e.str("ts"))
		if err != nil {
			continue
		}
		switch e.str("msg") {
		case "partitions revoked":
			for _, p := range partitionsOf(e) {
				if owner[p] == e.str("replica") {
					lastLoss[p] = ts
				}
			}
		case "partitions assigned":
			for _, p := range partitionsOf(e) {
				prev, had := owner[p]
				owner[p] = e.str("replica")
				if !had {
					continue // the first assignment: nothing moved
				}
				from := lastLoss[p]
				for _, c := range causes {
					if c.replica == prev && c.at.After(from) && c.at.Before(ts) {
						from = c.at
					}
				}
				if !from.IsZero() {
					waiting[p] = pending{from: from, epoch: e.num("epoch"), rep: e.str("replica")}
				}
			}
		case "first record processed":
			p := e.num("partition")
			if w, ok := waiting[p]; ok && w.rep == e.str("replica") && w.epoch == e.num("epoch") {
				ms = append(ms, float64(ts.Sub(w.from).Milliseconds()))
				delete(waiting, p)
			}
		}
	}
	return ms
}

func partitionsOf(e event) []int64 {
	var ps []int64
	if xs, ok := e["partitions"].([]any); ok {
		for _, x := range xs {
			if f, ok := x.(float64); ok {
				ps = append(ps, int64(f))
			}
		}
	}
	return ps
}
