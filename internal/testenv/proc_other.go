//go:build !linux

package testenv

import (
	"os"
	"os/exec"
	"syscall"
)

// Elsewhere than Linux there is no Pdeathsig: the child is killed at
// t.Cleanup only (not its own children, nor when the test binary is killed).

func childSysProcAttr() *syscall.SysProcAttr { return nil }

func setChildSysProcAttr(*exec.Cmd) {}

func killGroup(p *os.Process) { _ = p.Kill() }

func groupAlive(int) bool { return false }
