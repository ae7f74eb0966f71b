package checkpoint

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"go.uber.org/zap"

	"github.com/topspeed/topspeed/engine"
)

// SharedRef is, in a manifest of format version 2, a data file of an
// earlier checkpoint of the same directory whose key groups this
// checkpoint uses: an incremental checkpoint writes only the key groups
// that changed and refers to the files that already hold the others.
type SharedRef struct {
	// Checkpoint is the directory name of the checkpoint that wrote the
	// file, a sibling of this checkpoint's directory.
	Checkpoint string `json:"checkpoint"`
	// File is the file's name, size and CRC-32C, verified like the
	// checkpoint's own files.
	File FileEntry `json:"file"`
	// Groups lists, per keyed stage, the key groups taken from the file.
	Groups map[string][]int `json:"groups"`
}

// groupKey names one key group of one keyed stage.
type groupKey struct {
	stage string
	kg    int
}

// groupLoc is where a key group's blob of a given generation was written.
type groupLoc struct {
	gen  uint64
	dir  string // checkpoint directory name
	file FileEntry
}

// writtenIndex is where the key groups of the last checkpoint a Store wrote
// are, for the next one to refer to. It is only ever used for a checkpoint
// of the same term, so that a writer refers only to files of its own term,
// which writers of older terms never prune.
type writtenIndex struct {
	term   uint64
	groups map[groupKey]groupLoc
}

// splitIncremental splits snap's keyed state into the key groups to write
// and references to the files of the last checkpoint that already hold the
// others (same generation, see engine.KeyedState). Without an index of the
// same term, or for a savepoint, everything is written.
func (s *Store) splitIncremental(snap *engine.Snapshot, term uint64) (map[string]*engine.KeyedState, []SharedRef) {
	s.idxMu.Lock()
	idx := s.index
	s.idxMu.Unlock()
	if !s.incremental() || idx == nil || idx.term != term {
		return snap.Operators, nil
	}
	own := make(map[string]*engine.KeyedState, len(snap.Operators))
	refs := map[string]*SharedRef{}
	for stage, st := range snap.Operators {
		mine := engine.NewKeyedState()
		own[stage] = mine
		for _, kg := range st.KeyGroups() {
			gen := st.Gen(kg)
			loc, ok := idx.groups[groupKey{stage, kg}]
			if gen == 0 || !ok || loc.gen != gen {
				mine.PutGen(kg, gen, st.Get(kg))
				continue
			}
			r := refs[loc.dir]
			if r == nil {
				r = &SharedRef{Checkpoint: loc.dir, File: loc.file, Groups: map[string][]int{}}
				refs[loc.dir] = r
			}
			r.Groups[stage] = append(r.Groups[stage], kg)
		}
	}
	out := make([]SharedRef, 0, len(refs))
	for _, r := range refs {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Checkpoint < out[j].Checkpoint })
	// A manifest must stay well below MaxManifestSize: else write in full.
	if b, err := json.Marshal(out); err != nil || len(b) > MaxManifestSize/2 {
		return snap.Operators, nil
	}
	return own, out
}

func (s *Store) incremental() bool { return s.Incremental && s.kind == "checkpoint" }

// remember makes the checkpoint just written in dir the base of the next
// incremental one: every key group with a generation, in the file that
// holds it.
func (s *Store) remember(snap *engine.Snapshot, term uint64, dir string, state FileEntry, refs []SharedRef) {
	if !s.incremental() {
		return
	}
	idx := &writtenIndex{term: term, groups: map[groupKey]groupLoc{}}
	shared := map[groupKey]SharedRef{}
	for _, r := range refs {
		for stage, kgs := range r.Groups {
			for _, kg := range kgs {
				shared[groupKey{stage, kg}] = r
			}
		}
	}
	for stage, st := range snap.Operators {
		for _, kg := range st.KeyGroups() {
			gen := st.Gen(kg)
			if gen == 0 {
				continue
			}
			k := groupKey{stage, kg}
			if r, ok := shared[k]; ok {
				idx.groups[k] = groupLoc{gen: gen, dir: r.Checkpoint, file: r.File}
			} else {
				idx.groups[k] = groupLoc{gen: gen, dir: dir, file: state}
			}
		}
	}
	s.idxMu.Lock()
	s.index = idx
	s.idxMu.Unlock()
}

// forget drops the index if it refers to dir, which is about to be
// rewritten.
func (s *Store) forget(dir string) {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	if s.index == nil {
		return
	}
	for _, loc := range s.index.groups {
		if loc.dir == dir {
			s.index = nil
			return
		}
	}
}

// loadShared adds to snap the key groups a version-2 manifest takes from
// earlier checkpoints' files, verifying each file like the checkpoint's own
// (regular file, recorded size, CRC-32C). path is the checkpoint's
// directory; the files lie in its siblings.
func loadShared(path string, m Manifest, snap *engine.Snapshot) (int64, error) {
	var total int64
	seen := map[string]bool{}
	for _, r := range m.Shared {
		if _, _, ok := parseDirName(r.Checkpoint); !ok || r.Checkpoint != filepath.Base(r.Checkpoint) || r.Checkpoint == filepath.Base(path) {
			return 0, fmt.Errorf("shared file: bad checkpoint name %q", r.Checkpoint)
		}
		if r.File.Name != filepath.Base(r.File.Name) || r.File.Name == fileManifest {
			return 0, fmt.Errorf("shared file: bad name %q", r.File.Name)
		}
		if seen[r.Checkpoint+"/"+r.File.Name] {
			return 0, fmt.Errorf("shared file %s/%s listed twice", r.Checkpoint, r.File.Name)
		}
		seen[r.Checkpoint+"/"+r.File.Name] = true
		b, err := readDataFile(filepath.Join(filepath.Dir(path), r.Checkpoint, r.File.Name), r.File)
		if err != nil {
			return 0, fmt.Errorf("shared file of %s: %w", r.Checkpoint, err)
		}
		ops, err := readState(b, m.MaxParallelism)
		if err != nil {
			return 0, fmt.Errorf("shared file %s/%s: %w", r.Checkpoint, r.File.Name, err)
		}
		if err := takeGroups(r, ops, snap); err != nil {
			return 0, err
		}
		total += r.File.Size
	}
	return total, nil
}

// takeGroups copies the key groups r lists from ops, the decoded shared
// file, into snap, each exactly once.
func takeGroups(r SharedRef, ops map[string]*engine.KeyedState, snap *engine.Snapshot) error {
	for stage, kgs := range r.Groups {
		dst := snap.Operators[stage]
		if dst == nil {
			return fmt.Errorf("shared file of %s: stage %q is not in the checkpoint", r.Checkpoint, stage)
		}
		have := ops[stage].KeyGroups()
		for _, kg := range kgs {
			if _, ok := slices.BinarySearch(have, kg); !ok {
				return fmt.Errorf("shared file of %s: no key group %d of stage %q", r.Checkpoint, kg, stage)
			}
			if _, dup := slices.BinarySearch(dst.KeyGroups(), kg); dup {
				return fmt.Errorf("key group %d of stage %q stored twice", kg, stage)
			}
			dst.Put(kg, ops[stage].Get(kg))
		}
	}
	return nil
}

// sharedInUse returns, for the checkpoints in keep, the files of other
// checkpoints their manifests refer to: directory name -> file names. ok is
// false if a manifest could not be read: then nothing may be pruned.
func (s *Store) sharedInUse(keep []entry) (map[string]map[string]bool, bool) {
	used := map[string]map[string]bool{}
	for _, e := range keep {
		mb, err := readManifestFile(filepath.Join(s.dir, e.name, fileManifest))
		if err != nil {
			s.log.Warn("not pruning: cannot read a retained manifest", zap.String("dir", e.name), zap.Error(err))
			return nil, false
		}
		var m Manifest
		if err := json.Unmarshal(mb, &m); err != nil {
			s.log.Warn("not pruning: cannot parse a retained manifest", zap.String("dir", e.name), zap.Error(err))
			return nil, false
		}
		for _, r := range m.Shared {
			if used[r.Checkpoint] == nil {
				used[r.Checkpoint] = map[string]bool{}
			}
			used[r.Checkpoint][r.File.Name] = true
		}
	}
	return used, true
}

// trim removes a checkpoint directory beyond the retention except the
// files retained checkpoints refer to: the manifest first (it is no
// checkpoint any more), then every other file. The directory goes with
// its last referenced file, at a later prune.
func (s *Store) trim(name string, keepFiles map[string]bool) error {
	dir := filepath.Join(s.dir, name)
	if err := os.Remove(filepath.Join(dir, fileManifest)); err != nil && !os.IsNotExist(err) {
		return err
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		if !keepFiles[de.Name()] {
			if err := os.RemoveAll(filepath.Join(dir, de.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
