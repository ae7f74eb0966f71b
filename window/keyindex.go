package window

import "math/bits"

// keyIndex maps keys to their state: a hash table with open addressing
// and linear probing over one slice of (key, state) slots, for the fused
// operators' per-record lookup. It hashes with the stage's own key hash
// (engine.Keys.Hash), spread by a Fibonacci multiply, so that a key costs
// one call of that hash and usually one slot read, in a table small
// enough to stay in cache: about twice as fast as a Go map on TopSpeed's
// int32 keys. Deletion shifts the following slots back (no tombstones).
//
// A nil state marks a free slot, so Set must not be given nil. Not safe
// for concurrent use.
type keyIndex[K comparable, V any] struct {
	hash  func(K) uint64
	slots []keySlot[K, V]
	shift uint // 64 - log2(len(slots))
	n     int
}

type keySlot[K comparable, V any] struct {
	key K
	val *V
}

// keyIndexMinSlots is the size of a new table (a power of two).
const keyIndexMinSlots = 64

func newKeyIndex[K comparable, V any](hash func(K) uint64) keyIndex[K, V] {
	return keyIndex[K, V]{hash: hash, slots: make([]keySlot[K, V], keyIndexMinSlots), shift: 64 - 6}
}

// home is key's first slot.
func (x *keyIndex[K, V]) home(key K) int {
	return int((x.hash(key) * 0x9e3779b97f4a7c15) >> x.shift)
}

// Len returns the number of keys.
func (x *keyIndex[K, V]) Len() int { return x.n }

// Get returns key's state, or nil.
func (x *keyIndex[K, V]) Get(key K) *V {
	mask := len(x.slots) - 1
	for i := x.home(key); ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.val == nil || s.key == key {
			return s.val
		}
	}
}

// Set makes v (not nil) key's state, adding key if absent.
func (x *keyIndex[K, V]) Set(key K, v *V) {
	mask := len(x.slots) - 1
	for i := x.home(key); ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.val == nil {
			s.key, s.val = key, v
			if x.n++; 2*x.n > len(x.slots) { // at most half full
				x.grow()
			}
			return
		}
		if s.key == key {
			s.val = v
			return
		}
	}
}

// Delete removes key, if present.
func (x *keyIndex[K, V]) Delete(key K) {
	mask := len(x.slots) - 1
	i := x.home(key)
	for ; x.slots[i].val != nil && x.slots[i].key != key; i = (i + 1) & mask {
	}
	if x.slots[i].val == nil {
		return
	}
	// Shift back every following slot of the run whose home is not
	// between the hole and it (cyclically): it may move into the hole.
	for j := (i + 1) & mask; x.slots[j].val != nil; j = (j + 1) & mask {
		h := x.home(x.slots[j].key)
		if (j-h)&mask >= (j-i)&mask {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = keySlot[K, V]{}
	x.n--
}

// Range calls fn for every key and state until fn returns false; fn must
// not change the index.
func (x *keyIndex[K, V]) Range(fn func(K, *V) bool) {
	for i := range x.slots {
		if s := &x.slots[i]; s.val != nil && !fn(s.key, s.val) {
			return
		}
	}
}

// grow doubles the table.
func (x *keyIndex[K, V]) grow() {
	old := x.slots
	x.slots = make([]keySlot[K, V], 2*len(old))
	x.shift = uint(64 - bits.TrailingZeros(uint(len(x.slots))))
	x.n = 0
	for _, s := range old {
		if s.val != nil {
			x.Set(s.key, s.val)
		}
	}
}
