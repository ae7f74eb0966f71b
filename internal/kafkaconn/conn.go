// Package kafkaconn holds the settings for connecting to Kafka (brokers,
// TLS, SASL/SCRAM) shared by the Kafka source, the Kafka sink and the load
// tool, their command-line flags, and their translation into franz-go
// client options.
package kafkaconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.uber.org/zap/zapcore"

	"github.com/topspeed/topspeed/internal/ops"
	"github.com/topspeed/topspeed/internal/tlsconf"
)

// SASL mechanisms accepted in Conn.SASLMechanism.
const (
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// PasswordEnv is the environment variable a command reads the SASL
// password from (into Conn.SASLPassword); it takes precedence over
// --kafka-sasl-password-file.
const PasswordEnv = "KAFKA_SASL_PASSWORD"

// DefaultClientID is the client id used when Conn.ClientID is empty.
const DefaultClientID = "topspeed"

// Bounds of the settings.
const (
	// MaxBrokers bounds the number of seed brokers.
	MaxBrokers = 100
	// MaxClientID bounds the client id's length in bytes.
	MaxClientID = 249
	// maxUsername bounds the SASL user name's length in bytes.
	maxUsername = 1024
)

// Conn says how to reach and authenticate to a Kafka cluster. The zero
// value (plus Brokers) is a plaintext, unauthenticated connection.
//
// TLS is on when TLS is set or any of TLSCA, TLSCert is given: TLS 1.2 or
// newer, verifying the brokers against TLSCA (the system's roots when
// empty), presenting TLSCert/TLSKey when given (mutual TLS).
//
// SASL: with SASLMechanism SCRAM-SHA-256 or SCRAM-SHA-512, the client
// authenticates as SASLUsername with SASLPassword if it is not empty (the
// caller fills it from the environment, see PasswordEnv; it is never a
// flag), else with the content of SASLPasswordFile, read by Opts (one
// trailing newline dropped). The password is never logged nor included in
// errors; String redacts it.
//
// A Conn is a plain value: copy it freely; it is not modified by its
// methods.
type Conn struct {
	Brokers []string
	TLS     bool
	TLSCA   string
	TLSCert string
	TLSKey  string

	SASLMechanism    string
	SASLUsername     string
	SASLPasswordFile string
	SASLPassword     string

	ClientID string
}

// RegisterFlags registers the --kafka-brokers, --kafka-tls*,
// --kafka-sasl-* and --kafka-client-id flags on fs, bound to c's fields;
// their defaults are c's current values. The password itself has no flag
// (see PasswordEnv).
func (c *Conn) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&c.Brokers, "kafka-brokers", c.Brokers,
		"Kafka bootstrap brokers, host:port, comma-separated (e.g. 127.0.0.1:9092); the client discovers the rest of the cluster from them")
	fs.BoolVar(&c.TLS, "kafka-tls", c.TLS,
		"connect to Kafka over TLS (1.2 or newer) verified with the system's roots; implied by --kafka-tls-ca and --kafka-tls-cert")
	fs.StringVar(&c.TLSCA, "kafka-tls-ca", c.TLSCA,
		"PEM CA certificate(s) the Kafka brokers' certificates must chain to (turns TLS on; default: the system's roots)")
	fs.StringVar(&c.TLSCert, "kafka-tls-cert", c.TLSCert,
		"PEM client certificate presented to the Kafka brokers for mutual TLS (turns TLS on; needs --kafka-tls-key)")
	fs.StringVar(&c.TLSKey, "kafka-tls-key", c.TLSKey,
		"PEM private key of --kafka-tls-cert")
	fs.StringVar(&c.SASLMechanism, "kafka-sasl-mechanism", c.SASLMechanism,
		"SASL mechanism for Kafka: SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL); needs --kafka-sasl-username and a password in "+
			PasswordEnv+" or --kafka-sasl-password-file")
	fs.StringVar(&c.SASLUsername, "kafka-sasl-username", c.SASLUsername,
		"SASL/SCRAM user name for Kafka (with --kafka-sasl-mechanism)")
	fs.StringVar(&c.SASLPasswordFile, "kafka-sasl-password-file", c.SASLPasswordFile,
		"file holding the SASL/SCRAM password (one trailing newline is dropped); the environment variable "+PasswordEnv+" takes precedence")
	fs.StringVar(&c.ClientID, "kafka-client-id", c.ClientID,
		"client id sent to the Kafka brokers (their logs and quotas see it; default "+DefaultClientID+")")
}

// Validate checks the settings without touching the network or reading
// the password file; its errors name the flag at fault.
func (c Conn) Validate() error {
	if err := c.validateBrokers(); err != nil {
		return err
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	if err := c.validateSASL(); err != nil {
		return err
	}
	if len(c.ClientID) > MaxClientID {
		return fmt.Errorf("--kafka-client-id: %d bytes, more than %d", len(c.ClientID), MaxClientID)
	}
	for _, r := range c.ClientID {
		if !unicode.IsPrint(r) || r == ' ' {
			return fmt.Errorf("--kafka-client-id %q: only printable characters without spaces", c.ClientID)
		}
	}
	return nil
}

func (c Conn) validateBrokers() error {
	if len(c.Brokers) == 0 {
		return errors.New("--kafka-brokers: no broker given (want host:port, e.g. 127.0.0.1:9092)")
	}
	if len(c.Brokers) > MaxBrokers {
		return fmt.Errorf("--kafka-brokers: %d brokers, more than %d", len(c.Brokers), MaxBrokers)
	}
	for _, b := range c.Brokers {
		host, port, err := net.SplitHostPort(strings.TrimSpace(b))
		if err != nil {
			return fmt.Errorf("--kafka-brokers %q: want host:port: %v", b, err)
		}
		if host == "" {
			return fmt.Errorf("--kafka-brokers %q: no host", b)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("--kafka-brokers %q: port %q is not in [1, 65535]", b, port)
		}
	}
	return nil
}

func (c Conn) validateTLS() error {
	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		return errors.New("--kafka-tls-cert needs --kafka-tls-key")
	case c.TLSKey != "" && c.TLSCert == "":
		return errors.New("--kafka-tls-key needs --kafka-tls-cert")
	}
	return nil
}

func (c Conn) validateSASL() error {
	switch c.SASLMechanism {
	case "":
		switch {
		case c.SASLUsername != "":
			return errors.New("--kafka-sasl-username needs --kafka-sasl-mechanism (SCRAM-SHA-256 or SCRAM-SHA-512)")
		case c.SASLPasswordFile != "":
			return errors.New("--kafka-sasl-password-file needs --kafka-sasl-mechanism (SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
		return nil
	case ScramSHA256, ScramSHA512:
	default:
		return fmt.Errorf("--kafka-sasl-mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512 (or empty for no SASL)", c.SASLMechanism)
	}
	switch {
	case c.SASLUsername == "":
		return fmt.Errorf("--kafka-sasl-mechanism %s needs --kafka-sasl-username", c.SASLMechanism)
	case len(c.SASLUsername) > maxUsername:
		return fmt.Errorf("--kafka-sasl-username: %d bytes, more than %d", len(c.SASLUsername), maxUsername)
	case c.SASLPassword == "" && c.SASLPasswordFile == "":
		return fmt.Errorf("--kafka-sasl-mechanism %s needs a password: set %s or --kafka-sasl-password-file", c.SASLMechanism, PasswordEnv)
	}
	return nil
}

// TLSEnabled reports whether the connection uses TLS.
func (c Conn) TLSEnabled() bool { return c.TLS || c.TLSCA != "" || c.TLSCert != "" }

// Opts validates c and returns the franz-go options for it: seed brokers,
// client id, TLS and SASL. It reads the CA, the client certificate and key,
// and the password file now, so a missing or bad file is an error here, not
// on the first connection. Errors name the flag and never include the
// password.
func (c Conn) Opts() ([]kgo.Opt, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	brokers := make([]string, len(c.Brokers))
	for i, b := range c.Brokers {
		brokers[i] = strings.TrimSpace(b)
	}
	id := c.ClientID
	if id == "" {
		id = DefaultClientID
	}
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID(id)}
	if c.TLSEnabled() {
		cfg, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if c.SASLMechanism != "" {
		pw, err := c.password()
		if err != nil {
			return nil, err
		}
		auth := scram.Auth{User: c.SASLUsername, Pass: pw}
		if c.SASLMechanism == ScramSHA512 {
			opts = append(opts, kgo.SASL(auth.AsSha512Mechanism()))
		} else {
			opts = append(opts, kgo.SASL(auth.AsSha256Mechanism()))
		}
	}
	return opts, nil
}

// tlsConfig builds the client TLS configuration; franz-go clones it per
// dial and sets ServerName to the broker's host.
func (c Conn) tlsConfig() (*tls.Config, error) {
	return tlsconf.Files{Flag: "--kafka-tls", CA: c.TLSCA, Cert: c.TLSCert, Key: c.TLSKey}.Client()
}

// password returns SASLPassword, or the password file's content without
// one trailing newline ("\n" or "\r\n").
func (c Conn) password() (string, error) {
	if c.SASLPassword != "" {
		return c.SASLPassword, nil
	}
	b, err := ops.ReadSmallFile("--kafka-sasl-password-file", c.SASLPasswordFile, ops.MaxSmallFile)
	if err != nil {
		return "", err
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pw == "" {
		return "", fmt.Errorf("--kafka-sasl-password-file %s: the file is empty", c.SASLPasswordFile)
	}
	return pw, nil
}

// FillPassword sets c.SASLPassword from the environment variable
// PasswordEnv, looked up with lookup (os.LookupEnv when nil), if it is set
// and not empty.
func (c *Conn) FillPassword(lookup func(string) (string, bool)) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if pw, ok := lookup(PasswordEnv); ok && pw != "" {
		c.SASLPassword = pw
	}
}

// String describes the connection for logs, without the password.
func (c Conn) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "brokers=%s", strings.Join(c.Brokers, ","))
	if c.TLSEnabled() {
		b.WriteString(" tls=on")
		if c.TLSCert != "" {
			b.WriteString(" mtls=on")
		}
	}
	if c.SASLMechanism != "" {
		fmt.Fprintf(&b, " sasl=%s user=%s", c.SASLMechanism, c.SASLUsername)
	}
	return b.String()
}

// GoString is String, so that %#v does not print the password either.
func (c Conn) GoString() string { return "kafkaconn.Conn{" + c.String() + "}" }

// MarshalLogObject lets zap log a Conn (zap.Any, zap.Object) without the
// password.
func (c Conn) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("brokers", strings.Join(c.Brokers, ","))
	enc.AddBool("tls", c.TLSEnabled())
	enc.AddBool("mtls", c.TLSCert != "")
	if c.SASLMechanism != "" {
		enc.AddString("sasl", c.SASLMechanism)
		enc.AddString("user", c.SASLUsername)
	}
	return nil
}
