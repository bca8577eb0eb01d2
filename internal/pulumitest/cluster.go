package pulumitest

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Build registers the component under test through the given provider
// option, waiting for deps, and returns it.
type Build func(ctx *pulumi.Context, with pulumi.ResourceOption, deps []pulumi.Resource) (pulumi.Resource, error)

// InCluster runs build under new mocks in stack, the way the program wires
// an in-cluster component: a Kubernetes provider named "k8s" passed through
// pulumi.Providers, and one Namespace per name in deps, registered first,
// for the component to depend on. It returns the mocks and the URN of the
// resource build returned.
func InCluster(stack string, deps []string, build Build) (*Mocks, string, error) {
	m := &Mocks{}
	urn, err := m.InCluster(stack, deps, build)
	return m, urn, err
}

// InCluster is the package's InCluster under m, for a test whose mocks
// answer with outputs of their own.
func (m *Mocks) InCluster(stack string, deps []string, build Build) (string, error) {
	var urn string
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		var ready []pulumi.Resource
		for _, name := range deps {
			ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{}, pulumi.Provider(p))
			if err != nil {
				return err
			}
			ready = append(ready, ns)
		}
		r, err := build(ctx, pulumi.Providers(p), ready)
		if err != nil {
			return err
		}
		got, err := Await(ctx, r.URN())
		if err != nil {
			return err
		}
		urn = fmt.Sprint(got.Value)
		return nil
	}, pulumi.WithMocks("sre-lab", stack, m))
	return urn, err
}
