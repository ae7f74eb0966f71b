package checkpoint

import (
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/sink"
	"github.com/topspeed/topspeed/source"
)

// counter is a keyed operator that counts records per key (key = the
// record) and, at the end, emits key*1000+count per key.
type counter struct {
	keys   engine.Keys[int, int]
	counts map[int]int
}

func (c *counter) Open(ctx engine.OperatorContext) error {
	c.counts = map[int]int{}
	for _, kg := range ctx.Restored.KeyGroups() {
		b := ctx.Restored.Get(kg)
		for len(b) > 0 {
			k, n := binary.Uvarint(b)
			if n <= 0 {
				return errors.New("counter: corrupt state")
			}
			v, m := binary.Uvarint(b[n:])
			if m <= 0 {
				return errors.New("counter: corrupt state")
			}
			c.counts[int(k)] = int(v)
			b = b[n+m:]
		}
	}
	return nil
}
func (c *counter) ProcessBatch(in []int, _ *engine.Output[int]) error {
	for _, v := range in {
		c.counts[v]++
	}
	return nil
}
func (c *counter) OnWatermark(int64, *engine.Output[int]) error      { return nil }
func (c *counter) OnProcessingTime(int64, *engine.Output[int]) error { return nil }
func (c *counter) OnCommit(uint64) error                             { return nil }
func (c *counter) OnCheckpoint(_ uint64, st *engine.KeyedState) error {
	by := map[int][]byte{}
	for k, v := range c.counts {
		kg := c.keys.KeyGroup(k)
		by[kg] = binary.AppendUvarint(binary.AppendUvarint(by[kg], uint64(k)), uint64(v))
	}
	for kg, b := range by {
		st.Put(kg, b)
	}
	return nil
}
func (c *counter) Close(out *engine.Output[int]) error {
	for k, v := range c.counts {
		out.Emit(k*1000 + v)
	}
	return nil
}

// gated is a source.Slice that stops at record stopAt until gate closes.
type gated struct {
	*source.Slice[int]
	read   int
	stopAt int
	gate   chan struct{}
	held   atomic.Bool // it has read stopAt records
}

func (g *gated) Read(ctx context.Context, buf []int) (int, error) {
	if g.read >= g.stopAt {
		g.held.Store(true)
		select {
		case <-g.gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
			return 0, nil
		}
	}
	n, err := g.Slice.Read(ctx, buf[:min(len(buf), max(g.stopAt-g.read, 1))])
	g.read += n
	return n, err
}

// countPipeline counts records per key in keyed stage "count".
func countPipeline(src engine.Source[int], out *sink.Collect[int], keyed string, opts ...engine.Option) *engine.Pipeline {
	p := engine.New(append([]engine.Option{engine.WithParallelism(2)}, opts...)...)
	s := engine.FromSource(p, "ints", src, engine.NoWatermarks[int]())
	c := engine.Process(engine.KeyBy(s, func(v int) int { return v }, engine.HashInt), keyed, func(k engine.Keys[int, int]) engine.Operator[int, int] {
		return &counter{keys: k}
	})
	engine.ToSink(c, "out", engine.Sink[int](out))
	return p
}

func ints(n int) []int {
	r := make([]int, n)
	for i := range r {
		r[i] = i % 50
	}
	return r
}

// savepointAt runs countPipeline at max parallelism maxPar and, once the
// source has read stopAt records and waits, takes a final checkpoint
// through a Coordinator (it holds the state of those records); it returns
// what the Store loads back.
func savepointAt(t *testing.T, recs []int, stopAt, maxPar int) (*engine.Snapshot, Info) {
	t.Helper()
	g := &gated{Slice: source.NewSlice(recs), stopAt: stopAt, gate: make(chan struct{})}
	p := countPipeline(g, sink.NewCollect[int](), "count", engine.WithMaxParallelism(maxPar))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	for deadline := time.Now().Add(5 * time.Second); !g.held.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the source did not reach its gate")
		}
	}
	c := &Coordinator{Pipeline: p, Store: newStore(t, 3), Meta: Meta{Fingerprint: "fp"}}
	var info Info
	for deadline := time.Now().Add(5 * time.Second); ; {
		var err error
		info, err = c.StopWithSavepoint(context.Background())
		if err == nil {
			break
		}
		if !errors.Is(err, engine.ErrNotRunning) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	snap, linfo, err := c.Store.Latest("fp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if linfo.Path != info.Path {
		t.Fatalf("loaded %s, wrote %s", linfo.Path, info.Path)
	}
	return snap, linfo
}

// The max parallelism the engine records in a snapshot reaches the
// manifest without Meta, comes back from the Store, and the restore
// checks use it: same max parallelism restores (at another parallelism),
// another is refused.
func TestRoundTripKeepsRestoreFields(t *testing.T) {
	recs := ints(400)
	snap, info := savepointAt(t, recs, 300, 16)
	if info.Manifest.MaxParallelism != 16 || snap.MaxParallelism != 16 {
		t.Fatalf("manifest max parallelism %d, loaded %d, want 16", info.Manifest.MaxParallelism, snap.MaxParallelism)
	}
	kgs := snap.Operators["count"].KeyGroups()
	if len(kgs) == 0 || kgs[len(kgs)-1] >= 16 || len(snap.Sources["ints"]) == 0 {
		t.Fatalf("loaded stages %v, key groups %v, source position %v", slices.Sorted(maps.Keys(snap.Operators)), kgs, snap.Sources["ints"])
	}

	out := sink.NewCollect[int]()
	p := countPipeline(source.NewSlice(recs), out, "count", engine.WithMaxParallelism(16), engine.WithParallelism(3))
	p.RestoreFrom(snap)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := out.Records()
	slices.Sort(got)
	var want []int
	for k := 0; k < 50; k++ {
		want = append(want, k*1000+8) // 400 records, 50 keys: 8 each, none lost or counted twice
	}
	if !slices.Equal(got, want) {
		t.Fatalf("restored counts %v, want %v", got, want)
	}

	p = countPipeline(source.NewSlice(recs), sink.NewCollect[int](), "count", engine.WithMaxParallelism(8))
	p.RestoreFrom(snap, engine.AllowNonRestoredState())
	err := p.Run(context.Background())
	if !errors.Is(err, engine.ErrIncompatibleState) || !strings.Contains(err.Error(), "max parallelism 16, this pipeline has 8") {
		t.Fatalf("restore at max parallelism 8: %v", err)
	}
}

// A loaded checkpoint whose keyed stage the pipeline no longer has is
// refused, naming it; allowed, the drop is logged.
func TestLoadedCheckpointWithUnknownStage(t *testing.T) {
	recs := ints(400)
	snap, _ := savepointAt(t, recs, 300, 128)
	p := countPipeline(source.NewSlice(recs), sink.NewCollect[int](), "count-v2")
	p.RestoreFrom(snap)
	if err := p.Run(context.Background()); !errors.Is(err, engine.ErrIncompatibleState) || !strings.Contains(err.Error(), `operator stage "count" state (key groups`) {
		t.Fatalf("Run = %v", err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	p = countPipeline(source.NewSlice(recs), sink.NewCollect[int](), "count-v2", engine.WithLogger(zap.New(core)))
	p.RestoreFrom(snap, engine.AllowNonRestoredState())
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := logs.FilterField(zap.String("stage", "count")).FilterMessageSnippet("dropping state").All()
	if len(e) != 1 || e[0].ContextMap()["key_group_count"] != int64(len(snap.Operators["count"].KeyGroups())) {
		t.Fatalf("drop log %v", logs.All())
	}
}

func TestWriteChecksMaxParallelism(t *testing.T) {
	s := newStore(t, 3)
	snap := sampleSnapshot(1) // key groups up to 127, no max parallelism of its own
	for _, c := range []struct {
		snapMax, metaMax int
		want             string // "" = accepted
	}{
		{0, 128, ""},
		{128, 0, ""},
		{128, 128, ""},
		{0, 0, "max parallelism unknown"},
		{128, 64, "the snapshot has max parallelism 128, Meta says 64"},
		{64, 0, `stage "top-speed" has key groups 3..127, outside [0, 64)`},
	} {
		snap.MaxParallelism = c.snapMax
		_, err := s.Write(context.Background(), snap, Meta{Fingerprint: "fp-1", MaxParallelism: c.metaMax})
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("snapshot %d meta %d: %v, want %q", c.snapMax, c.metaMax, err, c.want)
		}
	}
	got, info, err := s.Latest("fp-1", nil)
	if err != nil || got.MaxParallelism != 128 || info.Manifest.MaxParallelism != 128 {
		t.Fatalf("latest: %v %d %d", err, got.MaxParallelism, info.Manifest.MaxParallelism)
	}
}

// A cancelled context stops a write before its manifest: the directory is
// removed and the previous checkpoint stays the newest.
func TestWriteAbandonsOnCancel(t *testing.T) {
	s := newStore(t, 3)
	if _, err := s.Write(context.Background(), sampleSnapshot(1), meta); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.Hook = func(point string, id uint64) {
		if point == "files-written" {
			cancel() // leadership lost while the data files were written
		}
	}
	_, err := s.Write(ctx, sampleSnapshot(2), meta)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "abandoned before MANIFEST.json") {
		t.Fatalf("Write = %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "chk-00000000000000000002-t0")); !os.IsNotExist(err) {
		t.Fatalf("abandoned directory left behind: %v", err)
	}
	if _, err := s.Write(ctx, sampleSnapshot(3), meta); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write with a cancelled context = %v", err)
	}
	if _, info, err := s.Latest("fp-1", nil); err != nil || info.Manifest.ID != 1 {
		t.Fatalf("latest %d %v, want 1", info.Manifest.ID, err)
	}
}
