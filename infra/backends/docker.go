package backends

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/docker"
)

func init() { register(config.Docker, newDocker) }

// newDocker makes the local lab's nodes as Talos containers.
func newDocker(ctx *pulumi.Context, name string, cfg config.Config, _ Host) (infra.Platform, error) {
	nodes, err := docker.NewNodes(ctx, name, &docker.Args{
		ControlPlane: cfg.ControlPlane,
		Workers:      cfg.Workers,
		Network:      cfg.NetworkCIDR,
		TalosVersion: cfg.TalosVersion,
	})
	if err != nil {
		return infra.Platform{}, fmt.Errorf("docker nodes: %w", err)
	}
	return nodes.Platform, nil
}
