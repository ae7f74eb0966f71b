package window

// ring is a double-ended queue in a power-of-two ring buffer. It only grows,
// so a key's steady state allocates nothing.
type ring[E any] struct {
	buf  []E
	head int
	n    int
}

func (r *ring[E]) len() int { return r.n }

func (r *ring[E]) at(i int) *E { return &r.buf[(r.head+i)&(len(r.buf)-1)] }

func (r *ring[E]) front() *E { return r.at(0) }

func (r *ring[E]) back() *E { return r.at(r.n - 1) }

func (r *ring[E]) pushBack(e E) { *r.pushSlot() = e }

// pushSlot adds an entry at the back and returns it to be filled in place
// (no element passed by value).
func (r *ring[E]) pushSlot() *E {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.n++
	return r.at(r.n - 1)
}

// grow doubles the buffer (to at least 8 entries).
func (r *ring[E]) grow() {
	nb := make([]E, max(8, 2*len(r.buf)))
	for i := 0; i < r.n; i++ {
		nb[i] = *r.at(i)
	}
	r.buf, r.head = nb, 0
}

func (r *ring[E]) popBack() {
	var zero E
	*r.back() = zero
	r.n--
}

func (r *ring[E]) popFront() {
	var zero E
	*r.front() = zero
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
}
