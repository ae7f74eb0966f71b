// Package tlsconf builds the TLS client configurations of topspeed's
// connections (Kafka, Cassandra, the local servers' probes) from PEM files,
// with errors that name the flag behind each file.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/topspeed/topspeed/internal/ops"
)

// Files are the PEM files of a TLS client.
type Files struct {
	// Flag is the settings' common prefix, named in errors: "--kafka-tls"
	// stands for --kafka-tls-ca, --kafka-tls-cert and --kafka-tls-key.
	Flag string
	// CA verifies the server (empty: the system's roots); Cert and Key
	// are the client certificate (both or neither).
	CA, Cert, Key string
}

// CertPool reads the PEM certificates of the file at path (flag names it
// in errors) into a pool.
func CertPool(flag, path string) (*x509.CertPool, error) {
	pem, err := ops.ReadSmallFile(flag, path, ops.MaxSmallFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", flag, path)
	}
	return pool, nil
}

// Client returns a TLS 1.2+ client configuration from f.
func (f Files) Client() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pool, err := CertPool(f.Flag+"-ca", f.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, errors.New(f.Flag + "-cert and " + f.Flag + "-key go together")
	}
	if f.Cert != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("%s-cert %s, %s-key %s: %w", f.Flag, f.Cert, f.Flag, f.Key, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
