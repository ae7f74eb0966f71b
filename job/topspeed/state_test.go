package topspeed

import (
	"bytes"
	"math"
	"testing"

	"pgregory.net/rapid"

	"github.com/topspeed/topspeed/window"
)

// The hand-written codec must stay byte-compatible with FixedCodec[Car],
// which earlier checkpoints used.
func TestCarCodecMatchesFixedCodec(t *testing.T) {
	fixed := window.FixedCodec[Car]()
	rapid.Check(t, func(t *rapid.T) {
		c := Car{ID: rapid.Int32().Draw(t, "id"), Speed: rapid.Int32().Draw(t, "speed"),
			Distance: math.Float64frombits(rapid.Uint64().Draw(t, "dist")), Time: rapid.Int64().Draw(t, "time")}
		a, b := carCodec{}.Append(nil, c), fixed.Append(nil, c)
		if !bytes.Equal(a, b) {
			t.Fatalf("encodings differ: %x vs %x", a, b)
		}
		d, n, err := carCodec{}.Decode(append(a, 9))
		if err != nil || n != carBytes || math.Float64bits(d.Distance) != math.Float64bits(c.Distance) || d.ID != c.ID || d.Speed != c.Speed || d.Time != c.Time {
			t.Fatalf("round trip: %+v %d %v", d, n, err)
		}
	})
	if _, _, err := (carCodec{}).Decode(make([]byte, 23)); err == nil {
		t.Fatal("decoded a truncated car")
	}
}
