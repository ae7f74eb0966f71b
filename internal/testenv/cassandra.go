// Package testenv finds the real servers that integration tests run
// against. `make test` starts them and sets TOPSPEED_REQUIRE_SERVERS=1, so
// in CI a missing server fails the test instead of skipping it.
package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Cassandra describes the local test server, as exported by
// `eval "$(make -s cassandra-up)"`.
type Cassandra struct {
	Hosts    []string
	Username string
	Password string
	// PIDFile is the server's pid file, if known (for outage tests).
	PIDFile string
}

// Required reports whether a missing server must fail the test.
func Required() bool { return os.Getenv("TOPSPEED_REQUIRE_SERVERS") == "1" }

// NeedCassandra returns the local Cassandra, or skips the test (fails it in
// CI) when none is configured.
func NeedCassandra(t testing.TB) Cassandra {
	t.Helper()
	hosts := os.Getenv("CASSANDRA_HOSTS")
	if hosts == "" {
		msg := `no Cassandra server: CASSANDRA_HOSTS is unset; run eval "$(make -s cassandra-up)" first, or make test`
		if Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	c := Cassandra{Hosts: strings.Split(hosts, ","), Username: os.Getenv("CASSANDRA_USERNAME"), PIDFile: os.Getenv("CASSANDRA_PID_FILE")}
	if f := os.Getenv("CASSANDRA_PASSWORD_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("reading CASSANDRA_PASSWORD_FILE: %v", err)
		}
		c.Password = strings.TrimRight(string(b), "\r\n")
	} else {
		c.Password = os.Getenv("CASSANDRA_PASSWORD")
	}
	if c.PIDFile == "" {
		c.PIDFile = filepath.Join(cassandraDir(), "cassandra.pid")
	}
	return c
}

// cassandraDir is scripts/cassandra/cassandra.sh's work directory.
func cassandraDir() string {
	if d := os.Getenv("TOPSPEED_CASSANDRA_DIR"); d != "" {
		return d
	}
	cache := os.Getenv("TOPSPEED_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "topspeed")
	}
	return filepath.Join(cache, "cassandra", "run")
}
