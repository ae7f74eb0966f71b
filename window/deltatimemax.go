package window

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// DeltaTimeMaxSpec configures DeltaTimeMax, the fused equivalent of the
// generic operator with
//
//	Spec{Assigner: Global(), Evictor: TimeEvictor(Evict, false),
//	     Trigger: Delta(Threshold, Delta), Function: MaxBy(Compare)}
//
// (see AsSpec), which is Flink's TopSpeedWindowing job: keyBy(id)
// .window(GlobalWindows.create()).evictor(TimeEvictor.of(evict))
// .trigger(DeltaTrigger.of(threshold, delta)).maxBy(speed).
type DeltaTimeMaxSpec[T any] struct {
	// Timestamp returns an element's event time in milliseconds. If nil,
	// ApplyDeltaTimeMax takes the keyed stream's (engine.Stream.Timestamps);
	// one of the two is required. Any int64 is a valid timestamp: near
	// math.MinInt64 the eviction cutoff stops at math.MinInt64 rather than
	// wrap around.
	Timestamp func(T) int64
	// Evict is the time evictor's size: at a firing, elements with
	// timestamp <= (largest timestamp of the key) - Evict are removed.
	// Truncated to milliseconds; at least 1ms.
	Evict time.Duration
	// Threshold and Delta are the delta trigger's: an element e fires when
	// Delta(lastFired, e) > Threshold. Delta is required.
	Threshold float64
	Delta     func(old, new T) float64
	// Compare orders elements by the maxBy field: > 0 if a is greater. Among
	// equal maxima the earliest element wins. Required.
	Compare func(a, b T) int
	// Codec encodes elements for checkpoints; needed only if the pipeline
	// takes checkpoints. Keys are not encoded: a key is recomputed from its
	// last-fired element.
	Codec Codec[T]
}

// Validate reports the first missing or invalid setting.
func (c DeltaTimeMaxSpec[T]) Validate() error {
	switch {
	case c.Timestamp == nil:
		return errors.New("window: DeltaTimeMaxSpec.Timestamp is nil and the stream declares no timestamps (engine.FromSource's WatermarkStrategy, engine.WithTimestamps)")
	case c.Delta == nil:
		return errors.New("window: DeltaTimeMaxSpec.Delta is nil")
	case c.Compare == nil:
		return errors.New("window: DeltaTimeMaxSpec.Compare is nil")
	case c.Evict.Milliseconds() < 1:
		return fmt.Errorf("window: DeltaTimeMaxSpec.Evict %v is less than 1ms", c.Evict)
	}
	return nil
}

// AsSpec returns the generic window operator spec that a DeltaTimeMax with
// spec c is equivalent to: Global assigner, TimeEvictor(Evict, evict
// before), Delta trigger, MaxBy(Compare), same Timestamp and element Codec
// (set KeyCodec to checkpoint it).
func AsSpec[K comparable, T any](c DeltaTimeMaxSpec[T]) Spec[K, T, T] {
	return Spec[K, T, T]{
		Assigner:  Global(),
		Trigger:   Delta(c.Threshold, c.Delta),
		Evictor:   TimeEvictor[T](c.Evict, false),
		Function:  MaxBy[K](c.Compare),
		Timestamp: c.Timestamp,
		Codec:     c.Codec,
	}
}

// DeltaTimeMax is the fused TopSpeed operator. Its output is record for
// record the output of the generic Operator running
// AsSpec(spec), i.e. of Flink. Per element e of key k:
//
//  1. e is added to k's window contents (arrival order);
//  2. the delta trigger: if k has no last-fired element, e becomes it and
//     nothing is emitted; else if Delta(lastFired, e) > Threshold, e becomes
//     the last-fired element and the window fires;
//  3. on firing: cutoff = (largest timestamp among k's contents) - Evict;
//     every element with timestamp <= cutoff is removed for good; the
//     first-arrived element with the maximum by Compare among the rest is
//     emitted.
//
// Nothing fires on watermarks, processing time or at the end of the input.
//
// # How it stays exact with bounded state
//
// The largest timestamp among Flink's contents is the largest timestamp the
// key ever saw (maxTs): the element holding it is never evicted, because
// cutoff = maxTs - Evict < maxTs. So cutoff never decreases, and an element
// with timestamp <= maxTs - Evict will be removed at the next firing before
// it could be emitted: such elements are dropped as soon as they are seen,
// including on arrival. And an element a is dominated once a later element
// b arrives with Compare(b, a) > 0 and timestamp(b) >= timestamp(a): at
// every later firing where a is still there, b is too (it is removed no
// earlier) and is strictly greater, so a can never be the first maximum and
// dropping a is exact. Equal elements never dominate each other, so ties go
// to the earliest, as in Flink.
//
// While a key's timestamps do not decrease (or decrease only to at most the
// cutoff), its contents are a monotonic deque in a ring buffer: values
// non-increasing, timestamps non-decreasing, arrival order from front to
// back. A new element pops the back while the back is strictly smaller
// (dominated), then is appended; the front is popped while its timestamp is
// <= cutoff. The answer at a firing is the front. Each element is pushed and
// popped at most once: O(1) amortised per element, no allocation once the
// ring buffer has grown to the key's working set.
//
// The first element whose timestamp t satisfies cutoff < t < maxTs would
// break the deque's timestamp order (a dominating later element might be
// removed before the element it dominates), so the key switches for good to
// a binary heap ordered by (Compare descending, arrival ascending), keeping
// every element with timestamp > cutoff. Elements with timestamp <= cutoff
// are removed lazily when they reach the top at a firing and by compaction
// whenever the heap has grown to twice its size after the last compaction
// (plus 16): O(log n) amortised per element, n the number of the key's
// elements within the last Evict of event time.
//
// # Memory
//
// Per key, forever (the global window is never cleaned up, as in Flink):
// the last-fired element, maxTs, and the retained elements (see Retained).
// In deque mode these are exactly the non-dominated elements with timestamp
// > maxTs - Evict, in a ring buffer that only grows: its capacity is the
// power of two (at least 8) above the most it ever held at once. In
// heap mode they are the elements with timestamp > maxTs - Evict plus
// removed ones awaiting compaction; the heap never holds more than 2L + 16
// entries, L being the number it kept at its last compaction. A car that
// stops and keeps reporting in order keeps only its reports of the last
// Evict. Flink instead keeps every element of the key until a firing
// evicts it, so a car that stops firing grows without bound.
//
// Not safe for concurrent use (the engine calls it from one goroutine).
type DeltaTimeMax[K comparable, T any] struct {
	keys   engine.Keys[K, T]
	cfg    DeltaTimeMaxSpec[T]
	err    error
	size   int64
	states keyIndex[K, dtmKey[T]]
	less   func(a, b dtmItem[T]) bool

	lastKey K
	last    *dtmKey[T] // cache: states[lastKey]
	out     []T        // output of the current hook
	fires   int64

	// groups holds each key group's keys, indexed by key group (nil: no
	// key yet), for snapshots by key group; see OnCheckpoint.
	groups []*dtmGroup[T]
	// epoch counts checkpoints: a key with ver < epoch existed at the last
	// one and is copied before it changes while its group is frozen.
	epoch uint64
}

// dtmGroup is one key group's keys and its snapshot state.
//
// Copy on write: at a checkpoint a changed group is frozen (frozen holds
// the generation being encoded) and an encoder on another goroutine reads
// keys[:n] and those keys' contents as they were at the barrier. Until it
// is done (frozen back to 0), the operator's goroutine never changes them:
// a key that existed at the barrier is copied before its first change
// (dtmKey.ver < epoch), and keys itself is copied before an entry is
// replaced (shared); new keys are appended beyond n, which the encoder
// does not read.
//
// Deltas: the group's state is a chain of segments, a base (every key)
// and deltas (the keys changed since the segment before). dirtyIdx lists
// the keys changed or added since the last checkpoint (by index in keys;
// dtmKey.mark says whether a key is listed), encIdx the list a running
// delta encoder reads; the two swap at a checkpoint, so that tracking
// allocates nothing in steady state.
type dtmGroup[T any] struct {
	kg       int
	keys     []*dtmKey[T]
	shared   bool // keys' array is still read by an encoder: copy before replacing an entry
	dirty    bool // a key changed or was added since the last checkpoint
	dirtyIdx []int32
	encIdx   []int32
	gen      uint64 // generation of the last segment put
	frozen   atomic.Uint64
	// cache is the chain of the group's encoded segments; the group is
	// unchanged since if !dirty and cache.last() == gen. An encoder
	// publishes a new chain; the operator reads it at the next barrier.
	cache atomic.Pointer[dtmChain]
}

// dtmChain is a key group's encoded segments: a base and deltas. It is
// never modified once published.
type dtmChain struct {
	segs      []engine.Segment
	baseBytes int // size of the base
	baseKeys  int // keys in the base
	deltas    int // total size of the deltas
}

func (c *dtmChain) last() uint64 { return c.segs[len(c.segs)-1].Gen }

// Chain bounds: a changed key group gets a delta segment only while its
// chain is short and its deltas small beside the base; else a new base
// (compaction). They bound what a restore decodes beyond the base (half
// of it) and the pieces a manifest lists per key group. The size bound is
// the one that usually acts: a job changing 1% of its keys per checkpoint
// compacts about every 50 checkpoints, so a checkpoint writes about 1% +
// 100%/50 of the full state on average; a length bound of 16 would
// compact every 16th and average 1% + 6%.
const (
	// dtmMaxChain is the most segments (base included) of a chain.
	dtmMaxChain = 64
	// dtmMaxDeltaPct is the most the deltas of a chain may add up to, in
	// percent of the base's size.
	dtmMaxDeltaPct = 50
)

// dtmKey is the state of one key.
type dtmKey[T any] struct {
	kg        int32 // key group, computed once
	g         *dtmGroup[T]
	idx       int32  // index in g.keys
	ver       uint64 // epoch at which this copy was made
	mark      uint64 // epoch+1 when listed in g.dirtyIdx
	lastFired T
	hasLast   bool // also: the key has seen an element, maxTs is valid
	maxTs     int64
	deque     ring[Element[T]]
	heapMode  bool
	heap      minHeap[dtmItem[T]]
	compactAt int
	seq       uint64
}

type dtmItem[T any] struct {
	e   Element[T]
	seq uint64
}

// NewDeltaTimeMax returns the fused operator for the records keyed by keys.
func NewDeltaTimeMax[K comparable, T any](keys engine.Keys[K, T], spec DeltaTimeMaxSpec[T]) (*DeltaTimeMax[K, T], error) {
	o := newDeltaTimeMax(keys, spec)
	return o, o.err
}

func newDeltaTimeMax[K comparable, T any](keys engine.Keys[K, T], spec DeltaTimeMaxSpec[T]) *DeltaTimeMax[K, T] {
	o := &DeltaTimeMax[K, T]{keys: keys, cfg: spec, err: spec.Validate(), size: spec.Evict.Milliseconds(), states: newKeyIndex[K, dtmKey[T]](keys.Hash)}
	o.less = func(a, b dtmItem[T]) bool {
		c := spec.Compare(a.e.Value, b.e.Value)
		return c > 0 || c == 0 && a.seq < b.seq
	}
	return o
}

// DeltaTimeMaxFactory returns an engine.OperatorFactory for DeltaTimeMax
// (K must be given: DeltaTimeMaxFactory[int32](spec)).
// An invalid config makes Open fail.
func DeltaTimeMaxFactory[K comparable, T any](spec DeltaTimeMaxSpec[T]) engine.OperatorFactory[K, T, T] {
	return func(keys engine.Keys[K, T]) engine.Operator[T, T] { return newDeltaTimeMax(keys, spec) }
}

// ApplyDeltaTimeMax adds a DeltaTimeMax stage named name to the pipeline,
// spec.Timestamp defaulting to the stream's.
func ApplyDeltaTimeMax[K comparable, T any](in engine.KeyedStream[K, T], name string, spec DeltaTimeMaxSpec[T]) engine.Stream[T] {
	if spec.Timestamp == nil {
		spec.Timestamp = in.Timestamps()
	}
	return engine.Process(in, name, DeltaTimeMaxFactory[K](spec))
}

// Keys returns the number of keys with state.
func (o *DeltaTimeMax[K, T]) Keys() int { return o.states.Len() }

// Retained returns the number of elements kept for all keys (deque entries,
// heap entries including those awaiting compaction), excluding the
// last-fired elements.
func (o *DeltaTimeMax[K, T]) Retained() int {
	n := 0
	o.states.Range(func(_ K, s *dtmKey[T]) bool {
		n += s.deque.len() + len(s.heap.s)
		return true
	})
	return n
}

// Open restores the state of ctx.Restored, if any.
func (o *DeltaTimeMax[K, T]) Open(ctx engine.OperatorContext) error {
	if o.err != nil {
		return o.err
	}
	for _, kg := range ctx.Restored.KeyGroups() {
		if !ctx.KeyGroups.Contains(kg) {
			continue
		}
		if err := o.restoreGroup(kg, ctx.Restored.Get(kg)); err != nil {
			return fmt.Errorf("window: restoring key group %d: %w", kg, err)
		}
	}
	return nil
}

// ProcessBatch handles each record as described on DeltaTimeMax.
func (o *DeltaTimeMax[K, T]) ProcessBatch(in []T, out *engine.Output[T]) error {
	o.out = o.out[:0]
	for i := range in {
		o.process(&in[i])
	}
	out.EmitAll(o.out)
	return nil
}

func (o *DeltaTimeMax[K, T]) state(key K) *dtmKey[T] {
	if o.last != nil && o.lastKey == key {
		return o.last
	}
	s := o.states.Get(key)
	if s == nil {
		s = &dtmKey[T]{kg: int32(o.keys.KeyGroup(key))}
		o.addKey(key, s)
	}
	o.lastKey, o.last = key, s
	return s
}

// addKey adds a new key to the operator and to its key group.
func (o *DeltaTimeMax[K, T]) addKey(key K, s *dtmKey[T]) {
	kg := int(s.kg)
	if kg >= len(o.groups) {
		o.groups = append(o.groups, make([]*dtmGroup[T], kg+1-len(o.groups))...)
	}
	g := o.groups[kg]
	if g == nil {
		g = &dtmGroup[T]{kg: kg}
		o.groups[kg] = g
	}
	s.g, s.idx, s.ver = g, int32(len(g.keys)), o.epoch
	g.keys = append(g.keys, s)
	o.markDirty(s)
	o.states.Set(key, s)
}

// markDirty marks s's group changed and lists s among the keys the group's
// next delta holds.
func (o *DeltaTimeMax[K, T]) markDirty(s *dtmKey[T]) {
	g := s.g
	g.dirty = true
	if s.mark != o.epoch+1 {
		s.mark = o.epoch + 1
		g.dirtyIdx = append(g.dirtyIdx, s.idx)
	}
}

// writable returns o.last (the state of o.lastKey), copied first if a
// running snapshot may still read it, and marks its group changed.
func (o *DeltaTimeMax[K, T]) writable(s *dtmKey[T]) *dtmKey[T] {
	g := s.g
	o.markDirty(s)
	if s.ver == o.epoch || g.frozen.Load() == 0 {
		return s
	}
	c := *s
	c.deque.buf = slices.Clone(s.deque.buf)
	c.heap.s = slices.Clone(s.heap.s)
	c.ver = o.epoch
	if g.shared {
		g.keys = slices.Clone(g.keys)
		g.shared = false
	}
	g.keys[s.idx] = &c
	o.states.Set(o.lastKey, &c)
	o.last = &c
	return &c
}

// evictCutoff is maxTs - size, the timestamp at or below which elements are
// evicted, saturated at math.MinInt64: a wrapped cutoff (maxTs within size
// of math.MinInt64) would evict everything and drop the new element, so
// that the next firing re-emitted an old maximum.
func evictCutoff(maxTs, size int64) int64 {
	if maxTs < math.MinInt64+size {
		return math.MinInt64
	}
	return maxTs - size
}

func (o *DeltaTimeMax[K, T]) process(e *T) {
	s := o.writable(o.state(o.keys.Key(*e)))
	ts := o.cfg.Timestamp(*e)
	if !s.hasLast {
		s.maxTs = ts
		s.lastFired, s.hasLast = *e, true
		s.deque.pushBack(Element[T]{Value: *e, Timestamp: ts})
		return
	}
	s.maxTs = max(s.maxTs, ts)
	cutoff := evictCutoff(s.maxTs, o.size)
	if ts > cutoff {
		if !s.heapMode && ts < s.maxTs {
			o.toHeap(s)
		}
		if s.heapMode {
			o.heapAdd(s, Element[T]{Value: *e, Timestamp: ts}, cutoff)
		} else {
			o.dequeAdd(s, e, ts, cutoff)
		}
	}
	if !(o.cfg.Delta(s.lastFired, *e) > o.cfg.Threshold) {
		return
	}
	s.lastFired = *e
	o.fires++
	if s.heapMode {
		for len(s.heap.s) > 0 && s.heap.s[0].e.Timestamp <= cutoff {
			s.heap.pop()
		}
		if len(s.heap.s) > 0 {
			o.out = append(o.out, s.heap.s[0].e.Value)
		}
		return
	}
	if s.deque.len() > 0 {
		o.out = append(o.out, s.deque.front().Value)
	}
}

func (o *DeltaTimeMax[K, T]) dequeAdd(s *dtmKey[T], e *T, ts, cutoff int64) {
	d := &s.deque
	for d.n > 0 && d.front().Timestamp <= cutoff {
		d.popFront()
	}
	for d.n > 0 && o.cfg.Compare(d.back().Value, *e) < 0 {
		d.popBack()
	}
	x := d.pushSlot()
	x.Value, x.Timestamp = *e, ts
}

// toHeap moves a key's deque into heap mode, keeping arrival order in seq.
func (o *DeltaTimeMax[K, T]) toHeap(s *dtmKey[T]) {
	s.heapMode = true
	s.heap = minHeap[dtmItem[T]]{s: make([]dtmItem[T], 0, 2*s.deque.len()+16), less: o.less}
	for i := 0; i < s.deque.len(); i++ {
		s.heap.s = append(s.heap.s, dtmItem[T]{e: *s.deque.at(i), seq: s.seq})
		s.seq++
	}
	s.deque = ring[Element[T]]{}
	s.heap.init()
	s.compactAt = 2*len(s.heap.s) + 16
}

func (o *DeltaTimeMax[K, T]) heapAdd(s *dtmKey[T], e Element[T], cutoff int64) {
	s.heap.push(dtmItem[T]{e: e, seq: s.seq})
	s.seq++
	if len(s.heap.s) < s.compactAt {
		return
	}
	kept := s.heap.s[:0]
	for _, it := range s.heap.s {
		if it.e.Timestamp > cutoff {
			kept = append(kept, it)
		}
	}
	clear(s.heap.s[len(kept):])
	s.heap.s = kept
	s.heap.init()
	s.compactAt = 2*len(kept) + 16
}

// OnWatermark emits nothing: the global window never fires on time.
func (o *DeltaTimeMax[K, T]) OnWatermark(int64, *engine.Output[T]) error {
	o.out = o.out[:0]
	return nil
}

// OnProcessingTime emits nothing.
func (o *DeltaTimeMax[K, T]) OnProcessingTime(int64, *engine.Output[T]) error {
	o.out = o.out[:0]
	return nil
}

// OnCommit does nothing.
func (o *DeltaTimeMax[K, T]) OnCommit(uint64) error { return nil }

// Close emits nothing: Flink emits nothing for a global window at the end.
func (o *DeltaTimeMax[K, T]) Close(*engine.Output[T]) error {
	o.out = o.out[:0]
	return nil
}

// State versions: 1 is a whole key group (older builds); 2 a segment of
// a chain, with a tag per entry. Both may be concatenated.
const (
	dtmStateV1 = 1
	dtmStateV2 = 2
)

// Entry tags of a version-2 segment.
const (
	dtmPut    = 0 // the key's whole state: added or replaced
	dtmDelete = 1 // the key is removed
)

// OnCheckpoint puts each key group's keys into state as a chain of
// segments (engine.KeyedState.PutSegments), asynchronously: a key group
// unchanged since the last checkpoint is put with the segments and
// generations its encoders cached; a changed one is frozen (see dtmGroup)
// and gets a new segment, encoded on another goroutine: a delta of the
// keys changed since the last checkpoint if the chain stays within
// dtmMaxChain and dtmMaxDeltaPct, else a new base. The call itself is
// O(key groups). It fails if Codec is missing. The encoders of one
// checkpoint must have returned (or be dropped) before the next
// OnCheckpoint, as the engine ensures; a group whose last encoder did not
// run gets a new base.
//
// Format: a key group's state is its segments concatenated. A segment
// (version 2) is the version byte 2, uvarint entry count, then per entry
// a tag byte: 0 (put) followed by the key's state, or 1 (delete) followed
// by an element of the key (the key is recomputed from it). A key's state
// is: varint maxTs, last-fired element (the key is recomputed from it),
// mode byte (0 deque, 1 heap), uvarint n and n × (varint timestamp,
// element) in arrival order, leaving out elements with timestamp <=
// maxTs - Evict. A version-1 blob (older builds) is the version byte 1,
// uvarint key count and the keys' states without tags. Decoding applies
// the entries in order; a later put replaces a key, a delete removes it
// (DeltaTimeMax never removes keys, so it writes no deletes).
func (o *DeltaTimeMax[K, T]) OnCheckpoint(_ uint64, state *engine.KeyedState) error {
	if o.cfg.Codec == nil {
		return errNoElemCodec
	}
	o.epoch++
	for _, g := range o.groups {
		if g == nil || len(g.keys) == 0 {
			continue
		}
		c := g.cache.Load()
		if c != nil && c.last() != g.gen {
			c = nil // the last encoder did not run
		}
		if !g.dirty && c != nil {
			state.PutSegments(g.kg, c.segs)
			continue
		}
		g.dirty, g.shared, g.gen = false, true, engine.NewStateGen()
		g.frozen.Store(g.gen)
		g.dirtyIdx, g.encIdx = g.encIdx[:0], g.dirtyIdx
		if c != nil && o.deltaFits(c, len(g.encIdx)) {
			state.PutSegments(g.kg, o.deltaSegment(g, c))
		} else {
			state.PutSegments(g.kg, o.baseSegment(g, c))
		}
	}
	return nil
}

// deltaFits reports whether a delta of n keys may extend chain c.
func (o *DeltaTimeMax[K, T]) deltaFits(c *dtmChain, n int) bool {
	if len(c.segs) >= dtmMaxChain || c.baseKeys == 0 {
		return false
	}
	estimate := c.baseBytes / c.baseKeys * n
	return (c.deltas+estimate)*100 <= c.baseBytes*dtmMaxDeltaPct
}

// baseSegment returns the segments of a new chain: a base of the group's
// keys at the barrier, encoded later.
func (o *DeltaTimeMax[K, T]) baseSegment(g *dtmGroup[T], c *dtmChain) []engine.Segment {
	gen, keys, hint := g.gen, g.keys, 0
	if c != nil {
		hint = c.baseBytes + c.baseBytes/8
	}
	return []engine.Segment{{Gen: gen, Encode: func() ([]byte, error) {
		b := o.encodeGroup(make([]byte, 0, hint), keys, nil)
		g.cache.Store(&dtmChain{segs: []engine.Segment{{Gen: gen, Data: b}}, baseBytes: len(b), baseKeys: len(keys)})
		g.frozen.CompareAndSwap(gen, 0)
		return b, nil
	}}}
}

// deltaSegment returns chain c extended by a delta of the keys listed in
// g.encIdx at the barrier, encoded later.
//
// The delta is appended in place when c.segs has room (the encoder leaves
// room: it publishes each chain in a new array grown by append), so that
// a barrier does not copy the chain: only this checkpoint's slice reaches
// past len(c.segs), and c is extended at most once, since the next
// barrier uses the chain this delta's encoder publishes or, if it did not
// run, a new base.
func (o *DeltaTimeMax[K, T]) deltaSegment(g *dtmGroup[T], c *dtmChain) []engine.Segment {
	gen, keys, idx := g.gen, g.keys, g.encIdx
	return append(c.segs, engine.Segment{Gen: gen, Encode: func() ([]byte, error) {
		b := o.encodeGroup(nil, keys, idx)
		next := *c
		next.segs = append(c.segs[:len(c.segs):len(c.segs)], engine.Segment{Gen: gen, Data: b})
		next.deltas += len(b)
		g.cache.Store(&next)
		g.frozen.CompareAndSwap(gen, 0)
		return b, nil
	}})
}

// encodeGroup appends a version-2 segment to b (see OnCheckpoint) that
// puts keys, or only keys[i] for i in idx if idx is not nil. It reads only
// those keys, their contents and o's immutable configuration, so it may
// run on another goroutine while they are frozen.
func (o *DeltaTimeMax[K, T]) encodeGroup(b []byte, keys []*dtmKey[T], idx []int32) []byte {
	n := len(keys)
	if idx != nil {
		n = len(idx)
	}
	b = binary.AppendUvarint(append(b, dtmStateV2), uint64(n))
	var items []dtmItem[T]
	for i := range n {
		s := keys[i]
		if idx != nil {
			s = keys[idx[i]]
		}
		b = append(b, dtmPut)
		b, items = o.appendKey(b, s, items)
	}
	return b
}

// appendKey appends the state of key s; items is scratch space.
func (o *DeltaTimeMax[K, T]) appendKey(b []byte, s *dtmKey[T], items []dtmItem[T]) ([]byte, []dtmItem[T]) {
	b = binary.AppendVarint(b, s.maxTs)
	b = o.cfg.Codec.Append(b, s.lastFired)
	cutoff := evictCutoff(s.maxTs, o.size)
	if !s.heapMode {
		b = append(b, 0)
		b = binary.AppendUvarint(b, uint64(s.deque.len()))
		for i := 0; i < s.deque.len(); i++ {
			e := s.deque.at(i)
			b = o.cfg.Codec.Append(binary.AppendVarint(b, e.Timestamp), e.Value)
		}
		return b, items
	}
	items = items[:0]
	for _, it := range s.heap.s {
		if it.e.Timestamp > cutoff {
			items = append(items, it)
		}
	}
	slices.SortFunc(items, func(a, b dtmItem[T]) int { return cmp.Compare(a.seq, b.seq) })
	b = append(b, 1)
	b = binary.AppendUvarint(b, uint64(len(items)))
	for _, it := range items {
		b = o.cfg.Codec.Append(binary.AppendVarint(b, it.e.Timestamp), it.e.Value)
	}
	return b, items
}

// restoreGroup restores key group kg from b, its segments concatenated
// (see OnCheckpoint).
func (o *DeltaTimeMax[K, T]) restoreGroup(kg int, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if o.cfg.Codec == nil {
		return errNoElemCodec
	}
	r := &reader{b: b}
	inSegment := map[K]bool{}
	for seg := 0; len(r.b) > 0 && r.err == nil; seg++ {
		version := r.byte()
		if version != dtmStateV1 && version != dtmStateV2 {
			return fmt.Errorf("window: segment %d: unsupported DeltaTimeMax state version %d", seg, version)
		}
		clear(inSegment)
		for n := r.count(); n > 0 && r.err == nil; n-- {
			tag := byte(dtmPut)
			if version == dtmStateV2 {
				tag = r.byte()
			}
			if err := o.restoreEntry(r, kg, tag, inSegment); err != nil {
				return fmt.Errorf("window: segment %d: %w", seg, err)
			}
		}
	}
	o.last = nil
	return r.err
}

// restoreEntry decodes one entry of a segment of key group kg: a put
// (a key's state, added or replacing the key) or a delete.
func (o *DeltaTimeMax[K, T]) restoreEntry(r *reader, kg int, tag byte, inSegment map[K]bool) error {
	if tag != dtmPut && tag != dtmDelete {
		r.fail(errCorrupt)
		return fmt.Errorf("entry tag %d: %w", tag, errCorrupt)
	}
	s := &dtmKey[T]{hasLast: true, kg: int32(kg)}
	if tag == dtmPut {
		s.maxTs = r.varint()
	}
	s.lastFired = readValue(r, o.cfg.Codec)
	if r.err != nil {
		return r.err
	}
	k := o.keys.Key(s.lastFired)
	if o.keys.KeyGroup(k) != kg {
		return fmt.Errorf("restored key %v belongs to key group %d, not %d", k, o.keys.KeyGroup(k), kg)
	}
	if inSegment[k] {
		return fmt.Errorf("restored key %v twice", k)
	}
	inSegment[k] = true
	old := o.states.Get(k)
	if tag == dtmDelete {
		if old == nil {
			return fmt.Errorf("delete of key %v, which no earlier segment put", k)
		}
		o.removeKey(k, old)
		return nil
	}
	heapMode := r.byte() == 1
	for m := r.count(); m > 0 && r.err == nil; m-- {
		ts := r.varint()
		s.deque.pushBack(Element[T]{Timestamp: ts, Value: readValue(r, o.cfg.Codec)})
	}
	if heapMode {
		o.toHeap(s)
	}
	if old != nil {
		s.g, s.idx, s.ver, s.mark = old.g, old.idx, old.ver, old.mark
		old.g.keys[old.idx] = s
		o.states.Set(k, s)
		return r.err
	}
	o.addKey(k, s)
	return r.err
}

// removeKey removes key k (state s) from the operator and its key group.
// Only a restore removes keys.
func (o *DeltaTimeMax[K, T]) removeKey(k K, s *dtmKey[T]) {
	g := s.g
	last := g.keys[len(g.keys)-1]
	g.keys[s.idx], last.idx = last, s.idx
	g.keys[len(g.keys)-1] = nil
	g.keys = g.keys[:len(g.keys)-1]
	g.dirty = true
	o.states.Delete(k)
}
