package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary is a command built once per test binary, for tests that run it as
// a child process (crash and HA tests). Declare it as a package variable and
// call Remove from TestMain after m.Run.
type Binary struct {
	// Name is the file name of the built command.
	Name string
	// Pkg is the package to build, relative to the test's directory ("."
	// for the command under test).
	Pkg string

	once sync.Once
	dir  string
	path string
	err  error
}

// Path builds the command on the first call, into a MainTempDir, and
// returns its path; a build failure fails t.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		if b.dir, b.err = MainTempDir(b.Name + "-bin"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, b.Name)
		if out, err := Command("go", "build", "-o", b.path, b.Pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v: %s", b.Pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Remove deletes the built command, if any.
func (b *Binary) Remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// Life is one run of a child process started with Start: it dies with the
// test (StartChild), and its stderr is kept for failure messages.
type Life struct {
	Cmd    *exec.Cmd
	Stderr *strings.Builder
	done   chan error
}

// Start runs path with args and exactly the environment env, as a child
// that dies with the test.
func Start(t testing.TB, path string, env []string, args ...string) *Life {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = env
	l := &Life{Cmd: cmd, Stderr: &strings.Builder{}, done: make(chan error, 1)}
	cmd.Stderr = l.Stderr
	if err := StartChild(t, cmd); err != nil {
		t.Fatal(err)
	}
	go func() { l.done <- cmd.Wait() }()
	return l
}

// Done delivers Wait's result once, when the process has ended (for a
// select); use it or Wait, not both.
func (l *Life) Done() <-chan error { return l.done }

// Wait returns the process's exit error, or kills it and fails t if it
// does not end within timeout.
func (l *Life) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-l.done:
		return err
	case <-time.After(timeout):
		_ = l.Cmd.Process.Kill()
		t.Fatalf("%s did not finish in %v; stderr:\n%s", filepath.Base(l.Cmd.Path), timeout, l.Stderr.String())
		return nil
	}
}
