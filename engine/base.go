package engine

// BaseOperator gives an Operator a no-op default for every hook except
// ProcessBatch: embed it and write only the hooks the operator needs.
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
//	func (c *counter) ProcessBatch(in []Event, out *engine.Output[Count]) error { ... }
//
// The defaults: Open, OnWatermark, OnProcessingTime, OnCheckpoint, OnCommit
// and Close do nothing and return nil. Typed state needs no OnCheckpoint:
// the engine checkpoints it.
type BaseOperator[IN, OUT any] struct{}

// Open does nothing.
func (BaseOperator[IN, OUT]) Open(OperatorContext) error { return nil }

// OnWatermark does nothing.
func (BaseOperator[IN, OUT]) OnWatermark(int64, *Output[OUT]) error { return nil }

// OnProcessingTime does nothing.
func (BaseOperator[IN, OUT]) OnProcessingTime(int64, *Output[OUT]) error { return nil }

// OnCheckpoint writes nothing; typed state is checkpointed by the engine.
func (BaseOperator[IN, OUT]) OnCheckpoint(uint64, *KeyedState) error { return nil }

// OnCommit does nothing.
func (BaseOperator[IN, OUT]) OnCommit(uint64) error { return nil }

// Close emits nothing.
func (BaseOperator[IN, OUT]) Close(*Output[OUT]) error { return nil }
