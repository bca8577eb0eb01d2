// Command sre-lab is the Pulumi program of the SRE observability lab: Talos
// Linux nodes on a laptop or a cloud, Kubernetes bootstrapped by Talos, and
// the layers above it. `program` is the whole wiring.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/backends"
	"github.com/your-org/sre-lab/infra/talos"
)

func main() { pulumi.Run(program) }

// program reads the stack config, makes the machines, turns them into a
// Talos cluster and exports how to reach it. Config errors stop it before
// any resource is registered.
func program(ctx *pulumi.Context) error {
	cfg, err := config.Load(ctx)
	if err != nil {
		return err
	}

	platform, err := backends.New(ctx, cfg.ClusterName, cfg)
	if err != nil {
		return err
	}

	cluster, err := talos.NewCluster(ctx, cfg.ClusterName, &talos.ClusterArgs{
		ClusterName:       cfg.ClusterName,
		Environment:       string(cfg.Environment),
		TalosVersion:      cfg.TalosVersion,
		KubernetesVersion: cfg.KubernetesVersion,
		NetworkCIDR:       cfg.NetworkCIDR.String(),
		Platform:          platform,
		ProtectSecrets:    cfg.ProtectSecrets,
	})
	if err != nil {
		return err
	}

	ctx.Export("environment", pulumi.String(cfg.Environment))
	ctx.Export("endpoint", cluster.Endpoint)
	ctx.Export("nodes", nodeList(platform))
	ctx.Export("kubeconfig", cluster.Kubeconfig)
	ctx.Export("talosconfig", cluster.Talosconfig)
	return nil
}

// nodeList is the node table users read after `pulumi up`.
func nodeList(p infra.Platform) pulumi.MapArray {
	out := pulumi.MapArray{}
	for _, n := range p.Nodes {
		out = append(out, pulumi.Map{
			"name":      pulumi.String(n.Name),
			"role":      pulumi.String(string(n.Role)),
			"privateIp": n.PrivateIP,
			"publicIp":  n.PublicIP,
		})
	}
	return out
}
