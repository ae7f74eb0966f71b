package validate

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// VMClass is a vSphere VM class (the size of a worker node).
type VMClass struct {
	Name        string
	CPU, Memory resource.Quantity
}

// DocumentedVMClass is the worker VM class docs/deploy.md asks for:
// best-effort-large (guaranteed-large is the same size, reserved).
var DocumentedVMClass = VMClass{Name: "best-effort-large", CPU: resource.MustParse("4"), Memory: resource.MustParse("16Gi")}

// NodeReserve is what a TKG worker keeps for itself before pods: the
// kubelet and system daemons, the DaemonSets (antrea, kube-proxy,
// vsphere-csi-node, node exporter) and K8ssandra's logging sidecar. An
// estimate, documented with the class.
var NodeReserve = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("2Gi")}

// NodeFit checks that one pod of each given requests (one topspeed
// replica and one Cassandra node share a worker: both spread one per
// node) plus NodeReserve fit the class.
func NodeFit(class VMClass, requests ...corev1.ResourceList) []error {
	var errs []error
	for name, capacity := range map[corev1.ResourceName]resource.Quantity{corev1.ResourceCPU: class.CPU, corev1.ResourceMemory: class.Memory} {
		sum := NodeReserve[name].DeepCopy()
		for _, r := range requests {
			q, ok := r[name]
			if !ok {
				errs = append(errs, fmt.Errorf("a pod requests no %s", name))
				continue
			}
			sum.Add(q)
		}
		if sum.Cmp(capacity) > 0 {
			errs = append(errs, fmt.Errorf("VM class %s: %s requests %s (with %s for the node itself) exceed its %s",
				class.Name, name, sum.String(), NodeReserve.Name(name, resource.DecimalSI).String(), capacity.String()))
		}
	}
	return errs
}
