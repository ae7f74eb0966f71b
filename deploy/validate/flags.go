package validate

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Flag is one flag of `topspeed --help`.
type Flag struct {
	Name string
	// Type is pflag's type word ("string", "int", "duration", "strings",
	// ...); empty for a bool.
	Type    string
	Default string
	// Env are the environment variables that set it, in precedence order.
	Env []string
}

// Flags are topspeed's flags by name.
type Flags map[string]Flag

var (
	helpFlagLine = regexp.MustCompile(`^  --([a-z0-9][a-z0-9-]*)(?: ([a-z0-9|]+))?$`)
	helpEnv      = regexp.MustCompile(`\[([A-Z0-9_, ]+)\]$`)
	helpDefault  = regexp.MustCompile(`\(default ([^)]*)\)(?: \[[A-Z0-9_, ]+\])?$`)
)

// ParseHelp reads the flags from the output of `topspeed --help`: each flag
// is a line "  --name type" followed by its description line, which ends
// with "(default D) [ENV, ...]".
func ParseHelp(help string) (Flags, error) {
	fs := Flags{}
	lines := strings.Split(help, "\n")
	for i, l := range lines {
		m := helpFlagLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if i+1 >= len(lines) {
			return nil, fmt.Errorf("--help: flag --%s has no description line", m[1])
		}
		desc := strings.TrimSpace(lines[i+1])
		f := Flag{Name: m[1], Type: m[2]}
		if e := helpEnv.FindStringSubmatch(desc); e != nil {
			for _, v := range strings.Split(e[1], ",") {
				f.Env = append(f.Env, strings.TrimSpace(v))
			}
		}
		if d := helpDefault.FindStringSubmatch(desc); d != nil {
			f.Default = d[1]
		} else if f.Type == "" {
			f.Default = "false"
		}
		fs[f.Name] = f
	}
	if len(fs) == 0 {
		return nil, fmt.Errorf("--help: no flags found")
	}
	return fs, nil
}

// ByEnv returns the flag an environment variable sets.
func (fs Flags) ByEnv(name string) (Flag, bool) {
	for _, f := range fs {
		for _, e := range f.Env {
			if e == name {
				return f, true
			}
		}
	}
	return Flag{}, false
}

// Settings is a container's effective topspeed configuration, resolved the
// way topspeed resolves it: command line, then environment, then the
// --config file, then the defaults.
type Settings struct {
	flags  Flags
	args   map[string]string
	env    map[string]string // flag name -> value ("" for valueFrom)
	file   map[string]string // flag name -> value from the config file
	origin map[string]string
	// Used lists every flag set by the command line, the environment or
	// the file, sorted.
	Used []string
}

// ParseArgs splits a container's args into flag values, checking each
// against flags: --name=value, --name value, or --name alone for a bool.
func ParseArgs(flags Flags, args []string) (map[string]string, error) {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			return nil, fmt.Errorf("argument %q: not a --flag (topspeed takes no positional arguments)", a)
		}
		name, val, hasVal := strings.Cut(a[2:], "=")
		f, ok := flags[name]
		if !ok {
			return nil, fmt.Errorf("argument %q: topspeed has no flag --%s", a, name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("argument %q: --%s given twice", a, name)
		}
		if !hasVal {
			if f.Type == "" {
				val = "true"
			} else {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("argument %q: no value", a)
				}
				i++
				val = args[i]
			}
		}
		out[name] = val
	}
	return out, nil
}

// ParseConfigFile reads a --config YAML file the way topspeed does: keys
// are flag names, flat or nested by their first word, with "." and "_"
// read as "-". Lists become comma-separated values.
func ParseConfigFile(flags Flags, data []byte) (map[string]string, error) {
	var root map[string]any
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	out := map[string]string{}
	norm := strings.NewReplacer(".", "-", "_", "-")
	var unknown []string
	var walk func(prefix string, m map[string]any) error
	walk = func(prefix string, m map[string]any) error {
		for k, v := range m {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			if sub, ok := v.(map[string]any); ok {
				if err := walk(key, sub); err != nil {
					return err
				}
				continue
			}
			name := norm.Replace(key)
			if _, ok := flags[name]; !ok || name == "config" {
				unknown = append(unknown, key)
				continue
			}
			if _, dup := out[name]; dup {
				return fmt.Errorf("config file: %s set twice", name)
			}
			out[name] = yamlFlagString(v)
		}
		return nil
	}
	if err := walk("", root); err != nil {
		return nil, err
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("config file: unknown key(s) %s: no such flag", strings.Join(unknown, ", "))
	}
	return out, nil
}

func yamlFlagString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = yamlFlagString(e)
		}
		return strings.Join(parts, ",")
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// NewSettings resolves a container's settings from its args, its literal
// environment (valueFrom variables map to "") and its config file (nil if
// none), checking every name against flags.
func NewSettings(flags Flags, args []string, env map[string]string, configFile []byte) (*Settings, error) {
	s := &Settings{flags: flags, env: map[string]string{}, file: map[string]string{}, origin: map[string]string{}}
	var err error
	if s.args, err = ParseArgs(flags, args); err != nil {
		return nil, err
	}
	// The environment: TOPSPEED_* must name a flag; each flag takes its
	// first variable set.
	for name := range env {
		if _, ok := flags.ByEnv(name); !ok && strings.HasPrefix(name, "TOPSPEED_") {
			return nil, fmt.Errorf("environment variable %s: topspeed has no such setting", name)
		}
	}
	for _, f := range flags {
		for _, e := range f.Env {
			if v, ok := env[e]; ok {
				s.env[f.Name] = v
				s.origin[f.Name] = "environment variable " + e
				break
			}
		}
	}
	if configFile != nil {
		if s.file, err = ParseConfigFile(flags, configFile); err != nil {
			return nil, err
		}
	}
	used := map[string]bool{}
	for _, m := range []map[string]string{s.args, s.env, s.file} {
		for k := range m {
			used[k] = true
		}
	}
	for k := range used {
		s.Used = append(s.Used, k)
	}
	sort.Strings(s.Used)
	return s, nil
}

// Get returns a flag's effective value and where it came from ("args",
// "env", "config", "default").
func (s *Settings) Get(name string) (value, from string) {
	if _, ok := s.flags[name]; !ok {
		panic("validate: no flag --" + name)
	}
	if v, ok := s.args[name]; ok {
		return v, "args"
	}
	if v, ok := s.env[name]; ok {
		return v, "env"
	}
	if v, ok := s.file[name]; ok {
		return v, "config"
	}
	return s.flags[name].Default, "default"
}

// Value is Get without the origin.
func (s *Settings) Value(name string) string {
	v, _ := s.Get(name)
	return v
}

// IsSet reports whether anything but the default sets the flag.
func (s *Settings) IsSet(name string) bool {
	_, from := s.Get(name)
	return from != "default"
}

// FromFile returns the flags the config file sets.
func (s *Settings) FromFile() map[string]string { return s.file }
