// Package window implements Flink 1.20's keyed window semantics on top of
// package engine: window assigners, triggers, evictors, window functions, a
// generic window operator (Operator, Flink's WindowOperator and
// EvictingWindowOperator) and DeltaTimeMax, a fused operator for the
// TopSpeed job.
//
// # Building blocks
//
// A Window is a half-open interval [Start, End) of milliseconds with
// MaxTimestamp End-1; GlobalWindow has MaxTimestamp math.MaxInt64. Assigners
// (Tumbling, Sliding, Session and their ProcessingTime variants, Global) map
// an element to windows, with Flink's start formula (WindowStart). Triggers
// (EventTime, ProcessingTime, Count, Delta, Purging, Never) decide when a
// window fires or purges, with state and timers per key and window. Evictors
// (TimeEvictor, CountEvictor) remove elements when a window fires.
// Functions (Reduce, Aggregate, MaxBy, MinBy, MaxByField, MinByField,
// Process, and ReduceProcess and AggregateProcess, incremental ones whose
// result also sees the key and the window) compute the output. A Spec puts
// them together; Apply, ApplyWithLate, Factory and New make the operator.
//
//	evs := engine.FromSource(p, "events", src, engine.Monotonous(func(e Ev) int64 { return e.Time }))
//	keyed := engine.KeyBy(evs, func(e Ev) string { return e.Key }, engine.HashString)
//	sums, late := window.ApplyWithLate(keyed, "sum", window.Spec[string, Ev, Ev]{
//		Assigner: window.Tumbling(time.Minute, 0),
//		Function: window.Reduce[string](func(a, b Ev) Ev { a.N += b.N; return a }),
//	})
//	engine.ToSink(late, "late-events", lateSink)
//
// # Event time and late data
//
// Event time is declared once, at the source: a Spec without Timestamp
// reads the keyed stream's timestamp function (engine.Stream.Timestamps),
// a Spec with one overrides it; Factory and New, which do not see the
// stream, need it in the Spec. Elements too late for all their windows are
// dropped and counted by Apply, and sent by ApplyWithLate to a stream of
// their own (Flink's sideOutputLateData), which flows to a sink or any
// other stage inside the pipeline: no user code runs on the operator's
// goroutines. Which elements are late depends on where the watermarks fall
// between them; with engine.Punctuated watermarks that does not depend on
// the batch size.
//
// # Semantics, as in Flink
//
//   - Per key, an element is added to each of its windows' contents first,
//     then the trigger's OnElement decides for that window. Fire evaluates
//     the function and keeps the contents; Purge clears them; FireAndPurge
//     does both. With an evictor, a firing runs EvictBefore, the function
//     over the remaining elements, EvictAfter, and keeps what is left.
//   - Event-time timers fire when the watermark reaches them (OnWatermark),
//     processing-time timers when OnProcessingTime reaches them, in
//     timestamp order, including timers registered while firing.
//   - A window is late when the assigner is event-time and MaxTimestamp +
//     AllowedLateness <= watermark; late windows are skipped. An element
//     that went to no window and whose timestamp + AllowedLateness <=
//     watermark is late: it goes to the late stream (ApplyWithLate) or is
//     dropped and counted (Operator.LateDropped). Window state is cleaned up by a timer at
//     MaxTimestamp + AllowedLateness (processing time: MaxTimestamp); the
//     GlobalWindow is never late and never cleaned up.
//   - Session windows merge like Flink's MergingWindowSet: windows that
//     intersect or touch become their cover; contents are concatenated (or
//     accumulators merged), trigger state merged by the trigger's OnMerge.
//   - Nothing fires at the end of the input except what the final watermark
//     (math.MaxInt64, sent by the engine) fires through event-time timers.
//   - Output records carry no timestamp (the engine has none); Flink would
//     stamp them with the window's MaxTimestamp.
//
// # Differences from Flink
//
//   - Functions work on Go values: a Reduce over an empty window (possible
//     only when an evictor removed everything) emits nothing, where Flink
//     would emit null. MaxByField compares with cmp.Compare, which orders
//     NaN and -0.0 differently from Java's Double.compareTo.
//   - Timers with equal timestamps fire in registration order; Flink leaves
//     that order unspecified. Contents of merging sessions are concatenated
//     in window-start order, where Flink's order depends on hashing.
//   - Trigger state is one TriggerState value per key and window rather than
//     arbitrary partitioned state.
//   - DeltaTimeMax produces the same records as Flink's global window with
//     TimeEvictor, DeltaTrigger and maxBy, but keeps only the elements that
//     can still be emitted: memory per key is bounded by the elements of the
//     last Evict of event time (for in-order input, only the non-dominated
//     ones), where Flink keeps every element until a firing evicts it.
//
// # Checkpoints
//
// Both operators write their state per key group (engine.KeyedState) in a
// versioned binary format, with user-supplied Codecs for keys and elements
// (FixedCodec, StringCodec or custom), and restore it in Open from
// OperatorContext.Restored, also with a different parallelism.
package window
