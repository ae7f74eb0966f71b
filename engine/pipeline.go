package engine

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Config holds a pipeline's settings. Build it with DefaultConfig and Options.
type Config struct {
	// Parallelism is the number of subtasks of every keyed stage.
	Parallelism int
	// MaxParallelism is the number of key groups; it bounds Parallelism and
	// must stay the same across restores.
	MaxParallelism int
	// BatchSize is the number of records a source reads per batch.
	BatchSize int
	// QueueBatches is the capacity, in batches, of each queue between stages.
	QueueBatches int
	// ProcessingTimeInterval is how often operators get OnProcessingTime.
	// Zero disables processing-time callbacks.
	ProcessingTimeInterval time.Duration
	// Logger receives lifecycle logs. Never nil after New.
	Logger *zap.Logger
	// Metrics, if not nil, is where the pipeline registers its metrics
	// (see WithMetrics).
	Metrics prometheus.Registerer
	// MetricsNamespace prefixes every metric name, joined with "_"
	// (WithMetricsNamespace); empty means no prefix.
	MetricsNamespace string
}

// DefaultConfig returns the defaults: parallelism = number of CPUs, 128 key
// groups, 8192-record batches, 16 batches per queue, processing-time
// callbacks every 100 ms, no logging, and metric names prefixed with
// DefaultMetricsNamespace.
//
// Batches and queues are large because every time a stage's queue runs
// empty or full its goroutine parks and another must wake it, which costs
// microseconds (more in a VM), while moving a record costs nanoseconds.
// In a traced run of TopSpeed on 10M reports (bench/, 2 cores), 1024-record
// batches and 8-batch queues parked goroutines 10,900 times, and the cores
// ran the job 90% of the time; 8192 and 16 parked them 1,100 times, ran
// it 94% of the time, and used 10% less CPU. A source returns whatever it
// has rather than wait to fill a batch, so the size adds no latency; a
// queue holds at most QueueBatches*BatchSize records.
func DefaultConfig() Config {
	return Config{
		Parallelism:            runtime.NumCPU(),
		MaxParallelism:         DefaultMaxParallelism,
		BatchSize:              8192,
		QueueBatches:           16,
		ProcessingTimeInterval: 100 * time.Millisecond,
		Logger:                 zap.NewNop(),
		MetricsNamespace:       DefaultMetricsNamespace,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.MaxParallelism < 1 || c.MaxParallelism > 1<<15:
		return fmt.Errorf("%w: max parallelism %d not in [1, 32768]", ErrInvalidPipeline, c.MaxParallelism)
	case c.Parallelism < 1 || c.Parallelism > c.MaxParallelism:
		return fmt.Errorf("%w: parallelism %d not in [1, max parallelism %d]", ErrInvalidPipeline, c.Parallelism, c.MaxParallelism)
	case c.BatchSize < 1:
		return fmt.Errorf("%w: batch size %d < 1", ErrInvalidPipeline, c.BatchSize)
	case c.QueueBatches < 1:
		return fmt.Errorf("%w: queue capacity %d < 1", ErrInvalidPipeline, c.QueueBatches)
	case c.ProcessingTimeInterval < 0:
		return fmt.Errorf("%w: negative processing-time interval", ErrInvalidPipeline)
	case c.MetricsNamespace != "" && !metricNameRE.MatchString(c.MetricsNamespace):
		return fmt.Errorf("%w: metrics namespace %q: want letters, digits and _, not starting with a digit", ErrInvalidPipeline, c.MetricsNamespace)
	}
	return nil
}

// Option changes a Config.
type Option func(*Config)

// WithParallelism sets the number of subtasks of keyed stages.
func WithParallelism(n int) Option { return func(c *Config) { c.Parallelism = n } }

// WithMaxParallelism sets the number of key groups.
func WithMaxParallelism(n int) Option { return func(c *Config) { c.MaxParallelism = n } }

// WithBatchSize sets how many records a source reads per batch.
func WithBatchSize(n int) Option { return func(c *Config) { c.BatchSize = n } }

// WithQueueBatches sets the capacity, in batches, of queues between stages.
func WithQueueBatches(n int) Option { return func(c *Config) { c.QueueBatches = n } }

// WithProcessingTimeInterval sets how often OnProcessingTime is called
// (0 = never).
func WithProcessingTimeInterval(d time.Duration) Option {
	return func(c *Config) { c.ProcessingTimeInterval = d }
}

// WithLogger sets the logger for lifecycle events.
func WithLogger(l *zap.Logger) Option {
	return func(c *Config) {
		if l != nil {
			c.Logger = l
		}
	}
}

// WithConfig replaces the whole configuration.
func WithConfig(cfg Config) Option { return func(c *Config) { *c = cfg } }

// Pipeline is a dataflow graph under construction and, once Run is called,
// its execution. Build the graph with FromSource, KeyBy, Process, Map,
// Filter, FlatMap and ToSink before calling Run; the builders are not safe
// for concurrent use.
type Pipeline struct {
	cfg   Config
	err   error // first error found while building
	nodes []node

	mu      sync.Mutex
	started bool
	run     *execution // non-nil while Run is in progress
	restore *Snapshot
	// restoreOpts are RestoreFrom's options (see restore.go).
	restoreOpts restoreOptions

	obs *observer // metrics; nil without WithMetrics
	// Counts for Progress, collected as Run starts the stages (under mu).
	progSources []*sourceProgress
	progSinks   []*sinkProgress
	finished    bool // Run returned, with runErr
	runErr      error

	stopOnce sync.Once
	stop     chan struct{} // closed by Stop
}

// node is a runnable stage: a source driver, a keyed stage or a sink.
type node interface {
	name() string
	// start prepares the node for an execution and returns the goroutines to
	// run. It is called in graph order (producers before consumers).
	start(x *execution) ([]func() error, error)
}

// New returns an empty pipeline.
func New(opts ...Option) *Pipeline {
	cfg := DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	p := &Pipeline{cfg: cfg, stop: make(chan struct{})}
	if err := cfg.Validate(); err != nil {
		p.err = err
	}
	if obs, err := newObserver(cfg.Metrics, cfg.MetricsNamespace); err != nil {
		p.fail(fmt.Errorf("%w: metrics: %w", ErrInvalidPipeline, err))
	} else {
		p.obs = obs
	}
	return p
}

// Config returns the pipeline's configuration.
func (p *Pipeline) Config() Config { return p.cfg }

func (p *Pipeline) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// RestoreFrom makes the next Run start from snap: sources resume from their
// recorded positions and keyed stages get their key groups' state, at any
// parallelism. It must be called before Run. Run checks snap before any
// stage opens and fails with an error wrapping ErrIncompatibleState, naming
// the stages and key groups, if snap was taken with another max
// parallelism or holds state no stage claims: the state of a stage name
// the pipeline does not have (or that has another kind, or cannot restore
// state) or key groups outside [0, max parallelism). AllowNonRestoredState
// drops such state instead, and logs what it dropped; a different max
// parallelism is never allowed. snap itself is not modified.
func (p *Pipeline) RestoreFrom(snap *Snapshot, opts ...RestoreOption) {
	p.restore = snap
	p.restoreOpts = restoreOptions{}
	for _, o := range opts {
		o(&p.restoreOpts)
	}
}

// Stop ends the pipeline gracefully: every source stops reading at its next
// batch boundary and reports the end of its input, so that operators and
// sinks process and flush everything already read, and Run returns nil.
// Unlike the end of a bounded input, event time does not jump to the end, so
// event-time windows still open do not fire (like Flink's stop without
// --drain). Stop may be called from any goroutine, more than once, and
// before Run.
func (p *Pipeline) Stop() { p.stopOnce.Do(func() { close(p.stop) }) }
