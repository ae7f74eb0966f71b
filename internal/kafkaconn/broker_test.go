package kafkaconn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/topspeed/topspeed/internal/testenv"
)

// The tests below run against the local broker's secured listeners
// (scripts/kafka/kafka.sh: SSL with a required client certificate, and
// SASL_SSL with SCRAM-SHA-512): a franz-go client built from Conn.Opts
// must produce and consume there, and a wrong setting must fail with an
// error saying why. Each case is bounded by brokerCaseTimeout.

// brokerCaseTimeout bounds each case, client start to last record.
const brokerCaseTimeout = 15 * time.Second

// brokerRecords is the number of records each round trip produces.
const brokerRecords = 20

func TestBrokerMutualTLS(t *testing.T) {
	brokers, ca, cert, key := testenv.KafkaTLS(t)
	topic := testenv.KafkaTopic(t, testenv.KafkaBrokers(t), 1)
	roundTrip(t, Conn{Brokers: brokers, TLSCA: ca, TLSCert: cert, TLSKey: key}, topic)
}

func TestBrokerSASLPasswordFile(t *testing.T) {
	brokers, user, pwFile, ca := testenv.KafkaSASL(t)
	topic := testenv.KafkaTopic(t, testenv.KafkaBrokers(t), 1)
	roundTrip(t, Conn{
		Brokers: brokers, TLSCA: ca,
		SASLMechanism: ScramSHA512, SASLUsername: user, SASLPasswordFile: pwFile,
	}, topic)
}

// TestBrokerSASLPasswordEnv takes the password from KAFKA_SASL_PASSWORD
// through FillPassword, with a password file that holds a wrong one: the
// variable must win.
func TestBrokerSASLPasswordEnv(t *testing.T) {
	brokers, user, pwFile, ca := testenv.KafkaSASL(t)
	topic := testenv.KafkaTopic(t, testenv.KafkaBrokers(t), 1)
	t.Setenv(PasswordEnv, readPassword(t, pwFile))
	c := Conn{
		Brokers: brokers, TLSCA: ca,
		SASLMechanism: ScramSHA512, SASLUsername: user, SASLPasswordFile: wrongPasswordFile(t),
	}
	c.FillPassword(nil)
	if c.SASLPassword == "" {
		t.Fatalf("FillPassword did not read %s", PasswordEnv)
	}
	roundTrip(t, c, topic)
}

func TestBrokerTLSWrongCA(t *testing.T) {
	brokers, _, cert, key := testenv.KafkaTLS(t)
	other := testenv.TLSFiles(t) // another CA, which did not sign the broker's certificate
	err := pingErr(t, Conn{Brokers: brokers, TLSCA: other.CA, TLSCert: cert, TLSKey: key})
	wantErr(t, err, "certificate signed by unknown authority")
}

func TestBrokerTLSWithoutClientCert(t *testing.T) {
	brokers, ca, _, _ := testenv.KafkaTLS(t)
	err := pingErr(t, Conn{Brokers: brokers, TLSCA: ca})
	// TLS 1.3: the broker's alert for the missing certificate arrives on
	// the first read; its text depends on the TLS version negotiated.
	wantErr(t, err, "certificate")
}

func TestBrokerPlaintextToTLSPort(t *testing.T) {
	brokers, _, _, _ := testenv.KafkaTLS(t)
	err := pingErr(t, Conn{Brokers: brokers})
	wantErr(t, err, "plaintext connection speaking to a tls endpoint")
}

func TestBrokerSASLWrongPassword(t *testing.T) {
	brokers, user, _, ca := testenv.KafkaSASL(t)
	pwFile := wrongPasswordFile(t)
	err := pingErr(t, Conn{
		Brokers: brokers, TLSCA: ca,
		SASLMechanism: ScramSHA512, SASLUsername: user, SASLPasswordFile: pwFile,
	})
	if !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("ping with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	if strings.Contains(err.Error(), readPassword(t, pwFile)) {
		t.Errorf("the error shows the password: %v", err)
	}
}

// TestBrokerSASLWrongMechanism asks for SCRAM-SHA-256, which the listener
// does not enable (the user has no SHA-256 credential either).
func TestBrokerSASLWrongMechanism(t *testing.T) {
	brokers, user, pwFile, ca := testenv.KafkaSASL(t)
	err := pingErr(t, Conn{
		Brokers: brokers, TLSCA: ca,
		SASLMechanism: ScramSHA256, SASLUsername: user, SASLPasswordFile: pwFile,
	})
	if !errors.Is(err, kerr.UnsupportedSaslMechanism) {
		t.Fatalf("ping with SCRAM-SHA-256: %v, want UNSUPPORTED_SASL_MECHANISM", err)
	}
}

// roundTrip produces brokerRecords records to topic (one partition) with a
// client built from c.Opts and reads them back, in order, with another.
func roundTrip(t *testing.T, c Conn, topic string) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), brokerCaseTimeout)
	defer cancel()
	prod := newClient(t, c)
	// A failed login or handshake makes the producer retry until ctx ends;
	// a ping first reports its cause.
	if err := prod.Ping(ctx); err != nil {
		t.Fatalf("ping over %v: %v", c, err)
	}
	want := make([]string, brokerRecords)
	for i := range want {
		want[i] = fmt.Sprintf("%s-%d", t.Name(), i)
		r := &kgo.Record{Topic: topic, Key: []byte{byte(i)}, Value: []byte(want[i])}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("producing record %d over %v: %v", i, c, err)
		}
	}
	cons := newClient(t, c, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < len(want) {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consuming over %v: %d of %d records after %s: %v", c, len(got), len(want), time.Since(start), err)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("consuming over %v: partition %d: %v", c, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("consumed %q, want %q", got, want)
	}
	t.Logf("%d records produced and consumed over %v in %s", len(got), c, time.Since(start).Round(time.Millisecond))
}

// pingErr returns the error of a Ping (a Metadata round-trip with each
// seed broker, once) with a client built from c.Opts; it fails the test if
// the ping succeeds or takes longer than brokerCaseTimeout.
func pingErr(t *testing.T, c Conn) error {
	t.Helper()
	cl := newClient(t, c, kgo.RetryTimeout(5*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), brokerCaseTimeout)
	defer cancel()
	start := time.Now()
	err := cl.Ping(ctx)
	if err == nil {
		t.Fatalf("ping over %v succeeded, want an error", c)
	}
	if ctx.Err() != nil {
		t.Fatalf("ping over %v: no answer within %s (%v), want a prompt error", c, brokerCaseTimeout, err)
	}
	t.Logf("ping over %v failed after %s: %v", c, time.Since(start).Round(time.Millisecond), err)
	return err
}

// newClient returns a client built from c.Opts plus extra, closed at the
// end of the test.
func newClient(t *testing.T, c Conn, extra ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts, err := c.Opts()
	if err != nil {
		t.Fatalf("Opts of %v: %v", c, err)
	}
	opts = append(opts, kgo.DialTimeout(5*time.Second))
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		t.Fatalf("client for %v: %v", c, err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func wantErr(t *testing.T, err error, substr string) {
	t.Helper()
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q, want it to mention %q", err, substr)
	}
}

// readPassword returns the password in file, without its trailing
// newline.
func readPassword(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(string(b), "\r\n")
}

// wrongPasswordFile writes a password the broker does not know.
func wrongPasswordFile(t *testing.T) string {
	t.Helper()
	f := t.TempDir() + "/wrong-password"
	if err := os.WriteFile(f, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
