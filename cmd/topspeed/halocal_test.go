package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topspeed/topspeed/internal/testenv"
)

// hlReplica is a replica of the tests below (see replica in ha_test.go)
// with its status URL; its JSON logs go to logPath, appended across
// restarts.
type hlReplica struct {
	replica
	statusURL string
}

func (r *hlReplica) start(t *testing.T) { t.Helper(); r.replica.start(t, nil) }

// wait returns the exit error, or fails the test after timeout.
func (r *hlReplica) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v\n%s", r.id, timeout, tail(r.logPath))
		return nil
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return fmt.Sprintf("--- %s:\n%s", path, b)
}

// hlEvent is one JSON log line.
type hlEvent map[string]any

func (e hlEvent) str(k string) string { s, _ := e[k].(string); return s }
func (e hlEvent) num(k string) uint64 { f, _ := e[k].(float64); return uint64(f) }

// hlEvents returns the log lines of the replicas with message msg, in time
// order, each with "replica" set.
func hlEvents(reps []*hlReplica, msg string) []hlEvent {
	var all []hlEvent
	for _, r := range reps {
		f, err := os.Open(r.logPath)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e hlEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.str("msg") == msg {
				e["replica"] = r.id
				all = append(all, e)
			}
		}
		f.Close()
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].str("ts") < all[j].str("ts") })
	return all
}

// waitEvents waits until there are at least n events with msg satisfying ok.
func waitEvents(t *testing.T, reps []*hlReplica, msg string, n int, timeout time.Duration, ok func(hlEvent) bool) []hlEvent {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var got []hlEvent
		for _, e := range hlEvents(reps, msg) {
			if ok == nil || ok(e) {
				got = append(got, e)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			var tails []string
			for _, r := range reps {
				tails = append(tails, tail(r.logPath))
			}
			t.Fatalf("fewer than %d %q within %v\n%s", n, msg, timeout, strings.Join(tails, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hlStatus is the part of /api/v1/status these tests read.
type hlStatus struct {
	Role           string `json:"role"`
	Term           uint64 `json:"term"`
	Leader         string `json:"leader"`
	LastCheckpoint *struct {
		ID     uint64    `json:"id"`
		Path   string    `json:"path"`
		Term   uint64    `json:"term"`
		Time   time.Time `json:"time"`
		Origin string    `json:"origin"`
	} `json:"last_checkpoint"`
}

func getStatus(url string) (hlStatus, error) {
	var st hlStatus
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// freePorts returns n free loopback ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// resultsPerCar reads result lines "(carId,speed,distance,time)" from the
// published part files in dir (in sequence order) or from b if dir is
// empty, grouped by car: the order within a car is deterministic, the
// interleaving of cars is not.
func resultsPerCar(t *testing.T, dir string, b []byte) map[string][]string {
	t.Helper()
	if dir != "" {
		names, err := filepath.Glob(filepath.Join(dir, "part-*"))
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(names)
		var buf bytes.Buffer
		for _, n := range names {
			p, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(p)
		}
		b = buf.Bytes()
	}
	out := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		car, _, _ := strings.Cut(line, ",")
		out[car] = append(out[car], line)
	}
	return out
}

// TestHALocalStopAll runs 3 replicas on loopback with a shared checkpoint
// directory and a shared exactly-once output, as make ha-local does, and
// stops all of them at once with SIGTERM (a scale to zero). The leader's
// final checkpoint must be committed: the restarted cluster restores
// exactly it. Meanwhile the followers' /api/v1/status must show the
// committed checkpoint. The results over both runs must equal a
// failure-free run's.
func TestHALocalStopAll(t *testing.T) {
	dir := t.TempDir()
	if keep := os.Getenv("TOPSPEED_TEST_KEEP"); keep != "" {
		dir = keep // the logs stay for a look
	}
	// A bounded, paced, deterministic input: event i at start + i*10ms,
	// 4000 events at 1000/s (4 s).
	input := []string{"--cars", "8", "--seed", "7", "--start-time", "1424951918630", "--event-interval", "10ms", "--events", "4000", "--parallelism", "2"}

	// The failure-free reference, without HA or checkpoints.
	ref := testenv.Command(binary(t), append(append([]string{}, input...), "--rate", "0", "--http-addr", "", "--log-level", "warn")...)
	ref.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	refOut, err := ref.Output()
	if err != nil {
		t.Fatalf("reference run: %v", err)
	}
	want := resultsPerCar(t, "", refOut)

	raft, httpPorts := freePorts(t, 3), freePorts(t, 3)
	var peers []string
	for i, p := range raft {
		peers = append(peers, fmt.Sprintf("r%d=127.0.0.1:%d", i, p))
	}
	certs := testenv.TLSFiles(t, "r0", "r1", "r2") // raft over mutual TLS
	var reps []*hlReplica
	for i := range raft {
		r := &hlReplica{replica: replica{id: fmt.Sprintf("r%d", i), logPath: filepath.Join(dir, fmt.Sprintf("r%d.log", i))},
			statusURL: fmt.Sprintf("http://127.0.0.1:%d/api/v1/status", httpPorts[i])}
		r.args = append(append([]string{}, input...), "--rate", "1000",
			"--ha-id", r.id, "--ha-bind", fmt.Sprintf("127.0.0.1:%d", raft[i]), "--ha-peers", strings.Join(peers, ","),
			"--ha-dir", filepath.Join(dir, r.id, "raft"), "--checkpoint-dir", filepath.Join(dir, "checkpoints"),
			"--checkpoint-interval", "300ms", "--output", filepath.Join(dir, "results"),
			"--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPorts[i]), "--log-format", "json", "--stop-timeout", "20s")
		r.args = append(r.args, haTLSArgs(certs, r.id)...)
		r.start(t)
		reps = append(reps, r)
	}

	// A leader runs the job and commits checkpoints.
	commits := waitEvents(t, reps, "checkpoint committed", 2, 20*time.Second, nil)
	leader := commits[0].str("replica")
	var leaderURL string
	for _, r := range reps {
		if r.id == leader {
			leaderURL = r.statusURL
		}
	}

	// Followers show the committed checkpoint, as the leader does.
	deadline := time.Now().Add(5 * time.Second)
	for _, r := range reps {
		if r.id == leader {
			continue
		}
		for {
			fs, ferr := getStatus(r.statusURL)
			ls, lerr := getStatus(leaderURL)
			ok := ferr == nil && lerr == nil && fs.Role == "follower" && fs.Leader == leader &&
				fs.LastCheckpoint != nil && ls.LastCheckpoint != nil && fs.LastCheckpoint.ID > 0 &&
				fs.LastCheckpoint.ID == ls.LastCheckpoint.ID && fs.LastCheckpoint.Path == ls.LastCheckpoint.Path &&
				fs.LastCheckpoint.Term == ls.Term && !fs.LastCheckpoint.Time.IsZero()
			if ok {
				if fi, err := os.Stat(fs.LastCheckpoint.Path); err != nil || !fi.IsDir() {
					t.Fatalf("follower %s: last_checkpoint path %s is no checkpoint directory: %v", r.id, fs.LastCheckpoint.Path, err)
				}
				t.Logf("follower %s status: last_checkpoint %+v", r.id, *fs.LastCheckpoint)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("follower %s: status %+v (%v), leader's %+v (%v): want the committed checkpoint", r.id, fs, ferr, ls, lerr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Stop all at once, mid-run.
	for _, r := range reps {
		if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range reps {
		if err := r.wait(t, 30*time.Second); err != nil {
			t.Fatalf("%s after SIGTERM: %v\n%s", r.id, err, tail(r.logPath))
		}
	}
	if failed := hlEvents(reps, "final checkpoint failed"); len(failed) > 0 {
		t.Fatalf("the final checkpoint failed: %v", failed)
	}
	finals := hlEvents(reps, "stopped with a final checkpoint")
	if len(finals) != 1 || finals[0].str("replica") != leader {
		t.Fatalf("want one final checkpoint, by the leader %s: %v", leader, finals)
	}
	final := finals[0].num("checkpoint")
	// No follower left before the final commit (it would have taken the
	// quorum away); how each one noticed the leader was done depends on
	// timing (the announcement, the handover or the leader's exit).
	var committedAt string
	for _, e := range hlEvents(reps, "checkpoint committed") {
		if e.num("checkpoint") == final {
			committedAt = e.str("ts")
		}
	}
	leaving := hlEvents(reps, "follower leaving")
	if committedAt == "" || len(leaving) != 2 {
		t.Fatalf("final commit at %q, %d followers leaving", committedAt, len(leaving))
	}
	for _, e := range leaving {
		t.Logf("%s left at %s (final commit at %s): %s", e.str("replica"), e.str("ts"), committedAt, e.str("reason"))
		if e.str("ts") < committedAt || e.str("reason") == "the stopping leader did not finish in time" {
			t.Errorf("%s left at %s, before the final commit at %s: %s", e.str("replica"), e.str("ts"), committedAt, e.str("reason"))
		}
	}
	if len(hlEvents(reps, "first record processed")) != 1 {
		t.Fatal("the job ran more than once before the stop")
	}

	// Restart all: the new leader restores exactly the final checkpoint
	// (nothing it covered is replayed), and the job runs to its end.
	for _, r := range reps {
		r.start(t)
	}
	restores := waitEvents(t, reps, "leader: restoring from the committed checkpoint", 1, 20*time.Second, nil)
	if got := restores[0].num("checkpoint"); got != final {
		t.Fatalf("after stop-all the cluster restored checkpoint %d, want the final checkpoint %d", got, final)
	}
	t.Logf("stop-all: final checkpoint %d committed by %s; restart restored it on %s", final, leader, restores[0].str("replica"))
	for _, r := range reps {
		if err := r.wait(t, 60*time.Second); err != nil {
			t.Fatalf("%s: %v\n%s", r.id, err, tail(r.logPath))
		}
	}
	if len(hlEvents(reps, "the job has finished: exiting")) != 3 {
		t.Fatal("not every replica saw the job finish")
	}

	got := resultsPerCar(t, filepath.Join(dir, "results"), nil)
	if len(got) != len(want) {
		t.Fatalf("results for %d cars, want %d", len(got), len(want))
	}
	for car, w := range want {
		g := got[car]
		if strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Fatalf("car %s: %d results, want %d (first difference at %d)", car, len(g), len(w), firstDiff(g, w))
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestHALocalScript runs scripts/ha-local.sh as make ha-local does, on free
// ports under a temporary directory: up starts 3 replicas and a leader is
// elected, a second up starts none, status answers, down stops all of them
// with the final checkpoint committed, and a second down has nothing to do.
// The replicas are detached from the script (setsid), so they are not this
// test's children: they run a bounded job (they exit by themselves within
// a minute whatever happens) and the cleanup kills them by their pid files.
func TestHALocalScript(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "setsid"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: %v", tool, err)
		}
	}
	dir := t.TempDir()
	raftBase, httpBase := consecutiveFreePorts(t, 3), consecutiveFreePorts(t, 3)
	script := func(arg string) string {
		t.Helper()
		cmd := testenv.Command("bash", "../../scripts/ha-local.sh", arg)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
			"TOPSPEED_HA_LOCAL=" + dir, "TOPSPEED_BIN=" + binary(t),
			"TOPSPEED_HA_LOCAL_RAFT_PORT=" + strconv.Itoa(raftBase), "TOPSPEED_HA_LOCAL_HTTP_PORT=" + strconv.Itoa(httpBase),
			"TOPSPEED_HA_LOCAL_ARGS=--events 3000 --checkpoint-interval 200ms"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ha-local.sh %s: %v\n%s", arg, err, out)
		}
		return string(out)
	}
	pids := func() []int {
		var ps []int
		for i := 0; i < 3; i++ {
			b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("r%d", i), "pid"))
			if err != nil {
				continue
			}
			if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				ps = append(ps, p)
			}
		}
		return ps
	}
	t.Cleanup(func() {
		for _, p := range pids() {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	})

	out := script("up")
	first := pids()
	if len(first) != 3 || strings.Count(out, ": started (pid") != 3 || !strings.Contains(out, "leader: r") {
		t.Fatalf("up: pids %v\n%s", first, out)
	}
	for i := 0; i < 3; i++ {
		if url := fmt.Sprintf("http://127.0.0.1:%d/api/v1/status", httpBase+i); !strings.Contains(out, url) {
			t.Errorf("up does not print %s", url)
		}
	}
	for _, w := range []string{"kill -9", "make ha-local-down", filepath.Join(dir, "r{0,1,2}", "topspeed.log"), filepath.Join(dir, "results")} {
		if !strings.Contains(out, w) {
			t.Errorf("up does not print %q\n%s", w, out)
		}
	}
	out = script("up")
	if strings.Count(out, "already running") != 3 || fmt.Sprint(pids()) != fmt.Sprint(first) {
		t.Fatalf("second up: pids %v, were %v\n%s", pids(), first, out)
	}
	if out := script("status"); strings.Count(out, `"role":"leader"`) != 1 {
		t.Errorf("status: want one leader\n%s", out)
	}
	time.Sleep(time.Second) // a few checkpoints

	out = script("down")
	if strings.Count(out, ": stopped") != 3 || !strings.Contains(out, "stopped with a final checkpoint") {
		t.Fatalf("down:\n%s", out)
	}
	for _, p := range first {
		if running(p) {
			t.Errorf("pid %d still runs after down", p)
		}
	}
	if out := script("down"); strings.Count(out, ": not running") != 3 {
		t.Fatalf("second down:\n%s", out)
	}
}

// running: pid is a live process (not gone, not a zombie waiting for its
// reaper).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(s[i+1:], " Z") && !strings.HasPrefix(s[i+1:], " X")
}

// consecutiveFreePorts returns p such that p .. p+n-1 are free on loopback.
func consecutiveFreePorts(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		p := freePorts(t, 1)[0]
		if p+n > 65535 {
			continue
		}
		var ls []net.Listener
		ok := true
		for i := 0; i < n; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+i))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free consecutive ports")
	return 0
}
