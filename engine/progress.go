package engine

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Progress is a sample of a pipeline's progress; see Pipeline.Progress.
type Progress struct {
	// Read is the number of records all sources have read since Run
	// started.
	Read int64
	// Watermark is the minimum over the sources of the last watermark each
	// emitted (Unix milliseconds), or MinWatermark if a source has emitted
	// none yet (or there is no source, or Run was not called).
	Watermark int64
	// Sinks are the sink stages, in the order they were added with ToSink.
	Sinks []SinkProgress
}

// SinkProgress is one sink stage's part of a Progress.
type SinkProgress struct {
	// Name is the stage name given to ToSink.
	Name string
	// Written is the number of records the sink acknowledged since Run
	// started: Write returned, or, for an AckingSink, the sink reported
	// them acknowledged.
	Written int64
	// LatencyCount and LatencySum are the cumulative number and sum of the
	// sink's end-to-end latency observations (one per acknowledged batch
	// with a known ingest time; see topspeed_end_to_end_latency_seconds).
	// The mean over an interval is the difference of the sums divided by
	// the difference of the counts.
	LatencyCount int64
	LatencySum   time.Duration
	// LatencyMax is the largest observation since the previous call of
	// Progress, which resets it: with several callers, each sees the
	// maximum since any caller's last call.
	LatencyMax time.Duration
}

// Progress returns the pipeline's progress: records read, the sources'
// watermark, and per sink the records acknowledged and end-to-end latency.
// It works with and without WithMetrics (the counts cost a few atomic
// additions per batch) and may be called from any goroutine, during and
// after Run; before Run it returns no sinks and MinWatermark.
func (p *Pipeline) Progress() Progress {
	p.mu.Lock()
	srcs, sinks := p.progSources, p.progSinks
	p.mu.Unlock()
	pr := Progress{Watermark: MinWatermark}
	for i, s := range srcs {
		pr.Read += s.read.Load()
		if wm := s.wm.Load(); i == 0 || wm < pr.Watermark {
			pr.Watermark = wm
		}
	}
	if len(sinks) > 0 {
		pr.Sinks = make([]SinkProgress, len(sinks))
	}
	for i, s := range sinks {
		pr.Sinks[i] = SinkProgress{
			Name:         s.name,
			Written:      s.written.Load(),
			LatencyCount: s.latCount.Load(),
			LatencySum:   time.Duration(s.latSum.Load()),
			LatencyMax:   time.Duration(s.latMax.Swap(0)),
		}
	}
	return pr
}

// sourceProgress are a source stage's counts for Progress, written by the
// source's goroutine.
type sourceProgress struct {
	read atomic.Int64
	wm   atomic.Int64 // last watermark emitted, MinWatermark before any
}

// sinkProgress are a sink stage's counts for Progress. acked is called on
// the sink's goroutine for a synchronous sink, from any goroutine for an
// AckingSink.
type sinkProgress struct {
	name                              string
	written, latCount, latSum, latMax atomic.Int64
	// e2e is topspeed_end_to_end_latency_seconds for this stage, nil
	// without metrics; set before the first Write.
	e2e prometheus.Observer
}

// acked records that n records of a batch stamped ingest (0: unknown) were
// acknowledged, and observes the batch's end-to-end latency. It is the
// AckFunc given to an AckingSink.
func (s *sinkProgress) acked(ingest int64, n int) {
	s.written.Add(int64(n))
	if ingest == 0 {
		return
	}
	d := max(ingestNow()-ingest, 0)
	s.latCount.Add(1)
	s.latSum.Add(d)
	for {
		m := s.latMax.Load()
		if d <= m || s.latMax.CompareAndSwap(m, d) {
			break
		}
	}
	if s.e2e != nil {
		s.e2e.Observe(float64(d) / 1e9)
	}
}
