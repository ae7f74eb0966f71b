package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/topspeed/topspeed/internal/testenv"
)

// The dashboard's browser tests: a real topspeed, a real headless
// Chromium (Debian's chromium, which `make chromium` installs), and
// assertions on what a person sees on the page. Without Chromium they
// skip, saying so, unless TOPSPEED_REQUIRE_SERVERS=1 (make test), where
// they fail.

// chromium returns the path of a Chromium or Chrome on PATH, or skips
// (fails when servers are required).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium or Chrome on PATH: the dashboard's browser test needs one (`make chromium` installs Debian's chromium)"
	if testenv.Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser starts a headless Chromium and returns a tab's context; it
// accepts the test's self-signed certificate (the ops server's TLS).
func browser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // root in containers and CI
		chromedp.DisableGPU,
		chromedp.WindowSize(1360, 1000),
		chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	tab, tcancel := chromedp.NewContext(actx)
	t.Cleanup(tcancel)
	if err := chromedp.Do(tab); err != nil { // starts the browser
		t.Fatalf("starting headless Chromium: %v", err)
	}
	return tab
}

// netLog sums what the page transferred (DevTools Network events) and
// records every URL it asked for.
type netLog struct {
	mu    sync.Mutex
	bytes float64
	urls  []string
}

func (n *netLog) listen(t *testing.T, tab context.Context) {
	err := chromedp.Listen(tab, func(ev any) {
		n.mu.Lock()
		defer n.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			n.urls = append(n.urls, e.Request.URL)
		case *network.EventLoadingFinished:
			n.bytes += e.EncodedDataLength
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (n *netLog) snapshot() (float64, []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.bytes, append([]string(nil), n.urls...)
}

// textOf returns the text content of the first element sel matches (""
// if none): what the page shows, before CSS transforms such as uppercase.
func textOf(tab context.Context, sel string) (string, error) {
	q, _ := json.Marshal(sel)
	return chromedp.Run(tab, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%s)||{textContent:""}).textContent`, q)))
}

// waitReady polls url's /readyz until 200.
func waitReady(t *testing.T, c *http.Client, base string, l *testenv.Life) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready in 30s: %v; stderr:\n%s", base, err, l.Stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rate parses the number of "in 2.0k/s" (k, M, G suffixes).
func rate(s string) float64 {
	f := strings.Fields(s)
	if len(f) < 2 {
		return -1
	}
	v := strings.TrimSuffix(f[1], "/s")
	mult := 1.0
	switch {
	case strings.HasSuffix(v, "k"):
		mult, v = 1e3, strings.TrimSuffix(v, "k")
	case strings.HasSuffix(v, "M"):
		mult, v = 1e6, strings.TrimSuffix(v, "M")
	case strings.HasSuffix(v, "G"):
		mult, v = 1e9, strings.TrimSuffix(v, "G")
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return -1
	}
	return x * mult
}

// artifacts is where the screenshot goes: $TOPSPEED_ARTIFACTS, else the
// test's temporary directory.
func artifacts(t *testing.T) string {
	if d := os.Getenv("TOPSPEED_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestUIDashboard runs the job with the generator, checkpoints, a token
// and TLS, opens the dashboard in headless Chromium and checks what the
// page shows: the role, the stage names of the job graph with rates above
// zero, a completed checkpoint; then it types the token into the page,
// presses the savepoint button and checks the path the page shows (and
// that it exists). It saves a screenshot (TOPSPEED_ARTIFACTS; copied to
// TOPSPEED_UI_SCREENSHOT, relative to the repository, if set) and logs the
// page's weight and time to first render.
func TestUIDashboard(t *testing.T) {
	chromium(t)
	dir := t.TempDir()
	const token = "dashboard-t0ken"
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	certs := testenv.TLSFiles(t, "ops")
	cert, key := certs.Cert("ops")
	addr := freeAddr(t)
	spDir := filepath.Join(dir, "sp")
	l := start(t, nil, "--http-addr", addr, "--http-tls-cert", cert, "--http-tls-key", key, "--http-token-file", tokenFile,
		"--rate", "2000", "--cars", "20", "--parallelism", "2", "--checkpoint-dir", filepath.Join(dir, "ck"), "--savepoint-dir", spDir,
		"--checkpoint-interval", "1s", "--output", filepath.Join(dir, "out"), "--progress-interval", "0")
	base := "https://" + addr
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer c.CloseIdleConnections()
	waitReady(t, c, base, l)
	time.Sleep(3 * time.Second) // a few rate samples

	tab := browser(t, 3*time.Minute)
	var nl netLog
	nl.listen(t, tab)
	begin := time.Now()
	if err := chromedp.Do(tab, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="1"]`))); err != nil {
		t.Fatalf("loading the dashboard: %v; stderr:\n%s", err, l.Stderr)
	}
	firstRender := time.Since(begin)
	pageBytes, urls := nl.snapshot()
	fcp, _ := chromedp.Run(tab, chromedp.Evaluate[float64](`(performance.getEntriesByName("first-contentful-paint")[0]||{startTime:-1}).startTime`))
	t.Logf("page weight: %.0f bytes transferred for %d requests (page, script, style sheet and the first 5 API calls); first render with data %v after navigation (first contentful paint %.0f ms)",
		pageBytes, len(urls), firstRender.Round(time.Millisecond), fcp)
	for _, u := range urls {
		if pu, err := url.Parse(u); err != nil || (pu.Host != addr && pu.Scheme != "data") {
			t.Errorf("the page requested %s: not its own server", u)
		}
	}

	// What a person sees: the role, the graph's stages with rates above 0.
	if role, err := textOf(tab, "#role"); err != nil || role != "standalone" {
		t.Errorf("role shown %q (%v), want standalone", role, err)
	}
	for _, stage := range []string{"cars", "top-speed", "output"} {
		sel := fmt.Sprintf(`g.stage[data-stage=%q]`, stage)
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := chromedp.Do(tab, chromedp.WaitVisible(chromedp.CSS(sel)))
			in, ierr := textOf(tab, sel+" text.rate-in")
			out, oerr := textOf(tab, sel+" text.rate-out")
			err = errors.Join(err, ierr, oerr)
			if err == nil && rate(in) > 0 && rate(out) > 0 {
				break
			}
			if err != nil || time.Now().After(deadline) {
				t.Fatalf("stage %s shows %q, %q (%v): want rates above 0", stage, in, out, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	if edges, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll("#graph-svg path.edge").length`)); err != nil || edges != 2 {
		t.Errorf("graph arrows: %d (%v), want 2 (cars -> top-speed -> output)", edges, err)
	}
	err := chromedp.Do(tab, chromedp.WaitVisible(chromedp.CSS(`#ck-table tbody tr[data-state="completed"]`)))
	if latest, lerr := textOf(tab, "#ck-latest"); err != nil || lerr != nil || !strings.HasPrefix(latest, "#") {
		t.Errorf("committed checkpoint shown %q (%v, %v)", latest, err, lerr)
	}

	// The savepoint button, with the token typed into the page.
	if err := chromedp.Do(tab,
		chromedp.SendKeys(chromedp.CSS("#sp-token"), token),
		chromedp.Click(chromedp.CSS("#sp-button")),
		chromedp.WaitVisible(chromedp.CSS("#sp-result.ok"))); err != nil {
		shown, _ := textOf(tab, "#sp-result")
		t.Fatalf("savepoint through the page: %v (the page shows %q)", err, shown)
	}
	result, err := textOf(tab, "#sp-result")
	if err != nil {
		t.Fatal(err)
	}
	path, ok := strings.CutPrefix(result, "Savepoint written to ")
	if !ok || !strings.HasPrefix(path, spDir) {
		t.Errorf("the page shows %q: want the savepoint's path in %s", result, spDir)
	} else if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Errorf("savepoint %s: %v", path, err)
	}
	settle := 4 * time.Second // two refreshes: the history shows the savepoint
	if os.Getenv("TOPSPEED_UI_SCREENSHOT") != "" {
		settle = 20 * time.Second // for the docs: more of the throughput chart
	}
	time.Sleep(settle)
	if rows, _ := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll("#ck-table tbody tr").length`)); rows == 0 {
		t.Error("no checkpoint rows")
	}
	refreshBytes, _ := nl.snapshot()
	t.Logf("the page has loaded %.0f bytes in all after %v open (about %.0f bytes per 2 s refresh)",
		refreshBytes, time.Since(begin).Round(time.Second), (refreshBytes-pageBytes)/max(time.Since(begin).Seconds()-firstRender.Seconds(), 1)*2)

	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(artifacts(t), "ui.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if dst := os.Getenv("TOPSPEED_UI_SCREENSHOT"); dst != "" {
		if !filepath.IsAbs(dst) {
			dst = filepath.Join("..", "..", dst) // the repository root
		}
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot copied to %s", dst)
	}

	_ = l.Cmd.Process.Signal(syscall.SIGTERM)
	if err := l.Wait(t, 30*time.Second); err != nil {
		t.Errorf("topspeed: %v; stderr:\n%s", err, l.Stderr)
	}
	if strings.Contains(l.Stderr.String(), token) {
		t.Error("topspeed logged the token")
	}
}

// TestUIHAFollower starts 3 HA replicas on loopback (as
// TestHALocalStopAll does), opens a follower's dashboard and checks that
// it names itself a follower and names the leader, in the overview and in
// the list of replicas.
func TestUIHAFollower(t *testing.T) {
	chromium(t)
	dir := t.TempDir()
	raft, httpPorts := freePorts(t, 3), freePorts(t, 3)
	var peers []string
	for i, p := range raft {
		peers = append(peers, fmt.Sprintf("r%d=127.0.0.1:%d", i, p))
	}
	certs := testenv.TLSFiles(t, "r0", "r1", "r2")
	var reps []*hlReplica
	for i := range raft {
		r := &hlReplica{replica: replica{id: fmt.Sprintf("r%d", i), logPath: filepath.Join(dir, fmt.Sprintf("r%d.log", i))},
			statusURL: fmt.Sprintf("http://127.0.0.1:%d/api/v1/status", httpPorts[i])}
		r.args = []string{"--cars", "8", "--rate", "500", "--parallelism", "2",
			"--ha-id", r.id, "--ha-bind", fmt.Sprintf("127.0.0.1:%d", raft[i]), "--ha-peers", strings.Join(peers, ","),
			"--ha-dir", filepath.Join(dir, r.id, "raft"), "--checkpoint-dir", filepath.Join(dir, "checkpoints"),
			"--checkpoint-interval", "500ms", "--output", filepath.Join(dir, "results"),
			"--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPorts[i]), "--log-format", "json", "--stop-timeout", "20s"}
		r.args = append(r.args, haTLSArgs(certs, r.id)...)
		r.start(t)
		reps = append(reps, r)
	}
	defer func() {
		for _, r := range reps {
			_ = r.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, r := range reps {
			if err := r.wait(t, 40*time.Second); err != nil {
				t.Errorf("%s: %v\n%s", r.id, err, tail(r.logPath))
			}
		}
	}()
	commits := waitEvents(t, reps, "checkpoint committed", 1, 30*time.Second, nil)
	leader := commits[0].str("replica")
	var follower *hlReplica
	for i, r := range reps {
		if r.id != leader {
			follower = r
			_ = i
			break
		}
	}
	base := strings.TrimSuffix(follower.statusURL, "/api/v1/status")
	tab := browser(t, 2*time.Minute)
	var role, shownLeader, leaderPeer, graph string
	if err := chromedp.Do(tab, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="1"]`))); err != nil {
		t.Fatalf("loading %s's dashboard: %v", follower.id, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var errs [4]error
		role, errs[0] = textOf(tab, "#role")
		shownLeader, errs[1] = textOf(tab, "#ov-leader")
		leaderPeer, errs[2] = chromedp.Run(tab, chromedp.Evaluate[string](`(document.querySelector("#ov-peers li.leader")||{textContent:""}).textContent`))
		graph, errs[3] = chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector("#graph-svg").textContent`))
		err := errors.Join(errs[:]...)
		if err == nil && role == "follower" && shownLeader == leader && strings.HasPrefix(leaderPeer, leader+" ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower %s's dashboard: role %q, leader %q, leader in the replicas %q (%v); want follower and %s",
				follower.id, role, shownLeader, leaderPeer, err, leader)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !strings.Contains(graph, "No job runs on this replica") {
		t.Errorf("follower's graph: %q", graph)
	}
	if png, err := chromedp.Run(tab, chromedp.FullScreenshot(100)); err == nil {
		_ = os.WriteFile(filepath.Join(artifacts(t), "ui-ha-follower.png"), png, 0o644)
	}
}

// TestUICost measures what an open dashboard costs the job: topspeed runs
// the generator as fast as it can (--rate 0) for 6 phases of
// TOPSPEED_UI_COST_PHASE (default 10s), alternately with the dashboard
// closed (the tab on about:blank) and open (refreshing every 2 s), and
// reports the events/s and topspeed's CPU time per million events of
// each, and the ratio open/closed. The browser runs in both phases, on the
// same machine, so the difference is the page's refreshing: the server
// answering and the browser drawing. It fails if the open phases reach
// less than 70% of the closed ones' rate. It runs only with
// TOPSPEED_UI_COST=1 (make ui-bench): it takes a minute and wants the
// machine to itself.
func TestUICost(t *testing.T) {
	if os.Getenv("TOPSPEED_UI_COST") == "" {
		t.Skip("a one-minute measurement that wants the machine to itself: run it with TOPSPEED_UI_COST=1 (make ui-bench)")
	}
	phase := 10 * time.Second
	if s := os.Getenv("TOPSPEED_UI_COST_PHASE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second || d > 10*time.Minute {
			t.Fatalf("TOPSPEED_UI_COST_PHASE=%q: want a duration in [1s, 10m]", s)
		}
		phase = d
	}
	addr := freeAddr(t)
	l := start(t, nil, "--http-addr", addr, "--rate", "0", "--cars", "1000", "--parallelism", "2",
		"--output", os.DevNull, "--progress-interval", "0", "--log-level", "warn")
	base := "http://" + addr
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	waitReady(t, c, base, l)
	tab := browser(t, 10*time.Minute)
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	events := func() int64 {
		var g struct {
			Stages []struct {
				Kind      string `json:"kind"`
				RecordsIn int64  `json:"records_in"`
			} `json:"stages"`
		}
		resp, err := c.Get(base + "/api/v1/graph")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&g); err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, s := range g.Stages {
			if s.Kind == "source" {
				n += s.RecordsIn
			}
		}
		return n
	}
	var sum [2]struct{ events, cpu, secs float64 }
	for i := 0; i < 6; i++ {
		open := i%2 == 1
		url := "about:blank"
		if open {
			url = base + "/"
		}
		if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // settle after the navigation
		n0, cpu0, t0 := events(), cpuSeconds(t, l.Cmd.Process.Pid), time.Now()
		time.Sleep(phase)
		n1, cpu1, secs := events(), cpuSeconds(t, l.Cmd.Process.Pid), time.Since(t0).Seconds()
		k := 0
		if open {
			k = 1
		}
		sum[k].events += float64(n1 - n0)
		sum[k].cpu += cpu1 - cpu0
		sum[k].secs += secs
		t.Logf("phase %d, dashboard %-6s: %.0f events/s, topspeed CPU %.2f s/s, %.2f CPU-s per million events",
			i+1, map[bool]string{false: "closed", true: "open"}[open], float64(n1-n0)/secs, (cpu1-cpu0)/secs, (cpu1-cpu0)/float64(n1-n0)*1e6)
	}
	closed, open := sum[0].events/sum[0].secs, sum[1].events/sum[1].secs
	t.Logf("dashboard closed: %.0f events/s, %.2f CPU-s per million events; open and refreshing: %.0f events/s, %.2f CPU-s per million events; open/closed = %.3f",
		closed, sum[0].cpu/sum[0].events*1e6, open, sum[1].cpu/sum[1].events*1e6, open/closed)
	if open < 0.7*closed {
		t.Errorf("with the dashboard open the job ran at %.0f%% of its rate", 100*open/closed)
	}
	_ = l.Cmd.Process.Signal(syscall.SIGTERM)
	if err := l.Wait(t, 30*time.Second); err != nil {
		t.Errorf("topspeed: %v; stderr:\n%s", err, l.Stderr)
	}
}

// cpuSeconds returns the user and system CPU time of process pid
// (/proc/<pid>/stat, Linux).
func cpuSeconds(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("CPU time of topspeed: %v", err)
	}
	// Fields after the command (which may hold spaces) in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ, 100 on Linux
}
