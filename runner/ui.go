package runner

import (
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/internal/ops"
)

// What the ops server's dashboard (internal/ops/ui, docs/ui.md) needs from
// a run: the job graph's stages, the replicas (HA peers, Kafka-group
// partitions) and the errors the job reports. runner/ops.go calls these
// when it builds the server of each way to run.

// stagesOf converts a pipeline's stages (nil pipeline: none).
func stagesOf(p *engine.Pipeline) []ops.Stage {
	if p == nil {
		return nil
	}
	st := p.Stages()
	out := make([]ops.Stage, len(st))
	for i, s := range st {
		out[i] = ops.Stage{Name: s.Name, Kind: s.Kind, Parallelism: s.Parallelism, Inputs: s.Inputs, RecordsIn: s.RecordsIn,
			RecordsOut: s.RecordsOut, Queued: s.Queued, QueueCapacity: s.QueueCapacity, MaxQueueFill: s.MaxQueueFill,
			Watermark: s.Watermark, HasWatermark: s.Watermark != engine.MinWatermark && s.Kind != "sink"}
	}
	return out
}

// mergeStages adds up the stages of several pipelines of one job (the
// Kafka-group tasks): counts and queues summed, parallelism summed, the
// fullest queue and the lowest watermark kept, in the first one's order.
func mergeStages(all [][]ops.Stage) []ops.Stage {
	var out []ops.Stage
	index := map[string]int{}
	for _, st := range all {
		for _, s := range st {
			i, ok := index[s.Name]
			if !ok {
				index[s.Name] = len(out)
				out = append(out, s)
				continue
			}
			m := &out[i]
			m.Parallelism += s.Parallelism
			m.RecordsIn += s.RecordsIn
			m.RecordsOut += s.RecordsOut
			m.Queued += s.Queued
			m.QueueCapacity += s.QueueCapacity
			m.MaxQueueFill = max(m.MaxQueueFill, s.MaxQueueFill)
			if s.HasWatermark && (!m.HasWatermark || s.Watermark < m.Watermark) {
				m.Watermark, m.HasWatermark = s.Watermark, true
			}
		}
	}
	return out
}

// haStages are the running term's stages (none on a follower).
func (s *haStatus) stages() []ops.Stage {
	s.mu.Lock()
	p := s.pipe
	s.mu.Unlock()
	return stagesOf(p)
}

// haCluster describes an HA replica: its id and the raft peers.
func (o *opsRuntime) haCluster() func() ops.Cluster {
	c := ops.Cluster{Mode: "ha"}
	if cfg, err := o.haf.config(zap.NewNop()); err == nil {
		c.Self = cfg.ID
		for _, p := range cfg.Peers {
			c.Peers = append(c.Peers, ops.Peer{ID: p.ID, Address: p.Address})
		}
	}
	return func() ops.Cluster { return c }
}

// groupStages are the owned partitions' tasks' stages, merged.
func (g *groupRun) stages() []ops.Stage {
	g.mu.Lock()
	pipes := make([]*engine.Pipeline, 0, len(g.tasks))
	for _, t := range g.tasks {
		pipes = append(pipes, t.b.pipeline)
	}
	g.mu.Unlock()
	all := make([][]ops.Stage, len(pipes))
	for i, p := range pipes {
		all[i] = stagesOf(p)
	}
	return mergeStages(all)
}

// groupCluster describes a Kafka-group replica: the partitions it owns.
func groupCluster(g *groupRun) func() ops.Cluster {
	return func() ops.Cluster {
		_, owned := g.counts()
		if owned == nil {
			owned = []int32{}
		}
		return ops.Cluster{Mode: "kafka-group", Partitions: owned, Topic: g.s.group.cfg.Topic, Group: g.s.group.cfg.Group}
	}
}

// exceptionCore records every log entry at error level or above as an
// exception on rec (/api/v1/exceptions): a failed pipeline, a failed term
// of leadership, a failed task, a failed final checkpoint. It writes
// nothing itself; the logger's own core still does. Checkpoint failures
// (logged as warnings) are recorded by the coordinator hook instead.
type exceptionCore struct {
	zapcore.LevelEnabler
	rec    *ops.Recorder
	fields []zapcore.Field
}

// withExceptions returns log with its error entries also recorded on rec
// (log itself without a recorder).
func withExceptions(log *zap.Logger, rec *ops.Recorder) *zap.Logger {
	if rec == nil {
		return log
	}
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewTee(c, &exceptionCore{LevelEnabler: zapcore.ErrorLevel, rec: rec})
	}))
}

func (c *exceptionCore) With(f []zapcore.Field) zapcore.Core {
	return &exceptionCore{LevelEnabler: c.LevelEnabler, rec: c.rec, fields: append(slices.Clip(c.fields), f...)}
}

func (c *exceptionCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *exceptionCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(slices.Clip(c.fields), fs...) {
		f.AddTo(enc)
	}
	msg := e.Message
	errText, _ := enc.Fields["error"].(string)
	if errText != "" {
		msg += ": " + errText
	}
	stage, _ := enc.Fields["stage"].(string)
	if stage == "" {
		stage = ops.StageOf(errText)
	}
	c.rec.Exception(exceptionKind(e.Message), stage, msg)
	return nil
}

func (c *exceptionCore) Sync() error { return nil }

// exceptionKind classifies a log message (see ops.Exception.Kind).
func exceptionKind(msg string) string {
	switch {
	case strings.HasPrefix(msg, "pipeline"):
		return "pipeline"
	case strings.Contains(msg, "handing leadership over"):
		return "term"
	case strings.Contains(msg, "checkpoint"):
		return "checkpoint"
	case strings.HasPrefix(msg, "task"):
		return "task"
	}
	return "job"
}
