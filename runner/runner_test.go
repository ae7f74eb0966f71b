package runner_test

import (
	"bytes"
	"context"
	"fmt"
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

	"github.com/spf13/pflag"
	"go.uber.org/goleak"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/runner"
	"github.com/topspeed/topspeed/sink"
	"github.com/topspeed/topspeed/source"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// slow is a stateful source of 0..n-1, 10 per batch, that sleeps *delay
// before each batch.
type slow struct {
	*source.Slice[int]
	delay *time.Duration
}

func (s slow) Read(ctx context.Context, buf []int) (int, error) {
	time.Sleep(*s.delay)
	return s.Slice.Read(ctx, buf)
}

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }

// numbers is a job that writes 0..n-1 to --output (part files published
// at checkpoints with --checkpoint-dir) or stdout. src, if set, replaces
// its source.
func numbers(n int, fingerprint string, src engine.Source[int]) runner.Job {
	var out, name string
	var delay time.Duration
	ints := make([]int, n)
	for i := range ints {
		ints[i] = i
	}
	return runner.Job{
		Name: "numbers",
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&out, "output", "", "output directory (with checkpoints)")
			fs.DurationVar(&delay, "delay", 0, "sleep before each batch of 10")
			fs.StringVar(&name, "source-name", "numbers", "the source stage's name")
		},
		Fingerprint: func() string { return fingerprint },
		Build: func(env runner.BuildEnv) (*engine.Pipeline, error) {
			p := env.NewPipeline(engine.WithParallelism(1))
			s := src
			if s == nil {
				s = slow{Slice: source.NewSlice(ints).WithMaxBatch(10), delay: &delay}
			}
			in := engine.FromSource(p, name, runner.Source(env, s), engine.NoWatermarks[int]())
			var snk engine.Sink[int] = sink.NewWriter("stdout", env.Stdout, appendInt)
			if env.Checkpoints {
				snk = sink.NewParts(out, appendInt)
			}
			engine.ToSink(in, "output", snk)
			return p, nil
		},
	}
}

// result is one in-process Run.
type result struct {
	code           int
	stdout, stderr string
}

// run runs job in-process with only the environment variables in vars
// (and no ops server), its signals from sigs (nil: none).
func run(ctx context.Context, job runner.Job, vars map[string]string, sigs chan os.Signal, args ...string) result {
	var out, errs bytes.Buffer
	env := runner.Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errs, Signals: sigs,
		LookupEnv: func(k string) (string, bool) {
			if v, ok := vars[k]; ok {
				return v, true
			}
			return "", k == "NUMBERS_HTTP_ADDR"
		},
	}
	if sigs == nil {
		env.Signals = make(chan os.Signal) // never: leave the process's signals alone
	}
	code := runner.Run(ctx, job, args, env)
	return result{code, out.String(), errs.String()}
}

// parts reads the published part files in order.
func parts(t *testing.T, dir string) []string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "part-*"))
	var lines []string
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Fields(string(b))...)
	}
	return lines
}

func wantNumbers(t *testing.T, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d records, want %d", len(got), n)
	}
	for i, s := range got {
		if s != strconv.Itoa(i) {
			t.Fatalf("record %d is %s: lost or repeated records", i, s)
		}
	}
}

// The first signal stops the job with a final checkpoint; the next run
// restores it and writes exactly the rest.
func TestStopWithCheckpointThenRestore(t *testing.T) {
	dir := t.TempDir()
	const n = 20_000
	args := []string{"--checkpoint-dir", filepath.Join(dir, "ck"), "--output", filepath.Join(dir, "out"), "--checkpoint-interval", "50ms"}
	sigs := make(chan os.Signal, 1)
	go func() { time.Sleep(300 * time.Millisecond); sigs <- syscall.SIGTERM }()
	r := run(context.Background(), numbers(n, "v1", nil), nil, sigs, append(args, "--delay", "1ms")...)
	if r.code != runner.ExitOK || !strings.Contains(r.stderr, "stopped with a final checkpoint") {
		t.Fatalf("exit %d, want a final checkpoint:\n%s", r.code, r.stderr)
	}
	if got := len(parts(t, filepath.Join(dir, "out"))); got == 0 || got >= n {
		t.Fatalf("the stopped run published %d of %d records", got, n)
	}
	r = run(context.Background(), numbers(n, "v1", nil), nil, nil, args...)
	if r.code != runner.ExitOK || !strings.Contains(r.stderr, "restoring from checkpoint") {
		t.Fatalf("exit %d, want a restore:\n%s", r.code, r.stderr)
	}
	wantNumbers(t, parts(t, filepath.Join(dir, "out")), n)

	// A job whose fingerprint changed refuses the checkpoint.
	r = run(context.Background(), numbers(n, "v2", nil), nil, nil, args...)
	if r.code != runner.ExitFailure || !strings.Contains(r.stderr, "numbers: checkpoint: incompatible") {
		t.Fatalf("exit %d, want the incompatible checkpoint named:\n%s", r.code, r.stderr)
	}
}

// A checkpoint holding state no stage claims (the source was renamed) is
// refused, naming the flag that drops that state.
func TestAllowNonRestoredState(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--checkpoint-dir", filepath.Join(dir, "ck"), "--output", filepath.Join(dir, "out"), "--checkpoint-interval", "20ms"}
	sigs := make(chan os.Signal, 1)
	go func() { time.Sleep(200 * time.Millisecond); sigs <- syscall.SIGTERM }()
	if r := run(context.Background(), numbers(50_000, "", nil), nil, sigs, append(args, "--delay", "1ms")...); r.code != runner.ExitOK {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	args = append(args, "--source-name", "renamed")
	r := run(context.Background(), numbers(50_000, "", nil), nil, nil, args...)
	if r.code != runner.ExitFailure || !strings.Contains(r.stderr, "state no stage claims") || !strings.Contains(r.stderr, "--allow-non-restored-state") {
		t.Fatalf("exit %d, want the restore refused and the flag named:\n%s", r.code, r.stderr)
	}
	r = run(context.Background(), numbers(50_000, "", nil), nil, nil, append(args, "--allow-non-restored-state")...)
	if r.code != runner.ExitOK || !strings.Contains(r.stderr, `"numbers"`) {
		t.Fatalf("exit %d, want the dropped source state logged:\n%s", r.code, r.stderr)
	}
}

// The job's name is its metrics' namespace.
func TestMetricsNamespace(t *testing.T) {
	addr := freeAddr(t)
	job := numbers(100_000, "", nil)
	job.Name = "word-count"
	sigs := make(chan os.Signal, 1)
	var body string
	go func() {
		defer func() { sigs <- syscall.SIGTERM }()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if body = string(b); strings.Contains(body, "records_in_total") {
				return
			}
		}
	}()
	r := run(context.Background(), job, nil, sigs, "--http-addr", addr, "--delay", "1ms")
	if r.code != runner.ExitOK {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	for _, w := range []string{"word_count_records_in_total{", "word_count_build_info{", "word_count_ready "} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %s:\n%s", w, body)
		}
	}
	if strings.Contains(body, "topspeed_") {
		t.Errorf("/metrics has topspeed_ names:\n%s", body)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// blocked is a source whose Read waits for its context: a graceful stop
// never completes.
var blocked = source.Func[int](func(ctx context.Context, _ []int) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
})

func TestSecondSignalAborts(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	go func() {
		time.Sleep(100 * time.Millisecond)
		sigs <- syscall.SIGTERM
		time.Sleep(100 * time.Millisecond)
		sigs <- syscall.SIGINT
	}()
	r := run(context.Background(), numbers(0, "", blocked), nil, sigs)
	if r.code != runner.ExitFailure || !strings.Contains(r.stderr, "aborting") {
		t.Fatalf("exit %d, want an abort:\n%s", r.code, r.stderr)
	}
}

func TestCancelAborts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if r := run(ctx, numbers(0, "", blocked), nil, nil); r.code != runner.ExitFailure {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
}

// With --checkpoint-dir every source must be checkpointable: a restore
// would replay another one's input from the start.
func TestStatelessSourceRefused(t *testing.T) {
	r := run(context.Background(), numbers(0, "", blocked), nil, nil, "--checkpoint-dir", t.TempDir())
	if r.code != runner.ExitUsage || !strings.Contains(r.stderr, "cannot be checkpointed") {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
}

// A job's flags and the runner's are set by NAME_ variables and listed by
// --help with them.
func TestEnvironmentAndHelp(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"NUMBERS_OUTPUT": filepath.Join(dir, "out"), "NUMBERS_CHECKPOINT_DIR": filepath.Join(dir, "ck")}
	if r := run(context.Background(), numbers(50, "", nil), vars, nil); r.code != runner.ExitOK || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q:\n%s", r.code, r.stdout, r.stderr)
	}
	wantNumbers(t, parts(t, filepath.Join(dir, "out")), 50)

	r := run(context.Background(), numbers(0, "", nil), nil, nil, "--help")
	for _, w := range []string{"--output", "[NUMBERS_OUTPUT]", "--checkpoint-dir", "[NUMBERS_CHECKPOINT_DIR]", "--ha-peers", "--http-addr",
		"--log-level", "(default numbers-raft)", "numbers version"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("--help lacks %q:\n%s", w, r.stderr)
		}
	}
	if r := run(context.Background(), numbers(0, "", nil), nil, nil, "--delay", "soon"); r.code != runner.ExitUsage || !strings.HasPrefix(r.stderr, "numbers: ") {
		t.Fatalf("bad flag: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestParse(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "numbers.yaml")
	if err := os.WriteFile(cfg, []byte("log:\n  level: warn\ndelay: 2s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"NUMBERS_DELAY": "3s"}
	s, err := runner.Parse(numbers(0, "", nil), []string{"--config", cfg}, func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if s.Value("log-level") != "warn" || s.Origin("log-level") != "config file "+cfg {
		t.Errorf("log-level %q from %q", s.Value("log-level"), s.Origin("log-level"))
	}
	if s.Value("delay") != "3s" || s.Origin("delay") != "environment variable NUMBERS_DELAY" {
		t.Errorf("delay %q from %q", s.Value("delay"), s.Origin("delay"))
	}
}

// One replica is a whole raft cluster: it leads, runs the job from the
// committed checkpoint (none), and exits once the input has ended.
func TestHASingleReplica(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	r := run(context.Background(), numbers(500, "", nil), nil, nil,
		"--ha-peers", "r0="+addr, "--ha-id", "r0", "--ha-bind", addr, "--ha-dir", filepath.Join(dir, "raft"),
		"--ha-heartbeat-timeout", "200ms", "--ha-election-timeout", "200ms", "--ha-lease-timeout", "200ms",
		"--checkpoint-dir", filepath.Join(dir, "ck"), "--output", filepath.Join(dir, "out"))
	if r.code != runner.ExitOK {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	for _, w := range []string{"leader: no committed checkpoint", "first record processed", "the job has finished: exiting"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("logs lack %q:\n%s", w, r.stderr)
		}
	}
	wantNumbers(t, parts(t, filepath.Join(dir, "out")), 500)
}

func ExampleParse() {
	var window time.Duration
	job := runner.Job{
		Name:  "clicks",
		Flags: func(fs *pflag.FlagSet) { fs.DurationVar(&window, "window", time.Minute, "window size") },
		Build: func(runner.BuildEnv) (*engine.Pipeline, error) { return nil, nil },
	}
	env := map[string]string{"CLICKS_WINDOW": "5m"}
	s, err := runner.Parse(job, []string{"--log-level", "debug"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(window, s.Origin("window"))
	fmt.Println(s.Value("log-level"), s.Origin("log-level") == "")
	// Output:
	// 5m0s environment variable CLICKS_WINDOW
	// debug true
}
