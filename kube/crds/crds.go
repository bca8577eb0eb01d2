// Package crds installs the CustomResourceDefinitions other layers need
// before they start: the Prometheus Operator's (ServiceMonitor,
// PrometheusRule...) and Gateway API's. They run no pods, so they go in
// before the CNI, and every chart that renders those kinds can follow Cilium
// in parallel.
package crds

import (
	"fmt"

	yamlv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/yaml/v2"
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
	gateway, err := yamlv2.NewConfigFile(ctx, name+"-gateway-api", &yamlv2.ConfigFileArgs{
		File: pulumi.String(GatewayAPIURL(args.GatewayAPI)),
	}, pulumi.Parent(component))
	if err != nil {
		return nil, fmt.Errorf("gateway api crds: %w", err)
	}
	component.Ready = []pulumi.Resource{prometheus, gateway}
	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{}); err != nil {
		return nil, err
	}
	return component, nil
}
