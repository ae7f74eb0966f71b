package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCrashInIncrementalCheckpoint kills -9 the job in the middle of
// incremental checkpoints: after the changed key groups' files are
// durable and before the manifest that refers to the earlier checkpoints'
// files ("incremental-files-written"), and at other moments, restarting it
// each time; the output must equal a failure-free run's. Many cars at a
// low rate and a short interval leave most key groups unchanged between
// two checkpoints, so that checkpoints are incremental.
func TestCrashInIncrementalCheckpoint(t *testing.T) {
	dir := t.TempDir()
	common := []string{"--cars", "2000", "--rate", "8000", "--events", "80000", "--start-time", "1424951918630",
		"--seed", "3", "--checkpoint-interval", "20ms", "--checkpoint-retain", "2", "--log-level", "warn"}
	args := func(name string) []string {
		return append(append([]string{}, common...), "--output", filepath.Join(dir, name+"-out"),
			"--checkpoint-dir", filepath.Join(dir, name+"-ck"))
	}
	ref := start(t, nil, args("ref")...)
	if err := ref.Wait(t, 2*time.Minute); err != nil {
		t.Fatalf("failure-free run: %v\n%s", err, ref.Stderr)
	}
	torn := 0
	for i := range 8 {
		var env []string
		lifetime := time.Duration(300+100*i) * time.Millisecond
		if i%2 == 0 {
			env, lifetime = []string{"TOPSPEED_TEST_CRASH_AT=incremental-files-written"}, 20*time.Second
		}
		l := start(t, env, args("crash")...)
		select {
		case err := <-l.Done():
			if ws, ok := l.Cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && env != nil {
				torn++
				continue
			}
			t.Fatalf("life %d ended without being killed (%v): make the input longer\n%s", i, err, l.Stderr)
		case <-time.After(lifetime):
			_ = l.Cmd.Process.Signal(syscall.SIGKILL)
			<-l.Done()
		}
	}
	if torn == 0 {
		t.Fatal("no life died in the middle of an incremental checkpoint")
	}
	// Incremental checkpoints were written: some manifest refers to an
	// earlier checkpoint's files, and some key group is a chain of a base
	// and deltas (format 3 "chains").
	shared, chains := false, false
	ms, _ := filepath.Glob(filepath.Join(dir, "crash-ck", "*", "chk-*", "MANIFEST.json"))
	for _, m := range ms {
		b, _ := os.ReadFile(m)
		shared = shared || strings.Contains(string(b), `"shared"`)
		chains = chains || strings.Contains(string(b), `"chains"`)
	}
	last := start(t, nil, args("crash")...)
	if err := last.Wait(t, 2*time.Minute); err != nil {
		t.Fatalf("final life: %v\n%s", err, last.Stderr)
	}
	if !shared || !chains {
		t.Fatalf("among %d checkpoints, one refers to earlier files: %v, one has delta chains: %v", len(ms), shared, chains)
	}
	samePerCar(t, perCar(t, filepath.Join(dir, "crash-out")), perCar(t, filepath.Join(dir, "ref-out")))
	t.Logf("%d kill -9 in the middle of an incremental checkpoint, %d others: output identical to the failure-free run", torn, 8-torn)
}
