package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topspeed/topspeed/internal/testenv"
)

// upgradeCluster is a 3-replica raft cluster over TLS writing to a
// Cassandra table, as on Kubernetes: a shared checkpoint and savepoint
// directory, each replica its own raft directory, a token for POSTs.
type upgradeCluster struct {
	dir, token string
	srv        testenv.Cassandra
	table      string
	certs      testenv.TLS
	reps       []*hlReplica
	httpURLs   []string
	starts     int // log files are per start: r0-1.log, r0-2.log, ...
	// raft and HTTP ports, the same at every start: raft keeps its peers'
	// addresses in its durable configuration (on Kubernetes, stable DNS names)
	raftPorts, httpPorts []int
}

// upgradeInput is a paced, bounded generated input (about 8 s at 2500
// events/s) and the job's settings that keep its fingerprint.
var upgradeInput = []string{"--cars", "8", "--seed", "11", "--start-time", "1424951918630",
	"--event-interval", "10ms", "--events", "20000"}

func (c *upgradeCluster) cassandraArgs() []string {
	return []string{"--cassandra-hosts", strings.Join(c.srv.Hosts, ","), "--cassandra-username", c.srv.Username,
		"--cassandra-consistency", "ONE", "--cassandra-create-schema", "--cassandra-replication", "1",
		"--cassandra-keyspace", "topspeed_it", "--cassandra-table", c.table}
}

// start starts the replicas with the extra arguments (appended log files).
func (c *upgradeCluster) start(t *testing.T, extra ...string) {
	t.Helper()
	if c.raftPorts == nil {
		c.raftPorts, c.httpPorts = freePorts(t, 3), freePorts(t, 3)
	}
	raft, httpPorts := c.raftPorts, c.httpPorts
	var peers []string
	for i, p := range raft {
		peers = append(peers, fmt.Sprintf("r%d=127.0.0.1:%d", i, p))
	}
	c.reps, c.httpURLs = nil, nil
	c.starts++
	for i := range raft {
		id := fmt.Sprintf("r%d", i)
		base := fmt.Sprintf("http://127.0.0.1:%d", httpPorts[i])
		r := &hlReplica{replica: replica{id: id, logPath: filepath.Join(c.dir, fmt.Sprintf("%s-%d.log", id, c.starts))}, statusURL: base + "/api/v1/status"}
		r.args = append(append(append(append([]string{}, upgradeInput...), c.cassandraArgs()...),
			"--ha-id", id, "--ha-bind", fmt.Sprintf("127.0.0.1:%d", raft[i]), "--ha-peers", strings.Join(peers, ","),
			"--ha-dir", filepath.Join(c.dir, id, "raft"), "--checkpoint-dir", filepath.Join(c.dir, "checkpoints"),
			"--savepoint-dir", filepath.Join(c.dir, "savepoints"), "--checkpoint-interval", "300ms",
			"--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPorts[i]), "--http-token-file", c.token,
			"--log-format", "json"), haTLSArgs(c.certs, id)...)
		r.args = append(r.args, extra...)
		r.replica.start(t, []string{"CASSANDRA_PASSWORD=" + c.srv.Password})
		c.reps = append(c.reps, r)
		c.httpURLs = append(c.httpURLs, base)
	}
}

// leader returns the base URL of the replica that reports itself leader.
func (c *upgradeCluster) leader(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i, r := range c.reps {
			if st, err := getStatus(r.statusURL); err == nil && st.Role == "leader" && st.LastCheckpoint != nil && st.LastCheckpoint.ID > 0 {
				return c.httpURLs[i]
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no leader with a committed checkpoint within 30 s\n%s", tail(c.reps[0].logPath))
	return ""
}

// savepoint takes a savepoint through the leader's API with the token.
func (c *upgradeCluster) savepoint(t *testing.T) string {
	t.Helper()
	tok, err := os.ReadFile(c.token)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.leader(t)+"/api/v1/savepoints", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct{ Path string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &out) != nil || out.Path == "" {
		t.Fatalf("savepoint: %d %s", resp.StatusCode, b)
	}
	return out.Path
}

// stopAll sends SIGTERM to every replica and waits for their exits.
func (c *upgradeCluster) stopAll(t *testing.T) {
	t.Helper()
	for _, r := range c.reps {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, r := range c.reps {
		_ = r.wait(t, 60*time.Second)
	}
}

// waitFinished waits until every replica exited, all with status 0.
func (c *upgradeCluster) waitFinished(t *testing.T) {
	t.Helper()
	for _, r := range c.reps {
		if err := r.wait(t, 90*time.Second); err != nil {
			t.Fatalf("%s: %v\n%s", r.id, err, tail(r.logPath))
		}
	}
}

// wipeRaft deletes every replica's raft directory: on Kubernetes, deleting
// the raft volumes after scaling to 0.
func (c *upgradeCluster) wipeRaft(t *testing.T) {
	for i := range c.reps {
		if err := os.RemoveAll(filepath.Join(c.dir, fmt.Sprintf("r%d", i), "raft")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHAUpgradeWithSavepoint is the upgrade procedure of docs/deploy.md on
// local processes (the Flink operator's upgradeMode: savepoint): a 3-replica
// raft cluster writes to Cassandra; a savepoint is taken through the API;
// the cluster is stopped and its raft state deleted; it starts again with
// --from-savepoint and a changed setting that keeps the fingerprint (first
// the sink's batch size, then --parallelism 2 -> 3, with a kill -9 of the
// leader on the way, which must continue from the committed pointer, not go
// back to the savepoint). Each time the table must equal a failure-free
// standalone run's, row for row. Finally a --from-savepoint naming another
// savepoint, on a raft cluster that has committed checkpoints, is refused:
// the leader exits with status 2 and says why.
func TestHAUpgradeWithSavepoint(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	base := t.TempDir()
	if keep := os.Getenv("TOPSPEED_TEST_KEEP"); keep != "" {
		base = filepath.Join(keep, t.Name())
		_ = os.RemoveAll(base)
		if err := os.MkdirAll(base, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tokenFile := filepath.Join(base, "token")
	if err := os.WriteFile(tokenFile, []byte("upgrade-test-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CASSANDRA_PASSWORD": srv.Password}
	stamp := time.Now().UnixNano() % 1e12

	// The failure-free reference, standalone and unpaced.
	ref := fmt.Sprintf("upref%d", stamp)
	refCluster := &upgradeCluster{srv: srv, table: ref}
	args := append(append(append([]string{}, upgradeInput...), refCluster.cassandraArgs()...), "--rate", "0", "--output", "/dev/null", "--log-level", "error")
	if code, _, stderr := runCLIEnv(t, env, args...); code != exitOK {
		t.Fatalf("reference run: exit %d: %s", code, stderr)
	}
	want := readTopSpeeds(t, srv, ref)
	if len(want) < 500 {
		t.Fatalf("only %d reference rows: input too small to mean anything", len(want))
	}

	for i, step := range []struct {
		name           string
		before, after  []string
		killLeaderOnce bool
	}{
		{"setting", []string{"--parallelism", "2"}, []string{"--parallelism", "2", "--cassandra-batch-rows", "5"}, false},
		{"parallelism", []string{"--parallelism", "2"}, []string{"--parallelism", "3"}, true},
	} {
		t.Run(step.name, func(t *testing.T) {
			c := &upgradeCluster{dir: filepath.Join(base, step.name), token: tokenFile, srv: srv,
				table: fmt.Sprintf("up%d_%d", stamp, i), certs: testenv.TLSFiles(t, "r0", "r1", "r2")}
			if err := os.MkdirAll(c.dir, 0o755); err != nil {
				t.Fatal(err)
			}
			c.start(t, append([]string{"--rate", "2500"}, step.before...)...)
			sp := c.savepoint(t)
			c.stopAll(t)
			c.wipeRaft(t)
			c.start(t, append([]string{"--rate", "2500", "--from-savepoint", sp}, step.after...)...)
			// Every replica's status names the savepoint the history started from.
			waitUntil(t, 30*time.Second, "the status shows the savepoint as the origin", func() bool {
				for _, r := range c.reps {
					if st, err := getStatus(r.statusURL); err != nil || st.LastCheckpoint == nil || st.LastCheckpoint.Origin != sp {
						return false
					}
				}
				return true
			})
			if step.killLeaderOnce {
				killLeaderAfterCommit(t, c)
			}
			c.waitFinished(t)
			compareRows(t, readTopSpeeds(t, srv, c.table), want)
			if n := len(hlEvents(c.reps, "leader: starting from the savepoint (recorded through raft)")); n != 1 {
				t.Fatalf("%d savepoint adoptions, want 1", n)
			}
			restored := hlEvents(c.reps, "leader: restoring from the savepoint")
			if len(restored) == 0 || restored[0].num("checkpoint") == 0 {
				t.Fatal("no leader restored the savepoint's state")
			}
			t.Logf("savepoint %s (checkpoint %d) restored with %v; table identical to the failure-free run: %d rows",
				filepath.Base(sp), restored[0].num("checkpoint"), step.after, len(want))
			if step.killLeaderOnce && len(hlEvents(c.reps, "leader: restoring from the committed checkpoint")) == 0 {
				t.Fatal("the leader after the kill did not continue from the committed checkpoint")
			}

			// Another savepoint on a cluster with history: refused, not ignored.
			other := filepath.Join(c.dir, "checkpoints")
			c.start(t, "--rate", "2500", "--from-savepoint", other)
			// Followers that applied "finished" may exit 0 first; a leader
			// must refuse (exit 2) rather than run or finish quietly.
			if !c.someExit(t, exitUsage) {
				t.Fatalf("no replica exited with status %d (refused)", exitUsage)
			}
			c.stopAll(t) // the others: one may lack a quorum once two left
			if len(hlEvents(c.reps, "leader: starting from the savepoint (recorded through raft)")) != 0 {
				t.Fatal("a second savepoint was adopted on a cluster with history")
			}
			var msgs string
			for _, r := range c.reps {
				b, _ := os.ReadFile(r.logPath)
				msgs += string(b)
			}
			if !strings.Contains(msgs, "--from-savepoint refused") || !strings.Contains(msgs, "delete each replica's --ha-dir") {
				t.Fatal("the refusal does not say what to do")
			}
		})
	}
}

// someExit reports whether a replica exits with status code within 60 s
// (the replicas that exit are waited for again by stopAll).
func (c *upgradeCluster) someExit(t *testing.T, code int) bool {
	t.Helper()
	exited := map[*hlReplica]bool{}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && len(exited) < len(c.reps); time.Sleep(50 * time.Millisecond) {
		for _, r := range c.reps {
			if exited[r] {
				continue
			}
			select {
			case err := <-r.done:
				r.done <- err // stopAll waits for it again
				exited[r] = true
				if ee, ok := err.(interface{ ExitCode() int }); ok && ee.ExitCode() == code {
					return true
				}
			default:
			}
		}
	}
	return false
}

// killLeaderAfterCommit kills the leader with SIGKILL once the restarted
// cluster committed a checkpoint after the savepoint, and starts it again
// with the same arguments (as Kubernetes restarts a container).
func killLeaderAfterCommit(t *testing.T, c *upgradeCluster) {
	t.Helper()
	ev := waitEvents(t, c.reps, "checkpoint committed", 1, 30*time.Second, nil)
	r := byHLID(c.reps, ev[0].str("replica"))
	if err := r.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-r.done
	r.replica.start(t, []string{"CASSANDRA_PASSWORD=" + c.srv.Password})
}
