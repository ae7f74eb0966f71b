package cassandra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/topspeed/topspeed/internal/testenv"
	"github.com/topspeed/topspeed/sink/cassandra"
)

// These tests use the client encryption of the local Cassandra
// (scripts/cassandra/cassandra.sh): TLS on the shared native port, with a
// server certificate for localhost and 127.0.0.1 signed by CASSANDRA_TLS_CA.

// tlsConfig is config with TLS verified against the server's CA, the name
// "localhost" checked in the server certificate, and the client certificate
// when the server requires one.
func tlsConfig(t *testing.T, srv testenv.Cassandra) cassandra.Config {
	t.Helper()
	c := config(t, srv)
	c.TLS = cassandra.TLSConfig{CAFile: srv.TLSCA, ServerName: "localhost"}
	if srv.TLSClientAuth == "require" {
		c.TLS.CertFile, c.TLS.KeyFile = srv.TLSCert, srv.TLSKey
	}
	// Other packages' tests may freeze the server for ~20 s (outage tests),
	// and a busy machine can take more than the default 5 s to create a table.
	c.ConnectBudget = time.Minute
	c.Timeout = 15 * time.Second
	return c
}

func TestTLSSinkWritesAndReadsBack(t *testing.T) {
	srv := testenv.NeedCassandraTLS(t)
	c := tlsConfig(t, srv)
	rows := genRows(3000, 16)
	s := open(t, c)
	writeAll(t, s, rows, 500)
	if st := s.Stats(); st.Rows != int64(len(rows)) {
		t.Fatalf("acknowledged %d rows, want %d", st.Rows, len(rows))
	}
	sameTable(t, readTable(t, c), rows) // read back over TLS as well

	// The server sees this session's connections as encrypted.
	sess, err := cassandra.Connect(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	it := sess.Query("SELECT ssl_enabled, ssl_protocol, ssl_cipher_suite, username FROM system_views.clients").Iter()
	var (
		enabled        bool
		proto, cipher  string
		user           string
		tlsClients     int
		sawProto, sawC string
	)
	for it.Scan(&enabled, &proto, &cipher, &user) {
		if enabled && user == srv.Username {
			tlsClients++
			sawProto, sawC = proto, cipher
		}
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if tlsClients == 0 {
		t.Fatalf("system_views.clients lists no TLS connection of %s while a TLS session is open", srv.Username)
	}
	t.Logf("%d TLS client connection(s) of %s, e.g. %s %s", tlsClients, srv.Username, sawProto, sawC)
}

// Without ServerName the driver checks the contact point's address
// (127.0.0.1), which the server certificate lists as an IP SAN.
func TestTLSVerifiesTheHostAddressByDefault(t *testing.T) {
	srv := testenv.NeedCassandraTLS(t)
	c := tlsConfig(t, srv)
	c.TLS.ServerName = ""
	ping(t, c)
}

func TestTLSWithAnotherCAFailsWithACertificateError(t *testing.T) {
	srv := testenv.NeedCassandraTLS(t)
	c := tlsConfig(t, srv)
	dir := t.TempDir()
	c.TLS.CAFile = filepath.Join(dir, "other-ca.pem")
	caPEM, _, _ := newCA(t, "not the topspeed dev CA")
	writePEM(t, c.TLS.CAFile, caPEM)
	err := connectErr(t, c, "certificate")
	if !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("want an unknown-authority certificate error, got: %v", err)
	}
}

func TestTLSWithAnotherServerNameFails(t *testing.T) {
	srv := testenv.NeedCassandraTLS(t)
	c := tlsConfig(t, srv)
	c.TLS.ServerName = "cassandra.example.com"
	err := connectErr(t, c, "certificate")
	if !strings.Contains(err.Error(), "not cassandra.example.com") {
		t.Fatalf("want a name-mismatch certificate error, got: %v", err)
	}
}

// Cassandra 5.0 cannot make client certificates optional: it asks TLS
// clients for one always (require_client_auth: true) or never. The shared
// dev server never asks (CASSANDRA_TLS_CLIENT_AUTH=none), so there a client
// certificate is merely unused; against a server started with
// CASSANDRA_TLS_CLIENT_AUTH=require this test checks mutual TLS.
func TestTLSClientCertificate(t *testing.T) {
	srv := testenv.NeedCassandraTLS(t)
	if srv.TLSCert == "" || srv.TLSKey == "" {
		t.Skip("no client certificate exported (CASSANDRA_TLS_CERT, CASSANDRA_TLS_KEY)")
	}
	c := tlsConfig(t, srv)
	c.TLS.CertFile, c.TLS.KeyFile = srv.TLSCert, srv.TLSKey
	rows := genRows(500, 5)
	writeAll(t, open(t, c), rows, 100)
	sameTable(t, readTable(t, c), rows)

	if srv.TLSClientAuth != "require" {
		t.Logf("the server does not ask for client certificates (CASSANDRA_TLS_CLIENT_AUTH=%q): mutual TLS not checked", srv.TLSClientAuth)
		return
	}
	t.Run("without a certificate", func(t *testing.T) {
		c := c
		c.TLS.CertFile, c.TLS.KeyFile = "", ""
		err := connectErr(t, c, "certificate")
		if !strings.Contains(err.Error(), "certificate required") {
			t.Fatalf("want 'certificate required', got: %v", err)
		}
	})
	t.Run("with a certificate of another CA", func(t *testing.T) {
		c := c
		dir := t.TempDir()
		_, caCert, caKey := newCA(t, "not the topspeed dev CA")
		certPEM, keyPEM := newClientCert(t, caCert, caKey)
		c.TLS.CertFile, c.TLS.KeyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
		writePEM(t, c.TLS.CertFile, certPEM)
		writePEM(t, c.TLS.KeyFile, keyPEM)
		// The server lists the CAs it accepts in its certificate request, so
		// Go's client does not even send a certificate of another CA: the
		// server then says "certificate required". A client that sent it
		// anyway would get "bad certificate" or "unknown certificate authority".
		err := connectErr(t, c, "certificate")
		msg := err.Error()
		if !strings.Contains(msg, "certificate required") && !strings.Contains(msg, "bad certificate") &&
			!strings.Contains(msg, "unknown certificate authority") {
			t.Fatalf("want the server to reject the client, got: %v", err)
		}
	})
}

// ping connects and runs one query.
func ping(t *testing.T, c cassandra.Config) {
	t.Helper()
	sess, err := cassandra.Connect(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var v string
	if err := sess.Query("SELECT release_version FROM system.local").Scan(&v); err != nil {
		t.Fatal(err)
	}
}

// connectErr expects Connect to fail with an error that mentions want. The
// sink retries such failures until its connect budget is spent; the budget
// is kept short, and a failure for another reason (the server frozen by an
// outage test, say) is tried again for up to a minute.
func connectErr(t *testing.T, c cassandra.Config, want string) error {
	t.Helper()
	c.ConnectBudget = time.Second
	deadline := time.Now().Add(time.Minute)
	for {
		sess, err := cassandra.Connect(context.Background(), c, nil)
		if err == nil {
			sess.Close()
			t.Fatalf("connected with TLS settings %+v, want a failure", c.TLS)
		}
		if strings.Contains(err.Error(), c.Password) {
			t.Fatalf("the error shows the password: %v", err)
		}
		if strings.Contains(err.Error(), want) {
			if !errors.Is(err, cassandra.ErrUnavailable) {
				t.Errorf("want ErrUnavailable, got %v", err)
			}
			t.Logf("as expected: %v", err)
			return err
		}
		if time.Now().After(deadline) {
			t.Fatalf("want an error mentioning %q, got: %v", want, err)
		}
		time.Sleep(time.Second)
	}
}

// newCA makes a self-signed P-256 CA; it returns its certificate as PEM,
// parsed, and its key.
func newCA(t *testing.T, cn string) ([]byte, *x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert, key
}

// newClientCert makes a client certificate signed by ca; PEM cert and key.
func newClientCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) ([]byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "intruder"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
}

func writePEM(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
