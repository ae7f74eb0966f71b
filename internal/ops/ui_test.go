package ops

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topspeed/topspeed/internal/ops/ui"
)

// TestDashboardFiles: / serves the page, /ui/ its script and style sheet,
// with a Content-Security-Policy that allows only this server; no
// embedded file refers to another host.
func TestDashboardFiles(t *testing.T) {
	srv := NewServer(Config{})
	h := srv.Handler()
	for path, ctype := range map[string]string{"/": "text/html", "/ui/app.js": "javascript", "/ui/app.css": "text/css"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %s", path, rec.Code, rec.Header().Get("Content-Type"))
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	if code, _ := get(t, h, "/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope: %d", code)
	}
	if code, body := get(t, h, "/"); code != http.StatusOK || !strings.Contains(body, `src="/ui/app.js"`) {
		t.Errorf("page: %d", code)
	}
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(ui.Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(ui.Files, path)
		if err != nil {
			return err
		}
		for _, m := range external.FindAllString(string(b), -1) {
			if m != "http://www.w3.org" && !strings.HasPrefix(m, "//www.w3.org") { // the SVG namespace, not a request
				t.Errorf("%s refers to %s: the page must need nothing from outside", path, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDashboardAPI fills a server with stages, counts, checkpoints and
// errors and reads every endpoint back.
func TestDashboardAPI(t *testing.T) {
	var in atomic.Int64
	rec := NewRecorder(nil)
	wm := time.Now().Add(-3 * time.Second).UnixMilli()
	srv := NewServer(Config{
		Status:   func() Status { return Status{Job: "j", State: "running", Parallelism: 2} },
		Counts:   func() (int64, int64) { return in.Load(), in.Load() / 2 },
		Recorder: rec, Token: "tok",
		Savepoint: func(context.Context) (string, error) { return "/sp/1", nil },
		Stages: func() []Stage {
			n := in.Load()
			return []Stage{
				{Name: "src", Kind: "source", Parallelism: 1, RecordsIn: n, RecordsOut: n, Watermark: wm, HasWatermark: true},
				{Name: "op", Kind: "operator", Parallelism: 2, Inputs: []string{"src"}, RecordsIn: n, RecordsOut: n / 2, Queued: 8, QueueCapacity: 16, MaxQueueFill: 0.75},
				{Name: "out", Kind: "sink", Parallelism: 1, Inputs: []string{"op"}, RecordsIn: n / 2, RecordsOut: n / 2},
			}
		},
		Cluster: func() Cluster {
			return Cluster{Mode: "ha", Self: "r1", Peers: []Peer{{"r0", "a:1"}, {"r1", "b:1"}}}
		},
	})
	rec.SetRaft(RoleFollower, 4, "r0")
	t0 := time.Now()
	for i := 0; i <= 6; i++ { // 1000 records a second for 6 s
		in.Store(int64(i * 1000))
		srv.sample(t0.Add(time.Duration(i) * time.Second))
	}
	rec.CheckpointDone(7, 20*time.Millisecond, 1234, "/ck/chk-7")
	rec.CheckpointFailedBecause(8, errors.New(`engine: sink "out": disk full`))
	rec.Exception("pipeline", "op", "boom")

	var ov Overview
	decode(t, srv.Handler(), "/api/v1/overview", &ov)
	if ov.Job != "j" || ov.Mode != "ha" || ov.Role != RoleFollower || ov.Term != 4 || ov.Leader != "r0" || ov.Self != "r1" ||
		len(ov.Peers) != 2 || !ov.Peers[0].Leader || ov.Peers[1].Leader || !ov.Peers[1].Self || !ov.Savepoints {
		t.Errorf("overview %+v", ov)
	}
	var g Graph
	decode(t, srv.Handler(), "/api/v1/graph", &g)
	if len(g.Stages) != 3 || len(g.Edges) != 2 || g.Edges[0] != (GraphEdge{"src", "op"}) || g.RateWindowSeconds != 5 {
		t.Fatalf("graph %+v", g)
	}
	if s := g.Stages[1]; s.InRate != 1000 || s.OutRate != 500 || s.QueueFill != 0.75 || s.Queued != 8 || s.WatermarkMillis != nil {
		t.Errorf("operator %+v", s)
	}
	if s := g.Stages[0]; s.WatermarkMillis == nil || *s.WatermarkMillis != wm || *s.WatermarkLagSeconds < 2.9 || *s.WatermarkLagSeconds > 60 {
		t.Errorf("source watermark %+v", s)
	}
	var ck Checkpoints
	decode(t, srv.Handler(), "/api/v1/checkpoints", &ck)
	if ck.Total != 2 || len(ck.History) != 2 || ck.History[0].State != "failed" || ck.History[0].ID != 8 || ck.History[0].Cause != `engine: sink "out": disk full` ||
		ck.History[1].ID != 7 || ck.History[1].Path != "/ck/chk-7" || ck.History[1].SizeBytes != 1234 || ck.Latest == nil || ck.Latest.ID != 7 {
		t.Errorf("checkpoints %+v", ck)
	}
	var ex Exceptions
	decode(t, srv.Handler(), "/api/v1/exceptions", &ex)
	if ex.Total != 2 || len(ex.Exceptions) != 2 || ex.Exceptions[0].Stage != "op" || ex.Exceptions[1].Kind != "checkpoint" || ex.Exceptions[1].Stage != "out" {
		t.Errorf("exceptions %+v", ex)
	}
	var tp Throughput
	decode(t, srv.Handler(), "/api/v1/throughput", &tp)
	if len(tp.Samples) != 6 || tp.Samples[5].In != 1000 || tp.Samples[5].Out != 500 || !tp.Samples[0].Time.Before(tp.Samples[5].Time) {
		t.Errorf("throughput %+v", tp)
	}
	var newer Throughput
	decode(t, srv.Handler(), fmt.Sprintf("/api/v1/throughput?since=%d", tp.Samples[3].Time.UnixMilli()), &newer)
	if len(newer.Samples) != 2 || !newer.Samples[0].Time.Equal(tp.Samples[4].Time) {
		t.Errorf("throughput since the 4th sample: %+v", newer)
	}
	if code, _ := get(t, srv.Handler(), "/api/v1/throughput?since=yesterday"); code != http.StatusBadRequest {
		t.Errorf("since=yesterday: %d", code)
	}
}

// TestDashboardBounded: the histories keep their bounds however long the
// job runs.
func TestDashboardBounded(t *testing.T) {
	rec := NewRecorder(nil)
	var n int64
	srv := NewServer(Config{Recorder: rec, Counts: func() (int64, int64) { n++; return n, n },
		Stages: func() []Stage { return []Stage{{Name: "s", Kind: "source", RecordsIn: n}} }})
	t0 := time.Now()
	for i := 0; i < 1000; i++ {
		srv.sample(t0.Add(time.Duration(i) * time.Second))
		rec.CheckpointDone(uint64(i+1), time.Millisecond, 1, "")
		rec.Exception("job", "", strings.Repeat("x", 10000))
	}
	cks, ckTotal, excs, excTotal := rec.History()
	if len(cks) != MaxCheckpointHistory || ckTotal != 1000 || cks[0].ID != 1000 || cks[len(cks)-1].ID != 1000-MaxCheckpointHistory+1 {
		t.Errorf("checkpoints: %d kept of %d, newest %d", len(cks), ckTotal, cks[0].ID)
	}
	if len(excs) != MaxExceptions || excTotal != 1000 || len(excs[0].Message) > maxExceptionText+4 {
		t.Errorf("exceptions: %d kept of %d, %d bytes", len(excs), excTotal, len(excs[0].Message))
	}
	if got := len(srv.Throughput().Samples); got != int(ThroughputHistory/time.Second) {
		t.Errorf("throughput samples %d", got)
	}
	srv.mu.Lock()
	kept := len(srv.ui.stages)
	srv.mu.Unlock()
	if kept > 7 {
		t.Errorf("%d stage samples kept", kept)
	}
}

// TestDashboardOverTLS: the page and the API are served over the
// server's TLS; the savepoint still needs the token.
func TestDashboardOverTLS(t *testing.T) {
	certFile, keyFile, pool := writeCert(t)
	srv := NewServer(Config{Addr: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile, Token: "tok",
		Savepoint: func(context.Context) (string, error) { return "/sp", nil }})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	base := "https://" + srv.Addr()
	for _, p := range []string{"/", "/ui/app.js", "/api/v1/overview", "/api/v1/graph", "/api/v1/checkpoints", "/api/v1/exceptions", "/api/v1/throughput"} {
		resp, err := c.Get(base + p)
		if code, body := read(t)(resp, err); code != http.StatusOK {
			t.Errorf("GET %s over TLS: %d %s", p, code, body)
		}
	}
	if code, _ := read(t)(postWith(c, base+"/api/v1/savepoints", "")); code != http.StatusUnauthorized {
		t.Errorf("savepoint without token: %d", code)
	}
}

func TestStageOf(t *testing.T) {
	for msg, want := range map[string]string{
		`engine: stage "top-speed": boom`:                "top-speed",
		`checkpoint 3: engine: sink "out": flush: x`:     "out",
		`engine: source "cars": read: engine: stage "x"`: "cars",
		`nothing here`:                "",
		`engine: stage "unterminated`: "",
	} {
		if got := StageOf(msg); got != want {
			t.Errorf("StageOf(%q) = %q, want %q", msg, got, want)
		}
	}
}

func decode(t *testing.T, h http.Handler, path string, v any) {
	t.Helper()
	code, body := get(t, h, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}
