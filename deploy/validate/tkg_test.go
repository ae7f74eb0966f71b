package validate_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/topspeed/topspeed/deploy/validate"
)

// k8ssandraSuperuser is K8ssandra's <cluster>-superuser secret of the
// example cluster: docs/deploy.md uses it only to create topspeed's schema
// and role.
const k8ssandraSuperuser = "demo-superuser"

// wantErr fails unless some error mentions want.
func wantErr(t *testing.T, errs []error, want string) {
	t.Helper()
	for _, e := range errs {
		if strings.Contains(e.Error(), want) {
			t.Logf("caught: %v", e)
			return
		}
	}
	t.Fatalf("no problem mentioning %q; got %v", want, errs)
}

// TestStorageClassIsAParameter: the shared claim's class is whatever the
// overlay's params.yaml says; the checks read it from there.
func TestStorageClassIsAParameter(t *testing.T) {
	for name := range overlays {
		t.Run(name, func(t *testing.T) {
			mem, root := memDeploy(t)
			edit(t, mem, root+"/overlays/"+name+"/params.yaml", "rwxStorageClass: ", "rwxStorageClass: my-file-policy #")
			objs, err := validate.Build(mem, root+"/overlays/"+name)
			if err != nil {
				t.Fatal(err)
			}
			exp := expectFor(t, mem, root, name)
			if exp.RWXStorageClass != "my-file-policy" {
				t.Fatalf("params read as %q", exp.RWXStorageClass)
			}
			reportProblems(t, validate.Check(objs, checkEnv(t), exp))
			if sc := validate.FindNamed[corev1.PersistentVolumeClaim](objs, validate.SharedClaim).Spec.StorageClassName; sc == nil || *sc != "my-file-policy" {
				t.Errorf("claim class %v, want my-file-policy", sc)
			}
			exp.RWXStorageClass = "vsan-file"
			wantErr(t, validate.Check(objs, checkEnv(t), exp), "parameter rwxStorageClass")
		})
	}
}

func buildDeploy(t *testing.T, rel ...string) []validate.Object {
	t.Helper()
	objs, err := validate.Build(filesys.MakeFsOnDisk(), filepath.Join(append([]string{repoRoot(t), "deploy"}, rel...)...))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestGrafanaDashboard: deploy/grafana is one ConfigMap in the Grafana
// package's namespace with the label its sidecar loads, holding the
// monitoring dashboard.
func TestGrafanaDashboard(t *testing.T) {
	dash, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "monitoring", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	objs := buildDeploy(t, "grafana")
	reportProblems(t, validate.CheckGrafana(objs, dash))
	cm := func(o []validate.Object) *corev1.ConfigMap { return validate.Find[corev1.ConfigMap](o)[0] }
	cases := []struct {
		name   string
		mutate func([]validate.Object)
		want   string
	}{
		{"underscore label", func(o []validate.Object) {
			cm(o).Labels = map[string]string{"grafana_dashboard": "1"}
		}, "no label grafana-dashboard"},
		{"topspeed namespace", func(o []validate.Object) { cm(o).Namespace = "topspeed" }, "tanzu-system-dashboards"},
		{"stale", func(o []validate.Object) {
			for k := range cm(o).Data {
				cm(o).Data[k] = `{"uid":"old"}`
			}
		}, "make deploy-sync"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := freshCopy(t, objs)
			c.mutate(o)
			wantErr(t, validate.CheckGrafana(o, dash), c.want)
		})
	}
}

func readDeploy(t *testing.T, rel ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{repoRoot(t), "deploy"}, rel...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPrometheusValues: the values file for the Tanzu Prometheus package
// carries the package's default jobs plus topspeed's, and topspeed's
// rules in alerting_rules_yml. With promtool on PATH the rules are also
// checked by it (it is optional: Debian's promtool lacks Kubernetes
// service discovery, so the configuration is not given to it).
func TestPrometheusValues(t *testing.T) {
	values := readDeploy(t, "prometheus", "prometheus-data-values.yaml")
	scrape := readDeploy(t, "prometheus", "scrape-topspeed.yaml")
	rules := readDeploy(t, "monitoring", "topspeed-alerts.yaml")
	reportProblems(t, validate.CheckPrometheusValues(values, scrape, rules))

	cases := []struct{ name, old, new, want string }{
		{"a default job dropped", "        - job_name: node-exporter\n", "        - job_name: node-exporterr\n", "default job node-exporter is missing"},
		{"topspeed job changed", "          scrape_interval: 15s\n", "          scrape_interval: 30s\n", "differs from deploy/prometheus/scrape-topspeed.yaml"},
		{"typo in the configuration", "          metrics_path: /metrics\n", "          metric_path: /metrics\n", "metric_path"},
		{"rules changed", "        for: 2m\n", "        for: 3m\n", "alerting_rules_yml differs"},
		{"bad PromQL", `        expr: up{job="topspeed"} == 0`, `        expr: up{job="topspeed" == 0`, "alerting_rules_yml:"},
		{"rules not loaded", "        - /etc/config/alerting_rules.yml\n", "", "does not load /etc/config/alerting_rules.yml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := strings.Replace(string(values), c.old, c.new, 1)
			if v == string(values) {
				t.Fatalf("values file does not contain %q", c.old)
			}
			wantErr(t, validate.CheckPrometheusValues([]byte(v), scrape, rules), c.want)
		})
	}
	t.Run("bare mapping scrape entry", func(t *testing.T) {
		wantErr(t, validate.CheckPrometheusValues(values, []byte("job_name: topspeed\n"), rules), "want a list of one")
	})

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not on PATH: rules checked by the Go parser only")
		return
	}
	var v validate.PrometheusValues
	if err := yaml.Unmarshal(values, &v); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "alerting_rules.yml")
	if err := os.WriteFile(f, []byte(v.Prometheus.Config.AlertingRulesYML), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}

// TestPrepare: deploy/prepare/<overlay> runs the volume owner Job while
// the namespace is at baseline, without the StatefulSet, and changes
// nothing else of the overlay; the Job chowns the shared claim to the
// pods' user.
func TestPrepare(t *testing.T) {
	for name := range overlays {
		t.Run(name, func(t *testing.T) {
			overlay := buildOverlay(t, name)
			pod, err := validate.LoadPod(overlay, topspeedFlags(t))
			if err != nil {
				t.Fatal(err)
			}
			prep := buildDeploy(t, "prepare", name)
			reportProblems(t, validate.CheckPrepare(prep, overlay, pod))
		})
	}
	overlay := buildOverlay(t, "prod")
	pod, err := validate.LoadPod(overlay, topspeedFlags(t))
	if err != nil {
		t.Fatal(err)
	}
	prep := buildDeploy(t, "prepare", "prod")
	job := func(o []validate.Object) *batchv1.Job {
		return validate.FindNamed[batchv1.Job](o, validate.VolumeOwnerJob)
	}
	cases := []struct {
		name   string
		mutate func([]validate.Object) []validate.Object
		want   string
	}{
		{"chown to root", func(o []validate.Object) []validate.Object {
			job(o).Spec.Template.Spec.InitContainers[0].Command[1] = "0:0"
			return o
		}, "but the pods run as 65532:65532"},
		{"chown elsewhere", func(o []validate.Object) []validate.Object {
			job(o).Spec.Template.Spec.InitContainers[0].Command[2] = "/tmp"
			return o
		}, "the shared claim's mount"},
		{"namespace still restricted", func(o []validate.Object) []validate.Object {
			for _, ns := range validate.Find[corev1.Namespace](o) {
				ns.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
			}
			return o
		}, "want baseline"},
		{"StatefulSet too", func(o []validate.Object) []validate.Object {
			for _, x := range overlay {
				if _, ok := x.Typed.(*appsv1.StatefulSet); ok {
					o = append(o, freshCopy(t, []validate.Object{x})...)
				}
			}
			return o
		}, "no topspeed pod may start"},
		{"capability beyond baseline", func(o []validate.Object) []validate.Object {
			c := &job(o).Spec.Template.Spec.InitContainers[0]
			c.SecurityContext.Capabilities.Add = append(c.SecurityContext.Capabilities.Add, "SYS_ADMIN")
			return o
		}, "not allowed by baseline"},
		{"selected as a topspeed pod", func(o []validate.Object) []validate.Object {
			job(o).Spec.Template.Labels = pod.STS.Spec.Template.Labels
			return o
		}, "selects its pod"},
		{"claim changed", func(o []validate.Object) []validate.Object {
			pvc := validate.FindNamed[corev1.PersistentVolumeClaim](o, validate.SharedClaim)
			pvc.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("1Gi")
			var err error
			for i := range o {
				if o[i].Typed == pvc {
					o[i].JSON, err = jsonOf(pvc)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			return o
		}, "differs from the overlay's"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.mutate(freshCopy(t, prep))
			wantErr(t, validate.CheckPrepare(o, overlay, pod), c.want)
		})
	}
}

// TestNodeSizing: a topspeed replica and a Cassandra node of the
// K8ssandra example fit the documented VM class together, and not a
// default 2-vCPU class.
func TestNodeSizing(t *testing.T) {
	pod := loadPod(t, "prod")
	kcs := validate.Find[validate.K8ssandraCluster](buildDeploy(t, "examples", "k8ssandra"))
	if len(kcs) != 1 || kcs[0].Spec.Cassandra.Resources == nil {
		t.Fatal("the K8ssandra example sets no resources")
	}
	cass := kcs[0].Spec.Cassandra.Resources.Requests
	reportProblems(t, validate.NodeFit(validate.DocumentedVMClass, pod.Container.Resources.Requests, cass))
	small := validate.VMClass{Name: "best-effort-medium", CPU: resource.MustParse("2"), Memory: resource.MustParse("8Gi")}
	wantErr(t, validate.NodeFit(small, pod.Container.Resources.Requests, cass), "exceed")
	doc := string(readRepo(t, "docs", "deploy.md"))
	for _, s := range []string{validate.DocumentedVMClass.Name, "4 vCPU", "16 GiB"} {
		if !strings.Contains(doc, s) {
			t.Errorf("docs/deploy.md does not mention %q (the documented VM class)", s)
		}
	}
}

func readRepo(t *testing.T, rel ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{repoRoot(t)}, rel...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonOf(v any) ([]byte, error) { return json.Marshal(v) }

// TestCassandraTLSComponent: prod plus deploy/components/cassandra-tls
// passes every check: the CA file is key ca.crt of its secret, on a
// read-only mount, and the server name is the K8ssandra service.
func TestCassandraTLSComponent(t *testing.T) {
	mem, root := memDeploy(t)
	dir := root + "/overlays/prod"
	b, err := mem.ReadFile(dir + "/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.WriteFile(dir+"/kustomization.yaml", append(b, "\ncomponents:\n  - ../../components/cassandra-tls\n"...)); err != nil {
		t.Fatal(err)
	}
	objs, err := validate.Build(mem, dir)
	if err != nil {
		t.Fatal(err)
	}
	reportProblems(t, validate.Check(objs, checkEnv(t), expectFor(t, mem, root, "prod")))
	pod, err := validate.LoadPod(objs, topspeedFlags(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := pod.Settings.Value("cassandra-tls-server-name"); got != cassandraExpect.Hosts {
		t.Errorf("--cassandra-tls-server-name %q, want the service %s", got, cassandraExpect.Hosts)
	}
	if pod.Settings.Value("cassandra-tls-ca") == "" {
		t.Error("--cassandra-tls-ca is not set")
	}
}
