package wordcount

import "unsafe"

// DefaultInternWords is how many distinct words a Tokenizer interns: more
// than a natural language's vocabulary (S6's Zipf text has 200,000 words).
// Interning one costs ~70 bytes and the word; the source has one
// Tokenizer per parsing goroutine.
const DefaultInternWords = 1 << 19

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
// time, so memory stays bounded). Words never share memory with the line.
// A Tokenizer is not safe for concurrent use.
//
// The interned words are in an open-addressing table keyed by the word's
// hash (engine.HashString's, which Tokenize computes while it scans the
// word's bytes and returns in the Token) and holding its first 8 bytes, so
// a known word of up to 8 bytes costs one probe and no reading of the
// interned string, and no second pass over its bytes.
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

// FNV-1a, 64 bits: the hash Tokenize computes byte by byte, as
// engine.HashString does before its final mix.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// mix64 is engine.HashString's finalizer (murmur3's fmix64).
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// internTable is an open-addressing (linear probing) set of words with
// their hashes and first bytes; it doubles at half full.
type internTable struct {
	slots []internSlot
	n     int
}

type internSlot struct {
	h   uint64 // engine.HashString(w)
	pre uint64 // w's first 8 bytes, little-endian, zero-padded
	w   string // "" = empty
}

// find returns the interned word equal to b, whose hash is h and first
// bytes pre, or "" and false.
func (t *internTable) find(h, pre uint64, b []byte) (string, bool) {
	if len(t.slots) == 0 {
		return "", false
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.w == "" {
			return "", false
		}
		if s.h == h && s.pre == pre && len(s.w) == len(b) && (len(b) <= 8 || s.w[8:] == string(b[8:])) {
			return s.w, true
		}
	}
}

// add interns w (not present).
func (t *internTable) add(s internSlot) {
	if 2*(t.n+1) > len(t.slots) {
		old := t.slots
		t.slots = make([]internSlot, max(1024, 2*len(old)))
		for _, s := range old {
			if s.w != "" {
				t.put(s)
			}
		}
	}
	t.put(s)
	t.n++
}

func (t *internTable) put(s internSlot) {
	mask := uint64(len(t.slots) - 1)
	i := s.h & mask
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
	var toks [64]Token
	b := unsafe.Slice(unsafe.StringData(line), len(line)) // read only
	for _, tk := range t.AppendTokens(toks[:0], b) {
		emit(tk.Word)
	}
}

// wordScan is the word being scanned: its start in the line, its FNV-1a
// hash, first 8 bytes and length so far (lowercased), and whether it is
// the line's bytes unchanged (else it is in the Tokenizer's buf).
type wordScan struct {
	start    int
	h, pre   uint64
	n        int
	plain    bool
	scanning bool
}

// AppendTokens appends the words of line, in order, to dst and returns
// the extended slice.
func (t *Tokenizer) AppendTokens(dst []Token, line []byte) []Token {
	var w wordScan
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
		case c == kelvinLead && hasPrefix(line[i:], kelvin):
			lc, width = 'k', len(kelvin)
		case c == dottedILead && hasPrefix(line[i:], dottedCapI):
			lc, width, last = 'i', len(dottedCapI), true // U+0307 follows the 'i'
		}
		if lc == 0 { // a separator (invalid UTF-8 included)
			if w.scanning {
				dst = append(dst, t.word(line, i, &w))
				w.scanning = false
			}
			i++
			continue
		}
		if !w.scanning {
			w = wordScan{start: i, h: fnvOffset, plain: true, scanning: true}
		}
		w.h = (w.h ^ uint64(lc)) * fnvPrime
		if w.n < 8 {
			w.pre |= uint64(lc) << (8 * w.n)
		}
		w.n++
		if w.plain && (lc != c || width != 1) {
			t.buf, w.plain = append(t.buf[:0], line[w.start:i]...), false
		}
		if !w.plain {
			t.buf = append(t.buf, lc)
		}
		i += width
		if last {
			dst = append(dst, t.word(line, i, &w))
			w.scanning = false
		}
	}
	if w.scanning {
		dst = append(dst, t.word(line, len(line), &w))
	}
	return dst
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// word returns the Token of the interned word w, which ends at end:
// line[w.start:end] if w.plain, else t.buf.
func (t *Tokenizer) word(line []byte, end int, w *wordScan) Token {
	b := t.buf
	if w.plain {
		b = line[w.start:end]
	}
	h := mix64(w.h)
	if s, ok := t.words.find(h, w.pre, b); ok {
		return Token{Word: s, Hash: h}
	}
	s := string(b) // a copy: words never share the line's memory
	if t.words.n < t.max {
		t.words.add(internSlot{h: h, pre: w.pre, w: s})
	}
	return Token{Word: s, Hash: h}
}

// Tokenize returns the words of line, like Tokenizer.Tokenize (without
// interning), for convenience.
func Tokenize(line string) []string {
	var words []string
	NewTokenizerSize(0).Tokenize(line, func(w string) { words = append(words, w) })
	return words
}
