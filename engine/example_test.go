package engine_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/sink"
	"github.com/topspeed/topspeed/source"
)

// sale is one sale of an item.
type sale struct {
	Item string
	Qty  int
}

func parseSale(s string) sale {
	item, qty, _ := strings.Cut(s, ":")
	n, _ := strconv.Atoi(qty)
	return sale{Item: item, Qty: n}
}

func saleItem(s sale) string { return s.Item }

// totals is a keyed Operator: it sums the quantity sold per item and emits
// "item=total" for every item at the end of the input. It prints its hooks
// to show the lifecycle. The engine calls all hooks of one instance from
// one goroutine, so it needs no locks.
type totals struct {
	keys engine.Keys[string, sale] // how records map to keys and key groups
	sum  map[string]int
}

func newTotals(keys engine.Keys[string, sale]) engine.Operator[sale, string] {
	return &totals{keys: keys}
}

func (o *totals) Open(ctx engine.OperatorContext) error {
	fmt.Printf("open %q subtask %d of %d, key groups %v\n", ctx.Name, ctx.Subtask, ctx.Parallelism, ctx.KeyGroups)
	o.sum = map[string]int{}
	// After a restore, ctx.Restored holds what OnCheckpoint wrote for this
	// subtask's key groups.
	for _, kg := range ctx.Restored.KeyGroups() {
		for b := ctx.Restored.Get(kg); len(b) > 0; {
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return errors.New("totals: corrupt state")
			}
			item := string(b[n : n+int(l)])
			b = b[n+int(l):]
			total, m := binary.Varint(b)
			if m <= 0 {
				return errors.New("totals: corrupt state")
			}
			b = b[m:]
			o.sum[item] = int(total)
		}
	}
	return nil
}

func (o *totals) ProcessBatch(in []sale, out *engine.Output[string]) error {
	fmt.Printf("batch of %d\n", len(in))
	for _, s := range in { // in is only valid during the call
		o.sum[s.Item] += s.Qty
	}
	return nil
}

func (o *totals) OnWatermark(wm int64, out *engine.Output[string]) error {
	if wm == math.MaxInt64 {
		fmt.Println("end of input: event time jumps to the end")
	}
	return nil
}

func (o *totals) OnProcessingTime(now int64, out *engine.Output[string]) error { return nil }

// OnCheckpoint writes the totals by key group, so that a restore with
// another parallelism gives every subtask the items it owns then.
func (o *totals) OnCheckpoint(id uint64, state *engine.KeyedState) error {
	groups := map[int][]byte{}
	for item, total := range o.sum {
		kg := o.keys.KeyGroup(item)
		b := binary.AppendUvarint(groups[kg], uint64(len(item)))
		groups[kg] = binary.AppendVarint(append(b, item...), int64(total))
	}
	for kg, b := range groups {
		state.Put(kg, b)
	}
	return nil
}

func (o *totals) OnCommit(id uint64) error { return nil }

func (o *totals) Close(out *engine.Output[string]) error {
	fmt.Println("close: emit the totals")
	items := make([]string, 0, len(o.sum))
	for item := range o.sum {
		items = append(items, item)
	}
	slices.Sort(items) // map order is random; keep the output stable
	for _, item := range items {
		out.Emit(fmt.Sprintf("%s=%d", item, o.sum[item]))
	}
	return nil
}

// A minimal pipeline: an in-memory source, a stateless Map, KeyBy, a custom
// keyed Operator and an in-memory sink. With parallelism 1 and batches of 2
// records the operator sees three batches; at the end of the input it gets
// the final watermark, then Close, where it emits its results.
func Example_pipeline() {
	p := engine.New(
		engine.WithParallelism(1),
		engine.WithBatchSize(2),
		engine.WithProcessingTimeInterval(0), // no OnProcessingTime calls
	)
	lines := engine.FromSource(p, "sales",
		source.NewSlice([]string{"apple:3", "pear:1", "apple:2", "fig:4", "pear:5"}),
		engine.NoWatermarks[string]())
	sales := engine.Map(lines, parseSale) // chained: runs in the source's goroutine
	byItem := engine.KeyBy(sales, saleItem, engine.HashString)
	sums := engine.Process(byItem, "totals", newTotals)
	out := sink.NewCollect[string]()
	engine.ToSink(sums, "collect", engine.Sink[string](out))

	if err := p.Run(context.Background()); err != nil {
		fmt.Println("run:", err)
		return
	}
	for _, r := range out.Records() {
		fmt.Println(r)
	}
	// Output:
	// open "totals" subtask 0 of 1, key groups [0,128)
	// batch of 2
	// batch of 2
	// batch of 1
	// end of input: event time jumps to the end
	// close: emit the totals
	// apple=5
	// fig=4
	// pear=6
}

// TestExampleTotalsCheckpoint checks the example operator's checkpoint
// code, which the example itself does not run.
func TestExampleTotalsCheckpoint(t *testing.T) {
	keys := engine.Keys[string, sale]{Key: saleItem, Hash: engine.HashString, MaxParallelism: 4}
	all := engine.KeyGroupRange{Start: 0, End: 4}
	op := newTotals(keys)
	var out engine.Output[string]
	if err := op.Open(engine.OperatorContext{KeyGroups: all}); err != nil {
		t.Fatal(err)
	}
	var in []sale
	for i, item := range strings.Fields("a b c d e f g h") {
		in = append(in, sale{item, i + 1})
	}
	if err := op.ProcessBatch(in, &out); err != nil {
		t.Fatal(err)
	}
	st := engine.NewKeyedState()
	if err := op.OnCheckpoint(1, st); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for sub := range 2 {
		r := engine.KeyGroupRangeFor(sub, 4, 2)
		re := newTotals(keys).(*totals)
		if err := re.Open(engine.OperatorContext{KeyGroups: r, Restored: st.Subset(r)}); err != nil {
			t.Fatal(err)
		}
		for item, n := range re.sum {
			if !r.Contains(keys.KeyGroup(item)) {
				t.Errorf("subtask %d got item %s of another key group", sub, item)
			}
			got[item] = n
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(op.(*totals).sum) || len(got) != 8 {
		t.Errorf("restored %v, want %v", got, op.(*totals).sum)
	}
}
