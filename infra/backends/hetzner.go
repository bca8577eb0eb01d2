//go:build !sre_lab_local || sre_lab_hetzner

package backends

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/hetzner"
)

func init() { register(config.Hetzner, newHetzner) }

// newHetzner makes Hetzner Cloud servers from the stack's Talos snapshot.
func newHetzner(ctx *pulumi.Context, name string, cfg config.Config, _ Host) (infra.Platform, error) {
	nodes, err := hetzner.NewNodes(ctx, name, &hetzner.Args{
		Environment:  string(cfg.Environment),
		Stack:        cfg.Stack,
		Location:     cfg.Region,
		ControlPlane: cfg.ControlPlane,
		Workers:      cfg.Workers,
		Network:      cfg.NetworkCIDR,
		AdminCIDRs:   cfg.AdminCIDRs,
		TalosVersion: cfg.TalosVersion,
		Image:        cfg.TalosImage,
	})
	if err != nil {
		return infra.Platform{}, fmt.Errorf("hetzner nodes: %w", err)
	}
	return nodes.Platform, nil
}
