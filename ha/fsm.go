package ha

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Pointer is the replicated state: the latest checkpoint that counts.
type Pointer struct {
	// ID, Path and Term identify the checkpoint; Term is the raft term of
	// the leader that took and committed it. ID 0 means none yet.
	ID   uint64 `json:"id"`
	Path string `json:"path"`
	Term uint64 `json:"term"`
	// Time is when the leader appended the pointer to the raft log (just
	// before it committed); zero if unknown.
	Time time.Time `json:"time,omitzero"`
	// Finished is set once a bounded job has processed all its input.
	Finished bool `json:"finished,omitempty"`
	// StopTerm is the term of the last leader that announced it is stopping
	// (SIGTERM) and taking a final checkpoint. A follower that is told to
	// stop too keeps its raft vote while the leader of StopTerm still leads,
	// so that the final checkpoint finds a quorum (see Node.AnnounceStop).
	StopTerm uint64 `json:"stop_term,omitempty"`
}

// command is a raft log entry.
type command struct {
	Op   string `json:"op"` // "checkpoint", "finished" or "stopping"
	ID   uint64 `json:"id,omitempty"`
	Path string `json:"path,omitempty"`
	Term uint64 `json:"term"`
}

// applyResult is what FSM.Apply returns for a command.
type applyResult struct {
	err error
}

// decide is the pure fencing rule: a checkpoint pointer is accepted only if
// the command was appended by a leader of the term it claims (so a stale
// leader's checkpoint, taken under an older term, never counts) and it
// moves the pointer forward. appended is the entry's append time (the
// pointer's Time).
func decide(cur Pointer, cmd command, logTerm uint64, appended time.Time) (Pointer, error) {
	if cmd.Term != logTerm {
		return cur, fmt.Errorf("ha: stale %s %d: taken in term %d, appended in term %d", cmd.Op, cmd.ID, cmd.Term, logTerm)
	}
	switch cmd.Op {
	case "checkpoint":
		if cmd.ID <= cur.ID {
			return cur, fmt.Errorf("ha: checkpoint %d does not advance the pointer (at %d)", cmd.ID, cur.ID)
		}
		next := cur
		next.ID, next.Path, next.Term, next.Time = cmd.ID, cmd.Path, cmd.Term, appended
		return next, nil
	case "finished":
		cur.Finished = true
		return cur, nil
	case "stopping":
		cur.StopTerm = cmd.Term
		return cur, nil
	}
	return cur, fmt.Errorf("ha: unknown command %q", cmd.Op)
}

// fsm applies commands to the pointer.
type fsm struct {
	mu  sync.Mutex
	ptr Pointer
}

func (f *fsm) Apply(l *raft.Log) any {
	var cmd command
	if err := json.Unmarshal(l.Data, &cmd); err != nil {
		return applyResult{fmt.Errorf("ha: undecodable log entry %d: %w", l.Index, err)}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	next, err := decide(f.ptr, cmd, l.Term, l.AppendedAt)
	if err != nil {
		return applyResult{err}
	}
	f.ptr = next
	return applyResult{}
}

func (f *fsm) pointer() Pointer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ptr
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return snapshot{f.pointer()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var p Pointer
	if err := json.NewDecoder(rc).Decode(&p); err != nil {
		return fmt.Errorf("ha: restoring raft snapshot: %w", err)
	}
	f.mu.Lock()
	f.ptr = p
	f.mu.Unlock()
	return nil
}

type snapshot struct{ p Pointer }

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s.p); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (snapshot) Release() {}
