package checkpoint

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"go.uber.org/zap"

	"github.com/topspeed/topspeed/engine"
)

// SharedRef is, in a manifest of format version 2 or 3, a data file of an
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
	// Groups lists, per keyed stage, the key groups taken from the file
	// (format 2 only; format 3 lists them in Manifest.Chains).
	Groups map[string][]int `json:"groups,omitempty"`
}

// groupKey names one key group of one keyed stage.
type groupKey struct {
	stage string
	kg    int
}

// piece is a run of a key group's segments written as one blob, and where:
// the generations of those segments in order, the checkpoint directory and
// the file.
type piece struct {
	gens []uint64
	dir  string // checkpoint directory name
	file FileEntry
}

// writtenIndex is where the key groups of the last checkpoint a Store wrote
// are, piece by piece, for the next one to refer to. It is only ever used
// for a checkpoint of the same term, so that a writer refers only to files
// of its own term, which writers of older terms never prune.
type writtenIndex struct {
	term    uint64
	groups  map[groupKey][]piece
	sources map[string]writtenSource // source blobs of chunkedMin bytes or more
}

// writePlan is what a checkpoint writes and refers to.
type writePlan struct {
	// own is the keyed state this checkpoint's state.bin holds: per key
	// group, the segments no earlier file holds, written as one blob.
	own map[string]*engine.KeyedState
	// shared are the earlier files referred to.
	shared []SharedRef
	// chains (format 3) lists, per stage and key group taken at least in
	// part from shared files, its pieces in order: 0 is this checkpoint's
	// state.bin, i > 0 is shared[i-1].
	chains map[string]map[int][]int
	// pieces is the next writtenIndex; dir "" is this checkpoint.
	pieces map[groupKey][]piece
	// sources is what this checkpoint's sources.bin holds; chunked (format
	// 3) the sources taken at least in part from earlier files; next the
	// next writtenIndex's sources.
	sources map[string][]byte
	chunked map[string]ChunkedBlob
	next    map[string]writtenSource
}

// plan splits snap's keyed state into the segments to write and references
// to the files of the last checkpoint that already hold the others (a
// prefix of a key group's segments with the same generations, see
// engine.Segment). Without an index of the same term, or for a savepoint,
// everything is written.
func (s *Store) plan(snap *engine.Snapshot, term uint64) writePlan {
	s.idxMu.Lock()
	idx := s.index
	s.idxMu.Unlock()
	if !s.incremental() {
		return writePlan{own: snap.Operators, sources: snap.Sources}
	}
	if idx == nil || idx.term != term {
		return fullPlan(snap)
	}
	p := writePlan{own: make(map[string]*engine.KeyedState, len(snap.Operators)), chains: map[string]map[int][]int{}, pieces: map[groupKey][]piece{}}
	files := map[string]int{} // dir/file -> index in p.shared, from 1
	p.sources, p.chunked, p.next = planSources(snap.Sources, idx.sources, &p, files)
	for stage, st := range snap.Operators {
		mine := engine.NewKeyedState()
		p.own[stage] = mine
		for _, kg := range st.KeyGroups() {
			p.planGroup(groupKey{stage, kg}, st.Segments(kg), idx.groups[groupKey{stage, kg}], mine, files)
		}
	}
	// A manifest must stay well below MaxManifestSize: else write in full.
	if b, err := json.Marshal([]any{p.shared, p.chains, p.chunked}); err != nil || len(b) > MaxManifestSize/2 {
		return fullPlan(snap)
	}
	if len(p.shared) == 0 {
		p.chains = nil
	}
	return p
}

// fullPlan writes everything and indexes it for the next checkpoint.
func fullPlan(snap *engine.Snapshot) writePlan {
	p := writePlan{own: snap.Operators, pieces: map[groupKey][]piece{}, sources: snap.Sources}
	_, _, p.next = planSources(snap.Sources, nil, nil, nil)
	for stage, st := range snap.Operators {
		for _, kg := range st.KeyGroups() {
			if gens := segmentGens(st.Segments(kg)); gens != nil {
				p.pieces[groupKey{stage, kg}] = []piece{{gens: gens}}
			}
		}
	}
	return p
}

// planGroup takes, for one key group, the longest prefix of segs that
// earlier files hold (old, in order) and puts the rest into mine as one
// blob.
func (p *writePlan) planGroup(k groupKey, segs []engine.Segment, old []piece, mine *engine.KeyedState, files map[string]int) {
	var chain []int
	var pieces []piece
	i := 0
	for _, pc := range old {
		if !samePrefix(segs[i:], pc.gens) {
			break
		}
		chain = append(chain, p.sharedFile(pc.dir, pc.file, files))
		pieces = append(pieces, pc)
		i += len(pc.gens)
	}
	if i < len(segs) {
		mine.PutSegments(k.kg, slices.Clone(segs[i:]))
		chain = append(chain, 0)
		if gens := segmentGens(segs[i:]); gens != nil {
			pieces = append(pieces, piece{gens: gens})
		} else {
			pieces = nil // never referred to: written again next time
		}
	}
	if pieces != nil {
		p.pieces[k] = pieces
	}
	if len(chain) > 1 || len(chain) == 1 && chain[0] != 0 {
		if p.chains[k.stage] == nil {
			p.chains[k.stage] = map[int][]int{}
		}
		p.chains[k.stage][k.kg] = chain
	}
}

// samePrefix reports whether segs begins with segments of generations
// gens, all non-zero.
func samePrefix(segs []engine.Segment, gens []uint64) bool {
	if len(gens) == 0 || len(gens) > len(segs) {
		return false
	}
	for j, g := range gens {
		if g == 0 || segs[j].Gen != g {
			return false
		}
	}
	return true
}

// segmentGens returns the generations of segs, or nil if one has none.
func segmentGens(segs []engine.Segment) []uint64 {
	gens := make([]uint64, len(segs))
	for i, seg := range segs {
		if seg.Gen == 0 {
			return nil
		}
		gens[i] = seg.Gen
	}
	if len(gens) == 0 {
		return nil
	}
	return gens
}

// manifestLayout records p's references in m: format 1 without any, format
// 2 if every key group is one piece (in state.bin or in one shared file),
// format 3 (chains) otherwise.
func (p *writePlan) manifestLayout(m *Manifest) {
	if len(p.shared) == 0 {
		return
	}
	if len(p.chunked) > 0 {
		m.FormatVersion, m.Shared, m.Chains, m.SourceChunks = FormatVersion, p.shared, p.chains, p.chunked
		return
	}
	for _, kgs := range p.chains {
		for _, c := range kgs {
			if len(c) > 1 {
				m.FormatVersion, m.Shared, m.Chains = FormatVersion, p.shared, p.chains
				return
			}
		}
	}
	m.FormatVersion = formatShared
	m.Shared = slices.Clone(p.shared)
	for i := range m.Shared {
		m.Shared[i].Groups = map[string][]int{}
	}
	for stage, kgs := range p.chains {
		for kg, c := range kgs {
			r := &m.Shared[c[0]-1]
			r.Groups[stage] = append(r.Groups[stage], kg)
		}
	}
	for i := range m.Shared {
		for _, kgs := range m.Shared[i].Groups {
			sort.Ints(kgs)
		}
	}
}

func (s *Store) incremental() bool { return s.Incremental && s.kind == "checkpoint" }

// remember makes the checkpoint just written in dir the base of the next
// incremental one: every key group whose segments all have a generation,
// piece by piece, in the files that hold them.
func (s *Store) remember(p writePlan, term uint64, dir string, sources, state FileEntry) {
	if !s.incremental() || p.pieces == nil {
		return
	}
	for _, ws := range p.next {
		for i := range ws.chunks {
			if ws.chunks[i].dir == "" {
				ws.chunks[i].dir, ws.chunks[i].file = dir, sources
			}
		}
	}
	idx := &writtenIndex{term: term, groups: p.pieces, sources: p.next}
	for k, pcs := range p.pieces {
		if n := len(pcs); n > 0 && pcs[n-1].dir == "" {
			pcs[n-1].dir, pcs[n-1].file = dir, state
		}
		idx.groups[k] = pcs
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
	for _, pcs := range s.index.groups {
		for _, pc := range pcs {
			if pc.dir == dir {
				s.index = nil
				return
			}
		}
	}
	for _, ws := range s.index.sources {
		for _, c := range ws.chunks {
			if c.dir == dir {
				s.index = nil
				return
			}
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
		if err := checkSharedRef(path, r, seen); err != nil {
			return 0, err
		}
		if r.File.Name != fileState {
			return 0, fmt.Errorf("shared file %s/%s in a format-%d manifest", r.Checkpoint, r.File.Name, m.FormatVersion)
		}
		ops, _, err := readSharedFile(path, r, m.MaxParallelism)
		if err != nil {
			return 0, err
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

// loadChains is loadShared for format 3: it replaces, in snap, every key
// group Manifest.Chains lists by the concatenation of its pieces, verifying
// every shared file like an own file. Every key group of state.bin must be
// used exactly once: alone, or as a piece of its chain.
func loadChains(path string, m Manifest, snap *engine.Snapshot) (int64, error) {
	files := []map[string]*engine.KeyedState{snap.Operators}
	named := []map[string][]byte{snap.Sources}
	var total int64
	seen := map[string]bool{}
	for _, r := range m.Shared {
		if err := checkSharedRef(path, r, seen); err != nil {
			return 0, err
		}
		if len(r.Groups) > 0 {
			return 0, fmt.Errorf("shared file %s/%s: groups in a format-%d manifest", r.Checkpoint, r.File.Name, m.FormatVersion)
		}
		ops, srcs, err := readSharedFile(path, r, m.MaxParallelism)
		if err != nil {
			return 0, err
		}
		files, named = append(files, ops), append(named, srcs)
		total += r.File.Size
	}
	chunked := map[string][]byte{}
	for name, cb := range m.SourceChunks {
		b, err := joinChunks(name, cb, named)
		if err != nil {
			return 0, err
		}
		chunked[name] = b
	}
	maps.Copy(snap.Sources, chunked)
	for stage, kgs := range m.Chains {
		dst := snap.Operators[stage]
		if dst == nil {
			return 0, fmt.Errorf("chains: stage %q is not in the checkpoint", stage)
		}
		for kg, chain := range kgs {
			b, err := joinChain(files, stage, kg, chain, m.MaxParallelism)
			if err != nil {
				return 0, err
			}
			dst.Put(kg, b)
		}
	}
	return total, nil
}

// joinChain concatenates the pieces of one key group, files[chain[i]]'s.
func joinChain(files []map[string]*engine.KeyedState, stage string, kg int, chain []int, maxPar int) ([]byte, error) {
	if kg < 0 || kg >= maxPar {
		return nil, fmt.Errorf("chains: key group %d of stage %q outside [0, %d)", kg, stage, maxPar)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("chains: key group %d of stage %q has no pieces", kg, stage)
	}
	var out []byte
	own := false
	for i, f := range chain {
		if f < 0 || f >= len(files) {
			return nil, fmt.Errorf("chains: key group %d of stage %q: file %d of %d", kg, stage, f, len(files))
		}
		if slices.Contains(chain[:i], f) {
			return nil, fmt.Errorf("chains: key group %d of stage %q takes file %d twice", kg, stage, f)
		}
		st := files[f][stage]
		if files[f] == nil {
			return nil, fmt.Errorf("chains: key group %d of stage %q: file %d is no state file", kg, stage, f)
		}
		if _, ok := slices.BinarySearch(st.KeyGroups(), kg); !ok {
			return nil, fmt.Errorf("chains: no key group %d of stage %q in file %d", kg, stage, f)
		}
		own = own || f == 0
		out = append(out, st.Get(kg)...)
	}
	if _, inOwn := slices.BinarySearch(files[0][stage].KeyGroups(), kg); inOwn && !own {
		return nil, fmt.Errorf("key group %d of stage %q stored twice (state.bin and a chain without it)", kg, stage)
	}
	return out, nil
}

// checkSharedRef checks a shared file's names: a sibling checkpoint, a
// plain file name, listed once.
func checkSharedRef(path string, r SharedRef, seen map[string]bool) error {
	if _, _, ok := parseDirName(r.Checkpoint); !ok || r.Checkpoint != filepath.Base(r.Checkpoint) || r.Checkpoint == filepath.Base(path) {
		return fmt.Errorf("shared file: bad checkpoint name %q", r.Checkpoint)
	}
	if r.File.Name != filepath.Base(r.File.Name) || r.File.Name == fileManifest {
		return fmt.Errorf("shared file: bad name %q", r.File.Name)
	}
	if seen[r.Checkpoint+"/"+r.File.Name] {
		return fmt.Errorf("shared file %s/%s listed twice", r.Checkpoint, r.File.Name)
	}
	seen[r.Checkpoint+"/"+r.File.Name] = true
	return nil
}

// readSharedFile reads and decodes a shared file, verified like an own
// file (regular file, recorded size, CRC-32C): a state.bin into ops, a
// sources.bin (format 3) into srcs.
func readSharedFile(path string, r SharedRef, maxPar int) (ops map[string]*engine.KeyedState, srcs map[string][]byte, err error) {
	if r.File.Name != fileState && r.File.Name != fileSources {
		return nil, nil, fmt.Errorf("shared file %s/%s: neither %s nor %s", r.Checkpoint, r.File.Name, fileState, fileSources)
	}
	b, err := readDataFile(filepath.Join(filepath.Dir(path), r.Checkpoint, r.File.Name), r.File)
	if err != nil {
		return nil, nil, fmt.Errorf("shared file of %s: %w", r.Checkpoint, err)
	}
	if r.File.Name == fileSources {
		srcs, err = readNamed(b)
	} else {
		ops, err = readState(b, maxPar)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("shared file %s/%s: %w", r.Checkpoint, r.File.Name, err)
	}
	return ops, srcs, nil
}
