package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/runner"
	"github.com/topspeed/topspeed/sink/kafka"
)

// kafkaOutputFlags are --kafka-output-*: results to a Kafka topic, keyed by
// car id, through the runner's --kafka-brokers connection.
type kafkaOutputFlags struct {
	topic     string
	guarantee string
	txnID     string
}

func (k *kafkaOutputFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&k.topic, "kafka-output-topic", "", "also write the results to this Kafka topic (key: car id, value: the result line), through --kafka-brokers")
	fs.StringVar(&k.guarantee, "kafka-output-guarantee", "exactly-once", "exactly-once (one transaction per checkpoint, committed when it completes: consumers read with isolation.level=read_committed; needs --checkpoint-dir) or at-least-once (idempotent producer, flushed at every checkpoint; a restore may write some results again)")
	fs.StringVar(&k.txnID, "kafka-output-transactional-id", "topspeed", "exactly-once: prefix of the producers' transactional ids; unique per job, the same across restarts (Kafka-group mode adds the partition)")
}

func (k *kafkaOutputFlags) enabled() bool { return k.topic != "" }

func (k *kafkaOutputFlags) validate() error {
	if !k.enabled() {
		return nil
	}
	if _, err := kafka.ParseGuarantee(k.guarantee); err != nil {
		return fmt.Errorf("--kafka-output-guarantee: %w", err)
	}
	return nil
}

// attach adds the Kafka sink to results, if --kafka-output-topic is set.
func (k *kafkaOutputFlags) attach(env runner.BuildEnv, results engine.Stream[topspeed.Car]) error {
	if !k.enabled() {
		return nil
	}
	if len(env.Kafka.Brokers) == 0 {
		return fmt.Errorf("--kafka-output-topic %s needs --kafka-brokers", k.topic)
	}
	g, _ := kafka.ParseGuarantee(k.guarantee)
	if g == kafka.ExactlyOnce && !env.Checkpoints {
		return fmt.Errorf("--kafka-output-guarantee exactly-once commits a transaction per checkpoint: it needs --checkpoint-dir (or use at-least-once)")
	}
	cfg := kafka.DefaultConfig()
	cfg.Conn, cfg.Topic, cfg.Guarantee, cfg.Logger = env.Kafka, k.topic, g, env.Log
	cfg.TransactionalID = k.txnID
	if env.Instance != "" {
		cfg.TransactionalID += "-" + env.Instance
	}
	s, err := kafka.New(cfg, appendCarKey, topspeed.AppendCar)
	if err != nil {
		return err
	}
	engine.ToSink(results, "kafka", engine.Sink[topspeed.Car](s))
	return nil
}
