package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/topspeed/topspeed/internal/testenv"
)

// TestPasswordNeverShows runs the command against the real server at debug
// level with the password from CASSANDRA_PASSWORD, from
// --cassandra-password-file, from CASSANDRA_PASSWORD_FILE and over TLS, and
// with wrong passwords; neither the password nor the wrong ones may appear
// in the arguments, stdout, stderr (the logs), nor in the server's own logs.
func TestPasswordNeverShows(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	if srv.Password == "" || srv.Username == "" {
		t.Fatal("the test server has no username or password: CASSANDRA_USERNAME and CASSANDRA_PASSWORD_FILE must be set")
	}
	pw := srv.Password
	wrong := "wrong-" + randomHex(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "cars.txt")
	writeGenerated(t, in, 5, 3000)
	pwFile := filepath.Join(dir, "password")
	wrongFile := filepath.Join(dir, "wrong-password")
	for f, v := range map[string]string{pwFile: pw + "\n", wrongFile: wrong + "\n"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	table := fmt.Sprintf("secret%d", time.Now().UnixNano()%1e12)
	base := []string{"--input", in, "--output", filepath.Join(dir, "out.txt"), "--log-level", "debug",
		"--cassandra-hosts", strings.Join(srv.Hosts, ","), "--cassandra-username", srv.Username,
		"--cassandra-consistency", "ONE", "--cassandra-create-schema", "--cassandra-replication", "1",
		"--cassandra-keyspace", "topspeed_it", "--cassandra-table", table, "--cassandra-connect-budget", "1m"}
	with := func(extra ...string) []string { return append(append([]string(nil), base...), extra...) }

	type run struct {
		name string
		env  map[string]string
		args []string
		want int
	}
	runs := []run{
		{"CASSANDRA_PASSWORD", map[string]string{"CASSANDRA_PASSWORD": pw}, with(), exitOK},
		{"--cassandra-password-file", nil, with("--cassandra-password-file", pwFile), exitOK},
		{"CASSANDRA_PASSWORD_FILE", map[string]string{"CASSANDRA_PASSWORD_FILE": pwFile}, with(), exitOK},
		{"wrong CASSANDRA_PASSWORD", map[string]string{"CASSANDRA_PASSWORD": wrong}, with(), exitFailure},
		{"wrong --cassandra-password-file", nil, with("--cassandra-password-file", wrongFile), exitFailure},
	}
	if srv.TLSCA != "" {
		tls := []string{"--cassandra-tls-ca", srv.TLSCA, "--cassandra-tls-server-name", "localhost"}
		if srv.TLSClientAuth == "require" {
			tls = append(tls, "--cassandra-tls-cert", srv.TLSCert, "--cassandra-tls-key", srv.TLSKey)
		}
		runs = append(runs,
			run{"TLS, --cassandra-password-file", nil, with(append(tls, "--cassandra-password-file", pwFile)...), exitOK},
			run{"TLS, wrong CASSANDRA_PASSWORD", map[string]string{"CASSANDRA_PASSWORD": wrong}, with(tls...), exitFailure})
	} else {
		t.Log("no CASSANDRA_TLS_CA: the TLS runs are left out")
	}

	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			for _, a := range r.args {
				if strings.Contains(a, pw) || strings.Contains(a, wrong) {
					t.Fatalf("test bug: argument %q holds a password", a)
				}
			}
			code, stdout, stderr := runCLIEnv(t, r.env, r.args...)
			if code != r.want {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, r.want, stderr)
			}
			noSecret(t, "stdout", stdout, pw, wrong)
			noSecret(t, "stderr", stderr, pw, wrong)
			// Debug logging was on, and the sink logged its configuration
			// with the password redacted.
			if !strings.Contains(stderr, "<redacted>") {
				t.Fatalf("stderr lacks the sink's configuration with the password redacted:\n%s", stderr)
			}
			if r.want != exitOK {
				if !strings.Contains(stderr, "authentication failed") || !strings.Contains(stderr, srv.Username) {
					t.Fatalf("a wrong password must fail naming the user: %s", stderr)
				}
			}
		})
	}

	// There is no flag for the password itself: it is rejected, and the
	// value given with it is not echoed.
	t.Run("--cassandra-password is unknown", func(t *testing.T) {
		for _, args := range [][]string{
			with("--cassandra-password", pw),
			with("--cassandra-password=" + pw),
			with("--cassandra-password=" + wrong),
		} {
			code, stdout, stderr := runCLIEnv(t, nil, args...)
			if code != exitUsage || !strings.Contains(stderr, "unknown flag: --cassandra-password") {
				t.Fatalf("exit %d, stderr %q: want exit %d and 'unknown flag: --cassandra-password'", code, stderr, exitUsage)
			}
			noSecret(t, "stdout", stdout, pw, wrong)
			noSecret(t, "stderr", stderr, pw, wrong)
		}
	})

	// Nor does the server log them: not the logins of the runs above, nor
	// anything else so far (scripts/cassandra/cassandra.sh's role set-up
	// included).
	t.Run("server logs", func(t *testing.T) {
		logs := testenv.CassandraLogDir(t)
		if hits := testenv.FilesContaining(t, logs, pw, wrong); len(hits) > 0 {
			t.Fatalf("the server's logs hold a password: %s", strings.Join(hits, ", "))
		}
		t.Logf("no password in the files under %s", logs)
	})
}

func noSecret(t *testing.T, what, s string, secrets ...string) {
	t.Helper()
	for _, x := range secrets {
		if x != "" && strings.Contains(s, x) {
			t.Fatalf("%s shows a password (%d characters):\n%s", what, len(x), strings.ReplaceAll(s, x, "<PASSWORD>"))
		}
	}
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
