package source

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// FlatParse parses one line into zero or more records, appending them to
// dst and returning the extended slice, like a flatMap. On error it returns
// the error (the line is a bad record and whatever it appended is dropped).
// It receives the line without its terminator, valid only during the call,
// and its records must not refer to the line's memory. It must be
// deterministic: a restore parses a line again and skips the records of it
// that were already delivered.
type FlatParse[T any] func(dst []T, line []byte) ([]T, error)

// NewFileLinesFlat is NewFileLines for a FlatParse: a line gives zero or
// more records. newParse is called once per parsing goroutine (each worker
// and Read's own), so a parse function may keep state of its own without
// locking, such as a cache; several may run at once.
func NewFileLinesFlat[T any](path string, newParse func() FlatParse[T], cfg ParallelConfig, opts ...Option) LineSource[T] {
	if path != "-" {
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
			return NewParallelLinesFlat(path, newParse, cfg, opts...)
		}
	}
	return NewLinesFlat(path, newParse, opts...)
}

// NewParallelLinesFlat is NewParallelLines for a FlatParse (see
// NewFileLinesFlat and ParallelLines).
func NewParallelLinesFlat[T any](path string, newParse func() FlatParse[T], cfg ParallelConfig, opts ...Option) *ParallelLines[T] {
	p := newParallelLines[T](path, cfg, opts)
	p.newParse = newParse
	return p
}

// NewLinesFlat is NewLines for a FlatParse, which it makes with newParse
// once (at the first Open).
func NewLinesFlat[T any](path string, newParse func() FlatParse[T], opts ...Option) *Lines[T] {
	name := path
	if path == "-" {
		name = "stdin"
	}
	l := newLines[T](name, nil, opts)
	l.path, l.newParse = path, newParse
	return l
}

// NewLinesReaderFlat is NewLinesReader for a FlatParse (see NewLinesFlat).
func NewLinesReaderFlat[T any](name string, r io.Reader, newParse func() FlatParse[T], opts ...Option) *Lines[T] {
	l := newLines[T](name, nil, opts)
	l.r, l.newParse = r, newParse
	return l
}

// flatOf makes a one-record-per-line parse function a FlatParse factory;
// nil stays nil.
func flatOf[T any](parse func([]byte) (T, error)) func() FlatParse[T] {
	if parse == nil {
		return nil
	}
	f := FlatParse[T](func(dst []T, line []byte) ([]T, error) {
		v, err := parse(line)
		if err != nil {
			return dst, err
		}
		return append(dst, v), nil
	})
	return func() FlatParse[T] { return f }
}

// Lines sources (Lines and ParallelLines) share one state format: a version
// byte, the byte offset (u64) and line number (u64) of the next line not
// fully consumed, and a flag (u8) set when the offset is inside a too-long
// line whose rest is dropped. Version 1 ends there (18 bytes): the line at
// the offset is unread. Version 2 (26 bytes) adds how many records (u64) of
// the line at the offset were already delivered, when a FlatParse's records
// of one line were split between two Reads; it is written only then, so a
// source without a mid-line position writes version 1 states, as before.
const (
	linesStateVersion    = 1
	linesStateVersionMid = 2
)

// linePos is a position in a lines source's input.
type linePos struct {
	off, line int64
	disc      bool  // inside a too-long line to drop
	skip      int64 // records of the line at off already delivered
}

func (s linePos) encode() []byte {
	b := make([]byte, 0, 26)
	v := byte(linesStateVersion)
	if s.skip > 0 {
		v = linesStateVersionMid
	}
	b = append(b, v)
	b = binary.BigEndian.AppendUint64(b, uint64(s.off))
	b = binary.BigEndian.AppendUint64(b, uint64(s.line))
	d := byte(0)
	if s.disc {
		d = 1
	}
	b = append(b, d)
	if s.skip > 0 {
		b = binary.BigEndian.AppendUint64(b, uint64(s.skip))
	}
	return b
}

// decodeLinePos decodes a state of encode; name is the source's, for errors.
func decodeLinePos(name string, state []byte) (linePos, error) {
	ok := len(state) == 18 && state[0] == linesStateVersion ||
		len(state) == 26 && state[0] == linesStateVersionMid
	if !ok {
		return linePos{}, fmt.Errorf("source: %s: not a lines source state", name)
	}
	s := linePos{
		off:  int64(binary.BigEndian.Uint64(state[1:])),
		line: int64(binary.BigEndian.Uint64(state[9:])),
		disc: state[17] == 1,
	}
	if len(state) == 26 {
		s.skip = int64(binary.BigEndian.Uint64(state[18:]))
	}
	if s.off < 0 || s.line < 0 || state[17] > 1 || s.skip < 0 || (s.skip > 0 && s.disc) || (len(state) == 26 && s.skip == 0) {
		return linePos{}, fmt.Errorf("source: %s: corrupt lines source state", name)
	}
	return s, nil
}
