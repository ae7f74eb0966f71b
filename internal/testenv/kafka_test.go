package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseBrokers(t *testing.T) {
	for in, want := range map[string][]string{
		"":                              nil,
		" , ":                           nil,
		"127.0.0.1:19092":               {"127.0.0.1:19092"},
		"a:1, b:2 ,,c:3":                {"a:1", "b:2", "c:3"},
		"localhost:9092,localhost:9093": {"localhost:9092", "localhost:9093"},
	} {
		if got := parseBrokers(in); !reflect.DeepEqual(got, want) {
			t.Errorf("parseBrokers(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUniqueTopicName(t *testing.T) {
	valid := regexp.MustCompile(`^test-[A-Za-z0-9._-]+-[0-9a-f]{16}$`)
	for _, name := range []string{"TestX", "TestY/sub case#1", strings.Repeat("ü", 300), ""} {
		a, b := uniqueTopicName(name), uniqueTopicName(name)
		if a == b {
			t.Errorf("two names for %q are equal: %s", name, a)
		}
		if len(a) > 200 || (name != "" && !valid.MatchString(a)) {
			t.Errorf("uniqueTopicName(%q) = %q: not a valid topic name of at most 200 characters", name, a)
		}
	}
	if got := uniqueTopicName("TestY/sub case#1"); !strings.HasPrefix(got, "test-TestY_sub_case_1-") {
		t.Errorf("uniqueTopicName kept no readable test name: %s", got)
	}
}

// TestKafkaTopicProduceConsume creates a topic on the real broker, produces
// keyed records to it and reads them all back, then checks the topic is
// deleted at cleanup.
func TestKafkaTopicProduceConsume(t *testing.T) {
	brokers := KafkaBrokers(t)
	var topic string
	t.Run("roundtrip", func(t *testing.T) {
		topic = KafkaTopic(t, brokers, 3)
		const n = 30
		want := produce(t, brokers, topic, n)
		got := consume(t, brokers, topic, kgo.ReadUncommitted(), n)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("consumed %q, want %q", got, want)
		}
		parts := map[int32]bool{}
		for _, r := range got {
			parts[r.partition] = true
		}
		if len(parts) < 2 {
			t.Errorf("%d keys landed in %d of 3 partitions: the topic's partitions are not used", n, len(parts))
		}
	})
	if topic == "" {
		return
	}
	assertTopicGone(t, brokers, topic)
}

// TestKafkaTransactions checks the broker runs the transaction coordinator
// (the Kafka sink may use transactions): a read_committed consumer sees a
// committed batch and not an aborted one.
func TestKafkaTransactions(t *testing.T) {
	brokers := KafkaBrokers(t)
	topic := KafkaTopic(t, brokers, 2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.TransactionalID("testenv-"+topic),
		kgo.DefaultProduceTopic(topic),
		kgo.TransactionTimeout(30*time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	txn := func(prefix string, commit bool) {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		for i := range 5 {
			r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce in transaction: %v", err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction (commit=%v): %v", commit, err)
		}
	}
	txn("aborted", false)
	txn("committed", true)
	got := consume(t, brokers, topic, kgo.ReadCommitted(), 5)
	for _, r := range got {
		if !strings.HasPrefix(r.value, "committed-") {
			t.Errorf("read_committed consumer got %q from partition %d", r.value, r.partition)
		}
	}
}

// TestKafkaShortGroupSession checks the broker lets a consumer group member
// use a 2 s session timeout (tests of group rebalances need one; Kafka's
// default minimum is 6 s) and that the group reads every record.
func TestKafkaShortGroupSession(t *testing.T) {
	brokers := KafkaBrokers(t)
	topic := KafkaTopic(t, brokers, 2)
	want := produce(t, brokers, topic, 10)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup("testenv-"+topic), kgo.SessionTimeout(2*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var got []rec
	for len(got) < len(want) {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("group consumer with a 2 s session timeout after %d of %d records: %v", len(got), len(want), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, rec{string(r.Key), string(r.Value), r.Partition})
		})
	}
	sortRecs(got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("group consumed %q, want %q", got, want)
	}
}

type rec struct {
	key, value string
	partition  int32
}

// produce writes n keyed records and returns them sorted by key, with the
// partition each went to.
func produce(t *testing.T, brokers []string, topic string, n int) []rec {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "car-%03d", i), Value: fmt.Appendf(nil, "(%d,100,1.5,%d)", i, 1000*i)})
	}
	res := cl.ProduceSync(ctx, rs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	var out []rec
	for _, pr := range res {
		out = append(out, rec{string(pr.Record.Key), string(pr.Record.Value), pr.Record.Partition})
	}
	sortRecs(out)
	return out
}

// consume reads the topic from the start until it has n records (and
// briefly more, to catch extra ones), sorted by key.
func consume(t *testing.T, brokers []string, topic string, iso kgo.IsolationLevel, n int) []rec {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(time.Minute)
	var out []rec
	for extra := 0; extra < 2; {
		if len(out) >= n {
			extra++ // a couple more polls: more than n records is a failure too
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumed %d of %d records from %s within a minute", len(out), n, topic)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		for _, e := range fs.Errors() {
			if e.Err != context.DeadlineExceeded {
				t.Fatalf("fetch %s[%d]: %v", e.Topic, e.Partition, e.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, rec{string(r.Key), string(r.Value), r.Partition})
		})
	}
	if len(out) != n {
		t.Fatalf("consumed %d records from %s, want %d", len(out), topic, n)
	}
	sortRecs(out)
	return out
}

func sortRecs(rs []rec) {
	slices.SortFunc(rs, func(a, b rec) int { return strings.Compare(a.key+"\x00"+a.value, b.key+"\x00"+b.value) })
}

// assertTopicGone checks KafkaTopic's cleanup deleted the topic.
func assertTopicGone(t *testing.T, brokers []string, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatalf("listing topics: %v", err)
	}
	if topics.Has(topic) {
		t.Errorf("topic %s still exists after its test ended", topic)
	}
}

// TestKafkaSecureEnvMissing checks KafkaTLS and KafkaSASL skip, naming the
// variable, when one of their variables is unset and servers are not
// required.
func TestKafkaSecureEnvMissing(t *testing.T) {
	t.Setenv("TOPSPEED_REQUIRE_SERVERS", "")
	t.Setenv("KAFKA_TLS_BROKERS", "127.0.0.1:1")
	t.Setenv("KAFKA_SASL_BROKERS", " , ")
	t.Setenv("KAFKA_TLS_CA", "")
	for name, call := range map[string]func(testing.TB){
		"tls":  func(t testing.TB) { KafkaTLS(t) },
		"sasl": func(t testing.TB) { KafkaSASL(t) },
	} {
		var sub *testing.T
		reached := false
		t.Run(name, func(t *testing.T) {
			sub = t
			call(t)
			reached = true
		})
		if reached || !sub.Skipped() {
			t.Errorf("%s: not skipped with its variables unset (reached the end: %v)", name, reached)
		}
	}
}

// TestKafkaTLSListener checks what KafkaTLS returns: a client certificate
// that chains to the CA, and a broker whose certificate the CA verifies
// for the broker's address in a TLS handshake that presents it.
func TestKafkaTLSListener(t *testing.T) {
	brokers, ca, cert, key := KafkaTLS(t)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatalf("KAFKA_TLS_CERT/KAFKA_TLS_KEY: %v", err)
	}
	roots := caPool(t, ca)
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the client certificate does not chain to KAFKA_TLS_CA for client auth: %v", err)
	}
	handshake(t, brokers[0], &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
}

// TestKafkaSASLListener checks what KafkaSASL returns: a non-empty
// password file readable by its owner only, and a broker whose certificate
// the CA verifies without a client certificate.
func TestKafkaSASLListener(t *testing.T) {
	brokers, user, pwFile, ca := KafkaSASL(t)
	if user == "" {
		t.Fatal("KafkaSASL returned no user")
	}
	fi, err := os.Stat(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 || fi.Size() == 0 {
		t.Errorf("KAFKA_SASL_PASSWORD_FILE %s: mode %v, %d bytes; want 0600 or stricter and not empty", pwFile, fi.Mode().Perm(), fi.Size())
	}
	handshake(t, brokers[0], &tls.Config{RootCAs: caPool(t, ca), MinVersion: tls.VersionTLS12})
}

func caPool(t *testing.T, ca string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s: no PEM certificate", ca)
	}
	return pool
}

// handshake completes a TLS handshake with addr, verifying its certificate
// for addr's host, within 10 s.
func handshake(t *testing.T, addr string, cfg *tls.Config) {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerName = host
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer c.Close()
	if st := c.(*tls.Conn).ConnectionState(); len(st.VerifiedChains) == 0 {
		t.Errorf("TLS handshake with %s: no verified chain", addr)
	}
}
