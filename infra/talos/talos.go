package talos

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumiverse/pulumi-talos/sdk/go/talos/client"
	"github.com/pulumiverse/pulumi-talos/sdk/go/talos/cluster"
	"github.com/pulumiverse/pulumi-talos/sdk/go/talos/machine"

	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/apigate"
	"github.com/your-org/sre-lab/infra/upgrade"
)

// Token is the component's type token.
const Token = "sre-lab:infra:TalosCluster"

// ClusterArgs shapes a Talos cluster on the machines of a backend.
type ClusterArgs struct {
	// ClusterName names the cluster in its configs and kubeconfig.
	ClusterName string
	// Environment labels every node.
	Environment string
	// TalosVersion is the version contract of the generated configs and the
	// installer image.
	TalosVersion string
	// KubernetesVersion is what Talos deploys.
	KubernetesVersion string
	// NetworkCIDR is the node network.
	NetworkCIDR string
	// Platform is the backend's machines and endpoint.
	Platform infra.Platform
	// ProtectSecrets keeps `pulumi destroy` and replacements away from the
	// machine secrets, the identity of the cluster.
	ProtectSecrets bool
	// LocalPath gives workers a user volume for local-path-provisioner.
	LocalPath LocalPath
	// EtcdBackupNamespace lets pods there take etcd snapshots; empty
	// grants no Talos API access to Kubernetes.
	EtcdBackupNamespace string
	// UpgradeInPlace upgrades Talos node by node when TalosVersion changes;
	// Talos in a container cannot, so there only Kubernetes is upgraded.
	UpgradeInPlace bool
}

// Cluster is the `sre-lab:infra:TalosCluster` component.
type Cluster struct {
	pulumi.ResourceState

	// Endpoint is the Kubernetes API URL.
	Endpoint pulumi.StringOutput
	// Kubeconfig is the admin kubeconfig; secret.
	Kubeconfig pulumi.StringOutput
	// Talosconfig is the talosctl client config for every node; secret.
	Talosconfig pulumi.StringOutput
	// Provider reaches the cluster through Kubeconfig; every in-cluster
	// component is installed through it. It is configured only once the
	// API server answers (APIReady).
	Provider *kubernetes.Provider
	// APIReady is the gate that passes once the API server answers at
	// Endpoint.
	APIReady pulumi.Resource
	// Access reaches the API server as the admin, for waits that read
	// objects; it resolves only once APIReady has passed.
	Access apigate.Access
}

// NewCluster generates the machine configuration of every node, applies it,
// bootstraps etcd on the first control plane and reads back the kubeconfig.
// Nothing here waits for nodes to be Ready: they cannot be before the CNI,
// which the next layer installs through Provider.
func NewCluster(ctx *pulumi.Context, name string, args *ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	controlPlanes := args.Platform.ControlPlanes()
	if len(controlPlanes) == 0 {
		return nil, fmt.Errorf("talos cluster %s: the platform has no control plane", name)
	}
	for _, n := range args.Platform.Nodes {
		if n.Machine == nil {
			return nil, fmt.Errorf("talos cluster %s: node %s names no machine resource", name, n.Name)
		}
	}
	component := &Cluster{}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)

	// The secrets record the Talos version the cluster was made with; the
	// generated configs keep that compatibility version for life, as Talos
	// asks, while the install image follows sre-lab:talosVersion.
	secrets, err := machine.NewSecrets(ctx, name+"-secrets", &machine.SecretsArgs{
		TalosVersion: pulumi.String(args.TalosVersion),
	}, parent, pulumi.Protect(args.ProtectSecrets), pulumi.IgnoreChanges([]string{"talosVersion"}))
	if err != nil {
		return nil, fmt.Errorf("talos secrets: %w", err)
	}
	component.Endpoint = infra.ClusterEndpoint(args.Platform.Endpoint)

	configs := map[infra.Role]pulumi.StringOutput{}
	for _, r := range []struct {
		role  infra.Role
		patch func(PatchParams) (string, error)
	}{{infra.ControlPlane, ControlPlanePatch}, {infra.Worker, WorkerPatch}} {
		role, patch := r.role, r.patch
		rolePatch := args.Platform.Endpoint.ApplyT(func(endpoint string) (string, error) {
			var loopback []string
			if args.Platform.Passthrough && role == infra.ControlPlane {
				loopback = []string{endpoint + "/32"}
			}
			return patch(PatchParams{
				LoopbackAddresses:   loopback,
				DHCPOnEveryLink:     args.Platform.DHCPOnEveryLink,
				NetworkCIDR:         args.NetworkCIDR,
				CertSANs:            []string{endpoint},
				InstallDisk:         args.Platform.InstallDisk,
				InstallImage:        infra.InstallerImage(args.TalosVersion),
				LocalPath:           args.LocalPath,
				EtcdBackupNamespace: args.EtcdBackupNamespace,
			})
		}).(pulumi.StringOutput)
		configs[role] = machine.GetConfigurationOutput(ctx, machine.GetConfigurationOutputArgs{
			ClusterName:       pulumi.String(args.ClusterName),
			ClusterEndpoint:   component.Endpoint,
			MachineType:       pulumi.String(string(role)),
			MachineSecrets:    secrets.MachineSecrets,
			TalosVersion:      secrets.TalosVersion,
			KubernetesVersion: pulumi.String(args.KubernetesVersion),
			ConfigPatches:     pulumi.StringArray{rolePatch},
			Docs:              pulumi.Bool(false),
			Examples:          pulumi.Bool(false),
		}, parent).MachineConfiguration()
	}

	endpoints := pulumi.StringArray{}
	for _, cp := range controlPlanes {
		endpoints = append(endpoints, cp.TalosAddress())
	}
	nodes := pulumi.StringArray{}
	for _, n := range args.Platform.Nodes {
		nodes = append(nodes, n.TalosAddress())
	}
	talosconfig := client.GetConfigurationOutput(ctx, client.GetConfigurationOutputArgs{
		ClusterName: pulumi.String(args.ClusterName),
		ClientConfiguration: client.GetConfigurationClientConfigurationArgs{
			CaCertificate:     secrets.ClientConfiguration.CaCertificate(),
			ClientCertificate: secrets.ClientConfiguration.ClientCertificate(),
			ClientKey:         secrets.ClientConfiguration.ClientKey(),
		},
		Endpoints: endpoints,
		Nodes:     nodes,
	}, parent).TalosConfig()
	component.Talosconfig = pulumi.ToSecret(talosconfig).(pulumi.StringOutput)

	// Version changes roll through the nodes before any config is applied:
	// applying a new Kubernetes version first would restart every control
	// plane's components at once.
	var upgradeNodes []upgrade.Node
	if args.UpgradeInPlace {
		for _, n := range args.Platform.Nodes {
			upgradeNodes = append(upgradeNodes, upgrade.Node{Name: n.Name, Role: n.Role, Address: n.TalosAddress(), Machine: n.Machine})
		}
	}
	// With etcd backups on, a snapshot is also kept where Pulumi runs
	// before the first control plane goes down.
	var snapshots string
	if args.EtcdBackupNamespace != "" {
		snapshots = "sre-lab/" + args.ClusterName
	}
	upgrades, err := upgrade.NewUpgrade(ctx, name+"-upgrade", &upgrade.Args{
		Nodes: upgradeNodes,
		// Not the talosconfig, which lists every node: adding one would
		// run every step's update.
		Client: upgrade.Client{
			CACertificate: secrets.ClientConfiguration.CaCertificate(),
			Certificate:   secrets.ClientConfiguration.ClientCertificate(),
			Key:           secrets.ClientConfiguration.ClientKey(),
		},
		EtcdSnapshotDir:   snapshots,
		TalosVersion:      args.TalosVersion,
		KubernetesVersion: args.KubernetesVersion,
		InstallerImage:    infra.InstallerImage(args.TalosVersion),
		Endpoint:          controlPlanes[0].TalosAddress(),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("talos upgrades: %w", err)
	}

	var firstApply *machine.ConfigurationApply
	for _, node := range args.Platform.Nodes {
		nodePatch, err := NodePatch(node.Name, NodeLabels(args.Environment, node.Role))
		if err != nil {
			return nil, fmt.Errorf("talos patch %s: %w", node.Name, err)
		}
		address := node.TalosAddress()
		// The default apply mode changes a running node in place, rebooting
		// only when a change needs it. A replaced machine boots unconfigured,
		// often at the same address, so nothing in these inputs changes:
		// the apply is replaced with the machine to reach the new one. Its
		// delete does nothing to the node unless on_destroy asks for a
		// reset (terraform-provider-talos,
		// pkg/talos/talos_machine_configuration_apply_resource.go, Delete),
		// so replacing it never touches the new machine.
		apply, err := machine.NewConfigurationApply(ctx, name+"-"+node.Name, &machine.ConfigurationApplyArgs{
			ClientConfiguration:       secrets.ClientConfiguration,
			MachineConfigurationInput: configs[node.Role],
			Node:                      address,
			Endpoint:                  address,
			ConfigPatches:             append(pulumi.StringArray{pulumi.String(nodePatch)}, pulumi.ToStringArray(node.ConfigPatches)...),
		}, parent, pulumi.DependsOn([]pulumi.Resource{upgrades.Done}), pulumi.ReplaceWith([]pulumi.Resource{node.Machine}))
		if err != nil {
			return nil, fmt.Errorf("talos config apply %s: %w", node.Name, err)
		}
		if firstApply == nil {
			firstApply = apply
		}
	}

	first := controlPlanes[0].TalosAddress()
	// Bootstrapping starts a new etcd cluster. With one control plane, a
	// replaced machine lost the only member and must be bootstrapped
	// again; with more, the replacement joins the members that remain,
	// and bootstrapping it would split the cluster in two.
	bootstrapOpts := []pulumi.ResourceOption{parent, pulumi.DependsOn([]pulumi.Resource{firstApply})}
	if len(controlPlanes) == 1 {
		bootstrapOpts = append(bootstrapOpts, pulumi.ReplaceWith([]pulumi.Resource{controlPlanes[0].Machine}))
	}
	bootstrap, err := machine.NewBootstrap(ctx, name+"-bootstrap", &machine.BootstrapArgs{
		ClientConfiguration: secrets.ClientConfiguration,
		Node:                first,
		Endpoint:            first,
	}, bootstrapOpts...)
	if err != nil {
		return nil, fmt.Errorf("talos bootstrap: %w", err)
	}

	kubeconfig, err := cluster.NewKubeconfig(ctx, name+"-kubeconfig", &cluster.KubeconfigArgs{
		ClientConfiguration: cluster.KubeconfigClientConfigurationArgs{
			CaCertificate:     secrets.ClientConfiguration.CaCertificate(),
			ClientCertificate: secrets.ClientConfiguration.ClientCertificate(),
			ClientKey:         secrets.ClientConfiguration.ClientKey(),
		},
		Node:     first,
		Endpoint: first,
	}, parent, pulumi.DependsOn([]pulumi.Resource{bootstrap}))
	if err != nil {
		return nil, fmt.Errorf("talos kubeconfig: %w", err)
	}
	component.Kubeconfig = pulumi.ToSecret(kubeconfig.KubeconfigRaw).(pulumi.StringOutput)

	// The Talos provider reports the Kubernetes client configuration
	// base64-encoded.
	client := kubeconfig.KubernetesClientConfiguration
	ca := apigate.PEMOutput(client.CaCertificate().Elem())
	gate, err := apigate.New(ctx, name+"-api-ready", &apigate.Args{
		URL:           component.Endpoint,
		CACertificate: ca,
	}, parent, pulumi.DependsOn([]pulumi.Resource{bootstrap}),
		// A bootstrap again (the only control plane was replaced) starts
		// an API server again: wait for it again.
		pulumi.ReplaceWith([]pulumi.Resource{bootstrap}))
	if err != nil {
		return nil, fmt.Errorf("kubernetes api gate: %w", err)
	}
	component.APIReady = gate
	component.Access = apigate.Access{
		URL:               apigate.Hold(gate, component.Endpoint),
		CACertificate:     ca,
		ClientCertificate: apigate.PEMOutput(client.ClientCertificate().Elem()),
		ClientKey:         pulumi.ToSecret(apigate.PEMOutput(client.ClientKey().Elem())).(pulumi.StringOutput),
	}

	component.Provider, err = kubernetes.NewProvider(ctx, name+"-k8s", &kubernetes.ProviderArgs{
		Kubeconfig: apigate.Hold(gate, component.Kubeconfig),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"endpoint":    component.Endpoint,
		"kubeconfig":  component.Kubeconfig,
		"talosconfig": component.Talosconfig,
	}); err != nil {
		return nil, err
	}
	return component, nil
}
