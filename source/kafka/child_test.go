package kafka

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/topspeed/topspeed/internal/kafkaconn"
	"github.com/topspeed/topspeed/internal/testenv"
)

// The lost-partition test runs a member in a child process (this test
// binary, re-executed) that it can stop with SIGSTOP, as a paused pod.

const childEnv = "TOPSPEED_KAFKA_TEST_CHILD"

// childHandler prints each Handler call on stdout, one line each:
// "assigned GEN P,P,..." and "revoked LOST P,P,...". After a loss it
// commits with the generation it lost and prints "zombie-commit ERR".
type childHandler struct {
	m   *Member
	out *bufio.Writer
	mu  sync.Mutex
	gen int32
}

func (h *childHandler) say(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(h.out, format+"\n", args...)
	h.out.Flush()
}

func joinParts(parts []int32) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}

func (h *childHandler) Assigned(ctx context.Context, gen int32, parts []int32) (map[int32]int64, error) {
	h.mu.Lock()
	h.gen = gen
	h.mu.Unlock()
	h.say("assigned %d %s", gen, joinParts(parts))
	return nil, nil
}

func (h *childHandler) Revoked(ctx context.Context, parts []int32, lost bool) {
	h.say("revoked %v %s", lost, joinParts(parts))
}

// runChild runs the child member until SIGTERM; the parent passes the
// broker, topic and group in the environment.
func runChild() int {
	cfg := DefaultConfig()
	cfg.Conn = kafkaconn.Conn{Brokers: strings.Split(os.Getenv("KAFKA_BROKERS"), ",")}
	cfg.Topic, cfg.Group = os.Getenv("CHILD_TOPIC"), os.Getenv("CHILD_GROUP")
	cfg.SessionTimeout, cfg.RebalanceTimeout = 2*time.Second, 5*time.Second
	h := &childHandler{out: bufio.NewWriter(os.Stdout)}
	m, err := NewMember(cfg, h)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	h.m = m
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// Watch for the loss from outside the callbacks, as a runner's
	// checkpoint would: commit with the generation the member had.
	go func() {
		last := int32(-1)
		for ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
			h.mu.Lock()
			gen := h.gen
			h.mu.Unlock()
			if m.Generation() == -1 && gen > 0 && gen != last {
				last = gen
				m.mu.Lock()
				cl := m.cl
				m.mu.Unlock()
				if cl != nil {
					err := m.commitAt(ctx, cl, gen, map[int32]int64{0: 1})
					h.say("zombie-commit %v", err)
				}
			}
		}
	}()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestLostAfterPause: a member stopped (SIGSTOP) for longer than its
// session timeout loses its partitions to the other member; once resumed
// it is told Revoked(lost=true), and a commit with its old generation is
// refused by the broker.
func TestLostAfterPause(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.KafkaTopic(t, brokers, 8)
	group := topic + "-g"

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "KAFKA_BROKERS="+strings.Join(brokers, ","),
		"CHILD_TOPIC="+topic, "CHILD_GROUP="+group)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := testenv.StartChild(t, cmd); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	defer func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
		for range lines {
		}
		if t.Failed() {
			t.Logf("child stderr:\n%s", stderr.String())
		}
	}()
	expect := func(prefix string, d time.Duration) string {
		t.Helper()
		timeout := time.After(d)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the child ended before %q", prefix)
				}
				t.Logf("child: %s", l)
				if strings.HasPrefix(l, prefix) {
					return l
				}
			case <-timeout:
				t.Fatalf("no %q from the child within %v", prefix, d)
			}
		}
	}
	expect("assigned ", 30*time.Second)

	cfg := brokerConfig(t, topic, group)
	cfg.SessionTimeout, cfg.RebalanceTimeout = 2*time.Second, 5*time.Second
	hb := &plainHandler{assigned: make(chan []int32, 10), revoked: make(chan []int32, 10)}
	b := startMemberPlain(t, cfg, hb)
	gave := expect("revoked false ", 30*time.Second)
	waitFor(t, 20*time.Second, "b owning what the child gave up", func() bool { return len(b.Owned()) > 0 && len(b.Owned()) < 8 })
	childParts := 8 - len(b.Owned())
	t.Logf("the child gave up %s and keeps %d partitions", gave, childParts)

	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitFor(t, 30*time.Second, "b owning all 8 partitions while the child is stopped", func() bool { return len(b.Owned()) == 8 })
	t.Logf("b owns everything %v after SIGSTOP", time.Since(stopped).Round(time.Millisecond))
	if d := time.Since(stopped); d < 2*time.Second {
		t.Fatalf("partitions moved %v after SIGSTOP, before the 2 s session timeout", d)
	}
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	lost := expect("revoked true ", 20*time.Second)
	if n := len(strings.Split(strings.TrimPrefix(lost, "revoked true "), ",")); n != childParts {
		t.Fatalf("the child lost %q, want its %d partitions", lost, childParts)
	}
	zc := expect("zombie-commit ", 20*time.Second)
	if !strings.Contains(zc, "fenced") {
		t.Fatalf("the zombie's commit: %q, want it fenced", zc)
	}
}
