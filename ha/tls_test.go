package ha

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/topspeed/topspeed/internal/testenv"
)

func startTLSCluster(t *testing.T, n int) ([]*Node, testenv.TLS) {
	t.Helper()
	addrs := freePorts(t, n)
	var peers []Peer
	var names []string
	for i, a := range addrs {
		peers = append(peers, Peer{ID: fmt.Sprintf("n%d", i), Address: a})
		names = append(names, peers[i].ID)
	}
	certs := testenv.TLSFiles(t, append(names, "intruder")...)
	var nodes []*Node
	for i := range addrs {
		c := DefaultConfig()
		c.ID, c.Bind, c.Peers, c.Dir = peers[i].ID, addrs[i], peers, t.TempDir()
		cert, key := certs.Cert(peers[i].ID)
		c.TLS = &TLSFiles{CA: certs.CA, Cert: cert, Key: key}
		nd, err := Start(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, nd)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.Shutdown()
		}
	})
	return nodes, certs
}

// tlsTransport is hashicorp/raft's own client over TLS with cert and key,
// trusting ca for the server's certificate.
func tlsTransport(t *testing.T, ca, cert, key string) *raft.NetworkTransport {
	t.Helper()
	kp, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{Certificates: []tls.Certificate{kp}, RootCAs: pool, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	stream, err := NewTLSStreamLayer("127.0.0.1:0", nil, cfg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: stream, MaxPool: 1, Timeout: time.Second})
	t.Cleanup(func() { tr.Close() })
	return tr
}

func terms(nodes []*Node) []uint64 {
	var ts []uint64
	for _, n := range nodes {
		ts = append(ts, n.Term())
	}
	return ts
}

// attack sends a disruptive RequestVote (a leadership transfer in a far
// later term) and AppendEntries (a leader of that term) to every node with
// tr, and returns the errors.
func attack(tr *raft.NetworkTransport, nodes []*Node, peers []Peer) []error {
	var errs []error
	for i := range nodes {
		id, addr := raft.ServerID(peers[i].ID), raft.ServerAddress(peers[i].Address)
		term := nodes[i].Term() + 100
		hdr := raft.RPCHeader{ID: []byte("intruder"), Addr: []byte(tr.LocalAddr())}
		var vr raft.RequestVoteResponse
		errs = append(errs, tr.RequestVote(id, addr, &raft.RequestVoteRequest{
			RPCHeader: hdr, Term: term, LastLogIndex: 1 << 40, LastLogTerm: term, LeadershipTransfer: true,
		}, &vr))
		var ar raft.AppendEntriesResponse
		errs = append(errs, tr.AppendEntries(id, addr, &raft.AppendEntriesRequest{
			RPCHeader: hdr, Term: term, PrevLogEntry: 0, PrevLogTerm: 0, LeaderCommitIndex: 0,
		}, &ar))
	}
	return errs
}

// TestTLSRaftRefusesStrangers is the acceptance test of raft's mutual TLS:
// a real 3-node TLS cluster elects a leader and commits, while
// hashicorp/raft's own client, without a certificate or with one from
// another CA, gets no answer to RequestVote or AppendEntries and leaves the
// cluster's term unchanged. The control (a certificate from the cluster's
// CA) shows that the same calls are answered and do disrupt the cluster.
func TestTLSRaftRefusesStrangers(t *testing.T) {
	nodes, certs := startTLSCluster(t, 3)
	l := waitLeader(t, nodes)
	if err := nodes[l].Barrier(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := nodes[l].CommitCheckpoint(ctx, 1, "/ck/1", nodes[l].Term()); err != nil {
		t.Fatal(err)
	}
	var peers []Peer
	for _, n := range nodes {
		peers = append(peers, Peer{ID: n.cfg.ID, Address: n.cfg.Bind})
	}
	before := terms(nodes)

	plain, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, time.Second, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	other := testenv.TLSFiles(t, "intruder")
	cert, key := other.Cert("intruder")
	// The stranger trusts the cluster's CA, so only the replica's check of
	// the client certificate can stop it.
	foreign := tlsTransport(t, certs.CA, cert, key)
	for name, tr := range map[string]*raft.NetworkTransport{"no certificate": plain, "another CA's certificate": foreign} {
		for i, err := range attack(tr, nodes, peers) {
			if err == nil {
				t.Errorf("%s: call %d answered", name, i)
			}
		}
	}
	time.Sleep(3 * DefaultConfig().ElectionTimeout)
	if after := terms(nodes); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("terms moved from %v to %v", before, after)
	}
	if !nodes[l].IsLeader() {
		t.Fatal("the leader lost leadership")
	}
	if err := nodes[l].CommitCheckpoint(ctx, 2, "/ck/2", nodes[l].Term()); err != nil {
		t.Fatal(err)
	}

	// Control: the cluster's own CA's certificate is answered, and the
	// same calls push the term up.
	cert, key = certs.Cert("intruder")
	member := tlsTransport(t, certs.CA, cert, key)
	answered := 0
	for _, err := range attack(member, nodes, peers) {
		if err == nil {
			answered++
		}
	}
	if answered == 0 {
		t.Fatal("control: a certificate from the cluster's CA got no answer either")
	}
	if after := terms(nodes); fmt.Sprint(after) == fmt.Sprint(before) {
		t.Fatalf("control: the calls did not move the terms %v", before)
	}
}

func TestValidateRefusesInsecureBind(t *testing.T) {
	c := DefaultConfig()
	c.ID, c.Dir, c.Peers = "a", "/tmp/x", []Peer{{"a", "h:1"}}
	for _, bind := range []string{"127.0.0.1:7110", "[::1]:7110", "localhost:7110"} {
		c.Bind = bind
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", bind, err)
		}
	}
	c.Bind = "0.0.0.0:7110"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "--ha-allow-insecure") || !strings.Contains(err.Error(), "--ha-tls-ca") {
		t.Fatalf("non-loopback bind without TLS: %v", err)
	}
	c.AllowInsecure = true
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.AllowInsecure = false
	c.TLS = &TLSFiles{CA: "ca.pem", Cert: "c.pem"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--ha-tls-key") {
		t.Fatalf("TLS without a key: %v", err)
	}
	c.TLS.Key = "k.pem"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// A renewed certificate is picked up at the next handshake; a pair that
// does not load (half written) keeps the previous one.
func TestKeyPairReloads(t *testing.T) {
	a := testenv.TLSFiles(t, "n")
	b := testenv.TLSFiles(t, "n")
	cert, key := a.Cert("n")
	kp := &keyPair{certFile: cert, keyFile: key}
	first, err := kp.get()
	if err != nil {
		t.Fatal(err)
	}
	replace := func(src, dst string, at time.Time) {
		t.Helper()
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dst, at, at); err != nil {
			t.Fatal(err)
		}
	}
	if again, _ := kp.get(); again != first {
		t.Fatal("reloaded unchanged files")
	}
	later := time.Now().Add(time.Minute)
	bc, bk := b.Cert("n")
	replace(bc, cert, later)
	replace(bk, key, later)
	renewed, err := kp.get()
	if err != nil || string(renewed.Certificate[0]) == string(first.Certificate[0]) {
		t.Fatalf("the renewed certificate is not used: %v", err)
	}
	if err := os.WriteFile(key, []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}
	if kept, err := kp.get(); err != nil || kept != renewed {
		t.Fatalf("a broken pair replaced the working one: %v", err)
	}
}
