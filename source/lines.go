package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/topspeed/topspeed/engine"
)

// BadRecordPolicy says what Lines does with a line that cannot be parsed.
type BadRecordPolicy uint8

const (
	// Fail makes Read return the *RecordError, which fails the pipeline
	// (Flink's behaviour). It is the default.
	Fail BadRecordPolicy = iota
	// Skip drops the line, counts it (see Lines.Skipped) and keeps the first
	// few errors (see Lines.Errors).
	Skip
)

// String returns "fail" or "skip".
func (p BadRecordPolicy) String() string {
	switch p {
	case Fail:
		return "fail"
	case Skip:
		return "skip"
	}
	return fmt.Sprintf("BadRecordPolicy(%d)", uint8(p))
}

// ParseBadRecordPolicy parses "fail" or "skip".
func ParseBadRecordPolicy(s string) (BadRecordPolicy, error) {
	switch s {
	case "fail":
		return Fail, nil
	case "skip":
		return Skip, nil
	}
	return 0, fmt.Errorf("source: bad-record policy %q: want fail or skip", s)
}

const (
	// DefaultMaxLineBytes is the default longest accepted line, without its
	// line terminator.
	DefaultMaxLineBytes = 1 << 20
	// KeptErrors is how many errors a Skip-policy Lines keeps for Errors.
	KeptErrors = 10
	// loggedErrors is how many skipped records are logged individually.
	loggedErrors = 5
	// initialBuffer is the initial read buffer size; it grows for long lines.
	initialBuffer = 64 << 10
	// pollInterval bounds a read from stdin or a pipe when the file
	// supports deadlines, so that Read returns regularly.
	pollInterval = 200 * time.Millisecond
	// readBudget bounds one Read that keeps skipping bad records: it then
	// returns what it has (maybe nothing), so that checkpoint barriers and
	// cancellation get through an endless run of bad input.
	readBudget = 100 * time.Millisecond
	// skipCheck is how many skipped records pass between checks of the
	// context and of readBudget.
	skipCheck = 256
)

// Option configures a Lines source.
type Option func(*linesOptions)

type linesOptions struct {
	onBad   BadRecordPolicy
	maxLine int
	logger  *zap.Logger
}

// WithBadRecords sets the policy for lines that do not parse or are too
// long; the default is Fail.
func WithBadRecords(p BadRecordPolicy) Option { return func(o *linesOptions) { o.onBad = p } }

// WithMaxLineBytes sets the longest line accepted, terminator excluded
// (default DefaultMaxLineBytes); a longer line is a bad record. n <= 0
// restores the default.
func WithMaxLineBytes(n int) Option { return func(o *linesOptions) { o.maxLine = n } }

// WithLogger makes a Skip-policy source log a warning for each of the first
// few skipped records, then one notice that further ones are only counted.
func WithLogger(l *zap.Logger) Option { return func(o *linesOptions) { o.logger = l } }

// Lines is a source that reads a text file, or stdin, line by line and
// parses each line into a record.
//
// Lines end with "\n"; a "\r" before it is dropped too, and the last line
// needs no terminator. Every line, a blank one included, is passed to the
// parse function, which decides whether it is valid (ParseCar rejects blank
// lines, like Flink). Lines longer than WithMaxLineBytes (1 MiB) are bad
// records without being buffered whole. Bad records fail Read with a
// *RecordError naming file and line, or are skipped and counted, according
// to WithBadRecords.
//
// Lines implements engine.StatefulSource: its state is the byte offset and
// line number after the last line read, and RestoreState seeks there. With
// a FlatParse (NewLinesFlat), whose records of one line a Read may return
// only in part, the state is then that line's position and how many of its
// records were returned; a restore parses the line again and skips them
// (the format is described at linePos, in parallel_flat.go). Stdin
// and other non-seekable inputs cannot be restored (ErrNotRestorable),
// except to their beginning.
//
// Reading stdin: Read returns the lines already available rather than wait
// to fill its buffer. When stdin is a pipe, socket or terminal, Read also
// returns (possibly with no record) every 200 ms: on Unix a stdin in
// blocking mode is read through a non-blocking duplicate with read
// deadlines (Close restores blocking mode). Elsewhere, or for inputs
// without deadlines, it may block until the next line or end of input.
//
// Skipping bad records, Read checks ctx every 256 records and returns
// after 100 ms, so that an endless run of bad input holds neither
// cancellation nor checkpoint barriers.
//
// A Lines is not safe for concurrent use, except for Skipped and Errors.
type Lines[T any] struct {
	name     string // for errors: the path, or "stdin"
	path     string // "" for a reader given to NewLinesReader
	newParse func() FlatParse[T]
	parse    FlatParse[T] // made by newParse at the first Open
	opts     linesOptions
	max      int

	r         io.Reader
	file      *os.File // the file Lines opened and must close
	seeker    io.Seeker
	base      int64 // seeker position of the input's first byte
	baseSet   bool
	deadlines bool   // r is an *os.File with working read deadlines
	mayBlock  bool   // reading r may block: do not read once records are ready
	restore   func() // undoes what Open did to stdin (non-blocking mode)

	buf        []byte
	start, end int
	rerr       error // sticky read error, io.EOF at the end
	offset     int64 // input bytes consumed
	line       int64 // lines consumed
	discarding bool  // inside a too-long line: drop bytes up to '\n'
	done       bool
	lineStart  int64 // offset of the line next returned last
	// The records of the last line parsed, pend[pi:] not yet returned, and
	// the offset of that line; skip is how many records of the next line
	// parsed were returned before a restore.
	pend    []T
	pi      int
	pendOff int64
	skip    int64

	bad BadRecords[*RecordError] // the bad-record policy, count and kept errors
}

var _ engine.StatefulSource[int] = (*Lines[int])(nil)

// NewLines returns a source reading path, or stdin if path is "-", and
// parsing each line with parse. parse receives the line without its
// terminator; the slice is only valid during the call.
func NewLines[T any](path string, parse func(line []byte) (T, error), opts ...Option) *Lines[T] {
	name := path
	if path == "-" {
		name = "stdin"
	}
	l := newLines(name, parse, opts)
	l.path = path
	return l
}

// NewLinesReader is like NewLines but reads r, named name in errors. If r is
// an io.Seeker, the input starts at its position at the first Open, a later
// Open rewinds there, and the source can be restored; otherwise it cannot.
// Close does not close r.
func NewLinesReader[T any](name string, r io.Reader, parse func(line []byte) (T, error), opts ...Option) *Lines[T] {
	l := newLines(name, parse, opts)
	l.r = r
	return l
}

func newLines[T any](name string, parse func([]byte) (T, error), opts []Option) *Lines[T] {
	l := &Lines[T]{name: name, newParse: flatOf(parse)}
	for _, o := range opts {
		o(&l.opts)
	}
	l.bad.Policy, l.bad.Log = l.opts.onBad, l.opts.logger
	l.max = l.opts.maxLine
	if l.max <= 0 {
		l.max = DefaultMaxLineBytes
	}
	return l
}

// Open opens the file (or takes stdin) and starts at its beginning.
func (l *Lines[T]) Open(ctx context.Context) error {
	if l.newParse == nil {
		return fmt.Errorf("source: %s: nil parse function", l.name)
	}
	if l.parse == nil {
		l.parse = l.newParse()
	}
	l.closeFile()
	switch {
	case l.path == "-":
		l.r = os.Stdin
		if f, restore, ok := pollableStdin(os.Stdin); ok {
			l.r, l.file, l.restore = f, f, restore
		}
	case l.path != "":
		f, err := os.Open(l.path)
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		l.file, l.r = f, f
	}
	l.seeker, l.deadlines, l.mayBlock = nil, false, true
	switch r := l.r.(type) {
	case *os.File:
		fi, err := r.Stat()
		switch {
		case err == nil && fi.IsDir():
			return fmt.Errorf("source: %s is a directory", l.name)
		case err == nil && fi.Mode().IsRegular():
			l.seeker, l.mayBlock = r, false
		default:
			l.deadlines = r.SetReadDeadline(time.Time{}) == nil
		}
	case *bytes.Reader, *strings.Reader:
		l.seeker, l.mayBlock = r.(io.Seeker), false
	case io.Seeker:
		l.seeker = r
	}
	if l.seeker != nil {
		// Offsets count from where the input started; reopening rewinds.
		var err error
		if !l.baseSet {
			l.base, err = l.seeker.Seek(0, io.SeekCurrent)
			l.baseSet = err == nil
		} else {
			_, err = l.seeker.Seek(l.base, io.SeekStart)
		}
		if err != nil {
			return fmt.Errorf("source: seek %s: %w", l.name, err)
		}
	}
	if l.buf == nil {
		l.buf = make([]byte, min(initialBuffer, l.max+2))
	}
	l.start, l.end, l.rerr = 0, 0, nil
	l.offset, l.line, l.discarding, l.done = 0, 0, false, false
	l.pend, l.pi, l.skip = l.pend[:0], 0, 0
	return nil
}

// Read parses the next lines into buf. It returns io.EOF at the end of the
// input, a *RecordError for a bad record under the Fail policy, ctx's error
// once ctx is done, and other errors for I/O failures. While it skips bad
// records it returns at least every 100 ms, maybe with none read.
func (l *Lines[T]) Read(ctx context.Context, buf []T) (int, error) {
	if l.done {
		return 0, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if l.r == nil {
		return 0, fmt.Errorf("source: %s: Read before Open", l.name)
	}
	n, skips, t0 := 0, 0, time.Now()
	// skip applies the policy to a bad record: false to return now, with
	// err (the record's error, ctx's, or nil when the budget is spent).
	skipBad := func(re *RecordError) (bool, error) {
		if !l.badRecord(re) {
			return false, re
		}
		if skips++; skips%skipCheck != 0 {
			return true, nil
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		return time.Since(t0) < readBudget, nil
	}
	for n < len(buf) {
		if l.pi < len(l.pend) {
			k := copy(buf[n:], l.pend[l.pi:])
			l.pi += k
			n += k
			continue
		}
		line, err := l.next(n > 0 && l.mayBlock)
		if err == errNotReady {
			break
		}
		skip := l.skip // only for the first line after a restore
		if err != io.EOF {
			l.skip = 0
		}
		if err == io.EOF {
			l.done = true
			return n, io.EOF
		}
		if err != nil {
			re, ok := err.(*RecordError)
			if !ok {
				return n, err
			}
			if more, err := skipBad(re); !more {
				return n, err
			}
			continue
		}
		recs, perr := l.parse(l.pend[:0], line)
		l.pend, l.pi, l.pendOff = recs[:0], 0, l.lineStart
		if perr != nil {
			if more, err := skipBad(&RecordError{File: l.name, Line: l.line, Err: perr}); !more {
				return n, err
			}
			continue
		}
		if len(recs) == 1 && skip == 0 {
			buf[n] = recs[0] // the common case of one record per line
			n++
			continue
		}
		l.pend, l.pi = recs, int(min(skip, int64(len(recs))))
	}
	return n, nil
}

// badRecord applies the policy to re and reports whether to carry on.
func (l *Lines[T]) badRecord(re *RecordError) bool {
	return l.bad.Skip(re, zap.String("file", re.File), zap.Int64("line", re.Line))
}

// Skipped returns how many bad records were skipped so far. It is safe to
// call concurrently with Read.
func (l *Lines[T]) Skipped() int64 { return l.bad.Skipped() }

// Errors returns the first KeptErrors errors of skipped records. It is safe
// to call concurrently with Read.
func (l *Lines[T]) Errors() []*RecordError { return l.bad.Errors() }

// errNotReady means no complete line is buffered and reading might block.
var errNotReady = errors.New("not ready")

// next returns the next line without its terminator, valid until the next
// call. If noBlock is set it returns errNotReady rather than read when no
// complete line is buffered. At the end of the input it returns io.EOF.
func (l *Lines[T]) next(noBlock bool) ([]byte, error) {
	for {
		data := l.buf[l.start:l.end]
		i := bytes.IndexByte(data, '\n')
		if l.discarding {
			if i < 0 {
				l.offset += int64(len(data))
				l.start, l.end = 0, 0
				if len(data) > 0 {
					// Return between buffers of an endless line (/dev/zero)
					// so that Read can return.
					return nil, errNotReady
				}
			} else {
				l.consume(i + 1)
				l.discarding = false
				continue
			}
		} else if i >= 0 {
			l.lineStart = l.offset
			l.consume(i + 1)
			return l.finish(data[:i])
		} else if len(data) > l.max+1 { // +1: room for a "\r"
			// Too long, and no end in sight: drop it up to its "\n".
			l.line++
			l.offset += int64(len(data))
			l.start, l.end = 0, 0
			l.discarding = true
			return nil, &RecordError{File: l.name, Line: l.line, Err: l.tooLong()}
		} else if l.rerr == io.EOF && len(data) > 0 {
			l.lineStart = l.offset
			l.consume(len(data)) // a last line without "\n"
			return l.finish(data)
		}
		if l.rerr != nil {
			if l.rerr == io.EOF {
				l.discarding = false
				return nil, io.EOF
			}
			if _, ok := l.rerr.(*os.PathError); ok {
				return nil, fmt.Errorf("source: %w", l.rerr) // names the file
			}
			return nil, fmt.Errorf("source: read %s: %w", l.name, l.rerr)
		}
		if noBlock {
			return nil, errNotReady
		}
		if err := l.fill(); err != nil {
			return nil, err
		}
	}
}

// consume marks n buffered bytes, ending a line, as read.
func (l *Lines[T]) consume(n int) {
	l.start += n
	l.offset += int64(n)
}

// finish counts a line, strips a "\r" and checks its length.
func (l *Lines[T]) finish(line []byte) ([]byte, error) {
	l.line++
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > l.max {
		return nil, &RecordError{File: l.name, Line: l.line, Err: l.tooLong()}
	}
	return line, nil
}

func (l *Lines[T]) tooLong() error {
	return fmt.Errorf("%w (more than %d bytes)", ErrLineTooLong, l.max)
}

// fill reads more input into the buffer, growing it up to what the longest
// line needs. It returns errNotReady when a read deadline expired.
func (l *Lines[T]) fill() error {
	if l.start > 0 {
		l.end = copy(l.buf, l.buf[l.start:l.end])
		l.start = 0
	}
	if l.end == len(l.buf) {
		size := min(2*len(l.buf), l.max+2)
		if size <= len(l.buf) {
			size = len(l.buf) + 1 // cannot happen: next() drops long lines first
		}
		nb := make([]byte, size)
		copy(nb, l.buf[:l.end])
		l.buf = nb
	}
	if l.deadlines {
		if f, ok := l.r.(*os.File); ok {
			_ = f.SetReadDeadline(time.Now().Add(pollInterval))
		}
	}
	n, err := l.r.Read(l.buf[l.end:])
	l.end += n
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if n == 0 {
				return errNotReady
			}
			return nil
		}
		l.rerr = err
	}
	return nil
}

// Close closes the file opened by Open; it never closes stdin or a reader
// given to NewLinesReader.
func (l *Lines[T]) Close() error {
	if f, ok := l.r.(*os.File); ok && l.deadlines {
		_ = f.SetReadDeadline(time.Time{}) // leave stdin as we found it
	}
	if err := l.closeFile(); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	return nil
}

// closeFile closes what Open opened (a file, or stdin's non-blocking
// duplicate) and restores stdin's mode.
func (l *Lines[T]) closeFile() error {
	var err error
	if l.file != nil {
		err = l.file.Close()
		l.file = nil
	}
	if l.restore != nil {
		l.restore()
		l.restore = nil
	}
	return err
}

// SnapshotState returns the position after the records Read returned
// (see linePos for the format): the byte offset and line number after the
// last line read, or, when only some of a line's records were returned,
// the line's offset and number and how many of its records were returned.
func (l *Lines[T]) SnapshotState() ([]byte, error) {
	pos := linePos{off: l.offset, line: l.line, disc: l.discarding, skip: l.skip}
	if l.pi < len(l.pend) {
		pos = linePos{off: l.pendOff, line: l.line - 1, skip: int64(l.pi)}
	}
	return pos.encode(), nil
}

// RestoreState seeks to a position returned by SnapshotState (of a Lines
// or a ParallelLines). It must be called after Open and before Read. It
// fails with ErrNotRestorable for stdin and other non-seekable inputs
// (unless the position is the start), and with an error if the file is
// shorter than the position.
func (l *Lines[T]) RestoreState(state []byte) error {
	pos, err := decodeLinePos(l.name, state)
	if err != nil {
		return err
	}
	offset, line, discarding := pos.off, pos.line, pos.disc
	if offset == 0 && line == 0 && !discarding && l.offset == 0 && l.line == 0 {
		l.skip = pos.skip
		return nil // the start: nothing to seek
	}
	if l.seeker == nil {
		return fmt.Errorf("%w: %s is not seekable (restoring to byte %d, line %d)", ErrNotRestorable, l.name, offset, line)
	}
	end, err := l.seeker.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("source: seek %s: %w", l.name, err)
	}
	if size := end - l.base; size < offset {
		return fmt.Errorf("source: %s has %d bytes, fewer than the checkpointed offset %d (line %d): was it truncated or replaced?",
			l.name, size, offset, line)
	}
	if _, err := l.seeker.Seek(l.base+offset, io.SeekStart); err != nil {
		return fmt.Errorf("source: seek %s: %w", l.name, err)
	}
	l.start, l.end, l.rerr = 0, 0, nil
	l.offset, l.line, l.discarding, l.done = offset, line, discarding, false
	l.pend, l.pi, l.skip = l.pend[:0], 0, pos.skip
	return nil
}
