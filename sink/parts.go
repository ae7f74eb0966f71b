package sink

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/topspeed/topspeed/engine"
)

// Parts is an exactly-once file sink for checkpointed pipelines, like
// Flink's FileSink: records go to an in-progress part file in a directory;
// at each checkpoint the part is closed and becomes pending; once the
// checkpoint is durable (Commit) its pending parts are published under
// their final names, part-<seq>. After a crash, the restore publishes the
// parts of the restored checkpoint and deletes everything written after it,
// which the replay writes again. So the published parts, read in sequence
// order, equal a failure-free run's output. Hidden files (.part-*) are not
// output. Drain (engine.Drainer) writes the in-progress part's buffer to
// its hidden file, so that it can be watched while the pipeline runs; it
// neither syncs nor publishes anything.
//
// Files in the directory:
//
//	part-000000000007               published
//	.part-000000000008.pending      closed at a checkpoint, awaiting its commit
//	.part-000000000009.inprogress   being written
//
// With WithWriter, the hidden names carry the writer's tag
// (.part-N.<writer>.pending): two owners of the same directory one after
// the other (a Kafka partition that moved while its old owner still runs)
// never write the same file, and the restore publishes the pending parts
// of the writer whose checkpoint it restores.
type Parts[T any] struct {
	dir    string
	format func(dst []byte, v T) []byte
	writer string // tag of the hidden names ("" none)

	seq     uint64   // sequence number of the current part
	f       *os.File // current in-progress part, nil if none
	bw      *bufio.Writer
	pending []pending // closed parts awaiting the commit of their checkpoint
	scratch []byte
	err     error
	ready   bool // stale parts of an earlier run were dealt with
}

type pending struct{ checkpoint, seq uint64 }

var _ engine.StatefulSink[int] = (*Parts[int])(nil)

// NewParts returns a part-file sink writing into dir, formatting records
// with format (one line each).
func NewParts[T any](dir string, format func(dst []byte, v T) []byte) *Parts[T] {
	return &Parts[T]{dir: dir, format: format}
}

// WithWriter tags the hidden part names with writer ([a-z0-9-], at most
// 64 bytes; others are replaced by '-') and returns p. Call it before Open.
func (p *Parts[T]) WithWriter(writer string) *Parts[T] {
	b := []byte(writer)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	p.writer = string(b[:min(len(b), 64)])
	return p
}

func (p *Parts[T]) name(seq uint64, state string) string { return p.nameOf(p.writer, seq, state) }

// nameOf is the name of part seq in state, written by writer.
func (p *Parts[T]) nameOf(writer string, seq uint64, state string) string {
	switch {
	case state == "final":
		return filepath.Join(p.dir, fmt.Sprintf("part-%012d", seq))
	case writer != "":
		return filepath.Join(p.dir, fmt.Sprintf(".part-%012d.%s.%s", seq, writer, state))
	default:
		return filepath.Join(p.dir, fmt.Sprintf(".part-%012d.%s", seq, state))
	}
}

// Open creates the directory. Parts of an earlier run are kept until it is
// known whether this run restores (RestoreState) or starts afresh (the first
// Write, snapshot or commit deletes them, like truncating a file).
func (p *Parts[T]) Open(context.Context) error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return fmt.Errorf("output %s: %w", p.dir, err)
	}
	return nil
}

// prepare deletes an earlier run's parts when this run did not restore.
func (p *Parts[T]) prepare() error {
	if p.ready {
		return p.err
	}
	p.ready = true
	return p.discardFrom(0)
}

// Write appends records to the in-progress part.
func (p *Parts[T]) Write(_ context.Context, batch []T) error {
	if err := p.prepare(); err != nil {
		return err
	}
	if p.f == nil {
		f, err := os.OpenFile(p.name(p.seq, "inprogress"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return p.fail(err)
		}
		p.f, p.bw = f, bufio.NewWriterSize(&writebackFile{f: f}, DefaultBufferSize)
	}
	for i := range batch {
		p.scratch = append(p.format(p.scratch[:0], batch[i]), '\n')
		if _, err := p.bw.Write(p.scratch); err != nil {
			return p.fail(err)
		}
	}
	return nil
}

func (p *Parts[T]) fail(err error) error {
	if p.err == nil {
		p.err = fmt.Errorf("output %s: %w", p.dir, err)
	}
	return p.err
}

// Drain writes the in-progress part's buffer out to its (hidden) file,
// without fsync (engine.Drainer). Nothing is published: parts are
// published only by Commit, as before.
func (p *Parts[T]) Drain(context.Context) error {
	if p.err != nil || p.f == nil || p.bw.Buffered() == 0 {
		return p.err
	}
	if err := p.bw.Flush(); err != nil {
		return p.fail(err)
	}
	return nil
}

// Flush makes the in-progress part durable.
func (p *Parts[T]) Flush(context.Context) error {
	if p.err != nil || p.f == nil {
		return p.err
	}
	if err := p.bw.Flush(); err != nil {
		return p.fail(err)
	}
	if err := p.f.Sync(); err != nil {
		return p.fail(err)
	}
	return nil
}

// closePart turns the in-progress part into state ("pending" or "final").
func (p *Parts[T]) closePart(state string) error {
	if p.f == nil {
		return nil
	}
	if err := p.bw.Flush(); err != nil {
		return p.fail(err)
	}
	if err := p.f.Sync(); err != nil {
		return p.fail(err)
	}
	if err := p.f.Close(); err != nil {
		return p.fail(err)
	}
	p.f, p.bw = nil, nil
	if err := os.Rename(p.name(p.seq, "inprogress"), p.name(p.seq, state)); err != nil {
		return p.fail(err)
	}
	p.seq++
	return nil
}

// SnapshotState closes the current part as pending for checkpoint id and
// returns the sink's state: the next part's sequence number and the parts
// still awaiting a commit.
func (p *Parts[T]) SnapshotState(id uint64) ([]byte, error) {
	if err := p.prepare(); err != nil {
		return nil, err
	}
	if p.f != nil {
		if err := p.closePart("pending"); err != nil {
			return nil, err
		}
		p.pending = append(p.pending, pending{checkpoint: id, seq: p.seq - 1})
	}
	if err := syncDir(p.dir); err != nil {
		return nil, p.fail(err)
	}
	b := []byte{1}
	if p.writer != "" { // version 2: the writer's tag first
		b = append(binary.AppendUvarint([]byte{2}, uint64(len(p.writer))), p.writer...)
	}
	b = binary.AppendUvarint(b, p.seq)
	b = binary.AppendUvarint(b, uint64(len(p.pending)))
	for _, pd := range p.pending {
		b = binary.AppendUvarint(binary.AppendUvarint(b, pd.checkpoint), pd.seq)
	}
	return b, nil
}

// Commit publishes the pending parts of checkpoints up to id; EndOfInput
// publishes everything, including the current part.
func (p *Parts[T]) Commit(id uint64) error {
	if err := p.prepare(); err != nil {
		return err
	}
	if id == engine.EndOfInput {
		if err := p.closePart("final"); err != nil {
			return err
		}
	}
	keep := p.pending[:0]
	for _, pd := range p.pending {
		if pd.checkpoint > id {
			keep = append(keep, pd)
			continue
		}
		if err := os.Rename(p.name(pd.seq, "pending"), p.name(pd.seq, "final")); err != nil {
			return p.fail(err)
		}
	}
	p.pending = keep
	if err := syncDir(p.dir); err != nil {
		return p.fail(err)
	}
	return nil
}

// RestoreState resumes from a checkpoint's state: the parts pending in it
// belong to that (complete) checkpoint and are published; every part
// written after it is deleted.
func (p *Parts[T]) RestoreState(state []byte) error {
	if len(state) == 0 || state[0] != 1 && state[0] != 2 {
		return errors.New("parts sink: unknown state version")
	}
	b := state[1:]
	next := func() (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, errors.New("parts sink: corrupt state")
		}
		b = b[n:]
		return v, nil
	}
	from := "" // the writer of the restored state's pending parts
	if state[0] == 2 {
		n, err := next()
		if err != nil || n > uint64(len(b)) || n > 64 {
			return errors.New("parts sink: corrupt state")
		}
		from, b = string(b[:n]), b[n:]
	}
	seq, err := next()
	if err != nil {
		return err
	}
	n, err := next()
	if err != nil || n > uint64(len(b)) {
		return errors.New("parts sink: corrupt state")
	}
	for i := uint64(0); i < n; i++ {
		if _, err := next(); err != nil { // checkpoint id: complete now
			return err
		}
		s, err := next()
		if err != nil {
			return err
		}
		if err := os.Rename(p.nameOf(from, s, "pending"), p.name(s, "final")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return p.fail(err)
		}
	}
	p.seq, p.pending, p.ready = seq, nil, true
	if err := p.discardFrom(seq); err != nil {
		return err
	}
	return syncDir(p.dir)
}

// discardFrom deletes every part, in any state, with a sequence >= seq.
func (p *Parts[T]) discardFrom(seq uint64) error {
	des, err := os.ReadDir(p.dir)
	if err != nil {
		return p.fail(err)
	}
	for _, de := range des {
		s, ok := partSeq(de.Name())
		if ok && s >= seq {
			if err := os.Remove(filepath.Join(p.dir, de.Name())); err != nil {
				return p.fail(err)
			}
		}
	}
	return nil
}

// partSeq parses part-N, .part-N.pending and .part-N.inprogress.
func partSeq(name string) (uint64, bool) {
	name = strings.TrimPrefix(name, ".")
	if !strings.HasPrefix(name, "part-") {
		return 0, false
	}
	num, _, _ := strings.Cut(name[len("part-"):], ".")
	s, err := strconv.ParseUint(num, 10, 64)
	return s, err == nil
}

// Close closes the in-progress part without publishing it.
func (p *Parts[T]) Close() error {
	if p.f == nil {
		return nil
	}
	err := p.f.Close()
	p.f, p.bw = nil, nil
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
