package runner

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/topspeed/topspeed/ha"
	"github.com/topspeed/topspeed/internal/ops"
)

// settings are the runner's own flags.
type settings struct {
	logLevel, logFormat string
	progress            time.Duration
	ckpt                checkpointFlags
	ha                  haFlags
	group               groupFlags
	ops                 opsFlags
}

func (s *settings) register(fs *pflag.FlagSet, job Job) {
	fs.StringVar(&s.logLevel, "log-level", "info", "log level: debug, info, warn or error (logs go to stderr)")
	fs.StringVar(&s.logFormat, "log-format", "console", "log format: console or json")
	fs.DurationVar(&s.progress, "progress-interval", 10*time.Second, "log a one-line progress summary at info level this often (events in, results out, rows written elsewhere, event-time lag, end-to-end latency, last checkpoint); 0 = none. A final summary is logged at exit either way")
	s.ckpt.register(fs, job)
	s.ha.register(fs, job)
	s.group.register(fs)
	s.ops.register(fs)
}

// maxReplicas bounds --ha-replicas: raft replicates every commit to each.
const maxReplicas = 99

func (s *settings) validate() error {
	if s.progress < 0 || s.progress > 24*time.Hour {
		return fmt.Errorf("--progress-interval %v: must be in [0, 24h]", s.progress)
	}
	if s.ha.replicas < 0 || s.ha.replicas > maxReplicas {
		return fmt.Errorf("--ha-replicas %d: must be in [1, %d], or 0 without a StatefulSet", s.ha.replicas, maxReplicas)
	}
	if err := s.ops.validate(); err != nil {
		return err
	}
	if err := s.ckpt.validate(); err != nil {
		return err
	}
	if err := s.group.validate(s); err != nil {
		return err
	}
	if c := s.group.cfg.Conn; !s.group.enabled() && len(c.Brokers) > 0 {
		return c.Validate()
	}
	return nil
}

// checkpointFlags are the --checkpoint-* and savepoint settings.
type checkpointFlags struct {
	dir           string
	interval      time.Duration
	retain        int
	savepointDir  string
	fromSavepoint string
	stopTimeout   time.Duration
	allowDrop     bool // --allow-non-restored-state
	jobID         string
	tolerable     int // --checkpoint-tolerable-failures
	savepointKeep int // --savepoint-retain
}

func (c *checkpointFlags) register(fs *pflag.FlagSet, job Job) {
	fs.StringVar(&c.dir, "checkpoint-dir", "", "take periodic checkpoints into DIR/<job-id> (DIR on the shared RWX volume) and restore from the newest valid one at start; empty disables checkpoints. With it, --output names a directory of part files published exactly once")
	fs.StringVar(&c.jobID, "job-id", defaultJobID(job.Name), "this job's name in --checkpoint-dir and --savepoint-dir: checkpoints go to DIR/<job-id>, which one process at a time may use (without HA); savepoints are named sp-<job-id>-... ([a-z0-9][a-z0-9._-]{0,62})")
	fs.IntVar(&c.tolerable, "checkpoint-tolerable-failures", 0, "periodic checkpoints that may fail in a row before the job fails (exit 1; with HA the leader hands over); /readyz is 503 while the last one failed")
	fs.DurationVar(&c.interval, "checkpoint-interval", 10*time.Second, "time between checkpoints")
	fs.IntVar(&c.retain, "checkpoint-retain", 3, "number of completed checkpoints kept")
	fs.StringVar(&c.savepointDir, "savepoint-dir", "", "directory for savepoints (taken on SIGTERM and on request), named sp-<job-id>-<id>-t<term>")
	fs.IntVar(&c.savepointKeep, "savepoint-retain", 5, "number of this job's savepoints kept in --savepoint-dir (older ones are deleted); 0 keeps all")
	fs.StringVar(&c.fromSavepoint, "from-savepoint", "", "restore from this savepoint or checkpoint directory instead of the newest checkpoint")
	fs.DurationVar(&c.stopTimeout, "stop-timeout", 30*time.Second, "bound on a graceful stop (final checkpoint and flush) after SIGTERM/SIGINT")
	fs.BoolVar(&c.allowDrop, "allow-non-restored-state", false, "restore a checkpoint or savepoint that holds state no stage of the job claims (a stage removed or renamed since): that state is dropped and each part logged; without it such a restore fails")
}

func (c *checkpointFlags) enabled() bool { return c.dir != "" }

// jobDir is the job's own checkpoint directory, DIR/<job-id>.
func (c *checkpointFlags) jobDir() string { return filepath.Join(c.dir, c.jobID) }

func (c *checkpointFlags) validate() error {
	switch {
	case c.dir == "" && c.fromSavepoint != "":
		return errors.New("--from-savepoint needs --checkpoint-dir")
	case c.dir == "" && c.allowDrop:
		return errors.New("--allow-non-restored-state needs --checkpoint-dir")
	case c.interval < 10*time.Millisecond:
		return fmt.Errorf("--checkpoint-interval %v: must be at least 10ms", c.interval)
	case c.retain < 1 || c.retain > 1000:
		return fmt.Errorf("--checkpoint-retain %d: must be in [1, 1000]", c.retain)
	case c.stopTimeout <= 0 || c.stopTimeout > 24*time.Hour:
		return fmt.Errorf("--stop-timeout %v: must be in (0, 24h]", c.stopTimeout)
	case c.tolerable < 0 || c.tolerable > 1000:
		return fmt.Errorf("--checkpoint-tolerable-failures %d: must be in [0, 1000]", c.tolerable)
	case c.savepointKeep < 0 || c.savepointKeep > 1000:
		return fmt.Errorf("--savepoint-retain %d: must be in [0, 1000] (0 keeps all)", c.savepointKeep)
	case c.dir == "":
		return nil
	}
	return validJobID(c.jobID)
}

// jobIDPattern is what --job-id may be: a directory name on any file
// system, and never one of a checkpoint (chk-...) or savepoint (sp-...).
var jobIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func validJobID(id string) error {
	if !jobIDPattern.MatchString(id) {
		return fmt.Errorf("--job-id %q: must match [a-z0-9][a-z0-9._-]{0,62} (lower-case letters, digits, '.', '_', '-'; at most 63)", id)
	}
	if strings.HasPrefix(id, "chk-") || strings.HasPrefix(id, "sp-") {
		return fmt.Errorf("--job-id %q: must not start with chk- or sp- (the names of checkpoint and savepoint directories)", id)
	}
	return nil
}

// defaultJobID is the job's name as a --job-id: lower-cased, other
// characters as '-'.
func defaultJobID(name string) string {
	b := []byte(strings.ToLower(name))
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || i > 0 && (ch == '.' || ch == '_' || ch == '-')) {
			b[i] = '-'
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	if len(b) > 0 && b[0] == '-' {
		b[0] = 'x'
	}
	return string(b)
}

// defaultRaftPort is the raft port of --ha-bind. Not 7000: that is
// Cassandra's storage port (7001 its TLS one, 7199 JMX), and a replica
// running next to a Cassandra node, as on a developer's machine, could not
// bind it. 7110 is unassigned in IANA's registry and clear of what runs
// beside topspeed: Cassandra (7000, 7001, 7199, 9042), Kafka (9092, 9093),
// ZooKeeper (2181, 2888, 3888), Flink (6121-6125, 8081, metrics 9249-9260),
// Spark (7077-7079), the X font server (7100), etcd, Consul, Nomad and
// Vault's raft ports (2380, 8300, 4647, 8201). make ha-local uses
// 7111-7113.
const defaultRaftPort = "7110"

// haFlags are the --ha-* settings. HA is on when --ha-peers or
// --ha-replicas is given.
type haFlags struct {
	id, bind, advertise, peers, dir, service string
	replicas                                 int
	heartbeat, election, lease               time.Duration
	tlsCA, tlsCert, tlsKey                   string
	allowInsecure                            bool
}

func (h *haFlags) register(fs *pflag.FlagSet, job Job) {
	d := ha.DefaultConfig()
	fs.StringVar(&h.id, "ha-id", "", "this replica's stable raft server id (default: the host name, i.e. the pod name)")
	fs.StringVar(&h.bind, "ha-bind", "0.0.0.0:"+defaultRaftPort, "address the raft transport listens on")
	fs.StringVar(&h.advertise, "ha-advertise", "", "address other replicas reach this one at (default: --ha-bind, or <pod>.<service>:<port> with --ha-replicas)")
	fs.StringVar(&h.peers, "ha-peers", "", "all replicas as id=host:port,... (this one included); enables HA")
	fs.IntVar(&h.replicas, "ha-replicas", 0, "derive the peers from a StatefulSet: <name>-0..<name>-(N-1) at <pod>.<--ha-service>:<port>; enables HA")
	fs.StringVar(&h.service, "ha-service", job.Name+"-raft", "headless service of the StatefulSet, for --ha-replicas")
	fs.StringVar(&h.dir, "ha-dir", "", "this replica's own raft directory (not the shared volume)")
	fs.DurationVar(&h.heartbeat, "ha-heartbeat-timeout", d.HeartbeatTimeout, "raft heartbeat timeout: a follower calls an election after this long without the leader")
	fs.DurationVar(&h.election, "ha-election-timeout", d.ElectionTimeout, "raft election timeout")
	fs.DurationVar(&h.lease, "ha-lease-timeout", d.LeaderLeaseTimeout, "raft leader lease: a leader without a quorum for this long steps down")
	fs.StringVar(&h.tlsCA, "ha-tls-ca", "", "PEM CA certificate: raft peers must present a certificate it signed (mutual TLS; with --ha-tls-cert and --ha-tls-key)")
	fs.StringVar(&h.tlsCert, "ha-tls-cert", "", "PEM certificate this replica presents to its raft peers, as server and as client (usages server auth and client auth)")
	fs.StringVar(&h.tlsKey, "ha-tls-key", "", "PEM private key of --ha-tls-cert")
	fs.BoolVar(&h.allowInsecure, "ha-allow-insecure", false, "run raft without TLS on a non-loopback --ha-bind: any host that reaches the port can vote and commit checkpoint pointers")
}

func (h *haFlags) enabled() bool { return h.peers != "" || h.replicas > 0 }

// opsFlags are the configuration-file and ops-server settings.
type opsFlags struct {
	config          string
	httpAddr        string
	shutdownTimeout time.Duration
	tokenFile       string
	tlsCert, tlsKey string
	token           string // read from tokenFile by validate; never logged
}

func (f *opsFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "read settings from this YAML file (keys are flag names, e.g. log-level: debug); flags and environment variables override it")
	fs.StringVar(&f.httpAddr, "http-addr", ops.DefaultAddr, "serve /metrics, /livez, /readyz and /api/v1/status on this address; empty disables the ops server and metrics")
	fs.DurationVar(&f.shutdownTimeout, "http-shutdown-timeout", 5*time.Second, "how long the ops server waits for requests in progress when the job ends")
	fs.StringVar(&f.tokenFile, "http-token-file", "", "file holding the bearer token that POST endpoints (POST /api/v1/savepoints) require as \"Authorization: Bearer <token>\"; without it they are disabled (403). GET endpoints need no token")
	fs.StringVar(&f.tlsCert, "http-tls-cert", "", "serve the ops endpoints over HTTPS with this certificate (PEM; needs --http-tls-key)")
	fs.StringVar(&f.tlsKey, "http-tls-key", "", "private key (PEM) of --http-tls-cert")
}

func (f *opsFlags) validate() error {
	if f.httpAddr != "" {
		if _, port, err := net.SplitHostPort(f.httpAddr); err != nil || port == "" {
			return fmt.Errorf("--http-addr %q: must be host:port or :port (e.g. %s), or empty to disable", f.httpAddr, ops.DefaultAddr)
		}
	}
	if f.shutdownTimeout <= 0 || f.shutdownTimeout > time.Hour {
		return fmt.Errorf("--http-shutdown-timeout %v: must be in (0, 1h]", f.shutdownTimeout)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return errors.New("--http-tls-cert and --http-tls-key go together: give both or neither")
	}
	if f.tlsCert != "" {
		if _, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey); err != nil {
			return fmt.Errorf("--http-tls-cert %s, --http-tls-key %s: %w", f.tlsCert, f.tlsKey, err)
		}
	}
	f.token = ""
	if f.tokenFile != "" {
		tok, err := ops.ReadToken("--http-token-file", f.tokenFile)
		if err != nil {
			return err
		}
		f.token = tok
	}
	return nil
}
