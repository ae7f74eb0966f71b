// Package sink provides generic engine sinks: Writer writes one formatted
// line per record to a file or stdout, and Collect keeps records in memory
// for tests.
package sink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/topspeed/topspeed/engine"
)

// DefaultBufferSize is the default size of a Writer's buffer.
const DefaultBufferSize = 1 << 20

// Option configures a Writer.
type Option func(*options)

type options struct {
	append     bool
	bufferSize int
}

// Append makes NewFile append to an existing file instead of truncating it.
func Append() Option { return func(o *options) { o.append = true } }

// BufferSize sets the buffer size (default DefaultBufferSize); records are
// written to the output when the buffer fills, on Drain and on Flush.
func BufferSize(n int) Option { return func(o *options) { o.bufferSize = n } }

// Writer is a sink that writes each record as one line, formatted by an
// append-style function, through a large buffer.
//
// Drain (engine.Drainer) writes the buffer out without syncing it, so that
// readers of the file or pipe see the records while the pipeline runs; the
// engine calls it when the sink's input is idle and at least every
// engine.SinkFlushInterval. Flush writes the buffer out and, for a regular
// file, fsyncs it, so that a completed checkpoint covers every record
// written before it; stdout is flushed but not synced. Records written
// after the last checkpoint may be written again after a restore
// (at-least-once output). Errors name the output and are sticky. A Writer
// is not safe for concurrent use.
type Writer[T any] struct {
	name   string // in errors: the path, or "stdout"
	path   string // "" when given a writer
	format func(dst []byte, v T) []byte
	opts   options

	stdout  bool // write to os.Stdout, as it is at Open
	w       io.Writer
	file    *os.File // the file Writer opened and must close
	sync    bool     // fsync on Flush
	bw      *bufio.Writer
	scratch []byte
	err     error // sticky write error
}

var (
	_ engine.Sink[int] = (*Writer[int])(nil)
	_ engine.Drainer   = (*Writer[int])(nil)
	_ engine.Drainer   = (*Parts[int])(nil)
	_ engine.Sink[int] = (*Collect[int])(nil)
)

// NewFile returns a sink writing to path, creating the file and its parent
// directories at Open and truncating it unless the Append option is given.
// The path "-" or "" means stdout. format appends a record's text, without
// a newline, to dst and returns the extended slice; for example
// topspeed.AppendCar.
func NewFile[T any](path string, format func(dst []byte, v T) []byte, opts ...Option) *Writer[T] {
	s := newWriter("stdout", format, opts)
	if path != "-" && path != "" {
		s.name, s.path = path, path
	} else {
		s.stdout = true
	}
	return s
}

// NewWriter returns a sink writing to w, named name in errors. Flush writes
// the buffer to w but does not sync it; Close does not close w.
func NewWriter[T any](name string, w io.Writer, format func(dst []byte, v T) []byte, opts ...Option) *Writer[T] {
	s := newWriter(name, format, opts)
	s.w = w
	return s
}

func newWriter[T any](name string, format func([]byte, T) []byte, opts []Option) *Writer[T] {
	s := &Writer[T]{name: name, format: format, opts: options{bufferSize: DefaultBufferSize}}
	for _, o := range opts {
		o(&s.opts)
	}
	return s
}

// Open creates or opens the file.
func (s *Writer[T]) Open(ctx context.Context) error {
	if s.format == nil {
		return fmt.Errorf("sink: %s: nil format function", s.name)
	}
	if s.bw != nil {
		return fmt.Errorf("sink: %s: already open", s.name)
	}
	if s.stdout {
		s.w = os.Stdout
	}
	if s.path != "" {
		if dir := filepath.Dir(s.path); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("sink: create directory for %s: %w", s.path, err)
			}
		}
		flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if s.opts.append {
			flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		f, err := os.OpenFile(s.path, flags, 0o644)
		if err != nil {
			return fmt.Errorf("sink: %w", err)
		}
		s.file, s.w = f, f
		fi, err := f.Stat()
		s.sync = err == nil && fi.Mode().IsRegular()
	}
	size := s.opts.bufferSize
	if size <= 0 {
		size = DefaultBufferSize
	}
	w := s.w
	if s.sync {
		w = &writebackFile{f: s.file}
	}
	s.bw = bufio.NewWriterSize(w, size)
	s.err = nil
	return nil
}

// Write formats and buffers the records. It returns the error of an earlier
// failed write, or of the writes made when the buffer fills.
func (s *Writer[T]) Write(ctx context.Context, batch []T) error {
	if s.err != nil {
		return s.err
	}
	if s.bw == nil {
		return fmt.Errorf("sink: %s: Write before Open", s.name)
	}
	for _, v := range batch {
		var b []byte
		if s.bw.Available() >= 128 {
			// Format straight into the buffer's free space: no copy.
			b = append(s.format(s.bw.AvailableBuffer(), v), '\n')
		} else {
			s.scratch = append(s.format(s.scratch[:0], v), '\n')
			b = s.scratch
		}
		if _, err := s.bw.Write(b); err != nil {
			return s.fail("write", err)
		}
	}
	return nil
}

// fail records a write error, naming the output.
func (s *Writer[T]) fail(op string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		s.err = fmt.Errorf("sink: %w", err) // names the file already
	} else {
		s.err = fmt.Errorf("sink: %s %s: %w", op, s.name, err)
	}
	return s.err
}

// Drain writes the buffered records out, without fsync.
func (s *Writer[T]) Drain(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	if s.bw == nil {
		return fmt.Errorf("sink: %s: Drain before Open", s.name)
	}
	if s.bw.Buffered() == 0 {
		return nil
	}
	if err := s.bw.Flush(); err != nil {
		return s.fail("write", err)
	}
	return nil
}

// Flush writes the buffered records out and fsyncs a regular file.
func (s *Writer[T]) Flush(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	if s.bw == nil {
		return fmt.Errorf("sink: %s: Flush before Open", s.name)
	}
	if err := s.bw.Flush(); err != nil {
		return s.fail("write", err)
	}
	if s.sync {
		if err := s.file.Sync(); err != nil {
			return s.fail("sync", err)
		}
	}
	return nil
}

// Close flushes and syncs what is buffered and closes the file (never
// stdout or a writer given to NewWriter). It returns the first error.
func (s *Writer[T]) Close() error {
	if s.bw == nil {
		return nil
	}
	err := s.Flush(context.Background())
	if s.file != nil {
		if cerr := s.file.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("sink: %w", cerr)
		}
		s.file = nil
	}
	s.bw = nil
	return err
}

// Collect is a sink that keeps every record in memory, for tests. It is safe
// for concurrent use: Records may be called while a pipeline runs.
type Collect[T any] struct {
	mu      sync.Mutex
	recs    []T
	flushes int
}

// NewCollect returns an empty Collect.
func NewCollect[T any]() *Collect[T] { return &Collect[T]{} }

// Open does nothing; records of earlier runs are kept.
func (c *Collect[T]) Open(ctx context.Context) error { return nil }

// Write appends a copy of batch.
func (c *Collect[T]) Write(ctx context.Context, batch []T) error {
	c.mu.Lock()
	c.recs = append(c.recs, batch...)
	c.mu.Unlock()
	return nil
}

// Flush counts the call; see Flushes.
func (c *Collect[T]) Flush(ctx context.Context) error {
	c.mu.Lock()
	c.flushes++
	c.mu.Unlock()
	return nil
}

// Close does nothing.
func (c *Collect[T]) Close() error { return nil }

// Records returns a copy of the records written so far, in order.
func (c *Collect[T]) Records() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]T(nil), c.recs...)
}

// Len returns the number of records written so far.
func (c *Collect[T]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.recs)
}

// Flushes returns how many times Flush was called.
func (c *Collect[T]) Flushes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushes
}

// Reset forgets the records and flushes.
func (c *Collect[T]) Reset() {
	c.mu.Lock()
	c.recs, c.flushes = nil, 0
	c.mu.Unlock()
}
