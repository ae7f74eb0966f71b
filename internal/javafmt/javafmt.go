// Package javafmt formats and parses float64 values the way Java's
// Double.toString and Double.parseDouble do, so that topspeed's text output
// is byte-for-byte identical to a Flink job's and its input syntax matches.
//
// Formatting follows the JDK 19+ specification of Double.toString (the
// Raffaello Giulietti algorithm): the shortest decimal that rounds to the
// value, the closest one if there are several, laid out in plain notation for
// 1e-3 <= |x| < 1e7 and in "computerized scientific notation" otherwise.
// Older JDKs sometimes printed one more digit than necessary; those outputs
// are not reproduced.
package javafmt

import (
	"errors"
	"math"
	"math/bits"
	"strconv"
	"unsafe"
)

// FormatDouble returns Java's Double.toString(f): for example "125.0",
// "15.277777777777777", "0.001", "1.0E7", "1.0E-4", "-0.0", "NaN",
// "Infinity".
func FormatDouble(f float64) string {
	var buf [32]byte
	return string(AppendDouble(buf[:0], f))
}

// AppendDouble appends Java's Double.toString(f) to dst and returns the
// extended slice. It does not allocate unless dst must grow.
//
// Finite values with 1e-3 <= |f| < 1e7 are written as plain decimals with at
// least one fractional digit ("100.0", "0.001", "9999999.0"); other finite
// values in computerized scientific notation: a digit, a point, at least one
// more digit, "E" and the decimal exponent without a plus sign ("1.0E7",
// "1.2345678E8", "-3.0E-5", "4.9E-324"). Zeros are "0.0" and "-0.0", and
// the special values "NaN", "Infinity" and "-Infinity".
func AppendDouble(dst []byte, f float64) []byte {
	// Fast path for the plain range: integers as integers plus ".0",
	// other values as strconv's shortest plain decimal, which has the same
	// digits as the general path (fuzzed against it in the tests).
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		if a == math.Trunc(a) {
			dst = strconv.AppendInt(dst, int64(f), 10)
			return append(dst, ".0"...)
		}
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	return appendDoubleGeneral(dst, f)
}

// appendDoubleGeneral is AppendDouble for every value: it takes strconv's
// shortest digits in scientific form apart and lays them out as Java does.
func appendDoubleGeneral(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}

	// Shortest round-trip digits in the form [-]d[.ddd]e±XX.
	var tmp [32]byte
	s := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64)
	digits, exp, neg := splitE(s)
	if len(digits) == 1 && math.Abs(f) < 0x1p-1022 {
		// Java considers two-digit decimals as well when a single digit
		// suffices and picks the closest one (Double.MIN_VALUE is
		// "4.9E-324", not "5.0E-324"). Only subnormals have so few
		// significant bits that another two-digit decimal can round to f.
		var tmp2 [32]byte
		s2 := strconv.AppendFloat(tmp2[:0], f, 'e', 1, 64)
		if g, err := strconv.ParseFloat(unsafe.String(&s2[0], len(s2)), 64); err == nil && g == f {
			d2, e2, _ := splitE(s2)
			if d2[1] != '0' {
				digits, exp = d2, e2
			}
		}
	}
	if neg {
		dst = append(dst, '-')
	}

	// Plain notation for 1e-3 <= |f| < 1e7, i.e. decimal exponent -3..6.
	if exp >= -3 && exp < 7 {
		if exp < 0 {
			dst = append(dst, "0."...)
			for i := exp + 1; i < 0; i++ {
				dst = append(dst, '0')
			}
			return append(dst, digits...)
		}
		intLen := exp + 1
		if len(digits) <= intLen {
			dst = append(dst, digits...)
			for i := len(digits); i < intLen; i++ {
				dst = append(dst, '0')
			}
			return append(dst, ".0"...)
		}
		dst = append(dst, digits[:intLen]...)
		dst = append(dst, '.')
		return append(dst, digits[intLen:]...)
	}

	// Computerized scientific notation.
	dst = append(dst, digits[0], '.')
	if len(digits) > 1 {
		dst = append(dst, digits[1:]...)
	} else {
		dst = append(dst, '0')
	}
	dst = append(dst, 'E')
	return strconv.AppendInt(dst, int64(exp), 10)
}

// splitE takes strconv's 'e' format ([-]d[.ddd]e±dd) apart. digits is a
// slice of s with the decimal point removed in place.
func splitE(s []byte) (digits []byte, exp int, neg bool) {
	if s[0] == '-' {
		neg = true
		s = s[1:]
	}
	e := len(s) - 1
	for s[e] != 'e' {
		e--
	}
	mant := s[:e]
	if len(mant) > 2 { // d.ddd: drop the point
		copy(mant[1:], mant[2:])
		mant = mant[:len(mant)-1]
	}
	x := 0
	for _, c := range s[e+2:] {
		x = x*10 + int(c-'0')
	}
	if s[e+1] == '-' {
		x = -x
	}
	return mant, x, neg
}

// Errors returned by ParseDouble, wrapped in a *NumError.
var (
	// ErrSyntax reports text that is not a Java floating-point literal.
	ErrSyntax = errors.New("not a number")
	// ErrNotFinite reports "NaN", "Infinity" or a value too large for a
	// float64 (which Java would turn into Infinity).
	ErrNotFinite = errors.New("not a finite number")
)

// NumError is the error ParseDouble returns.
type NumError struct {
	// Input is the text that failed to parse (truncated when very long).
	Input string
	// Err is ErrSyntax or ErrNotFinite.
	Err error
}

// Error implements error: `"abc": not a number`.
func (e *NumError) Error() string {
	return strconv.Quote(e.Input) + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *NumError) Unwrap() error { return e.Err }

// maxErrInput bounds the input text kept in a NumError.
const maxErrInput = 64

func numError(b []byte, err error) error {
	if len(b) > maxErrInput {
		return &NumError{Input: string(b[:maxErrInput]) + "...", Err: err}
	}
	return &NumError{Input: string(b), Err: err}
}

// ParseDouble parses b with the syntax of Java's Double.parseDouble and
// returns the nearest float64. It accepts leading and trailing characters
// <= ' ' (Java's String.trim), an optional sign, decimal digits with an
// optional fraction (".5" and "5." included), an optional exponent ("1.0E7",
// "1e-4", "2E+3"), hexadecimal literals with a binary exponent ("0x1.8p3")
// and an optional trailing type suffix d, D, f or F. Unlike Java it rejects
// "NaN", "Infinity" and literals that overflow to infinity, with an error
// wrapping ErrNotFinite; other malformed input gives an error wrapping
// ErrSyntax. Values too small for a float64 round to zero, as in Java.
// ParseDouble does not allocate unless it fails.
func ParseDouble(b []byte) (float64, error) {
	if f, ok := parseDecimalFast(b); ok {
		return f, nil
	}
	return parseDoubleGeneral(b)
}

// parseDoubleGeneral is ParseDouble for every input; ParseDouble tries
// parseDecimalFast first.
func parseDoubleGeneral(b []byte) (float64, error) {
	orig := b
	for len(b) > 0 && b[0] <= ' ' {
		b = b[1:]
	}
	for len(b) > 0 && b[len(b)-1] <= ' ' {
		b = b[:len(b)-1]
	}
	body := b
	if len(body) > 0 && (body[0] == '+' || body[0] == '-') {
		body = body[1:]
	}
	if string(body) == "NaN" || string(body) == "Infinity" {
		return 0, numError(orig, ErrNotFinite)
	}
	if n := len(b); n > 0 {
		switch b[n-1] {
		case 'd', 'D', 'f', 'F':
			// A type suffix, unless it is the last digit of a hex mantissa
			// (which would lack its mandatory exponent anyway).
			b = b[:n-1]
			body = body[:len(body)-1]
		}
	}
	if !validLiteral(body) {
		return 0, numError(orig, ErrSyntax)
	}
	// strconv copies its input into any error it returns, so handing it
	// the bytes without a copy is safe and keeps ParseDouble allocation-free.
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil {
		if math.IsInf(f, 0) {
			return 0, numError(orig, ErrNotFinite)
		}
		if !errors.Is(err, strconv.ErrRange) {
			return 0, numError(orig, ErrSyntax)
		}
		// Underflow: f is the rounded (zero or subnormal) value, as in Java.
	}
	return f, nil
}

// pow10u holds 10^0 to 10^19, every power of ten below 2^64.
var pow10u = [20]uint64{
	1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
}

// Pow10 returns 10^k for k in [0, 19], for parsers that collect a
// decimal's digits themselves (see DecimalToFloat).
func Pow10(k int) uint64 { return pow10u[k] }

// parseDecimalFast parses all of b if it is a decimal literal of the
// form ParseDecimalPrefix reads; otherwise it reports false and
// ParseDouble takes the general path (whitespace, type suffixes,
// hexadecimal, NaN, long or extreme literals, malformed text).
func parseDecimalFast(b []byte) (float64, bool) {
	f, n, ok := ParseDecimalPrefix(b)
	return f, ok && n == len(b)
}

// ParseDecimalPrefix parses the decimal literal at the start of b in the
// form [+-]digits[.digits][(e|E)[+-]digits], with at least one and at most
// 19 digits before the exponent and a value w*10^e (w the digits as an
// integer) with |e| <= 19, or w*10^e < 2^64 for e > 0. It returns the
// correctly rounded float64, the same as ParseDouble's, and the number of
// bytes read. It reports false when the prefix is not of that form (the
// caller then uses ParseDouble on the field, which takes every literal);
// in particular an exponent must have 1 to 4 digits. It does not allocate.
func ParseDecimalPrefix(b []byte) (f float64, n int, ok bool) {
	i, neg := 0, false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg, i = b[0] == '-', 1
	}
	var w uint64
	nd, frac := 0, 0
	for ; i < len(b) && isDigit(b[i]); i++ {
		w = w*10 + uint64(b[i]-'0')
		nd++
	}
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && isDigit(b[i]); i++ {
			w = w*10 + uint64(b[i]-'0')
			nd++
			frac++
		}
	}
	if nd == 0 || nd > 19 { // no digits, or w may have overflowed
		return 0, 0, false
	}
	exp := -frac
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		e, en, ok := parseExponentFast(b[i+1:])
		if !ok {
			return 0, 0, false
		}
		exp += e
		i += 1 + en
	}
	f, ok = decimalToFloat(w, exp)
	if neg {
		f = -f
	}
	return f, i, ok
}

// parseExponentFast parses the part of an exponent after 'e' or 'E': an
// optional sign and 1 to 4 digits. It returns the exponent and the bytes
// read, or false (also when more digits follow).
func parseExponentFast(b []byte) (e, n int, ok bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg, n = b[0] == '-', 1
	}
	start := n
	for ; n < len(b) && isDigit(b[n]); n++ {
		e = e*10 + int(b[n]-'0')
		if n-start == 4 {
			return 0, 0, false
		}
	}
	if n == start {
		return 0, 0, false
	}
	if neg {
		e = -e
	}
	return e, n, true
}

// DecimalToFloat returns w*10^exp correctly rounded (to nearest, ties to
// even) when |exp| <= 19 and, for exp > 0, w*10^exp < 2^64; otherwise
// false. It is ParseDecimalPrefix's last step, for parsers that collect
// the digits themselves.
func DecimalToFloat(w uint64, exp int) (float64, bool) { return decimalToFloat(w, exp) }

// decimalToFloat returns w*10^exp correctly rounded (to nearest, ties to
// even) when |exp| <= 19 and, for exp > 0, w*10^exp < 2^64; otherwise false.
// Go's integer to float conversion rounds correctly; so does a float64
// division of exact operands (w < 2^53, Clinger's fast path); a larger w is
// divided in 128-bit integers with 62 or more quotient bits and the
// remainder as the sticky bit, so its rounding is exact too.
func decimalToFloat(w uint64, exp int) (float64, bool) {
	switch {
	case w == 0:
		return 0, true
	case exp >= 0:
		if exp > 19 {
			return 0, false
		}
		hi, lo := bits.Mul64(w, pow10u[exp])
		return float64(lo), hi == 0
	case exp < -19:
		return 0, false
	}
	// One path for every w, without branches on the data: a branch
	// between Clinger's fast path (w < 2^53: float64(w) / 1e-exp, exact
	// operands and one correctly rounded division) and this one went
	// either way for the job's distances (16 or 17 digits), and its
	// mispredictions cost more than the division: 12.4 ns a distance of
	// S1's file against 6.3 ns for one repeated.
	d := pow10u[-exp]
	// q = floor(w*2^s / d) lies in [2^62, 2^64): s = 63 - len(w) + len(d),
	// between 3 and 126. Shift counts are unsigned, so a count of 64 or
	// more (a negative int converted) gives 0: hi:lo = w << s either way.
	s := uint(63 - bits.Len64(w) + bits.Len64(d))
	hi, lo := w>>(64-s)|w<<(s-64), w<<s
	q, r := bits.Div64(hi, lo, d)
	drop := uint(bits.Len64(q) - 53) // 10 or 11 bits below the mantissa
	m := q >> drop
	rest, half := q&(1<<drop-1), uint64(1)<<(drop-1)
	// Round to nearest, ties to even, in arithmetic rather than branches
	// (rest and half are below 2^11): up = rest > half || rest == half &&
	// (r != 0 || m is odd).
	gt := (half - rest) >> 63
	eq := ((rest ^ half) - 1) >> 63
	nonzero := (r | -r) >> 63
	if m += gt | eq&(nonzero|m&1); m == 1<<53 {
		m >>= 1
		drop++
	}
	// f = m * 2^(drop-s), m in [2^52, 2^53), always a normal number here.
	biased := uint64(int(drop) - int(s) + 52 + 1023)
	return math.Float64frombits(biased<<52 | m&(1<<52-1)), true
}

// validLiteral reports whether b (sign and suffix removed) is a Java decimal
// or hexadecimal floating-point literal. strconv.ParseFloat accepts a
// superset (underscores, "inf", ...), so the grammar is checked here.
func validLiteral(b []byte) bool {
	if len(b) > 1 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		return validHex(b[2:])
	}
	i, digits := 0, 0
	for i < len(b) && isDigit(b[i]) {
		i++
		digits++
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && isDigit(b[i]) {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i == len(b) {
		return true
	}
	if b[i] != 'e' && b[i] != 'E' {
		return false
	}
	return validExponent(b[i+1:])
}

func validHex(b []byte) bool {
	i, digits := 0, 0
	for i < len(b) && isHex(b[i]) {
		i++
		digits++
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && isHex(b[i]) {
			i++
			digits++
		}
	}
	if digits == 0 || i == len(b) || (b[i] != 'p' && b[i] != 'P') {
		return false
	}
	return validExponent(b[i+1:])
}

func validExponent(b []byte) bool {
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}
