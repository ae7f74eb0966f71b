package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"pgregory.net/rapid"

	"github.com/topspeed/topspeed/engine"
)

// genState is a keyed stage's state as a test evolves it: per key group
// its generation and bytes.
type genState struct {
	gens  map[int]uint64
	blobs map[int][]byte
}

func (g *genState) snapshot(id uint64) *engine.Snapshot {
	st := engine.NewKeyedState()
	for kg, b := range g.blobs {
		st.PutGen(kg, g.gens[kg], b)
	}
	empty := engine.NewKeyedState()
	return &engine.Snapshot{ID: id, MaxParallelism: 128, Sources: map[string][]byte{"cars": {byte(id)}},
		Sinks: map[string][]byte{}, Watermarks: map[string]int64{"cars": int64(id)},
		Operators: map[string]*engine.KeyedState{"speed": st, "empty": empty}}
}

// change gives kg new bytes and a new generation (gen 0 if plain).
func (g *genState) change(kg int, id uint64, plain bool) {
	g.blobs[kg] = []byte(fmt.Sprintf("kg %d at %d", kg, id))
	g.gens[kg] = 0
	if !plain {
		g.gens[kg] = engine.NewStateGen()
	}
}

func newGenState() *genState {
	g := &genState{gens: map[int]uint64{}, blobs: map[int][]byte{}}
	for kg := range 16 {
		g.change(kg, 0, false)
	}
	return g
}

// TestIncrementalWritesOnlyChangedGroups: the second checkpoint writes one
// key group and refers to the first for the others; both load whole.
func TestIncrementalWritesOnlyChangedGroups(t *testing.T) {
	s := newStore(t, 0)
	var points []string
	s.Hook = func(p string, _ uint64) { points = append(points, p) }
	g := newGenState()
	first, err := s.Write(context.Background(), g.snapshot(1), meta)
	if err != nil {
		t.Fatal(err)
	}
	g.change(5, 2, false)
	snap2 := g.snapshot(2)
	second, err := s.Write(context.Background(), snap2, meta)
	if err != nil {
		t.Fatal(err)
	}
	if first.Manifest.FormatVersion != formatFull || second.Manifest.FormatVersion != formatShared {
		t.Fatalf("format versions %d, %d", first.Manifest.FormatVersion, second.Manifest.FormatVersion)
	}
	if len(second.Manifest.Shared) != 1 || len(second.Manifest.Shared[0].Groups["speed"]) != 15 || second.Bytes >= first.Bytes {
		t.Fatalf("second checkpoint: %+v, %d bytes (first %d)", second.Manifest.Shared, second.Bytes, first.Bytes)
	}
	if fmt.Sprint(points) != "[files-written complete files-written incremental-files-written complete]" {
		t.Fatalf("hook points %v", points)
	}
	got, info, err := Load(second.Path)
	if err != nil {
		t.Fatal(err)
	}
	equalSnapshots(t, got, snap2)
	if info.SharedBytes != first.Manifest.Files[2].Size {
		t.Fatalf("shared bytes %d", info.SharedBytes)
	}
	// Another term starts over in full: it must not refer to files an
	// older leader may prune.
	g.change(6, 3, false)
	m := meta
	m.Term = 1
	third, err := s.Write(context.Background(), g.snapshot(3), m)
	if err != nil || len(third.Manifest.Shared) != 0 {
		t.Fatalf("new term: %v, shared %+v", err, third.Manifest.Shared)
	}
}

// TestSavepointsAreSelfContained: a savepoint store never refers to
// earlier files.
func TestSavepointsAreSelfContained(t *testing.T) {
	s, err := NewStore(t.TempDir(), 0, "savepoint", nil)
	if err != nil {
		t.Fatal(err)
	}
	g := newGenState()
	for id := uint64(1); id <= 2; id++ {
		info, err := s.Write(context.Background(), g.snapshot(id), meta)
		if err != nil || len(info.Manifest.Shared) != 0 || info.Manifest.FormatVersion != formatFull {
			t.Fatalf("savepoint %d: %v %+v", id, err, info.Manifest)
		}
	}
}

// TestBrokenSharedFileInvalidates: a checkpoint whose shared file is
// corrupt or missing is invalid, and Latest falls back past it.
func TestBrokenSharedFileInvalidates(t *testing.T) {
	for _, damage := range []string{"corrupt", "missing"} {
		t.Run(damage, func(t *testing.T) {
			s := newStore(t, 0)
			g := newGenState()
			s.Incremental = false
			full, err := s.Write(context.Background(), g.snapshot(1), meta) // a full one, not a base
			if err != nil {
				t.Fatal(err)
			}
			s.Incremental = true
			base, err := s.Write(context.Background(), g.snapshot(2), meta)
			if err != nil {
				t.Fatal(err)
			}
			g.change(1, 3, false)
			inc, err := s.Write(context.Background(), g.snapshot(3), meta)
			if err != nil || len(inc.Manifest.Shared) == 0 {
				t.Fatalf("%v %+v", err, inc.Manifest)
			}
			damageFile(t, filepath.Join(base.Path, fileState), damage)
			if _, _, err := Load(inc.Path); !errors.Is(err, ErrInvalid) {
				t.Fatalf("checkpoint with a %s shared file: %v", damage, err)
			}
			_, info, err := s.Latest("fp-1", nil)
			if err != nil || info.Path != full.Path {
				t.Fatalf("Latest: %v %s, want the full checkpoint %s", err, info.Path, full.Path)
			}
		})
	}
}

// TestIncrementalRetention writes random sequences of checkpoints, each
// changing a random set of key groups, with a random retention: after every
// write, each retained checkpoint loads and equals what was written, and
// the directory holds no file that no retained checkpoint needs, once the
// older ones have been pruned.
func TestIncrementalRetention(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		retain := rapid.IntRange(1, 4).Draw(t, "retain")
		s, err := NewStore(os.TempDir()+"/ckinc-"+fmt.Sprint(rapid.Uint64().Draw(t, "dir")), retain, "checkpoint", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(s.Dir())
		g := newGenState()
		written := map[uint64]*engine.Snapshot{}
		var order []string
		n := rapid.IntRange(1, 12).Draw(t, "checkpoints")
		for id := uint64(1); id <= uint64(n); id++ {
			for _, kg := range rapid.SliceOfNDistinct(rapid.IntRange(0, 15), 0, 16, rapid.ID[int]).Draw(t, "changed") {
				g.change(kg, id, rapid.IntRange(0, 9).Draw(t, "plain") == 0)
			}
			snap := g.snapshot(id)
			info, err := s.Write(context.Background(), snap, meta)
			if err != nil {
				t.Fatal(err)
			}
			written[id] = snap
			order = append(order, info.Path)
			for i := max(0, len(order)-retain); i < len(order); i++ {
				got, _, err := Load(order[i])
				if err != nil {
					t.Fatalf("after checkpoint %d, retained %s: %v", id, filepath.Base(order[i]), err)
				}
				equalSnapshotsR(t, got, written[got.ID])
			}
			for i := 0; i < len(order)-retain; i++ {
				if fileExists(filepath.Join(order[i], fileManifest)) {
					t.Fatalf("after checkpoint %d: %s is beyond the retention of %d but still complete", id, filepath.Base(order[i]), retain)
				}
			}
		}
		// Every file left is needed by a retained checkpoint.
		checkOnlyNeededFiles(t, s, order, retain)
	})
}

func equalSnapshotsR(t *rapid.T, got, want *engine.Snapshot) {
	for name, ws := range want.Operators {
		gs := got.Operators[name]
		if gs == nil || fmt.Sprint(gs.KeyGroups()) != fmt.Sprint(ws.KeyGroups()) {
			t.Fatalf("checkpoint %d stage %q: key groups %v, want %v", want.ID, name, gs.KeyGroups(), ws.KeyGroups())
		}
		for _, kg := range ws.KeyGroups() {
			if string(gs.Get(kg)) != string(ws.Get(kg)) {
				t.Fatalf("checkpoint %d stage %q key group %d: %q, want %q", want.ID, name, kg, gs.Get(kg), ws.Get(kg))
			}
		}
	}
	if string(got.Sources["cars"]) != string(want.Sources["cars"]) {
		t.Fatalf("checkpoint %d: sources differ", want.ID)
	}
}
