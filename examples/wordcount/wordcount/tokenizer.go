package wordcount

import (
	"strings"
	"unsafe"
)

// DefaultInternWords is how many distinct words a Tokenizer interns: more
// than a natural language's vocabulary (S6's Zipf text has 200,000 words).
// Interning one costs ~40 bytes and the word.
const DefaultInternWords = 1 << 20

// Tokenizer splits lines into words exactly like the Tokenizer of Flink's
// WordCount example, value.toLowerCase().split("\\W+") keeping the
// non-empty tokens:
//
//   - the line is lowercased as Java's String.toLowerCase does in a
//     non-Turkic locale;
//   - words are the maximal runs of ASCII letters, digits and '_' (Java's
//     \w without UNICODE_CHARACTER_CLASS); every other character, including
//     every non-ASCII letter, separates words, so "Café" gives "caf".
//
// The only non-ASCII characters whose lowercase contains an ASCII word
// character are U+212A KELVIN SIGN, which lowercases to "k" and so joins
// the word around it, and U+0130 (İ), which lowercases to "i" followed by
// U+0307 (a separator). Invalid UTF-8 separates words, as the replacement
// character Java's decoder produces does.
//
// A Tokenizer interns the words it returns: a word seen before is returned
// as the same string, so tokenizing allocates only for new words (up to
// DefaultInternWords of them; after that every new word is allocated each
// time). Words never share memory with the line. A Tokenizer is not safe
// for concurrent use.
//
// The interned words are in an open-addressing table keyed by a hash that
// Tokenize computes while it scans the word's bytes, so a known word costs
// one probe and one comparison, and no second pass over its bytes.
type Tokenizer struct {
	words internTable
	max   int
	buf   []byte
}

// NewTokenizer returns a Tokenizer that interns up to DefaultInternWords
// words.
func NewTokenizer() *Tokenizer { return NewTokenizerSize(DefaultInternWords) }

// NewTokenizerSize returns a Tokenizer that interns up to n words (n <= 0:
// none).
func NewTokenizerSize(n int) *Tokenizer {
	return &Tokenizer{max: max(n, 0)}
}

// FNV-1a, 64 bits: the hash Tokenize computes byte by byte.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// internTable is an open-addressing (linear probing) set of words with
// their hashes; it doubles at half full.
type internTable struct {
	slots []internSlot
	n     int
}

type internSlot struct {
	h uint64
	w string // "" = empty
}

// find returns the interned word equal to b with hash h, or "" and false.
func (t *internTable) find(h uint64, b []byte) (string, bool) {
	if len(t.slots) == 0 {
		return "", false
	}
	mask := uint64(len(t.slots) - 1)
	for i := (h ^ h>>29) & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.w == "" {
			return "", false
		}
		if s.h == h && s.w == string(b) { // no allocation
			return s.w, true
		}
	}
}

// add interns w (not present) with hash h.
func (t *internTable) add(h uint64, w string) {
	if 2*(t.n+1) > len(t.slots) {
		old := t.slots
		t.slots = make([]internSlot, max(1024, 2*len(old)))
		for _, s := range old {
			if s.w != "" {
				t.put(s)
			}
		}
	}
	t.put(internSlot{h, w})
	t.n++
}

func (t *internTable) put(s internSlot) {
	mask := uint64(len(t.slots) - 1)
	i := (s.h ^ s.h>>29) & mask
	for t.slots[i].w != "" {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

// wordClass classifies ASCII bytes: 0 separates words, 1 is a word byte as
// is, 2 an upper-case letter.
var wordClass = func() (t [128]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = 1
		t[c-'a'+'A'] = 2
	}
	t['_'] = 1
	return t
}()

const (
	kelvin      = "\u212a" // lowercases to 'k'
	dottedCapI  = "\u0130" // lowercases to "i\u0307"
	kelvinLead  = 0xe2
	dottedILead = 0xc4
)

// Tokenize calls emit with each word of line, in order.
func (t *Tokenizer) Tokenize(line string, emit func(word string)) {
	start := -1   // start of the current word in line, or -1
	plain := true // the word is line[start:i] unchanged; else it is t.buf
	h := uint64(fnvOffset)
	for i := 0; i < len(line); {
		c := line[i]
		var lc byte // c lowercased if it is a word character, else 0
		width, last := 1, false
		switch {
		case c < 0x80:
			switch wordClass[c] {
			case 1:
				lc = c
			case 2:
				lc = c + ('a' - 'A')
			}
		case c == kelvinLead && strings.HasPrefix(line[i:], kelvin):
			lc, width = 'k', len(kelvin)
		case c == dottedILead && strings.HasPrefix(line[i:], dottedCapI):
			lc, width, last = 'i', len(dottedCapI), true // U+0307 follows the 'i'
		}
		if lc == 0 { // a separator (invalid UTF-8 included)
			if start >= 0 {
				emit(t.word(line, start, i, plain, h))
				start = -1
			}
			i++
			continue
		}
		if start < 0 {
			start, plain, h = i, true, fnvOffset
		}
		h = (h ^ uint64(lc)) * fnvPrime
		if plain && (lc != c || width != 1) {
			t.buf, plain = append(t.buf[:0], line[start:i]...), false
		}
		if !plain {
			t.buf = append(t.buf, lc)
		}
		i += width
		if last {
			emit(t.word(line, start, i, plain, h))
			start = -1
		}
	}
	if start >= 0 {
		emit(t.word(line, start, len(line), plain, h))
	}
}

// word returns the interned word line[start:end] (plain) or t.buf, whose
// FNV-1a hash is h.
func (t *Tokenizer) word(line string, start, end int, plain bool, h uint64) string {
	b := t.buf
	if plain {
		b = unsafe.Slice(unsafe.StringData(line[start:]), end-start) // read only
	}
	if w, ok := t.words.find(h, b); ok {
		return w
	}
	w := string(b) // a copy: words never share the line's memory
	if t.words.n < t.max {
		t.words.add(h, w)
	}
	return w
}

// Tokenize returns the words of line, like Tokenizer.Tokenize (without
// interning), for convenience.
func Tokenize(line string) []string {
	var words []string
	NewTokenizerSize(0).Tokenize(line, func(w string) { words = append(words, w) })
	return words
}
