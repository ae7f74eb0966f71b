package topspeed

import (
	"math"
	"testing"
)

// FuzzParseCar checks that ParseCar never panics and that every record it
// accepts survives AppendCar and ParseCar unchanged.
func FuzzParseCar(f *testing.F) {
	for _, s := range []string{
		"(0,55,15.277777777777777,1424951918630)",
		"(1,50,100.0,0)\r",
		"(-1,+5,-0.0,-7)",
		"(2147483647,-2147483648,1.0E7,9223372036854775807)",
		"(3,10, 12.5d ,99)",
		"(0,0,0x1.8p3,1)",
		"(0,0,NaN,1)",
		"(0,0,4.9E-324,1)",
		"(0,abc,1,1)",
		"()",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := ParseCar(line)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseCar(%q): empty error message", line)
			}
			return
		}
		if math.IsNaN(c.Distance) || math.IsInf(c.Distance, 0) {
			t.Fatalf("ParseCar(%q) accepted distance %v", line, c.Distance)
		}
		out := AppendCar(nil, c)
		d, err := ParseCar(out)
		if err != nil {
			t.Fatalf("ParseCar(%q) -> %+v -> %q: %v", line, c, out, err)
		}
		if c.ID != d.ID || c.Speed != d.Speed || c.Time != d.Time ||
			math.Float64bits(c.Distance) != math.Float64bits(d.Distance) {
			t.Fatalf("round trip %q -> %+v -> %q -> %+v", line, c, out, d)
		}
		if again := AppendCar(nil, d); string(again) != string(out) {
			t.Fatalf("AppendCar not stable: %q then %q", out, again)
		}
	})
}
