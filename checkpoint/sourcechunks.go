package checkpoint

import (
	"bytes"
	"fmt"
)

// Source state in chunks (format 3). A source's state is one opaque blob
// (the car generator's: about 9 bytes per car, 90 KB at 10,000 cars, 9 MB
// at a million) that changes only in places between checkpoints. A
// checkpoint store splits a blob of at least chunkedMin bytes into chunks
// (chunkFor: about a 64th of the blob, from chunkMinSize to chunkSize),
// compares each with the same chunk of the blob it wrote last (same term,
// same size, so the same chunks), and writes only the chunks that differ,
// referring to the files that hold the others.
// They are variables for tests only.
var (
	// chunkSize is the largest chunk (the last one may be shorter).
	chunkSize = 64 << 10
	// chunkMinSize is the smallest chunk, so that a manifest lists at
	// most about 64 chunks per blob below chunkSize*64 bytes.
	chunkMinSize = 4 << 10
	// chunkedMin is the smallest blob split in chunks: smaller ones are
	// always written whole.
	chunkedMin = 64 << 10
)

// chunkFor is the chunk size of a blob of n bytes.
func chunkFor(n int) int { return min(max(n/64, chunkMinSize), chunkSize) }

// ChunkedBlob is, in a manifest of format version 3, a source whose state
// is the concatenation of chunks, each taken from a sources.bin file: the
// checkpoint's own (0) or Shared[i-1], at an offset into that file's entry
// for the source.
type ChunkedBlob struct {
	Size    int64   `json:"size"`
	Chunk   int64   `json:"chunk"`
	Files   []int   `json:"files"`
	Offsets []int64 `json:"offsets"`
}

// chunkLoc is where a chunk of a source blob was written.
type chunkLoc struct {
	dir  string // "" while the checkpoint writing it is not complete
	file FileEntry
	off  int64
}

// writtenSource is a source blob a store wrote last, and where its chunks
// are.
type writtenSource struct {
	blob   []byte
	chunks []chunkLoc
}

// planSources splits snap's source blobs into what this checkpoint's
// sources.bin holds (own) and, for blobs some of whose chunks earlier
// files hold, the manifest's ChunkedBlob; next is the index of every
// chunked-size blob for the next checkpoint. shared and files are the
// plan's shared list and its index, extended here.
func planSources(sources map[string][]byte, prev map[string]writtenSource, p *writePlan, files map[string]int) (own map[string][]byte, chunked map[string]ChunkedBlob, next map[string]writtenSource) {
	own, next = make(map[string][]byte, len(sources)), map[string]writtenSource{}
	for name, blob := range sources {
		own[name] = blob
		if len(blob) < chunkedMin {
			continue
		}
		size := chunkFor(len(blob))
		n := (len(blob) + size - 1) / size
		ws := writtenSource{blob: blob, chunks: make([]chunkLoc, n)}
		next[name] = ws
		old, ok := prev[name]
		if !ok || len(old.blob) != len(blob) {
			for i := range ws.chunks {
				ws.chunks[i].off = int64(i * size)
			}
			continue
		}
		cb := ChunkedBlob{Size: int64(len(blob)), Chunk: int64(size), Files: make([]int, n), Offsets: make([]int64, n)}
		var mine []byte
		for i := range n {
			lo, hi := i*size, min(len(blob), (i+1)*size)
			if loc := old.chunks[i]; bytes.Equal(blob[lo:hi], old.blob[lo:hi]) {
				cb.Files[i], cb.Offsets[i] = p.sharedFile(loc.dir, loc.file, files), loc.off
				ws.chunks[i] = loc
				continue
			}
			cb.Offsets[i] = int64(len(mine))
			ws.chunks[i] = chunkLoc{off: int64(len(mine))}
			mine = append(mine, blob[lo:hi]...)
		}
		if len(mine) == len(blob) {
			continue // nothing shared: written whole
		}
		own[name] = mine
		if chunked == nil {
			chunked = map[string]ChunkedBlob{}
		}
		chunked[name] = cb
	}
	return own, chunked, next
}

// sharedFile returns the index in p.shared (from 1) of dir's file f,
// adding it if needed.
func (p *writePlan) sharedFile(dir string, f FileEntry, files map[string]int) int {
	ref := dir + "/" + f.Name
	i := files[ref]
	if i == 0 {
		p.shared = append(p.shared, SharedRef{Checkpoint: dir, File: f})
		i = len(p.shared)
		files[ref] = i
	}
	return i
}

// joinChunks rebuilds a chunked source blob from the sources.bin entries
// for it: named[0] is the checkpoint's own sources.bin, named[i] that of
// Shared[i-1] (nil if that is not a sources.bin). Every chunk must lie
// within its entry, and the own entry must be used exactly.
func joinChunks(name string, cb ChunkedBlob, named []map[string][]byte) ([]byte, error) {
	bad := func(format string, args ...any) ([]byte, error) {
		return nil, fmt.Errorf("source %q in chunks: %s", name, fmt.Sprintf(format, args...))
	}
	if cb.Chunk < 1 || cb.Size < 1 {
		return bad("size %d, chunk %d", cb.Size, cb.Chunk)
	}
	n := (cb.Size + cb.Chunk - 1) / cb.Chunk
	if int64(len(cb.Files)) != n || int64(len(cb.Offsets)) != n {
		return bad("%d files and %d offsets for %d chunks", len(cb.Files), len(cb.Offsets), n)
	}
	var ownUsed, held int64
	seen := map[int]bool{}
	for i, f := range cb.Files {
		if f < 0 || f >= len(named) || named[f] == nil {
			return bad("chunk %d: file %d is no sources file", i, f)
		}
		entry, ok := named[f][name]
		length := min(cb.Chunk, cb.Size-int64(i)*cb.Chunk)
		if off := cb.Offsets[i]; !ok || off < 0 || off > int64(len(entry))-length {
			return bad("chunk %d: %d bytes at %d beyond file %d's entry", i, length, off, f)
		}
		if !seen[f] {
			seen[f], held = true, held+int64(len(entry))
		}
		if f == 0 {
			ownUsed += length
		}
	}
	if ownUsed != int64(len(named[0][name])) {
		return bad("the own entry has %d bytes, the chunks take %d", len(named[0][name]), ownUsed)
	}
	if cb.Size > held { // chunks overlap: memory stays bounded by what was read
		return bad("%d bytes from entries of %d", cb.Size, held)
	}
	out := make([]byte, 0, cb.Size)
	for i, f := range cb.Files {
		length := min(cb.Chunk, cb.Size-int64(i)*cb.Chunk)
		out = append(out, named[f][name][cb.Offsets[i]:cb.Offsets[i]+length]...)
	}
	return out, nil
}
