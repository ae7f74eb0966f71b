package main

import (
	"strings"
	"testing"

	"github.com/topspeed/topspeed/runner"
)

// The variables `make cassandra-up` exports turn on TLS, as the flags do.
func TestCassandraTLSFromEnvironment(t *testing.T) {
	var o options
	env := map[string]string{
		"CASSANDRA_HOSTS":           "127.0.0.1:9042",
		"CASSANDRA_TLS_CA":          "/certs/ca.pem",
		"CASSANDRA_TLS_CERT":        "/certs/client.pem",
		"CASSANDRA_TLS_KEY":         "/certs/client-key.pem",
		"CASSANDRA_TLS_SERVER_NAME": "localhost",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if _, err := runner.Parse(newJob(&o), nil, lookup); err != nil {
		t.Fatal(err)
	}
	cfg, err := o.cassandra.config(lookup)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.TLS
	if got.CAFile != "/certs/ca.pem" || got.CertFile != "/certs/client.pem" || got.KeyFile != "/certs/client-key.pem" || got.ServerName != "localhost" {
		t.Fatalf("TLS from the environment: %+v", got)
	}

	// A flag still wins over the variable.
	var o2 options
	if _, err := runner.Parse(newJob(&o2), []string{"--cassandra-tls-ca", "/other/ca.pem"}, lookup); err != nil {
		t.Fatal(err)
	}
	if o2.cassandra.tlsCA != "/other/ca.pem" {
		t.Fatalf("--cassandra-tls-ca lost to the environment: %q", o2.cassandra.tlsCA)
	}
}

func TestHelpNamesCassandraTLSVariables(t *testing.T) {
	_, _, stderr := runCLI(t, "--help")
	for _, w := range []string{"CASSANDRA_TLS_CA", "CASSANDRA_TLS_CERT", "CASSANDRA_TLS_KEY", "CASSANDRA_TLS_SERVER_NAME"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("--help lacks %s", w)
		}
	}
}
