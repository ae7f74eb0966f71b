package sink

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/topspeed/topspeed/engine"
)

func itoa(dst []byte, v int) []byte { return strconv.AppendInt(dst, int64(v), 10) }

// published returns the records of the published parts, in part order.
func published(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		if strings.HasPrefix(de.Name(), "part-") {
			names = append(names, de.Name())
		}
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		b, _ := os.ReadFile(filepath.Join(dir, n))
		out = append(out, strings.Fields(string(b))...)
	}
	return out
}

func TestPartsPublishOnlyOnCommit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := NewParts(dir, itoa)
	if err := p.Open(ctx); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(p.Write(ctx, []int{1, 2}))
	must(p.Flush(ctx))
	st1, err := p.SnapshotState(1)
	must(err)
	if got := published(t, dir); len(got) != 0 {
		t.Fatalf("published before commit: %v", got)
	}
	must(p.Commit(1))
	if got := strings.Join(published(t, dir), ","); got != "1,2" {
		t.Fatalf("after commit 1: %s", got)
	}
	must(p.Write(ctx, []int{3}))
	must(p.Flush(ctx))
	_, err = p.SnapshotState(2) // checkpoint 2 taken but never committed: the crash comes first
	must(err)
	must(p.Write(ctx, []int{4, 5}))
	must(p.Flush(ctx))
	_ = p.Close() // crash

	// Restore from checkpoint 1: the parts of checkpoint 2 and after vanish.
	q := NewParts(dir, itoa)
	must(q.Open(ctx))
	must(q.RestoreState(st1))
	if got := strings.Join(published(t, dir), ","); got != "1,2" {
		t.Fatalf("after restore: %s", got)
	}
	must(q.Write(ctx, []int{3, 4, 5}))
	must(q.Flush(ctx))
	must(q.Commit(engine.EndOfInput))
	must(q.Close())
	if got := strings.Join(published(t, dir), ","); got != "1,2,3,4,5" {
		t.Fatalf("final: %s", got)
	}
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			t.Fatalf("hidden file left: %s", de.Name())
		}
	}
}

// A checkpoint whose commit notification was lost (crash right after the
// checkpoint became durable) is published by the restore.
func TestPartsRestorePublishesPendingOfRestoredCheckpoint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := NewParts(dir, itoa)
	_ = p.Open(ctx)
	_ = p.Write(ctx, []int{7, 8})
	_ = p.Flush(ctx)
	st, err := p.SnapshotState(5)
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Close()
	q := NewParts(dir, itoa)
	_ = q.Open(ctx)
	if err := q.RestoreState(st); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(published(t, dir), ","); got != "7,8" {
		t.Fatalf("got %s", got)
	}
	if err := q.RestoreState([]byte{9}); err == nil {
		t.Fatal("accepted an unknown state version")
	}
}

func TestPartsFreshRunReplacesOldOutput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "part-000000000000"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := NewParts(dir, itoa)
	_ = p.Open(ctx)
	_ = p.Write(ctx, []int{1})
	_ = p.Flush(ctx)
	if err := p.Commit(engine.EndOfInput); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(published(t, dir), ","); got != "1" {
		t.Fatalf("got %s", got)
	}
}

// A partition's next owner (writer b) restores the old owner's (a) state:
// a's pending part of the restored checkpoint is published, a's later
// parts are discarded, and a part a keeps writing (a zombie) never shares a
// file name with b's.
func TestPartsWriterHandover(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	a := NewParts(dir, itoa).WithWriter("topic-3-e7")
	must(a.Open(ctx))
	must(a.Write(ctx, []int{1, 2}))
	must(a.Flush(ctx))
	st, err := a.SnapshotState(1) // a crashes before Commit(1)
	must(err)
	must(a.Write(ctx, []int{3})) // after the restored checkpoint: replayed by b
	must(a.Flush(ctx))

	b := NewParts(dir, itoa).WithWriter("topic-3-e9")
	must(b.Open(ctx))
	must(b.RestoreState(st))
	if got := strings.Join(published(t, dir), ","); got != "1,2" {
		t.Fatalf("after the handover published %q, want 1,2", got)
	}
	must(b.Write(ctx, []int{3, 4}))
	must(a.Write(ctx, []int{99})) // the zombie writes on: its own file
	must(a.Flush(ctx))
	must(b.Flush(ctx))
	_, err = b.SnapshotState(2)
	must(err)
	must(b.Commit(2))
	if got := strings.Join(published(t, dir), ","); got != "1,2,3,4" {
		t.Fatalf("published %q, want 1,2,3,4", got)
	}
	if err := b.RestoreState([]byte{2, 200}); err == nil {
		t.Fatal("a corrupt version-2 state was accepted")
	}
}
