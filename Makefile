# topspeed — build, test and local servers.
# Each area keeps its targets in mk/*.mk; this file holds the common ones.
SHELL := /bin/bash
GO ?= go
BIN := bin
# Where downloaded jars and server data are kept between runs.
TOPSPEED_CACHE ?= $(HOME)/.cache/topspeed
export TOPSPEED_CACHE

.PHONY: all build test test-phases vet staticcheck fmt-check unit
all: build

# The test command (README, CI): formatting, vet, staticcheck, race-enabled
# unit and integration tests against the real Cassandra and Kafka, result
# parity with real Flink on small inputs, and the real-Prometheus operations
# check. One "==> [i/N] ..." line per phase; at the end, even after a
# failure, what is still running (the local Cassandra and Kafka) and how to
# stop it.
FLINK_VERSION := $(shell sed -n 's:.*<flink.version>\(.*\)</flink.version>.*:\1:p' bench/flink/pom.xml | head -n 1)
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_PHASES := 7
phase = @printf '==> [%s/$(TEST_PHASES)] %s\n' '$(1)' '$(2)'
SUBMAKE = $(MAKE) --no-print-directory
# The library is the root module; bench/ and deploy/ are modules of their own
# (go.work joins them), which ./... from the root does not reach.
PKGS := ./... ./bench/... ./deploy/...

test:
	@$(SUBMAKE) test-phases; rc=$$?; $(SUBMAKE) -s servers-status; exit $$rc

test-phases:
	$(call phase,1,gofmt)
	@$(SUBMAKE) fmt-check
	$(call phase,2,go vet)
	@$(SUBMAKE) vet
	$(call phase,3,staticcheck v0.8.2 (the first run downloads it into the Go module cache))
	@$(SUBMAKE) staticcheck
	$(call phase,4,starting the local Cassandra and Kafka in parallel (scripts/cassandra/cassandra.sh up; scripts/kafka/kafka.sh up))
	@# Kafka's jars first, alone: two mvn runs filling an empty ~/.m2 at once may clash.
	@bash $(CURDIR)/scripts/kafka/kafka.sh fetch
	@bash $(CURDIR)/scripts/kafka/kafka.sh up >/dev/null & kafka=$$!; \
	cassandra_rc=0; bash $(CURDIR)/scripts/cassandra/cassandra.sh up >/dev/null || cassandra_rc=$$?; \
	kafka_rc=0; wait $$kafka || kafka_rc=$$?; \
	[ $$cassandra_rc = 0 ] || echo "==> the local Cassandra did not start (exit $$cassandra_rc)" >&2; \
	[ $$kafka_rc = 0 ] || echo "==> the local Kafka did not start (exit $$kafka_rc)" >&2; \
	[ $$cassandra_rc = 0 ] && [ $$kafka_rc = 0 ]
	$(call phase,5,go test -race $(PKGS) against them and a headless Chromium (the dashboard browser test; about 3-5 min))
	@$(SUBMAKE) unit
	$(call phase,6,parity with Flink $(FLINK_VERSION) on the small inputs (bench/parity/parity.sh; under a minute))
	@$(SUBMAKE) parity-small
	$(call phase,7,ops check with a real Prometheus (scripts/ops/ops-test.sh; under a minute))
	@$(SUBMAKE) ops-test

build:
	$(GO) build -o $(BIN)/topspeed ./cmd/topspeed

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(STATICCHECK) $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed: $$out" >&2; exit 1; fi

# Integration tests run against the real local Cassandra and Kafka, started
# here (at once if already up) and exported to every test (CASSANDRA_*,
# KAFKA_BROKERS); TOPSPEED_REQUIRE_SERVERS=1 turns a missing server into a
# failure. A server that fails to start stops the target before any test.
# The dashboard's browser test needs Chromium: `make chromium` (mk/ui.mk)
# installs Debian's package if none is on PATH.
unit:
	@$(SUBMAKE) -s chromium
	@cassandra_env=$$(bash scripts/cassandra/cassandra.sh up) && eval "$$cassandra_env" && \
	kafka_env=$$(bash scripts/kafka/kafka.sh up) && eval "$$kafka_env" && \
	TOPSPEED_REQUIRE_SERVERS=1 $(GO) test -race -count=1 -timeout 20m $(PKGS)

include $(wildcard mk/*.mk)
