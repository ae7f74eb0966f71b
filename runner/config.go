package runner

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/topspeed/topspeed/internal/ops"
)

// Configuration precedence, highest first:
//
//  1. command-line flags;
//  2. environment variables: --foo-bar is NAME_FOO_BAR (NAME the job's
//     name upper-cased), and a flag may name extra variables in its "env"
//     annotation (for example CASSANDRA_HOSTS), tried after that one;
//  3. the YAML file named by --config (or NAME_CONFIG): keys are flag
//     names without the dashes in front ("cassandra-hosts: [a, b]"), or
//     nested by their first word ("cassandra: {hosts: [a, b]}");
//  4. the flags' defaults.
//
// Values from the environment and the file go through the flags' own
// parsers, so every source accepts the same syntax.

// config is the effective configuration and where each value came from.
type config struct {
	prefix string            // of the environment variables: "TOPSPEED_"
	k      *koanf.Koanf      // every flag's effective value
	origin map[string]string // flag name -> "environment variable X" or "config file F"; absent: flag or default
	file   string            // the config file, if any
}

// envName returns the environment variable that sets flag name.
func envName(prefix, name string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// envNames returns the environment variables of a flag, in precedence order.
func envNames(prefix string, f *pflag.Flag) []string {
	return append([]string{envName(prefix, f.Name)}, f.Annotations["env"]...)
}

// loadConfig sets every flag not given on the command line from the
// environment (looked up with lookup) or the config file, and returns the
// effective configuration.
func loadConfig(fs *pflag.FlagSet, prefix string, lookup func(string) (string, bool)) (*config, error) {
	s := &config{prefix: prefix, k: koanf.New("."), origin: map[string]string{}}
	if f := fs.Lookup("config"); f != nil && f.Changed {
		s.file = f.Value.String()
	} else if v, ok := lookup(envName(prefix, "config")); ok {
		s.file = v
	}
	if s.file != "" {
		if err := s.loadFile(fs); err != nil {
			return nil, err
		}
	}
	if err := s.loadEnv(fs, lookup); err != nil {
		return nil, err
	}

	// Flags given on the command line override both; the other flags' defaults
	// fill in the keys nothing set.
	given := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { given[f.Name] = true })
	if err := s.k.Load(posflag.Provider(fs, ".", s.k), nil); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}

	// Apply the environment's and the file's values to the flags.
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		where, ok := s.origin[f.Name]
		if !ok || given[f.Name] {
			delete(s.origin, f.Name)
			return
		}
		v := flagString(s.k.Get(f.Name))
		if err := fs.Set(f.Name, v); err != nil {
			if strings.HasPrefix(where, "environment variable ") {
				errs = append(errs, fmt.Errorf("%s=%q: %w", where, v, err))
			} else {
				errs = append(errs, fmt.Errorf("%s: key %q: value %q: %w", where, f.Name, v, err))
			}
		}
	})
	return s, errors.Join(errs...)
}

// loadEnv reads the variables of known flags, and for each flag only the
// first one set, so that NAME_X wins over its aliases.
func (s *config) loadEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var environ []string
	byVar := map[string]string{}
	fs.VisitAll(func(f *pflag.Flag) {
		for _, n := range envNames(s.prefix, f) {
			if v, ok := lookup(n); ok {
				environ = append(environ, n+"="+v)
				byVar[n] = f.Name
				return
			}
		}
	})
	err := s.k.Load(env.Provider(".", env.Opt{
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(k, v string) (string, any) {
			s.origin[byVar[k]] = "environment variable " + k
			return byVar[k], v
		},
	}), nil)
	if err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	return nil
}

// loadFile reads the YAML config file into s, rejecting keys that are no
// flag.
func (s *config) loadFile(fs *pflag.FlagSet) error {
	b, err := ops.ReadSmallFile("config file", s.file, ops.MaxSmallFile)
	if err != nil {
		return err
	}
	fk := koanf.New(".")
	if err := fk.Load(rawBytes(b), yaml.Parser()); err != nil {
		return fmt.Errorf("config file %s: %w", s.file, err)
	}
	where := "config file " + s.file
	norm := strings.NewReplacer(".", "-", "_", "-")
	var unknown []string
	for key, v := range fk.All() {
		name := norm.Replace(key)
		if fs.Lookup(name) == nil || name == "config" {
			unknown = append(unknown, strconv.Quote(key))
			continue
		}
		if err := s.k.Set(name, v); err != nil {
			return fmt.Errorf("%s: key %q: %w", where, key, err)
		}
		s.origin[name] = where
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("%s: unknown key(s) %s: keys are flag names without the leading dashes, e.g. log-level (see --help)", where, strings.Join(unknown, ", "))
	}
	return nil
}

// rawBytes is a koanf provider of a file's content, read with a size
// limit (koanf's file provider reads without one).
type rawBytes []byte

func (b rawBytes) ReadBytes() ([]byte, error) { return b, nil }
func (b rawBytes) Read() (map[string]any, error) {
	return nil, errors.New("config: rawBytes needs a parser")
}

// flagString renders a value from the environment or a YAML file the way
// the flag's parser expects it: lists comma-separated.
func flagString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = flagString(e)
		}
		return strings.Join(parts, ",")
	case []string:
		return strings.Join(v, ",")
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// explain adds to a validation error about --name where its value came
// from, when that was not the command line.
func (s *config) explain(err error) error {
	if s == nil || err == nil {
		return err
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "--") {
		return err
	}
	name, _, _ := strings.Cut(msg[2:], " ")
	name = strings.TrimSuffix(name, ":")
	if where, ok := s.origin[name]; ok {
		return fmt.Errorf("%w (set by %s)", err, where)
	}
	return err
}

// usage prints the help text: the job's, then every flag with its default
// and environment variables.
func usage(job Job, fs *pflag.FlagSet, w io.Writer) func() {
	prefix := envPrefix(job)
	return func() {
		if job.Help != "" {
			fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(job.Help))
		}
		fmt.Fprintf(w, `Usage:
  %[1]s [flags]
  %[1]s version        # version, commit and Go version

Settings come from, highest precedence first: the command line, the
environment variables shown in brackets, the --config YAML file, the defaults.
The ops HTTP server (--http-addr) serves /metrics, /livez, /readyz,
/api/v1/status and, with --http-token-file, POST /api/v1/savepoints.

Flags:
`, job.Name)
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			name := "--" + f.Name
			if typ, _ := pflag.UnquoteUsage(f); typ != "" {
				name += " " + typ
			}
			def := ""
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			_, text := pflag.UnquoteUsage(f)
			fmt.Fprintf(w, "  %s\n      %s%s [%s]\n", name, text, def, strings.Join(envNames(prefix, f), ", "))
		})
		fmt.Fprintf(w, "\nExit status: 0 when the input ended (or on Ctrl-C) and every result was written; 1 on a runtime error such as a bad input line; 2 on a usage error.\n")
	}
}
