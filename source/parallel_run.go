package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"
)

// This file holds the goroutines of a ParallelLines: one reader cutting
// the file into chunks, and the workers parsing them.

// pipeline is one run of a ParallelLines' goroutines, from the first Read
// (or the first after a RestoreState) to stopRun.
type pipeline[T any] struct {
	stop chan struct{} // closed by stopRun
	wg   sync.WaitGroup
	// free holds the chunks the reader may fill; work the chunks to parse,
	// in any order; order the same chunks in input order, for Read. Each
	// has room for every chunk, so sends to them never block.
	free, order chan *chunk[T]
	work        chan job[T]
	// err is why the reader ended: io.EOF at the end of the file. It is
	// written before order is closed.
	err error
}

// job asks a worker to parse chunk c if it still holds chunk seq and
// nobody claimed it.
type job[T any] struct {
	c   *chunk[T]
	seq uint64
}

// chunk is a piece of the file made of whole lines. The reader owns it
// from free until it sends it. Then whoever claims it first (claim from
// 2*seq to 2*seq+1) parses it: a worker, which then signals ready, or
// Read itself if no worker has started on it by the time Read needs it
// or while Read waits for the head. Read owns it once parsed, until it
// releases it to free.
type chunk[T any] struct {
	seq   uint64
	claim atomic.Uint64
	buf   []byte
	n     int           // buf[:n] is the input, unless long
	off   int64         // input offset of the chunk's first byte
	size  int64         // input bytes covered: n, or the long line's length
	long  bool          // one line longer than the maximum, not kept
	ready chan struct{} // capacity 1: parsed

	recs     []T       // records, in input order
	ends     []int32   // ends[i]: len(recs) after line i+1 (0 records if bad)
	bads     []badLine // bad lines, in input order
	stopped  bool      // Fail policy: parsing stopped after the last bad line
	stopPos  int       // ... and continues at this byte of buf
	stopLine int       // ... after this many lines
	parsed   bool      // Read knows it is parsed
	r, b     int       // records and bad lines Read has consumed
	skip     int64     // records of the first line to skip (a restore)
}

// badLine is a line of a chunk that is a bad record.
type badLine struct {
	line int // 1-based line number within the chunk
	err  error
}

// exhausted reports whether Read has consumed every line of c.
func (c *chunk[T]) exhausted() bool {
	return c.r == len(c.recs) && c.b == len(c.bads) && !c.stopped
}

// consumed returns how many lines of c Read has consumed: k whole lines,
// and r records of line k+1. Lines without records after the last record
// count as consumed, but not a bad line Read has not reported.
func (c *chunk[T]) consumed() (k, r int) {
	lo, hi := 0, len(c.ends) // k: the first line i with ends[i] > c.r
	for lo < hi {
		if m := int(uint(lo+hi) >> 1); int(c.ends[m]) <= c.r {
			lo = m + 1
		} else {
			hi = m
		}
	}
	k = lo
	if c.b < len(c.bads) {
		k = min(k, c.bads[c.b].line-1)
	}
	if k > 0 {
		return k, c.r - int(c.ends[k-1])
	}
	return 0, c.r
}

// copyRecords copies the records up to the next bad line into dst.
func (c *chunk[T]) copyRecords(dst []T) int {
	avail := len(c.recs) - c.r
	if c.b < len(c.bads) {
		avail = min(avail, int(c.ends[c.bads[c.b].line-1])-c.r)
	}
	k := copy(dst, c.recs[c.r:c.r+avail])
	c.r += k
	return k
}

// reset empties c for reuse, keeping its buffers.
func (c *chunk[T]) reset() {
	c.n, c.off, c.size, c.long = 0, 0, 0, false
	c.recs, c.ends = c.recs[:0], c.ends[:0]
	clear(c.bads)
	c.bads = c.bads[:0]
	c.stopped, c.stopPos, c.stopLine, c.parsed, c.r, c.b, c.skip = false, 0, 0, false, 0, 0, 0
}

// afterLines returns the index after the k-th "\n" of data, or len(data)
// if it has fewer (its last line has none).
func afterLines(data []byte, k int) int {
	pos := 0
	for ; k > 0; k-- {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			return len(data)
		}
		pos += i + 1
	}
	return pos
}

// startRun starts the reader, at the current position, and the workers.
func (p *ParallelLines[T]) startRun() {
	nc := 2*p.workers + 2
	if len(p.chunks) != nc {
		p.chunks = make([]*chunk[T], nc)
		for i := range p.chunks {
			p.chunks[i] = &chunk[T]{ready: make(chan struct{}, 1)}
		}
	}
	r := &pipeline[T]{
		stop: make(chan struct{}),
		free: make(chan *chunk[T], nc), order: make(chan *chunk[T], nc), work: make(chan job[T], nc),
	}
	for _, c := range p.chunks {
		c.reset()
		c.claim.Store(math.MaxUint64) // no job's
		select {
		case <-c.ready: // a stale signal of a stopped run
		default:
		}
		r.free <- c
	}
	p.run, p.pend, p.orderDone, p.nextSeq = r, p.pend[:0], false, 0
	if len(p.parsers) != p.workers+1 {
		p.parsers = make([]FlatParse[T], p.workers+1)
		for i := range p.parsers {
			p.parsers[i] = p.newParse()
		}
	}
	rd := &reader[T]{p: p, run: r, limit: max(p.chunkBytes, p.max+2)}
	// A small file gets small buffers.
	rd.initial = int(min(int64(p.chunkBytes), max(p.size-p.off, 0)+1))
	off, disc := p.off, p.disc
	r.wg.Add(1 + p.workers)
	go func() {
		defer r.wg.Done()
		r.err = rd.loop(off, disc)
		close(r.work)
		close(r.order)
	}()
	for i := range p.workers {
		go p.parseLoop(r, p.parsers[i])
	}
}

// stopRun stops the goroutines, if running, and waits for them.
func (p *ParallelLines[T]) stopRun() {
	if p.run == nil {
		return
	}
	close(p.run.stop)
	p.run.wg.Wait()
	p.run, p.pend, p.orderDone = nil, p.pend[:0], false
}

// parseLoop is a worker: it parses the chunks of work until it is closed
// or the run stops.
func (p *ParallelLines[T]) parseLoop(r *pipeline[T], parse FlatParse[T]) {
	defer r.wg.Done()
	for {
		select {
		case j, ok := <-r.work:
			if !ok {
				return
			}
			if j.c.claim.CompareAndSwap(2*j.seq, 2*j.seq+1) {
				p.parseChunk(j.c, parse)
				j.c.ready <- struct{}{}
			}
		case <-r.stop:
			return
		}
	}
}

// parseChunk parses a chunk that was claimed, with the parse function of
// the calling goroutine.
func (p *ParallelLines[T]) parseChunk(c *chunk[T], parse FlatParse[T]) {
	if c.long {
		c.bads = append(c.bads, badLine{line: 1, err: p.tooLong})
		c.ends = append(c.ends, 0)
	} else {
		p.parseLines(c, parse, 0, 0)
	}
}

// parseLines parses c's lines from byte pos, after line lines, into
// c.recs, c.ends and c.bads. Under the Fail policy it stops after a bad
// line, marking c stopped: Read continues it if it is called again.
func (p *ParallelLines[T]) parseLines(c *chunk[T], parse FlatParse[T], pos, line int) {
	data := c.buf[:c.n]
	failFast := p.opts.onBad != Skip
	c.stopped = false
	for pos < len(data) {
		ln, end := data[pos:], len(data)
		if i := bytes.IndexByte(ln, '\n'); i >= 0 {
			ln, end = ln[:i], pos+i+1
		}
		pos = end
		line++
		if k := len(ln); k > 0 && ln[k-1] == '\r' {
			ln = ln[:k-1]
		}
		err := p.tooLong
		if len(ln) <= p.max {
			recs, perr := parse(c.recs, ln)
			if perr == nil {
				c.recs = recs
				c.ends = append(c.ends, int32(len(recs)))
				continue
			}
			err = perr
		}
		c.ends = append(c.ends, int32(len(c.recs)))
		c.bads = append(c.bads, badLine{line: line, err: err})
		if failFast && pos < len(data) {
			c.stopped, c.stopPos, c.stopLine = true, pos, line
			return
		}
	}
}

// errStopped ends a reader that stopRun stopped.
var errStopped = errors.New("source: stopped")

// reader cuts the file into chunks, on the reader goroutine.
type reader[T any] struct {
	p       *ParallelLines[T]
	run     *pipeline[T]
	limit   int // largest buffer: a chunk, or the longest line and "\r\n"
	initial int // size of a new buffer
	seq     uint64

	c      *chunk[T] // being filled
	off    int64     // input offset of c.buf[0]
	lastNL int       // index of the last "\n" in c.buf[:c.n], or -1
	disc   bool      // c.buf holds the rest of a line to drop
	long   bool      // ... a line too long, whose chunk c becomes
	// The too-long line's offset and length so far.
	longOff, longLen int64
}

// loop reads from off to the end of the file, or until the run stops. If
// disc, it drops the bytes up to the first "\n" first (a Lines state).
func (rd *reader[T]) loop(off int64, disc bool) error {
	rd.off, rd.disc, rd.lastNL = off, disc, -1
	var ok bool
	if rd.c, ok = rd.take(0); !ok {
		return errStopped
	}
	for {
		select {
		case <-rd.run.stop:
			return errStopped
		default:
		}
		c := rd.c
		if c.n == len(c.buf) {
			if !rd.full() {
				return errStopped
			}
			continue
		}
		m, rerr := rd.p.file.ReadAt(c.buf[c.n:], rd.off+int64(c.n))
		from := c.n
		c.n += m
		if rd.disc {
			ended, ok := rd.drop()
			switch {
			case !ok:
				return errStopped
			case !ended && rerr == nil:
				continue
			}
			from = 0
		}
		if j := bytes.LastIndexByte(rd.c.buf[from:rd.c.n], '\n'); j >= 0 {
			rd.lastNL = from + j
		}
		if rerr != nil {
			return rd.end(rerr)
		}
	}
}

// full handles a full buffer: it sends its lines on and keeps the
// incomplete last one, or starts dropping a line too long, or grows the
// buffer for a long line. It returns false if the run stopped.
func (rd *reader[T]) full() bool {
	c := rd.c
	switch {
	case rd.lastNL >= 0:
		rest := c.buf[rd.lastNL+1 : c.n]
		next, ok := rd.take(len(rest))
		if !ok {
			return false
		}
		next.n = copy(next.buf, rest)
		c.n = rd.lastNL + 1
		size := int64(c.n) // c is not ours once sent
		if !rd.send(c, rd.off, size) {
			return false
		}
		rd.off += size
		rd.c, rd.lastNL = next, -1
	case c.n > rd.p.max+1: // no "\n" in more than the longest line and "\r"
		rd.disc, rd.long = true, true
		rd.longOff, rd.longLen = rd.off, int64(c.n)
		rd.off += int64(c.n)
		c.n = 0
	default:
		grow(c, c.n+1, rd.limit)
	}
	return true
}

// drop drops the bytes of c.buf up to and including the first "\n", the
// rest of a line to skip. ended reports whether the line ended there; a
// too-long line's chunk is then sent on. ok is false if the run stopped.
func (rd *reader[T]) drop() (ended, ok bool) {
	c := rd.c
	i := bytes.IndexByte(c.buf[:c.n], '\n')
	if i < 0 {
		rd.longLen += int64(c.n)
		rd.off += int64(c.n)
		c.n = 0
		return false, true
	}
	rest := c.buf[i+1 : c.n]
	rd.longLen += int64(i + 1)
	rd.off += int64(i + 1)
	rd.disc, rd.lastNL = false, -1
	if !rd.long {
		c.n = copy(c.buf, rest)
		return true, true
	}
	rd.long = false
	next, ok := rd.take(len(rest))
	if !ok {
		return true, false
	}
	next.n = copy(next.buf, rest)
	c.n, c.long = 0, true
	rd.c = next
	return true, rd.send(c, rd.longOff, rd.longLen)
}

// end sends the last chunk on and returns the reader's final error:
// io.EOF, or rerr naming the file. After an I/O error only the complete
// lines read are sent, as Lines returns them.
func (rd *reader[T]) end(rerr error) error {
	c := rd.c
	if rerr == io.EOF {
		switch {
		case rd.long: // a too-long last line
			c.n, c.long = 0, true
			if !rd.send(c, rd.longOff, rd.longLen) {
				return errStopped
			}
		case !rd.disc && c.n > 0:
			if !rd.send(c, rd.off, int64(c.n)) {
				return errStopped
			}
		}
		return io.EOF
	}
	if !rd.disc && rd.lastNL >= 0 {
		c.n = rd.lastNL + 1
		if !rd.send(c, rd.off, int64(c.n)) {
			return errStopped
		}
	}
	if _, ok := rerr.(*os.PathError); ok {
		return fmt.Errorf("source: %w", rerr) // names the file
	}
	return fmt.Errorf("source: read %s: %w", rd.p.name, rerr)
}

// take returns a free chunk whose buffer holds more than need bytes, or
// false if the run stopped.
func (rd *reader[T]) take(need int) (*chunk[T], bool) {
	select {
	case c := <-rd.run.free:
		if len(c.buf) == 0 {
			c.buf = make([]byte, rd.initial)
		}
		if len(c.buf) <= need {
			grow(c, need+1, rd.limit)
		}
		return c, true
	case <-rd.run.stop:
		return nil, false
	}
}

// send numbers c and hands it to the workers and to Read's queue.
func (rd *reader[T]) send(c *chunk[T], off, size int64) bool {
	c.off, c.size, c.seq = off, size, rd.seq
	c.claim.Store(2 * c.seq)
	rd.seq++
	select {
	case rd.run.order <- c:
	case <-rd.run.stop:
		return false
	}
	select {
	case rd.run.work <- job[T]{c, c.seq}:
		return true
	case <-rd.run.stop:
		return false
	}
}

// grow replaces c.buf by a buffer of at least n bytes (doubling, at most
// limit unless n is more), keeping c.buf[:c.n].
func grow[T any](c *chunk[T], n, limit int) {
	size := max(min(2*len(c.buf), limit), n)
	nb := make([]byte, size)
	copy(nb, c.buf[:c.n])
	c.buf = nb
}
