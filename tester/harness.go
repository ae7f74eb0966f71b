package tester

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/topspeed/topspeed/engine"
)

// Harness runs a keyed operator step by step, without a pipeline and
// without goroutines: the test calls each hook (Process, Watermark,
// ProcessingTime, Snapshot, Commit, Close) and reads what the operator
// emitted (Output). It is Flink's KeyedOneInputStreamOperatorTestHarness
// for engine.Operator.
//
// A Harness runs one subtask (default: subtask 0 of 1, which owns every key
// group) or every subtask of a parallelism (AllSubtasks), each with its own
// operator instance made by the factory and its own OperatorContext, typed
// state included (engine.NewOperatorContext), as the engine does. Process
// routes each record by its key's key group, like KeyBy; a step calls the
// hook of every subtask in subtask order, so the output order is fully
// defined. Snapshot takes a checkpoint the way the engine does at a
// barrier (OnCheckpoint, then the typed state), and Restore starts a new
// harness from it, with any parallelism: a test sees exactly what a restore
// in a pipeline would see.
//
// A Harness is not safe for concurrent use; a hook's error is returned by
// the step that called it, as the engine would fail the pipeline with it.
type Harness[K comparable, IN, OUT any] struct {
	factory engine.OperatorFactory[K, IN, OUT]
	keys    engine.Keys[K, IN]
	opts    []HarnessOption
	cfg     harnessConfig
	subs    []*harnessSubtask[IN, OUT]
	out     []OUT
	wm      int64
	state   int // harnessNew, harnessOpen, harnessClosed
	err     error
}

const (
	harnessNew = iota
	harnessOpen
	harnessClosed
)

type harnessSubtask[IN, OUT any] struct {
	op    engine.Operator[IN, OUT]
	ctx   engine.OperatorContext
	out   engine.Output[OUT]
	batch []IN
}

type harnessConfig struct {
	name        string
	subtask     int
	parallelism int
	all         bool
	restored    *engine.KeyedState
	ctx         context.Context
}

// HarnessOption changes a Harness.
type HarnessOption func(*harnessConfig)

// OnSubtask makes the harness run subtask `subtask` of a stage with
// parallelism subtasks: it owns the key groups that subtask owns
// (engine.KeyGroupRangeFor), and Process refuses records of other keys.
func OnSubtask(subtask, parallelism int) HarnessOption {
	return func(c *harnessConfig) { c.subtask, c.parallelism, c.all = subtask, parallelism, false }
}

// AllSubtasks makes the harness run all parallelism subtasks of the stage,
// each record going to the subtask that owns its key.
func AllSubtasks(parallelism int) HarnessOption {
	return func(c *harnessConfig) { c.subtask, c.parallelism, c.all = 0, parallelism, true }
}

// StageName sets the stage name the operator sees in its OperatorContext
// (default "harness").
func StageName(name string) HarnessOption { return func(c *harnessConfig) { c.name = name } }

// FromState makes the harness start from state, a Snapshot of a harness or
// a stage's KeyedState of an engine.Snapshot: each subtask gets the key
// groups it owns. Harness.Restore is the shorthand.
func FromState(state *engine.KeyedState) HarnessOption {
	return func(c *harnessConfig) { c.restored = state }
}

// HarnessContext sets the context operators see in OperatorContext.Context
// (default context.Background).
func HarnessContext(ctx context.Context) HarnessOption { return func(c *harnessConfig) { c.ctx = ctx } }

// NewHarness returns a harness for the operators factory makes, keyed by
// keys (keys.MaxParallelism 0 means engine.DefaultMaxParallelism). It
// makes the operator instances at once, as engine.Process does; Open opens
// them.
func NewHarness[K comparable, IN, OUT any](factory engine.OperatorFactory[K, IN, OUT], keys engine.Keys[K, IN], opts ...HarnessOption) *Harness[K, IN, OUT] {
	h := &Harness[K, IN, OUT]{factory: factory, keys: keys, opts: slices.Clone(opts), wm: engine.MinWatermark,
		cfg: harnessConfig{name: "harness", parallelism: 1, ctx: context.Background()}}
	for _, o := range opts {
		o(&h.cfg)
	}
	if h.keys.MaxParallelism == 0 {
		h.keys.MaxParallelism = engine.DefaultMaxParallelism
	}
	h.err = h.validate()
	if h.err != nil {
		return h
	}
	first, n := h.cfg.subtask, 1
	if h.cfg.all {
		first, n = 0, h.cfg.parallelism
	}
	for i := first; i < first+n; i++ {
		h.subs = append(h.subs, &harnessSubtask[IN, OUT]{op: factory(h.keys)})
		h.subs[len(h.subs)-1].ctx.Subtask = i
	}
	return h
}

func (h *Harness[K, IN, OUT]) validate() error {
	c := h.cfg
	switch {
	case h.factory == nil:
		return errors.New("tester: NewHarness: nil operator factory")
	case h.keys.Key == nil || h.keys.Hash == nil:
		return errors.New("tester: NewHarness: Keys.Key and Keys.Hash must be set")
	case c.parallelism < 1 || c.parallelism > h.keys.MaxParallelism:
		return fmt.Errorf("tester: NewHarness: parallelism %d not in [1, max parallelism %d]", c.parallelism, h.keys.MaxParallelism)
	case c.subtask < 0 || c.subtask >= c.parallelism:
		return fmt.Errorf("tester: NewHarness: subtask %d not in [0, %d)", c.subtask, c.parallelism)
	case c.ctx == nil:
		return errors.New("tester: NewHarness: nil context")
	}
	return nil
}

// Restore returns a new harness for the same factory and keys, started
// from state (usually a Snapshot of this or another harness). opts apply
// after this harness's options, so OnSubtask or AllSubtasks restore into
// another parallelism. The new harness is not open yet.
func (h *Harness[K, IN, OUT]) Restore(state *engine.KeyedState, opts ...HarnessOption) *Harness[K, IN, OUT] {
	all := append(slices.Clone(h.opts), FromState(state))
	return NewHarness(h.factory, h.keys, append(all, opts...)...)
}

// Operator returns the operator instance of the harness's i-th subtask (in
// subtask order; 0 for a single subtask), for tests that inspect it.
func (h *Harness[K, IN, OUT]) Operator(i int) engine.Operator[IN, OUT] { return h.subs[i].op }

// KeyGroups returns the key groups the harness's subtasks own together.
func (h *Harness[K, IN, OUT]) KeyGroups() engine.KeyGroupRange {
	if len(h.subs) == 0 {
		return engine.KeyGroupRange{}
	}
	first := engine.KeyGroupRangeFor(h.subs[0].ctx.Subtask, h.keys.MaxParallelism, h.cfg.parallelism)
	last := engine.KeyGroupRangeFor(h.subs[len(h.subs)-1].ctx.Subtask, h.keys.MaxParallelism, h.cfg.parallelism)
	return engine.KeyGroupRange{Start: first.Start, End: last.End}
}

// Open makes each subtask's OperatorContext (restored from FromState's
// state, if any) and calls the operator's Open; a checkpoint that holds
// typed state the operator did not register fails it, as in a pipeline.
func (h *Harness[K, IN, OUT]) Open() error {
	if h.err != nil {
		return h.err
	}
	if h.state != harnessNew {
		return errors.New("tester: Harness.Open called twice")
	}
	h.state = harnessOpen
	for _, s := range h.subs {
		ctx, err := engine.NewOperatorContext(h.cfg.ctx, h.cfg.name, h.keys, s.ctx.Subtask, h.cfg.parallelism, h.cfg.restored)
		if err == nil {
			s.ctx = ctx
			err = engine.OpenOperator(s.op, ctx)
		}
		if err != nil {
			return fmt.Errorf("tester: subtask %d: open: %w", s.ctx.Subtask, err)
		}
	}
	return nil
}

// ready reports why a step cannot run now.
func (h *Harness[K, IN, OUT]) ready(step string) error {
	switch {
	case h.err != nil:
		return h.err
	case h.state == harnessNew:
		return fmt.Errorf("tester: Harness.%s before Open", step)
	case h.state == harnessClosed:
		return fmt.Errorf("tester: Harness.%s after Close", step)
	}
	return nil
}

// each calls fn for every subtask in order, collecting its output after
// each call; it stops at the first error.
func (h *Harness[K, IN, OUT]) each(step string, fn func(s *harnessSubtask[IN, OUT]) error) error {
	if err := h.ready(step); err != nil {
		return err
	}
	for _, s := range h.subs {
		err := fn(s)
		h.out = append(h.out, s.out.Records()...)
		s.out.Reset()
		if err != nil {
			return fmt.Errorf("tester: subtask %d: %s: %w", s.ctx.Subtask, step, err)
		}
	}
	return nil
}

// Process hands recs to the operators as one batch per subtask, each record
// to the subtask that owns its key (in a single-subtask harness, a record
// of a key the subtask does not own is an error, and nothing is
// processed). Subtasks without records are not called. The batch is
// cleared after ProcessBatch returns, as the engine reuses it: an operator
// that keeps the slice sees zero values.
func (h *Harness[K, IN, OUT]) Process(recs ...IN) error {
	if err := h.ready("Process"); err != nil {
		return err
	}
	maxPar := h.keys.MaxParallelism
	for i, r := range recs {
		kg := h.keys.KeyGroup(h.keys.Key(r))
		sub := engine.SubtaskForKeyGroup(kg, maxPar, h.cfg.parallelism)
		j := sub - h.subs[0].ctx.Subtask
		if j < 0 || j >= len(h.subs) {
			for _, s := range h.subs {
				s.batch = s.batch[:0]
			}
			return fmt.Errorf("tester: Harness.Process: record %d (key %v) is in key group %d of subtask %d, but the harness runs subtask %d of %d (see AllSubtasks)",
				i, h.keys.Key(r), kg, sub, h.subs[0].ctx.Subtask, h.cfg.parallelism)
		}
		h.subs[j].batch = append(h.subs[j].batch, r)
	}
	return h.each("process", func(s *harnessSubtask[IN, OUT]) error {
		if len(s.batch) == 0 {
			return nil
		}
		err := s.op.ProcessBatch(s.batch, &s.out)
		clear(s.batch)
		s.batch = s.batch[:0]
		return err
	})
}

// Watermark advances event time to wm: every operator's OnWatermark, like
// a watermark reaching the stage. As in the engine, a watermark that does
// not advance (wm <= the last one) calls nothing.
func (h *Harness[K, IN, OUT]) Watermark(wm int64) error {
	if err := h.ready("Watermark"); err != nil || wm <= h.wm {
		return err
	}
	h.wm = wm
	return h.each("watermark", func(s *harnessSubtask[IN, OUT]) error { return s.op.OnWatermark(wm, &s.out) })
}

// ProcessingTime calls every operator's OnProcessingTime with nowMillis,
// as the engine's processing-time timer does.
func (h *Harness[K, IN, OUT]) ProcessingTime(nowMillis int64) error {
	return h.each("processing time", func(s *harnessSubtask[IN, OUT]) error {
		return s.op.OnProcessingTime(nowMillis, &s.out)
	})
}

// Snapshot takes checkpoint id as the engine does at a barrier (every
// operator's OnCheckpoint, then its typed state) and returns the state of
// all the harness's key groups: give it to Restore, or compare it.
func (h *Harness[K, IN, OUT]) Snapshot(id uint64) (*engine.KeyedState, error) {
	all := engine.NewKeyedState()
	err := h.each("checkpoint", func(s *harnessSubtask[IN, OUT]) error {
		st, err := engine.CheckpointOperator(s.op, s.ctx, id)
		all.Merge(st)
		return err
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// Commit tells every operator that checkpoint id is durable (OnCommit).
func (h *Harness[K, IN, OUT]) Commit(id uint64) error {
	return h.each("commit", func(s *harnessSubtask[IN, OUT]) error { return s.op.OnCommit(id) })
}

// Close calls every operator's Close and keeps what it emits. No step may
// follow.
func (h *Harness[K, IN, OUT]) Close() error {
	err := h.each("close", func(s *harnessSubtask[IN, OUT]) error { return s.op.Close(&s.out) })
	if h.state == harnessOpen {
		h.state = harnessClosed
	}
	return err
}

// Finish ends a bounded input the way the engine does: event time jumps
// to the end (Watermark(math.MaxInt64)), then Close.
func (h *Harness[K, IN, OUT]) Finish() error {
	if err := h.Watermark(math.MaxInt64); err != nil {
		return err
	}
	return h.Close()
}

// Output returns every record the operators emitted since the harness was
// made or since the last TakeOutput, in emission order (within one step,
// subtask by subtask).
func (h *Harness[K, IN, OUT]) Output() []OUT { return slices.Clip(h.out) }

// TakeOutput returns Output and clears it, so that the next call sees only
// what the following steps emit.
func (h *Harness[K, IN, OUT]) TakeOutput() []OUT {
	out := h.Output()
	h.out = nil
	return out
}
