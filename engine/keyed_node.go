package engine

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// exchange is the outlet of a KeyBy: it splits each batch by key group into
// one batch per downstream subtask. Split batches come from a free list and
// go back to it once the subtask has processed them, so the steady state
// allocates nothing.
//
// A batch is split in two passes: the first computes each record's
// subtask, the second copies each record into its subtask's batch, sized
// beforehand. Keeping the hashing apart from the stores into the batches
// lets each loop keep its state in registers.
type exchange[K comparable, T any] struct {
	keys  Keys[K, T]
	owner []int32 // key group -> subtask
	to    *keyedNode[T]
	// Per producer instance (from), scratch that push reuses:
	route [][]int32 // [from][i]: the subtask of record i of the batch
	count [][]int   // [from][subtask]: records of the batch for it
	outs  [][][]T   // [from][subtask]: its batch being filled
}

func newExchange[K comparable, T any](keys Keys[K, T], to *keyedNode[T]) *exchange[K, T] {
	par := len(to.subtasks)
	owner := make([]int32, keys.MaxParallelism)
	for kg := range owner {
		owner[kg] = int32(SubtaskForKeyGroup(kg, keys.MaxParallelism, par))
	}
	e := &exchange[K, T]{keys: keys, owner: owner, to: to,
		route: make([][]int32, to.inputs), count: make([][]int, to.inputs), outs: make([][][]T, to.inputs)}
	for i := 0; i < to.inputs; i++ {
		e.count[i] = make([]int, par)
		e.outs[i] = make([][]T, par)
	}
	// The exchange is where the stage's key type is known: the subtasks'
	// typed state hashes keys with the same function.
	to.newState = func(groups KeyGroupRange) *StateBackend {
		return newStateBackend(to.n, keys.Hash, keys.MaxParallelism, groups)
	}
	return e
}

func (e *exchange[K, T]) push(x *execution, from int, batch []T, ingest int64) error {
	route, count, outs := e.route[from][:0], e.count[from], e.outs[from]
	for i := range batch {
		st := e.owner[e.keys.KeyGroup(e.keys.Key(batch[i]))]
		route = append(route, st)
		count[st]++
	}
	e.route[from] = route
	for st, n := range count {
		if n > 0 {
			outs[st] = slices.Grow(e.to.getBatch(), n)[:n]
			count[st] = 0 // from here on: records copied
		}
	}
	for i, st := range route[:len(batch)] { // the reslice drops batch[i]'s bounds check
		outs[st][count[st]] = batch[i]
		count[st]++
	}
	for st, b := range outs {
		if b == nil {
			continue
		}
		outs[st], count[st] = nil, 0
		if err := send(x.ctx, e.to.subtasks[st].in, message[T]{from: from, records: b, ingest: ingest}); err != nil {
			return err
		}
	}
	return nil
}

func (e *exchange[K, T]) control(x *execution, from int, c ctrl) error {
	for _, st := range e.to.subtasks {
		if err := send(x.ctx, st.in, message[T]{from: from, ctrl: c}); err != nil {
			return err
		}
	}
	return nil
}

// keyedNode is a keyed stage; its input type is IN. The output side is in
// subtask, which knows OUT.
type keyedNode[IN any] struct {
	n        string
	inputs   int // upstream producer instances
	free     chan []IN
	subtasks []*subtaskIn[IN]
	run      []func(x *execution) func() error
	// newState makes a subtask's StateBackend (set by newExchange).
	newState func(groups KeyGroupRange) *StateBackend
}

// subtaskIn is the input queue of one subtask.
type subtaskIn[IN any] struct {
	in chan message[IN]
}

func (k *keyedNode[IN]) name() string { return k.n }

func (k *keyedNode[IN]) getBatch() []IN {
	select {
	case b := <-k.free:
		return b[:0]
	default:
		return make([]IN, 0, 64)
	}
}

func (k *keyedNode[IN]) putBatch(b []IN) {
	select {
	case k.free <- b[:0]:
	default:
	}
}

func (k *keyedNode[IN]) start(x *execution) ([]func() error, error) {
	fns := make([]func() error, len(k.run))
	for i, r := range k.run {
		fns[i] = r(x)
	}
	x.parts += len(k.run)
	return fns, nil
}

// newKeyedNode builds a keyed stage with par subtasks running ops; sides,
// if given, are the subtasks' side outputs (ProcessWithSide).
func newKeyedNode[IN, OUT any](name string, par, inputs, queue int, ops []Operator[IN, OUT], outs *fanout[OUT], sides ...sideFlusher) *keyedNode[IN] {
	k := &keyedNode[IN]{n: name, inputs: inputs, free: make(chan []IN, par*(queue+2))}
	for i := 0; i < par; i++ {
		in := &subtaskIn[IN]{in: make(chan message[IN], queue)}
		k.subtasks = append(k.subtasks, in)
		st := &subtask[IN, OUT]{node: k, index: i, par: par, op: ops[i], in: in.in, outs: outs}
		if sides != nil {
			st.side = sides[i]
		}
		k.run = append(k.run, st.runner)
	}
	return k
}

// subtask runs one Operator instance.
type subtask[IN, OUT any] struct {
	node  *keyedNode[IN]
	index int
	par   int
	op    Operator[IN, OUT]
	in    chan message[IN]
	outs  *fanout[OUT]
	out   Output[OUT]
	side  sideFlusher   // nil without a side output
	state *StateBackend // the operator's typed state

	// per-input state
	wms     []int64
	ended   []bool
	blocked []bool        // barrier received, waiting for alignment
	held    []message[IN] // messages from blocked inputs
	nEnded  int
	stopped bool   // an input ended because of Stop
	barrier uint64 // checkpoint being aligned, 0 if none
	nBlock  int
	wm      int64
	commit  chan uint64
	stats   *stageStats // nil without metrics
	// encoding is closed when the encoders of the last checkpoint have
	// returned; nil if none is pending.
	encoding chan struct{}
}

func (s *subtask[IN, OUT]) runner(x *execution) func() error {
	s.commit = make(chan uint64, 16)
	x.commitChs = append(x.commitChs, s.commit)
	return func() error {
		err := s.run(x)
		if err != nil && x.ctx.Err() == nil {
			err = fmt.Errorf("engine: stage %q subtask %d: %w", s.node.n, s.index, err)
		}
		return err
	}
}

func (s *subtask[IN, OUT]) run(x *execution) (err error) {
	ctx := x.ctx
	cfg := x.p.cfg
	n := s.node.inputs
	s.wms = make([]int64, n)
	for i := range s.wms {
		s.wms[i] = MinWatermark
	}
	s.ended = make([]bool, n)
	s.blocked = make([]bool, n)
	s.wm = MinWatermark
	if err := s.open(x); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	s.stats = x.attach(kindOperator, s.node.n, s.index, s.op, func() (int, int) { return len(s.in), cap(s.in) })
	finished := false
	defer func() {
		x.detach(s.stats)
		if s.encoding != nil {
			<-s.encoding // encoders may read the operator's state until then
		}
		s.out.buf = s.out.buf[:0]
		cerr := s.op.Close(&s.out)
		if cerr == nil && finished {
			cerr = s.flush(x, 0)
		}
		if cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
		if err == nil && finished {
			err = s.outs.control(x, s.index, ctrl{kind: ctrlEnd, stopped: s.stopped})
		}
	}()

	var tick <-chan time.Time
	if cfg.ProcessingTimeInterval > 0 {
		t := time.NewTicker(cfg.ProcessingTimeInterval)
		defer t.Stop()
		tick = t.C
	}
	for s.nEnded < n {
		select {
		case m := <-s.in:
			if err := s.handle(x, m); err != nil {
				return err
			}
		case <-s.stats.sampleC():
			s.stats.sample()
		case now := <-tick:
			if err := s.op.OnProcessingTime(now.UnixMilli(), &s.out); err != nil {
				return fmt.Errorf("processing time: %w", err)
			}
			if err := s.flush(x, 0); err != nil {
				return err
			}
		case id := <-s.commit:
			if err := s.op.OnCommit(id); err != nil {
				return fmt.Errorf("commit %d: %w", id, err)
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	// End of input: event time jumps to the end, as in Flink, unless the
	// pipeline was stopped rather than its input exhausted.
	if s.wm < math.MaxInt64 && !s.stopped {
		s.wm = math.MaxInt64
		if err := s.op.OnWatermark(s.wm, &s.out); err != nil {
			return fmt.Errorf("watermark: %w", err)
		}
		if err := s.flush(x, 0); err != nil {
			return err
		}
	}
	finished = true
	return nil
}

// open makes the operator's context, with the state of its key groups if
// the pipeline is restored, and opens the operator.
func (s *subtask[IN, OUT]) open(x *execution) error {
	cfg := x.p.cfg
	kgs := KeyGroupRangeFor(s.index, cfg.MaxParallelism, s.par)
	octx := OperatorContext{Context: x.ctx, Name: s.node.n, Subtask: s.index, Parallelism: s.par, KeyGroups: kgs, MaxParallelism: cfg.MaxParallelism}
	if s.node.newState != nil {
		s.state = s.node.newState(kgs)
		s.state.log = x.log
		s.state.dropUnregistered = x.p.restoreOpts.allowNonRestored
		octx.State = s.state
	}
	if snap := x.p.restore; snap != nil {
		if st := snap.Operators[s.node.n]; st != nil {
			if s.state == nil {
				octx.Restored = st.Subset(kgs)
			} else if r, err := s.state.restore(st); err != nil {
				return err
			} else {
				octx.Restored = r
			}
		}
	}
	return OpenOperator(s.op, octx)
}

// handle processes one message, holding back messages from inputs that are
// blocked by checkpoint alignment.
func (s *subtask[IN, OUT]) handle(x *execution, m message[IN]) error {
	if s.blocked[m.from] {
		s.held = append(s.held, m)
		return nil
	}
	switch m.ctrl.kind {
	case 0:
		s.stats.records(len(m.records), 0)
		err := s.op.ProcessBatch(m.records, &s.out)
		s.node.putBatch(m.records)
		if err != nil {
			return err
		}
		return s.flush(x, m.ingest)
	case ctrlWatermark:
		s.wms[m.from] = m.ctrl.wm
		return s.advanceWatermark(x, m.ctrl.ingest)
	case ctrlBarrier:
		if s.barrier != 0 && s.barrier != m.ctrl.cp {
			return fmt.Errorf("barrier %d arrived while aligning %d", m.ctrl.cp, s.barrier)
		}
		s.barrier = m.ctrl.cp
		s.blocked[m.from] = true
		s.nBlock++
		return s.maybeAligned(x)
	case ctrlEnd:
		s.ended[m.from] = true
		s.nEnded++
		s.stopped = s.stopped || m.ctrl.stopped
		if err := s.advanceWatermark(x, 0); err != nil {
			return err
		}
		return s.maybeAligned(x)
	}
	return fmt.Errorf("unknown control message %d", m.ctrl.kind)
}

// maybeAligned completes the pending checkpoint once every live input has
// delivered its barrier, then replays the held messages.
func (s *subtask[IN, OUT]) maybeAligned(x *execution) error {
	if s.barrier == 0 || s.nBlock+s.nEnded < len(s.blocked) {
		return nil
	}
	id := s.barrier
	start := time.Now()
	if err := s.awaitEncoding(x); err != nil {
		return err
	}
	st := NewKeyedState()
	if err := s.op.OnCheckpoint(id, st); err != nil {
		return fmt.Errorf("checkpoint %d: %w", id, err)
	}
	ts, err := s.state.sections()
	if err != nil {
		return fmt.Errorf("checkpoint %d: %w", id, err)
	}
	pause := time.Since(start)
	if err := s.flush(x, 0); err != nil {
		return err
	}
	s.encodeAsync(x, id, st, ts, pause)
	if err := s.outs.control(x, s.index, ctrl{kind: ctrlBarrier, cp: id}); err != nil {
		return err
	}
	s.barrier = 0
	s.nBlock = 0
	for i := range s.blocked {
		s.blocked[i] = false
	}
	held := s.held
	s.held = nil
	for i, m := range held {
		if err := s.handle(x, m); err != nil {
			return err
		}
		held[i] = message[IN]{}
	}
	return nil
}

// awaitEncoding waits until the encoders of the subtask's previous
// checkpoint have returned, so that an operator has at most one snapshot
// being encoded: it may then freeze its state for the next one.
func (s *subtask[IN, OUT]) awaitEncoding(x *execution) error {
	if s.encoding == nil {
		return nil
	}
	select {
	case <-s.encoding:
		s.encoding = nil
		return nil
	case <-x.ctx.Done():
		return context.Cause(x.ctx)
	}
}

// encodeAsync runs the encoders the operator put in st (KeyedState.PutFunc)
// on a goroutine of the pipeline, wraps the blobs with the typed state ts,
// and reports the subtask's part of checkpoint id: the subtask goes on
// processing meanwhile. An encoder's error fails the pipeline.
func (s *subtask[IN, OUT]) encodeAsync(x *execution, id uint64, st *KeyedState, ts *typedSections, pause time.Duration) {
	done := make(chan struct{})
	s.encoding = done
	x.goAsync(func() error {
		defer close(done)
		if err := st.Resolve(); err != nil {
			return fmt.Errorf("engine: stage %q subtask %d: checkpoint %d: %w", s.node.n, s.index, id, err)
		}
		s.state.wrap(st, ts)
		x.report(id, func(snap *Snapshot) {
			agg := snap.Operators[s.node.n]
			if agg == nil {
				agg = NewKeyedState()
				snap.Operators[s.node.n] = agg
			}
			agg.Merge(st)
			snap.Pauses = append(snap.Pauses, pause)
			snap.OperatorPauses = append(snap.OperatorPauses, pause)
		})
		return nil
	})
}

// advanceWatermark calls OnWatermark when the minimum over live inputs grows.
// ingest is the stamp of the watermark that changed (0 at an input's end):
// OnWatermark's output and the forwarded watermark carry it.
func (s *subtask[IN, OUT]) advanceWatermark(x *execution, ingest int64) error {
	min := int64(math.MaxInt64)
	for i, w := range s.wms {
		if !s.ended[i] && w < min {
			min = w
		}
	}
	if min == math.MaxInt64 || min <= s.wm {
		return nil // all ended (handled at the end) or no progress
	}
	s.wm = min
	s.stats.watermark(min)
	if err := s.op.OnWatermark(min, &s.out); err != nil {
		return fmt.Errorf("watermark: %w", err)
	}
	if err := s.flush(x, ingest); err != nil {
		return err
	}
	return s.outs.control(x, s.index, ctrl{kind: ctrlWatermark, wm: min, ingest: ingest})
}

// flush hands the operator's output to the downstream outlets as one batch
// stamped ingest: the stamp of the input batch (or watermark) whose hook
// emitted it, 0 for OnProcessingTime, end of input and Close, whose output
// is not timed.
func (s *subtask[IN, OUT]) flush(x *execution, ingest int64) error {
	if s.side != nil {
		if err := s.side.flush(x, s.index, ingest); err != nil {
			return err
		}
	}
	if len(s.out.buf) == 0 {
		return nil
	}
	s.stats.records(0, len(s.out.buf))
	err := s.outs.push(x, s.index, s.out.buf, ingest)
	s.out.buf = s.out.buf[:0]
	return err
}
