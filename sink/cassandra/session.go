package cassandra

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/gocql/gocql"
	"go.uber.org/zap"

	"github.com/topspeed/topspeed/internal/tlsconf"
)

// ErrAuth means the server rejected the credentials; it is never retried.
var ErrAuth = errors.New("cassandra: authentication failed")

// ErrUnavailable means no host could be reached within the connect budget.
var ErrUnavailable = errors.New("cassandra: no host reachable")

// clusterConfig turns a Config into gocql's.
func clusterConfig(c Config) (*gocql.ClusterConfig, error) {
	cl := gocql.NewCluster(c.Hosts...)
	cl.Port = c.Port
	cl.Consistency = c.Consistency
	cl.Timeout = c.Timeout
	cl.ConnectTimeout = c.ConnectTimeout
	cl.NumConns = 2
	fallback := gocql.RoundRobinHostPolicy()
	if c.LocalDC != "" {
		fallback = gocql.DCAwareRoundRobinPolicy(c.LocalDC)
	}
	cl.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(fallback)
	cl.ReconnectionPolicy = &gocql.ExponentialReconnectionPolicy{MaxRetries: 10, InitialInterval: 100 * time.Millisecond, MaxInterval: 2 * time.Second}
	cl.ReconnectInterval = time.Second
	cl.Logger = nopLogger{}
	if c.Compression {
		cl.Compressor = gocql.SnappyCompressor{}
	}
	if c.Username != "" {
		cl.Authenticator = gocql.PasswordAuthenticator{Username: c.Username, Password: c.Password}
	}
	if c.TLS.Enabled() {
		tc, err := tlsConfig(c.TLS)
		if err != nil {
			return nil, err
		}
		cl.SslOpts = &gocql.SslOptions{Config: tc, EnableHostVerification: !c.TLS.InsecureSkipVerify}
	}
	return cl, nil
}

func tlsConfig(t TLSConfig) (*tls.Config, error) {
	tc, err := tlsconf.Files{Flag: "--cassandra-tls", CA: t.CAFile, Cert: t.CertFile, Key: t.KeyFile}.Client()
	if err != nil {
		return nil, fmt.Errorf("cassandra: %w", err)
	}
	tc.ServerName, tc.InsecureSkipVerify = t.ServerName, t.InsecureSkipVerify //nolint:gosec // opt-in, documented
	return tc, nil
}

// ErrTLS means the TLS handshake failed on a certificate; it is never retried.
var ErrTLS = errors.New("cassandra: TLS certificate verification failed (check --cassandra-tls-ca and --cassandra-tls-server-name)")

// isCertError reports whether err is a certificate verification failure.
func isCertError(err error) bool {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "x509: ") || strings.Contains(s, "tls: failed to verify certificate")
}

// isAuthError reports whether err is a credential rejection.
func isAuthError(err error) bool {
	var re gocql.RequestError
	if errors.As(err, &re) && (re.Code() == gocql.ErrCodeCredentials || re.Code() == gocql.ErrCodeUnauthorized) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "Provided username") || strings.Contains(s, "authentication failed") ||
		strings.Contains(s, "Unable to perform authentication") || strings.Contains(s, "AuthenticationException")
}

// Connect opens a session, retrying with exponential backoff for up to
// c.ConnectBudget while no host answers. A credential rejection is returned
// at once as ErrAuth. log may be nil.
func Connect(ctx context.Context, c Config, log *zap.Logger) (*gocql.Session, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if _, err := clusterConfig(c); err != nil {
		return nil, err // bad TLS files: not worth retrying
	}
	attempt := 0
	op := func() (*gocql.Session, error) {
		attempt++
		// A fresh config per attempt: gocql's token-aware policy cannot be
		// shared between sessions, even failed ones.
		cl, err := clusterConfig(c)
		if err != nil {
			return nil, backoff.Permanent(err)
		}
		s, err := cl.CreateSession()
		if err == nil {
			return s, nil
		}
		if isAuthError(err) {
			return nil, backoff.Permanent(fmt.Errorf("%w for user %q: check the username and the password (CASSANDRA_PASSWORD or --cassandra-password-file): %v", ErrAuth, c.Username, err))
		}
		if isCertError(err) {
			return nil, backoff.Permanent(fmt.Errorf("%w: %v", ErrTLS, err))
		}
		log.Warn("cassandra not reachable yet, retrying", zap.Strings("hosts", c.Hosts), zap.Int("attempt", attempt), zap.Error(err))
		return nil, err
	}
	eb := backoff.NewExponentialBackOff()
	eb.InitialInterval, eb.MaxInterval = 200*time.Millisecond, 3*time.Second
	start := time.Now()
	// untilDeadline ends the retries at the budget (Retry's own limit, 0 here,
	// would stop at the first wait that overshoots it).
	bo := &untilDeadline{b: eb, deadline: start.Add(c.ConnectBudget)}
	s, err := backoff.Retry(ctx, op, backoff.WithBackOff(bo), backoff.WithMaxElapsedTime(0))
	if err != nil {
		if errors.Is(err, ErrAuth) || ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s after %d attempts in %v: %v", ErrUnavailable, strings.Join(c.Hosts, ","), attempt, time.Since(start).Round(time.Millisecond), err)
	}
	return s, nil
}

// untilDeadline shortens the last wait of b to end at deadline, so that
// the last attempt is made when the budget runs out, and stops after it.
// (backoff.Retry's MaxElapsedTime gives up as soon as the next randomised
// wait would overshoot the budget, which can be well before it is spent.)
type untilDeadline struct {
	b        backoff.BackOff
	deadline time.Time
}

func (u *untilDeadline) NextBackOff() time.Duration {
	left := time.Until(u.deadline)
	if left <= 0 {
		return backoff.Stop
	}
	next := u.b.NextBackOff()
	if next == backoff.Stop {
		return backoff.Stop
	}
	return min(next, left)
}

func (u *untilDeadline) Reset() { u.b.Reset() }

// nopLogger silences gocql's own logging; the sink reports what matters.
type nopLogger struct{}

func (nopLogger) Print(...any)          {}
func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}
