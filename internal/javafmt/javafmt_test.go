package javafmt

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

var speed55, tenth = 55.0, 0.1

// Expected strings follow Java's Double.toString (JDK 19+).
var formatTests = []struct {
	in   float64
	want string
}{
	{0, "0.0"},
	{math.Copysign(0, -1), "-0.0"},
	{math.NaN(), "NaN"},
	{math.Inf(1), "Infinity"},
	{math.Inf(-1), "-Infinity"},
	{1, "1.0"},
	{-1, "-1.0"},
	{100, "100.0"},
	{125, "125.0"},
	{100.5, "100.5"},
	{0.5, "0.5"},
	{speed55 / 3.6, "15.277777777777777"}, // float64 arithmetic, not exact constants
	{tenth + 2*tenth, "0.30000000000000004"},
	{1.0 / 3, "0.3333333333333333"},
	{2.0 / 3, "0.6666666666666666"},
	{1234567, "1234567.0"},
	{9999999, "9999999.0"},
	{9999999.5, "9999999.5"},
	{1e7, "1.0E7"},
	{-1e7, "-1.0E7"},
	{12345678, "1.2345678E7"},
	{1.2345678e8, "1.2345678E8"},
	{123456789012, "1.23456789012E11"},
	{1e10, "1.0E10"},
	{1e21, "1.0E21"},
	{1e23, "1.0E23"},
	{0.001, "0.001"},
	{-0.001, "-0.001"},
	{2e-3, "0.002"}, // JDK <= 18 printed "0.0020"
	{0.0123, "0.0123"},
	{0.00123, "0.00123"},
	{1e-4, "1.0E-4"},
	{1.5e-4, "1.5E-4"},
	{-3e-5, "-3.0E-5"},
	{9.999e-4, "9.999E-4"},
	{math.MaxFloat64, "1.7976931348623157E308"},
	{-math.MaxFloat64, "-1.7976931348623157E308"},
	{0x1p-1022, "2.2250738585072014E-308"},    // Double.MIN_NORMAL
	{math.SmallestNonzeroFloat64, "4.9E-324"}, // Double.MIN_VALUE
	{-math.SmallestNonzeroFloat64, "-4.9E-324"},
	{2 * math.SmallestNonzeroFloat64, "9.9E-324"},
	{3 * math.SmallestNonzeroFloat64, "1.5E-323"},
	{1 << 53, "9.007199254740992E15"},
	{float64(math.MaxInt64), "9.223372036854776E18"},
	{1424951918630, "1.42495191863E12"},
}

func TestFormatDouble(t *testing.T) {
	for _, tt := range formatTests {
		if got := FormatDouble(tt.in); got != tt.want {
			t.Errorf("FormatDouble(%v) = %q, want %q", tt.in, got, tt.want)
		}
		prefix := []byte("x=")
		if got := string(AppendDouble(prefix, tt.in)); got != "x="+tt.want {
			t.Errorf("AppendDouble(%q, %v) = %q", prefix, tt.in, got)
		}
	}
}

func TestAppendDoubleNoAlloc(t *testing.T) {
	buf := make([]byte, 0, 64)
	for _, tt := range formatTests {
		allocs := testing.AllocsPerRun(100, func() { buf = AppendDouble(buf[:0], tt.in) })
		if allocs != 0 {
			t.Errorf("AppendDouble(%v) allocates %v times", tt.in, allocs)
		}
	}
}

// TestFormatSubnormalClosest checks the JDK 19+ rule for values whose
// shortest decimal has one digit: Java then picks the closest decimal of at
// most two digits. The expectation is computed by brute force.
func TestFormatSubnormalClosest(t *testing.T) {
	for k := uint64(1); k <= 3000; k++ {
		x := math.Float64frombits(k)
		want := bruteForceJava(x)
		if got := FormatDouble(x); got != want {
			t.Fatalf("FormatDouble(%d*MIN_VALUE = %g) = %q, want %q", k, x, got, want)
		}
	}
}

// bruteForceJava returns Java's Double.toString for a tiny positive x,
// straight from the JDK 19+ specification: among the decimals that round to
// x, take those of minimal length n (lengths 1 and 2 if n == 1) and pick the
// one closest to x, or the one with an even last digit on a tie.
func bruteForceJava(x float64) string {
	exact := new(big.Rat).SetFloat64(x)
	// Decimal exponent of x (math.Log10 is inexact for subnormals).
	_, es, _ := strings.Cut(strconv.FormatFloat(x, 'e', 0, 64), "e")
	e10, _ := strconv.Atoi(es)
	for n := 1; n <= 17; n++ {
		m := n
		if n == 1 {
			m = 2
		}
		if d, e, ok := closest(x, exact, e10, n); ok {
			if m != n {
				d, e, _ = closest(x, exact, e10, m)
			}
			digits := strings.TrimRight(strconv.FormatInt(d, 10), "0")
			if len(digits) == 1 {
				digits += "0"
			}
			return digits[:1] + "." + digits[1:] + "E" + strconv.Itoa(e)
		}
	}
	panic("no decimal found")
}

// closest returns the n-digit decimal d*10^(e-n+1) closest to x among those
// that round to x, or ok == false if there is none.
func closest(x float64, exact *big.Rat, e10, n int) (best int64, bestE int, ok bool) {
	var bestDist *big.Rat
	lo := int64(1)
	for range n - 1 {
		lo *= 10
	}
	for e := e10 - 1; e <= e10+1; e++ {
		scale := pow10(e - n + 1)
		approx, _ := new(big.Rat).Quo(exact, scale).Float64()
		for d := int64(approx) - 2; d <= int64(approx)+2; d++ {
			if d < lo || d >= lo*10 {
				continue
			}
			if v, _ := strconv.ParseFloat(fmt.Sprintf("%de%d", d, e-n+1), 64); v != x {
				continue
			}
			dist := new(big.Rat).Mul(new(big.Rat).SetInt64(d), scale)
			dist.Abs(dist.Sub(dist, exact))
			if !ok || dist.Cmp(bestDist) < 0 || (dist.Cmp(bestDist) == 0 && d%2 == 0) {
				best, bestE, bestDist, ok = d, e, dist, true
			}
		}
	}
	return best, bestE, ok
}

func pow10(e int) *big.Rat {
	if e < 0 {
		return new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-e)), nil))
	}
	return new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(e)), nil))
}

var parseTests = []struct {
	in   string
	want float64
}{
	{"0", 0},
	{"0.0", 0},
	{"-0.0", math.Copysign(0, -1)},
	{"1", 1},
	{"+1", 1},
	{"-1.5", -1.5},
	{"15.277777777777777", 15.277777777777777},
	{".5", 0.5},
	{"5.", 5},
	{"-.5", -0.5},
	{"1.0E7", 1e7},
	{"1e-4", 1e-4},
	{"1E+3", 1000},
	{"2.5e0", 2.5},
	{"1.5d", 1.5},
	{"1.5D", 1.5},
	{"1.5f", 1.5},
	{"1.5F", 1.5},
	{"1e3d", 1000},
	{"  42.0  ", 42},
	{"\t42.0\n", 42},
	{"\x0042\x01", 42}, // String.trim strips all characters <= ' '
	{"4.9E-324", math.SmallestNonzeroFloat64},
	{"1e-400", 0}, // underflow rounds to zero, as in Java
	{"-1e-400", math.Copysign(0, -1)},
	{"1.7976931348623157E308", math.MaxFloat64},
	{"0x1p3", 8},
	{"0X1.8P1", 3},
	{"0x.8p1", 1},
	{"-0x1p-2d", -0.25},
	{"0x1fp0", 31},
	{"00012.50", 12.5},
}

func TestParseDouble(t *testing.T) {
	for _, tt := range parseTests {
		got, err := ParseDouble([]byte(tt.in))
		if err != nil {
			t.Errorf("ParseDouble(%q): %v", tt.in, err)
			continue
		}
		if math.Float64bits(got) != math.Float64bits(tt.want) {
			t.Errorf("ParseDouble(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseDoubleErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error
		msg     string
	}{
		{"", ErrSyntax, `"": not a number`},
		{"   ", ErrSyntax, `"   ": not a number`},
		{"abc", ErrSyntax, `"abc": not a number`},
		{".", ErrSyntax, ""},
		{"+", ErrSyntax, ""},
		{"e5", ErrSyntax, ""},
		{"1e", ErrSyntax, ""},
		{"1e+", ErrSyntax, ""},
		{"1.2.3", ErrSyntax, ""},
		{"1,5", ErrSyntax, ""},
		{"1_000", ErrSyntax, ""},
		{"0x1_0p0", ErrSyntax, ""},
		{"0x1", ErrSyntax, ""}, // hex needs a binary exponent
		{"0x1f", ErrSyntax, ""},
		{"0xp1", ErrSyntax, ""},
		{"1.5dd", ErrSyntax, ""},
		{"d", ErrSyntax, ""},
		{"inf", ErrSyntax, ""},
		{"nan", ErrSyntax, ""},
		{"infinity", ErrSyntax, ""},
		{"1 2", ErrSyntax, ""},
		{"--1", ErrSyntax, ""},
		{"NaN", ErrNotFinite, `"NaN": not a finite number`},
		{"-NaN", ErrNotFinite, ""},
		{"Infinity", ErrNotFinite, ""},
		{"-Infinity", ErrNotFinite, ""},
		{" +Infinity ", ErrNotFinite, ""},
		{"1e400", ErrNotFinite, ""},
		{"-1.8e308", ErrNotFinite, ""},
		{"0x1p1024", ErrNotFinite, ""},
	}
	for _, tt := range tests {
		_, err := ParseDouble([]byte(tt.in))
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("ParseDouble(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			continue
		}
		var ne *NumError
		if !errors.As(err, &ne) {
			t.Errorf("ParseDouble(%q) error %T is not a *NumError", tt.in, err)
		}
		if tt.msg != "" && err.Error() != tt.msg {
			t.Errorf("ParseDouble(%q) error = %q, want %q", tt.in, err, tt.msg)
		}
	}
	long := strings.Repeat("9", 200) + "x"
	_, err := ParseDouble([]byte(long))
	if err == nil || len(err.Error()) > 100 {
		t.Errorf("error for a long input should be truncated: %v", err)
	}
}

func TestParseDoubleNoAlloc(t *testing.T) {
	for _, tt := range parseTests {
		b := []byte(tt.in)
		allocs := testing.AllocsPerRun(100, func() { _, _ = ParseDouble(b) })
		if allocs != 0 {
			t.Errorf("ParseDouble(%q) allocates %v times", tt.in, allocs)
		}
	}
}

// finiteFloat draws finite float64 values from every binade, subnormals and
// zeros included.
var finiteFloat = rapid.Custom(func(t *rapid.T) float64 {
	for {
		f := math.Float64frombits(rapid.Uint64().Draw(t, "bits"))
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
})

func TestRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := rapid.OneOf(finiteFloat, rapid.Float64(), rapid.Float64Range(-1e8, 1e8)).Draw(t, "f")
		s := FormatDouble(f)
		g, err := ParseDouble([]byte(s))
		if err != nil {
			t.Fatalf("ParseDouble(FormatDouble(%v) = %q): %v", f, s, err)
		}
		if math.Float64bits(f) != math.Float64bits(g) {
			t.Fatalf("round trip %v -> %q -> %v", f, s, g)
		}
		checkLayout(t, f, s)
	})
}

// checkLayout verifies the shape of Java's output for finite f.
func checkLayout(t interface{ Fatalf(string, ...any) }, f float64, s string) {
	body := strings.TrimPrefix(s, "-")
	if math.Signbit(f) != (body != s) {
		t.Fatalf("%q: sign mismatch for %v", s, f)
	}
	a := math.Abs(f)
	mant, exp, sci := strings.Cut(body, "E")
	if sci != (a != 0 && (a < 1e-3 || a >= 1e7)) {
		t.Fatalf("%q: wrong notation for %v", s, f)
	}
	intPart, frac, ok := strings.Cut(mant, ".")
	if !ok || intPart == "" || frac == "" {
		t.Fatalf("%q: want digits on both sides of the point", s)
	}
	if sci {
		if len(intPart) != 1 || intPart == "0" {
			t.Fatalf("%q: bad scientific mantissa", s)
		}
		if _, err := strconv.Atoi(exp); err != nil || strings.HasPrefix(exp, "+") {
			t.Fatalf("%q: bad exponent", s)
		}
	}
	if len(frac) > 1 && strings.HasSuffix(frac, "0") {
		t.Fatalf("%q: trailing zero", s)
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		t.Fatalf("%q: leading zero", s)
	}
}

func FuzzParseDouble(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.in)
	}
	f.Add("NaN")
	f.Add("0x1.fffffffffffffp1023")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseDouble([]byte(s))
		if err != nil {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("ParseDouble(%q) = %v", s, v)
		}
		out := FormatDouble(v)
		w, err := ParseDouble([]byte(out))
		if err != nil || math.Float64bits(v) != math.Float64bits(w) {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, v, out, w, err)
		}
		checkLayout(t, v, out)
	})
}

func BenchmarkAppendDouble(b *testing.B) {
	buf := make([]byte, 0, 32)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = AppendDouble(buf[:0], float64(i)*(55/3.6))
	}
}

func BenchmarkParseDouble(b *testing.B) {
	in := []byte("15.277777777777777")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDouble(in); err != nil {
			b.Fatal(err)
		}
	}
}

// plainFloat draws values in and around AppendDouble's fast range: near its
// bounds, integers, the job's multiples of 5/3.6 and any finite value.
var plainFloat = rapid.OneOf(
	rapid.Float64Range(1e-3, 1e7),
	rapid.Float64Range(-1e7, -1e-3),
	rapid.Float64Range(0.9e-3, 1.1e-3),
	rapid.Float64Range(0.99e7, 1.01e7),
	rapid.Custom(func(t *rapid.T) float64 {
		return float64(rapid.Int64Range(-2e7, 2e7).Draw(t, "int"))
	}),
	rapid.Custom(func(t *rapid.T) float64 {
		f := float64(rapid.IntRange(0, 1e7).Draw(t, "n")) * 5 / 3.6
		for range rapid.IntRange(0, 3).Draw(t, "ulps") {
			f = math.Nextafter(f, math.Inf(1))
		}
		return f
	}),
	rapid.Custom(func(t *rapid.T) float64 { // the float neighbours of the bounds
		b := rapid.SampledFrom([]float64{1e-3, 1e7, -1e-3, -1e7}).Draw(t, "bound")
		return rapid.SampledFrom([]float64{b, math.Nextafter(b, 0), math.Nextafter(b, math.Inf(1)), math.Nextafter(b, math.Inf(-1))}).Draw(t, "near")
	}),
	finiteFloat,
)

// TestAppendDoubleFastMatchesGeneral checks the fast path against the
// general layout of strconv's scientific digits, byte for byte.
func TestAppendDoubleFastMatchesGeneral(t *testing.T) {
	for _, tt := range formatTests {
		if got, want := string(AppendDouble(nil, tt.in)), string(appendDoubleGeneral(nil, tt.in)); got != want {
			t.Errorf("AppendDouble(%v) = %q, general path %q", tt.in, got, want)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		f := plainFloat.Draw(t, "f")
		if got, want := string(AppendDouble(nil, f)), string(appendDoubleGeneral(nil, f)); got != want {
			t.Fatalf("AppendDouble(%v) = %q, general path %q", f, got, want)
		}
	})
}

func FuzzAppendDoubleFast(f *testing.F) {
	for _, tt := range formatTests {
		f.Add(math.Float64bits(tt.in))
	}
	f.Fuzz(func(t *testing.T, u uint64) {
		x := math.Float64frombits(u)
		if got, want := string(AppendDouble(nil, x)), string(appendDoubleGeneral(nil, x)); got != want {
			t.Fatalf("AppendDouble(%v) = %q, general path %q", x, got, want)
		}
	})
}

// decimalLiteral draws the text of decimal literals: the fast path's form
// with 1 to 25 digits and exponents up to +-40, and around it.
var decimalLiteral = rapid.Custom(func(t *rapid.T) string {
	var sb strings.Builder
	sb.WriteString(rapid.SampledFrom([]string{"", "", "-", "+"}).Draw(t, "sign"))
	digits := rapid.StringOfN(rapid.RuneFrom([]rune("0123456789")), 0, 22, -1)
	sb.WriteString(digits.Draw(t, "int"))
	if rapid.Bool().Draw(t, "point") {
		sb.WriteString(".")
		sb.WriteString(digits.Draw(t, "frac"))
	}
	if rapid.IntRange(0, 3).Draw(t, "hasExp") == 0 {
		sb.WriteString(rapid.SampledFrom([]string{"e", "E"}).Draw(t, "e"))
		sb.WriteString(rapid.SampledFrom([]string{"", "-", "+"}).Draw(t, "esign"))
		sb.WriteString(strconv.Itoa(rapid.IntRange(0, 40).Draw(t, "exp")))
	}
	sb.WriteString(rapid.SampledFrom([]string{"", "", "", "d", " ", "x"}).Draw(t, "tail"))
	return sb.String()
})

// checkParseFast compares ParseDouble, and parseDecimalFast where it
// applies, with the general path: the same value (bits) or the same error.
func checkParseFast(t interface{ Fatalf(string, ...any) }, s string) {
	b := []byte(s)
	want, werr := parseDoubleGeneral(b)
	if f, ok := parseDecimalFast(b); ok {
		if werr != nil || math.Float64bits(f) != math.Float64bits(want) {
			t.Fatalf("parseDecimalFast(%q) = %v (%x), general path %v (%x), %v", s, f, math.Float64bits(f), want, math.Float64bits(want), werr)
		}
	}
	got, gerr := ParseDouble(b)
	if math.Float64bits(got) != math.Float64bits(want) || fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("ParseDouble(%q) = %v, %v; general path %v, %v", s, got, gerr, want, werr)
	}
	for _, in := range []string{s, s + ",1)", s + "x"} {
		f, n, ok := ParseDecimalPrefix([]byte(in))
		if !ok {
			continue
		}
		want, werr := parseDoubleGeneral([]byte(in[:n]))
		if n == 0 || werr != nil || math.Float64bits(f) != math.Float64bits(want) {
			t.Fatalf("ParseDecimalPrefix(%q) = %v, %d; general path on %q: %v, %v", in, f, n, in[:n], want, werr)
		}
	}
}

// TestParseDoubleFastMatchesGeneral checks the fast decimal path against
// the general one on literals, Java's output of random values and the
// literals of the job's distances.
func TestParseDoubleFastMatchesGeneral(t *testing.T) {
	for _, tt := range parseTests {
		checkParseFast(t, tt.in)
	}
	for _, s := range []string{"9999999999999999999", "18446744073709551615", "1e19", "1.8446744073709551615e19", "0.0000000000000000001", "-0", "-0.0e5", "4.9E-324", "1.7976931348623157E308", "1e-19", "9.999999999999999999e-20"} {
		checkParseFast(t, s)
	}
	rapid.Check(t, func(t *rapid.T) {
		checkParseFast(t, decimalLiteral.Draw(t, "literal"))
	})
	rapid.Check(t, func(t *rapid.T) {
		checkParseFast(t, nearMidpoint(t))
	})
	rapid.Check(t, func(t *rapid.T) {
		f := rapid.OneOf(plainFloat, finiteFloat).Draw(t, "f")
		checkParseFast(t, FormatDouble(f))
		checkParseFast(t, strconv.FormatFloat(f, 'g', rapid.IntRange(1, 19).Draw(t, "prec"), 64))
	})
}

// nearMidpoint returns a literal of 16 to 19 significant digits within
// about 1e-19 (relative) of the midpoint between two adjacent float64
// values: the hard cases of rounding, where the remainder decides.
func nearMidpoint(t *rapid.T) string {
	f := rapid.OneOf(plainFloat, rapid.Float64Range(1e-19, 1e19)).Draw(t, "f")
	g := math.Nextafter(f, math.Inf(1))
	mid := new(big.Float).SetPrec(200).SetFloat64(f)
	mid.Add(mid, new(big.Float).SetPrec(200).SetFloat64(g))
	mid.Quo(mid, big.NewFloat(2))
	return mid.Text('e', rapid.IntRange(15, 18).Draw(t, "prec"))
}

func FuzzParseDoubleFast(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.in)
	}
	f.Add("15.277777777777777")
	f.Add("1.8446744073709551615e19")
	f.Fuzz(func(t *testing.T, s string) { checkParseFast(t, s) })
}

// jobDistances are the job's typical distances: sums of speed/3.6.
func jobDistances() []float64 {
	d := make([]float64, 1024)
	var x float64
	for i := range d {
		x += float64(5*(i%21)) / 3.6
		d[i] = x
	}
	return d
}

func BenchmarkAppendDoubleJob(b *testing.B) {
	d := jobDistances()
	buf := make([]byte, 0, 32)
	for _, path := range []struct {
		name string
		fn   func([]byte, float64) []byte
	}{{"fast", AppendDouble}, {"general", appendDoubleGeneral}} {
		b.Run(path.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				buf = path.fn(buf[:0], d[i&1023])
			}
		})
	}
}

func BenchmarkParseDoubleJob(b *testing.B) {
	d := jobDistances()
	in := make([][]byte, len(d))
	for i, f := range d {
		in[i] = []byte(FormatDouble(f))
	}
	for _, path := range []struct {
		name string
		fn   func([]byte) (float64, error)
	}{{"fast", ParseDouble}, {"general", parseDoubleGeneral}} {
		b.Run(path.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := path.fn(in[i&1023]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDecimalToFloatMatchesStrconv checks decimalToFloat's division path
// (every w, since it has no fast path for w < 2^53) against strconv on
// every negative exponent, for w of every magnitude.
func TestDecimalToFloatMatchesStrconv(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := rapid.Uint64().Draw(t, "w") >> rapid.IntRange(0, 63).Draw(t, "shift")
		exp := rapid.IntRange(-19, -1).Draw(t, "exp")
		got, ok := decimalToFloat(w, exp)
		want, err := strconv.ParseFloat(strconv.FormatUint(w, 10)+"e"+strconv.Itoa(exp), 64)
		if !ok || err != nil || got != want {
			t.Fatalf("decimalToFloat(%d, %d) = %v, %v; strconv: %v, %v", w, exp, got, ok, want, err)
		}
	})
}
