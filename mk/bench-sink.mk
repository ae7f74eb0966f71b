# S4: the Cassandra sink benchmark (bench/README.md). Starts the local
# Cassandra (make cassandra-up), builds bin/sinkbench and the Flink job in
# bench/flink (profile cassandra-bench), runs topspeed's sink, a naive and a
# raw gocql writer and Flink's CassandraSink on the same rows, verifies every
# table, and updates the S4 table in bench/README.md (S4_README=0: print only).
# Variables passed through: S4_ROUNDS, S4_EVENTS, S4_CARS, S4_NAIVE_ROWS,
# S4_FLINK_MAX_CONCURRENT, S4_WORK, S4_README, FLINK_HEAP (see bench/cassandra/run.sh).
.PHONY: bench-sink

bench-sink:
	GO=$(GO) bash bench/cassandra/run.sh
