package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestSavepointEndpointNeedsToken runs the binary with checkpoints and
// savepoints: POST /api/v1/savepoints takes a savepoint only with the
// bearer token of --http-token-file (401 otherwise) and is disabled (403)
// without one; GET endpoints need none.
func TestSavepointEndpointNeedsToken(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("t0ken-for-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	post := func(url, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	run := func(name string, extra ...string) (base string, stop func()) {
		addr := freeAddr(t)
		d := filepath.Join(dir, name)
		args := append([]string{"--http-addr", addr, "--checkpoint-dir", filepath.Join(d, "ck"), "--savepoint-dir", filepath.Join(d, "sp"),
			"--checkpoint-interval", "200ms", "--output", filepath.Join(d, "out")}, extra...)
		l := start(t, nil, args...)
		base = "http://" + addr
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := c.Get(base + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				_ = l.Cmd.Process.Kill()
				<-l.Done()
				t.Fatalf("%s not ready in 20s: %v; stderr:\n%s", name, err, l.Stderr)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return base, func() {
			_ = l.Cmd.Process.Signal(syscall.SIGTERM)
			if err := l.Wait(t, 30*time.Second); err != nil {
				t.Errorf("%s: %v; stderr:\n%s", name, err, l.Stderr)
			} else if strings.Contains(l.Stderr.String(), "t0ken-for-test") {
				t.Errorf("%s logged the token:\n%s", name, l.Stderr)
			}
		}
	}

	base, stop := run("with-token", "--http-token-file", tokenFile)
	for _, tok := range []string{"", "wrong"} {
		if code, body := post(base+"/api/v1/savepoints", tok); code != http.StatusUnauthorized {
			t.Errorf("token %q: %d %s", tok, code, body)
		}
	}
	code, body := post(base+"/api/v1/savepoints", "t0ken-for-test")
	var sp struct{ Path string }
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &sp) != nil {
		t.Errorf("right token: %d %s", code, body)
	} else if _, err := os.Stat(sp.Path); err != nil {
		t.Errorf("savepoint %s: %v", sp.Path, err)
	}
	for _, path := range []string{"/livez", "/metrics", "/api/v1/status"} {
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	stop()

	base, stop = run("without-token")
	if code, body := post(base+"/api/v1/savepoints", "t0ken-for-test"); code != http.StatusForbidden || !strings.Contains(body, "--http-token-file") {
		t.Errorf("no token configured: %d %s", code, body)
	}
	stop()
}
