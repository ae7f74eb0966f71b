// Package ha elects a leader among topspeed replicas with hashicorp/raft and
// fences checkpoints: only the leader runs the job, and a checkpoint counts
// only once its pointer (id, path, term) is committed through raft by the
// leader of the term that took it.
//
// # Guarantees
//
//   - At most one replica's checkpoints count per term, and the committed
//     pointer only moves forward (see decide).
//   - A paused (SIGSTOP) or partitioned old leader cannot commit: raft needs
//     a quorum, and an entry appended under an old term is rejected by the
//     FSM. Restore reads only the committed pointer, so the zombie's
//     checkpoints are never restored.
//   - Until it notices (at most about LeaderLeaseTimeout after losing its
//     quorum, or at once when it resumes and hears the new term), a zombie
//     may still write Cassandra rows. They are upserts keyed by
//     (carid, time), and the input is replayed deterministically from the
//     committed checkpoint, so the zombie writes exactly the rows the new
//     leader writes too: identical values, no divergent extras.
package ha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.uber.org/zap"
)

// ErrNotLeader means this replica is not (or no longer) the leader.
var ErrNotLeader = errors.New("ha: not the leader")

// Status is a replica's view of the cluster.
type Status struct {
	Role           string  `json:"role"` // "leader", "follower", "candidate" or "shutdown"
	Term           uint64  `json:"term"`
	Leader         string  `json:"leader"`
	LastCheckpoint Pointer `json:"last_checkpoint"`
}

// Node is one replica's raft member.
type Node struct {
	cfg    Config
	raft   *raft.Raft
	fsm    *fsm
	notify chan bool
	store  *raftboltdb.BoltStore
	trans  *raft.NetworkTransport
	log    *zap.Logger
}

// Start opens the durable raft store in cfg.Dir, listens on cfg.Bind and
// joins the cluster. It bootstraps the cluster (all cfg.Peers as voters)
// only when the store holds no state yet, so restarts never re-bootstrap.
// ctx bounds the start: cancelling it ends the wait for the advertise
// address to resolve (the node, once started, does not depend on ctx; end
// it with Shutdown).
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("ha: %w", err)
	}
	// raft's own logs (raft, its transport, its snapshot store) go through
	// log as zap entries at raft's levels, from Warn up (see hclog.go).
	rlog := newHCLog(log, "raft", hclog.Warn)
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("ha: raft store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, rlog.Named("snapshot"))
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("ha: snapshot store: %w", err)
	}
	adv := cfg.Advertise
	if adv == "" {
		adv = cfg.Bind
	}
	// A StatefulSet pod's own DNS name appears shortly after the pod starts:
	// retry for a while instead of crashing.
	var advAddr *net.TCPAddr
	for deadline := time.Now().Add(cfg.ResolveBudget); ; {
		advAddr, err = net.ResolveTCPAddr("tcp", adv)
		if err == nil || time.Now().After(deadline) {
			break
		}
		log.Info("waiting for the advertise address to resolve", zap.String("address", adv), zap.Error(err))
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(500 * time.Millisecond):
			continue
		}
		break
	}
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("ha: advertise address %q: %w", adv, err)
	}
	trans, err := newTransport(cfg, advAddr, rlog.Named("net"))
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("ha: raft transport on %s: %w", cfg.Bind, err)
	}
	notify := make(chan bool, 16)
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.NotifyCh = notify
	rc.Logger = rlog
	f := &fsm{}
	r, err := raft.NewRaft(rc, f, store, store, snaps, trans)
	if err != nil {
		trans.Close()
		store.Close()
		return nil, fmt.Errorf("ha: %w", err)
	}
	n := &Node{cfg: cfg, raft: r, fsm: f, notify: notify, store: store, trans: trans, log: log}
	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		n.Shutdown()
		return nil, fmt.Errorf("ha: %w", err)
	}
	if !has {
		var servers []raft.Server
		for _, p := range cfg.Peers {
			servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Address), Suffrage: raft.Voter})
		}
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			n.Shutdown()
			return nil, fmt.Errorf("ha: bootstrap: %w", err)
		}
		log.Info("raft cluster bootstrapped", zap.Int("peers", len(servers)))
	}
	return n, nil
}

// newTransport is raft's TCP transport, over mutual TLS when cfg.TLS is set.
func newTransport(cfg Config, adv net.Addr, log hclog.Logger) (*raft.NetworkTransport, error) {
	if cfg.TLS == nil {
		return raft.NewTCPTransportWithLogger(cfg.Bind, adv, 3, 2*time.Second, log)
	}
	server, client, err := cfg.TLS.tlsConfigs()
	if err != nil {
		return nil, err
	}
	stream, err := NewTLSStreamLayer(cfg.Bind, adv, server, client)
	if err != nil {
		return nil, err
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: 3, Timeout: 2 * time.Second, Logger: log,
	}), nil
}

// LeaderCh reports leadership changes: true when this replica becomes the
// leader, false when it stops being it. It is raft's buffered NotifyCh.
func (n *Node) LeaderCh() <-chan bool { return n.notify }

// IsLeader reports whether this replica currently is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Barrier waits until every committed entry is applied to the local FSM, so
// a new leader reads the latest pointer.
func (n *Node) Barrier(timeout time.Duration) error {
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		return fmt.Errorf("ha: barrier: %w", err)
	}
	return nil
}

// Term returns the current raft term.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// Pointer returns the committed checkpoint pointer as applied locally.
func (n *Node) Pointer() Pointer { return n.fsm.pointer() }

// CommitCheckpoint commits a checkpoint pointer taken under term. It fails
// with ErrNotLeader if this replica lost leadership, and with the FSM's
// reason if the pointer is stale.
func (n *Node) CommitCheckpoint(ctx context.Context, id uint64, path string, term uint64) error {
	return n.apply(ctx, command{Op: "checkpoint", ID: id, Path: path, Term: term})
}

// FallBack moves the committed pointer back to an older checkpoint (id, taken
// in term taken, at path) because this leader, of term, cannot load the
// committed one. The pointer records the id it fell back from
// (Pointer.FellBackFrom); ordinary stale pointers stay refused.
func (n *Node) FallBack(ctx context.Context, id uint64, path string, taken, term uint64) error {
	return n.apply(ctx, command{Op: "fallback", ID: id, Path: path, Term: term, Taken: taken})
}

// AdoptSavepoint records, as this leader of term, that the job starts from
// the savepoint at path (absolute) instead of the beginning: it sets
// Pointer.Origin. The FSM accepts it only while no checkpoint is committed;
// after that a savepoint would silently discard committed progress.
func (n *Node) AdoptSavepoint(ctx context.Context, path string, term uint64) error {
	return n.apply(ctx, command{Op: "savepoint", Path: path, Term: term})
}

// MarkFinished records that the bounded job has processed all its input.
func (n *Node) MarkFinished(ctx context.Context, term uint64) error {
	return n.apply(ctx, command{Op: "finished", Term: term})
}

func (n *Node) apply(ctx context.Context, cmd command) error {
	b, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	f := n.raft.Apply(b, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return fmt.Errorf("%w: %v", ErrNotLeader, err)
		}
		return fmt.Errorf("ha: commit: %w", err)
	}
	if res, ok := f.Response().(applyResult); ok && res.err != nil {
		return res.err
	}
	return nil
}

// TransferLeadership hands leadership to another replica and waits for it.
func (n *Node) TransferLeadership() error {
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		return fmt.Errorf("ha: leadership transfer: %w", err)
	}
	return nil
}

// Status returns role, term, leader and the committed pointer.
func (n *Node) Status() Status {
	_, leader := n.raft.LeaderWithID()
	role := "follower"
	switch n.raft.State() {
	case raft.Leader:
		role = "leader"
	case raft.Candidate:
		role = "candidate"
	case raft.Shutdown:
		role = "shutdown"
	}
	return Status{Role: role, Term: n.Term(), Leader: string(leader), LastCheckpoint: n.Pointer()}
}

// Shutdown leaves raft and closes the store and transport. The replica
// stays a member: a restarted pod rejoins with its durable state.
func (n *Node) Shutdown() error {
	err := n.raft.Shutdown().Error()
	if cerr := n.trans.Close(); err == nil {
		err = cerr
	}
	if cerr := n.store.Close(); err == nil {
		err = cerr
	}
	return err
}
