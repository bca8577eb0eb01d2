// Package namespaces creates the lab's namespaces, by category, with the
// Pod Security labels Talos's enforced baseline requires.
package namespaces

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Token is the component's type token.
const Token = "sre-lab:kube:Namespaces"

// The lab's namespaces. kube-system is Kubernetes' own and is not created.
const (
	KubeSystem      = "kube-system"
	Monitoring      = "monitoring"
	Logging         = "logging"
	Ingress         = "ingress"
	Apps            = "apps"
	CertManager     = "cert-manager"
	ExternalSecrets = "external-secrets"
	Storage         = "local-path-storage"
	// ChaosMesh is the practice layer's chaos engine; its daemon runs
	// privileged on the nodes.
	ChaosMesh = "chaos-mesh"
)

// Pod Security levels.
const (
	Privileged = "privileged"
	Baseline   = "baseline"
	Restricted = "restricted"
)

// Spec is one namespace and the Pod Security level it enforces.
type Spec struct {
	Name string
	// Enforce is the level pods are held to. Namespaces of node agents
	// (node-exporter, log collectors, storage helpers) need privileged: they
	// mount host paths and use the host network.
	Enforce string
	// ChaosTarget marks the namespace as one Chaos Mesh may inject faults
	// into (ChaosInjectAnnotation); the practice layer turns on Chaos
	// Mesh's namespace filter, so no other namespace can be harmed.
	ChaosTarget bool
}

// ChaosInjectAnnotation is the namespace annotation that, set to "enabled",
// lets Chaos Mesh inject faults into the namespace's pods when the
// controller filters namespaces
// (chaos-mesh pkg/selector/generic/selector.go, InjectAnnotationKey;
// pkg/config/controller.go, EnableFilterNamespace).
const ChaosInjectAnnotation = "chaos-mesh.org/inject"

// Args chooses the namespaces.
type Args struct {
	Specs []Spec
}

// Namespaces is the `sre-lab:kube:Namespaces` component.
type Namespaces struct {
	pulumi.ResourceState

	// ByName holds each namespace resource, for releases to depend on.
	ByName map[string]*corev1.Namespace
}

// Labels are the Pod Security labels of a namespace: the level it enforces,
// and warnings and audit entries at restricted so that what would break a
// stricter policy shows up before anyone tightens it.
func Labels(enforce string) map[string]string {
	return map[string]string{
		"pod-security.kubernetes.io/enforce":         enforce,
		"pod-security.kubernetes.io/enforce-version": "latest",
		"pod-security.kubernetes.io/warn":            Restricted,
		"pod-security.kubernetes.io/warn-version":    "latest",
		"pod-security.kubernetes.io/audit":           Restricted,
		"pod-security.kubernetes.io/audit-version":   "latest",
		"app.kubernetes.io/part-of":                  "sre-lab",
	}
}

// NewNamespaces creates every namespace in args.
func NewNamespaces(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Namespaces, error) {
	component := &Namespaces{ByName: map[string]*corev1.Namespace{}}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	for _, spec := range args.Specs {
		meta := &metav1.ObjectMetaArgs{
			Name:   pulumi.String(spec.Name),
			Labels: pulumi.ToStringMap(Labels(spec.Enforce)),
		}
		if spec.ChaosTarget {
			meta.Annotations = pulumi.StringMap{ChaosInjectAnnotation: pulumi.String("enabled")}
		}
		ns, err := corev1.NewNamespace(ctx, name+"-"+spec.Name, &corev1.NamespaceArgs{Metadata: meta}, pulumi.Parent(component))
		if err != nil {
			return nil, fmt.Errorf("namespace %s: %w", spec.Name, err)
		}
		component.ByName[spec.Name] = ns
	}
	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{}); err != nil {
		return nil, err
	}
	return component, nil
}
