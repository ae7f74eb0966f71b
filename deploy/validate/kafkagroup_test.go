package validate_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/topspeed/topspeed/deploy/validate"
	"github.com/topspeed/topspeed/internal/testenv"
)

// groupOverlay is the Kafka-group overlay's directory name. TestOverlays
// leaves it to the tests of this file: it renders a Deployment without
// raft, which Check (written for the StatefulSet) does not take.
const groupOverlay = "kafka-group"

// Optional components of the Kafka-group overlay.
const (
	groupHPA      = "../../components/kafka-group-hpa"
	groupKafkaTLS = "../../components/kafka-tls"
)

// groupExpect returns the Kafka-group overlay's expectations, with the
// storage class and partition count of its params.yaml in fsys.
func groupExpect(t *testing.T, fsys filesys.FileSystem, deployDir string) validate.GroupExpect {
	t.Helper()
	params := deployParams(t, fsys, deployDir+"/overlays/"+groupOverlay)
	parts, err := validate.GroupPartitions(params)
	if err != nil {
		t.Fatal(err)
	}
	exp := validate.GroupExpect{Partitions: parts, Expect: validate.Expect{Namespace: "topspeed", Replicas: 0, HA: false,
		RWXStorageClass: params["rwxStorageClass"], MonitoringNamespace: "tanzu-system-monitoring", Cassandra: cassandraExpect}}
	if exp.RWXStorageClass == "" {
		t.Fatal("kafka-group: params.yaml sets no rwxStorageClass")
	}
	// The generator does not run in this mode: its flags keep their
	// defaults (checkGroupMode reports any that is set).
	cars, err := strconv.Atoi(topspeedFlags(t)["cars"].Default)
	if err != nil {
		t.Fatalf("--cars default: %v", err)
	}
	exp.Cars = cars
	return exp
}

// groupVariant builds the Kafka-group overlay from an in-memory copy of
// deploy/ with the given components added to its kustomization.
func groupVariant(t *testing.T, components ...string) ([]validate.Object, validate.GroupExpect) {
	t.Helper()
	mem, root := memDeploy(t)
	dir := root + "/overlays/" + groupOverlay
	if len(components) > 0 {
		b, err := mem.ReadFile(dir + "/kustomization.yaml")
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, "\ncomponents:\n"...)
		for _, c := range components {
			b = append(b, "  - "+c+"\n"...)
		}
		if err := mem.WriteFile(dir+"/kustomization.yaml", b); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := validate.Build(mem, dir)
	if err != nil {
		t.Fatal(err)
	}
	return objs, groupExpect(t, mem, root)
}

// TestKafkaGroupOverlay: the overlay (alone and with each optional
// component) builds, decodes strictly and passes every Kafka-group check.
func TestKafkaGroupOverlay(t *testing.T) {
	env := checkEnv(t)
	for name, comps := range map[string][]string{
		"plain": nil, "hpa": {groupHPA}, "kafka-tls": {groupKafkaTLS}, "hpa+kafka-tls": {groupHPA, groupKafkaTLS},
	} {
		t.Run(name, func(t *testing.T) {
			objs, exp := groupVariant(t, comps...)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.Kind]++
			}
			for _, k := range []string{"Namespace", "ServiceAccount", "Deployment", "Service", "ConfigMap", "PersistentVolumeClaim", "PodDisruptionBudget", "NetworkPolicy"} {
				if kinds[k] != 1 {
					t.Errorf("%d %s objects, want 1", kinds[k], k)
				}
			}
			if kinds["StatefulSet"] != 0 {
				t.Error("a StatefulSet is rendered: the raft job would run beside the group")
			}
			if hpa := kinds["HorizontalPodAutoscaler"] == 1; hpa != slices.Contains(comps, groupHPA) {
				t.Errorf("%d HorizontalPodAutoscalers with components %v", kinds["HorizontalPodAutoscaler"], comps)
			}
			reportProblems(t, validate.CheckKafkaGroup(objs, env, exp))
			pod, _, err := validate.LoadGroupPod(objs, env.Flags)
			if err != nil {
				t.Fatal(err)
			}
			if tls := pod.Settings.Value("kafka-tls-ca") != ""; tls != slices.Contains(comps, groupKafkaTLS) {
				t.Errorf("--kafka-tls-ca set: %v with components %v", tls, comps)
			}
			t.Logf("%d objects %v", len(objs), kinds)
		})
	}
}

// TestKafkaGroupOnDisk: the repository's overlay directory itself (not
// the in-memory copy) builds and passes, so `kubectl apply -k` of it works.
func TestKafkaGroupOnDisk(t *testing.T) {
	objs := buildOverlay(t, groupOverlay)
	exp := groupExpect(t, filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), "deploy"))
	reportProblems(t, validate.CheckKafkaGroup(objs, checkEnv(t), exp))
}

// TestKafkaGroupChecksCatchMistakes: each check fails on the mistake it
// is for.
func TestKafkaGroupChecksCatchMistakes(t *testing.T) {
	env := checkEnv(t)
	base, exp := groupVariant(t, groupHPA, groupKafkaTLS)
	if errs := validate.CheckKafkaGroup(base, env, exp); len(errs) > 0 {
		t.Fatalf("the real overlay must pass: %v", errors.Join(errs...))
	}
	dep := func(o []validate.Object) *appsv1.Deployment {
		return validate.FindNamed[appsv1.Deployment](o, "topspeed")
	}
	ctr := func(o []validate.Object) *corev1.Container { return &dep(o).Spec.Template.Spec.Containers[0] }
	hpa := func(o []validate.Object) *autoscalingv2.HorizontalPodAutoscaler {
		return validate.FindNamed[autoscalingv2.HorizontalPodAutoscaler](o, "topspeed")
	}
	config := func(o []validate.Object, old, new string) {
		for _, cm := range validate.Find[corev1.ConfigMap](o) {
			if s, ok := cm.Data["topspeed.yaml"]; ok {
				if !strings.Contains(s, old) {
					t.Fatalf("topspeed.yaml does not contain %q", old)
				}
				cm.Data["topspeed.yaml"] = strings.Replace(s, old, new, 1)
				return
			}
		}
		t.Fatal("no topspeed.yaml ConfigMap")
	}
	arg := func(a string) func([]validate.Object) {
		return func(o []validate.Object) { ctr(o).Args = append(ctr(o).Args, a) }
	}
	i32 := func(v int32) *int32 { return &v }
	cases := []struct {
		name   string
		mutate func([]validate.Object)
		want   string
	}{
		{"an --ha flag", arg("--ha-replicas=3"), "runs without raft"},
		{"raft port", func(o []validate.Object) {
			ctr(o).Ports = append(ctr(o).Ports, corev1.ContainerPort{Name: "raft", ContainerPort: 7110, Protocol: corev1.ProtocolTCP})
		}, "listens only on the ops port"},
		{"no group", func(o []validate.Object) { config(o, "  group: topspeed\n", "") }, "--kafka-group is not set"},
		{"no topic", func(o []validate.Object) { config(o, "  topic: cars\n", "") }, "--kafka-topic is not set"},
		{"savepoint dir", arg("--savepoint-dir=/var/lib/topspeed/shared/savepoints"), "--savepoint-dir is set: Kafka-group mode refuses it"},
		{"generator", arg("--cars=4000"), "the generator does not run"},
		{"checkpoints off the shared claim", func(o []validate.Object) {
			d := dep(o)
			d.Spec.Template.Spec.Volumes = append(d.Spec.Template.Spec.Volumes, corev1.Volume{Name: "local", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			ctr(o).VolumeMounts = append(ctr(o).VolumeMounts, corev1.VolumeMount{Name: "local", MountPath: "/var/lib/topspeed/local"})
			ctr(o).Args = append(ctr(o).Args, "--checkpoint-dir=/var/lib/topspeed/local/checkpoints")
		}, "not on the shared claim"},
		{"no checkpoints", func(o []validate.Object) { config(o, "  dir: /var/lib/topspeed/shared/checkpoints\n", "") }, "--checkpoint-dir is not set"},
		{"password in the environment", func(o []validate.Object) {
			ctr(o).Env = append(ctr(o).Env, corev1.EnvVar{Name: "KAFKA_SASL_PASSWORD", Value: "hunter2"})
		}, "never the environment"},
		{"password from a secret into the environment", func(o []validate.Object) {
			ctr(o).Env = append(ctr(o).Env, corev1.EnvVar{Name: "KAFKA_SASL_PASSWORD", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: validate.KafkaSecret}, Key: "password"}}})
		}, "never the environment"},
		{"password file off its secret", arg("--kafka-sasl-password-file=/etc/topspeed/cassandra/password"), "which is not secret topspeed-kafka"},
		{"CA file off its secret", func(o []validate.Object) {
			for i, a := range ctr(o).Args {
				if strings.HasPrefix(a, "--kafka-tls-ca=") {
					ctr(o).Args[i] = "--kafka-tls-ca=/etc/topspeed/kafka/password"
				}
			}
		}, "which is not secret topspeed-kafka-tls"},
		{"world-readable password", func(o []validate.Object) {
			for i := range dep(o).Spec.Template.Spec.Volumes {
				if v := &dep(o).Spec.Template.Spec.Volumes[i]; v.Secret != nil && v.Secret.SecretName == validate.KafkaSecret {
					v.Secret.DefaultMode = i32(0o444)
				}
			}
		}, "lets every user read"},
		{"root", func(o []validate.Object) {
			var root int64
			dep(o).Spec.Template.Spec.SecurityContext.RunAsUser = &root
		}, "runAsUser"},
		{"privilege escalation", func(o []validate.Object) {
			yes := true
			ctr(o).SecurityContext.AllowPrivilegeEscalation = &yes
		}, "allowPrivilegeEscalation must be false"},
		{"short grace period", func(o []validate.Object) {
			g := int64(30)
			dep(o).Spec.Template.Spec.TerminationGracePeriodSeconds = &g
		}, "terminationGracePeriodSeconds 30 must exceed"},
		{"grace below the rebalance timeout", arg("--kafka-rebalance-timeout=2m"), "must exceed max(--kafka-rebalance-timeout"},
		{"session below the broker's minimum", arg("--kafka-session-timeout=3s"), "group.min.session.timeout.ms"},
		{"readiness probe", func(o []validate.Object) { ctr(o).ReadinessProbe.HTTPGet.Path = "/livez" }, "readiness probe path"},
		{"rollout drops a member", func(o []validate.Object) {
			one := intstr.FromInt32(1)
			dep(o).Spec.Strategy.RollingUpdate.MaxUnavailable = &one
		}, "maxUnavailable 0"},
		{"required anti-affinity", func(o []validate.Object) {
			a := dep(o).Spec.Template.Spec.Affinity.PodAntiAffinity
			a.RequiredDuringSchedulingIgnoredDuringExecution = append(a.RequiredDuringSchedulingIgnoredDuringExecution,
				a.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm)
		}, "required podAntiAffinity"},
		{"raft rule in the NetworkPolicy", func(o []validate.Object) {
			for _, np := range validate.Find[networkingv1.NetworkPolicy](o) {
				raft := intstr.FromString("raft")
				np.Spec.Ingress = append(np.Spec.Ingress, np.Spec.Ingress[0])
				np.Spec.Ingress[1].Ports = append(np.Spec.Ingress[1].Ports[:0:0], np.Spec.Ingress[0].Ports[0])
				np.Spec.Ingress[1].Ports[0].Port = &raft
			}
		}, "port raft is not a container port"},
		{"PDB blocks drains of unhealthy pods", func(o []validate.Object) {
			for _, pdb := range validate.Find[policyv1.PodDisruptionBudget](o) {
				pdb.Spec.UnhealthyPodEvictionPolicy = nil
			}
		}, "want AlwaysAllow"},
		{"replicas beyond the partitions", func(o []validate.Object) {
			dep(o).Spec.Replicas = i32(exp.Partitions + 1)
		}, "want 1 to the topic's"},
		{"HPA beyond the partitions", func(o []validate.Object) { hpa(o).Spec.MaxReplicas = exp.Partitions * 2 }, "exceeds the topic's"},
		{"HPA scales a StatefulSet", func(o []validate.Object) { hpa(o).Spec.ScaleTargetRef.Kind = "StatefulSet" }, "scaleTargetRef"},
		{"HPA minimum 0", func(o []validate.Object) { hpa(o).Spec.MinReplicas = i32(0) }, "minReplicas"},
		{"HPA flaps", func(o []validate.Object) { hpa(o).Spec.Behavior.ScaleDown.StabilizationWindowSeconds = i32(30) }, "rebalances would flap"},
		{"HPA drops several replicas at once", func(o []validate.Object) {
			hpa(o).Spec.Behavior.ScaleDown.Policies[0].Value = 4
		}, "want Pods 1"},
		{"HPA without CPU", func(o []validate.Object) { hpa(o).Spec.Metrics = nil }, "no CPU utilization metric"},
		{"HPA and fixed replicas", func(o []validate.Object) { dep(o).Spec.Replicas = i32(2) }, "reset the HPA's choice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs := freshCopy(t, base)
			c.mutate(objs)
			errs := validate.CheckKafkaGroup(objs, env, exp)
			for _, e := range errs {
				if strings.Contains(e.Error(), c.want) {
					t.Logf("caught: %v", e)
					return
				}
			}
			t.Fatalf("no problem mentioning %q; got %v", c.want, errs)
		})
	}
	t.Run("a StatefulSet too", func(t *testing.T) {
		objs := freshCopy(t, base)
		for _, o := range buildOverlay(t, "prod") {
			if o.Kind == "StatefulSet" {
				objs = append(objs, o)
			}
		}
		wantErr(t, validate.CheckKafkaGroup(objs, env, exp), "StatefulSets besides the Deployment")
	})
}

// TestKafkaGroupRunnerAgrees: topspeed itself reads the overlay's
// settings (no unknown key) and refuses, with a usage error, what the
// checks forbid: --ha-* flags and savepoints in Kafka-group mode.
func TestKafkaGroupRunnerAgrees(t *testing.T) {
	bin := topspeedBinary(t)
	pod, _, err := validate.LoadGroupPod(buildOverlay(t, groupOverlay), topspeedFlags(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "topspeed.yaml")
	if err := os.WriteFile(cfg, pod.ConfigFile, 0o600); err != nil {
		t.Fatal(err)
	}
	for extra, want := range map[string]string{
		"--ha-replicas=3":           "two ways to run",
		"--savepoint-dir=/tmp/sp":   "--savepoint-dir is not supported with --kafka-group",
		"--from-savepoint=/tmp/sp1": "--from-savepoint is not supported with --kafka-group",
	} {
		t.Run(extra, func(t *testing.T) {
			cmd := testenv.Command(bin, "--config="+cfg, extra)
			cmd.Env = []string{}
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("want exit 2 (usage), got %v\n%s", err, out)
			}
			if !strings.Contains(string(out), want) {
				t.Fatalf("output does not say %q:\n%s", want, out)
			}
		})
	}
}

// TestKafkaGroupFirstInstall: deploy/prepare/kafka-group runs the volume
// owner Job while the namespace is at baseline, without the Deployment,
// and changes nothing else of the overlay (the shared claim is the same
// object, so the overlay's apply leaves it as the Job prepared it); the
// Job hands the volume to the user the pods run as. The case a prepare
// that also renders the Deployment must fail.
func TestKafkaGroupFirstInstall(t *testing.T) {
	overlay := buildOverlay(t, groupOverlay)
	prep := buildDeploy(t, "prepare", groupOverlay)
	pod, _, err := validate.LoadGroupPod(overlay, topspeedFlags(t))
	if err != nil {
		t.Fatal(err)
	}
	reportProblems(t, validate.CheckPrepare(prep, overlay, pod))
	withDeployment := freshCopy(t, prep)
	for _, x := range overlay {
		if _, ok := x.Typed.(*appsv1.Deployment); ok {
			withDeployment = append(withDeployment, freshCopy(t, []validate.Object{x})...)
		}
	}
	wantErr(t, validate.CheckPrepare(withDeployment, overlay, pod), "no topspeed pod may start")
}
