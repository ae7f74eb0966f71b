package tester_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/tester"
)

var wordKeys = engine.Keys[string, string]{Key: func(w string) string { return w }, Hash: engine.HashString, MaxParallelism: 16}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// words returns n words over a vocabulary of v.
func words(n, v int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint("w", (i*7)%v)
	}
	return out
}

// TestHarnessMatchesPipeline: the harness, with a snapshot and a restore
// into another parallelism in the middle, gives every key the output an
// uninterrupted pipeline run gives it.
func TestHarnessMatchesPipeline(t *testing.T) {
	in := words(200, 23)
	want := tester.GroupBy(tester.Run(t, in, func(s engine.Stream[string]) engine.Stream[string] {
		return engine.Process(engine.KeyBy(s, wordKeys.Key, wordKeys.Hash), "count", newWordCounter)
	}), func(s string) string { return s[:strings.IndexByte(s, '=')] })

	for _, restoreInto := range []tester.HarnessOption{tester.AllSubtasks(3), tester.AllSubtasks(1), tester.AllSubtasks(16)} {
		h := tester.NewHarness(newWordCounter, wordKeys, tester.AllSubtasks(2))
		must(t, h.Open())
		must(t, h.Process(in[:90]...))
		snap, err := h.Snapshot(7)
		must(t, err)
		h2 := h.Restore(snap, restoreInto)
		must(t, h2.Open())
		for i := 90; i < len(in); i += 13 {
			must(t, h2.Process(in[i:min(i+13, len(in))]...))
		}
		must(t, h2.Finish())
		got := tester.GroupBy(append(h.Output(), h2.Output()...), func(s string) string { return s[:strings.IndexByte(s, '=')] })
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("restored into %d key groups' owners:\n got %v\nwant %v", h2.KeyGroups().End, got, want)
		}
	}
}

// TestHarnessOneSubtask restores each subtask of 4 on its own: together
// they hold every key once, and a record of another subtask's key is
// refused before anything is processed.
func TestHarnessOneSubtask(t *testing.T) {
	h := tester.NewHarness(newWordCounter, wordKeys)
	must(t, h.Open())
	in := words(60, 20)
	must(t, h.Process(in...))
	snap, err := h.Snapshot(1)
	must(t, err)
	seen := map[string]int{}
	for sub := range 4 {
		hs := h.Restore(snap, tester.OnSubtask(sub, 4))
		must(t, hs.Open())
		kgs := hs.KeyGroups()
		var mine []string
		var foreign string
		for _, w := range in[:20] {
			if kgs.Contains(wordKeys.KeyGroup(w)) {
				mine = append(mine, w)
			} else {
				foreign = w
			}
		}
		if foreign != "" {
			err := hs.Process(append(slices.Clone(mine), foreign)...)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("harness runs subtask %d of 4", sub)) {
				t.Errorf("subtask %d: foreign key %q: %v", sub, foreign, err)
			}
			if out := hs.Output(); len(out) != 0 {
				t.Errorf("subtask %d: refused batch emitted %v", sub, out)
			}
		}
		must(t, hs.Process(mine...))
		for _, s := range hs.Output() {
			w, n, _ := strings.Cut(s, "=")
			if n != "4" { // 60 words over 20: each seen 3 times before
				t.Errorf("subtask %d: %s", sub, s)
			}
			seen[w]++
		}
	}
	if len(seen) != 20 {
		t.Errorf("restored keys: %v", seen)
	}
}

// probe records the hooks it gets and keeps its last batch.
type probe struct {
	engine.BaseOperator[string, string]
	calls []string
	kept  []string
	fail  error
}

func (p *probe) ProcessBatch(in []string, out *engine.Output[string]) error {
	p.kept = in
	p.calls = append(p.calls, fmt.Sprint("batch", in))
	out.EmitAll(in)
	return p.fail
}

func (p *probe) OnWatermark(wm int64, out *engine.Output[string]) error {
	p.calls = append(p.calls, fmt.Sprint("wm", wm))
	return nil
}

func (p *probe) OnProcessingTime(now int64, out *engine.Output[string]) error {
	p.calls = append(p.calls, fmt.Sprint("pt", now))
	out.Emit("tick")
	return nil
}

func (p *probe) OnCommit(id uint64) error {
	p.calls = append(p.calls, fmt.Sprint("commit", id))
	return nil
}

func (p *probe) Close(out *engine.Output[string]) error {
	p.calls = append(p.calls, "close")
	out.Emit("bye")
	return nil
}

func TestHarnessSteps(t *testing.T) {
	h := tester.NewHarness(func(engine.Keys[string, string]) engine.Operator[string, string] { return &probe{} }, wordKeys)
	if err := h.Process("x"); err == nil || !strings.Contains(err.Error(), "before Open") {
		t.Errorf("Process before Open: %v", err)
	}
	must(t, h.Open())
	if err := h.Open(); err == nil {
		t.Error("second Open succeeded")
	}
	must(t, h.Process("a", "b"))
	for _, wm := range []int64{5, 5, 3, 7} {
		must(t, h.Watermark(wm))
	}
	must(t, h.ProcessingTime(1000))
	must(t, h.Commit(3))
	if got := h.TakeOutput(); !slices.Equal(got, []string{"a", "b", "tick"}) {
		t.Errorf("output %q", got)
	}
	must(t, h.Finish())
	p := h.Operator(0).(*probe)
	want := []string{"batch[a b]", "wm5", "wm7", "pt1000", "commit3", fmt.Sprint("wm", int64(math.MaxInt64)), "close"}
	if !slices.Equal(p.calls, want) {
		t.Errorf("calls\n got %q\nwant %q", p.calls, want)
	}
	if !slices.Equal(p.kept, []string{"", ""}) {
		t.Errorf("the batch was not cleared after ProcessBatch: %q", p.kept)
	}
	if got := h.Output(); !slices.Equal(got, []string{"bye"}) {
		t.Errorf("Close output %q", got)
	}
	if err := h.Watermark(9); err == nil || !strings.Contains(err.Error(), "after Close") {
		t.Errorf("Watermark after Close: %v", err)
	}
}

func TestHarnessErrors(t *testing.T) {
	boom := errors.New("boom")
	h := tester.NewHarness(func(engine.Keys[string, string]) engine.Operator[string, string] { return &probe{fail: boom} }, wordKeys, tester.AllSubtasks(2))
	must(t, h.Open())
	err := h.Process(words(10, 10)...)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "subtask 0: process") {
		t.Errorf("hook error: %v", err)
	}
	for name, h := range map[string]*tester.Harness[string, string, string]{
		"parallelism 0":  tester.NewHarness(newWordCounter, wordKeys, tester.AllSubtasks(0)),
		"parallelism 17": tester.NewHarness(newWordCounter, wordKeys, tester.AllSubtasks(17)),
		"subtask 4 of 4": tester.NewHarness(newWordCounter, wordKeys, tester.OnSubtask(4, 4)),
		"nil factory":    tester.NewHarness[string, string, string](nil, wordKeys),
		"no hash":        tester.NewHarness(newWordCounter, engine.Keys[string, string]{Key: wordKeys.Key}),
	} {
		if err := h.Open(); err == nil || !strings.HasPrefix(err.Error(), "tester: NewHarness: ") {
			t.Errorf("%s: Open: %v", name, err)
		}
	}
	// A checkpoint with typed state the operator does not register fails
	// Open, as in a pipeline.
	hc := tester.NewHarness(newWordCounter, wordKeys)
	must(t, hc.Open())
	must(t, hc.Process("a"))
	snap, err := hc.Snapshot(1)
	must(t, err)
	hp := tester.NewHarness(func(engine.Keys[string, string]) engine.Operator[string, string] { return &probe{} }, wordKeys, tester.FromState(snap))
	if err := hp.Open(); err == nil || !strings.Contains(err.Error(), `typed state ["count"]`) {
		t.Errorf("unregistered state: %v", err)
	}
}
