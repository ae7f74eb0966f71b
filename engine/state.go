package engine

import "sort"

// KeyedState is an operator's checkpointed state, one opaque blob per key
// group. Blobs are written in OnCheckpoint and handed back, filtered to the
// subtask's key groups, in OperatorContext.Restored. In a checkpoint
// (Snapshot.Operators) a key group's blob also holds the operator's typed
// state, if it has any (see StateBackend); Restored holds only what
// OnCheckpoint wrote.
type KeyedState struct {
	groups map[int][]byte
}

// NewKeyedState returns an empty KeyedState.
func NewKeyedState() *KeyedState { return &KeyedState{groups: map[int][]byte{}} }

// Put stores the state of key group kg, replacing any earlier value. The
// engine owns data after the call.
func (s *KeyedState) Put(kg int, data []byte) { s.groups[kg] = data }

// Get returns the state of key group kg, or nil.
func (s *KeyedState) Get(kg int) []byte {
	if s == nil {
		return nil
	}
	return s.groups[kg]
}

// KeyGroups returns the key groups that have state, in increasing order.
func (s *KeyedState) KeyGroups() []int {
	if s == nil {
		return nil
	}
	kgs := make([]int, 0, len(s.groups))
	for kg := range s.groups {
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
	for kg, b := range s.groups {
		if r.Contains(kg) {
			out.groups[kg] = b
		}
	}
	return out
}

// Merge copies every key group of o into s.
func (s *KeyedState) Merge(o *KeyedState) {
	if o == nil {
		return
	}
	for kg, b := range o.groups {
		s.groups[kg] = b
	}
}
