// Command sre-lab is the Pulumi program of the SRE observability lab: Talos
// Linux nodes on a laptop or a cloud, Kubernetes bootstrapped by Talos, and
// the layers above it. `program` is the whole wiring.
package main

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/cost"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/backends"
	"github.com/your-org/sre-lab/infra/talos"
	"github.com/your-org/sre-lab/internal/egress"
	"github.com/your-org/sre-lab/kube"
	"github.com/your-org/sre-lab/kube/etcdbackup"
	"github.com/your-org/sre-lab/observability"
	"github.com/your-org/sre-lab/observability/monitoring"
	"github.com/your-org/sre-lab/practice"
)

func main() { pulumi.Run(program) }

// hostOS and hostArch are where the program, and the command provider's
// scripts, run; tests set them to see how other hosts are answered.
var (
	hostOS   = runtime.GOOS
	hostArch = runtime.GOARCH
)

// egressLookup learns this machine's public address; tests replace it.
var egressLookup = egress.Lookup

// checkEgress stops an update of a cloud stack, before any resource, when
// this machine's address is outside sre-lab:adminCidrs: the node APIs
// would not answer it. Previews contact no node and always run. When the
// address cannot be learnt, a warning says what may follow.
func checkEgress(ctx *pulumi.Context, cfg config.Config) error {
	if cfg.Cloud.Local() || ctx.DryRun() || os.Getenv(egress.SkipEnv) == "1" {
		return nil
	}
	addr, err := egressLookup(ctx.Context())
	if err != nil {
		return ctx.Log.Warn(fmt.Sprintf("could not learn this machine's public address (%v); "+
			"if it is not in %s:%s, the Talos and Kubernetes APIs will not answer it and this update will time out",
			err, config.Namespace, config.KeyAdminCIDRs), nil)
	}
	return egress.Check(addr, cfg.AdminCIDRs, config.Namespace+":"+config.KeyAdminCIDRs)
}

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
	// A misspelt key would be ignored and its default used: refuse it.
	if err := config.CheckKnown(config.KeysSet()); err != nil {
		return nil, err
	}
	cfg, err := config.Load(ctx)
	if err != nil {
		return nil, err
	}
	if err := config.CheckHost(cfg, hostOS); err != nil {
		return nil, err
	}
	if err := checkEgress(ctx, cfg); err != nil {
		return nil, err
	}
	secrets, err := config.LoadSecrets(ctx)
	if err != nil {
		return nil, err
	}
	alertmanager, err := observability.AlertmanagerConfig(secrets.Alertmanager)
	if err != nil {
		return nil, err
	}

	platform, err := backends.New(ctx, cfg.ClusterName, cfg, backends.Host{OS: hostOS, Arch: hostArch})
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
		LocalPath:         localPath(cfg.Cloud),
		// Snapshots go through the Talos API; only the job's namespace
		// may use it, and only when backups are on.
		EtcdBackupNamespace: etcdBackupNamespace(cfg),
		UpgradeInPlace:      cfg.Cloud != config.Docker,
	})
	if err != nil {
		return nil, err
	}

	layer, err := kube.Install(ctx, cfg, platform, cluster.Provider, cluster.Access)
	if err != nil {
		return nil, err
	}

	obs, err := observability.Install(ctx, cfg, secrets, alertmanager, platform, layer, cluster.Provider)
	if err != nil {
		return nil, err
	}
	hosts := maps.Clone(layer.Hosts)
	maps.Copy(hosts, obs.Hosts)

	if cfg.Practice {
		lab, err := practice.Install(ctx, cfg, layer, cluster.Provider)
		if err != nil {
			return nil, err
		}
		maps.Copy(hosts, lab.Hosts)
	}

	outputs := pulumi.Map{
		"environment": pulumi.String(cfg.Environment),
		"endpoint":    cluster.Endpoint,
		"nodes":       nodeList(platform),
		"kubeconfig":  cluster.Kubeconfig,
		"talosconfig": cluster.Talosconfig,
		"ingress":     platform.IngressEndpoint,
		"urls":        urls(hosts, ingressPort(cfg, platform)),
		"dnsRecords":  dnsRecords(hosts, platform.IngressEndpoint, cfg.Cloud.Local()),
		// Secret: `pulumi stack output grafanaAdminPassword --show-secrets`.
		"grafanaAdminPassword": obs.Monitoring.GrafanaAdminPassword,
		"commands":             commands(ctx.Stack()),
		"estimatedMonthlyCost": pulumi.String(monthlyCost(cfg)),
		"firstControlPlane":    platform.ControlPlanes()[0].TalosAddress(),
		"talosVersion":         pulumi.String(cfg.TalosVersion),
		"kubernetesVersion":    pulumi.String(cfg.KubernetesVersion),
		"next":                 next(ctx.Stack(), grafanaURL(cfg, platform, obs.Hosts["grafana"])),
	}
	if cfg.Cloud.Local() {
		outputs["nodePortUrls"] = nodePortURLs(platform)
	}
	if platform.BackupBucket != nil {
		outputs["etcdBackupBucket"] = platform.BackupBucket.Name
	}
	return outputs, nil
}

// nodePortURLs are the local lab's Grafana, Prometheus and Alertmanager on
// their node ports at the first worker (any node answers; the docs name
// that one): plain HTTP, and no DNS record needed, so they answer before
// the ingress names resolve.
func nodePortURLs(p infra.Platform) pulumi.StringMap {
	ports := map[string]int{
		"grafana":      monitoring.GrafanaNodePort,
		"prometheus":   monitoring.PrometheusNodePort,
		"alertmanager": monitoring.AlertmanagerNodePort,
	}
	out := pulumi.StringMap{}
	for name, port := range ports {
		out[name] = pulumi.Sprintf("http://%s:%d", p.Workers()[0].PrivateIP, port)
	}
	return out
}

// grafanaURL is where a person first opens Grafana: the node port locally,
// which needs no /etc/hosts line, and the ingress URL in a cloud.
func grafanaURL(cfg config.Config, p infra.Platform, host string) pulumi.StringOutput {
	if cfg.Cloud.Local() {
		return pulumi.Sprintf("http://%s:%d", p.Workers()[0].PrivateIP, monitoring.GrafanaNodePort)
	}
	return pulumi.String("https://" + host + ingressPort(cfg, p)).ToStringOutput()
}

// next is what to run once `pulumi up` is done, in order: fetch the
// credentials, check the lab, open Grafana. Task's STACK variable defaults
// to dev, so each names the stack.
func next(stack string, grafana pulumi.StringOutput) pulumi.StringArray {
	return pulumi.StringArray{
		pulumi.String("task credentials STACK=" + stack),
		pulumi.String("task verify STACK=" + stack),
		pulumi.Sprintf("open %s as admin, password: pulumi stack output grafanaAdminPassword --show-secrets -s %s", grafana, stack),
	}
}

// credentialDir is where a person keeps a stack's kubeconfig and
// talosconfig: outside any checkout, so a commit cannot pick them up, one
// directory per stack (%s). The shell expands $HOME. Taskfile.yml's
// CREDENTIALS variable is the same path with {{.STACK}}.
const credentialDir = "$HOME/.sre-lab/%s"

// commands are how a person gets the cluster's credentials onto their
// machine; the files hold keys, so under umask 077 the directory is made
// 0700 and the files 0600, in credentialDir.
func commands(stack string) pulumi.StringMap {
	dir := fmt.Sprintf(credentialDir, stack)
	out := pulumi.StringMap{}
	for _, name := range []string{"kubeconfig", "talosconfig"} {
		out[name] = pulumi.String(fmt.Sprintf(`(umask 077; mkdir -p "%s" && pulumi stack output %s --show-secrets -s %s > "%s/%s")`,
			dir, name, stack, dir, name))
	}
	return out
}

// monthlyCost is the estimate from the dated price table; a size the table
// lacks is said, not priced at zero.
func monthlyCost(cfg config.Config) string {
	e, err := cost.Of(cfg)
	if err != nil {
		return "unknown: " + err.Error()
	}
	return e.String()
}

// localPath is where local volumes come from: a partition of a VM's disk,
// a directory where the node has no disk to split (a container) or a fixed
// one (a Hetzner server), or nowhere where a CSI driver provides volumes.
func localPath(cloud config.Cloud) talos.LocalPath {
	switch {
	case cloud.CSIDriver():
		return talos.NoLocalPath
	case cloud == config.VirtualBox:
		return talos.LocalPathPartition
	}
	return talos.LocalPathDirectory
}

// etcdBackupNamespace is where the snapshot job runs, or empty when
// backups are off.
func etcdBackupNamespace(cfg config.Config) string {
	if !cfg.EtcdBackup.Enabled {
		return ""
	}
	return etcdbackup.Namespace
}

// urls are the web endpoints behind the ingress.
func urls(hosts map[string]string, port string) pulumi.StringMap {
	out := pulumi.StringMap{}
	for name, host := range hosts {
		out[name] = pulumi.String("https://" + host + port)
	}
	return out
}

// ingressPort is empty where the ingress answers on 443 (a cloud load
// balancer, or an LB-IPAM address), and the node port on a local backend
// without LB-IPAM (Docker), where the host reaches a node directly.
func ingressPort(cfg config.Config, platform infra.Platform) string {
	if cfg.Cloud.Local() && platform.LoadBalancerRange == nil {
		return fmt.Sprintf(":%d", infra.IngressHTTPSNodePort)
	}
	return ""
}

// dnsRecords tells the user how the web names reach the ingress: one
// /etc/hosts line locally; in a cloud, A (or AAAA) records where the
// ingress is an address (GCP, Azure, Hetzner) and CNAME records where it
// is a host name (the AWS load balancer's), since a CNAME must name a host.
func dnsRecords(hosts map[string]string, ingress pulumi.StringOutput, local bool) pulumi.StringOutput {
	names := slices.Sorted(maps.Values(hosts))
	return ingress.ApplyT(func(target string) string {
		if local {
			return target + " " + strings.Join(names, " ")
		}
		record := "CNAME " + target + "."
		if addr, err := netip.ParseAddr(target); err == nil {
			record = "A " + addr.String()
			if addr.Is6() {
				record = "AAAA " + addr.String()
			}
		}
		records := make([]string, len(names))
		for i, name := range names {
			records[i] = name + ". " + record
		}
		return strings.Join(records, "\n")
	}).(pulumi.StringOutput)
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
