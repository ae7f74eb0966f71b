// Command tlsgen writes the TLS material of the dev Cassandra server started
// by scripts/cassandra/cassandra.sh, for hosts without openssl: a self-signed
// CA, a server certificate for localhost, 127.0.0.1 and ::1, and a client
// certificate, all ECDSA P-256 signed by the CA.
//
//	tlsgen -dir DIR [-days 1825]   write the files below into DIR (must exist)
//	tlsgen -check DIR [-min-days 30]
//	                               exit 0 if the files in DIR are complete,
//	                               chain to ca.pem, and stay valid that long
//
// Files (private keys are PKCS#8 "PRIVATE KEY", unencrypted, mode 0600):
//
//	ca.pem          CA certificate: the clients' CA file and the server's truststore
//	ca-key.pem      CA private key
//	server.pem      server private key, then server certificate, then CA
//	                certificate: the server's PEM keystore
//	server-cert.pem server certificate alone
//	client.pem      client certificate (for mutual TLS)
//	client-key.pem  client private key
//
// cassandra.sh runs the equivalent openssl commands when openssl is present.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

const (
	caDays = 3650
	org    = "topspeed dev"
)

func main() {
	dir := flag.String("dir", "", "directory to write the TLS files into")
	check := flag.String("check", "", "directory whose TLS files to check")
	days := flag.Int("days", 1825, "validity of the server and client certificates, in days")
	minDays := flag.Int("min-days", 30, "-check: the certificates must stay valid this many more days")
	flag.Parse()
	var err error
	switch {
	case *dir != "" && *check == "":
		err = generate(*dir, *days)
	case *check != "" && *dir == "":
		err = verify(*check, time.Duration(*minDays)*24*time.Hour)
	default:
		fmt.Fprintln(os.Stderr, "tlsgen: give exactly one of -dir or -check")
		os.Exit(3)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlsgen: %v\n", err)
		os.Exit(1)
	}
}

func generate(dir string, days int) error {
	now := time.Now().Add(-time.Hour) // tolerate small clock differences
	caKey, caDER, err := issue(&x509.Certificate{
		Subject:               pkix.Name{Organization: []string{org}, CommonName: "topspeed dev CA"},
		NotBefore:             now,
		NotAfter:              now.Add(caDays * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, nil)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	leaf := func(cn string, eku ...x509.ExtKeyUsage) *x509.Certificate {
		return &x509.Certificate{
			Subject:               pkix.Name{Organization: []string{org}, CommonName: cn},
			NotBefore:             now,
			NotAfter:              now.Add(time.Duration(days) * 24 * time.Hour),
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageDigitalSignature,
			ExtKeyUsage:           eku,
		}
	}
	// The server certificate is a client one too: scripts/ha-local.sh gives
	// it to every raft replica, which is both ends of mutual TLS.
	srv := leaf("localhost", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	srv.DNSNames = []string{"localhost"}
	srv.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	srvKey, srvDER, err := issue(srv, ca, caKey)
	if err != nil {
		return err
	}
	cliKey, cliDER, err := issue(leaf("topspeed-dev-client", x509.ExtKeyUsageClientAuth), ca, caKey)
	if err != nil {
		return err
	}
	files := []struct {
		name   string
		mode   os.FileMode
		blocks [][]byte // PEM blocks, already encoded
	}{
		{"ca.pem", 0o644, [][]byte{certPEM(caDER)}},
		{"ca-key.pem", 0o600, [][]byte{caKey}},
		{"server.pem", 0o600, [][]byte{srvKey, certPEM(srvDER), certPEM(caDER)}},
		{"server-cert.pem", 0o644, [][]byte{certPEM(srvDER)}},
		{"client.pem", 0o644, [][]byte{certPEM(cliDER)}},
		{"client-key.pem", 0o600, [][]byte{cliKey}},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), bytes.Join(f.blocks, nil), f.mode); err != nil {
			return err
		}
	}
	return nil
}

// issue makes a P-256 key and a certificate for it, signed by parent (or
// self-signed when parent is nil). It returns the key as PKCS#8 PEM and the
// certificate as DER.
func issue(tmpl, parent *x509.Certificate, parentKeyPEM []byte) ([]byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	signer := any(key)
	if parent == nil {
		parent = tmpl
	} else {
		b, _ := pem.Decode(parentKeyPEM)
		if b == nil {
			return nil, nil, errors.New("bad CA key")
		}
		if signer, err = x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
			return nil, nil, err
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), der, nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// verify checks that the files are there, that the server and client
// certificates chain to ca.pem for their purpose and match their keys, and
// that all of them stay valid for at least min.
func verify(dir string, min time.Duration) error {
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
	caPEM, err := read("ca.pem")
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return errors.New("ca.pem: no certificate")
	}
	if _, err := read("ca-key.pem"); err != nil {
		return err
	}
	at := time.Now().Add(min)
	for _, f := range []struct {
		cert, key string
		usage     x509.ExtKeyUsage
		name      string
	}{
		{"server.pem", "server.pem", x509.ExtKeyUsageServerAuth, "localhost"},
		{"client.pem", "client-key.pem", x509.ExtKeyUsageClientAuth, ""},
	} {
		certPEMs, err := read(f.cert)
		if err != nil {
			return err
		}
		keyPEM, err := read(f.key)
		if err != nil {
			return err
		}
		if _, err := tls.X509KeyPair(certPEMs, keyPEM); err != nil {
			return fmt.Errorf("%s: %w", f.cert, err)
		}
		b, _ := pem.Decode(skipKey(certPEMs))
		if b == nil {
			return fmt.Errorf("%s: no certificate", f.cert)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fmt.Errorf("%s: %w", f.cert, err)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: f.name, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{f.usage}}); err != nil {
			return fmt.Errorf("%s in %v: %w", f.cert, min, err)
		}
	}
	return nil
}

// skipKey drops the PEM blocks before the first certificate.
func skipKey(p []byte) []byte {
	for {
		b, rest := pem.Decode(p)
		if b == nil || b.Type == "CERTIFICATE" {
			return p
		}
		p = rest
	}
}
