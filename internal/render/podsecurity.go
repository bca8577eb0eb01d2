package render

import (
	"fmt"
	"slices"
	"sync"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// PodSecurityDefaults is the cluster-wide Pod Security configuration of
// the API server: the level enforced in namespaces without labels, and the
// namespaces exempt from it.
type PodSecurityDefaults struct {
	// Enforce is the level: privileged, baseline or restricted.
	Enforce string
	// EnforceVersion is the policy version, "latest" or "v1.N".
	EnforceVersion string
	// Exempt are the namespaces admission does not check.
	Exempt []string
}

// TalosPodSecurity reads the PodSecurity admission plugin's defaults from
// the control-plane config Talos machinery generates for talosVersion
// (config/generate/init.go adds the plugin: enforce baseline, kube-system
// exempt), rather than restating them; the lab's patches leave
// cluster.apiServer.admissionControl alone.
func TalosPodSecurity(talosVersion, kubernetesVersion string) (PodSecurityDefaults, error) {
	contract, err := config.ParseContractFromVersion(talosVersion)
	if err != nil {
		return PodSecurityDefaults{}, err
	}
	in, err := generate.NewInput("psa", "https://127.0.0.1:6443", kubernetesVersion, generate.WithVersionContract(contract))
	if err != nil {
		return PodSecurityDefaults{}, err
	}
	cfg, err := in.Config(machine.TypeControlPlane)
	if err != nil {
		return PodSecurityDefaults{}, err
	}
	for _, plugin := range cfg.Cluster().APIServer().AdmissionControl() {
		if plugin.Name() != "PodSecurity" {
			continue
		}
		c := plugin.Configuration()
		defaults, _ := c["defaults"].(map[string]any)
		exemptions, _ := c["exemptions"].(map[string]any)
		out := PodSecurityDefaults{
			Enforce:        fmt.Sprint(defaults["enforce"]),
			EnforceVersion: fmt.Sprint(defaults["enforce-version"]),
		}
		namespaces, _ := exemptions["namespaces"].([]any)
		for _, n := range namespaces {
			out.Exempt = append(out.Exempt, fmt.Sprint(n))
		}
		return out, nil
	}
	// Without the plugin configured, the API server enforces privileged.
	return PodSecurityDefaults{Enforce: string(psapi.LevelPrivileged), EnforceVersion: "latest"}, nil
}

const (
	labelEnforce        = "pod-security.kubernetes.io/enforce"
	labelEnforceVersion = "pod-security.kubernetes.io/enforce-version"
)

// evaluators holds one policy.Evaluator per emulated version.
var evaluators sync.Map

// evaluator is the Pod Security library's check registry as an API server
// of the cluster's minor version runs it.
func evaluator(v psapi.Version) (policy.Evaluator, error) {
	if e, ok := evaluators.Load(v); ok {
		return e.(policy.Evaluator), nil
	}
	e, err := policy.NewEvaluator(policy.DefaultChecks(), &v)
	if err != nil {
		return nil, err
	}
	evaluators.Store(v, e)
	return e, nil
}

// podTemplate returns the pod metadata and spec an object creates pods
// from, if it does.
func podTemplate(obj runtime.Object) (*metav1.ObjectMeta, *corev1.PodSpec, bool) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return &o.ObjectMeta, &o.Spec, true
	case *appsv1.Deployment:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, true
	case *appsv1.StatefulSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, true
	case *appsv1.DaemonSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, true
	case *appsv1.ReplicaSet:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, true
	case *batchv1.Job:
		return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, true
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template.ObjectMeta, &o.Spec.JobTemplate.Spec.Template.Spec, true
	case *corev1.ReplicationController:
		if o.Spec.Template != nil {
			return &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, true
		}
	}
	return nil, nil, false
}

// podSecurity evaluates every pod template against the level its namespace
// enforces: the namespace's own labels when some source creates it with
// them, else the cluster default; exempt namespaces are not checked.
func (k *checker) podSecurity() []Problem {
	var out []Problem
	emulation := psapi.MajorMinorVersion(k.c.kubeMajorMinor())
	eval, err := evaluator(emulation)
	if err != nil {
		return []Problem{{Stack: k.c.Stack, Source: "cluster", Object: "-", Check: "pod-security", Message: err.Error()}}
	}
	for _, p := range k.objects {
		obj, isBuiltin, err := typed(p.Object)
		if !isBuiltin || err != nil {
			continue
		}
		meta, spec, ok := podTemplate(obj)
		if !ok {
			continue
		}
		if slices.Contains(k.c.PodSecurity.Exempt, p.namespace) {
			continue
		}
		level, version, from := k.enforced(p.namespace)
		lv, err := psapi.ParseLevel(level)
		if err != nil {
			out = append(out, k.problem(p, "pod-security", "namespace %s: %s", p.namespace, err))
			continue
		}
		v, err := psapi.ParseVersion(version)
		if err != nil {
			out = append(out, k.problem(p, "pod-security", "namespace %s: %s", p.namespace, err))
			continue
		}
		result := policy.AggregateCheckResults(eval.EvaluatePod(psapi.LevelVersion{Level: lv, Version: v}, meta, spec))
		if !result.Allowed {
			out = append(out, k.problem(p, "pod-security", "%s:%s (%s) forbids: %s",
				level, version, from, oneLine(result.ForbiddenDetail())))
		}
	}
	return out
}

// enforced is the level and version namespace enforces and where that
// comes from.
func (k *checker) enforced(namespace string) (level, version, from string) {
	for _, p := range k.objects {
		if p.Kind() != "Namespace" || p.Name() != namespace {
			continue
		}
		labels := p.Labels()
		if l, ok := labels[labelEnforce]; ok {
			v := labels[labelEnforceVersion]
			if v == "" {
				v = "latest"
			}
			return l, v, "label of namespace " + namespace
		}
	}
	d := k.c.PodSecurity
	return d.Enforce, d.EnforceVersion, "cluster default"
}
