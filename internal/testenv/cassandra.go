// Package testenv finds the real servers that integration tests run
// against. `make test` starts them and sets TOPSPEED_REQUIRE_SERVERS=1, so
// in CI a missing server fails the test instead of skipping it.
package testenv

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Cassandra describes the local test server, as exported by
// `eval "$(make -s cassandra-up)"`.
type Cassandra struct {
	Hosts    []string
	Username string
	Password string
	// PIDFile is the server's pid file, if known (for outage tests).
	PIDFile string
	// TLS material of the server's client encryption (CASSANDRA_TLS_CA,
	// CASSANDRA_TLS_CERT, CASSANDRA_TLS_KEY); empty if not exported. The
	// server certificate is for localhost, 127.0.0.1 and ::1.
	TLSCA, TLSCert, TLSKey string
	// TLSClientAuth is "require" when TLS clients must present a
	// certificate signed by TLSCA, "none" (or empty) when the server never
	// asks for one (CASSANDRA_TLS_CLIENT_AUTH).
	TLSClientAuth string
}

// Required reports whether a missing server must fail the test.
func Required() bool { return os.Getenv("TOPSPEED_REQUIRE_SERVERS") == "1" }

// missing skips the test, or fails it when servers are required.
func missing(t testing.TB, msg string) {
	t.Helper()
	if Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// NeedCassandra returns the local Cassandra, or skips the test (fails it in
// CI) when none is configured.
func NeedCassandra(t testing.TB) Cassandra {
	t.Helper()
	hosts := os.Getenv("CASSANDRA_HOSTS")
	if hosts == "" {
		missing(t, `no Cassandra server: CASSANDRA_HOSTS is unset; run eval "$(make -s cassandra-up)" first, or make test`)
	}
	c := Cassandra{
		Hosts:         strings.Split(hosts, ","),
		Username:      os.Getenv("CASSANDRA_USERNAME"),
		PIDFile:       os.Getenv("CASSANDRA_PID_FILE"),
		TLSCA:         os.Getenv("CASSANDRA_TLS_CA"),
		TLSCert:       os.Getenv("CASSANDRA_TLS_CERT"),
		TLSKey:        os.Getenv("CASSANDRA_TLS_KEY"),
		TLSClientAuth: os.Getenv("CASSANDRA_TLS_CLIENT_AUTH"),
	}
	if f := os.Getenv("CASSANDRA_PASSWORD_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("reading CASSANDRA_PASSWORD_FILE: %v", err)
		}
		c.Password = strings.TrimRight(string(b), "\r\n")
	} else {
		c.Password = os.Getenv("CASSANDRA_PASSWORD")
	}
	if c.PIDFile == "" {
		c.PIDFile = filepath.Join(cassandraDir(), "cassandra.pid")
	}
	return c
}

// NeedCassandraTLS is NeedCassandra for tests of client encryption: it also
// skips (fails in CI) when the server's CA is not exported.
func NeedCassandraTLS(t testing.TB) Cassandra {
	t.Helper()
	c := NeedCassandra(t)
	if c.TLSCA == "" {
		missing(t, `Cassandra server without TLS: CASSANDRA_TLS_CA is unset; run eval "$(make -s cassandra-up)" again`)
	}
	if _, err := os.Stat(c.TLSCA); err != nil {
		t.Fatalf("CASSANDRA_TLS_CA: %v", err)
	}
	return c
}

// CassandraLogDir returns the log directory of the local server started by
// scripts/cassandra/cassandra.sh (system.log, stdout.log, cqlping.log). It
// skips the test (fails it in CI) when there is none, as for a server
// started some other way.
func CassandraLogDir(t testing.TB) string {
	t.Helper()
	d := filepath.Join(cassandraDir(), "logs")
	if _, err := os.Stat(filepath.Join(d, "system.log")); err != nil {
		missing(t, "no Cassandra log directory: "+err.Error()+" (set TOPSPEED_CASSANDRA_DIR to the server's work dir)")
	}
	return d
}

// FilesContaining returns the files under dir, recursively, that contain
// any of the needles. The entries of .zip files (Cassandra's rolled logs)
// are searched too; a hit there is named "file.zip:entry". Empty needles
// are ignored.
func FilesContaining(t testing.TB, dir string, needles ...string) []string {
	t.Helper()
	var pats [][]byte
	for _, n := range needles {
		if n != "" {
			pats = append(pats, []byte(n))
		}
	}
	has := func(b []byte) bool {
		for _, p := range pats {
			if bytes.Contains(b, p) {
				return true
			}
		}
		return false
	}
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // a log rolled away meanwhile
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if has(b) {
			hits = append(hits, path)
		}
		if strings.HasSuffix(path, ".zip") {
			zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				return nil // being written
			}
			for _, f := range zr.File {
				rc, err := f.Open()
				if err != nil {
					continue
				}
				eb, err := io.ReadAll(rc)
				rc.Close()
				if err == nil && has(eb) {
					hits = append(hits, path+":"+f.Name)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("searching %s: %v", dir, err)
	}
	return hits
}

// cassandraDir is scripts/cassandra/cassandra.sh's work directory:
// $TOPSPEED_CASSANDRA_DIR; else the one holding the exported password file
// (<workdir>/secrets/demo-superuser-password); else the script's default.
func cassandraDir() string {
	if d := os.Getenv("TOPSPEED_CASSANDRA_DIR"); d != "" {
		return d
	}
	if f := os.Getenv("CASSANDRA_PASSWORD_FILE"); f != "" && filepath.Base(filepath.Dir(f)) == "secrets" {
		d := filepath.Dir(filepath.Dir(f))
		if _, err := os.Stat(filepath.Join(d, "logs")); err == nil {
			return d
		}
	}
	cache := os.Getenv("TOPSPEED_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "topspeed")
	}
	return filepath.Join(cache, "cassandra", "run")
}
