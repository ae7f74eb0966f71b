package ops

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// postWithToken posts to url with "Authorization: Bearer token" (none if
// token is empty).
func postWithToken(url, token string) (*http.Response, error) {
	return postWith(http.DefaultClient, url, token)
}

func postWith(c *http.Client, url, token string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.Do(req)
}

func savepointServer(t *testing.T, token string, calls *int) *httptest.Server {
	t.Helper()
	srv := NewServer(Config{Token: token, Savepoint: func(context.Context) (string, error) {
		*calls++
		return "/ck/sp-1", nil
	}})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	return ts
}

// read returns a function taking a response and its error, and returning
// the status code and body.
func read(t *testing.T) func(*http.Response, error) (int, string) {
	return func(resp *http.Response, err error) (int, string) {
		t.Helper()
		return readResponse(t, resp, err)
	}
}

func readResponse(t *testing.T, resp *http.Response, err error) (int, string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSavepointNeedsTokenConfigured: without a token configured, POST
// endpoints are disabled and say how to enable them, even with a header.
func TestSavepointNeedsTokenConfigured(t *testing.T) {
	calls := 0
	ts := savepointServer(t, "", &calls)
	for _, tok := range []string{"", "anything"} {
		code, body := read(t)(postWithToken(ts.URL+"/api/v1/savepoints", tok))
		if code != http.StatusForbidden || !strings.Contains(body, "--http-token-file") {
			t.Fatalf("token %q: got %d %s", tok, code, body)
		}
	}
	if calls != 0 {
		t.Fatalf("savepoint taken %d times without a token configured", calls)
	}
}

// TestSavepointToken: a missing or wrong token is refused with 401, the
// right one takes the savepoint; GET endpoints stay open.
func TestSavepointToken(t *testing.T) {
	calls := 0
	ts := savepointServer(t, "right-token", &calls)
	for _, tok := range []string{"", "wrong-token", "right-toke", "right-token-x"} {
		code, body := read(t)(postWithToken(ts.URL+"/api/v1/savepoints", tok))
		if code != http.StatusUnauthorized || strings.Contains(body, "right-token") {
			t.Fatalf("token %q: got %d %s", tok, code, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1/savepoints", nil)
	req.Header.Set("Authorization", "Basic cmlnaHQtdG9rZW4=")
	if code, body := read(t)(http.DefaultClient.Do(req)); code != http.StatusUnauthorized {
		t.Fatalf("basic auth: got %d %s", code, body)
	}
	if calls != 0 {
		t.Fatalf("savepoint taken %d times without the right token", calls)
	}
	if code, body := read(t)(postWithToken(ts.URL+"/api/v1/savepoints", "right-token")); code != http.StatusCreated || calls != 1 {
		t.Fatalf("right token: got %d %s (calls %d)", code, body, calls)
	}
	for _, path := range []string{"/livez", "/readyz", "/metrics", "/api/v1/status"} {
		if code, body := read(t)(http.Get(ts.URL + path)); code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "topspeed ops test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServerTLS: with a certificate the server speaks only TLS (1.2 at
// least), with that certificate, and the token still guards POST.
func TestServerTLS(t *testing.T) {
	certFile, keyFile, pool := writeCert(t)
	calls := 0
	srv := NewServer(Config{Addr: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile, Token: "tok",
		Savepoint: func(context.Context) (string, error) { calls++; return "/sp", nil }})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	base := "https://" + srv.Addr()
	resp, err := c.Get(base + "/livez")
	if code, body := read(t)(resp, err); code != http.StatusOK {
		t.Fatalf("GET /livez over TLS: %d %s", code, body)
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 || len(resp.TLS.PeerCertificates) == 0 ||
		resp.TLS.PeerCertificates[0].Subject.CommonName != "topspeed ops test" {
		t.Fatalf("TLS state %+v", resp.TLS)
	}
	if code, _ := read(t)(postWith(c, base+"/api/v1/savepoints", "nope")); code != http.StatusUnauthorized {
		t.Fatalf("wrong token over TLS: %d", code)
	}
	if code, _ := read(t)(postWith(c, base+"/api/v1/savepoints", "tok")); code != http.StatusCreated || calls != 1 {
		t.Fatalf("right token over TLS: %d (calls %d)", code, calls)
	}
	// TLS 1.1 is refused, and so is plain HTTP.
	old := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}
	defer old.CloseIdleConnections()
	if _, err := (&http.Client{Transport: old, Timeout: 5 * time.Second}).Get(base + "/livez"); err == nil {
		t.Fatal("TLS 1.1 accepted")
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + srv.Addr() + "/livez"); err == nil {
		code, _ := read(t)(resp, nil)
		if code == http.StatusOK {
			t.Fatal("plain HTTP served")
		}
	}
}

// TestServerTLSNeedsBoth: a certificate without its key (or an unreadable
// one) fails Start with an error naming the flags.
func TestServerTLSNeedsBoth(t *testing.T) {
	certFile, _, _ := writeCert(t)
	if err := NewServer(Config{Addr: "127.0.0.1:0", TLSCert: certFile}).Start(); err == nil || !strings.Contains(err.Error(), "--http-tls-key") {
		t.Fatalf("cert without key: %v", err)
	}
	if err := NewServer(Config{Addr: "127.0.0.1:0", TLSCert: certFile, TLSKey: certFile}).Start(); err == nil {
		t.Fatal("a certificate as key accepted")
	}
}

func TestReadSmallFile(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("  abc \n"), 0o600)
	if got, err := ReadToken("--http-token-file", tok); err != nil || got != "abc" {
		t.Fatalf("got %q %v", got, err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := ReadToken("--http-token-file", empty); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty: %v", err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 100), 0o600)
	if _, err := ReadSmallFile("--config", big, 99); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("too big: %v", err)
	}
	start := time.Now()
	for _, p := range []string{"/dev/zero", dir} {
		if _, err := ReadSmallFile("--config", p, MaxSmallFile); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusing took %v", d)
	}
}

// TestRoleReadAtRequestTime: with an OnRead hook (HA: the raft node's
// state), a leadership change shows in /api/v1/status and /metrics on the
// very next request, not at the next poll.
func TestRoleReadAtRequestTime(t *testing.T) {
	reg := NewRegistry(BuildInfo{})
	rec := NewRecorder(reg)
	var mu sync.Mutex
	role, term := RoleFollower, uint64(1)
	rec.OnRead(func() {
		mu.Lock()
		defer mu.Unlock()
		rec.SetRaft(role, term, "replica-0")
	})
	ts := httptest.NewServer(NewServer(Config{Recorder: rec, Gatherer: reg}).Handler())
	defer ts.Close()
	defer http.DefaultClient.CloseIdleConnections()
	get := func(path string) string {
		_, body := read(t)(http.Get(ts.URL + path))
		return body
	}
	if st := get("/api/v1/status"); !strings.Contains(st, `"role": "follower"`) {
		t.Fatalf("status %s", st)
	}
	mu.Lock()
	role, term = RoleLeader, 2
	mu.Unlock()
	st, metrics := get("/api/v1/status"), get("/metrics")
	if !strings.Contains(st, `"role": "leader"`) || !strings.Contains(st, `"term": 2`) {
		t.Fatalf("status right after the change: %s", st)
	}
	if !strings.Contains(metrics, `raft_role{role="leader"} 1`) || !strings.Contains(metrics, "raft_term 2") {
		t.Fatalf("metrics right after the change:\n%s", metrics)
	}
}
