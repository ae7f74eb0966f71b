package topspeed

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/topspeed/topspeed/internal/javafmt"
)

// ParseError explains why a line is not a car record. ParseCar returns it.
type ParseError struct {
	// Field is the 1-based index of the offending field (1 id, 2 speed,
	// 3 distance, 4 time), or 0 when the line as a whole is malformed.
	Field int
	// Value is the offending text (the field, or the line when Field is 0),
	// truncated when long.
	Value string
	// Reason says what is wrong, e.g. "not an integer".
	Reason string
}

// fieldNames are the names ParseError uses for fields 1 to 4.
var fieldNames = [...]string{"", "id", "speed", "distance", "time"}

// Error implements error, e.g. `field 2 (speed) "abc": not an integer` or
// `want 4 comma-separated fields, got 3: "(1,2,3.0)"`.
func (e *ParseError) Error() string {
	if e.Field == 0 {
		return fmt.Sprintf("%s: %q", e.Reason, e.Value)
	}
	return fmt.Sprintf("field %d (%s) %q: %s", e.Field, fieldNames[e.Field], e.Value, e.Reason)
}

// maxErrValue bounds the text kept in a ParseError.
const maxErrValue = 64

func parseError(field int, value []byte, reason string) error {
	v := string(value[:min(len(value), maxErrValue)])
	if len(value) > maxErrValue {
		v += "..."
	}
	return &ParseError{Field: field, Value: v, Reason: reason}
}

// ParseCar parses one line of Flink's TopSpeedWindowing text input, which is
// also the output of Tuple4.toString: "(carId,speed,distance,timestamp)",
// for example "(0,55,15.277777777777777,1424951918630)".
//
// Flink drops the first and last character, splits on commas and parses the
// fields with Integer.valueOf, Integer.valueOf, Double.valueOf and
// Long.valueOf. ParseCar accepts the same records, but more strictly:
//   - the line must start with '(' and end with ')' (a single trailing '\r'
//     is ignored), where Flink drops any two characters;
//   - there must be exactly four fields, where Flink ignores extra fields
//     and trailing empty ones;
//   - id and speed are ASCII decimal int32 values with an optional sign and
//     no spaces, time likewise an int64 (Java also takes non-ASCII digits);
//   - distance uses Double.valueOf's syntax (surrounding whitespace, "1.0E7",
//     a trailing 'd', ... see javafmt.ParseDouble), but NaN and infinite
//     values are rejected.
//
// Blank lines are errors, as in Flink. The error is a *ParseError. ParseCar
// does not allocate unless it fails, and does not retain line.
//
// The job's form, "(id,speed,int.frac,time)" with short unsigned fields,
// is read eight bytes at a time (parseCarWords); the common form with
// short unsigned or negative integers in one pass (parseCarFast); anything
// else, errors included, goes through the general parser, whose results
// the fast ones match (fuzzed in the tests).
func ParseCar(line []byte) (Car, error) {
	if c, ok := parseCarWords(line); ok {
		return c, nil
	}
	if c, ok := parseCarFast(line); ok {
		return c, nil
	}
	return parseCarGeneral(line)
}

// parseCarFast parses "(id,speed,distance,time)" with an optional '\r',
// ids and speeds of at most 9 digits and times of at most 18 (so that none
// can overflow), an optional '-' and no '+' or spaces, and a distance that
// javafmt.ParseDecimalPrefix reads (the form Java prints). It reports false
// for any other line.
func parseCarFast(line []byte) (Car, bool) {
	line = withoutCR(line)
	n := len(line)
	if n < 2 || line[0] != '(' || line[n-1] != ')' {
		return Car{}, false
	}
	b := line[1 : n-1]
	id, b, ok := fastInt(b, 9)
	if !ok || len(b) == 0 || b[0] != ',' {
		return Car{}, false
	}
	speed, b, ok := fastInt(b[1:], 9)
	if !ok || len(b) == 0 || b[0] != ',' {
		return Car{}, false
	}
	dist, n, ok := javafmt.ParseDecimalPrefix(b[1:])
	if b = b[1+n:]; !ok || len(b) == 0 || b[0] != ',' {
		return Car{}, false
	}
	t, b, ok := fastInt(b[1:], 18)
	if !ok || len(b) != 0 {
		return Car{}, false
	}
	return Car{ID: int32(id), Speed: int32(speed), Distance: dist, Time: t}, true
}

// fastInt reads an optional '-' and 1 to maxDigits decimal digits from the
// start of b and returns the value and the rest of b; ok is false if there
// are no digits or more than maxDigits (maxDigits <= 18: no overflow).
func fastInt(b []byte, maxDigits int) (v int64, rest []byte, ok bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	i := 0
	for ; i < len(b) && b[i]-'0' <= 9; i++ {
		v = v*10 + int64(b[i]-'0')
	}
	if i == 0 || i > maxDigits {
		return 0, nil, false
	}
	if neg {
		v = -v
	}
	return v, b[i:], true
}

// withoutCR returns line without one trailing '\r', which every parser
// ignores (lines ended by "\r\n").
func withoutCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}

// parseCarGeneral is ParseCar for every line, with its errors.
func parseCarGeneral(line []byte) (Car, error) {
	line = withoutCR(line)
	if len(line) == 0 {
		return Car{}, parseError(0, line, "empty line")
	}
	if len(line) < 2 || line[0] != '(' || line[len(line)-1] != ')' {
		return Car{}, parseError(0, line, "want a record in parentheses")
	}
	inner := line[1 : len(line)-1]
	var fields [4][]byte
	nf := 0
	start := 0
	for i := 0; i <= len(inner); i++ {
		if i < len(inner) && inner[i] != ',' {
			continue
		}
		if nf == len(fields) {
			nf++
			break
		}
		fields[nf] = inner[start:i]
		nf++
		start = i + 1
	}
	if nf != len(fields) {
		got := bytes.Count(inner, []byte{','}) + 1
		return Car{}, parseError(0, line, "want 4 comma-separated fields, got "+strconv.Itoa(got))
	}

	var c Car
	id, err := parseInt(fields[0], 32)
	if err != "" {
		return Car{}, parseError(1, fields[0], err)
	}
	speed, err := parseInt(fields[1], 32)
	if err != "" {
		return Car{}, parseError(2, fields[1], err)
	}
	dist, perr := javafmt.ParseDouble(fields[2])
	if perr != nil {
		reason := "not a number"
		if errors.Is(perr, javafmt.ErrNotFinite) {
			reason = "not a finite number"
		}
		return Car{}, parseError(3, fields[2], reason)
	}
	t, err := parseInt(fields[3], 64)
	if err != "" {
		return Car{}, parseError(4, fields[3], err)
	}
	c.ID, c.Speed, c.Distance, c.Time = int32(id), int32(speed), dist, t
	return c, nil
}

// parseInt parses a Java Integer.valueOf / Long.valueOf literal restricted
// to ASCII: an optional sign and at least one decimal digit, no spaces. It
// returns a non-empty reason on failure.
func parseInt(b []byte, bits uint) (int64, string) {
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, "not an integer"
	}
	limit := uint64(1) << (bits - 1) // magnitude of the minimum value
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, "not an integer"
		}
		if v > (limit+9)/10 { // certainly out of range; avoid overflow
			v = limit + 1
			continue
		}
		v = v*10 + uint64(c-'0')
	}
	if v > limit || (!neg && v == limit) {
		if bits == 32 {
			return 0, "out of int32 range"
		}
		return 0, "out of int64 range"
	}
	if neg {
		return -int64(v), ""
	}
	return int64(v), ""
}

// AppendCar appends c as Flink's Tuple4.toString renders it,
// "(0,55,15.277777777777777,1424951918630)", without a newline. The
// distance is written like Java's Double.toString. AppendCar does not
// allocate unless dst must grow.
func AppendCar(dst []byte, c Car) []byte {
	dst = append(dst, '(')
	dst = strconv.AppendInt(dst, int64(c.ID), 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, int64(c.Speed), 10)
	dst = append(dst, ',')
	dst = javafmt.AppendDouble(dst, c.Distance)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, c.Time, 10)
	return append(dst, ')')
}
