package cassandra

import (
	"testing"
)

// acked releases each run of rows from one batch with one operation and
// reports a batch exactly once, when its last row and its writer's hold are
// released, whatever the order of the requests.
func TestAckedRefCounts(t *testing.T) {
	type ack struct {
		stamp int64
		n     int
	}
	var got []ack
	s := &Sink[int, int]{}
	s.SetAck(func(stamp int64, n int) { got = append(got, ack{stamp, n}) })
	newRef := func(stamp int64, n int) *ackRef {
		r := &ackRef{stamp: stamp, n: n}
		r.left.Store(int64(n) + 1)
		return r
	}
	a, b := newRef(1, 3), newRef(2, 2)
	// Three requests: [a a b], [b], [a].
	s.acked([]*ackRef{a, a, b})
	if len(got) != 0 {
		t.Fatalf("acked before completion: %v", got)
	}
	s.release(b, 1) // b's writer is done collecting
	s.acked([]*ackRef{b})
	if len(got) != 1 || got[0] != (ack{2, 2}) {
		t.Fatalf("after b's last row: %v", got)
	}
	s.acked([]*ackRef{a})
	if len(got) != 1 {
		t.Fatalf("a reported while its writer still holds it: %v", got)
	}
	s.release(a, 1)
	if len(got) != 2 || got[1] != (ack{1, 3}) {
		t.Fatalf("after a's writer: %v", got)
	}
}

func TestAckAllocs(t *testing.T) {
	s := &Sink[int, int]{}
	s.SetAck(func(int64, int) {})
	refs := make([]*ackRef, 64)
	if n := testing.AllocsPerRun(100, func() {
		r, _ := s.refs.Get().(*ackRef)
		if r == nil {
			r = &ackRef{}
		}
		r.left.Store(int64(len(refs)) + 1)
		for i := range refs {
			refs[i] = r
		}
		s.acked(refs)
		s.release(r, 1)
	}); n > 0.1 {
		t.Errorf("%v allocations per acknowledged batch", n)
	}
}
