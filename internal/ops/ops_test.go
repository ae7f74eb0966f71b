package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestEndpoints(t *testing.T) {
	b := BuildInfo{Version: "v1.2.3", Revision: "abc", GoVersion: "go1.26"}
	reg := NewRegistry(b)
	rec := NewRecorder(reg)
	var ready atomic.Bool
	var in, out atomic.Int64
	s := NewServer(Config{
		Gatherer: reg, Registerer: reg, Recorder: rec, Build: b,
		Status: func() Status { return Status{Job: "topspeed", State: "running", Parallelism: 4} },
		Counts: func() (int64, int64) { return in.Load(), out.Load() },
	})
	s.AddReadinessCheck("pipeline", func() error {
		if !ready.Load() {
			return errors.New("pipeline is starting")
		}
		return nil
	})
	h := s.Handler()

	if code, body := get(t, h, "/livez"); code != 200 || body != "ok\n" {
		t.Fatalf("livez %d %q", code, body)
	}
	code, body := get(t, h, "/readyz")
	if code != 503 || !strings.Contains(body, "[-] pipeline: pipeline is starting") {
		t.Fatalf("readyz before ready: %d %q", code, body)
	}
	ready.Store(true)
	if code, body := get(t, h, "/readyz?verbose"); code != 200 || body != "[+] pipeline ok\nok\n" {
		t.Fatalf("readyz: %d %q", code, body)
	}

	// Rates from two samples 2 s apart.
	t0 := time.Now()
	s.sample(t0.Add(-2 * time.Second))
	in.Store(2000)
	out.Store(100)
	s.sample(t0)
	rec.CheckpointCompleted(7, 150*time.Millisecond, 4096)
	code, body = get(t, h, "/api/v1/status")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if st["job"] != "topspeed" || st["role"] != "standalone" || st["term"] != 0.0 || st["leader"] != "" || st["parallelism"] != 4.0 || st["ready"] != true {
		t.Fatalf("status %s", body)
	}
	rates := st["rates"].(map[string]any)
	if rates["records_in_per_second"] != 1000.0 || rates["records_out_per_second"] != 50.0 {
		t.Fatalf("rates %v", rates)
	}
	if ck := st["last_checkpoint"].(map[string]any); ck["id"] != 7.0 || ck["size_bytes"] != 4096.0 {
		t.Fatalf("last checkpoint %v", ck)
	}

	code, body = get(t, h, "/metrics")
	if code != 200 {
		t.Fatalf("metrics %d", code)
	}
	for _, w := range []string{
		`topspeed_build_info{goversion="go1.26",revision="abc",version="v1.2.3"} 1`,
		"topspeed_ready 1",
		"topspeed_checkpoints_completed_total 1",
		"topspeed_checkpoint_size_bytes 4096",
		`topspeed_raft_role{role="standalone"} 1`,
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestStatusWithoutCheckpointIsNull(t *testing.T) {
	s := NewServer(Config{})
	_, body := get(t, s.Handler(), "/api/v1/status")
	if !strings.Contains(body, `"last_checkpoint": null`) || !strings.Contains(body, `"role": "standalone"`) {
		t.Fatalf("status %s", body)
	}
}

func TestRecorderRaft(t *testing.T) {
	reg := NewRegistry(BuildInfo{})
	r := NewRecorder(reg)
	r.SetRaft(RoleFollower, 1, "")
	r.SetRaft(RoleFollower, 1, "a")
	r.SetRaft(RoleFollower, 2, "b")
	r.SetRaft(RoleLeader, 3, "me")
	r.SetRaft(RoleLeader, 3, "me")
	if v := testutil.ToFloat64(r.leaderChg); v != 2 {
		t.Errorf("leader changes %v, want 2", v)
	}
	if v := testutil.ToFloat64(r.role.WithLabelValues("leader")); v != 1 {
		t.Errorf("leader role %v", v)
	}
	if v := testutil.ToFloat64(r.role.WithLabelValues("follower")); v != 0 {
		t.Errorf("follower role %v", v)
	}
	role, term, leader, last := r.State()
	if role != RoleLeader || term != 3 || leader != "me" || last != nil {
		t.Errorf("state %v %v %v %v", role, term, leader, last)
	}
	var nilRec *Recorder
	nilRec.CheckpointCompleted(1, time.Second, 1) // no-op
	if role, _, _, _ := nilRec.State(); role != RoleStandalone {
		t.Errorf("nil recorder role %v", role)
	}
}

// TestServerLifecycle runs the real listener: endpoints answer, a request in
// progress finishes during a graceful shutdown, and the port is released.
func TestServerLifecycle(t *testing.T) {
	reg := NewRegistry(BuildInfo{})
	s := NewServer(Config{Addr: "127.0.0.1:0", Gatherer: reg, Counts: func() (int64, int64) { return 1, 1 }})
	release := make(chan struct{})
	// The check blocks once, in the /readyz request made after arming:
	// the endpoints fetched before (/api/v1/status runs the checks too)
	// pass through. (It used to block only if the test was already
	// waiting for it, and hung when /readyz came first.)
	entered := make(chan struct{})
	var armed atomic.Bool
	s.AddReadinessCheck("slow", func() error {
		if armed.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return nil
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr()
	for _, p := range []string{"/livez", "/metrics", "/api/v1/status"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Fatalf("%s: %d %q", p, resp.StatusCode, body)
		}
	}
	// A slow /readyz in flight when Shutdown starts still gets its answer.
	armed.Store(true)
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	<-entered
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if code := <-got; code != 200 {
		t.Fatalf("in-flight readyz: %d", code)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/livez"); err == nil {
		t.Fatal("server still answers after Shutdown")
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestShutdownTimeout(t *testing.T) {
	s := NewServer(Config{Addr: "127.0.0.1:0"})
	block := make(chan struct{})
	s.AddLivenessCheck("stuck", func() error { <-block; return nil })
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		if resp, err := http.Get("http://" + s.Addr() + "/livez"); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Fatalf("Shutdown = %v after %v", err, time.Since(start))
	}
	close(block)
	time.Sleep(50 * time.Millisecond) // let the handler goroutine end
	http.DefaultClient.CloseIdleConnections()
}

func TestListenError(t *testing.T) {
	s := NewServer(Config{Addr: "127.0.0.1:-1"})
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "ops: listen") {
		t.Fatalf("Start = %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestReadBuildInfo(t *testing.T) {
	b := ReadBuildInfo("v9", "deadbeef")
	if b.Version != "v9" || b.Revision != "deadbeef" || !strings.HasPrefix(b.GoVersion, "go") {
		t.Fatalf("%+v", b)
	}
	if b := ReadBuildInfo("", ""); b.Version == "" || b.Revision == "" {
		t.Fatalf("fallback %+v", b)
	}
}

func TestSavepointEndpoint(t *testing.T) {
	calls := 0
	var fail error
	srv := NewServer(Config{Token: "s3cret", Savepoint: func(context.Context) (string, error) {
		calls++
		return "/ck/sp-1", fail
	}})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer http.DefaultClient.CloseIdleConnections()
	resp, err := postWithToken(ts.URL+"/api/v1/savepoints", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(b), "/ck/sp-1") || calls != 1 {
		t.Fatalf("got %d %s (calls %d)", resp.StatusCode, b, calls)
	}
	fail = fmt.Errorf("%w: follower", ErrUnavailable)
	resp, err = postWithToken(ts.URL+"/api/v1/savepoints", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("follower: got %d", resp.StatusCode)
	}
	r, err := http.Get(ts.URL + "/api/v1/savepoints")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", r.StatusCode)
	}
}
