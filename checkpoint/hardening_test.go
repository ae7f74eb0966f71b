package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// twoCheckpoints writes checkpoints 1 and 2 and returns the store and
// checkpoint 2's directory, for damage to be done to it.
func twoCheckpoints(t *testing.T) (*Store, string) {
	t.Helper()
	s := newStore(t, 3)
	if _, err := s.Write(context.Background(), sampleSnapshot(1), meta); err != nil {
		t.Fatal(err)
	}
	info, err := s.Write(context.Background(), sampleSnapshot(2), meta)
	if err != nil {
		t.Fatal(err)
	}
	return s, info.Path
}

// loadWithin runs Latest and Load of the damaged directory with a time
// bound (a FIFO must not hang them): Latest must fall back to checkpoint
// 1, and Load must refuse the damaged one with ErrInvalid naming want.
func loadWithin(t *testing.T, s *Store, damaged, want string) {
	t.Helper()
	type result struct {
		id      uint64
		err     error
		loadErr error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		var info Info
		_, info, r.err = s.Latest("fp-1", nil)
		r.id = info.Manifest.ID
		_, _, r.loadErr = Load(damaged)
		done <- r
	}()
	select {
	case r := <-done:
		if r.err != nil || r.id != 1 {
			t.Fatalf("Latest: checkpoint %d, %v; want the previous one (1)", r.id, r.err)
		}
		if !errors.Is(r.loadErr, ErrInvalid) || !strings.Contains(r.loadErr.Error(), want) {
			t.Fatalf("Load of the damaged checkpoint: %v; want ErrInvalid naming %q", r.loadErr, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("loading hangs")
	}
}

// A data file larger than its manifest says (a sparse 3 GiB state.bin) is
// refused without being read: memory stays small.
func TestLoadRefusesOversizedFileUnread(t *testing.T) {
	s, dir := twoCheckpoints(t)
	if err := os.Truncate(filepath.Join(dir, fileState), 3<<30); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	loadWithin(t, s, dir, "state.bin: 3221225472 bytes, manifest says")
	runtime.ReadMemStats(&after)
	grew := after.TotalAlloc - before.TotalAlloc
	if grew > 64<<20 {
		t.Fatalf("loading allocated %d MiB", grew>>20)
	}
	t.Logf("Latest and Load allocated %d KiB in all", grew>>10)
}

// A manifest beyond MaxManifestSize is refused unread.
func TestLoadRefusesHugeManifest(t *testing.T) {
	s, dir := twoCheckpoints(t)
	if err := os.Truncate(filepath.Join(dir, fileManifest), 2<<30); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	loadWithin(t, s, dir, "more than the 1048576 a manifest may have")
	runtime.ReadMemStats(&after)
	grew := after.TotalAlloc - before.TotalAlloc
	if grew > 64<<20 {
		t.Fatalf("loading allocated %d MiB", grew>>20)
	}
	t.Logf("Latest and Load allocated %d KiB in all", grew>>10)
}

// Only regular files are read: symbolic links (to /dev/zero, to
// /dev/null, to a valid file), FIFOs and directories in place of a data
// file or the manifest are refused, naming the file and what it is.
func TestLoadRefusesNonRegularFiles(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
		make             func(p string) error
	}{
		{"state.bin symlink to /dev/zero", fileState, "state.bin is a symbolic link",
			func(p string) error { return os.Symlink("/dev/zero", p) }},
		{"sinks.bin symlink to /dev/null", fileSinks, "sinks.bin is a symbolic link",
			func(p string) error { return os.Symlink("/dev/null", p) }},
		{"manifest symlink to a valid manifest", fileManifest, "MANIFEST.json is a symbolic link",
			func(p string) error {
				return os.Symlink(filepath.Join(filepath.Dir(p), "..", "chk-00000000000000000001-t0", fileManifest), p)
			}},
		{"FIFO as MANIFEST.json", fileManifest, "MANIFEST.json is a FIFO",
			func(p string) error { return syscall.Mkfifo(p, 0o644) }},
		{"FIFO as state.bin", fileState, "state.bin is a FIFO",
			func(p string) error { return syscall.Mkfifo(p, 0o644) }},
		{"directory as sources.bin", fileSources, "sources.bin is a directory",
			func(p string) error { return os.Mkdir(p, 0o755) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := twoCheckpoints(t)
			p := filepath.Join(dir, tc.file)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := tc.make(p); err != nil {
				t.Fatal(err)
			}
			loadWithin(t, s, dir, tc.want)
		})
	}
}

// A FIFO swapped in between the lstat and the open (the race lstat alone
// would lose) is not waited on: the open does not block and fstat refuses
// it.
func TestOpenRegularRefusesFIFOWithoutBlocking(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		// Skip the lstat: open directly as openRegular does after it.
		f, _, err := openAfterLstat(p)
		if f != nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "is a FIFO") {
			t.Fatalf("got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("open of a FIFO blocks")
	}
}

// A write that fails (here: the manifest cannot be written) removes its
// directory: no .tmp files or data files of failed attempts stay behind.
func TestFailedWriteLeavesNoFiles(t *testing.T) {
	s := newStore(t, 3)
	s.Hook = func(point string, id uint64) {
		if point == "files-written" && id == 2 {
			// A non-empty directory named MANIFEST.json: the rename of
			// MANIFEST.json.tmp onto it fails, after the tmp file is written.
			dir := filepath.Join(s.Dir(), s.dirName(id, 0))
			if err := os.MkdirAll(filepath.Join(dir, fileManifest, "x"), 0o755); err != nil {
				t.Error(err)
			}
		}
	}
	if _, err := s.Write(context.Background(), sampleSnapshot(1), meta); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(context.Background(), sampleSnapshot(2), meta); err == nil {
		t.Fatal("Write succeeded over a directory named MANIFEST.json")
	}
	des, _ := os.ReadDir(s.Dir())
	if len(des) != 1 || des[0].Name() != "chk-00000000000000000001-t0" {
		var names []string
		for _, d := range des {
			names = append(names, d.Name())
		}
		t.Fatalf("after a failed write the store holds %v, want only checkpoint 1", names)
	}
}

// Savepoints of several jobs share a directory: each store sees, loads
// and prunes only its job's, and keeps its newest Retain.
func TestSavepointsPerJobAndRetention(t *testing.T) {
	dir := t.TempDir()
	stores := map[string]*Store{}
	for _, job := range []string{"topspeed", "topspeed-2"} {
		s, err := NewStore(dir, 5, "savepoint", nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Job = job
		stores[job] = s
	}
	for id := uint64(1); id <= 8; id++ {
		for _, s := range stores {
			if _, err := s.Write(context.Background(), sampleSnapshot(id), meta); err != nil {
				t.Fatal(err)
			}
		}
	}
	for job, s := range stores {
		matches, _ := filepath.Glob(filepath.Join(dir, "sp-"+job+"-0*"))
		if len(matches) != 5 {
			t.Errorf("%s: %d savepoints left, want 5: %v", job, len(matches), matches)
		}
		for id := uint64(4); id <= 8; id++ {
			if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("sp-%s-%020d-t0", job, id))); err != nil {
				t.Errorf("%s: savepoint %d: %v", job, id, err)
			}
		}
		if _, info, err := s.Latest("fp-1", nil); err != nil || info.Manifest.ID != 8 {
			t.Errorf("%s: latest %d, %v", job, info.Manifest.ID, err)
		}
	}
	for name, want := range map[string]bool{"sp-topspeed-00000000000000000003-t1": true,
		"sp-topspeed-2-00000000000000000003-t1": false, "sp-00000000000000000003-t1": false, "chk-topspeed-00000000000000000003-t1": false} {
		if _, _, ok := stores["topspeed"].parse(name); ok != want {
			t.Errorf("store of job topspeed takes %s: %v, want %v", name, ok, want)
		}
	}
}

// One lock per directory: a second LockDir fails naming the holder, and
// succeeds once the first is released.
func TestLockDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "job")
	l, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockDir(dir)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() || le.Since.IsZero() {
		t.Fatalf("second LockDir: %v", err)
	}
	if want := fmt.Sprintf("checkpoint directory %s is in use by another process (pid %d, host ", dir, os.Getpid()); !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("message %q, want it to start with %q", err, want)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := LockDir(dir)
	if err != nil {
		t.Fatalf("LockDir after Unlock: %v", err)
	}
	_ = l2.Unlock()
}
