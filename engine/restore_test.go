package engine_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/topspeed/topspeed/engine"
)

// opens counts the Open calls of every stage of a restorePipeline.
type opens struct{ n atomic.Int32 }

type countingSource struct {
	*sliceSource
	o *opens
}

func (s countingSource) Open(ctx context.Context) error { s.o.n.Add(1); return s.sliceSource.Open(ctx) }

type countingSink struct {
	*collect
	o *opens
}

func (s countingSink) Open(ctx context.Context) error { s.o.n.Add(1); return s.collect.Open(ctx) }

type countingSum struct {
	runningSum
	o *opens
}

func (s *countingSum) Open(ctx engine.OperatorContext) error {
	s.o.n.Add(1)
	return s.runningSum.Open(ctx)
}

// restorePipeline is build's pipeline (stages "src", "sum", "collect")
// with the keyed stage named keyed and every Open counted in o.
func restorePipeline(src *sliceSource, c *collect, keyed string, o *opens, opts ...engine.Option) *engine.Pipeline {
	p := engine.New(opts...)
	s := engine.FromSource(p, "src", engine.Source[int](countingSource{src, o}), engine.NoWatermarks[int]())
	out := engine.Process(engine.KeyBy(s, key10, engine.HashInt), keyed, func(k engine.Keys[int, int]) engine.Operator[int, int] {
		return &countingSum{runningSum: runningSum{keys: k}, o: o}
	})
	engine.ToSink(out, "collect", engine.Sink[int](countingSink{c, o}))
	return p
}

// midStreamSnapshot runs build's pipeline over recs and takes a checkpoint
// once the first 120 records, at which the source waits, have reached the
// sink: the snapshot holds their state and the source's position 120.
func midStreamSnapshot(t *testing.T, recs []int, opts ...engine.Option) *engine.Snapshot {
	t.Helper()
	gate := make(chan struct{})
	c := &collect{}
	p := build(&sliceSource{recs: recs, chunk: 7, gate: gate, stopAt: 120}, c, opts...)
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	for deadline := time.Now().Add(5 * time.Second); len(c.records()) < 120; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d records reached the sink", len(c.records()))
		}
	}
	var snap *engine.Snapshot
	for deadline := time.Now().Add(5 * time.Second); ; {
		var err error
		snap, err = p.Checkpoint(context.Background())
		if err == nil {
			break
		}
		if !errors.Is(err, engine.ErrNotRunning) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return snap
}

// A snapshot records the max parallelism and every keyed stage's key
// groups, all within [0, max parallelism).
func TestSnapshotRecordsMaxParallelism(t *testing.T) {
	snap := midStreamSnapshot(t, seq(200), engine.WithParallelism(3), engine.WithMaxParallelism(16))
	if snap.MaxParallelism != 16 {
		t.Fatalf("snapshot max parallelism %d, want 16", snap.MaxParallelism)
	}
	kgs := snap.Operators["sum"].KeyGroups()
	if len(kgs) == 0 || kgs[0] < 0 || kgs[len(kgs)-1] >= 16 {
		t.Fatalf("key groups %v, want some, all in [0, 16)", kgs)
	}
}

// The case: key group 100 and an unknown stage, restored at max
// parallelism 8, fail at Run before any stage opens, naming both.
func TestRestoreRefusesStateNoStageClaims(t *testing.T) {
	known := engine.NewKeyedState()
	known.Put(3, nil)
	known.Put(100, []byte{1})
	known.Put(101, []byte{2})
	gone := engine.NewKeyedState()
	gone.Put(5, []byte{3})
	snap := &engine.Snapshot{ID: 9,
		Sources:    map[string][]byte{"src": {0}, "old-src": {1, 2}},
		Watermarks: map[string]int64{"old-src": 7},
		Operators:  map[string]*engine.KeyedState{"sum": known, "gone": gone, "src": gone},
		Sinks:      map[string][]byte{"collect": {4, 5, 6}},
	}
	o := &opens{}
	p := restorePipeline(&sliceSource{recs: seq(50), chunk: 10}, &collect{}, "sum", o, engine.WithParallelism(2), engine.WithMaxParallelism(8))
	p.RestoreFrom(snap)
	err := p.Run(context.Background())
	if !errors.Is(err, engine.ErrIncompatibleState) {
		t.Fatalf("Run = %v, want ErrIncompatibleState", err)
	}
	for _, want := range []string{
		"checkpoint 9",
		`operator stage "sum" state (key groups 100-101): key groups outside [0, 8)`,
		`operator stage "gone" state (key groups 5): the pipeline has no stage of that name`,
		`operator stage "src" state (key groups 5): it is a source stage in this pipeline`,
		`source stage "old-src" position (2 bytes): the pipeline has no stage of that name`,
		`source stage "old-src" watermark: the pipeline has no stage of that name`,
		`sink stage "collect" state (3 bytes): the sink cannot restore state`,
		"AllowNonRestoredState",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if n := o.n.Load(); n != 0 {
		t.Fatalf("%d stages opened before the refusal", n)
	}
	if st := p.State(); st != engine.StateFailed {
		t.Fatalf("state %v", st)
	}
}

// State from another max parallelism is refused, even with
// AllowNonRestoredState.
func TestRestoreRefusesOtherMaxParallelism(t *testing.T) {
	snap := midStreamSnapshot(t, seq(200), engine.WithParallelism(2), engine.WithMaxParallelism(128))
	for _, opts := range [][]engine.RestoreOption{nil, {engine.AllowNonRestoredState()}} {
		o := &opens{}
		p := restorePipeline(&sliceSource{recs: seq(200), chunk: 5}, &collect{}, "sum", o, engine.WithParallelism(2), engine.WithMaxParallelism(64))
		p.RestoreFrom(snap, opts...)
		err := p.Run(context.Background())
		if !errors.Is(err, engine.ErrIncompatibleState) || !strings.Contains(err.Error(), "max parallelism 128, this pipeline has 64") {
			t.Fatalf("options %d: Run = %v, want ErrIncompatibleState naming 128 and 64", len(opts), err)
		}
		if n := o.n.Load(); n != 0 {
			t.Fatalf("%d stages opened before the refusal", n)
		}
	}
}

// A checkpoint of a pipeline whose keyed stage was since renamed: refused
// by default; with AllowNonRestoredState the run goes ahead without that
// state (as a fresh start of the keyed stage) and logs exactly what it
// dropped.
func TestRestoreRenamedStage(t *testing.T) {
	recs := seq(200)
	snap := midStreamSnapshot(t, recs, engine.WithParallelism(3))
	groups := snap.Operators["sum"].KeyGroups()

	p := restorePipeline(&sliceSource{recs: recs, chunk: 5}, &collect{}, "sum-v2", &opens{}, engine.WithParallelism(2))
	p.RestoreFrom(snap)
	if err := p.Run(context.Background()); !errors.Is(err, engine.ErrIncompatibleState) || !strings.Contains(err.Error(), `operator stage "sum" state`) {
		t.Fatalf("Run = %v, want ErrIncompatibleState naming stage sum", err)
	}

	core, logs := observer.New(zapcore.InfoLevel)
	c := &collect{}
	p = restorePipeline(&sliceSource{recs: recs, chunk: 5}, c, "sum-v2", &opens{}, engine.WithParallelism(2), engine.WithLogger(zap.New(core)))
	p.RestoreFrom(snap, engine.AllowNonRestoredState())
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	dropped := logs.FilterMessageSnippet("dropping state").All()
	if len(dropped) != 1 {
		t.Fatalf("%d drop log lines, want 1: %v", len(dropped), dropped)
	}
	f := dropped[0].ContextMap()
	if f["stage"] != "sum" || f["kind"] != "operator" || f["key_group_count"] != int64(len(groups)) || f["checkpoint"] != snap.ID ||
		!strings.Contains(f["reason"].(string), "no stage of that name") || dropped[0].Level != zapcore.WarnLevel {
		t.Fatalf("drop log %v, want stage sum, %d key groups, checkpoint %d", f, len(groups), snap.ID)
	}
	// The source resumed from its position; the renamed stage started empty.
	pos := int(snap.Sources["src"][0])
	got, want := c.records(), expectSums(recs[pos:])
	sort.Ints(got)
	if !slices.Equal(got, want) {
		t.Fatalf("restored run without the dropped state: %d records, want %d", len(got), len(want))
	}
}

// With AllowNonRestoredState, the state stages do claim is restored
// exactly as without the unclaimed extras, the caller's snapshot is left
// alone, and every dropped part is logged.
func TestAllowNonRestoredStateKeepsClaimedState(t *testing.T) {
	recs := seq(200)
	snap := midStreamSnapshot(t, recs, engine.WithParallelism(3), engine.WithMaxParallelism(16))
	extra := *snap
	extra.Operators = map[string]*engine.KeyedState{"gone": engine.NewKeyedState()}
	extra.Operators["gone"].Put(1, []byte{9})
	sum := engine.NewKeyedState()
	sum.Merge(snap.Operators["sum"])
	sum.Put(40, []byte("beyond"))
	extra.Operators["sum"] = sum
	extra.Sinks = map[string][]byte{"collect": {1}}

	core, logs := observer.New(zapcore.InfoLevel)
	c := &collect{}
	p := restorePipeline(&sliceSource{recs: recs, chunk: 5}, c, "sum", &opens{}, engine.WithParallelism(2),
		engine.WithMaxParallelism(16), engine.WithLogger(zap.New(core)))
	p.RestoreFrom(&extra, engine.AllowNonRestoredState())
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var stages []string
	for _, e := range logs.FilterMessageSnippet("dropping state").All() {
		m := e.ContextMap()
		stages = append(stages, m["kind"].(string)+":"+m["stage"].(string)+":"+fmtField(m["key_groups"])+fmtField(m["bytes"]))
	}
	if want := []string{"operator:gone:1", "operator:sum:40", "sink:collect:1"}; !slices.Equal(stages, want) {
		t.Fatalf("logged drops %v, want %v", stages, want)
	}
	if extra.Operators["sum"].Get(40) == nil || extra.Sinks["collect"] == nil {
		t.Fatal("RestoreFrom modified the caller's snapshot")
	}
	pos := int(snap.Sources["src"][0])
	got, want := c.records(), subtract(expectSums(recs), expectSums(recs[:pos]))
	sort.Ints(got)
	if !slices.Equal(got, want) {
		t.Fatalf("restored run: %d records, want %d", len(got), len(want))
	}
}

func fmtField(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}
