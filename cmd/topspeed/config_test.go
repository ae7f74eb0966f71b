package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/topspeed/topspeed/runner"
)

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "topspeed.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The sample fires twice with a 50 m trigger and never with 1000 m, so the
// trigger that wins shows in the output.
const fired = "(7,90,30.0,2000)\n(7,80,110.5,20000)\n"

func TestConfigPrecedence(t *testing.T) {
	in := writeFile(t, sample)
	cfg := writeConfig(t, "input: "+in+"\ntrigger-meters: 1000\nlog-level: error\n")

	// The file alone: 1000 m never fires.
	code, stdout, stderr := runCLI(t, "--config", cfg)
	if code != exitOK || stdout != "" {
		t.Fatalf("file: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	// The environment overrides the file.
	code, stdout, stderr = runCLIEnv(t, map[string]string{"TOPSPEED_TRIGGER_METERS": "50"}, "--config", cfg)
	if code != exitOK || stdout != fired {
		t.Fatalf("env over file: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	// A flag overrides both.
	code, stdout, stderr = runCLIEnv(t, map[string]string{"TOPSPEED_TRIGGER_METERS": "1000"}, "--config", cfg, "--trigger-meters", "50")
	if code != exitOK || stdout != fired {
		t.Fatalf("flag over env: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	// TOPSPEED_CONFIG names the file too.
	code, stdout, stderr = runCLIEnv(t, map[string]string{"TOPSPEED_CONFIG": cfg}, "--trigger-meters", "50")
	if code != exitOK || stdout != fired {
		t.Fatalf("TOPSPEED_CONFIG: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
}

func TestConfigFileNestedKeysAndLists(t *testing.T) {
	in := writeFile(t, sample)
	// Nested by first word, lists, numbers and durations.
	cfg := writeConfig(t, `
input: `+in+`
trigger:
  meters: 50
evict: 10s
log:
  level: error
cassandra:
  hosts: [127.0.0.1, "127.0.0.2:9043"]
  port: 1
  connect-budget: 1ms
`)
	var o options
	conf, err := runner.Parse(newJob(&o), []string{"--config", cfg}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if o.input != in || o.trigger != 50 || conf.Value("log-level") != "error" || strings.Join(o.cassandra.hosts, "|") != "127.0.0.1|127.0.0.2:9043" || o.cassandra.port != 1 {
		t.Fatalf("options from the file: %+v", o)
	}
	if conf.Origin("cassandra-hosts") != "config file "+cfg {
		t.Fatalf("origin %q", conf.Origin("cassandra-hosts"))
	}
}

func TestConfigErrorsNameKeyAndValues(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		yaml string
		args []string
		want []string
	}{
		{"unknown file key", nil, "paralelism: 2\n", nil, []string{`unknown key(s) "paralelism"`, "flag names"}},
		{"bad file value", nil, "parallelism: many\n", nil, []string{`key "parallelism"`, `"many"`}},
		{"bad file enum", nil, "on-bad-record: ignore\n", nil, []string{"--on-bad-record", "fail or skip", "config file"}},
		{"bad env enum", map[string]string{"TOPSPEED_LOG_FORMAT": "xml"}, "", nil, []string{"--log-format", "console or json", "TOPSPEED_LOG_FORMAT"}},
		{"bad env value", map[string]string{"TOPSPEED_EVICT": "10"}, "", nil, []string{"TOPSPEED_EVICT", `"10"`}},
		{"bad level flag", nil, "", []string{"--log-level", "loud"}, []string{"--log-level", "debug, info, warn, error"}},
		{"bad http addr", nil, "", []string{"--http-addr", "9249"}, []string{"--http-addr", ":9249"}},
		{"missing file", nil, "", []string{"--config", "/nonexistent/topspeed.yaml"}, []string{"config file /nonexistent/topspeed.yaml"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.yaml != "" {
				args = append(args, "--config", writeConfig(t, c.yaml))
			}
			code, _, stderr := runCLIEnv(t, c.env, args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %s", code, exitUsage, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
		})
	}
}

func TestEnvAliasPrecedence(t *testing.T) {
	var o options
	env := map[string]string{"TOPSPEED_CASSANDRA_PORT": "9999", "CASSANDRA_PORT": "1111", "CASSANDRA_HOSTS": "a,b"}
	if _, err := runner.Parse(newJob(&o), nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if o.cassandra.port != 9999 || strings.Join(o.cassandra.hosts, "|") != "a|b" {
		t.Fatalf("port %d hosts %v", o.cassandra.port, o.cassandra.hosts)
	}
}

func TestHelpShowsConfigAndOpsFlags(t *testing.T) {
	_, _, stderr := runCLI(t, "--help")
	for _, w := range []string{"--config", "--http-addr", "(default :9249)", "TOPSPEED_HTTP_ADDR", "topspeed version"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("--help lacks %q", w)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := runCLI(t, "version")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^topspeed \S+\ncommit: \S+\ngo: go1\.`).MatchString(stdout) {
		t.Fatalf("version output %q", stdout)
	}
	if code, _, _ := runCLI(t, "version", "extra"); code != exitUsage {
		t.Fatalf("version with an argument: exit %d", code)
	}
}

func TestJSONLogsWithOpsServer(t *testing.T) {
	in := writeFile(t, sample)
	code, stdout, stderr := runCLI(t, "--input", in, "--log-format", "json", "--log-level", "debug", "--http-addr", "127.0.0.1:0")
	if code != exitOK || stdout != fired {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	for _, w := range []string{`"msg":"ops server listening"`, `"msg":"topspeed starting"`, `"stage":"top-speed"`, `"subtask":0`} {
		if !strings.Contains(stderr, w) {
			t.Errorf("logs lack %s:\n%s", w, stderr)
		}
	}
}
