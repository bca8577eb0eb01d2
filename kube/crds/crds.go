// Package crds installs the CustomResourceDefinitions other layers need
// before they start: the Prometheus Operator's (ServiceMonitor,
// PrometheusRule...) and Gateway API's. They run no pods, so they go in
// before the CNI, and every chart that renders those kinds can follow Cilium
// in parallel.
package crds

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/utilities"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/kube/helm"
)

// Token is the component's type token.
const Token = "sre-lab:kube:CRDs"

// Args pins the two CRD sources.
type Args struct {
	// Prometheus is the prometheus-operator-crds chart.
	Prometheus config.Chart
	// GatewayAPI is the Gateway API release whose standard channel is applied.
	GatewayAPI config.Chart
	// Namespace holds the CRD chart's release record; CRDs are cluster-wide.
	Namespace string
}

// CRDs is the `sre-lab:kube:CRDs` component.
type CRDs struct {
	pulumi.ResourceState

	// Ready lists what must exist before a chart renders those kinds.
	Ready []pulumi.Resource
}

// ConfigFileToken is the type of the Kubernetes provider's manifest
// component, which applies every object of a YAML file.
const ConfigFileToken = "kubernetes:yaml/v2:ConfigFile"

// ConfigFile is the provider's manifest component for one file.
//
// It is registered here rather than through the SDK's yaml/v2 package, which
// imports every API group the SDK generates so that it can type the objects
// it returns; the lab only waits on the component, and compiling those
// groups was half of a cold build (docs/architecture.md, "Build cost").
// TestConfigFileMatchesSDK registers both and compares them.
type ConfigFile struct {
	pulumi.ResourceState
}

// newConfigFile applies the manifest at file (a path or a URL) through the
// provider, which runs the component; the SDK's defaults pin the provider
// plugin to the SDK's own version, as its generated resources do.
func newConfigFile(ctx *pulumi.Context, name, file string, opts ...pulumi.ResourceOption) (*ConfigFile, error) {
	var c ConfigFile
	inputs := pulumi.Map{"file": pulumi.String(file)}
	if err := ctx.RegisterRemoteComponentResource(ConfigFileToken, name, inputs, &c, utilities.PkgResourceDefaultOpts(opts)...); err != nil {
		return nil, err
	}
	return &c, nil
}

// GatewayAPIURL is the standard-channel manifest of a Gateway API release.
func GatewayAPIURL(chart config.Chart) string {
	return fmt.Sprintf("%s/%s/standard-install.yaml", chart.Repo, chart.Version)
}

// NewCRDs installs both sets of CRDs.
func NewCRDs(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*CRDs, error) {
	component := &CRDs{}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	prometheus, err := helm.NewRelease(ctx, name+"-prometheus-operator", helm.ReleaseArgs{
		Chart:     args.Prometheus,
		Namespace: args.Namespace,
	}, pulumi.Parent(component))
	if err != nil {
		return nil, fmt.Errorf("prometheus operator crds: %w", err)
	}
	gateway, err := newConfigFile(ctx, name+"-gateway-api", GatewayAPIURL(args.GatewayAPI), pulumi.Parent(component))
	if err != nil {
		return nil, fmt.Errorf("gateway api crds: %w", err)
	}
	component.Ready = []pulumi.Resource{prometheus, gateway}
	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{}); err != nil {
		return nil, err
	}
	return component, nil
}
