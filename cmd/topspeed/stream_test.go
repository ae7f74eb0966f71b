//go:build linux

package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/topspeed/topspeed/internal/testenv"
	"github.com/topspeed/topspeed/job/topspeed"
)

// lockedBuilder is a strings.Builder safe to write from exec's copying
// goroutine while the test reads it.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestResultsStreamToPipe runs the binary with a slow generator and its
// stdout on a pipe, as `topspeed | consumer` does: results must reach the
// reader while the job runs, not only when it exits. Then SIGTERM stops it
// cleanly.
func TestResultsStreamToPipe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd := exec.Command(binary(t), "--rate", "20", "--cars", "2", "--http-addr", "", "--log-level", "warn")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")} // no TOPSPEED_* from the caller
	cmd.Stdout = pw
	stderr := &lockedBuilder{}
	cmd.Stderr = stderr
	// Its own process group (Setpgid), SIGKILL when the test binary dies
	// (Pdeathsig) and SIGKILL to the group at Cleanup: an aborted test
	// leaves nothing running.
	started := time.Now()
	if err := testenv.StartChild(t, cmd); err != nil {
		t.Fatal(err)
	}
	pw.Close() // the child has its copy: EOF once it exits
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(10 * time.Second)
	for i := 0; i < 3; i++ {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stdout closed after %d lines; stderr:\n%s", i, stderr)
			}
			if _, err := topspeed.ParseCar([]byte(l)); err != nil {
				t.Fatalf("line %d %q: %v", i, l, err)
			}
			t.Logf("result %d after %v: %s", i+1, time.Since(started).Round(time.Millisecond), l)
		case err := <-done:
			t.Fatalf("exited (%v) after %d lines, before being stopped; stderr:\n%s", err, i, stderr)
		case <-timeout:
			t.Fatalf("only %d result lines reached the pipe in 10s while the job ran; stderr:\n%s", i, stderr)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("exited (%v) before being stopped; stderr:\n%s", err, stderr)
	default:
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() { // keep the pipe from filling while it stops
		for range lines {
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit 20s after SIGTERM; stderr:\n%s", stderr)
	}
}
