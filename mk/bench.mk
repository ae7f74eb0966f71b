# Benchmarks against Flink, side by side (bench/README.md, bench/run).
#   make bench        every scenario (S1-S7) with warm-ups and repetitions; writes
#                     bench/results/<date>.md, .json and plots, and the summary
#                     table of bench/README.md (~20-40 min on 2 shared cores)
#   make bench-quick  small inputs, < 5 min: one line per scenario, the last field
#                     is the ratio (e.g. "S1 engine topspeed/flink events/s ratio 38.2");
#                     those lines are all of stdout, progress goes to stderr
#                     (make -s bench-quick 2>/dev/null prints the ratios only)
# Variables passed through: BENCH_ARGS (e.g. "-only S1,S6 -work /tmp/b -keep"),
# BENCH_S1_EVENTS, BENCH_S2_EVENTS, BENCH_S2_CARS, BENCH_S5_RUNS, BENCH_S6_MB,
# BENCH_S4, BENCH_S4_ROUNDS, BENCH_S7_EVENTS, BENCH_S7_BROKERS (see bench/run).
# S7 starts the local Kafka (scripts/kafka/kafka.sh up) and leaves it running.
.PHONY: bench bench-quick
BENCH_ARGS ?=

bench:
	GO=$(GO) bash bench/run $(BENCH_ARGS)

bench-quick:
	@GO=$(GO) bash bench/run -quick $(BENCH_ARGS)
