// Package backends holds the one switch that turns `sre-lab:cloud` into
// machines. Each backend lives in its own package under infra/ and returns
// the same infra.Platform.
package backends

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/aws"
	"github.com/your-org/sre-lab/infra/azure"
	"github.com/your-org/sre-lab/infra/docker"
	"github.com/your-org/sre-lab/infra/gcp"
	"github.com/your-org/sre-lab/infra/hetzner"
	"github.com/your-org/sre-lab/infra/virtualbox"
)

// New creates the machines of cfg's backend, as a component named name.
func New(ctx *pulumi.Context, name string, cfg config.Config) (infra.Platform, error) {
	switch cfg.Cloud {
	case config.VirtualBox:
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
		})
		if err != nil {
			return infra.Platform{}, fmt.Errorf("virtualbox nodes: %w", err)
		}
		return nodes.Platform, nil
	case config.Docker:
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
	case config.Hetzner:
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
	case config.GCP:
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
	case config.Azure:
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
	case config.AWS:
		nodes, err := aws.NewNodes(ctx, name, &aws.Args{
			Environment:   string(cfg.Environment),
			Stack:         cfg.Stack,
			Region:        cfg.Region,
			Zones:         cfg.Zones,
			ControlPlane:  cfg.ControlPlane,
			Workers:       cfg.Workers,
			Network:       cfg.NetworkCIDR,
			AdminCIDRs:    cfg.AdminCIDRs,
			TalosVersion:  cfg.TalosVersion,
			SecretsPrefix: secretsPrefix(cfg),
			ClusterName:   cfg.ClusterName,
			KeepLogs:      cfg.Environment.HA(),
			EtcdBackups:   cfg.EtcdBackup.Enabled,
		})
		if err != nil {
			return infra.Platform{}, fmt.Errorf("aws nodes: %w", err)
		}
		return nodes.Platform, nil
	}
	return infra.Platform{}, fmt.Errorf("%s:%s = %q: no backend; available: %v", config.Namespace, config.KeyCloud, cfg.Cloud, config.Implemented)
}

// secretsPrefix is the part of AWS Secrets Manager External Secrets may
// read when it is the operator: sre-lab/<env>/.
func secretsPrefix(cfg config.Config) string {
	if cfg.Secrets != config.SecretsExternal {
		return ""
	}
	return "sre-lab/" + string(cfg.Environment) + "/"
}
