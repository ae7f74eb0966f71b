package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
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

// replica is one topspeed process of the HA test.
type replica struct {
	id      string
	args    []string
	logPath string
	cmd     *exec.Cmd
	done    chan error
}

func (r *replica) start(t *testing.T, env []string) {
	t.Helper()
	f, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), r.args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	cmd.Stderr = f
	// Dies with the test, also when the test binary is killed: an aborted
	// run leaves no replica behind.
	if err := testenv.StartChild(t, cmd); err != nil {
		f.Close()
		t.Fatal(err)
	}
	r.cmd, r.done = cmd, make(chan error, 1)
	go func() { r.done <- cmd.Wait(); f.Close() }()
}

// event is one JSON log line.
type event map[string]any

func (e event) str(k string) string { s, _ := e[k].(string); return s }
func (e event) num(k string) int64  { f, _ := e[k].(float64); return int64(f) }

func readEvents(t *testing.T, reps []*replica) []event {
	t.Helper()
	var all []event
	for _, r := range reps {
		f, err := os.Open(r.logPath)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				e["replica"] = r.id
				all = append(all, e)
			}
		}
		f.Close()
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].str("ts") < all[j].str("ts") })
	return all
}

// lastStart returns the newest "first record processed" event.
func lastStart(t *testing.T, reps []*replica) (event, bool) {
	var last event
	for _, e := range readEvents(t, reps) {
		if e.str("msg") == "first record processed" {
			last = e
		}
	}
	return last, last != nil
}

// waitNewLeader waits for a first record processed in a term after term.
func waitNewLeader(t *testing.T, reps []*replica, term int64, timeout time.Duration) event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if e, ok := lastStart(t, reps); ok && e.num("term") > term {
			return e
		}
		time.Sleep(20 * time.Millisecond)
	}
	var tails []string
	for _, r := range reps {
		b, _ := os.ReadFile(r.logPath)
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		tails = append(tails, fmt.Sprintf("--- %s:\n%s", r.id, b))
	}
	t.Fatalf("no new leader processed records within %v after term %d\n%s", timeout, term, strings.Join(tails, "\n"))
	return nil
}

func byID(reps []*replica, id string) *replica {
	for _, r := range reps {
		if r.id == id {
			return r
		}
	}
	return nil
}

// haStopTimeout is TestHAFailover's --stop-timeout, the bound on the
// graceful handover's final checkpoint.
const haStopTimeout = 30 * time.Second

// TestHAFailover runs 3 replicas on loopback with a shared checkpoint
// directory, writing to the real Cassandra: it kills the leader with
// SIGKILL repeatedly (restarting it, as a pod would), freezes one with
// SIGSTOP past the election timeout, and hands over with SIGTERM. The table
// must equal a failure-free run's, checkpoint pointers must only increase,
// only committed checkpoints may be restored, and no two replicas may
// commit in the same term.
func TestHAFailover(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	dir := t.TempDir()
	if keep := os.Getenv("TOPSPEED_TEST_KEEP"); keep != "" {
		dir = keep
	}
	suffix := time.Now().UnixNano() % 1e9
	env := []string{"CASSANDRA_PASSWORD=" + srv.Password}
	common := []string{"--cars", "100", "--rate", "10000", "--event-interval", "100us", "--events", "450000", "--start-time", "1424951918630", "--seed", "9",
		"--checkpoint-interval", "200ms", "--log-format", "json", "--log-level", "debug", "--http-addr", "",
		"--cassandra-hosts", strings.Join(srv.Hosts, ","), "--cassandra-username", srv.Username,
		"--cassandra-consistency", "ONE", "--cassandra-create-schema", "--cassandra-keyspace", "topspeed_it",
		"--stop-timeout", haStopTimeout.String()}
	// TOPSPEED_HA_ARGS adds flags (later ones win), e.g. the prod overlay's
	// raft timing and a longer input for more kills.
	common = append(common, strings.Fields(os.Getenv("TOPSPEED_HA_ARGS"))...)

	// The failure-free reference, without HA.
	ref := start(t, env, append(append([]string{}, common...), "--checkpoint-dir", filepath.Join(dir, "ref-ck"),
		"--cassandra-table", fmt.Sprintf("haref%d", suffix), "--rate", "0")...)
	if err := ref.Wait(t, 2*time.Minute); err != nil {
		t.Fatalf("reference: %v\n%s", err, ref.Stderr)
	}

	addrs := freeAddrs(t, 3)
	var peers []string
	for i, a := range addrs {
		peers = append(peers, fmt.Sprintf("r%d=%s", i, a))
	}
	// Raft runs over mutual TLS, as in production; TOPSPEED_HA_TLS=0 runs
	// it in the clear (loopback), to compare failover times.
	useTLS := os.Getenv("TOPSPEED_HA_TLS") != "0"
	certs := testenv.TLSFiles(t, "r0", "r1", "r2")
	var reps []*replica
	for i, a := range addrs {
		r := &replica{id: fmt.Sprintf("r%d", i), logPath: filepath.Join(dir, fmt.Sprintf("r%d.log", i))}
		r.args = append(append([]string{}, common...), "--ha-id", r.id, "--ha-bind", a, "--ha-peers", strings.Join(peers, ","),
			"--ha-dir", filepath.Join(dir, r.id+"-raft"), "--checkpoint-dir", filepath.Join(dir, "ck"),
			"--cassandra-table", fmt.Sprintf("ha%d", suffix))
		if useTLS {
			r.args = append(r.args, haTLSArgs(certs, r.id)...)
		}
		r.start(t, env)
		reps = append(reps, r)
	}
	// Each start registered a cleanup killing that replica (testenv.StartChild).

	var failovers []time.Duration
	cur := waitNewLeader(t, reps, 0, 20*time.Second)
	nKills := 10
	if n, err := strconv.Atoi(os.Getenv("TOPSPEED_HA_KILLS")); err == nil && n > 0 {
		nKills = n
	}
	for k := 0; k < nKills; k++ {
		time.Sleep(time.Duration(600+100*k%5) * time.Millisecond)
		leader := byID(reps, cur.str("replica"))
		killed := time.Now()
		_ = leader.cmd.Process.Signal(syscall.SIGKILL)
		<-leader.done
		leader.done <- nil
		next := waitNewLeader(t, reps, cur.num("term"), 20*time.Second)
		failovers = append(failovers, time.UnixMilli(next.num("unix_ms")).Sub(killed))
		time.Sleep(200 * time.Millisecond)
		leader.start(t, env) // the pod restarts
		cur = next
	}

	// A zombie: freeze the leader past the election timeout, then resume it.
	time.Sleep(800 * time.Millisecond)
	zombie := byID(reps, cur.str("replica"))
	_ = zombie.cmd.Process.Signal(syscall.SIGSTOP)
	next := waitNewLeader(t, reps, cur.num("term"), 20*time.Second)
	time.Sleep(1500 * time.Millisecond)
	_ = zombie.cmd.Process.Signal(syscall.SIGCONT)
	cur = next

	// Graceful handover.
	time.Sleep(800 * time.Millisecond)
	leaving := byID(reps, cur.str("replica"))
	termAt := time.Now()
	_ = leaving.cmd.Process.Signal(syscall.SIGTERM)
	// The leaving leader keeps leadership until its final checkpoint is
	// committed, and that waits for the sink's flush: when Cassandra
	// stalls (a CI run once saw 20 s of write timeouts under load), the
	// handover takes up to --stop-timeout, then the election.
	next = waitNewLeader(t, reps, cur.num("term"), haStopTimeout+20*time.Second)
	handover := time.UnixMilli(next.num("unix_ms")).Sub(termAt)
	if err := <-leaving.done; err != nil {
		t.Fatalf("leader did not exit cleanly on SIGTERM: %v", err)
	}
	leaving.done <- nil
	leaving.start(t, env)

	// Every replica exits once the job has finished.
	for _, r := range reps {
		select {
		case err := <-r.done:
			if err != nil {
				t.Fatalf("replica %s: %v", r.id, err)
			}
		case <-time.After(3 * time.Minute):
			t.Fatalf("replica %s did not finish", r.id)
		}
	}

	compareRows(t, readTopSpeeds(t, srv, fmt.Sprintf("ha%d", suffix)), readTopSpeeds(t, srv, fmt.Sprintf("haref%d", suffix)))
	checkFencing(t, readEvents(t, reps))

	sort.Slice(failovers, func(i, j int) bool { return failovers[i] < failovers[j] })
	t.Logf("failover after kill -9 (%d kills, raft TLS %v): p50 %v, p99 %v, max %v; SIGTERM handover %v",
		len(failovers), useTLS, failovers[len(failovers)/2], failovers[len(failovers)*99/100], failovers[len(failovers)-1], handover)
	if os.Getenv("TOPSPEED_HA_REPORT") != "" {
		var parts []string
		for _, f := range failovers {
			parts = append(parts, fmt.Sprint(f.Milliseconds()))
		}
		_ = os.WriteFile(os.Getenv("TOPSPEED_HA_REPORT"), []byte(fmt.Sprintf("failover_ms %s\nhandover_ms %d\n", strings.Join(parts, " "), handover.Milliseconds())), 0o644)
	}
}

// appliedEntry is one raft entry as a replica's FSM applied it (the
// "raft entry applied" debug line, see ha.Node.LogApplied).
type appliedEntry struct {
	op       string
	id, term int64 // the command's checkpoint id and term
	accepted bool
}

// ckpt is a checkpoint pointer: id and term.
type ckpt [2]int64

// appliedLog collects the entries the replicas' FSMs applied, by raft
// index. Every replica, in each of its lives (a restarted replica applies
// the log again), must have applied the same entry with the same verdict
// at an index: that is the log order, the one order that counts.
func appliedLog(evs []event) (map[int64]appliedEntry, error) {
	log := map[int64]appliedEntry{}
	seen := map[int64]string{}
	for _, e := range evs {
		if e.str("msg") != "raft entry applied" {
			continue
		}
		a := appliedEntry{op: e.str("op"), id: e.num("checkpoint"), term: e.num("checkpoint_term")}
		a.accepted, _ = e["accepted"].(bool)
		i := e.num("index")
		if prev, ok := log[i]; ok && prev != a {
			return nil, fmt.Errorf("raft index %d: %s applied %+v, %s applied %+v", i, seen[i], prev, e.str("replica"), a)
		}
		log[i], seen[i] = a, e.str("replica")
	}
	return log, nil
}

// checkFencing fails t if judgeFencing finds a violation.
func checkFencing(t *testing.T, evs []event) {
	t.Helper()
	summary, err := judgeFencing(evs)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(summary)
}

// judgeFencing judges from the sequence the FSMs applied, in raft index
// order, not from the timestamps of log lines written by different
// processes (a zombie paused between its commit and the log line reports
// it late): accepted checkpoint pointers only increase (id grows, term
// never goes back), one replica commits per term, every commit a leader
// reports was accepted by the FSM, only accepted checkpoints are restored,
// and restores, in the order of the restoring leaders' terms, never go
// back. evs are in timestamp order.
func judgeFencing(evs []event) (string, error) {
	applied, err := appliedLog(evs)
	if err != nil {
		return "", err
	}
	at, refused, err := acceptedCheckpoints(applied)
	if err != nil {
		return "", err
	}
	late, err := checkCommitLines(evs, at)
	if err != nil {
		return "", err
	}
	restores, err := checkRestores(evs, at)
	if err != nil {
		return "", err
	}
	if len(at) == 0 || restores < 5 {
		return "", fmt.Errorf("%d accepted checkpoints, %d restores: the test did not exercise failover", len(at), restores)
	}
	summary := fmt.Sprintf("%d raft entries applied, %d checkpoints accepted, %d refused, %d restores", len(applied), len(at), refused, restores)
	if len(late) > 0 {
		summary += "; commit log lines out of raft order (the line came late, the FSM order is right): " + strings.Join(late, "; ")
	}
	return summary, nil
}

// acceptedCheckpoints walks the applied entries by raft index: accepted
// checkpoints must only increase. It returns their raft indexes and the
// number of refused entries.
func acceptedCheckpoints(applied map[int64]appliedEntry) (map[ckpt]int64, int, error) {
	var indexes []int64
	for i := range applied {
		indexes = append(indexes, i)
	}
	sort.Slice(indexes, func(a, b int) bool { return indexes[a] < indexes[b] })
	at := map[ckpt]int64{}
	var last ckpt
	refused := 0
	for _, i := range indexes {
		a := applied[i]
		if !a.accepted {
			refused++
			continue
		}
		if a.op != "checkpoint" {
			continue
		}
		if a.id <= last[0] || a.term < last[1] {
			return nil, 0, fmt.Errorf("raft index %d: checkpoint (%d, term %d) accepted after (%d, term %d): pointers must only increase", i, a.id, a.term, last[0], last[1])
		}
		last = ckpt{a.id, a.term}
		at[last] = i
	}
	return at, refused, nil
}

// checkCommitLines checks the leaders' "checkpoint committed" lines: each
// names an accepted checkpoint, and one replica commits per term. It
// returns the lines that came after a newer pointer's (by timestamp).
func checkCommitLines(evs []event, at map[ckpt]int64) ([]string, error) {
	committer := map[int64]string{}
	var lastLogged ckpt
	var late []string
	for _, e := range evs {
		if e.str("msg") != "checkpoint committed" {
			continue
		}
		k := ckpt{e.num("checkpoint"), e.num("term")}
		if _, ok := at[k]; !ok {
			return nil, fmt.Errorf("%s reports checkpoint %v committed, but no FSM accepted it", e.str("replica"), k)
		}
		if c, ok := committer[k[1]]; ok && c != e.str("replica") {
			return nil, fmt.Errorf("two replicas (%s, %s) committed in term %d", c, e.str("replica"), k[1])
		}
		committer[k[1]] = e.str("replica")
		if k[0] <= lastLogged[0] {
			late = append(late, fmt.Sprintf("%v by %s (raft index %d) logged after %v (raft index %d)", k, e.str("replica"), at[k], lastLogged, at[lastLogged]))
		} else {
			lastLogged = k
		}
	}
	return late, nil
}

// checkRestores checks the leaders' restores: only accepted checkpoints,
// never going back in the order of the restoring leaders' terms. It
// returns their number.
func checkRestores(evs []event, at map[ckpt]int64) (int, error) {
	type restore struct{ term, id int64 }
	var restores []restore
	for _, e := range evs {
		if e.str("msg") != "leader: restoring from the committed checkpoint" {
			continue
		}
		k := ckpt{e.num("checkpoint"), e.num("checkpoint_term")}
		if _, ok := at[k]; !ok {
			return 0, fmt.Errorf("%s restored checkpoint %v in term %d, which no FSM accepted", e.str("replica"), k, e.num("term"))
		}
		restores = append(restores, restore{e.num("term"), k[0]})
	}
	sort.Slice(restores, func(a, b int) bool { return restores[a].term < restores[b].term })
	for i := 1; i < len(restores); i++ {
		if restores[i].id < restores[i-1].id {
			return 0, fmt.Errorf("term %d restored checkpoint %d after term %d restored %d", restores[i].term, restores[i].id, restores[i-1].term, restores[i-1].id)
		}
	}
	return len(restores), nil
}

func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l.Addr().String())
		l.Close()
	}
	return out
}

// fencingLog builds the log lines judgeFencing reads, in timestamp order.
type fencingLog struct {
	evs   []event
	index int64
	ts    time.Time
}

func (l *fencingLog) line(replica, msg string, kv ...any) {
	e := event{"replica": replica, "msg": msg, "ts": l.ts.Format("2006-01-02T15:04:05.000Z07:00")}
	for i := 0; i+1 < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case int64:
			e[kv[i].(string)] = float64(v) // as JSON decodes numbers
		default:
			e[kv[i].(string)] = v
		}
	}
	l.evs = append(l.evs, e)
	l.ts = l.ts.Add(time.Millisecond)
}

// apply logs, on every replica, the next raft entry: a checkpoint command.
func (l *fencingLog) apply(id, term int64, accepted bool) {
	l.index++
	for _, r := range []string{"r0", "r1", "r2"} {
		l.line(r, "raft entry applied", "index", l.index, "op", "checkpoint", "checkpoint", id, "checkpoint_term", term, "accepted", accepted)
	}
}

// term logs a leader's term: it restores (id, ckTerm) and commits n
// checkpoints after it; it returns the last id.
func (l *fencingLog) term(leader string, term, id, ckTerm int64, n int) int64 {
	l.line(leader, "leader: restoring from the committed checkpoint", "term", term, "checkpoint", id, "checkpoint_term", ckTerm)
	for i := 0; i < n; i++ {
		id++
		l.line(leader, "committing checkpoint", "term", term, "checkpoint", id)
		l.apply(id, term, true)
		l.line(leader, "checkpoint committed", "term", term, "checkpoint", id)
	}
	return id
}

// zombieHistory is the failure bench/run saw: r1, leader of term 12, is
// paused after its commit of (37, term 12) but before the log line; r2
// leads term 13 from that checkpoint up to 44; r1 resumes and logs its
// commit after (44, term 13). mutate may add lines at the end.
func zombieHistory(mutate func(l *fencingLog)) []event {
	l := &fencingLog{ts: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	l.apply(1, 7, true)
	l.line("r1", "checkpoint committed", "term", int64(7), "checkpoint", int64(1))
	id := int64(1)
	for term := int64(8); term <= 11; term++ {
		id = l.term(fmt.Sprintf("r%d", term%3), term, id, term-1, 8)
	}
	id = l.term("r1", 12, id, 11, 2) + 1 // 36: r1's commit, logged late
	l.line("r1", "committing checkpoint", "term", int64(12), "checkpoint", id)
	l.apply(id, 12, true)
	l.line("r2", "leader: restoring from the committed checkpoint", "term", int64(13), "checkpoint", id, "checkpoint_term", int64(12))
	for id++; id <= 44; id++ {
		l.line("r2", "committing checkpoint", "term", int64(13), "checkpoint", id)
		l.apply(id, 13, true)
		l.line("r2", "checkpoint committed", "term", int64(13), "checkpoint", id)
	}
	l.line("r1", "checkpoint committed", "term", int64(12), "checkpoint", int64(36))
	if mutate != nil {
		mutate(l)
	}
	return l.evs
}

// TestJudgeFencing: the zombie's late log line passes (judged by raft
// index; the timestamp order, which the old judge used, has a commit of
// term 12 after one of term 13), and each violation fails the judge.
func TestJudgeFencing(t *testing.T) {
	summary, err := judgeFencing(zombieHistory(nil))
	if err != nil {
		t.Fatalf("the zombie's late log line: %v", err)
	}
	if !strings.Contains(summary, "[36 12] by r1") || !strings.Contains(summary, "after [44 13]") {
		t.Errorf("summary does not name the late line: %s", summary)
	}
	for name, c := range map[string]struct {
		mutate func(l *fencingLog)
		want   string
	}{
		"stale pointer accepted late": {func(l *fencingLog) { l.apply(45, 12, true) }, "must only increase"},
		"id not growing":              {func(l *fencingLog) { l.apply(44, 14, true) }, "must only increase"},
		"replicas disagree": {func(l *fencingLog) {
			l.line("r0", "raft entry applied", "index", int64(3), "op", "checkpoint", "checkpoint", int64(3), "checkpoint_term", int64(8), "accepted", false)
		}, "raft index 3"},
		"two committers": {func(l *fencingLog) {
			l.line("r0", "checkpoint committed", "term", int64(13), "checkpoint", int64(44))
		}, "two replicas"},
		"commit line of a refused pointer": {func(l *fencingLog) {
			l.apply(45, 14, false)
			l.line("r0", "checkpoint committed", "term", int64(14), "checkpoint", int64(45))
		}, "no FSM accepted"},
		"restore of a pointer not accepted": {func(l *fencingLog) {
			l.line("r0", "leader: restoring from the committed checkpoint", "term", int64(14), "checkpoint", int64(45), "checkpoint_term", int64(13))
		}, "no FSM accepted"},
		"restore going back": {func(l *fencingLog) {
			l.line("r0", "leader: restoring from the committed checkpoint", "term", int64(14), "checkpoint", int64(30), "checkpoint_term", int64(11))
		}, "restored checkpoint 30"},
	} {
		if _, err := judgeFencing(zombieHistory(c.mutate)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
}
