package ha

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestDecideRefusesOlderPointer: with the pointer at (44, term 13), a
// checkpoint of term 12 arriving late is refused whatever its id: one with
// a smaller id (the HA test's failure message) and one with a larger id (a
// deposed leader numbering from an older restore). Only ids above 44 in
// term 13 or later move the pointer; a stop announcement never goes back.
func TestDecideRefusesOlderPointer(t *testing.T) {
	at := time.Unix(100, 0)
	cur := Pointer{ID: 44, Path: "p44", Term: 13, StopTerm: 13}
	for _, c := range []struct {
		id, term uint64
		ok       bool
	}{
		{37, 12, false}, // older id, older term
		{45, 12, false}, // larger id, older term: the old rule (id only) took it
		{44, 13, false}, // the same pointer again
		{43, 13, false}, // older id, same term
		{44, 14, false}, // same id, newer term
		{45, 13, true},
		{45, 14, true},
	} {
		cmd := command{Op: "checkpoint", ID: c.id, Path: "p", Term: c.term}
		next, err := decide(cur, cmd, c.term, at) // appended by a leader of its own term
		if c.ok != (err == nil) || c.ok != newer(cur, c.id, c.term) {
			t.Errorf("checkpoint (%d, term %d) after (44, term 13): err %v, want accepted %v", c.id, c.term, err, c.ok)
		}
		if err != nil && next != cur {
			t.Errorf("refused checkpoint (%d, term %d) changed the pointer to %+v", c.id, c.term, next)
		}
		if err != nil && !strings.Contains(err.Error(), "stale") && !strings.Contains(err.Error(), "not newer") {
			t.Errorf("refusal of (%d, term %d) does not say why: %v", c.id, c.term, err)
		}
	}
	for _, op := range []string{"finished", "stopping"} {
		if _, err := decide(cur, command{Op: op, Term: 12}, 12, at); err == nil || !strings.Contains(err.Error(), "stale") {
			t.Errorf("%s of term 12 after the pointer's term 13: %v, want stale", op, err)
		}
	}
	if _, err := decide(Pointer{ID: 1, Term: 3, StopTerm: 5}, command{Op: "stopping", Term: 4}, 4, at); err == nil {
		t.Error("a stop announcement of term 4 after one of term 5 was accepted")
	}
}

func entry(t *testing.T, index, term uint64, cmd command) *raft.Log {
	t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Term: term, Type: raft.LogCommand, Data: b, AppendedAt: time.Unix(int64(index), 0)}
}

// TestFSMRefusesStalePointerAppliedLate applies a log in which a stale-term
// pointer comes after a newer one (a raft log cannot hold that, so this
// also covers a snapshot restored under a newer pointer): the FSM keeps the
// newer pointer, counts the refusal in Pointer.Refused (and in snapshots),
// and logs every entry with its raft index and verdict.
func TestFSMRefusesStalePointerAppliedLate(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	f := &fsm{log: zap.New(core)}
	apply := func(l *raft.Log) error { return f.Apply(l).(applyResult).err }
	if err := apply(entry(t, 1, 12, command{Op: "checkpoint", ID: 36, Path: "p36", Term: 12})); err != nil {
		t.Fatal(err)
	}
	if err := apply(entry(t, 2, 13, command{Op: "checkpoint", ID: 44, Path: "p44", Term: 13})); err != nil {
		t.Fatal(err)
	}
	for i, cmd := range []command{{Op: "checkpoint", ID: 37, Path: "p37", Term: 12}, {Op: "checkpoint", ID: 45, Path: "p45", Term: 12}} {
		if err := apply(entry(t, uint64(3+i), 12, cmd)); err == nil {
			t.Errorf("stale pointer (%d, term 12) applied after (44, term 13) was accepted", cmd.ID)
		}
	}
	if err := apply(&raft.Log{Index: 5, Term: 13, Type: raft.LogCommand, Data: []byte("{")}); err == nil || !strings.Contains(err.Error(), "entry 5") {
		t.Errorf("undecodable entry: %v", err)
	}
	p := f.pointer()
	if p.ID != 44 || p.Term != 13 || p.Path != "p44" || p.Index != 2 || p.Refused != 3 {
		t.Fatalf("pointer %+v, want (44, term 13) set by index 2 with 3 refusals", p)
	}

	var got []string
	for _, e := range logs.FilterMessage("raft entry applied").All() {
		m := e.ContextMap()
		got = append(got, strings.Join([]string{jsonString(m["index"]), jsonString(m["checkpoint"]), jsonString(m["accepted"])}, "/"))
	}
	if want := "1/36/true 2/44/true 3/37/false 4/45/false 5/0/false"; strings.Join(got, " ") != want {
		t.Errorf("applied lines %q, want %q", strings.Join(got, " "), want)
	}

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := snap.Persist(&sinkBuf{Buffer: &buf}); err != nil {
		t.Fatal(err)
	}
	g := &fsm{}
	if err := g.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	if q := g.pointer(); !q.Time.Equal(p.Time) || q.ID != p.ID || q.Term != p.Term || q.Index != p.Index || q.Refused != p.Refused {
		t.Fatalf("restored %+v, want %+v", q, p)
	}
	if err := g.Apply(entry(t, 6, 12, command{Op: "checkpoint", ID: 50, Path: "p50", Term: 12})); err == nil || g.pointer().Refused != 4 {
		t.Fatalf("after restoring the snapshot, a term-12 pointer: %v, refused %d", err, g.pointer().Refused)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// sinkBuf is a raft.SnapshotSink writing to a buffer.
type sinkBuf struct{ *bytes.Buffer }

func (sinkBuf) ID() string    { return "test" }
func (sinkBuf) Cancel() error { return nil }
func (sinkBuf) Close() error  { return nil }
