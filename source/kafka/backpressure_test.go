package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/topspeed/topspeed/internal/testenv"
)

// TestBackpressure: a partition whose queue is full stops being fetched
// (records written meanwhile stay in Kafka) and resumes once its reader
// drains it; every record arrives once, in order, and the other
// partitions keep flowing. The bound is soft by one fetch (up to the
// fetch's per-partition byte limit), whose size depends on how much the
// broker had: after a resume, the queue is not compared with the first
// fetch's size (a CI run saw 668 records in the first and 3,325 after).
func TestBackpressure(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.KafkaTopic(t, brokers, 2)
	prod := producer(t, brokers)
	cfg := brokerConfig(t, topic, topic+"-g")
	cfg.QueueRecords = 16
	h := &plainHandler{assigned: make(chan []int32, 10)}
	m := startMemberPlain(t, cfg, h)
	<-h.assigned
	p0, ok0 := m.Partition(0)
	p1, ok1 := m.Partition(1)
	if !ok0 || !ok1 {
		t.Fatal("partitions not owned")
	}
	produce(t, prod, topic, 0, seq(0, 2000)...)
	waitFor(t, 10*time.Second, "partition 0's queue filling", func() bool { return p0.Queued() >= cfg.QueueRecords })
	time.Sleep(300 * time.Millisecond)
	full := p0.Queued()
	produce(t, prod, topic, 0, seq(2000, 4000)...)
	produce(t, prod, topic, 1, seq(0, 10)...)
	waitFor(t, 10*time.Second, "partition 1 flowing while 0 is paused", func() bool { return p1.Queued() == 10 })
	time.Sleep(time.Second) // several fetch rounds (FetchMaxWait 500 ms)
	if q := p0.Queued(); q != full {
		t.Fatalf("partition 0 queued %d -> %d records while paused", full, q)
	}
	if lag := p0.Lag(); lag < int64(full) {
		t.Fatalf("lag %d with %d queued", lag, full)
	}
	t.Logf("paused with %d records queued (bound %d)", full, cfg.QueueRecords)

	s := NewSource(p0, parseInt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	buf := make([]int64, 7)
	want := int64(0)
	for want < 4000 {
		n, err := s.Read(ctx, buf)
		if err != nil {
			t.Fatalf("Read after %d records: %v", want, err)
		}
		for _, v := range buf[:n] {
			if v != want {
				t.Fatalf("read %d, want %d", v, want)
			}
			want++
		}
	}
	waitFor(t, 10*time.Second, "lag 0", func() bool { return p0.Lag() == 0 && p0.HighWatermark() == 4000 })
}
