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
	"github.com/your-org/sre-lab/kube"
)

func main() { pulumi.Run(program) }

// program builds the lab and exports how to reach it.
func program(ctx *pulumi.Context) error {
	outputs, err := build(ctx)
	if err != nil {
		return err
	}
	for name, value := range outputs {
		ctx.Export(name, value)
	}
	return nil
}

// build reads the stack config, makes the machines and turns them into a
// Talos cluster. Config errors stop it before any resource is registered.
// It returns the stack outputs; kubeconfig and talosconfig are secret.
func build(ctx *pulumi.Context) (pulumi.Map, error) {
	cfg, err := config.Load(ctx)
	if err != nil {
		return nil, err
	}

	platform, err := backends.New(ctx, cfg.ClusterName, cfg)
	if err != nil {
		return nil, err
	}

	cluster, err := talos.NewCluster(ctx, cfg.ClusterName, &talos.ClusterArgs{
		ClusterName:       cfg.ClusterName,
		Environment:       string(cfg.Environment),
		TalosVersion:      cfg.TalosVersion,
		KubernetesVersion: cfg.KubernetesVersion,
		NetworkCIDR:       cfg.NetworkCIDR.String(),
		Platform:          platform,
		ProtectSecrets:    cfg.ProtectSecrets,
		LocalPathVolume:   cfg.Cloud.Local(),
	})
	if err != nil {
		return nil, err
	}

	layer, err := kube.Install(ctx, cfg, platform, cluster.Provider)
	if err != nil {
		return nil, err
	}

	return pulumi.Map{
		"environment": pulumi.String(cfg.Environment),
		"endpoint":    cluster.Endpoint,
		"nodes":       nodeList(platform),
		"kubeconfig":  cluster.Kubeconfig,
		"talosconfig": cluster.Talosconfig,
		"ingress":     platform.IngressEndpoint,
		"urls":        urls(layer.Hosts, cfg.Cloud.Local()),
	}, nil
}

// urls are the web endpoints. Locally they go through a port-forward of the
// ingress (see README), as *.localhost resolves to this machine.
func urls(hosts map[string]string, local bool) pulumi.StringMap {
	out := pulumi.StringMap{}
	for name, host := range hosts {
		if local {
			out[name] = pulumi.String("https://" + host + ":8443")
		} else {
			out[name] = pulumi.String("https://" + host)
		}
	}
	return out
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
