package engine

import (
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
)

// KeyedState is an operator's checkpointed state, one opaque blob per key
// group. Blobs are written in OnCheckpoint and handed back, filtered to the
// subtask's key groups, in OperatorContext.Restored. In a checkpoint
// (Snapshot.Operators) a key group's blob also holds the operator's typed
// state, if it has any (see StateBackend); Restored holds only what
// OnCheckpoint wrote.
//
// # Asynchronous and incremental snapshots
//
// OnCheckpoint runs on the subtask's goroutine, which processes no record
// until it returns. An operator with much state should only freeze it
// there and put an encoder with PutFunc: the engine runs the encoders on
// another goroutine while the subtask goes on processing, and the
// checkpoint completes once they have returned. A key group may carry a
// generation (PutGen, PutFunc): a non-zero generation promises that every
// blob put with it, for this stage and key group, in this process, has the
// same bytes. The checkpoint store writes a key group again only when its
// generation differs from the one it last wrote (incremental checkpoints);
// a blob with generation 0 is always written. Take generations from
// NewStateGen.
//
// A key group may also be put as several segments (PutSegments): a base
// and deltas, each with its own generation, so that the store writes only
// the segments it has not written yet (see Segment).
//
// Concurrency: a KeyedState is filled by one goroutine; the engine then
// hands it to another, which runs the encoders (Resolve). It is not safe
// for concurrent use.
type KeyedState struct {
	groups  map[int][]byte
	gens    map[int]uint64
	pending map[int]deferredGroup
	chains  map[int][]Segment // key groups put with more than one segment
	err     error             // the first encoder error seen by Get
}

// deferredGroup is a key group whose blob an encoder makes later.
type deferredGroup struct {
	gen    uint64
	encode func() ([]byte, error)
}

// NewKeyedState returns an empty KeyedState.
func NewKeyedState() *KeyedState { return &KeyedState{groups: map[int][]byte{}} }

var stateGen atomic.Uint64

// NewStateGen returns a new generation for PutGen and PutFunc: unique in
// the process, never 0. It is safe for concurrent use.
func NewStateGen() uint64 { return stateGen.Add(1) }

// Put stores the state of key group kg, replacing any earlier value, with
// generation 0 (always written). The engine owns data after the call.
func (s *KeyedState) Put(kg int, data []byte) { s.PutGen(kg, 0, data) }

// PutGen is Put with a generation (see KeyedState): an operator puts a key
// group that did not change since its previous checkpoint with that
// checkpoint's blob and generation.
func (s *KeyedState) PutGen(kg int, gen uint64, data []byte) {
	delete(s.chains, kg)
	s.groups[kg] = data
	s.setGen(kg, gen)
	delete(s.pending, kg)
}

// PutFunc stores key group kg's state as an encoder, which the engine calls
// once, on another goroutine, while the subtask goes on processing records
// (see KeyedState). Until encode has returned, the state it reads must
// stay as it was at the barrier: the operator freezes it or copies on
// write. The checkpoint fails if encode returns an error.
func (s *KeyedState) PutFunc(kg int, gen uint64, encode func() ([]byte, error)) {
	if s.pending == nil {
		s.pending = map[int]deferredGroup{}
	}
	delete(s.groups, kg)
	delete(s.chains, kg)
	s.pending[kg] = deferredGroup{gen: gen, encode: encode}
}

func (s *KeyedState) setGen(kg int, gen uint64) {
	if gen == 0 {
		delete(s.gens, kg)
		return
	}
	if s.gens == nil {
		s.gens = map[int]uint64{}
	}
	s.gens[kg] = gen
}

// Gen returns the generation of key group kg's blob, 0 if it has none.
// For a key group put as segments it is the last segment's generation (a
// chain is identified by its last segment), 0 if a segment has none.
func (s *KeyedState) Gen(kg int) uint64 {
	if s == nil {
		return 0
	}
	if c, ok := s.chains[kg]; ok {
		return chainGen(c)
	}
	if d, ok := s.pending[kg]; ok {
		return d.gen
	}
	return s.gens[kg]
}

// Resolve runs every encoder put with PutFunc, in increasing key-group
// order, and returns the first error (also one an earlier Get met). After
// it returns nil, every key group holds its blob.
func (s *KeyedState) Resolve() error {
	if s == nil {
		return nil
	}
	kgs := make([]int, 0, len(s.pending)+len(s.chains))
	for kg := range s.pending {
		kgs = append(kgs, kg)
	}
	for kg := range s.chains {
		kgs = append(kgs, kg)
	}
	sort.Ints(kgs)
	for _, kg := range kgs {
		if err := s.resolve(kg); err != nil {
			return err
		}
	}
	return s.err
}

func (s *KeyedState) resolve(kg int) error {
	if c, ok := s.chains[kg]; ok {
		return s.resolveChain(kg, c)
	}
	d, ok := s.pending[kg]
	if !ok {
		return nil
	}
	delete(s.pending, kg)
	b, err := d.encode()
	if err != nil {
		err = fmt.Errorf("key group %d: %w", kg, err)
		if s.err == nil {
			s.err = err
		}
		return err
	}
	s.groups[kg] = b
	s.setGen(kg, d.gen)
	return nil
}

// Get returns the state of key group kg, or nil. A key group put with
// PutFunc is encoded now, on the caller's goroutine; if that fails, Get
// returns nil and Resolve returns the error.
func (s *KeyedState) Get(kg int) []byte {
	if s == nil {
		return nil
	}
	if c, ok := s.chains[kg]; ok {
		if s.resolveChain(kg, c) != nil {
			return nil
		}
		return concatSegments(c)
	}
	if _, ok := s.pending[kg]; ok {
		_ = s.resolve(kg)
	}
	return s.groups[kg]
}

// KeyGroups returns the key groups that have state, in increasing order.
func (s *KeyedState) KeyGroups() []int {
	if s == nil {
		return nil
	}
	kgs := make([]int, 0, len(s.groups)+len(s.pending)+len(s.chains))
	for kg := range s.groups {
		kgs = append(kgs, kg)
	}
	for kg := range s.pending {
		kgs = append(kgs, kg)
	}
	for kg := range s.chains {
		kgs = append(kgs, kg)
	}
	sort.Ints(kgs)
	return kgs
}

// Subset returns the state of the key groups in r.
func (s *KeyedState) Subset(r KeyGroupRange) *KeyedState {
	out := NewKeyedState()
	if s == nil {
		return out
	}
	for _, kg := range s.KeyGroups() {
		if r.Contains(kg) {
			out.copyGroup(s, kg)
		}
	}
	return out
}

// Merge copies every key group of o into s.
func (s *KeyedState) Merge(o *KeyedState) {
	if o == nil {
		return
	}
	for _, kg := range o.KeyGroups() {
		s.copyGroup(o, kg)
	}
	if s.err == nil {
		s.err = o.err
	}
}

func (s *KeyedState) copyGroup(o *KeyedState, kg int) {
	if c, ok := o.chains[kg]; ok {
		s.PutSegments(kg, slices.Clone(c)) // o keeps resolving its own
		return
	}
	if d, ok := o.pending[kg]; ok {
		s.PutFunc(kg, d.gen, d.encode)
		return
	}
	s.PutGen(kg, o.gens[kg], o.groups[kg])
}
