package checkpoint

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/topspeed/topspeed/engine"
)

// kvOp is a keyed operator's state as the chain tests evolve it: per key
// group a map key -> value, checkpointed as a chain of segments (a base,
// then deltas of the keys put or deleted since the segment before), like
// window.DeltaTimeMax. A key k belongs to key group k % kvMaxPar.
type kvOp struct {
	vals   map[int]map[uint64]uint64
	chains map[int][]engine.Segment
	dirty  map[int]map[uint64]bool   // keys changed since the last checkpoint
	prev   map[int]map[uint64]uint64 // vals at the last checkpoint
}

const kvMaxPar = 8

// Entry tags of a kv segment.
const (
	kvPut = 0
	kvDel = 1
)

func newKV() *kvOp {
	return &kvOp{vals: map[int]map[uint64]uint64{}, chains: map[int][]engine.Segment{}, dirty: map[int]map[uint64]bool{}, prev: map[int]map[uint64]uint64{}}
}

func (o *kvOp) touch(k uint64) int {
	kg := int(k % kvMaxPar)
	if o.vals[kg] == nil {
		o.vals[kg], o.dirty[kg] = map[uint64]uint64{}, map[uint64]bool{}
	}
	o.dirty[kg][k] = true
	return kg
}

func (o *kvOp) put(k, v uint64) { o.vals[o.touch(k)][k] = v }
func (o *kvOp) del(k uint64)    { delete(o.vals[o.touch(k)], k) }

// encode is a segment: per key (increasing), tag, key and, for a put, the
// value; keys not in vals are deleted (if they were there at the last
// checkpoint).
func (o *kvOp) encode(kg int, keys []uint64) []byte {
	slices.Sort(keys)
	var b []byte
	for _, k := range keys {
		v, ok := o.vals[kg][k]
		if _, was := o.prev[kg][k]; !ok && was {
			b = binary.AppendUvarint(append(b, kvDel), k)
			continue
		}
		if !ok {
			continue
		}
		b = binary.AppendUvarint(binary.AppendUvarint(append(b, kvPut), k), v)
	}
	return b
}

// checkpoint puts every key group: unchanged ones with their chain, changed
// ones with a delta, or a new base if compact (or the chain is empty).
func (o *kvOp) checkpoint(compact func(kg int) bool) *engine.KeyedState {
	st := engine.NewKeyedState()
	for kg := range o.vals {
		switch c := o.chains[kg]; {
		case len(o.dirty[kg]) == 0:
		case len(c) == 0 || compact(kg):
			o.chains[kg] = []engine.Segment{{Gen: engine.NewStateGen(), Data: o.encode(kg, slices.Collect(maps.Keys(o.vals[kg])))}}
		default:
			o.chains[kg] = append(slices.Clip(c), engine.Segment{Gen: engine.NewStateGen(), Data: o.encode(kg, slices.Collect(maps.Keys(o.dirty[kg])))})
		}
		clear(o.dirty[kg])
		o.prev[kg] = maps.Clone(o.vals[kg])
		st.PutSegments(kg, o.chains[kg])
	}
	return st
}

// decodeKV applies the entries of b, key group kg's segments concatenated,
// to vals: a put adds or replaces, a delete removes a present key.
func decodeKV(kg int, b []byte, vals map[uint64]uint64) error {
	for len(b) > 0 {
		tag := b[0]
		k, n := binary.Uvarint(b[1:])
		if n <= 0 || tag > kvDel || int(k%kvMaxPar) != kg {
			return fmt.Errorf("key group %d: corrupt entry", kg)
		}
		b = b[1+n:]
		if tag == kvDel {
			if _, ok := vals[k]; !ok {
				return fmt.Errorf("key group %d: delete of absent key %d", kg, k)
			}
			delete(vals, k)
			continue
		}
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return fmt.Errorf("key group %d: corrupt value", kg)
		}
		vals[k] = v
		b = b[n:]
	}
	return nil
}

func kvSnapshot(id uint64, st *engine.KeyedState) *engine.Snapshot {
	return kvSnapshotSrc(id, st, binary.AppendUvarint(nil, id))
}

func kvSnapshotSrc(id uint64, st *engine.KeyedState, src []byte) *engine.Snapshot {
	return &engine.Snapshot{ID: id, MaxParallelism: kvMaxPar, Sources: map[string][]byte{"src": src, "small": {byte(id)}},
		Sinks: map[string][]byte{}, Watermarks: map[string]int64{}, Operators: map[string]*engine.KeyedState{"kv": st}}
}

// restoreKV decodes stage kv of snap as par subtasks would, each its own
// key groups, into one map.
func restoreKV(t interface{ Fatal(...any) }, snap *engine.Snapshot, par int) map[uint64]uint64 {
	all := map[uint64]uint64{}
	for i := range par {
		r := engine.KeyGroupRangeFor(i, kvMaxPar, par)
		sub := snap.Operators["kv"].Subset(r)
		for _, kg := range sub.KeyGroups() {
			vals := map[uint64]uint64{}
			if err := decodeKV(kg, sub.Get(kg), vals); err != nil {
				t.Fatal(err)
			}
			maps.Copy(all, vals)
		}
	}
	return all
}

func (o *kvOp) flat() map[uint64]uint64 {
	all := map[uint64]uint64{}
	for _, vals := range o.vals {
		maps.Copy(all, vals)
	}
	return all
}

// TestChainsRestoreTheModel is the property: random puts, updates and
// deletes; checkpoints as chains of deltas with random compactions, some
// abandoned, some never written; restarts (a new Store on the directory,
// the operator restored from the latest checkpoint); the latest
// checkpoint, restored at parallelism 1..4, always equals the state at its
// barrier, and the directory keeps exactly the files retained checkpoints
// need. The source's state is large enough to be split in chunks (small
// chunks for the test) and changes in random places.
func TestChainsRestoreTheModel(t *testing.T) {
	defer smallChunks()()
	rapid.Check(t, func(t *rapid.T) {
		dir, err := os.MkdirTemp("", "ckchain")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		retain := rapid.IntRange(1, 3).Draw(t, "retain")
		s, err := NewStore(dir, retain, "checkpoint", nil)
		if err != nil {
			t.Fatal(err)
		}
		o := newKV()
		var lastWritten map[uint64]uint64
		var order []string
		src := make([]byte, rapid.IntRange(chunkedMin, 4*chunkedMin).Draw(t, "source size"))
		var lastSrc []byte
		compact := func(int) bool { return rapid.IntRange(0, 5).Draw(t, "compact") == 0 }
		for id := uint64(1); id <= uint64(rapid.IntRange(1, 30).Draw(t, "checkpoints")); id++ {
			for range rapid.IntRange(0, 6).Draw(t, "ops") {
				k := rapid.Uint64Range(0, 40).Draw(t, "key")
				if rapid.IntRange(0, 3).Draw(t, "delete") == 0 {
					if _, ok := o.vals[int(k%kvMaxPar)][k]; ok {
						o.del(k)
					}
					continue
				}
				o.put(k, rapid.Uint64Range(0, 1000).Draw(t, "value"))
			}
			src = slices.Clone(src)
			for range rapid.IntRange(0, 3).Draw(t, "source changes") {
				src[rapid.IntRange(0, len(src)-1).Draw(t, "at")]++
			}
			if rapid.IntRange(0, 9).Draw(t, "resize") == 0 {
				src = append(src, 1)
			}
			snap := kvSnapshotSrc(id, o.checkpoint(compact), src)
			switch rapid.IntRange(0, 5).Draw(t, "fate") {
			case 0: // never written
				continue
			case 1: // abandoned before the manifest
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				if _, err := s.Write(ctx, snap, Meta{Fingerprint: "kv"}); err == nil {
					t.Fatal("an abandoned write succeeded")
				}
				continue
			case 2: // a restart from the latest checkpoint, then write
				if lastWritten == nil {
					continue
				}
				if s, err = NewStore(dir, retain, "checkpoint", nil); err != nil {
					t.Fatal(err)
				}
				latest, _, err := s.Latest("kv", nil)
				if err != nil {
					t.Fatal(err)
				}
				o = newKV()
				for k, v := range restoreKV(t, latest, 1) {
					o.put(k, v)
				}
				snap = kvSnapshotSrc(id, o.checkpoint(compact), src)
			}
			info, err := s.Write(context.Background(), snap, Meta{Fingerprint: "kv"})
			if err != nil {
				t.Fatal(err)
			}
			lastWritten, lastSrc, order = o.flat(), src, append(order, info.Path)
			latest, linfo, err := s.Latest("kv", nil)
			if err != nil || linfo.Path != info.Path {
				t.Fatalf("checkpoint %d: Latest %s, %v", id, linfo.Path, err)
			}
			if got := restoreKV(t, latest, rapid.IntRange(1, 4).Draw(t, "parallelism")); !maps.Equal(got, lastWritten) {
				t.Fatalf("checkpoint %d (format %d): restored %v, want %v", id, info.Manifest.FormatVersion, got, lastWritten)
			}
			if !bytes.Equal(latest.Sources["src"], lastSrc) || latest.Sources["small"][0] != byte(id) {
				t.Fatalf("checkpoint %d (format %d, chunked %v): sources differ", id, info.Manifest.FormatVersion, info.Manifest.SourceChunks != nil)
			}
		}
		checkOnlyNeededFiles(t, s, order, retain)
	})
}

// checkOnlyNeededFiles fails if a data file in the store is not needed by
// one of the retained checkpoints (the newest retain of order), or one
// they need is missing.
func checkOnlyNeededFiles(t *rapid.T, s *Store, order []string, retain int) {
	need := map[string]bool{}
	for _, p := range order[max(0, len(order)-retain):] {
		_, info, err := Load(p)
		if err != nil {
			t.Fatalf("retained %s: %v", filepath.Base(p), err)
		}
		for _, f := range info.Manifest.Files {
			need[filepath.Join(p, f.Name)] = true
		}
		for _, r := range info.Manifest.Shared {
			need[filepath.Join(s.Dir(), r.Checkpoint, r.File.Name)] = true
		}
	}
	files, _ := filepath.Glob(filepath.Join(s.Dir(), "chk-*", "*"))
	for _, f := range files {
		if !need[f] && filepath.Base(f) != fileManifest {
			t.Fatalf("%s is left although no retained checkpoint needs it", f)
		}
		delete(need, f)
	}
	if len(need) > 0 {
		t.Fatalf("missing: %v", need)
	}
}

// chainOfThree writes a full checkpoint, then a base, a delta and another
// delta of key group 1 (format 3, referring to the base's and the first
// delta's files), with retention 0.
func chainOfThree(t *testing.T) (s *Store, full, base, delta, last Info) {
	s = newStore(t, 0)
	o := newKV()
	for k := range uint64(32) {
		o.put(k, k)
	}
	never := func(int) bool { return false }
	write := func(id uint64) Info {
		info, err := s.Write(context.Background(), kvSnapshot(id, o.checkpoint(never)), Meta{Fingerprint: "fp-1"})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	s.Incremental = false
	full = write(1)
	s.Incremental = true
	base = write(2)
	o.put(1, 100)
	delta = write(3)
	o.del(9)
	last = write(4)
	if last.Manifest.FormatVersion != FormatVersion || len(last.Manifest.Shared) != 2 || fmt.Sprint(last.Manifest.Chains["kv"][1]) != "[1 2 0]" {
		t.Fatalf("last checkpoint: format %d, shared %+v, chains %v", last.Manifest.FormatVersion, last.Manifest.Shared, last.Manifest.Chains)
	}
	return s, full, base, delta, last
}

// TestChainLoads: a chain of base and deltas loads as their concatenation;
// the last checkpoint wrote only the new delta.
func TestChainLoads(t *testing.T) {
	_, _, base, _, last := chainOfThree(t)
	snap, info, err := Load(last.Path)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[uint64]uint64{}
	if err := decodeKV(1, snap.Operators["kv"].Get(1), vals); err != nil {
		t.Fatal(err)
	}
	if vals[1] != 100 || vals[9] != 0 || len(vals) != 3 {
		t.Fatalf("key group 1: %v", vals)
	}
	if _, has9 := vals[9]; has9 {
		t.Fatal("key 9 was deleted")
	}
	if mine, all := info.Manifest.Files[2].Size, base.Manifest.Files[2].Size; mine >= all/4 {
		t.Fatalf("the last checkpoint's state.bin has %d bytes, the base's %d", mine, all)
	}
}

// TestBrokenChainFileInvalidates: a missing or corrupt base or delta file
// anywhere in a chain makes the checkpoint invalid, and Latest falls back
// to the newest checkpoint that does not need it.
func TestBrokenChainFileInvalidates(t *testing.T) {
	for _, which := range []string{"base", "delta"} {
		for _, damage := range []string{"corrupt", "missing"} {
			t.Run(which+"/"+damage, func(t *testing.T) {
				s, full, base, delta, last := chainOfThree(t)
				f := filepath.Join(base.Path, fileState)
				want := full.Path
				if which == "delta" {
					f, want = filepath.Join(delta.Path, fileState), base.Path
				}
				damageFile(t, f, damage)
				if _, _, err := Load(last.Path); !errors.Is(err, ErrInvalid) {
					t.Fatalf("checkpoint with a %s %s file: %v", damage, which, err)
				}
				_, info, err := s.Latest("fp-1", nil)
				if err != nil || info.Path != want {
					t.Fatalf("Latest: %v %s, want %s", err, info.Path, want)
				}
			})
		}
	}
}

// TestBadChainsAreInvalid: manifests whose chains do not add up are refused.
func TestBadChainsAreInvalid(t *testing.T) {
	for name, edit := range map[string]func(m *Manifest){
		"file out of range":      func(m *Manifest) { m.Chains["kv"][1] = []int{1, 7, 0} },
		"file twice":             func(m *Manifest) { m.Chains["kv"][1] = []int{1, 1, 0} },
		"empty chain":            func(m *Manifest) { m.Chains["kv"][1] = nil },
		"own piece left out":     func(m *Manifest) { m.Chains["kv"][1] = []int{1, 2} },
		"key group not in file":  func(m *Manifest) { m.Chains["kv"][6] = []int{2} },
		"key group out of range": func(m *Manifest) { m.Chains["kv"][kvMaxPar] = []int{1} },
		"unknown stage":          func(m *Manifest) { m.Chains["nope"] = map[int][]int{1: {1}} },
		"format 2 with chains":   func(m *Manifest) { m.FormatVersion = formatShared },
		"groups in format 3":     func(m *Manifest) { m.Shared[0].Groups = map[string][]int{"kv": {1}} },
	} {
		t.Run(name, func(t *testing.T) {
			_, _, _, _, last := chainOfThree(t)
			m := last.Manifest
			chains := map[int][]int{}
			maps.Copy(chains, m.Chains["kv"])
			m.Chains = map[string]map[int][]int{"kv": chains}
			m.Shared = slices.Clone(m.Shared)
			edit(&m)
			writeManifest(t, last.Path, m)
			if _, _, err := Load(last.Path); !errors.Is(err, ErrInvalid) {
				t.Fatalf("loaded: %v", err)
			}
		})
	}
}

// TestOldFormatsLoad loads checkpoints of format 1 and 2 that the build
// before format 3 wrote (testdata/format12: key groups 0..7 of stage "op"
// hold "kg N v1", the second checkpoint changed key group 3 to "kg 3 v2").
func TestOldFormatsLoad(t *testing.T) {
	for id, want3 := range map[int]string{1: "kg 3 v1", 2: "kg 3 v2"} {
		snap, info, err := Load(fmt.Sprintf("testdata/format12/chk-%020d-t0", id))
		if err != nil {
			t.Fatal(err)
		}
		if info.Manifest.FormatVersion != id {
			t.Fatalf("checkpoint %d: format %d", id, info.Manifest.FormatVersion)
		}
		st := snap.Operators["op"]
		for kg := range 8 {
			want := fmt.Sprintf("kg %d v1", kg)
			if kg == 3 {
				want = want3
			}
			if string(st.Get(kg)) != want {
				t.Fatalf("checkpoint %d key group %d: %q, want %q", id, kg, st.Get(kg), want)
			}
		}
	}
}

// writeManifest replaces the manifest of the checkpoint in dir by m.
func writeManifest(t *testing.T, dir string, m Manifest) {
	t.Helper()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, fileManifest), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// damageFile removes f ("missing") or replaces it by garbage of another
// size ("corrupt").
func damageFile(t *testing.T, f, damage string) {
	t.Helper()
	var err error
	if damage == "missing" {
		err = os.Remove(f)
	} else {
		err = os.WriteFile(f, []byte("TSCK\x01garbage of another length"), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// smallChunks makes sources of 64 bytes or more split in chunks of 16
// bytes, until the returned func is called.
func smallChunks() func() {
	size, smallest, least := chunkSize, chunkMinSize, chunkedMin
	chunkSize, chunkMinSize, chunkedMin = 16, 16, 64
	return func() { chunkSize, chunkMinSize, chunkedMin = size, smallest, least }
}

// TestSourceChunks: a large source blob changed in one place is written
// as that chunk only, and loads whole; broken chunk lists are invalid.
func TestSourceChunks(t *testing.T) {
	defer smallChunks()()
	s := newStore(t, 0)
	src := bytes.Repeat([]byte("0123456789abcdef"), 10)
	first, err := s.Write(context.Background(), kvSnapshotSrc(1, engine.NewKeyedState(), src), Meta{Fingerprint: "fp-1"})
	if err != nil {
		t.Fatal(err)
	}
	src = slices.Clone(src)
	src[40] = 'X'
	second, err := s.Write(context.Background(), kvSnapshotSrc(2, engine.NewKeyedState(), src), Meta{Fingerprint: "fp-1"})
	if err != nil {
		t.Fatal(err)
	}
	cb := second.Manifest.SourceChunks["src"]
	if second.Manifest.FormatVersion != FormatVersion || fmt.Sprint(cb.Files) != "[1 1 0 1 1 1 1 1 1 1]" || second.Manifest.Files[0].Size >= first.Manifest.Files[0].Size-100 {
		t.Fatalf("second: format %d, chunks %+v, sources.bin %d bytes (first %d)", second.Manifest.FormatVersion, cb, second.Manifest.Files[0].Size, first.Manifest.Files[0].Size)
	}
	snap, _, err := Load(second.Path)
	if err != nil || !bytes.Equal(snap.Sources["src"], src) {
		t.Fatalf("loaded %q, %v", snap.Sources["src"], err)
	}
	for name, edit := range map[string]func(cb *ChunkedBlob){
		"offset beyond the entry": func(cb *ChunkedBlob) { cb.Offsets[9] = 1000 },
		"negative offset":         func(cb *ChunkedBlob) { cb.Offsets[0] = -1 },
		"own entry not used":      func(cb *ChunkedBlob) { cb.Files[2] = 1 },
		"file out of range":       func(cb *ChunkedBlob) { cb.Files[1] = 5 },
		"too few chunks":          func(cb *ChunkedBlob) { cb.Files, cb.Offsets = cb.Files[1:], cb.Offsets[1:] },
		"overlapping chunks": func(cb *ChunkedBlob) {
			cb.Size, cb.Files, cb.Offsets = 320, slices.Repeat(cb.Files, 2), slices.Repeat(cb.Offsets, 2)
		},
		"zero chunk": func(cb *ChunkedBlob) { cb.Chunk = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			m := second.Manifest
			c := ChunkedBlob{Size: cb.Size, Chunk: cb.Chunk, Files: slices.Clone(cb.Files), Offsets: slices.Clone(cb.Offsets)}
			edit(&c)
			m.SourceChunks = map[string]ChunkedBlob{"src": c}
			writeManifest(t, second.Path, m)
			if _, _, err := Load(second.Path); !errors.Is(err, ErrInvalid) {
				t.Fatalf("loaded: %v", err)
			}
		})
	}
}

// TestSavepointOfChains: a savepoint of key groups put as chains writes
// each key group whole (format 1, no references) and loads as the chain's
// concatenation.
func TestSavepointOfChains(t *testing.T) {
	defer smallChunks()()
	s, err := NewStore(t.TempDir(), 0, "savepoint", nil)
	if err != nil {
		t.Fatal(err)
	}
	o := newKV()
	never := func(int) bool { return false }
	src := bytes.Repeat([]byte("x"), 200)
	for id := uint64(1); id <= 3; id++ {
		o.put(1+kvMaxPar*id, id)
		st := o.checkpoint(never)
		info, err := s.Write(context.Background(), kvSnapshotSrc(id, st, src), Meta{Fingerprint: "fp-1"})
		if err != nil || info.Manifest.FormatVersion != formatFull || len(info.Manifest.Shared) != 0 || info.Manifest.SourceChunks != nil {
			t.Fatalf("savepoint %d: %v %+v", id, err, info.Manifest)
		}
		snap, _, err := Load(info.Path)
		if err != nil {
			t.Fatal(err)
		}
		if got := restoreKV(t, snap, 2); !maps.Equal(got, o.flat()) || !bytes.Equal(snap.Sources["src"], src) {
			t.Fatalf("savepoint %d: %v, want %v", id, got, o.flat())
		}
	}
	if len(o.chains[1]) != 3 {
		t.Fatalf("key group 1 has %d segments: the test wrote no chain", len(o.chains[1]))
	}
}
