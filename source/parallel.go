package source

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"go.uber.org/zap"

	"github.com/topspeed/topspeed/engine"
)

const (
	// DefaultChunkBytes is the default size of one read of a ParallelLines.
	DefaultChunkBytes = 1 << 20
	// MinChunkBytes and MaxChunkBytes bound ParallelConfig.ChunkBytes.
	MinChunkBytes = 4 << 10
	MaxChunkBytes = 64 << 20
	// MaxWorkers bounds ParallelConfig.Workers.
	MaxWorkers = 64
)

// ParallelConfig sizes a ParallelLines. The zero value gives the defaults.
type ParallelConfig struct {
	// Workers is how many goroutines parse chunks: 0 means GOMAXPROCS
	// (at most MaxWorkers), otherwise 1..MaxWorkers.
	Workers int
	// ChunkBytes is the size of one read: 0 means DefaultChunkBytes,
	// otherwise MinChunkBytes..MaxChunkBytes. A chunk grows beyond it only
	// to hold a line of up to WithMaxLineBytes.
	ChunkBytes int
}

// Validate reports a Workers or ChunkBytes out of range.
func (c ParallelConfig) Validate() error {
	if c.Workers != 0 && (c.Workers < 1 || c.Workers > MaxWorkers) {
		return fmt.Errorf("source: %d parse workers: want 1..%d (0: GOMAXPROCS)", c.Workers, MaxWorkers)
	}
	if c.ChunkBytes != 0 && (c.ChunkBytes < MinChunkBytes || c.ChunkBytes > MaxChunkBytes) {
		return fmt.Errorf("source: chunk of %d bytes: want %d..%d (0: %d)", c.ChunkBytes, MinChunkBytes, MaxChunkBytes, DefaultChunkBytes)
	}
	return nil
}

// workers returns Workers with the default applied.
func (c ParallelConfig) workers() int {
	if c.Workers == 0 {
		return min(runtime.GOMAXPROCS(0), MaxWorkers)
	}
	return c.Workers
}

// LineSource is a line source of records of type T: a *Lines or a
// *ParallelLines, as NewFileLines chooses.
type LineSource[T any] interface {
	engine.StatefulSource[T]
	engine.SkipCounter
	// Errors returns the first KeptErrors errors of skipped records.
	Errors() []*RecordError
}

var (
	_ LineSource[int] = (*Lines[int])(nil)
	_ LineSource[int] = (*ParallelLines[int])(nil)
)

// NewFileLines returns a ParallelLines for path if path is a regular file
// when NewFileLines is called, and otherwise (stdin "-", a pipe, a device,
// a path that does not exist yet) a Lines, which reads on one goroutine.
// Both give the same records, errors and checkpoint states; cfg only
// sizes a ParallelLines. parse must be safe for concurrent use.
func NewFileLines[T any](path string, parse func(line []byte) (T, error), cfg ParallelConfig, opts ...Option) LineSource[T] {
	if path != "-" {
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
			return NewParallelLines(path, parse, cfg, opts...)
		}
	}
	return NewLines(path, parse, opts...)
}

// ParallelLines is a source that reads a regular file in large chunks and
// parses them on several goroutines, returning the records in input order:
// the same records, bad-record errors (file and line), skip counts and
// checkpoint states as Lines on the same file and options, only faster.
// Stdin and pipes need Lines; NewFileLines picks the right one.
//
// Design: one reader goroutine reads chunks of ParallelConfig.ChunkBytes,
// cut after their last "\n" (the rest starts the next chunk), and numbers
// them. It hands each chunk both to the workers, which parse chunks in any
// order, and to an in-order queue; Read takes the queue's head and waits
// until that chunk is parsed, or parses it itself if no worker has started
// on it yet (the workers are busy, or not scheduled on a loaded machine),
// so that Read never idles while there is parsing to do. The queue is the
// re-sequencing: records reach Read, and so the engine's key-group
// exchange, in input order, so per-key order is the file's. Re-sequencing before Read (rather than in the
// exchange) keeps the engine and its checkpoint barriers unchanged: a
// barrier goes between two Reads, after every record Read returned and
// before any other. The queue needs no reorder buffer and no allocation,
// and head-of-line waiting costs nothing because Read must deliver the
// head first anyway. At most 2*Workers+2 chunks exist (reused), so memory
// is bounded, by that many buffers of ChunkBytes (or of the longest line
// allowed, if a line needs more) and their records (with a FlatParse, as
// many as it makes of a chunk's lines), and a slow pipeline holds the
// reader back.
//
// Lines: see Lines (terminator "\n", a "\r" before it dropped, last line
// without terminator, every line passed to parse, lines longer than
// WithMaxLineBytes are bad records, never buffered whole). parse is called
// concurrently from the worker goroutines and Read's; it must be safe for
// that, and its records must not refer to the line (which is reused).
//
// Flat parsing (NewParallelLinesFlat): a FlatParse makes zero or more
// records of a line, so that per-line work such as splitting lines into
// words runs on the workers rather than after Read on one goroutine. Its
// factory is called once per parsing goroutine (each worker and Read), at
// the first Read, and each parse function is only ever called by its
// goroutine. A line's records stay together and in order; a bad line's
// records (those it appended before its error) are dropped.
//
// Checkpoints: SnapshotState returns one exact input position, the byte
// offset and line number of the next line Read has not consumed (chunks
// read or parsed ahead do not count) and, when Read stopped inside a
// FlatParse line's records, how many of them it returned, in Lines' state
// encoding (described at linePos, in parallel_flat.go), so a state of
// either restores in the other. RestoreState resumes there, parsing that
// line again and skipping the records already returned.
//
// Bad records: under Fail, Read returns the records before the first bad
// line in input order, then its *RecordError, whichever worker saw an
// error first; under Skip they are counted, logged and kept (Skipped,
// Errors) in input order, as by Lines.
//
// Lifecycle: Open, then RestoreState at most once, then Read until io.EOF
// or an error, then Close. The goroutines start at the first Read and end
// in Close (or a new Open or RestoreState). Read returns once ctx is done,
// and at least every 200 ms while the input is not ready. Like Lines, a
// ParallelLines is not safe for concurrent use, except Skipped and Errors.
type ParallelLines[T any] struct {
	name, path string
	newParse   func() FlatParse[T]
	parsers    []FlatParse[T] // one per worker, and Read's last
	opts       linesOptions
	cfg        ParallelConfig
	max        int   // longest line
	tooLong    error // the Err of a too-long line's RecordError
	workers    int   // set by Open
	chunkBytes int   // set by Open

	file *os.File
	size int64 // file size at Open

	// The position of the next line not consumed by Read: at the start of
	// the head chunk (pend[0]) while there is one, else now.
	off, line int64
	disc      bool  // off is inside a line to drop (a Lines state)
	skip      int64 // records of the line at off delivered before a restore
	done      bool

	run       *pipeline[T] // nil until the first Read
	chunks    []*chunk[T]  // all chunks, reused by every run
	pend      []*chunk[T]  // chunks taken from the queue, in order: pend[0] is the head
	orderDone bool         // the queue is closed
	nextSeq   uint64       // the sequence number the next chunk must have
	timer     *time.Timer

	bad BadRecords[*RecordError] // the bad-record policy, count and kept errors
}

// NewParallelLines returns a source reading the regular file at path with
// cfg's workers and chunk size and the options of Lines. It opens nothing:
// Open does. parse must be safe for concurrent use (see ParallelLines).
func NewParallelLines[T any](path string, parse func(line []byte) (T, error), cfg ParallelConfig, opts ...Option) *ParallelLines[T] {
	p := newParallelLines[T](path, cfg, opts)
	p.newParse = flatOf(parse)
	return p
}

func newParallelLines[T any](path string, cfg ParallelConfig, opts []Option) *ParallelLines[T] {
	p := &ParallelLines[T]{name: path, path: path, cfg: cfg}
	for _, o := range opts {
		o(&p.opts)
	}
	p.bad.Policy, p.bad.Log = p.opts.onBad, p.opts.logger
	p.max = p.opts.maxLine
	if p.max <= 0 {
		p.max = DefaultMaxLineBytes
	}
	p.tooLong = fmt.Errorf("%w (more than %d bytes)", ErrLineTooLong, p.max)
	return p
}

// Open opens the file and starts at its beginning. It fails if the file
// is not a regular file or the config is out of range.
func (p *ParallelLines[T]) Open(ctx context.Context) error {
	if p.newParse == nil {
		return fmt.Errorf("source: %s: nil parse function", p.name)
	}
	if err := p.cfg.Validate(); err != nil {
		return err
	}
	p.stopRun()
	if err := p.closeFile(); err != nil {
		return err
	}
	p.workers, p.chunkBytes = p.cfg.workers(), p.cfg.ChunkBytes
	if p.chunkBytes == 0 {
		p.chunkBytes = DefaultChunkBytes
	}
	// Stat first: opening a named pipe would wait for a writer.
	if err := p.checkRegular(os.Stat(p.path)); err != nil {
		return err
	}
	f, err := os.Open(p.path)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	fi, err := f.Stat()
	if err := p.checkRegular(fi, err); err != nil {
		f.Close()
		return err
	}
	p.file, p.size = f, fi.Size()
	p.off, p.line, p.disc, p.skip, p.done = 0, 0, false, 0, false
	return nil
}

func (p *ParallelLines[T]) checkRegular(fi os.FileInfo, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("source: %w", err)
	case fi.IsDir():
		return fmt.Errorf("source: %s is a directory", p.name)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("source: %s is not a regular file (%s): read it with NewLines, or NewFileLines", p.name, fi.Mode().Type())
	}
	return nil
}

// Close stops the goroutines, waiting for them, and closes the file.
func (p *ParallelLines[T]) Close() error {
	p.stopRun()
	p.chunks = nil
	return p.closeFile()
}

func (p *ParallelLines[T]) closeFile() error {
	if p.file == nil {
		return nil
	}
	err := p.file.Close()
	p.file = nil
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	return nil
}

// Read returns the next records in input order. It returns io.EOF at the
// end of the file, a *RecordError for a bad record under the Fail policy,
// ctx's error once ctx is done, and other errors for I/O failures. It
// returns what is ready rather than wait for more once it has a record,
// and after at most 200 ms without one.
func (p *ParallelLines[T]) Read(ctx context.Context, buf []T) (int, error) {
	if p.done {
		return 0, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if p.file == nil {
		return 0, fmt.Errorf("source: %s: Read before Open", p.name)
	}
	if p.run == nil {
		p.startRun()
	}
	n, skips, t0 := 0, 0, time.Now()
	for n < len(buf) {
		c, err := p.head(ctx, n == 0)
		if err != nil {
			if err == io.EOF {
				p.done = true
			}
			return n, err
		}
		if c == nil {
			return n, nil
		}
		if c.skip > 0 { // the first line's records delivered before a restore
			c.r, c.skip = int(min(c.skip, int64(c.ends[0]))), 0
		}
		switch {
		case c.b < len(c.bads) && c.r == int(c.ends[c.bads[c.b].line-1]):
			bad := c.bads[c.b]
			c.b++
			re := &RecordError{File: p.name, Line: p.line + int64(bad.line), Err: bad.err}
			if !p.badRecord(re) {
				return n, re
			}
			if skips++; skips%skipCheck == 0 {
				if err := ctx.Err(); err != nil {
					return n, err
				}
				if time.Since(t0) >= readBudget {
					return n, nil
				}
			}
		case c.r < len(c.recs):
			n += c.copyRecords(buf[n:])
		case c.stopped:
			p.parseLines(c, p.parsers[p.workers], c.stopPos, c.stopLine) // the rest after a Fail error
		default:
			p.release(c)
		}
	}
	if len(p.pend) > 0 && p.pend[0].parsed && p.pend[0].exhausted() {
		p.release(p.pend[0])
	}
	return n, nil
}

// head returns the chunk Read consumes, parsed. When none is ready it
// returns nil at once if !block, else after waiting up to pollInterval.
// At the end of the queue it returns the reader's error (io.EOF at the end
// of the file). While a worker parses the head, Read parses later chunks
// no worker has started, rather than wait.
func (p *ParallelLines[T]) head(ctx context.Context, block bool) (*chunk[T], error) {
	for {
		if len(p.pend) == 0 {
			if p.orderDone {
				return nil, p.run.err
			}
			c, got, err := receive(ctx, p.run.order, block, p.pollTimer())
			if err != nil || !got {
				return nil, err
			}
			if err := p.taken(c); err != nil {
				return nil, err
			}
			continue
		}
		c := p.pend[0]
		if p.parsed(c) {
			return c, nil
		}
		helped, err := p.help()
		if err != nil {
			return nil, err
		}
		if helped {
			continue
		}
		_, got, err := receive(ctx, c.ready, block, p.pollTimer())
		if err != nil || !got {
			return nil, err
		}
		c.parsed = true
		return c, nil
	}
}

// taken appends c, received from the queue, to pend; nil means the queue
// is closed.
func (p *ParallelLines[T]) taken(c *chunk[T]) error {
	if c == nil {
		p.orderDone = true
		return nil
	}
	if c.seq != p.nextSeq {
		return fmt.Errorf("source: %s: internal error: chunk %d read as chunk %d", p.name, c.seq, p.nextSeq)
	}
	p.nextSeq++
	if len(p.pend) == 0 {
		p.off, p.disc = c.off, false
	}
	if c.seq == 0 {
		c.skip = p.skip
	}
	p.pend = append(p.pend, c)
	return nil
}

// parsed reports whether c is parsed: by a worker, or now by Read if no
// worker had started on it.
func (p *ParallelLines[T]) parsed(c *chunk[T]) bool {
	if c.parsed {
		return true
	}
	if c.claim.CompareAndSwap(2*c.seq, 2*c.seq+1) {
		p.parseChunk(c, p.parsers[p.workers])
	} else {
		select {
		case <-c.ready:
		default:
			return false
		}
	}
	c.parsed = true
	return true
}

// help parses a chunk after the head that no worker has started, taking
// one more from the queue if there is none. It reports whether it did
// either, so that the caller tries again before it waits.
func (p *ParallelLines[T]) help() (bool, error) {
	for _, c := range p.pend[1:] {
		if !c.parsed && c.claim.CompareAndSwap(2*c.seq, 2*c.seq+1) {
			p.parseChunk(c, p.parsers[p.workers])
			c.parsed = true
			return true, nil
		}
	}
	if p.orderDone {
		return false, nil
	}
	select {
	case c := <-p.run.order:
		return c != nil, p.taken(c)
	default:
		return false, nil
	}
}

// receive receives from ch without waiting, or if block waiting up to
// the timer's pollInterval or until ctx is done. got reports whether it
// received (the zero value if ch is closed).
func receive[V any](ctx context.Context, ch <-chan V, block bool, t *time.Timer) (v V, got bool, err error) {
	select {
	case v = <-ch:
		return v, true, nil
	default:
	}
	if !block {
		return v, false, nil
	}
	t.Reset(pollInterval)
	defer t.Stop()
	select {
	case v = <-ch:
		return v, true, nil
	case <-ctx.Done():
		return v, false, ctx.Err()
	case <-t.C:
		return v, false, nil
	}
}

func (p *ParallelLines[T]) pollTimer() *time.Timer {
	if p.timer == nil {
		p.timer = time.NewTimer(pollInterval)
		p.timer.Stop()
	}
	return p.timer
}

// release moves the position past the consumed head chunk c and hands c
// back to the reader.
func (p *ParallelLines[T]) release(c *chunk[T]) {
	p.off = c.off + c.size
	p.line += int64(len(c.ends))
	p.skip = 0
	p.pend = p.pend[:copy(p.pend, p.pend[1:])]
	c.reset()
	p.run.free <- c // never blocks: free has room for every chunk
}

// badRecord applies the policy to re and reports whether to carry on.
func (p *ParallelLines[T]) badRecord(re *RecordError) bool {
	return p.bad.Skip(re, zap.String("file", re.File), zap.Int64("line", re.Line))
}

// Skipped returns how many bad records were skipped so far. It is safe to
// call concurrently with Read.
func (p *ParallelLines[T]) Skipped() int64 { return p.bad.Skipped() }

// Errors returns the first KeptErrors errors of skipped records. It is safe
// to call concurrently with Read.
func (p *ParallelLines[T]) Errors() []*RecordError { return p.bad.Errors() }

// SnapshotState returns the position of the next record Read has not
// returned, in the format of Lines (see linePos): the byte offset and line
// number of the line it comes from, and how many of that line's records
// were returned.
func (p *ParallelLines[T]) SnapshotState() ([]byte, error) {
	pos := linePos{off: p.off, line: p.line, disc: p.disc, skip: p.skip}
	if len(p.pend) > 0 && p.pend[0].parsed {
		c := p.pend[0]
		k, r := c.consumed()
		switch {
		case c.long && k > 0:
			pos.off = c.off + c.size
		case !c.long:
			pos.off = c.off + int64(afterLines(c.buf[:c.n], k))
		}
		pos.line += int64(k)
		pos.skip = int64(r)
	}
	return pos.encode(), nil
}

// RestoreState continues from a state of SnapshotState or of Lines. It
// must be called after Open and before Read; it fails if the file is
// shorter than the position.
func (p *ParallelLines[T]) RestoreState(state []byte) error {
	pos, err := decodeLinePos(p.name, state)
	if err != nil {
		return err
	}
	off, line := pos.off, pos.line
	if p.file == nil {
		return fmt.Errorf("source: %s: RestoreState before Open", p.name)
	}
	fi, err := p.file.Stat()
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if fi.Size() < off {
		return fmt.Errorf("source: %s has %d bytes, fewer than the checkpointed offset %d (line %d): was it truncated or replaced?",
			p.name, fi.Size(), off, line)
	}
	p.stopRun()
	p.size = fi.Size()
	p.off, p.line, p.disc, p.skip, p.done = off, line, pos.disc, pos.skip, false
	return nil
}
