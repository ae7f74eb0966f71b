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
	"strconv"
	"sync"
	"unsafe"

	"github.com/topspeed/topspeed/engine"
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
// sink.NewFile.
func AppendCount(dst []byte, c Count) []byte {
	dst = append(dst, '(')
	dst = append(dst, c.Word...)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, c.N, 10)
	return append(dst, ')')
}

// ParseLine is the parse function for source.NewLines: a line is a record.
// It never fails.
func ParseLine(line []byte) (string, error) { return string(line), nil }

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
// the stream of counts: Words, keyed by word (engine.HashString), then
// RunningCount (Window == 0) or CountWindow.
func Build(lines engine.Stream[string], cfg Config) (engine.Stream[Count], error) {
	if err := cfg.Validate(); err != nil {
		return engine.Stream[Count]{}, err
	}
	keyed := engine.KeyBy(Words(lines), Word, engine.HashString)
	if cfg.Window == 0 {
		return RunningCount(keyed), nil
	}
	return CountWindow(keyed, cfg.Window, cfg.Slide), nil
}

// Words is the tokenizer stage: it splits every line into words with a
// Tokenizer and emits (word,1) for each. It is chained to its input (no
// queue, no goroutine of its own).
func Words(lines engine.Stream[string]) engine.Stream[Count] {
	// FlatMap's function may be called by several producers at once (when
	// lines come from a parallel stage), so the shared tokenizer is locked.
	// The lock is uncontended after a single source.
	var mu sync.Mutex
	tok := NewTokenizer()
	return engine.FlatMap(lines, func(line string, emit func(Count)) {
		mu.Lock()
		tok.Tokenize(line, func(w string) { emit(Count{Word: w, N: 1}) })
		mu.Unlock()
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
// named "counter" that emits, for every record, its word with the sum of N
// over the word's records so far. Its state, one count per word, is
// checkpointed by key group.
func RunningCount(words engine.KeyedStream[string, Count]) engine.Stream[Count] {
	return engine.Process(words, "counter", NewCounter)
}

// NewCounter is the engine.OperatorFactory of RunningCount.
func NewCounter(engine.Keys[string, Count]) engine.Operator[Count, Count] { return &Counter{} }

// Counter is RunningCount's operator, written with engine's operator kit:
// BaseOperator supplies the hooks it does not need, and the counts live in
// a typed ValueState, which the engine checkpoints and restores by key
// group.
//
// In front of the ValueState the Counter keeps its own table of the words
// it has counted (up to maxLocalWords of them), keyed by the identity of
// the word's string: the Tokenizer interns words, so a known word arrives
// as the same string and costs one probe with no hashing or comparing of
// its bytes. Counts in that table are written back to the ValueState on
// every checkpoint (OnCheckpoint runs before the engine snapshots typed
// state) and at Close, so the ValueState is exact wherever the engine
// reads it. A word arriving as another string with the same bytes is found
// through a map by content. Per record it allocates nothing, except a copy
// of the word the first time it is seen. A Counter is used by one subtask
// goroutine.
type Counter struct {
	engine.BaseOperator[Count, Count]
	counts *engine.ValueState[string, int64]
	local  localCounts
}

var _ engine.Operator[Count, Count] = (*Counter)(nil)

// Open registers the counts, restored from the checkpoint if there is one.
func (c *Counter) Open(ctx engine.OperatorContext) (err error) {
	c.counts, err = engine.NewValueState[string, int64](ctx, "count", engine.StringCodec{}, engine.Int64Codec{})
	return err
}

// ProcessBatch adds each record's N to its word's count and emits the sum.
func (c *Counter) ProcessBatch(in []Count, out *engine.Output[Count]) error {
	for _, r := range in {
		n, ok := c.local.add(r.Word, r.N)
		if !ok {
			n = c.slowAdd(r.Word, r.N)
		}
		out.Emit(Count{Word: r.Word, N: n})
	}
	return nil
}

// slowAdd counts a word not found by identity: by content in the local
// table, or in the ValueState (then the word joins the local table if it
// has room).
func (c *Counter) slowAdd(w string, d int64) int64 {
	if n, ok := c.local.addByContent(w, d); ok {
		return n
	}
	n, _ := c.counts.Get(w)
	n += d
	if !c.local.insert(w, n) {
		c.counts.Set(w, n)
	}
	return n
}

// OnCheckpoint writes the counts changed since the last checkpoint back to
// the ValueState, which the engine then snapshots.
func (c *Counter) OnCheckpoint(uint64, *engine.KeyedState) error {
	c.local.flush(c.counts.Set)
	return nil
}

// Close writes the changed counts back, like OnCheckpoint.
func (c *Counter) Close(*engine.Output[Count]) error {
	c.local.flush(c.counts.Set)
	return nil
}

// maxLocalWords bounds a Counter's local table; words beyond it are
// counted in the ValueState directly.
const maxLocalWords = 1 << 22

// localCounts is an open-addressing table (linear probing, doubling at
// half full) of words and their counts, keyed by the address and length
// of the word's string, plus a map by content for words that arrive as
// another string. Each word is in it at most once; the slot keeps its
// string alive, so an address is never reused by another word while in
// the table.
type localCounts struct {
	slots     []localSlot
	byContent map[string]int32
	dirty     []int32
}

type localSlot struct {
	w     string // "" = empty
	n     int64
	dirty bool
}

func ptrHash(w string) uint64 {
	return uint64(uintptr(unsafe.Pointer(unsafe.StringData(w)))) * 0x9e3779b97f4a7c15
}

// add adds d to w's count if w, this very string, is in the table.
func (t *localCounts) add(w string, d int64) (int64, bool) {
	if len(t.slots) == 0 || w == "" {
		return 0, false
	}
	p := unsafe.StringData(w)
	mask := uint64(len(t.slots) - 1)
	for i := ptrHash(w) >> 32 & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.w == "" {
			return 0, false
		}
		if unsafe.StringData(s.w) == p && len(s.w) == len(w) {
			return t.bump(int32(i), d), true
		}
	}
}

func (t *localCounts) bump(i int32, d int64) int64 {
	s := &t.slots[i]
	s.n += d
	if !s.dirty {
		s.dirty = true
		t.dirty = append(t.dirty, i)
	}
	return s.n
}

// addByContent adds d to the count of the word equal to w, if present.
func (t *localCounts) addByContent(w string, d int64) (int64, bool) {
	i, ok := t.byContent[w]
	if !ok {
		return 0, false
	}
	return t.bump(i, d), true
}

// insert adds w (absent) with count n, changed since the last flush;
// false if the table is full (or w is empty).
func (t *localCounts) insert(w string, n int64) bool {
	if w == "" || len(t.byContent) >= maxLocalWords {
		return false
	}
	if 2*(len(t.byContent)+1) > len(t.slots) {
		t.grow()
	}
	i := t.put(localSlot{w: w, n: n})
	t.byContent[w] = i
	t.bump(i, 0)
	return true
}

func (t *localCounts) grow() {
	old := t.slots
	t.slots = make([]localSlot, max(1024, 2*len(old)))
	t.byContent = make(map[string]int32, len(t.slots)/2)
	t.dirty = t.dirty[:0]
	for _, s := range old {
		if s.w != "" {
			i := t.put(s)
			t.byContent[s.w] = i
			if s.dirty {
				t.dirty = append(t.dirty, i)
			}
		}
	}
}

func (t *localCounts) put(s localSlot) int32 {
	mask := uint64(len(t.slots) - 1)
	i := ptrHash(s.w) >> 32 & mask
	for t.slots[i].w != "" {
		i = (i + 1) & mask
	}
	t.slots[i] = s
	return int32(i)
}

// flush calls set for every count changed since the last flush.
func (t *localCounts) flush(set func(string, int64)) {
	for _, i := range t.dirty {
		s := &t.slots[i]
		set(s.w, s.n)
		s.dirty = false
	}
	t.dirty = t.dirty[:0]
}
