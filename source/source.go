// Package source provides generic engine sources: Lines reads and parses a
// text file or stdin line by line, Slice replays an in-memory slice, and
// Func adapts a function.
package source

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/topspeed/topspeed/engine"
)

// ErrBadRecord is matched (with errors.Is) by every error about a single
// input record: a *RecordError.
var ErrBadRecord = errors.New("source: bad record")

// ErrLineTooLong is the Err of a RecordError for a line longer than the
// configured maximum.
var ErrLineTooLong = errors.New("line too long")

// ErrNotRestorable is returned by RestoreState when the input cannot seek
// back to a checkpointed position, as with stdin.
var ErrNotRestorable = errors.New("source: input cannot be restored")

// RecordError reports a record that could not be read or parsed. It matches
// ErrBadRecord with errors.Is and unwraps to Err.
type RecordError struct {
	// File is the input's name: the path given to NewLines, or "stdin".
	File string
	// Line is the 1-based line number.
	Line int64
	// Err is the parse function's error, or ErrLineTooLong.
	Err error
}

// Error returns "file:line: err", e.g. `cars.txt:17: field 2 (speed) "abc":
// not an integer`.
func (e *RecordError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

// Unwrap returns Err.
func (e *RecordError) Unwrap() error { return e.Err }

// Is reports whether target is ErrBadRecord.
func (e *RecordError) Is(target error) bool { return target == ErrBadRecord }

// Slice is a stateful source that replays an in-memory slice, for tests.
// Open rewinds it, so it can be reused for several runs; its checkpointed
// state is the index of the next record.
type Slice[T any] struct {
	recs     []T
	pos      int
	maxBatch int
}

var _ engine.StatefulSource[int] = (*Slice[int])(nil)

// NewSlice returns a source of records, which it does not copy: do not
// modify them while the source is in use.
func NewSlice[T any](records []T) *Slice[T] { return &Slice[T]{recs: records} }

// WithMaxBatch makes Read return at most n records per call (n <= 0: no
// limit), which lets tests see several batches and checkpoints between them.
// It returns s.
func (s *Slice[T]) WithMaxBatch(n int) *Slice[T] {
	s.maxBatch = n
	return s
}

// Open rewinds the source to the first record.
func (s *Slice[T]) Open(ctx context.Context) error {
	s.pos = 0
	return nil
}

// Read copies the next records into buf. It returns io.EOF, with the last
// records, when the slice is exhausted.
func (s *Slice[T]) Read(ctx context.Context, buf []T) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if s.maxBatch > 0 && len(buf) > s.maxBatch {
		buf = buf[:s.maxBatch]
	}
	n := copy(buf, s.recs[s.pos:])
	s.pos += n
	if s.pos == len(s.recs) {
		return n, io.EOF
	}
	return n, nil
}

// Close does nothing.
func (s *Slice[T]) Close() error { return nil }

// SnapshotState returns the index of the next record.
func (s *Slice[T]) SnapshotState() ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(s.pos)), nil
}

// RestoreState continues from a SnapshotState.
func (s *Slice[T]) RestoreState(state []byte) error {
	if len(state) != 8 {
		return fmt.Errorf("source: slice state has %d bytes, want 8", len(state))
	}
	pos := binary.BigEndian.Uint64(state)
	if pos > uint64(len(s.recs)) {
		return fmt.Errorf("source: slice state position %d beyond %d records", pos, len(s.recs))
	}
	s.pos = int(pos)
	return nil
}

// Func adapts a read function to a stateless source whose Open and Close do
// nothing. The function has the contract of engine.Source's Read.
type Func[T any] func(ctx context.Context, buf []T) (int, error)

var _ engine.Source[int] = Func[int](nil)

// Open does nothing.
func (f Func[T]) Open(ctx context.Context) error { return nil }

// Read calls f.
func (f Func[T]) Read(ctx context.Context, buf []T) (int, error) { return f(ctx, buf) }

// Close does nothing.
func (f Func[T]) Close() error { return nil }
