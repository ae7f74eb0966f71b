package topspeed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/topspeed/topspeed/internal/javafmt"
)

func TestParseCar(t *testing.T) {
	tests := []struct {
		in   string
		want Car
	}{
		{"(0,55,15.277777777777777,1424951918630)", Car{0, 55, 15.277777777777777, 1424951918630}},
		{"(1,0,0.0,0)", Car{1, 0, 0, 0}},
		{"(1,50,100.0,5)\r", Car{1, 50, 100, 5}},
		{"(-1,+5,-0.0,-7)", Car{-1, 5, math.Copysign(0, -1), -7}},
		{"(2147483647,-2147483648,1.0E7,9223372036854775807)", Car{math.MaxInt32, math.MinInt32, 1e7, math.MaxInt64}},
		{"(0,0,0.0,-9223372036854775808)", Car{0, 0, 0, math.MinInt64}},
		{"(007,0050,1e-4,00)", Car{7, 50, 1e-4, 0}},
		{"(3,10, 12.5 ,99)", Car{3, 10, 12.5, 99}}, // Double.valueOf trims
		{"(3,10,12.5d,99)", Car{3, 10, 12.5, 99}},
		{"(3,10,.5,99)", Car{3, 10, 0.5, 99}},
		{"(3,10,5.,99)", Car{3, 10, 5, 99}},
	}
	for _, tt := range tests {
		got, err := ParseCar([]byte(tt.in))
		if err != nil {
			t.Errorf("ParseCar(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want || math.Signbit(got.Distance) != math.Signbit(tt.want.Distance) {
			t.Errorf("ParseCar(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseCarErrors(t *testing.T) {
	tests := []struct {
		in    string
		field int
		msg   string
	}{
		{"", 0, `empty line: ""`},
		{"\r", 0, `empty line: ""`},
		{"(", 0, `want a record in parentheses: "("`},
		{"0,55,15.2,1", 0, `want a record in parentheses: "0,55,15.2,1"`},
		{"[0,55,15.2,1]", 0, `want a record in parentheses: "[0,55,15.2,1]"`},
		{" (0,55,15.2,1)", 0, `want a record in parentheses: " (0,55,15.2,1)"`},
		{"(0,55,15.2,1) ", 0, `want a record in parentheses: "(0,55,15.2,1) "`},
		{"(0,55,15.2,1)\n", 0, ""},
		{"()", 0, `want 4 comma-separated fields, got 1: "()"`},
		{"(0,55,15.2)", 0, `want 4 comma-separated fields, got 3: "(0,55,15.2)"`},
		{"(0,55,15.2,1,)", 0, `want 4 comma-separated fields, got 5: "(0,55,15.2,1,)"`},
		{"(0,55,15.2,1,9)", 0, `want 4 comma-separated fields, got 5: "(0,55,15.2,1,9)"`},
		{"(0,abc,15.2,1)", 2, `field 2 (speed) "abc": not an integer`},
		{"(x,55,15.2,1)", 1, `field 1 (id) "x": not an integer`},
		{"(,55,15.2,1)", 1, `field 1 (id) "": not an integer`},
		{"( 0,55,15.2,1)", 1, `field 1 (id) " 0": not an integer`},
		{"(0,55 ,15.2,1)", 2, `field 2 (speed) "55 ": not an integer`},
		{"(-,55,15.2,1)", 1, ""},
		{"(1.0,55,15.2,1)", 1, ""},
		{"(0,2147483648,15.2,1)", 2, `field 2 (speed) "2147483648": out of int32 range`},
		{"(-2147483649,0,15.2,1)", 1, `field 1 (id) "-2147483649": out of int32 range`},
		{"(0,99999999999999999999999,15.2,1)", 2, `field 2 (speed) "99999999999999999999999": out of int32 range`},
		{"(0,0,15.2,9223372036854775808)", 4, `field 4 (time) "9223372036854775808": out of int64 range`},
		{"(0,0,15.2,1e3)", 4, `field 4 (time) "1e3": not an integer`},
		{"(0,0,abc,1)", 3, `field 3 (distance) "abc": not a number`},
		{"(0,0,,1)", 3, `field 3 (distance) "": not a number`},
		{"(0,0,NaN,1)", 3, `field 3 (distance) "NaN": not a finite number`},
		{"(0,0,-Infinity,1)", 3, `field 3 (distance) "-Infinity": not a finite number`},
		{"(0,0,1e999,1)", 3, `field 3 (distance) "1e999": not a finite number`},
	}
	for _, tt := range tests {
		_, err := ParseCar([]byte(tt.in))
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("ParseCar(%q) error = %v, want a *ParseError", tt.in, err)
			continue
		}
		if pe.Field != tt.field {
			t.Errorf("ParseCar(%q) error field = %d, want %d (%v)", tt.in, pe.Field, tt.field, err)
		}
		if tt.msg != "" && err.Error() != tt.msg {
			t.Errorf("ParseCar(%q) error = %q, want %q", tt.in, err, tt.msg)
		}
	}
}

func TestParseErrorTruncates(t *testing.T) {
	line := "(0," + strings.Repeat("9", 200) + ",1.0,1)"
	_, err := ParseCar([]byte(line))
	if err == nil || len(err.Error()) > 120 {
		t.Errorf("error for a long field should be truncated: %v", err)
	}
}

func TestAppendCar(t *testing.T) {
	tests := []struct {
		in   Car
		want string
	}{
		{Car{0, 55, 15.277777777777777, 1424951918630}, "(0,55,15.277777777777777,1424951918630)"},
		{Car{1, 50, 100, 0}, "(1,50,100.0,0)"},
		{Car{1, 50, 0, 0}, "(1,50,0.0,0)"},
		{Car{-3, 100, 12345678.9, -1}, "(-3,100,1.23456789E7,-1)"},
		{Car{3, 0, 1e-4, 5}, "(3,0,1.0E-4,5)"},
		{Car{math.MinInt32, math.MaxInt32, math.NaN(), math.MinInt64}, "(-2147483648,2147483647,NaN,-9223372036854775808)"},
	}
	for _, tt := range tests {
		if got := string(AppendCar([]byte("> "), tt.in)); got != "> "+tt.want {
			t.Errorf("AppendCar(%+v) = %q, want %q", tt.in, got, "> "+tt.want)
		}
	}
}

func TestCodecNoAlloc(t *testing.T) {
	line := []byte("(0,55,15.277777777777777,1424951918630)")
	buf := make([]byte, 0, 64)
	c := Car{0, 55, 15.277777777777777, 1424951918630}
	if a := testing.AllocsPerRun(100, func() { _, _ = ParseCar(line) }); a != 0 {
		t.Errorf("ParseCar allocates %v times", a)
	}
	if a := testing.AllocsPerRun(100, func() { buf = AppendCar(buf[:0], c) }); a != 0 {
		t.Errorf("AppendCar allocates %v times", a)
	}
}

func ExampleParseCar() {
	c, err := ParseCar([]byte("(0,55,15.277777777777777,1424951918630)"))
	fmt.Printf("%+v %v\n", c, err)
	_, err = ParseCar([]byte("(0,abc,15.2,1424951918630)"))
	fmt.Println(err)
	// Output:
	// {ID:0 Speed:55 Distance:15.277777777777777 Time:1424951918630} <nil>
	// field 2 (speed) "abc": not an integer
}

func ExampleAppendCar() {
	line := AppendCar(nil, Car{ID: 1, Speed: 60, Distance: 100, Time: 1424951918730})
	fmt.Println(string(line))
	// Output: (1,60,100.0,1424951918730)
}

var sinkCar Car

func BenchmarkParseCar(b *testing.B) {
	line := []byte("(0,55,15.277777777777777,1424951918630)")
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		c, err := ParseCar(line)
		if err != nil {
			b.Fatal(err)
		}
		sinkCar = c
	}
}

func BenchmarkAppendCar(b *testing.B) {
	c := Car{0, 55, 15.277777777777777, 1424951918630}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendCar(buf[:0], c)
	}
	b.SetBytes(int64(len(buf)))
}

// carLine draws lines in and around the fast path's form: integers of
// 0 to 20 digits with or without a sign, distances as Java prints them or
// as other literals, and stray characters.
var carLine = rapid.Custom(func(t *rapid.T) string {
	intField := func(label string) string {
		sign := rapid.SampledFrom([]string{"", "", "-", "+"}).Draw(t, label+"sign")
		return sign + rapid.StringOfN(rapid.RuneFrom([]rune("0123456789")), 0, 20, -1).Draw(t, label)
	}
	dist := rapid.OneOf(
		rapid.Custom(func(t *rapid.T) string {
			return javafmt.FormatDouble(rapid.Float64Range(-1e9, 1e9).Draw(t, "d"))
		}),
		rapid.Custom(func(t *rapid.T) string {
			return javafmt.FormatDouble(math.Float64frombits(rapid.Uint64().Draw(t, "bits")))
		}),
		rapid.SampledFrom([]string{"", " 1.5 ", "1.5d", "0x1p3", "NaN", "1e400", "-0.0", ".5", "5.", "1,2", "1e-400"}),
	).Draw(t, "dist")
	fields := []string{intField("id"), intField("speed"), dist, intField("time")}
	if rapid.IntRange(0, 9).Draw(t, "short") == 0 {
		fields = fields[:rapid.IntRange(0, 3).Draw(t, "nfields")]
	}
	line := "(" + strings.Join(fields, ",") + ")"
	switch rapid.IntRange(0, 9).Draw(t, "tail") {
	case 0:
		line += "\r"
	case 1:
		line += rapid.SampledFrom([]string{" ", "\n", "\r\r", ",", "x"}).Draw(t, "junk")
	case 2:
		line = line[:rapid.IntRange(0, len(line)).Draw(t, "cut")]
	}
	return line
})

// checkParseCarFast compares ParseCar, and parseCarFast where it applies,
// with the general parser: the same car (distance bits included) or the
// same error.
func checkParseCarFast(t interface{ Fatalf(string, ...any) }, line string) {
	want, werr := parseCarGeneral([]byte(line))
	same := func(c Car) bool {
		return c.ID == want.ID && c.Speed == want.Speed && c.Time == want.Time &&
			math.Float64bits(c.Distance) == math.Float64bits(want.Distance)
	}
	if c, ok := parseCarFast([]byte(line)); ok && (werr != nil || !same(c)) {
		t.Fatalf("parseCarFast(%q) = %+v; general parser %+v, %v", line, c, want, werr)
	}
	if c, ok := parseCarWords([]byte(line)); ok && (werr != nil || !same(c)) {
		t.Fatalf("parseCarWords(%q) = %+v; general parser %+v, %v", line, c, want, werr)
	}
	got, gerr := ParseCar([]byte(line))
	if !same(got) || fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("ParseCar(%q) = %+v, %v; general parser %+v, %v", line, got, gerr, want, werr)
	}
}

func TestParseCarFastMatchesGeneral(t *testing.T) {
	for _, s := range []string{
		// around parseCarWords' limits: field lengths, the 24-byte minimum
		"(1234567,1234567,1234567.1,1424951918630)", "(12345678,1,1.5,1424951918630)",
		"(1,12345678,1.5,1424951918630)", "(1,1,12345678.5,1424951918630)",
		"(1,2,3.1234567,1424951918630)", "(1,2,3.12345678,1424951918630)", "(1,2,3.123456789012345,1)",
		"(1,2,3.1234567890123456,1)", "(1,2,3.12345678901234567,1)", "(1,2,3.1234567890123456,12345678)",
		"(1,2,1234.123456789012345,1)", "(1,2,3.5,1234567812345678)", "(1,2,3.5,12345678123456789)",
		"(1,2,3.5,123456789)", "(1,2,3.5,12345678)", "(0,0,0.0,0000000000000)", "(007,08,09.90,0001)",
		"(1,2,3.5,1424951918630)\r", "(1,2,3.5,1424951918630))", "(1,2,3.5,14249519,8630)",
		"(1,2,3.5,1424951918630", "(1,2,3..5,1424951918630)", "(1,2,.5,14249519186300)",
		"(1,2,5.,14249519186300)", "(1,,2.5,1424951918630)", "(,1,2.5,1424951918630)",
		"(1,2,3.5,)", "(1,2,3.5,1424951918630,)", "(1,2,3.5e1,142495191863)", "(1,2,-3.5,1424951918630)",
		"(1,2,3.5,-1424951918630)", "(1,-2,3.5,1424951918630)", "(-1,2,3.5,1424951918630)",
		"(1:2,3.5,1424951918630000)", "(1,2,3.5,1424951918630)\n", "(1,2,3.5,14249519/8630)",
		"(0,55,15.277777777777777,1424951918630)", "(999999999,-999999999,1.0,999999999999999999)",
		"(1000000000,0,1.0,1)", "(2147483648,0,1.0,1)", "(0,0,1.0,9223372036854775808)",
		"(-,0,1.0,1)", "(0,0,1.0,-)", "(0,0,,1)", "(0,0,1.0,1,)", "(0,0,1.0,1)\r", "(0,0,1.0,1)\n",
	} {
		checkParseCarFast(t, s)
	}
	rapid.Check(t, func(t *rapid.T) { checkParseCarFast(t, carLine.Draw(t, "line")) })
	rapid.Check(t, func(t *rapid.T) { checkParseCarFast(t, wordsLine.Draw(t, "line")) })
}

// wordsLine draws lines of unsigned fields with lengths around
// parseCarWords' limits, sometimes with one byte replaced.
var wordsLine = rapid.Custom(func(t *rapid.T) string {
	digits := func(label string, max int) string {
		return rapid.StringOfN(rapid.RuneFrom([]rune("0123456789")), 0, max, -1).Draw(t, label)
	}
	line := []byte("(" + digits("id", 9) + "," + digits("speed", 9) + "," + digits("int", 9) + "." +
		digits("frac", 18) + "," + digits("time", 18) + ")")
	if rapid.Bool().Draw(t, "corrupt") {
		line[rapid.IntRange(0, len(line)-1).Draw(t, "at")] = rapid.SampledFrom([]byte("(),.-+e\r 0x")).Draw(t, "by")
	}
	return string(line)
})

// TestParseCarWordsTakesTheJobsLines checks that the word-at-a-time parser
// is the one that reads the generator's lines (not a path that never
// runs), on 100,000 of them with its results checked by the general parser.
func TestParseCarWordsTakesTheJobsLines(t *testing.T) {
	g, err := NewGenerator(GeneratorConfig{Cars: 1000, Synthetic: true, Seed: 7, StartTime: time.UnixMilli(1424951918630), Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]Car, 100_000)
	if _, err := g.Read(context.Background(), buf); err != nil {
		t.Fatal(err)
	}
	for _, c := range buf {
		line := AppendCar(nil, c)
		got, ok := parseCarWords(line)
		if !ok {
			t.Fatalf("parseCarWords(%q) declined a generator line", line)
		}
		if got != c {
			t.Fatalf("parseCarWords(%q) = %+v, want %+v", line, got, c)
		}
	}
}

func FuzzParseCarFast(f *testing.F) {
	f.Add("(0,55,15.277777777777777,1424951918630)")
	f.Add("(-1,+5,-0.0,-7)\r")
	f.Add("(2147483647,-2147483648,1.0E7,9223372036854775807)")
	f.Fuzz(func(t *testing.T, line string) { checkParseCarFast(t, line) })
}

// BenchmarkParseCarPaths compares ParseCar with its general parser on the
// generator's lines.
func BenchmarkParseCarPaths(b *testing.B) {
	g, err := NewGenerator(GeneratorConfig{Cars: 1000, Synthetic: true, StartTime: time.UnixMilli(1424951918630), Interval: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]Car, 1024)
	if _, err := g.Read(context.Background(), buf); err != nil {
		b.Fatal(err)
	}
	lines := make([][]byte, len(buf))
	for i, c := range buf {
		lines[i] = AppendCar(nil, c)
	}
	for _, p := range []struct {
		name string
		fn   func([]byte) (Car, error)
	}{{"ParseCar", ParseCar}, {"general", parseCarGeneral}} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				c, err := p.fn(lines[i&1023])
				if err != nil {
					b.Fatal(err)
				}
				sinkCar = c
			}
		})
	}
}
