// Package upgrade rolls a new Talos or Kubernetes version through a running
// cluster when sre-lab:talosVersion or sre-lab:kubernetesVersion changes in
// stack config, instead of leaving the nodes where they are or replacing them.
//
// Each node gets one step, a command resource, and the steps run one after
// another, control planes first, each waiting for the cluster to be healthy
// before the next node goes down:
//
//   - One node at a time, because a control plane that reboots takes its etcd
//     member with it: with three members, two down at once loses quorum and
//     the cluster stops; Talos itself refuses to upgrade a control plane
//     while any etcd member is unhealthy, so an unpaced rollout would fail
//     half way. Workers go one at a time so their pods always have somewhere
//     to be drained to.
//   - Control planes first, because nodes may lag the control plane but
//     never lead it (Kubernetes' skew policy forbids a kubelet newer than its
//     API server, and Talos expects the same of its own versions): going
//     control planes first keeps every worker at or below them throughout.
//
// Kubernetes moves after every node runs the new Talos, since a Talos
// release only supports the Kubernetes versions it was built for.
//
// A step's target version sits in its command's environment, an input the
// command provider updates in place: creating a step (with the cluster, or
// with a node added later, both at the pinned version) only records the
// version, and a change of version runs the step's update script, which
// upgrades. Deleting a step does nothing: an upgrade cannot be undone by
// forgetting it.
//
// So every other input must stay put while the version does: a step holds
// the client's identity (Client), not a talosconfig, which lists every node
// and would change every step when one is added, and builds its own
// talosconfig naming only the control plane it talks to.
package upgrade

import (
	"embed"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/infra"
)

// Token is the component's type token.
const Token = "sre-lab:infra:TalosUpgrade"

// DefaultHealthTimeout bounds each wait for cluster health: long enough for
// a node to rejoin and its pods to come back, short enough that a broken
// upgrade stops the rollout within one coffee.
const DefaultHealthTimeout = 10 * time.Minute

//go:embed scripts/*.sh
var scripts embed.FS

// Node is one machine to upgrade.
type Node struct {
	// Name names the node's step; the machine's name.
	Name string
	// Role orders the rollout: control planes go first.
	Role infra.Role
	// Address is where talosctl reaches the node's Talos API from the
	// machine running Pulumi (infra.Node.TalosAddress).
	Address pulumi.StringInput
	// Machine is the node's machine resource. A replacement boots the
	// pinned version unconfigured, so the step is replaced with it and
	// only records the version again: asking the new machine for its
	// version would wait on a node that has no config yet.
	Machine pulumi.Resource
}

// Client is the identity talosctl authenticates with: the machine secrets'
// client configuration, each part base64-encoded PEM as a talosconfig holds
// it. It names no node and no endpoint, so adding a node changes no step;
// the Talos provider renews the certificate and key within a month of
// their expiry (a year after they are made), which changes every step once,
// and each then finds its node at the version and stops.
type Client struct {
	// CACertificate is the Talos API's certificate authority.
	CACertificate pulumi.StringInput
	// Certificate is the client certificate.
	Certificate pulumi.StringInput
	// Key is the client certificate's private key.
	Key pulumi.StringInput
}

// Args shapes the upgrade steps of a cluster.
type Args struct {
	// Nodes are the machines Talos can upgrade in place, control planes
	// first; the order within a role is kept. Empty for backends whose
	// nodes are containers: Talos does not upgrade itself in a container.
	Nodes []Node
	// Client is who the steps are to talosctl; each part is secret in
	// every input it reaches, whatever the caller passes.
	Client Client
	// TalosVersion is the version every node must run, such as v1.12.4.
	TalosVersion string
	// KubernetesVersion is the version the cluster must run, such as 1.35.0.
	KubernetesVersion string
	// InstallerImage is the image nodes upgrade from; empty means
	// infra.InstallerImage(TalosVersion).
	InstallerImage string
	// Endpoint is the Talos API address of the control plane that runs the
	// cluster health checks and the Kubernetes upgrade. It must be one
	// machine's own address, not a load balancer's: talosctl sends both to
	// exactly one node and talks to it directly. Empty means the first
	// control plane's Address; it is required when Nodes has no control
	// plane.
	Endpoint pulumi.StringInput
	// HealthTimeout bounds each wait for cluster health; zero means
	// DefaultHealthTimeout.
	HealthTimeout time.Duration
	// EtcdSnapshotDir, when set, has the first control plane's step take an
	// etcd snapshot into this directory, relative to the cache directory of
	// whoever runs Pulumi (XDG_CACHE_HOME, else ~/.cache), before it
	// upgrades that node; a failed snapshot stops the rollout. It is
	// relative so that the step's input is the same on every machine.
	// Empty takes no snapshot.
	EtcdSnapshotDir string
	// DependsOn are resources the first step waits for.
	DependsOn []pulumi.Resource
}

// Upgrade is the `sre-lab:infra:TalosUpgrade` component. Depending on it
// waits for every step.
type Upgrade struct {
	pulumi.ResourceState

	// Done is the last step, which waits for every other: depend on it to
	// run after the whole rollout. Depending on the component itself only
	// covers the children registered by then.
	Done pulumi.Resource
}

// withDefaults fills what Args leaves empty and puts control planes first,
// because the rollout's safety depends on that order, not on every caller
// getting it right.
func withDefaults(args Args) (Args, error) {
	switch {
	case args.TalosVersion == "":
		return args, errors.New("the Talos version is empty")
	case args.KubernetesVersion == "":
		return args, errors.New("the Kubernetes version is empty")
	case args.Client.CACertificate == nil || args.Client.Certificate == nil || args.Client.Key == nil:
		return args, errors.New("the Talos client's CA certificate, certificate or key is missing")
	case args.EtcdSnapshotDir != "" && !filepath.IsLocal(args.EtcdSnapshotDir):
		return args, fmt.Errorf("the etcd snapshot directory %q must be a relative path inside the cache directory", args.EtcdSnapshotDir)
	}
	for _, n := range args.Nodes {
		if n.Role != infra.ControlPlane && n.Role != infra.Worker {
			return args, fmt.Errorf("node %s: role %q is neither %s nor %s", n.Name, n.Role, infra.ControlPlane, infra.Worker)
		}
		if n.Address == nil {
			return args, fmt.Errorf("node %s: the address is missing", n.Name)
		}
		if n.Machine == nil {
			return args, fmt.Errorf("node %s: the machine is missing", n.Name)
		}
	}
	args.Nodes = slices.Clone(args.Nodes)
	slices.SortStableFunc(args.Nodes, func(a, b Node) int {
		return rank(a.Role) - rank(b.Role)
	})
	if args.Endpoint == nil {
		if len(args.Nodes) == 0 || args.Nodes[0].Role != infra.ControlPlane {
			return args, errors.New("no control plane to run health checks and the Kubernetes upgrade on: list one in Nodes or set Endpoint")
		}
		args.Endpoint = args.Nodes[0].Address
	}
	if args.InstallerImage == "" {
		args.InstallerImage = infra.InstallerImage(args.TalosVersion)
	}
	if args.HealthTimeout == 0 {
		args.HealthTimeout = DefaultHealthTimeout
	}
	return args, nil
}

func rank(r infra.Role) int {
	if r == infra.ControlPlane {
		return 0
	}
	return 1
}

// NewUpgrade registers one step per node, each waiting for the one before,
// and the Kubernetes step after the last of them.
func NewUpgrade(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Upgrade, error) {
	a, err := withDefaults(*args)
	if err != nil {
		return nil, fmt.Errorf("talos upgrade %s: %w", name, err)
	}
	component := &Upgrade{}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)
	client := pulumi.StringMap{
		"SRE_TALOS_CA":  pulumi.ToSecret(a.Client.CACertificate).(pulumi.StringOutput),
		"SRE_TALOS_CRT": pulumi.ToSecret(a.Client.Certificate).(pulumi.StringOutput),
		"SRE_TALOS_KEY": pulumi.ToSecret(a.Client.Key).(pulumi.StringOutput),
	}

	previous := a.DependsOn
	for i, n := range a.Nodes {
		env := pulumi.StringMap{
			"SRE_NODE_NAME":       pulumi.String(n.Name),
			"SRE_NODE_ADDRESS":    n.Address,
			"SRE_TALOS_VERSION":   pulumi.String(a.TalosVersion),
			"SRE_INSTALLER_IMAGE": pulumi.String(a.InstallerImage),
			"SRE_CONTROL_PLANE":   a.Endpoint,
			"SRE_HEALTH_TIMEOUT":  pulumi.String(a.HealthTimeout.String()),
		}
		// Control planes come first: the first step is the first control
		// plane's, if there is one, and no etcd member has gone down yet.
		if i == 0 && n.Role == infra.ControlPlane && a.EtcdSnapshotDir != "" {
			env["SRE_ETCD_SNAPSHOT_DIR"] = pulumi.String(a.EtcdSnapshotDir)
		}
		maps.Copy(env, client)
		step, err := newStep(ctx, name+"-"+n.Name, "node-created.sh", "node-upgrade.sh", env,
			parent, pulumi.DependsOn(previous), pulumi.ReplaceWith([]pulumi.Resource{n.Machine}))
		if err != nil {
			return nil, fmt.Errorf("talos upgrade of %s: %w", n.Name, err)
		}
		previous = []pulumi.Resource{step}
	}
	env := pulumi.StringMap{
		"SRE_KUBERNETES_VERSION": pulumi.String(a.KubernetesVersion),
		"SRE_CONTROL_PLANE":      a.Endpoint,
	}
	maps.Copy(env, client)
	done, err := newStep(ctx, name+"-kubernetes", "kubernetes-created.sh", "kubernetes-upgrade.sh", env,
		parent, pulumi.DependsOn(previous))
	if err != nil {
		return nil, fmt.Errorf("kubernetes upgrade: %w", err)
	}
	component.Done = done

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{}); err != nil {
		return nil, err
	}
	return component, nil
}

// newStep is a command that only records on create and upgrades on update.
// Nothing that should upgrade goes in triggers: the provider replaces a
// command whose triggers change, which would run the create script again.
func newStep(ctx *pulumi.Context, name, create, update string, env pulumi.StringMap, opts ...pulumi.ResourceOption) (*local.Command, error) {
	createScript, err := script(create)
	if err != nil {
		return nil, err
	}
	updateScript, err := script("lib.sh", update)
	if err != nil {
		return nil, err
	}
	return local.NewCommand(ctx, name, &local.CommandArgs{
		Interpreter: pulumi.StringArray{pulumi.String("/bin/sh"), pulumi.String("-c")},
		Create:      pulumi.String(createScript),
		Update:      pulumi.String(updateScript),
		Environment: env,
		// The Kubernetes step reads the version its last run recorded.
		AddPreviousOutputInEnv: pulumi.Bool(true),
	}, opts...)
}

// script joins embedded scripts into the text the command provider hands to
// /bin/sh -c; the tests run exactly this text.
func script(names ...string) (string, error) {
	var text []byte
	for _, n := range names {
		b, err := scripts.ReadFile("scripts/" + n)
		if err != nil {
			return "", err
		}
		text = append(text, b...)
	}
	return string(text), nil
}
