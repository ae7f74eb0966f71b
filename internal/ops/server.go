package ops

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// DefaultAddr is the default listen address of the ops server.
const DefaultAddr = ":9249"

// Status is the body of /api/v1/status.
type Status struct {
	// Job is the job's name.
	Job string `json:"job"`
	// State is the pipeline's state (engine.State: created, starting,
	// running, finished, failed).
	State string `json:"state"`
	// Ready is what /readyz answers.
	Ready       bool `json:"ready"`
	Parallelism int  `json:"parallelism"`
	// Role, Term and Leader describe HA (standalone, 0, "" without it).
	Role   Role   `json:"role"`
	Term   uint64 `json:"term"`
	Leader string `json:"leader"`
	// LastCheckpoint is the last completed checkpoint, null if none; with
	// HA the last one committed through raft, on followers too.
	LastCheckpoint *CheckpointInfo `json:"last_checkpoint"`
	// Rates are records per second over the last RateWindow.
	Rates     Rates     `json:"rates"`
	Build     BuildInfo `json:"build"`
	StartTime time.Time `json:"start_time"`
}

// Rates are the job's throughput.
type Rates struct {
	// In counts records read by the sources, Out records written by the
	// sinks, per second.
	In  float64 `json:"records_in_per_second"`
	Out float64 `json:"records_out_per_second"`
}

// RateWindow is the span over which Status.Rates are averaged.
const RateWindow = 10 * time.Second

// Config configures a Server.
type Config struct {
	// Addr is the listen address, e.g. ":9249" or "127.0.0.1:0".
	Addr string
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// Registerer, if set, receives <namespace>_ready (see WithNamespace).
	Registerer prometheus.Registerer
	// Status returns the job-specific part of the status: Job, State,
	// Parallelism. The server fills in the rest.
	Status func() Status
	// Counts returns the records read and written so far, for Rates
	// (engine.Pipeline.RecordCounts).
	Counts func() (in, out int64)
	// Recorder provides Role, Term, Leader and LastCheckpoint (may be nil).
	Recorder *Recorder
	// Build is reported in the status.
	Build BuildInfo
	// Savepoint, if set, serves POST /api/v1/savepoints: it takes a
	// savepoint and returns its directory. An error wrapping
	// ErrUnavailable answers 503 (for example on a follower), any other 500.
	Savepoint func(ctx context.Context) (string, error)
	// Token is the bearer token that POST endpoints (savepoints) require in
	// "Authorization: Bearer <token>". Empty disables them: they answer
	// 403 with how to enable them. GET endpoints (probes, metrics, status)
	// need no token.
	Token string
	// TLSCert and TLSKey, both set, are PEM files: Start then serves HTTPS
	// (TLS 1.2 at least). Both empty: plain HTTP.
	TLSCert, TLSKey string
	// Logger receives the server's logs (nil: none).
	Logger *zap.Logger
	// Stages, if set, returns the job graph's stages for the dashboard
	// (/api/v1/graph); it is called once a second and per request.
	Stages func() []Stage
	// Cluster, if set, describes the replicas for /api/v1/overview (nil:
	// standalone).
	Cluster func() Cluster
}

// Server serves the ops endpoints. Create it with NewServer, add readiness
// checks, then Start it (or mount Handler elsewhere) and Shutdown.
type Server struct {
	cfg   Config
	start time.Time
	log   *zap.Logger
	mux   *http.ServeMux

	mu     sync.Mutex
	checks []check
	live   []check

	samples []rateSample // ring, oldest first
	ui      uiState      // the dashboard's history

	srv      *http.Server
	ln       net.Listener
	served   chan struct{}
	stopRate chan struct{}
	rateDone chan struct{}
}

type check struct {
	name string
	fn   func() error
}

type rateSample struct {
	at      time.Time
	in, out int64
}

// NewServer returns a server for cfg.
func NewServer(cfg Config, opts ...Option) *Server {
	o := newOptions(opts)
	s := &Server{cfg: cfg, start: time.Now(), log: cfg.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	g := cfg.Gatherer
	if g == nil {
		g = prometheus.NewRegistry()
	}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:          zap.NewStdLog(s.log),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
		Timeout:           10 * time.Second,
	}))
	s.mux.HandleFunc("GET /livez", s.handleChecks(func() []check { return s.live }))
	s.mux.HandleFunc("GET /readyz", s.handleChecks(func() []check { return s.checks }))
	s.mux.HandleFunc("GET /api/v1/status", s.handleStatus)
	s.registerUI()
	if cfg.Savepoint != nil {
		s.mux.HandleFunc("POST /api/v1/savepoints", s.authorized(s.handleSavepoint))
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: o.ns,
			Name:      "ready",
			Help:      "1 while the job is ready (/readyz answers 200), else 0.",
		}, func() float64 {
			if s.Ready() == nil {
				return 1
			}
			return 0
		}))
	}
	return s
}

// AddReadinessCheck adds a check to /readyz: the job is ready when every
// check returns nil. For example: the pipeline runs with its state
// restored; with HA, this follower is in sync with the leader.
func (s *Server) AddReadinessCheck(name string, fn func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, check{name, fn})
}

// AddLivenessCheck adds a check to /livez. Without checks, the process is
// live while it answers HTTP. Keep liveness checks to faults a restart
// fixes (a wedged goroutine), never to dependencies.
func (s *Server) AddLivenessCheck(name string, fn func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = append(s.live, check{name, fn})
}

// Ready returns nil if every readiness check passes, else an error naming
// the failing ones.
func (s *Server) Ready() error {
	s.mu.Lock()
	checks := s.checks
	s.mu.Unlock()
	_, err := runChecks(checks)
	return err
}

func runChecks(checks []check) ([]string, error) {
	var lines, failed []string
	for _, c := range checks {
		if err := c.fn(); err != nil {
			lines = append(lines, fmt.Sprintf("[-] %s: %v", c.name, err))
			failed = append(failed, fmt.Sprintf("%s: %v", c.name, err))
		} else {
			lines = append(lines, fmt.Sprintf("[+] %s ok", c.name))
		}
	}
	if len(failed) > 0 {
		return lines, errors.New(strings.Join(failed, "; "))
	}
	return lines, nil
}

// handleChecks answers 200 "ok" or 503 with one line per check, like the
// Kubernetes API server's health endpoints (?verbose lists passing checks
// too).
func (s *Server) handleChecks(get func() []check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		checks := get()
		s.mu.Unlock()
		lines, err := runChecks(checks)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "%s\nnot ok\n", strings.Join(lines, "\n"))
			return
		}
		if _, verbose := r.URL.Query()["verbose"]; verbose && len(lines) > 0 {
			fmt.Fprintf(w, "%s\n", strings.Join(lines, "\n"))
		}
		fmt.Fprint(w, "ok\n")
	}
}

// Status returns the current status.
func (s *Server) Status() Status {
	var st Status
	if s.cfg.Status != nil {
		st = s.cfg.Status()
	}
	st.Ready = s.Ready() == nil
	st.Role, st.Term, st.Leader, st.LastCheckpoint = s.cfg.Recorder.State()
	st.Rates = s.rates()
	st.Build = s.cfg.Build
	st.StartTime = s.start.UTC()
	return st
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.Status())
}

// ErrUnavailable marks a request this replica cannot serve now.
var ErrUnavailable = errors.New("ops: unavailable on this replica")

// handleSavepoint takes a savepoint: 201 with {"path": dir}, or an error.
func (s *Server) handleSavepoint(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	path, err := s.cfg.Savepoint(ctx)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrUnavailable) {
			code = http.StatusServiceUnavailable
		}
		s.log.Warn("savepoint failed", zap.Error(err))
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	s.log.Info("savepoint taken on request", zap.String("path", path))
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]string{"path": path})
}

// authorized wraps a POST handler: it runs only with the configured bearer
// token. Without one configured the endpoint is disabled (403); a missing
// or wrong token answers 401. The token is never logged.
func (s *Server) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token == "" {
			httpError(w, http.StatusForbidden, "POST endpoints are disabled: start the job with --http-token-file naming a file that holds a token, and send it as \"Authorization: Bearer <token>\"")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(s.cfg.Token)) != 1 {
			s.log.Warn("ops request refused: missing or wrong bearer token", zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr))
			w.Header().Set("WWW-Authenticate", `Bearer realm="topspeed"`)
			httpError(w, http.StatusUnauthorized, "missing or wrong bearer token (Authorization: Bearer <token of --http-token-file>)")
			return
		}
		h(w, r)
	}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// Handler returns the endpoints' handler.
func (s *Server) Handler() http.Handler { return s.mux }

// sample records the current counts for Rates.
func (s *Server) sample(now time.Time) {
	if s.cfg.Counts == nil {
		return
	}
	in, out := s.cfg.Counts()
	s.sampleUI(now, in, out)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples = append(s.samples, rateSample{now, in, out})
	// Keep one sample at or before now - RateWindow, and the newer ones.
	i := sort.Search(len(s.samples), func(i int) bool { return !s.samples[i].at.Before(now.Add(-RateWindow)) })
	if i > 1 {
		s.samples = append(s.samples[:0], s.samples[i-1:]...)
	}
}

// rates averages the counts' growth over the samples (about RateWindow).
func (s *Server) rates() Rates {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) < 2 {
		return Rates{}
	}
	a, b := s.samples[0], s.samples[len(s.samples)-1]
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return Rates{}
	}
	return Rates{In: float64(b.in-a.in) / secs, Out: float64(b.out-a.out) / secs}
}

// Start listens on Config.Addr and serves in the background until
// Shutdown, over TLS with Config.TLSCert and TLSKey. It returns once the
// listener is bound (see Addr).
func (s *Server) Start() error {
	tlsConf, err := s.tlsConfig()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("ops: listen on %s: %w", s.cfg.Addr, err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("ops server failed", zap.Error(err))
		}
	}()
	s.stopRate, s.rateDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.rateDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		s.sample(time.Now())
		for {
			select {
			case now := <-t.C:
				s.sample(now)
			case <-s.stopRate:
				return
			}
		}
	}()
	s.log.Info("ops server listening", zap.String("addr", ln.Addr().String()),
		zap.Bool("tls", tlsConf != nil), zap.Bool("post_enabled", s.cfg.Token != ""))
	return nil
}

// tlsConfig loads the certificate (nil without TLS).
func (s *Server) tlsConfig() (*tls.Config, error) {
	switch {
	case s.cfg.TLSCert == "" && s.cfg.TLSKey == "":
		return nil, nil
	case s.cfg.TLSCert == "" || s.cfg.TLSKey == "":
		return nil, errors.New("ops: TLS needs both a certificate and a key (--http-tls-cert, --http-tls-key)")
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("ops: TLS certificate %s, key %s: %w", s.cfg.TLSCert, s.cfg.TLSKey, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Addr returns the bound address after Start.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting connections and waits, at most until ctx is
// done, for requests in progress; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	close(s.stopRate)
	<-s.rateDone
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	<-s.served
	s.srv = nil
	return err
}
