package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/topspeed/topspeed/engine"
)

func sampleSnapshot(id uint64) *engine.Snapshot {
	st := engine.NewKeyedState()
	st.Put(3, []byte("three"))
	st.Put(127, bytes.Repeat([]byte{7}, 1000))
	other := engine.NewKeyedState()
	other.Put(0, nil)
	return &engine.Snapshot{
		ID:         id,
		Sources:    map[string][]byte{"cars": []byte{1, 2, 3}},
		Sinks:      map[string][]byte{"out": []byte("pending=1")},
		Watermarks: map[string]int64{"cars": 1234},
		Operators:  map[string]*engine.KeyedState{"top-speed": st, "other": other},
	}
}

var meta = Meta{Fingerprint: "fp-1", MaxParallelism: 128}

func newStore(t *testing.T, retain int) *Store {
	t.Helper()
	s, err := NewStore(t.TempDir(), retain, "checkpoint", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func equalSnapshots(t *testing.T, got, want *engine.Snapshot) {
	t.Helper()
	if got.ID != want.ID || !bytes.Equal(got.Sources["cars"], want.Sources["cars"]) ||
		!bytes.Equal(got.Sinks["out"], want.Sinks["out"]) || got.Watermarks["cars"] != want.Watermarks["cars"] {
		t.Fatalf("snapshot differs: got %+v want %+v", got, want)
	}
	for name, ws := range want.Operators {
		gs := got.Operators[name]
		if gs == nil || len(gs.KeyGroups()) != len(ws.KeyGroups()) {
			t.Fatalf("stage %q: key groups %v, want %v", name, gs.KeyGroups(), ws.KeyGroups())
		}
		for _, kg := range ws.KeyGroups() {
			if !bytes.Equal(gs.Get(kg), ws.Get(kg)) {
				t.Fatalf("stage %q key group %d differs", name, kg)
			}
		}
	}
}

func TestWriteLoadRoundTrip(t *testing.T) {
	s := newStore(t, 3)
	want := sampleSnapshot(42)
	info, err := s.Write(context.Background(), want, meta)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(info.Path) != "chk-00000000000000000042-t0" || info.Bytes == 0 {
		t.Fatalf("info %+v", info)
	}
	got, linfo, err := s.Latest("fp-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if linfo.Manifest.ID != 42 || linfo.Manifest.FormatVersion != formatFull || len(linfo.Manifest.Files) != 3 {
		t.Fatalf("manifest %+v", linfo.Manifest)
	}
	equalSnapshots(t, got, want)
	for _, e := range []string{"state.bin.tmp", "MANIFEST.json.tmp"} {
		if _, err := os.Stat(filepath.Join(info.Path, e)); err == nil {
			t.Fatalf("temporary file %s left behind", e)
		}
	}
}

// Every kind of damage to the newest checkpoint makes Latest fall back to
// the previous one, never load garbage.
func TestCorruptNewestFallsBack(t *testing.T) {
	damage := map[string]func(dir string) error{
		"no manifest": func(d string) error { return os.Remove(filepath.Join(d, fileManifest)) },
		"truncated manifest": func(d string) error {
			p := filepath.Join(d, fileManifest)
			b, _ := os.ReadFile(p)
			return os.WriteFile(p, b[:len(b)/2], 0o644)
		},
		"bad crc": func(d string) error {
			p := filepath.Join(d, fileState)
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 0xff
			return os.WriteFile(p, b, 0o644)
		},
		"missing file":   func(d string) error { return os.Remove(filepath.Join(d, fileSources)) },
		"truncated file": func(d string) error { return os.Truncate(filepath.Join(d, fileSinks), 3) },
		"unknown format": func(d string) error {
			p := filepath.Join(d, fileManifest)
			b, _ := os.ReadFile(p)
			return os.WriteFile(p, bytes.Replace(b, []byte(`"format_version": 1`), []byte(`"format_version": 99`), 1), 0o644)
		},
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			s := newStore(t, 3)
			if _, err := s.Write(context.Background(), sampleSnapshot(1), meta); err != nil {
				t.Fatal(err)
			}
			info, err := s.Write(context.Background(), sampleSnapshot(2), meta)
			if err != nil {
				t.Fatal(err)
			}
			if err := f(info.Path); err != nil {
				t.Fatal(err)
			}
			got, linfo, err := s.Latest("fp-1", nil)
			if err != nil {
				t.Fatal(err)
			}
			if linfo.Manifest.ID != 1 || got.ID != 1 {
				t.Fatalf("loaded checkpoint %d, want the previous one (1)", linfo.Manifest.ID)
			}
			if _, _, err := Load(info.Path); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load of the damaged one: %v", err)
			}
		})
	}
}

func TestIncompatibleIsRefused(t *testing.T) {
	s := newStore(t, 3)
	if _, err := s.Write(context.Background(), sampleSnapshot(1), meta); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Latest("fp-2", nil)
	if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "--checkpoint-dir") {
		t.Fatalf("want ErrIncompatible with advice, got %v", err)
	}
}

func TestEmptyStore(t *testing.T) {
	s := newStore(t, 3)
	if _, _, err := s.Latest("fp-1", nil); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("got %v", err)
	}
}

func TestRetentionAndTornRemains(t *testing.T) {
	s := newStore(t, 2)
	// Torn remains of an older attempt: a directory without manifest.
	if err := os.MkdirAll(filepath.Join(s.Dir(), "chk-00000000000000000001-t0"), 0o755); err != nil {
		t.Fatal(err)
	}
	for id := uint64(2); id <= 5; id++ {
		if _, err := s.Write(context.Background(), sampleSnapshot(id), meta); err != nil {
			t.Fatal(err)
		}
	}
	des, _ := os.ReadDir(s.Dir())
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	want := "chk-00000000000000000004-t0,chk-00000000000000000005-t0"
	if strings.Join(names, ",") != want {
		t.Fatalf("kept %v, want %s", names, want)
	}
}

func TestAcceptFilter(t *testing.T) {
	s := newStore(t, 0)
	for _, term := range []uint64{1, 2} {
		m := meta
		m.Term = term
		if _, err := s.Write(context.Background(), sampleSnapshot(10+term), m); err != nil {
			t.Fatal(err)
		}
	}
	// Only term 1's checkpoint was committed: the newer one must be ignored.
	_, info, err := s.Latest("fp-1", func(m Manifest) bool { return m.Term == 1 })
	if err != nil || info.Manifest.ID != 11 {
		t.Fatalf("got %+v, %v", info.Manifest, err)
	}
}

func TestParseDirName(t *testing.T) {
	for name, want := range map[string][3]uint64{
		"chk-00000000000000000042-t7": {42, 7, 1},
		"sp-00000000000000000001-t0":  {1, 0, 1},
		"chk-42":                      {0, 0, 0},
		"chk-x-t1":                    {0, 0, 0},
		"other":                       {0, 0, 0},
	} {
		id, term, ok := parseDirName(name)
		if ok != (want[2] == 1) || (ok && (id != want[0] || term != want[1])) {
			t.Errorf("%s: %d %d %v", name, id, term, ok)
		}
	}
}

// FuzzDecode: corrupt data files never panic or allocate wildly.
func FuzzDecode(f *testing.F) {
	var b bytes.Buffer
	_ = writeState(&b, sampleSnapshot(1).Operators)
	f.Add(b.Bytes())
	b.Reset()
	_ = writeNamed(&b, sampleSnapshot(1).Sources)
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = readState(data, 128)
		_, _ = readNamed(data)
	})
}

// An old leader (lower term) never prunes a newer leader's checkpoints.
func TestPruneLeavesNewerTerms(t *testing.T) {
	s := newStore(t, 1)
	m2 := meta
	m2.Term = 2
	if _, err := s.Write(context.Background(), sampleSnapshot(5), m2); err != nil {
		t.Fatal(err)
	}
	m1 := meta
	m1.Term = 1
	for id := uint64(6); id <= 8; id++ { // a zombie of term 1 keeps writing
		if _, err := s.Write(context.Background(), sampleSnapshot(id), m1); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := Load(filepath.Join(s.Dir(), "chk-00000000000000000005-t2")); err != nil {
		t.Fatalf("the term-2 checkpoint was pruned by a term-1 writer: %v", err)
	}
}
