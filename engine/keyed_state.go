package engine

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// table maps keys to slots holding per-key data S, and remembers each key's
// key group.
type table[K comparable, S any] struct {
	b       *StateBackend
	name    string
	hash    func(K) uint64
	index   map[K]int32
	slots   []slot[K, S]
	free    []int32 // slots of cleared keys, for reuse
	last    int32   // slot of the last key accessed, -1 if none
	lastKey K       // the stored copy of that key
}

type slot[K comparable, S any] struct {
	key K
	kg  int32 // -1: free
	val S
}

func newTable[K comparable, S any](b *StateBackend, name string, hash func(K) uint64) table[K, S] {
	return table[K, S]{b: b, name: name, hash: hash, index: map[K]int32{}, last: -1}
}

// lookup returns key's slot, or -1, and remembers it for find. Reads use
// it: checking the remembered key first would cost a comparison that
// rarely pays off.
func (t *table[K, S]) lookup(key K) int32 {
	i, ok := t.index[key]
	if !ok {
		return -1
	}
	// The caller's key, not the stored copy: comparing it in find with the
	// same string again ends at the pointers.
	t.last, t.lastKey = i, key
	return i
}

// find is lookup for writes, which usually follow a read of the same key
// (Get, then Set): it checks the remembered key first.
func (t *table[K, S]) find(key K) int32 {
	if t.last >= 0 && key == t.lastKey {
		return t.last
	}
	return t.lookup(key)
}

// slotFor returns key's slot, adding the key with zero data if absent.
func (t *table[K, S]) slotFor(key K) int32 {
	if i := t.find(key); i >= 0 {
		return i
	}
	return t.insert(cloneKey(key), KeyGroup(t.hash(key), t.b.maxPar))
}

// cloneKey copies a string key, so that the state keeps none of the
// caller's memory.
func cloneKey[K comparable](k K) K {
	if p, ok := any(&k).(*string); ok {
		*p = strings.Clone(*p)
	}
	return k
}

func (t *table[K, S]) insert(key K, kg int) int32 {
	var i int32
	if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
		t.slots[i] = slot[K, S]{key: key, kg: int32(kg)}
	} else {
		i = int32(len(t.slots))
		t.slots = append(t.slots, slot[K, S]{key: key, kg: int32(kg)})
	}
	t.index[key] = i
	t.last, t.lastKey = i, key
	return i
}

// remove deletes the key of slot i.
func (t *table[K, S]) remove(i int32) {
	delete(t.index, t.slots[i].key)
	t.slots[i] = slot[K, S]{kg: -1}
	t.free = append(t.free, i)
	if t.last == i {
		var zero K
		t.last, t.lastKey = -1, zero
	}
}

// snapshot appends enc's encoding of every key to its key group's buffer.
func (t *table[K, S]) snapshot(bufs [][]byte, n []int, enc func(dst []byte, s *slot[K, S]) []byte) error {
	start := t.b.groups.Start
	for i := range t.slots {
		s := &t.slots[i]
		if s.kg < 0 {
			continue
		}
		j := int(s.kg) - start
		if j < 0 || j >= len(bufs) {
			return fmt.Errorf("key %v is in key group %d, which subtask %s does not own (the operator set a key that was not routed to it)", s.key, s.kg, t.b.groups)
		}
		bufs[j] = enc(bufs[j], s)
		n[j]++
	}
	return nil
}

// restore decodes n entries of key group kg: a key, then what dec decodes
// into the key's data. It returns the bytes left.
func (t *table[K, S]) restore(kg, n int, data []byte, kc Codec[K], dec func([]byte, *S) ([]byte, error)) ([]byte, error) {
	for range n {
		k, rest, err := decodeOne(kc, data)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		if got := KeyGroup(t.hash(k), t.b.maxPar); got != kg {
			return nil, corrupt("key", "%v hashes to key group %d (another hash function or key codec?)", k, got)
		}
		if _, dup := t.index[k]; dup {
			return nil, corrupt("key", "%v stored twice", k)
		}
		i := t.insert(k, kg)
		if data, err = dec(rest, &t.slots[i].val); err != nil {
			return nil, fmt.Errorf("key %v: %w", k, err)
		}
	}
	return data, nil
}

// decodeOne decodes one value from the front of data and returns the rest.
func decodeOne[V any](c Codec[V], data []byte) (V, []byte, error) {
	v, n, err := c.Decode(data)
	if err == nil && (n < 0 || n > len(data)) {
		err = corrupt("codec", "%T used %d of %d bytes", c, n, len(data))
	}
	if err != nil {
		return v, nil, err
	}
	return v, data[n:], nil
}

// decodeCount decodes a uvarint count of items that take at least one byte
// each (or none, if the items have zero size: then at most max(1, left)).
func decodeCount(data []byte) (int, []byte, error) {
	n, k := binary.Uvarint(data)
	if k <= 0 || n > uint64(max(len(data)-k, 1)) {
		return 0, nil, corrupt("count", "bad or too large")
	}
	return int(n), data[k:], nil
}

// ValueState keeps one value of type V per key: Flink's ValueState. Make
// it with NewValueState in the operator's Open; the engine checkpoints it
// by key group and restores it into any parallelism.
//
// Concurrency: a state belongs to one operator instance and is used only
// from that instance's hooks, which the engine calls from one goroutine
// (the engine itself reads it there, at checkpoint barriers); it is not
// safe for concurrent use, and needs no locks. The same holds for MapState
// and ListState.
//
// Costs: Get and Set of a present key are a map lookup each, except that a
// write right after an access to the same key (the Set after a Get) skips
// it, and they allocate nothing. Adding a key computes its key group once
// and copies a string key. Values are stored as given: copy a value that
// points into memory the caller reuses.
type ValueState[K comparable, V any] struct {
	t  table[K, V]
	kc Codec[K]
	vc Codec[V]
}

// NewValueState registers a ValueState named name in the operator's
// StateBackend (ctx.State), with its entries restored from the checkpoint
// if there is one. It must be called in Open. It fails if ctx has no
// StateBackend, the name is empty or taken, a codec is nil, K is not the
// stage's key type, or the restored entries cannot be decoded.
func NewValueState[K comparable, V any](ctx OperatorContext, name string, keyCodec Codec[K], valueCodec Codec[V]) (*ValueState[K, V], error) {
	hash, r, err := register[K](ctx, name, kindValue, keyCodec, valueCodec)
	if err != nil {
		return nil, err
	}
	s := &ValueState[K, V]{t: newTable[K, V](ctx.State, name, hash), kc: keyCodec, vc: valueCodec}
	dec := func(data []byte, v *V) (rest []byte, err error) {
		*v, rest, err = decodeOne(s.vc, data)
		return rest, err
	}
	err = restoreGroups(ctx.State, name, r, func(kg, n int, data []byte) ([]byte, error) {
		return s.t.restore(kg, n, data, s.kc, dec)
	})
	if err != nil {
		return nil, err
	}
	ctx.State.add(s)
	return s, nil
}

// Get returns key's value and whether it has one.
func (s *ValueState[K, V]) Get(key K) (V, bool) {
	if i := s.t.lookup(key); i >= 0 {
		return s.t.slots[i].val, true
	}
	var zero V
	return zero, false
}

// Set sets key's value.
func (s *ValueState[K, V]) Set(key K, v V) { s.t.slots[s.t.slotFor(key)].val = v }

// Clear removes key and its value.
func (s *ValueState[K, V]) Clear(key K) {
	if i := s.t.find(key); i >= 0 {
		s.t.remove(i)
	}
}

// Len returns the number of keys with a value.
func (s *ValueState[K, V]) Len() int { return len(s.t.index) }

// Range calls fn for every key and its value until fn returns false. fn may
// Set or Clear keys; a key added during Range may or may not be visited.
func (s *ValueState[K, V]) Range(fn func(key K, v V) bool) {
	for i := 0; i < len(s.t.slots); i++ {
		if sl := &s.t.slots[i]; sl.kg >= 0 && !fn(sl.key, sl.val) {
			return
		}
	}
}

func (s *ValueState[K, V]) stateName() string { return s.t.name }
func (s *ValueState[K, V]) stateKind() byte   { return kindValue }
func (s *ValueState[K, V]) snapshot(bufs [][]byte, n []int) error {
	return s.t.snapshot(bufs, n, func(dst []byte, sl *slot[K, V]) []byte {
		return s.vc.Append(s.kc.Append(dst, sl.key), sl.val)
	})
}
