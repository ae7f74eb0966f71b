//go:build unix

package source

import (
	"os"
	"syscall"
	"time"
)

// pollableStdin returns, when in (stdin) is a pipe, socket or terminal in
// blocking mode, a duplicate of it in non-blocking mode that Go's poller
// serves, so that reads honour deadlines and Read can notice a cancelled
// context on a silent pipe. restore puts the shared file description back
// in blocking mode; close f first. ok is false when in already supports
// deadlines, is a regular file, or cannot be polled (/dev/zero): reading it
// as it is then.
func pollableStdin(in *os.File) (f *os.File, restore func(), ok bool) {
	fi, err := in.Stat()
	if err != nil || fi.Mode().IsRegular() || fi.IsDir() || in.SetReadDeadline(time.Time{}) == nil {
		return nil, nil, false
	}
	orig := int(in.Fd())
	fd, err := syscall.Dup(orig)
	if err != nil {
		return nil, nil, false
	}
	syscall.CloseOnExec(fd)
	restore = func() { _ = syscall.SetNonblock(orig, false) }
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, nil, false
	}
	f = os.NewFile(uintptr(fd), in.Name())
	if f.SetReadDeadline(time.Time{}) != nil {
		f.Close()
		restore()
		return nil, nil, false
	}
	return f, restore, true
}
