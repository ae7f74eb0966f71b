package source

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// parseInt is a strict parse function for tests.
func parseInt(b []byte) (int, error) {
	v, err := strconv.Atoi(string(b))
	if err != nil {
		return 0, fmt.Errorf("%q: not an integer", b)
	}
	return v, nil
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cars.txt")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func open[T any](t *testing.T, l *Lines[T]) *Lines[T] {
	t.Helper()
	if err := l.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// readAll reads until io.EOF or another error, with reads of batch records.
func readAll[T any](t *testing.T, l *Lines[T], batch int) ([]T, error) {
	t.Helper()
	var out []T
	buf := make([]T, batch)
	for {
		n, err := l.Read(context.Background(), buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func TestLinesFile(t *testing.T) {
	tests := []struct {
		name, content string
		want          []int
	}{
		{"plain", "1\n2\n3\n", []int{1, 2, 3}},
		{"no trailing newline", "1\n2\n3", []int{1, 2, 3}},
		{"crlf", "1\r\n2\r\n3\r\n", []int{1, 2, 3}},
		{"crlf no trailing newline", "1\r\n2\r\n3\r", []int{1, 2, 3}},
		{"empty file", "", nil},
		{"one line", "42", []int{42}},
	}
	for _, tt := range tests {
		for _, batch := range []int{1, 2, 1024} {
			l := open(t, NewLines(writeFile(t, tt.content), parseInt))
			got, err := readAll(t, l, batch)
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("%s (batch %d): %v, %v; want %v", tt.name, batch, got, err, tt.want)
			}
			if n, err := l.Read(context.Background(), make([]int, 4)); n != 0 || err != io.EOF {
				t.Errorf("%s: read after EOF: %d, %v", tt.name, n, err)
			}
		}
	}
}

func TestLinesBadRecordFails(t *testing.T) {
	path := writeFile(t, "1\n2\nabc\n4\n")
	l := open(t, NewLines(path, parseInt))
	buf := make([]int, 10)
	n, err := l.Read(context.Background(), buf)
	if n != 2 || buf[0] != 1 || buf[1] != 2 {
		t.Errorf("records before the bad one: %v", buf[:n])
	}
	if !errors.Is(err, ErrBadRecord) {
		t.Fatalf("error %v does not match ErrBadRecord", err)
	}
	var re *RecordError
	if !errors.As(err, &re) || re.File != path || re.Line != 3 {
		t.Fatalf("error %#v", err)
	}
	if want := path + `:3: "abc": not an integer`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestLinesBlankLineIsBadRecord(t *testing.T) {
	l := open(t, NewLines(writeFile(t, "1\n\n3\n"), parseInt))
	_, err := readAll(t, l, 10)
	if !errors.Is(err, ErrBadRecord) || !strings.HasSuffix(err.Error(), `:2: "": not an integer`) {
		t.Errorf("blank line: %v", err)
	}
}

func TestLinesSkip(t *testing.T) {
	var content strings.Builder
	var want []int
	for i := 1; i <= 100; i++ {
		if i%10 == 0 {
			fmt.Fprintf(&content, "bad%d\n", i)
		} else {
			fmt.Fprintf(&content, "%d\n", i)
			want = append(want, i)
		}
	}
	core, logs := observer.New(zap.InfoLevel)
	path := writeFile(t, content.String())
	l := open(t, NewLines(path, parseInt, WithBadRecords(Skip), WithLogger(zap.New(core))))
	got, err := readAll(t, l, 7)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, %v", got, err)
	}
	if l.Skipped() != 10 {
		t.Errorf("Skipped() = %d", l.Skipped())
	}
	errs := l.Errors()
	if len(errs) != KeptErrors || errs[0].Line != 10 || errs[0].File != path || errs[9].Line != 100 {
		t.Errorf("Errors() = %v", errs)
	}
	if logs.Len() != loggedErrors+1 {
		t.Errorf("%d log entries, want %d", logs.Len(), loggedErrors+1)
	}
	first := logs.All()[0]
	if first.ContextMap()["line"] != int64(10) || !strings.Contains(fmt.Sprint(first.ContextMap()["error"]), "bad10") {
		t.Errorf("first log entry %v", first.ContextMap())
	}
}

func TestLinesTooLong(t *testing.T) {
	const max = 16
	long := strings.Repeat("9", 100)
	exact := strings.Repeat("7", max)
	content := "1\n" + long + "\n" + exact + "\n" + exact + "\r\n" + exact + "8\n5\n" + long
	t.Run("fail", func(t *testing.T) {
		l := open(t, NewLines(writeFile(t, content), parseInt, WithMaxLineBytes(max)))
		got, err := readAll(t, l, 10)
		if !errors.Is(err, ErrLineTooLong) || !errors.Is(err, ErrBadRecord) || len(got) != 1 {
			t.Fatalf("got %v, %v", got, err)
		}
		if !strings.HasSuffix(err.Error(), ":2: line too long (more than 16 bytes)") {
			t.Errorf("error %q", err)
		}
	})
	t.Run("skip", func(t *testing.T) {
		for _, batch := range []int{1, 3, 100} {
			l := open(t, NewLines(writeFile(t, content), parseInt, WithMaxLineBytes(max), WithBadRecords(Skip)))
			got, err := readAll(t, l, batch)
			e, _ := strconv.Atoi(exact)
			if want := fmt.Sprint([]int{1, e, e, 5}); err != nil || fmt.Sprint(got) != want {
				t.Fatalf("got %v, %v; want %v", got, err, want)
			}
			var lines []int64
			for _, re := range l.Errors() {
				lines = append(lines, re.Line)
			}
			if l.Skipped() != 3 || fmt.Sprint(lines) != "[2 5 7]" {
				t.Errorf("skipped %d at lines %v", l.Skipped(), lines)
			}
		}
	})
}

func TestLinesHugeLineDefaultLimit(t *testing.T) {
	huge := strings.Repeat("x", 3*DefaultMaxLineBytes+5)
	l := open(t, NewLines(writeFile(t, "1\n"+huge+"\n2\n"+huge), parseInt, WithBadRecords(Skip)))
	got, err := readAll(t, l, 10)
	if err != nil || fmt.Sprint(got) != "[1 2]" || l.Skipped() != 2 {
		t.Fatalf("got %v, %v, skipped %d", got, err, l.Skipped())
	}
	if len(l.buf) > DefaultMaxLineBytes+2 {
		t.Errorf("buffer grew to %d bytes", len(l.buf))
	}
}

func TestLinesOpenErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.txt")
	err := NewLines(missing, parseInt).Open(context.Background())
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	err = NewLines(t.TempDir(), parseInt).Open(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
	var nilParse func([]byte) (int, error)
	if err := NewLines(missing, nilParse).Open(context.Background()); err == nil {
		t.Error("nil parse function accepted")
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		r.n++
		return copy(p, "1\n2\n3"), nil
	}
	return 0, errors.New("disk on fire")
}

func TestLinesReadError(t *testing.T) {
	l := open(t, NewLinesReader("in", &failingReader{}, parseInt))
	got, err := readAll(t, l, 10)
	if fmt.Sprint(got) != "[1 2]" || err == nil || err.Error() != "source: read in: disk on fire" {
		t.Errorf("got %v, %v", got, err)
	}
	if errors.Is(err, ErrBadRecord) {
		t.Error("an I/O error is not a bad record")
	}
}

func TestLinesContext(t *testing.T) {
	l := open(t, NewLines(writeFile(t, "1\n"), parseInt))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Read(ctx, make([]int, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a cancelled context: %v", err)
	}
}

func TestLinesStdinPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	stdin := os.Stdin
	os.Stdin = pr
	t.Cleanup(func() { os.Stdin = stdin })

	l := open(t, NewLines("-", parseInt))
	buf := make([]int, 100)
	ctx := context.Background()

	// No input yet: the pipe supports deadlines, so Read returns empty.
	start := time.Now()
	n, err := l.Read(ctx, buf)
	if n != 0 || err != nil {
		t.Fatalf("empty pipe: %d, %v", n, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Read blocked %v", d)
	}

	// Available lines are returned without waiting to fill buf.
	fmt.Fprint(pw, "1\n2\n3")
	var got []int
	for len(got) < 2 {
		n, err := l.Read(ctx, buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	fmt.Fprint(pw, "\n4\nx\n")
	pw.Close()
	rest, err := readAll(t, l, 100)
	got = append(got, rest...)
	if fmt.Sprint(got) != "[1 2 3 4]" || !errors.Is(err, ErrBadRecord) || !strings.HasPrefix(err.Error(), "stdin:5: ") {
		t.Errorf("got %v, %v", got, err)
	}

	// Stdin cannot be restored, except to its start.
	if err := l.RestoreState([]byte{1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 2, 0}); !errors.Is(err, ErrNotRestorable) {
		t.Errorf("restoring stdin: %v", err)
	}
	fresh := open(t, NewLines("-", parseInt))
	state, _ := fresh.SnapshotState()
	if err := fresh.RestoreState(state); err != nil {
		t.Errorf("restoring stdin to its start: %v", err)
	}
}

// TestLinesRestore snapshots after every possible number of records and
// batch size and checks that a fresh source continues identically.
func TestLinesRestore(t *testing.T) {
	content := "1\n2\r\nbad\n" + strings.Repeat("9", 40) + "\n5\n\n7\n8"
	path := writeFile(t, content)
	opts := []Option{WithBadRecords(Skip), WithMaxLineBytes(16)}
	want, err := readAll(t, open(t, NewLines(path, parseInt, opts...)), 100)
	if err != nil {
		t.Fatal(err)
	}
	for batch := 1; batch <= 3; batch++ {
		for reads := 0; reads <= 6; reads++ {
			l := open(t, NewLines(path, parseInt, opts...))
			var got []int
			buf := make([]int, batch)
			eof := false
			for range reads {
				n, err := l.Read(context.Background(), buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					eof = true
					break
				}
			}
			state, _ := l.SnapshotState()
			r := open(t, NewLines(path, parseInt, opts...))
			if err := r.RestoreState(state); err != nil {
				t.Fatal(err)
			}
			if !eof {
				rest, err := readAll(t, r, batch)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, rest...)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("batch %d, %d reads: %v, want %v", batch, reads, got, want)
			}
		}
	}
}

func TestLinesRestoreLineNumbers(t *testing.T) {
	path := writeFile(t, "1\n2\n3\nx\n")
	l := open(t, NewLines(path, parseInt))
	l.Read(context.Background(), make([]int, 2))
	state, _ := l.SnapshotState()
	r := open(t, NewLines(path, parseInt))
	if err := r.RestoreState(state); err != nil {
		t.Fatal(err)
	}
	_, err := readAll(t, r, 10)
	if !strings.HasSuffix(fmt.Sprint(err), ":4: \"x\": not an integer") {
		t.Errorf("line numbers after restore: %v", err)
	}
}

func TestLinesRestoreErrors(t *testing.T) {
	path := writeFile(t, "1\n2\n3\n")
	l := open(t, NewLines(path, parseInt))
	l.Read(context.Background(), make([]int, 3))
	state, _ := l.SnapshotState()
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := open(t, NewLines(path, parseInt))
	if err := r.RestoreState(state); err == nil || !strings.Contains(err.Error(), "fewer than the checkpointed offset 6") {
		t.Errorf("truncated file: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("garbage"), append([]byte{9}, state[1:]...)} {
		if err := r.RestoreState(bad); err == nil {
			t.Errorf("RestoreState(%q) accepted", bad)
		}
	}
}

// chunkSeeker is a seekable reader that returns a few bytes per Read, so
// that Lines treats it as possibly blocking.
type chunkSeeker struct{ r *strings.Reader }

func (c chunkSeeker) Read(p []byte) (int, error)                { return c.r.Read(p[:min(len(p), 12)]) }
func (c chunkSeeker) Seek(off int64, whence int) (int64, error) { return c.r.Seek(off, whence) }

func TestLinesReaderRestore(t *testing.T) {
	content := "prefix-not-part-of-input|1\n" + strings.Repeat("9", 50) + "\n3\n"
	opts := []Option{WithBadRecords(Skip), WithMaxLineBytes(8)}
	var all []int
	var states [][]byte
	var before []int // records read before each state
	sr := strings.NewReader(content)
	sr.Seek(int64(strings.Index(content, "|")+1), io.SeekStart)
	l := open(t, NewLinesReader("in", chunkSeeker{sr}, parseInt, opts...))
	buf := make([]int, 10)
	for {
		st, _ := l.SnapshotState()
		states = append(states, st)
		before = append(before, len(all))
		n, err := l.Read(context.Background(), buf)
		all = append(all, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(all) != "[1 3]" {
		t.Fatalf("got %v", all)
	}
	for i, st := range states {
		sr := strings.NewReader(content)
		sr.Seek(int64(strings.Index(content, "|")+1), io.SeekStart)
		r := open(t, NewLinesReader("in", chunkSeeker{sr}, parseInt, opts...))
		if err := r.RestoreState(st); err != nil {
			t.Fatal(err)
		}
		rest, err := readAll(t, r, 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := append(all[:before[i]:before[i]], rest...); fmt.Sprint(got) != "[1 3]" {
			t.Errorf("restored from %x: %v", st, got)
		}
	}
	// A state inside a long line (only reachable with inputs that time
	// out, like pipes) resumes after it.
	st := binary.BigEndian.AppendUint64([]byte{1}, 2+5)
	st = binary.BigEndian.AppendUint64(st, 2)
	st = append(st, 1)
	sr = strings.NewReader(content)
	sr.Seek(int64(strings.Index(content, "|")+1), io.SeekStart)
	r := open(t, NewLinesReader("in", chunkSeeker{sr}, parseInt, opts...))
	if err := r.RestoreState(st); err != nil {
		t.Fatal(err)
	}
	if rest, err := readAll(t, r, 10); err != nil || fmt.Sprint(rest) != "[3]" || r.Skipped() != 0 {
		t.Errorf("restored inside the long line: %v, %v, skipped %d", rest, err, r.Skipped())
	}
}

func TestLinesReopenRewinds(t *testing.T) {
	l := open(t, NewLinesReader("in", strings.NewReader("1\n2\n"), parseInt))
	first, _ := readAll(t, l, 10)
	open(t, l)
	second, _ := readAll(t, l, 10)
	if fmt.Sprint(first) != "[1 2]" || fmt.Sprint(second) != "[1 2]" {
		t.Errorf("%v then %v", first, second)
	}
}

func TestParseBadRecordPolicy(t *testing.T) {
	for _, p := range []BadRecordPolicy{Fail, Skip} {
		if got, err := ParseBadRecordPolicy(p.String()); got != p || err != nil {
			t.Errorf("%v: %v, %v", p, got, err)
		}
	}
	if _, err := ParseBadRecordPolicy("ignore"); err == nil {
		t.Error("accepted ignore")
	}
}

func BenchmarkLines(b *testing.B) {
	var sb strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&sb, "%d\n", i)
	}
	data := sb.String()
	buf := make([]int, 1024)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		l := NewLinesReader("in", strings.NewReader(data), parseInt)
		l.Open(context.Background())
		for {
			_, err := l.Read(context.Background(), buf)
			if err != nil {
				break
			}
		}
	}
}
