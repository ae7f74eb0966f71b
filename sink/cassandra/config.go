package cassandra

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// Config configures a Sink. Build it with DefaultConfig, then set fields.
// The password is never printed: String and log fields redact it.
type Config struct {
	// Hosts are the contact points, "host" or "host:port".
	Hosts []string
	// Port is the native-protocol port for hosts given without one.
	Port int
	// LocalDC makes the host policy prefer this datacenter (token-aware
	// over DC-aware round robin). Empty: token-aware over plain round robin.
	LocalDC string
	// Keyspace and Table name the table written to. Empty: the Mapping's
	// defaults (Mapping.Keyspace, Mapping.Table).
	Keyspace, Table string
	// Username and Password authenticate with PasswordAuthenticator.
	// Empty Username: no authentication.
	Username string
	Password string
	// Consistency of the writes (default LOCAL_QUORUM).
	Consistency gocql.Consistency
	// Timeout of one request, and ConnectTimeout of connection set-up.
	Timeout, ConnectTimeout time.Duration
	// Compression enables snappy compression of the protocol frames.
	Compression bool
	// MaxInFlight bounds the number of concurrent asynchronous requests.
	MaxInFlight int
	// BatchRows bounds the rows in one unlogged batch. Batches only ever
	// hold rows of one partition.
	BatchRows int
	// Linger is how long a partition's first collected row may wait for
	// the batch to fill before the partition is sent anyway: the bound on
	// the extra latency batching adds.
	Linger time.Duration
	// MaxBufferedRows bounds the rows collected while waiting for batches to
	// fill; reaching it sends them all.
	MaxBufferedRows int
	// RetryBudget is how long one request is retried (exponential backoff,
	// from RetryInitial up to RetryMax) before the sink fails with the cause.
	RetryBudget, RetryInitial, RetryMax time.Duration
	// ConnectBudget is how long the first connection is retried.
	ConnectBudget time.Duration
	// TLS, if CAFile or CertFile is set, encrypts client connections.
	TLS TLSConfig
	// CreateSchema creates the keyspace if it does not exist, with
	// Replication: "1" (SimpleStrategy, factor 1) or "dc1:3,dc2:3"
	// (NetworkTopologyStrategy), then runs the Mapping's Schema statements.
	CreateSchema bool
	Replication  string
	// MetricsNamespace prefixes the sink's metric names, joined with "_"
	// (<namespace>_cassandra_...); empty means no prefix. DefaultConfig
	// sets DefaultMetricsNamespace.
	MetricsNamespace string
}

// DefaultMetricsNamespace is DefaultConfig's MetricsNamespace, the same
// as the engine's default (engine.DefaultMetricsNamespace).
const DefaultMetricsNamespace = "topspeed"

// TLSConfig holds client-encryption settings (K8ssandra client encryption).
type TLSConfig struct {
	// CAFile verifies the server's certificate.
	CAFile string
	// CertFile and KeyFile are the client certificate, for mutual TLS.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
	// InsecureSkipVerify disables verification (never in production).
	InsecureSkipVerify bool
}

// Enabled reports whether TLS is configured.
func (t TLSConfig) Enabled() bool { return t.CAFile != "" || t.CertFile != "" || t.InsecureSkipVerify }

// DefaultConfig returns production defaults: port 9042, the mapping's
// keyspace and table, LOCAL_QUORUM, 5 s timeouts, 64 requests in flight,
// batches of up to 50 rows per partition, a partition's rows collected
// for at most 500 ms (at most 50,000 rows collected), a 2-minute retry
// budget per request, a 30-second budget for the first connection, and
// metric names prefixed with DefaultMetricsNamespace.
func DefaultConfig() Config {
	return Config{
		Port:             9042,
		MetricsNamespace: DefaultMetricsNamespace,
		Consistency:      gocql.LocalQuorum,
		Timeout:          5 * time.Second,
		ConnectTimeout:   5 * time.Second,
		MaxInFlight:      64,
		BatchRows:        50,
		Linger:           500 * time.Millisecond,
		MaxBufferedRows:  50_000,
		RetryBudget:      2 * time.Minute,
		RetryInitial:     50 * time.Millisecond,
		RetryMax:         2 * time.Second,
		ConnectBudget:    30 * time.Second,
		Replication:      "1",
	}
}

// Upper bounds of the size settings: beyond them a setting gains nothing
// and risks the memory of the process (MaxBufferedRows rows, 2 ×
// MaxInFlight batches of BatchRows rows preallocated) or fails every write
// (Cassandra refuses batches above batch_size_fail_threshold, 50 KiB by
// default: about a thousand rows of the TopSpeed table).
const (
	LimitMaxInFlight     = 4096
	LimitBatchRows       = 10_000
	LimitMaxBufferedRows = 10_000_000
)

var (
	identRE     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)
	namespaceRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case len(c.Hosts) == 0:
		return errors.New("cassandra: no hosts")
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("cassandra: port %d out of range", c.Port)
	case c.Keyspace != "" && !identRE.MatchString(c.Keyspace):
		return fmt.Errorf("cassandra: keyspace %q is not a valid identifier", c.Keyspace)
	case c.Table != "" && !identRE.MatchString(c.Table):
		return fmt.Errorf("cassandra: table %q is not a valid identifier", c.Table)
	case c.MetricsNamespace != "" && !namespaceRE.MatchString(c.MetricsNamespace):
		return fmt.Errorf("cassandra: metrics namespace %q: want letters, digits and _, not starting with a digit", c.MetricsNamespace)
	case c.MaxInFlight < 1:
		return fmt.Errorf("cassandra: max in-flight %d < 1", c.MaxInFlight)
	case c.MaxInFlight > LimitMaxInFlight:
		return fmt.Errorf("cassandra: max in-flight %d > %d", c.MaxInFlight, LimitMaxInFlight)
	case c.BatchRows < 1:
		return fmt.Errorf("cassandra: batch rows %d < 1", c.BatchRows)
	case c.BatchRows > LimitBatchRows:
		return fmt.Errorf("cassandra: batch rows %d > %d", c.BatchRows, LimitBatchRows)
	case c.MaxBufferedRows < 1:
		return fmt.Errorf("cassandra: max buffered rows %d < 1", c.MaxBufferedRows)
	case c.MaxBufferedRows > LimitMaxBufferedRows:
		return fmt.Errorf("cassandra: max buffered rows %d > %d", c.MaxBufferedRows, LimitMaxBufferedRows)
	case c.Linger <= 0:
		return fmt.Errorf("cassandra: linger %v must be positive", c.Linger)
	case c.Timeout <= 0 || c.ConnectTimeout <= 0:
		return errors.New("cassandra: timeouts must be positive")
	case c.RetryBudget < 0 || c.RetryInitial <= 0 || c.RetryMax < c.RetryInitial:
		return errors.New("cassandra: retry settings need 0 < initial <= max and budget >= 0")
	case c.Username == "" && c.Password != "":
		return errors.New("cassandra: a password is set but no username")
	case (c.TLS.CertFile == "") != (c.TLS.KeyFile == ""):
		return errors.New("cassandra: TLS client certificate and key must be given together")
	}
	for _, h := range c.Hosts {
		if strings.TrimSpace(h) == "" {
			return errors.New("cassandra: empty host name")
		}
	}
	if c.CreateSchema {
		if _, err := ParseReplication(c.Replication); err != nil {
			return err
		}
	}
	return nil
}

// String describes the configuration without the password.
func (c Config) String() string {
	pw := ""
	if c.Password != "" {
		pw = " password=<redacted>"
	}
	return fmt.Sprintf("hosts=%s port=%d keyspace=%s table=%s user=%q%s consistency=%s tls=%t",
		strings.Join(c.Hosts, ","), c.Port, c.Keyspace, c.Table, c.Username, pw, c.Consistency, c.TLS.Enabled())
}

// ParseConsistency parses a consistency level name such as LOCAL_QUORUM or one.
func ParseConsistency(s string) (gocql.Consistency, error) {
	c, err := gocql.ParseConsistencyWrapper(strings.ToUpper(strings.TrimSpace(s)))
	if err != nil {
		return 0, fmt.Errorf("cassandra: consistency %q: want ANY, ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM or LOCAL_ONE", s)
	}
	return c, nil
}

// ParseReplication turns "3" into a SimpleStrategy and "dc1:3,dc2:2" into a
// NetworkTopologyStrategy replication map, rendered as CQL.
func ParseReplication(s string) (string, error) {
	s = strings.TrimSpace(s)
	bad := func(why string) error {
		return fmt.Errorf("cassandra: replication %q: %s (want a factor like 1, or dc1:3,dc2:3)", s, why)
	}
	if s == "" {
		return "", bad("empty")
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 99 {
			return "", bad("factor out of range")
		}
		return fmt.Sprintf("{'class': 'SimpleStrategy', 'replication_factor': %d}", n), nil
	}
	dcs := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		name, f, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !identRE.MatchString(strings.ReplaceAll(name, "-", "_")) {
			return "", bad(fmt.Sprintf("%q is not dc:factor", part))
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 99 {
			return "", bad(fmt.Sprintf("factor of %q", name))
		}
		if _, dup := dcs[name]; dup {
			return "", bad(fmt.Sprintf("datacenter %q twice", name))
		}
		dcs[name] = n
	}
	names := make([]string, 0, len(dcs))
	for n := range dcs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("{'class': 'NetworkTopologyStrategy'")
	for _, n := range names {
		fmt.Fprintf(&b, ", '%s': %d", n, dcs[n])
	}
	b.WriteString("}")
	return b.String(), nil
}
