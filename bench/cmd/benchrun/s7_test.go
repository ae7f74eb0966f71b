package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func serveMetrics(t *testing.T, body string) int {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) }))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestS7ScrapeReadsLagAndCheckpoints(t *testing.T) {
	port := serveMetrics(t, `# HELP topspeed_kafka_consumer_lag_records lag
topspeed_checkpoints_completed_total 24
topspeed_kafka_consumer_lag_records{partition="0",topic="t"} 0
topspeed_kafka_consumer_lag_records{partition="7",topic="t"} 1234
topspeed_kafka_consumer_lag_records{partition="3",topic="t"} -1
topspeed_kafka_partitions_owned 3
`)
	m, err := s7Scrape(t.Context(), port)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]int64{0: 0, 7: 1234, 3: -1}
	if len(m.lag) != len(want) {
		t.Fatalf("lag %v, want %v", m.lag, want)
	}
	for p, v := range want {
		if m.lag[p] != v {
			t.Fatalf("lag %v, want %v", m.lag, want)
		}
	}
	if m.checkpoints != 24 {
		t.Fatalf("checkpoints %v, want 24", m.checkpoints)
	}
}

func TestS7ScrapeRefusesABadLagLine(t *testing.T) {
	port := serveMetrics(t, "topspeed_kafka_consumer_lag_records{topic=\"t\"} 5\n")
	if _, err := s7Scrape(t.Context(), port); err == nil || !strings.Contains(err.Error(), "bad line") {
		t.Fatalf("err = %v, want a bad line error", err)
	}
}

// TestS7WaitLagNeedsEveryPartitionAtZero: a replica that owns some
// partitions, or has one not fetched yet (-1), is not done; the wait ends
// by its context.
func TestS7WaitLagNeedsEveryPartitionAtZero(t *testing.T) {
	var b strings.Builder
	for p := 0; p < s7Partitions; p++ {
		v := "0"
		if p == 5 {
			v = "-1"
		}
		b.WriteString(`topspeed_kafka_consumer_lag_records{partition="` + strconv.Itoa(p) + `",topic="t"} ` + v + "\n")
	}
	proc := &s7Proc{port: serveMetrics(t, b.String()), exited: make(chan struct{})}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := s7WaitLag(ctx, []*s7Proc{proc}); err == nil || !strings.Contains(err.Error(), "not consumed") {
		t.Fatalf("err = %v, want not consumed", err)
	}
	done := strings.ReplaceAll(b.String(), "} -1", "} 0")
	proc.port = serveMetrics(t, done)
	if err := s7WaitLag(t.Context(), []*s7Proc{proc}); err != nil {
		t.Fatal(err)
	}
}

func TestS7ConcatPublishedPartsOnly(t *testing.T) {
	out := t.TempDir()
	files := map[string]string{
		"t-1/part-000000000001":                  "(3,1,1.0,3)\n",
		"t-1/part-000000000000":                  "(3,1,1.0,1)\n(3,1,1.0,2)\n",
		"t-1/.part-000000000002.w.inprogress":    "(3,1,1.0,9)\n",
		"t-0/part-000000000000":                  "(2,1,1.0,1)\n",
		"t-0/.part-000000000001.w.pending":       "(2,1,1.0,9)\n",
		"stray-file-not-a-partition-directory.x": "x\n",
	}
	for name, body := range files {
		p := filepath.Join(out, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(t.TempDir(), "all.txt")
	n, err := s7Concat(out, dst)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(dst)
	want := "(2,1,1.0,1)\n(3,1,1.0,1)\n(3,1,1.0,2)\n(3,1,1.0,3)\n"
	if n != 4 || string(b) != want {
		t.Fatalf("got %d lines %q, want 4 lines %q", n, b, want)
	}
	if n2, err := s7Concat(out, ""); err != nil || n2 != 4 {
		t.Fatalf("count only: %d, %v", n2, err)
	}
}

func TestS7LastSummary(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.err")
	log := `{"level":"info","msg":"progress","events":10,"results":2}
not json
{"level":"info","msg":"summary","events":100,"results":20}
{"level":"info","msg":"summary","events":150,"results":30}
`
	if err := os.WriteFile(p, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := s7LastSummary(p)
	if err != nil || s.Events != 150 || s.Results != 30 {
		t.Fatalf("got %+v, %v; want the last summary (150, 30)", s, err)
	}
	if err := os.WriteFile(p, []byte(`{"msg":"progress","events":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s7LastSummary(p); err == nil {
		t.Fatal("no summary line: want an error")
	}
}
