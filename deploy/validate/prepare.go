package validate

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VolumeOwnerJob is the one-shot Job of deploy/prepare that hands the
// shared claim's root to the pods' user (fsGroup is not applied to
// vSphere CSI file volumes).
const VolumeOwnerJob = "topspeed-volume-owner"

// baselineCaps are the capabilities Pod Security "baseline" lets a
// container add.
var baselineCaps = []corev1.Capability{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

// Ownership is what the volume owner Job leaves on the shared claim's
// root directory.
type Ownership struct {
	UID, GID int
	Mode     fs.FileMode // permission bits; 0: unchanged
}

// VolumeOwnership reads the Job's effect from its commands: `chown
// UID:GID DIR` and optionally `chmod MODE DIR` (octal), DIR being where
// the container mounts the shared claim.
func VolumeOwnership(job *batchv1.Job) (Ownership, error) {
	o := Ownership{UID: -1, GID: -1}
	spec := &job.Spec.Template.Spec
	for _, c := range append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...) {
		if len(c.Command) == 0 {
			continue
		}
		dir := ""
		for _, m := range c.VolumeMounts {
			if v := volumeNamed(spec, m.Name); v != nil && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == SharedClaim {
				dir = path.Clean(m.MountPath)
			}
		}
		args := append(slices.Clone(c.Command), c.Args...)
		switch args[0] {
		case "chown", "chmod":
			if len(args) != 3 || path.Clean(args[2]) != dir {
				return o, fmt.Errorf("job %s container %s: %q: want `%s X %s` (the shared claim's mount, not recursive)", job.Name, c.Name, args, args[0], dir)
			}
		default:
			continue
		}
		if args[0] == "chown" {
			u, g, ok := strings.Cut(args[1], ":")
			uid, err1 := strconv.Atoi(u)
			gid, err2 := strconv.Atoi(g)
			if !ok || err1 != nil || err2 != nil {
				return o, fmt.Errorf("job %s container %s: chown %q: want numeric UID:GID", job.Name, c.Name, args[1])
			}
			o.UID, o.GID = uid, gid
			continue
		}
		m, err := strconv.ParseUint(args[1], 8, 32)
		if err != nil || m > 0o7777 {
			return o, fmt.Errorf("job %s container %s: chmod %q: want an octal mode", job.Name, c.Name, args[1])
		}
		o.Mode = fs.FileMode(m) & fs.ModePerm
	}
	if o.UID < 0 {
		return o, fmt.Errorf("job %s: no `chown UID:GID DIR` of the shared claim", job.Name)
	}
	return o, nil
}

func volumeNamed(spec *corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

// CheckPrepare checks a deploy/prepare build against its overlay's
// objects and pod: it renders no StatefulSet or Deployment, a Namespace that admits the
// Job (enforce baseline) where the overlay's enforces restricted, the
// overlay's other objects unchanged (the shared claim with its storage
// class), and the Job: admitted by baseline, mounting only the shared
// claim, handing its root to the pod's user and group (rwx for it), not
// selected by the topspeed Services, PDB or NetworkPolicy.
func CheckPrepare(prep, overlay []Object, pod *Pod) []error {
	var p problems
	byID := map[string]Object{}
	for _, o := range overlay {
		byID[o.ID()] = o
	}
	var job *batchv1.Job
	for _, o := range prep {
		switch t := o.Typed.(type) {
		case *appsv1.StatefulSet, *appsv1.Deployment:
			p.add("%s: no topspeed pod may start before the volume is owned (and none in a baseline namespace)", o.ID())
		case *batchv1.Job:
			job = t
		case *corev1.Namespace:
			if e := t.Labels["pod-security.kubernetes.io/enforce"]; e != "baseline" {
				p.add("%s: enforce %q, want baseline while the Job runs (restricted forbids root)", o.ID(), e)
			}
		default:
			ov, ok := byID[o.ID()]
			if !ok {
				p.add("%s: not in the overlay", o.ID())
			} else if !bytes.Equal(ov.JSON, o.JSON) {
				p.add("%s differs from the overlay's: the second apply would change it", o.ID())
			}
		}
	}
	if FindNamed[corev1.PersistentVolumeClaim](prep, SharedClaim) == nil {
		p.add("no PersistentVolumeClaim %s: the Job would wait for it", SharedClaim)
	}
	if job == nil || job.Name != VolumeOwnerJob {
		p.add("no Job %s", VolumeOwnerJob)
		return p
	}
	if pod.Spec.SecurityContext == nil || pod.Spec.SecurityContext.RunAsUser == nil || pod.Spec.SecurityContext.RunAsGroup == nil {
		p.add("the topspeed pod sets no runAsUser/runAsGroup to hand the volume to")
		return p
	}
	own, err := VolumeOwnership(job)
	if err != nil {
		p.add("%v", err)
	} else {
		if int64(own.UID) != *pod.Spec.SecurityContext.RunAsUser || int64(own.GID) != *pod.Spec.SecurityContext.RunAsGroup {
			p.add("Job %s: chown %d:%d, but the pods run as %d:%d", job.Name, own.UID, own.GID, *pod.Spec.SecurityContext.RunAsUser, *pod.Spec.SecurityContext.RunAsGroup)
		}
		if own.Mode != 0 && own.Mode&0o700 != 0o700 {
			p.add("Job %s: chmod %#o: the owner needs rwx", job.Name, own.Mode)
		}
	}
	checkJobBaseline(&p, job)
	checkJobNotSelected(&p, job, prep)
	return p
}

// checkJobBaseline: the Job's pod passes Pod Security "baseline", mounts
// only the shared claim, and pins its image.
func checkJobBaseline(p *problems, job *batchv1.Job) {
	spec := &job.Spec.Template.Spec
	if spec.RestartPolicy != corev1.RestartPolicyNever && spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		p.add("Job %s: restartPolicy %q", job.Name, spec.RestartPolicy)
	}
	if job.Spec.BackoffLimit == nil {
		p.add("Job %s: set backoffLimit", job.Name)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		p.add("Job %s: host namespaces are not allowed by baseline", job.Name)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		p.add("Job %s: automountServiceAccountToken must be false", job.Name)
	}
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != SharedClaim {
			p.add("Job %s: volume %s: only the claim %s", job.Name, v.Name, SharedClaim)
		}
	}
	for _, c := range append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...) {
		if i := strings.LastIndex(c.Image, ":"); i <= strings.LastIndex(c.Image, "/") || strings.HasSuffix(c.Image, ":latest") {
			p.add("Job %s container %s: image %q: pin a tag or digest", job.Name, c.Name, c.Image)
		}
		sc := c.SecurityContext
		if sc == nil {
			p.add("Job %s container %s: no securityContext", job.Name, c.Name)
			continue
		}
		if sc.Privileged != nil && *sc.Privileged {
			p.add("Job %s container %s: privileged", job.Name, c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			p.add("Job %s container %s: allowPrivilegeEscalation must be false", job.Name, c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			p.add("Job %s container %s: drop ALL capabilities, add only what it needs", job.Name, c.Name)
		} else {
			for _, add := range sc.Capabilities.Add {
				if !slices.Contains(baselineCaps, add) {
					p.add("Job %s container %s: capability %s is not allowed by baseline", job.Name, c.Name, add)
				}
			}
		}
	}
}

// checkJobNotSelected: the Job's pod is not one of the topspeed pods for
// the Services, the PDB or the NetworkPolicy.
func checkJobNotSelected(p *problems, job *batchv1.Job, objs []Object) {
	set := job.Spec.Template.Labels
	for _, svc := range Find[corev1.Service](objs) {
		if ok, _ := selectsMap(svc.Spec.Selector, set); ok {
			p.add("Job %s: Service %s selects its pod", job.Name, svc.Name)
		}
	}
	for _, pdb := range Find[policyv1.PodDisruptionBudget](objs) {
		if ok, _ := selects(pdb.Spec.Selector, set); ok {
			p.add("Job %s: PodDisruptionBudget %s selects its pod", job.Name, pdb.Name)
		}
	}
	for _, np := range Find[networkingv1.NetworkPolicy](objs) {
		if ok, _ := selects(&np.Spec.PodSelector, set); ok {
			p.add("Job %s: NetworkPolicy %s selects its pod", job.Name, np.Name)
		}
	}
}

func selectsMap(sel, set map[string]string) (bool, error) {
	return selects(&metav1.LabelSelector{MatchLabels: sel}, set)
}
