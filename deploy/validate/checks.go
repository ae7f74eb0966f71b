package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// What topspeed's deployment is made of: names the checks look for.
const (
	AppName     = "topspeed" // StatefulSet, container, ServiceAccount, metrics Service
	RaftService = "topspeed-raft"
	SharedClaim = "topspeed-shared"
	// CassandraSecret holds the Cassandra role topspeed logs in as (a
	// least-privilege role, docs/deploy.md), keys username and password.
	CassandraSecret   = "topspeed-cassandra"
	SecretUserKey     = "username"
	SecretPasswordKey = "password"
	// OpsTokenSecret holds the bearer token of POST /api/v1/savepoints
	// (--http-token-file), key OpsTokenKey.
	OpsTokenSecret = "topspeed-ops-token"
	OpsTokenKey    = "token"
	// CassandraTLSSecret holds the CA (ca.crt, PEM) of the Cassandra
	// nodes' certificates, with deploy/components/cassandra-tls.
	CassandraTLSSecret = "topspeed-cassandra-tls"
	// RaftTLSSecret holds raft's mutual TLS material (HA only), with the
	// keys cert-manager writes: ca.crt, tls.crt, tls.key.
	RaftTLSSecret = "topspeed-raft-tls"
	NonRootUID    = 65532 // distroless "nonroot"
	// DashboardLabel is the label the Tanzu Grafana package's dashboard
	// sidecar (k8s-sidecar, LABEL=grafana-dashboard) loads ConfigMaps by,
	// in its own namespace, GrafanaNamespace.
	DashboardLabel   = "grafana-dashboard"
	GrafanaNamespace = "tanzu-system-dashboards"
	// ZoneKey is the well-known node label of the zone.
	ZoneKey = "topology.kubernetes.io/zone"
	// LastAppliedLimit is the most an object may weigh for `kubectl apply`
	// without --server-side: the last-applied-configuration annotation
	// (the whole object) must fit in 256 KiB of annotations.
	LastAppliedLimit = 262144
)

// Expect is what one overlay must render.
type Expect struct {
	Namespace string
	Replicas  int32
	// HA: raft on (--ha-replicas = Replicas); off: no --ha-* setting at all.
	HA bool
	// RWXStorageClass of the shared claim: the overlay's parameter
	// (params.yaml, rwxStorageClass), read by the caller, not pinned.
	RWXStorageClass string
	// MonitoringNamespace may reach the metrics port.
	MonitoringNamespace string
	// Cassandra is what the job must write to.
	Cassandra CassandraExpect
	// Cars is the generator's number of cars (the seed's run).
	Cars int
	// RaftTiming is the HA overlay's heartbeat, election and lease
	// timeouts (zero: not pinned, only RaftTimingMin applies).
	RaftTiming [3]time.Duration
}

// CassandraExpect is the sink configuration the deployment must have.
type CassandraExpect struct {
	Hosts, LocalDC, Consistency, Keyspace, Table, Replication string
	CreateSchema                                              bool
}

// Env is what the manifests are checked against.
type Env struct {
	Flags  Flags           // from `topspeed --help`
	Routes map[string]bool // from internal/ops
	// ScrapeJob is the job name the alert rules select (up{job="..."}).
	ScrapeJob string
}

type problems []error

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Errorf(format, args...)) }

// Pod is the topspeed pod of a rendered deployment, with the objects it
// refers to.
type Pod struct {
	Objects   []Object
	STS       *appsv1.StatefulSet
	Spec      *corev1.PodSpec
	Container *corev1.Container
	Settings  *Settings
	// ConfigFile is the --config file's content, nil without --config.
	ConfigFile []byte
	// Env is the container's environment: literal values, and "" for
	// valueFrom.
	Env map[string]string
}

// Find returns the rendered objects of a kind.
func Find[T any](objs []Object) []*T {
	var out []*T
	for _, o := range objs {
		if t, ok := o.Typed.(*T); ok {
			out = append(out, t)
		}
	}
	return out
}

// FindNamed returns the object of type T named name, or nil.
func FindNamed[T any](objs []Object, name string) *T {
	for _, o := range objs {
		if t, ok := o.Typed.(*T); ok && o.Name == name {
			return t
		}
	}
	return nil
}

// LoadPod finds the topspeed StatefulSet and container and resolves the
// container's settings (args, environment, --config file from its
// ConfigMap) against flags.
func LoadPod(objs []Object, flags Flags) (*Pod, error) {
	sts := FindNamed[appsv1.StatefulSet](objs, AppName)
	if sts == nil {
		return nil, fmt.Errorf("no StatefulSet %q", AppName)
	}
	if n := len(Find[appsv1.StatefulSet](objs)); n != 1 {
		return nil, fmt.Errorf("%d StatefulSets, want 1", n)
	}
	p := &Pod{Objects: objs, STS: sts, Spec: &sts.Spec.Template.Spec, Env: map[string]string{}}
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == AppName {
			p.Container = &p.Spec.Containers[i]
		}
	}
	if p.Container == nil || len(p.Spec.Containers) != 1 {
		return nil, fmt.Errorf("StatefulSet %s: want exactly one container named %q", sts.Name, AppName)
	}
	if len(p.Container.Command) > 0 {
		return nil, fmt.Errorf("container %s: command %q overrides the image's entrypoint (topspeed): use args", AppName, p.Container.Command)
	}
	for _, e := range p.Container.Env {
		if _, dup := p.Env[e.Name]; dup {
			return nil, fmt.Errorf("container %s: env %s set twice", AppName, e.Name)
		}
		p.Env[e.Name] = e.Value
	}
	// Find the --config file before resolving: only args and env can name it.
	args, err := ParseArgs(flags, p.Container.Args)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", AppName, err)
	}
	cfgPath := args["config"]
	if cfgPath == "" {
		for _, e := range flags["config"].Env {
			if v, ok := p.Env[e]; ok {
				cfgPath = v
				break
			}
		}
	}
	if cfgPath != "" {
		data, err := p.ConfigMapFile(cfgPath)
		if err != nil {
			return nil, fmt.Errorf("--config %s: %w", cfgPath, err)
		}
		p.ConfigFile = data
	}
	if p.Settings, err = NewSettings(flags, p.Container.Args, p.Env, p.ConfigFile); err != nil {
		return nil, fmt.Errorf("container %s: %w", AppName, err)
	}
	return p, nil
}

// Mount returns the container's volume mount that holds file, and the
// file's path inside the volume. The longest mount path wins.
func (p *Pod) Mount(file string) (*corev1.VolumeMount, string, bool) {
	var best *corev1.VolumeMount
	rel := ""
	for i := range p.Container.VolumeMounts {
		m := &p.Container.VolumeMounts[i]
		mp := path.Clean(m.MountPath)
		if file == mp || strings.HasPrefix(file, mp+"/") {
			if best == nil || len(mp) > len(path.Clean(best.MountPath)) {
				best = m
				rel = strings.TrimPrefix(strings.TrimPrefix(file, mp), "/")
			}
		}
	}
	if best != nil && best.SubPath != "" {
		rel = path.Join(best.SubPath, rel)
	}
	return best, rel, best != nil
}

// Volume returns the pod volume a mount uses, or nil (a claim template).
func (p *Pod) Volume(name string) *corev1.Volume {
	for i := range p.Spec.Volumes {
		if p.Spec.Volumes[i].Name == name {
			return &p.Spec.Volumes[i]
		}
	}
	return nil
}

// ClaimTemplate returns the StatefulSet's claim template of that name.
func (p *Pod) ClaimTemplate(name string) *corev1.PersistentVolumeClaim {
	for i := range p.STS.Spec.VolumeClaimTemplates {
		if p.STS.Spec.VolumeClaimTemplates[i].Name == name {
			return &p.STS.Spec.VolumeClaimTemplates[i]
		}
	}
	return nil
}

// ConfigMapFile returns the content of a file the pod reads from a
// ConfigMap volume.
func (p *Pod) ConfigMapFile(file string) ([]byte, error) {
	m, rel, ok := p.Mount(file)
	if !ok {
		return nil, errors.New("not on any volume mount")
	}
	v := p.Volume(m.Name)
	if v == nil || v.ConfigMap == nil {
		return nil, fmt.Errorf("mount %s is not a ConfigMap volume", m.Name)
	}
	key := rel
	for _, it := range v.ConfigMap.Items {
		if it.Path == rel {
			key = it.Key
		}
	}
	cm := FindNamed[corev1.ConfigMap](p.Objects, v.ConfigMap.Name)
	if cm == nil {
		return nil, fmt.Errorf("ConfigMap %s is not rendered", v.ConfigMap.Name)
	}
	data, ok := cm.Data[key]
	if !ok {
		return nil, fmt.Errorf("ConfigMap %s has no key %q", cm.Name, key)
	}
	return []byte(data), nil
}

// PodLabels returns the pod template's labels.
func (p *Pod) PodLabels() labels.Set { return labels.Set(p.STS.Spec.Template.Labels) }

// ContainerPort returns the container port a Service, probe or policy
// port refers to (by name or number).
func (p *Pod) ContainerPort(ref intstr.IntOrString) (*corev1.ContainerPort, bool) {
	for i := range p.Container.Ports {
		cp := &p.Container.Ports[i]
		if (ref.Type == intstr.String && cp.Name == ref.StrVal) || (ref.Type == intstr.Int && cp.ContainerPort == ref.IntVal) {
			return cp, true
		}
	}
	return nil, false
}

func selects(sel *metav1.LabelSelector, set labels.Set) (bool, error) {
	if sel == nil {
		return false, errors.New("no selector")
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}
	if s.Empty() {
		return false, errors.New("empty selector selects everything")
	}
	return s.Matches(set), nil
}

func portOf(addr string) (int32, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(port, 10, 32)
	if err != nil {
		return 0, err
	}
	return int32(n), nil
}

// Check runs every check on one overlay's objects and returns the problems
// found.
func Check(objs []Object, env Env, exp Expect) []error {
	var p problems
	pod, err := LoadPod(objs, env.Flags)
	if err != nil {
		return []error{err}
	}
	checkNamespaces(&p, objs, exp)
	checkWorkload(&p, pod, exp)
	checkServices(&p, pod, env)
	checkProbes(&p, pod, env)
	checkPorts(&p, pod)
	checkVolumes(&p, pod)
	checkSecrets(&p, pod)
	checkPaths(&p, pod)
	checkHA(&p, pod, exp)
	checkShutdown(&p, pod)
	checkSecurity(&p, pod)
	checkResources(&p, pod)
	checkPDB(&p, pod, exp)
	checkNetworkPolicy(&p, pod, exp)
	checkStorage(&p, pod, exp)
	checkCassandra(&p, pod, exp)
	checkNoDashboard(&p, objs)
	checkServiceMonitors(&p, pod, env, exp)
	return p
}

func checkNamespaces(p *problems, objs []Object, exp Expect) {
	var ns *corev1.Namespace
	for _, o := range objs {
		switch t := o.Typed.(type) {
		case *corev1.Namespace:
			if o.Name != exp.Namespace {
				p.add("%s: want only namespace %s", o.ID(), exp.Namespace)
			}
			ns = t
		default:
			if o.Namespace != exp.Namespace {
				p.add("%s: namespace %q, want %q", o.ID(), o.Namespace, exp.Namespace)
			}
		}
	}
	if ns == nil {
		p.add("no Namespace %s", exp.Namespace)
		return
	}
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		p.add("Namespace %s: label pod-security.kubernetes.io/enforce is %q, want restricted", ns.Name, ns.Labels["pod-security.kubernetes.io/enforce"])
	}
}

func checkWorkload(p *problems, pod *Pod, exp Expect) {
	sts := pod.STS
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != exp.Replicas {
		p.add("StatefulSet %s: replicas %v, want %d", sts.Name, sts.Spec.Replicas, exp.Replicas)
	}
	if ok, err := selects(sts.Spec.Selector, pod.PodLabels()); err != nil || !ok {
		p.add("StatefulSet %s: selector %v does not select its pod labels %v (%v)", sts.Name, sts.Spec.Selector, pod.PodLabels(), err)
	}
	// Raft needs a quorum before any replica is ready: OrderedReady would
	// start topspeed-1 only once topspeed-0 is ready, which never happens.
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		p.add("StatefulSet %s: podManagementPolicy %q, want Parallel", sts.Name, sts.Spec.PodManagementPolicy)
	}
	if sts.Spec.ServiceName != RaftService {
		p.add("StatefulSet %s: serviceName %q, want %s", sts.Name, sts.Spec.ServiceName, RaftService)
	}
	if sa := pod.Spec.ServiceAccountName; sa == "" || FindNamed[corev1.ServiceAccount](pod.Objects, sa) == nil {
		p.add("StatefulSet %s: serviceAccountName %q is not rendered", sts.Name, sa)
	}
	if a := pod.Spec.Affinity; a == nil || a.PodAntiAffinity == nil ||
		len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)+len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		p.add("StatefulSet %s: no podAntiAffinity: replicas could share a node", sts.Name)
	} else {
		terms := a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
		for _, t := range terms {
			if ok, err := selects(t.LabelSelector, pod.PodLabels()); err != nil || !ok {
				p.add("StatefulSet %s: podAntiAffinity term does not select the topspeed pods (%v)", sts.Name, err)
			}
			if t.TopologyKey == "" {
				p.add("StatefulSet %s: podAntiAffinity term without topologyKey", sts.Name)
			}
		}
	}
	checkSpread(p, pod)
	// The failover drill kills topspeed with SIGKILL from a debug
	// container; as PID 1 of its own PID namespace it would not die.
	if sp := pod.Spec.ShareProcessNamespace; sp == nil || !*sp {
		p.add("StatefulSet %s: shareProcessNamespace must be true: otherwise topspeed is PID 1 and the drill's kill -9 is dropped by the kernel", sts.Name)
	}
	img := pod.Container.Image
	name, tag := img, ""
	if i := strings.LastIndex(img, ":"); i > strings.LastIndex(img, "/") {
		name, tag = img[:i], img[i+1:]
	}
	if !strings.Contains(img, "@sha256:") && (tag == "" || tag == "latest") {
		p.add("container %s: image %q: pin a tag or digest (not latest)", AppName, img)
	}
	if !strings.Contains(name, "/") {
		p.add("container %s: image %q has no registry/repository: set it in the overlay's images", AppName, img)
	}
}

// checkSpread: the replicas spread over zones (ScheduleAnyway, so a
// cluster with one zone still schedules them, or DoNotSchedule).
func checkSpread(p *problems, pod *Pod) {
	found := false
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.TopologyKey != ZoneKey {
			continue
		}
		found = true
		if ok, err := selects(c.LabelSelector, pod.PodLabels()); err != nil || !ok {
			p.add("topologySpreadConstraint over %s does not select the topspeed pods (%v)", ZoneKey, err)
		}
		if c.MaxSkew != 1 {
			p.add("topologySpreadConstraint over %s: maxSkew %d, want 1", ZoneKey, c.MaxSkew)
		}
		if c.WhenUnsatisfiable != corev1.ScheduleAnyway && c.WhenUnsatisfiable != corev1.DoNotSchedule {
			p.add("topologySpreadConstraint over %s: whenUnsatisfiable %q", ZoneKey, c.WhenUnsatisfiable)
		}
	}
	if !found {
		p.add("no topologySpreadConstraint over %s: all replicas could land in one zone", ZoneKey)
	}
}

func checkServices(p *problems, pod *Pod, env Env) {
	for _, svc := range Find[corev1.Service](pod.Objects) {
		ok, err := selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, pod.PodLabels())
		if err != nil || !ok {
			p.add("Service %s: selector %v does not select the topspeed pods %v (%v)", svc.Name, svc.Spec.Selector, pod.PodLabels(), err)
		}
		if len(svc.Spec.Ports) == 0 {
			p.add("Service %s: no ports", svc.Name)
		}
		for _, sp := range svc.Spec.Ports {
			target := sp.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(sp.Port)
			}
			cp, ok := pod.ContainerPort(target)
			if !ok {
				p.add("Service %s: port %s targets %s, which the container does not declare", svc.Name, sp.Name, target.String())
				continue
			}
			if proto(sp.Protocol) != proto(cp.Protocol) {
				p.add("Service %s: port %s is %s, container port %s is %s", svc.Name, sp.Name, proto(sp.Protocol), cp.Name, proto(cp.Protocol))
			}
			if sp.Port != cp.ContainerPort {
				p.add("Service %s: port %s is %d, container port %s is %d: keep them equal", svc.Name, sp.Name, sp.Port, cp.Name, cp.ContainerPort)
			}
		}
	}
	raft := FindNamed[corev1.Service](pod.Objects, RaftService)
	switch {
	case raft == nil:
		p.add("no Service %s (the StatefulSet's governing headless service)", RaftService)
	case raft.Spec.ClusterIP != corev1.ClusterIPNone:
		p.add("Service %s: clusterIP %q, want None (headless: per-pod DNS names)", raft.Name, raft.Spec.ClusterIP)
	case !raft.Spec.PublishNotReadyAddresses:
		p.add("Service %s: publishNotReadyAddresses must be true: replicas must find each other before any is ready", raft.Name)
	}
	metrics := FindNamed[corev1.Service](pod.Objects, AppName)
	if metrics == nil {
		p.add("no Service %s for the ops port", AppName)
	} else {
		if env.ScrapeJob != "" && metrics.Name != env.ScrapeJob {
			p.add("Service %s: the alert rules expect the scrape job %q, which a ServiceMonitor names after the service", metrics.Name, env.ScrapeJob)
		}
		found := false
		for _, sp := range metrics.Spec.Ports {
			found = found || sp.Name == "http"
		}
		if !found {
			p.add("Service %s: no port named http", metrics.Name)
		}
	}
}

func proto(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func checkProbes(p *problems, pod *Pod, env Env) {
	c := pod.Container
	want := map[string]struct {
		probe *corev1.Probe
		path  string
	}{
		"liveness":  {c.LivenessProbe, "/livez"},
		"readiness": {c.ReadinessProbe, "/readyz"},
		"startup":   {c.StartupProbe, "/livez"},
	}
	for kind, w := range want {
		pr := w.probe
		if pr == nil {
			if kind != "startup" {
				p.add("container %s: no %s probe", c.Name, kind)
			}
			continue
		}
		if pr.HTTPGet == nil {
			p.add("container %s: %s probe is not an httpGet probe", c.Name, kind)
			continue
		}
		h := pr.HTTPGet
		if !env.Routes[h.Path] {
			p.add("container %s: %s probe path %q is not served by topspeed (routes: %v)", c.Name, kind, h.Path, SortedKeys(env.Routes))
		}
		if h.Path != w.path {
			p.add("container %s: %s probe path %q, want %s", c.Name, kind, h.Path, w.path)
		}
		if h.Scheme != "" && h.Scheme != corev1.URISchemeHTTP {
			p.add("container %s: %s probe scheme %s: the ops server speaks HTTP", c.Name, kind, h.Scheme)
		}
		cp, ok := pod.ContainerPort(h.Port)
		if !ok {
			p.add("container %s: %s probe port %s is not a container port", c.Name, kind, h.Port.String())
		} else if cp.Name != "http" {
			p.add("container %s: %s probe uses port %s, want the ops port http", c.Name, kind, cp.Name)
		}
		if pr.TimeoutSeconds < 1 || pr.PeriodSeconds < 1 || pr.FailureThreshold < 1 {
			p.add("container %s: %s probe: set timeoutSeconds, periodSeconds and failureThreshold", c.Name, kind)
		}
	}
}

// checkPorts: the declared ports are the ones topspeed listens on.
func checkPorts(p *problems, pod *Pod) {
	s := pod.Settings
	httpAddr := s.Value("http-addr")
	if httpAddr == "" {
		p.add("--http-addr is empty: no metrics, no probes")
	} else if port, err := portOf(httpAddr); err != nil {
		p.add("--http-addr %q: %v", httpAddr, err)
	} else if cp, ok := pod.ContainerPort(intstr.FromString("http")); !ok || cp.ContainerPort != port {
		p.add("container port http %v does not match --http-addr %s", cp, httpAddr)
	}
	bind := s.Value("ha-bind")
	port, err := portOf(bind)
	if err != nil {
		p.add("--ha-bind %q: %v", bind, err)
		return
	}
	cp, ok := pod.ContainerPort(intstr.FromString("raft"))
	if !ok || cp.ContainerPort != port {
		p.add("container port raft %v does not match --ha-bind %s", cp, bind)
	}
	if raft := FindNamed[corev1.Service](pod.Objects, RaftService); raft != nil {
		for _, sp := range raft.Spec.Ports {
			if sp.Port != port {
				p.add("Service %s: port %d, but peers are reached at the --ha-bind port %d (<pod>.%s:<port>)", raft.Name, sp.Port, port, RaftService)
			}
		}
	}
	seen := map[string]bool{}
	for _, cp := range pod.Container.Ports {
		if cp.Name == "" || seen[cp.Name] {
			p.add("container %s: port %d: every port needs a unique name", AppName, cp.ContainerPort)
		}
		seen[cp.Name] = true
	}
}

func checkVolumes(p *problems, pod *Pod) {
	c := pod.Container
	used := map[string]bool{}
	paths := map[string]bool{}
	for _, m := range c.VolumeMounts {
		used[m.Name] = true
		if paths[path.Clean(m.MountPath)] {
			p.add("container %s: two mounts at %s", c.Name, m.MountPath)
		}
		paths[path.Clean(m.MountPath)] = true
		v := pod.Volume(m.Name)
		vct := pod.ClaimTemplate(m.Name)
		switch {
		case v == nil && vct == nil:
			p.add("container %s: volumeMount %s has no volume and no volumeClaimTemplate", c.Name, m.Name)
		case v != nil && vct != nil:
			p.add("container %s: volumeMount %s is both a volume and a claim template", c.Name, m.Name)
		case v != nil && v.ConfigMap != nil:
			if FindNamed[corev1.ConfigMap](pod.Objects, v.ConfigMap.Name) == nil {
				p.add("volume %s: ConfigMap %s is not rendered", v.Name, v.ConfigMap.Name)
			}
			if !m.ReadOnly {
				p.add("volumeMount %s: mount ConfigMaps readOnly", m.Name)
			}
		case v != nil && v.PersistentVolumeClaim != nil:
			if FindNamed[corev1.PersistentVolumeClaim](pod.Objects, v.PersistentVolumeClaim.ClaimName) == nil {
				p.add("volume %s: PersistentVolumeClaim %s is not rendered", v.Name, v.PersistentVolumeClaim.ClaimName)
			}
		case v != nil && v.Secret != nil:
			if !m.ReadOnly {
				p.add("volumeMount %s: mount secrets readOnly", m.Name)
			}
		}
	}
	for _, v := range pod.Spec.Volumes {
		if !used[v.Name] {
			p.add("volume %s is mounted nowhere", v.Name)
		}
	}
	for _, t := range pod.STS.Spec.VolumeClaimTemplates {
		if !used[t.Name] {
			p.add("volumeClaimTemplate %s is mounted nowhere", t.Name)
		}
	}
}

// checkSecrets: the Cassandra secret's username in the environment, its
// password as a file, no password in the environment; the other secret
// volumes are the ops token (--http-token-file) and raft's TLS material.
func checkSecrets(p *problems, pod *Pod) {
	c := pod.Container
	if len(c.EnvFrom) > 0 {
		p.add("container %s: envFrom: list the variables", c.Name)
	}
	userFromSecret := false
	for _, e := range c.Env {
		if e.Name == "CASSANDRA_PASSWORD" || e.Name == "TOPSPEED_CASSANDRA_PASSWORD" {
			p.add("container %s: env %s: the password must come from a file (--cassandra-password-file), not the environment", c.Name, e.Name)
		}
		if e.ValueFrom == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref == nil {
			if e.ValueFrom.ConfigMapKeyRef != nil {
				continue
			}
			p.add("container %s: env %s: unexpected valueFrom", c.Name, e.Name)
			continue
		}
		if ref.Name != CassandraSecret || ref.Key != SecretUserKey {
			p.add("container %s: env %s from secret %s key %s: the only secret value in the environment is %s/%s", c.Name, e.Name, ref.Name, ref.Key, CassandraSecret, SecretUserKey)
		}
		if ref.Optional != nil && *ref.Optional {
			p.add("container %s: env %s: the secret must not be optional", c.Name, e.Name)
		}
		if f, ok := pod.Settings.flags.ByEnv(e.Name); !ok || f.Name != "cassandra-username" {
			p.add("container %s: env %s from the secret does not set --cassandra-username", c.Name, e.Name)
		} else {
			userFromSecret = true
		}
	}
	if !userFromSecret {
		p.add("container %s: the Cassandra user is not taken from secret %s key %s", c.Name, CassandraSecret, SecretUserKey)
	}
	if pod.Settings.IsSet("cassandra-username") {
		if _, from := pod.Settings.Get("cassandra-username"); from != "env" {
			p.add("--cassandra-username is set by %s, overriding the secret", from)
		}
	}
	secretVolumes := 0
	for _, v := range pod.Spec.Volumes {
		if v.Secret == nil {
			if v.Projected != nil {
				p.add("volume %s: projected volumes are not expected", v.Name)
			}
			continue
		}
		if v.Secret.SecretName == RaftTLSSecret {
			checkSecretMode(p, pod, &v, "the raft key")
			continue // its keys: checkRaftTLS
		}
		key, what := SecretPasswordKey, "the password"
		switch v.Secret.SecretName {
		case CassandraSecret:
			secretVolumes++
		case OpsTokenSecret:
			key, what = OpsTokenKey, "the ops token"
		case CassandraTLSSecret:
			key, what = "ca.crt", "the Cassandra CA"
			checkSecretFile(p, pod, "cassandra-tls-ca", CassandraTLSSecret, key)
		default:
			p.add("volume %s: secret %s, want %s, %s, %s or %s", v.Name, v.Secret.SecretName, CassandraSecret, OpsTokenSecret, CassandraTLSSecret, RaftTLSSecret)
		}
		if len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != key {
			p.add("volume %s: mount exactly the key %s of %s", v.Name, key, v.Secret.SecretName)
		}
		if v.Secret.Optional != nil && *v.Secret.Optional {
			p.add("volume %s: the secret must not be optional", v.Name)
		}
		checkSecretMode(p, pod, &v, what)
	}
	if secretVolumes != 1 {
		p.add("%d secret volumes of %s, want 1 (the password)", secretVolumes, CassandraSecret)
	}
	checkSecretFile(p, pod, "http-token-file", OpsTokenSecret, OpsTokenKey)
}

// checkSecretFile: the file flag names is key of secret, on its volume.
func checkSecretFile(p *problems, pod *Pod, flag, secret, key string) {
	file := pod.Settings.Value(flag)
	if file == "" {
		p.add("--%s is not set: it must name key %s of secret %s", flag, key, secret)
		return
	}
	m, rel, ok := pod.Mount(path.Clean(file))
	if !ok {
		p.add("--%s %s is on no volume", flag, file)
		return
	}
	v := pod.Volume(m.Name)
	if v == nil || v.Secret == nil || v.Secret.SecretName != secret {
		p.add("--%s is on mount %s, which is not secret %s", flag, m.Name, secret)
		return
	}
	got := rel
	for _, it := range v.Secret.Items {
		if it.Path == rel {
			got = it.Key
		}
	}
	if got != key {
		p.add("--%s %s is key %q of %s, want %q", flag, file, got, secret, key)
	}
}

// checkSecretMode: a secret volume's files are readable by the group
// (fsGroup, for user NonRootUID) and nobody else.
func checkSecretMode(p *problems, pod *Pod, v *corev1.Volume, what string) {
	mode := int32(0o644)
	if v.Secret.DefaultMode != nil {
		mode = *v.Secret.DefaultMode
	}
	if mode&0o007 != 0 {
		p.add("volume %s: mode %#o lets every user read %s", v.Name, mode, what)
	}
	if mode&0o040 == 0 || pod.Spec.SecurityContext == nil || pod.Spec.SecurityContext.FSGroup == nil {
		p.add("volume %s: mode %#o: %s file must be group-readable, with fsGroup set, for user %d", v.Name, mode, what, NonRootUID)
	}
}

// checkRaftTLS: with raft, its port is mutually authenticated: --ha-tls-ca,
// --ha-tls-cert and --ha-tls-key are the keys ca.crt, tls.crt and tls.key
// of secret RaftTLSSecret, and --ha-allow-insecure is not set.
func checkRaftTLS(p *problems, pod *Pod) {
	s := pod.Settings
	if v := s.Value("ha-allow-insecure"); v != "" && v != "false" {
		p.add("--ha-allow-insecure is set: raft must run over mutual TLS")
	}
	for flag, key := range map[string]string{"ha-tls-ca": "ca.crt", "ha-tls-cert": "tls.crt", "ha-tls-key": "tls.key"} {
		if s.Value(flag) == "" {
			p.add("--%s is not set: raft would run without TLS (anyone reaching the port could vote)", flag)
			continue
		}
		checkSecretFile(p, pod, flag, RaftTLSSecret, key)
	}
}

// checkPaths: every file topspeed reads or writes is on the right volume.
func checkPaths(p *problems, pod *Pod) {
	s := pod.Settings
	onVolume := func(flag string, write bool) (*corev1.VolumeMount, string) {
		v := s.Value(flag)
		if v == "" {
			return nil, ""
		}
		if !path.IsAbs(v) {
			p.add("--%s %q: use an absolute path (the working directory is the read-only root)", flag, v)
			return nil, ""
		}
		m, rel, ok := pod.Mount(path.Clean(v))
		if !ok {
			p.add("--%s %s is on no volume: the root filesystem is read-only", flag, v)
			return nil, ""
		}
		if write && m.ReadOnly {
			p.add("--%s %s is on the read-only mount %s", flag, v, m.Name)
		}
		return m, rel
	}
	if m, rel := onVolume("cassandra-password-file", false); m != nil {
		v := pod.Volume(m.Name)
		if v == nil || v.Secret == nil || v.Secret.SecretName != CassandraSecret {
			p.add("--cassandra-password-file is on mount %s, which is not secret %s", m.Name, CassandraSecret)
		} else {
			key := ""
			for _, it := range v.Secret.Items {
				if it.Path == rel {
					key = it.Key
				}
			}
			if key != SecretPasswordKey {
				p.add("--cassandra-password-file %s is key %q of %s, want %q", s.Value("cassandra-password-file"), key, CassandraSecret, SecretPasswordKey)
			}
		}
	} else if s.Value("cassandra-hosts") != "" {
		p.add("--cassandra-password-file is not set: the password must come from secret %s", CassandraSecret)
	}
	for _, flag := range []string{"checkpoint-dir", "savepoint-dir"} {
		if m, _ := onVolume(flag, true); m != nil {
			v := pod.Volume(m.Name)
			if v == nil || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != SharedClaim {
				p.add("--%s is on mount %s, not on the shared claim %s: another replica could not read it", flag, m.Name, SharedClaim)
			}
		}
	}
	if s.Value("checkpoint-dir") == "" {
		p.add("--checkpoint-dir is not set: a restarted pod would start from the beginning")
	}
	if m, _ := onVolume("ha-dir", true); m != nil {
		if pod.ClaimTemplate(m.Name) == nil {
			p.add("--ha-dir is on mount %s, which is not a volumeClaimTemplate: each replica needs its own raft log", m.Name)
		}
	}
	if s.IsSet("output") {
		onVolume("output", true)
	}
	if s.IsSet("input") && s.Value("input") != "-" {
		onVolume("input", false)
	}
	for _, flag := range []string{"cassandra-tls-ca", "cassandra-tls-cert", "cassandra-tls-key"} {
		onVolume(flag, false)
	}
}

func atoi(p *problems, flag, v string) int {
	n, err := strconv.Atoi(v)
	if err != nil {
		p.add("--%s %q: %v", flag, v, err)
	}
	return n
}

func checkHA(p *problems, pod *Pod, exp Expect) {
	s := pod.Settings
	replicas := int32(0)
	if pod.STS.Spec.Replicas != nil {
		replicas = *pod.STS.Spec.Replicas
	}
	n := atoi(p, "ha-replicas", s.Value("ha-replicas"))
	on := n > 0 || s.Value("ha-peers") != ""
	if on != exp.HA {
		p.add("raft is %v, want %v", on, exp.HA)
	}
	if !exp.HA {
		for _, name := range s.Used {
			if strings.HasPrefix(name, "ha-") {
				p.add("--%s is set, but this overlay runs without raft", name)
			}
		}
		if replicas > 1 {
			p.add("%d replicas without raft would all run the job", replicas)
		}
		if len(pod.STS.Spec.VolumeClaimTemplates) > 0 {
			p.add("volumeClaimTemplates without raft")
		}
		return
	}
	if s.Value("ha-peers") != "" {
		p.add("--ha-peers is set: derive the peers from the StatefulSet with --ha-replicas")
	}
	if int32(n) != replicas {
		p.add("--ha-replicas %d but the StatefulSet has %d replicas: raft membership is fixed at --ha-replicas", n, replicas)
	}
	if n < 3 || n%2 == 0 {
		p.add("--ha-replicas %d: use an odd number, at least 3, to survive the loss of a replica", n)
	}
	if svc := s.Value("ha-service"); svc != pod.STS.Spec.ServiceName {
		p.add("--ha-service %q is not the StatefulSet's serviceName %q: peers would not resolve", svc, pod.STS.Spec.ServiceName)
	}
	if s.IsSet("ha-id") {
		p.add("--ha-id is set: leave it to default to the pod name")
	}
	if s.IsSet("ha-advertise") {
		p.add("--ha-advertise is set: leave it to default to <pod>.<service>:<port>")
	}
	if s.Value("ha-dir") == "" {
		p.add("--ha-dir is not set")
	}
	checkRaftTLS(p, pod)
	checkRaftTiming(p, s, exp)
}

// RaftTimingMin are hashicorp/raft's default heartbeat, election and
// leader lease timeouts: an HA overlay for VMs must not go below them
// (vMotion stuns and CPU throttling would move leadership).
var RaftTimingMin = [3]time.Duration{time.Second, time.Second, 500 * time.Millisecond}

// checkRaftTiming: the HA overlay's raft timeouts are exp.RaftTiming (heartbeat,
// election, lease), at least hashicorp/raft's defaults, and consistent as
// raft's ValidateConfig wants them (lease <= heartbeat <= election).
func checkRaftTiming(p *problems, s *Settings, exp Expect) {
	flags := [3]string{"ha-heartbeat-timeout", "ha-election-timeout", "ha-lease-timeout"}
	var got [3]time.Duration
	for i, f := range flags {
		got[i] = duration(p, s, f)
		if got[i] < RaftTimingMin[i] {
			p.add("--%s %v is below hashicorp/raft's default %v: leadership would flap on VMs", f, got[i], RaftTimingMin[i])
		}
		if exp.RaftTiming[i] != 0 && got[i] != exp.RaftTiming[i] {
			p.add("--%s is %v, want %v", f, got[i], exp.RaftTiming[i])
		}
	}
	if got[2] > got[0] {
		p.add("--ha-lease-timeout %v exceeds --ha-heartbeat-timeout %v (raft refuses it)", got[2], got[0])
	}
	if got[1] < got[0] {
		p.add("--ha-election-timeout %v is below --ha-heartbeat-timeout %v (raft refuses it)", got[1], got[0])
	}
}

func duration(p *problems, s *Settings, flag string) time.Duration {
	v := s.Value(flag)
	d, err := time.ParseDuration(v)
	if err != nil {
		p.add("--%s %q: %v", flag, v, err)
	}
	return d
}

func checkShutdown(p *problems, pod *Pod) {
	s := pod.Settings
	need := duration(p, s, "stop-timeout") + duration(p, s, "http-shutdown-timeout")
	g := pod.Spec.TerminationGracePeriodSeconds
	if g == nil {
		p.add("terminationGracePeriodSeconds not set (default 30s)")
		return
	}
	if time.Duration(*g)*time.Second <= need {
		p.add("terminationGracePeriodSeconds %d must exceed --stop-timeout + --http-shutdown-timeout = %v, or SIGKILL cuts the final checkpoint", *g, need)
	}
}

// checkSecurity: the Pod Security "restricted" profile, plus a read-only
// root filesystem and no API token.
func checkSecurity(p *problems, pod *Pod) {
	ps := pod.Spec.SecurityContext
	c := pod.Container
	cs := c.SecurityContext
	if ps == nil {
		ps = &corev1.PodSecurityContext{}
	}
	if cs == nil {
		cs = &corev1.SecurityContext{}
	}
	nonRoot := (cs.RunAsNonRoot != nil && *cs.RunAsNonRoot) || (cs.RunAsNonRoot == nil && ps.RunAsNonRoot != nil && *ps.RunAsNonRoot)
	if !nonRoot {
		p.add("runAsNonRoot is not true")
	}
	uid := ps.RunAsUser
	if cs.RunAsUser != nil {
		uid = cs.RunAsUser
	}
	if uid == nil || *uid != NonRootUID {
		p.add("runAsUser %v, want %d (distroless nonroot, the image's USER)", uid, NonRootUID)
	}
	if cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation {
		p.add("allowPrivilegeEscalation must be false")
	}
	if cs.Privileged != nil && *cs.Privileged {
		p.add("privileged")
	}
	if cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem {
		p.add("readOnlyRootFilesystem must be true")
	}
	if cs.Capabilities == nil || len(cs.Capabilities.Drop) != 1 || cs.Capabilities.Drop[0] != "ALL" {
		p.add("capabilities must drop ALL")
	} else if len(cs.Capabilities.Add) > 0 {
		p.add("capabilities add %v: topspeed needs none (its ports are above 1024)", cs.Capabilities.Add)
	}
	seccomp := ps.SeccompProfile
	if cs.SeccompProfile != nil {
		seccomp = cs.SeccompProfile
	}
	if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
		p.add("seccompProfile must be RuntimeDefault")
	}
	if pod.Spec.HostNetwork || pod.Spec.HostPID || pod.Spec.HostIPC {
		p.add("host namespaces are not allowed")
	}
	for _, cp := range c.Ports {
		if cp.HostPort != 0 {
			p.add("port %s: hostPort", cp.Name)
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap == nil && v.Secret == nil && v.PersistentVolumeClaim == nil && v.EmptyDir == nil && v.DownwardAPI == nil && v.Projected == nil {
			p.add("volume %s: type not allowed by the restricted profile (or not expected)", v.Name)
		}
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		p.add("automountServiceAccountToken must be false: topspeed does not use the API")
	}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		p.add("enableServiceLinks must be false: the Service %q would put TOPSPEED_SERVICE_HOST, TOPSPEED_PORT... into topspeed's setting prefix", AppName)
	}
	if sa := FindNamed[corev1.ServiceAccount](pod.Objects, pod.Spec.ServiceAccountName); sa != nil &&
		(sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken) {
		p.add("ServiceAccount %s: automountServiceAccountToken must be false", sa.Name)
	}
}

var goMemLimit = regexp.MustCompile(`^([0-9]+)(B|KiB|MiB|GiB|TiB)?$`)

func checkResources(p *problems, pod *Pod) {
	r := pod.Container.Resources
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := r.Requests[name]; !ok {
			p.add("container %s: no %s request", AppName, name)
		}
	}
	mem, ok := r.Limits[corev1.ResourceMemory]
	if !ok {
		p.add("container %s: no memory limit", AppName)
		return
	}
	if req, ok := r.Requests[corev1.ResourceMemory]; ok && req.Cmp(mem) > 0 {
		p.add("container %s: memory request %s above the limit %s", AppName, req.String(), mem.String())
	}
	v, ok := pod.Env["GOMEMLIMIT"]
	if !ok {
		p.add("container %s: set GOMEMLIMIT below the memory limit %s", AppName, mem.String())
		return
	}
	m := goMemLimit.FindStringSubmatch(v)
	if m == nil {
		p.add("GOMEMLIMIT %q: not a Go memory limit", v)
		return
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	mult := map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	limit := resource.NewQuantity(n*mult, resource.BinarySI)
	if limit.Cmp(mem) >= 0 {
		p.add("GOMEMLIMIT %s is not below the memory limit %s", v, mem.String())
	}
}

func checkPDB(p *problems, pod *Pod, exp Expect) {
	pdbs := Find[policyv1.PodDisruptionBudget](pod.Objects)
	if len(pdbs) != 1 {
		p.add("%d PodDisruptionBudgets, want 1", len(pdbs))
		return
	}
	pdb := pdbs[0]
	if ok, err := selects(pdb.Spec.Selector, pod.PodLabels()); err != nil || !ok {
		p.add("PodDisruptionBudget %s does not select the topspeed pods (%v)", pdb.Name, err)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.String() != "1" || pdb.Spec.MinAvailable != nil {
		p.add("PodDisruptionBudget %s: want maxUnavailable 1 only", pdb.Name)
	}
	if exp.HA && exp.Replicas < 3 {
		p.add("raft with %d replicas cannot lose one", exp.Replicas)
	}
}

func checkNetworkPolicy(p *problems, pod *Pod, exp Expect) {
	nps := Find[networkingv1.NetworkPolicy](pod.Objects)
	if len(nps) != 1 {
		p.add("%d NetworkPolicies, want 1", len(nps))
		return
	}
	np := nps[0]
	if ok, err := selects(&np.Spec.PodSelector, pod.PodLabels()); err != nil || !ok {
		p.add("NetworkPolicy %s does not select the topspeed pods (%v)", np.Name, err)
	}
	ingress := false
	for _, t := range np.Spec.PolicyTypes {
		ingress = ingress || t == networkingv1.PolicyTypeIngress
	}
	if !ingress {
		p.add("NetworkPolicy %s: policyTypes lacks Ingress", np.Name)
	}
	allowed := map[string]bool{} // container port name -> some rule allows it
	for i, r := range np.Spec.Ingress {
		if len(r.From) == 0 {
			p.add("NetworkPolicy %s: rule %d allows every source", np.Name, i)
		}
		if len(r.Ports) == 0 {
			p.add("NetworkPolicy %s: rule %d allows every port", np.Name, i)
		}
		for _, pp := range r.Ports {
			if pp.Port == nil {
				p.add("NetworkPolicy %s: rule %d: a port without a number or name", np.Name, i)
				continue
			}
			cp, ok := pod.ContainerPort(*pp.Port)
			if !ok {
				p.add("NetworkPolicy %s: rule %d: port %s is not a container port", np.Name, i, pp.Port.String())
				continue
			}
			if pp.Protocol != nil && *pp.Protocol != proto(cp.Protocol) {
				p.add("NetworkPolicy %s: rule %d: port %s protocol %s, container says %s", np.Name, i, cp.Name, *pp.Protocol, proto(cp.Protocol))
			}
			allowed[cp.Name] = true
			for _, peer := range r.From {
				switch cp.Name {
				case "raft":
					// Only other topspeed pods of this namespace.
					if peer.NamespaceSelector != nil || peer.IPBlock != nil || peer.PodSelector == nil {
						p.add("NetworkPolicy %s: rule %d opens raft to more than the topspeed pods", np.Name, i)
					} else if ok, err := selects(peer.PodSelector, pod.PodLabels()); err != nil || !ok {
						p.add("NetworkPolicy %s: rule %d: raft peers selector does not select the topspeed pods", np.Name, i)
					}
				case "http":
					ns := peer.NamespaceSelector
					if ns == nil || peer.IPBlock != nil || ns.MatchLabels["kubernetes.io/metadata.name"] != exp.MonitoringNamespace {
						p.add("NetworkPolicy %s: rule %d: the ops port must be open only to namespace %s", np.Name, i, exp.MonitoringNamespace)
					}
				default:
					p.add("NetworkPolicy %s: rule %d opens unexpected port %s", np.Name, i, cp.Name)
				}
			}
		}
	}
	if !allowed["http"] {
		p.add("NetworkPolicy %s: Prometheus cannot reach the http port", np.Name)
	}
	if exp.HA && !allowed["raft"] {
		p.add("NetworkPolicy %s: replicas cannot reach each other's raft port", np.Name)
	}
}

func checkStorage(p *problems, pod *Pod, exp Expect) {
	pvc := FindNamed[corev1.PersistentVolumeClaim](pod.Objects, SharedClaim)
	if pvc == nil {
		p.add("no PersistentVolumeClaim %s", SharedClaim)
	} else {
		if len(pvc.Spec.AccessModes) != 1 || pvc.Spec.AccessModes[0] != corev1.ReadWriteMany {
			p.add("PersistentVolumeClaim %s: access modes %v, want [ReadWriteMany] (the next leader may run on another node)", pvc.Name, pvc.Spec.AccessModes)
		}
		switch sc := pvc.Spec.StorageClassName; {
		case sc == nil || *sc == "":
			p.add("PersistentVolumeClaim %s: no storageClassName: set rwxStorageClass in the overlay's params.yaml", pvc.Name)
		case *sc != exp.RWXStorageClass:
			p.add("PersistentVolumeClaim %s: storageClassName %q, but the overlay's parameter rwxStorageClass is %q", pvc.Name, *sc, exp.RWXStorageClass)
		default:
			for _, msg := range validation.IsDNS1123Subdomain(*sc) {
				p.add("PersistentVolumeClaim %s: storageClassName %q: %s", pvc.Name, *sc, msg)
			}
		}
		if _, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			p.add("PersistentVolumeClaim %s: no storage request", pvc.Name)
		}
	}
	for _, t := range pod.STS.Spec.VolumeClaimTemplates {
		if len(t.Spec.AccessModes) != 1 || t.Spec.AccessModes[0] != corev1.ReadWriteOnce {
			p.add("volumeClaimTemplate %s: access modes %v, want [ReadWriteOnce] (one replica's own raft log)", t.Name, t.Spec.AccessModes)
		}
		if _, ok := t.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			p.add("volumeClaimTemplate %s: no storage request", t.Name)
		}
	}
}

func checkCassandra(p *problems, pod *Pod, exp Expect) {
	s := pod.Settings
	want := map[string]string{
		"cassandra-hosts":         exp.Cassandra.Hosts,
		"cassandra-local-dc":      exp.Cassandra.LocalDC,
		"cassandra-consistency":   exp.Cassandra.Consistency,
		"cassandra-keyspace":      exp.Cassandra.Keyspace,
		"cassandra-table":         exp.Cassandra.Table,
		"cassandra-replication":   exp.Cassandra.Replication,
		"cassandra-create-schema": strconv.FormatBool(exp.Cassandra.CreateSchema),
		"cars":                    strconv.Itoa(exp.Cars),
		"input":                   "",
	}
	for flag, w := range want {
		if v := s.Value(flag); v != w {
			p.add("--%s is %q, want %q", flag, v, w)
		}
	}
}

// checkNoDashboard: the overlays render no dashboard ConfigMap: the
// Grafana package's sidecar watches only its own namespace, so the
// dashboard is deploy/grafana's (CheckGrafana).
func checkNoDashboard(p *problems, objs []Object) {
	for _, cm := range Find[corev1.ConfigMap](objs) {
		for _, l := range []string{DashboardLabel, "grafana_dashboard"} {
			if _, ok := cm.Labels[l]; ok {
				p.add("ConfigMap %s: a dashboard in the topspeed namespace is never loaded: it belongs to deploy/grafana (namespace %s)", cm.Name, GrafanaNamespace)
			}
		}
	}
}

// CheckGrafana checks deploy/grafana's objects: one ConfigMap in the
// Grafana package's namespace, labelled DashboardLabel, holding the
// dashboard (equal to dashboard, when given) as one .json key, small
// enough for client-side `kubectl apply`.
func CheckGrafana(objs []Object, dashboard []byte) []error {
	var p problems
	if len(objs) != 1 {
		p.add("%d objects, want the dashboard ConfigMap only", len(objs))
	}
	cms := Find[corev1.ConfigMap](objs)
	if len(cms) != 1 {
		p.add("%d ConfigMaps, want 1", len(cms))
		return p
	}
	cm := cms[0]
	if cm.Namespace != GrafanaNamespace {
		p.add("ConfigMap %s: namespace %q, want the Grafana package's %s (its sidecar watches only its own namespace)", cm.Name, cm.Namespace, GrafanaNamespace)
	}
	if _, ok := cm.Labels[DashboardLabel]; !ok {
		p.add("ConfigMap %s: no label %s: the Tanzu Grafana package's sidecar would not load it (labels %v)", cm.Name, DashboardLabel, cm.Labels)
	}
	if len(cm.Data) != 1 {
		p.add("ConfigMap %s: %d keys, want the dashboard only", cm.Name, len(cm.Data))
	}
	for k, v := range cm.Data {
		if !strings.HasSuffix(k, ".json") {
			p.add("ConfigMap %s: key %s: Grafana's sidecar wants a .json file", cm.Name, k)
		}
		if !json.Valid([]byte(v)) {
			p.add("ConfigMap %s: key %s is not valid JSON", cm.Name, k)
		}
		if dashboard != nil && !bytes.Equal([]byte(v), dashboard) {
			p.add("ConfigMap %s: the dashboard differs from deploy/monitoring/grafana-dashboard.json: run `make deploy-sync`", cm.Name)
		}
	}
	for _, o := range objs {
		if o.Name == cm.Name && len(o.JSON) >= LastAppliedLimit {
			p.add("ConfigMap %s: %d bytes: too large for client-side `kubectl apply` (use --server-side)", cm.Name, len(o.JSON))
		}
	}
	if cm.Name != "topspeed-grafana-dashboard" {
		p.add("ConfigMap %s: want topspeed-grafana-dashboard (a hash suffix would leave the old dashboard behind on every change)", cm.Name)
	}
	return p
}

func checkServiceMonitors(p *problems, pod *Pod, env Env, exp Expect) {
	svc := FindNamed[corev1.Service](pod.Objects, AppName)
	for _, sm := range Find[ServiceMonitor](pod.Objects) {
		if svc == nil {
			p.add("ServiceMonitor %s: no Service %s", sm.Name, AppName)
			return
		}
		if ok, err := selects(&sm.Spec.Selector, labels.Set(svc.Labels)); err != nil || !ok {
			p.add("ServiceMonitor %s does not select Service %s (%v)", sm.Name, svc.Name, err)
		}
		for _, other := range Find[corev1.Service](pod.Objects) {
			if other.Name == svc.Name {
				continue
			}
			if ok, _ := selects(&sm.Spec.Selector, labels.Set(other.Labels)); ok {
				p.add("ServiceMonitor %s also selects Service %s: every pod would be scraped twice", sm.Name, other.Name)
			}
		}
		if sm.Spec.JobLabel != "" {
			p.add("ServiceMonitor %s: jobLabel renames the job; the alert rules expect %q", sm.Name, env.ScrapeJob)
		}
		if ns := sm.Spec.NamespaceSelector; ns != nil && !ns.Any {
			found := len(ns.MatchNames) == 0
			for _, n := range ns.MatchNames {
				found = found || n == exp.Namespace
			}
			if !found {
				p.add("ServiceMonitor %s: namespaceSelector misses %s", sm.Name, exp.Namespace)
			}
		}
		if len(sm.Spec.Endpoints) == 0 {
			p.add("ServiceMonitor %s: no endpoints", sm.Name)
		}
		for _, ep := range sm.Spec.Endpoints {
			found := false
			for _, sp := range svc.Spec.Ports {
				found = found || sp.Name == ep.Port
			}
			if !found {
				p.add("ServiceMonitor %s: endpoint port %q is not a port name of Service %s", sm.Name, ep.Port, svc.Name)
			}
			if pth := ep.Path; pth != "" && !env.Routes[pth] {
				p.add("ServiceMonitor %s: path %q is not served by topspeed", sm.Name, pth)
			}
			if ep.Scheme != "" && ep.Scheme != "http" {
				p.add("ServiceMonitor %s: scheme %q: the ops server speaks http", sm.Name, ep.Scheme)
			}
			for _, d := range []string{ep.Interval, ep.ScrapeTimeout} {
				if d != "" {
					if _, err := time.ParseDuration(d); err != nil {
						p.add("ServiceMonitor %s: duration %q: %v", sm.Name, d, err)
					}
				}
			}
		}
	}
}
