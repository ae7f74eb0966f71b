package cassandra_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/topspeed/topspeed/internal/testenv"
	"github.com/topspeed/topspeed/sink/cassandra"
)

func TestMetricsCollector(t *testing.T) {
	c := cassandra.DefaultConfig()
	c.Hosts = []string{"127.0.0.1"}
	s, err := cassandra.New(c, mapping, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	n, err := testutil.GatherAndCount(reg)
	if err != nil {
		t.Fatal(err)
	}
	// 4 counters, 2 histograms, 1 gauge, 7 error kinds.
	if n != 14 {
		t.Fatalf("%d series, want 14", n)
	}
	want := `
# HELP topspeed_cassandra_errors_total Failed write attempts by kind (each retry counts).
# TYPE topspeed_cassandra_errors_total counter
topspeed_cassandra_errors_total{kind="connection"} 0
topspeed_cassandra_errors_total{kind="other"} 0
topspeed_cassandra_errors_total{kind="overloaded"} 0
topspeed_cassandra_errors_total{kind="rejected"} 0
topspeed_cassandra_errors_total{kind="timeout"} 0
topspeed_cassandra_errors_total{kind="unavailable"} 0
topspeed_cassandra_errors_total{kind="write_failure"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "topspeed_cassandra_errors_total"); err != nil {
		t.Fatal(err)
	}
}

// TestMetricsAgainstServer writes to the real server and checks the
// counters and histograms agree with Stats.
func TestMetricsAgainstServer(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	c := config(t, srv)
	c.BatchRows = 10
	rows := genRows(2000, 16)
	s := open(t, c)
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	writeAll(t, s, rows, 250)
	st := s.Stats()
	if got := testutil.ToFloat64(collectorOf(t, reg, "topspeed_cassandra_rows_written_total")); got != float64(len(rows)) || st.Rows != int64(len(rows)) {
		t.Fatalf("rows_written_total %v, Stats.Rows %d, want %d", got, st.Rows, len(rows))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		switch mf.GetName() {
		case "topspeed_cassandra_requests_total":
			if int64(m.GetCounter().GetValue()) != st.Requests || st.Requests < int64(len(rows)/c.BatchRows) {
				t.Errorf("requests_total %v, Stats.Requests %d", m.GetCounter().GetValue(), st.Requests)
			}
		case "topspeed_cassandra_request_rows":
			if h := m.GetHistogram(); h.GetSampleSum() != float64(len(rows)) || int64(h.GetSampleCount()) != st.Requests {
				t.Errorf("request_rows sum %v count %v", h.GetSampleSum(), h.GetSampleCount())
			}
		case "topspeed_cassandra_request_duration_seconds":
			if h := m.GetHistogram(); int64(h.GetSampleCount()) != st.Requests || h.GetSampleSum() <= 0 {
				t.Errorf("request_duration count %v sum %v", h.GetSampleCount(), h.GetSampleSum())
			}
		case "topspeed_cassandra_requests_in_flight":
			if v := m.GetGauge().GetValue(); v != 0 {
				t.Errorf("in flight after Flush: %v", v)
			}
		}
	}
}

// collectorOf returns a collector exposing only the named metric of reg.
func collectorOf(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			v := mf.GetMetric()[0].GetCounter().GetValue()
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: "copy"}, func() float64 { return v })
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}
