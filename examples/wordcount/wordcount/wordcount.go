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
// group. Per record it makes one map lookup and allocates nothing, except
// a copy of the word the first time it is seen.
type Counter struct {
	engine.BaseOperator[Count, Count]
	counts *engine.ValueState[string, int64]
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
		n, _ := c.counts.Get(r.Word)
		n += r.N
		c.counts.Set(r.Word, n)
		out.Emit(Count{Word: r.Word, N: n})
	}
	return nil
}
