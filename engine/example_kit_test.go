package engine_test

import (
	"context"
	"fmt"
	"io"

	"github.com/topspeed/topspeed/engine"
)

// kitWords replays words, then ends.
type kitWords struct{ words []string }

func (s *kitWords) Open(context.Context) error { return nil }
func (s *kitWords) Close() error               { return nil }
func (s *kitWords) Read(_ context.Context, buf []string) (int, error) {
	n := copy(buf, s.words)
	s.words = s.words[n:]
	if len(s.words) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// kitPrint prints what it gets.
type kitPrint struct{}

func (kitPrint) Open(context.Context) error  { return nil }
func (kitPrint) Close() error                { return nil }
func (kitPrint) Flush(context.Context) error { return nil }
func (kitPrint) Write(_ context.Context, b []string) error {
	for _, s := range b {
		fmt.Println(s)
	}
	return nil
}

// wordCount is an operator written with the kit: BaseOperator supplies
// the hooks it does not need, and the counts are a ValueState that the
// engine checkpoints and restores by key group.
type wordCount struct {
	engine.BaseOperator[string, string]
	counts *engine.ValueState[string, int64]
}

func (o *wordCount) Open(ctx engine.OperatorContext) (err error) {
	o.counts, err = engine.NewValueState[string, int64](ctx, "count", engine.StringCodec{}, engine.Int64Codec{})
	return err
}

func (o *wordCount) ProcessBatch(in []string, out *engine.Output[string]) error {
	for _, w := range in {
		n, _ := o.counts.Get(w)
		o.counts.Set(w, n+1)
		out.Emit(fmt.Sprintf("%s %d", w, n+1))
	}
	return nil
}

// A running count per word: the operator writes only Open and
// ProcessBatch.
func ExampleBaseOperator() {
	p := engine.New(engine.WithParallelism(1))
	words := engine.FromSource(p, "words", engine.Source[string](&kitWords{words: []string{"to", "be", "or", "not", "to", "be"}}), engine.NoWatermarks[string]())
	keyed := engine.KeyBy(words, func(w string) string { return w }, engine.HashString)
	counts := engine.Process(keyed, "count", func(engine.Keys[string, string]) engine.Operator[string, string] { return &wordCount{} })
	engine.ToSink(counts, "print", engine.Sink[string](kitPrint{}))
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// to 1
	// be 1
	// or 1
	// not 1
	// to 2
	// be 2
}
