package main

// topspeed gen: the load tool. It writes the car generator's reports in
// Flink's input format to stdout, a file or a Kafka topic.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/topspeed/topspeed/internal/kafkaconn"
	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/sink/kafka"
)

const genHelp = `topspeed gen: write the car generator's reports, for loading a file or a Kafka topic.

Each report is one line in Flink's format (carId,speed,distance,timestamp),
the input topspeed --input reads; in Kafka, one record per report whose key
is the car id in decimal and whose value is the line without newline. The
generator and its flags are the job's: the same flags give the same reports
that topspeed computes on when it runs its built-in generator.

Output goes to stdout, to --output, or to --kafka-topic (idempotent
producer; everything is flushed before exit). Writing without end needs a
wall-clock --rate > 0; otherwise set --events. Ctrl-C stops: what was
generated is flushed, the summary printed, and the exit status is 0; a
second Ctrl-C exits at once (130). The summary on stderr gives the events
written and the rate.

Examples:
  topspeed gen --events 1000000 --cars 1000 --rate 0 --event-clock synthetic --output cars.txt
  topspeed gen --kafka-brokers 127.0.0.1:19092 --kafka-topic cars --kafka-partitions 8 --events 1000000 --rate 0
  topspeed gen --kafka-brokers 127.0.0.1:19092 --kafka-topic cars --rate 5000   # steady load until Ctrl-C`

// genGeneratorFlags are the job's generator flags that gen takes over.
var genGeneratorFlags = []string{"cars", "rate", "events", "seed", "event-clock", "start-time", "event-interval"}

// Bounds of gen's own settings.
const (
	maxGenPartitions   = 10000
	maxGenFlushTimeout = time.Hour
	genBatch           = 4096
)

// genOptions are topspeed gen's settings. The generator settings live in
// job, bound to the job's own flag definitions.
type genOptions struct {
	job          options
	output       string
	conn         kafkaconn.Conn
	topic        string
	partitions   int
	flushTimeout time.Duration
}

// newGenFlagSet returns gen's flags: the job's generator flags (the same
// definitions, bound to o.job), output and Kafka flags.
func newGenFlagSet(o *genOptions) *pflag.FlagSet {
	fs := pflag.NewFlagSet("topspeed gen", pflag.ContinueOnError)
	fs.SortFlags = false
	jobFlags := newFlagSet(&o.job)
	for _, name := range genGeneratorFlags {
		fs.AddFlag(jobFlags.Lookup(name))
	}
	fs.StringVar(&o.output, "output", "", "write the reports to this file (created or truncated); empty or - writes to stdout")
	fs.StringVar(&o.topic, "kafka-topic", "", "write the reports to this Kafka topic instead (needs --kafka-brokers): key = car id, value = the line without newline")
	fs.IntVar(&o.partitions, "kafka-partitions", 0, fmt.Sprintf("create --kafka-topic with this many partitions if it does not exist (replication: the brokers' default); 0 = the topic must exist; at most %d", maxGenPartitions))
	o.conn.RegisterFlags(fs)
	fs.DurationVar(&o.flushTimeout, "flush-timeout", 30*time.Second, "longest wait at the end (or after Ctrl-C) for the records in flight to be acknowledged by Kafka")
	return fs
}

// validate checks the settings; errors name the flag.
func (o *genOptions) validate(now time.Time) error {
	j := &o.job
	if j.eventClock != "wall" && j.eventClock != "synthetic" {
		return fmt.Errorf("--event-clock %q: must be wall or synthetic", j.eventClock)
	}
	if j.events == 0 && (j.rate == 0 || j.eventClock == "synthetic") {
		return fmt.Errorf("--events 0 writes without end, which needs a wall-clock --rate > 0 (got --rate %g, --event-clock %s): set --events N", j.rate, j.eventClock)
	}
	if err := j.generatorConfig(now).Validate(); err != nil {
		return j.flagError(err)
	}
	if o.flushTimeout <= 0 || o.flushTimeout > maxGenFlushTimeout {
		return fmt.Errorf("--flush-timeout %v: must be in (0, %v]", o.flushTimeout, maxGenFlushTimeout)
	}
	if o.partitions < 0 || o.partitions > maxGenPartitions {
		return fmt.Errorf("--kafka-partitions %d: must be in [0, %d]", o.partitions, maxGenPartitions)
	}
	if o.topic == "" {
		switch {
		case o.partitions != 0:
			return errors.New("--kafka-partitions needs --kafka-topic")
		case len(o.conn.Brokers) > 0:
			return errors.New("--kafka-brokers needs --kafka-topic (or leave both out to write lines)")
		}
		return nil
	}
	if o.output != "" {
		return errors.New("--output and --kafka-topic exclude each other: write to one")
	}
	_, err := o.sinkConfig()
	return err
}

// sinkConfig is the Kafka producer's configuration.
func (o *genOptions) sinkConfig() (kafka.Config, error) {
	cfg := kafka.DefaultConfig()
	cfg.Conn, cfg.Topic, cfg.Guarantee = o.conn, o.topic, kafka.AtLeastOnce
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("--kafka-topic %s: %w", o.topic, err)
	}
	return cfg, nil
}

// appendCarKey appends the Kafka key of a car's record: its id in decimal.
func appendCarKey(dst []byte, c topspeed.Car) []byte { return strconv.AppendInt(dst, int64(c.ID), 10) }

// maybeRunGen runs `topspeed gen` and exits when it is the command line's
// subcommand; otherwise it returns. The first SIGINT or SIGTERM stops
// generating (what was generated is flushed); a second exits at once.
func maybeRunGen() {
	if len(os.Args) < 2 || os.Args[1] != "gen" {
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		stop()
		<-sig
		fmt.Fprintln(os.Stderr, "topspeed gen: second signal, exiting without flushing")
		os.Exit(130)
	}()
	os.Exit(runGen(ctx, os.Args[2:], os.Stdout, os.Stderr, os.LookupEnv))
}

// genSink is where gen writes reports.
type genSink interface {
	write(cars []topspeed.Car) error
	// finish flushes everything written and releases the destination;
	// it returns how many reports are known to be delivered.
	finish(ctx context.Context) (int64, error)
}

// runGen is `topspeed gen` with its arguments after "gen". Cancelling ctx
// stops generating; what was generated is still flushed. It returns the
// exit status.
func runGen(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	var o genOptions
	fs := newGenFlagSet(&o)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(stdout, "%s\n\nFlags:\n%s", genHelp, fs.FlagUsages())
			return exitOK
		}
		fmt.Fprintf(stderr, "topspeed gen: %v (see topspeed gen --help)\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "topspeed gen: unexpected argument %q (see topspeed gen --help)\n", fs.Arg(0))
		return exitUsage
	}
	o.conn.FillPassword(env)
	start := time.Now()
	if err := o.validate(start); err != nil {
		fmt.Fprintf(stderr, "topspeed gen: %v\n", err)
		return exitUsage
	}
	g, err := topspeed.NewGenerator(o.job.generatorConfig(start))
	if err != nil {
		fmt.Fprintf(stderr, "topspeed gen: %v\n", o.job.flagError(err))
		return exitUsage
	}
	out, dest, err := o.openSink(ctx, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "topspeed gen: %v\n", err)
		return exitFailure
	}
	n, interrupted, genErr := generate(ctx, g, out)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.flushTimeout)
	delivered, finErr := out.finish(fctx)
	cancel()
	elapsed := time.Since(start)
	status := ""
	if interrupted {
		status = ", stopped by signal"
	}
	fmt.Fprintf(stderr, "topspeed gen: wrote %d events to %s in %v (%.0f events/s)%s\n",
		delivered, dest, elapsed.Round(time.Millisecond), float64(delivered)/max(elapsed.Seconds(), 1e-9), status)
	if err := errors.Join(genErr, finErr); err != nil {
		fmt.Fprintf(stderr, "topspeed gen: %v (%d events generated, %d delivered)\n", err, n, delivered)
		return exitFailure
	}
	return exitOK
}

// generate reads the generator to its end, or until ctx is cancelled
// (interrupted), and writes every report to out.
func generate(ctx context.Context, g *topspeed.Generator, out genSink) (n int64, interrupted bool, err error) {
	if err := g.Open(ctx); err != nil {
		return 0, false, err
	}
	defer g.Close()
	buf := make([]topspeed.Car, genBatch)
	for {
		k, rerr := g.Read(ctx, buf)
		if k > 0 {
			if err := out.write(buf[:k]); err != nil {
				return n, false, err
			}
			n += int64(k)
		}
		switch {
		case errors.Is(rerr, io.EOF):
			return n, false, nil
		case rerr != nil && ctx.Err() != nil:
			return n, true, nil
		case rerr != nil:
			return n, false, rerr
		}
	}
}

// openSink opens the destination and describes it for the summary.
func (o *genOptions) openSink(ctx context.Context, stdout, stderr io.Writer) (genSink, string, error) {
	if o.topic != "" {
		ks, err := o.openKafka(ctx, stderr)
		return ks, "Kafka topic " + o.topic, err
	}
	if o.output == "" || o.output == "-" {
		return &lineSink{w: bufio.NewWriterSize(stdout, 1<<20), name: "stdout"}, "stdout", nil
	}
	f, err := os.Create(o.output)
	if err != nil {
		return nil, "", fmt.Errorf("--output: %w", err)
	}
	return &lineSink{w: bufio.NewWriterSize(f, 1<<20), f: f, name: o.output}, o.output, nil
}

// lineSink writes reports as lines, flushed after every batch so that a
// paced run's lines show at once.
type lineSink struct {
	w    *bufio.Writer
	f    *os.File // nil for stdout
	name string
	line []byte
	n    int64 // lines flushed
}

func (l *lineSink) write(cars []topspeed.Car) error {
	for _, c := range cars {
		l.line = append(topspeed.AppendCar(l.line[:0], c), '\n')
		if _, err := l.w.Write(l.line); err != nil {
			return fmt.Errorf("writing %s: %w", l.name, err)
		}
	}
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", l.name, err)
	}
	l.n += int64(len(cars))
	return nil
}

func (l *lineSink) finish(context.Context) (int64, error) {
	err := l.w.Flush()
	if l.f != nil {
		err = errors.Join(err, l.f.Close())
	}
	if err != nil {
		return l.n, fmt.Errorf("writing %s: %w", l.name, err)
	}
	return l.n, nil
}

// kafkaSink writes reports to a topic through the sink package's
// idempotent producer.
type kafkaSink struct {
	s   *kafka.Sink[topspeed.Car]
	ctx context.Context // not cancelled by Ctrl-C: records handed over are delivered
}

func (k *kafkaSink) write(cars []topspeed.Car) error { return k.s.Write(k.ctx, cars) }

func (k *kafkaSink) finish(ctx context.Context) (int64, error) {
	err := k.s.Flush(ctx)
	cerr := k.s.CloseContext(ctx)
	return k.s.Stats().Acked, errors.Join(err, cerr)
}

// openKafka creates the topic if asked and opens the producer.
func (o *genOptions) openKafka(ctx context.Context, stderr io.Writer) (*kafkaSink, error) {
	cfg, err := o.sinkConfig()
	if err != nil {
		return nil, err
	}
	octx, cancel := context.WithTimeout(ctx, o.flushTimeout)
	defer cancel()
	if o.partitions > 0 {
		if err := o.createTopic(octx, stderr); err != nil {
			return nil, err
		}
	}
	s, err := kafka.New(cfg, appendCarKey, topspeed.AppendCar)
	if err != nil {
		return nil, err
	}
	if err := s.Open(octx); err != nil {
		return nil, err
	}
	return &kafkaSink{s: s, ctx: context.WithoutCancel(ctx)}, nil
}

// createTopic creates --kafka-topic with --kafka-partitions partitions
// unless it exists; an existing topic with another partition count is
// used as it is, with a warning.
func (o *genOptions) createTopic(ctx context.Context, stderr io.Writer) error {
	opts, err := o.conn.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, int32(o.partitions), -1, nil, o.topic)
	if err == nil {
		err = resp.Err
	}
	if err == nil {
		fmt.Fprintf(stderr, "topspeed gen: created topic %s with %d partitions\n", o.topic, o.partitions)
		return nil
	}
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("--kafka-partitions: creating topic %s: %w", o.topic, err)
	}
	tds, err := adm.ListTopics(ctx, o.topic)
	if err != nil {
		return fmt.Errorf("--kafka-topic %s: %w", o.topic, err)
	}
	if n := len(tds[o.topic].Partitions); n != o.partitions {
		fmt.Fprintf(stderr, "topspeed gen: topic %s exists with %d partitions, not %d; writing to it as it is\n", o.topic, n, o.partitions)
	}
	return nil
}
