package engine

import "fmt"

// Segment is one part of a key group's state put with PutSegments: a base
// (every key) or a delta (the keys changed since the previous segment),
// with its own generation (see KeyedState: a non-zero generation promises
// the same bytes for this stage and key group in this process; take it
// from NewStateGen). Its bytes are Data, or made by Encode on another
// goroutine like an encoder of PutFunc (Encode, if set, wins).
//
// The segments of a key group concatenated in order must be a valid
// encoding of the whole key group: the store may write several adjacent
// segments as one, and a restore hands the operator the concatenation
// (KeyedState.Get). An operator's encoding makes this explicit (for
// example a tag per entry: put or delete, later entries replacing earlier
// ones for the same key).
type Segment struct {
	Gen    uint64
	Data   []byte
	Encode func() ([]byte, error)
}

// PutSegments stores key group kg's state as segs, in order, replacing any
// earlier value. A single segment is the same as PutGen or PutFunc; no
// segment removes the key group. Encoders run as for PutFunc (Resolve),
// and the state they read must stay frozen until they returned.
//
// The engine keeps segs itself, without copying it (PutSegments runs at
// every barrier, for every key group, on the subtask's goroutine): it owns
// the bytes, and it writes to a segment only to resolve it (Data set,
// Encode cleared). A caller may therefore put the same slice again, or a
// slice sharing its array, as long as its segments all hold Data; it must
// not change segs after the call.
func (s *KeyedState) PutSegments(kg int, segs []Segment) {
	switch {
	case len(segs) == 0:
		delete(s.groups, kg)
		delete(s.gens, kg)
		delete(s.pending, kg)
		delete(s.chains, kg)
	case len(segs) == 1 && segs[0].Encode != nil:
		s.PutFunc(kg, segs[0].Gen, segs[0].Encode)
	case len(segs) == 1:
		s.PutGen(kg, segs[0].Gen, segs[0].Data)
	default:
		delete(s.groups, kg)
		delete(s.gens, kg)
		delete(s.pending, kg)
		if s.chains == nil {
			s.chains = map[int][]Segment{}
		}
		s.chains[kg] = segs
	}
}

// Segments returns key group kg's state as segments, in order, with their
// bytes (encoders run now, on the caller's goroutine): one segment for a
// key group put with Put, PutGen or PutFunc, none for a key group without
// state or whose encoder failed (Resolve then returns the error). The
// caller must not modify the result.
func (s *KeyedState) Segments(kg int) []Segment {
	if s == nil {
		return nil
	}
	if c, ok := s.chains[kg]; ok {
		if s.resolveChain(kg, c) != nil {
			return nil
		}
		return c
	}
	if _, ok := s.pending[kg]; ok {
		if s.resolve(kg) != nil {
			return nil
		}
	}
	b, ok := s.groups[kg]
	if !ok {
		return nil
	}
	return []Segment{{Gen: s.gens[kg], Data: b}}
}

// resolveChain runs the encoders of a chain's segments, in order.
func (s *KeyedState) resolveChain(kg int, c []Segment) error {
	for i := range c {
		if c[i].Encode == nil {
			continue
		}
		b, err := c[i].Encode()
		if err != nil {
			err = fmt.Errorf("key group %d: segment %d: %w", kg, i, err)
			if s.err == nil {
				s.err = err
			}
			return err
		}
		c[i].Data, c[i].Encode = b, nil
	}
	return nil
}

// chainGen is the generation of a chain: its last segment's, or 0 if a
// segment has none.
func chainGen(c []Segment) uint64 {
	for _, seg := range c {
		if seg.Gen == 0 {
			return 0
		}
	}
	return c[len(c)-1].Gen
}

// concatSegments returns the segments' bytes, concatenated.
func concatSegments(c []Segment) []byte {
	n := 0
	for _, seg := range c {
		n += len(seg.Data)
	}
	out := make([]byte, 0, n)
	for _, seg := range c {
		out = append(out, seg.Data...)
	}
	return out
}

// hasPrefix reports whether key group kg's bytes (the concatenation of
// its segments, all resolved) begin with p, without concatenating them.
func (s *KeyedState) hasPrefix(kg int, p []byte) bool {
	c, ok := s.chains[kg]
	if !ok {
		b := s.groups[kg]
		return len(b) >= len(p) && string(b[:len(p)]) == string(p)
	}
	for _, seg := range c {
		if len(p) == 0 {
			return true
		}
		n := min(len(p), len(seg.Data))
		if string(seg.Data[:n]) != string(p[:n]) {
			return false
		}
		p = p[n:]
	}
	return len(p) == 0
}
