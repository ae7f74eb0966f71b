# Operations surface: metrics, health endpoints, dashboard and alerts.
#   make ops-test   unit tests of internal/ops and deploy/monitoring, then a
#                   real Prometheus (Debian's package, installed if missing)
#                   scraping a running bin/topspeed: promtool check rules and
#                   check metrics, key series with rates > 0, rules healthy,
#                   dashboard queries evaluate (scripts/ops/ops-test.sh)
#   make build-release  bin/topspeed with version and commit stamped in
# VERSION and COMMIT default to git describe / rev-parse.
.PHONY: ops-test build-release

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
TOPSPEED_LDFLAGS ?= -X main.version=$(VERSION) -X main.commit=$(COMMIT)

build-release:
	$(GO) build -ldflags "$(TOPSPEED_LDFLAGS)" -o $(BIN)/topspeed ./cmd/topspeed

ops-test: build-release
	$(GO) test -race -count=1 ./internal/ops ./deploy/monitoring
	TOPSPEED_BIN=$(CURDIR)/$(BIN)/topspeed bash scripts/ops/ops-test.sh
