package ha

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// TLSFiles names the PEM files of raft's mutual TLS. Every replica presents
// Cert (with Key) both as a server and as a client, and accepts a peer only
// if its certificate chains to CA: a host without such a certificate gets
// no raft answer at all (no vote, no append). Cert needs the server auth
// and client auth usages and, as a server, a DNS or IP name matching the
// host part of the replica's raft address as the peers dial it.
//
// CA is read once, when the node starts. Cert and Key are read at start
// and again at a handshake after either file's modification time or size
// changed, so a renewed certificate (cert-manager rewrites the secret's
// files) is used without a restart; a pair that does not load keeps the
// previous one in use.
type TLSFiles struct {
	CA, Cert, Key string
}

// tlsConfigs loads the files into the listener's and the dialer's configs:
// TLS 1.2 at least (1.3 preferred, Go's default when both sides have it),
// client certificates required and verified against the CA.
func (f TLSFiles) tlsConfigs() (server, client *tls.Config, err error) {
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, nil, fmt.Errorf("ha: raft TLS CA (--ha-tls-ca): %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, fmt.Errorf("ha: raft TLS CA (--ha-tls-ca) %s: no PEM certificate in it", f.CA)
	}
	kp := &keyPair{certFile: f.Cert, keyFile: f.Key}
	if _, err := kp.get(); err != nil {
		return nil, nil, fmt.Errorf("ha: raft TLS certificate (--ha-tls-cert %s, --ha-tls-key %s): %w", f.Cert, f.Key, err)
	}
	server = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.get() },
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      pool,
	}
	client = &tls.Config{
		MinVersion:           tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() },
		RootCAs:              pool,
	}
	return server, client, nil
}

// keyPair is a certificate and key loaded from files, reloaded when they
// change.
type keyPair struct {
	certFile, keyFile string

	mu    sync.Mutex
	stamp string // the files' sizes and modification times when loaded
	cert  *tls.Certificate
}

// get returns the pair, reloading it if the files changed. After a failed
// reload it keeps the previous pair (a renewal may be half written) and
// tries again at the next call.
func (k *keyPair) get() (*tls.Certificate, error) {
	stamp := ""
	for _, f := range []string{k.certFile, k.keyFile} {
		if fi, err := os.Stat(f); err == nil {
			stamp += fmt.Sprintf("%d@%d;", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert != nil && stamp == k.stamp {
		return k.cert, nil
	}
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.cert != nil {
			return k.cert, nil
		}
		return nil, err
	}
	k.cert, k.stamp = &c, stamp
	return k.cert, nil
}

// NewTLSStreamLayer listens on bind with server as the TLS configuration
// and dials peers with client (its ServerName is set per peer from the
// address's host). advertise is the address reported to raft; nil means
// the listener's. Use it with raft.NewNetworkTransportWithConfig.
func NewTLSStreamLayer(bind string, advertise net.Addr, server, client *tls.Config) (raft.StreamLayer, error) {
	l, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = l.Addr()
	}
	if a, ok := advertise.(*net.TCPAddr); ok && a.IP.IsUnspecified() {
		l.Close()
		return nil, fmt.Errorf("advertise address %v is not routable (give --ha-advertise)", a)
	}
	return &tlsStream{Listener: tls.NewListener(l, server), advertise: advertise, client: client}, nil
}

// tlsStream is a raft.StreamLayer over mutual TLS. Accept returns a
// connection whose handshake runs on its first read, in raft's
// per-connection goroutine: a peer that fails it (no certificate, one from
// another CA) gets its connection closed before raft decodes a byte.
type tlsStream struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
}

func (s *tlsStream) Addr() net.Addr { return s.advertise }

func (s *tlsStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	host, _, err := net.SplitHostPort(string(addr))
	if err != nil {
		return nil, err
	}
	cfg := s.client.Clone()
	cfg.ServerName = host
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
	return d.Dial("tcp", string(addr))
}

// errInsecure is Validate's refusal to serve raft unauthenticated off
// loopback.
var errInsecure = errors.New("is not a loopback address and raft has no TLS: any host that reaches it could vote and commit checkpoint pointers; " +
	"give --ha-tls-ca, --ha-tls-cert and --ha-tls-key, or --ha-allow-insecure to run raft without authentication")

// loopback reports whether the host of a host:port address is a loopback
// address or "localhost".
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
