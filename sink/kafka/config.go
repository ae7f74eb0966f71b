package kafka

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"go.uber.org/zap"

	"github.com/topspeed/topspeed/internal/kafkaconn"
)

// Guarantee is the delivery guarantee of a Sink.
type Guarantee int

const (
	// AtLeastOnce writes with the idempotent producer and flushes at every
	// checkpoint: every record before a completed checkpoint is in the
	// topic, and a restore from that checkpoint writes the records after
	// it again (duplicates, never losses). Records become visible to
	// consumers as soon as the brokers acknowledge them.
	AtLeastOnce Guarantee = iota
	// ExactlyOnce writes each checkpoint interval's records in one Kafka
	// transaction, committed once the checkpoint is durable (two-phase
	// commit, like Flink's KafkaSink with DeliveryGuarantee.EXACTLY_ONCE).
	// Consumers reading with isolation.level=read_committed see every
	// record exactly once; records become visible at checkpoint commits.
	ExactlyOnce
)

// String returns "at-least-once" or "exactly-once".
func (g Guarantee) String() string {
	switch g {
	case AtLeastOnce:
		return "at-least-once"
	case ExactlyOnce:
		return "exactly-once"
	}
	return fmt.Sprintf("Guarantee(%d)", int(g))
}

// ParseGuarantee parses "at-least-once" or "exactly-once".
func ParseGuarantee(s string) (Guarantee, error) {
	switch s {
	case "at-least-once":
		return AtLeastOnce, nil
	case "exactly-once":
		return ExactlyOnce, nil
	}
	return 0, fmt.Errorf("kafka sink: guarantee %q: want at-least-once or exactly-once", s)
}

// Bounds of the settings.
const (
	// MaxLinger bounds Config.Linger.
	MaxLinger = 10 * time.Second
	// MaxBufferedRecordsLimit bounds Config.MaxBufferedRecords.
	MaxBufferedRecordsLimit = 10_000_000
	// MinTransactionTimeout and MaxTransactionTimeout bound
	// Config.TransactionTimeout; brokers refuse a timeout above their
	// transaction.max.timeout.ms (15 minutes by default).
	MinTransactionTimeout = time.Second
	MaxTransactionTimeout = time.Hour
	// MaxDeliveryTimeout bounds Config.DeliveryTimeout.
	MaxDeliveryTimeout = time.Hour
	// maxTopic is Kafka's limit on a topic name's length.
	maxTopic = 249
	// maxTransactionalID leaves room for the pool suffix ("-7").
	maxTransactionalID = 200
)

// TransactionPool is the number of transactional producers an ExactlyOnce
// sink uses, with transactional ids TransactionalID-0 to
// TransactionalID-(TransactionPool-1): one holds the open transaction,
// the others the transactions pre-committed for checkpoints whose commit
// has not come yet. A checkpoint that would need more fails the sink.
const TransactionPool = 8

// Config configures a Sink.
type Config struct {
	// Conn says how to reach the brokers.
	Conn kafkaconn.Conn
	// Topic is the topic records are written to; it must exist.
	Topic string
	// Guarantee is AtLeastOnce or ExactlyOnce.
	Guarantee Guarantee
	// TransactionalID (ExactlyOnce only, required there) names the sink's
	// transactional producers: TransactionalID-0 to
	// TransactionalID-(TransactionPool-1). It must be unique among the
	// sinks writing to the cluster and the same across restarts of one
	// job, since a new run fences the producers of the previous one by it.
	TransactionalID string
	// TransactionTimeout (ExactlyOnce) is how long the broker keeps a
	// transaction open before aborting it. A pre-committed transaction
	// must be committed within it, also by a restore after a crash, or its
	// records are lost; it must not exceed the brokers'
	// transaction.max.timeout.ms. An open transaction of a process that
	// died holds read_committed consumers back for up to this long unless
	// the job is restarted first.
	TransactionTimeout time.Duration
	// Linger is how long the producer waits to fill a batch; 0 sends at once.
	Linger time.Duration
	// MaxBufferedRecords is how many records may wait for their
	// acknowledgement; Write blocks beyond it (backpressure).
	MaxBufferedRecords int
	// DeliveryTimeout fails the sink when a record is not acknowledged
	// within it (brokers unreachable); 0 retries without end.
	DeliveryTimeout time.Duration
	// Logger receives the sink's and franz-go's messages (info and up);
	// nil discards them.
	Logger *zap.Logger
}

// DefaultConfig returns the defaults: AtLeastOnce, 10 ms linger, 100,000
// buffered records, 2 minutes delivery timeout, 5 minutes transaction
// timeout. Conn, Topic (and TransactionalID for ExactlyOnce) must be set.
func DefaultConfig() Config {
	return Config{
		Guarantee:          AtLeastOnce,
		TransactionTimeout: 5 * time.Minute,
		Linger:             10 * time.Millisecond,
		MaxBufferedRecords: 100_000,
		DeliveryTimeout:    2 * time.Minute,
	}
}

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	if err := c.Conn.Validate(); err != nil {
		return err
	}
	if err := validateTopic(c.Topic); err != nil {
		return err
	}
	switch {
	case c.Guarantee != AtLeastOnce && c.Guarantee != ExactlyOnce:
		return fmt.Errorf("kafka sink: guarantee %v: want at-least-once or exactly-once", c.Guarantee)
	case c.Linger < 0 || c.Linger > MaxLinger:
		return fmt.Errorf("kafka sink: linger %v: must be in [0, %v]", c.Linger, MaxLinger)
	case c.MaxBufferedRecords < 1 || c.MaxBufferedRecords > MaxBufferedRecordsLimit:
		return fmt.Errorf("kafka sink: max buffered records %d: must be in [1, %d]", c.MaxBufferedRecords, MaxBufferedRecordsLimit)
	case c.DeliveryTimeout < 0 || c.DeliveryTimeout > MaxDeliveryTimeout:
		return fmt.Errorf("kafka sink: delivery timeout %v: must be in [0, %v]", c.DeliveryTimeout, MaxDeliveryTimeout)
	}
	if c.Guarantee != ExactlyOnce {
		return nil
	}
	if c.TransactionTimeout < MinTransactionTimeout || c.TransactionTimeout > MaxTransactionTimeout {
		return fmt.Errorf("kafka sink: transaction timeout %v: must be in [%v, %v]", c.TransactionTimeout, MinTransactionTimeout, MaxTransactionTimeout)
	}
	if c.TransactionalID == "" {
		return errors.New("kafka sink: exactly-once needs a transactional id")
	}
	return validateName("transactional id", c.TransactionalID, maxTransactionalID)
}

// validateTopic checks a topic name as Kafka does: 1 to 249 of
// [a-zA-Z0-9._-], not "." or "..".
func validateTopic(t string) error {
	if err := validateName("topic", t, maxTopic); err != nil {
		return err
	}
	if t == "." || t == ".." {
		return fmt.Errorf("kafka sink: topic %q is not a valid name", t)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("kafka sink: topic %q: only letters, digits, '.', '_' and '-'", t)
		}
	}
	return nil
}

// validateName checks a topic name or transactional id: not empty, at
// most max bytes, printable without spaces (topics further restrict this;
// the broker says so).
func validateName(what, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("kafka sink: no %s", what)
	case len(s) > max:
		return fmt.Errorf("kafka sink: %s %.40q...: %d bytes, more than %d", what, s, len(s), max)
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0:
		return fmt.Errorf("kafka sink: %s %q: only printable characters without spaces", what, s)
	}
	return nil
}
