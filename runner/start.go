package runner

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
)

// runner is one Run: the job, its settings, and the process-wide parts
// (logger, metrics registry and ops server).
type runner struct {
	job  Job
	s    *settings
	conf *config
	env  Env
	log  *zap.Logger
	ops  *opsRuntime
}

// Settings are a job's effective settings, as Parse loaded them.
type Settings struct {
	fs   *pflag.FlagSet
	conf *config
}

// Parse loads the job's and the runner's flags from args, the
// environment (looked up with lookup; nil: none) and the --config file,
// as Run does, without validating or running anything: it is for tests
// of a job's configuration. Job.Flags has filled the job's variables when
// it returns.
func Parse(job Job, args []string, lookup func(string) (string, bool)) (*Settings, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	var s settings
	fs := newFlagSet(job, &s)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	conf, err := loadConfig(fs, envPrefix(job), lookup)
	if err != nil {
		return nil, err
	}
	return &Settings{fs: fs, conf: conf}, nil
}

// Value returns the effective value of --flag as text ("" if there is no
// such flag).
func (s *Settings) Value(flag string) string {
	if f := s.fs.Lookup(flag); f != nil {
		return f.Value.String()
	}
	return ""
}

// Origin returns where --flag's value came from when not from the command
// line or its default: "environment variable NAME_X" or "config file F";
// "" otherwise.
func (s *Settings) Origin(flag string) string { return s.conf.origin[flag] }

// newFlagSet returns the job's flags followed by the runner's.
func newFlagSet(job Job, s *settings) *pflag.FlagSet {
	fs := pflag.NewFlagSet(job.Name, pflag.ContinueOnError)
	fs.SortFlags = false
	if job.Flags != nil {
		job.Flags(fs)
	}
	s.register(fs, job)
	return fs
}

// start loads and checks the settings, then starts logging and creates
// the metrics registry. It returns nil and the exit code when the run
// ends here (--help, a usage error).
func start(job Job, args []string, env Env) (*runner, int) {
	r := &runner{job: job, s: &settings{}, env: env}
	fs := newFlagSet(job, r.s)
	fs.SetOutput(env.Stderr)
	fs.Usage = usage(job, fs, env.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, ExitOK
		}
		r.errorf("%v (see --help)", err)
		return nil, ExitUsage
	}
	if fs.NArg() > 0 {
		r.errorf("unexpected argument %q (see --help)", fs.Arg(0))
		return nil, ExitUsage
	}
	var err error
	if r.conf, err = loadConfig(fs, envPrefix(job), env.LookupEnv); err != nil {
		r.errorf("%v", err)
		return nil, ExitUsage
	}
	r.s.group.cfg.Conn.FillPassword(env.LookupEnv)
	if err := r.validate(); err != nil {
		r.errorf("%v", r.conf.explain(err))
		return nil, ExitUsage
	}
	if r.log, err = newLogger(r.s.logLevel, r.s.logFormat, env.Stderr); err != nil {
		r.errorf("%v", r.conf.explain(err))
		return nil, ExitUsage
	}
	r.ops = newOps(r)
	return r, ExitOK
}

func (r *runner) validate() error {
	if r.job.Validate != nil {
		if err := r.job.Validate(); err != nil {
			return err
		}
	}
	return r.s.validate()
}

// errorf prints "NAME: message" on stderr.
func (r *runner) errorf(format string, args ...any) {
	fmt.Fprintf(r.env.Stderr, "%s: %s\n", r.job.Name, fmt.Sprintf(format, args...))
}

// fingerprint is the SHA-256 of the job's Fingerprint (or of its name),
// as written into checkpoint manifests.
func (r *runner) fingerprint() string {
	s := r.job.Name
	if r.job.Fingerprint != nil {
		s = r.job.Fingerprint()
	}
	if r.s.group.enabled() { // the input is the topic, whatever the job's own input flags say
		s += " kafka-topic=" + r.s.group.cfg.Topic
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
