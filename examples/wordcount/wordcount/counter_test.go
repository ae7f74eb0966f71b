package wordcount_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/examples/wordcount/wordcount"
)

// BenchmarkCounter measures the Counter alone: batches of 1024 words
// (every word already counted) through ProcessBatch.
func BenchmarkCounter(b *testing.B) {
	keys := engine.Keys[wordcount.Token, wordcount.Token]{Key: wordcount.TokenKey, Hash: wordcount.TokenHash, MaxParallelism: engine.DefaultMaxParallelism}
	for _, vocab := range []int{100, 10000} {
		b.Run(fmt.Sprintf("vocab=%d", vocab), func(b *testing.B) {
			batch := make([]wordcount.Token, 1024)
			for i := range batch {
				batch[i] = wordcount.NewToken(fmt.Sprint("word", (i*7919)%vocab))
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

// TestCounterLocalTable counts words arriving as the same string, as other
// strings with the same bytes, many distinct words (the local table
// grows), distinct words with the same hash and words with IDs, then checks the emitted running counts against a plain map and
// that a checkpoint taken mid-way restores into a Counter that goes on
// with the same counts.
func TestCounterLocalTable(t *testing.T) {
	keys := engine.Keys[wordcount.Token, wordcount.Token]{Key: wordcount.TokenKey, Hash: wordcount.TokenHash, MaxParallelism: engine.DefaultMaxParallelism}
	open := func(restored *engine.KeyedState) (engine.Operator[wordcount.Token, wordcount.Count], engine.OperatorContext) {
		ctx, err := engine.NewOperatorContext(context.Background(), "counter", keys, 0, 1, restored)
		if err != nil {
			t.Fatal(err)
		}
		op := wordcount.NewCounter(keys)
		if err := engine.OpenOperator(op, ctx); err != nil {
			t.Fatal(err)
		}
		return op, ctx
	}
	interned := []string{"alpha", "beta", "gamma"}
	var batch []wordcount.Token
	for i := range 5000 {
		var tk wordcount.Token
		switch i % 5 {
		case 0: // the same string every time
			tk = wordcount.NewToken(interned[i%3])
		case 1: // a fresh string with the same bytes
			tk = wordcount.NewToken(strings.Clone(interned[i%3]))
		case 2: // distinct words with one hash, after the checkpoint only
			// (restored keys get their true hash)
			if i >= 3000 {
				tk = wordcount.Token{Word: fmt.Sprint("c", i%7), Hash: 12345}
			} else {
				tk = wordcount.NewToken("early")
			}
		case 3: // words with an ID (from an Interner)
			w := fmt.Sprint("i", i%50)
			tk = wordcount.Token{Word: w, Hash: engine.HashString(w), ID: uint32(1 + i%50)}
		default: // many distinct words, each seen twice
			tk = wordcount.NewToken(fmt.Sprint("w", i/10))
		}
		batch = append(batch, tk)
	}
	want := map[string]int64{}
	check := func(op engine.Operator[wordcount.Token, wordcount.Count], in []wordcount.Token) {
		t.Helper()
		var out engine.Output[wordcount.Count]
		if err := op.ProcessBatch(in, &out); err != nil {
			t.Fatal(err)
		}
		got := out.Records()
		if len(got) != len(in) {
			t.Fatalf("%d records out, want %d", len(got), len(in))
		}
		for i, r := range in {
			want[r.Word]++
			if got[i] != (wordcount.Count{Word: r.Word, N: want[r.Word]}) {
				t.Fatalf("record %d: got %v, want (%s,%d)", i, got[i], r.Word, want[r.Word])
			}
		}
	}
	op, ctx := open(nil)
	check(op, batch[:3000])
	st, err := engine.CheckpointOperator(op, ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	saved := maps.Clone(want)
	check(op, batch[3000:]) // after the checkpoint: not in the restored state
	want = saved
	op2, _ := open(st)
	check(op2, batch[3000:])
}
