# Benchmarks against Flink, side by side (bench/README.md, bench/run).
#   make bench        every scenario (S1-S7) with warm-ups and repetitions; writes
#                     bench/results/<date>.md, .json and plots, and the summary
#                     table of bench/README.md (~45-70 min on 2 shared cores; S6 alone ~25)
#   make bench-quick  small inputs, < 5 min: one line per scenario, the last field
#                     is the ratio (e.g. "S1 engine topspeed/flink-tuned events/s ratio 38.2";
#                     S1 and S6 compare with tuned Flink, bench/README.md "Flink tuned");
#                     those lines are all of stdout, progress goes to stderr
#                     (make -s bench-quick 2>/dev/null prints the ratios only)
# Variables passed through: BENCH_ARGS (e.g. "-only S1,S6 -work /tmp/b -keep"),
# BENCH_S1_EVENTS, BENCH_S2_EVENTS, BENCH_S2_CARS, BENCH_S5_RUNS,
# BENCH_S6_MB (S6-large's text, default 2048; 10240 = the seed's 10 GB, needs
# ~45 GB of disk in the work dir),
# BENCH_S4, BENCH_S4_ROUNDS, BENCH_S7_EVENTS, BENCH_S7_BROKERS (see bench/run).
# S7 starts the local Kafka (scripts/kafka/kafka.sh up) and leaves it running.
.PHONY: bench bench-quick
BENCH_ARGS ?=

bench:
	GO=$(GO) bash bench/run $(BENCH_ARGS)

bench-quick:
	@GO=$(GO) bash bench/run -quick $(BENCH_ARGS)
