// Package hetzner is the Hetzner Cloud backend: one private network, Talos
// nodes booted from a Talos snapshot, one load balancer in front of the
// control planes for the Kubernetes API and one in front of the workers for
// web traffic. The Talos API is reached at each node's public address only.
//
// The hcloud provider is the default one, configured by HCLOUD_TOKEN: unlike
// AWS there is no region or tag default to set on it.
//
// Hetzner Object Storage has no resource in the hcloud provider, so this
// backend makes no log bucket and Loki keeps its chunks on its own volume.
package hetzner

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-hcloud/sdk/go/hcloud"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
)

// Token is the component's type token.
const Token = "sre-lab:infra:HetznerNodes"

// Host numbers inside the node subnet (the first /24 of the network). They
// follow the local layout, control planes at .10 and workers at .20, so an
// address tells its role on every backend. The load balancers get fixed
// addresses below .10: left to Hetzner, they would take the first free
// ones, and could take a node's address while the nodes are being created.
const (
	apiLBHost        = 5
	ingressLBHost    = 6
	controlPlaneHost = 10
	workerHost       = 20
)

// maxControlPlanes is the room between the first control-plane address
// and the first worker address.
const maxControlPlanes = workerHost - controlPlaneHost

// loadBalancerTypes are Hetzner's load balancer types, smallest first, and
// how many targets each takes. Every one has the few services the lab needs.
var loadBalancerTypes = []struct {
	name    string
	targets int
}{{"lb11", 25}, {"lb21", 75}, {"lb31", 150}}

// loadBalancerType is the smallest type that takes n targets: lb11 for the
// usual lab, larger only for a large worker pool behind the ingress.
func loadBalancerType(n int) (string, bool) {
	for _, t := range loadBalancerTypes {
		if n <= t.targets {
			return t.name, true
		}
	}
	return "", false
}

// maxWorkers is what the largest load balancer takes; the addresses from
// .20 to .254 have room for more.
var maxWorkers = loadBalancerTypes[len(loadBalancerTypes)-1].targets

// Args shapes the Hetzner lab.
type Args struct {
	// Environment names resources: sre-lab-{env}-network, {env}-sre-cp-01.
	Environment string
	// Stack is recorded in labels.
	Stack string
	// Location is the Hetzner Cloud location everything is created in:
	// fsn1, nbg1, hel1, ash, hil or sin.
	Location string
	// ControlPlane and Workers are the pools; Size is a server type such as
	// cx22. DiskGiB has no effect: a server type has a fixed disk.
	ControlPlane config.NodePool
	Workers      config.NodePool
	// Network is the private network, a /24 or larger; nodes and load
	// balancers get fixed addresses in its first /24.
	Network netip.Prefix
	// AdminCIDRs may reach the Kubernetes and Talos APIs on the nodes.
	AdminCIDRs []netip.Prefix
	// TalosVersion selects the snapshot when Image is empty.
	TalosVersion string
	// Image is an explicit snapshot ID; empty selects the newest snapshot
	// labelled for TalosVersion (see ImageSelector).
	Image string
}

// Nodes is the `sre-lab:infra:HetznerNodes` component.
type Nodes struct {
	pulumi.ResourceState

	// Platform is the backend contract.
	Platform infra.Platform
	// NetworkID is the lab's private network, for what joins it later
	// (the Hetzner cloud controller manager, more load balancers).
	NetworkID pulumi.IDOutput
}

// Labels are on every resource that takes labels, so the lab's resources
// can be found, and told apart per stack, in the console and the API.
func Labels(args *Args) map[string]string {
	return map[string]string{
		"project":     "sre-lab",
		"environment": args.Environment,
		"stack":       args.Stack,
		"managed-by":  "pulumi",
	}
}

// NetworkZone is the network zone of a location: a private network's
// subnet must be in the zone of the servers and load balancers attached to
// it.
func NetworkZone(location string) (string, error) {
	if zone, ok := config.HetznerNetworkZones[location]; ok {
		return zone, nil
	}
	return "", fmt.Errorf("unknown Hetzner Cloud location %q; allowed: %s",
		location, strings.Join(slices.Sorted(maps.Keys(config.HetznerNetworkZones)), ", "))
}

// ImageSelector is the label selector of the Talos snapshots of a version.
// Whoever builds a snapshot (for example with Packer from the Image Factory
// hcloud image) labels it os=talos and talos-version=<version>.
func ImageSelector(talosVersion string) string {
	return infra.TalosSnapshotLabels(talosVersion)
}

// plan is what validation derives from Args before anything is registered.
type plan struct {
	zone   string
	subnet netip.Prefix
}

func validate(args *Args) (plan, error) {
	var p plan
	if args.Environment == "" {
		return p, fmt.Errorf("environment is required: it names every resource")
	}
	zone, err := NetworkZone(args.Location)
	if err != nil {
		return p, err
	}
	p.zone = zone
	if !args.Network.IsValid() || !args.Network.Addr().Is4() || args.Network.Bits() > 24 {
		return p, fmt.Errorf("network %s must be an IPv4 range of /24 or larger: nodes get fixed addresses in its first /24", args.Network)
	}
	p.subnet = netip.PrefixFrom(args.Network.Masked().Addr(), 24)
	for _, pool := range []struct {
		role     infra.Role
		pool     config.NodePool
		min, max int
		limit    string
	}{
		{infra.ControlPlane, args.ControlPlane, 1, maxControlPlanes,
			fmt.Sprintf("the addresses reserved for them, %s to %s", hostIP(p.subnet, controlPlaneHost), hostIP(p.subnet, workerHost-1))},
		{infra.Worker, args.Workers, 0, maxWorkers,
			"behind the largest Hetzner load balancer"},
	} {
		if pool.pool.Count < pool.min || pool.pool.Count > pool.max {
			return p, fmt.Errorf("%d %s nodes: from %d to %d fit %s",
				pool.pool.Count, pool.role, pool.min, pool.max, pool.limit)
		}
		if pool.pool.Count > 0 && pool.pool.Size == "" {
			return p, fmt.Errorf("%s nodes need a server type", pool.role)
		}
	}
	if args.TalosVersion == "" {
		return p, fmt.Errorf("talos version is required")
	}
	if args.Image != "" {
		// A name would be taken for a system image such as ubuntu-24.04,
		// and fail only when the first server is created.
		if id, err := strconv.Atoi(args.Image); err != nil || id < 1 {
			return p, fmt.Errorf("image %q must be the numeric ID of a Talos snapshot", args.Image)
		}
	}
	return p, nil
}

// hostIP is host number n of a /24.
func hostIP(subnet netip.Prefix, n int) netip.Addr {
	b := subnet.Addr().As4()
	// n stays below 255: counts are validated against the layout.
	b[3] = byte(n)
	return netip.AddrFrom4(b)
}

// intID is a resource's ID as the number the Hetzner API knows it by: the
// provider takes references to other resources as integers.
func intID(id pulumi.IDOutput) pulumi.IntOutput {
	return id.ApplyT(func(id pulumi.ID) (int, error) {
		return strconv.Atoi(string(id))
	}).(pulumi.IntOutput)
}

// NewNodes creates the network, the firewall, the nodes and the two load
// balancers.
func NewNodes(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Nodes, error) {
	p, err := validate(args)
	if err != nil {
		return nil, fmt.Errorf("hetzner nodes: %w", err)
	}
	component := &Nodes{}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)
	labels := Labels(args)

	image := args.Image
	if image == "" {
		found, err := hcloud.GetImage(ctx, &hcloud.GetImageArgs{
			WithSelector:     pulumi.StringRef(ImageSelector(args.TalosVersion)),
			MostRecent:       pulumi.BoolRef(true),
			WithArchitecture: pulumi.StringRef("x86"),
			// A snapshot still being written cannot boot a server.
			WithStatuses: []string{"available"},
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("hetzner talos %s snapshot (%s): %w", args.TalosVersion, ImageSelector(args.TalosVersion), err)
		}
		image = strconv.Itoa(found.Id)
	}

	net, err := newNetwork(ctx, name, args, p, labels, parent)
	if err != nil {
		return nil, fmt.Errorf("hetzner network: %w", err)
	}
	component.NetworkID = net.network.ID()

	firewall, err := newFirewall(ctx, name, args, labels, parent)
	if err != nil {
		return nil, fmt.Errorf("hetzner firewall: %w", err)
	}
	spread, err := hcloud.NewPlacementGroup(ctx, name+"-cp-placement", &hcloud.PlacementGroupArgs{
		Name: pulumi.String(infra.NetworkName(args.Environment, "cp")),
		// Each control plane on a different physical host, so one host
		// failure cannot cost etcd its quorum.
		Type:   pulumi.String("spread"),
		Labels: pulumi.ToStringMap(labels),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("hetzner placement group: %w", err)
	}

	members := map[infra.Role][]member{}
	for _, pool := range []struct {
		role  infra.Role
		pool  config.NodePool
		first int
	}{
		{infra.ControlPlane, args.ControlPlane, controlPlaneHost},
		{infra.Worker, args.Workers, workerHost},
	} {
		var previous *hcloud.Server
		for n := 1; n <= pool.pool.Count; n++ {
			nodeName := infra.CloudNodeName(args.Environment, pool.role, n)
			resourceName := fmt.Sprintf("%s-%s-%02d", name, pool.role.Short(), n)
			serverArgs := &hcloud.ServerArgs{
				Name:        pulumi.String(nodeName),
				ServerType:  pulumi.String(pool.pool.Size),
				Location:    pulumi.String(args.Location),
				Image:       pulumi.String(image),
				FirewallIds: pulumi.IntArray{intID(firewall.ID())},
				// talosctl and the program reach each node at its public
				// IPv4 until the cluster is up.
				PublicNets: hcloud.ServerPublicNetArray{&hcloud.ServerPublicNetArgs{
					Ipv4Enabled: pulumi.Bool(true),
					Ipv6Enabled: pulumi.Bool(true),
				}},
				Labels: pulumi.ToStringMap(withRole(labels, pool.role)),
			}
			if pool.role == infra.ControlPlane {
				serverArgs.PlacementGroupId = intID(spread.ID())
			}
			// What a change does is the schema of terraform-provider-hcloud,
			// which pulumi-hcloud wraps (internal/server/resource.go). A new
			// location replaces the server, and so would a new image, which
			// is ignored, or user data or SSH keys, which Talos takes none
			// of. A new name, server type, firewall, placement group or
			// label is an update: for a server type the provider powers the
			// server off, changes the type and, as keep_disk is unset,
			// grows the disk, after which no type with a smaller disk fits.
			//
			// Hetzner refuses a second server of the same name in the
			// project, so a replacement deletes the old server first. Each
			// server waits for the one before it of its role, so a change to
			// a pool reaches its servers one at a time.
			serverOpts := []pulumi.ResourceOption{parent,
				// A new Talos version reaches running nodes by upgrade, not
				// by replacing them; only new nodes boot the new snapshot.
				pulumi.IgnoreChanges([]string{"image"}),
				pulumi.DeleteBeforeReplace(true)}
			if previous != nil {
				serverOpts = append(serverOpts, pulumi.DependsOn([]pulumi.Resource{previous}))
			}
			server, err := hcloud.NewServer(ctx, resourceName, serverArgs, serverOpts...)
			if err != nil {
				return nil, fmt.Errorf("hetzner server %s: %w", nodeName, err)
			}
			previous = server
			// The node's fixed private address. The load balancer targets
			// and, through PrivateIP, Talos wait for this attachment, not
			// just for the server. The provider takes an attachment of a
			// server already in the network as made
			// (internal/server/resource_network.go), so one created before
			// its predecessor is deleted would be undone by that delete.
			attachment, err := hcloud.NewServerNetwork(ctx, resourceName+"-network", &hcloud.ServerNetworkArgs{
				ServerId: intID(server.ID()),
				SubnetId: net.subnet.ID().ToStringOutput(),
				Ip:       pulumi.String(hostIP(p.subnet, pool.first+n-1).String()),
			}, parent, pulumi.DeleteBeforeReplace(true))
			if err != nil {
				return nil, fmt.Errorf("hetzner server %s network: %w", nodeName, err)
			}
			members[pool.role] = append(members[pool.role], member{server, attachment})
			component.Platform.Nodes = append(component.Platform.Nodes, infra.Node{
				Name: nodeName,
				Role: pool.role,
				// Read back from the attachment, so whoever uses the address
				// waits until the node has it.
				PrivateIP: attachment.Ip,
				PublicIP:  server.Ipv4Address,
				Machine:   server,
			})
		}
	}

	endpoints := map[string]pulumi.StringOutput{}
	for _, b := range balancers {
		lb, err := newLoadBalancer(ctx, name, args, p, net, b, members[b.role], labels, parent)
		if err != nil {
			return nil, fmt.Errorf("hetzner %s load balancer: %w", b.purpose, err)
		}
		endpoints[b.purpose] = lb.Ipv4
	}
	component.Platform.DHCPOnEveryLink = true
	component.Platform.Endpoint = endpoints["api"]
	component.Platform.IngressEndpoint = endpoints["ingress"]

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"endpoint":        component.Platform.Endpoint,
		"ingressEndpoint": component.Platform.IngressEndpoint,
		"networkId":       component.NetworkID,
		"image":           pulumi.String(image),
	}); err != nil {
		return nil, err
	}
	return component, nil
}

func withRole(labels map[string]string, role infra.Role) map[string]string {
	out := maps.Clone(labels)
	out["role"] = string(role)
	return out
}

// member is a node in the private network.
type member struct {
	server     *hcloud.Server
	attachment *hcloud.ServerNetwork
}

type network struct {
	network *hcloud.Network
	subnet  *hcloud.NetworkSubnet
}

func newNetwork(ctx *pulumi.Context, name string, args *Args, p plan, labels map[string]string, parent pulumi.ResourceOrInvokeOption) (*network, error) {
	n, err := hcloud.NewNetwork(ctx, name+"-network", &hcloud.NetworkArgs{
		Name:    pulumi.String(infra.NetworkName(args.Environment, "network")),
		IpRange: pulumi.String(args.Network.Masked().String()),
		Labels:  pulumi.ToStringMap(labels),
	}, parent)
	if err != nil {
		return nil, err
	}
	s, err := hcloud.NewNetworkSubnet(ctx, name+"-subnet", &hcloud.NetworkSubnetArgs{
		NetworkId:   intID(n.ID()),
		Type:        pulumi.String("cloud"),
		NetworkZone: pulumi.String(p.zone),
		IpRange:     pulumi.String(p.subnet.String()),
	}, parent)
	if err != nil {
		return nil, err
	}
	return &network{network: n, subnet: s}, nil
}

// AdminPorts are the APIs admins reach on each node: talosctl and the
// program apply the first configuration at the nodes' public addresses.
var AdminPorts = []int{infra.KubeAPIPort, infra.TalosAPIPort}

var portName = map[int]string{infra.KubeAPIPort: "the Kubernetes API", infra.TalosAPIPort: "the Talos API"}

// newFirewall guards the nodes' public interfaces. Hetzner firewalls do not
// filter private-network traffic, so node to node traffic and the load
// balancers, which reach the nodes at their private addresses, need no
// rule; web traffic arrives only through the ingress load balancer. Servers
// name the firewall at creation, so no node is ever up without it.
func newFirewall(ctx *pulumi.Context, name string, args *Args, labels map[string]string, parent pulumi.ResourceOrInvokeOption) (*hcloud.Firewall, error) {
	rules := hcloud.FirewallRuleArray{&hcloud.FirewallRuleArgs{
		Direction:   pulumi.String("in"),
		Protocol:    pulumi.String("icmp"),
		SourceIps:   pulumi.ToStringArray([]string{"0.0.0.0/0", "::/0"}),
		Description: pulumi.String("ping and path MTU discovery"),
	}}
	// Hetzner refuses a rule without sources: no admin CIDR, no admin rule.
	if len(args.AdminCIDRs) > 0 {
		sources := pulumi.StringArray{}
		for _, cidr := range args.AdminCIDRs {
			sources = append(sources, pulumi.String(cidr.String()))
		}
		for _, port := range AdminPorts {
			rules = append(rules, &hcloud.FirewallRuleArgs{
				Direction:   pulumi.String("in"),
				Protocol:    pulumi.String("tcp"),
				Port:        pulumi.String(strconv.Itoa(port)),
				SourceIps:   sources,
				Description: pulumi.String("admin access to " + portName[port]),
			})
		}
	}
	return hcloud.NewFirewall(ctx, name+"-firewall", &hcloud.FirewallArgs{
		Name:   pulumi.String(infra.NetworkName(args.Environment, "firewall")),
		Rules:  rules,
		Labels: pulumi.ToStringMap(labels),
	}, parent)
}

// forward is one service of a load balancer: a public port and the port on
// the targets it goes to.
type forward struct{ listen, target int }

// balancer is one load balancer of the lab and the nodes behind it.
type balancer struct {
	purpose  string
	host     int
	role     infra.Role
	forwards []forward
}

// balancers are the two load balancers. The Kubernetes API and web traffic
// get one each, so the ingress can move or scale without touching the
// cluster endpoint, which is baked into every node's configuration.
//
// The Talos API (50000) is not forwarded: a balancer cannot filter sources,
// and a node in maintenance mode accepts an unauthenticated apply-config on
// that port, so anyone could configure a control plane before the program
// does. The talosconfig and every apply target the nodes' own addresses,
// which the firewall limits to the admin CIDRs. The Kubernetes API stays:
// the cluster endpoint is this balancer, and nothing listens on 6443 before
// Talos has applied sre-lab's configuration.
var balancers = []balancer{
	{"api", apiLBHost, infra.ControlPlane, []forward{
		{infra.KubeAPIPort, infra.KubeAPIPort},
	}},
	{"ingress", ingressLBHost, infra.Worker, []forward{
		{80, infra.IngressHTTPNodePort},
		{443, infra.IngressHTTPSNodePort},
	}},
}

// newLoadBalancer creates one balancer, attached to the private network,
// forwarding TCP to its targets' private addresses with a TCP health check
// on the target port. Hetzner load balancers cannot filter by source, and
// the firewall neither applies to a load balancer nor filters the private
// network it reaches its targets through: every service listens to the
// whole internet whatever the admin CIDRs say.
func newLoadBalancer(ctx *pulumi.Context, name string, args *Args, p plan, net *network, b balancer, targets []member, labels map[string]string, parent pulumi.ResourceOrInvokeOption) (*hcloud.LoadBalancer, error) {
	prefix := name + "-" + b.purpose
	lbType, _ := loadBalancerType(len(targets)) // validated: the pools fit
	lb, err := hcloud.NewLoadBalancer(ctx, prefix+"-lb", &hcloud.LoadBalancerArgs{
		Name:             pulumi.String(infra.NetworkName(args.Environment, b.purpose)),
		LoadBalancerType: pulumi.String(lbType),
		Location:         pulumi.String(args.Location),
		Labels:           pulumi.ToStringMap(labels),
	}, parent)
	if err != nil {
		return nil, err
	}
	attached, err := hcloud.NewLoadBalancerNetwork(ctx, prefix+"-lb-network", &hcloud.LoadBalancerNetworkArgs{
		LoadBalancerId: intID(lb.ID()),
		SubnetId:       net.subnet.ID().ToStringOutput(),
		Ip:             pulumi.String(hostIP(p.subnet, b.host).String()),
	}, parent)
	if err != nil {
		return nil, err
	}
	for _, f := range b.forwards {
		if _, err := hcloud.NewLoadBalancerService(ctx, fmt.Sprintf("%s-%d", prefix, f.listen), &hcloud.LoadBalancerServiceArgs{
			LoadBalancerId:  lb.ID().ToStringOutput(),
			Protocol:        pulumi.String("tcp"),
			ListenPort:      pulumi.Int(f.listen),
			DestinationPort: pulumi.Int(f.target),
			HealthCheck: &hcloud.LoadBalancerServiceHealthCheckArgs{
				Protocol: pulumi.String("tcp"),
				Port:     pulumi.Int(f.target),
				Interval: pulumi.Int(10),
				Timeout:  pulumi.Int(5),
				Retries:  pulumi.Int(3),
			},
		}, parent); err != nil {
			return nil, err
		}
	}
	for i, target := range targets {
		if _, err := hcloud.NewLoadBalancerTarget(ctx, fmt.Sprintf("%s-%s-%02d", prefix, b.role.Short(), i+1), &hcloud.LoadBalancerTargetArgs{
			Type:           pulumi.String("server"),
			LoadBalancerId: intID(lb.ID()),
			ServerId:       intID(target.server.ID()),
			UsePrivateIp:   pulumi.Bool(true),
		}, parent,
			// A private target is refused until both the load balancer and
			// the server are in the network.
			pulumi.DependsOn([]pulumi.Resource{attached, target.attachment}),
			// As with the attachment, the provider takes a target the
			// balancer already has as made (internal/loadbalancer/
			// resource_target.go): a replacement must not overlap its
			// predecessor.
			pulumi.DeleteBeforeReplace(true)); err != nil {
			return nil, err
		}
	}
	return lb, nil
}
