package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/topspeed/topspeed/internal/testenv"
	"github.com/topspeed/topspeed/source"
)

// firstValues returns the first value each member's tasks read per
// partition, in delivery order.
func firstValues(ds []delivery) map[int32]int64 {
	out := make(map[int32]int64)
	for _, d := range ds {
		if _, ok := out[d.part]; !ok {
			out[d.part] = d.value
		}
	}
	return out
}

// TestStartOffsets: fetching starts exactly at the offsets Assigned
// returns, other partitions at StartOffset, never at the group's committed
// offsets; an offset outside the log fails that partition's source.
func TestStartOffsets(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.KafkaTopic(t, brokers, 8)
	prod := producer(t, brokers)
	for p := range int32(8) {
		produce(t, prod, topic, p, seq(0, 20)...)
	}
	group := topic + "-g"
	// Offsets committed to the group beforehand must be ignored.
	adm := kadm.NewClient(prod)
	var committed kadm.Offsets
	for p := range int32(8) {
		committed.AddOffset(topic, p, 7, -1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := adm.CommitAllOffsets(ctx, group, committed); err != nil {
		t.Fatalf("pre-committing offsets: %v", err)
	}

	st := newStore()
	h := newTestHandler(t, "a", st)
	h.fixed = map[int32]int64{0: 5, 3: 20, 5: 12, 6: 1000}
	startMember(t, brokerConfig(t, topic, group), h)
	if e := nextEvent(t, h, 30*time.Second); !e.assigned || len(e.parts) != 8 {
		t.Fatalf("first event %+v, want all 8 partitions assigned", e)
	}
	produce(t, prod, topic, 3, "20", "21")
	want := map[int32]int64{0: 5, 1: 0, 2: 0, 3: 20, 4: 0, 5: 12, 7: 0}
	waitFor(t, 20*time.Second, "every partition's records read", func() bool {
		n := make(map[int32]int)
		for _, d := range st.deliveries() {
			n[d.part]++
		}
		return n[0] == 15 && n[3] == 2 && n[5] == 8 && n[1] == 20 && n[7] == 20
	})
	if got := firstValues(st.deliveries()); !mapsEqual(got, want) {
		t.Fatalf("first offsets read %v, want %v", got, want)
	}
	waitFor(t, 10*time.Second, "partition 6's source failing", func() bool { return h.taskErr(6) != nil })
	if err := h.taskErr(6); !errors.Is(err, kerr.OffsetOutOfRange) || !strings.Contains(err.Error(), "outside the partition's log [0, 20]") {
		t.Fatalf("partition 6 (offset 1000 of 20): %v", err)
	}
	h.mu.Lock()
	delete(h.errs, 6)
	h.mu.Unlock()
	h.checkNoErrors()

	t.Run("latest", func(t *testing.T) {
		st := newStore()
		h := newTestHandler(t, "b", st)
		cfg := brokerConfig(t, topic, group+"-latest")
		cfg.StartOffset = Latest
		m := startMember(t, cfg, h)
		if e := nextEvent(t, h, 30*time.Second); !e.assigned || len(e.parts) != 8 {
			t.Fatalf("first event %+v", e)
		}
		if p, ok := m.Partition(1); !ok || p.Start() != 20 { // waits for the assignment to complete
			t.Fatalf("partition 1: %v %v, want it to start at the end, 20", p, ok)
		}
		produce(t, prod, topic, 1, "20", "21")
		waitFor(t, 20*time.Second, "the new records read", func() bool { return len(st.deliveries()) == 2 })
		if got := firstValues(st.deliveries()); !mapsEqual(got, map[int32]int64{1: 20}) {
			t.Fatalf("read %v, want only partition 1 from offset 20", st.deliveries())
		}
		h.checkNoErrors()
	})
}

func mapsEqual(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestRebalanceHandover: two members share an 8-partition topic while it
// is written to. The second member's arrival moves partitions
// cooperatively (Revoked on the first, then Assigned on the second); each
// moved partition continues where its previous task stopped, so every
// record is read exactly once, and never by two members in one
// generation.
func TestRebalanceHandover(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.KafkaTopic(t, brokers, 8)
	prod := producer(t, brokers)
	group := topic + "-g"
	st := newStore()
	ha, hb := newTestHandler(t, "a", st), newTestHandler(t, "b", st)

	// Write 8 x 10 records every 10 ms until stopped.
	stop, stopped := make(chan struct{}), make(chan struct{})
	produced := make([]int, 8)
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			for p := range int32(8) {
				produce(t, prod, topic, p, seq(produced[p], produced[p]+10)...)
				produced[p] += 10
			}
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-stopped
	}()

	a := startMember(t, brokerConfig(t, topic, group), ha)
	if e := nextEvent(t, ha, 30*time.Second); !e.assigned || len(e.parts) != 8 {
		t.Fatalf("a: first event %+v, want all 8 partitions", e)
	}
	waitFor(t, 20*time.Second, "a reading every partition", func() bool {
		return len(firstValues(st.deliveries())) == 8
	})
	b := startMember(t, brokerConfig(t, topic, group), hb)
	e := nextEvent(t, ha, 30*time.Second)
	if e.assigned || e.lost || len(e.parts) == 0 || len(e.parts) == 8 {
		t.Fatalf("a: after b joined: %+v, want some partitions revoked cleanly", e)
	}
	revoked := e.parts
	e = nextEvent(t, hb, 30*time.Second)
	if !e.assigned || !slices.Equal(e.parts, revoked) {
		t.Fatalf("b: %+v, want the partitions a gave up, %v", e, revoked)
	}
	if e.gen <= 1 {
		t.Fatalf("b assigned in generation %d", e.gen)
	}
	for _, p := range revoked {
		if _, ok := b.Partition(p); !ok { // waits for the assignment to complete
			t.Fatalf("b does not own partition %d", p)
		}
	}
	ownedA, ownedB := a.Owned(), b.Owned()
	if all := slices.Sorted(slices.Values(append(slices.Clone(ownedA), ownedB...))); !slices.Equal(all, []int32{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("owned: a %v, b %v", ownedA, ownedB)
	}
	time.Sleep(300 * time.Millisecond) // both read for a while
	close(stop)
	<-stopped
	waitFor(t, 20*time.Second, "every record read", func() bool { return len(st.deliveries()) == 8*produced[0] })
	a.Close()
	b.Close()
	ha.checkNoErrors()
	hb.checkNoErrors()

	seen := make(map[[2]int64]delivery)
	owner := make(map[[2]int32]string) // (partition, generation) -> member
	for _, d := range st.deliveries() {
		k := [2]int64{int64(d.part), d.value}
		if prev, dup := seen[k]; dup {
			t.Errorf("partition %d offset %d read twice: %+v and %+v", d.part, d.value, prev, d)
		}
		seen[k] = d
		pg := [2]int32{d.part, d.gen}
		if m, ok := owner[pg]; ok && m != d.member {
			t.Errorf("partition %d generation %d read by %s and %s", d.part, d.gen, m, d.member)
		}
		owner[pg] = d.member
	}
	for p := range int32(8) {
		for v := range produced[p] {
			if _, ok := seen[[2]int64{int64(p), int64(v)}]; !ok {
				t.Errorf("partition %d offset %d never read", p, v)
			}
		}
	}
	moved := 0
	for _, d := range st.deliveries() {
		if d.member == "b" {
			moved++
		}
	}
	t.Logf("%d records per partition; b read %d after taking %v", produced[0], moved, revoked)
	if moved == 0 {
		t.Error("b read nothing")
	}
}

// TestBadRecordReported: a value that does not parse fails Read with its
// topic, partition and offset, or is skipped and counted.
func TestBadRecordReported(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.KafkaTopic(t, brokers, 2)
	prod := producer(t, brokers)
	produce(t, prod, topic, 1, "0", "1", "two", "3")
	for _, policy := range []source.BadRecordPolicy{source.Fail, source.Skip} {
		t.Run(policy.String(), func(t *testing.T) {
			h := &plainHandler{assigned: make(chan []int32, 10)}
			m := startMemberPlain(t, brokerConfig(t, topic, topic+"-"+policy.String()), h)
			<-h.assigned
			p, ok := m.Partition(1)
			if !ok {
				t.Fatal("partition 1 not owned")
			}
			s := NewSource(p, parseInt, WithBadRecords(policy))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := s.Open(ctx); err != nil {
				t.Fatal(err)
			}
			var got []int64
			var err error
			buf := make([]int64, 10)
			for len(got) < 3 && err == nil {
				var n int
				n, err = s.Read(ctx, buf)
				got = append(got, buf[:n]...)
			}
			var re *RecordError
			switch policy {
			case source.Fail:
				if !errors.As(err, &re) || !errors.Is(err, source.ErrBadRecord) || re.Topic != topic || re.Partition != 1 || re.Offset != 2 {
					t.Fatalf("Read: %v (read %v), want a RecordError at %s/1 offset 2", err, got, topic)
				}
				if want := fmt.Sprintf("kafka topic %s partition 1 offset 2: ", topic); !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("error %q, want the prefix %q", err, want)
				}
			case source.Skip:
				if err != nil || !slices.Equal(got, []int64{0, 1, 3}) || s.Skipped() != 1 || s.Errors()[0].Offset != 2 {
					t.Fatalf("Read: %v %v, skipped %d", got, err, s.Skipped())
				}
			}
			s.Close()
		})
	}
}

// plainHandler only reports assignments; it reads nothing itself.
type plainHandler struct {
	assigned chan []int32
	revoked  chan []int32
}

func (h *plainHandler) Assigned(ctx context.Context, gen int32, parts []int32) (map[int32]int64, error) {
	h.assigned <- parts
	return nil, nil
}

func (h *plainHandler) Revoked(ctx context.Context, parts []int32, lost bool) {
	if h.revoked != nil {
		h.revoked <- parts
	}
}

func startMemberPlain(t *testing.T, cfg Config, h Handler) *Member {
	t.Helper()
	m, err := NewMember(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- m.Run(context.Background()) }()
	t.Cleanup(func() {
		m.Close()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return m
}

// TestCommitFenced: Commit writes offsets to the group for the current
// generation only; a stale generation is refused by the member and, when
// sent anyway, by the broker.
func TestCommitFenced(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.KafkaTopic(t, brokers, 4)
	prod := producer(t, brokers)
	for p := range int32(4) {
		produce(t, prod, topic, p, seq(0, 10)...)
	}
	group := topic + "-g"
	adm := kadm.NewClient(prod)
	committedAt := func(p int32) int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		os, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		o, ok := os.Lookup(topic, p)
		if !ok {
			return -1
		}
		return o.At
	}
	ha := &plainHandler{assigned: make(chan []int32, 10), revoked: make(chan []int32, 10)}
	a := startMemberPlain(t, brokerConfig(t, topic, group), ha)
	<-ha.assigned
	for p := range int32(4) {
		a.Partition(p) // waits for the assignment to complete
	}
	g1 := a.Generation()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Commit(ctx, g1, map[int32]int64{0: 3, 1: 4}); err != nil {
		t.Fatalf("Commit(generation %d): %v", g1, err)
	}
	if c0, c1 := committedAt(0), committedAt(1); c0 != 3 || c1 != 4 {
		t.Fatalf("committed %d, %d; want 3, 4", c0, c1)
	}
	if err := a.Commit(ctx, g1, map[int32]int64{9: 1}); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("Commit of partition 9: %v, want ErrNotOwned", err)
	}

	hb := &plainHandler{assigned: make(chan []int32, 10)}
	b := startMemberPlain(t, brokerConfig(t, topic, group), hb)
	lost := <-ha.revoked
	<-hb.assigned
	b.Partition(lost[0]) // waits for the assignment to complete
	waitFor(t, 10*time.Second, "a and b in one generation", func() bool { return a.Generation() == b.Generation() && a.Generation() > g1 })
	kept := a.Owned()
	if len(kept) == 0 || len(lost) == 0 {
		t.Fatalf("a kept %v, gave up %v", kept, lost)
	}
	err := a.Commit(ctx, g1, map[int32]int64{kept[0]: 5})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("Commit with the old generation %d: %v, want ErrFenced", g1, err)
	}
	// Past the member's own check (as when a rebalance comes between the
	// check and the request), the client's generation is checked again.
	a.mu.Lock()
	cl := a.cl
	a.mu.Unlock()
	g := a.Generation()
	if err = a.commitAt(ctx, cl, g1, map[int32]int64{kept[0]: 6}); !errors.Is(err, ErrFenced) {
		t.Fatalf("commit of generation %d past the member's check: %v, want ErrFenced", g1, err)
	}
	before := committedAt(kept[0])
	if before == 5 || before == 6 {
		t.Fatalf("a fenced commit was written: %d", before)
	}
	if a.Generation() != g {
		t.Fatalf("generation %d -> %d: the refused commit caused a rebalance", g, a.Generation())
	}
	if err := a.Commit(ctx, g, map[int32]int64{kept[0]: 7}); err != nil {
		t.Fatalf("Commit with the current generation: %v", err)
	}
	if c := committedAt(kept[0]); c != 7 {
		t.Fatalf("committed %d, want 7", c)
	}
	if err := a.Commit(ctx, a.Generation(), map[int32]int64{lost[0]: 8}); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("Commit of a revoked partition: %v, want ErrNotOwned", err)
	}
}
