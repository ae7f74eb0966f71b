package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/topspeed/topspeed/internal/testenv"
)

// kgInput are the load tool's generator flags for a deterministic input:
// the same events whether written to a file or a topic, paced or not.
func kgInput(cars, events int) []string {
	return []string{"--cars", fmt.Sprint(cars), "--events", fmt.Sprint(events), "--seed", "7",
		"--start-time", "1424951918630", "--event-interval", "10ms", "--rate", "0"}
}

// runGenTool runs `topspeed gen` with args to completion.
func runGenTool(t *testing.T, args ...string) {
	t.Helper()
	l := start(t, nil, append([]string{"gen"}, args...)...)
	if err := l.Wait(t, 2*time.Minute); err != nil {
		t.Fatalf("gen %v: %v\n%s", args, err, l.Stderr)
	}
}

// partsPerCar reads the published part files of every partition directory
// under dir (Kafka-group mode writes one directory per partition), grouped
// by car.
func partsPerCar(t *testing.T, dir string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	subs, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, sub := range subs {
		for car, lines := range resultsPerCar(t, sub, nil) {
			out[car] = append(out[car], lines...)
		}
	}
	return out
}

func countLines(m map[string][]string) int {
	n := 0
	for _, ls := range m {
		n += len(ls)
	}
	return n
}

// comparePerCar fails unless got and want hold the same lines per car, in
// the same order.
func comparePerCar(t *testing.T, got, want map[string][]string) {
	t.Helper()
	var cars []string
	for c := range want {
		cars = append(cars, c)
	}
	sort.Strings(cars)
	for _, c := range cars {
		if g, w := got[c], want[c]; len(g) != len(w) || firstDiff(g, w) < len(w) {
			i := firstDiff(g, w)
			t.Fatalf("car %s: results differ at %d (got %d results, want %d)", c, i, len(g), len(w))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d cars in the output, want %d", len(got), len(want))
	}
}

// groupReplica starts one Kafka-group replica.
func groupReplica(t *testing.T, env []string, brokers []string, topic, group, ck string, extra ...string) *testenv.Life {
	t.Helper()
	args := append([]string{"--kafka-brokers", strings.Join(brokers, ","), "--kafka-topic", topic, "--kafka-group", group,
		"--checkpoint-dir", ck, "--checkpoint-interval", "300ms", "--kafka-session-timeout", "3s",
		"--log-format", "json", "--progress-interval", "0"}, extra...)
	return start(t, env, args...)
}

// waitUntil polls ok every 200 ms until it holds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestKafkaOneReplicaEqualsInput: one replica reading an 8-partition topic
// (loaded by `topspeed gen`, keyed by car id) gives, car by car, exactly
// the results that --input gives on the same events; a restart resumes at
// the checkpointed offsets, and the part-file output stays exactly once.
func TestKafkaOneReplicaEqualsInput(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.KafkaTopic(t, brokers, 8)
	dir := t.TempDir()
	in := filepath.Join(dir, "cars.txt")
	runGenTool(t, append(kgInput(40, 30000), "--output", in)...)
	ref := filepath.Join(dir, "ref.txt")
	if code, _, stderr := runCLI(t, "--input", in, "--output", ref, "--log-level", "error"); code != exitOK {
		t.Fatalf("reference: exit %d: %s", code, stderr)
	}
	b, _ := os.ReadFile(ref)
	want := resultsPerCar(t, "", b)

	lines := readLines(t, in)
	half := len(lines) / 2
	produceLines(t, brokers, topic, lines[:half])

	out, ck := filepath.Join(dir, "out"), filepath.Join(dir, "ck")
	outTopic := testenv.KafkaTopic(t, brokers, 3)
	kout := []string{"--kafka-output-topic", outTopic, "--kafka-output-transactional-id", "t-" + outTopic}
	r := groupReplica(t, nil, brokers, topic, "g-"+topic, ck, append([]string{"--output", out}, kout...)...)
	// The first half is read and checkpointed; SIGKILL (no final
	// checkpoint), load the second half, restart.
	waitUntil(t, 60*time.Second, "the first half's results published", func() bool { return countLines(partsPerCar(t, out)) > countLines(want)/4 })
	time.Sleep(time.Second)
	_ = r.Cmd.Process.Kill()
	_ = r.Wait(t, 10*time.Second)
	produceLines(t, brokers, topic, lines[half:])
	addr := freeAddr(t)
	r = groupReplica(t, nil, brokers, topic, "g-"+topic, ck, append([]string{"--output", out, "--http-addr", addr}, kout...)...)
	waitUntil(t, 90*time.Second, "all results published", func() bool { return countLines(partsPerCar(t, out)) >= countLines(want) })
	// The metrics show the owned partitions and their consumer lag (0: all read).
	waitUntil(t, 30*time.Second, "lag 0 on 8 owned partitions in /metrics", func() bool {
		m := httpGet(t, "http://"+addr+"/metrics")
		return strings.Contains(m, "topspeed_kafka_partitions_owned 8") &&
			strings.Count(m, "topspeed_kafka_consumer_lag_records{") == 8 && !regexp.MustCompile(`consumer_lag_records\{[^}]*\} [1-9]`).MatchString(m)
	})
	// Each partition's task exports the engine's per-stage metrics under
	// its own topic and partition labels.
	m := httpGet(t, "http://"+addr+"/metrics")
	parts := map[string]bool{}
	for _, g := range regexp.MustCompile(`topspeed_records_in_total\{partition="(\d+)",stage="[^"]+",subtask="\d+",topic="[^"]+"\} [1-9]`).FindAllStringSubmatch(m, -1) {
		parts[g[1]] = true
	}
	if len(parts) != 8 {
		t.Errorf("records_in_total with records for %d partitions, want 8:\n%s", len(parts), grepLines(m, "records_in_total"))
	}
	_ = r.Cmd.Process.Signal(syscall.SIGTERM)
	if err := r.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("replica: %v\n%s", err, r.Stderr)
	}
	if !strings.Contains(r.Stderr.String(), "partition restores") {
		t.Fatalf("the restarted replica did not restore from the checkpoints\n%s", r.Stderr)
	}
	comparePerCar(t, partsPerCar(t, out), want)
	// The Kafka output, read committed, holds the same results exactly once
	// across the kill: the killed run's open transactions were aborted.
	comparePerCar(t, consumeCommitted(t, brokers, outTopic, countLines(want)), want)
}

// consumeCommitted reads n records of topic with isolation.level
// read_committed (waiting up to 30 s for them, and 1 s more for any
// extra one) and groups their values by car.
func consumeCommitted(t *testing.T, brokers []string, topic string, n int) map[string][]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[string][]string{}
	got, settled := 0, false
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			car, _, _ := strings.Cut(string(r.Value), ",")
			out[car] = append(out[car], string(r.Value))
			got++
		})
		if got >= n && !settled {
			settled, deadline = true, time.Now().Add(time.Second)
		}
	}
	return out
}

// readLines returns the lines of the file at path.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// produceLines writes input lines to topic, keyed by car id as `topspeed
// gen` does, and waits for every acknowledgement.
func produceLines(t *testing.T, brokers []string, topic string, lines []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(lines))
	for i, l := range lines {
		car, _, _ := strings.Cut(strings.TrimPrefix(l, "("), ",")
		recs[i] = &kgo.Record{Key: []byte(car), Value: []byte(l)}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// httpGet returns the body of url ("" on an error).
func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
