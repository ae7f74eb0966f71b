# Parity with Apache Flink's own TopSpeedWindowing example (Flink 1.20, local
# mini-cluster, jars from Maven Central; needs java 17 and mvn).
#   make flink-deps     resolve the Flink jars once into $(TOPSPEED_CACHE)/flink-<version>/lib
#   make parity-small   build bin/topspeed, compare with Flink on the small inputs (~30 s)
#   make parity-full    the same plus a 1M-event generated input
# Variables passed through: FLINK_PARALLELISM, FLINK_HEAP, FLINK_JAVA_OPTS,
# PARITY_INPUTS, PARITY_WORK, KEEP (see bench/parity/parity.sh).
.PHONY: flink-deps parity-small parity-full

flink-deps:
	@bash bench/flink/run-topspeed.sh --deps

parity-small:
	$(GO) build -o $(BIN)/topspeed ./cmd/topspeed
	SMALL=1 GO=$(GO) TOPSPEED_BIN=$(CURDIR)/$(BIN)/topspeed bash bench/parity/parity.sh

parity-full:
	$(GO) build -o $(BIN)/topspeed ./cmd/topspeed
	GO=$(GO) TOPSPEED_BIN=$(CURDIR)/$(BIN)/topspeed bash bench/parity/parity.sh
