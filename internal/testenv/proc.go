package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Command is exec.Command for a child process that must not outlive the
// test binary: on Linux it gets its own process group and the kernel sends
// it SIGKILL when the test binary dies, even by SIGKILL (Pdeathsig). Use it
// for short commands run to completion (go build, the binary's --help);
// StartChild for long-running ones.
func Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = childSysProcAttr()
	return cmd
}

// StartChild starts cmd so that it dies with the test: its own process
// group and SIGKILL when the test binary dies (Linux, as Command), and at
// t.Cleanup SIGKILL to its whole process group, then a wait (up to 10 s)
// until the process is dead. The caller still Waits for cmd.
//
// Pdeathsig fires when the thread that started the child exits; Go only
// ends threads of goroutines that exit while locked to their thread
// (runtime.LockOSThread), which tests must not do around StartChild.
func StartChild(t testing.TB, cmd *exec.Cmd) error {
	t.Helper()
	setChildSysProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		killGroup(cmd.Process)
		for deadline := time.Now().Add(10 * time.Second); groupAlive(pid) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	})
	return nil
}

// MainTempDir makes a directory for files that a whole test binary shares,
// where TestMain has no t.TempDir. Under `go test` it is made inside the go
// command's work directory (next to the test binary), which the go command
// removes when it ends, even when the test binary crashed, timed out or
// was killed; otherwise under os.TempDir(). TestMain removes it all the same
// after m.Run.
func MainTempDir(prefix string) (string, error) {
	if exe, err := os.Executable(); err == nil && inGoBuildDir(exe) {
		if d, err := os.MkdirTemp(filepath.Dir(exe), prefix); err == nil {
			return d, nil
		}
	}
	return os.MkdirTemp("", prefix)
}

// inGoBuildDir: path is under a go command work directory ($GOTMPDIR or
// the system's temporary directory, go-buildNNN).
func inGoBuildDir(path string) bool {
	for d := filepath.Dir(path); d != filepath.Dir(d); d = filepath.Dir(d) {
		if strings.HasPrefix(filepath.Base(d), "go-build") {
			return true
		}
	}
	return false
}
