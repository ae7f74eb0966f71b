package kafka

import (
	"strings"
	"testing"
	"time"

	"github.com/topspeed/topspeed/internal/kafkaconn"
)

func validConfig() Config {
	c := DefaultConfig()
	c.Conn = kafkaconn.Conn{Brokers: []string{"127.0.0.1:9092"}}
	c.Topic = "results"
	return c
}

func TestConfigValidate(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no brokers", func(c *Config) { c.Conn.Brokers = nil }, "--kafka-brokers"},
		{"no topic", func(c *Config) { c.Topic = "" }, "no topic"},
		{"bad topic", func(c *Config) { c.Topic = "a/b" }, "only letters"},
		{"dot topic", func(c *Config) { c.Topic = ".." }, "not a valid name"},
		{"long topic", func(c *Config) { c.Topic = strings.Repeat("t", 250) }, "more than 249"},
		{"guarantee", func(c *Config) { c.Guarantee = 7 }, "guarantee"},
		{"linger", func(c *Config) { c.Linger = -time.Millisecond }, "linger"},
		{"linger max", func(c *Config) { c.Linger = MaxLinger + 1 }, "linger"},
		{"buffered 0", func(c *Config) { c.MaxBufferedRecords = 0 }, "max buffered records"},
		{"buffered max", func(c *Config) { c.MaxBufferedRecords = MaxBufferedRecordsLimit + 1 }, "max buffered records"},
		{"delivery", func(c *Config) { c.DeliveryTimeout = -1 }, "delivery timeout"},
		{"eo no id", func(c *Config) { c.Guarantee = ExactlyOnce }, "transactional id"},
		{"eo id space", func(c *Config) { c.Guarantee, c.TransactionalID = ExactlyOnce, "a b" }, "printable"},
		{"eo timeout", func(c *Config) {
			c.Guarantee, c.TransactionalID, c.TransactionTimeout = ExactlyOnce, "job", 10*time.Millisecond
		}, "transaction timeout"},
	}
	for _, tc := range cases {
		c := validConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
		if _, nerr := New(c, nil, appendValue); nerr == nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}
	c := validConfig()
	c.Guarantee, c.TransactionalID = ExactlyOnce, "job-1"
	if err := c.Validate(); err != nil {
		t.Fatalf("exactly-once config: %v", err)
	}
	if _, err := New[int](validConfig(), nil, nil); err == nil {
		t.Fatal("New accepted a nil value function")
	}
}

func TestParseGuarantee(t *testing.T) {
	for _, g := range []Guarantee{AtLeastOnce, ExactlyOnce} {
		got, err := ParseGuarantee(g.String())
		if err != nil || got != g {
			t.Fatalf("ParseGuarantee(%q) = %v, %v", g.String(), got, err)
		}
	}
	if _, err := ParseGuarantee("once"); err == nil {
		t.Fatal("accepted once")
	}
}

func TestStateRoundTripAndCorruption(t *testing.T) {
	in := []pendingTxn{
		{checkpoint: 3, txnID: "job-0", producerID: 1000, epoch: 4, slot: -1},
		{checkpoint: 1 << 40, txnID: "job-7", producerID: 0, epoch: 32767, slot: -1},
	}
	b := encodeState(in)
	out, err := decodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("got %d transactions", len(out))
	}
	for i := range in {
		if out[i] != in[i] {
			t.Fatalf("transaction %d: got %+v, want %+v", i, out[i], in[i])
		}
	}
	// Every truncation and a trailing byte are errors, never a panic.
	for n := 0; n < len(b); n++ {
		if _, err := decodeState(b[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", n)
		}
	}
	if _, err := decodeState(append(append([]byte{}, b...), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if _, err := decodeState([]byte{stateVersion, 0xff, 0xff, 0xff, 0xff, 0x0f}); err == nil {
		t.Fatal("huge count accepted")
	}
	if empty, err := decodeState(encodeState(nil)); err != nil || len(empty) != 0 {
		t.Fatalf("empty state: %v, %v", empty, err)
	}
}
