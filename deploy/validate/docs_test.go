package validate_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/topspeed/topspeed/deploy/validate"
)

// Flags of other tools that docs/deploy.md uses.
var otherToolFlags = map[string]bool{
	"grace-period": true, "force": true, "from-file": true, "dry-run": true, "image": true, "target": true,
	"custom": true, "platform": true, "package": true, "version": true, "values-file": true, "namespace": true,
	"local": true, "server-side": true, "build-arg": true, "validate": true, "mount": true,
	// kubectl
	"overwrite": true, "for": true, "timeout": true, "from-literal": true, "profile": true, "attach": true,
	"previous": true, "tail": true, "replicas": true,
	// tanzu, curl (scripts/savepoint.sh), velero
	"default-values-file-output": true, "cacert": true, "use-node-agent": true, "default-volumes-to-fs-backup": true,
	"include-namespaces": true, "details": true, "from-backup": true, "include-resources": true,
	// kafka-topics.sh, kafka-consumer-groups.sh (Kafka-group mode)
	"bootstrap-server": true, "command-config": true, "create": true, "topic": true, "partitions": true,
	"replication-factor": true, "describe": true, "group": true, "alter": true,
}

// TestDeployRunbook: docs/deploy.md covers what the platform team needs,
// in the order the install needs it.
func TestDeployRunbook(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, s := range []string{
		"TKr) v1.26", "vSAN File Service", "file volume support", "kubectl get storageclass", "rwxStorageClass",
		"cert-manager", "pod-security.kubernetes.io/enforce=privileged", "best-effort-large", "Grafana 8.3",
		"grafana-dashboard", "prometheus_yml", "alerting_rules_yml", "shareProcessNamespace: true",
		"--profile=restricted", "restartCount", "--ha-heartbeat-timeout=2s", "DoNotSchedule", "ScheduleAnyway",
		"--cassandra-tls-ca", "--cassandra-tls-server-name", "CREATE ROLE", "GRANT MODIFY ON TABLE example.topspeeds",
		"ALTER ROLE", "velero backup create", "--default-volumes-to-fs-backup", "out-of-service",
		"scripts/savepoint.sh", "--from-savepoint", "raft-topspeed-0", "--from-savepoint refused",
		"Leadership bounces", "p50 3.4 s, p99 6.0 s",
	} {
		if !strings.Contains(doc, s) {
			t.Errorf("docs/deploy.md does not mention %q", s)
		}
	}
	// The install order: prepare (baseline, Job), wait, secrets, overlay.
	order := []string{"kubectl apply -k deploy/prepare/prod", "wait --for=condition=complete job/topspeed-volume-owner",
		"create secret generic topspeed-cassandra", "kubectl apply -k deploy/overlays/prod"}
	at := -1
	for _, s := range order {
		i := strings.Index(doc[at+1:], s)
		if i < 0 {
			t.Errorf("docs/deploy.md: %q missing after %q", s, doc[max(at, 0):max(at, 0)+min(40, len(doc)-max(at, 0))])
			return
		}
		at += 1 + i
	}
}

// TestDeployDoc keeps docs/deploy.md true to the repository: the files it
// names exist, the make targets exist, every --flag is topspeed's (or a
// known flag of kubectl, docker or tanzu), and the settings it quotes are
// the manifests' values.
func TestDeployDoc(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)

	for _, p := range regexp.MustCompile(`\b(?:deploy|docs|mk|checkpoint|internal|cmd)/[A-Za-z0-9_./-]*[A-Za-z0-9_]`).FindAllString(doc, -1) {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("docs/deploy.md names %s, which does not exist", p)
		}
	}

	var mk strings.Builder
	for _, f := range append([]string{filepath.Join(root, "Makefile")}, globT(t, filepath.Join(root, "mk", "*.mk"))...) {
		c, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		mk.Write(c)
	}
	for _, m := range regexp.MustCompile("(?m)(?:^|\x60)make ([a-z][a-z0-9-]*)").FindAllStringSubmatch(doc, -1) {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m[1]) + `:`).MatchString(mk.String()) {
			t.Errorf("docs/deploy.md runs `make %s`, which no makefile defines", m[1])
		}
	}

	fl := topspeedFlags(t)
	for _, m := range regexp.MustCompile(`(?:^|[\s(\x60])--([a-z][a-z0-9-]+)`).FindAllStringSubmatch(doc, -1) {
		if strings.HasSuffix(m[1], "-") || m[1] == "help" { // --ha-* families; topspeed --help
			continue
		}
		if _, ok := fl[m[1]]; !ok && !otherToolFlags[m[1]] {
			t.Errorf("docs/deploy.md mentions --%s: not a topspeed flag (nor a known kubectl/docker/tanzu flag)", m[1])
		}
	}

	// Quoted settings: `name: value` with name a topspeed flag or a pod
	// field, against the prod overlay.
	objs := buildOverlay(t, "prod")
	pod, err := validate.LoadPod(objs, fl)
	if err != nil {
		t.Fatal(err)
	}
	podFields := map[string]string{
		"terminationGracePeriodSeconds": strconv.FormatInt(*pod.Spec.TerminationGracePeriodSeconds, 10),
		"podManagementPolicy":           string(pod.STS.Spec.PodManagementPolicy),
		"fsGroup":                       strconv.FormatInt(*pod.Spec.SecurityContext.FSGroup, 10),
		"replicas":                      strconv.Itoa(int(*pod.STS.Spec.Replicas)),
	}
	instructions := map[string]bool{"create-schema": true} // "set create-schema: false" is advice
	checked := 0
	for _, m := range regexp.MustCompile("`(?:--)?([a-zA-Z][a-zA-Z0-9-]*): ([^`]+)`").FindAllStringSubmatch(doc, -1) {
		name, val := m[1], strings.Trim(m[2], `"`)
		if instructions[name] {
			continue
		}
		var want string
		if v, ok := podFields[name]; ok {
			want = v
		} else if _, ok := fl[name]; ok {
			want = pod.Settings.Value(name)
		} else if _, ok := fl["cassandra-"+name]; ok {
			want = pod.Settings.Value("cassandra-" + name)
		} else {
			continue
		}
		checked++
		if val != want {
			t.Errorf("docs/deploy.md quotes `%s: %s`, the prod overlay has %q", name, m[2], want)
		}
	}
	if checked < 3 {
		t.Errorf("only %d quoted settings checked: the pattern no longer matches the doc", checked)
	}
}

func globT(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
