package source

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// endless reads as an infinite repetition of its pattern.
type endless struct {
	pat []byte
	i   int
}

func (e *endless) Read(p []byte) (int, error) {
	for k := range p {
		p[k] = e.pat[e.i]
		e.i = (e.i + 1) % len(e.pat)
	}
	return len(p), nil
}

// readUntil calls Read until it fails, and returns the error, how long
// that took, and the longest single Read.
func readUntil(t *testing.T, ctx context.Context, l *Lines[int], limit time.Duration) (took, longest time.Duration, reads int, err error) {
	t.Helper()
	buf := make([]int, 1000)
	start := time.Now()
	for time.Since(start) < limit {
		t0 := time.Now()
		_, err := l.Read(ctx, buf)
		longest = max(longest, time.Since(t0))
		reads++
		if err != nil {
			return time.Since(start), longest, reads, err
		}
	}
	return time.Since(start), longest, reads, nil
}

// TestLinesSkipReturnsRegularly: skipping an endless run of bad lines, or
// an endless line (/dev/zero), Read returns every readBudget or so, with
// nothing read, and returns ctx's error once ctx is cancelled.
func TestLinesSkipReturnsRegularly(t *testing.T) {
	for name, pat := range map[string]string{"bad lines": "x\n", "endless line": "\x00"} {
		t.Run(name, func(t *testing.T) {
			l := open(t, NewLinesReader("endless", &endless{pat: []byte(pat)}, parseInt, WithBadRecords(Skip)))
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(600*time.Millisecond, cancel)
			took, longest, reads, err := readUntil(t, ctx, l, 10*time.Second)
			if !errors.Is(err, context.Canceled) || took > 3*time.Second {
				t.Fatalf("got %v after %v", err, took)
			}
			if reads < 3 || longest > time.Second {
				t.Fatalf("%d reads, the longest %v: Read should return regularly", reads, longest)
			}
			if l.Skipped() == 0 {
				t.Fatal("nothing skipped")
			}
		})
	}
}

// TestLinesSilentStdin: stdin a pipe in blocking mode (as a shell gives
// it) with no writer activity: Read still returns regularly, with nothing,
// and Close puts stdin back in blocking mode.
func TestLinesSilentStdin(t *testing.T) {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	pr, pw := os.NewFile(uintptr(p[0]), "pipe-r"), os.NewFile(uintptr(p[1]), "pipe-w")
	defer pr.Close()
	defer pw.Close()
	if pr.SetReadDeadline(time.Time{}) == nil {
		t.Fatal("the pipe should be in blocking mode")
	}
	stdin := os.Stdin
	os.Stdin = pr
	t.Cleanup(func() { os.Stdin = stdin })

	l := NewLines("-", parseInt)
	if err := l.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		_, _, _, err := readUntil(t, ctx, l, 10*time.Second)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(3 * time.Second):
		pw.Close() // unblock the reader
		t.Fatal("Read blocked on a silent stdin after ctx was cancelled")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if nb, err := isNonblock(p[0]); err != nil || nb {
		t.Fatalf("stdin left non-blocking: %v %v", nb, err)
	}
}

func isNonblock(fd int) (bool, error) {
	fl, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if errno != 0 {
		return false, errno
	}
	return fl&syscall.O_NONBLOCK != 0, nil
}
