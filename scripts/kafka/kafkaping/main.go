// Command kafkaping asks a Kafka broker for its cluster metadata: the
// readiness probe of scripts/kafka/kafka.sh, so that the dev broker needs
// neither the Kafka command-line tools nor a second JVM per probe.
//
//	kafkaping [-brokers 127.0.0.1:19092] [-timeout 5s] [-q]
//
// It succeeds when a broker answers a Metadata request (a full Kafka
// protocol round-trip) listing at least one broker and a controller. In
// KRaft mode a broker lists itself only once the controller has unfenced it,
// so success means the broker takes produce and fetch requests.
//
// Exit status: 0 ready; 1 not reachable or not ready yet; 3 usage error.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	exitOK         = 0
	exitFail       = 1
	exitUsage      = 3
	defaultBrokers = "127.0.0.1:19092"
	maxTimeout     = 10 * time.Minute
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kafkaping", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", envOr("KAFKA_BROKERS", defaultBrokers), "comma-separated host:port list ($KAFKA_BROKERS)")
	timeout := fs.Duration("timeout", 5*time.Second, "dial and request timeout (at most 10m)")
	quiet := fs.Bool("q", false, "print nothing on success")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kafkaping: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	seeds := splitList(*brokers)
	if len(seeds) == 0 {
		fmt.Fprintln(stderr, "kafkaping: -brokers is empty")
		return exitUsage
	}
	if *timeout <= 0 || *timeout > maxTimeout {
		fmt.Fprintf(stderr, "kafkaping: -timeout must be in (0, %s], got %s\n", maxTimeout, *timeout)
		return exitUsage
	}
	summary, err := ping(seeds, *timeout)
	if err != nil {
		fmt.Fprintf(stderr, "kafkaping: %s: %v\n", strings.Join(seeds, ","), err)
		return exitFail
	}
	if !*quiet {
		fmt.Fprintln(stdout, summary)
	}
	return exitOK
}

// ping sends one Metadata request and checks the answer names a broker and
// a controller; it returns a one-line summary.
func ping(seeds []string, timeout time.Duration) (string, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.DialTimeout(timeout),
		kgo.RequestTimeoutOverhead(timeout),
		kgo.RequestRetries(0),
		kgo.RetryTimeout(timeout),
	)
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
