package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// Configuration precedence, highest first:
//
//  1. command-line flags;
//  2. environment variables: --foo-bar is TOPSPEED_FOO_BAR, and a flag may
//     name extra variables in its "env" annotation (for example
//     CASSANDRA_HOSTS), tried after the TOPSPEED_ one;
//  3. the YAML file named by --config (or TOPSPEED_CONFIG): keys are flag
//     names without the dashes in front ("cassandra-hosts: [a, b]"), or
//     nested by their first word ("cassandra: {hosts: [a, b]}");
//  4. the flags' defaults.
//
// Values from the environment and the file go through the flags' own
// parsers, so every source accepts the same syntax.

// envPrefix: every flag --foo-bar can also be set as TOPSPEED_FOO_BAR.
const envPrefix = "TOPSPEED_"

// envName returns the environment variable that sets flag name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// envNames returns the environment variables of a flag, in precedence order.
func envNames(f *pflag.Flag) []string {
	return append([]string{envName(f.Name)}, f.Annotations["env"]...)
}

// settings is the effective configuration and where each value came from.
type settings struct {
	k      *koanf.Koanf      // every flag's effective value
	origin map[string]string // flag name -> "environment variable X" or "config file F"; absent: flag or default
	file   string            // the config file, if any
}

// loadConfig sets every flag not given on the command line from the
// environment (looked up with lookup) or the config file, and returns the
// effective configuration.
func loadConfig(fs *pflag.FlagSet, lookup func(string) (string, bool)) (*settings, error) {
	s := &settings{k: koanf.New("."), origin: map[string]string{}}
	if f := fs.Lookup("config"); f != nil && f.Changed {
		s.file = f.Value.String()
	} else if v, ok := lookup(envName("config")); ok {
		s.file = v
	}
	if s.file != "" {
		if err := s.loadFile(fs); err != nil {
			return nil, err
		}
	}

	// The environment: only the variables of known flags, and for each flag
	// only the first one set, so that TOPSPEED_X wins over its aliases.
	var environ []string
	byVar := map[string]string{}
	fs.VisitAll(func(f *pflag.Flag) {
		for _, n := range envNames(f) {
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
		return nil, fmt.Errorf("environment: %w", err)
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

// loadFile reads the YAML config file into s, rejecting keys that are no
// flag.
func (s *settings) loadFile(fs *pflag.FlagSet) error {
	fk := koanf.New(".")
	if err := fk.Load(file.Provider(s.file), yaml.Parser()); err != nil {
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
		return fmt.Errorf("%s: unknown key(s) %s: keys are flag names without the leading dashes, e.g. cassandra-hosts (see --help)", where, strings.Join(unknown, ", "))
	}
	return nil
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
func (s *settings) explain(err error) error {
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

// usage prints the help text: every flag with its default and environment
// variable.
func usage(fs *pflag.FlagSet, w io.Writer) func() {
	return func() {
		fmt.Fprintf(w, `topspeed: Flink's TopSpeedWindowing example as a Go-native stream processor.

For each car, every time it has travelled more than --trigger-meters since the
last result, topspeed emits the car's fastest report (first one on ties) among
the reports of the last --evict of event time.

Input is the built-in car generator, or --input in Flink's line format
(carId,speed,distance,timestamp). Results are written like Flink's
Tuple4.toString, one per line, to --output or stdout.

Usage:
  topspeed [flags]
  topspeed version                           # version, commit and Go version

Examples:
  topspeed                                   # 2 generated cars, 10 events/s, results on stdout
  topspeed --input examples/cars.txt --output out.txt   # the sample input that ships in the repository
  topspeed --cars 1000 --rate 0 --events 1000000 --output /dev/null
  topspeed --config topspeed.yaml            # settings from a YAML file (keys are flag names)

Settings come from, highest precedence first: the command line, the
environment variables shown in brackets, the --config YAML file, the defaults.
The ops HTTP server (--http-addr) serves /metrics, /livez, /readyz and
/api/v1/status.

Flags:
`)
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
			fmt.Fprintf(w, "  %s\n      %s%s [%s]\n", name, text, def, strings.Join(envNames(f), ", "))
		})
		fmt.Fprintf(w, "\nExit status: 0 when the input ended (or on Ctrl-C) and every result was written; 1 on a runtime error such as a bad input line; 2 on a usage error.\n")
	}
}
