package window

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/topspeed/topspeed/engine"
)

// TestKeyIndexModel: random Sets, Gets and Deletes on a keyIndex agree
// with a Go map, with the engine's hash and with a poor one (many keys on
// few home slots, so that runs wrap around and deletions shift them).
func TestKeyIndexModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		hash := engine.HashInt32
		if rapid.Bool().Draw(t, "poor hash") {
			hash = func(k int32) uint64 { return uint64(k % 3) }
		}
		x := newKeyIndex[int32, int](hash)
		model := map[int32]*int{}
		keys := rapid.Int32Range(-50, 300)
		for range rapid.IntRange(0, 600).Draw(t, "ops") {
			k := keys.Draw(t, "key")
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0, 1:
				v := new(int)
				*v = int(k)
				x.Set(k, v)
				model[k] = v
			case 2:
				x.Delete(k)
				delete(model, k)
			}
			if got := x.Get(k); got != model[k] {
				t.Fatalf("Get(%d) = %p, want %p", k, got, model[k])
			}
		}
		if x.Len() != len(model) {
			t.Fatalf("Len %d, want %d", x.Len(), len(model))
		}
		seen := 0
		x.Range(func(k int32, v *int) bool {
			if model[k] != v {
				t.Fatalf("Range: key %d has %p, want %p", k, v, model[k])
			}
			seen++
			return true
		})
		if seen != len(model) {
			t.Fatalf("Range visited %d keys, want %d", seen, len(model))
		}
		for k, v := range model {
			if x.Get(k) != v {
				t.Fatalf("after all: Get(%d) = %p, want %p", k, x.Get(k), v)
			}
		}
	})
}

// BenchmarkKeyIndex compares a lookup in keyIndex with one in a Go map, on
// 500 int32 keys visited round-robin (TopSpeed's cars at parallelism 2).
func BenchmarkKeyIndex(b *testing.B) {
	const n = 500
	x := newKeyIndex[int32, int](engine.HashInt32)
	m := map[int32]*int{}
	for k := int32(0); k < n; k++ {
		v := new(int)
		x.Set(2*k, v)
		m[2*k] = v
	}
	b.Run("keyIndex", func(b *testing.B) {
		var hit int
		for i := 0; b.Loop(); i++ {
			if x.Get(int32(2*(i%n))) != nil {
				hit++
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		var hit int
		for i := 0; b.Loop(); i++ {
			if m[int32(2*(i%n))] != nil {
				hit++
			}
		}
	})
}
