package tlsconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/topspeed/topspeed/internal/testenv"
)

func TestClient(t *testing.T) {
	x := testenv.TLSFiles(t, "c1")
	cert, key := x.Cert("c1")
	cfg, err := Files{Flag: "--x-tls", CA: x.CA, Cert: cert, Key: key}.Client()
	if err != nil || cfg.RootCAs == nil || len(cfg.Certificates) != 1 || cfg.MinVersion == 0 {
		t.Fatalf("full config: %+v %v", cfg, err)
	}
	if cfg, err := (Files{Flag: "--x-tls"}).Client(); err != nil || cfg.RootCAs != nil {
		t.Fatalf("no files: system roots, got %v %v", cfg, err)
	}
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    Files
		want string
	}{
		{Files{Flag: "--x-tls", CA: junk}, "--x-tls-ca " + junk + ": no PEM certificate"},
		{Files{Flag: "--x-tls", CA: junk + ".missing"}, "--x-tls-ca"},
		{Files{Flag: "--x-tls", Cert: cert}, "--x-tls-cert and --x-tls-key go together"},
		{Files{Flag: "--x-tls", Cert: cert, Key: junk}, "--x-tls-cert " + cert},
	} {
		if _, err := c.f.Client(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want it to contain %q", c.f, err, c.want)
		}
	}
}
