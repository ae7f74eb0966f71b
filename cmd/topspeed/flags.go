package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// envPrefix: every flag --foo-bar can also be set as TOPSPEED_FOO_BAR.
// A flag given on the command line wins over the environment.
const envPrefix = "TOPSPEED_"

// envName returns the environment variable that sets flag name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its
// environment variable, if present. A flag may name extra variables (for
// example CASSANDRA_USERNAME) in its "env" annotation; they are tried after
// the TOPSPEED_ one.
func applyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		names := append([]string{envName(f.Name)}, f.Annotations["env"]...)
		for _, n := range names {
			v, ok := lookup(n)
			if !ok {
				continue
			}
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("environment variable %s=%q: %w", n, v, serr)
			}
			return
		}
	})
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

Examples:
  topspeed                                   # 2 generated cars, 10 events/s, results on stdout
  topspeed --input cars.txt --output out.txt # a file, like Flink's --input/--output
  topspeed --cars 1000 --rate 0 --events 1000000 --output /dev/null

Flags (each can also be set as an environment variable, shown in brackets):
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
			envs := append([]string{envName(f.Name)}, f.Annotations["env"]...)
			_, text := pflag.UnquoteUsage(f)
			fmt.Fprintf(w, "  %s\n      %s%s [%s]\n", name, text, def, strings.Join(envs, ", "))
		})
		fmt.Fprintf(w, "\nExit status: 0 when the input ended (or on Ctrl-C) and every result was written; 1 on a runtime error such as a bad input line; 2 on a usage error.\n")
	}
}
