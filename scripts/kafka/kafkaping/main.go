// Command kafkaping asks a Kafka broker for its cluster metadata: the
// readiness probe of scripts/kafka/kafka.sh, so that the dev broker needs
// neither the Kafka command-line tools nor a second JVM per probe.
//
//	kafkaping [-brokers 127.0.0.1:19092] [-timeout 5s] [-q]
//	          [-tls-ca FILE [-tls-cert FILE -tls-key FILE]]
//	          [-sasl-username USER -sasl-password-file FILE]
//	kafkaping -brokers 127.0.0.1:19092 -set-scram-user USER -set-scram-password-file FILE
//
// It succeeds when a broker answers a Metadata request (a full Kafka
// protocol round-trip) listing at least one broker and a controller. In
// KRaft mode a broker lists itself only once the controller has unfenced it,
// so success means the broker takes produce and fetch requests.
//
// With -tls-ca it connects over TLS (1.2 or newer), verifying the broker
// against that CA, and presents -tls-cert/-tls-key when given. With
// -sasl-username it authenticates with SASL SCRAM-SHA-512, the password
// read from -sasl-password-file (one trailing newline dropped).
//
// With -set-scram-user it instead creates or updates that user's
// SCRAM-SHA-512 credential (4096 iterations) with the password of
// -set-scram-password-file, through the Admin API (AlterUserScramCredentials)
// on the connection the other flags describe. Passwords are never printed.
//
// Exit status: 0 ready (or credential set); 1 not reachable or not ready
// yet; 2 SASL authentication failed; 3 usage error.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/topspeed/topspeed/internal/tlsconf"
)

const (
	exitOK         = 0
	exitFail       = 1
	exitAuth       = 2
	exitUsage      = 3
	defaultBrokers = "127.0.0.1:19092"
	maxTimeout     = 10 * time.Minute
	// maxFile bounds the password files read (tlsconf bounds the PEM files).
	maxFile = 1 << 20
	// scramIterations is the iteration count of a credential set with
	// -set-scram-user: Kafka's minimum, the cheapest for a dev broker.
	scramIterations = 4096
)

// options are the parsed flags.
type options struct {
	seeds         []string
	timeout       time.Duration
	quiet         bool
	tlsCA         string
	tlsCert       string
	tlsKey        string
	saslUser      string
	saslPassFile  string
	setScramUser  string
	setScramPFile string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, code := parseFlags(args, stderr)
	if code != exitOK {
		return code
	}
	opts, err := o.clientOpts()
	if err != nil {
		fmt.Fprintf(stderr, "kafkaping: %v\n", err)
		return exitUsage
	}
	var summary string
	if o.setScramUser != "" {
		summary, err = setScram(opts, o)
	} else {
		summary, err = ping(opts, o.timeout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "kafkaping: %s: %v\n", strings.Join(o.seeds, ","), err)
		if errors.Is(err, kerr.SaslAuthenticationFailed) {
			return exitAuth
		}
		return exitFail
	}
	if !o.quiet {
		fmt.Fprintln(stdout, summary)
	}
	return exitOK
}

// parseFlags parses and checks args; a non-zero code means a usage error
// (already reported on stderr).
func parseFlags(args []string, stderr io.Writer) (options, int) {
	var o options
	fs := flag.NewFlagSet("kafkaping", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", envOr("KAFKA_BROKERS", defaultBrokers), "comma-separated host:port list ($KAFKA_BROKERS)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "dial and request timeout (at most 10m)")
	fs.BoolVar(&o.quiet, "q", false, "print nothing on success")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "PEM CA file: connect over TLS and verify the broker against it")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM client certificate for mutual TLS (with -tls-ca and -tls-key)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of -tls-cert")
	fs.StringVar(&o.saslUser, "sasl-username", "", "authenticate with SASL SCRAM-SHA-512 as this user")
	fs.StringVar(&o.saslPassFile, "sasl-password-file", "", "file holding the SASL password of -sasl-username")
	fs.StringVar(&o.setScramUser, "set-scram-user", "", "create or update this user's SCRAM-SHA-512 credential instead of pinging")
	fs.StringVar(&o.setScramPFile, "set-scram-password-file", "", "file holding the password -set-scram-user gets")
	if err := fs.Parse(args); err != nil {
		return o, exitUsage
	}
	o.seeds = splitList(*brokers)
	var problem string
	switch {
	case fs.NArg() > 0:
		problem = fmt.Sprintf("unexpected arguments %q", fs.Args())
	case len(o.seeds) == 0:
		problem = "-brokers is empty"
	case o.timeout <= 0 || o.timeout > maxTimeout:
		problem = fmt.Sprintf("-timeout must be in (0, %s], got %s", maxTimeout, o.timeout)
	case (o.tlsCert == "") != (o.tlsKey == ""):
		problem = "-tls-cert and -tls-key go together"
	case o.tlsCert != "" && o.tlsCA == "":
		problem = "-tls-cert needs -tls-ca"
	case (o.saslUser == "") != (o.saslPassFile == ""):
		problem = "-sasl-username and -sasl-password-file go together"
	case (o.setScramUser == "") != (o.setScramPFile == ""):
		problem = "-set-scram-user and -set-scram-password-file go together"
	}
	if problem != "" {
		fmt.Fprintf(stderr, "kafkaping: %s\n", problem)
		return o, exitUsage
	}
	return o, exitOK
}

// clientOpts returns the franz-go options of the connection: seeds,
// timeouts without retries, TLS and SASL as the flags say.
func (o options) clientOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.seeds...),
		kgo.DialTimeout(o.timeout),
		kgo.RequestTimeoutOverhead(o.timeout),
		kgo.RequestRetries(0),
		kgo.RetryTimeout(o.timeout),
	}
	if o.tlsCA != "" {
		cfg, err := o.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if o.saslUser != "" {
		pw, err := readPassword("-sasl-password-file", o.saslPassFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(scram.Auth{User: o.saslUser, Pass: pw}.AsSha512Mechanism()))
	}
	return opts, nil
}

// tlsConfig is the TLS configuration of -tls-ca, -tls-cert and -tls-key.
func (o options) tlsConfig() (*tls.Config, error) {
	return tlsconf.Files{Flag: "-tls", CA: o.tlsCA, Cert: o.tlsCert, Key: o.tlsKey}.Client()
}

// ping sends one Metadata request and checks the answer names a broker and
// a controller; it returns a one-line summary.
func ping(opts []kgo.Opt, timeout time.Duration) (string, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return "", fmt.Errorf("metadata request: %w", err)
	}
	if len(md.Brokers) == 0 {
		return "", fmt.Errorf("metadata lists no broker (not unfenced yet)")
	}
	if md.Controller < 0 {
		return "", fmt.Errorf("metadata names no controller")
	}
	var bs []string
	for _, b := range md.Brokers {
		bs = append(bs, fmt.Sprintf("%d@%s:%d", b.NodeID, b.Host, b.Port))
	}
	return fmt.Sprintf("cluster %s: brokers %s, controller %d", md.Cluster, strings.Join(bs, " "), md.Controller), nil
}

// setScram creates or updates o.setScramUser's SCRAM-SHA-512 credential.
func setScram(opts []kgo.Opt, o options) (string, error) {
	pw, err := readPassword("-set-scram-password-file", o.setScramPFile)
	if err != nil {
		return "", err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{
		User: o.setScramUser, Mechanism: kadm.ScramSha512, Iterations: scramIterations, Password: pw,
	}})
	if err != nil {
		return "", fmt.Errorf("AlterUserScramCredentials: %w", err)
	}
	if r, ok := res[o.setScramUser]; !ok {
		return "", fmt.Errorf("AlterUserScramCredentials: no result for user %q", o.setScramUser)
	} else if r.Err != nil {
		return "", fmt.Errorf("AlterUserScramCredentials for user %q: %w (%s)", o.setScramUser, r.Err, r.ErrMessage)
	}
	return fmt.Sprintf("SCRAM-SHA-512 credential of %q set", o.setScramUser), nil
}

// readPassword reads a password file, drops one trailing newline and
// rejects an empty password. Errors never include the content.
func readPassword(flagName, path string) (string, error) {
	b, err := readFile(flagName, path)
	if err != nil {
		return "", err
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pw == "" {
		return "", fmt.Errorf("%s %s: empty", flagName, path)
	}
	return pw, nil
}

// readFile reads a file of at most maxFile bytes.
func readFile(flagName, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flagName, path, err)
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("%s %s: more than %d bytes", flagName, path, maxFile)
	}
	return b, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
