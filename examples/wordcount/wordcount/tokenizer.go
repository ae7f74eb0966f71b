package wordcount

import (
	"encoding/binary"
	"sync"
	"unsafe"

	"github.com/topspeed/topspeed/engine"
)

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
	words  internTable
	max    int
	buf    []byte
	shared *Interner // nil: none
	arena  arena
}

// NewTokenizer returns a Tokenizer that interns up to DefaultInternWords
// words.
func NewTokenizer() *Tokenizer { return NewTokenizerSize(DefaultInternWords) }

// NewTokenizerSize returns a Tokenizer that interns up to n words (n <= 0:
// none).
func NewTokenizerSize(n int) *Tokenizer {
	return &Tokenizer{max: max(n, 0)}
}

// Interner is a set of words shared by several Tokenizers (see
// NewSharedTokenizer), so that they all return a word as the same string
// and with the same Token.ID, a number the Counter uses as an index. A
// Tokenizer consults it for every word it has not interned itself, under
// a lock. It holds up to DefaultInternWords words; words beyond them get
// no ID. It is safe for concurrent use.
type Interner struct {
	mu    sync.Mutex
	words map[string]uint32 // IDs: 1, 2, 3, ...
	strs  []string          // by ID
	arena arena
}

// NewInterner returns an empty Interner.
func NewInterner() *Interner { return &Interner{words: map[string]uint32{}} }

// word returns the string of b and its ID: the shared ones, or a new
// string (with an ID if there is room). A word has an ID from its first
// occurrence on, or never.
func (in *Interner) word(b []byte) (string, uint32) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if id, ok := in.words[string(b)]; ok {
		return in.strs[id], id
	}
	if len(in.words) >= DefaultInternWords {
		return string(b), 0
	}
	w := in.arena.str(b)
	if in.strs == nil {
		in.strs = []string{""} // IDs start at 1
	}
	id := uint32(len(in.strs))
	in.strs = append(in.strs, w)
	in.words[w] = id
	return w, id
}

// arena makes the strings of interned words, packed into large blocks so
// that frequent words (which come first) share cache lines.
type arena struct {
	buf []byte
}

const (
	arenaBlock = 64 << 10
	arenaWord  = 256 // longer words get an allocation of their own
)

// str returns a string with b's bytes, which it never changes.
func (a *arena) str(b []byte) string {
	if len(b) == 0 || len(b) > arenaWord {
		return string(b)
	}
	if len(b) > cap(a.buf)-len(a.buf) {
		a.buf = make([]byte, 0, arenaBlock)
	}
	i := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[i], len(b))
}

// NewSharedTokenizer returns a Tokenizer like NewTokenizer that takes the
// strings of the words it interns from in.
func NewSharedTokenizer(in *Interner) *Tokenizer {
	t := NewTokenizer()
	t.shared = in
	return t
}

// FNV-1a, 64 bits: the hash Tokenize computes byte by byte, as
// engine.HashString does before its final mix.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// mix64 is engine.HashString's finalizer, which engine.HashInt64 applies
// to its key.
func mix64(h uint64) uint64 { return engine.HashInt64(int64(h)) }

// internTable is an open-addressing (linear probing) set of words with
// their hashes and first bytes; it doubles at half full. In front of it,
// hot is a direct-mapped cache of the words found last, small enough for
// the CPU's caches: frequent words are found there without a cache miss,
// where the table has one line of memory per word.
type internTable struct {
	slots []internSlot
	n     int
	hot   *[hotWords]internSlot
}

// hotWords is the size of an internTable's cache (32 bytes each).
const hotWords = 1 << 12

// hotIndex is where the word with hash h goes in the cache.
func hotIndex(h uint64) uint64 { return h >> (64 - 12) }

type internSlot struct {
	pre uint64 // w's first 8 bytes, little-endian, zero-padded
	w   string // "" = empty
	h   uint32 // the low half of engine.HashString(w)
	id  uint32 // the Interner's, or 0
}

// find returns the interned word equal to b, whose hash is h and first
// bytes pre, or "" and false.
func (t *internTable) find(h, pre uint64, b []byte) (*internSlot, bool) {
	if len(t.slots) == 0 {
		return nil, false
	}
	hot := &t.hot[hotIndex(h)]
	if hot.matches(h, pre, b) {
		return hot, true
	}
	mask := uint64(len(t.slots) - 1)
	for i := uint64(uint32(h)) & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.w == "" {
			return nil, false
		}
		if s.matches(h, pre, b) {
			*hot = *s
			return s, true
		}
	}
}

// matches reports whether s holds the word b, whose hash is h and first
// bytes pre.
func (s *internSlot) matches(h, pre uint64, b []byte) bool {
	return s.h == uint32(h) && s.pre == pre && len(s.w) == len(b) && (len(b) <= 8 || s.w[8:] == string(b[8:]))
}

// add interns s.w (not present), whose hash is h.
func (t *internTable) add(h uint64, s internSlot) {
	if t.hot == nil {
		t.hot = new([hotWords]internSlot)
	}
	t.hot[hotIndex(h)] = s
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
	i := uint64(s.h) & mask
	for t.slots[i].w != "" {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

// byteClass classifies bytes: 0 separates words, 1 is a word byte as is,
// 2 an upper-case letter, 3 the lead byte of a non-ASCII character that
// may lowercase to a word byte (see kelvin and dottedCapI).
var byteClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = 1
		t[c-'a'+'A'] = 2
	}
	t['_'] = 1
	t[kelvinLead], t[dottedILead] = 3, 3
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

// AppendTokens appends the words of line, in order, to dst and returns
// the extended slice.
//
// A word of ASCII letters, digits and '_' is scanned by a tight loop that
// computes its hash; a word with a non-ASCII character that lowercases to
// a word byte (rare) is scanned again by the general scanWord.
func (t *Tokenizer) AppendTokens(dst []Token, line []byte) []Token {
	for i := 0; i < len(line); {
		switch byteClass[line[i]] {
		case 0:
			i++
			continue
		case 3:
			if special(line[i:]) {
				var tk Token
				tk, i = t.scanWord(line, i)
				dst = append(dst, tk)
			} else {
				i++
			}
			continue
		}
		start, h, upper := i, uint64(fnvOffset), false
	scan:
		for ; i < len(line); i++ {
			switch c := line[i]; byteClass[c] {
			case 1:
				h = (h ^ uint64(c)) * fnvPrime
			case 2:
				h = (h ^ uint64(c+'a'-'A')) * fnvPrime
				upper = true
			default:
				break scan
			}
		}
		if i < len(line) && byteClass[line[i]] == 3 && special(line[i:]) {
			var tk Token
			tk, i = t.scanWord(line, start)
			dst = append(dst, tk)
			continue
		}
		b := line[start:i]
		if upper {
			t.buf = append(t.buf[:0], b...)
			for k, c := range t.buf {
				if byteClass[c] == 2 {
					t.buf[k] = c + 'a' - 'A'
				}
			}
			b = t.buf
		}
		dst = append(dst, t.word(b, h))
	}
	return dst
}

// special reports whether b starts with a non-ASCII character that
// lowercases to a word byte.
func special(b []byte) bool {
	return hasPrefix(b, kelvin) || hasPrefix(b, dottedCapI)
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// scanWord is the general scanner: it scans the word that starts at
// line[start] (a word character, or a character lowercasing to one),
// lowercasing it into t.buf, and returns its Token and the index after it.
func (t *Tokenizer) scanWord(line []byte, start int) (Token, int) {
	h := uint64(fnvOffset)
	t.buf = t.buf[:0]
	i := start
	for i < len(line) {
		c := line[i]
		var lc byte // c lowercased if it is a word character, else 0
		width, last := 1, false
		switch byteClass[c] {
		case 1:
			lc = c
		case 2:
			lc = c + ('a' - 'A')
		case 3:
			switch {
			case hasPrefix(line[i:], kelvin):
				lc, width = 'k', len(kelvin)
			case hasPrefix(line[i:], dottedCapI):
				lc, width, last = 'i', len(dottedCapI), true // U+0307 follows the 'i'
			}
		}
		if lc == 0 { // a separator (invalid UTF-8 included)
			break
		}
		h = (h ^ uint64(lc)) * fnvPrime
		t.buf = append(t.buf, lc)
		i += width
		if last {
			break
		}
	}
	return t.word(t.buf, h), i
}

// prefix8 returns b's first 8 bytes, little-endian, zero-padded.
func prefix8(b []byte) uint64 {
	if len(b) >= 8 {
		return binary.LittleEndian.Uint64(b)
	}
	var p uint64
	for k := len(b) - 1; k >= 0; k-- {
		p = p<<8 | uint64(b[k])
	}
	return p
}

// word returns the Token of the interned word b (lowercased, not empty),
// whose FNV-1a hash is h.
func (t *Tokenizer) word(b []byte, h uint64) Token {
	h = mix64(h)
	pre := prefix8(b)
	if s, ok := t.words.find(h, pre, b); ok {
		return Token{Word: s.w, Hash: h, ID: s.id}
	}
	var s string // a copy: words never share the line's memory
	var id uint32
	switch {
	case t.shared != nil: // even when t is full: the word may have an ID
		s, id = t.shared.word(b)
	case t.words.n >= t.max:
		s = string(b)
	default:
		s = t.arena.str(b)
	}
	if t.words.n < t.max {
		t.words.add(h, internSlot{h: uint32(h), pre: pre, w: s, id: id})
	}
	return Token{Word: s, Hash: h, ID: id}
}

// Tokenize returns the words of line, like Tokenizer.Tokenize (without
// interning), for convenience.
func Tokenize(line string) []string {
	var words []string
	NewTokenizerSize(0).Tokenize(line, func(w string) { words = append(words, w) })
	return words
}
