package wordcount_test

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unsafe"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/examples/wordcount/wordcount"
	"github.com/topspeed/topspeed/source"
)

// The expected words of the non-ASCII cases were produced by Flink 1.20's
// WordCount example reading the same text from a UTF-8 file.
var tokenCases = []struct {
	line string
	want []string
}{
	{"", nil},
	{"   ,.;  ", nil},
	{"To be, or not to be,--that is the question:--", []string{"to", "be", "or", "not", "to", "be", "that", "is", "the", "question"}},
	{"Whether 'tis nobler", []string{"whether", "tis", "nobler"}},
	{"snake_case x2 42nd TO-DO _", []string{"snake_case", "x2", "42nd", "to", "do", "_"}},
	{"a\tb\r\nc\x00d", []string{"a", "b", "c", "d"}},
	{"Naïve CAFÉ_au_lait", []string{"na", "ve", "caf", "_au_lait"}},
	{"İstanbul \u212aelvin \u01c5emal STRASSE straße", []string{"i", "stanbul", "kelvin", "emal", "strasse", "stra", "e"}},
	{"x\xffy \xe2\x84A ΣΑΣ ＦＵＬＬ İİ aİb K\u212aK", []string{"x", "y", "a", "i", "i", "ai", "b", "kkk"}},
	{"\xf0\u212az ǰ ﬀ Ǆ Å ȺB", []string{"kz", "b"}},
}

func TestTokenize(t *testing.T) {
	tok := wordcount.NewTokenizer()
	for _, tc := range tokenCases {
		if got := wordcount.Tokenize(tc.line); !slices.Equal(got, tc.want) {
			t.Errorf("Tokenize(%q) = %q, want %q", tc.line, got, tc.want)
		}
		var got []string
		tok.Tokenize(tc.line, func(w string) { got = append(got, w) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("interning Tokenizer(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}

// javaTokens is a direct transcription of Flink's tokenizer:
// line.toLowerCase().split("\\W+"), dropping empty tokens. Go's \W, like
// Java's without UNICODE_CHARACTER_CLASS, is [^0-9A-Za-z_].
func javaTokens(line string) []string {
	var b strings.Builder
	for _, r := range line { // invalid UTF-8 becomes U+FFFD, as in Java's decoder
		if r == '\u0130' {
			b.WriteString("i\u0307") // String.toLowerCase's special casing
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	var words []string
	for _, w := range nonWord.Split(b.String(), -1) {
		if w != "" {
			words = append(words, w)
		}
	}
	return words
}

var nonWord = regexp.MustCompile(`\W+`)

func TestTokenizeMatchesJavaTranscription(t *testing.T) {
	pieces := []string{"a", "Z", "q", "0", "_", " ", ",", "-", "'", "\t", "\r", "é", "É", "İ", "\u212a", "ß", "Σ",
		"\xff", "\xe2\x84", "\xc4", "\xf0", "ǅ", "ＡＢ", "\u0307", "Kelvin", "WORD", "word"}
	rng := rand.New(rand.NewPCG(7, 7))
	tok := wordcount.NewTokenizerSize(8) // small, to exercise a full intern table
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		line := b.String()
		want := javaTokens(line)
		var got []string
		tok.Tokenize(line, func(w string) { got = append(got, w) })
		if !slices.Equal(got, want) {
			t.Fatalf("Tokenize(%q) = %q, want %q", line, got, want)
		}
	}
}

// TestOnlyTwoNonASCIILowercaseToASCII backs the Tokenizer's shortcut: every
// other non-ASCII character is a separator.
func TestOnlyTwoNonASCIILowercaseToASCII(t *testing.T) {
	var found []rune
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		if l := unicode.ToLower(r); l < 0x80 {
			found = append(found, r)
		}
	}
	if want := []rune{'\u0130', '\u212a'}; !slices.Equal(found, want) {
		t.Fatalf("non-ASCII runes lowercasing to ASCII: %U, want %U", found, want)
	}
}

func TestTokenizerInterns(t *testing.T) {
	tok := wordcount.NewTokenizer()
	line := "The cat and THE dog, the end"
	var first []string
	tok.Tokenize(line, func(w string) { first = append(first, w) })
	// Known words come back as the same string, from any spelling.
	if !same(first[0], first[3]) || !same(first[0], first[5]) {
		t.Errorf("\"the\" not interned: %q", first)
	}
	allocs := testing.AllocsPerRun(100, func() {
		tok.Tokenize(line, func(string) {})
	})
	if allocs != 0 {
		t.Errorf("tokenizing known words: %v allocations, want 0", allocs)
	}
	// Words never point into the line, so they do not keep it alive.
	line = "fresh words here"
	lo := uintptr(unsafe.Pointer(unsafe.StringData(line)))
	tok.Tokenize(line, func(w string) {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(w))); p >= lo && p < lo+uintptr(len(line)) {
			t.Errorf("word %q points into the line", w)
		}
	})
}

func same(a, b string) bool {
	return len(a) > 0 && len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

func BenchmarkTokenize(b *testing.B) {
	line := "To be, or not to be,--that is the question:-- Whether 'tis nobler in the mind to suffer"
	tok := wordcount.NewTokenizer()
	n := 0
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		tok.Tokenize(line, func(string) { n++ })
	}
}

// TestParserTokens: the parse functions of one NewParser give Flink's
// words, each with engine.HashString's hash, and a word made by two of
// them is the same string (the shared Interner).
func TestParserTokens(t *testing.T) {
	pieces := []string{"a", "Z", "q", "0", "_", " ", ",", "İ", "\u212a", "é", "\xe2\x84", "\xc4", "Kelvin", "WORD", "word",
		"longerwordthaneight", "LongerWordThanEight", "abcdefgh", "ABCDEFGHI"}
	rng := rand.New(rand.NewPCG(8, 8))
	newParse := wordcount.NewParser()
	parsers := []source.FlatParse[wordcount.Token]{newParse(), newParse()}
	seen := map[string]string{}
	var toks []wordcount.Token
	for i := range 20000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		line := b.String()
		var err error
		toks, err = parsers[i%2](toks[:0], []byte(line))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tk := range toks {
			got = append(got, tk.Word)
			if tk.Hash != engine.HashString(tk.Word) {
				t.Fatalf("%q: hash %x, want engine.HashString's %x", tk.Word, tk.Hash, engine.HashString(tk.Word))
			}
			if s, ok := seen[tk.Word]; ok && !same(s, tk.Word) {
				t.Fatalf("%q made as two strings", tk.Word)
			}
			seen[tk.Word] = tk.Word
		}
		if want := javaTokens(line); !slices.Equal(got, want) {
			t.Fatalf("parse(%q) = %q, want %q", line, got, want)
		}
	}
}
