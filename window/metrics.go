package window

import "github.com/topspeed/topspeed/engine"

// Metrics implements engine.MetricsReporter: keys with state, retained
// elements (see Retained), firings and late drops (always 0: the global
// window is never late). It is O(keys); the engine calls it about once a
// second.
func (o *DeltaTimeMax[K, T]) Metrics() engine.OperatorMetrics {
	return engine.OperatorMetrics{Keys: int64(o.Keys()), Retained: int64(o.Retained()), Fires: o.fires}
}

// Fires returns how many times a key's window fired since the operator was
// created (a firing emits at most one record).
func (o *DeltaTimeMax[K, T]) Fires() int64 { return o.fires }

// Metrics implements engine.MetricsReporter: keys with window state,
// elements held in window contents (for windows evaluated incrementally,
// one accumulator counts as one), firings of non-empty windows, and
// elements dropped as late (LateDropped). It is O(keys × windows); the
// engine calls it about once a second.
func (o *Operator[K, T, OUT]) Metrics() engine.OperatorMetrics {
	var retained int64
	for _, ks := range o.states {
		for _, p := range ks.panes {
			if o.listMode {
				retained += int64(len(p.elems))
			} else {
				retained++
			}
		}
	}
	return engine.OperatorMetrics{Keys: int64(len(o.states)), Retained: retained, Fires: o.fires, LateDropped: o.dropped}
}

var (
	_ engine.MetricsReporter = (*DeltaTimeMax[int, int])(nil)
	_ engine.MetricsReporter = (*Operator[int, int, int])(nil)
)
