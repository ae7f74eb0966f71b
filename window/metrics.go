package window

import "github.com/topspeed/topspeed/engine"

// Counter names the window operators report in engine.OperatorMetrics.
// The engine exports them as <namespace>_<name>_total: with the default
// namespace, topspeed_window_fires_total and
// topspeed_late_records_dropped_total.
const (
	CounterFires       = "window_fires"
	CounterLateDropped = "late_records_dropped"
)

// windowCounters are the counters both window operators report.
func windowCounters(fires, lateDropped int64) []engine.OperatorCounter {
	return []engine.OperatorCounter{
		{Name: CounterFires, Help: "Window firings of an operator.", Value: fires},
		{Name: CounterLateDropped, Help: "Records an operator dropped as late.", Value: lateDropped},
	}
}

// Metrics implements engine.MetricsReporter: keys with state, retained
// elements (see Retained), and the counters CounterFires and
// CounterLateDropped (always 0: the global window is never late). It is
// O(keys); the engine calls it about once a second.
func (o *DeltaTimeMax[K, T]) Metrics() engine.OperatorMetrics {
	return engine.OperatorMetrics{Keys: int64(o.Keys()), Retained: int64(o.Retained()), Counters: windowCounters(o.fires, 0)}
}

// Fires returns how many times a key's window fired since the operator was
// created (a firing emits at most one record).
func (o *DeltaTimeMax[K, T]) Fires() int64 { return o.fires }

// Metrics implements engine.MetricsReporter: keys with window state,
// elements held in window contents (for windows evaluated incrementally,
// one accumulator counts as one), and the counters CounterFires (firings
// of non-empty windows) and CounterLateDropped (elements dropped as late,
// LateDropped). It is O(keys × windows); the
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
	return engine.OperatorMetrics{Keys: int64(len(o.states)), Retained: retained, Counters: windowCounters(o.fires, o.dropped)}
}

var (
	_ engine.MetricsReporter = (*DeltaTimeMax[int, int])(nil)
	_ engine.MetricsReporter = (*Operator[int, int, int])(nil)
)
