package topspeed

import (
	"math"
	"testing"

	"pgregory.net/rapid"
)

// TestCarFormatterEqualsAppendCar formats sequences of cars drawn from a
// small pool (so that cars repeat, and ids share slots) with one
// CarFormatter and with AppendCar: the texts are the same, including for
// 0.0 against -0.0, NaN and the longest values.
func TestCarFormatterEqualsAppendCar(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		dist := rapid.OneOf(
			rapid.SampledFrom([]float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), -2.2250738585072014e-308, 1e7, 15.277777777777777}),
			rapid.Float64(),
		)
		pool := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Car {
			return Car{
				ID:       rapid.SampledFrom([]int32{0, 1, formatSlots, formatSlots + 1, -1, math.MinInt32, math.MaxInt32}).Draw(t, "id"),
				Speed:    rapid.SampledFrom([]int32{0, 55, -7, math.MinInt32}).Draw(t, "speed"),
				Distance: dist.Draw(t, "dist"),
				Time:     rapid.SampledFrom([]int64{0, 1424951918630, math.MinInt64}).Draw(t, "time"),
			}
		}), 1, 12).Draw(t, "pool")
		f := NewCarFormatter()
		var got, want []byte
		for range rapid.IntRange(1, 60).Draw(t, "n") {
			c := pool[rapid.IntRange(0, len(pool)-1).Draw(t, "pick")]
			got, want = f.Append(got, c), AppendCar(want, c)
			if string(got) != string(want) {
				t.Fatalf("CarFormatter wrote %q, AppendCar %q (car %+v)", got, want, c)
			}
		}
	})
}

// TestCarFormatterRemembers checks that a repeated car is copied: its
// remembered text is what comes out, not a fresh formatting.
func TestCarFormatterRemembers(t *testing.T) {
	f := NewCarFormatter()
	c := Car{ID: 3, Speed: 55, Distance: 15.277777777777777, Time: 1424951918630}
	first := string(f.Append(nil, c))
	s := &f.slots[3]
	s.text[1] = 'X' // what a copy would return
	if again := string(f.Append(nil, c)); again[1] != 'X' || again[2:] != first[2:] {
		t.Fatalf("second Append %q: not the remembered text of %q", again, first)
	}
	c.Time++
	if other := string(f.Append(nil, c)); other != string(AppendCar(nil, c)) {
		t.Fatalf("a different car gave %q", other)
	}
}

func TestCarFormatterNoAllocs(t *testing.T) {
	f := NewCarFormatter()
	buf := make([]byte, 0, 128)
	c := Car{ID: 3, Speed: 55, Distance: 15.277777777777777, Time: 1424951918630}
	if n := testing.AllocsPerRun(100, func() { buf = f.Append(buf[:0], c); c.Time += int64(len(buf) & 1) }); n != 0 {
		t.Fatalf("%v allocations per Append", n)
	}
}

// BenchmarkCarFormatter formats a stream where each car's result repeats
// about 3 times in 4, as in S1's output, with AppendCar and with a
// CarFormatter.
func BenchmarkCarFormatter(b *testing.B) {
	cars := make([]Car, 4096)
	for i := range cars {
		id := int32(i % 1000)
		cars[i] = Car{ID: id, Speed: 50 + id%50, Distance: float64(i/4000+1) * (1000 + float64(id)/3.6), Time: 1424951918630 + int64(i/4000)}
	}
	for _, p := range []struct {
		name string
		fn   func([]byte, Car) []byte
	}{{"AppendCar", AppendCar}, {"CarFormatter", NewCarFormatter().Append}} {
		b.Run(p.name, func(b *testing.B) {
			buf := make([]byte, 0, 128)
			for i := 0; b.Loop(); i++ {
				buf = p.fn(buf[:0], cars[i&4095])
			}
		})
	}
}
