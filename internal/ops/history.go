package ops

import (
	"strings"
	"time"
)

// The dashboard's memory of the recent past: the last checkpoints and the
// last errors, each in a fixed-size ring owned by the Recorder (guarded
// by its mutex), so that a job running for months holds no more than
// MaxCheckpointHistory + MaxExceptions entries.

// MaxCheckpointHistory is how many checkpoints /api/v1/checkpoints keeps.
const MaxCheckpointHistory = 32

// MaxExceptions is how many errors /api/v1/exceptions keeps.
const MaxExceptions = 64

// maxExceptionText bounds one error's message (longer ones are cut).
const maxExceptionText = 4096

// CheckpointEntry is one checkpoint or savepoint this replica took, in
// /api/v1/checkpoints.
type CheckpointEntry struct {
	// ID is the checkpoint id; 0 when a failure happened before the id
	// was known to the runner.
	ID uint64 `json:"id"`
	// State is "completed" or "failed".
	State string `json:"state"`
	// Time is when it completed or failed.
	Time time.Time `json:"time"`
	// DurationSeconds is from the barrier request to the durable commit
	// (completed only).
	DurationSeconds float64 `json:"duration_seconds"`
	// SizeBytes is the size of its files (completed only).
	SizeBytes int64 `json:"size_bytes"`
	// Path is its directory (completed only; a savepoint's lies in
	// --savepoint-dir).
	Path string `json:"path,omitempty"`
	// Cause is why it failed (failed only).
	Cause string `json:"cause,omitempty"`
}

// Exception is one error the job reported, in /api/v1/exceptions.
type Exception struct {
	Time time.Time `json:"time"`
	// Kind is what failed: "pipeline", "checkpoint", "term" (HA: a term of
	// leadership ended in failure) or "job".
	Kind string `json:"kind"`
	// Stage is the stage the error names ("" if none).
	Stage string `json:"stage,omitempty"`
	// Message is the error text (at most 4096 bytes).
	Message string `json:"message"`
}

// ring is a bounded FIFO: the newest n items.
type ring[T any] struct {
	items []T
	next  int // where the next item goes once full
	total int64
}

func (r *ring[T]) add(v T, n int) {
	r.total++
	if len(r.items) < n {
		r.items = append(r.items, v)
		return
	}
	r.items[r.next] = v
	r.next = (r.next + 1) % n
}

// newestFirst copies the items, newest first.
func (r *ring[T]) newestFirst() []T {
	out := make([]T, 0, len(r.items))
	for i := len(r.items) - 1; i >= 0; i-- {
		out = append(out, r.items[(r.next+i)%len(r.items)])
	}
	return out
}

// CheckpointDone records a durable, committed checkpoint (or savepoint)
// taken here: the metrics, the status's last checkpoint and the history.
func (r *Recorder) CheckpointDone(id uint64, d time.Duration, sizeBytes int64, path string) {
	if r == nil {
		return
	}
	r.CheckpointCompleted(id, d, sizeBytes)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ckHist.add(CheckpointEntry{ID: id, State: "completed", Time: time.Now().UTC(), DurationSeconds: d.Seconds(),
		SizeBytes: sizeBytes, Path: path}, MaxCheckpointHistory)
}

// CheckpointFailedBecause counts a failed checkpoint and records it, with
// its id (0: it failed before it had one) and cause, in the history and as
// an exception of kind "checkpoint".
func (r *Recorder) CheckpointFailedBecause(id uint64, err error) {
	if r == nil {
		return
	}
	r.CheckpointFailed()
	msg := "unknown"
	if err != nil {
		msg = cut(err.Error())
	}
	r.mu.Lock()
	r.ckHist.add(CheckpointEntry{ID: id, State: "failed", Time: time.Now().UTC(), Cause: msg}, MaxCheckpointHistory)
	r.mu.Unlock()
	r.Exception("checkpoint", StageOf(msg), msg)
}

// Exception records an error the job reported (see Exception's fields).
func (r *Recorder) Exception(kind, stage, msg string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.excs.add(Exception{Time: time.Now().UTC(), Kind: kind, Stage: stage, Message: cut(msg)}, MaxExceptions)
}

// History returns the recent checkpoints and exceptions, newest first,
// and how many of each were recorded since the start.
func (r *Recorder) History() (cks []CheckpointEntry, ckTotal int64, excs []Exception, excTotal int64) {
	if r == nil {
		return nil, 0, nil, 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ckHist.newestFirst(), r.ckHist.total, r.excs.newestFirst(), r.excs.total
}

func cut(s string) string {
	if len(s) > maxExceptionText {
		return s[:maxExceptionText] + "…"
	}
	return s
}

// StageOf returns the stage an engine error names (`stage "x"`, `sink
// "x"`, `source "x"`, the first one), or "".
func StageOf(msg string) string {
	best, name := -1, ""
	for _, w := range []string{`stage "`, `sink "`, `source "`} {
		i := strings.Index(msg, w)
		if i < 0 || (best >= 0 && i > best) {
			continue
		}
		rest := msg[i+len(w):]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			best, name = i, rest[:j]
		}
	}
	return name
}
