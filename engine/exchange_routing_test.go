package engine_test

import (
	"context"
	"fmt"
	"math/bits"
	"sync"
	"testing"

	"github.com/topspeed/topspeed/engine"
)

// routeCheck records, per subtask, the keys it was given.
type routeCheck struct {
	engine.BaseOperator[int, int]
	ctx  engine.OperatorContext
	mu   *sync.Mutex
	seen map[int]int // key -> subtask
	bad  *[]string
}

func (r *routeCheck) Open(ctx engine.OperatorContext) error { r.ctx = ctx; return nil }

func (r *routeCheck) ProcessBatch(in []int, _ *engine.Output[int]) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range in {
		k := v % 1000 // the stage's key
		kg := engine.KeyGroup(engine.HashInt(k), r.ctx.MaxParallelism)
		if !r.ctx.KeyGroups.Contains(kg) {
			*r.bad = append(*r.bad, fmt.Sprintf("key %d (key group %d) at subtask %d owning %v", k, kg, r.ctx.Subtask, r.ctx.KeyGroups))
		}
		if st, ok := r.seen[k]; ok && st != r.ctx.Subtask {
			*r.bad = append(*r.bad, fmt.Sprintf("key %d at subtasks %d and %d", k, st, r.ctx.Subtask))
		}
		r.seen[k] = r.ctx.Subtask
	}
	return nil
}

// TestExchangeRoutesByKeyGroup checks that the key-group exchange hands
// each key to the subtask owning its key group (KeyGroup, hash modulo the
// number of key groups), for numbers of key groups that are powers of two
// (taken with a mask) and that are not (a division).
func TestExchangeRoutesByKeyGroup(t *testing.T) {
	for _, tc := range []struct{ par, maxPar int }{{2, 128}, {3, 16}, {3, 10}, {4, 100}, {2, 7}} {
		t.Run(fmt.Sprintf("p%d-kg%d", tc.par, tc.maxPar), func(t *testing.T) {
			var mu sync.Mutex
			seen := map[int]int{}
			var bad []string
			p := engine.New(engine.WithParallelism(tc.par), engine.WithMaxParallelism(tc.maxPar))
			recs := make([]int, 5000)
			for i := range recs {
				recs[i] = i
			}
			src := engine.FromSource(p, "src", &sliceSource{recs: recs, chunk: 97}, engine.NoWatermarks[int]())
			keyed := engine.KeyBy(src, func(v int) int { return v % 1000 }, engine.HashInt)
			out := engine.Process(keyed, "route", func(engine.Keys[int, int]) engine.Operator[int, int] {
				return &routeCheck{mu: &mu, seen: seen, bad: &bad}
			})
			engine.ToSink(out, "sink", engine.Sink[int](&collect{}))
			if err := p.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(bad) > 0 {
				t.Fatalf("%d misrouted, first: %s", len(bad), bad[0])
			}
			if len(seen) != 1000 {
				t.Fatalf("%d keys seen, want 1000", len(seen))
			}
			subtasks := map[int]bool{}
			for _, st := range seen {
				subtasks[st] = true
			}
			if len(subtasks) != tc.par {
				t.Fatalf("keys went to %d subtasks, want %d", len(subtasks), tc.par)
			}
		})
	}
}

// TestKeyGroupIsHashModulo: KeyGroup is the hash modulo the number of key
// groups, whether that is a power of two (a mask) or not (a division).
func TestKeyGroupIsHashModulo(t *testing.T) {
	x := uint64(0x9e3779b97f4a7c15)
	for n := 1; n <= 1<<15; n = n*3/2 + 1 {
		for _, m := range []int{n, 1 << (63 - bits.LeadingZeros64(uint64(n)))} { // n and a power of two
			for i := 0; i < 1000; i++ {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				if got, want := engine.KeyGroup(x, m), int(x%uint64(m)); got != want {
					t.Fatalf("KeyGroup(%#x, %d) = %d, want %d", x, m, got, want)
				}
			}
		}
	}
}
