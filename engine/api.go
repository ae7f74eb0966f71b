package engine

import (
	"context"
	"errors"
)

// Sentinel errors. Errors returned by Run wrap one of these or the cause
// reported by a user's source, operator or sink.
var (
	// ErrInvalidPipeline reports a pipeline graph or option that cannot run.
	ErrInvalidPipeline = errors.New("engine: invalid pipeline")
	// ErrAlreadyRunning is returned by Run when the pipeline was already started.
	ErrAlreadyRunning = errors.New("engine: pipeline already started")
	// ErrNotRunning is returned by Checkpoint when Run is not in progress.
	ErrNotRunning = errors.New("engine: pipeline not running")
	// ErrCheckpointAborted is returned by Checkpoint when the pipeline ended
	// (input exhausted, failure or cancellation) before the checkpoint completed.
	ErrCheckpointAborted = errors.New("engine: checkpoint aborted")
)

// Source produces the records of a stream.
//
// Lifecycle: Open, then Read until it returns an error (io.EOF marks the end
// of a bounded input), then Close. All three are called from the same
// goroutine, one owned by the engine for this source; a Source need not be
// safe for concurrent use.
type Source[T any] interface {
	// Open prepares the source. ctx is cancelled when the pipeline stops.
	Open(ctx context.Context) error
	// Read fills buf with up to len(buf) records and returns how many it
	// wrote. It may block until records are available, but should return
	// (possibly with n == 0) at least every few hundred milliseconds so that
	// checkpoint barriers can be injected, and must return promptly once ctx
	// is cancelled. It returns io.EOF, possibly together with n > 0 records,
	// when the input is exhausted. Any other error fails the pipeline.
	Read(ctx context.Context, buf []T) (n int, err error)
	// Close releases resources. It is called once, even after a failure.
	Close() error
}

// StatefulSource is a Source whose read position can be checkpointed.
// SnapshotState and RestoreState are called from the source's goroutine,
// never concurrently with Read: SnapshotState between two Reads, when a
// checkpoint barrier is injected; RestoreState after Open and before the
// first Read.
type StatefulSource[T any] interface {
	Source[T]
	SnapshotState() ([]byte, error)
	RestoreState(state []byte) error
}

// Operator is a keyed, stateful stage. The engine creates one instance per
// subtask; an instance sees only the keys whose key groups its subtask owns,
// each key's records in arrival order.
//
// Lifecycle and threading: Open, then any sequence of ProcessBatch,
// OnWatermark, OnProcessingTime, OnCheckpoint and OnCommit, then Close. Every
// hook of one instance is called from the same goroutine, so an Operator needs
// no locking for its own state. Hooks may emit records through out; the
// engine forwards them downstream after the hook returns. A hook that returns
// an error fails the pipeline.
type Operator[IN, OUT any] interface {
	// Open is called once before any other hook. ctx describes the subtask.
	Open(ctx OperatorContext) error
	// ProcessBatch handles a batch of records. The slice is only valid until
	// ProcessBatch returns: copy any record it keeps.
	ProcessBatch(in []IN, out *Output[OUT]) error
	// OnWatermark is called when the subtask's event-time clock advances:
	// no record with a timestamp <= wm is expected any more.
	OnWatermark(wm int64, out *Output[OUT]) error
	// OnProcessingTime is called periodically (see WithProcessingTimeInterval)
	// with the wall clock in Unix milliseconds.
	OnProcessingTime(nowMillis int64, out *Output[OUT]) error
	// OnCheckpoint snapshots the operator's state for checkpoint id, after
	// every record before the barrier was processed and before any record
	// after it. State is written by key group so that it can be redistributed
	// when the parallelism changes. It should only copy or freeze state and
	// put encoders (KeyedState.PutFunc), which the engine runs on another
	// goroutine while the subtask goes on; the engine calls OnCheckpoint
	// only after the previous checkpoint's encoders have returned. A key
	// group unchanged since the last checkpoint can be put with its last
	// blob and generation (KeyedState.PutGen) so that the store need not
	// write it again.
	OnCheckpoint(id uint64, state *KeyedState) error
	// OnCommit tells the operator that checkpoint id is durable everywhere.
	OnCommit(id uint64) error
	// Close is called once at the end, also after a failure. At the end of a
	// bounded input it may emit final records (end-of-input flush); after a
	// failure or cancellation its output is discarded.
	Close(out *Output[OUT]) error
}

// OperatorContext describes the subtask an Operator instance runs in.
type OperatorContext struct {
	// Context is cancelled when the pipeline stops.
	Context context.Context
	// Name is the stage name given to Process.
	Name string
	// Subtask is this instance's index in [0, Parallelism).
	Subtask int
	// Parallelism is the number of subtasks of the stage.
	Parallelism int
	// KeyGroups is the half-open key-group range this subtask owns.
	KeyGroups KeyGroupRange
	// MaxParallelism is the number of key groups.
	MaxParallelism int
	// Restored holds the state this subtask's key groups had in the
	// checkpoint the pipeline was restored from, or nil: the blobs the
	// operator wrote in OnCheckpoint (typed state is not in them; it comes
	// back through NewValueState and the like).
	Restored *KeyedState
	// State keeps the operator's typed keyed states (NewValueState,
	// NewMapState, NewListState), which the engine checkpoints and
	// restores. A context made by hand has none; NewOperatorContext makes
	// one.
	State *StateBackend
}

// Sink consumes the records of a stream.
//
// Lifecycle: Open, then Write and Flush any number of times, then Close. The
// engine calls a Sink from one goroutine; a Sink need not be safe for
// concurrent use, but may work asynchronously inside.
type Sink[T any] interface {
	// Open prepares the sink.
	Open(ctx context.Context) error
	// Write accepts a batch. It may block, which is how a sink pushes back on
	// the pipeline. It must not keep batch after returning (copy instead). An
	// asynchronous sink may return before the records are durable; an error of
	// an earlier asynchronous write must be returned by the next call.
	Write(ctx context.Context, batch []T) error
	// Flush returns once every record accepted by Write so far is durable,
	// or with the error that prevented it.
	Flush(ctx context.Context) error
	// Close releases resources. After a clean end of input the engine calls
	// Flush before Close; Close must not lose records it already acknowledged.
	Close() error
}

// ContextCloser may be implemented by a Sink whose Close can block, for
// example on requests in flight. The engine then calls CloseContext instead
// of Close, from the sink's goroutine, with the pipeline's context: after a
// clean end it is live (and Flush has already returned), after a failure or
// an abort it is cancelled, and the sink should stop waiting at once.
type ContextCloser interface {
	CloseContext(ctx context.Context) error
}

// StatefulSink is a Sink that takes part in checkpoints beyond flushing,
// for example to publish its output only once a checkpoint is durable
// (two-phase commit). All methods are called from the sink's goroutine.
type StatefulSink[T any] interface {
	Sink[T]
	// SnapshotState is called for checkpoint id after Flush succeeded for
	// every record before the barrier. The returned state comes back in
	// RestoreState after a restore from that checkpoint.
	SnapshotState(id uint64) ([]byte, error)
	// RestoreState is called after Open, before the first Write, when the
	// pipeline is restored from a checkpoint.
	RestoreState(state []byte) error
	// Commit is called once checkpoint id is durable (Pipeline.Commit), and
	// with EndOfInput after the final Flush of a clean end: then everything
	// written is final.
	Commit(id uint64) error
}

// Drainer is an optional interface of a Sink that holds records in memory
// between Writes (a write buffer). Drain writes everything buffered so far
// out of the process, to the operating system (file, pipe or socket), so
// that readers see it, without making it durable: no fsync, no commit, no
// change to what Flush and StatefulSink guarantee. A sink whose buffered
// records are invisible until its own checkpoint protocol publishes them
// (such as a part file that is renamed at commit) drains only what may
// become visible early.
//
// The sink stage drives it (see SinkFlushInterval): at the latest the
// interval after the first write since the last drain or flush, and at
// once (after about a millisecond) when the sink's input queue is empty
// after a write. Drain is called from the sink's goroutine, never
// concurrently with Write, Flush or the other Sink methods, and only
// between Open and Close. It should return quickly when nothing is
// buffered. An error fails the pipeline, like an error of Write; a sink
// should keep it and return it from later calls too (sticky).
type Drainer interface {
	Drain(ctx context.Context) error
}

// AckFunc is how an AckingSink reports that records it accepted have been
// acknowledged by its destination. stamp is the value the engine passed to
// WriteStamped with those records; records is how many were acknowledged.
// It may be called from any goroutine.
type AckFunc func(stamp int64, records int)

// AckingSink is an optional interface of an asynchronous Sink (one whose
// Write returns before the records are acknowledged) that reports when
// they are. The engine uses the acknowledgements for
// topspeed_end_to_end_latency_seconds and Pipeline.Progress; a sink that
// does not implement it counts as acknowledged when Write returns.
type AckingSink[T any] interface {
	Sink[T]
	// SetAck is called once per Run, on the sink's goroutine before Open,
	// with the function the sink calls for acknowledgements.
	SetAck(ack AckFunc)
	// WriteStamped is called by the engine instead of Write; it is Write
	// plus an opaque stamp. Once every record of batch is acknowledged, the
	// sink calls ack(stamp, len(batch)) exactly once (also for an empty
	// batch). Records that fail, or that Close drops, are never
	// acknowledged.
	WriteStamped(ctx context.Context, batch []T, stamp int64) error
}

// EndOfInput is the checkpoint id StatefulSink.Commit receives when the
// pipeline ended cleanly (input exhausted, Stop or StopWithSavepoint).
const EndOfInput = ^uint64(0)

// Output collects the records an Operator emits during one hook call. It is
// a concrete type so that Emit is a plain append on the hot path.
type Output[T any] struct {
	buf []T
}

// Emit appends one record to the output.
func (o *Output[T]) Emit(v T) { o.buf = append(o.buf, v) }

// EmitAll appends a batch of records to the output.
func (o *Output[T]) EmitAll(vs []T) { o.buf = append(o.buf, vs...) }

// Len reports how many records were emitted since the last hand-off.
func (o *Output[T]) Len() int { return len(o.buf) }

// Records returns the records emitted since the last Reset, in order: a
// way for tests to see what an operator emitted when they call its hooks
// directly (tester.Harness does this for them). The slice is the output's
// buffer, valid until the next Reset: copy what you keep. Inside a
// pipeline the engine hands the records on and resets the output after
// every hook.
func (o *Output[T]) Records() []T { return o.buf }

// Reset discards the records emitted so far and keeps the buffer for
// reuse.
func (o *Output[T]) Reset() {
	clear(o.buf)
	o.buf = o.buf[:0]
}
