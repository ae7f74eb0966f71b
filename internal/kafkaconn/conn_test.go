package kafkaconn

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/topspeed/topspeed/internal/testenv"
)

func TestValidate(t *testing.T) {
	ok := Conn{Brokers: []string{"127.0.0.1:9092", "kafka-1.example:9093"}}
	cases := []struct {
		name string
		mod  func(*Conn)
		want string // "" : valid; else a substring of the error
	}{
		{"plain", func(c *Conn) {}, ""},
		{"no brokers", func(c *Conn) { c.Brokers = nil }, "--kafka-brokers: no broker"},
		{"no port", func(c *Conn) { c.Brokers = []string{"localhost"} }, "--kafka-brokers \"localhost\""},
		{"bad port", func(c *Conn) { c.Brokers = []string{"localhost:0"} }, "not in [1, 65535]"},
		{"no host", func(c *Conn) { c.Brokers = []string{":9092"} }, "no host"},
		{"too many", func(c *Conn) { c.Brokers = make([]string, MaxBrokers+1) }, "more than 100"},
		{"cert without key", func(c *Conn) { c.TLSCert = "c.pem" }, "--kafka-tls-cert needs --kafka-tls-key"},
		{"key without cert", func(c *Conn) { c.TLSKey = "k.pem" }, "--kafka-tls-key needs --kafka-tls-cert"},
		{"mtls", func(c *Conn) { c.TLSCert, c.TLSKey, c.TLSCA = "c", "k", "ca" }, ""},
		{"bad mechanism", func(c *Conn) { c.SASLMechanism = "PLAIN" }, "--kafka-sasl-mechanism \"PLAIN\""},
		{"no user", func(c *Conn) { c.SASLMechanism = ScramSHA256; c.SASLPassword = "x" }, "needs --kafka-sasl-username"},
		{"no password", func(c *Conn) { c.SASLMechanism = ScramSHA512; c.SASLUsername = "u" }, "--kafka-sasl-password-file"},
		{"user without mechanism", func(c *Conn) { c.SASLUsername = "u" }, "--kafka-sasl-username needs --kafka-sasl-mechanism"},
		{"file without mechanism", func(c *Conn) { c.SASLPasswordFile = "f" }, "--kafka-sasl-password-file needs"},
		{"scram file", func(c *Conn) { c.SASLMechanism = ScramSHA256; c.SASLUsername = "u"; c.SASLPasswordFile = "f" }, ""},
		{"client id spaces", func(c *Conn) { c.ClientID = "a b" }, "--kafka-client-id"},
		{"client id long", func(c *Conn) { c.ClientID = strings.Repeat("a", MaxClientID+1) }, "--kafka-client-id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.Brokers = append([]string(nil), ok.Brokers...)
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Validate accepted %v", c)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("Validate: %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	var c Conn
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.RegisterFlags(fs)
	err := fs.Parse([]string{"--kafka-brokers", "a:1,b:2", "--kafka-tls-ca", "ca.pem", "--kafka-tls-cert", "c.pem",
		"--kafka-tls-key", "k.pem", "--kafka-sasl-mechanism", ScramSHA512, "--kafka-sasl-username", "bob",
		"--kafka-sasl-password-file", "pw", "--kafka-client-id", "me"})
	if err != nil {
		t.Fatal(err)
	}
	want := Conn{Brokers: []string{"a:1", "b:2"}, TLSCA: "ca.pem", TLSCert: "c.pem", TLSKey: "k.pem",
		SASLMechanism: ScramSHA512, SASLUsername: "bob", SASLPasswordFile: "pw", ClientID: "me"}
	if fmt.Sprint(c.Brokers) != fmt.Sprint(want.Brokers) || c.TLSCA != want.TLSCA || c.TLSCert != want.TLSCert ||
		c.TLSKey != want.TLSKey || c.SASLMechanism != want.SASLMechanism || c.SASLUsername != want.SASLUsername ||
		c.SASLPasswordFile != want.SASLPasswordFile || c.ClientID != want.ClientID {
		t.Fatalf("parsed %#v, want %#v", c, want)
	}
	if fs.Lookup("kafka-sasl-password") != nil {
		t.Fatal("a password flag exists")
	}
}

func TestOptsPasswordFile(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	for _, tc := range []struct{ content, want string }{
		{"s3cret\n", "s3cret"}, {"s3cret\r\n", "s3cret"}, {"s3cret", "s3cret"}, {"s3cret\n\n", "s3cret\n"}, {" sp ", " sp "},
	} {
		if err := os.WriteFile(pwFile, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		c := Conn{Brokers: []string{"h:1"}, SASLMechanism: ScramSHA256, SASLUsername: "u", SASLPasswordFile: pwFile}
		got, err := c.password()
		if err != nil || got != tc.want {
			t.Errorf("password of %q = %q, %v; want %q", tc.content, got, err, tc.want)
		}
		if _, err := c.Opts(); err != nil {
			t.Errorf("Opts: %v", err)
		}
	}
	c := Conn{Brokers: []string{"h:1"}, SASLMechanism: ScramSHA256, SASLUsername: "u", SASLPasswordFile: pwFile, SASLPassword: "env"}
	if got, _ := c.password(); got != "env" {
		t.Errorf("password with SASLPassword set = %q, want the environment's", got)
	}
	if err := os.WriteFile(pwFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.SASLPassword = ""
	if _, err := c.Opts(); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("Opts with an empty password file: %v", err)
	}
	c.SASLPasswordFile = filepath.Join(dir, "missing")
	if _, err := c.Opts(); err == nil || !strings.Contains(err.Error(), "--kafka-sasl-password-file") {
		t.Errorf("Opts with a missing password file: %v", err)
	}
	c.SASLPasswordFile = dir
	if _, err := c.Opts(); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Opts with a directory as password file: %v", err)
	}
}

func TestFillPassword(t *testing.T) {
	var c Conn
	c.FillPassword(func(k string) (string, bool) {
		if k == PasswordEnv {
			return "fromenv", true
		}
		return "", false
	})
	if c.SASLPassword != "fromenv" {
		t.Fatalf("SASLPassword = %q", c.SASLPassword)
	}
}

func TestOptsTLS(t *testing.T) {
	x := testenv.TLSFiles(t, "client")
	cert, key := x.Cert("client")
	c := Conn{Brokers: []string{"localhost:9093"}, TLSCA: x.CA, TLSCert: cert, TLSKey: key}
	opts, err := c.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cfg, ok := cl.OptValue(kgo.DialTLSConfig).(*tls.Config)
	if !ok || cfg == nil {
		t.Fatalf("no TLS config in the client's options: %T", cl.OptValue(kgo.DialTLSConfig))
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.RootCAs == nil || len(cfg.Certificates) != 1 {
		t.Fatalf("TLS config: min %x, roots %v, %d certificates", cfg.MinVersion, cfg.RootCAs != nil, len(cfg.Certificates))
	}
	if seeds := cl.OptValue(kgo.SeedBrokers); fmt.Sprint(seeds) != "[localhost:9093]" {
		t.Fatalf("seed brokers %v", seeds)
	}

	c2 := c
	c2.TLSCA = cert + ".missing"
	if _, err := c2.Opts(); err == nil || !strings.Contains(err.Error(), "--kafka-tls-ca") {
		t.Errorf("missing CA: %v", err)
	}
	c2 = c
	c2.TLSCA = key // a key, not a certificate
	if _, err := c2.Opts(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("CA without certificate: %v", err)
	}
	c2 = c
	c2.TLSKey = x.CA // not the certificate's key
	if _, err := c2.Opts(); err == nil || !strings.Contains(err.Error(), "--kafka-tls-cert") {
		t.Errorf("mismatched key: %v", err)
	}
	plain := Conn{Brokers: []string{"localhost:9092"}}
	opts, err = plain.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl2, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	if cfg, _ := cl2.OptValue(kgo.DialTLSConfig).(*tls.Config); cfg != nil {
		t.Fatal("TLS on for a plaintext Conn")
	}
	if id := cl2.OptValue(kgo.ClientID); fmt.Sprint(id) != DefaultClientID {
		t.Fatalf("client id %v", id)
	}
}

func TestPasswordNeverPrinted(t *testing.T) {
	c := Conn{Brokers: []string{"h:1"}, SASLMechanism: ScramSHA256, SASLUsername: "u", SASLPassword: "hunter2-secret"}
	core, logs := observer.New(zap.DebugLevel)
	zap.New(core).Info("conn", zap.Any("kafka", c), zap.Object("k2", c), zap.Stringer("k3", c))
	var all strings.Builder
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			fmt.Fprintf(&all, "%s=%v ", k, v)
		}
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), all.String()} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("password printed: %s", s)
		}
	}
	if !strings.Contains(all.String(), "u") {
		t.Fatalf("log lacks the user: %s", all.String())
	}
}
