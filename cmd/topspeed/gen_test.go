package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/topspeed/topspeed/internal/testenv"
	"github.com/topspeed/topspeed/job/topspeed"
)

// genReports runs the generator of cfg to its end.
func genReports(t *testing.T, cfg topspeed.GeneratorConfig) []topspeed.Car {
	t.Helper()
	g, err := topspeed.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := g.Open(ctx); err != nil {
		t.Fatal(err)
	}
	var out []topspeed.Car
	buf := make([]topspeed.Car, 1000)
	for {
		n, err := g.Read(ctx, buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// parseLines parses report lines as topspeed --input does.
func parseLines(t *testing.T, r io.Reader) []topspeed.Car {
	t.Helper()
	var out []topspeed.Car
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		c, err := topspeed.ParseCar(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d %q: %v", len(out)+1, sc.Text(), err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func equalCars(t *testing.T, got, want []topspeed.Car) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d reports, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("report %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

const genStart = 1_700_000_000_000

func genArgs(extra ...string) []string {
	return append([]string{"gen", "--cars", "7", "--seed", "3", "--rate", "0", "--event-clock", "synthetic",
		"--start-time", strconv.Itoa(genStart)}, extra...)
}

func genConfig(events int64) topspeed.GeneratorConfig {
	return topspeed.GeneratorConfig{Cars: 7, Seed: 3, Events: events, Synthetic: true, StartTime: time.UnixMilli(genStart)}
}

func TestGenFileEqualsGenerator(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cars.txt")
	var stdout, stderr bytes.Buffer
	if code := run(genArgs("--events", "20000", "--output", path), &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "wrote 20000 events to "+path) || !strings.Contains(stderr.String(), "events/s") {
		t.Fatalf("summary: %q", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Fatalf("stdout not empty: %q", stdout.String())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	equalCars(t, parseLines(t, f), genReports(t, genConfig(20000)))
}

func TestGenStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(genArgs("--events", "50"), &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	equalCars(t, parseLines(t, &stdout), genReports(t, genConfig(50)))
	if !strings.Contains(stderr.String(), "wrote 50 events to stdout") {
		t.Fatalf("summary: %q", stderr.String())
	}
}

func noEnv(string) (string, bool) { return "", false }

func TestGenUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"gen", "--rate", "0"}, "--events 0 writes without end"},
		{[]string{"gen", "--event-clock", "synthetic"}, "--events 0 writes without end"},
		{[]string{"gen", "--events", "-1"}, "--events -1"},
		{[]string{"gen", "--events", "5", "--cars", "0"}, "--cars 0"},
		{[]string{"gen", "--events", "5", "--rate", "-2"}, "--rate -2"},
		{[]string{"gen", "--events", "5", "--event-clock", "fast"}, "--event-clock"},
		{[]string{"gen", "--events", "5", "--flush-timeout", "0s"}, "--flush-timeout"},
		{[]string{"gen", "--events", "5", "--kafka-partitions", "3"}, "--kafka-partitions needs --kafka-topic"},
		{[]string{"gen", "--events", "5", "--kafka-brokers", "127.0.0.1:1"}, "--kafka-brokers needs --kafka-topic"},
		{[]string{"gen", "--events", "5", "--kafka-topic", "t"}, "--kafka-brokers"},
		{[]string{"gen", "--events", "5", "--kafka-topic", "t", "--kafka-brokers", "127.0.0.1:1", "--kafka-partitions", "100000"}, "--kafka-partitions 100000"},
		{[]string{"gen", "--events", "5", "--kafka-topic", "a b", "--kafka-brokers", "127.0.0.1:1"}, "--kafka-topic a b"},
		{[]string{"gen", "--events", "5", "--kafka-topic", "t", "--kafka-brokers", "127.0.0.1:1", "--output", "x"}, "exclude each other"},
		{[]string{"gen", "--events", "5", "--input", "x"}, "unknown flag: --input"},
		{[]string{"gen", "--events", "5", "extra"}, "unexpected argument"},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr, noEnv)
		if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr.String(), exitUsage, tc.want)
		}
	}
}

func TestGenHelpNamesEveryFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"gen", "--help"}, &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var o genOptions
	n := 0
	newGenFlagSet(&o).VisitAll(func(f *pflag.Flag) {
		n++
		out := stdout.String()
		if !strings.Contains(out, "--"+f.Name+" ") && !strings.Contains(out, "--"+f.Name+"[") || f.Usage == "" {
			t.Errorf("--help does not explain --%s", f.Name)
		}
	})
	if n < len(genGeneratorFlags)+4 {
		t.Fatalf("only %d flags", n)
	}
}

// A cancelled run (Ctrl-C) stops, flushes whole lines and exits 0.
func TestGenInterruptFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cars.txt")
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := []string{"--cars", "3", "--rate", "200", "--seed", "5", "--output", path}
	if code := runGen(ctx, args, &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := parseLines(t, f)
	if len(got) < 20 || len(got) > 400 {
		t.Fatalf("%d reports in 0.7 s at 200/s", len(got))
	}
	want := fmt.Sprintf("wrote %d events", len(got))
	if s := stderr.String(); !strings.Contains(s, want) || !strings.Contains(s, "stopped by signal") {
		t.Fatalf("summary %q, want %q and the interruption", s, want)
	}
}

// gen into a topic it creates: every report arrives once, keyed by car id,
// each car in one partition with its reports in order.
func TestGenKafkaTopic(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := fmt.Sprintf("test-gen-%d", time.Now().UnixNano())
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	t.Cleanup(func() { _, _ = adm.DeleteTopic(context.Background(), topic) })
	const events, partitions = 30000, 6
	var stdout, stderr bytes.Buffer
	args := genArgs("--events", strconv.Itoa(events), "--kafka-brokers", strings.Join(brokers, ","),
		"--kafka-topic", topic, "--kafka-partitions", strconv.Itoa(partitions))
	if code := run(args, &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), fmt.Sprintf("wrote %d events to Kafka topic %s", events, topic)) {
		t.Fatalf("summary: %q", stderr.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The broker's metadata may lag the topic's creation briefly: ask again.
	var tds kadm.TopicDetails
	for {
		tds, err = adm.ListTopics(ctx, topic)
		if err == nil && len(tds[topic].Partitions) == partitions || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || len(tds[topic].Partitions) != partitions {
		t.Fatalf("topic %s: %d partitions, %v; want %d", topic, len(tds[topic].Partitions), err, partitions)
	}
	byCar := map[int32][]topspeed.Car{}
	part := map[int32]int32{}
	usedParts := map[int32]bool{}
	for n := 0; n < events; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records in 60 s", n, events)
		}
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			c, err := topspeed.ParseCar(r.Value)
			if err != nil {
				t.Fatalf("value %q: %v", r.Value, err)
			}
			if string(r.Key) != strconv.Itoa(int(c.ID)) {
				t.Fatalf("record %s has key %q", r.Value, r.Key)
			}
			if p, ok := part[c.ID]; ok && p != r.Partition {
				t.Fatalf("car %d in partitions %d and %d", c.ID, p, r.Partition)
			}
			part[c.ID], usedParts[r.Partition] = r.Partition, true
			byCar[c.ID] = append(byCar[c.ID], c)
		})
	}
	want := map[int32][]topspeed.Car{}
	for _, c := range genReports(t, genConfig(events)) {
		want[c.ID] = append(want[c.ID], c)
	}
	if len(byCar) != len(want) {
		t.Fatalf("%d cars, want %d", len(byCar), len(want))
	}
	for id, cs := range want {
		equalCars(t, byCar[id], cs) // in order within the car's partition
	}
	if len(usedParts) < 2 {
		t.Fatalf("7 cars all in %d partition(s)", len(usedParts))
	}
}
