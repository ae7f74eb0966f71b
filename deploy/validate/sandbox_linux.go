//go:build linux

package validate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Sandbox runs a program the way a container runtime runs an image's
// entrypoint: in Root (chroot), as UID:GID, with only Env, in its own
// PID (the program is PID 1), UTS (Hostname) and network namespace (only a
// loopback interface, up). It needs root.
type Sandbox struct {
	Root     string
	Program  string // path inside Root
	Args     []string
	Env      []string
	UID, GID int
	Hostname string
}

// sandboxEnv is the variable through which a test binary re-executed as
// the sandbox's helper receives its Sandbox.
const sandboxEnv = "TOPSPEED_VALIDATE_SANDBOX"

// SandboxSupported reports whether this process can create sandboxes.
func SandboxSupported() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (chroot, namespaces)")
	}
	return nil
}

// Command returns the command that runs the sandbox: this (test) binary,
// re-executed in new namespaces, sets them up and execs the program. The
// caller's TestMain must call MaybeRunSandboxHelper first thing.
func (s Sandbox) Command() (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	spec, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = []string{sandboxEnv + "=" + string(spec)}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET,
		Pdeathsig:  syscall.SIGKILL,
	}
	return cmd, nil
}

// MaybeRunSandboxHelper turns the process into the sandbox helper when it
// was started by Sandbox.Command; otherwise it returns at once.
func MaybeRunSandboxHelper() {
	spec := os.Getenv(sandboxEnv)
	if spec == "" {
		return
	}
	var s Sandbox
	fail := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "sandbox helper: %s: %v\n", what, err)
		os.Exit(120)
	}
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fail("spec", err)
	}
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			fail("sethostname", err)
		}
	}
	if err := loopbackUp(); err != nil {
		fail("loopback", err)
	}
	if err := syscall.Chroot(s.Root); err != nil {
		fail("chroot", err)
	}
	if err := syscall.Chdir("/"); err != nil {
		fail("chdir", err)
	}
	if err := syscall.Setgroups([]int{s.GID}); err != nil {
		fail("setgroups", err)
	}
	if err := syscall.Setgid(s.GID); err != nil {
		fail("setgid", err)
	}
	if err := syscall.Setuid(s.UID); err != nil {
		fail("setuid", err)
	}
	env := s.Env
	if env == nil {
		env = []string{}
	}
	err := syscall.Exec(s.Program, append([]string{s.Program}, s.Args...), env)
	fail("exec "+s.Program, err)
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// HTTPGetInNetns does GET path on addr from inside the network namespace
// of process pid (the sandbox), like a kubelet probe or a scrape. It
// returns the status code and body.
func HTTPGetInNetns(pid int, addr, path string, timeout time.Duration) (int, string, error) {
	type result struct {
		code int
		body string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		// This thread enters the sandbox's network namespace and returns
		// to its own before it is unlocked. It must not end while locked:
		// the runtime would end the thread, and a child started from it
		// (Pdeathsig) would be killed.
		runtime.LockOSThread()
		own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer own.Close()
		ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("setns: %w", err)}
			return
		}
		conn, err := net.DialTimeout("tcp", addr, timeout)
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(timeout))
		if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr); err != nil {
			ch <- result{err: err}
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		ch <- result{resp.StatusCode, string(b), err}
	}()
	r := <-ch
	return r.code, r.body, r.err
}
