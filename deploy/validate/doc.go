// Package validate checks topspeed's container image and Kubernetes
// manifests without a cluster or a Docker engine. Its tests (run by
// `go test ./...`, `make test` and `make deploy-check`):
//
//   - build every overlay under deploy/overlays (and the optional
//     components and examples) with the kustomize Go API, exactly as
//     `kubectl apply -k` does (files outside a kustomization are refused);
//   - decode every object strictly into its typed struct (k8s.io/api, or a
//     minimal struct defined here for the ServiceMonitor and
//     K8ssandraCluster custom resources): an unknown, misspelled,
//     duplicated or wrongly cased field is an error;
//   - cross-check the objects against each other and against topspeed
//     itself: selectors, named ports, probes against the routes of
//     internal/ops, volumes and mount paths against the settings that
//     use them, every flag, config key and environment variable against
//     the binary's --help, the secret keys, the raft and HTTP ports, the
//     shutdown timeouts, the Pod Security "restricted" rules;
//   - parse the Dockerfile, build the binary with the Dockerfile's own
//     `go build` command line, check it is a static ELF, and run it as
//     user 65532 in an otherwise empty root (chroot, no libc, no shell);
//   - run the binary as each overlay's pod would run: the same arguments,
//     environment, mounted files and volumes, in a chroot with a read-only
//     root, its own network namespace and the pod's host name.
//
// The tests that need root (chroot, namespaces) skip without it.
package validate
