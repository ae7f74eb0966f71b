package topspeed

import (
	"encoding/binary"
	"math/bits"

	"github.com/topspeed/topspeed/internal/javafmt"
)

// parseCarWords is parseCarFast for the form the job reads almost always,
// "(id,speed,int.frac,time)" with unsigned fields: an id and a speed of 1
// to 7 digits, a distance of 1 to 7 integer and 1 to 16 fraction digits
// (19 in all at most), a time of 1 to 16 digits, an optional '\r', and at
// least 24 bytes. It reads the line eight bytes at a time: finds each
// separator in a word with a bit trick, and converts up to eight digits
// with three multiplications (SWAR, as in Lemire's fast_float), where
// parseCarFast's digit-by-digit loops end on a branch that the CPU
// mispredicts whenever a field's length changes from line to line (the
// distances' do). With decimalToFloat's branch-free rounding, a line of
// S1's file takes 38.6 ns instead of 41 ns, and parsing alone on one core
// went from 19.4 to 20.4 M lines/s; either change alone gained nothing.
// Every byte between the parentheses is checked: it reports false for any
// line not in that form, and ParseCar goes on to parseCarFast.
func parseCarWords(line []byte) (Car, bool) {
	b := withoutCR(line)
	n := len(b)
	if n < 24 || b[0] != '(' || b[n-1] != ')' {
		return Car{}, false
	}
	// id at 1: up to 7 digits, so that the comma is in the word.
	k1 := indexByte8(le64(b, 1), ',')
	if k1 == 0 || k1 == 8 {
		return Car{}, false
	}
	id, ok1 := digits8(headWord(b, 1, k1))
	s := 2 + k1
	k2 := indexByte8(le64(b, s), ',') // s <= 9: s+8 <= n
	if k2 == 0 || k2 == 8 {
		return Car{}, false
	}
	speed, ok2 := digits8(headWord(b, s, k2))
	d := s + k2 + 1 // d <= 17
	if !(ok1 && ok2) || d+8 > n {
		return Car{}, false
	}
	ki := indexByte8(le64(b, d), '.')
	if ki == 0 || ki == 8 {
		return Car{}, false
	}
	ip, ok3 := digits8(headWord(b, d, ki))
	f := d + ki + 1
	if !ok3 || f+8 > n {
		return Car{}, false
	}
	// The fraction: 1 to 7 digits and a comma in the word at f, or 8 to
	// 16 digits over the words at f and f+8.
	var frac uint64
	kf := indexByte8(le64(b, f), ',')
	if kf < 8 {
		var ok bool
		if frac, ok = digits8(headWord(b, f, kf)); kf == 0 || !ok {
			return Car{}, false
		}
	} else {
		if f+17 > n {
			return Car{}, false
		}
		hi, okh := digits8(le64(b, f))
		k := indexByte8(le64(b, f+8), ',')
		lo, okl := uint64(0), true
		switch {
		case k == 8 && b[f+16] == ',':
			lo, okl = digits8(le64(b, f+8))
		case k < 8:
			lo, okl = digits8(tailWord(b, f+8+k, k))
		default:
			return Car{}, false
		}
		if !(okh && okl) {
			return Car{}, false
		}
		kf = 8 + k
		frac = hi*javafmt.Pow10(k) + lo
	}
	if ki+kf > 19 {
		return Car{}, false
	}
	dist, ok := javafmt.DecimalToFloat(ip*javafmt.Pow10(kf)+frac, -kf)
	if !ok {
		return Car{}, false
	}
	// The time: the bytes between the comma at t-1 and the ')' at n-1.
	t := f + kf + 1
	kt := n - 1 - t
	var ts uint64
	switch {
	case kt < 1 || kt > 16:
		return Car{}, false
	case kt <= 8:
		ts, ok = digits8(tailWord(b, n-1, kt))
	default:
		hi, okh := digits8(headWord(b, t, kt-8))
		lo, okl := digits8(tailWord(b, n-1, 8))
		ts, ok = hi*1e8+lo, okh && okl
	}
	if !ok {
		return Car{}, false
	}
	return Car{ID: int32(id), Speed: int32(speed), Distance: dist, Time: int64(ts)}, true
}

const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
	zeros8   = 0x3030303030303030 // "00000000"
)

// le64 reads b[i:i+8] as a little-endian word: b[i] is its lowest byte.
func le64(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[i : i+8]) }

// indexByte8 returns the index of the first byte c in the word w (in
// memory order), or 8 if there is none. The zero-byte test can flag a
// byte above a real match, never below one, so the lowest flag is exact.
func indexByte8(w uint64, c byte) int {
	x := w ^ lowBits*uint64(c)
	return bits.TrailingZeros64((x-lowBits)&^x&highBits) >> 3
}

// digits8 returns the value of the eight digits of w, or false if w holds
// a byte other than '0' to '9'.
func digits8(w uint64) (uint64, bool) {
	if ((w+0x4646464646464646)|(w-zeros8))&highBits != 0 {
		return 0, false
	}
	w -= zeros8
	w = w*10 + w>>8 // each 16-bit lane: two digits' value in its low byte
	w = ((w&0x000000FF000000FF)*(100+1000000<<32) + (w>>16&0x000000FF000000FF)*(1+10000<<32)) >> 32
	return w & 0xFFFFFFFF, true
}

// headWord is the word of the k bytes at b[i:] (1 <= k <= 8, i+8 <=
// len(b)) as digits8 reads them: those bytes on top, '0's below.
func headWord(b []byte, i, k int) uint64 {
	return le64(b, i)<<(64-8*k) | zeros8>>(8*k)
}

// tailWord is the word of the k bytes before b[e] (0 <= k <= 8, e >= 8)
// as digits8 reads them: those bytes on top, '0's below.
func tailWord(b []byte, e, k int) uint64 {
	top := ^uint64(0) << (64 - 8*k)
	return le64(b, e-8)&top | zeros8&^top
}
