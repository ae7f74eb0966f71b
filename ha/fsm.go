package ha

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
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
	// FellBackFrom is the id of the last committed checkpoint that its
	// leader could not load and replaced by an older valid one (see
	// Node.FallBack); 0 if that never happened.
	FellBackFrom uint64 `json:"fell_back_from,omitempty"`
	// Origin is the savepoint the job's committed history started from
	// (--from-savepoint, an absolute path), or "" if it started from the
	// beginning. It is set only while no checkpoint is committed (see
	// Node.AdoptSavepoint) and kept by every later checkpoint, so a leader
	// can tell "continue from the pointer" (the flag still names Origin)
	// from "restore an older state" (it names another savepoint).
	Origin string `json:"origin,omitempty"`
	// Index is the raft log index of the entry that set ID, Path and Term.
	Index uint64 `json:"index,omitempty"`
	// Refused counts the raft entries the FSM refused: a stale leader's
	// command, a checkpoint not newer than the pointer (see newer), an
	// undecodable or unknown entry. It is a function of the log, so every
	// replica has the same count once it applied the same entries.
	Refused uint64 `json:"refused,omitempty"`
}

// command is a raft log entry.
type command struct {
	Op   string `json:"op"` // "checkpoint", "fallback", "savepoint", "finished" or "stopping"
	ID   uint64 `json:"id,omitempty"`
	Path string `json:"path,omitempty"`
	Term uint64 `json:"term"`
	// Taken is, for a fallback, the term its (older) checkpoint was taken in.
	Taken uint64 `json:"taken,omitempty"`
}

// applyResult is what FSM.Apply returns for a command.
type applyResult struct {
	err error
}

// newer is the ordering rule of ordinary checkpoint commits: a checkpoint
// (id, term) is newer than the held pointer cur if and only if
//
//	id > cur.ID && term >= cur.Term
//
// Both must hold. Ids grow along the job's history (a leader restores the
// held pointer's checkpoint and numbers its next ones from there), so an id
// that does not grow is a replay or a deposed leader's late commit. Terms
// never go back: a checkpoint taken under an older term than the held
// one's was taken by a deposed leader, whatever its id (a deposed leader
// numbers from an older restore, so its ids may even exceed the current
// leader's). The comparison is always against the pointer the FSM holds
// (after a fallback, that older pointer), not the largest id ever seen.
func newer(cur Pointer, id, term uint64) bool {
	return id > cur.ID && term >= cur.Term
}

// decide is the pure fencing rule: a command is accepted only if it was
// appended by a leader of the term it claims (so a stale leader's
// checkpoint, taken under an older term, never counts) and that term is not
// older than the held pointer's; a checkpoint must also be newer than the
// held pointer (see newer). appended is the entry's append time (the
// pointer's Time).
func decide(cur Pointer, cmd command, logTerm uint64, appended time.Time) (Pointer, error) {
	if cmd.Term != logTerm {
		return cur, fmt.Errorf("ha: stale %s %d: taken in term %d, appended in term %d", cmd.Op, cmd.ID, cmd.Term, logTerm)
	}
	if cmd.Term < cur.Term {
		return cur, fmt.Errorf("ha: stale %s %d of term %d: the pointer is at term %d", cmd.Op, cmd.ID, cmd.Term, cur.Term)
	}
	switch cmd.Op {
	case "checkpoint":
		if !newer(cur, cmd.ID, cmd.Term) {
			return cur, fmt.Errorf("ha: checkpoint (%d, term %d) is not newer than the pointer (%d, term %d)", cmd.ID, cmd.Term, cur.ID, cur.Term)
		}
		next := cur
		next.ID, next.Path, next.Term, next.Time = cmd.ID, cmd.Path, cmd.Term, appended
		return next, nil
	case "fallback":
		// The only way back: explicit, to a checkpoint older than the
		// committed one, and recorded.
		if cmd.ID == 0 || cmd.ID >= cur.ID {
			return cur, fmt.Errorf("ha: fallback to checkpoint %d is not below the committed %d", cmd.ID, cur.ID)
		}
		from := cur.ID
		next := cur
		next.ID, next.Path, next.Term, next.Time, next.FellBackFrom = cmd.ID, cmd.Path, cmd.Taken, appended, from
		return next, nil
	case "savepoint":
		// Only before the job's history begins: a savepoint never replaces
		// committed checkpoints.
		if cur.ID != 0 || cur.Finished {
			return cur, fmt.Errorf("ha: savepoint %s refused: checkpoint %d is already committed", cmd.Path, cur.ID)
		}
		if cmd.Path == "" {
			return cur, errors.New("ha: savepoint without a path")
		}
		cur.Origin = cmd.Path
		return cur, nil
	case "finished":
		cur.Finished = true
		return cur, nil
	case "stopping":
		if cmd.Term < cur.StopTerm {
			return cur, fmt.Errorf("ha: stale stop announcement of term %d: already at %d", cmd.Term, cur.StopTerm)
		}
		cur.StopTerm = cmd.Term
		return cur, nil
	}
	return cur, fmt.Errorf("ha: unknown command %q", cmd.Op)
}

// fsm applies commands to the pointer.
type fsm struct {
	mu  sync.Mutex
	ptr Pointer
	log *zap.Logger // nil: applied entries are not logged
}

// Apply decides each entry (see decide) and counts the refused ones in
// Pointer.Refused.
func (f *fsm) Apply(l *raft.Log) any {
	var cmd command
	err := json.Unmarshal(l.Data, &cmd)
	if err != nil {
		err = fmt.Errorf("ha: undecodable log entry %d: %w", l.Index, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		var next Pointer
		if next, err = decide(f.ptr, cmd, l.Term, l.AppendedAt); err == nil {
			if next.ID != f.ptr.ID || next.Path != f.ptr.Path || next.Term != f.ptr.Term {
				next.Index = l.Index
			}
			f.ptr = next
		}
	}
	if err != nil {
		f.ptr.Refused++
	}
	f.logApplied(l, cmd, err)
	return applyResult{err}
}

// logApplied logs an applied entry with its raft index: a replica's
// sequence of these lines is the sequence its FSM applied, in log order,
// whatever the timestamps of other lines say.
func (f *fsm) logApplied(l *raft.Log, cmd command, err error) {
	if f.log == nil {
		return
	}
	f.log.Debug("raft entry applied", zap.Uint64("index", l.Index), zap.Uint64("entry_term", l.Term),
		zap.String("op", cmd.Op), zap.Uint64("checkpoint", cmd.ID), zap.Uint64("checkpoint_term", cmd.Term),
		zap.Bool("accepted", err == nil), zap.Uint64("refused", f.ptr.Refused), zap.Error(err))
}

// LogApplied makes this replica log, from now on, every raft entry its FSM
// applies ("raft entry applied", at debug level, with the raft index,
// whether it was accepted and why not). Call it right after Start: raft
// applies entries only once it hears from a leader, and an entry applied
// before the call is not logged. Safe for concurrent use.
func (n *Node) LogApplied() {
	n.fsm.mu.Lock()
	defer n.fsm.mu.Unlock()
	n.fsm.log = n.log.Named("fsm")
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
