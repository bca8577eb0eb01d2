//go:build !sre_lab_local || sre_lab_gcp

package backends

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/gcp"
)

func init() { register(config.GCP, newGCP) }

// newGCP makes Compute Engine instances; HA environments keep their logs.
func newGCP(ctx *pulumi.Context, name string, cfg config.Config, _ Host) (infra.Platform, error) {
	nodes, err := gcp.NewNodes(ctx, name, &gcp.Args{
		Environment:  string(cfg.Environment),
		Stack:        cfg.Stack,
		Region:       cfg.Region,
		Zones:        cfg.Zones,
		ControlPlane: cfg.ControlPlane,
		Workers:      cfg.Workers,
		Network:      cfg.NetworkCIDR,
		AdminCIDRs:   cfg.AdminCIDRs,
		TalosVersion: cfg.TalosVersion,
		KeepLogs:     cfg.Environment.HA(),
	})
	if err != nil {
		return infra.Platform{}, fmt.Errorf("gcp nodes: %w", err)
	}
	return nodes.Platform, nil
}
