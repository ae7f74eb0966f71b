package validate

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// Object is one rendered Kubernetes object.
type Object struct {
	APIVersion, Kind, Namespace, Name string
	// JSON is the object as kustomize rendered it.
	JSON []byte
	// Typed is the strictly decoded object: a pointer to a k8s.io/api
	// type, *ServiceMonitor or *K8ssandraCluster.
	Typed any
}

// ID names the object in messages: Kind/namespace/name.
func (o Object) ID() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// newTyped returns an empty typed object for apiVersion and kind, or nil
// for a kind this package does not know (which is an error: every object
// topspeed's manifests contain must be checked).
func newTyped(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Secret":
		return &corev1.Secret{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}
	case "apps/v1 Deployment": // deploy/overlays/kafka-group
		return &appsv1.Deployment{}
	case "autoscaling/v2 HorizontalPodAutoscaler": // deploy/components/kafka-group-hpa
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "batch/v1 Job":
		return &batchv1.Job{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &ServiceMonitor{}
	case "k8ssandra.io/v1alpha1 K8ssandraCluster":
		return &K8ssandraCluster{}
	case "cert-manager.io/v1 Certificate":
		return &Certificate{}
	case "cert-manager.io/v1 Issuer":
		return &Issuer{}
	}
	return nil
}

// DecodeStrict decodes one object's JSON into its typed struct. Unknown
// fields (at any depth), duplicate fields and fields whose case differs
// from the API's are errors, as with `kubectl apply --validate=strict`.
func DecodeStrict(data []byte) (Object, error) {
	var tm metav1.TypeMeta
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, &tm); err != nil {
		return Object{}, fmt.Errorf("reading apiVersion and kind: %w", err)
	}
	typed := newTyped(tm.APIVersion, tm.Kind)
	if typed == nil {
		return Object{}, fmt.Errorf("unknown apiVersion %q kind %q: add its type to newTyped", tm.APIVersion, tm.Kind)
	}
	strict, err := sigsjson.UnmarshalStrict(data, typed, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return Object{}, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
	}
	meta, ok := typed.(metav1.Object)
	if !ok {
		return Object{}, fmt.Errorf("%s %s: no object metadata", tm.APIVersion, tm.Kind)
	}
	o := Object{APIVersion: tm.APIVersion, Kind: tm.Kind, Namespace: meta.GetNamespace(), Name: meta.GetName(), JSON: data, Typed: typed}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return o, fmt.Errorf("%s: strict decoding: %s", o.ID(), strings.Join(msgs, "; "))
	}
	if o.Name == "" {
		return o, fmt.Errorf("%s %s: no metadata.name", tm.APIVersion, tm.Kind)
	}
	return o, nil
}

// DecodeYAMLStrict is DecodeStrict for one YAML document.
func DecodeYAMLStrict(doc []byte) (Object, error) {
	j, err := sigsyaml.YAMLToJSONStrict(doc)
	if err != nil {
		return Object{}, err
	}
	return DecodeStrict(j)
}

// Build runs kustomize on dir of fsys, like `kubectl kustomize dir` (the
// default load restrictions: no file outside a kustomization's directory),
// and strictly decodes every object. Objects are sorted by ID.
func Build(fsys filesys.FileSystem, dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var objs []Object
	var errs []error
	seen := map[string]bool{}
	for _, r := range m.Resources() {
		j, err := r.MarshalJSON()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.CurId(), err))
			continue
		}
		o, err := DecodeStrict(j)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[o.ID()] {
			errs = append(errs, fmt.Errorf("%s: rendered twice", o.ID()))
		}
		seen[o.ID()] = true
		objs = append(objs, o)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].ID() < objs[j].ID() })
	return objs, errors.Join(errs...)
}

// ServiceMonitor is the part of the Prometheus Operator's
// monitoring.coreos.com/v1 ServiceMonitor that topspeed uses. It is not in
// k8s.io/api; fields outside this subset are rejected by the strict
// decoder, so the manifests use no field this package does not check.
// Field names and types follow the Operator's API.
type ServiceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ServiceMonitorSpec `json:"spec"`
}

// ServiceMonitorSpec is the subset of the Operator's ServiceMonitorSpec.
type ServiceMonitorSpec struct {
	JobLabel          string                `json:"jobLabel,omitempty"`
	Selector          metav1.LabelSelector  `json:"selector"`
	NamespaceSelector *NamespaceSelector    `json:"namespaceSelector,omitempty"`
	Endpoints         []ServiceMonitorEndpt `json:"endpoints"`
}

// NamespaceSelector is the Operator's NamespaceSelector.
type NamespaceSelector struct {
	Any        bool     `json:"any,omitempty"`
	MatchNames []string `json:"matchNames,omitempty"`
}

// ServiceMonitorEndpt is the subset of the Operator's Endpoint.
type ServiceMonitorEndpt struct {
	Port          string `json:"port,omitempty"`
	Path          string `json:"path,omitempty"`
	Scheme        string `json:"scheme,omitempty"`
	Interval      string `json:"interval,omitempty"`
	ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
}

// K8ssandraCluster is the part of k8ssandra.io/v1alpha1 K8ssandraCluster
// that the example uses, with the operator's field names and types.
type K8ssandraCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              K8ssandraClusterSpec `json:"spec"`
}

// K8ssandraClusterSpec is the subset of the operator's spec.
type K8ssandraClusterSpec struct {
	Auth      *bool                    `json:"auth,omitempty"`
	Cassandra CassandraClusterTemplate `json:"cassandra"`
}

// CassandraClusterTemplate is the subset of spec.cassandra.
type CassandraClusterTemplate struct {
	DatacenterOptions `json:",inline"`
	Datacenters       []CassandraDatacenterTemplate `json:"datacenters"`
}

// DatacenterOptions are the settings shared by the cluster and its DCs.
type DatacenterOptions struct {
	ServerVersion string                       `json:"serverVersion,omitempty"`
	StorageConfig *StorageConfig               `json:"storageConfig,omitempty"`
	Config        *CassandraConfig             `json:"config,omitempty"`
	Resources     *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// StorageConfig is cass-operator's StorageConfig (subset).
type StorageConfig struct {
	CassandraDataVolumeClaimSpec *corev1.PersistentVolumeClaimSpec `json:"cassandraDataVolumeClaimSpec,omitempty"`
}

// CassandraConfig is the subset of spec.cassandra.config.
type CassandraConfig struct {
	JVMOptions *JVMOptions `json:"jvmOptions,omitempty"`
}

// JVMOptions is the subset of spec.cassandra.config.jvmOptions.
type JVMOptions struct {
	HeapSize *resource.Quantity `json:"heapSize,omitempty"`
}

// CassandraDatacenterTemplate is one datacenter.
type CassandraDatacenterTemplate struct {
	Meta              EmbeddedObjectMeta `json:"metadata"`
	DatacenterOptions `json:",inline"`
	Size              int32 `json:"size"`
}

// EmbeddedObjectMeta is the operator's metadata of a datacenter (subset).
type EmbeddedObjectMeta struct {
	Name string `json:"name"`
}
