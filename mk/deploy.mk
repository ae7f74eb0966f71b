# Container image and Kubernetes deployment (Dockerfile, deploy/, docs/deploy.md).
#   make deploy-check  validate the image recipe and every kustomize overlay
#                      without a cluster or a Docker engine (deploy/validate:
#                      strict decoding, cross-checks against the binary's
#                      flags and routes, static binary in an empty root, each
#                      overlay's pod run in a sandbox). The chroot/namespace
#                      tests need root and skip without it. `make test` runs
#                      them too (go test ./...).
#   make deploy-sync   refresh deploy/grafana/grafana-dashboard.json from
#                      deploy/monitoring (kustomize reads no file outside a
#                      kustomization; deploy-check fails while it is stale)
#   make savepoint URL=http://127.0.0.1:19249 TOKEN_FILE=FILE [CACERT=ca.pem]
#                      take a savepoint through the leader's ops API
#                      (scripts/savepoint.sh) and print its path; the token
#                      is read from the file, never put on a command line
#   make image         docker build; NEEDS A DOCKER ENGINE (or a compatible
#                      builder with BuildKit), which CI and this machine lack.
#                      IMAGE=registry/path/topspeed:tag, pushed with
#                      `make image-push`.
.PHONY: deploy-check deploy-sync savepoint image image-push

# Same defaults as mk/ops.mk (whichever file defines them first wins).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
IMAGE ?= topspeed:$(VERSION)
DOCKER ?= docker

deploy-check:
	$(GO) test -race -count=1 ./deploy/validate

deploy-sync:
	cp deploy/monitoring/grafana-dashboard.json deploy/grafana/grafana-dashboard.json

savepoint:
	@test -n "$(URL)" -a -n "$(TOKEN_FILE)" || { echo "usage: make savepoint URL=http://127.0.0.1:19249 TOKEN_FILE=token [CACERT=ca.pem]" >&2; exit 2; }
	@scripts/savepoint.sh $(if $(CACERT),--cacert "$(CACERT)") "$(URL)" "$(TOKEN_FILE)"

image:
	$(DOCKER) build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

image-push: image
	$(DOCKER) push $(IMAGE)
