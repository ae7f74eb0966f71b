package window

// Result is what a Trigger decides for a window, Flink's TriggerResult.
type Result uint8

const (
	// Continue does nothing.
	Continue Result = 0
	// Fire evaluates the window function over the window's contents and
	// keeps the contents.
	Fire Result = 1
	// Purge clears the window's contents without evaluating the function.
	Purge Result = 2
	// FireAndPurge evaluates the window function, then clears the contents.
	FireAndPurge Result = Fire | Purge
)

// IsFire reports whether r evaluates the window function.
func (r Result) IsFire() bool { return r&Fire != 0 }

// IsPurge reports whether r clears the window's contents.
func (r Result) IsPurge() bool { return r&Purge != 0 }

// TriggerState is the state a Trigger keeps for one key and one window (Flink
// keeps it in partitioned state scoped to the key and window). The operator
// creates it zeroed when the trigger first asks for it (TriggerContext.State),
// checkpoints it, and drops it when the window is cleaned up or merged away. The built-in
// triggers use Count (Count) and Last/HasLast (Delta); custom triggers may use
// any field.
type TriggerState[T any] struct {
	Count   int64
	Last    T
	HasLast bool
}

// timerService is implemented by the operator: it registers and deletes
// timers for the key and window the trigger is being called for.
type timerService interface {
	setTimer(eventTime bool, t int64)
	deleteTimer(eventTime bool, t int64)
}

// TriggerContext gives a Trigger access to time, timers and its state for the
// key and window it is called for. It is only valid during the call.
type TriggerContext[T any] struct {
	states map[Window]*TriggerState[T] // the key's trigger states by window
	win    Window
	state  *TriggerState[T] // states[win], once looked up
	merged []*TriggerState[T]
	wm     int64
	now    int64
	timers timerService
}

// State returns the trigger's state for the current key and window,
// creating it zeroed on first use.
func (c *TriggerContext[T]) State() *TriggerState[T] {
	if c.state == nil {
		c.state = c.states[c.win]
		if c.state == nil {
			c.state = new(TriggerState[T])
			c.states[c.win] = c.state
		}
	}
	return c.state
}

// MergedStates returns, during OnMerge only, the states of the windows being
// merged into the current one (they are dropped after OnMerge returns). Like
// Flink's mergePartitionedState, a trigger folds them into State().
func (c *TriggerContext[T]) MergedStates() []*TriggerState[T] { return c.merged }

// Watermark returns the operator's current event-time watermark
// (math.MinInt64 before the first watermark).
func (c *TriggerContext[T]) Watermark() int64 { return c.wm }

// ProcessingTime returns the current processing time in Unix milliseconds.
func (c *TriggerContext[T]) ProcessingTime() int64 { return c.now }

// RegisterEventTimeTimer makes the operator call OnEventTime(t) for this key
// and window once the watermark reaches t. Timers are a set: registering the
// same (key, window, t) twice fires once.
func (c *TriggerContext[T]) RegisterEventTimeTimer(t int64) { c.timers.setTimer(true, t) }

// DeleteEventTimeTimer removes a timer registered with RegisterEventTimeTimer.
func (c *TriggerContext[T]) DeleteEventTimeTimer(t int64) { c.timers.deleteTimer(true, t) }

// RegisterProcessingTimeTimer makes the operator call OnProcessingTime(t) for
// this key and window once processing time reaches t.
func (c *TriggerContext[T]) RegisterProcessingTimeTimer(t int64) { c.timers.setTimer(false, t) }

// DeleteProcessingTimeTimer removes a processing-time timer.
func (c *TriggerContext[T]) DeleteProcessingTimeTimer(t int64) { c.timers.deleteTimer(false, t) }

// Trigger decides when a window is evaluated and purged, Flink's Trigger. Its
// methods are called with the state of one key and window at a time.
type Trigger[T any] interface {
	// OnElement is called for every element added to window w, after it was
	// added to the window's contents.
	OnElement(e T, ts int64, w Window, c *TriggerContext[T]) Result
	// OnEventTime is called when an event-time timer t of w fires.
	OnEventTime(t int64, w Window, c *TriggerContext[T]) Result
	// OnProcessingTime is called when a processing-time timer t of w fires.
	OnProcessingTime(t int64, w Window, c *TriggerContext[T]) Result
	// CanMerge reports whether the trigger supports merging windows; a
	// merging assigner requires it.
	CanMerge() bool
	// OnMerge is called on the merged window w when windows merge; see
	// TriggerContext.MergedStates.
	OnMerge(w Window, c *TriggerContext[T])
	// Clear is called when w is purged by cleanup or merged away; it must
	// delete the timers the trigger registered for w. Its state is dropped by
	// the operator.
	Clear(w Window, c *TriggerContext[T])
}

// DefaultTrigger returns the trigger Flink's assigners default to: Never for
// Global, EventTime for event-time assigners, ProcessingTime otherwise.
func DefaultTrigger[T any](a Assigner) Trigger[T] {
	if _, ok := a.(globalAssigner); ok {
		return Never[T]()
	}
	if a.IsEventTime() {
		return EventTime[T]()
	}
	return ProcessingTime[T]()
}

type eventTimeTrigger[T any] struct{}

// EventTime returns Flink's EventTimeTrigger: it fires window w once the
// watermark reaches w.MaxTimestamp() (via a timer registered on the first
// element), and fires immediately for an element that arrives when the
// watermark is already past MaxTimestamp (a late element within the allowed
// lateness). It never purges.
func EventTime[T any]() Trigger[T] { return eventTimeTrigger[T]{} }

func (eventTimeTrigger[T]) OnElement(_ T, _ int64, w Window, c *TriggerContext[T]) Result {
	if w.MaxTimestamp() <= c.Watermark() {
		return Fire
	}
	c.RegisterEventTimeTimer(w.MaxTimestamp())
	return Continue
}

func (eventTimeTrigger[T]) OnEventTime(t int64, w Window, _ *TriggerContext[T]) Result {
	if t == w.MaxTimestamp() {
		return Fire
	}
	return Continue
}

func (eventTimeTrigger[T]) OnProcessingTime(int64, Window, *TriggerContext[T]) Result {
	return Continue
}
func (eventTimeTrigger[T]) CanMerge() bool { return true }
func (eventTimeTrigger[T]) OnMerge(w Window, c *TriggerContext[T]) {
	if w.MaxTimestamp() > c.Watermark() {
		c.RegisterEventTimeTimer(w.MaxTimestamp())
	}
}
func (eventTimeTrigger[T]) Clear(w Window, c *TriggerContext[T]) {
	c.DeleteEventTimeTimer(w.MaxTimestamp())
}

type processingTimeTrigger[T any] struct{}

// ProcessingTime returns Flink's ProcessingTimeTrigger: every element
// registers a processing-time timer at w.MaxTimestamp(), and the window fires
// when processing time reaches it. It never purges.
func ProcessingTime[T any]() Trigger[T] { return processingTimeTrigger[T]{} }

func (processingTimeTrigger[T]) OnElement(_ T, _ int64, w Window, c *TriggerContext[T]) Result {
	c.RegisterProcessingTimeTimer(w.MaxTimestamp())
	return Continue
}
func (processingTimeTrigger[T]) OnEventTime(int64, Window, *TriggerContext[T]) Result {
	return Continue
}
func (processingTimeTrigger[T]) OnProcessingTime(int64, Window, *TriggerContext[T]) Result {
	return Fire
}
func (processingTimeTrigger[T]) CanMerge() bool { return true }
func (processingTimeTrigger[T]) OnMerge(w Window, c *TriggerContext[T]) {
	if w.MaxTimestamp() > c.ProcessingTime() {
		c.RegisterProcessingTimeTimer(w.MaxTimestamp())
	}
}
func (processingTimeTrigger[T]) Clear(w Window, c *TriggerContext[T]) {
	c.DeleteProcessingTimeTimer(w.MaxTimestamp())
}

type countTrigger[T any] struct{ n int64 }

// Count returns Flink's CountTrigger.of(n): it counts the elements of each
// key and window in TriggerState.Count; when the count reaches n it resets the
// count to 0 and returns Fire (not FireAndPurge; wrap it in Purging to purge).
// On merge the counts are summed, without firing. It panics if n < 1.
func Count[T any](n int64) Trigger[T] {
	if n < 1 {
		panic("window: Count trigger needs n >= 1")
	}
	return countTrigger[T]{n: n}
}

func (t countTrigger[T]) OnElement(_ T, _ int64, _ Window, c *TriggerContext[T]) Result {
	s := c.State()
	s.Count++
	if s.Count >= t.n {
		s.Count = 0
		return Fire
	}
	return Continue
}
func (countTrigger[T]) OnEventTime(int64, Window, *TriggerContext[T]) Result      { return Continue }
func (countTrigger[T]) OnProcessingTime(int64, Window, *TriggerContext[T]) Result { return Continue }
func (countTrigger[T]) CanMerge() bool                                            { return true }
func (countTrigger[T]) OnMerge(_ Window, c *TriggerContext[T]) {
	for _, m := range c.MergedStates() {
		c.State().Count += m.Count
	}
}
func (countTrigger[T]) Clear(Window, *TriggerContext[T]) {}

type deltaTrigger[T any] struct {
	threshold float64
	delta     func(old, new T) float64
}

// Delta returns Flink's DeltaTrigger.of(threshold, delta): per key and
// window it keeps one element, TriggerState.Last. The first element is
// stored and returns Continue. Every later element e: if
// delta(Last, e) > threshold (strictly; false for NaN), e becomes Last and
// the result is Fire; otherwise Continue and Last is unchanged. It never
// purges and cannot be used with merging windows.
func Delta[T any](threshold float64, delta func(old, new T) float64) Trigger[T] {
	return deltaTrigger[T]{threshold: threshold, delta: delta}
}

func (t deltaTrigger[T]) OnElement(e T, _ int64, _ Window, c *TriggerContext[T]) Result {
	s := c.State()
	if !s.HasLast {
		s.Last, s.HasLast = e, true
		return Continue
	}
	if t.delta(s.Last, e) > t.threshold {
		s.Last = e
		return Fire
	}
	return Continue
}
func (deltaTrigger[T]) OnEventTime(int64, Window, *TriggerContext[T]) Result      { return Continue }
func (deltaTrigger[T]) OnProcessingTime(int64, Window, *TriggerContext[T]) Result { return Continue }
func (deltaTrigger[T]) CanMerge() bool                                            { return false }
func (deltaTrigger[T]) OnMerge(Window, *TriggerContext[T])                        {}
func (deltaTrigger[T]) Clear(Window, *TriggerContext[T])                          {}

type purgingTrigger[T any] struct{ t Trigger[T] }

// Purging returns Flink's PurgingTrigger.of(t): it behaves like t, except
// that every Fire becomes FireAndPurge. Merging and clearing are delegated.
func Purging[T any](t Trigger[T]) Trigger[T] { return purgingTrigger[T]{t: t} }

func purge(r Result) Result {
	if r.IsFire() {
		return FireAndPurge
	}
	return r
}

func (p purgingTrigger[T]) OnElement(e T, ts int64, w Window, c *TriggerContext[T]) Result {
	return purge(p.t.OnElement(e, ts, w, c))
}
func (p purgingTrigger[T]) OnEventTime(t int64, w Window, c *TriggerContext[T]) Result {
	return purge(p.t.OnEventTime(t, w, c))
}
func (p purgingTrigger[T]) OnProcessingTime(t int64, w Window, c *TriggerContext[T]) Result {
	return purge(p.t.OnProcessingTime(t, w, c))
}
func (p purgingTrigger[T]) CanMerge() bool                         { return p.t.CanMerge() }
func (p purgingTrigger[T]) OnMerge(w Window, c *TriggerContext[T]) { p.t.OnMerge(w, c) }
func (p purgingTrigger[T]) Clear(w Window, c *TriggerContext[T])   { p.t.Clear(w, c) }

type neverTrigger[T any] struct{}

// Never returns the trigger that never fires (Flink's GlobalWindows
// default, NeverTrigger).
func Never[T any]() Trigger[T] { return neverTrigger[T]{} }

func (neverTrigger[T]) OnElement(T, int64, Window, *TriggerContext[T]) Result     { return Continue }
func (neverTrigger[T]) OnEventTime(int64, Window, *TriggerContext[T]) Result      { return Continue }
func (neverTrigger[T]) OnProcessingTime(int64, Window, *TriggerContext[T]) Result { return Continue }
func (neverTrigger[T]) CanMerge() bool                                            { return true }
func (neverTrigger[T]) OnMerge(Window, *TriggerContext[T])                        {}
func (neverTrigger[T]) Clear(Window, *TriggerContext[T])                          {}
