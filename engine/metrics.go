package engine

import (
	"errors"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Metrics
//
// With WithMetrics(reg) a pipeline exports, on reg, the metrics below (label
// stage is the stage name, subtask the subtask index; sources and sinks have
// subtask "0"). Every name starts with the metrics namespace and "_"
// (WithMetricsNamespace; DefaultMetricsNamespace, "topspeed", unless set):
//
//	topspeed_records_in_total{stage,subtask}            records a stage received: read by a source, given to an operator, given to a sink
//	topspeed_records_out_total{stage,subtask}           records a stage passed on: pushed by a source, emitted by an operator, written by a sink (Write returned)
//	topspeed_bad_records_total{stage}                   bad input records a source skipped (SkipCounter; 0 for other sources)
//	topspeed_watermark_seconds{stage,subtask}           current event-time watermark (Unix seconds) of a source or keyed subtask
//	topspeed_event_time_lag_seconds{stage,subtask}      wall clock minus that watermark, computed at scrape time
//	topspeed_queue_batches{stage,subtask}               batches waiting in the input queue of a keyed subtask or sink
//	topspeed_queue_capacity_batches{stage,subtask}      that queue's capacity
//	topspeed_operator_keys{stage,subtask}               keys with state (operators implementing MetricsReporter)
//	topspeed_operator_retained_elements{stage,subtask}  elements held in state (MetricsReporter)
//	topspeed_<name>_total{stage,subtask}                each counter an operator reports (OperatorMetrics.Counters),
//	                                                    for example the window operators' topspeed_window_fires_total
//	                                                    and topspeed_late_records_dropped_total
//	topspeed_sink_write_duration_seconds{stage}         histogram: time in Sink.Write, including backpressure
//	topspeed_sink_flush_duration_seconds{stage}         histogram: time in Sink.Flush
//	topspeed_end_to_end_latency_seconds{stage}          histogram: transit time through the pipeline, from when a
//	                                                    source read the input batch that produced a sink batch to
//	                                                    when the sink acknowledged that batch (see below)
//
// The default namespace is "topspeed" rather than none: Prometheus wants
// an application prefix on every name, and the application producing
// these is the engine (as Flink's are flink_*, whatever the job), so a
// library user's job gets unambiguous names and existing dashboards keep
// working. WithMetricsNamespace("") exports the bare names.
//
// Gauges are exported only while the stage runs. Counters are cumulative
// per registry: a later pipeline with the same stage names on the same
// registry continues them, so a job that rebuilds its pipeline (restart
// from a checkpoint, HA failover) keeps monotonic counters. Two pipelines
// running at the same time must not share a registry unless their stage
// names differ (or wrap it: prometheus.WrapRegistererWith).
//
// End-to-end latency is transit time, like Flink's latency markers, not
// event-time age: each batch a source reads is stamped once (monotonic
// clock) when Read returns; every batch derived from it carries that stamp
// through chained transforms, the key-group exchange and keyed subtasks;
// the sink stage observes, per batch, the time from the stamp until the
// sink acknowledged the batch: when Write returned for a synchronous sink,
// when the sink reported every record of the batch acknowledged for an
// AckingSink (such as the Cassandra sink). One observation per sink batch,
// whatever its size. A batch an operator emits from ProcessBatch carries
// the stamp of the input batch it processed; from OnWatermark, the stamp of
// the batch whose records advanced the watermark. Output of
// OnProcessingTime, of the end of input and of Close is not observed. Time
// a result waits in a window for its trigger (up to --evict for TopSpeed)
// is not part of it: wall clock minus the results' event time is what
// topspeed_event_time_lag_seconds shows.
//
// The hot path costs a few atomic additions per batch, never per record.

// MetricsReporter may be implemented by an Operator to export its state.
// The engine calls Metrics only when metrics are enabled, about once per
// second and once before Close, from the subtask's own goroutine, so the
// operator needs no synchronisation; the engine stores the sample for the
// metrics endpoint.
type MetricsReporter interface {
	Metrics() OperatorMetrics
}

// OperatorMetrics is a sample of one operator instance's state.
type OperatorMetrics struct {
	// Keys is the number of keys with state.
	Keys int64
	// Retained is the number of elements held in state.
	Retained int64
	// Counters are counts of the operator's own, each exported as
	// <namespace>_<Name>_total{stage,subtask}. The engine keeps them
	// monotonic across instances of the same stage and subtask (a restart
	// from a checkpoint adds to the total).
	Counters []OperatorCounter
}

// OperatorCounter is one cumulative count an operator reports.
type OperatorCounter struct {
	// Name is the metric's name without the namespace and without the
	// "_total" the engine appends: letters, digits and _, not starting
	// with a digit, not ending in "_total", and not one of the engine's
	// own counters (records_in, records_out, bad_records). The engine
	// logs a bad name once per stage and subtask and does not export it.
	Name string
	// Help describes the metric; the first help seen for a name is
	// exported for every operator reporting it. Empty: a generic text.
	Help string
	// Value is the count since Open (cumulative, never decreasing).
	Value int64
}

// SkipCounter may be implemented by a Source that skips bad records (such
// as source.Lines): Skipped returns how many it skipped since Open. Unlike
// the Source methods it must be safe to call from any goroutine; it is
// read when metrics are scraped.
type SkipCounter interface {
	Skipped() int64
}

// metricsSampleInterval is how often MetricsReporter operators are sampled.
const metricsSampleInterval = time.Second

// WithMetrics makes the pipeline export its metrics on reg (nil: none, the
// default). See the package's metrics list in metrics.go.
func WithMetrics(reg prometheus.Registerer) Option { return func(c *Config) { c.Metrics = reg } }

// DefaultMetricsNamespace is the default prefix of the pipeline's metric
// names (see WithMetricsNamespace).
const DefaultMetricsNamespace = "topspeed"

// WithMetricsNamespace sets the prefix of every metric name the pipeline
// exports: ns + "_" + name, or the bare name if ns is empty. It must be
// letters, digits and _, not starting with a digit. The default is
// DefaultMetricsNamespace. Pipelines with different namespaces may share
// a registry.
func WithMetricsNamespace(ns string) Option { return func(c *Config) { c.MetricsNamespace = ns } }

// metricNameRE matches a metric name or namespace (without the colons
// Prometheus reserves for recording rules).
var metricNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// SinkOption configures a sink added with ToSink.
type SinkOption[T any] func(*sinkNode[T])

// State is a pipeline's lifecycle state.
type State int

// Pipeline states, in order.
const (
	// StateCreated: Run was not called yet.
	StateCreated State = iota
	// StateStarting: Run was called; some stage is still opening or
	// restoring its state.
	StateStarting
	// StateRunning: every source, subtask and sink is open with its state
	// restored.
	StateRunning
	// StateFinished: Run returned nil.
	StateFinished
	// StateFailed: Run returned an error (including cancellation).
	StateFailed
)

func (s State) String() string {
	switch s {
	case StateCreated:
		return "created"
	case StateStarting:
		return "starting"
	case StateRunning:
		return "running"
	case StateFinished:
		return "finished"
	case StateFailed:
		return "failed"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// State returns the pipeline's lifecycle state. It may be called from any
// goroutine.
func (p *Pipeline) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.started:
		return StateCreated
	case p.run != nil:
		if p.run.opened.Load() >= int64(p.run.parts) {
			return StateRunning
		}
		return StateStarting
	case p.finished && p.runErr == nil:
		return StateFinished
	}
	return StateFailed
}

// RecordCounts returns how many records the pipeline's sources have read
// and how many its sinks have written (Write returned) so far. It is safe
// to call from any goroutine; without WithMetrics both are 0.
func (p *Pipeline) RecordCounts() (read, written int64) {
	if p.obs == nil {
		return 0, 0
	}
	p.obs.mu.Lock()
	defer p.obs.mu.Unlock()
	for _, st := range p.obs.stages {
		switch st.kind {
		case kindSource:
			read += st.in.Load()
		case kindSink:
			written += st.out.Load()
		}
	}
	return read, written
}

// finish records Run's result for State.
func (p *Pipeline) finish(err error) {
	p.finished, p.runErr = true, err
}

// observer is a pipeline's view of its registry's metrics.
type observer struct {
	m      *metricsSet
	mu     sync.Mutex
	stages []*stageStats // this pipeline's, for RecordCounts
}

func newObserver(reg prometheus.Registerer, ns string) (*observer, error) {
	if reg == nil {
		return nil, nil
	}
	m := newMetricsSet(ns)
	if err := reg.Register(m); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		existing, ok := are.ExistingCollector.(*metricsSet)
		if !ok {
			return nil, err
		}
		m = existing
	}
	return &observer{m: m}, nil
}

type stageKind uint8

const (
	kindSource stageKind = iota + 1
	kindOperator
	kindSink
)

func (k stageKind) String() string {
	switch k {
	case kindSource:
		return "source"
	case kindOperator:
		return "operator"
	}
	return "sink"
}

// stageStats are the metrics of one source, keyed subtask or sink. Its
// counters are written by the stage's own goroutine and read at scrape
// time; a nil *stageStats (metrics disabled) ignores every call.
type stageStats struct {
	kind           stageKind
	stage, subtask string

	in, out atomic.Int64
	wm      atomic.Int64 // MinWatermark until the first watermark

	// Operator samples (MetricsReporter): gauges, and the counters
	// (OperatorMetrics.Counters) of this instance and earlier ones.
	keys, retained atomic.Int64
	reporter       MetricsReporter // set while attached
	ticker         *time.Ticker
	log            *zap.Logger
	cmu            sync.Mutex   // guards counters
	counters       []*opCounter // in the order first reported

	writeDur, flushDur, e2e prometheus.Observer // sinks

	// Guarded by metricsSet.mu: attachment and the totals of earlier
	// instances with the same labels.
	active   bool
	queue    func() (n, capacity int)
	skip     SkipCounter
	skipBase int64
}

// opCounter is one OperatorCounter of a stage and subtask: the current
// instance's value and the total of earlier instances.
type opCounter struct {
	name, help string
	bad        bool // not exported (logged once)
	cur, base  int64
}

// reservedCounters are the engine's own counters: an operator's counter
// of the same name would clash with them.
var reservedCounters = map[string]bool{"records_in": true, "records_out": true, "bad_records": true}

func (s *stageStats) records(in, out int) {
	if s != nil {
		s.in.Add(int64(in))
		s.out.Add(int64(out))
	}
}

func (s *stageStats) watermark(wm int64) {
	if s != nil {
		s.wm.Store(wm)
	}
}

// sampleC returns the channel that ticks when the operator should be
// sampled; nil (never) without metrics or MetricsReporter.
func (s *stageStats) sampleC() <-chan time.Time {
	if s == nil || s.ticker == nil {
		return nil
	}
	return s.ticker.C
}

// sample stores a MetricsReporter sample. Called on the subtask goroutine.
func (s *stageStats) sample() {
	if s == nil || s.reporter == nil {
		return
	}
	r := s.reporter.Metrics()
	s.keys.Store(r.Keys)
	s.retained.Store(r.Retained)
	if len(r.Counters) == 0 {
		return
	}
	s.cmu.Lock()
	defer s.cmu.Unlock()
	for _, c := range r.Counters {
		s.counter(c).cur = c.Value
	}
}

// counter returns the opCounter of c's name, adding it (and checking the
// name) on first sight. Called with cmu held.
func (s *stageStats) counter(c OperatorCounter) *opCounter {
	for _, oc := range s.counters {
		if oc.name == c.Name {
			return oc
		}
	}
	oc := &opCounter{name: c.Name, help: c.Help}
	if !metricNameRE.MatchString(c.Name) || strings.HasSuffix(c.Name, "_total") || reservedCounters[c.Name] {
		oc.bad = true
		s.log.Warn("operator counter not exported: its name must be letters, digits and _, not end in _total, "+
			"and not be records_in, records_out or bad_records", zap.String("stage", s.stage), zap.String("subtask", s.subtask),
			zap.String("counter", c.Name))
	}
	if oc.help == "" {
		oc.help = "Count the operator reports as " + strconv.Quote(c.Name) + "."
	}
	s.counters = append(s.counters, oc)
	return oc
}

// attach registers a stage instance that has opened (and restored its
// state): it counts towards StateRunning, and, with metrics, gets its
// stats. op is the operator of a keyed subtask, src the source; queue
// reports the input queue of subtasks and sinks.
func (x *execution) attach(kind stageKind, stage string, subtask int, op any, queue func() (int, int)) *stageStats {
	x.opened.Add(1)
	x.log.Debug("stage open", zap.String("stage", stage), zap.Stringer("kind", kind), zap.Int("subtask", subtask))
	o := x.p.obs
	if o == nil {
		return nil
	}
	m := o.m
	m.mu.Lock()
	key := [2]string{stage, strconv.Itoa(subtask)}
	s := m.stages[key]
	if s == nil {
		s = &stageStats{kind: kind, stage: key[0], subtask: key[1]}
		if kind == kindSink {
			s.writeDur = m.writeDur.WithLabelValues(stage)
			s.flushDur = m.flushDur.WithLabelValues(stage)
			s.e2e = m.e2e.WithLabelValues(stage)
		}
		m.stages[key] = s
		m.order = append(m.order, key)
	}
	s.active = true
	s.wm.Store(MinWatermark)
	s.queue = queue
	if sc, ok := op.(SkipCounter); ok && kind == kindSource {
		s.skip = sc
	}
	if r, ok := op.(MetricsReporter); ok && kind == kindOperator {
		s.reporter, s.log = r, x.log
		s.keys.Store(0)
		s.retained.Store(0)
		s.ticker = time.NewTicker(metricsSampleInterval)
	}
	m.mu.Unlock()
	o.mu.Lock()
	o.stages = append(o.stages, s)
	o.mu.Unlock()
	return s
}

// detach ends a stage instance's attachment: it takes a last sample, folds
// the instance's cumulative counts into the stage's totals and stops
// exporting its gauges. Called on the stage's goroutine, before the
// operator's Close.
func (x *execution) detach(s *stageStats) {
	if s == nil {
		return
	}
	s.sample()
	if s.ticker != nil {
		s.ticker.Stop()
	}
	m := x.p.obs.m
	m.mu.Lock()
	s.active = false
	s.queue = nil
	if s.skip != nil {
		s.skipBase += s.skip.Skipped()
		s.skip = nil
	}
	if s.reporter != nil {
		s.cmu.Lock()
		for _, c := range s.counters {
			c.base, c.cur = c.base+c.cur, 0
		}
		s.cmu.Unlock()
		s.reporter, s.ticker = nil, nil
	}
	m.mu.Unlock()
	x.log.Debug("stage closed", zap.String("stage", s.stage), zap.Stringer("kind", s.kind), zap.String("subtask", s.subtask),
		zap.Int64("records_in", s.in.Load()), zap.Int64("records_out", s.out.Load()))
}

// write calls Sink.Write (AckingSink.WriteStamped) with a batch stamped
// ingest, records the sink's metrics and progress, and schedules a drain.
func (s *sinkNode[T]) write(x *execution, batch []T, ingest int64) error {
	st := s.stats
	var start time.Time
	if st != nil {
		st.in.Add(int64(len(batch)))
		start = time.Now()
	}
	var err error
	if s.acking != nil {
		err = s.acking.WriteStamped(x.ctx, batch, ingest)
	} else {
		err = s.sink.Write(x.ctx, batch)
	}
	if st != nil {
		st.writeDur.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		return err
	}
	if st != nil {
		st.out.Add(int64(len(batch)))
	}
	if s.acking == nil {
		s.prog.acked(ingest, len(batch)) // synchronous: Write returning is the acknowledgement
	}
	s.drain.wrote(len(s.in) == 0)
	return nil
}

// flush calls Sink.Flush and records its duration.
func (s *sinkNode[T]) flush(x *execution) error {
	st := s.stats
	var start time.Time
	if st != nil {
		start = time.Now()
	}
	err := s.sink.Flush(x.ctx)
	if st != nil {
		st.flushDur.Observe(time.Since(start).Seconds())
	}
	if err == nil {
		s.drain.reset() // everything written is out
	}
	return err
}

// metricsSet is the engine's collector on one registry, shared by every
// pipeline using that registry.
type metricsSet struct {
	mu     sync.Mutex
	stages map[[2]string]*stageStats
	order  [][2]string

	writeDur, flushDur, e2e *prometheus.HistogramVec

	recIn, recOut, bad, wm, lag, queue, queueCap, keys, retained *prometheus.Desc

	ns       string
	counters map[string]*prometheus.Desc // operator counters by name
}

func newMetricsSet(ns string) *metricsSet {
	l := []string{"stage", "subtask"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
	}
	return &metricsSet{
		ns:       ns,
		counters: map[string]*prometheus.Desc{},
		stages:   map[[2]string]*stageStats{},
		writeDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns,
			Name:      "sink_write_duration_seconds",
			Help:      "Time a sink stage spent in one Sink.Write call, including backpressure.",
			Buckets:   prometheus.ExponentialBuckets(10e-6, 4, 12),
		}, []string{"stage"}),
		flushDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns,
			Name:      "sink_flush_duration_seconds",
			Help:      "Time a sink stage spent in one Sink.Flush call (checkpoints and end of input).",
			Buckets:   prometheus.ExponentialBuckets(10e-6, 4, 12),
		}, []string{"stage"}),
		e2e: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns,
			Name:      "end_to_end_latency_seconds",
			Help:      "Transit time of a sink batch: from when a source read the input batch that produced it to when the sink acknowledged it (Write returned; for an asynchronous sink, all its records acknowledged). Excludes time waiting in a window.",
			Buckets:   []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"stage"}),
		recIn:    d("records_in_total", "Records a stage received: read by a source, given to an operator, given to a sink.", l...),
		recOut:   d("records_out_total", "Records a stage passed on: pushed by a source, emitted by an operator, written by a sink.", l...),
		bad:      d("bad_records_total", "Bad input records a source skipped.", "stage"),
		wm:       d("watermark_seconds", "Current event-time watermark of a source or keyed subtask, in Unix seconds.", l...),
		lag:      d("event_time_lag_seconds", "Wall-clock time minus the stage's event-time watermark.", l...),
		queue:    d("queue_batches", "Batches waiting in the input queue of a keyed subtask or sink.", l...),
		queueCap: d("queue_capacity_batches", "Capacity of the input queue of a keyed subtask or sink.", l...),
		keys:     d("operator_keys", "Keys with state in an operator instance.", l...),
		retained: d("operator_retained_elements", "Elements held in an operator instance's state.", l...),
	}
}

// counterDesc returns the descriptor of the operator counter c, made on
// first use. Called with mu held.
func (m *metricsSet) counterDesc(c *opCounter) *prometheus.Desc {
	d := m.counters[c.name]
	if d == nil {
		d = prometheus.NewDesc(prometheus.BuildFQName(m.ns, "", c.name+"_total"), c.help, []string{"stage", "subtask"}, nil)
		m.counters[c.name] = d
	}
	return d
}

// Describe implements prometheus.Collector. Operator counters are not
// described: their names are known only once operators report them.
func (m *metricsSet) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.recIn, m.recOut, m.bad, m.wm, m.lag, m.queue, m.queueCap, m.keys, m.retained} {
		ch <- d
	}
	m.writeDur.Describe(ch)
	m.flushDur.Describe(ch)
	m.e2e.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *metricsSet) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	m.mu.Lock()
	keys := slices.Clone(m.order)
	m.mu.Unlock()
	for _, k := range keys {
		m.mu.Lock()
		m.collectStage(ch, m.stages[k], now)
		m.mu.Unlock()
	}
	m.writeDur.Collect(ch)
	m.flushDur.Collect(ch)
	m.e2e.Collect(ch)
}

// collectStage sends one stage's metrics. Called with mu held.
func (m *metricsSet) collectStage(ch chan<- prometheus.Metric, s *stageStats, now time.Time) {
	c := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		if len(labels) == 0 {
			labels = []string{s.stage, s.subtask}
		}
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	c(m.recIn, prometheus.CounterValue, float64(s.in.Load()))
	c(m.recOut, prometheus.CounterValue, float64(s.out.Load()))
	if s.kind == kindSource {
		n := s.skipBase
		if s.skip != nil {
			n += s.skip.Skipped()
		}
		c(m.bad, prometheus.CounterValue, float64(n), s.stage)
	}
	s.cmu.Lock()
	for _, oc := range s.counters {
		if !oc.bad {
			c(m.counterDesc(oc), prometheus.CounterValue, float64(oc.base+oc.cur))
		}
	}
	s.cmu.Unlock()
	if !s.active {
		return
	}
	if wm := s.wm.Load(); wm != MinWatermark && wm != math.MaxInt64 {
		c(m.wm, prometheus.GaugeValue, float64(wm)/1e3)
		c(m.lag, prometheus.GaugeValue, float64(now.UnixMilli()-wm)/1e3)
	}
	if s.queue != nil {
		n, capacity := s.queue()
		c(m.queue, prometheus.GaugeValue, float64(n))
		c(m.queueCap, prometheus.GaugeValue, float64(capacity))
	}
	if s.reporter != nil {
		c(m.keys, prometheus.GaugeValue, float64(s.keys.Load()))
		c(m.retained, prometheus.GaugeValue, float64(s.retained.Load()))
	}
}
