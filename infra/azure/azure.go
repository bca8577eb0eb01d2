// Package azure is the Azure backend: one resource group holding a virtual
// network, a network security group on the node subnet, Talos virtual
// machines spread across availability zones, each with a static private
// address and its own public address, and one Standard load balancer in
// front of the control planes (Kubernetes and Talos APIs) and the workers
// (web ingress).
//
// # The Talos image
//
// Azure boots virtual machines from a managed image (or a gallery image),
// which Azure builds only from a fixed VHD held in a page blob. The Image
// Factory serves that VHD uncompressed (VHDURL), but the azure-native
// provider cannot put it in a page blob: its storage.Blob knows the types
// Block and Append only and refuses any other ("unsupported blob type"),
// and it reads the whole source asset into memory before uploading. A
// pulumi.NewRemoteAsset upload, which works for GCP, cannot make an Azure
// image, and this package does not pretend it can. The image comes instead
// from one of:
//
//   - Args.ImageBlobURL: the Factory VHD, uploaded once by hand as a page
//     blob; the component registers the image talos-<version> from it.
//   - Args.ImageID: an image made outside the stack (for example with
//     az image create), used as it is.
//
// Uploading the VHD (about 11 GiB for Talos v1.12), into a storage account
// in the lab's subscription and region:
//
//	curl -fLo talos.vhd https://factory.talos.dev/image/<schematic>/v1.12.4/azure-amd64.vhd
//	az storage blob upload --type page --account-name ACCOUNT \
//	  --container-name images --name talos-v1.12.4.vhd --file talos.vhd
//
// # Outbound traffic and logs
//
// Every node has a Standard public address, so it reaches the internet
// through that address; the load balancer's rules are told not to SNAT.
// The backend makes no log bucket: Loki's Azure client needs an account key,
// a SAS or workload identity, and the platform promises buckets that the
// nodes' own identity can use without a key handed to a workload, which
// nothing here sets up.
package azure

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-azure-native-sdk/compute/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/network/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/resources/v2"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
)

// Token is the component's type token.
const Token = "sre-lab:infra:AzureNodes"

// AllZones are the availability zones of every zone-enabled Azure region,
// used when the user names none.
var AllZones = []string{"1", "2", "3"}

// Host numbers inside the node subnet (the first /24 of the network). They
// follow the local layout, control planes at .10 and workers at .20, so an
// address tells its role on every backend. Azure keeps .0 to .3 and .255 of
// every subnet for itself.
const (
	controlPlaneHost = 10
	workerHost       = 20
	lastHost         = 254
)

// Pool limits that follow from the address layout.
const (
	maxControlPlanes = workerHost - controlPlaneHost
	maxWorkers       = lastHost - workerHost + 1
)

// MinDiskGiB is the smallest OS disk the Talos image fits on: the Factory's
// Azure image of Talos v1.12 is a fixed 11,193 MiB disk, and Azure refuses
// an OS disk smaller than its image.
const MinDiskGiB = 11

// HyperVGeneration is the VM generation of the image the component
// registers. The Talos guide registers its image with az image create,
// whose default is V1; the v1.12 image is dual-boot (GRUB for BIOS,
// systemd-boot for UEFI), so an image from ImageID may be V2 as well.
const HyperVGeneration = "V1"

// Security rule priorities: lower runs first. Each admin CIDR takes one
// priority from adminPriority, so maxAdminCIDRs keeps them clear of the
// rules after them. Azure's default rules, from 65000, allow the virtual
// network and the load balancer and deny everything else.
const (
	adminPriority   = 100
	maxAdminCIDRs   = 100
	probePriority   = 200
	webPriority     = 210
	hairpinPriority = 300
)

// adminUser is the account Azure insists a VM from a generalized image has.
// Talos has no users, no SSH and no VM agent, so nothing ever logs in as it.
const adminUser = "talos"

// Service tags, Azure's names for address ranges it manages.
const (
	// LoadBalancerTag is where the load balancer's health probes come from.
	LoadBalancerTag = "AzureLoadBalancer"
	// InternetTag is every address outside the virtual network.
	InternetTag = "Internet"
)

// Args shapes the Azure lab.
type Args struct {
	// Environment names resources: sre-lab-{env}-vnet, {env}-sre-cp-01.
	Environment string
	// Stack is recorded in tags.
	Stack string
	// Location is the Azure region everything is created in, by its name
	// such as westeurope.
	Location string
	// Zones are the availability zones ("1", "2", "3") nodes spread across,
	// round-robin; empty uses all three.
	Zones []string
	// ControlPlane and Workers are the pools; Size is a VM size such as
	// Standard_B2s, DiskGiB the OS disk.
	ControlPlane config.NodePool
	Workers      config.NodePool
	// Network is the virtual network's range, a /24 or larger; nodes get
	// fixed addresses in its first /24.
	Network netip.Prefix
	// AdminCIDRs may reach the Kubernetes and Talos APIs. Azure addresses
	// here are IPv4 only.
	AdminCIDRs []netip.Prefix
	// TalosVersion is the Talos release the image holds, with a leading v.
	TalosVersion string
	// ImageBlobURL is the page blob holding VHDURL(TalosVersion), in a
	// storage account of the same subscription and region; the component
	// registers the image talos-<version> from it. Exactly one of
	// ImageBlobURL and ImageID is set.
	ImageBlobURL string
	// ImageID is the resource ID of an existing Talos image (a managed image
	// or a gallery image version), used instead of ImageBlobURL.
	ImageID string
}

// Nodes is the `sre-lab:infra:AzureNodes` component.
type Nodes struct {
	pulumi.ResourceState

	// Platform is the backend contract.
	Platform infra.Platform
	// ResourceGroup is the name of the lab's resource group, for what joins
	// it later (disks made by a CSI driver, more load balancers).
	ResourceGroup pulumi.StringOutput
	// ImageID is the image the nodes booted from.
	ImageID pulumi.StringOutput
}

// Tags are on every resource that takes tags, so the lab's resources can be
// found, and told apart per stack, in the portal and the API.
func Tags(args *Args) map[string]string {
	return map[string]string{
		"project":     "sre-lab",
		"environment": args.Environment,
		"stack":       args.Stack,
		"managed-by":  "pulumi",
	}
}

// VHDURL is the Image Factory's Azure disk of a Talos version, built from the
// vanilla schematic. Asked without a compression suffix the Factory serves
// the disk uncompressed: a fixed VHD whose size is a whole number of MiB
// (qemu-img subformat=fixed,force_size), as Azure requires. Its own links
// point at azure-amd64.vhd.zst, which Azure cannot read.
func VHDURL(talosVersion string) string {
	return infra.DiskImageURL("azure", talosVersion, "vhd")
}

// ImageName is the name of the image the component registers.
func ImageName(talosVersion string) string {
	return "talos-" + talosVersion
}

// vmSize reads an Azure VM size name: Standard_<family><vCPUs>[-<constrained
// vCPUs>]<features>[_<version>], such as Standard_D4ads_v5.
var vmSize = regexp.MustCompile(`^Standard_([A-Z]+)([0-9]+)(?:-[0-9]+)?([a-z]*)(?:_.*)?$`)

// DiskSKU is the managed disk type for a VM size's OS disk: Premium SSD
// where the size can attach it (the s feature of the size name, or the old
// DS and GS families), since etcd is sensitive to disk latency; Standard
// SSD elsewhere, as Azure refuses Premium disks on those sizes.
func DiskSKU(size string) string {
	m := vmSize.FindStringSubmatch(size)
	if m != nil && (strings.Contains(m[3], "s") || strings.HasSuffix(m[1], "S")) {
		return string(compute.StorageAccountTypes_Premium_LRS)
	}
	return string(compute.StorageAccountTypes_StandardSSD_LRS)
}

// regionName is an Azure region's programmatic name, as ARM IDs and the az
// CLI spell it: westeurope. The display name "West Europe" is refused so one
// region has one spelling in the stack configuration.
var regionName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// plan is what validation derives from Args before anything is registered.
type plan struct {
	zones  []string
	subnet netip.Prefix
	admins []string
}

func validate(args *Args) (plan, error) {
	var p plan
	if args.Environment == "" {
		return p, fmt.Errorf("environment is required: it names every resource")
	}
	if !regionName.MatchString(args.Location) {
		return p, fmt.Errorf("location %q must be an Azure region name such as westeurope", args.Location)
	}
	p.zones = AllZones
	if len(args.Zones) > 0 {
		p.zones = nil
		for _, z := range args.Zones {
			if !slices.Contains(AllZones, z) || slices.Contains(p.zones, z) {
				return p, fmt.Errorf("zones %q: each must be one of %s, once", args.Zones, strings.Join(AllZones, ", "))
			}
			p.zones = append(p.zones, z)
		}
	}
	if !args.Network.IsValid() || !args.Network.Addr().Is4() || args.Network.Bits() > 24 {
		return p, fmt.Errorf("network %s must be an IPv4 range of /24 or larger: nodes get fixed addresses in its first /24", args.Network)
	}
	p.subnet = netip.PrefixFrom(args.Network.Masked().Addr(), 24)
	for _, pool := range []struct {
		role     infra.Role
		pool     config.NodePool
		min, max int
		first    int
	}{
		{infra.ControlPlane, args.ControlPlane, 1, maxControlPlanes, controlPlaneHost},
		{infra.Worker, args.Workers, 0, maxWorkers, workerHost},
	} {
		if pool.pool.Count < pool.min || pool.pool.Count > pool.max {
			return p, fmt.Errorf("%d %s nodes: from %d to %d fit the addresses reserved for them, %s to %s",
				pool.pool.Count, pool.role, pool.min, pool.max,
				hostIP(p.subnet, pool.first), hostIP(p.subnet, pool.first+pool.max-1))
		}
		if pool.pool.Count == 0 {
			continue
		}
		if !vmSize.MatchString(pool.pool.Size) {
			return p, fmt.Errorf("%s size %q is not an Azure VM size such as Standard_B2s", pool.role, pool.pool.Size)
		}
		if pool.pool.DiskGiB < MinDiskGiB {
			return p, fmt.Errorf("%s disk of %d GiB: the Talos image needs at least %d GiB", pool.role, pool.pool.DiskGiB, MinDiskGiB)
		}
	}
	if len(args.AdminCIDRs) > maxAdminCIDRs {
		return p, fmt.Errorf("%d admin CIDRs: at most %d fit the security rules reserved for them", len(args.AdminCIDRs), maxAdminCIDRs)
	}
	for _, cidr := range args.AdminCIDRs {
		if !cidr.IsValid() || !cidr.Addr().Is4() {
			return p, fmt.Errorf("admin CIDR %s: the lab's Azure addresses are IPv4 only", cidr)
		}
		p.admins = append(p.admins, cidr.Masked().String())
	}
	if !strings.HasPrefix(args.TalosVersion, "v") {
		return p, fmt.Errorf("talos version %q must be a release such as v1.12.4", args.TalosVersion)
	}
	switch {
	case (args.ImageBlobURL == "") == (args.ImageID == ""):
		return p, fmt.Errorf("set exactly one of the image blob URL and the image ID: "+
			"the azure-native provider cannot upload the Talos VHD (%s) as the page blob Azure needs, so upload it once "+
			"(az storage blob upload --type page) and give its URL, or give the ID of an image made from it", VHDURL(args.TalosVersion))
	case args.ImageBlobURL != "":
		u, err := url.Parse(args.ImageBlobURL)
		if err != nil || u.Scheme != "https" || !strings.Contains(u.Host, ".blob.") || !strings.HasSuffix(strings.ToLower(u.Path), ".vhd") {
			return p, fmt.Errorf("image blob URL %q must be the https URL of a .vhd page blob in Azure storage", args.ImageBlobURL)
		}
	default:
		id := strings.ToLower(args.ImageID)
		if !strings.HasPrefix(id, "/subscriptions/") || !strings.Contains(id, "/providers/microsoft.compute/") {
			return p, fmt.Errorf("image ID %q must be the resource ID of an image: /subscriptions/.../providers/Microsoft.Compute/images/NAME", args.ImageID)
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

// NewNodes creates the resource group, the network, the image, the nodes
// and the load balancer.
func NewNodes(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Nodes, error) {
	p, err := validate(args)
	if err != nil {
		return nil, fmt.Errorf("azure nodes: %w", err)
	}
	component := &Nodes{}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)
	tags := Tags(args)
	location := pulumi.String(args.Location)

	rg, err := resources.NewResourceGroup(ctx, name+"-rg", &resources.ResourceGroupArgs{
		ResourceGroupName: pulumi.String(infra.NetworkName(args.Environment, "rg")),
		Location:          location,
		Tags:              pulumi.ToStringMap(tags),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("azure resource group: %w", err)
	}
	component.ResourceGroup = rg.Name
	// Every later resource names the group by its output, and so waits for it.
	lab := &lab{name: name, args: args, plan: p, tags: tags, location: location, rg: rg, parent: parent}

	if component.ImageID, err = lab.image(ctx); err != nil {
		return nil, fmt.Errorf("azure talos %s image: %w", args.TalosVersion, err)
	}

	nodes := lab.plannedNodes()
	for i := range nodes {
		if nodes[i].pip, err = lab.publicIP(ctx, name+"-"+nodes[i].suffix+"-pip", nodes[i].name+"-pip"); err != nil {
			return nil, fmt.Errorf("azure public address of %s: %w", nodes[i].name, err)
		}
	}
	subnet, err := lab.network(ctx, nodes)
	if err != nil {
		return nil, fmt.Errorf("azure network: %w", err)
	}
	lb, lbIP, err := lab.loadBalancer(ctx)
	if err != nil {
		return nil, fmt.Errorf("azure load balancer: %w", err)
	}
	password, err := random.NewRandomPassword(ctx, name+"-admin-password", &random.RandomPasswordArgs{
		// Azure's rules for a Linux admin password: 6 to 72 characters, three
		// kinds of character at least.
		Length:          pulumi.Int(32),
		MinLower:        pulumi.Int(1),
		MinUpper:        pulumi.Int(1),
		MinNumeric:      pulumi.Int(1),
		MinSpecial:      pulumi.Int(1),
		OverrideSpecial: pulumi.String("!#%*()_+=[]{}:?"),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("azure admin password: %w", err)
	}

	previous := map[infra.Role]pulumi.Resource{}
	for _, n := range nodes {
		node, err := lab.node(ctx, n, subnet, lb, component.ImageID, password.Result, previous[n.role])
		if err != nil {
			return nil, fmt.Errorf("azure node %s: %w", n.name, err)
		}
		previous[n.role] = node.Machine
		component.Platform.Nodes = append(component.Platform.Nodes, node)
	}
	component.Platform.Endpoint = lbIP
	component.Platform.IngressEndpoint = lbIP

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"endpoint":        component.Platform.Endpoint,
		"ingressEndpoint": component.Platform.IngressEndpoint,
		"resourceGroup":   component.ResourceGroup,
		"imageId":         component.ImageID,
	}); err != nil {
		return nil, err
	}
	return component, nil
}

// lab is what every part of the component shares.
type lab struct {
	name     string
	args     *Args
	plan     plan
	tags     map[string]string
	location pulumi.String
	rg       *resources.ResourceGroup
	parent   pulumi.ResourceOrInvokeOption
}

// plannedNode is one node before anything of it exists.
type plannedNode struct {
	name   string // the VM and Kubernetes node name: dev-sre-cp-01
	suffix string // the resource name suffix: cp-01
	role   infra.Role
	pool   config.NodePool
	zone   string
	ip     netip.Addr
	pip    *network.PublicIPAddress
}

// plannedNodes lists control planes, then workers, each spread over the
// zones in turn, counted across both pools so a small lab still uses more
// than one zone.
func (l *lab) plannedNodes() []plannedNode {
	var out []plannedNode
	for _, pool := range []struct {
		role  infra.Role
		pool  config.NodePool
		first int
	}{
		{infra.ControlPlane, l.args.ControlPlane, controlPlaneHost},
		{infra.Worker, l.args.Workers, workerHost},
	} {
		for n := 1; n <= pool.pool.Count; n++ {
			out = append(out, plannedNode{
				name:   infra.CloudNodeName(l.args.Environment, pool.role, n),
				suffix: fmt.Sprintf("%s-%02d", pool.role.Short(), n),
				role:   pool.role,
				pool:   pool.pool,
				zone:   l.plan.zones[len(out)%len(l.plan.zones)],
				ip:     hostIP(l.plan.subnet, pool.first+n-1),
			})
		}
	}
	return out
}

// image is the ID of the image the nodes boot from: the given one, or one
// registered from the uploaded blob.
func (l *lab) image(ctx *pulumi.Context) (pulumi.StringOutput, error) {
	if l.args.ImageID != "" {
		return pulumi.String(l.args.ImageID).ToStringOutput(), nil
	}
	image, err := compute.NewImage(ctx, l.name+"-image", &compute.ImageArgs{
		ImageName:         pulumi.String(ImageName(l.args.TalosVersion)),
		ResourceGroupName: l.rg.Name,
		Location:          l.location,
		HyperVGeneration:  pulumi.String(HyperVGeneration),
		StorageProfile: &compute.ImageStorageProfileArgs{
			OsDisk: &compute.ImageOSDiskArgs{
				OsType:  compute.OperatingSystemTypesLinux,
				OsState: compute.OperatingSystemStateTypesGeneralized,
				BlobUri: pulumi.String(l.args.ImageBlobURL),
			},
		},
		Tags: pulumi.ToStringMap(l.tags),
	}, l.parent)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	return image.ID().ToStringOutput(), nil
}

// publicIP is a static Standard address. Standard addresses keep their
// address for their whole life and fit a Standard load balancer. It is
// zone-redundant: it survives the loss of any zone, and a node's address
// attaches to the node in whatever zone, so moving the node to another
// zone replaces its VM only, never the address its interface holds, which
// Azure would refuse to delete.
func (l *lab) publicIP(ctx *pulumi.Context, resourceName, azureName string) (*network.PublicIPAddress, error) {
	return network.NewPublicIPAddress(ctx, resourceName, &network.PublicIPAddressArgs{
		PublicIpAddressName:      pulumi.String(azureName),
		ResourceGroupName:        l.rg.Name,
		Location:                 l.location,
		Sku:                      &network.PublicIPAddressSkuArgs{Name: pulumi.String("Standard"), Tier: pulumi.String("Regional")},
		PublicIPAllocationMethod: pulumi.String("Static"),
		PublicIPAddressVersion:   pulumi.String("IPv4"),
		Zones:                    pulumi.ToStringArray(AllZones),
		Tags:                     pulumi.ToStringMap(l.tags),
	}, l.parent)
}

// network creates the virtual network, the security group and the node
// subnet guarded by it. The subnet is its own resource and the virtual
// network lists none, so updating one never drops the other.
func (l *lab) network(ctx *pulumi.Context, nodes []plannedNode) (*network.Subnet, error) {
	vnet, err := network.NewVirtualNetwork(ctx, l.name+"-vnet", &network.VirtualNetworkArgs{
		VirtualNetworkName: pulumi.String(infra.NetworkName(l.args.Environment, "vnet")),
		ResourceGroupName:  l.rg.Name,
		Location:           l.location,
		AddressSpace:       &network.AddressSpaceArgs{AddressPrefixes: pulumi.ToStringArray([]string{l.args.Network.Masked().String()})},
		Tags:               pulumi.ToStringMap(l.tags),
	}, l.parent)
	if err != nil {
		return nil, err
	}
	nsg, err := network.NewNetworkSecurityGroup(ctx, l.name+"-nsg", &network.NetworkSecurityGroupArgs{
		NetworkSecurityGroupName: pulumi.String(infra.NetworkName(l.args.Environment, "nsg")),
		ResourceGroupName:        l.rg.Name,
		Location:                 l.location,
		// Inline only: standalone SecurityRule resources next to inline rules
		// would be deleted by every update of the group.
		SecurityRules: l.securityRules(nodes),
		Tags:          pulumi.ToStringMap(l.tags),
	}, l.parent)
	if err != nil {
		return nil, err
	}
	return network.NewSubnet(ctx, l.name+"-subnet", &network.SubnetArgs{
		SubnetName:         pulumi.String(infra.NetworkName(l.args.Environment, "subnet")),
		ResourceGroupName:  l.rg.Name,
		VirtualNetworkName: vnet.Name,
		AddressPrefix:      pulumi.String(l.plan.subnet.String()),
		// The group guards the subnet rather than each interface, so a node
		// added later is never up without it.
		NetworkSecurityGroup: &network.NetworkSecurityGroupTypeArgs{Id: nsg.ID()},
	}, l.parent)
}

// AdminPorts are the APIs admins reach, through the load balancer and,
// during the first configuration, on each node's public address.
var AdminPorts = []int{infra.KubeAPIPort, infra.TalosAPIPort}

// WebPorts are the ingress node ports web traffic reaches through the load
// balancer.
var WebPorts = []int{infra.IngressHTTPNodePort, infra.IngressHTTPSNodePort}

func portStrings(ports ...int) pulumi.StringArray {
	out := pulumi.StringArray{}
	for _, p := range ports {
		out = append(out, pulumi.String(strconv.Itoa(p)))
	}
	return out
}

func allowTCP(name string, priority int, source pulumi.StringInput, description string, ports ...int) *network.SecurityRuleTypeArgs {
	return &network.SecurityRuleTypeArgs{
		Name:                     pulumi.String(name),
		Priority:                 pulumi.Int(priority),
		Direction:                pulumi.String("Inbound"),
		Access:                   pulumi.String("Allow"),
		Protocol:                 pulumi.String("Tcp"),
		SourceAddressPrefix:      source,
		SourcePortRange:          pulumi.String("*"),
		DestinationAddressPrefix: pulumi.String("*"),
		DestinationPortRanges:    portStrings(ports...),
		Description:              pulumi.String(description),
	}
}

// securityRules open what the lab needs from outside the virtual network.
// The load balancer keeps client addresses, so the rules see the real
// sources: the APIs open to the admin CIDRs only, the ingress node ports to
// everyone. Node to node traffic and the rest are Azure's default rules:
// the virtual network allowed, everything else denied.
func (l *lab) securityRules(nodes []plannedNode) network.SecurityRuleTypeArray {
	rules := network.SecurityRuleTypeArray{}
	for i, cidr := range l.plan.admins {
		rules = append(rules, allowTCP(fmt.Sprintf("allow-admin-%02d", i+1), adminPriority+i, pulumi.String(cidr),
			"admin access to the Kubernetes and Talos APIs", AdminPorts...))
	}
	// Azure's default rules admit the probes too; this one keeps them in
	// whatever deny rule is added above those defaults.
	rules = append(rules, allowTCP("allow-lb-probes", probePriority, pulumi.String(LoadBalancerTag),
		"load balancer health probes", append(slices.Clone(AdminPorts), WebPorts...)...))
	rules = append(rules, allowTCP("allow-web", webPriority, pulumi.String(InternetTag),
		"web ingress through the load balancer", WebPorts...))
	// A node reaching the control planes through the load balancer's public
	// address arrives with its own public address as source, which the
	// virtual network rule does not match; workers take that path to join,
	// before they learn the control-plane addresses.
	for i, n := range nodes {
		rules = append(rules, allowTCP("allow-hairpin-"+n.name, hairpinPriority+i,
			pulumi.Sprintf("%s/32", n.pip.IpAddress.Elem()),
			n.name+" through the load balancer", infra.KubeAPIPort))
	}
	return rules
}

// Load balancer part names; the parts refer to each other by ID.
const (
	frontendName     = "public"
	controlPlanePool = "controlplanes"
	workerPool       = "workers"
)

// Forward is one rule of the load balancer: a public port, the port on the
// nodes of a role it goes to, and a TCP probe of that port.
type Forward struct {
	Name             string
	Port, TargetPort int
	Role             infra.Role
}

// Forwards are the load balancer's rules: the two APIs to the control
// planes, and web traffic to the ingress node ports on the workers. Azure
// rules translate the port, so 80 and 443 reach the node ports directly.
var Forwards = []Forward{
	{"kube-api", infra.KubeAPIPort, infra.KubeAPIPort, infra.ControlPlane},
	{"talos-api", infra.TalosAPIPort, infra.TalosAPIPort, infra.ControlPlane},
	{"http", 80, infra.IngressHTTPNodePort, infra.Worker},
	{"https", 443, infra.IngressHTTPSNodePort, infra.Worker},
}

// poolOf is the backend pool of a role's nodes.
func poolOf(role infra.Role) string {
	if role == infra.ControlPlane {
		return controlPlanePool
	}
	return workerPool
}

// probeName is the probe of a target port; rules to one port share it.
func probeName(port int) string { return fmt.Sprintf("tcp-%d", port) }

// IdleTimeoutMinutes is how long the load balancer keeps a quiet
// connection: the most Azure allows, as kubectl and talosctl watches and
// log streams stay quiet for minutes.
const IdleTimeoutMinutes = 30

// loadBalancer creates the Standard load balancer and its public address.
// Its parts are inline, referring to each other by the IDs Azure will give
// them; the nodes join its pools from their interfaces.
func (l *lab) loadBalancer(ctx *pulumi.Context) (*network.LoadBalancer, pulumi.StringOutput, error) {
	lbName := infra.NetworkName(l.args.Environment, "lb")
	ip, err := l.publicIP(ctx, l.name+"-lb-pip", lbName+"-pip")
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	lbID := pulumi.Sprintf("%s/providers/Microsoft.Network/loadBalancers/%s", l.rg.ID(), lbName)
	part := func(kind, name string) *network.SubResourceArgs {
		return &network.SubResourceArgs{Id: pulumi.Sprintf("%s/%s/%s", lbID, kind, name)}
	}
	probes := network.ProbeArray{}
	probed := map[int]bool{}
	rules := network.LoadBalancingRuleArray{}
	for _, f := range Forwards {
		if !probed[f.TargetPort] {
			probed[f.TargetPort] = true
			probes = append(probes, &network.ProbeArgs{
				Name:              pulumi.String(probeName(f.TargetPort)),
				Protocol:          pulumi.String("Tcp"),
				Port:              pulumi.Int(f.TargetPort),
				IntervalInSeconds: pulumi.Int(5),
				NumberOfProbes:    pulumi.Int(2),
				ProbeThreshold:    pulumi.Int(2),
			})
		}
		rules = append(rules, &network.LoadBalancingRuleArgs{
			Name:                    pulumi.String(f.Name),
			Protocol:                pulumi.String("Tcp"),
			FrontendPort:            pulumi.Int(f.Port),
			BackendPort:             pulumi.Int(f.TargetPort),
			FrontendIPConfiguration: part("frontendIPConfigurations", frontendName),
			BackendAddressPool:      part("backendAddressPools", poolOf(f.Role)),
			Probe:                   part("probes", probeName(f.TargetPort)),
			IdleTimeoutInMinutes:    pulumi.Int(IdleTimeoutMinutes),
			EnableTcpReset:          pulumi.Bool(true),
			// The nodes go out through their own public addresses.
			DisableOutboundSnat: pulumi.Bool(true),
		})
	}
	lb, err := network.NewLoadBalancer(ctx, l.name+"-lb", &network.LoadBalancerArgs{
		LoadBalancerName:  pulumi.String(lbName),
		ResourceGroupName: l.rg.Name,
		Location:          l.location,
		Sku:               &network.LoadBalancerSkuArgs{Name: pulumi.String("Standard"), Tier: pulumi.String("Regional")},
		FrontendIPConfigurations: network.FrontendIPConfigurationArray{&network.FrontendIPConfigurationArgs{
			Name:            pulumi.String(frontendName),
			PublicIPAddress: &network.PublicIPAddressTypeArgs{Id: ip.ID()},
		}},
		BackendAddressPools: network.BackendAddressPoolArray{
			&network.BackendAddressPoolArgs{Name: pulumi.String(controlPlanePool)},
			&network.BackendAddressPoolArgs{Name: pulumi.String(workerPool)},
		},
		Probes:             probes,
		LoadBalancingRules: rules,
		Tags:               pulumi.ToStringMap(l.tags),
	}, l.parent)
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	// The address is the endpoint only once the balancer forwards from it.
	return lb, once(lb, ip.IpAddress.Elem()), nil
}

// node creates one node: its interface with the fixed private address, its
// public address and its pool in the load balancer, and the VM, after the
// VM of the node before it of the same role (previous, nil for the first).
func (l *lab) node(ctx *pulumi.Context, n plannedNode, subnet *network.Subnet, lb *network.LoadBalancer, imageID, password pulumi.StringOutput, previous pulumi.Resource) (infra.Node, error) {
	resourceName := l.name + "-" + n.suffix
	nic, err := network.NewNetworkInterface(ctx, resourceName+"-nic", &network.NetworkInterfaceArgs{
		NetworkInterfaceName: pulumi.String(n.name + "-nic"),
		ResourceGroupName:    l.rg.Name,
		Location:             l.location,
		IpConfigurations: network.NetworkInterfaceIPConfigurationArray{&network.NetworkInterfaceIPConfigurationArgs{
			Name:                      pulumi.String("primary"),
			Primary:                   pulumi.Bool(true),
			PrivateIPAllocationMethod: pulumi.String("Static"),
			PrivateIPAddress:          pulumi.String(n.ip.String()),
			PrivateIPAddressVersion:   pulumi.String("IPv4"),
			Subnet:                    &network.SubnetTypeArgs{Id: subnet.ID()},
			PublicIPAddress:           &network.PublicIPAddressTypeArgs{Id: n.pip.ID()},
			// Built from the balancer's own ID, so the interface waits for it.
			LoadBalancerBackendAddressPools: network.BackendAddressPoolArray{&network.BackendAddressPoolArgs{
				Id: pulumi.Sprintf("%s/backendAddressPools/%s", lb.ID(), poolOf(n.role)),
			}},
		}},
		Tags: pulumi.ToStringMap(l.tags),
	}, l.parent)
	if err != nil {
		return infra.Node{}, err
	}
	tags := pulumi.ToStringMap(l.tags)
	tags["role"] = pulumi.String(string(n.role))
	// What a change does is decided by azure-native from Azure's API
	// description (pulumi-azure-native provider/pkg/gen/properties.go and
	// replacement.go): a new name, resource group or location replaces the
	// VM, as do the properties Azure sets only at creation. A VM stays in
	// the zone it was created in, and a node moves zone when the counts or
	// zones change, as nodes are spread over both pools: a new zone
	// replaces the VM too. The OS disk is deleted with the VM and made
	// anew; the interface and the address outlive it. A new VM size is an
	// update that Azure applies by restarting the VM; the image is ignored.
	//
	// The VM and its OS disk have fixed names, and azure-native refuses to
	// create a resource whose name is taken, so a replacement deletes the
	// old VM first. Each VM waits for the one before it of its role, so a
	// change to a pool reaches its VMs one at a time.
	opts := []pulumi.ResourceOption{l.parent,
		// A new Talos version reaches running nodes by upgrade, not by
		// replacing them; only new nodes boot the new image.
		pulumi.IgnoreChanges([]string{"storageProfile.imageReference"}),
		// Whatever the provider's diff says of the zone, Azure moves no VM
		// between zones in place.
		pulumi.ReplaceOnChanges([]string{"zones"}),
		pulumi.DeleteBeforeReplace(true)}
	if previous != nil {
		opts = append(opts, pulumi.DependsOn([]pulumi.Resource{previous}))
	}
	vm, err := compute.NewVirtualMachine(ctx, resourceName, &compute.VirtualMachineArgs{
		VmName:            pulumi.String(n.name),
		ResourceGroupName: l.rg.Name,
		Location:          l.location,
		Zones:             pulumi.ToStringArray([]string{n.zone}),
		HardwareProfile:   &compute.HardwareProfileArgs{VmSize: pulumi.String(n.pool.Size)},
		StorageProfile: &compute.StorageProfileArgs{
			ImageReference: &compute.ImageReferenceArgs{Id: imageID},
			OsDisk: &compute.OSDiskArgs{
				Name:         pulumi.String(n.name + "-osdisk"),
				CreateOption: pulumi.String(string(compute.DiskCreateOptionTypesFromImage)),
				DeleteOption: pulumi.String(string(compute.DiskDeleteOptionTypesDelete)),
				Caching:      compute.CachingTypesReadWrite,
				DiskSizeGB:   pulumi.Int(n.pool.DiskGiB),
				ManagedDisk:  &compute.ManagedDiskParametersArgs{StorageAccountType: pulumi.String(DiskSKU(n.pool.Size))},
			},
		},
		// Azure requires an account on a VM from a generalized image. Talos
		// ignores it, and takes no custom data here: its configuration is
		// applied over its API once the node is up in maintenance mode.
		OsProfile: &compute.OSProfileArgs{
			ComputerName:  pulumi.String(n.name),
			AdminUsername: pulumi.String(adminUser),
			// Secret whatever the password's source says about itself.
			AdminPassword:            pulumi.ToSecret(password).(pulumi.StringOutput),
			AllowExtensionOperations: pulumi.Bool(false),
			LinuxConfiguration: &compute.LinuxConfigurationArgs{
				DisablePasswordAuthentication: pulumi.Bool(false),
				// Talos reports the VM ready itself; there is no agent.
				ProvisionVMAgent: pulumi.Bool(false),
			},
		},
		NetworkProfile: &compute.NetworkProfileArgs{
			NetworkInterfaces: compute.NetworkInterfaceReferenceArray{&compute.NetworkInterfaceReferenceArgs{
				Id:      nic.ID(),
				Primary: pulumi.Bool(true),
			}},
		},
		// Talos writes its console to the serial port; managed boot
		// diagnostics show it in the portal when a node does not come up.
		DiagnosticsProfile: &compute.DiagnosticsProfileArgs{
			BootDiagnostics: &compute.BootDiagnosticsArgs{Enabled: pulumi.Bool(true)},
		},
		Tags: tags,
	}, opts...)
	if err != nil {
		return infra.Node{}, err
	}
	return infra.Node{
		Name: n.name,
		Role: n.role,
		// Both addresses exist before the machine does; Talos, which applies
		// its configuration at them, must wait for the machine.
		PrivateIP: once(vm, pulumi.String(n.ip.String()).ToStringOutput()),
		PublicIP:  once(vm, n.pip.IpAddress.Elem()),
		Machine:   vm,
	}, nil
}

// once is an address that resolves only when the resource that serves it
// exists, and carries that resource as a dependency to whoever uses it.
func once(server pulumi.CustomResource, address pulumi.StringOutput) pulumi.StringOutput {
	return pulumi.All(server.ID(), address).ApplyT(func(v []any) string {
		return v[1].(string)
	}).(pulumi.StringOutput)
}
