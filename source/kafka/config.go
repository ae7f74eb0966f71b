// Package kafka reads a Kafka topic as a member of a consumer group, one
// engine source per owned partition, for Kafka-group scale-out (as in Kafka
// Streams or goka): every replica runs one Member; the group protocol
// (cooperative-sticky) spreads the topic's partitions over the replicas;
// each partition a member owns is an independent task with its own
// pipeline, checkpoints and restore.
//
// Lifecycle: NewMember, then Run (in its own goroutine) until its context
// is cancelled or Close is called. While Run runs, the group calls the
// Handler: Assigned for partitions the member gains (it returns the
// checkpointed offset of each, where fetching starts), Revoked for those
// it gives up or loses. For each owned partition, Member.Partition gives
// its record queue, and NewSource wraps that queue into an
// engine.StatefulSource whose state is the next offset to read.
//
// Offsets: where a partition starts is decided by the Handler (from the
// checkpoint) or by Config.StartOffset, never by the group's committed
// offsets. Member.Commit writes offsets to the group after a completed
// checkpoint only so that Kafka's tools (and lag metrics) see progress.
//
// Fencing: every assignment carries the group generation it was made in
// (Partition.Generation); a later owner of the same partition has a larger
// one. Member.Commit is refused, by the member and by the broker, for a
// generation that is no longer current.
package kafka

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/topspeed/topspeed/internal/kafkaconn"
)

// StartOffset says where a partition without a checkpoint starts.
type StartOffset uint8

const (
	// Earliest starts at the oldest record still in the partition.
	Earliest StartOffset = iota
	// Latest starts after the last record in the partition when it is
	// assigned.
	Latest
)

// String returns "earliest" or "latest".
func (o StartOffset) String() string {
	switch o {
	case Earliest:
		return "earliest"
	case Latest:
		return "latest"
	}
	return fmt.Sprintf("StartOffset(%d)", uint8(o))
}

// ParseStartOffset parses "earliest" or "latest".
func ParseStartOffset(s string) (StartOffset, error) {
	switch s {
	case "earliest":
		return Earliest, nil
	case "latest":
		return Latest, nil
	}
	return 0, fmt.Errorf("--kafka-start-offset %q: want earliest or latest", s)
}

// Set implements pflag.Value.
func (o *StartOffset) Set(s string) error {
	v, err := ParseStartOffset(s)
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// Type implements pflag.Value.
func (o *StartOffset) Type() string { return "earliest|latest" }

// Bounds of Config's settings.
const (
	MinSessionTimeout = time.Second
	MaxSessionTimeout = 30 * time.Minute
	MaxQueueRecords   = 1 << 20
	MaxIdleTimeout    = 24 * time.Hour
	maxNameLen        = 249
)

// Config configures a Member.
type Config struct {
	// Conn says how to reach the cluster.
	Conn kafkaconn.Conn
	// Topic is the topic to read; Group the consumer group (every
	// replica of one job uses the same).
	Topic, Group string
	// StartOffset is where partitions without a checkpoint start.
	StartOffset StartOffset
	// SessionTimeout: a member that sends no heartbeat for this long
	// loses its partitions (Kafka's session.timeout.ms; the broker
	// accepts group.min.session.timeout.ms to ...max..., 6 s to 30 min by
	// default). RebalanceTimeout: how long members may take to give up
	// partitions in a rebalance (Kafka's rebalance.timeout.ms); a member
	// whose Handler.Revoked takes longer is removed from the group.
	SessionTimeout, RebalanceTimeout time.Duration
	// QueueRecords bounds each partition's record queue (see Partition).
	QueueRecords int
	// IdleTimeout: a partition with no record for this long is idle
	// (Source.Idle), as Flink's withIdleness; 0 never.
	IdleTimeout time.Duration
	// Logger receives the member's events (assignments, revocations,
	// errors); nil: none.
	Logger *zap.Logger
}

// DefaultConfig returns a Config with the default timeouts and bounds; Conn,
// Topic and Group are still to be set.
func DefaultConfig() Config {
	return Config{
		StartOffset:      Earliest,
		SessionTimeout:   10 * time.Second,
		RebalanceTimeout: 60 * time.Second,
		QueueRecords:     10000,
		IdleTimeout:      10 * time.Second,
	}
}

// RegisterFlags registers --kafka-topic, --kafka-group,
// --kafka-start-offset, --kafka-session-timeout, --kafka-rebalance-timeout,
// --kafka-queue-records and --kafka-idle-timeout on fs, bound to c's
// fields with their current values as defaults. It does not register the
// connection flags: call c.Conn.RegisterFlags once per flag set (the sink
// shares them).
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Topic, "kafka-topic", c.Topic, "Kafka topic to read the cars' reports from (value: the Flink line (carId,speed,distance,timestamp))")
	fs.StringVar(&c.Group, "kafka-group", c.Group,
		"Kafka consumer group: replicas with the same group share the topic's partitions (cooperative-sticky); offsets committed there only show lag, restores use the checkpoints")
	fs.Var(&c.StartOffset, "kafka-start-offset", "where a partition without a checkpoint starts: earliest or latest")
	fs.DurationVar(&c.SessionTimeout, "kafka-session-timeout", c.SessionTimeout,
		"a replica silent for this long (crashed, paused) loses its partitions to the others; within the broker's group.min/max.session.timeout.ms")
	fs.DurationVar(&c.RebalanceTimeout, "kafka-rebalance-timeout", c.RebalanceTimeout,
		"how long a replica may take to stop a moving partition's task in a rebalance before the group drops it")
	fs.IntVar(&c.QueueRecords, "kafka-queue-records", c.QueueRecords,
		fmt.Sprintf("records buffered per partition before its fetching pauses, in [1, %d]", MaxQueueRecords))
	fs.DurationVar(&c.IdleTimeout, "kafka-idle-timeout", c.IdleTimeout,
		"a partition without records for this long is idle and does not hold the watermark back (Flink's withIdleness); 0: never idle")
}

// Validate checks the configuration; errors name the flag.
func (c Config) Validate() error {
	if err := c.Conn.Validate(); err != nil {
		return err
	}
	if err := validateTopic(c.Topic); err != nil {
		return err
	}
	if c.Group == "" {
		return errors.New("--kafka-group: no consumer group given")
	}
	if len(c.Group) > maxNameLen {
		return fmt.Errorf("--kafka-group: %d bytes, more than %d", len(c.Group), maxNameLen)
	}
	for _, r := range c.Group {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("--kafka-group %q: only printable characters", c.Group)
		}
	}
	if c.StartOffset != Earliest && c.StartOffset != Latest {
		return fmt.Errorf("--kafka-start-offset: %v is neither earliest nor latest", c.StartOffset)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--kafka-session-timeout", c.SessionTimeout}, {"--kafka-rebalance-timeout", c.RebalanceTimeout}} {
		if d.v < MinSessionTimeout || d.v > MaxSessionTimeout {
			return fmt.Errorf("%s %v: want %v to %v", d.flag, d.v, MinSessionTimeout, MaxSessionTimeout)
		}
	}
	if c.QueueRecords < 1 || c.QueueRecords > MaxQueueRecords {
		return fmt.Errorf("--kafka-queue-records %d: want 1 to %d", c.QueueRecords, MaxQueueRecords)
	}
	if c.IdleTimeout < 0 || c.IdleTimeout > MaxIdleTimeout {
		return fmt.Errorf("--kafka-idle-timeout %v: want 0 (never idle) to %v", c.IdleTimeout, MaxIdleTimeout)
	}
	return nil
}

// validateTopic applies Kafka's rules for topic names.
func validateTopic(t string) error {
	switch {
	case t == "":
		return errors.New("--kafka-topic: no topic given")
	case len(t) > maxNameLen:
		return fmt.Errorf("--kafka-topic: %d bytes, more than %d", len(t), maxNameLen)
	case t == "." || t == "..":
		return fmt.Errorf("--kafka-topic %q: not a valid topic name", t)
	}
	if i := strings.IndexFunc(t, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}); i >= 0 {
		return fmt.Errorf("--kafka-topic %q: character %q not allowed (letters, digits, '.', '_', '-')", t, t[i])
	}
	return nil
}
