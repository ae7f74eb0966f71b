package engine_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"pgregory.net/rapid"

	"github.com/topspeed/topspeed/engine"
)

// roundTrip appends v after a prefix, decodes it back and checks the value
// and the length; every truncation must fail without a panic.
func roundTrip[V any](t *rapid.T, c engine.Codec[V], v V, eq func(a, b V) bool) {
	b := c.Append([]byte("prefix"), v)
	enc := b[len("prefix"):]
	got, n, err := c.Decode(append(append([]byte{}, enc...), "trailing"...))
	if err != nil || n != len(enc) || !eq(got, v) {
		t.Fatalf("%T: %v encoded as %x decoded as %v, %d bytes, %v", c, v, enc, got, n, err)
	}
	for cut := range len(enc) {
		if _, _, err := c.Decode(enc[:cut]); err == nil {
			t.Fatalf("%T: %x cut at %d decoded", c, enc, cut)
		} else if !errors.Is(err, engine.ErrCorruptState) {
			t.Fatalf("%T: error %v does not match ErrCorruptState", c, err)
		}
	}
}

func same[V comparable](a, b V) bool { return a == b }

type point struct {
	X    int64
	Name string
}

var pointCodec = engine.FuncCodec[point]{
	AppendFunc: func(dst []byte, p point) []byte {
		return engine.StringCodec{}.Append(engine.Int64Codec{}.Append(dst, p.X), p.Name)
	},
	DecodeFunc: func(src []byte) (point, int, error) {
		x, n, err := engine.Int64Codec{}.Decode(src)
		if err != nil {
			return point{}, 0, err
		}
		s, m, err := engine.StringCodec{}.Decode(src[n:])
		return point{x, s}, n + m, err
	},
}

func TestCodecsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		roundTrip(t, engine.StringCodec{}, rapid.String().Draw(t, "s"), same)
		roundTrip(t, engine.BytesCodec{}, rapid.SliceOf(rapid.Byte()).Draw(t, "b"), func(a, b []byte) bool { return bytes.Equal(a, b) })
		roundTrip(t, engine.Int64Codec{}, rapid.Int64().Draw(t, "i64"), same)
		roundTrip(t, engine.Int32Codec{}, rapid.Int32().Draw(t, "i32"), same)
		roundTrip(t, engine.IntCodec{}, rapid.Int().Draw(t, "int"), same)
		roundTrip(t, engine.Uint64Codec{}, rapid.Uint64().Draw(t, "u64"), same)
		f := math.Float64frombits(rapid.Uint64().Draw(t, "f64"))
		roundTrip(t, engine.Float64Codec{}, f, func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) })
		roundTrip(t, engine.BoolCodec{}, rapid.Bool().Draw(t, "bool"), same)
		p := point{rapid.Int64().Draw(t, "x"), rapid.String().Draw(t, "name")}
		roundTrip(t, engine.Codec[point](pointCodec), p, same)
		roundTrip(t, engine.JSONCodec[point]{}, p, func(a, b point) bool {
			// encoding/json replaces invalid UTF-8.
			return a.X == b.X && (a.Name == b.Name || !validUTF8(b.Name))
		})
	})
}

func validUTF8(s string) bool {
	return bytes.Equal([]byte(s), bytes.ToValidUTF8([]byte(s), []byte("\uFFFD")))
}

func TestCodecsRejectBadInput(t *testing.T) {
	for name, err := range map[string]error{
		"int32 out of range":   decodeErr(engine.Int32Codec{}, engine.Int64Codec{}.Append(nil, math.MaxInt32+1)),
		"bool 2":               decodeErr(engine.BoolCodec{}, []byte{2}),
		"string length":        decodeErr(engine.StringCodec{}, []byte{10, 'a'}),
		"uvarint overflow":     decodeErr(engine.Uint64Codec{}, bytes.Repeat([]byte{0xff}, 11)),
		"json syntax":          decodeErr(engine.JSONCodec[point]{}, engine.StringCodec{}.Append(nil, "{")),
		"FuncCodec overclaims": decodeErr(engine.Codec[int](engine.FuncCodec[int]{AppendFunc: nil, DecodeFunc: func([]byte) (int, int, error) { return 0, 5, nil }}), []byte{1}),
	} {
		if !errors.Is(err, engine.ErrCorruptState) {
			t.Errorf("%s: %v, want ErrCorruptState", name, err)
		}
	}
}

func decodeErr[V any](c engine.Codec[V], b []byte) error {
	_, _, err := c.Decode(b)
	return err
}

// A codec that panics while encoding fails the checkpoint instead of the
// process.
func TestCodecPanicFailsCheckpoint(t *testing.T) {
	ctx := mustContext(t, 0, 1, nil)
	s, err := engine.NewValueState[int, chan int](ctx, "ch", engine.IntCodec{}, engine.JSONCodec[chan int]{})
	if err != nil {
		t.Fatal(err)
	}
	s.Set(1, make(chan int))
	if _, err := engine.CheckpointOperator[int, int](dropSum{}, ctx, 1); err == nil || !bytes.Contains([]byte(err.Error()), []byte(`state "ch": encoding failed`)) {
		t.Errorf("checkpoint with an unencodable value: %v", err)
	}
}
