package crds

import (
	"fmt"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	yamlv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/yaml/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

// Type tokens of what the tests look for.
const (
	tRelease    = "kubernetes:helm.sh/v3:Release"
	tConfigFile = "kubernetes:yaml/v2:ConfigFile"
	tProvider   = "pulumi:providers:kubernetes"
)

func TestGatewayAPIURL(t *testing.T) {
	for _, tc := range []struct {
		name  string
		chart config.Chart
		want  string
	}{
		{
			name:  "pinned release",
			chart: config.DefaultCharts[config.ChartGatewayAPI],
			want:  "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml",
		},
		{
			name:  "overridden version",
			chart: config.Chart{Name: config.ChartGatewayAPI, Repo: config.DefaultCharts[config.ChartGatewayAPI].Repo, Version: "v1.2.0"},
			want:  "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.2.0/standard-install.yaml",
		},
		{
			name:  "mirror",
			chart: config.Chart{Name: config.ChartGatewayAPI, Repo: "https://mirror.example.com/gateway-api", Version: "v1.6.1"},
			want:  "https://mirror.example.com/gateway-api/v1.6.1/standard-install.yaml",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, GatewayAPIURL(tc.chart))
		})
	}
}

// outcome is what one mocked run left behind.
type outcome struct {
	mocks *pulumitest.Mocks
	crds  *CRDs
	// urn is the component's; ready are the URNs of crds.Ready.
	urn   string
	ready []string
}

// run registers a Kubernetes provider and the component under mocks, the way
// the Kubernetes layer does.
func run(t *testing.T, name string, args *Args) outcome {
	t.Helper()
	var out outcome
	var err error
	out.mocks, out.urn, err = pulumitest.InCluster("dev", nil, func(ctx *pulumi.Context, with pulumi.ResourceOption, _ []pulumi.Resource) (pulumi.Resource, error) {
		c, err := NewCRDs(ctx, name, args, with)
		if err != nil {
			return nil, err
		}
		out.crds = c
		for _, r := range c.Ready {
			urn, err := pulumitest.Await(ctx, r.URN())
			if err != nil {
				return nil, err
			}
			out.ready = append(out.ready, fmt.Sprint(urn.Value))
		}
		return c, nil
	})
	require.NoError(t, err)
	return out
}

// at reads an input the test expects to be set.
func at(t *testing.T, r pulumitest.Resource, path string) any {
	t.Helper()
	v, ok := r.At(path)
	require.True(t, ok, "%s %s has no %s", r.Type, r.Name, path)
	return v
}

func TestNewCRDs(t *testing.T) {
	pinned := &Args{
		Prometheus: config.DefaultCharts[config.ChartPrometheusCRDs],
		GatewayAPI: config.DefaultCharts[config.ChartGatewayAPI],
		Namespace:  "kube-system",
	}
	overridden := &Args{
		Prometheus: config.Chart{Name: config.ChartPrometheusCRDs, Repo: config.DefaultCharts[config.ChartPrometheusCRDs].Repo, Version: "30.0.0"},
		GatewayAPI: config.Chart{Name: config.ChartGatewayAPI, Repo: config.DefaultCharts[config.ChartGatewayAPI].Repo, Version: "v1.5.0"},
		Namespace:  "monitoring",
	}
	for _, tc := range []struct {
		name    string
		args    *Args
		url     string
		release string
		file    string
	}{
		{
			name:    "sre-lab",
			args:    pinned,
			url:     "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml",
			release: "sre-lab-prometheus-operator",
			file:    "sre-lab-gateway-api",
		},
		{
			name:    "crds",
			args:    overridden,
			url:     "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.5.0/standard-install.yaml",
			release: "crds-prometheus-operator",
			file:    "crds-gateway-api",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := run(t, tc.name, tc.args)

			components := out.mocks.ByType(Token)
			require.Len(t, components, 1)
			assert.Equal(t, tc.name, components[0].Name)
			require.NotEmpty(t, out.urn)

			// Nothing but the provider, the component and its two children.
			var types []string
			for _, r := range out.mocks.Resources() {
				types = append(types, r.Type)
			}
			assert.ElementsMatch(t, []string{tProvider, Token, tRelease, tConfigFile}, types)

			releases := out.mocks.ByType(tRelease)
			require.Len(t, releases, 1, "one Helm release")
			rel := releases[0]
			assert.Equal(t, tc.release, rel.Name)
			assert.Equal(t, config.ChartPrometheusCRDs, at(t, rel, "name"))
			assert.Equal(t, config.ChartPrometheusCRDs, at(t, rel, "chart"))
			assert.Equal(t, tc.args.Prometheus.Version, at(t, rel, "version"), "the chart's pinned version")
			assert.Equal(t, tc.args.Prometheus.Repo, at(t, rel, "repositoryOpts.repo"))
			assert.Equal(t, tc.args.Namespace, at(t, rel, "namespace"))
			assert.Equal(t, out.urn, rel.Parent, "the release is parented under the component")
			assert.Contains(t, rel.Provider, tProvider+"::k8s::", "the release uses the component's provider")

			files := out.mocks.ByType(tConfigFile)
			require.Len(t, files, 1, "one Gateway API manifest")
			file := files[0]
			assert.Equal(t, tc.file, file.Name)
			assert.Equal(t, tc.url, at(t, file, "file"))
			assert.Equal(t, GatewayAPIURL(tc.args.GatewayAPI), at(t, file, "file"))
			assert.Equal(t, out.urn, file.Parent, "the manifest is parented under the component")
			assert.Contains(t, file.Provider, tProvider+"::k8s::", "the manifest uses the component's provider")

			require.Len(t, out.crds.Ready, 2)
			assert.ElementsMatch(t, []string{
				"urn:pulumi:dev::sre-lab::" + Token + "$" + tRelease + "::" + tc.release,
				"urn:pulumi:dev::sre-lab::" + Token + "$" + tConfigFile + "::" + tc.file,
			}, out.ready, "Ready holds the release and the manifest")
		})
	}
}

// TestConfigFileMatchesSDK: the Gateway API manifest is registered without
// the SDK's yaml/v2 package, so it must send what that package sends: the
// remote component's type, its inputs and the provider version the SDK pins.
func TestConfigFileMatchesSDK(t *testing.T) {
	url := GatewayAPIURL(config.DefaultCharts[config.ChartGatewayAPI])
	mocks := &pulumitest.Mocks{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		if _, err := newConfigFile(ctx, "ours", url, pulumi.Provider(p)); err != nil {
			return err
		}
		_, err = yamlv2.NewConfigFile(ctx, "sdk", &yamlv2.ConfigFileArgs{File: pulumi.String(url)}, pulumi.Provider(p))
		return err
	}, pulumi.WithMocks("sre-lab", "dev", mocks))
	require.NoError(t, err)

	assert.Equal(t, ConfigFileToken, tConfigFile)
	mocks.SameAs(t, tConfigFile, "ours", "sdk")
}
