package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestSlice(t *testing.T) {
	s := NewSlice([]int{1, 2, 3, 4, 5}).WithMaxBatch(2)
	ctx := context.Background()
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	buf := make([]int, 10)
	var got []string
	for {
		n, err := s.Read(ctx, buf)
		got = append(got, fmt.Sprint(buf[:n], err))
		if err != nil {
			break
		}
	}
	if fmt.Sprint(got) != "[[1 2] <nil> [3 4] <nil> [5] EOF]" {
		t.Errorf("reads: %v", got)
	}
	if n, err := s.Read(ctx, buf); n != 0 || err != io.EOF {
		t.Errorf("after the end: %d, %v", n, err)
	}
	// Open rewinds.
	s.Open(ctx)
	if n, _ := s.Read(ctx, buf); n != 2 || buf[0] != 1 {
		t.Errorf("after reopening: %v", buf[:n])
	}
	state, _ := s.SnapshotState()
	r := NewSlice([]int{1, 2, 3, 4, 5})
	r.Open(ctx)
	if err := r.RestoreState(state); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(ctx, buf); fmt.Sprint(buf[:n]) != "[3 4 5]" || err != io.EOF {
		t.Errorf("restored: %v, %v", buf[:n], err)
	}
	for _, bad := range [][]byte{nil, {1}, {0, 0, 0, 0, 0, 0, 0, 6}} {
		if err := r.RestoreState(bad); err == nil {
			t.Errorf("RestoreState(%v) accepted", bad)
		}
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Read(ctx2, buf); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	empty := NewSlice[int](nil)
	empty.Open(ctx)
	if n, err := empty.Read(ctx, buf); n != 0 || err != io.EOF {
		t.Errorf("empty slice: %d, %v", n, err)
	}
}

func TestFunc(t *testing.T) {
	calls := 0
	f := Func[int](func(ctx context.Context, buf []int) (int, error) {
		calls++
		if calls > 2 {
			return 0, io.EOF
		}
		buf[0] = calls
		return 1, nil
	})
	ctx := context.Background()
	if err := f.Open(ctx); err != nil {
		t.Fatal(err)
	}
	buf := make([]int, 4)
	var got []int
	for {
		n, err := f.Read(ctx, buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if fmt.Sprint(got) != "[1 2]" || f.Close() != nil {
		t.Errorf("got %v", got)
	}
}

func TestRecordError(t *testing.T) {
	inner := errors.New("boom")
	var err error = &RecordError{File: "cars.txt", Line: 17, Err: inner}
	if err.Error() != "cars.txt:17: boom" || !errors.Is(err, ErrBadRecord) || !errors.Is(err, inner) {
		t.Errorf("%v", err)
	}
	if errors.Is(err, ErrLineTooLong) {
		t.Error("matches ErrLineTooLong")
	}
}

func ExampleLines() {
	// Parse one integer per line, skipping bad lines.
	src := NewLinesReader("numbers", strings.NewReader("1\n2\nthree\n4\n"), func(b []byte) (int, error) {
		var v int
		_, err := fmt.Sscan(string(b), &v)
		return v, err
	}, WithBadRecords(Skip))
	ctx := context.Background()
	if err := src.Open(ctx); err != nil {
		panic(err)
	}
	defer src.Close()
	buf := make([]int, 10)
	n, err := src.Read(ctx, buf)
	fmt.Println(buf[:n], err, src.Skipped())
	fmt.Println(src.Errors()[0].Line)
	// Output:
	// [1 2 4] EOF 1
	// 3
}
