package window

// minHeap is a binary heap ordered by less, without container/heap's
// interface boxing.
type minHeap[E any] struct {
	s    []E
	less func(a, b E) bool
}

func (h *minHeap[E]) push(e E) {
	h.s = append(h.s, e)
	h.up(len(h.s) - 1)
}

func (h *minHeap[E]) pop() E {
	top := h.s[0]
	n := len(h.s) - 1
	h.s[0] = h.s[n]
	var zero E
	h.s[n] = zero
	h.s = h.s[:n]
	if n > 0 {
		h.down(0)
	}
	return top
}

// init restores the heap order after h.s was changed arbitrarily: O(n).
func (h *minHeap[E]) init() {
	for i := len(h.s)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *minHeap[E]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.s[i], h.s[p]) {
			return
		}
		h.s[i], h.s[p] = h.s[p], h.s[i]
		i = p
	}
}

func (h *minHeap[E]) down(i int) {
	n := len(h.s)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && h.less(h.s[r], h.s[l]) {
			c = r
		}
		if !h.less(h.s[c], h.s[i]) {
			return
		}
		h.s[i], h.s[c] = h.s[c], h.s[i]
		i = c
	}
}

// timer is one registered timer: Flink's InternalTimer (key, namespace =
// window, timestamp).
type timer[K comparable] struct {
	key K
	w   Window
	ts  int64
}

type timerEntry[K comparable] struct {
	t   timer[K]
	seq uint64
}

// timerQueue is a set of timers ordered by (timestamp, registration order).
// Deletion is lazy: the heap entry stays until popped and is skipped if its
// registration is no longer live.
type timerQueue[K comparable] struct {
	h    minHeap[timerEntry[K]]
	live map[timer[K]]uint64
	seq  uint64
}

func newTimerQueue[K comparable]() timerQueue[K] {
	return timerQueue[K]{
		h: minHeap[timerEntry[K]]{less: func(a, b timerEntry[K]) bool {
			return a.t.ts < b.t.ts || a.t.ts == b.t.ts && a.seq < b.seq
		}},
		live: map[timer[K]]uint64{},
	}
}

func (q *timerQueue[K]) set(t timer[K]) {
	if _, ok := q.live[t]; ok {
		return
	}
	q.seq++
	q.live[t] = q.seq
	q.h.push(timerEntry[K]{t: t, seq: q.seq})
	// Bound the garbage left by lazy deletion.
	if len(q.h.s) > 64 && len(q.h.s) > 2*len(q.live) {
		q.compact()
	}
}

func (q *timerQueue[K]) del(t timer[K]) { delete(q.live, t) }

func (q *timerQueue[K]) compact() {
	kept := q.h.s[:0]
	for _, e := range q.h.s {
		if q.live[e.t] == e.seq {
			kept = append(kept, e)
		}
	}
	clear(q.h.s[len(kept):])
	q.h.s = kept
	q.h.init()
}

// popDue removes and returns the earliest live timer with ts <= limit.
func (q *timerQueue[K]) popDue(limit int64) (timer[K], bool) {
	for len(q.h.s) > 0 && q.h.s[0].t.ts <= limit {
		e := q.h.pop()
		if seq, ok := q.live[e.t]; ok && seq == e.seq {
			delete(q.live, e.t)
			return e.t, true
		}
	}
	return timer[K]{}, false
}
