# topspeed — build, test and local servers.
# Each area keeps its targets in mk/*.mk; this file holds the common ones.
SHELL := /bin/bash
GO ?= go
BIN := bin
# Where downloaded jars and server data are kept between runs.
TOPSPEED_CACHE ?= $(HOME)/.cache/topspeed
export TOPSPEED_CACHE

.PHONY: all build test vet fmt-check unit
all: build

# The test command (README, CI): formatting, vet, race-enabled unit and
# integration tests against the real Cassandra, result parity with real Flink
# on small inputs, and the real-Prometheus operations check.
test: fmt-check vet unit parity-small ops-test

build:
	$(GO) build -o $(BIN)/topspeed ./cmd/topspeed

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed: $$out" >&2; exit 1; fi

# Integration tests run against the real local Cassandra, started here;
# TOPSPEED_REQUIRE_SERVERS=1 turns a missing server into a failure.
unit:
	@eval "$$(bash scripts/cassandra/cassandra.sh up)" && \
	TOPSPEED_REQUIRE_SERVERS=1 $(GO) test -race -count=1 -timeout 20m ./...

include $(wildcard mk/*.mk)
