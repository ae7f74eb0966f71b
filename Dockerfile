# topspeed container image: a static Go binary on distroless (no shell, no
# libc), running as the distroless "nonroot" user (65532) on a read-only
# root filesystem; it writes only to mounted volumes.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse --short HEAD) -t REGISTRY/topspeed:TAG .
#   (or: make image IMAGE=REGISTRY/topspeed:TAG)
#
# `make deploy-check` (deploy/validate) builds the binary with this file's
# own `go build` line, checks that it is static and runs it as 65532 in an
# empty root; no Docker engine is needed for that.
# Needs BuildKit (Docker 23+ default) for RUN --mount; no syntax directive, so
# no frontend image is pulled (air-gapped registries work).
# For reproducible builds pin the base images by digest as well, e.g.
# gcr.io/distroless/static-debian12:nonroot@sha256:... (see docs/deploy.md).

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Dependencies first: this layer is reused until go.mod or go.sum change.
# GOWORK=off: the image needs only the root module, not go.work's bench/ and deploy/.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOWORK=off GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/topspeed ./cmd/topspeed

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="topspeed" \
      org.opencontainers.image.description="Go-native stream processor replacing Flink's TopSpeedWindowing job, writing to Cassandra" \
      org.opencontainers.image.source="https://github.com/topspeed/topspeed" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /out/topspeed /topspeed
USER nonroot:nonroot
# 9249: --http-addr (/metrics, /livez, /readyz, /api/v1/status); 7110: --ha-bind (raft).
EXPOSE 9249 7110
ENTRYPOINT ["/topspeed"]
