package render

import (
	"net/netip"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// readiness checks what Helm waits for (helm pkg/kube/ready.go, and the
// hooks it runs to completion) against what exists when the release is
// applied: pods need the CNI, claims need their StorageClass, a claim
// whose class waits for a consumer needs a pod that mounts it, a
// LoadBalancer Service needs an address pool, and a hook's pods need their
// ServiceAccount. Each unmet need is a wait that ends only in the release's
// timeout and, with atomic, its rollback.
func (k *checker) readiness() []Problem {
	var out []Problem
	for _, p := range k.objects {
		if p.src.Release == "" {
			continue
		}
		hook := len(p.Hook) > 0
		// Helm runs hooks to completion whether or not it waits; the
		// release's own objects only when it waits.
		if !hook && !p.src.Waits {
			continue
		}
		obj, isBuiltin, err := typed(p.Object)
		if !isBuiltin || err != nil {
			continue
		}
		switch o := obj.(type) {
		case *corev1.PersistentVolumeClaim:
			if !hook {
				out = append(out, k.claim(p, o.Spec.StorageClassName, o.Name, true)...)
			}
		case *corev1.Service:
			if o.Spec.Type == corev1.ServiceTypeLoadBalancer && !hook {
				out = append(out, k.loadBalancer(p, o)...)
			}
		case *appsv1.StatefulSet:
			for _, t := range o.Spec.VolumeClaimTemplates {
				out = append(out, k.claim(p, t.Spec.StorageClassName, t.Name, false)...)
			}
		}
		if _, isJob := obj.(*batchv1.Job); isJob && !hook {
			// Without waitForJobs Helm does not wait for a Job.
			continue
		}
		if _, isCron := obj.(*batchv1.CronJob); isCron {
			continue
		}
		_, spec, ok := podTemplate(obj)
		if !ok || zeroReplicas(obj) {
			continue
		}
		if !spec.HostNetwork && k.c.CNI != "" && p.src.ID != k.c.CNI && !before(p.src, k.c.CNI) {
			out = append(out, k.problem(p, "readiness", "its pods need the pod network of %s, which is not applied before it", k.c.CNI))
		}
		if hook {
			out = append(out, k.hookServiceAccount(p, spec)...)
		}
	}
	return out
}

func zeroReplicas(obj runtime.Object) bool {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return o.Spec.Replicas != nil && *o.Spec.Replicas == 0
	case *appsv1.StatefulSet:
		return o.Spec.Replicas != nil && *o.Spec.Replicas == 0
	}
	return false
}

// available reports whether objects of o's source exist when p's source
// is applied: o is earlier, or part of the same apply (Helm creates a
// release's ordinary objects together, in kind order).
func available(p, o placed) bool {
	if len(o.Hook) > 0 {
		return false
	}
	return o.src == p.src || before(p.src, o.src.ID)
}

// claim checks that a claim (or a StatefulSet's claim template) can bind:
// its StorageClass, or the default one, exists by then; standalone claims
// whose class waits for the first consumer need a pod of the release to
// mount them, or Helm's wait for Bound never ends.
func (k *checker) claim(p placed, class *string, name string, standalone bool) []Problem {
	if class != nil && *class == "" {
		for _, o := range k.objects {
			if o.Kind() == "PersistentVolume" && available(p, o) {
				return nil
			}
		}
		return []Problem{k.problem(p, "readiness", "claim %s asks for no StorageClass and no PersistentVolume exists for it to bind to", name)}
	}
	var sc, later *placed
	for _, o := range k.objects {
		if o.Kind() != "StorageClass" || len(o.Hook) > 0 {
			continue
		}
		isDefault := o.Annotations()["storageclass.kubernetes.io/is-default-class"] == "true"
		named := class != nil && o.Name() == *class
		if class == nil && !isDefault || class != nil && !named {
			continue
		}
		// A class from a source applied in parallel serves too: the
		// claim stays Pending until the class exists, and the volume
		// controller and scheduler retry it then, well inside the wait. A
		// class that only comes after this release never does.
		if before(o.src, p.src.ID) {
			later = &o
			continue
		}
		sc = &o
		break
	}
	if sc == nil {
		want := "the default StorageClass"
		if class != nil {
			want = "StorageClass " + *class
		}
		if later != nil {
			return []Problem{k.problem(p, "readiness", "claim %s needs %s, which %s creates only after this release", name, want, later.src.Label())}
		}
		return []Problem{k.problem(p, "readiness", "claim %s needs %s, which no source of this stack creates", name, want)}
	}
	if standalone && str(sc.Map, "volumeBindingMode") == "WaitForFirstConsumer" && !k.mounted(p, name) {
		return []Problem{k.problem(p, "readiness", "claim %s binds only when a pod uses it (%s is WaitForFirstConsumer) and no pod of the release mounts it", name, sc.Name())}
	}
	return nil
}

// mounted reports whether a pod template of p's source mounts claim name.
func (k *checker) mounted(p placed, name string) bool {
	for _, o := range k.objects {
		if o.src != p.src || o.namespace != p.namespace {
			continue
		}
		obj, ok, err := typed(o.Object)
		if !ok || err != nil {
			continue
		}
		if _, spec, ok := podTemplate(obj); ok {
			for _, v := range spec.Volumes {
				if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == name {
					return true
				}
			}
		}
	}
	return false
}

// lbipamAnnotations are where a Service asks Cilium LB-IPAM for given
// addresses.
var lbipamAnnotations = []string{"lbipam.cilium.io/ips", "io.cilium/lb-ipam-ips"}

// loadBalancer checks that a LoadBalancer Service gets an address: it has
// external IPs (Helm then does not wait), or an address pool that selects
// it exists by then and holds any address it asks for. No cloud
// controller runs in the lab, so a pool is the only source of addresses.
func (k *checker) loadBalancer(p placed, svc *corev1.Service) []Problem {
	if len(svc.Spec.ExternalIPs) > 0 {
		return nil
	}
	var asked []netip.Addr
	for _, a := range lbipamAnnotations {
		for _, s := range strings.Split(svc.Annotations[a], ",") {
			if addr, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil {
				asked = append(asked, addr)
			}
		}
	}
	var pools []placed
	for _, o := range k.objects {
		if o.Kind() != "CiliumLoadBalancerIPPool" || !available(p, o) {
			continue
		}
		if disabled, _ := dig(o.Map, "spec", "disabled").(bool); disabled {
			continue
		}
		if selects(dig(o.Map, "spec", "serviceSelector"), svc.Labels, svc.Namespace) {
			pools = append(pools, o)
		}
	}
	if len(pools) == 0 {
		return []Problem{k.problem(p, "readiness", "LoadBalancer Service gets no address: no load-balancer IP pool selecting it exists before the release, and no cloud controller runs; Helm waits until its timeout")}
	}
	var out []Problem
	for _, addr := range asked {
		if !slices.ContainsFunc(pools, func(o placed) bool { return poolHolds(o, addr) }) {
			out = append(out, k.problem(p, "readiness", "LoadBalancer Service asks for %s, which no pool selecting it holds", addr))
		}
	}
	return out
}

// selects applies a pool's serviceSelector (a LabelSelector; absent selects
// everything) to a Service.
func selects(selector any, svcLabels map[string]string, namespace string) bool {
	m, _ := selector.(map[string]any)
	if m == nil {
		return true
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err != nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return false
	}
	set := labels.Set{}
	for k, v := range svcLabels {
		set[k] = v
	}
	// LB-IPAM lets selectors name the namespace through this label.
	set["io.kubernetes.service.namespace"] = namespace
	return sel.Matches(set)
}

// poolHolds reports whether a CiliumLoadBalancerIPPool's blocks hold addr.
func poolHolds(pool placed, addr netip.Addr) bool {
	blocks, _ := dig(pool.Map, "spec", "blocks").([]any)
	for _, b := range blocks {
		m, _ := b.(map[string]any)
		if cidr, ok := m["cidr"].(string); ok {
			if pfx, err := netip.ParsePrefix(cidr); err == nil && pfx.Contains(addr) {
				return true
			}
		}
		start, err1 := netip.ParseAddr(str(m, "start"))
		stop, err2 := netip.ParseAddr(str(m, "stop"))
		if err1 == nil && err2 == nil && start.Compare(addr) <= 0 && addr.Compare(stop) <= 0 {
			return true
		}
	}
	return false
}

// hookServiceAccount checks that a hook's pods can be created: their
// ServiceAccount is "default", exists before the release, or is a hook of
// the same event that Helm creates first (lower weight, or the same weight,
// where kind order puts ServiceAccounts first). A pre-install hook cannot
// use the release's ordinary ServiceAccount: it does not exist yet.
func (k *checker) hookServiceAccount(p placed, spec *corev1.PodSpec) []Problem {
	sa := spec.ServiceAccountName
	if sa == "" || sa == "default" {
		return nil
	}
	preInstall := slices.Contains(p.Hook, "pre-install")
	for _, o := range k.objects {
		if o.Kind() != "ServiceAccount" || o.Name() != sa || o.namespace != p.namespace {
			continue
		}
		if o.src != p.src {
			if before(p.src, o.src.ID) {
				return nil
			}
			continue
		}
		if len(o.Hook) == 0 && !preInstall {
			return nil
		}
		if len(o.Hook) > 0 && o.Weight <= p.Weight && shareEvent(o.Hook, p.Hook) {
			return nil
		}
	}
	return []Problem{k.problem(p, "readiness", "hook (%s) runs pods as ServiceAccount %s, which does not exist when the hook runs", strings.Join(p.Hook, ","), sa)}
}

func shareEvent(a, b []string) bool {
	for _, e := range a {
		if slices.Contains(b, e) {
			return true
		}
	}
	return false
}
