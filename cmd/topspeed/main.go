// Command topspeed runs Flink's TopSpeedWindowing example job as a
// Go-native stream processor. Run it with --help for the flags.
//
// This file is the job: its flags, its fingerprint and its pipeline. The
// runner package does the rest: configuration, logging, checkpoints and
// restore, signals, high availability, the ops server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/runner"
	"github.com/topspeed/topspeed/sink"
	"github.com/topspeed/topspeed/sink/cassandra"
	"github.com/topspeed/topspeed/source"
)

// Exit codes.
const (
	exitOK      = runner.ExitOK
	exitFailure = runner.ExitFailure
	exitUsage   = runner.ExitUsage
)

func main() {
	maybeRunGen() // `topspeed gen`: runs and exits
	runner.Main(newJob(&options{}))
}

// run is the whole command with its environment passed in, for tests; env
// looks up environment variables.
func run(args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	if len(args) > 0 && args[0] == "gen" {
		return runGen(context.Background(), args[1:], stdout, stderr, env)
	}
	return runner.Run(context.Background(), newJob(&options{}), args, runner.Env{Stdout: stdout, Stderr: stderr, LookupEnv: env})
}

// newJob is the TopSpeed job on the runner, its settings in o.
func newJob(o *options) runner.Job {
	return runner.Job{
		Name: "topspeed", Help: help,
		Flags: o.register, Validate: o.validate, Fingerprint: o.fingerprint, Build: o.build,
		Version: version, Commit: commit,
	}
}

const help = `topspeed: Flink's TopSpeedWindowing example as a Go-native stream processor.

For each car, every time it has travelled more than --trigger-meters since the
last result, topspeed emits the car's fastest report (first one on ties) among
the reports of the last --evict of event time.

Input is the built-in car generator, or --input in Flink's line format
(carId,speed,distance,timestamp). Results are written like Flink's
Tuple4.toString, one per line, to --output or stdout, and/or to Cassandra.

Examples:
  topspeed                                   # 2 generated cars, 10 events/s, results on stdout
  topspeed --input examples/cars.txt --output out.txt   # the sample input that ships in the repository
  topspeed --cars 1000 --rate 0 --events 1000000 --output /dev/null
  topspeed --config topspeed.yaml            # settings from a YAML file (keys are flag names)`

// options are the job's own settings.
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
	cassandra   cassandraFlags
	kafkaOut    kafkaOutputFlags
}

// newFlagSet returns the job's own flags (the runner adds its own).
func newFlagSet(o *options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("topspeed", pflag.ContinueOnError)
	fs.SortFlags = false
	o.register(fs)
	return fs
}

func (o *options) register(fs *pflag.FlagSet) {
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
	o.cassandra.register(fs)
	o.kafkaOut.register(fs)
}

// maxBatchSize bounds --batch-size: each stage holds a few batches, and a
// larger one gains nothing.
const maxBatchSize = 1 << 20

func (o *options) validate() error {
	switch {
	case o.parallelism < 1 || o.parallelism > engine.DefaultMaxParallelism:
		return fmt.Errorf("--parallelism %d: must be in [1, %d]", o.parallelism, engine.DefaultMaxParallelism)
	case o.batchSize < 1 || o.batchSize > maxBatchSize:
		return fmt.Errorf("--batch-size %d: must be in [1, %d]", o.batchSize, maxBatchSize)
	case o.onBad != "fail" && o.onBad != "skip":
		return fmt.Errorf("--on-bad-record %q: must be fail or skip", o.onBad)
	case o.eventClock != "wall" && o.eventClock != "synthetic":
		return fmt.Errorf("--event-clock %q: must be wall or synthetic", o.eventClock)
	case o.outputFlush < 0 || o.outputFlush > time.Hour:
		return fmt.Errorf("--output-flush-interval %v: must be in [0, 1h]", o.outputFlush)
	}
	if err := source.CheckOutput(o.input, o.output); err != nil {
		return err
	}
	if err := o.kafkaOut.validate(); err != nil {
		return err
	}
	if o.cassandra.enabled() {
		if err := o.cassandra.validate(); err != nil {
			return err
		}
	}
	if err := o.jobConfig().Validate(); err != nil {
		return o.flagError(err)
	}
	if o.input == "" {
		if err := o.generatorConfig(time.Now()).Validate(); err != nil {
			return o.flagError(err)
		}
	}
	return nil
}

// flagError names the flag behind a *topspeed.SettingError, with the value
// as given: "--cars -3: must be between 1 and 1000000".
func (o *options) flagError(err error) error {
	var se *topspeed.SettingError
	if !errors.As(err, &se) {
		return err
	}
	flag, value := "", ""
	switch se.Setting {
	case "cars":
		flag, value = "--cars", strconv.Itoa(o.cars)
	case "rate":
		flag, value = "--rate", strconv.FormatFloat(o.rate, 'g', -1, 64)
	case "events":
		flag, value = "--events", strconv.FormatInt(o.events, 10)
	case "interval":
		flag, value = "--event-interval", fmt.Sprintf("%v (with --rate %g)", se.Value, o.rate)
	case "start time":
		flag, value = "--start-time", strconv.FormatInt(o.startMillis, 10)
	case "evict":
		flag, value = "--evict", o.evict.String()
	case "trigger meters":
		flag, value = "--trigger-meters", strconv.FormatFloat(o.trigger, 'g', -1, 64)
	default:
		return err
	}
	return fmt.Errorf("%s %s: %s", flag, value, se.Reason)
}

// jobConfig is the TopSpeed operator's configuration.
func (o *options) jobConfig() topspeed.Config {
	cfg := topspeed.DefaultConfig()
	cfg.Evict = o.evict
	cfg.TriggerMeters = o.trigger
	return cfg
}

// generatorConfig is the car generator's configuration; now is the start
// of event time unless --start-time is given.
func (o *options) generatorConfig(now time.Time) topspeed.GeneratorConfig {
	g := topspeed.DefaultGeneratorConfig()
	g.Cars, g.Rate, g.Seed, g.Events = o.cars, o.rate, o.seed, o.events
	g.Synthetic = o.eventClock == "synthetic"
	g.Interval = o.interval
	g.StartTime = now
	if o.startMillis != 0 {
		g.StartTime = time.UnixMilli(o.startMillis)
	}
	return g
}

// fingerprint identifies what a checkpoint's state depends on: the window
// parameters, the number of key groups and the input. Parallelism, rates
// and sinks may change between restores.
func (o *options) fingerprint() string {
	var b strings.Builder
	fmt.Fprintf(&b, "topspeed/1 evict=%d trigger=%s maxpar=%d ", o.evict.Milliseconds(),
		strconv.FormatFloat(o.trigger, 'g', -1, 64), engine.DefaultMaxParallelism)
	if o.input == "" {
		fmt.Fprintf(&b, "generator cars=%d seed=%d", o.cars, o.seed)
	} else {
		abs, err := filepath.Abs(o.input)
		if err != nil {
			abs = o.input
		}
		fmt.Fprintf(&b, "file=%s", abs)
	}
	return b.String()
}

// build wires the pipeline: cars from the generator or --input, the
// TopSpeed operator, results to --output (stdout by default) unless only
// Cassandra was asked for; --output together with Cassandra writes both.
func (o *options) build(env runner.BuildEnv) (*engine.Pipeline, error) {
	cfg := o.jobConfig()
	if err := cfg.Validate(); err != nil {
		return nil, o.flagError(err)
	}
	src, err := o.source(env)
	if err != nil {
		return nil, err
	}
	p := env.NewPipeline(engine.WithParallelism(o.parallelism), engine.WithBatchSize(o.batchSize))
	cars := engine.FromSource(p, "cars", runner.Source(env, src), engine.Monotonous(topspeed.CarTime))
	results := topspeed.Build(cars, cfg)
	if err := o.kafkaOut.attach(env, results); err != nil {
		return nil, err
	}
	if !o.cassandra.enabled() && !o.kafkaOut.enabled() || o.output != "" {
		flush := engine.SinkFlushInterval[topspeed.Car](o.outputFlush)
		// The sink's own formatter: most results repeat their car's last
		// one, whose text it copies (topspeed.CarFormatter).
		format := topspeed.NewCarFormatter().Append
		switch {
		case o.output == "" || o.output == "-":
			engine.ToSink(results, "output", engine.Sink[topspeed.Car](sink.NewWriter("stdout", env.Stdout, format)), flush)
		case env.Checkpoints && env.Instance != "":
			// Kafka-group mode: a directory per partition; the hidden names
			// carry this owner's tag, so a previous owner never shares a file.
			parts := sink.NewParts(filepath.Join(o.output, env.Instance), format).WithWriter(fmt.Sprintf("%s-%x", env.Instance, time.Now().UnixNano()))
			engine.ToSink(results, "output", engine.Sink[topspeed.Car](parts), flush)
		case env.Checkpoints:
			// Exactly once: part files published when a checkpoint commits.
			engine.ToSink(results, "output", engine.Sink[topspeed.Car](sink.NewParts(o.output, format)), flush)
		default:
			engine.ToSink(results, "output", engine.Sink[topspeed.Car](sink.NewFile(o.output, format)), flush)
		}
	}
	if o.cassandra.enabled() {
		cc, err := o.cassandra.config(env.LookupEnv)
		if err != nil {
			return nil, err
		}
		cc.MetricsNamespace = env.MetricsNamespace
		cs, err := cassandra.New(cc, topspeed.CassandraMapping(), env.Log)
		if err != nil {
			return nil, err
		}
		if err := env.Register(cs); err != nil {
			return nil, err
		}
		engine.ToSink(results, "cassandra", engine.Sink[topspeed.Car](cs))
	}
	return p, nil
}

// source is the Kafka partition (Kafka-group mode), the --input file or
// the car generator.
func (o *options) source(env runner.BuildEnv) (engine.Source[topspeed.Car], error) {
	policy := source.Fail
	if o.onBad == "skip" {
		policy = source.Skip
	}
	if src, ok := runner.PartitionSource(env, topspeed.ParseCar, policy); ok {
		if o.input != "" {
			return nil, errors.New("--input and --kafka-topic are two inputs: give one")
		}
		return src, nil
	}
	if o.input != "" {
		return source.NewFileLines(o.input, topspeed.ParseCar, source.ParallelConfig{}, source.WithBadRecords(policy), source.WithLogger(env.Log)), nil
	}
	g, err := topspeed.NewGenerator(o.generatorConfig(time.Now()))
	return g, o.flagError(err)
}
