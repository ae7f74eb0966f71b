//go:build !linux

package validate

import (
	"errors"
	"os/exec"
	"time"
)

// Sandbox needs Linux namespaces; see sandbox_linux.go.
type Sandbox struct {
	Root     string
	Program  string
	Args     []string
	Env      []string
	UID, GID int
	Hostname string
}

var errNoSandbox = errors.New("sandboxes need Linux")

// SandboxSupported reports that sandboxes need Linux.
func SandboxSupported() error { return errNoSandbox }

// Command is not supported here.
func (s Sandbox) Command() (*exec.Cmd, error) { return nil, errNoSandbox }

// MaybeRunSandboxHelper does nothing here.
func MaybeRunSandboxHelper() {}

// HTTPGetInNetns is not supported here.
func HTTPGetInNetns(int, string, string, time.Duration) (int, string, error) {
	return 0, "", errNoSandbox
}
