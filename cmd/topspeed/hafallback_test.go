package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topspeed/topspeed/internal/testenv"
)

// haTLSArgs returns the --ha-tls-* flags of replica id, with certificates
// from certs (written by testenv.TLSFiles with id among its names).
func haTLSArgs(certs testenv.TLS, id string) []string {
	cert, key := certs.Cert(id)
	return []string{"--ha-tls-ca", certs.CA, "--ha-tls-cert", cert, "--ha-tls-key", key}
}

// corruptFrom truncates the data files of every checkpoint in dir whose id
// is at least from (their manifests stay: the checkpoints look complete but
// do not verify), and returns how many it corrupted.
func corruptFrom(t *testing.T, dir string, from uint64) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		// chk-[<job>-]<id>-t<term>
		name := e.Name()
		i := strings.LastIndex(name, "-t")
		if !strings.HasPrefix(name, "chk-") || i < 0 {
			continue
		}
		idStr := name[strings.LastIndex(name[:i], "-")+1 : i]
		id, err := strconv.ParseUint(idStr, 10, 64)
		if err != nil || id < from {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if f.Name() == "MANIFEST.json" || f.IsDir() {
				continue
			}
			p := filepath.Join(dir, e.Name(), f.Name())
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}
		n++
	}
	return n
}

// TestHAFallsBackFromCorruptCheckpoint: the newest committed checkpoint is
// corrupted (its data files truncated) and the leader is killed with
// SIGKILL. The new leader cannot load the committed checkpoint: it falls
// back to the newest older valid one, commits that choice, and the job
// continues to the end. The raft term stays small meanwhile: no election
// storm.
func TestHAFallsBackFromCorruptCheckpoint(t *testing.T) {
	reps := startFallbackCluster(t)
	commits := waitEvents(t, reps, "checkpoint committed", 4, 30*time.Second, nil)
	leader := byHLID(reps, commits[0].str("replica"))
	follower := reps[0]
	if follower == leader {
		follower = reps[1]
	}

	// Kill the leader, then corrupt the checkpoint the followers know as
	// committed and any newer one (the last commit may still be on its way
	// to them).
	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-leader.done
	st, err := getStatus(follower.statusURL)
	if err != nil || st.LastCheckpoint == nil || st.LastCheckpoint.ID == 0 {
		t.Fatalf("follower status %+v: %v", st, err)
	}
	// The store's directory (--checkpoint-dir or a directory in it).
	ckDir := filepath.Dir(st.LastCheckpoint.Path)
	if n := corruptFrom(t, ckDir, st.LastCheckpoint.ID); n == 0 {
		t.Fatalf("no checkpoint from %d to corrupt in %s", st.LastCheckpoint.ID, ckDir)
	}
	termAtKill := st.Term

	fb := waitEvents(t, reps, "leader: the committed checkpoint is unusable; falling back to the newest older valid one", 1, 20*time.Second, nil)[0]
	if fb.num("checkpoint") >= fb.num("committed") || fb.num("committed") < st.LastCheckpoint.ID {
		t.Fatalf("fell back from %d to %d (followers had %d committed)", fb.num("committed"), fb.num("checkpoint"), st.LastCheckpoint.ID)
	}
	// The job goes on from the fallback: new checkpoints commit.
	waitEvents(t, reps, "checkpoint committed", 1, 20*time.Second, func(e hlEvent) bool {
		return e.str("replica") == fb.str("replica") && e.num("term") == fb.num("term")
	})
	time.Sleep(10 * time.Second)
	st2, err := getStatus(follower.statusURL)
	if err != nil {
		t.Fatal(err)
	}
	if st2.Term-termAtKill >= 10 {
		t.Fatalf("the term climbed from %d to %d in about 10 s: an election storm", termAtKill, st2.Term)
	}
	t.Logf("fell back from checkpoint %d to %d; term %d at the kill, %d 10 s later", fb.num("committed"), fb.num("checkpoint"), termAtKill, st2.Term)

	// The killed replica restarts, as a pod would; every replica exits once
	// the job has finished.
	leader.start(t)
	for _, r := range reps {
		if err := r.wait(t, 60*time.Second); err != nil {
			t.Fatalf("%s: %v\n%s", r.id, err, tail(r.logPath))
		}
	}
}

// TestHABacksOffWithoutValidCheckpoint: every checkpoint is corrupted and
// the leader killed. No replica can restore: each attempt fails loudly and
// hands over, but with a backoff, so over 10 s the term moves only a few
// times and each attempt logs one error line (no storm, no flood).
func TestHABacksOffWithoutValidCheckpoint(t *testing.T) {
	reps := startFallbackCluster(t)
	commits := waitEvents(t, reps, "checkpoint committed", 2, 30*time.Second, nil)
	leader := byHLID(reps, commits[0].str("replica"))
	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-leader.done
	var live []*hlReplica
	for _, r := range reps {
		if r != leader {
			live = append(live, r)
		}
	}
	st, err := getStatus(live[0].statusURL)
	if err != nil || st.LastCheckpoint == nil || st.LastCheckpoint.ID == 0 {
		t.Fatalf("follower status %+v: %v", st, err)
	}
	if n := corruptFrom(t, filepath.Dir(st.LastCheckpoint.Path), 0); n == 0 {
		t.Fatalf("no checkpoint to corrupt next to %s", st.LastCheckpoint.Path)
	}
	const what = "cannot run the job as leader; handing leadership over after a backoff"
	first := waitEvents(t, live, what, 1, 20*time.Second, nil)[0]
	if !strings.Contains(first.str("error"), "no older valid checkpoint") {
		t.Fatalf("the failure does not say why: %v", first)
	}
	time.Sleep(10 * time.Second)
	st2, err := getStatus(live[0].statusURL)
	if err != nil {
		t.Fatal(err)
	}
	attempts := len(hlEvents(live, what))
	errorLines := jobErrorLines(t, live)
	t.Logf("term %d -> %d in 10 s, %d failed attempts, %d error lines", st.Term, st2.Term, attempts, errorLines)
	if st2.Term-st.Term >= 10 || attempts > 12 {
		t.Fatalf("term %d -> %d, %d attempts in 10 s: no backoff", st.Term, st2.Term, attempts)
	}
	if errorLines > 2*attempts+10 {
		t.Fatalf("%d error lines for %d attempts: a log flood", errorLines, attempts)
	}
}

// startFallbackCluster starts 3 replicas over raft TLS with a paced,
// bounded input (20 s) and a shared checkpoint directory.
func startFallbackCluster(t *testing.T) []*hlReplica {
	dir := t.TempDir()
	if keep := os.Getenv("TOPSPEED_TEST_KEEP"); keep != "" {
		dir = filepath.Join(keep, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	input := []string{"--cars", "8", "--seed", "7", "--start-time", "1424951918630", "--event-interval", "10ms", "--events", "20000", "--parallelism", "2"}
	raft, httpPorts := freePorts(t, 3), freePorts(t, 3)
	var peers, ids []string
	for i, p := range raft {
		ids = append(ids, fmt.Sprintf("r%d", i))
		peers = append(peers, fmt.Sprintf("r%d=127.0.0.1:%d", i, p))
	}
	certs := testenv.TLSFiles(t, ids...)
	ckDir := filepath.Join(dir, "checkpoints")
	var reps []*hlReplica
	for i := range raft {
		r := &hlReplica{replica: replica{id: ids[i], logPath: filepath.Join(dir, ids[i]+".log")},
			statusURL: fmt.Sprintf("http://127.0.0.1:%d/api/v1/status", httpPorts[i])}
		r.args = append(append(append([]string{}, input...), "--rate", "1000",
			"--ha-id", r.id, "--ha-bind", fmt.Sprintf("127.0.0.1:%d", raft[i]), "--ha-peers", strings.Join(peers, ","),
			"--ha-dir", filepath.Join(dir, r.id, "raft"), "--checkpoint-dir", ckDir, "--checkpoint-retain", "6",
			"--checkpoint-interval", "300ms", "--output", filepath.Join(dir, "results"),
			"--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPorts[i]), "--log-format", "json"), haTLSArgs(certs, r.id)...)
		r.start(t)
		reps = append(reps, r)
	}
	return reps
}

// jobErrorLines counts the error lines of the replicas' logs, raft's own
// (a dead peer's failed heartbeats) left out.
func jobErrorLines(t *testing.T, reps []*hlReplica) int {
	n := 0
	for _, r := range reps {
		b, err := os.ReadFile(r.logPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			var e hlEvent
			if json.Unmarshal([]byte(line), &e) == nil && e.str("level") == "error" && !strings.HasPrefix(e.str("logger"), "raft") {
				n++
			}
		}
	}
	return n
}

func byHLID(reps []*hlReplica, id string) *hlReplica {
	for _, r := range reps {
		if r.id == id {
			return r
		}
	}
	return nil
}
