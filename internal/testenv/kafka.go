package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// MaxKafkaTopicPartitions bounds KafkaTopic's partition count.
const MaxKafkaTopicPartitions = 1000

// kafkaAdminTimeout bounds each admin step of KafkaTopic (create, wait for
// leaders, delete).
const kafkaAdminTimeout = 30 * time.Second

// KafkaBrokers returns the seed brokers of the local Kafka from
// KAFKA_BROKERS (comma-separated host:port), as exported by
// `eval "$(make -s kafka-up)"`. Without it the test is skipped, or failed
// when TOPSPEED_REQUIRE_SERVERS=1 (make test).
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	brokers := parseBrokers(os.Getenv("KAFKA_BROKERS"))
	if len(brokers) == 0 {
		missing(t, `no Kafka broker: KAFKA_BROKERS is unset; run eval "$(make -s kafka-up)" first, or make test`)
	}
	return brokers
}

// KafkaTLS returns the local broker's mutual-TLS listener from
// KAFKA_TLS_BROKERS, the CA its certificate chains to (KAFKA_TLS_CA), and
// the client certificate and key it requires (KAFKA_TLS_CERT,
// KAFKA_TLS_KEY), as exported by `eval "$(make -s kafka-up)"`. Without them
// the test is skipped, or failed when TOPSPEED_REQUIRE_SERVERS=1 (make
// test); a variable naming a missing file fails the test.
func KafkaTLS(t testing.TB) (brokers []string, ca, cert, key string) {
	t.Helper()
	v := kafkaEnv(t, "mutual-TLS listener", "KAFKA_TLS_BROKERS", "KAFKA_TLS_CA", "KAFKA_TLS_CERT", "KAFKA_TLS_KEY")
	return parseBrokers(v[0]), v[1], v[2], v[3]
}

// KafkaSASL returns the local broker's SASL_SSL listener from
// KAFKA_SASL_BROKERS, the SCRAM-SHA-512 user (KAFKA_SASL_USERNAME), the
// file holding its password (KAFKA_SASL_PASSWORD_FILE) and the CA the
// listener's certificate chains to (KAFKA_TLS_CA), as exported by
// `eval "$(make -s kafka-up)"`; the listener asks for no client
// certificate. Skip and fail as KafkaTLS.
func KafkaSASL(t testing.TB) (brokers []string, user, passwordFile, ca string) {
	t.Helper()
	v := kafkaEnv(t, "SASL_SSL listener", "KAFKA_SASL_BROKERS", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD_FILE", "KAFKA_TLS_CA")
	return parseBrokers(v[0]), v[1], v[2], v[3]
}

// kafkaEnv returns the values of names, in order: the first a broker
// list, the others a plain value (_USERNAME) or a file that must exist.
// An unset or empty variable (or an empty broker list) is reported by
// missing; a missing file fails the test.
func kafkaEnv(t testing.TB, what string, names ...string) []string {
	t.Helper()
	vals := make([]string, len(names))
	for i, n := range names {
		vals[i] = strings.TrimSpace(os.Getenv(n))
		if vals[i] == "" || (i == 0 && len(parseBrokers(vals[i])) == 0) {
			missing(t, fmt.Sprintf(`no %s of the local Kafka: %s is unset or empty; run eval "$(make -s kafka-up)" first, or make test`, what, n))
		}
	}
	for i, n := range names[1:] {
		if strings.HasSuffix(n, "_USERNAME") {
			continue
		}
		if _, err := os.Stat(vals[i+1]); err != nil {
			t.Fatalf("%s of the local Kafka: %s: %v (run make kafka-up again)", what, n, err)
		}
	}
	return vals
}

// parseBrokers splits a comma-separated broker list, dropping blanks.
func parseBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// KafkaTopic creates a topic with a unique name (from the test's name and
// random bytes) and the given number of partitions, replication factor 1,
// on brokers, and waits until every partition has a leader. The topic is
// deleted when the test and its subtests end (t.Cleanup); a failed delete
// is only logged. It fails the test if partitions is outside
// [1, MaxKafkaTopicPartitions] or the topic cannot be created. Safe to call
// from parallel tests.
func KafkaTopic(t testing.TB, brokers []string, partitions int) string {
	t.Helper()
	if partitions < 1 || partitions > MaxKafkaTopicPartitions {
		t.Fatalf("KafkaTopic: partitions must be in [1, %d], got %d", MaxKafkaTopicPartitions, partitions)
	}
	adm := newKafkaAdmin(t, brokers)
	topic := uniqueTopicName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), kafkaAdminTimeout)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, int32(partitions), 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("KafkaTopic: creating topic %s (%d partitions) on %v: %v", topic, partitions, brokers, err)
	}
	t.Cleanup(func() { deleteKafkaTopic(t, adm, topic) })
	if err := waitForLeaders(ctx, adm, topic, partitions); err != nil {
		t.Fatalf("KafkaTopic: topic %s: %v", topic, err)
	}
	return topic
}

// newKafkaAdmin returns an admin client on brokers, closed at t.Cleanup.
func newKafkaAdmin(t testing.TB, brokers []string) *kadm.Client {
	t.Helper()
	if len(brokers) == 0 {
		t.Fatal("KafkaTopic: no brokers")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RetryTimeout(kafkaAdminTimeout))
	if err != nil {
		t.Fatalf("KafkaTopic: client for %v: %v", brokers, err)
	}
	// Registered before the topic's delete, so it runs after it (LIFO).
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// waitForLeaders polls the topic's metadata until its partitions all have
// a leader, or ctx ends.
func waitForLeaders(ctx context.Context, adm *kadm.Client, topic string, partitions int) error {
	var last error
	for {
		last = leadersReady(ctx, adm, topic, partitions)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("partitions without a leader after %s: %w", kafkaAdminTimeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func leadersReady(ctx context.Context, adm *kadm.Client, topic string, partitions int) error {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return err
	}
	td, ok := md.Topics[topic]
	if !ok {
		return fmt.Errorf("not in metadata yet")
	}
	if td.Err != nil {
		return td.Err
	}
	if len(td.Partitions) != partitions {
		return fmt.Errorf("metadata lists %d of %d partitions", len(td.Partitions), partitions)
	}
	for p, pd := range td.Partitions {
		if pd.Err != nil || pd.Leader < 0 {
			return fmt.Errorf("partition %d: leader %d, error %v", p, pd.Leader, pd.Err)
		}
	}
	return nil
}

func deleteKafkaTopic(t testing.TB, adm *kadm.Client, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), kafkaAdminTimeout)
	defer cancel()
	resp, err := adm.DeleteTopic(ctx, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Logf("KafkaTopic: deleting topic %s: %v (left on the broker)", topic, err)
	}
}

// uniqueTopicName returns "test-<name>-<16 hex digits>": name with every
// character outside [A-Za-z0-9._-] replaced by '_' (a Kafka topic name
// allows only those), cut so the whole stays within 200 characters (Kafka
// allows 249).
func uniqueTopicName(name string) string {
	const maxName = 200 - len("test-") - 1 - 16
	var b strings.Builder
	for _, r := range name {
		if b.Len() >= maxName {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:]) // never fails since Go 1.24 (it crashes the program instead)
	return "test-" + b.String() + "-" + hex.EncodeToString(rnd[:])
}
