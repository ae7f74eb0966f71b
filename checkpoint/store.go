package checkpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/topspeed/topspeed/engine"
)

// FormatVersion is the newest on-disk format described in FORMAT.md: 2 adds
// shared files (incremental checkpoints), 3 chains of them (a key group in
// several pieces: a base and deltas). A checkpoint without shared files is
// written as version 1, one whose key groups are each in one file as
// version 2, which older builds read; Load reads all three.
const FormatVersion = 3

// formatFull is the format of a checkpoint that holds all its state;
// formatShared the format of one that refers to earlier files, one file
// per key group.
const (
	formatFull   = 1
	formatShared = 2
)

// Sentinel errors.
var (
	// ErrNoCheckpoint means the directory holds no complete, valid checkpoint.
	ErrNoCheckpoint = errors.New("checkpoint: no complete checkpoint")
	// ErrIncompatible means a checkpoint was taken with another job
	// configuration (window parameters, max parallelism, input...).
	ErrIncompatible = errors.New("checkpoint: incompatible with this job's configuration")
	// ErrInvalid means a checkpoint is torn or corrupt.
	ErrInvalid = errors.New("checkpoint: invalid")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Manifest describes a complete checkpoint. It is written last: a
// checkpoint directory without a valid manifest is not a checkpoint.
type Manifest struct {
	FormatVersion int       `json:"format_version"`
	ID            uint64    `json:"checkpoint_id"`
	Term          uint64    `json:"term"`
	Kind          string    `json:"kind"` // "checkpoint" or "savepoint"
	Created       time.Time `json:"created"`
	Fingerprint   string    `json:"fingerprint"`
	// MaxParallelism is the number of key groups the state is split into.
	MaxParallelism int              `json:"max_parallelism"`
	Watermarks     map[string]int64 `json:"watermarks,omitempty"`
	Files          []FileEntry      `json:"files"`
	// Shared (format 2 and 3) are earlier checkpoints' files holding the key
	// groups, or pieces of them, this checkpoint did not write again.
	Shared []SharedRef `json:"shared,omitempty"`
	// Chains (format 3) lists, per stage and key group, the files holding
	// its pieces in order: 0 is state.bin, i > 0 is Shared[i-1]. A key
	// group not listed is in state.bin alone.
	Chains map[string]map[int][]int `json:"chains,omitempty"`
	// SourceChunks (format 3) are the sources whose state is split in
	// chunks, some in earlier checkpoints' sources.bin.
	SourceChunks map[string]ChunkedBlob `json:"source_chunks,omitempty"`
}

// FileEntry is one data file of a checkpoint.
type FileEntry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	CRC32C uint32 `json:"crc32c"`
}

// Meta is what the caller knows about a checkpoint beyond the snapshot.
type Meta struct {
	// Term is the HA fencing term of the writer (0 without HA).
	Term uint64
	// Fingerprint identifies the job configuration; restore refuses a
	// checkpoint with another one.
	Fingerprint string
	// MaxParallelism is the pipeline's number of key groups. The snapshot
	// records it (engine.Snapshot.MaxParallelism) and the manifest takes it
	// from there; if both are set they must agree. It is needed only for a
	// snapshot that does not record it (one built by hand).
	MaxParallelism int
}

// Info describes a written or loaded checkpoint.
type Info struct {
	Path     string
	Manifest Manifest
	// Bytes is the total size of the checkpoint's own data files: what
	// writing it wrote.
	Bytes int64
	// SharedBytes is the total size of the earlier checkpoints' files it
	// refers to (Manifest.Shared), written by those.
	SharedBytes int64
	// Snapshot is the checkpoint's content, set only in the Info that a
	// Coordinator passes to its Commit hook (nil from Store and Load).
	Snapshot *engine.Snapshot
}

// Hook is called at the named points of a write (see Store.Hook); tests use
// it to crash at the worst moments.
type Hook func(point string, id uint64)

// Store keeps checkpoints in a directory (the RWX volume), one
// subdirectory per checkpoint, and retains the newest Retain.
type Store struct {
	dir    string
	retain int
	kind   string
	log    *zap.Logger
	// Hook, if set, is called at "files-written" (data files durable,
	// manifest not yet written), then, for an incremental checkpoint (one
	// that refers to earlier files), at "incremental-files-written", and at
	// "complete".
	Hook Hook
	// Incremental makes a checkpoint write only the key groups whose
	// generation (engine.KeyedState.Gen) changed since the last checkpoint
	// this Store wrote in the same term, and refer to the earlier files for
	// the others (format version 2). NewStore sets it for checkpoints;
	// savepoints are always self-contained. Set it before the first Write.
	Incremental bool
	// Job, if set, is part of the directory names (sp-<job>-<id>-t<term>),
	// and only directories with it are listed, loaded and pruned: several
	// jobs can then share the directory, as they share a savepoint
	// directory. Set it before the first Write.
	Job string

	lockMu sync.Mutex
	lock   *DirLock // see Lock

	idxMu sync.Mutex
	index *writtenIndex // the last checkpoint written, for incremental ones
}

// NewStore opens (creating it if needed) a checkpoint directory keeping the
// newest retain checkpoints (0 = keep all, as for savepoints). kind is
// "checkpoint" or "savepoint". log may be nil.
func NewStore(dir string, retain int, kind string, log *zap.Logger) (*Store, error) {
	if dir == "" {
		return nil, errors.New("checkpoint: empty directory")
	}
	if retain < 0 {
		return nil, fmt.Errorf("checkpoint: retain %d < 0", retain)
	}
	if kind != "checkpoint" && kind != "savepoint" {
		return nil, fmt.Errorf("checkpoint: kind %q", kind)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Store{dir: dir, retain: retain, kind: kind, log: log, Incremental: kind == "checkpoint"}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// dirName is a checkpoint directory's name: id and writer term, so that two
// writers (an old and a new leader) never write into the same directory.
func (s *Store) dirName(id, term uint64) string {
	return fmt.Sprintf("%s%020d-t%d", s.namePrefix(), id, term)
}

// namePrefix is what the store's directory names start with: "chk-",
// "sp-", or with a Job "sp-<job>-".
func (s *Store) namePrefix() string {
	prefix := "chk-"
	if s.kind == "savepoint" {
		prefix = "sp-"
	}
	if s.Job != "" {
		prefix += s.Job + "-"
	}
	return prefix
}

// parse returns id and term of one of the store's directory names. A
// store without a Job takes every checkpoint and savepoint name.
func (s *Store) parse(name string) (id, term uint64, ok bool) {
	if s.Job == "" {
		return parseDirName(name)
	}
	rest, found := strings.CutPrefix(name, s.namePrefix())
	if !found {
		return 0, 0, false
	}
	return parseDirName("sp-" + rest)
}

// parseDirName returns id and term of a checkpoint directory name.
func parseDirName(name string) (id, term uint64, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(name, "chk-"):
		rest = name[4:]
	case strings.HasPrefix(name, "sp-"):
		rest = name[3:]
	default:
		return 0, 0, false
	}
	idPart, termPart, found := strings.Cut(rest, "-t")
	if !found {
		return 0, 0, false
	}
	id, err1 := strconv.ParseUint(idPart, 10, 64)
	term, err2 := strconv.ParseUint(termPart, 10, 64)
	return id, term, err1 == nil && err2 == nil
}

// Write stores snap durably and returns its location. Data files
// are written as temporary files, synced and renamed; the manifest,
// carrying a CRC-32C per file, is written the same way last, then the
// directories are synced. Older checkpoints beyond the retention are then
// deleted. ctx is checked before each file: once it is cancelled (a
// deadline, a lost leadership) the write stops before the manifest, so the
// abandoned checkpoint never becomes complete; a single write or fsync in
// progress is not interrupted. A write that fails for any reason (a
// cancelled context, a full disk) removes its directory.
func (s *Store) Write(ctx context.Context, snap *engine.Snapshot, meta Meta) (Info, error) {
	maxPar, err := manifestMaxParallelism(snap, meta)
	if err != nil {
		return Info{}, err
	}
	name := s.dirName(snap.ID, meta.Term)
	path := filepath.Join(s.dir, name)
	s.forget(name)
	// A directory with this name can only be the torn remains of an earlier
	// attempt by this same writer: start over.
	if err := os.RemoveAll(path); err != nil {
		return Info{}, fmt.Errorf("checkpoint %d: %w", snap.ID, err)
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return Info{}, fmt.Errorf("checkpoint %d: %w", snap.ID, err)
	}
	info, err := s.writeFiles(ctx, path, snap, meta, maxPar)
	if err != nil {
		// Incomplete, and nothing refers to it: leave no files behind
		// (a full disk must not stay full of failed attempts).
		if rerr := os.RemoveAll(path); rerr != nil {
			s.log.Warn("removing a failed checkpoint", zap.String("path", path), zap.Error(rerr))
		}
		return Info{}, err
	}
	s.prune(meta.Term)
	return info, nil
}

// manifestMaxParallelism returns the max parallelism to record for snap
// and checks that every key group lies below it (a reader would refuse
// the checkpoint otherwise).
func manifestMaxParallelism(snap *engine.Snapshot, meta Meta) (int, error) {
	maxPar := snap.MaxParallelism
	switch {
	case maxPar == 0:
		maxPar = meta.MaxParallelism
	case meta.MaxParallelism != 0 && meta.MaxParallelism != maxPar:
		return 0, fmt.Errorf("checkpoint %d: the snapshot has max parallelism %d, Meta says %d", snap.ID, maxPar, meta.MaxParallelism)
	}
	if maxPar < 1 {
		return 0, fmt.Errorf("checkpoint %d: max parallelism unknown (neither the snapshot nor Meta has one)", snap.ID)
	}
	for name, st := range snap.Operators {
		if kgs := st.KeyGroups(); len(kgs) > 0 && (kgs[0] < 0 || kgs[len(kgs)-1] >= maxPar) {
			return 0, fmt.Errorf("checkpoint %d: stage %q has key groups %d..%d, outside [0, %d)", snap.ID, name, kgs[0], kgs[len(kgs)-1], maxPar)
		}
	}
	return maxPar, nil
}

// writeFiles writes the data files, then the manifest, into path.
func (s *Store) writeFiles(ctx context.Context, path string, snap *engine.Snapshot, meta Meta, maxPar int) (Info, error) {
	m := Manifest{FormatVersion: formatFull, ID: snap.ID, Term: meta.Term, Kind: s.kind, Created: time.Now().UTC(),
		Fingerprint: meta.Fingerprint, MaxParallelism: maxPar, Watermarks: snap.Watermarks}
	plan := s.plan(snap, meta.Term)
	plan.manifestLayout(&m)
	ops, shared := plan.own, plan.shared
	abandon := func(before string) (Info, error) {
		return Info{}, fmt.Errorf("checkpoint %d: abandoned before %s: %w", snap.ID, before, context.Cause(ctx))
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{fileSources, func(w io.Writer) error { return writeNamed(w, plan.sources) }},
		{fileSinks, func(w io.Writer) error { return writeNamed(w, snap.Sinks) }},
		{fileState, func(w io.Writer) error { return writeState(w, ops) }},
	}
	var total, sharedBytes int64
	for _, r := range shared {
		sharedBytes += r.File.Size
	}
	for _, f := range files {
		if ctx.Err() != nil {
			return abandon(f.name)
		}
		fe, err := writeFileAtomic(path, f.name, f.write)
		if err != nil {
			return Info{}, fmt.Errorf("checkpoint %d: %w", snap.ID, err)
		}
		m.Files = append(m.Files, fe)
		total += fe.Size
	}
	if err := syncDir(path); err != nil {
		return Info{}, fmt.Errorf("checkpoint %d: %w", snap.ID, err)
	}
	if s.Hook != nil {
		s.Hook("files-written", snap.ID)
		if len(shared) > 0 {
			s.Hook("incremental-files-written", snap.ID)
		}
	}
	if ctx.Err() != nil {
		return abandon(fileManifest)
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Info{}, err
	}
	if _, err := writeFileAtomic(path, fileManifest, func(w io.Writer) error { _, err := w.Write(append(mb, '\n')); return err }); err != nil {
		return Info{}, fmt.Errorf("checkpoint %d: manifest: %w", snap.ID, err)
	}
	if err := syncDir(path); err != nil {
		return Info{}, err
	}
	if err := syncDir(s.dir); err != nil {
		return Info{}, err
	}
	s.remember(plan, meta.Term, filepath.Base(path), m.Files[0], m.Files[len(m.Files)-1])
	if s.Hook != nil {
		s.Hook("complete", snap.ID)
	}
	return Info{Path: path, Manifest: m, Bytes: total, SharedBytes: sharedBytes}, nil
}

// writeFileAtomic writes dir/name through dir/name.tmp: write, fsync,
// rename. It returns the file's size and CRC-32C.
func writeFileAtomic(dir, name string, write func(io.Writer) error) (FileEntry, error) {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return FileEntry{}, err
	}
	h := crc32.New(castagnoli)
	cw := &countWriter{w: io.MultiWriter(f, h)}
	if err := write(cw); err != nil {
		f.Close()
		return FileEntry{}, fmt.Errorf("%s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return FileEntry{}, fmt.Errorf("%s: fsync: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return FileEntry{}, fmt.Errorf("%s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return FileEntry{}, err
	}
	return FileEntry{Name: name, Size: cw.n, CRC32C: h.Sum32()}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// entry is a checkpoint directory found in the store.
type entry struct {
	name     string
	id, term uint64
}

// list returns the store's checkpoint directories, newest first: by id,
// then by term.
func (s *Store) list() ([]entry, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var es []entry
	for _, de := range des {
		if id, term, ok := s.parse(de.Name()); ok && de.IsDir() {
			es = append(es, entry{name: de.Name(), id: id, term: term})
		}
	}
	sortNewestFirst(es)
	return es, nil
}

func sortNewestFirst(es []entry) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].id != es[j].id {
			return es[i].id > es[j].id
		}
		return es[i].term > es[j].term
	})
}

// Latest loads the newest complete and valid checkpoint. Torn or corrupt
// ones are skipped with a log line. A valid checkpoint with another
// fingerprint is refused with ErrIncompatible rather than skipped: the
// operator must decide. accept, if not nil, filters candidates (HA: only
// the checkpoint committed through raft counts).
func (s *Store) Latest(fingerprint string, accept func(Manifest) bool) (*engine.Snapshot, Info, error) {
	es, err := s.list()
	if err != nil {
		return nil, Info{}, err
	}
	for _, e := range es {
		path := filepath.Join(s.dir, e.name)
		snap, info, err := Load(path)
		if err != nil {
			s.log.Warn("skipping checkpoint", zap.String("path", path), zap.Error(err))
			continue
		}
		if accept != nil && !accept(info.Manifest) {
			s.log.Info("skipping checkpoint not accepted", zap.String("path", path), zap.Uint64("term", info.Manifest.Term))
			continue
		}
		if err := Compatible(info.Manifest, fingerprint); err != nil {
			return nil, info, err
		}
		return snap, info, nil
	}
	return nil, Info{}, ErrNoCheckpoint
}

// Compatible checks a manifest's fingerprint against the job's.
func Compatible(m Manifest, fingerprint string) error {
	if m.Fingerprint != fingerprint {
		return fmt.Errorf("%w: checkpoint %d was taken with configuration %s, this job has %s; "+
			"restore with the same window parameters, input and max parallelism, or use an empty --checkpoint-dir",
			ErrIncompatible, m.ID, short(m.Fingerprint), short(fingerprint))
	}
	return nil
}

func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}

// Load reads and fully verifies the checkpoint in directory path: a
// readable manifest of a known format, and every data file present with
// the size and CRC-32C the manifest records. Only regular files are read
// (a symbolic link, device, FIFO or directory in their place is refused
// unopened), the manifest is at most MaxManifestSize bytes, and a data file
// whose size differs from the manifest's is refused unread: a hostile or
// damaged directory cannot make Load hang or exhaust memory beyond the
// sizes its manifest records.
func Load(path string) (*engine.Snapshot, Info, error) {
	bad := func(format string, args ...any) (*engine.Snapshot, Info, error) {
		return nil, Info{}, fmt.Errorf("%w: %s: %s", ErrInvalid, path, fmt.Sprintf(format, args...))
	}
	mb, err := readManifestFile(filepath.Join(path, fileManifest))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return bad("no manifest (incomplete): %v", err)
	case err != nil:
		return bad("manifest: %v", err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(mb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return bad("manifest: %v", err)
	}
	if m.FormatVersion < formatFull || m.FormatVersion > FormatVersion {
		return bad("format version %d, this build reads %d to %d", m.FormatVersion, formatFull, FormatVersion)
	}
	if m.FormatVersion == formatFull && len(m.Shared) > 0 {
		return bad("format version %d with shared files", m.FormatVersion)
	}
	if m.FormatVersion != FormatVersion && (m.Chains != nil || m.SourceChunks != nil) {
		return bad("format version %d with chains or source chunks", m.FormatVersion)
	}
	if m.MaxParallelism < 1 {
		return bad("manifest: max parallelism %d", m.MaxParallelism)
	}
	data := map[string][]byte{}
	var total int64
	for _, fe := range m.Files {
		if fe.Name != filepath.Base(fe.Name) {
			return bad("file name %q", fe.Name)
		}
		if _, dup := data[fe.Name]; dup {
			return bad("manifest lists %s twice", fe.Name)
		}
		b, err := readDataFile(filepath.Join(path, fe.Name), fe)
		if err != nil {
			return bad("%v", err)
		}
		data[fe.Name] = b
		total += fe.Size
	}
	for _, name := range []string{fileSources, fileSinks, fileState} {
		if _, ok := data[name]; !ok {
			return bad("manifest lists no %s", name)
		}
	}
	snap := &engine.Snapshot{ID: m.ID, MaxParallelism: m.MaxParallelism, Watermarks: m.Watermarks}
	if snap.Watermarks == nil {
		snap.Watermarks = map[string]int64{}
	}
	if snap.Sources, err = readNamed(data[fileSources]); err != nil {
		return bad("%s: %v", fileSources, err)
	}
	if snap.Sinks, err = readNamed(data[fileSinks]); err != nil {
		return bad("%s: %v", fileSinks, err)
	}
	if snap.Operators, err = readState(data[fileState], m.MaxParallelism); err != nil {
		return bad("%s: %v", fileState, err)
	}
	var sharedBytes int64
	if m.FormatVersion == FormatVersion {
		sharedBytes, err = loadChains(path, m, snap)
	} else {
		sharedBytes, err = loadShared(path, m, snap)
	}
	if err != nil {
		return bad("%v", err)
	}
	return snap, Info{Path: path, Manifest: m, Bytes: total, SharedBytes: sharedBytes}, nil
}

// prune deletes complete checkpoints beyond the retention, and incomplete
// directories older than the newest complete one, among the directories of
// writers with a term up to term: an old leader never deletes what a newer
// one wrote. Failures are logged only: pruning never fails a checkpoint.
func (s *Store) prune(term uint64) {
	if s.retain == 0 {
		return
	}
	es, err := s.list()
	if err != nil {
		s.log.Warn("listing checkpoints to prune", zap.Error(err))
		return
	}
	var mine, keep []entry
	for _, e := range es {
		if e.term <= term {
			mine = append(mine, e)
		}
	}
	for _, e := range mine {
		if len(keep) < s.retain && fileExists(filepath.Join(s.dir, e.name, fileManifest)) {
			keep = append(keep, e)
		}
	}
	used, ok := s.sharedInUse(keep)
	if !ok {
		return
	}
	kept := 0
	var newestComplete *entry
	for i := range mine {
		e := mine[i]
		complete := fileExists(filepath.Join(s.dir, e.name, fileManifest))
		if complete {
			if newestComplete == nil {
				newestComplete = &mine[i]
			}
			kept++
			if kept <= s.retain {
				continue
			}
		} else if newestComplete == nil {
			continue // possibly being written by someone else
		}
		var err error
		if files := used[e.name]; files != nil {
			err = s.trim(e.name, files) // retained checkpoints still refer to its files
		} else {
			err = os.RemoveAll(filepath.Join(s.dir, e.name))
		}
		if err != nil {
			s.log.Warn("pruning checkpoint", zap.String("dir", e.name), zap.Error(err))
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
