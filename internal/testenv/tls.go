package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLS is the material TLSFiles wrote: the CA certificate's path and, per
// name, a certificate and key.
type TLS struct {
	Dir string
	CA  string // ca.pem
}

// Cert returns the certificate and key paths of name.
func (x TLS) Cert(name string) (cert, key string) {
	return filepath.Join(x.Dir, name+".pem"), filepath.Join(x.Dir, name+"-key.pem")
}

// TLSFiles writes a fresh ECDSA P-256 CA (ca.pem) and, for each name, a
// certificate signed by it (<name>.pem) and its PKCS#8 key (<name>-key.pem)
// into a temporary directory removed after the test. Each certificate
// serves both ends of mutual TLS (server and client auth) for localhost,
// 127.0.0.1 and ::1, as a raft replica's does.
func TLSFiles(t testing.TB, names ...string) TLS {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert := NewCA(t, "topspeed test CA")
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", caCert.Raw)
	for _, n := range names {
		key, der := IssueCert(t, caCert, caKey, n)
		writePEM(t, filepath.Join(dir, n+".pem"), "CERTIFICATE", der)
		p8, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, filepath.Join(dir, n+"-key.pem"), "PRIVATE KEY", p8)
	}
	return TLS{Dir: dir, CA: filepath.Join(dir, "ca.pem")}
}

// NewCA makes a self-signed CA certificate and its key.
func NewCA(t testing.TB, cn string) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now,
		NotAfter:              now.Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	key, der := sign(t, tmpl, nil, nil)
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, c
}

// IssueCert makes a key and a certificate for cn signed by the CA, valid
// for server and client auth on localhost, 127.0.0.1, ::1 and dnsNames.
func IssueCert(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, dnsNames ...string) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	now := time.Now().Add(-time.Hour)
	return sign(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		NotBefore:   now,
		NotAfter:    now.Add(48 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    append([]string{"localhost"}, dnsNames...),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}, ca, caKey)
}

func sign(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127)); err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
