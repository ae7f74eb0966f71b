package wordcount_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/examples/wordcount/wordcount"
	"github.com/topspeed/topspeed/source"
	"github.com/topspeed/topspeed/tester"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func job(t testing.TB, cfg wordcount.Config) func(engine.Stream[string]) engine.Stream[wordcount.Count] {
	return func(lines engine.Stream[string]) engine.Stream[wordcount.Count] {
		out, err := wordcount.Build(lines, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

func format(cs []wordcount.Count) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, " ")
}

// The words are a b a a b a a a b: a occurs at positions 1 3 4 6 7 8, b at
// 2 5 9.
var abab = []string{"A b a.", "", "A, b! a a-a", "b"}

func TestCounts(t *testing.T) {
	for _, tc := range []struct {
		cfg  wordcount.Config
		want string
	}{
		// WordCount: every occurrence, with the word's running count.
		{wordcount.Config{}, "(a,1) (b,1) (a,2) (a,3) (b,2) (a,4) (a,5) (a,6) (b,3)"},
		// countWindow(3, 2): every 2nd occurrence of a word, the number of
		// its last 3 occurrences: a#2 -> 2, b#2 -> 2, a#4 -> 3, a#6 -> 3.
		{wordcount.Config{Window: 3, Slide: 2}, "(a,2) (b,2) (a,3) (a,3)"},
		// countWindow(3): every 3rd occurrence, 3: a#3, a#6, b#3.
		{wordcount.Config{Window: 3}, "(a,3) (a,3) (b,3)"},
		{wordcount.Config{Window: 3, Slide: 3}, "(a,3) (a,3) (b,3)"},
		// countWindow(3, 5): a#5 -> 3; b never reaches 5.
		{wordcount.Config{Window: 3, Slide: 5}, "(a,3)"},
		// countWindow(2, 1): every occurrence, min(count, 2).
		{wordcount.Config{Window: 2, Slide: 1}, "(a,1) (b,1) (a,2) (a,2) (b,2) (a,2) (a,2) (a,2) (b,2)"},
		// countWindow(1): every occurrence, 1.
		{wordcount.Config{Window: 1}, "(a,1) (b,1) (a,1) (a,1) (b,1) (a,1) (a,1) (a,1) (b,1)"},
	} {
		for _, bs := range []int{1, 3, 1024} {
			got := format(tester.Run(t, abab, job(t, tc.cfg), tester.WithBatchSize(bs)))
			if got != tc.want {
				t.Errorf("%+v, batch size %d:\n got %s\nwant %s", tc.cfg, bs, got, tc.want)
			}
		}
	}
}

// TestParallelCounts runs both jobs with 4 subtasks over a larger text and
// checks every word's records against a direct computation.
func TestParallelCounts(t *testing.T) {
	vocab := strings.Fields("the quick brown fox jumps over lazy dog and cat THE Dog")
	var lines []string
	var words []string
	for i := range 400 {
		var l []string
		for j := range i % 7 {
			w := vocab[(i*31+j*17)%len(vocab)]
			l = append(l, w)
			words = append(words, strings.ToLower(w))
		}
		lines = append(lines, strings.Join(l, ", "))
	}
	for _, cfg := range []wordcount.Config{{}, {Window: 25, Slide: 10}, {Window: 10}} {
		want := map[string][]wordcount.Count{}
		seen := map[string]int64{}
		for _, w := range words {
			seen[w]++
			n := seen[w]
			switch {
			case cfg.Window == 0:
				want[w] = append(want[w], wordcount.Count{Word: w, N: n})
			case cfg.Slide == 0 && n%cfg.Window == 0:
				want[w] = append(want[w], wordcount.Count{Word: w, N: cfg.Window})
			case cfg.Slide > 0 && n%cfg.Slide == 0:
				want[w] = append(want[w], wordcount.Count{Word: w, N: min(n, cfg.Window)})
			}
		}
		got := tester.GroupBy(tester.Run(t, lines, job(t, cfg), tester.WithParallelism(4), tester.WithBatchSize(16)), wordcount.Word)
		if len(got) != len(want) {
			t.Errorf("%+v: %d words, want %d", cfg, len(got), len(want))
		}
		for w, cs := range want {
			if !slices.Equal(got[w], cs) {
				t.Errorf("%+v: %s: got %v, want %v", cfg, w, got[w], cs)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []wordcount.Config{{Window: -1}, {Window: 3, Slide: -1}, {Slide: 2}, {Window: 1 << 40}} {
		if cfg.Validate() == nil {
			t.Errorf("%+v: valid", cfg)
		}
		p := engine.New()
		if _, err := wordcount.Build(engine.FromSource(p, "x", source.NewSlice[string](nil), engine.NoWatermarks[string]()), cfg); err == nil {
			t.Errorf("%+v: Build did not fail", cfg)
		}
	}
}

func TestAppendCount(t *testing.T) {
	if got := string(wordcount.AppendCount([]byte("> "), wordcount.Count{Word: "to", N: 42})); got != "> (to,42)" {
		t.Errorf("got %q", got)
	}
	ns := []int64{0, 1, 9, 10, 99, 100, 101, 999, 1000, 9999, 10000, 12345, 99999, 100000, 1e9, 1e18, math.MaxInt64, -1, -10, math.MinInt64}
	for p := int64(1); p < 1e18; p *= 10 {
		ns = append(ns, p-1, p, p+1, 7*p)
	}
	for _, n := range ns {
		want := fmt.Sprintf("x(w,%d)", n)
		if got := string(wordcount.AppendCount([]byte("x")[:1:1], wordcount.Count{Word: "w", N: n})); got != want {
			t.Errorf("AppendCount(%d) = %q, want %q", n, got, want)
		}
		if got := string(wordcount.AppendCount(make([]byte, 1, 64), wordcount.Count{Word: "w", N: n})[1:]); got != want[1:] {
			t.Errorf("AppendCount(%d) with room = %q, want %q", n, got, want[1:])
		}
	}
}

func TestCountCodec(t *testing.T) {
	var b []byte
	in := []wordcount.Count{{"", 0}, {"word", 1}, {"ünïcode", -5}, {strings.Repeat("x", 300), 1 << 40}}
	for _, c := range in {
		b = wordcount.CountCodec{}.Append(b, c)
	}
	for _, want := range in {
		got, n, err := wordcount.CountCodec{}.Decode(b)
		if err != nil || got != want {
			t.Fatalf("Decode = %v, %v; want %v", got, err, want)
		}
		b = b[n:]
	}
	for _, bad := range [][]byte{nil, {5, 'a'}, {1, 'a'}, {0x80}} {
		if _, _, err := (wordcount.CountCodec{}).Decode(bad); err == nil {
			t.Errorf("Decode(%q) did not fail", bad)
		}
	}
}

// TestCounterCheckpoint snapshots a Counter and restores its state into
// two subtasks (another parallelism), which continue the counts.
func TestCounterCheckpoint(t *testing.T) {
	keys := engine.Keys[wordcount.Token, wordcount.Token]{Key: wordcount.TokenKey, Hash: wordcount.TokenHash, MaxParallelism: 8}
	h := tester.NewHarness(wordcount.NewCounter, keys)
	if err := h.Open(); err != nil {
		t.Fatal(err)
	}
	words := strings.Fields("a b c d e f g h a b a")
	var in []wordcount.Token
	for _, w := range words {
		in = append(in, wordcount.NewToken(w))
	}
	if err := h.Process(in...); err != nil {
		t.Fatal(err)
	}
	st, err := h.Snapshot(1)
	if err != nil {
		t.Fatal(err)
	}
	next := map[string]int64{}
	for sub := range 2 {
		hs := h.Restore(st, tester.OnSubtask(sub, 2))
		if err := hs.Open(); err != nil {
			t.Fatal(err)
		}
		r := hs.KeyGroups()
		var mine, all []wordcount.Token
		for _, w := range []string{"a", "b", "c", "h"} {
			if r.Contains(keys.KeyGroup(wordcount.NewToken(w))) {
				mine = append(mine, wordcount.NewToken(w))
			}
		}
		if err := hs.Process(mine...); err != nil {
			t.Fatal(err)
		}
		// One more of every word of the subtask emits its count.
		for _, w := range strings.Fields("a b c d e f g h") {
			if r.Contains(keys.KeyGroup(wordcount.NewToken(w))) {
				all = append(all, wordcount.NewToken(w))
			}
		}
		hs.TakeOutput()
		if err := hs.Process(all...); err != nil {
			t.Fatal(err)
		}
		for _, c := range hs.Output() {
			next[c.Word] = c.N
		}
	}
	want := map[string]int64{"a": 5, "b": 4, "c": 3, "d": 2, "e": 2, "f": 2, "g": 2, "h": 3}
	if fmt.Sprint(next) != fmt.Sprint(want) {
		t.Errorf("restored and continued: %v, want %v", next, want)
	}
	kg := st.KeyGroups()[0]
	bad := engine.NewKeyedState()
	bad.Put(kg, st.Get(kg)[:len(st.Get(kg))-1])
	if err := h.Restore(bad).Open(); err == nil {
		t.Error("corrupt state restored")
	}
}

// TestConcat reads three sources in order, with an empty one between.
func TestConcat(t *testing.T) {
	srcs := []engine.Source[string]{
		source.NewLinesReader("one", strings.NewReader("l1\nl2\n"), wordcount.ParseLine),
		source.NewSlice[string](nil),
		source.NewLinesReader("two", strings.NewReader("l3"), wordcount.ParseLine),
	}
	got := tester.RunSource(t, wordcount.Concat(srcs...), func(s engine.Stream[string]) engine.Stream[string] { return s })
	if want := []string{"l1", "l2", "l3"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// Errors of the parts surface.
	boom := errors.New("boom")
	failing := source.Func[string](func(context.Context, []string) (int, error) { return 0, boom })
	c := wordcount.Concat(source.NewSlice([]string{"x"}), engine.Source[string](failing))
	if err := c.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	buf := make([]string, 4)
	if n, err := c.Read(context.Background(), buf); n != 1 || err != nil {
		t.Fatalf("first Read = %d, %v", n, err)
	}
	if _, err := c.Read(context.Background(), buf); !errors.Is(err, boom) {
		t.Fatalf("second Read: %v, want boom", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	empty := wordcount.Concat[string]()
	if err := empty.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := empty.Read(context.Background(), buf); err != io.EOF {
		t.Errorf("empty Concat: %v, want EOF", err)
	}
}

func BenchmarkWordCount(b *testing.B) {
	text := strings.Repeat("To be, or not to be,--that is the question:-- Whether 'tis nobler in the mind to suffer\n", 1000)
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for _, cfg := range []wordcount.Config{{}, {Window: 250, Slide: 150}} {
		b.Run(fmt.Sprintf("window=%d", cfg.Window), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				tester.Run(b, lines, job(b, cfg), tester.WithBatchSize(1024))
			}
		})
	}
}
