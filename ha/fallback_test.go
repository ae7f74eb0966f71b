package ha

import (
	"strings"
	"testing"
	"time"
)

// A fallback is the one explicit way back: below the committed id, fenced
// by term like a checkpoint, recorded in FellBackFrom; an ordinary stale
// checkpoint stays refused, and later checkpoints advance from the
// fallback.
func TestDecideFallback(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cur := Pointer{ID: 5, Path: "p5", Term: 3}
	if _, err := decide(cur, command{Op: "checkpoint", ID: 3, Path: "p3", Term: 4}, 4, at); err == nil {
		t.Fatal("an ordinary older checkpoint must be refused")
	}
	for _, id := range []uint64{0, 5, 6} {
		if _, err := decide(cur, command{Op: "fallback", ID: id, Path: "p", Term: 4, Taken: 2}, 4, at); err == nil || !strings.Contains(err.Error(), "not below") {
			t.Fatalf("fallback to %d accepted: %v", id, err)
		}
	}
	if _, err := decide(cur, command{Op: "fallback", ID: 3, Path: "p3", Term: 3, Taken: 2}, 4, at); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("a fallback from an old term must be refused: %v", err)
	}
	fb, err := decide(cur, command{Op: "fallback", ID: 3, Path: "p3", Term: 4, Taken: 2}, 4, at)
	if err != nil || fb != (Pointer{ID: 3, Path: "p3", Term: 2, Time: at, FellBackFrom: 5}) {
		t.Fatalf("got %+v %v", fb, err)
	}
	next, err := decide(fb, command{Op: "checkpoint", ID: 4, Path: "p4", Term: 4}, 4, at)
	if err != nil || next.ID != 4 || next.FellBackFrom != 5 {
		t.Fatalf("got %+v %v", next, err)
	}
}

// A savepoint is adopted only while no checkpoint is committed; it may be
// replaced before the first commit, checkpoints keep it as their origin,
// and after one commit (or the end of the job) it is refused.
func TestDecideSavepoint(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p, err := decide(Pointer{}, command{Op: "savepoint", Path: "/sp/a", Term: 2}, 2, at)
	if err != nil || p.Origin != "/sp/a" || p.ID != 0 {
		t.Fatalf("adopt: %+v %v", p, err)
	}
	if p, err = decide(p, command{Op: "savepoint", Path: "/sp/b", Term: 3}, 3, at); err != nil || p.Origin != "/sp/b" {
		t.Fatalf("re-adopt before a commit: %+v %v", p, err)
	}
	if _, err := decide(p, command{Op: "savepoint", Path: "/sp/c", Term: 2}, 3, at); err == nil {
		t.Fatal("a savepoint appended by a leader of another term was accepted")
	}
	if _, err := decide(p, command{Op: "savepoint", Term: 3}, 3, at); err == nil {
		t.Fatal("a savepoint without a path was accepted")
	}
	p, err = decide(p, command{Op: "checkpoint", ID: 8, Path: "p8", Term: 3}, 3, at)
	if err != nil || p.Origin != "/sp/b" || p.ID != 8 {
		t.Fatalf("checkpoint after the savepoint: %+v %v", p, err)
	}
	if _, err := decide(p, command{Op: "savepoint", Path: "/sp/d", Term: 4}, 4, at); err == nil || !strings.Contains(err.Error(), "already committed") {
		t.Fatalf("a savepoint after a committed checkpoint: %v", err)
	}
	if _, err := decide(Pointer{Finished: true}, command{Op: "savepoint", Path: "/sp/e", Term: 4}, 4, at); err == nil {
		t.Fatal("a savepoint after the job finished was accepted")
	}
}
