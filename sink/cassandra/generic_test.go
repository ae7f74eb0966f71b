package cassandra_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/topspeed/topspeed/internal/testenv"
	"github.com/topspeed/topspeed/sink/cassandra"
)

// The sink knows no table of its own: keyspace and table come from the
// Config or else the Mapping, and CreateSchema needs the Mapping's Schema.
func TestTableComesFromTheJob(t *testing.T) {
	c := cassandra.DefaultConfig()
	c.Hosts = []string{"127.0.0.1"}
	if c.Keyspace != "" || c.Table != "" {
		t.Fatalf("DefaultConfig names a table: %s.%s", c.Keyspace, c.Table)
	}
	bare := mapping
	bare.Keyspace, bare.Table = "", ""
	if _, err := cassandra.New(c, bare, nil); err == nil || !strings.Contains(err.Error(), "no keyspace or table") {
		t.Fatalf("New without a table: %v", err)
	}
	s, err := cassandra.New(c, mapping, nil)
	if err != nil || s.Config().Keyspace != "topspeed_it" || s.Config().Table != "rows" {
		t.Fatalf("mapping defaults not used: %v", err)
	}
	c.CreateSchema = true
	bare = mapping
	bare.Schema = nil
	if _, err := cassandra.New(c, bare, nil); err == nil || !strings.Contains(err.Error(), "no Schema") {
		t.Fatalf("CreateSchema without a Schema: %v", err)
	}
}

func TestMetricsNamespace(t *testing.T) {
	for ns, want := range map[string]string{"wc": "wc_cassandra_rows_written_total", "": "cassandra_rows_written_total",
		cassandra.DefaultMetricsNamespace: "topspeed_cassandra_rows_written_total"} {
		c := cassandra.DefaultConfig()
		c.Hosts, c.MetricsNamespace = []string{"127.0.0.1"}, ns
		s, err := cassandra.New(c, mapping, nil)
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(s)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, mf := range mfs {
			found = found || mf.GetName() == want
			if ns != "" && !strings.HasPrefix(mf.GetName(), ns+"_cassandra_") || ns == "" && !strings.HasPrefix(mf.GetName(), "cassandra_") {
				t.Errorf("namespace %q: metric %s", ns, mf.GetName())
			}
		}
		if !found {
			t.Errorf("namespace %q: no %s", ns, want)
		}
	}
	c := cassandra.DefaultConfig()
	c.Hosts, c.MetricsNamespace = []string{"127.0.0.1"}, "9lives"
	if _, err := cassandra.New(c, mapping, nil); err == nil || !strings.Contains(err.Error(), `metrics namespace "9lives"`) {
		t.Fatalf("bad namespace: %v", err)
	}
}

// CloseContext ends an open sink within its context and closes the
// session; a second call does nothing.
func TestCloseContext(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	c := config(t, srv)
	s, err := cassandra.New(c, mapping, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	writeAll(t, s, genRows(500, 10), 100)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.CloseContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseContext(ctx); err != nil {
		t.Fatalf("second CloseContext: %v", err)
	}
	if got := len(readTable(t, c)); got != 500 {
		t.Fatalf("%d rows after close, want 500", got)
	}
}
