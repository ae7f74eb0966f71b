package window

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Codec encodes values of type V for checkpoints. Encodings must be stable
// across versions of the program that restore each other's checkpoints.
type Codec[V any] interface {
	// Append appends the encoding of v to dst and returns the result.
	Append(dst []byte, v V) []byte
	// Decode decodes one value from the front of src and returns it with
	// the number of bytes it used.
	Decode(src []byte) (v V, n int, err error)
}

type fixedCodec[V any] struct{}

func (fixedCodec[V]) Append(dst []byte, v V) []byte {
	out, err := binary.Append(dst, binary.LittleEndian, v)
	if err != nil {
		panic(err) // unreachable: FixedCodec checked the size
	}
	return out
}

func (fixedCodec[V]) Decode(src []byte) (V, int, error) {
	var v V
	n, err := binary.Decode(src, binary.LittleEndian, &v)
	return v, n, err
}

// FixedCodec returns a Codec for a fixed-size type (numbers, bools, arrays
// and structs of them) in encoding/binary's little-endian layout. It panics
// if V is not fixed-size (int, string, slices, pointers, maps).
func FixedCodec[V any]() Codec[V] {
	var zero V
	if binary.Size(zero) < 0 {
		panic(fmt.Sprintf("window: FixedCodec: %T is not a fixed-size type", zero))
	}
	return fixedCodec[V]{}
}

type stringCodec struct{}

func (stringCodec) Append(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

func (stringCodec) Decode(src []byte) (string, int, error) {
	l, n := binary.Uvarint(src)
	if n <= 0 || uint64(len(src)-n) < l {
		return "", 0, errCorrupt
	}
	return string(src[n : n+int(l)]), n + int(l), nil
}

// StringCodec returns a Codec for strings: a uvarint length, then the bytes.
func StringCodec() Codec[string] { return stringCodec{} }

var errCorrupt = errors.New("window: corrupt checkpoint state")

// reader decodes a checkpoint blob; the first error sticks and later reads
// return zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errCorrupt)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errCorrupt)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail(errCorrupt)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// count reads a length and checks it against the bytes left (every item
// takes at least one byte), so corrupt input cannot cause huge allocations.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(errCorrupt)
		return 0
	}
	return int(n)
}

func (r *reader) window() Window {
	return Window{Start: r.varint(), End: r.varint()}
}

func appendWindow(b []byte, w Window) []byte {
	return binary.AppendVarint(binary.AppendVarint(b, w.Start), w.End)
}

func readValue[V any](r *reader, c Codec[V]) V {
	var v V
	if r.err != nil {
		return v
	}
	v, n, err := c.Decode(r.b)
	if err != nil {
		r.fail(fmt.Errorf("window: decoding checkpoint state: %w", err))
		return v
	}
	if n < 0 || n > len(r.b) {
		r.fail(errCorrupt)
		return v
	}
	r.b = r.b[n:]
	return v
}
