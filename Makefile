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

build:
	$(GO) build -o $(BIN)/topspeed ./cmd/topspeed

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed: $$out" >&2; exit 1; fi

unit:
	$(GO) test -race -count=1 ./...

include $(wildcard mk/*.mk)
