package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/topspeed/topspeed/internal/ops"
	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/sink/cassandra"
)

// cassandraFlags are the --cassandra-* settings. There is deliberately no
// password flag: the password comes from CASSANDRA_PASSWORD or a file, so it
// never shows in process listings or shell history.
type cassandraFlags struct {
	hosts        []string
	port         int
	localDC      string
	keyspace     string
	table        string
	consistency  string
	createSchema bool
	replication  string
	maxInFlight  int
	batchRows    int
	maxBuffered  int
	linger       time.Duration
	username     string
	passwordFile string
	timeout      time.Duration
	compression  bool
	retryBudget  time.Duration
	connect      time.Duration
	tlsCA        string
	tlsCert      string
	tlsKey       string
	tlsServer    string
}

func (c *cassandraFlags) register(fs *pflag.FlagSet) {
	d := cassandra.DefaultConfig()
	env := func(name string, vars ...string) { _ = fs.SetAnnotation(name, "env", vars) }
	fs.StringSliceVar(&c.hosts, "cassandra-hosts", nil, "write results to Cassandra at these contact points (host or host:port, comma-separated); empty disables the Cassandra sink")
	env("cassandra-hosts", "CASSANDRA_HOSTS")
	fs.IntVar(&c.port, "cassandra-port", d.Port, "Cassandra native-protocol port for hosts given without one")
	env("cassandra-port", "CASSANDRA_PORT")
	fs.StringVar(&c.localDC, "cassandra-local-dc", "", "prefer this datacenter (token-aware over DC-aware round robin); empty = any")
	env("cassandra-local-dc", "CASSANDRA_LOCAL_DC")
	fs.StringVar(&c.keyspace, "cassandra-keyspace", topspeed.CassandraKeyspace, "keyspace of the results table")
	fs.StringVar(&c.table, "cassandra-table", topspeed.CassandraTable, "results table (carid int, speed int, distance double, time bigint, PRIMARY KEY (carid, time))")
	fs.StringVar(&c.consistency, "cassandra-consistency", "LOCAL_QUORUM", "write consistency level (ONE for a single-node dev server)")
	fs.BoolVar(&c.createSchema, "cassandra-create-schema", false, "create the keyspace and table if they do not exist")
	fs.StringVar(&c.replication, "cassandra-replication", d.Replication, "replication for --cassandra-create-schema: a factor (SimpleStrategy) or dc1:3,dc2:3 (NetworkTopologyStrategy)")
	fs.IntVar(&c.maxInFlight, "cassandra-max-inflight", d.MaxInFlight, "maximum concurrent write requests; more writes wait (backpressure)")
	fs.IntVar(&c.batchRows, "cassandra-batch-rows", d.BatchRows, "maximum rows per unlogged batch (batches never span partitions)")
	fs.IntVar(&c.maxBuffered, "cassandra-max-buffered-rows", d.MaxBufferedRows, "maximum rows collected while waiting for per-partition batches to fill")
	fs.DurationVar(&c.linger, "cassandra-linger", d.Linger, "longest time a result waits for its partition batch to fill")
	fs.StringVar(&c.username, "cassandra-username", "", "user for PasswordAuthenticator; the password is read from CASSANDRA_PASSWORD or --cassandra-password-file")
	env("cassandra-username", "CASSANDRA_USERNAME")
	fs.StringVar(&c.passwordFile, "cassandra-password-file", "", "file holding the password (for example a mounted Kubernetes secret)")
	env("cassandra-password-file", "CASSANDRA_PASSWORD_FILE")
	fs.DurationVar(&c.timeout, "cassandra-timeout", d.Timeout, "timeout of one write request")
	fs.BoolVar(&c.compression, "cassandra-compression", false, "compress protocol frames with snappy")
	fs.DurationVar(&c.retryBudget, "cassandra-retry-budget", d.RetryBudget, "how long a failing write is retried before the job fails")
	fs.DurationVar(&c.connect, "cassandra-connect-budget", d.ConnectBudget, "how long the first connection is retried")
	// The TLS variables are the ones `make cassandra-up` exports.
	fs.StringVar(&c.tlsCA, "cassandra-tls-ca", "", "CA certificate (PEM) to verify the server; enables TLS")
	env("cassandra-tls-ca", "CASSANDRA_TLS_CA")
	fs.StringVar(&c.tlsCert, "cassandra-tls-cert", "", "client certificate (PEM) for mutual TLS")
	env("cassandra-tls-cert", "CASSANDRA_TLS_CERT")
	fs.StringVar(&c.tlsKey, "cassandra-tls-key", "", "client key (PEM) for mutual TLS")
	env("cassandra-tls-key", "CASSANDRA_TLS_KEY")
	fs.StringVar(&c.tlsServer, "cassandra-tls-server-name", "", "name to verify in the server certificate (default: the host)")
	env("cassandra-tls-server-name", "CASSANDRA_TLS_SERVER_NAME")
}

func (c *cassandraFlags) enabled() bool { return len(c.hosts) > 0 }

// validate checks the size and time settings, naming the flag; config
// checks the rest (and reads the password file).
func (c *cassandraFlags) validate() error {
	ints := []struct {
		flag     string
		v, limit int
	}{
		{"--cassandra-max-inflight", c.maxInFlight, cassandra.LimitMaxInFlight},
		{"--cassandra-batch-rows", c.batchRows, cassandra.LimitBatchRows},
		{"--cassandra-max-buffered-rows", c.maxBuffered, cassandra.LimitMaxBufferedRows},
		{"--cassandra-port", c.port, 65535},
	}
	for _, s := range ints {
		if s.v < 1 || s.v > s.limit {
			return fmt.Errorf("%s %d: must be in [1, %d]", s.flag, s.v, s.limit)
		}
	}
	durations := []struct {
		flag     string
		v, limit time.Duration
	}{
		{"--cassandra-linger", c.linger, time.Hour},
		{"--cassandra-timeout", c.timeout, time.Hour},
	}
	for _, s := range durations {
		if s.v <= 0 || s.v > s.limit {
			return fmt.Errorf("%s %v: must be in (0, %v]", s.flag, s.v, s.limit)
		}
	}
	for flag, v := range map[string]time.Duration{"--cassandra-retry-budget": c.retryBudget, "--cassandra-connect-budget": c.connect} {
		if v < 0 || v > 24*time.Hour {
			return fmt.Errorf("%s %v: must be in [0, 24h]", flag, v)
		}
	}
	return nil
}

// config turns the flags into a sink configuration, reading the password
// from CASSANDRA_PASSWORD or the password file.
func (c *cassandraFlags) config(lookup func(string) (string, bool)) (cassandra.Config, error) {
	cfg := cassandra.DefaultConfig()
	for _, h := range c.hosts {
		if h = strings.TrimSpace(h); h != "" {
			cfg.Hosts = append(cfg.Hosts, h)
		}
	}
	cfg.Port, cfg.LocalDC, cfg.Keyspace, cfg.Table = c.port, c.localDC, c.keyspace, c.table
	cons, err := cassandra.ParseConsistency(c.consistency)
	if err != nil {
		return cfg, err
	}
	cfg.Consistency = cons
	cfg.CreateSchema, cfg.Replication = c.createSchema, c.replication
	cfg.MaxInFlight, cfg.BatchRows = c.maxInFlight, c.batchRows
	cfg.MaxBufferedRows, cfg.Linger = c.maxBuffered, c.linger
	cfg.Timeout, cfg.Compression = c.timeout, c.compression
	cfg.RetryBudget, cfg.ConnectBudget = c.retryBudget, c.connect
	cfg.TLS = cassandra.TLSConfig{CAFile: c.tlsCA, CertFile: c.tlsCert, KeyFile: c.tlsKey, ServerName: c.tlsServer}
	cfg.Username = c.username
	if pw, ok := lookup("CASSANDRA_PASSWORD"); ok && pw != "" {
		cfg.Password = pw
	} else if c.passwordFile != "" {
		b, err := ops.ReadSmallFile("--cassandra-password-file", c.passwordFile, ops.MaxSmallFile)
		if err != nil {
			return cfg, err
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
	}
	if cfg.Username != "" && cfg.Password == "" {
		return cfg, fmt.Errorf("cassandra user %q has no password: set CASSANDRA_PASSWORD or --cassandra-password-file", cfg.Username)
	}
	return cfg, cfg.Validate()
}
