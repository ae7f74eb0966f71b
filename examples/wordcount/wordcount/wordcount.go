// Package wordcount is Flink's WordCount and WindowWordCount streaming
// examples, built only from topspeed's public packages (engine, window,
// source, sink): the second job of the repository, and a template for
// writing one.
//
// Both jobs split text lines into lower-case words (see Tokenizer) and key
// them by word. WordCount then emits, for every word occurrence, the running
// count of that word: keyBy(word).sum(1). WindowWordCount counts in count
// windows per word, Flink's keyBy(word).countWindow(size, slide).sum(1): per
// word, every slide-th occurrence emits how many of the last size
// occurrences there are, i.e. min(occurrences so far, size).
//
//	p := engine.New()
//	lines := engine.FromSource(p, "text", source.NewLines("in.txt", wordcount.ParseLine), engine.NoWatermarks[string]())
//	counts, err := wordcount.Build(lines, wordcount.Config{Window: 250, Slide: 150})
//	...
//	engine.ToSink(counts, "out", sink.NewFile("-", wordcount.AppendCount))
//	err = p.Run(ctx)
//
// Output records print like Flink's Tuple2.toString: (word,count).
package wordcount

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"unsafe"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/source"
	"github.com/topspeed/topspeed/window"
)

// Count is a word and a count, Flink's Tuple2<String, Integer>.
type Count struct {
	Word string
	N    int64
}

// String returns "(word,n)", like Flink's Tuple2.toString.
func (c Count) String() string { return string(AppendCount(nil, c)) }

// AppendCount appends "(word,n)" to dst; it is the format function for
// sink.NewFile. It writes the digits in place, two at a time.
func AppendCount(dst []byte, c Count) []byte {
	dst = append(dst, '(')
	dst = append(dst, c.Word...)
	if c.N < 0 {
		dst = strconv.AppendInt(append(dst, ','), c.N, 10)
		return append(dst, ')')
	}
	u := uint64(c.N)
	n := decimalLen(u)
	l := len(dst)
	dst = slices.Grow(dst, n+2)[:l+n+2]
	dst[l], dst[l+n+1] = ',', ')'
	i := l + n // the last digit
	for u >= 100 {
		q := u / 100
		r := 2 * (u - 100*q)
		dst[i-1], dst[i] = digitPairs[r], digitPairs[r+1]
		i -= 2
		u = q
	}
	if u >= 10 {
		dst[i-1], dst[i] = digitPairs[2*u], digitPairs[2*u+1]
	} else {
		dst[i] = byte('0' + u)
	}
	return dst
}

const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

// decimalLen returns the number of decimal digits of u.
func decimalLen(u uint64) int {
	n := 1
	for ; u >= 10000; u /= 10000 {
		n += 4
	}
	switch {
	case u >= 1000:
		return n + 3
	case u >= 100:
		return n + 2
	case u >= 10:
		return n + 1
	}
	return n
}

// Token is a word occurrence, the tokenizer's output: the word and its
// key hash, engine.HashString(Word), which the Tokenizer computes while it
// scans the word, so that the key-group exchange and the counter need not
// hash the word again, and the word's number in the job's Interner (see
// NewParser), which the Counter uses as an array index. A Token without
// its ID is its key (TokenKey).
type Token struct {
	Word string
	Hash uint64
	// ID is the word's number in the Interner of the Tokenizer that made
	// the Token, or 0. Every Token of a word made by the Tokenizers of one
	// Interner has the same ID, or all have none. IDs are valid in one
	// process only: they are not part of the key, nor checkpointed.
	ID uint32
}

// NewToken returns w's Token.
func NewToken(w string) Token { return Token{Word: w, Hash: engine.HashString(w)} }

// TokenHash is the hash function of the Token key: its Hash.
func TokenHash(t Token) uint64 { return t.Hash }

// TokenKey is the key function of a Token stream: the Token without its
// ID.
func TokenKey(t Token) Token { return Token{Word: t.Word, Hash: t.Hash} }

// TokenCodec encodes a Token key as engine.StringCodec encodes its word
// (so checkpoints keyed by word read either way); Decode recomputes the
// hash.
type TokenCodec struct{}

// Append implements engine.Codec.
func (TokenCodec) Append(dst []byte, t Token) []byte { return engine.StringCodec{}.Append(dst, t.Word) }

// Decode implements engine.Codec.
func (TokenCodec) Decode(src []byte) (Token, int, error) {
	w, n, err := engine.StringCodec{}.Decode(src)
	if err != nil {
		return Token{}, 0, err
	}
	return NewToken(w), n, nil
}

// ParseLine is the parse function for source.NewLines: a line is a record.
// It never fails.
func ParseLine(line []byte) (string, error) { return string(line), nil }

// NewParser returns a source.FlatParse factory that tokenizes lines in
// the source (source.NewFileLinesFlat): each parse function it makes has a
// Tokenizer of its own, so the source's parsing goroutines tokenize in
// parallel without locking, and all share one Interner, so that a word is
// the same string whichever made it. The parse functions never fail. Use
// one factory for all the sources of a job.
func NewParser() func() source.FlatParse[Token] {
	in := NewInterner()
	return func() source.FlatParse[Token] {
		tok := NewSharedTokenizer(in)
		return func(dst []Token, line []byte) ([]Token, error) { return tok.AppendTokens(dst, line), nil }
	}
}

// Word returns a count's key.
func Word(c Count) string { return c.Word }

// Config selects the job.
type Config struct {
	// Window is the count window size: 0 runs WordCount (a running count per
	// word, no window); n > 0 runs WindowWordCount with countWindow(n, Slide).
	Window int64
	// Slide is how many occurrences of a word between two results of its
	// window; 0 means Window (tumbling count windows, Flink's
	// countWindow(n)). Only with Window > 0.
	Slide int64
}

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Window < 0:
		return fmt.Errorf("wordcount: window %d: must be >= 0", c.Window)
	case c.Slide < 0:
		return fmt.Errorf("wordcount: slide %d: must be >= 0", c.Slide)
	case c.Slide > 0 && c.Window == 0:
		return errors.New("wordcount: a slide needs a window")
	case c.Window > 1<<31-1:
		return fmt.Errorf("wordcount: window %d: too large", c.Window)
	}
	return nil
}

// Build adds the job selected by cfg to a stream of text lines and returns
// the stream of counts: Words, then BuildTokens.
func Build(lines engine.Stream[string], cfg Config) (engine.Stream[Count], error) {
	if err := cfg.Validate(); err != nil {
		return engine.Stream[Count]{}, err
	}
	return BuildTokens(Words(lines), cfg)
}

// BuildTokens adds the job selected by cfg to a stream of words (from
// Words, or a source parsing with NewParse) and returns the stream of
// counts: keyed by word, then RunningCount (Window == 0) or CountWindow
// (keyed by Word and engine.HashString, as before Tokens existed, so its
// checkpoints are unchanged).
func BuildTokens(tokens engine.Stream[Token], cfg Config) (engine.Stream[Count], error) {
	if err := cfg.Validate(); err != nil {
		return engine.Stream[Count]{}, err
	}
	if cfg.Window == 0 {
		return RunningCount(engine.KeyBy(tokens, TokenKey, TokenHash)), nil
	}
	counts := engine.Map(tokens, func(t Token) Count { return Count{Word: t.Word, N: 1} })
	return CountWindow(engine.KeyBy(counts, Word, engine.HashString), cfg.Window, cfg.Slide), nil
}

// Words is the tokenizer stage for a stream of lines: it splits every line
// into words with a Tokenizer. It is chained to its input (no queue, no
// goroutine of its own). Tokenizing in the source (NewParse) is faster: it
// runs on the source's parsing goroutines.
func Words(lines engine.Stream[string]) engine.Stream[Token] {
	// FlatMap's function may be called by several producers at once (when
	// lines come from a parallel stage), so the shared tokenizer is locked.
	// The lock is uncontended after a single source.
	var mu sync.Mutex
	var scratch []Token
	tok := NewTokenizer()
	return engine.FlatMap(lines, func(line string, emit func(Token)) {
		mu.Lock()
		defer mu.Unlock()
		scratch = tok.AppendTokens(scratch[:0], unsafe.Slice(unsafe.StringData(line), len(line)))
		for _, t := range scratch {
			emit(t)
		}
	})
}

// CountWindow is Flink's keyBy(word).countWindow(size, slide).sum(1): a
// stage named "counter" with GlobalWindows, CountEvictor(size) before the
// function and CountTrigger(slide), summing N. With slide 0 or slide ==
// size it is countWindow(size): GlobalWindows and a purging
// CountTrigger(size), which gives the same results from one running sum per
// word instead of the last size elements. Nothing is emitted at the end of
// the input for windows that did not fire. size must be >= 1.
func CountWindow(words engine.KeyedStream[string, Count], size, slide int64) engine.Stream[Count] {
	spec := window.Spec[string, Count, Count]{
		Assigner: window.Global(),
		Function: window.Reduce[string](sumCounts),
		KeyCodec: window.StringCodec(),
		Codec:    CountCodec{},
	}
	if slide == 0 || slide == size {
		spec.Trigger = window.Purging(window.Count[Count](size))
	} else {
		spec.Trigger = window.Count[Count](slide)
		spec.Evictor = window.CountEvictor[Count](int(size), false)
	}
	return window.Apply(words, "counter", spec)
}

// sumCounts is Flink's sum(1) on Tuple2: the first element's fields with
// the counts summed.
func sumCounts(a, b Count) Count {
	a.N += b.N
	return a
}

// CountCodec encodes a Count for checkpoints: the word as a uvarint length
// and its bytes, then N as a varint.
type CountCodec struct{}

// Append appends c's encoding to dst.
func (CountCodec) Append(dst []byte, c Count) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(c.Word)))
	dst = append(dst, c.Word...)
	return binary.AppendVarint(dst, c.N)
}

// Decode decodes a Count from the front of src.
func (CountCodec) Decode(src []byte) (Count, int, error) {
	l, n := binary.Uvarint(src)
	if n <= 0 || uint64(len(src)-n) < l {
		return Count{}, 0, errCorrupt
	}
	w := string(src[n : n+int(l)])
	v, m := binary.Varint(src[n+int(l):])
	if m <= 0 {
		return Count{}, 0, errCorrupt
	}
	return Count{Word: w, N: v}, n + int(l) + m, nil
}

var errCorrupt = errors.New("wordcount: corrupt checkpoint state")

// RunningCount is Flink's keyBy(word).sum(1) without a window: a stage
// named "counter" that emits, for every word occurrence, the word with the
// number of its occurrences so far. Its state, one count per word, is
// checkpointed by key group.
func RunningCount(words engine.KeyedStream[Token, Token]) engine.Stream[Count] {
	return engine.Process(words, "counter", NewCounter)
}

// NewCounter is the engine.OperatorFactory of RunningCount.
func NewCounter(engine.Keys[Token, Token]) engine.Operator[Token, Count] { return &Counter{} }

// Counter is RunningCount's operator, written with engine's operator kit:
// BaseOperator supplies the hooks it does not need, and the counts live in
// a typed ValueState, which the engine checkpoints and restores by key
// group.
//
// In front of the ValueState the Counter keeps the counts of the words it
// has seen: of words with an ID (Token.ID) in an array indexed by ID, so
// that counting one is an array access, and of other words in a table
// keyed by the Token's hash (up to maxLocalWords of them), where a known
// word costs one probe and one comparison. A word always comes with its
// ID or always without, so it is in one of them only. Counts there are
// written back to the ValueState on every checkpoint (OnCheckpoint runs
// before the engine snapshots typed state) and at Close, so the
// ValueState is exact wherever the engine reads it. Per record it
// allocates nothing. A Counter is used by one subtask goroutine.
type Counter struct {
	engine.BaseOperator[Token, Count]
	counts *engine.ValueState[Token, int64]
	byID   idCounts
	local  localCounts
}

var _ engine.Operator[Token, Count] = (*Counter)(nil)

// Open registers the counts, restored from the checkpoint if there is one.
func (c *Counter) Open(ctx engine.OperatorContext) (err error) {
	c.counts, err = engine.NewValueState[Token, int64](ctx, "count", TokenCodec{}, engine.Int64Codec{})
	return err
}

// ProcessBatch counts each word and emits its count so far.
func (c *Counter) ProcessBatch(in []Token, out *engine.Output[Count]) error {
	ids := &c.byID
	for _, t := range in {
		if t.ID != 0 && int(t.ID) < len(ids.n) && ids.n[t.ID] != 0 {
			v := ids.n[t.ID] + 1
			if v&idDirty == 0 {
				v |= idDirty
				ids.dirty = append(ids.dirty, t.ID)
			}
			ids.n[t.ID] = v
			out.Emit(Count{Word: t.Word, N: int64(v &^ idDirty)})
			continue
		}
		n, ok := int64(0), false
		if t.ID == 0 {
			n, ok = c.local.add(t)
		}
		if !ok {
			n = c.slowAdd(t)
		}
		out.Emit(Count{Word: t.Word, N: n})
	}
	return nil
}

// slowAdd counts the first occurrence of a word with an ID, or a word
// without one that is not in the local table: in the ValueState, then in
// the array or table if it has room.
func (c *Counter) slowAdd(t Token) int64 {
	key := TokenKey(t)
	n, _ := c.counts.Get(key)
	n++
	if !c.byID.insert(t.ID, key, n) && (t.ID != 0 || !c.local.insert(key, n)) {
		c.counts.Set(key, n)
	}
	return n
}

// OnCheckpoint writes the counts changed since the last checkpoint back to
// the ValueState, which the engine then snapshots.
func (c *Counter) OnCheckpoint(uint64, *engine.KeyedState) error {
	c.flush()
	return nil
}

// Close writes the changed counts back, like OnCheckpoint.
func (c *Counter) Close(*engine.Output[Count]) error {
	c.flush()
	return nil
}

func (c *Counter) flush() {
	c.byID.flush(c.counts.Set)
	c.local.flush(c.counts.Set)
}

// idCounts holds the counts of words with an ID: n[id] is the count, 0
// if unknown, with idDirty set when it changed since the last flush. It
// has room for every ID an Interner gives.
type idCounts struct {
	n     []uint64
	keys  []Token // by ID
	dirty []uint32
}

const idDirty = 1 << 63

// insert sets the count of the word with the given ID and key, changed;
// false if id is 0 or too large.
func (t *idCounts) insert(id uint32, key Token, n int64) bool {
	if id == 0 || id > DefaultInternWords {
		return false
	}
	if int(id) >= len(t.n) {
		size := min(max(1024, 2*int(id)), DefaultInternWords+1)
		t.n = append(t.n, make([]uint64, size-len(t.n))...)
		t.keys = append(t.keys, make([]Token, size-len(t.keys))...)
	}
	t.n[id], t.keys[id] = uint64(n)|idDirty, key
	t.dirty = append(t.dirty, id)
	return true
}

// flush calls set for every count changed since the last flush.
func (t *idCounts) flush(set func(Token, int64)) {
	for _, id := range t.dirty {
		t.n[id] &^= idDirty
		set(t.keys[id], int64(t.n[id]))
	}
	t.dirty = t.dirty[:0]
}

// maxLocalWords bounds a Counter's local table; words beyond it are
// counted in the ValueState directly.
const maxLocalWords = 1 << 22

// localCounts is an open-addressing table (linear probing, doubling at
// half full) of words and their counts, keyed by the Token's hash. Each
// word is in it at most once.
type localCounts struct {
	slots []localSlot
	n     int
	dirty []int32
}

type localSlot struct {
	t     Token // Word "" = empty
	n     int64
	dirty bool
}

func (t *localCounts) index(h uint64) uint64 { return h >> 32 & uint64(len(t.slots)-1) }

// add adds one to the count of the word w if it is in the table.
func (t *localCounts) add(w Token) (int64, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.index(w.Hash); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.t.Word == "" {
			return 0, false
		}
		if s.t.Hash == w.Hash && (unsafe.StringData(s.t.Word) == unsafe.StringData(w.Word) && len(s.t.Word) == len(w.Word) || s.t.Word == w.Word) {
			s.n++
			if !s.dirty {
				s.dirty = true
				t.dirty = append(t.dirty, int32(i))
			}
			return s.n, true
		}
	}
}

// insert adds w (absent) with count n, changed since the last flush;
// false if the table is full (or w is empty).
func (t *localCounts) insert(w Token, n int64) bool {
	if w.Word == "" || t.n >= maxLocalWords {
		return false
	}
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	i := t.put(localSlot{t: w, n: n, dirty: true})
	t.dirty = append(t.dirty, i)
	t.n++
	return true
}

func (t *localCounts) grow() {
	old := t.slots
	t.slots = make([]localSlot, max(1024, 2*len(old)))
	t.dirty = t.dirty[:0]
	for _, s := range old {
		if s.t.Word != "" {
			i := t.put(s)
			if s.dirty {
				t.dirty = append(t.dirty, i)
			}
		}
	}
}

func (t *localCounts) put(s localSlot) int32 {
	mask := uint64(len(t.slots) - 1)
	i := t.index(s.t.Hash)
	for t.slots[i].t.Word != "" {
		i = (i + 1) & mask
	}
	t.slots[i] = s
	return int32(i)
}

// flush calls set for every count changed since the last flush.
func (t *localCounts) flush(set func(Token, int64)) {
	for _, i := range t.dirty {
		s := &t.slots[i]
		set(s.t, s.n)
		s.dirty = false
	}
	t.dirty = t.dirty[:0]
}
