package validate_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/topspeed/topspeed/deploy/validate"
)

// The deployment's fixed points, shared by both overlays.
var (
	cassandraExpect = validate.CassandraExpect{
		Hosts:        "demo-dc1-service.k8ssandra-operator.svc",
		LocalDC:      "dc1",
		Consistency:  "LOCAL_QUORUM",
		Keyspace:     "example",
		Table:        "topspeeds",
		Replication:  "dc1:3",
		CreateSchema: false, // an administrator creates it; topspeed's role may only write
	}
	// The overlays' expectations; RWXStorageClass is filled in from each
	// overlay's params.yaml (expectFor), never pinned here.
	overlays = map[string]validate.Expect{
		"dev": {Namespace: "topspeed", Replicas: 1, HA: false,
			MonitoringNamespace: "tanzu-system-monitoring", Cassandra: cassandraExpect, Cars: 4000},
		"prod": {Namespace: "topspeed", Replicas: 3, HA: true,
			MonitoringNamespace: "tanzu-system-monitoring", Cassandra: cassandraExpect, Cars: 4000,
			// Twice hashicorp/raft's defaults, for VMs (vMotion, CPU throttling).
			RaftTiming: [3]time.Duration{2 * time.Second, 2 * time.Second, time.Second}},
	}
)

// deployParams reads the deploy-params ConfigMap of an overlay's
// params.yaml from fsys.
func deployParams(t *testing.T, fsys filesys.FileSystem, overlayDir string) map[string]string {
	t.Helper()
	b, err := fsys.ReadFile(overlayDir + "/params.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o, err := validate.DecodeYAMLStrict(b)
	if err != nil {
		t.Fatalf("%s/params.yaml: %v", overlayDir, err)
	}
	cm, ok := o.Typed.(*corev1.ConfigMap)
	if !ok || cm.Name != "deploy-params" || cm.Annotations["config.kubernetes.io/local-config"] != "true" {
		t.Fatalf("%s/params.yaml: want the local-config ConfigMap deploy-params", overlayDir)
	}
	return cm.Data
}

// expectFor returns the expectations of an overlay, with the storage
// class its params.yaml sets.
func expectFor(t *testing.T, fsys filesys.FileSystem, deployDir, name string) validate.Expect {
	t.Helper()
	exp := overlays[name]
	exp.RWXStorageClass = deployParams(t, fsys, deployDir+"/overlays/"+name)["rwxStorageClass"]
	if exp.RWXStorageClass == "" {
		t.Fatalf("overlay %s: params.yaml sets no rwxStorageClass", name)
	}
	return exp
}

// expectDisk is expectFor on the repository's deploy/.
func expectDisk(t *testing.T, name string) validate.Expect {
	t.Helper()
	return expectFor(t, filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), "deploy"), name)
}

func checkEnv(t *testing.T) validate.Env {
	t.Helper()
	return validate.Env{Flags: topspeedFlags(t), Routes: opsRoutes(t), ScrapeJob: alertJob(t)}
}

// alertJob returns the scrape job the alert rules of deploy/monitoring
// select with up{job="..."}.
func alertJob(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "monitoring", "topspeed-alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	jobs := map[string]bool{}
	for _, m := range regexp.MustCompile(`job="([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
		jobs[m[1]] = true
	}
	if len(jobs) != 1 {
		t.Fatalf("alert rules select jobs %v, want exactly one", validate.SortedKeys(jobs))
	}
	return validate.SortedKeys(jobs)[0]
}

func buildOverlay(t *testing.T, name string) []validate.Object {
	t.Helper()
	objs, err := validate.Build(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), "deploy", "overlays", name))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func reportProblems(t *testing.T, errs []error) {
	t.Helper()
	for _, e := range errs {
		t.Error(e)
	}
}

// TestOverlays builds every overlay, decodes every object strictly and
// runs every cross-check.
func TestOverlays(t *testing.T) {
	dirs, err := os.ReadDir(filepath.Join(repoRoot(t), "deploy", "overlays"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, ok := overlays[d.Name()]; d.IsDir() && !ok && d.Name() != groupOverlay { // kafkagroup_test.go
			t.Errorf("overlay %s has no expectations in this test", d.Name())
		}
	}
	env := checkEnv(t)
	for name := range overlays {
		t.Run(name, func(t *testing.T) {
			exp := expectDisk(t, name)
			objs := buildOverlay(t, name)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.Kind]++
				if o.Kind == "K8ssandraCluster" || o.Kind == "ServiceMonitor" {
					t.Errorf("%s: the overlay must not apply %s (example / optional component)", name, o.ID())
				}
			}
			for _, k := range []string{"Namespace", "ServiceAccount", "StatefulSet", "Service", "ConfigMap", "PersistentVolumeClaim", "PodDisruptionBudget", "NetworkPolicy"} {
				if kinds[k] == 0 {
					t.Errorf("%s renders no %s", name, k)
				}
			}
			reportProblems(t, validate.Check(objs, env, exp))
			t.Logf("%s: %d objects %v", name, len(objs), kinds)
		})
	}
}

// memDeploy copies deploy/ (without this package) into an in-memory file
// system, to build variants of the manifests.
func memDeploy(t *testing.T) (filesys.FileSystem, string) {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	src := filepath.Join(repoRoot(t), "deploy")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if rel == "validate" {
				return filepath.SkipDir
			}
			return mem.MkdirAll(filepath.Join("/deploy", rel))
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile(filepath.Join("/deploy", rel), b)
	})
	if err != nil {
		t.Fatal(err)
	}
	return mem, "/deploy"
}

func edit(t *testing.T, fsys filesys.FileSystem, file, old, new string) {
	t.Helper()
	b, err := fsys.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := fsys.WriteFile(file, []byte(strings.Replace(string(b), old, new, 1))); err != nil {
		t.Fatal(err)
	}
}

// withServiceMonitor adds the ServiceMonitor component to the prod overlay
// as docs/deploy.md says, and returns the overlay's directory.
func withServiceMonitor(t *testing.T, fsys filesys.FileSystem, root string) string {
	t.Helper()
	dir := root + "/overlays/prod"
	b, err := fsys.ReadFile(dir + "/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "\ncomponents:\n  - ../../components/servicemonitor\n"...)
	if err := fsys.WriteFile(dir+"/kustomization.yaml", b); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestServiceMonitorComponent: prod plus the Prometheus Operator component
// still passes every check, and the ServiceMonitor scrapes the ops port.
func TestServiceMonitorComponent(t *testing.T) {
	mem, root := memDeploy(t)
	dir := withServiceMonitor(t, mem, root)
	objs, err := validate.Build(mem, dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(validate.Find[validate.ServiceMonitor](objs)); n != 1 {
		t.Fatalf("%d ServiceMonitors, want 1", n)
	}
	reportProblems(t, validate.Check(objs, checkEnv(t), expectFor(t, mem, root, "prod")))
}

// TestStrictDecodingRejectsTypos: a misspelled, unknown or wrongly cased
// field anywhere fails, both on a single document and through a whole
// kustomize build.
func TestStrictDecodingRejectsTypos(t *testing.T) {
	base, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "base", "statefulset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := validate.DecodeYAMLStrict(base); err != nil {
		t.Fatalf("the real StatefulSet must decode: %v", err)
	}
	cases := map[string][2]string{
		"misspelled top-level spec field": {"  replicas: 1", "  replicass: 1"},
		"misspelled nested field":         {"readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true"},
		"unknown probe field":             {"failureThreshold: 36", "failureThreshold: 36\n            failureTreshold: 36"},
		"wrong case":                      {"  serviceName: topspeed-raft", "  ServiceName: topspeed-raft"},
		"duplicate field":                 {"  replicas: 1", "  replicas: 1\n  replicas: 2"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			doc := strings.Replace(string(base), c[0], c[1], 1)
			if doc == string(base) {
				t.Fatalf("statefulset.yaml does not contain %q", c[0])
			}
			if _, err := validate.DecodeYAMLStrict([]byte(doc)); err == nil {
				t.Fatalf("decoding accepted %q", c[1])
			} else {
				t.Logf("rejected: %v", err)
			}
		})
	}
	t.Run("through kustomize", func(t *testing.T) {
		mem, root := memDeploy(t)
		edit(t, mem, root+"/base/statefulset.yaml", "  replicas: 1", "  replicass: 1")
		_, err := validate.Build(mem, root+"/overlays/prod")
		if err == nil || !strings.Contains(err.Error(), "replicass") {
			t.Fatalf("build of a StatefulSet with replicass: %v, want an unknown field error", err)
		}
		t.Logf("rejected: %v", err)
	})
	t.Run("custom resource", func(t *testing.T) {
		mem, root := memDeploy(t)
		edit(t, mem, root+"/components/servicemonitor/servicemonitor.yaml", "    - port: http", "    - portt: http")
		dir := withServiceMonitor(t, mem, root)
		if _, err := validate.Build(mem, dir); err == nil || !strings.Contains(err.Error(), "portt") {
			t.Fatalf("ServiceMonitor with portt: %v, want an unknown field error", err)
		}
	})
	t.Run("unknown kind", func(t *testing.T) {
		if _, err := validate.DecodeYAMLStrict([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n")); err == nil {
			t.Fatal("an object of a kind the checks do not know must fail")
		}
	})
}

// freshCopy re-decodes objects, so a test can mutate them.
func freshCopy(t *testing.T, objs []validate.Object) []validate.Object {
	t.Helper()
	out := make([]validate.Object, len(objs))
	for i, o := range objs {
		c, err := validate.DecodeStrict(o.JSON)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = c
	}
	return out
}

// TestChecksCatchMistakes: each check fails on the mistake it is for.
func TestChecksCatchMistakes(t *testing.T) {
	env := checkEnv(t)
	prod := buildOverlay(t, "prod")
	sts := func(objs []validate.Object) *appsv1.StatefulSet {
		return validate.FindNamed[appsv1.StatefulSet](objs, "topspeed")
	}
	ctr := func(objs []validate.Object) *corev1.Container { return &sts(objs).Spec.Template.Spec.Containers[0] }
	configMap := func(objs []validate.Object) *corev1.ConfigMap {
		for _, cm := range validate.Find[corev1.ConfigMap](objs) {
			if _, ok := cm.Data["topspeed.yaml"]; ok {
				return cm
			}
		}
		t.Fatal("no topspeed.yaml ConfigMap")
		return nil
	}
	cases := []struct {
		name   string
		mutate func([]validate.Object)
		want   string
	}{
		{"probe port name", func(o []validate.Object) { ctr(o).LivenessProbe.HTTPGet.Port = intstr.FromString("htp") }, "is not a container port"},
		{"probe path", func(o []validate.Object) { ctr(o).ReadinessProbe.HTTPGet.Path = "/healthz" }, "not served by topspeed"},
		{"service target port", func(o []validate.Object) {
			validate.FindNamed[corev1.Service](o, "topspeed").Spec.Ports[0].TargetPort = intstr.FromString("metrics")
		}, "which the container does not declare"},
		{"service selector", func(o []validate.Object) {
			validate.FindNamed[corev1.Service](o, "topspeed-raft").Spec.Selector["app.kubernetes.io/name"] = "topspeedd"
		}, "does not select the topspeed pods"},
		{"secret key", func(o []validate.Object) {
			ctr(o).Env[0].ValueFrom.SecretKeyRef.Key = "user"
		}, "the only secret value in the environment"},
		{"password in env", func(o []validate.Object) {
			ctr(o).Env = append(ctr(o).Env, corev1.EnvVar{Name: "CASSANDRA_PASSWORD", Value: "x"})
		}, "must come from a file"},
		{"unknown flag in args", func(o []validate.Object) { ctr(o).Args = append(ctr(o).Args, "--ha-replica=3") }, "no flag --ha-replica"},
		{"unknown config key", func(o []validate.Object) {
			cm := configMap(o)
			cm.Data["topspeed.yaml"] = strings.Replace(cm.Data["topspeed.yaml"], "local-dc:", "localdc:", 1)
		}, "unknown key(s) cassandra.localdc"},
		{"unknown TOPSPEED_ variable", func(o []validate.Object) {
			ctr(o).Env = append(ctr(o).Env, corev1.EnvVar{Name: "TOPSPEED_HA_REPLICA", Value: "3"})
		}, "TOPSPEED_HA_REPLICA"},
		{"replicas vs --ha-replicas", func(o []validate.Object) { n := int32(5); sts(o).Spec.Replicas = &n }, "raft membership is fixed"},
		{"grace period", func(o []validate.Object) {
			g := int64(30)
			sts(o).Spec.Template.Spec.TerminationGracePeriodSeconds = &g
		}, "must exceed --stop-timeout"},
		{"http port", func(o []validate.Object) { ctr(o).Ports[0].ContainerPort = 8080 }, "does not match --http-addr"},
		{"raft port", func(o []validate.Object) { ctr(o).Ports[1].ContainerPort = 7001 }, "does not match --ha-bind"},
		{"mount without volume", func(o []validate.Object) { ctr(o).VolumeMounts[0].Name = "cfg" }, "has no volume"},
		{"checkpoints off the shared volume", func(o []validate.Object) {
			ctr(o).Args = append(ctr(o).Args, "--checkpoint-dir=/var/lib/topspeed/raft/ckpt")
		}, "not on the shared claim"},
		{"writes to the root filesystem", func(o []validate.Object) { ctr(o).Args = append(ctr(o).Args, "--savepoint-dir=/savepoints") }, "on no volume"},
		{"writable root", func(o []validate.Object) { f := false; ctr(o).SecurityContext.ReadOnlyRootFilesystem = &f }, "readOnlyRootFilesystem"},
		{"service links", func(o []validate.Object) { b := true; sts(o).Spec.Template.Spec.EnableServiceLinks = &b }, "enableServiceLinks"},
		{"ordered start", func(o []validate.Object) { sts(o).Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement }, "Parallel"},
		{"raft open to all", func(o []validate.Object) {
			np := validate.Find[networkingv1.NetworkPolicy](o)[0]
			np.Spec.Ingress[0].From[0].PodSelector = nil
			np.Spec.Ingress[0].From[0].NamespaceSelector = nil
		}, "opens raft"},
		{"raft without TLS", func(o []validate.Object) {
			var args []string
			for _, a := range ctr(o).Args {
				if !strings.HasPrefix(a, "--ha-tls-") {
					args = append(args, a)
				}
			}
			ctr(o).Args = append(args, "--ha-allow-insecure")
		}, "--ha-tls-ca is not set"},
		{"raft TLS key from another key", func(o []validate.Object) {
			for i, a := range ctr(o).Args {
				if strings.HasPrefix(a, "--ha-tls-key=") {
					ctr(o).Args[i] = "--ha-tls-key=/etc/topspeed/raft-tls/tls.crt"
				}
			}
		}, `is key "tls.crt" of topspeed-raft-tls, want "tls.key"`},
		{"dashboard in the topspeed namespace", func(o []validate.Object) {
			configMap(o).Labels = map[string]string{"grafana-dashboard": "1"}
		}, "belongs to deploy/grafana"},
		{"storage class not the parameter", func(o []validate.Object) {
			sc := "vsan-file"
			validate.FindNamed[corev1.PersistentVolumeClaim](o, "topspeed-shared").Spec.StorageClassName = &sc
		}, "parameter rwxStorageClass"},
		{"no zone spread", func(o []validate.Object) { sts(o).Spec.Template.Spec.TopologySpreadConstraints = nil }, "topology.kubernetes.io/zone"},
		{"topspeed is PID 1", func(o []validate.Object) { sts(o).Spec.Template.Spec.ShareProcessNamespace = nil }, "shareProcessNamespace"},
		{"raft timing of loopback", func(o []validate.Object) {
			for i, a := range ctr(o).Args {
				if strings.HasPrefix(a, "--ha-heartbeat-timeout=") {
					ctr(o).Args[i] = "--ha-heartbeat-timeout=500ms"
				}
			}
		}, "below hashicorp/raft's default"},
		{"lease above heartbeat", func(o []validate.Object) {
			for i, a := range ctr(o).Args {
				if strings.HasPrefix(a, "--ha-lease-timeout=") {
					ctr(o).Args[i] = "--ha-lease-timeout=3s"
				}
			}
		}, "exceeds --ha-heartbeat-timeout"},
		{"no ops token", func(o []validate.Object) {
			ctr(o).Args = append(ctr(o).Args, "--http-token-file=")
		}, "--http-token-file is not set"},
		{"GOMEMLIMIT", func(o []validate.Object) {
			for i := range ctr(o).Env {
				if ctr(o).Env[i].Name == "GOMEMLIMIT" {
					ctr(o).Env[i].Value = "2GiB"
				}
			}
		}, "not below the memory limit"},
	}
	prodExp := expectDisk(t, "prod")
	if errs := validate.Check(prod, env, prodExp); len(errs) > 0 {
		t.Fatalf("the real prod overlay must pass: %v", errors.Join(errs...))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs := freshCopy(t, prod)
			c.mutate(objs)
			errs := validate.Check(objs, env, prodExp)
			for _, e := range errs {
				if strings.Contains(e.Error(), c.want) {
					t.Logf("caught: %v", e)
					return
				}
			}
			t.Fatalf("no problem mentioning %q; got %v", c.want, errs)
		})
	}
	t.Run("dev with an --ha flag", func(t *testing.T) {
		objs := freshCopy(t, buildOverlay(t, "dev"))
		ctr(objs).Args = append(ctr(objs).Args, "--ha-dir=/var/lib/topspeed/shared/raft")
		for _, e := range validate.Check(objs, env, expectDisk(t, "dev")) {
			if strings.Contains(e.Error(), "runs without raft") {
				return
			}
		}
		t.Fatal("an --ha-* flag in dev was not reported")
	})
}

// TestDashboardInSync: the copy kustomize packs equals the monitoring
// dashboard (run `make deploy-sync` after changing the latter).
func TestDashboardInSync(t *testing.T) {
	root := repoRoot(t)
	want, err := os.ReadFile(filepath.Join(root, "deploy", "monitoring", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("deploy/grafana/grafana-dashboard.json differs from deploy/monitoring/grafana-dashboard.json: run `make deploy-sync`")
	}
}

// scrapeJob is the subset of a Prometheus scrape_config that
// deploy/prometheus/scrape-topspeed.yaml uses; unknown keys fail.
type scrapeJob struct {
	JobName        string `yaml:"job_name"`
	MetricsPath    string `yaml:"metrics_path"`
	Scheme         string `yaml:"scheme"`
	ScrapeInterval string `yaml:"scrape_interval"`
	ScrapeTimeout  string `yaml:"scrape_timeout"`
	KubernetesSD   []struct {
		Role       string `yaml:"role"`
		Namespaces struct {
			Names []string `yaml:"names"`
		} `yaml:"namespaces"`
	} `yaml:"kubernetes_sd_configs"`
	Relabel []struct {
		SourceLabels []string `yaml:"source_labels"`
		Separator    string   `yaml:"separator"`
		Action       string   `yaml:"action"`
		Regex        string   `yaml:"regex"`
		TargetLabel  string   `yaml:"target_label"`
	} `yaml:"relabel_configs"`
}

// TestPrometheusScrapeJob: the scrape job for Prometheus without the
// Operator (Tanzu package) keeps exactly the ops port of the metrics
// Service, under the job name the alert rules use.
func TestPrometheusScrapeJob(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot(t), "deploy", "prometheus", "scrape-topspeed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var jobs []scrapeJob
	if err := dec.Decode(&jobs); err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 {
		t.Fatalf("%d entries, want one scrape_configs list entry", len(jobs))
	}
	job := jobs[0]
	if job.JobName != alertJob(t) {
		t.Errorf("job_name %q, the alert rules expect %q", job.JobName, alertJob(t))
	}
	if !opsRoutes(t)[job.MetricsPath] {
		t.Errorf("metrics_path %q is not served", job.MetricsPath)
	}
	objs := buildOverlay(t, "prod")
	svc := validate.FindNamed[corev1.Service](objs, "topspeed")
	if svc == nil {
		t.Fatal("no Service topspeed")
	}
	if len(job.KubernetesSD) != 1 || job.KubernetesSD[0].Role != "endpoints" ||
		len(job.KubernetesSD[0].Namespaces.Names) != 1 || job.KubernetesSD[0].Namespaces.Names[0] != overlays["prod"].Namespace {
		t.Errorf("kubernetes_sd_configs: want one endpoints role in namespace %s", overlays["prod"].Namespace)
	}
	// Apply the keep rules to every endpoint port of every rendered Service:
	// only the metrics Service's http port may survive.
	kept := 0
	for _, s := range validate.Find[corev1.Service](objs) {
		for _, p := range s.Spec.Ports {
			meta := map[string]string{"__meta_kubernetes_service_name": s.Name, "__meta_kubernetes_endpoint_port_name": p.Name}
			keep := true
			for _, r := range job.Relabel {
				if r.Action != "keep" {
					continue
				}
				sep := r.Separator
				if sep == "" {
					sep = ";"
				}
				vals := make([]string, len(r.SourceLabels))
				for i, l := range r.SourceLabels {
					vals[i] = meta[l]
				}
				if !regexp.MustCompile("^(?:" + r.Regex + ")$").MatchString(strings.Join(vals, sep)) {
					keep = false
				}
			}
			if keep {
				kept++
				if s.Name != svc.Name || p.Name != "http" {
					t.Errorf("the scrape job keeps Service %s port %s", s.Name, p.Name)
				}
			}
		}
	}
	if kept != 1 {
		t.Errorf("the scrape job keeps %d ports, want the http port of Service %s", kept, svc.Name)
	}
}

// TestK8ssandraExample: the example cluster is the one the overlays write
// to: its service, secret, datacenter and replication match.
func TestK8ssandraExample(t *testing.T) {
	objs, err := validate.Build(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), "deploy", "examples", "k8ssandra"))
	if err != nil {
		t.Fatal(err)
	}
	kcs := validate.Find[validate.K8ssandraCluster](objs)
	if len(kcs) != 1 || len(objs) != 1 {
		t.Fatalf("want exactly one K8ssandraCluster, got %d objects", len(objs))
	}
	kc := kcs[0]
	if kc.Name != "demo" || kc.Namespace != "k8ssandra-operator" {
		t.Errorf("K8ssandraCluster %s/%s, want k8ssandra-operator/demo", kc.Namespace, kc.Name)
	}
	if !regexp.MustCompile(`^(4\.0|5\.0)\.\d+$`).MatchString(kc.Spec.Cassandra.ServerVersion) {
		t.Errorf("serverVersion %q, want 4.0.x or 5.0.x", kc.Spec.Cassandra.ServerVersion)
	}
	if kc.Spec.Auth != nil && !*kc.Spec.Auth {
		t.Error("auth must stay on: topspeed logs in as its own role")
	}
	if len(kc.Spec.Cassandra.Datacenters) != 1 {
		t.Fatalf("%d datacenters, want 1", len(kc.Spec.Cassandra.Datacenters))
	}
	dc := kc.Spec.Cassandra.Datacenters[0]
	// K8ssandra's names: service <cluster>-<dc>-service, secret <cluster>-superuser.
	if host := kc.Name + "-" + dc.Meta.Name + "-service." + kc.Namespace + ".svc"; host != cassandraExpect.Hosts {
		t.Errorf("the example's service is %s, the overlays write to %s", host, cassandraExpect.Hosts)
	}
	if secret := kc.Name + "-superuser"; secret != k8ssandraSuperuser {
		t.Errorf("the example's superuser secret is %s, docs/deploy.md reads %s", secret, k8ssandraSuperuser)
	}
	if dc.Meta.Name != cassandraExpect.LocalDC || cassandraExpect.Replication != dc.Meta.Name+":3" || dc.Size < 3 {
		t.Errorf("datacenter %s with %d nodes cannot hold replication %s at LOCAL_QUORUM", dc.Meta.Name, dc.Size, cassandraExpect.Replication)
	}
}

// TestDockerignore: the build context keeps everything `go build
// ./cmd/topspeed` reads, and leaves out the repository's history and
// build outputs.
func TestDockerignore(t *testing.T) {
	root := repoRoot(t)
	di, err := validate.ParseDockerIgnore(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".git", "bin", "bench/flink/target"} {
		if ex, _ := di.Excluded(p); !ex {
			t.Errorf("%s is sent to the Docker daemon: exclude it", p)
		}
	}
	// Every file the build reads: go.mod, go.sum and the Go and embedded
	// files of every package of the module that cmd/topspeed imports.
	needed := []string{"go.mod", "go.sum"}
	out, err := goList(root, "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{.Dir}}|{{join .GoFiles ","}}|{{join .EmbedFiles ","}}{{end}}{{end}}`, "./cmd/topspeed")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		parts := strings.Split(line, "|")
		rel, _ := filepath.Rel(root, parts[0])
		for _, list := range parts[1:] {
			for _, f := range strings.Split(list, ",") {
				if f != "" {
					needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
				}
			}
		}
	}
	if len(needed) < 10 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, p := range needed {
		if ex, by := di.Excluded(p); ex {
			t.Errorf("%s is needed by go build but .dockerignore excludes it (%s)", p, by)
		}
	}
}

// TestRaftCertificateExample: the cert-manager example writes the secret
// the prod overlay mounts for raft's mutual TLS, in the prod namespace,
// valid for the names the peers dial (<pod>.topspeed-raft...), as server
// and client, issued by a CA issuer of its own.
func TestRaftCertificateExample(t *testing.T) {
	objs, err := validate.Build(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), "deploy", "examples", "cert-manager"))
	if err != nil {
		t.Fatal(err)
	}
	ns := overlays["prod"].Namespace
	cert := validate.FindNamed[validate.Certificate](objs, "topspeed-raft")
	if cert == nil {
		t.Fatal("no Certificate topspeed-raft")
	}
	if cert.Namespace != ns || cert.Spec.SecretName != validate.RaftTLSSecret {
		t.Errorf("Certificate %s/%s writes secret %s, want %s/%s", cert.Namespace, cert.Name, cert.Spec.SecretName, ns, validate.RaftTLSSecret)
	}
	for _, u := range []string{"server auth", "client auth"} {
		if !slices.Contains(cert.Spec.Usages, u) {
			t.Errorf("usages %v: want %q", cert.Spec.Usages, u)
		}
	}
	for _, name := range []string{"*." + validate.RaftService, "*." + validate.RaftService + "." + ns + ".svc.cluster.local"} {
		if !slices.Contains(cert.Spec.DNSNames, name) {
			t.Errorf("dnsNames %v: want %q (peers dial <pod>.%s:<port>)", cert.Spec.DNSNames, name, validate.RaftService)
		}
	}
	iss := validate.FindNamed[validate.Issuer](objs, cert.Spec.IssuerRef.Name)
	if iss == nil || iss.Spec.CA == nil {
		t.Fatalf("issuer %s: want a CA Issuer in the example", cert.Spec.IssuerRef.Name)
	}
	ca := validate.Find[validate.Certificate](objs)
	found := false
	for _, c := range ca {
		found = found || (c.Spec.IsCA && c.Spec.SecretName == iss.Spec.CA.SecretName)
	}
	if !found {
		t.Errorf("no CA Certificate writes %s", iss.Spec.CA.SecretName)
	}
}
