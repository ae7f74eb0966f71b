package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/internal/kafkaconn"
)

// Exit codes of Run.
const (
	// ExitOK: the input ended, or the job was stopped by a signal, and
	// every result was written (with checkpoints: the final one committed).
	ExitOK = 0
	// ExitFailure: a runtime error, such as a bad input record or a sink
	// that failed.
	ExitFailure = 1
	// ExitUsage: bad flags, environment variables, config file or job
	// settings.
	ExitUsage = 2
)

// Job is what a job supplies; the runner does the rest. Only Name and
// Build are required.
type Job struct {
	// Name names the binary in messages ("wordcount: ..."), the logs
	// ("wordcount starting"), /api/v1/status, the environment (every flag
	// --foo-bar can be set as NAME_FOO_BAR, NAME upper-cased) and the
	// metrics (wordcount_records_in_total; characters other than letters,
	// digits and _ become _).
	Name string
	// Help is the top of --help: what the job does, and examples. The
	// runner adds the usage lines, where settings come from, every flag
	// with its default and environment variables, and the exit codes.
	Help string
	// Flags, if set, adds the job's own flags to fs, before the runner's.
	// A flag may name extra environment variables in its "env" annotation
	// (fs.SetAnnotation(name, "env", []string{"CASSANDRA_HOSTS"})), tried
	// after NAME_FOO_BAR.
	Flags func(fs *pflag.FlagSet)
	// Validate, if set, checks the job's settings once the flags, the
	// environment and the config file are loaded. An error starting with
	// "--flag-name" is reported with where the value came from. Errors
	// make Run return ExitUsage before anything starts.
	Validate func() error
	// Fingerprint, if set, describes the settings a checkpoint depends on
	// (the job's version, its state's layout, its input): restore refuses
	// a checkpoint whose fingerprint differs. Manifests hold its SHA-256.
	// It is called after Validate. Nil means the job's Name.
	Fingerprint func() string
	// Build builds the job's pipeline, not yet run, with what env gives.
	// See BuildEnv for when it is called. An error ends Run with
	// ExitUsage; with HA, an error in a term of leadership hands the
	// leadership over.
	Build func(env BuildEnv) (*engine.Pipeline, error)
	// Version and Commit identify the binary in "NAME version", the logs,
	// /api/v1/status and the build-info metric; empty ones are read from
	// the binary's build information.
	Version, Commit string
}

// Env is what Run takes from the process, so that tests can run a job
// in-process. Nil fields fall back to os.Stdin, os.Stdout, os.Stderr,
// os.LookupEnv and SIGINT/SIGTERM.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer // logs and messages go to Stderr
	LookupEnv      func(string) (string, bool)
	// Signals, if set, replaces SIGINT and SIGTERM: the first value stops
	// the job gracefully, the second aborts it.
	Signals <-chan os.Signal
}

// BuildEnv is what Job.Build gets. Build is called on Run's goroutine,
// never concurrently with itself: once per run without HA; with HA once
// at start to check the settings (that pipeline is never run: it must not
// hold resources such as connections) and then once per term of
// leadership. A pipeline runs at most once: the runner restores it (from
// the newest valid checkpoint, --from-savepoint or, with HA, the
// committed checkpoint), runs it, checkpoints it and stops it.
type BuildEnv struct {
	// Log is the run's logger (with HA it names the replica and the term).
	Log *zap.Logger
	// Stdin and Stdout are the process's (Env's).
	Stdin  io.Reader
	Stdout io.Writer
	// LookupEnv reads an environment variable (for secrets: a password
	// should not be a flag).
	LookupEnv func(string) (string, bool)
	// Checkpoints reports whether --checkpoint-dir is set: sources must
	// then be engine.StatefulSource, and sinks should be exactly-once
	// (sink.Parts publishes its part files when a checkpoint commits).
	Checkpoints bool
	// MetricsNamespace prefixes the job's metric names (derived from
	// Job.Name): give it to collectors that take one, such as the
	// Cassandra sink's.
	MetricsNamespace string
	// Instance names this pipeline among the ones running at once in this
	// process and its peers: "" except in Kafka-group mode, where it is
	// "<topic>-<partition>" of the task. Sinks that create files or
	// transactional ids per pipeline put it in their names.
	Instance string
	// Kafka is the connection of the --kafka-* flags (brokers, TLS, SASL),
	// for the job's own Kafka sinks; empty Brokers if none was given.
	Kafka kafkaconn.Conn

	metrics prometheus.Registerer
	run     *build
	group   *groupEnv // Kafka-group mode: the task's partition (see PartitionSource)
}

// NewPipeline returns engine.New(opts...) wired to the runner: its logger
// and, with the ops server, the metrics registry and namespace. Options
// given here come after the runner's, so engine.WithConfig replaces them.
func (e BuildEnv) NewPipeline(opts ...engine.Option) *engine.Pipeline {
	wired := []engine.Option{engine.WithLogger(e.Log), engine.WithMetrics(e.metrics), engine.WithMetricsNamespace(e.MetricsNamespace)}
	return engine.New(append(wired, opts...)...)
}

// Register exports a collector of the job's (a sink's client metrics, for
// example) on the ops server's registry; without the ops server it does
// nothing. A collector with the same metrics that an earlier Build
// registered (an earlier HA term) is replaced.
func (e BuildEnv) Register(c prometheus.Collector) error {
	if e.metrics == nil {
		return nil
	}
	err := e.metrics.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		e.metrics.Unregister(are.ExistingCollector)
		err = e.metrics.Register(c)
	}
	return err
}

// Main runs job in this process with its arguments, environment and
// signals, and exits with Run's exit code.
func Main(job Job) {
	os.Exit(Run(context.Background(), job, os.Args[1:], Env{}))
}

// Run runs job with the command-line arguments args (without the program
// name) and returns the exit code (ExitOK, ExitFailure, ExitUsage). It
// loads the settings (flags, then NAME_* environment variables, then the
// --config YAML file, then defaults), starts logging, the ops server and,
// with --ha-peers or --ha-replicas, the raft replica, then builds,
// restores and runs the job until its input ends or a signal stops it.
// "NAME version" prints the version. Cancelling ctx aborts the job, as a
// second signal does. Run returns after every goroutine it started has
// ended.
func Run(ctx context.Context, job Job, args []string, env Env) int {
	env = env.withDefaults()
	if job.Name == "" || job.Build == nil {
		fmt.Fprintln(env.Stderr, "runner: a Job needs a Name and a Build function")
		return ExitUsage
	}
	if len(args) > 0 && args[0] == "version" {
		return runVersion(job, args[1:], env)
	}
	r, code := start(job, args, env)
	if r == nil {
		return code
	}
	defer r.log.Sync() //nolint:errcheck // stderr sync errors are not actionable
	if r.s.ha.enabled() {
		return r.runHA(ctx)
	}
	if r.s.group.enabled() {
		return r.runGroup(ctx)
	}
	return r.runOnce(ctx)
}

func (e Env) withDefaults() Env {
	if e.Stdin == nil {
		e.Stdin = os.Stdin
	}
	if e.Stdout == nil {
		e.Stdout = os.Stdout
	}
	if e.Stderr == nil {
		e.Stderr = os.Stderr
	}
	if e.LookupEnv == nil {
		e.LookupEnv = os.LookupEnv
	}
	return e
}

// runVersion is "NAME version".
func runVersion(job Job, args []string, env Env) int {
	if len(args) > 0 {
		fmt.Fprintf(env.Stderr, "%s: version takes no arguments, got %q\n", job.Name, args[0])
		return ExitUsage
	}
	b := buildInfo(job)
	fmt.Fprintf(env.Stdout, "%s %s\ncommit: %s\ngo: %s\n", job.Name, b.Version, b.Revision, b.GoVersion)
	return ExitOK
}

// metricsNamespace is the prefix of job's metric names: its name with
// characters other than letters, digits and _ as _ ("topspeed").
func metricsNamespace(job Job) string {
	ns := []byte(job.Name)
	for i, c := range ns {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			ns[i] = '_'
		}
	}
	return string(ns)
}

// envPrefix is the environment variables' prefix for job: "TOPSPEED_".
func envPrefix(job Job) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(job.Name)) + "_"
}
