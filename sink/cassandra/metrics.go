package cassandra

import (
	"context"
	"errors"
	"net"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"
)

// Error kinds of <namespace>_cassandra_errors_total{kind}.
const (
	ErrKindTimeout      = "timeout"       // no answer in time (client or coordinator write timeout)
	ErrKindUnavailable  = "unavailable"   // not enough replicas alive for the consistency level
	ErrKindOverloaded   = "overloaded"    // the coordinator is overloaded or bootstrapping
	ErrKindWriteFailure = "write_failure" // replicas answered with a failure
	ErrKindConnection   = "connection"    // no host, connection closed, network error
	ErrKindRejected     = "rejected"      // syntax, invalid, unauthorized, credentials, config: never retried
	ErrKindOther        = "other"
)

var errKinds = []string{ErrKindTimeout, ErrKindUnavailable, ErrKindOverloaded, ErrKindWriteFailure, ErrKindConnection, ErrKindRejected, ErrKindOther}

// errKind classifies a failed write attempt.
func errKind(err error) string {
	var re gocql.RequestError
	if errors.As(err, &re) {
		switch re.Code() {
		case gocql.ErrCodeWriteTimeout, gocql.ErrCodeReadTimeout:
			return ErrKindTimeout
		case gocql.ErrCodeUnavailable:
			return ErrKindUnavailable
		case gocql.ErrCodeOverloaded, gocql.ErrCodeBootstrapping:
			return ErrKindOverloaded
		case gocql.ErrCodeWriteFailure, gocql.ErrCodeCDCWriteFailure:
			return ErrKindWriteFailure
		}
		if permanent(err) {
			return ErrKindRejected
		}
		return ErrKindOther
	}
	var ne net.Error
	switch {
	case errors.Is(err, gocql.ErrTimeoutNoResponse), errors.Is(err, context.DeadlineExceeded):
		return ErrKindTimeout
	case errors.As(err, &ne) && ne.Timeout():
		return ErrKindTimeout
	case errors.Is(err, gocql.ErrNoConnections), errors.Is(err, gocql.ErrConnectionClosed),
		errors.Is(err, gocql.ErrNoStreams), errors.As(err, &ne):
		return ErrKindConnection
	}
	return ErrKindOther
}

// sinkMetrics are the sink's Prometheus metrics; see Sink.Describe.
type sinkMetrics struct {
	duration prometheus.Histogram
	rows     prometheus.Histogram
	inFlight prometheus.Gauge
	errors   *prometheus.CounterVec

	rowsDesc, requestsDesc, retriesDesc, failedDesc *prometheus.Desc
}

// newSinkMetrics makes the metrics, named <ns>_cassandra_... (or
// cassandra_... if ns is empty).
func newSinkMetrics(ns string) *sinkMetrics {
	name := func(n string) string { return prometheus.BuildFQName(ns, "cassandra", n) }
	m := &sinkMetrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    name("request_duration_seconds"),
			Help:    "Time to get a write request (one statement or one unlogged batch) acknowledged, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		rows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    name("request_rows"),
			Help:    "Rows per acknowledged write request (batch size).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: name("requests_in_flight"),
			Help: "Write requests being sent or retried.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: name("errors_total"),
			Help: "Failed write attempts by kind (each retry counts).",
		}, []string{"kind"}),
		rowsDesc:     prometheus.NewDesc(name("rows_written_total"), "Rows acknowledged by Cassandra.", nil, nil),
		requestsDesc: prometheus.NewDesc(name("requests_total"), "Write requests completed, acknowledged or failed.", nil, nil),
		retriesDesc:  prometheus.NewDesc(name("retries_total"), "Write attempts that were retries.", nil, nil),
		failedDesc:   prometheus.NewDesc(name("failed_requests_total"), "Write requests that failed for good (the sink then fails).", nil, nil),
	}
	for _, k := range errKinds {
		m.errors.WithLabelValues(k)
	}
	return m
}

// Describe implements prometheus.Collector: register a Sink on a registry
// to export <namespace>_cassandra_* metrics (Config.MetricsNamespace,
// topspeed_cassandra_* by default: request duration and rows
// histograms, requests in flight, rows, requests, retries, failed requests,
// and errors by kind). One Sink per registry; wrap the registry
// (prometheus.WrapRegistererWith) to export several.
func (s *Sink[T, K]) Describe(ch chan<- *prometheus.Desc) {
	m := s.met
	ch <- m.rowsDesc
	ch <- m.requestsDesc
	ch <- m.retriesDesc
	ch <- m.failedDesc
	m.duration.Describe(ch)
	m.rows.Describe(ch)
	m.inFlight.Describe(ch)
	m.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (s *Sink[T, K]) Collect(ch chan<- prometheus.Metric) {
	m := s.met
	ch <- prometheus.MustNewConstMetric(m.rowsDesc, prometheus.CounterValue, float64(s.rows.Load()))
	ch <- prometheus.MustNewConstMetric(m.requestsDesc, prometheus.CounterValue, float64(s.requests.Load()))
	ch <- prometheus.MustNewConstMetric(m.retriesDesc, prometheus.CounterValue, float64(s.retries.Load()))
	ch <- prometheus.MustNewConstMetric(m.failedDesc, prometheus.CounterValue, float64(s.failures.Load()))
	m.duration.Collect(ch)
	m.rows.Collect(ch)
	m.inFlight.Collect(ch)
	m.errors.Collect(ch)
}
