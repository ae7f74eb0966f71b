package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// LockFile is the name of a checkpoint directory's lock file.
const LockFile = ".lock"

// DirLock is the exclusive lock of one checkpoint directory, held by one
// process for as long as it writes there (see LockDir).
type DirLock struct {
	f *os.File
}

// LockedError means another process holds a directory's lock. PID, Host
// and Since are what that process recorded in the lock file (zero if it
// has not yet written them).
type LockedError struct {
	Dir   string
	PID   int
	Host  string
	Since time.Time
}

func (e *LockedError) Error() string {
	who := "pid unknown"
	if e.PID != 0 {
		who = fmt.Sprintf("pid %d, host %s, since %s", e.PID, e.Host, e.Since.Format(time.RFC3339))
	}
	return fmt.Sprintf("checkpoint directory %s is in use by another process (%s)", e.Dir, who)
}

// lockOwner is the lock file's content: who holds the lock, for the
// message another process gets.
type lockOwner struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
}

// LockDir creates dir if needed and takes its exclusive lock: an
// flock(LOCK_EX|LOCK_NB) on dir/.lock, kept until Unlock or the process
// ends (also on kill -9: the kernel releases it). It fails at once with a
// *LockedError if another process, or another LockDir in this process,
// holds it. On NFS the Linux client maps flock to POSIX locks, which the
// server arbitrates across hosts.
func LockDir(dir string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: lock %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			le := &LockedError{Dir: dir}
			var o lockOwner
			if b, rerr := io.ReadAll(io.LimitReader(f, 4096)); rerr == nil && json.Unmarshal(b, &o) == nil {
				le.PID, le.Host, le.Since = o.PID, o.Host, o.Since
			}
			return nil, le
		}
		return nil, fmt.Errorf("checkpoint: lock %s: %w", path, err)
	}
	host, _ := os.Hostname()
	b, _ := json.Marshal(lockOwner{PID: os.Getpid(), Host: host, Since: time.Now().UTC().Truncate(time.Second)})
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("checkpoint: lock %s: %w", path, err)
	}
	return &DirLock{f: f}, nil
}

// Unlock releases the lock. The lock file stays: removing it would race
// with a process that has opened it and not yet locked it, which would
// then hold a lock on a file no one else sees.
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	return err
}

// Lock takes the store directory's exclusive lock (LockDir) for this
// process, until Unlock: one writer per directory. It is for a store with
// a single writer; with HA the raft leadership fences the writers
// instead.
func (s *Store) Lock() error {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if s.lock != nil {
		return nil
	}
	l, err := LockDir(s.dir)
	if err != nil {
		return err
	}
	s.lock = l
	return nil
}

// Unlock releases the lock Lock took, if any. It may be called more than
// once.
func (s *Store) Unlock() error {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	l := s.lock
	s.lock = nil
	return l.Unlock()
}
