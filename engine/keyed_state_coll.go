package engine

import "slices"

// MapState keeps a map from UK to UV per key: Flink's MapState. Range
// visits a key's entries in a defined order (insertion order, except that
// Remove moves the last entry into the removed one's place), so operators
// built on it are deterministic. Make it with NewMapState in the
// operator's Open.
type MapState[K comparable, UK comparable, UV any] struct {
	t   table[K, entries[UK, UV]]
	kc  Codec[K]
	ukc Codec[UK]
	uvc Codec[UV]
}

// entries is one key's map: index locates a user key in keys and vals.
type entries[UK comparable, UV any] struct {
	index map[UK]int32
	keys  []UK
	vals  []UV
}

// NewMapState registers a MapState named name; see NewValueState.
func NewMapState[K comparable, UK comparable, UV any](ctx OperatorContext, name string, keyCodec Codec[K], userKeyCodec Codec[UK], valueCodec Codec[UV]) (*MapState[K, UK, UV], error) {
	hash, r, err := register[K](ctx, name, kindMap, keyCodec, userKeyCodec, valueCodec)
	if err != nil {
		return nil, err
	}
	s := &MapState[K, UK, UV]{t: newTable[K, entries[UK, UV]](ctx.State, name, hash), kc: keyCodec, ukc: userKeyCodec, uvc: valueCodec}
	err = restoreGroups(ctx.State, name, r, func(kg, n int, data []byte) ([]byte, error) {
		return s.t.restore(kg, n, data, s.kc, s.decode)
	})
	if err != nil {
		return nil, err
	}
	ctx.State.add(s)
	return s, nil
}

func (s *MapState[K, UK, UV]) decode(data []byte, e *entries[UK, UV]) ([]byte, error) {
	n, data, err := decodeCount(data)
	if err != nil {
		return nil, err
	}
	e.index = make(map[UK]int32, n)
	for range n {
		var uk UK
		var uv UV
		if uk, data, err = decodeOne(s.ukc, data); err != nil {
			return nil, err
		}
		if uv, data, err = decodeOne(s.uvc, data); err != nil {
			return nil, err
		}
		if _, dup := e.index[uk]; dup {
			return nil, corrupt("MapState", "user key %v stored twice", uk)
		}
		e.put(uk, uv)
	}
	return data, nil
}

func (e *entries[UK, UV]) put(uk UK, uv UV) {
	if j, ok := e.index[uk]; ok {
		e.vals[j] = uv
		return
	}
	if e.index == nil {
		e.index = map[UK]int32{}
	}
	uk = cloneKey(uk)
	e.index[uk] = int32(len(e.keys))
	e.keys = append(e.keys, uk)
	e.vals = append(e.vals, uv)
}

// Get returns the value of user key uk in key's map and whether it has one.
func (s *MapState[K, UK, UV]) Get(key K, uk UK) (UV, bool) {
	if i := s.t.lookup(key); i >= 0 {
		e := &s.t.slots[i].val
		if j, ok := e.index[uk]; ok {
			return e.vals[j], true
		}
	}
	var zero UV
	return zero, false
}

// Put sets the value of user key uk in key's map.
func (s *MapState[K, UK, UV]) Put(key K, uk UK, uv UV) { s.t.slots[s.t.slotFor(key)].val.put(uk, uv) }

// Remove deletes user key uk from key's map; the key goes when its map is
// empty.
func (s *MapState[K, UK, UV]) Remove(key K, uk UK) {
	i := s.t.find(key)
	if i < 0 {
		return
	}
	e := &s.t.slots[i].val
	j, ok := e.index[uk]
	if !ok {
		return
	}
	last := int32(len(e.keys) - 1)
	if j != last {
		e.keys[j], e.vals[j] = e.keys[last], e.vals[last]
		e.index[e.keys[j]] = j
	}
	delete(e.index, uk)
	var zk UK
	var zv UV
	e.keys[last], e.vals[last] = zk, zv
	e.keys, e.vals = e.keys[:last], e.vals[:last]
	if last == 0 {
		s.t.remove(i)
	}
}

// Range calls fn for every entry of key's map until fn returns false. fn
// must not Put or Remove entries of the same key.
func (s *MapState[K, UK, UV]) Range(key K, fn func(uk UK, uv UV) bool) {
	i := s.t.lookup(key)
	if i < 0 {
		return
	}
	e := &s.t.slots[i].val
	for j := range e.keys {
		if !fn(e.keys[j], e.vals[j]) {
			return
		}
	}
}

// Len returns the number of entries in key's map.
func (s *MapState[K, UK, UV]) Len(key K) int {
	if i := s.t.lookup(key); i >= 0 {
		return len(s.t.slots[i].val.keys)
	}
	return 0
}

// Clear removes key and its whole map.
func (s *MapState[K, UK, UV]) Clear(key K) {
	if i := s.t.find(key); i >= 0 {
		s.t.remove(i)
	}
}

func (s *MapState[K, UK, UV]) stateName() string { return s.t.name }
func (s *MapState[K, UK, UV]) stateKind() byte   { return kindMap }
func (s *MapState[K, UK, UV]) snapshot(bufs [][]byte, n []int) error {
	return s.t.snapshot(bufs, n, func(dst []byte, sl *slot[K, entries[UK, UV]]) []byte {
		dst = Uint64Codec{}.Append(s.kc.Append(dst, sl.key), uint64(len(sl.val.keys)))
		for j := range sl.val.keys {
			dst = s.uvc.Append(s.ukc.Append(dst, sl.val.keys[j]), sl.val.vals[j])
		}
		return dst
	})
}

// ListState keeps a list of values per key: Flink's ListState. Make it
// with NewListState in the operator's Open.
type ListState[K comparable, V any] struct {
	t  table[K, []V]
	kc Codec[K]
	vc Codec[V]
}

// NewListState registers a ListState named name; see NewValueState.
func NewListState[K comparable, V any](ctx OperatorContext, name string, keyCodec Codec[K], valueCodec Codec[V]) (*ListState[K, V], error) {
	hash, r, err := register[K](ctx, name, kindList, keyCodec, valueCodec)
	if err != nil {
		return nil, err
	}
	s := &ListState[K, V]{t: newTable[K, []V](ctx.State, name, hash), kc: keyCodec, vc: valueCodec}
	err = restoreGroups(ctx.State, name, r, func(kg, n int, data []byte) ([]byte, error) {
		return s.t.restore(kg, n, data, s.kc, s.decode)
	})
	if err != nil {
		return nil, err
	}
	ctx.State.add(s)
	return s, nil
}

func (s *ListState[K, V]) decode(data []byte, l *[]V) ([]byte, error) {
	n, data, err := decodeCount(data)
	if err != nil {
		return nil, err
	}
	*l = make([]V, n)
	for j := range *l {
		if (*l)[j], data, err = decodeOne(s.vc, data); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// Get returns key's list, nil if it has none. The slice is the state's:
// it is valid until the next Add, Update or Clear of key, and must not be
// modified.
func (s *ListState[K, V]) Get(key K) []V {
	if i := s.t.lookup(key); i >= 0 {
		return s.t.slots[i].val
	}
	return nil
}

// Add appends v to key's list.
func (s *ListState[K, V]) Add(key K, v V) {
	l := &s.t.slots[s.t.slotFor(key)].val
	*l = append(*l, v)
}

// Update replaces key's list with a copy of vs; an empty vs clears key.
func (s *ListState[K, V]) Update(key K, vs []V) {
	if len(vs) == 0 {
		s.Clear(key)
		return
	}
	s.t.slots[s.t.slotFor(key)].val = slices.Clone(vs)
}

// Clear removes key and its list.
func (s *ListState[K, V]) Clear(key K) {
	if i := s.t.find(key); i >= 0 {
		s.t.remove(i)
	}
}

// Len returns the number of keys with a list.
func (s *ListState[K, V]) Len() int { return len(s.t.index) }

func (s *ListState[K, V]) stateName() string { return s.t.name }
func (s *ListState[K, V]) stateKind() byte   { return kindList }
func (s *ListState[K, V]) snapshot(bufs [][]byte, n []int) error {
	return s.t.snapshot(bufs, n, func(dst []byte, sl *slot[K, []V]) []byte {
		dst = Uint64Codec{}.Append(s.kc.Append(dst, sl.key), uint64(len(sl.val)))
		for _, v := range sl.val {
			dst = s.vc.Append(dst, v)
		}
		return dst
	})
}
