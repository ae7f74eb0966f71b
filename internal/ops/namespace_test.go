package ops

import (
	"slices"
	"strings"
	"testing"
)

// Every metric this package makes carries the namespace: the default
// (topspeed_, which the dashboard and alerts pin), another, or none.
func TestNamespace(t *testing.T) {
	for _, c := range []struct {
		opts   []Option
		prefix string
	}{{nil, "topspeed_"}, {[]Option{WithNamespace("wc")}, "wc_"}, {[]Option{WithNamespace("")}, ""}} {
		reg := NewRegistry(BuildInfo{Version: "v", Revision: "r", GoVersion: "go"}, c.opts...)
		NewRecorder(reg, c.opts...)
		NewServer(Config{Gatherer: reg, Registerer: reg}, c.opts...)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var ours []string
		for _, mf := range mfs {
			if n := mf.GetName(); !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") {
				ours = append(ours, n)
			}
		}
		for _, n := range []string{"build_info", "ready", "checkpoints_completed_total", "raft_role", "restore_duration_seconds"} {
			if !slices.Contains(ours, c.prefix+n) {
				t.Errorf("prefix %q: no %s in %v", c.prefix, c.prefix+n, ours)
			}
		}
		for _, n := range ours {
			if !strings.HasPrefix(n, c.prefix) || (c.prefix == "" && strings.HasPrefix(n, "topspeed_")) {
				t.Errorf("prefix %q: metric %s", c.prefix, n)
			}
		}
	}
}
