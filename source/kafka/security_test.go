package kafka

import (
	"testing"
	"time"

	"github.com/topspeed/topspeed/internal/kafkaconn"
	"github.com/topspeed/topspeed/internal/testenv"
)

// TestSecuredListeners runs a Member, with the client options it builds
// on top of Config.Conn, on the local broker's secured listeners: mutual
// TLS, and SASL_SSL with SCRAM-SHA-512 (the password from its file). It
// must join its group, get both partitions and read every record, as on
// the plaintext listener.
func TestSecuredListeners(t *testing.T) {
	plain := testenv.KafkaBrokers(t)
	tlsBrokers, ca, cert, key := testenv.KafkaTLS(t)
	saslBrokers, user, pwFile, saslCA := testenv.KafkaSASL(t)
	for name, conn := range map[string]kafkaconn.Conn{
		"mtls": {Brokers: tlsBrokers, TLSCA: ca, TLSCert: cert, TLSKey: key},
		"sasl-scram-sha-512": {Brokers: saslBrokers, TLSCA: saslCA,
			SASLMechanism: kafkaconn.ScramSHA512, SASLUsername: user, SASLPasswordFile: pwFile},
	} {
		t.Run(name, func(t *testing.T) {
			topic := testenv.KafkaTopic(t, plain, 2)
			prod := producer(t, plain)
			for p := range int32(2) {
				produce(t, prod, topic, p, seq(0, 10)...)
			}
			cfg := brokerConfig(t, topic, topic+"-g")
			conn.ClientID = cfg.Conn.ClientID
			cfg.Conn = conn
			st := newStore()
			h := newTestHandler(t, name, st)
			startMember(t, cfg, h)
			if e := nextEvent(t, h, 20*time.Second); !e.assigned || len(e.parts) != 2 {
				t.Fatalf("first event %+v, want both partitions assigned", e)
			}
			waitFor(t, 15*time.Second, "20 records read over "+conn.String(), func() bool { return len(st.deliveries()) == 20 })
			if got, want := firstValues(st.deliveries()), map[int32]int64{0: 0, 1: 0}; !mapsEqual(got, want) {
				t.Fatalf("first offsets read %v, want %v", got, want)
			}
			h.checkNoErrors()
		})
	}
}
