package ha

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// Stopping the whole cluster at once (a scale to zero, make ha-local-down)
// must not lose the leader's final checkpoint: committing its pointer needs
// a quorum, and followers that leave at once take the quorum with them. So
// a stopping leader announces the stop through raft first (AnnounceStop),
// and a follower told to stop waits (StayForStoppingLeader) while such a
// leader still leads, keeping its vote for the final commit.

// AnnounceStop records through raft that the leader of term is stopping and
// is about to take and commit a final checkpoint. It fails like
// CommitCheckpoint when this replica is not the leader of term.
func (n *Node) AnnounceStop(ctx context.Context, term uint64) error {
	return n.apply(ctx, command{Op: "stopping", Term: term})
}

// Why StayForStoppingLeader returned.
const (
	StayNoLeader     = "no known leader"
	StayLeading      = "this replica leads"
	StayFinished     = "the job has finished"
	StayLeaderRuns   = "the leader is not stopping"
	StayLeaderDone   = "the stopping leader handed over or left"
	StayBoundReached = "the stopping leader did not finish in time"
)

// StayGrace is how long a follower told to stop waits for the leader to
// announce that it is stopping too: four heartbeat timeouts (2 s with the
// defaults), ample for a leader signalled at about the same time.
func (c Config) StayGrace() time.Duration { return 4 * c.HeartbeatTimeout }

// StayForStoppingLeader is what a follower does when it is told to stop,
// before shutting raft down. For up to grace it watches for a stop
// announcement (AnnounceStop) by the leader it knew, or a later one;
// without one it returns StayLeaderRuns, and the leader keeps its quorum
// without this replica. With one, it keeps serving raft until that leader
// is gone: the term moved past the announcing leader's (leadership was
// handed over, which the leader does only after its final commit) or no
// leader is known any more (it left). It returns at once if no leader is
// known, or this replica leads without a stop announcement (it runs no job:
// better let another replica lead), or the job has finished; and returns
// StayBoundReached when ctx ends first (the caller's --stop-timeout, or a
// second signal).
//
// Leadership changes that arrive meanwhile are drained from LeaderCh: a
// replica that is leaving never runs the job.
func (n *Node) StayForStoppingLeader(ctx context.Context, grace time.Duration) string {
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	since := n.Status().Term // announcements from this term on count
	var stopTerm uint64
	for {
		st := n.Status()
		p := st.LastCheckpoint
		if stopTerm == 0 && p.StopTerm >= since && p.StopTerm > 0 {
			stopTerm = p.StopTerm
			n.log.Info("follower: the leader is stopping too; staying until its final checkpoint is committed",
				zap.Uint64("stop_term", stopTerm), zap.String("leader", st.Leader), zap.Uint64("term", st.Term), zap.Uint64("checkpoint", p.ID))
		}
		switch {
		case p.Finished:
			return StayFinished
		case stopTerm != 0 && (st.Term > stopTerm || st.Leader == ""):
			return StayLeaderDone
		case stopTerm != 0:
			// The stopping leader still leads: stay.
		case st.Leader == "":
			return StayNoLeader
		case st.Leader == n.cfg.ID:
			return StayLeading
		case time.Since(start) >= grace:
			return StayLeaderRuns
		}
		select {
		case <-ctx.Done():
			return StayBoundReached
		case <-n.notify:
		case <-tick.C:
		}
	}
}
