package backends

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/virtualbox"
)

func init() { register(config.VirtualBox, newVirtualBox) }

// newVirtualBox makes the local lab's VMs; the Talos ISO is cached in the
// user's cache directory, shared by every checkout.
func newVirtualBox(ctx *pulumi.Context, name string, cfg config.Config, host Host) (infra.Platform, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return infra.Platform{}, fmt.Errorf("virtualbox: no cache directory for the Talos ISO: %w", err)
	}
	nodes, err := virtualbox.NewNodes(ctx, name, &virtualbox.Args{
		ControlPlane: cfg.ControlPlane,
		Workers:      cfg.Workers,
		Network:      cfg.NetworkCIDR,
		TalosVersion: cfg.TalosVersion,
		CacheDir:     filepath.Join(cache, "sre-lab"),
		HostOS:       host.OS,
		HostArch:     host.Arch,
	})
	if err != nil {
		return infra.Platform{}, fmt.Errorf("virtualbox nodes: %w", err)
	}
	for i, n := range nodes.Platform.Nodes {
		if patch, ok := nodes.ConfigPatches[n.Name]; ok {
			nodes.Platform.Nodes[i].ConfigPatches = []string{patch}
		}
	}
	return nodes.Platform, nil
}
