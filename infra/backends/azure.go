//go:build !sre_lab_local || sre_lab_azure

package backends

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/azure"
)

func init() { register(config.Azure, newAzure) }

// newAzure makes Azure VMs from a Talos image: a blob URL to import, or an
// image already in the subscription.
func newAzure(ctx *pulumi.Context, name string, cfg config.Config, _ Host) (infra.Platform, error) {
	args := &azure.Args{
		Environment:  string(cfg.Environment),
		Stack:        cfg.Stack,
		Location:     cfg.Region,
		Zones:        cfg.Zones,
		ControlPlane: cfg.ControlPlane,
		Workers:      cfg.Workers,
		Network:      cfg.NetworkCIDR,
		AdminCIDRs:   cfg.AdminCIDRs,
		TalosVersion: cfg.TalosVersion,
	}
	// Validation allows exactly these two forms.
	if strings.HasPrefix(cfg.TalosImage, "https://") {
		args.ImageBlobURL = cfg.TalosImage
	} else {
		args.ImageID = cfg.TalosImage
	}
	nodes, err := azure.NewNodes(ctx, name, args)
	if err != nil {
		return infra.Platform{}, fmt.Errorf("azure nodes: %w", err)
	}
	return nodes.Platform, nil
}
