package checkpoint

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/topspeed/topspeed/engine"
)

// Files of a checkpoint directory (see FORMAT.md).
const (
	fileState    = "state.bin"
	fileSources  = "sources.bin"
	fileSinks    = "sinks.bin"
	fileManifest = "MANIFEST.json"
)

// magic starts every .bin file; the byte after it is the encoding version.
var magic = [4]byte{'T', 'S', 'C', 'K'}

const encodingVersion = 1

// errCorrupt reports an undecodable file.
var errCorrupt = errors.New("corrupt data")

// writeNamed encodes name -> blob entries, sorted by name.
func writeNamed(w io.Writer, m map[string][]byte) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.Write(magic[:])
	bw.WriteByte(encodingVersion)
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var tmp []byte
	tmp = binary.AppendUvarint(tmp[:0], uint64(len(names)))
	bw.Write(tmp)
	for _, n := range names {
		tmp = binary.AppendUvarint(tmp[:0], uint64(len(n)))
		bw.Write(tmp)
		bw.WriteString(n)
		tmp = binary.AppendUvarint(tmp[:0], uint64(len(m[n])))
		bw.Write(tmp)
		bw.Write(m[n])
	}
	return bw.Flush()
}

// writeState encodes every keyed stage's state: stage name, then its key
// groups in increasing order, each with its blob. It fails if an encoder
// failed (engine.KeyedState.Resolve).
func writeState(w io.Writer, ops map[string]*engine.KeyedState) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.Write(magic[:])
	bw.WriteByte(encodingVersion)
	names := make([]string, 0, len(ops))
	for n := range ops {
		names = append(names, n)
	}
	sort.Strings(names)
	var tmp []byte
	put := func(v uint64) { tmp = binary.AppendUvarint(tmp[:0], v); bw.Write(tmp) }
	put(uint64(len(names)))
	for _, n := range names {
		put(uint64(len(n)))
		bw.WriteString(n)
		kgs := ops[n].KeyGroups()
		put(uint64(len(kgs)))
		for _, kg := range kgs {
			// A key group's segments are written as one blob, their
			// concatenation (see engine.Segment).
			segs := ops[n].Segments(kg)
			size := 0
			for _, seg := range segs {
				size += len(seg.Data)
			}
			put(uint64(kg))
			put(uint64(size))
			for _, seg := range segs {
				bw.Write(seg.Data)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	for _, n := range names {
		if err := ops[n].Resolve(); err != nil {
			return err
		}
	}
	return nil
}

// reader decodes the framing with bounds checks: corrupt input gives an
// error, never a panic or a huge allocation.
type reader struct {
	b   []byte
	err error
}

func newReader(b []byte) *reader {
	r := &reader{b: b}
	if len(b) < 5 || [4]byte(b[:4]) != magic {
		r.err = fmt.Errorf("%w: bad magic", errCorrupt)
		return r
	}
	if b[4] != encodingVersion {
		r.err = fmt.Errorf("%w: encoding version %d, want %d", errCorrupt, b[4], encodingVersion)
		return r
	}
	r.b = b[5:]
	return r
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: truncated number", errCorrupt)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: length %d beyond the end", errCorrupt, n)
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

// count reads an entry count, bounded by the bytes left (every entry takes
// at least one byte), so a corrupt count cannot make us allocate much.
func (r *reader) count() int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: count %d beyond the end", errCorrupt, n)
	}
	return int(n)
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(r.b))
	}
	return r.err
}

func readNamed(b []byte) (map[string][]byte, error) {
	r := newReader(b)
	n := r.count()
	m := make(map[string][]byte, min(n, 1024))
	for i := 0; i < n && r.err == nil; i++ {
		name := string(r.bytes())
		m[name] = r.bytes()
	}
	return m, r.done()
}

func readState(b []byte, maxParallelism int) (map[string]*engine.KeyedState, error) {
	r := newReader(b)
	n := r.count()
	ops := make(map[string]*engine.KeyedState, min(n, 64))
	for i := 0; i < n && r.err == nil; i++ {
		name := string(r.bytes())
		st := engine.NewKeyedState()
		groups := r.count()
		for j := 0; j < groups && r.err == nil; j++ {
			kg := r.uvarint()
			blob := r.bytes()
			if r.err == nil && kg >= uint64(maxParallelism) {
				r.err = fmt.Errorf("%w: key group %d of stage %q >= max parallelism %d", errCorrupt, kg, name, maxParallelism)
			}
			st.Put(int(kg), blob)
		}
		ops[name] = st
	}
	return ops, r.done()
}
