package ha

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Peer is one replica: its stable id (the pod name) and raft address.
type Peer struct {
	ID      string
	Address string
}

// Config configures a Node. Build it with DefaultConfig.
type Config struct {
	// ID is this replica's stable server id (the pod name).
	ID string
	// Bind is the local address the raft transport listens on.
	Bind string
	// Advertise is the address other replicas reach this one at (default:
	// Bind).
	Advertise string
	// Peers are all replicas, this one included.
	Peers []Peer
	// Dir holds this replica's durable raft log and snapshots (its own
	// disk, not the shared volume).
	Dir string
	// Raft timing, tuned for a LAN. A follower starts an election after
	// HeartbeatTimeout without contact; a leader steps down after
	// LeaderLeaseTimeout without a quorum.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout, CommitTimeout time.Duration
	// ApplyTimeout bounds committing one checkpoint pointer.
	ApplyTimeout time.Duration
	// ResolveBudget is how long Start waits for the advertise address to
	// resolve (a StatefulSet pod's DNS record appears after the pod starts).
	ResolveBudget time.Duration
	// Logger receives raft's and this package's logs; nil logs nothing.
	Logger *zap.Logger
	// TLS, if set, secures raft with mutual TLS (see TLSFiles).
	TLS *TLSFiles
	// AllowInsecure lets raft run without TLS on a non-loopback Bind.
	// Without TLS any host that reaches the port can vote and commit.
	AllowInsecure bool
}

// DefaultConfig returns LAN timings: 500 ms heartbeat and election
// timeouts, a 250 ms leader lease, 20 ms commit timeout (hashicorp/raft's
// defaults are 1 s, 1 s, 500 ms, 50 ms, tuned for WANs).
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		CommitTimeout:      20 * time.Millisecond,
		ApplyTimeout:       5 * time.Second,
		ResolveBudget:      60 * time.Second,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.ID == "":
		return errors.New("ha: no server id (--ha-id)")
	case c.Bind == "":
		return errors.New("ha: no bind address (--ha-bind)")
	case c.Dir == "":
		return errors.New("ha: no raft directory (--ha-dir)")
	case len(c.Peers) == 0:
		return errors.New("ha: no peers (--ha-peers)")
	case c.LeaderLeaseTimeout <= 0 || c.HeartbeatTimeout < c.LeaderLeaseTimeout:
		return fmt.Errorf("ha: leader lease %v must be positive and at most the heartbeat timeout %v", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	case c.ElectionTimeout < c.HeartbeatTimeout:
		return fmt.Errorf("ha: election timeout %v must be at least the heartbeat timeout %v", c.ElectionTimeout, c.HeartbeatTimeout)
	case c.CommitTimeout <= 0 || c.ApplyTimeout <= 0:
		return errors.New("ha: commit and apply timeouts must be positive")
	}
	if _, _, err := net.SplitHostPort(c.Bind); err != nil {
		return fmt.Errorf("ha: bind address %q: %w", c.Bind, err)
	}
	if c.TLS == nil && !c.AllowInsecure && !loopback(c.Bind) {
		return fmt.Errorf("ha: --ha-bind %s %w", c.Bind, errInsecure)
	}
	if t := c.TLS; t != nil && (t.CA == "" || t.Cert == "" || t.Key == "") {
		return errors.New("ha: raft TLS needs all of --ha-tls-ca, --ha-tls-cert and --ha-tls-key")
	}
	self := false
	seen := map[string]bool{}
	for _, p := range c.Peers {
		if seen[p.ID] {
			return fmt.Errorf("ha: peer id %q listed twice", p.ID)
		}
		seen[p.ID] = true
		self = self || p.ID == c.ID
	}
	if !self {
		return fmt.Errorf("ha: this server's id %q is not among the peers", c.ID)
	}
	return nil
}

// ParsePeers parses "id=host:port,id2=host2:port".
func ParsePeers(s string) ([]Peer, error) {
	var ps []Peer
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, addr, ok := strings.Cut(part, "=")
		if !ok || id == "" {
			return nil, fmt.Errorf("ha: peer %q: want id=host:port", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("ha: peer %q: %w", part, err)
		}
		ps = append(ps, Peer{ID: id, Address: addr})
	}
	if len(ps) == 0 {
		return nil, errors.New("ha: empty peer list")
	}
	return ps, nil
}

// StatefulSetPeers derives the peers of a StatefulSet from its pod-name
// convention: <name>-0 .. <name>-(replicas-1), reachable at
// <pod>.<service>:<port> through the headless service.
func StatefulSetPeers(name, service string, replicas, port int) []Peer {
	ps := make([]Peer, replicas)
	for i := range ps {
		id := fmt.Sprintf("%s-%d", name, i)
		ps[i] = Peer{ID: id, Address: fmt.Sprintf("%s.%s:%d", id, service, port)}
	}
	return ps
}
