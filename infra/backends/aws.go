//go:build !sre_lab_local || sre_lab_aws

package backends

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/aws"
)

func init() { register(config.AWS, newAWS) }

// newAWS makes EC2 instances and the buckets and keys the cluster's
// workloads use.
func newAWS(ctx *pulumi.Context, name string, cfg config.Config, _ Host) (infra.Platform, error) {
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

// secretsPrefix is the part of AWS Secrets Manager External Secrets may
// read when it is the operator: sre-lab/<env>/.
func secretsPrefix(cfg config.Config) string {
	if cfg.Secrets != config.SecretsExternal {
		return ""
	}
	return "sre-lab/" + string(cfg.Environment) + "/"
}
