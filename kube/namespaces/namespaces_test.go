package namespaces

import (
	"fmt"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/internal/pulumitest"
)

// Type tokens of what the tests look for.
const (
	tNamespace = "kubernetes:core/v1:Namespace"
	tProvider  = "pulumi:providers:kubernetes"
)

func TestLabels(t *testing.T) {
	for _, level := range []string{Privileged, Baseline, Restricted} {
		t.Run(level, func(t *testing.T) {
			assert.Equal(t, map[string]string{
				"pod-security.kubernetes.io/enforce":         level,
				"pod-security.kubernetes.io/enforce-version": "latest",
				"pod-security.kubernetes.io/warn":            "restricted",
				"pod-security.kubernetes.io/warn-version":    "latest",
				"pod-security.kubernetes.io/audit":           "restricted",
				"pod-security.kubernetes.io/audit-version":   "latest",
				"app.kubernetes.io/part-of":                  "sre-lab",
			}, Labels(level))
		})
	}
}

func TestLabelsAreFresh(t *testing.T) {
	a := Labels(Baseline)
	a["pod-security.kubernetes.io/enforce"] = Privileged
	assert.Equal(t, Baseline, Labels(Baseline)["pod-security.kubernetes.io/enforce"],
		"each call returns its own map")
}

// outcome is what one mocked run left behind.
type outcome struct {
	mocks *pulumitest.Mocks
	ns    *Namespaces
	urn   string
	// byName are the URNs and metadata names of ns.ByName, by key.
	byName map[string][2]string
}

// run registers a Kubernetes provider and the component under mocks, the way
// the Kubernetes layer does.
func run(t *testing.T, name string, specs []Spec) outcome {
	t.Helper()
	out := outcome{mocks: &pulumitest.Mocks{}, byName: map[string][2]string{}}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		ns, err := NewNamespaces(ctx, name, &Args{Specs: specs}, pulumi.Providers(p))
		if err != nil {
			return err
		}
		out.ns = ns
		urn, err := pulumitest.Await(ctx, ns.URN())
		if err != nil {
			return err
		}
		out.urn = fmt.Sprint(urn.Value)
		for key, n := range ns.ByName {
			urn, err := pulumitest.Await(ctx, n.URN())
			if err != nil {
				return err
			}
			metadataName, err := pulumitest.Await(ctx, n.Metadata.Name())
			if err != nil {
				return err
			}
			var name string
			if s, ok := metadataName.Value.(*string); ok && s != nil {
				name = *s
			}
			out.byName[key] = [2]string{fmt.Sprint(urn.Value), name}
		}
		return nil
	}, pulumi.WithMocks("sre-lab", "dev", out.mocks))
	require.NoError(t, err)
	return out
}

func TestNewNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name  string
		specs []Spec
	}{
		{"none", nil},
		{"one", []Spec{{Name: Apps, Enforce: Baseline}}},
		{"sre-lab", []Spec{
			{Name: Monitoring, Enforce: Privileged},
			{Name: Logging, Enforce: Privileged},
			{Name: Ingress, Enforce: Baseline},
			{Name: Apps, Enforce: Restricted, ChaosTarget: true},
			{Name: CertManager, Enforce: Baseline},
			{Name: Storage, Enforce: Privileged},
			{Name: ExternalSecrets, Enforce: Baseline},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := run(t, tc.name, tc.specs)

			components := out.mocks.ByType(Token)
			require.Len(t, components, 1)
			assert.Equal(t, tc.name, components[0].Name)
			require.NotEmpty(t, out.urn)

			registered := out.mocks.ByType(tNamespace)
			require.Len(t, registered, len(tc.specs), "one namespace per spec")
			require.Len(t, out.ns.ByName, len(tc.specs), "ByName holds every namespace")
			assert.NotNil(t, out.ns.ByName)

			for _, spec := range tc.specs {
				resourceName := tc.name + "-" + spec.Name
				r := out.mocks.Named(t, tNamespace, resourceName)

				name, ok := r.At("metadata.name")
				require.True(t, ok, "namespace %s has an explicit metadata.name, so the provider adds no suffix", spec.Name)
				assert.Equal(t, spec.Name, name)

				want := map[string]any{}
				for k, v := range Labels(spec.Enforce) {
					want[k] = v
				}
				labels, ok := r.At("metadata.labels")
				require.True(t, ok)
				assert.Equal(t, want, labels)
				annotations, _ := r.At("metadata.annotations")
				if spec.ChaosTarget {
					assert.Equal(t, map[string]any{ChaosInjectAnnotation: "enabled"}, annotations, "Chaos Mesh may inject into %s", spec.Name)
				} else {
					assert.Nil(t, annotations, "Chaos Mesh leaves %s alone", spec.Name)
				}
				assert.Equal(t, spec.Enforce, want["pod-security.kubernetes.io/enforce"])

				assert.Equal(t, out.urn, r.Parent, "namespace %s is parented under the component", spec.Name)
				assert.Contains(t, r.Provider, tProvider+"::k8s::", "namespace %s uses the component's provider", spec.Name)

				got, ok := out.byName[spec.Name]
				require.True(t, ok, "ByName has %s", spec.Name)
				assert.Equal(t, "urn:pulumi:dev::sre-lab::"+Token+"$"+tNamespace+"::"+resourceName, got[0],
					"ByName[%s] is that namespace's resource", spec.Name)
				assert.Equal(t, spec.Name, got[1])
			}
		})
	}
}
