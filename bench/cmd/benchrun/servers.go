package main

import (
	"os/exec"
	"slices"
	"strings"
)

// localServer is a local server that some scenarios start, themselves or
// through a script they run, and that stays up until it is stopped.
type localServer struct {
	name   string
	script string   // its scripts/... control script: info, down
	users  []string // the scenarios that need it
}

var localServers = []localServer{
	{"Cassandra", "scripts/cassandra/cassandra.sh", []string{"S4", "S5"}},
	{"Kafka", "scripts/kafka/kafka.sh", []string{"S7"}},
}

// running reports whether s runs now (its script's info: a pid check).
func (r *runner) running(s localServer) bool {
	cmd := exec.Command("bash", s.script, "info")
	cmd.Dir = r.root
	return cmd.Run() == nil
}

// serversRunning returns the local servers that run now.
func (r *runner) serversRunning() map[string]bool {
	up := map[string]bool{}
	for _, s := range r.localServers {
		up[s.name] = r.running(s)
	}
	return up
}

// stopServersDone stops each local server that was not running when the
// run began (before) and that no scenario in left needs any more, so that
// the scenarios after it measure on a machine without its background work
// (an idle Cassandra took ~8% of a core here, and sat beside S6-S8).
func (r *runner) stopServersDone(before map[string]bool, left []string) {
	for _, s := range r.localServers {
		if before[s.name] || slices.ContainsFunc(s.users, func(u string) bool { return slices.Contains(left, u) }) || !r.running(s) {
			continue
		}
		cmd := exec.Command("bash", s.script, "down")
		cmd.Dir = r.root
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			r.logf("stopping the local %s (%s down): %v: %s", s.name, s.script, err, lastLines(out.String(), 3))
			continue
		}
		r.logf("stopped the local %s, which this run started: no scenario left needs it", s.name)
	}
}
