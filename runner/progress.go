package runner

import (
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/engine"
)

// progress logs a one-line summary of a running job every interval (events
// in, results out, rows acknowledged by other sinks, event-time lag,
// end-to-end latency, last checkpoint), and a final summary when the job
// ends. It follows the build that runs now: with HA, each term's pipeline
// in turn.
//
// Results are what the sink named "output" wrote (without one: all
// sinks); rows are what the other sinks (a database, such as Cassandra)
// acknowledged. The counts come from engine.Pipeline.Progress, so they
// work with and without the ops server. Start it once; attach each build
// as it starts; call finish once at exit.
type progress struct {
	log      *zap.Logger
	interval time.Duration // 0: no periodic line
	start    time.Time

	cur atomic.Pointer[build]

	mu    sync.Mutex
	base  totals          // what earlier terms' pipelines counted (HA)
	prev  engine.Progress // of cur, at the previous line
	prevT time.Time
	ckpt  struct {
		id  uint64
		at  time.Time
		dur time.Duration
	}
	stop chan struct{}
	done chan struct{}
}

// totals are a job's cumulative counts.
type totals struct {
	events, results, rows, bad int64
}

func (t *totals) add(o totals) {
	t.events += o.events
	t.results += o.results
	t.rows += o.rows
	t.bad += o.bad
}

func newProgress(log *zap.Logger, interval time.Duration) *progress {
	return &progress{log: log, interval: interval, start: time.Now(), prevT: time.Now()}
}

// run logs the progress line every interval until finish.
func (p *progress) run() {
	if p.interval <= 0 {
		return
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.line()
			case <-p.stop:
				return
			}
		}
	}()
}

// attach makes b the build whose progress is reported, adding what the
// previous one counted to the totals, and chains b's checkpoint
// coordinator (if any) so the line can name the last checkpoint. Call it
// before b runs.
func (p *progress) attach(b *build) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.cur.Load(); old != nil {
		p.base.add(countsOf(old))
	}
	p.prev, p.prevT = engine.Progress{}, time.Now()
	p.cur.Store(b)
	if c := b.coord; c != nil {
		prevOK := c.OnComplete
		c.OnComplete = func(st checkpoint.Stats) {
			p.mu.Lock()
			p.ckpt.id, p.ckpt.at, p.ckpt.dur = st.ID, time.Now(), st.Duration
			p.mu.Unlock()
			if prevOK != nil {
				prevOK(st)
			}
		}
	}
}

// countsOf reads a build's totals.
func countsOf(b *build) totals {
	t := sinkCounts(b.pipeline.Progress())
	t.bad = b.skipped()
	return t
}

// sinkCounts reads a pipeline's totals: results are what the "output" sink
// wrote (without one, what all sinks acknowledged), rows what the other
// sinks acknowledged.
func sinkCounts(pr engine.Progress) totals {
	t := totals{events: pr.Read, results: -1}
	for _, s := range pr.Sinks {
		if s.Name == outputSink {
			t.results = s.Written
		} else {
			t.rows += s.Written
		}
	}
	if t.results < 0 {
		t.results = t.rows
	}
	return t
}

// outputSink is the name of a job's main sink, counted as its results.
const outputSink = "output"

// line logs one progress line.
func (p *progress) line() {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.cur.Load()
	if b == nil {
		p.log.Info("progress: no job running here (an HA follower waits for leadership)")
		return
	}
	now := time.Now()
	pr := b.pipeline.Progress()
	t := sinkCounts(pr)
	elapsed := now.Sub(p.prevT).Seconds()
	fields := []zap.Field{
		zap.Int64("events", p.base.events+t.events),
		zap.Int64("events_per_s", int64(float64(pr.Read-p.prev.Read)/max(elapsed, 1e-9))),
		zap.Int64("results", p.base.results+t.results),
	}
	if len(pr.Sinks) > 1 || len(pr.Sinks) == 1 && pr.Sinks[0].Name != outputSink {
		fields = append(fields, zap.Int64("rows", p.base.rows+t.rows))
	}
	if pr.Watermark != engine.MinWatermark {
		fields = append(fields, zap.Duration("lag", now.Sub(time.UnixMilli(pr.Watermark)).Round(time.Millisecond)))
	}
	for _, s := range pr.Sinks {
		var old engine.SinkProgress
		for _, o := range p.prev.Sinks {
			if o.Name == s.Name {
				old = o
			}
		}
		if n := s.LatencyCount - old.LatencyCount; n > 0 {
			mean := (s.LatencySum - old.LatencySum) / time.Duration(n)
			fields = append(fields, zap.Duration("latency_"+s.Name, mean.Round(10*time.Microsecond)),
				zap.Duration("latency_max_"+s.Name, s.LatencyMax.Round(10*time.Microsecond)))
		}
	}
	if p.ckpt.id != 0 {
		fields = append(fields, zap.Uint64("last_checkpoint", p.ckpt.id),
			zap.Duration("checkpoint_age", now.Sub(p.ckpt.at).Round(time.Second)))
	}
	p.log.Info("progress", fields...)
	p.prev, p.prevT = pr, now
}

// finish stops the periodic line and logs the final summary: events,
// results, rows, bad records and duration. It returns the totals.
func (p *progress) finish(runErr error) totals {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.base
	if b := p.cur.Load(); b != nil {
		t.add(countsOf(b))
	}
	d := time.Since(p.start)
	fields := []zap.Field{
		zap.Int64("events", t.events), zap.Int64("results", t.results), zap.Int64("rows", t.rows),
		zap.Int64("bad_records", t.bad), zap.Duration("duration", d.Round(time.Millisecond)),
		zap.Int64("events_per_s", int64(float64(t.events)/max(d.Seconds(), 1e-9))),
	}
	if p.ckpt.id != 0 {
		fields = append(fields, zap.Uint64("last_checkpoint", p.ckpt.id))
	}
	if runErr != nil {
		fields = append(fields, zap.NamedError("error", runErr))
		p.log.Warn("summary: the job failed", fields...)
		return t
	}
	p.log.Info("summary", fields...)
	return t
}
