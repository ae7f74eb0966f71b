package validate

// The checks of deploy/overlays/kafka-group (Kafka-group mode: a
// Deployment, no raft), for kafkagroup_test.go. They reuse the pod checks
// of Check that hold in every mode (probes, volumes, paths, security,
// resources, PDB, NetworkPolicy, storage, Cassandra) and replace the ones
// written for the raft StatefulSet.

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Secrets of Kafka-group mode.
const (
	// KafkaSecret holds the SASL/SCRAM password (key SecretPasswordKey),
	// mounted for --kafka-sasl-password-file.
	KafkaSecret = "topspeed-kafka"
	// KafkaTLSSecret holds the brokers' CA (ca.crt), with
	// deploy/components/kafka-tls.
	KafkaTLSSecret = "topspeed-kafka-tls"
	// MinKafkaSession is the broker's default group.min.session.timeout.ms:
	// a shorter --kafka-session-timeout is refused at join.
	MinKafkaSession = 6 * time.Second
	// MinScaleDownWindow is the least scale-down stabilization window of
	// the HPA: every scale step is a rebalance.
	MinScaleDownWindow = 300
)

// GroupExpect is what the Kafka-group overlay must render.
type GroupExpect struct {
	Expect
	// Partitions is the input topic's partition count (params.yaml,
	// kafkaPartitions): the most replicas that get work.
	Partitions int32
}

// LoadGroupPod is LoadPod for the Kafka-group Deployment: the pod's STS
// is a stand-in carrying the Deployment's replicas, selector and template
// (no claim templates: a Deployment has none); Objects are objs.
func LoadGroupPod(objs []Object, flags Flags) (*Pod, *appsv1.Deployment, error) {
	dep := FindNamed[appsv1.Deployment](objs, AppName)
	if dep == nil {
		return nil, nil, fmt.Errorf("no Deployment %q", AppName)
	}
	if n := len(Find[appsv1.Deployment](objs)); n != 1 {
		return nil, nil, fmt.Errorf("%d Deployments, want 1", n)
	}
	if n := len(Find[appsv1.StatefulSet](objs)); n != 0 {
		return nil, nil, fmt.Errorf("%d StatefulSets besides the Deployment: both would run the job", n)
	}
	sts := &appsv1.StatefulSet{ObjectMeta: dep.ObjectMeta,
		Spec: appsv1.StatefulSetSpec{Replicas: dep.Spec.Replicas, Selector: dep.Spec.Selector, Template: dep.Spec.Template}}
	with := append(slices.Clone(objs), Object{APIVersion: "apps/v1", Kind: "StatefulSet", Namespace: dep.Namespace, Name: dep.Name, Typed: sts})
	pod, err := LoadPod(with, flags)
	if err != nil {
		return nil, nil, err
	}
	pod.Objects = objs
	return pod, dep, nil
}

// CheckKafkaGroup runs every check of the Kafka-group overlay on objs.
func CheckKafkaGroup(objs []Object, env Env, exp GroupExpect) []error {
	var p problems
	pod, dep, err := LoadGroupPod(objs, env.Flags)
	if err != nil {
		return []error{err}
	}
	checkNamespaces(&p, objs, exp.Expect)
	checkGroupWorkload(&p, pod, dep, exp)
	checkGroupServices(&p, pod, env)
	checkProbes(&p, pod, env)
	checkVolumes(&p, pod)
	checkGroupSecrets(&p, pod)
	checkPaths(&p, pod)
	checkGroupMode(&p, pod)
	checkGroupShutdown(&p, pod)
	checkSecurity(&p, pod)
	checkResources(&p, pod)
	checkPDB(&p, pod, exp.Expect)
	checkGroupPDB(&p, pod)
	checkNetworkPolicy(&p, pod, exp.Expect)
	checkStorage(&p, pod, exp.Expect)
	checkCassandra(&p, pod, exp.Expect)
	checkNoDashboard(&p, objs)
	checkServiceMonitors(&p, pod, env, exp.Expect)
	checkHPA(&p, pod, dep, exp)
	return p
}

// checkGroupWorkload: the Deployment's replicas are at most the partition
// count, its rollout never lowers the group below the replicas, its pods
// are spread over nodes and zones, and its image is pinned.
func checkGroupWorkload(p *problems, pod *Pod, dep *appsv1.Deployment, exp GroupExpect) {
	if r := dep.Spec.Replicas; r != nil && (*r < 1 || *r > exp.Partitions) {
		p.add("Deployment %s: replicas %d: want 1 to the topic's %d partitions (more would idle)", dep.Name, *r, exp.Partitions)
	}
	if ok, err := selects(dep.Spec.Selector, pod.PodLabels()); err != nil || !ok {
		p.add("Deployment %s: selector %v does not select its pod labels %v (%v)", dep.Name, dep.Spec.Selector, pod.PodLabels(), err)
	}
	if s := dep.Spec.Strategy; s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
		s.RollingUpdate.MaxUnavailable == nil || s.RollingUpdate.MaxUnavailable.String() != "0" {
		p.add("Deployment %s: want a RollingUpdate with maxUnavailable 0: a rollout must add a member before it removes one", dep.Name)
	}
	if sa := pod.Spec.ServiceAccountName; sa == "" || FindNamed[corev1.ServiceAccount](pod.Objects, sa) == nil {
		p.add("Deployment %s: serviceAccountName %q is not rendered", dep.Name, sa)
	}
	a := pod.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		p.add("Deployment %s: no preferred podAntiAffinity: replicas would pile up on one node", dep.Name)
	} else {
		if len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
			p.add("Deployment %s: required podAntiAffinity: the HPA's replicas (up to %d, plus a surge) would need as many nodes", dep.Name, exp.Partitions)
		}
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			if ok, err := selects(w.PodAffinityTerm.LabelSelector, pod.PodLabels()); err != nil || !ok || w.PodAffinityTerm.TopologyKey == "" {
				p.add("Deployment %s: podAntiAffinity term does not select the topspeed pods per topology key (%v)", dep.Name, err)
			}
		}
	}
	checkSpread(p, pod)
	if sp := pod.Spec.ShareProcessNamespace; sp == nil || !*sp {
		p.add("Deployment %s: shareProcessNamespace must be true: otherwise topspeed is PID 1 and the drill's kill -9 is dropped by the kernel", dep.Name)
	}
	img := pod.Container.Image
	if i := strings.LastIndex(img, ":"); !strings.Contains(img, "@sha256:") && (i <= strings.LastIndex(img, "/") || img[i+1:] == "latest") {
		p.add("container %s: image %q: pin a tag or digest (not latest)", AppName, img)
	}
	if !strings.Contains(img, "/") {
		p.add("container %s: image %q has no registry/repository: set it in the overlay's images", AppName, img)
	}
}

// checkGroupServices: every Service selects the pods on declared ports,
// there is no raft Service, and the ops port is the Service the alert
// rules scrape.
func checkGroupServices(p *problems, pod *Pod, env Env) {
	for _, svc := range Find[corev1.Service](pod.Objects) {
		if ok, err := selectsMap(svc.Spec.Selector, pod.PodLabels()); err != nil || !ok {
			p.add("Service %s: selector %v does not select the topspeed pods (%v)", svc.Name, svc.Spec.Selector, err)
		}
		for _, sp := range svc.Spec.Ports {
			if cp, ok := pod.ContainerPort(sp.TargetPort); !ok || cp.ContainerPort != sp.Port {
				p.add("Service %s: port %s targets %s, which is not a container port of the same number", svc.Name, sp.Name, sp.TargetPort.String())
			}
		}
	}
	if FindNamed[corev1.Service](pod.Objects, RaftService) != nil {
		p.add("Service %s: Kafka-group mode has no raft", RaftService)
	}
	metrics := FindNamed[corev1.Service](pod.Objects, AppName)
	if metrics == nil || (env.ScrapeJob != "" && metrics.Name != env.ScrapeJob) {
		p.add("no Service %s for the scrape job %q the alert rules expect", AppName, env.ScrapeJob)
	}
	addr := pod.Settings.Value("http-addr")
	if port, err := portOf(addr); err != nil {
		p.add("--http-addr %q: %v (no probes, no metrics)", addr, err)
	} else if cp, ok := pod.ContainerPort(intstr.FromString("http")); !ok || cp.ContainerPort != port {
		p.add("container port http %v does not match --http-addr %s", cp, addr)
	}
	for _, cp := range pod.Container.Ports {
		if cp.Name != "http" {
			p.add("container port %s %d: Kafka-group mode listens only on the ops port", cp.Name, cp.ContainerPort)
		}
	}
}

// checkGroupMode: Kafka-group settings without raft and without what the
// mode refuses; the Kafka connection's files on their secret volumes.
func checkGroupMode(p *problems, pod *Pod) {
	s := pod.Settings
	for _, name := range s.Used {
		if strings.HasPrefix(name, "ha-") {
			p.add("--%s is set: Kafka-group mode runs without raft (the runner refuses --ha-* with --kafka-group)", name)
		}
	}
	for _, f := range []string{"kafka-group", "kafka-topic", "kafka-brokers"} {
		if s.Value(f) == "" {
			p.add("--%s is not set: this is not Kafka-group mode", f)
		}
	}
	for _, f := range []string{"savepoint-dir", "from-savepoint", "input"} {
		if s.Value(f) != "" {
			p.add("--%s is set: Kafka-group mode refuses it", f)
		}
	}
	for _, f := range []string{"cars", "rate", "events"} {
		if s.IsSet(f) {
			p.add("--%s is set: the generator does not run in Kafka-group mode (the topic is the input)", f)
		}
	}
	if s.Value("kafka-sasl-mechanism") != "" {
		checkSecretFile(p, pod, "kafka-sasl-password-file", KafkaSecret, SecretPasswordKey)
		if s.Value("kafka-sasl-username") == "" {
			p.add("--kafka-sasl-mechanism without --kafka-sasl-username")
		}
	}
	if s.Value("kafka-tls-ca") != "" {
		checkSecretFile(p, pod, "kafka-tls-ca", KafkaTLSSecret, "ca.crt")
	}
	for _, f := range []string{"kafka-tls-cert", "kafka-tls-key"} {
		if v := s.Value(f); v != "" {
			if m, _, ok := pod.Mount(path.Clean(v)); !ok || pod.Volume(m.Name) == nil || pod.Volume(m.Name).Secret == nil {
				p.add("--%s %s is not on a secret volume", f, v)
			}
		}
	}
	session := duration(p, s, "kafka-session-timeout")
	if session < MinKafkaSession {
		p.add("--kafka-session-timeout %v is below the broker's default group.min.session.timeout.ms (%v): the join would be refused", session, MinKafkaSession)
	}
	if rebalance := duration(p, s, "kafka-rebalance-timeout"); rebalance < session {
		p.add("--kafka-rebalance-timeout %v is below --kafka-session-timeout %v", rebalance, session)
	}
}

// checkGroupSecrets: the Cassandra user from its secret in the
// environment; every password, token or key only as a file of a secret
// volume (one key each, not world-readable); no password in the
// environment, literal or from a secret.
func checkGroupSecrets(p *problems, pod *Pod) {
	c := pod.Container
	if len(c.EnvFrom) > 0 {
		p.add("container %s: envFrom: list the variables", c.Name)
	}
	user := false
	for _, e := range c.Env {
		if u := strings.ToUpper(e.Name); strings.Contains(u, "PASSWORD") || strings.Contains(u, "TOKEN") || strings.Contains(u, "SECRET") {
			p.add("container %s: env %s: passwords come from files of secret volumes, never the environment", c.Name, e.Name)
		}
		if e.ValueFrom == nil || e.ValueFrom.ConfigMapKeyRef != nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref == nil || ref.Name != CassandraSecret || ref.Key != SecretUserKey {
			p.add("container %s: env %s: the only secret value in the environment is %s/%s", c.Name, e.Name, CassandraSecret, SecretUserKey)
			continue
		}
		if f, ok := pod.Settings.flags.ByEnv(e.Name); ok && f.Name == "cassandra-username" {
			user = true
		}
	}
	if !user {
		p.add("container %s: the Cassandra user is not taken from secret %s key %s", c.Name, CassandraSecret, SecretUserKey)
	}
	for _, a := range c.Args {
		if n := strings.ToLower(a); strings.Contains(n, "password") && !strings.Contains(n, "password-file") {
			p.add("container %s: argument %q: a password in the arguments", c.Name, a)
		}
	}
	want := map[string]string{CassandraSecret: SecretPasswordKey, KafkaSecret: SecretPasswordKey,
		KafkaTLSSecret: "ca.crt", CassandraTLSSecret: "ca.crt"}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.Secret == nil {
			continue
		}
		key, ok := want[v.Secret.SecretName]
		if !ok {
			p.add("volume %s: secret %s, want %s, %s, %s or %s", v.Name, v.Secret.SecretName, CassandraSecret, KafkaSecret, KafkaTLSSecret, CassandraTLSSecret)
			continue
		}
		if len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != key {
			p.add("volume %s: mount exactly the key %s of %s", v.Name, key, v.Secret.SecretName)
		}
		if v.Secret.Optional != nil && *v.Secret.Optional {
			p.add("volume %s: the secret must not be optional", v.Name)
		}
		checkSecretMode(p, pod, v, "key "+key+" of "+v.Secret.SecretName)
	}
}

// checkGroupShutdown: SIGTERM leaves the group (the tasks stop within
// --kafka-rebalance-timeout), then the ops server drains: the grace
// period exceeds that, and --stop-timeout's bound too.
func checkGroupShutdown(p *problems, pod *Pod) {
	s := pod.Settings
	stop := max(duration(p, s, "kafka-rebalance-timeout"), duration(p, s, "stop-timeout"))
	need := stop + duration(p, s, "http-shutdown-timeout")
	g := pod.Spec.TerminationGracePeriodSeconds
	if g == nil {
		p.add("terminationGracePeriodSeconds not set (default 30s)")
	} else if time.Duration(*g)*time.Second <= need {
		p.add("terminationGracePeriodSeconds %d must exceed max(--kafka-rebalance-timeout, --stop-timeout) + --http-shutdown-timeout = %v, or SIGKILL cuts the replica's leaving", *g, need)
	}
}

// checkGroupPDB: a pod that is not ready (not a group member) may always
// be evicted, so a crash-looping replica does not block a drain.
func checkGroupPDB(p *problems, pod *Pod) {
	for _, pdb := range Find[policyv1.PodDisruptionBudget](pod.Objects) {
		if pol := pdb.Spec.UnhealthyPodEvictionPolicy; pol == nil || *pol != policyv1.AlwaysAllow {
			p.add("PodDisruptionBudget %s: unhealthyPodEvictionPolicy %v, want AlwaysAllow", pdb.Name, pol)
		}
	}
}

// checkHPA: an HPA (optional) scales the Deployment on CPU between 1 and
// the partition count, scales down slowly, and owns the replicas.
func checkHPA(p *problems, pod *Pod, dep *appsv1.Deployment, exp GroupExpect) {
	hpas := Find[autoscalingv2.HorizontalPodAutoscaler](pod.Objects)
	if len(hpas) > 1 {
		p.add("%d HorizontalPodAutoscalers, want at most 1", len(hpas))
	}
	for _, h := range hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != dep.Name {
			p.add("HorizontalPodAutoscaler %s: scaleTargetRef %s %s/%s, want apps/v1 Deployment/%s", h.Name, ref.APIVersion, ref.Kind, ref.Name, dep.Name)
		}
		if m := h.Spec.MinReplicas; m == nil || *m < 1 || *m > h.Spec.MaxReplicas {
			p.add("HorizontalPodAutoscaler %s: minReplicas unset or outside 1 to maxReplicas %d", h.Name, h.Spec.MaxReplicas)
		}
		if h.Spec.MaxReplicas > exp.Partitions {
			p.add("HorizontalPodAutoscaler %s: maxReplicas %d exceeds the topic's %d partitions: the extra replicas would idle", h.Name, h.Spec.MaxReplicas, exp.Partitions)
		}
		if dep.Spec.Replicas != nil {
			p.add("Deployment %s: replicas %d with HorizontalPodAutoscaler %s: every apply would reset the HPA's choice", dep.Name, *dep.Spec.Replicas, h.Name)
		}
		cpu := false
		for _, m := range h.Spec.Metrics {
			cpu = cpu || (m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
				m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil)
		}
		if !cpu {
			p.add("HorizontalPodAutoscaler %s: no CPU utilization metric", h.Name)
		} else if _, ok := pod.Container.Resources.Requests[corev1.ResourceCPU]; !ok {
			p.add("HorizontalPodAutoscaler %s: CPU utilization needs a cpu request", h.Name)
		}
		checkHPABehavior(p, h)
	}
}

// checkHPABehavior: scale-down waits at least MinScaleDownWindow seconds
// and removes one replica per step (each step is a rebalance).
func checkHPABehavior(p *problems, h *autoscalingv2.HorizontalPodAutoscaler) {
	b := h.Spec.Behavior
	if b == nil || b.ScaleDown == nil || b.ScaleDown.StabilizationWindowSeconds == nil || *b.ScaleDown.StabilizationWindowSeconds < MinScaleDownWindow {
		p.add("HorizontalPodAutoscaler %s: scale-down stabilization window below %ds: rebalances would flap", h.Name, MinScaleDownWindow)
		return
	}
	if sel := b.ScaleDown.SelectPolicy; sel != nil && *sel == autoscalingv2.DisabledPolicySelect {
		return
	}
	if len(b.ScaleDown.Policies) == 0 {
		p.add("HorizontalPodAutoscaler %s: no scale-down policy: the default removes up to all extra replicas at once", h.Name)
	}
	for _, pol := range b.ScaleDown.Policies {
		if pol.Type != autoscalingv2.PodsScalingPolicy || pol.Value != 1 {
			p.add("HorizontalPodAutoscaler %s: scale-down policy %s %d: want Pods 1 (one rebalance per step)", h.Name, pol.Type, pol.Value)
		}
	}
}

// GroupPartitions reads kafkaPartitions from a params ConfigMap's data.
func GroupPartitions(data map[string]string) (int32, error) {
	v, ok := data["kafkaPartitions"]
	if !ok {
		return 0, fmt.Errorf("params.yaml: no kafkaPartitions")
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 1 || n > 10000 {
		return 0, fmt.Errorf("params.yaml: kafkaPartitions %q: want a partition count in [1, 10000]", v)
	}
	return int32(n), nil
}
