package main

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Two topspeed processes on one --checkpoint-dir: the second exits 1 at
// start naming the first (pid, host); with another --job-id both run, each
// in its own subdirectory.
func TestCheckpointDirOneOwner(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	common := []string{"--cars", "5", "--rate", "2000", "--checkpoint-dir", ck, "--checkpoint-interval", "100ms"}
	first := start(t, nil, append(common, "--output", filepath.Join(dir, "out1"))...)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m, _ := filepath.Glob(filepath.Join(ck, "topspeed", "chk-*", "MANIFEST.json")); len(m) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first process wrote no checkpoint into DIR/topspeed")
		}
	}

	second := start(t, nil, append(common, "--output", filepath.Join(dir, "out2"))...)
	err := second.Wait(t, 30*time.Second)
	var ee *exec.ExitError
	want := fmt.Sprintf("topspeed: checkpoint directory %s is in use by another process (pid %d, host ", filepath.Join(ck, "topspeed"), first.Cmd.Process.Pid)
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(second.Stderr.String(), want) ||
		!strings.Contains(second.Stderr.String(), "each job needs its own --job-id or --checkpoint-dir") {
		t.Fatalf("second process on the same directory: %v, want exit 1 and %q...; stderr:\n%s", err, want, second.Stderr)
	}

	other := start(t, nil, append(common, "--job-id", "topspeed-b", "--events", "2000", "--rate", "0", "--output", filepath.Join(dir, "out3"))...)
	if err := other.Wait(t, time.Minute); err != nil {
		t.Fatalf("process with another --job-id: %v\n%s", err, other.Stderr)
	}

	_ = first.Cmd.Process.Signal(syscall.SIGTERM)
	if err := first.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("first process: %v\n%s", err, first.Stderr)
	}
	if !strings.Contains(first.Stderr.String(), "stopped with a final checkpoint") {
		t.Fatalf("first process: no final checkpoint:\n%s", first.Stderr)
	}
}
