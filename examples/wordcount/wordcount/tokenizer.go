package wordcount

import "strings"

// DefaultInternWords is how many distinct words a Tokenizer interns.
const DefaultInternWords = 1 << 17

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
type Tokenizer struct {
	words map[string]string
	max   int
	buf   []byte
}

// NewTokenizer returns a Tokenizer that interns up to DefaultInternWords
// words.
func NewTokenizer() *Tokenizer { return NewTokenizerSize(DefaultInternWords) }

// NewTokenizerSize returns a Tokenizer that interns up to n words (n <= 0:
// none).
func NewTokenizerSize(n int) *Tokenizer {
	return &Tokenizer{words: make(map[string]string), max: max(n, 0)}
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
				emit(t.word(line, start, i, plain))
				start = -1
			}
			i++
			continue
		}
		if start < 0 {
			start, plain = i, true
		}
		if plain && (lc != c || width != 1) {
			t.buf, plain = append(t.buf[:0], line[start:i]...), false
		}
		if !plain {
			t.buf = append(t.buf, lc)
		}
		i += width
		if last {
			emit(t.word(line, start, i, plain))
			start = -1
		}
	}
	if start >= 0 {
		emit(t.word(line, start, len(line), plain))
	}
}

// word returns the interned word line[start:end] (plain) or t.buf.
func (t *Tokenizer) word(line string, start, end int, plain bool) string {
	if plain {
		s := line[start:end]
		if w, ok := t.words[s]; ok {
			return w
		}
		return t.intern(strings.Clone(s))
	}
	if w, ok := t.words[string(t.buf)]; ok { // no allocation
		return w
	}
	return t.intern(string(t.buf))
}

func (t *Tokenizer) intern(w string) string {
	if len(t.words) < t.max {
		t.words[w] = w
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
