package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/topspeed/topspeed/internal/kafkaconn"
	"github.com/topspeed/topspeed/source"
	"github.com/topspeed/topspeed/source/kafka"
)

// tasks runs one task per owned partition. checkpointed stands for the
// runner's checkpoint store: the next offset of each partition's newest
// completed checkpoint (from kafka.DecodeState of its source state).
type tasks struct {
	m            *kafka.Member
	mu           sync.Mutex
	checkpointed map[int32]int64
	running      map[int32]chan struct{}
}

func (ts *tasks) Assigned(ctx context.Context, gen int32, parts []int32) (map[int32]int64, error) {
	next := make(map[int32]int64)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, p := range parts {
		if off, ok := ts.checkpointed[p]; ok {
			next[p] = off
		}
		done := make(chan struct{})
		ts.running[p] = done
		go ts.run(p, done) // not inside Assigned: Partition waits for it to return
	}
	return next, nil
}

func (ts *tasks) Revoked(ctx context.Context, parts []int32, lost bool) {
	for _, p := range parts {
		ts.mu.Lock()
		done := ts.running[p]
		delete(ts.running, p)
		ts.mu.Unlock()
		<-done // the task's source returned ErrRevoked: nothing reads p any more
	}
}

func (ts *tasks) run(p int32, done chan struct{}) {
	defer close(done)
	part, ok := ts.m.Partition(p)
	if !ok {
		return
	}
	// A real task builds an engine pipeline on this source, restored from
	// the checkpoint whose offset Assigned returned.
	src := kafka.NewSource(part, func(v []byte) (int, error) { return strconv.Atoi(string(v)) },
		kafka.WithBadRecords(source.Skip))
	ctx := context.Background()
	if err := src.Open(ctx); err != nil {
		return
	}
	defer src.Close()
	buf := make([]int, 512)
	for {
		n, err := src.Read(ctx, buf)
		_ = buf[:n] // process
		if errors.Is(err, kafka.ErrRevoked) {
			return
		} else if err != nil {
			fmt.Println(err) // a real runner fails the task
			return
		}
	}
}

// A replica of a Kafka-group scale-out job: one member, one task per owned
// partition.
func Example_member() {
	cfg := kafka.DefaultConfig()
	cfg.Conn = kafkaconn.Conn{Brokers: []string{"127.0.0.1:9092"}}
	cfg.Topic, cfg.Group = "cars", "topspeed"
	ts := &tasks{checkpointed: map[int32]int64{}, running: map[int32]chan struct{}{}}
	m, err := kafka.NewMember(cfg, ts)
	if err != nil {
		fmt.Println(err)
		return
	}
	ts.m = m
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// After each completed checkpoint of a task: show the lag in
		// Kafka's tools. part.Generation() of the checkpointed assignment
		// is the fencing epoch.
		_ = m.Commit(ctx, m.Generation(), map[int32]int64{0: 42})
	}()
	if err := m.Run(ctx); err != nil { // until ctx is cancelled
		fmt.Println(err)
	}
}
