package runner_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topspeed/topspeed/runner"
)

// waitFor polls cond every 10ms for up to 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// hasCheckpoint reports whether dir holds a complete checkpoint.
func hasCheckpoint(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "chk-*", "MANIFEST.json"))
	return len(m) > 0
}

// One standalone process per checkpoint directory and job id: a second
// Run on the same --checkpoint-dir fails at start naming the holder; with
// another --job-id it runs, in its own subdirectory.
func TestCheckpointDirInUse(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	sigs := make(chan os.Signal, 1)
	first := make(chan result, 1)
	go func() {
		first <- run(context.Background(), numbers(10_000_000, "", nil), nil, sigs,
			"--checkpoint-dir", ck, "--output", filepath.Join(dir, "out1"), "--checkpoint-interval", "50ms", "--delay", "1ms")
	}()
	waitFor(t, "the first run's checkpoint", func() bool { return hasCheckpoint(filepath.Join(ck, "numbers")) })

	start := time.Now()
	r := run(context.Background(), numbers(100, "", nil), nil, nil,
		"--checkpoint-dir", ck, "--output", filepath.Join(dir, "out2"))
	want := fmt.Sprintf("numbers: checkpoint directory %s is in use by another process (pid %d, host ", filepath.Join(ck, "numbers"), os.Getpid())
	if r.code != runner.ExitFailure || !strings.Contains(r.stderr, want) ||
		!strings.Contains(r.stderr, "each job needs its own --job-id or --checkpoint-dir") {
		t.Fatalf("second run on the same directory: exit %d, want 1 and %q...:\n%s", r.code, want, r.stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the second run took %v to fail", d)
	}
	if _, err := os.Stat(filepath.Join(dir, "out2")); err == nil {
		t.Errorf("the refused run wrote output")
	}

	r = run(context.Background(), numbers(100, "", nil), nil, nil,
		"--checkpoint-dir", ck, "--job-id", "numbers-2", "--output", filepath.Join(dir, "out3"))
	if r.code != runner.ExitOK {
		t.Fatalf("run with another --job-id: exit %d:\n%s", r.code, r.stderr)
	}
	wantNumbers(t, parts(t, filepath.Join(dir, "out3")), 100)
	if _, err := os.Stat(filepath.Join(ck, "numbers-2", ".lock")); err != nil {
		t.Errorf("the run with --job-id numbers-2 did not use its directory: %v", err)
	}

	sigs <- syscall.SIGTERM
	if r := <-first; r.code != runner.ExitOK {
		t.Fatalf("first run: exit %d:\n%s", r.code, r.stderr)
	}
	if r := run(context.Background(), numbers(10, "", nil), nil, nil, "--checkpoint-dir", ck, "--job-id", "Numbers"); r.code != runner.ExitUsage ||
		!strings.Contains(r.stderr, `--job-id "Numbers": must match`) {
		t.Fatalf("bad --job-id: exit %d:\n%s", r.code, r.stderr)
	}
}

// A checkpoint in the layout before --job-id (directly in
// --checkpoint-dir) is restored, and new ones go to DIR/<job-id>.
func TestRestoreFromOldLayout(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	const n = 20_000
	args := []string{"--checkpoint-dir", ck, "--output", filepath.Join(dir, "out"), "--checkpoint-interval", "50ms"}
	if r := runStopped(t, numbers(n, "", nil), 200*time.Millisecond, append(args, "--delay", "1ms")...); r.code != runner.ExitOK {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	// Move the checkpoints to where the old layout kept them.
	olds, _ := filepath.Glob(filepath.Join(ck, "numbers", "chk-*"))
	if len(olds) == 0 {
		t.Fatal("no checkpoint written")
	}
	for _, o := range olds {
		if err := os.Rename(o, filepath.Join(ck, filepath.Base(o))); err != nil {
			t.Fatal(err)
		}
	}
	r := runStopped(t, numbers(n, "", nil), 200*time.Millisecond, append(args, "--delay", "1ms")...)
	if r.code != runner.ExitOK || !strings.Contains(r.stderr, "restoring from a checkpoint in the old layout") {
		t.Fatalf("exit %d, want a restore from the old layout:\n%s", r.code, r.stderr)
	}
	if !hasCheckpoint(filepath.Join(ck, "numbers")) {
		t.Fatal("no new checkpoint in DIR/numbers")
	}
	r = run(context.Background(), numbers(n, "", nil), nil, nil, args...)
	if r.code != runner.ExitOK || strings.Contains(r.stderr, "old layout") || !strings.Contains(r.stderr, "restoring from checkpoint") {
		t.Fatalf("exit %d, want a restore from DIR/numbers:\n%s", r.code, r.stderr)
	}
	wantNumbers(t, parts(t, filepath.Join(dir, "out")), n)
}

// runStopped runs job with args and a free --http-addr, and sends SIGTERM
// once the job is ready (running, state restored) plus after: a signal
// before the pipeline runs has no final checkpoint to take.
func runStopped(t *testing.T, job runner.Job, after time.Duration, args ...string) result {
	t.Helper()
	addr := freeAddr(t)
	sigs := make(chan os.Signal, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for readyz(addr) != 200 {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		time.Sleep(after)
		sigs <- syscall.SIGTERM
	}()
	return run(context.Background(), job, nil, sigs, append(args, "--http-addr", addr)...)
}

// readyz returns /readyz's status code (0 if unreachable).
func readyz(addr string) int {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// breakStore makes every checkpoint write into jobDir fail: the directory
// moves away (with the lock file, still held) and a file takes its place.
// The returned function repairs it.
func breakStore(t *testing.T, jobDir string) func() {
	t.Helper()
	if err := os.Rename(jobDir, jobDir+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jobDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.Remove(jobDir); err != nil {
			t.Error(err)
		}
		if err := os.Rename(jobDir+".moved", jobDir); err != nil {
			t.Error(err)
		}
	}
}

// noTmp fails if a .tmp file is left anywhere under dir.
func noTmp(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".tmp") {
			t.Errorf("failed attempt left %s", p)
		}
		return nil
	})
}

// Past --checkpoint-tolerable-failures failed checkpoints in a row the job
// fails (exit 1, naming the last error); /readyz is 503 from the first.
func TestCheckpointFailuresFailTheJob(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	addr := freeAddr(t)
	seen503 := make(chan bool, 1)
	go func() {
		saw := false
		defer func() { seen503 <- saw }()
		waitFor(t, "a checkpoint and /readyz 200", func() bool { return hasCheckpoint(filepath.Join(ck, "numbers")) && readyz(addr) == 200 })
		breakStore(t, filepath.Join(ck, "numbers"))
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			switch readyz(addr) {
			case 503:
				saw = true
			case 0:
				return // the job ended
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a job that ignores the failures
	defer cancel()
	r := run(ctx, numbers(10_000_000, "", nil), nil, nil, "--checkpoint-dir", ck, "--output", filepath.Join(dir, "out"),
		"--checkpoint-interval", "200ms", "--checkpoint-tolerable-failures", "2", "--delay", "1ms", "--http-addr", addr)
	if r.code != runner.ExitFailure || !strings.Contains(r.stderr, "3 checkpoint(s) failed in a row, more than the 2 tolerated; the last: checkpoint") ||
		!strings.Contains(r.stderr, "not a directory") {
		t.Fatalf("exit %d, want 1 after the third failure, naming it:\n%s", r.code, r.stderr)
	}
	if n := strings.Count(r.stderr, "checkpoint failed"); n != 3 {
		t.Errorf("%d checkpoint failures logged, want 3:\n%s", n, r.stderr)
	}
	if !<-seen503 {
		t.Error("/readyz never answered 503 while checkpoints failed")
	}
	noTmp(t, dir)
}

// /readyz is 503 while the last checkpoint failed and 200 again once one
// succeeds; within the tolerated failures the job goes on.
func TestCheckpointFailureReadiness(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	addr := freeAddr(t)
	sigs := make(chan os.Signal, 1)
	done := make(chan result, 1)
	go func() {
		done <- run(context.Background(), numbers(10_000_000, "", nil), nil, sigs, "--checkpoint-dir", ck, "--output", filepath.Join(dir, "out"),
			"--checkpoint-interval", "50ms", "--checkpoint-tolerable-failures", "1000", "--delay", "1ms", "--http-addr", addr)
	}()
	jobDir := filepath.Join(ck, "numbers")
	waitFor(t, "a checkpoint and /readyz 200", func() bool { return hasCheckpoint(jobDir) && readyz(addr) == 200 })
	repair := breakStore(t, jobDir)
	waitFor(t, "/readyz 503", func() bool { return readyz(addr) == 503 })
	repair()
	waitFor(t, "/readyz 200 again", func() bool { return readyz(addr) == 200 })
	sigs <- syscall.SIGTERM
	if r := <-done; r.code != runner.ExitOK || !strings.Contains(r.stderr, "checkpoint failed") {
		t.Fatalf("exit %d, want 0 after tolerated failures:\n%s", r.code, r.stderr)
	}
	noTmp(t, dir)
}

// --savepoint-retain (default 5) keeps the job's newest savepoints.
func TestSavepointRetain(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--checkpoint-dir", filepath.Join(dir, "ck"), "--savepoint-dir", filepath.Join(dir, "sp"),
		"--output", filepath.Join(dir, "out"), "--checkpoint-interval", "1h", "--delay", "1ms"}
	var ids []string
	for i := 0; i < 8; i++ {
		r := runStopped(t, numbers(10_000_000, "", nil), 20*time.Millisecond, args...)
		if r.code != runner.ExitOK || !strings.Contains(r.stderr, "savepoint written") {
			t.Fatalf("run %d: exit %d:\n%s", i, r.code, r.stderr)
		}
		sps, _ := filepath.Glob(filepath.Join(dir, "sp", "sp-numbers-*"))
		ids = append(ids, filepath.Base(sps[len(sps)-1]))
	}
	sps, _ := filepath.Glob(filepath.Join(dir, "sp", "sp-numbers-*"))
	for i := range sps {
		sps[i] = filepath.Base(sps[i])
	}
	if strings.Join(sps, ",") != strings.Join(ids[3:], ",") {
		t.Fatalf("savepoints left %v, want the newest 5 of %v", sps, ids)
	}
}

// A run whose restore fails releases the directory: the next Run in the
// same process may use it.
func TestFailedRestoreReleasesTheDirectory(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--checkpoint-dir", filepath.Join(dir, "ck"), "--output", filepath.Join(dir, "out")}
	if r := runStopped(t, numbers(10_000_000, "v1", nil), 50*time.Millisecond, append(args, "--delay", "1ms")...); r.code != runner.ExitOK {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if r := run(context.Background(), numbers(10, "v2", nil), nil, nil, args...); r.code != runner.ExitFailure || !strings.Contains(r.stderr, "incompatible") {
		t.Fatalf("exit %d, want the checkpoint refused:\n%s", r.code, r.stderr)
	}
	if r := run(context.Background(), numbers(10, "v2", nil), nil, nil, args...); r.code != runner.ExitFailure || strings.Contains(r.stderr, "in use") {
		t.Fatalf("exit %d, want the checkpoint refused again, not the directory in use:\n%s", r.code, r.stderr)
	}
}
