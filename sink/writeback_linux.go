package sink

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback starts writeback of all of f's dirty pages not already
// under writeback, and returns without waiting (sync_file_range with
// SYNC_FILE_RANGE_WRITE over the whole file). It is advice: an error is
// ignored, the next fsync reports any real one.
func startWriteback(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	})
}
