package window

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// Spec describes a window operator: Flink's
// keyBy(...).window(Assigner).trigger(Trigger).evictor(Evictor)
// .allowedLateness(AllowedLateness).<Function>. For Flink's
// sideOutputLateData, use ApplyWithLate.
type Spec[K comparable, T, OUT any] struct {
	// Assigner assigns elements to windows. Required.
	Assigner Assigner
	// Trigger decides when windows fire; nil means DefaultTrigger(Assigner).
	Trigger Trigger[T]
	// Evictor, if set, makes the operator keep every element of a window and
	// run the evictor when it fires (Flink's EvictingWindowOperator).
	Evictor Evictor[T]
	// Function computes the output of a fired window. Required.
	Function Function[K, T, OUT]
	// Timestamp returns an element's event time in Unix milliseconds. If
	// nil, Apply and ApplyWithLate take the keyed stream's timestamp
	// function (engine.Stream.Timestamps), so event time is declared once,
	// at the source; set it to override the stream's. Required by
	// event-time assigners (from the spec or the stream); evictors see
	// timestamps only if there is one.
	Timestamp func(T) int64
	// AllowedLateness keeps event-time windows (state and trigger) for this
	// long after the watermark passed their MaxTimestamp; elements arriving
	// in that time are added and trigger as usual (EventTime fires again).
	AllowedLateness time.Duration
	// Now returns the processing time in Unix milliseconds; nil means the
	// wall clock. It is read once per ProcessBatch; OnProcessingTime sets the
	// processing time to its argument.
	Now func() int64
	// KeyCodec and Codec encode keys and elements for checkpoints. They are
	// needed only if the pipeline takes checkpoints; OnCheckpoint fails
	// without them.
	KeyCodec Codec[K]
	Codec    Codec[T]
}

// Validate reports the first problem that would keep the spec from running.
func (s Spec[K, T, OUT]) Validate() error {
	switch {
	case s.Assigner == nil:
		return errors.New("window: Spec.Assigner is nil")
	case s.Function.inc == nil && s.Function.process == nil:
		return errors.New("window: Spec.Function is not set")
	case s.Function.err != nil:
		return s.Function.err
	case s.Assigner.IsEventTime() && s.Timestamp == nil:
		return errors.New("window: an event-time assigner needs timestamps: declare them on the stream (engine.FromSource's WatermarkStrategy, engine.WithTimestamps) or set Spec.Timestamp")
	case s.AllowedLateness < 0:
		return errors.New("window: negative AllowedLateness")
	case s.Assigner.IsMerging() && s.Trigger != nil && !s.Trigger.CanMerge():
		return errors.New("window: a merging assigner cannot be used with a trigger that does not support merging")
	case s.Assigner.IsMerging() && s.Evictor == nil && s.Function.inc != nil && !s.Function.inc.canMerge():
		return errors.New("window: merging windows need AggregateFunc.Merge")
	}
	return nil
}

// Operator is the generic window operator, Flink's WindowOperator and (with
// an evictor) EvictingWindowOperator, as an engine.Operator. For every
// element, per key: the windows are assigned; windows that are late
// (event time and MaxTimestamp + AllowedLateness <= watermark) are skipped;
// the element is added to each other window's contents and the trigger's
// OnElement decides: Fire evaluates the function (with an evictor: evict
// before, function, evict after), Purge clears the contents. A cleanup
// timer at MaxTimestamp + AllowedLateness (event time) or MaxTimestamp
// (processing time) drops the window's contents and trigger state; windows
// whose cleanup time would be math.MaxInt64, like GlobalWindow, are never
// cleaned. An element that went to no window and is late (event time and
// ts + AllowedLateness <= watermark) goes to the late stream (ApplyWithLate)
// or is dropped and counted. Event-time timers fire in OnWatermark, processing-time timers in
// OnProcessingTime, in timestamp order; nothing else fires at the end of the
// input. Not safe for concurrent use (the engine calls it from one goroutine).
type Operator[K comparable, T, OUT any] struct {
	keys      engine.Keys[K, T]
	spec      Spec[K, T, OUT]
	err       error // invalid spec, reported by Open
	trigger   Trigger[T]
	lateness  int64
	eventTime bool
	listMode  bool // contents are elements, not an accumulator

	states   map[K]*keyState[K, T, OUT]
	evTimers timerQueue[K]
	ptTimers timerQueue[K]
	wm       int64
	now      int64
	dropped  int64
	fires    int64

	out    []OUT // output of the current hook
	emit   func(OUT)
	late   *engine.Output[T] // late elements go here if not nil (ApplyWithLate)
	lateIn []T               // late elements of the current ProcessBatch
	curKey K
	curWin Window
	tctx   TriggerContext[T]
	wins   []Window
	vals   []T
}

// keyState is the window state of one key.
type keyState[K comparable, T, OUT any] struct {
	panes  map[Window]*pane[K, T, OUT] // contents, by state window
	trig   map[Window]*TriggerState[T] // trigger state, by window
	merged map[Window]Window           // merging assigners: window -> state window
}

func (ks *keyState[K, T, OUT]) empty() bool {
	return len(ks.panes) == 0 && len(ks.trig) == 0 && len(ks.merged) == 0
}

// pane is the contents of one window: elements or an accumulator.
type pane[K comparable, T, OUT any] struct {
	elems []Element[T]
	acc   accumulator[K, T, OUT]
}

// New returns a window operator for the records keyed by keys. It fails if
// spec is invalid (see Spec.Validate).
func New[K comparable, T, OUT any](keys engine.Keys[K, T], spec Spec[K, T, OUT]) (*Operator[K, T, OUT], error) {
	o := newOperator(keys, spec)
	return o, o.err
}

func newOperator[K comparable, T, OUT any](keys engine.Keys[K, T], spec Spec[K, T, OUT]) *Operator[K, T, OUT] {
	o := &Operator[K, T, OUT]{
		keys:     keys,
		spec:     spec,
		err:      spec.Validate(),
		lateness: spec.AllowedLateness.Milliseconds(),
		states:   map[K]*keyState[K, T, OUT]{},
		evTimers: newTimerQueue[K](),
		ptTimers: newTimerQueue[K](),
		wm:       engine.MinWatermark,
		now:      math.MinInt64,
	}
	if o.err != nil {
		return o
	}
	o.trigger = spec.Trigger
	if o.trigger == nil {
		o.trigger = DefaultTrigger[T](spec.Assigner)
	}
	if o.spec.Now == nil {
		o.spec.Now = func() int64 { return time.Now().UnixMilli() }
	}
	o.eventTime = spec.Assigner.IsEventTime()
	o.listMode = spec.Evictor != nil || spec.Function.process != nil
	o.emit = func(v OUT) { o.out = append(o.out, v) }
	return o
}

// Factory returns an engine.OperatorFactory creating a window operator per
// subtask. An invalid spec makes Open fail. Factory does not see the
// stream, so an event-time spec needs its own Timestamp (Apply fills it in).
func Factory[K comparable, T, OUT any](spec Spec[K, T, OUT]) engine.OperatorFactory[K, T, OUT] {
	return func(keys engine.Keys[K, T]) engine.Operator[T, OUT] { return newOperator(keys, spec) }
}

// Apply adds a window stage named name to the pipeline: engine.Process with
// Factory(spec), spec.Timestamp defaulting to the stream's. Elements that
// arrive too late for their windows are dropped and counted (LateDropped);
// ApplyWithLate sends them to a stream instead.
func Apply[K comparable, T, OUT any](in engine.KeyedStream[K, T], name string, spec Spec[K, T, OUT]) engine.Stream[OUT] {
	return engine.Process(in, name, Factory(withStreamTimestamps(in, spec)))
}

// ApplyWithLate is Apply with Flink's side output for late data: it
// returns the window results and the stream of the elements that arrived
// too late for every window they belong to (event time and timestamp +
// AllowedLateness <= watermark), which Apply would drop. Each late element
// appears there exactly once, in its subtask's arrival order, right after
// the input batch it came in; the late stream is an ordinary stream, fed by
// the stage's subtasks and processed by its own downstream stages (a sink,
// a Map, another window), so no user code runs on the operator's
// goroutines. It carries the timestamp function the operator used.
// LateDropped stays 0.
func ApplyWithLate[K comparable, T, OUT any](in engine.KeyedStream[K, T], name string, spec Spec[K, T, OUT]) (results engine.Stream[OUT], late engine.Stream[T]) {
	spec = withStreamTimestamps(in, spec)
	results, late = engine.ProcessWithSide(in, name, FactoryWithLate(spec))
	return results, engine.WithTimestamps(late, spec.Timestamp)
}

// FactoryWithLate returns an engine.SideOperatorFactory creating a window
// operator per subtask that emits late elements into its side output (see
// ApplyWithLate) instead of dropping them.
func FactoryWithLate[K comparable, T, OUT any](spec Spec[K, T, OUT]) engine.SideOperatorFactory[K, T, OUT, T] {
	return func(keys engine.Keys[K, T], late *engine.Output[T]) engine.Operator[T, OUT] {
		o := newOperator(keys, spec)
		o.late = late
		return o
	}
}

// withStreamTimestamps sets spec.Timestamp to in's if spec has none.
func withStreamTimestamps[K comparable, T, OUT any](in engine.KeyedStream[K, T], spec Spec[K, T, OUT]) Spec[K, T, OUT] {
	if spec.Timestamp == nil {
		spec.Timestamp = in.Timestamps()
	}
	return spec
}

// LateDropped returns how many elements were dropped as late (Flink's
// numLateRecordsDropped); 0 for an operator with a late stream
// (ApplyWithLate), which drops none.
func (o *Operator[K, T, OUT]) LateDropped() int64 { return o.dropped }

// Watermark returns the last watermark given to OnWatermark.
func (o *Operator[K, T, OUT]) Watermark() int64 { return o.wm }

// Open restores the state of ctx.Restored, if any.
func (o *Operator[K, T, OUT]) Open(ctx engine.OperatorContext) error {
	if o.err != nil {
		return o.err
	}
	for _, kg := range ctx.Restored.KeyGroups() {
		if !ctx.KeyGroups.Contains(kg) {
			continue
		}
		if err := o.restoreGroup(ctx.Restored.Get(kg)); err != nil {
			return fmt.Errorf("window: restoring key group %d: %w", kg, err)
		}
	}
	return nil
}

// ProcessBatch adds every record to its windows, in order.
func (o *Operator[K, T, OUT]) ProcessBatch(in []T, out *engine.Output[OUT]) error {
	o.out = o.out[:0]
	o.lateIn = o.lateIn[:0]
	o.now = max(o.now, o.spec.Now())
	for i := range in {
		if err := o.processElement(in[i]); err != nil {
			return err
		}
	}
	out.EmitAll(o.out)
	if len(o.lateIn) > 0 {
		o.late.EmitAll(o.lateIn)
	}
	return nil
}

// OnWatermark fires the event-time timers with timestamp <= wm.
func (o *Operator[K, T, OUT]) OnWatermark(wm int64, out *engine.Output[OUT]) error {
	o.wm = max(o.wm, wm)
	o.fireDue(true, o.wm, out)
	return nil
}

// OnProcessingTime fires the processing-time timers with timestamp <= now.
func (o *Operator[K, T, OUT]) OnProcessingTime(now int64, out *engine.Output[OUT]) error {
	o.now = max(o.now, now)
	o.fireDue(false, o.now, out)
	return nil
}

// fireDue fires the event-time (or processing-time) timers due at t and
// emits what they produce.
func (o *Operator[K, T, OUT]) fireDue(eventTime bool, t int64, out *engine.Output[OUT]) {
	timers := &o.ptTimers
	if eventTime {
		timers = &o.evTimers
	}
	o.out = o.out[:0]
	for {
		tm, ok := timers.popDue(t)
		if !ok {
			break
		}
		o.onTimer(eventTime, tm)
	}
	out.EmitAll(o.out)
}

// OnCommit does nothing.
func (o *Operator[K, T, OUT]) OnCommit(uint64) error { return nil }

// Close emits nothing: windows that did not fire emit nothing at the end.
func (o *Operator[K, T, OUT]) Close(*engine.Output[OUT]) error {
	o.out = o.out[:0]
	return nil
}

func (o *Operator[K, T, OUT]) keyState(key K) *keyState[K, T, OUT] {
	ks := o.states[key]
	if ks == nil {
		ks = &keyState[K, T, OUT]{panes: map[Window]*pane[K, T, OUT]{}, trig: map[Window]*TriggerState[T]{}}
		if o.spec.Assigner.IsMerging() {
			ks.merged = map[Window]Window{}
		}
		o.states[key] = ks
	}
	return ks
}

func (o *Operator[K, T, OUT]) dropIfEmpty(key K, ks *keyState[K, T, OUT]) {
	if ks.empty() {
		delete(o.states, key)
	}
}

// triggerCtx prepares the trigger context (and the timer scope) for key
// o.curKey and window w.
func (o *Operator[K, T, OUT]) triggerCtx(ks *keyState[K, T, OUT], w Window) *TriggerContext[T] {
	o.curWin = w
	o.tctx = TriggerContext[T]{states: ks.trig, win: w, wm: o.wm, now: o.now, timers: o}
	return &o.tctx
}

func (o *Operator[K, T, OUT]) setTimer(eventTime bool, t int64) {
	if eventTime {
		o.evTimers.set(timer[K]{key: o.curKey, w: o.curWin, ts: t})
	} else {
		o.ptTimers.set(timer[K]{key: o.curKey, w: o.curWin, ts: t})
	}
}

func (o *Operator[K, T, OUT]) deleteTimer(eventTime bool, t int64) {
	if eventTime {
		o.evTimers.del(timer[K]{key: o.curKey, w: o.curWin, ts: t})
	} else {
		o.ptTimers.del(timer[K]{key: o.curKey, w: o.curWin, ts: t})
	}
}

func (o *Operator[K, T, OUT]) cleanupTime(w Window) int64 {
	if !o.eventTime {
		return w.MaxTimestamp()
	}
	c := w.MaxTimestamp() + o.lateness
	if c < w.MaxTimestamp() { // overflow
		return math.MaxInt64
	}
	return c
}

func (o *Operator[K, T, OUT]) isWindowLate(w Window) bool {
	return o.eventTime && o.cleanupTime(w) <= o.wm
}

func (o *Operator[K, T, OUT]) cleanupTimer(w Window, set bool) {
	c := o.cleanupTime(w)
	if c == math.MaxInt64 {
		return
	}
	o.curWin = w
	if set {
		o.setTimer(o.eventTime, c)
	} else {
		o.deleteTimer(o.eventTime, c)
	}
}

func (o *Operator[K, T, OUT]) pane(ks *keyState[K, T, OUT], sw Window) *pane[K, T, OUT] {
	p := ks.panes[sw]
	if p == nil {
		p = &pane[K, T, OUT]{}
		if !o.listMode {
			p.acc = o.spec.Function.inc.newAcc()
		}
		ks.panes[sw] = p
	}
	return p
}

func (o *Operator[K, T, OUT]) processElement(e T) error {
	key := o.keys.Key(e)
	ts := int64(math.MinInt64)
	if o.spec.Timestamp != nil {
		ts = o.spec.Timestamp(e)
	}
	o.curKey = key
	ks := o.keyState(key)
	o.wins = o.spec.Assigner.AssignWindows(ts, o.now, o.wins[:0])
	skipped := true
	for _, w := range o.wins {
		sw := w
		if ks.merged != nil {
			var err error
			if w, err = o.addMergingWindow(ks, w); err != nil {
				return err
			}
			if o.isWindowLate(w) {
				delete(ks.merged, w)
				continue
			}
			sw = ks.merged[w]
		} else if o.isWindowLate(w) {
			continue
		}
		skipped = false
		p := o.pane(ks, sw)
		if o.listMode {
			p.elems = append(p.elems, Element[T]{Value: e, Timestamp: ts})
		} else {
			p.acc.add(e)
		}
		r := o.trigger.OnElement(e, ts, w, o.triggerCtx(ks, w))
		if r.IsFire() {
			o.fire(key, w, ks, sw)
		}
		if r.IsPurge() {
			delete(ks.panes, sw)
		}
		o.cleanupTimer(w, true)
	}
	if skipped && o.eventTime && ts+o.lateness <= o.wm {
		if o.late != nil {
			o.lateIn = append(o.lateIn, e)
		} else {
			o.dropped++
		}
	}
	o.dropIfEmpty(key, ks)
	return nil
}

func (o *Operator[K, T, OUT]) onTimer(eventTime bool, t timer[K]) {
	o.curKey = t.key
	ks := o.keyState(t.key)
	defer o.dropIfEmpty(t.key, ks)
	w, sw := t.w, t.w
	if ks.merged != nil {
		var ok bool
		if sw, ok = ks.merged[w]; !ok {
			return // the window was merged away; Flink ignores such timers too
		}
	}
	c := o.triggerCtx(ks, w)
	var r Result
	if eventTime {
		r = o.trigger.OnEventTime(t.ts, w, c)
	} else {
		r = o.trigger.OnProcessingTime(t.ts, w, c)
	}
	if r.IsFire() {
		o.fire(t.key, w, ks, sw)
	}
	if r.IsPurge() {
		delete(ks.panes, sw)
	}
	if eventTime == o.eventTime && t.ts == o.cleanupTime(w) {
		delete(ks.panes, sw)
		o.trigger.Clear(w, o.triggerCtx(ks, w))
		delete(ks.trig, w)
		if ks.merged != nil {
			delete(ks.merged, w)
		}
	}
}

// fire evaluates the function over the contents of window w (state window
// sw), if it has any.
func (o *Operator[K, T, OUT]) fire(key K, w Window, ks *keyState[K, T, OUT], sw Window) {
	p := ks.panes[sw]
	if p == nil {
		return
	}
	o.fires++
	ev := o.spec.Evictor
	if ev == nil {
		if o.listMode {
			o.process(key, w, p.elems)
		} else {
			p.acc.result(key, w, o.emit)
		}
		return
	}
	ec := EvictorContext{Watermark: o.wm, ProcessingTime: o.now, HasTimestamps: o.spec.Timestamp != nil}
	p.elems = ev.EvictBefore(p.elems, w, ec)
	if inc := o.spec.Function.inc; inc != nil {
		a := inc.newAcc()
		for i := range p.elems {
			a.add(p.elems[i].Value)
		}
		a.result(key, w, o.emit)
	} else {
		o.process(key, w, p.elems)
	}
	p.elems = ev.EvictAfter(p.elems, w, ec)
	if len(p.elems) == 0 {
		delete(ks.panes, sw) // Flink's contents become null
	}
}

func (o *Operator[K, T, OUT]) process(key K, w Window, elems []Element[T]) {
	vals := o.vals[:0]
	for i := range elems {
		vals = append(vals, elems[i].Value)
	}
	o.spec.Function.process(key, w, vals, o.emit)
	clear(vals)
	o.vals = vals[:0]
}

// addMergingWindow is Flink's MergingWindowSet.addWindow with the
// WindowOperator's merge function: it merges w with the key's windows it
// intersects and returns the window w ended up in.
func (o *Operator[K, T, OUT]) addMergingWindow(ks *keyState[K, T, OUT], w Window) (Window, error) {
	all := make([]Window, 0, len(ks.merged)+1)
	for x := range ks.merged {
		all = append(all, x)
	}
	all = append(all, w)
	slices.SortFunc(all, func(a, b Window) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.End, b.End))
	})
	type group struct {
		cover Window
		ws    []Window
	}
	var groups []group
	for _, x := range all {
		if n := len(groups); n > 0 && groups[n-1].cover.Intersects(x) {
			g := &groups[n-1]
			g.cover = g.cover.Cover(x)
			if !slices.Contains(g.ws, x) {
				g.ws = append(g.ws, x)
			}
			continue
		}
		groups = append(groups, group{cover: x, ws: []Window{x}})
	}
	result, mergedNew, anyMerge := w, false, false
	for _, g := range groups {
		if len(g.ws) < 2 {
			continue
		}
		anyMerge = true
		mergeResult, ws := g.cover, g.ws
		if i := slices.Index(ws, w); i >= 0 {
			ws = slices.Delete(ws, i, i+1)
			mergedNew, result = true, mergeResult
		}
		target := ks.merged[ws[0]]
		var sources []Window
		for _, m := range ws {
			if sw, ok := ks.merged[m]; ok {
				delete(ks.merged, m)
				if sw != target {
					sources = append(sources, sw)
				}
			}
		}
		ks.merged[mergeResult] = target
		if len(ws) == 1 && ws[0] == mergeResult {
			continue
		}
		if err := o.mergeWindows(ks, mergeResult, ws, target, sources); err != nil {
			return w, err
		}
	}
	if !anyMerge || result == w && !mergedNew {
		ks.merged[result] = result
	}
	return result, nil
}

// mergeWindows is the WindowOperator's merge function: the trigger merges
// the windows ws into mergeResult, their timers and trigger states are
// cleared, and the contents of the state windows sources join target's.
func (o *Operator[K, T, OUT]) mergeWindows(ks *keyState[K, T, OUT], mergeResult Window, ws []Window, target Window, sources []Window) error {
	if o.eventTime && mergeResult.MaxTimestamp()+o.lateness <= o.wm {
		return fmt.Errorf("window: merging produced window %v that is already late for watermark %d", mergeResult, o.wm)
	}
	if !o.eventTime && mergeResult.MaxTimestamp() <= o.now {
		return fmt.Errorf("window: merging produced window %v that already ended at processing time %d", mergeResult, o.now)
	}
	c := o.triggerCtx(ks, mergeResult)
	for _, m := range ws {
		if s := ks.trig[m]; s != nil {
			c.merged = append(c.merged, s)
		}
	}
	o.trigger.OnMerge(mergeResult, c)
	for _, m := range ws {
		o.trigger.Clear(m, o.triggerCtx(ks, m))
		delete(ks.trig, m)
		o.cleanupTimer(m, false)
	}
	for _, s := range sources {
		src := ks.panes[s]
		if src == nil {
			continue
		}
		delete(ks.panes, s)
		dst := ks.panes[target]
		if dst == nil {
			ks.panes[target] = src
			continue
		}
		if o.listMode {
			dst.elems = append(dst.elems, src.elems...)
		} else {
			dst.acc.merge(src.acc)
		}
	}
	return nil
}
