// Command topspeed runs Flink's TopSpeedWindowing example job as a
// Go-native stream processor. Run it with --help for the flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/sink"
	"github.com/topspeed/topspeed/sink/cassandra"
	"github.com/topspeed/topspeed/source"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// options are the command's settings, filled from flags and environment.
type options struct {
	input       string
	output      string
	outputFlush time.Duration
	cars        int
	rate        float64
	seed        int64
	events      int64
	eventClock  string
	startMillis int64
	interval    time.Duration
	parallelism int
	batchSize   int
	evict       time.Duration
	trigger     float64
	onBad       string
	logLevel    string
	logFormat   string
	progress    time.Duration
	cassandra   cassandraFlags
	ckpt        checkpointFlags
	ha          haFlags
	ops         opsFlags
}

func newFlagSet(o *options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("topspeed", pflag.ContinueOnError)
	fs.SortFlags = false
	gen := topspeed.DefaultGeneratorConfig()
	job := topspeed.DefaultConfig()
	fs.StringVar(&o.input, "input", "", "read car reports from this file in Flink's format (carId,speed,distance,timestamp); - reads stdin; empty uses the built-in generator")
	fs.StringVar(&o.output, "output", "", "write results to this file (created or truncated); empty or - writes to stdout")
	fs.DurationVar(&o.outputFlush, "output-flush-interval", engine.DefaultSinkFlushInterval, "longest time a result written to stdout or --output stays buffered before readers can see it; results are also written out as soon as the input pauses (not fsynced; with checkpoints, --output part files are still published only when a checkpoint commits); 0 = only at checkpoints and exit")
	fs.IntVar(&o.cars, "cars", gen.Cars, "generator: number of cars")
	fs.Float64Var(&o.rate, "rate", gen.Rate, "generator: events per second over all cars; 0 = as fast as possible")
	fs.Int64Var(&o.seed, "seed", gen.Seed, "generator: random seed; the same seed gives the same speeds and distances")
	fs.Int64Var(&o.events, "events", gen.Events, "generator: stop after this many events; 0 = run until stopped")
	fs.StringVar(&o.eventClock, "event-clock", "wall", "generator: event time from the wall clock (wall) or a synthetic clock that starts at --start-time and never sleeps (synthetic)")
	fs.Int64Var(&o.startMillis, "start-time", 0, "generator: event time of the first tick in Unix milliseconds; 0 = now")
	fs.DurationVar(&o.interval, "event-interval", 0, "generator: event-time step between two reports; 0 = 1s/--rate (100ms with --rate 0)")
	fs.IntVar(&o.parallelism, "parallelism", runtime.NumCPU(), "number of parallel keyed subtasks")
	fs.IntVar(&o.batchSize, "batch-size", engine.DefaultConfig().BatchSize, "records per batch moved between stages")
	fs.DurationVar(&o.evict, "evict", job.Evict, "keep reports of the last this-much event time per car (Flink's TimeEvictor)")
	fs.Float64Var(&o.trigger, "trigger-meters", job.TriggerMeters, "emit a result when a car has travelled more than this since its last result (Flink's DeltaTrigger)")
	fs.StringVar(&o.onBad, "on-bad-record", "fail", "what a bad input line does: fail (stop with its file and line) or skip (count it and report the count at exit)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error (logs go to stderr)")
	fs.StringVar(&o.logFormat, "log-format", "console", "log format: console or json")
	fs.DurationVar(&o.progress, "progress-interval", 10*time.Second, "log a one-line progress summary at info level this often (events in, results out, Cassandra rows, event-time lag, end-to-end latency, last checkpoint); 0 = none. A final summary is logged at exit either way")
	o.cassandra.register(fs)
	o.ckpt.register(fs)
	o.ha.register(fs)
	o.ops.register(fs)
	return fs
}

func (o *options) validate() error {
	switch {
	case o.parallelism < 1 || o.parallelism > engine.DefaultMaxParallelism:
		return fmt.Errorf("--parallelism %d: must be in [1, %d]", o.parallelism, engine.DefaultMaxParallelism)
	case o.batchSize < 1:
		return fmt.Errorf("--batch-size %d: must be at least 1", o.batchSize)
	case o.onBad != "fail" && o.onBad != "skip":
		return fmt.Errorf("--on-bad-record %q: must be fail or skip", o.onBad)
	case o.eventClock != "wall" && o.eventClock != "synthetic":
		return fmt.Errorf("--event-clock %q: must be wall or synthetic", o.eventClock)
	case o.progress < 0 || o.progress > 24*time.Hour:
		return fmt.Errorf("--progress-interval %v: must be in [0, 24h]", o.progress)
	case o.outputFlush < 0 || o.outputFlush > time.Hour:
		return fmt.Errorf("--output-flush-interval %v: must be in [0, 1h]", o.outputFlush)
	}
	if err := o.ops.validate(); err != nil {
		return err
	}
	return o.ckpt.validate()
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)) }

// run is the whole command; env looks up environment variables.
func run(args []string, stdout, stderr *os.File, env func(string) (string, bool)) int {
	if len(args) > 0 && args[0] == "version" {
		return runVersion(args[1:], stdout, stderr)
	}
	var o options
	fs := newFlagSet(&o)
	fs.SetOutput(stderr)
	fs.Usage = usage(fs, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "topspeed: %v (see --help)\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "topspeed: unexpected argument %q (see --help)\n", fs.Arg(0))
		return exitUsage
	}
	conf, err := loadConfig(fs, env)
	if err != nil {
		fmt.Fprintf(stderr, "topspeed: %v\n", err)
		return exitUsage
	}
	if err := o.validate(); err != nil {
		fmt.Fprintf(stderr, "topspeed: %v\n", conf.explain(err))
		return exitUsage
	}
	log, err := newLogger(o.logLevel, o.logFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "topspeed: %v\n", conf.explain(err))
		return exitUsage
	}
	defer log.Sync() //nolint:errcheck // stderr sync errors are not actionable
	rt := newOps(&o, conf, log)

	if o.ha.enabled() {
		hs := &haStatus{}
		if err := rt.startHA(&o, hs); err != nil {
			fmt.Fprintf(stderr, "topspeed: %v\n", err)
			return exitFailure
		}
		defer rt.stop()
		return runHA(&o, stdout, stderr, log, env, hs)
	}
	j, err := buildJob(&o, stdout, log, env)
	if err != nil {
		fmt.Fprintf(stderr, "topspeed: %v\n", err)
		return exitUsage
	}
	if err := setupCheckpoints(j, &o, log, env); err != nil {
		fmt.Fprintf(stderr, "topspeed: %v\n", err)
		return exitFailure
	}
	if err := rt.start(j, &o); err != nil {
		fmt.Fprintf(stderr, "topspeed: %v\n", err)
		return exitFailure
	}
	defer rt.stop()

	// First SIGINT/SIGTERM: stop gracefully (with checkpoints: a final
	// checkpoint, then stop) and flush everything read. Second: cancel.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A graceful stop runs beside Run: Run returns once the pipeline has
	// drained, and the stop's result (the final checkpoint being durable)
	// is awaited before exiting.
	var stopping atomic.Bool
	stopDone := make(chan error, 1)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for {
			select {
			case s := <-sigs:
				if stopping.CompareAndSwap(false, true) {
					log.Info("stopping: flushing what was read; send the signal again to abort", zap.String("signal", s.String()))
					go func() {
						err := j.stop(ctx, o.ckpt.stopTimeout, log)
						if err != nil {
							log.Error("graceful stop failed, aborting", zap.Error(err))
							cancel()
						}
						stopDone <- err
					}()
				} else {
					log.Warn("aborting", zap.String("signal", s.String()))
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	prog := newProgress(log, o.progress)
	prog.attach(j)
	prog.run()

	if j.coord != nil {
		cctx, ccancel := context.WithCancel(ctx)
		defer ccancel()
		go func() { _ = j.coord.Run(cctx) }()
	}
	runErr := j.pipeline.Run(ctx)
	if stopping.Load() {
		if err := <-stopDone; err != nil && runErr == nil {
			runErr = err
		}
	}
	prog.finish(j.skipped, runErr)
	if j.skipped != nil {
		if n := j.skipped(); n > 0 {
			fmt.Fprintf(stderr, "topspeed: skipped %d bad input record(s)\n", n)
		}
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "topspeed: %v\n", runErr)
		return exitFailure
	}
	return exitOK
}

// job is the wired pipeline plus what main reports at exit.
type job struct {
	pipeline *engine.Pipeline
	coord    *checkpoint.Coordinator // nil without --checkpoint-dir
	skipped  func() int64
}

func buildJob(o *options, stdout *os.File, log *zap.Logger, env func(string) (string, bool)) (*job, error) {
	cfg := topspeed.DefaultConfig()
	cfg.Evict = o.evict
	cfg.TriggerMeters = o.trigger
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	j := &job{}
	var src engine.Source[topspeed.Car]
	if o.input == "" {
		g := topspeed.DefaultGeneratorConfig()
		g.Cars, g.Rate, g.Seed, g.Events = o.cars, o.rate, o.seed, o.events
		g.Synthetic = o.eventClock == "synthetic"
		g.Interval = o.interval
		g.StartTime = time.Now()
		if o.startMillis != 0 {
			g.StartTime = time.UnixMilli(o.startMillis)
		}
		gen, err := topspeed.NewGenerator(g)
		if err != nil {
			return nil, err
		}
		src = gen
	} else {
		policy := source.Fail
		if o.onBad == "skip" {
			policy = source.Skip
		}
		lines := source.NewLines(o.input, topspeed.ParseCar, source.WithBadRecords(policy), source.WithLogger(log))
		j.skipped = lines.Skipped
		src = lines
	}
	p := engine.New(engine.WithParallelism(o.parallelism), engine.WithBatchSize(o.batchSize), engine.WithLogger(log), engine.WithMetrics(o.ops.metrics))
	src = &firstRecord[topspeed.Car]{Source: src, log: log}
	cars := engine.FromSource(p, "cars", src, engine.Monotonous(topspeed.CarTime))
	results := topspeed.Build(cars, cfg)
	// Results go to --output (stdout by default) unless only Cassandra was
	// asked for; --output together with Cassandra writes both.
	if !o.cassandra.enabled() || o.output != "" {
		flush := engine.SinkFlushInterval[topspeed.Car](o.outputFlush)
		switch {
		case o.output == "" || o.output == "-":
			engine.ToSink(results, "output", engine.Sink[topspeed.Car](sink.NewWriter("stdout", stdout, topspeed.AppendCar)), flush)
		case o.ckpt.enabled():
			// Exactly once: part files published when a checkpoint commits.
			engine.ToSink(results, "output", engine.Sink[topspeed.Car](sink.NewParts(o.output, topspeed.AppendCar)), flush)
		default:
			engine.ToSink(results, "output", engine.Sink[topspeed.Car](sink.NewFile(o.output, topspeed.AppendCar)), flush)
		}
	}
	if o.cassandra.enabled() {
		cc, err := o.cassandra.config(env)
		if err != nil {
			return nil, err
		}
		cs, err := cassandra.New(cc, topspeed.CassandraMapping(), log)
		if err != nil {
			return nil, err
		}
		if err := o.ops.registerCollector(cs); err != nil {
			return nil, err
		}
		engine.ToSink(results, "cassandra", engine.Sink[topspeed.Car](cs))
	}
	j.pipeline = p
	return j, nil
}
