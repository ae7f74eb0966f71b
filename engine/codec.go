package engine

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// ErrCorruptState is matched (errors.Is) by the errors of codecs and typed
// state when checkpointed bytes cannot be decoded.
var ErrCorruptState = errors.New("engine: corrupt state")

// Codec encodes values of type V for checkpoints. The encoding of a value
// must be stable across the versions of a program that restore each other's
// checkpoints. Codecs are called from the operator's goroutine (at a
// checkpoint barrier and in Open); a Codec used by several operators must
// be safe for concurrent use, which every codec of this package is.
//
// The method set is the same as window.Codec's, so a codec written for one
// works for the other.
type Codec[V any] interface {
	// Append appends the encoding of v to dst and returns the result.
	Append(dst []byte, v V) []byte
	// Decode decodes one value from the front of src and returns it with the
	// number of bytes it used. It must not keep src: copy what it keeps.
	Decode(src []byte) (v V, n int, err error)
}

func corrupt(what, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrCorruptState, what, fmt.Sprintf(format, args...))
}

// StringCodec encodes a string as a uvarint length and its bytes.
type StringCodec struct{}

// Append implements Codec.
func (StringCodec) Append(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// Decode implements Codec.
func (StringCodec) Decode(src []byte) (string, int, error) {
	b, n, err := decodeBytes("string", src)
	return string(b), n, err
}

// BytesCodec encodes a []byte as a uvarint length and its bytes. Decode
// returns a copy; nil and empty slices both decode as empty.
type BytesCodec struct{}

// Append implements Codec.
func (BytesCodec) Append(dst []byte, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

// Decode implements Codec.
func (BytesCodec) Decode(src []byte) ([]byte, int, error) {
	b, n, err := decodeBytes("[]byte", src)
	return append([]byte{}, b...), n, err
}

func decodeBytes(what string, src []byte) ([]byte, int, error) {
	l, n := binary.Uvarint(src)
	if n <= 0 {
		return nil, 0, corrupt(what, "bad length")
	}
	if uint64(len(src)-n) < l {
		return nil, 0, corrupt(what, "length %d beyond the end (%d bytes left)", l, len(src)-n)
	}
	return src[n : n+int(l)], n + int(l), nil
}

// Int64Codec encodes an int64 as a zig-zag varint (1 byte for -64..63).
type Int64Codec struct{}

// Append implements Codec.
func (Int64Codec) Append(dst []byte, v int64) []byte { return binary.AppendVarint(dst, v) }

// Decode implements Codec.
func (Int64Codec) Decode(src []byte) (int64, int, error) { return decodeVarint("int64", src) }

func decodeVarint(what string, src []byte) (int64, int, error) {
	v, n := binary.Varint(src)
	if n <= 0 {
		return 0, 0, corrupt(what, "bad varint")
	}
	return v, n, nil
}

// Int32Codec encodes an int32 as a zig-zag varint.
type Int32Codec struct{}

// Append implements Codec.
func (Int32Codec) Append(dst []byte, v int32) []byte { return binary.AppendVarint(dst, int64(v)) }

// Decode implements Codec.
func (Int32Codec) Decode(src []byte) (int32, int, error) {
	v, n, err := decodeVarint("int32", src)
	if err == nil && (v < math.MinInt32 || v > math.MaxInt32) {
		return 0, 0, corrupt("int32", "%d out of range", v)
	}
	return int32(v), n, err
}

// IntCodec encodes an int as a zig-zag varint of its int64 value, so that
// 32- and 64-bit builds read each other's checkpoints.
type IntCodec struct{}

// Append implements Codec.
func (IntCodec) Append(dst []byte, v int) []byte { return binary.AppendVarint(dst, int64(v)) }

// Decode implements Codec.
func (IntCodec) Decode(src []byte) (int, int, error) {
	v, n, err := decodeVarint("int", src)
	if err == nil && int64(int(v)) != v {
		return 0, 0, corrupt("int", "%d out of range", v)
	}
	return int(v), n, err
}

// Uint64Codec encodes a uint64 as a uvarint.
type Uint64Codec struct{}

// Append implements Codec.
func (Uint64Codec) Append(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }

// Decode implements Codec.
func (Uint64Codec) Decode(src []byte) (uint64, int, error) {
	v, n := binary.Uvarint(src)
	if n <= 0 {
		return 0, 0, corrupt("uint64", "bad uvarint")
	}
	return v, n, nil
}

// Float64Codec encodes a float64 as its 8 IEEE 754 bytes, little-endian,
// so every value (NaNs, -0) round-trips bit for bit.
type Float64Codec struct{}

// Append implements Codec.
func (Float64Codec) Append(dst []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
}

// Decode implements Codec.
func (Float64Codec) Decode(src []byte) (float64, int, error) {
	if len(src) < 8 {
		return 0, 0, corrupt("float64", "%d bytes, want 8", len(src))
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(src)), 8, nil
}

// BoolCodec encodes a bool as one byte, 0 or 1.
type BoolCodec struct{}

// Append implements Codec.
func (BoolCodec) Append(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// Decode implements Codec.
func (BoolCodec) Decode(src []byte) (bool, int, error) {
	if len(src) == 0 || src[0] > 1 {
		return false, 0, corrupt("bool", "want a byte 0 or 1")
	}
	return src[0] == 1, 1, nil
}

// FuncCodec is a Codec made of two functions, for structs and other types
// without a codec of their own: AppendFunc appends v's encoding to dst,
// DecodeFunc decodes one value from the front of src and returns the bytes
// it used. Build the encoding from the other codecs:
//
//	type point struct{ X, Y int64 }
//	var pointCodec = engine.FuncCodec[point]{
//		AppendFunc: func(dst []byte, p point) []byte {
//			return engine.Int64Codec{}.Append(engine.Int64Codec{}.Append(dst, p.X), p.Y)
//		},
//		DecodeFunc: func(src []byte) (point, int, error) { ... },
//	}
type FuncCodec[V any] struct {
	AppendFunc func(dst []byte, v V) []byte
	DecodeFunc func(src []byte) (V, int, error)
}

func (c FuncCodec[V]) incomplete() bool { return c.AppendFunc == nil || c.DecodeFunc == nil }

// Append implements Codec.
func (c FuncCodec[V]) Append(dst []byte, v V) []byte { return c.AppendFunc(dst, v) }

// Decode implements Codec. A result that claims more bytes than src holds
// is reported as corrupt.
func (c FuncCodec[V]) Decode(src []byte) (V, int, error) {
	v, n, err := c.DecodeFunc(src)
	if err == nil && (n < 0 || n > len(src)) {
		var zero V
		return zero, 0, corrupt("FuncCodec", "decoder used %d of %d bytes", n, len(src))
	}
	return v, n, err
}

// JSONCodec encodes a value as a uvarint length and its encoding/json
// form: convenient for structs with exported fields, at the cost of speed
// and size. Field names become part of the checkpoint format.
type JSONCodec[V any] struct{}

// Append implements Codec. A value that encoding/json cannot encode (a
// channel, a function, a cyclic pointer) is a programming error: Append
// panics with json's error.
func (JSONCodec[V]) Append(dst []byte, v V) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("engine: JSONCodec[%T]: %v", v, err))
	}
	return BytesCodec{}.Append(dst, b)
}

// Decode implements Codec.
func (JSONCodec[V]) Decode(src []byte) (V, int, error) {
	var v V
	b, n, err := decodeBytes("json", src)
	if err != nil {
		return v, 0, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, 0, corrupt("json", "%v", err)
	}
	return v, n, nil
}
