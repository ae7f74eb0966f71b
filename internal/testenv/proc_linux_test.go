package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dead: pid is gone or a zombie (killed, not yet reaped by its new parent).
func dead(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || strings.HasPrefix(s[i+1:], " Z")
}

func waitDead(t *testing.T, pid int, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !dead(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still running", what, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStartChildCleanup: the cleanup kills the child and its own children.
func TestStartChildCleanup(t *testing.T) {
	var pid, grandchild int
	t.Run("child", func(t *testing.T) {
		cmd := exec.Command("sh", "-c", "sleep 300 & echo $!; wait")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := StartChild(t, cmd); err != nil {
			t.Fatal(err)
		}
		go func() { _ = cmd.Wait() }()
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		pid = cmd.Process.Pid
		if grandchild, err = strconv.Atoi(strings.TrimSpace(line)); err != nil {
			t.Fatal(err)
		}
	})
	waitDead(t, pid, "the child")
	waitDead(t, grandchild, "the child's child")
}

// TestChildDiesWithTestBinary: a child started with StartChild dies when
// the test binary is killed with SIGKILL (no cleanup runs then).
func TestChildDiesWithTestBinary(t *testing.T) {
	if os.Getenv("TESTENV_CHILD_HELPER") == "1" {
		cmd := exec.Command("sleep", "300")
		if err := StartChild(t, cmd); err != nil {
			t.Fatal(err)
		}
		fmt.Println(cmd.Process.Pid)
		_ = cmd.Wait() // killed with the helper
		return
	}
	helper := exec.Command(os.Args[0], "-test.run=^TestChildDiesWithTestBinary$", "-test.count=1")
	helper.Env = append(os.Environ(), "TESTENV_CHILD_HELPER=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := StartChild(t, helper); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper printed %q", line)
	}
	if dead(child) {
		t.Fatal("the helper's child is not running")
	}
	if err := syscall.Kill(helper.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	waitDead(t, child, "the child of a killed test binary")
}

func TestMainTempDir(t *testing.T) {
	d, err := MainTempDir("testenv-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(d)
	exe, _ := os.Executable()
	if inGoBuildDir(exe) && !inGoBuildDir(d+"/x") {
		t.Fatalf("%s is not in go test's work directory (binary %s)", d, exe)
	}
	t.Logf("%s", d)
}
