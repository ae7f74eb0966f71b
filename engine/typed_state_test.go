package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
)

// typedSum is runningSum written with the kit: BaseOperator and a
// ValueState. It also writes one raw blob per key group it owns in
// OnCheckpoint (the key group's number) and checks at Open that exactly
// its key groups' raw blobs come back, so typed and raw state share the
// key groups' blobs.
type typedSum struct {
	engine.BaseOperator[int, int]
	sums *engine.ValueState[int, int]
	kgs  engine.KeyGroupRange
}

func (o *typedSum) Open(ctx engine.OperatorContext) (err error) {
	o.kgs = ctx.KeyGroups
	for _, kg := range ctx.Restored.KeyGroups() {
		if b := ctx.Restored.Get(kg); !ctx.KeyGroups.Contains(kg) || !bytes.Equal(b, []byte{byte(kg)}) {
			return fmt.Errorf("restored raw blob of key group %d: %q", kg, b)
		}
	}
	o.sums, err = engine.NewValueState[int, int](ctx, "sum", engine.IntCodec{}, engine.IntCodec{})
	return err
}

func (o *typedSum) ProcessBatch(in []int, out *engine.Output[int]) error {
	for _, v := range in {
		k := key10(v)
		s, _ := o.sums.Get(k)
		o.sums.Set(k, s+v)
		out.Emit((s+v)*100 + k)
	}
	return nil
}

func (o *typedSum) OnCheckpoint(_ uint64, st *engine.KeyedState) error {
	for kg := o.kgs.Start; kg < o.kgs.End; kg++ {
		st.Put(kg, []byte{byte(kg)})
	}
	return nil
}

func newTypedSum(engine.Keys[int, int]) engine.Operator[int, int] { return &typedSum{} }

func buildWith(factory engine.OperatorFactory[int, int, int], src engine.Source[int], sink engine.Sink[int], opts ...engine.Option) *engine.Pipeline {
	p := engine.New(opts...)
	s := engine.FromSource(p, "src", src, engine.NoWatermarks[int]())
	out := engine.Process(engine.KeyBy(s, key10, engine.HashInt), "sum", factory)
	engine.ToSink(out, "collect", sink)
	return p
}

// checkpointMidway runs p, takes a checkpoint once c has n records, opens
// gate and waits for the end.
func checkpointMidway(t *testing.T, p *engine.Pipeline, c *collect, n int, gate chan struct{}) *engine.Snapshot {
	t.Helper()
	done := make(chan error)
	go func() { done <- p.Run(context.Background()) }()
	var snap *engine.Snapshot
	deadline := time.Now().Add(5 * time.Second)
	for len(c.records()) < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	for ; ; time.Sleep(time.Millisecond) {
		var err error
		if snap, err = p.Checkpoint(context.Background()); err == nil {
			break
		}
		if !errors.Is(err, engine.ErrNotRunning) || time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestTypedStateCheckpointRestore is TestCheckpointRestore with typedSum:
// the engine checkpoints the ValueState at the barrier and restores it into
// another parallelism, next to the operator's raw blobs.
func TestTypedStateCheckpointRestore(t *testing.T) {
	recs := seq(200)
	gate := make(chan struct{})
	c1 := &collect{}
	p1 := buildWith(newTypedSum, &sliceSource{recs: recs, chunk: 7, gate: gate, stopAt: 120}, c1, engine.WithParallelism(3))
	snap := checkpointMidway(t, p1, c1, 120, gate)
	pos := int(snap.Sources["src"][0])
	if pos != 120 {
		t.Fatalf("checkpoint at source position %d, want 120", pos)
	}
	c2 := &collect{}
	p2 := buildWith(newTypedSum, &sliceSource{recs: recs, chunk: 5}, c2, engine.WithParallelism(2))
	p2.RestoreFrom(snap)
	if err := p2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := subtract(expectSums(recs), expectSums(recs[:pos]))
	got := c2.records()
	sort.Ints(got)
	if !slices.Equal(got, want) {
		t.Fatalf("restored run (source at %d):\n got %v\nwant %v", pos, got, want)
	}
}

// dropSum registers no state, so a snapshot of typedSum holds a typed state
// it does not claim.
type dropSum struct{ engine.BaseOperator[int, int] }

func (dropSum) ProcessBatch([]int, *engine.Output[int]) error { return nil }

func TestUnregisteredTypedState(t *testing.T) {
	gate := make(chan struct{})
	c := &collect{}
	snap := checkpointMidway(t, buildWith(newTypedSum, &sliceSource{recs: seq(50), chunk: 7, gate: gate, stopAt: 30}, c, engine.WithParallelism(2)), c, 30, gate)
	factory := func(engine.Keys[int, int]) engine.Operator[int, int] { return dropSum{} }
	p := buildWith(factory, &sliceSource{recs: seq(50), chunk: 5}, &collect{}, engine.WithParallelism(1))
	p.RestoreFrom(snap)
	if err := p.Run(context.Background()); err == nil || !strings.Contains(err.Error(), `typed state ["sum"]`) {
		t.Fatalf("restore without the state: %v, want an error naming it", err)
	}
	p = buildWith(factory, &sliceSource{recs: seq(50), chunk: 5}, &collect{}, engine.WithParallelism(1))
	p.RestoreFrom(snap, engine.AllowNonRestoredState())
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("with AllowNonRestoredState: %v", err)
	}
}

var intKeys = engine.Keys[int, int]{Key: key10, Hash: engine.HashInt, MaxParallelism: 16}

// states is an operator with one state of each kind, for the unit tests.
type states struct {
	engine.BaseOperator[int, int]
	v *engine.ValueState[int, string]
	m *engine.MapState[int, string, float64]
	l *engine.ListState[int, []byte]
}

func (s *states) Open(ctx engine.OperatorContext) (err error) {
	if s.v, err = engine.NewValueState[int, string](ctx, "v", engine.IntCodec{}, engine.StringCodec{}); err != nil {
		return err
	}
	if s.m, err = engine.NewMapState[int, string, float64](ctx, "m", engine.IntCodec{}, engine.StringCodec{}, engine.Float64Codec{}); err != nil {
		return err
	}
	s.l, err = engine.NewListState[int, []byte](ctx, "l", engine.IntCodec{}, engine.BytesCodec{})
	return err
}

func (s *states) ProcessBatch(in []int, _ *engine.Output[int]) error {
	for _, k := range in {
		s.v.Set(k, fmt.Sprint("v", k))
		s.m.Put(k, "a", float64(k)/2)
		s.m.Put(k, "b", -float64(k))
		s.l.Add(k, []byte{byte(k)})
		s.l.Add(k, []byte{byte(k), 1})
	}
	return nil
}

// dump renders every state of s for comparisons.
func (s *states) dump(keys []int) map[int]string {
	out := map[int]string{}
	for _, k := range keys {
		v, ok := s.v.Get(k)
		if !ok {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s %d", v, s.m.Len(k))
		s.m.Range(k, func(uk string, uv float64) bool { fmt.Fprintf(&b, " %s=%g", uk, uv); return true })
		fmt.Fprintf(&b, " %v", s.l.Get(k))
		out[k] = b.String()
	}
	return out
}

func mustContext(t *testing.T, sub, par int, restored *engine.KeyedState) engine.OperatorContext {
	t.Helper()
	ctx, err := engine.NewOperatorContext(context.Background(), "states", intKeys, sub, par, restored)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

// TestTypedStateRedistribute snapshots every kind of state in one subtask
// and restores it into three: every key lands in the subtask that owns its
// key group, with the same data, and a raw blob that looks like typed state
// comes back unchanged.
func TestTypedStateRedistribute(t *testing.T) {
	keys := make([]int, 300)
	for i := range keys {
		keys[i] = i
	}
	ctx := mustContext(t, 0, 1, nil)
	op := &states{}
	if err := engine.OpenOperator[int, int](op, ctx); err != nil {
		t.Fatal(err)
	}
	if err := op.ProcessBatch(keys, &engine.Output[int]{}); err != nil {
		t.Fatal(err)
	}
	op.v.Clear(7)
	op.m.Remove(8, "a")
	op.l.Update(9, [][]byte{{42}})
	want := op.dump(keys)
	if _, ok := want[7]; ok || len(want) != len(keys)-1 {
		t.Fatalf("dump after Clear(7): %d keys", len(want))
	}
	st, err := engine.CheckpointOperator[int, int](op, ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	tricky := []byte("\xffTS\x01 not an envelope")
	st2, err := engine.CheckpointOperator[int, int](&rawOnly{blob: tricky, kg: 3}, mustContext(t, 0, 1, nil), 2)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for sub := range 3 {
		ctx := mustContext(t, sub, 3, st)
		op := &states{}
		if err := engine.OpenOperator[int, int](op, ctx); err != nil {
			t.Fatal(err)
		}
		for k, v := range op.dump(keys) {
			if !ctx.KeyGroups.Contains(intKeys.KeyGroup(k)) {
				t.Errorf("subtask %d got key %d of key group %d", sub, k, intKeys.KeyGroup(k))
			}
			got[k] = v
		}
		if n := op.v.Len(); n == 0 {
			t.Errorf("subtask %d: no keys", sub)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("restored into 3 subtasks:\n got %v\nwant %v", got, want)
	}
	// A key group's raw blob that begins like an envelope is escaped in
	// the checkpoint and handed back unchanged.
	ctx = mustContext(t, 0, 1, st2)
	if b := ctx.Restored.Get(3); !bytes.Equal(b, tricky) {
		t.Errorf("raw blob: got %q, want %q", b, tricky)
	}
	if b := st2.Get(3); bytes.Equal(b, tricky) {
		t.Errorf("raw blob with the envelope's prefix was not wrapped")
	}
}

// rawOnly writes one raw blob and has no typed state.
type rawOnly struct {
	engine.BaseOperator[int, int]
	blob []byte
	kg   int
}

func (r *rawOnly) ProcessBatch([]int, *engine.Output[int]) error { return nil }
func (r *rawOnly) OnCheckpoint(_ uint64, st *engine.KeyedState) error {
	st.Put(r.kg, r.blob)
	return nil
}

// TestRawStateUnchanged: an operator without typed state gets its blobs
// into the checkpoint byte for byte, as before typed state existed.
func TestRawStateUnchanged(t *testing.T) {
	blob := []byte{1, 2, 3}
	st, err := engine.CheckpointOperator[int, int](&rawOnly{blob: blob, kg: 5}, mustContext(t, 0, 1, nil), 1)
	if err != nil {
		t.Fatal(err)
	}
	if kgs := st.KeyGroups(); len(kgs) != 1 || !bytes.Equal(st.Get(5), blob) {
		t.Errorf("checkpoint %v: %q, want only key group 5 = %q", kgs, st.Get(5), blob)
	}
	ctx := mustContext(t, 0, 2, st)
	if !bytes.Equal(ctx.Restored.Get(5), blob) {
		t.Errorf("restored %q", ctx.Restored.Get(5))
	}
}

func TestTypedStateErrors(t *testing.T) {
	fresh := func() engine.OperatorContext { return mustContext(t, 0, 1, nil) }
	for _, tc := range []struct {
		name string
		reg  func(ctx engine.OperatorContext) error
		want string
	}{
		{"no backend", func(engine.OperatorContext) error {
			_, err := engine.NewValueState[int, int](engine.OperatorContext{}, "x", engine.IntCodec{}, engine.IntCodec{})
			return err
		}, "no StateBackend"},
		{"empty name", func(ctx engine.OperatorContext) error {
			_, err := engine.NewValueState[int, int](ctx, "", engine.IntCodec{}, engine.IntCodec{})
			return err
		}, "empty name"},
		{"duplicate", func(ctx engine.OperatorContext) error {
			if _, err := engine.NewValueState[int, int](ctx, "x", engine.IntCodec{}, engine.IntCodec{}); err != nil {
				return nil
			}
			_, err := engine.NewListState[int, int](ctx, "x", engine.IntCodec{}, engine.IntCodec{})
			return err
		}, "already registered"},
		{"key type", func(ctx engine.OperatorContext) error {
			_, err := engine.NewValueState[string, int](ctx, "x", engine.StringCodec{}, engine.IntCodec{})
			return err
		}, "keys of type string, but the stage is keyed by int"},
		{"nil codec", func(ctx engine.OperatorContext) error {
			_, err := engine.NewMapState[int, int, int](ctx, "x", engine.IntCodec{}, nil, engine.IntCodec{})
			return err
		}, "codec 2 is nil"},
		{"incomplete FuncCodec", func(ctx engine.OperatorContext) error {
			_, err := engine.NewValueState[int, int](ctx, "x", engine.IntCodec{}, engine.FuncCodec[int]{})
			return err
		}, "codec 2 is nil or incomplete"},
		{"after Open", func(ctx engine.OperatorContext) error {
			if err := engine.OpenOperator[int, int](dropSum{}, ctx); err != nil {
				return nil
			}
			_, err := engine.NewValueState[int, int](ctx, "x", engine.IntCodec{}, engine.IntCodec{})
			return err
		}, "registered after Open"},
	} {
		if err := tc.reg(fresh()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestTypedStateRestoreErrors: a state registered as another kind, a key
// in the wrong key group, and every truncation of a checkpoint fail with
// an error, never a panic.
func TestTypedStateRestoreErrors(t *testing.T) {
	ctx := mustContext(t, 0, 1, nil)
	op := &states{}
	if err := engine.OpenOperator[int, int](op, ctx); err != nil {
		t.Fatal(err)
	}
	_ = op.ProcessBatch(seq(40), &engine.Output[int]{})
	st, err := engine.CheckpointOperator[int, int](op, ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	other := mustContext(t, 0, 1, st)
	if _, err := engine.NewListState[int, string](other, "v", engine.IntCodec{}, engine.StringCodec{}); err == nil || !strings.Contains(err.Error(), "holds a ValueState") {
		t.Errorf("kind mismatch: %v", err)
	}
	// Another hash function puts keys in other key groups.
	wrongHash := engine.Keys[int, int]{Key: key10, Hash: func(k int) uint64 { return uint64(k) + 1 }, MaxParallelism: 16}
	wctx, err := engine.NewOperatorContext(context.Background(), "states", wrongHash, 0, 1, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.OpenOperator[int, int](&states{}, wctx); err == nil || !strings.Contains(err.Error(), "another hash function") {
		t.Errorf("wrong hash: %v", err)
	}
	for _, kg := range st.KeyGroups() {
		blob := st.Get(kg)
		for cut := range len(blob) {
			bad := engine.NewKeyedState()
			bad.Put(kg, blob[:cut])
			ctx, err := engine.NewOperatorContext(context.Background(), "states", intKeys, 0, 1, bad)
			if err == nil {
				err = engine.OpenOperator[int, int](&states{}, ctx)
			}
			if err == nil && cut >= 4 { // shorter: not recognised as typed state
				t.Errorf("key group %d cut at %d of %d bytes: restored", kg, cut, len(blob))
			}
		}
	}
}

// TestForeignKeyFailsCheckpoint: a key the subtask does not own fails the
// checkpoint with an error naming it.
func TestForeignKeyFailsCheckpoint(t *testing.T) {
	ctx := mustContext(t, 0, 2, nil)
	op := &states{}
	if err := engine.OpenOperator[int, int](op, ctx); err != nil {
		t.Fatal(err)
	}
	k := 0
	for ctx.KeyGroups.Contains(intKeys.KeyGroup(k)) {
		k++
	}
	op.v.Set(k, "x")
	if _, err := engine.CheckpointOperator[int, int](op, ctx, 1); err == nil || !strings.Contains(err.Error(), "does not own") {
		t.Errorf("foreign key: %v", err)
	}
}

func TestValueStateNoAllocs(t *testing.T) {
	ctx := mustContext(t, 0, 1, nil)
	ints, err := engine.NewValueState[int, int64](ctx, "i", engine.IntCodec{}, engine.Int64Codec{})
	if err != nil {
		t.Fatal(err)
	}
	skeys, err := engine.NewValueState[int, string](ctx, "s", engine.IntCodec{}, engine.StringCodec{})
	if err != nil {
		t.Fatal(err)
	}
	_ = skeys
	for k := range 100 {
		ints.Set(k, 0)
	}
	k := 0
	if n := testing.AllocsPerRun(1000, func() {
		v, _ := ints.Get(k % 100)
		ints.Set(k%100, v+1)
		ints.Set((k+50)%100, v)
		k++
	}); n != 0 {
		t.Errorf("Get/Set of present keys: %v allocations per run", n)
	}
}

func TestValueStateOps(t *testing.T) {
	ctx := mustContext(t, 0, 1, nil)
	s, err := engine.NewValueState[int, int](ctx, "x", engine.IntCodec{}, engine.IntCodec{})
	if err != nil {
		t.Fatal(err)
	}
	for k := range 10 {
		s.Set(k, k*k)
	}
	s.Clear(3)
	s.Clear(3)
	s.Clear(99)
	s.Set(10, 100) // reuses 3's slot
	if v, ok := s.Get(3); ok {
		t.Errorf("Get(3) after Clear = %d", v)
	}
	if v, ok := s.Get(10); !ok || v != 100 {
		t.Errorf("Get(10) = %d, %v", v, ok)
	}
	var seen []int
	s.Range(func(k, v int) bool {
		if v != k*k {
			t.Errorf("Range: %d -> %d", k, v)
		}
		seen = append(seen, k)
		return len(seen) < 5
	})
	if len(seen) != 5 || s.Len() != 10 {
		t.Errorf("Range stopped after %v; Len %d", seen, s.Len())
	}
}

func TestOutputRecords(t *testing.T) {
	var out engine.Output[string]
	out.Emit("a")
	out.EmitAll([]string{"b", "c"})
	if got := out.Records(); !slices.Equal(got, []string{"a", "b", "c"}) || out.Len() != 3 {
		t.Errorf("Records = %q", got)
	}
	out.Reset()
	if out.Len() != 0 || len(out.Records()) != 0 {
		t.Errorf("after Reset: %q", out.Records())
	}
}

func BenchmarkValueStateGetSet(b *testing.B) {
	ctx, err := engine.NewOperatorContext(context.Background(), "b", engine.Keys[string, string]{Hash: engine.HashString, MaxParallelism: 128}, 0, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, err := engine.NewValueState[string, int64](ctx, "n", engine.StringCodec{}, engine.Int64Codec{})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprint("word", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i%len(keys)]
		n, _ := s.Get(k)
		s.Set(k, n+1)
		i++
	}
}

// BenchmarkTypedStateCheckpoint is the hot-path pause a checkpoint adds per
// subtask: encoding a ValueState of 100k string keys by key group.
func BenchmarkTypedStateCheckpoint(b *testing.B) {
	keys := engine.Keys[string, string]{Hash: engine.HashString, MaxParallelism: 128}
	ctx, err := engine.NewOperatorContext(context.Background(), "b", keys, 0, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, err := engine.NewValueState[string, int64](ctx, "n", engine.StringCodec{}, engine.Int64Codec{})
	if err != nil {
		b.Fatal(err)
	}
	const n = 100_000
	for i := range n {
		s.Set(fmt.Sprint("word", i), int64(i))
	}
	op := &dropSum{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := engine.CheckpointOperator[int, int](op, ctx, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
}
