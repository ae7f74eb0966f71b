package cassandra

import (
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

func TestParseReplication(t *testing.T) {
	cases := []struct {
		in, want, err string
	}{
		{"1", "{'class': 'SimpleStrategy', 'replication_factor': 1}", ""},
		{" 3 ", "{'class': 'SimpleStrategy', 'replication_factor': 3}", ""},
		{"dc2:2,dc1:3", "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}", ""},
		{"0", "", "out of range"},
		{"dc1", "", "not dc:factor"},
		{"dc1:x", "", "factor"},
		{"dc1:1,dc1:2", "", "twice"},
		{"d'c:1", "", "not dc:factor"},
		{"", "", "empty"},
	}
	for _, c := range cases {
		got, err := ParseReplication(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want one containing %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestParseConsistency(t *testing.T) {
	if c, err := ParseConsistency("local_quorum"); err != nil || c != gocql.LocalQuorum {
		t.Fatalf("got %v %v", c, err)
	}
	if _, err := ParseConsistency("most"); err == nil {
		t.Fatal("accepted an unknown level")
	}
}

func TestValidateAndRedaction(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err == nil {
		t.Fatal("no hosts accepted")
	}
	c.Hosts = []string{"127.0.0.1"}
	c.Username, c.Password = "demo", "s3cr3t-value"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if s := c.String(); strings.Contains(s, "s3cr3t") || !strings.Contains(s, "<redacted>") {
		t.Fatalf("String leaks or hides the password wrongly: %s", s)
	}
	bad := []func(*Config){
		func(c *Config) { c.Keyspace = "ex;drop" },
		func(c *Config) { c.MaxInFlight = 0 },
		func(c *Config) { c.BatchRows = 0 },
		func(c *Config) { c.Username = "" },
		func(c *Config) { c.TLS.CertFile = "x" },
		func(c *Config) { c.RetryMax = time.Millisecond },
		func(c *Config) { c.CreateSchema, c.Replication = true, "dc1" },
	}
	for i, f := range bad {
		cc := c
		f(&cc)
		if err := cc.Validate(); err == nil {
			t.Errorf("case %d: invalid config accepted", i)
		}
	}
}

func TestLatencyQuantiles(t *testing.T) {
	var h latencyHist
	for i := 1; i <= 100; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	p50, p99, mx := h.quantiles()
	within := func(got, want time.Duration) bool { return got >= want && float64(got) <= float64(want)*1.05 }
	if !within(p50, 50*time.Millisecond) || !within(p99, 99*time.Millisecond) || mx != 100*time.Millisecond {
		t.Fatalf("p50 %v p99 %v max %v", p50, p99, mx)
	}
}
