package runner

import (
	"errors"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/topspeed/topspeed/internal/ops"
)

// TestExceptionsFromLogs: error entries, with their fields (also those
// added with With), become exceptions with a kind and a stage; the log
// itself is written unchanged; lower levels are not recorded.
func TestExceptionsFromLogs(t *testing.T) {
	rec := ops.NewRecorder(nil)
	core, logs := observer.New(zap.InfoLevel)
	log := withExceptions(zap.New(core), rec)
	log.Error("pipeline failed", zap.Error(errors.New(`engine: stage "top-speed": bad record`)))
	log.With(zap.String("stage", "output")).Error("final checkpoint failed", zap.Error(errors.New("disk full")))
	log.Error("term failed; handing leadership over after a backoff", zap.Error(errors.New("x")))
	log.Warn("checkpoint failed", zap.Error(errors.New("not an exception: the coordinator hook records it")))
	log.Info("fine")
	if logs.Len() != 5 {
		t.Fatalf("%d entries logged, want all 5", logs.Len())
	}
	_, _, excs, total := rec.History()
	if total != 3 || len(excs) != 3 {
		t.Fatalf("exceptions %+v", excs)
	}
	want := []ops.Exception{
		{Kind: "term", Message: "term failed; handing leadership over after a backoff: x"},
		{Kind: "checkpoint", Stage: "output", Message: "final checkpoint failed: disk full"},
		{Kind: "pipeline", Stage: "top-speed", Message: `pipeline failed: engine: stage "top-speed": bad record`},
	}
	for i, w := range want {
		got := excs[i]
		if got.Kind != w.Kind || got.Stage != w.Stage || got.Message != w.Message || got.Time.IsZero() {
			t.Errorf("exception %d: %+v, want %+v", i, got, w)
		}
	}
	if l := withExceptions(zap.NewNop(), nil); l == nil {
		t.Error("nil logger without a recorder")
	}
}

// TestMergeStages adds up the stages of Kafka-group tasks.
func TestMergeStages(t *testing.T) {
	a := []ops.Stage{{Name: "src", Kind: "source", Parallelism: 1, RecordsIn: 10, Watermark: 50, HasWatermark: true},
		{Name: "out", Kind: "sink", Parallelism: 1, Queued: 1, QueueCapacity: 8, MaxQueueFill: 0.125}}
	b := []ops.Stage{{Name: "src", Kind: "source", Parallelism: 1, RecordsIn: 5, Watermark: 40, HasWatermark: true},
		{Name: "out", Kind: "sink", Parallelism: 1, Queued: 8, QueueCapacity: 8, MaxQueueFill: 1}}
	m := mergeStages([][]ops.Stage{a, b})
	if len(m) != 2 || m[0].Parallelism != 2 || m[0].RecordsIn != 15 || m[0].Watermark != 40 ||
		m[1].Queued != 9 || m[1].QueueCapacity != 16 || m[1].MaxQueueFill != 1 {
		t.Errorf("merged %+v", m)
	}
	if a[0].RecordsIn != 10 {
		t.Error("mergeStages changed its input")
	}
	if mergeStages(nil) != nil {
		t.Error("no tasks: want no stages")
	}
}
