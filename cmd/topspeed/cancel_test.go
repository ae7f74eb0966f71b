package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/internal/testenv"
)

// startWithStdin is start with stdin from r (a pipe the test holds, or a
// reader os/exec copies from).
func startWithStdin(t *testing.T, stdin io.Reader, args ...string) *testenv.Life {
	t.Helper()
	cmd := testenv.Command(binary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TOPSPEED_HTTP_ADDR="}
	cmd.Stdin = stdin
	l := &testenv.Life{Cmd: cmd, Stderr: &strings.Builder{}}
	cmd.Stderr = l.Stderr
	if err := testenv.StartChild(t, cmd); err != nil {
		t.Fatal(err)
	}
	return l
}

// badLines is the output of `yes x`.
type badLines struct{}

func (badLines) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "x\n"[i%2]
	}
	return len(p) &^ 1, nil
}

// sigtermStops sends SIGTERM to a job that has run for a second and
// checks that it ends within a second.
func sigtermStops(t *testing.T, l *testenv.Life, wait func() error) {
	t.Helper()
	time.Sleep(time.Second) // in the middle of reading by now
	sent := time.Now()
	if err := l.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		took := time.Since(sent)
		t.Logf("stopped %v after SIGTERM (%v)", took.Round(time.Millisecond), err)
		if took > time.Second {
			t.Errorf("stopped only %v after SIGTERM; stderr:\n%s", took, l.Stderr)
		}
	case <-time.After(10 * time.Second):
		_ = l.Cmd.Process.Kill()
		<-done
		t.Fatalf("still running 10s after SIGTERM; stderr:\n%s", l.Stderr)
	}
}

// TestSIGTERMStopsEndlessBadInput: skipping an endless run of bad input
// (/dev/zero: one endless line; `yes x | topspeed --input -`: endless bad
// lines) does not keep SIGTERM from stopping the job.
func TestSIGTERMStopsEndlessBadInput(t *testing.T) {
	t.Run("dev-zero", func(t *testing.T) {
		t.Parallel()
		l := start(t, nil, "--input", "/dev/zero", "--on-bad-record", "skip", "--output", filepath.Join(t.TempDir(), "out"))
		sigtermStops(t, l, func() error { return l.Wait(t, time.Minute) })
	})
	t.Run("yes-x-on-stdin", func(t *testing.T) {
		t.Parallel()
		l := startWithStdin(t, badLines{}, "--input", "-", "--on-bad-record", "skip", "--output", filepath.Join(t.TempDir(), "out"))
		sigtermStops(t, l, l.Cmd.Wait)
	})
}

// TestSIGTERMStopsSilentStdin: `(sleep 20) | topspeed --input -`: a pipe
// on stdin that stays silent does not keep SIGTERM from stopping the job.
func TestSIGTERMStopsSilentStdin(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	l := startWithStdin(t, pr, "--input", "-", "--output", filepath.Join(t.TempDir(), "out"))
	pr.Close() // the child has its copy
	sigtermStops(t, l, l.Cmd.Wait)
}

// TestCheckpointsWhileSkipping: checkpoints complete while the source
// skips an endless run of bad input: the third within 2 s.
func TestCheckpointsWhileSkipping(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	l := start(t, nil, "--input", "/dev/zero", "--on-bad-record", "skip",
		"--checkpoint-dir", ck, "--checkpoint-interval", "100ms", "--output", filepath.Join(dir, "out"))
	defer func() { _ = l.Cmd.Process.Kill() }()
	started := time.Now()
	deadline := started.Add(2 * time.Second)
	for {
		// The checkpoints are in ck or a directory of the job's in it.
		names, _ := filepath.Glob(filepath.Join(ck, "chk-*"))
		more, _ := filepath.Glob(filepath.Join(ck, "*", "chk-*"))
		names = append(names, more...)
		for _, n := range names {
			if _, info, err := checkpoint.Load(n); err == nil && info.Manifest.ID >= 3 {
				t.Logf("checkpoint %s complete after %v", filepath.Base(n), time.Since(started).Round(time.Millisecond))
				return
			}
		}
		if time.Now().After(deadline) {
			_ = l.Cmd.Process.Kill()
			<-l.Done()
			t.Fatalf("no complete checkpoint within 2s while skipping bad input (found %v); stderr:\n%s", names, l.Stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
