// Command cqlping logs in to Cassandra over CQL and runs statements.
//
// It is the readiness probe and the setup client of scripts/cassandra/cassandra.sh,
// so that the dev server needs no cqlsh. With no statement it runs
// "SELECT release_version FROM system.local".
//
//	cqlping [-hosts 127.0.0.1:9042] [-u USER] [-password-file FILE] [-exec CQL | -f FILE|-] [-q]
//	        [-tls-ca CA.pem [-tls-server-name NAME] [-tls-cert CERT.pem -tls-key KEY.pem]]
//
// With -tls-ca (or $CASSANDRA_TLS_CA) it connects over TLS and verifies the
// server's certificate against that CA and the host name (or
// -tls-server-name); -tls-cert and -tls-key ($CASSANDRA_TLS_CERT,
// $CASSANDRA_TLS_KEY) present a client certificate if the server asks for one.
//
// The password is never taken from the command line: it comes from
// -password-file, else $CASSANDRA_PASSWORD_FILE, else $CASSANDRA_PASSWORD.
// Statements that carry secrets must be fed with -f - (standard input), and
// error messages name a statement by its number, never by its text.
//
// Exit status: 0 success; 4 the server answered and rejected the credentials
// (wrong password, unknown role, or login not permitted); 3 usage error;
// 1 anything else (server not reachable yet, statement failed, ...); 2 is
// what a Go panic exits with.
package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/topspeed/topspeed/internal/tlsconf"
)

const (
	exitOK        = 0
	exitFail      = 1
	exitUsage     = 3
	exitAuth      = 4
	defaultQuery  = "SELECT release_version FROM system.local"
	defaultHost   = "127.0.0.1"
	defaultPort   = 9042
	maxSecretSize = 4096
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cqlping", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hosts := fs.String("hosts", envOr("CASSANDRA_HOSTS", defaultHost), "comma-separated host[:port] list ($CASSANDRA_HOSTS)")
	port := fs.Int("port", envInt("CASSANDRA_PORT", defaultPort), "port for hosts given without one ($CASSANDRA_PORT)")
	user := fs.String("u", envOr("CASSANDRA_USERNAME", ""), "username ($CASSANDRA_USERNAME); empty means no authentication")
	pwFile := fs.String("password-file", envOr("CASSANDRA_PASSWORD_FILE", ""), "file holding the password ($CASSANDRA_PASSWORD_FILE); else $CASSANDRA_PASSWORD")
	tlsCA := fs.String("tls-ca", envOr("CASSANDRA_TLS_CA", ""), "CA certificate (PEM) to verify the server with; enables TLS ($CASSANDRA_TLS_CA)")
	tlsCert := fs.String("tls-cert", envOr("CASSANDRA_TLS_CERT", ""), "client certificate (PEM) for mutual TLS ($CASSANDRA_TLS_CERT)")
	tlsKey := fs.String("tls-key", envOr("CASSANDRA_TLS_KEY", ""), "client private key (PEM) for mutual TLS ($CASSANDRA_TLS_KEY)")
	tlsServerName := fs.String("tls-server-name", "", "name to verify in the server certificate (default: the host)")
	execCQL := fs.String("exec", "", "CQL statements to run, separated by ';' (not for secrets: use -f -)")
	file := fs.String("f", "", "file of CQL statements to run, '-' for standard input")
	timeout := fs.Duration("timeout", 5*time.Second, "connect and request timeout")
	quiet := fs.Bool("q", false, "print no rows and no summary")
	verbose := fs.Bool("v", false, "let the driver log (connection errors, ...) on stderr")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cqlping: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	if *execCQL != "" && *file != "" {
		fmt.Fprintln(stderr, "cqlping: -exec and -f are exclusive")
		return exitUsage
	}

	var text string
	switch {
	case *execCQL != "":
		text = *execCQL
	case *file == "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintf(stderr, "cqlping: reading stdin: %v\n", err)
			return exitUsage
		}
		text = string(b)
	case *file != "":
		b, err := os.ReadFile(*file)
		if err != nil {
			fmt.Fprintf(stderr, "cqlping: %v\n", err)
			return exitUsage
		}
		text = string(b)
	default:
		text = defaultQuery
	}
	stmts := splitStatements(text)
	if len(stmts) == 0 {
		fmt.Fprintln(stderr, "cqlping: no statement to run")
		return exitUsage
	}

	password, err := readPassword(*pwFile)
	if err != nil {
		fmt.Fprintf(stderr, "cqlping: %v\n", err)
		return exitUsage
	}

	hostList, err := normalizeHosts(*hosts, *port)
	if err != nil {
		fmt.Fprintf(stderr, "cqlping: %v\n", err)
		return exitUsage
	}
	var tlsConf *tls.Config
	if *tlsCA != "" {
		if tlsConf, err = clientTLS(*tlsCA, *tlsCert, *tlsKey, *tlsServerName); err != nil {
			fmt.Fprintf(stderr, "cqlping: %v\n", err)
			return exitUsage
		}
	} else if *tlsCert != "" || *tlsKey != "" || *tlsServerName != "" {
		fmt.Fprintln(stderr, "cqlping: -tls-cert, -tls-key and -tls-server-name need -tls-ca")
		return exitUsage
	}

	if !*verbose {
		gocql.Logger = log.New(io.Discard, "", 0) // our own message says what failed
	}
	cluster := gocql.NewCluster(hostList...)
	cluster.ProtoVersion = 4 // skip protocol negotiation; Cassandra 4.x and 5.0 speak v4
	cluster.Timeout = *timeout
	cluster.ConnectTimeout = *timeout
	cluster.Consistency = gocql.One
	cluster.NumConns = 1
	cluster.DisableInitialHostLookup = true
	// MaxRetries must be at least 1: with 0, gocql v1.7.0 puts a nil
	// connection in its pool and panics on the first query.
	cluster.ReconnectionPolicy = &gocql.ConstantReconnectionPolicy{MaxRetries: 1, Interval: 100 * time.Millisecond}
	cluster.RetryPolicy = &gocql.SimpleRetryPolicy{NumRetries: 0}
	if tlsConf != nil {
		cluster.SslOpts = &gocql.SslOptions{Config: tlsConf, EnableHostVerification: true}
	}
	if *user != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: *user, Password: password}
	}

	session, err := cluster.CreateSession()
	if err != nil {
		fmt.Fprintf(stderr, "cqlping: connect %s as %q: %v\n", strings.Join(hostList, ","), *user, err)
		if isAuthRejected(err) {
			return exitAuth
		}
		return exitFail
	}
	defer session.Close()

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	for i, stmt := range stmts {
		iter := session.Query(stmt).Iter()
		cols := iter.Columns()
		if len(cols) > 0 && !*quiet {
			row := make(map[string]any, len(cols))
			for iter.MapScan(row) {
				fields := make([]string, len(cols))
				for j, c := range cols {
					fields[j] = fmt.Sprint(row[c.Name])
				}
				fmt.Fprintln(out, strings.Join(fields, "\t"))
				row = make(map[string]any, len(cols))
			}
		}
		if err := iter.Close(); err != nil {
			// The statement text may hold a secret: name it by number only.
			fmt.Fprintf(stderr, "cqlping: statement %d of %d failed: %v\n", i+1, len(stmts), err)
			if isAuthRejected(err) {
				return exitAuth
			}
			return exitFail
		}
	}
	if !*quiet {
		fmt.Fprintf(stderr, "cqlping: ok: %d statement(s) on %s as %q\n", len(stmts), strings.Join(hostList, ","), *user)
	}
	return exitOK
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int) int {
	if v := os.Getenv(key); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

// readPassword takes the password from the file if one is named, else from
// $CASSANDRA_PASSWORD. Only the first line of the file counts.
func readPassword(file string) (string, error) {
	if file == "" {
		return os.Getenv("CASSANDRA_PASSWORD"), nil
	}
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretSize))
	if err != nil {
		return "", fmt.Errorf("password file %s: %w", file, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("password file %s is empty", file)
	}
	return line, nil
}

// clientTLS is the TLS configuration of -tls-ca, -tls-cert and -tls-key;
// serverName, if set, is the name the server certificate must carry
// instead of the host's.
func clientTLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	c, err := tlsconf.Files{Flag: "-tls", CA: caFile, Cert: certFile, Key: keyFile}.Client()
	if err != nil {
		return nil, err
	}
	c.ServerName = serverName
	return c, nil
}

// normalizeHosts gives every host of the comma-separated list a port.
func normalizeHosts(list string, port int) ([]string, error) {
	var hosts []string
	for _, h := range strings.Split(list, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), strconv.Itoa(port))
		}
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		return nil, errors.New("no host given")
	}
	return hosts, nil
}

// isAuthRejected tells whether the server answered and refused the login, as
// opposed to not answering yet. Cassandra says "Provided username X and/or
// password are incorrect" or "X is not permitted to log in". An
// authentication error that only reports a failed internal read (auth tables
// not ready yet) is not a rejection.
func isAuthRejected(err error) bool {
	var re gocql.RequestError
	if errors.As(err, &re) && re.Code() != gocql.ErrCodeCredentials {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "are incorrect") || strings.Contains(msg, "not permitted to log in")
}

// inOpenBatch tells whether stmt is a BEGIN ... BATCH not yet closed by
// APPLY BATCH.
func inOpenBatch(stmt string) bool {
	f := strings.Fields(strings.ToUpper(stmt))
	if len(f) == 0 || f[0] != "BEGIN" {
		return false
	}
	n := len(f)
	return n < 2 || f[n-2] != "APPLY" || f[n-1] != "BATCH"
}

// splitStatements cuts CQL text at semicolons outside quotes, $$ blocks,
// comments and batches, and drops empty statements.
func splitStatements(text string) []string {
	var (
		stmts []string
		cur   strings.Builder
	)
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			stmts = append(stmts, s)
		}
		cur.Reset()
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(text) {
				if text[j] == c {
					if j+1 < len(text) && text[j+1] == c { // doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			end := min(j+1, len(text))
			cur.WriteString(text[i:end])
			i = end - 1
		case c == '$' && strings.HasPrefix(text[i:], "$$"):
			j := strings.Index(text[i+2:], "$$")
			end := len(text)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			cur.WriteString(text[i:end])
			i = end - 1
		case c == '-' && strings.HasPrefix(text[i:], "--"), c == '/' && strings.HasPrefix(text[i:], "//"):
			j := strings.IndexByte(text[i:], '\n')
			if j < 0 {
				i = len(text)
			} else {
				i += j
				cur.WriteByte('\n')
			}
		case c == '/' && strings.HasPrefix(text[i:], "/*"):
			j := strings.Index(text[i+2:], "*/")
			if j < 0 {
				i = len(text)
			} else {
				i += 2 + j + 1
			}
			cur.WriteByte(' ')
		case c == ';' && inOpenBatch(cur.String()):
			cur.WriteByte(c) // a statement inside BEGIN BATCH ... APPLY BATCH
		case c == ';':
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return stmts
}
