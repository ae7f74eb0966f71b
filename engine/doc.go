// Package engine is topspeed's dataflow runtime: typed sources, stateless
// transforms, a key-group exchange, keyed operators and sinks, connected into
// a pipeline that runs until its sources end or its context is cancelled.
//
// # Building a pipeline
//
//	p := engine.New(engine.WithParallelism(4))
//	cars := engine.FromSource(p, "cars", src, engine.Monotonous(func(c Car) int64 { return c.Time }))
//	keyed := engine.KeyBy(cars, func(c Car) int32 { return c.ID }, engine.HashInt32)
//	top := engine.Process(keyed, "top-speed", newOperator)
//	engine.ToSink(top, "stdout", sink)
//	err := p.Run(ctx)
//
// # Writing an operator
//
// An [Operator] has seven hooks; embed [BaseOperator] for no-op defaults
// and write only ProcessBatch and what else the operator needs. Keep
// per-key state in typed keyed state registered in Open: [ValueState],
// [MapState] and [ListState], made by [NewValueState], [NewMapState] and
// [NewListState] from the [OperatorContext] with a [Codec] for keys and
// values ([StringCodec], [Int64Codec], ..., [FuncCodec] for structs,
// [JSONCodec] as a fallback). The engine snapshots every registered state
// by key group at each checkpoint barrier, after OnCheckpoint, and restores
// it before Open registers it, into whatever parallelism the job runs
// with; the operator writes no encoding or key-group code. A running
// count per key:
//
//	type counter struct {
//		engine.BaseOperator[Event, Count]
//		counts *engine.ValueState[string, int64]
//	}
//
//	func (c *counter) Open(ctx engine.OperatorContext) (err error) {
//		c.counts, err = engine.NewValueState[string, int64](ctx, "count", engine.StringCodec{}, engine.Int64Codec{})
//		return err
//	}
//
//	func (c *counter) ProcessBatch(in []Event, out *engine.Output[Count]) error {
//		for _, e := range in {
//			n, _ := c.counts.Get(e.Word)
//			c.counts.Set(e.Word, n+1)
//			out.Emit(Count{e.Word, n + 1})
//		}
//		return nil
//	}
//
// States, like every hook of an operator instance, are used only from the
// subtask's goroutine and need no locks. Get and Set of a present key cost
// a map lookup and allocate nothing. An operator may also write its own
// blobs in OnCheckpoint ([KeyedState]) and read them back from
// OperatorContext.Restored; both kinds share the key groups' blobs. To
// unit-test an operator step by step (records, watermarks, processing
// time, snapshot and restore into another parallelism) use
// tester.Harness; [Output.Records] shows what a hook emitted when the test
// calls it directly.
//
// # Data path
//
// Records move in batches (slices). A source fills a batch, stateless
// transforms ([Map], [Filter], [FlatMap]) run chained in the source's
// goroutine, and [KeyBy] splits each batch by key group into one batch per
// downstream subtask. Every subtask owns a fixed range of key groups and runs
// its own [Operator] instance in its own goroutine; it sees each key's records
// in arrival order. Output batches go to the sinks. Channels between stages
// carry whole batches and are bounded, so a slow sink or operator blocks its
// producers (backpressure) instead of growing memory.
//
// # Control path
//
// Watermarks, checkpoint barriers and end-of-input travel in the same queues
// as data, between batches. A subtask with several inputs takes the minimum
// watermark and aligns checkpoint barriers (see [Pipeline.Checkpoint]).
//
// # Event time, side outputs, union
//
// A source's [WatermarkStrategy] says how to read a record's event time and
// which [WatermarkGenerator] makes its watermarks: the built-in periodic one
// ([Monotonous], [BoundedOutOfOrderness]), emitting after every batch or
// every AutoWatermarkInterval; [Punctuated], whose
// watermarks follow exactly the records that produced them, so results do
// not depend on the batch size; or a custom one ([ForGenerator]). The
// stream carries the timestamp function ([Stream.Timestamps]; Filter and
// KeyBy keep it, Map and FlatMap drop it, [WithTimestamps] declares it), so
// stages that read event time, such as window specs, need not repeat it.
//
// [ProcessWithSide] adds a keyed stage whose operators also emit into a
// side [Output]; the side stream is an ordinary stream (to a sink, a Map,
// another stage) that gets the stage's watermarks and barriers too. Late
// data of a window is one use (window.ApplyWithLate). [Union] merges
// streams of one type; the stage behind it takes the minimum watermark over
// all inputs and aligns their barriers.
//
// # Restore
//
// [Pipeline.RestoreFrom] starts a pipeline from a [Snapshot] taken by
// [Pipeline.Checkpoint], at any parallelism but the same max parallelism.
// Run checks the snapshot before any stage opens and fails with
// [ErrIncompatibleState], naming the stages and key groups, if it was
// taken with another max parallelism or holds state no stage of the
// pipeline claims (a renamed or removed stage, key groups out of range);
// [AllowNonRestoredState] drops such state instead and logs what it
// dropped.
//
// # Metrics
//
// [WithMetrics] registers the pipeline's Prometheus metrics on a registry
// the caller provides, named with a namespace ([WithMetricsNamespace],
// "topspeed" by default): records in and out per stage and subtask, bad
// records, watermarks and event-time lag, queue fill, operator state and
// counters ([MetricsReporter]), sink write and flush durations, and end-to-end
// latency: the transit time from a source's read of a batch to the sink's
// acknowledgement of the results it produced ([AckingSink] for asynchronous
// sinks). They cost a few atomic operations per batch. [Pipeline.State],
// [Pipeline.RecordCounts] and [Pipeline.Progress] (which works without
// metrics too) serve health checks, status pages and progress lines.
//
// # Output latency
//
// A sink that buffers records in the process implements [Drainer]; its
// stage drains it when its input goes idle and at the latest
// [SinkFlushInterval] after a write, so results become visible while the
// pipeline runs, not only at checkpoints and at the end.
//
// # Errors and shutdown
//
// The first error from any source, operator or sink cancels the pipeline and
// is returned by [Pipeline.Run], wrapped with the stage that failed. Run
// returns only after every goroutine it started has ended.
package engine
