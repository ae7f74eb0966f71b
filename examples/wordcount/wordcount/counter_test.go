package wordcount_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/examples/wordcount/wordcount"
)

// BenchmarkCounter measures the Counter alone: batches of 1024 words
// (every word already counted) through ProcessBatch.
func BenchmarkCounter(b *testing.B) {
	keys := engine.Keys[string, wordcount.Count]{Key: wordcount.Word, Hash: engine.HashString, MaxParallelism: engine.DefaultMaxParallelism}
	for _, vocab := range []int{100, 10000} {
		b.Run(fmt.Sprintf("vocab=%d", vocab), func(b *testing.B) {
			batch := make([]wordcount.Count, 1024)
			for i := range batch {
				batch[i] = wordcount.Count{Word: fmt.Sprint("word", (i*7919)%vocab), N: 1}
			}
			ctx, err := engine.NewOperatorContext(context.Background(), "counter", keys, 0, 1, nil)
			if err != nil {
				b.Fatal(err)
			}
			op := wordcount.NewCounter(keys)
			if err := engine.OpenOperator(op, ctx); err != nil {
				b.Fatal(err)
			}
			var out engine.Output[wordcount.Count]
			b.ReportAllocs()
			for b.Loop() {
				if err := op.ProcessBatch(batch, &out); err != nil {
					b.Fatal(err)
				}
				out.Reset()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/record")
		})
	}
}
