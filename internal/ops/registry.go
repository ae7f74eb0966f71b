package ops

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// BuildInfo identifies the running binary.
type BuildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	GoVersion string `json:"go_version"`
}

// ReadBuildInfo completes version and revision (typically set with
// -ldflags -X; empty if not) from the binary's embedded build information:
// the main module's version and the VCS revision, "unknown" if neither is
// known.
func ReadBuildInfo(version, revision string) BuildInfo {
	b := BuildInfo{Version: version, Revision: revision, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Revision == "":
				b.Revision = s.Value
			case s.Key == "vcs.modified" && s.Value == "true" && b.Revision != "" && revision == "":
				b.Revision += "-dirty"
			}
		}
	}
	if b.Version == "" {
		b.Version = "unknown"
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

// DefaultNamespace prefixes the names of the metrics this package makes
// unless WithNamespace says otherwise; it is the engine's default too
// (engine.DefaultMetricsNamespace).
const DefaultNamespace = "topspeed"

// Option changes what NewRegistry, NewRecorder and NewServer export.
type Option func(*options)

type options struct{ ns string }

func newOptions(opts []Option) options {
	o := options{ns: DefaultNamespace}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithNamespace sets the prefix of the metric names: ns + "_" + name, or
// the bare name if ns is empty (for example topspeed_build_info or
// build_info). Use the same namespace as the pipeline
// (engine.WithMetricsNamespace) and the Cassandra sink
// (cassandra.Config.MetricsNamespace).
func WithNamespace(ns string) Option { return func(o *options) { o.ns = ns } }

// NewRegistry returns a new registry with the Go runtime and process
// collectors and <namespace>_build_info.
func NewRegistry(b BuildInfo, opts ...Option) *prometheus.Registry {
	o := newOptions(opts)
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace:   o.ns,
			Name:        "build_info",
			Help:        "Always 1; the labels identify the running binary.",
			ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
		}, func() float64 { return 1 }),
	)
	return reg
}
