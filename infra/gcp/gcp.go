// Package gcp is the Google Cloud backend: one VPC with one subnet, Talos
// nodes booted from an image built from the Image Factory GCP artifact, a
// GCS bucket for Loki, and two regional external passthrough Network Load
// Balancers, one in front of the control planes for the Kubernetes and
// Talos APIs and one in front of the workers for web traffic.
//
// Passthrough load balancing, not a proxy, because it keeps the client's
// address: the VPC firewall then decides who reaches the APIs, by the admin
// CIDRs, exactly as on the other clouds. The price is Google's direct
// server return: packets reach a backend with the load balancer's own
// address as destination, and the guest must accept them. Google's guest
// agent does that with a local route for every forwarded address; Talos
// runs no guest agent (siderolabs/talos#4109), so the layers above must:
//
//   - the control planes need the API address (Platform.Endpoint) on a
//     local interface, for example as a /32 on lo through a Talos patch;
//   - web traffic arrives for the ingress address (Platform.IngressEndpoint)
//     on ports 80 and 443, unchanged: Cilium answers it in eBPF when the
//     ingress service carries that address as its load-balancer IP.
//
// The two roles get two addresses because a node that holds a forwarded
// address locally answers every connection to it itself: a worker holding
// the API address would never reach a control plane.
package gcp

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/compute"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/storage"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
)

// Token is the component's type token.
const Token = "sre-lab:infra:GCPNodes"

// DefaultZones is how many zones nodes spread across when the user names
// none.
const DefaultZones = 3

// ImageDiskGiB is the size of the disk in the Talos GCP image (the Image
// Factory builds it at 8 GiB); Compute Engine refuses a smaller boot disk.
const ImageDiskGiB = 8

// HealthCheckRanges are where Google's health checks for external
// passthrough Network Load Balancers come from. 130.211.0.0/22 probes only
// the proxy and application load balancers, which this backend does not
// use, so the APIs are not opened to it.
var HealthCheckRanges = []string{"35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22"}

// NodeScopes are the OAuth scopes of the nodes' service account. Google
// recommends the full cloud-platform scope and IAM roles as the real limit:
// the account's only grant is on the log bucket.
var NodeScopes = []string{"cloud-platform"}

// LogBucketRole lets the nodes list, read, write and delete the log
// bucket's objects (Loki's compactor deletes expired chunks), nothing more.
const LogBucketRole = "roles/storage.objectAdmin"

// GuestOSFeatures are the features the Talos GCP guide registers its image
// with. Nothing else is claimed: the image is not built for Secure Boot or
// UEFI (Talos ships separate SecureBoot artifacts), so the nodes are not
// Shielded VMs, and gVNIC is not named by the guide.
var GuestOSFeatures = []string{"VIRTIO_SCSI_MULTIQUEUE"}

// Args shapes the GCP lab.
type Args struct {
	// Environment names resources: sre-lab-{env}-vpc, {env}-sre-cp-01.
	Environment string
	// Stack is recorded in labels.
	Stack string
	// Project is the GCP project; empty uses the stack's gcp:project
	// setting, then the provider's own default (GOOGLE_PROJECT).
	Project string
	// Region is where everything is created, e.g. europe-west3.
	Region string
	// Zones to spread nodes across, in Region; empty picks the first
	// DefaultZones zones that are up (not every region has a -a zone).
	Zones []string
	// ControlPlane and Workers are the pools; Size is a machine type such
	// as e2-medium, DiskGiB the boot disk.
	ControlPlane config.NodePool
	Workers      config.NodePool
	// Network is the subnet's range.
	Network netip.Prefix
	// AdminCIDRs may reach the Kubernetes and Talos APIs. GCP nodes have
	// IPv4 addresses only, so these are IPv4 ranges.
	AdminCIDRs []netip.Prefix
	// TalosVersion selects the image, with a leading "v".
	TalosVersion string
	// KeepLogs refuses to delete the log bucket while it holds logs, so
	// destroying a staging or prod stack never takes its logs with it.
	KeepLogs bool
}

// Nodes is the `sre-lab:infra:GCPNodes` component.
type Nodes struct {
	pulumi.ResourceState

	// Platform is the backend contract.
	Platform infra.Platform
}

// Labels are on every resource that takes labels, through the provider's
// default labels, so the lab's resources can be found, and told apart per
// stack, in the console and in billing.
func Labels(args *Args) map[string]string {
	return map[string]string{
		"project":     "sre-lab",
		"environment": labelValue(args.Environment),
		"stack":       labelValue(args.Stack),
		"managed-by":  "pulumi",
	}
}

// labelValue makes s a valid GCP label value: lowercase letters, digits,
// '-' and '_', at most 63 characters. Stack names may hold more.
func labelValue(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := b.String()
	if len(out) > 63 {
		out = out[:63]
	}
	return out
}

// ImageURL is the Image Factory's GCP artifact of a Talos version for the
// vanilla schematic: a gzipped tar holding disk.raw, the layout Compute
// Engine imports.
func ImageURL(talosVersion string) string {
	return infra.DiskImageURL("gcp", talosVersion, "raw.tar.gz")
}

// ObjectName is the artifact's name in the images bucket. It carries the
// version, so a new version is a new object and the old one is deleted
// only after the image built from the new one exists.
func ObjectName(talosVersion string) string {
	return "talos-" + talosVersion + "-gcp-amd64.raw.tar.gz"
}

// ImageName is the Compute Engine image of a Talos version:
// sre-lab-dev-talos-v1-12-4. Image names are unique per project, so the
// environment keeps two labs in one project apart; the version makes a new
// version a new image, which new nodes boot while running nodes upgrade in
// place.
func ImageName(environment, talosVersion string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(talosVersion) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return infra.NetworkName(environment, "talos-"+strings.Trim(b.String(), "-"))
}

// NodeTag is the network tag of a role's instances: firewall rules apply
// by role through it.
func NodeTag(environment string, role infra.Role) string {
	return infra.NetworkName(environment, role.Short())
}

// ServiceAccountID is the nodes' service account: sre-lab-dev-nodes.
func ServiceAccountID(environment string) string {
	return infra.NetworkName(environment, "nodes")
}

// AdminPorts are the APIs admins reach through the load balancer and,
// during the first configuration, on each node.
var AdminPorts = []int{infra.KubeAPIPort, infra.TalosAPIPort}

// balancer is one load balancer of the lab: an address, the ports it
// forwards unchanged, the nodes behind it and the port its health check
// probes.
type balancer struct {
	purpose    string
	role       infra.Role
	ports      []int
	healthPort int
}

// balancers are the two load balancers. A passthrough load balancer cannot
// change ports, so web traffic reaches the workers on 80 and 443, not on
// the ingress node ports: the ingress answers there for the ingress
// address (see the package comment), and URLs carry no port. The health
// check goes, like the traffic, to the forwarded address.
var balancers = []balancer{
	{"api", infra.ControlPlane, []int{infra.KubeAPIPort, infra.TalosAPIPort}, infra.KubeAPIPort},
	{"ingress", infra.Worker, []int{80, 443}, 443},
}

// WebPorts are the ports web traffic arrives on, from anywhere.
var WebPorts = balancers[1].ports

var (
	envPattern     = regexp.MustCompile(`^[a-z]([a-z0-9-]*[a-z0-9])?$`)
	regionPattern  = regexp.MustCompile(`^[a-z]+-[a-z]+[0-9]+$`)
	projectPattern = regexp.MustCompile(`^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	sizePattern    = regexp.MustCompile(`^[a-z][a-z0-9-]*[a-z0-9]$`)
	versionPattern = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)
	namePattern    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
)

// Name limits. A service account ID has at most 30 characters, so the
// environment at most 16 ("sre-lab-" and "-nodes" take the rest). A bucket
// name has at most 63, and Pulumi appends "-" and 7 random characters to
// the bucket's resource name, name-images.
const (
	maxEnvironment   = 30 - len("sre-lab-") - len("-nodes")
	maxComponentName = 63 - len("-images") - 8
)

// validate checks everything that decides what is registered, before
// anything is.
func validate(name string, args *Args) error {
	if !namePattern.MatchString(name) || len(name) > maxComponentName {
		return fmt.Errorf("component name %q must be lowercase letters, digits and '-', at most %d characters: bucket names derive from it", name, maxComponentName)
	}
	if !envPattern.MatchString(args.Environment) || len(args.Environment) > maxEnvironment {
		return fmt.Errorf("environment %q must be lowercase letters, digits and '-', starting with a letter, at most %d characters: it names every resource", args.Environment, maxEnvironment)
	}
	if args.Project != "" && !projectPattern.MatchString(args.Project) {
		return fmt.Errorf("project %q is not a GCP project ID (6 to 30 lowercase letters, digits and '-')", args.Project)
	}
	if !regionPattern.MatchString(args.Region) {
		return fmt.Errorf("region %q is not a GCP region such as europe-west3", args.Region)
	}
	seen := map[string]bool{}
	for _, zone := range args.Zones {
		if !regexp.MustCompile(`^` + regexp.QuoteMeta(args.Region) + `-[a-z]$`).MatchString(zone) {
			return fmt.Errorf("zone %q is not a zone of region %s (%s-a, %s-b, ...)", zone, args.Region, args.Region, args.Region)
		}
		if seen[zone] {
			return fmt.Errorf("zone %s is listed twice", zone)
		}
		seen[zone] = true
	}
	for _, pool := range []struct {
		role infra.Role
		pool config.NodePool
		min  int
	}{{infra.ControlPlane, args.ControlPlane, 1}, {infra.Worker, args.Workers, 0}} {
		if pool.pool.Count < pool.min {
			return fmt.Errorf("%d %s nodes: at least %d needed", pool.pool.Count, pool.role, pool.min)
		}
		if pool.pool.Count == 0 {
			continue
		}
		if !sizePattern.MatchString(pool.pool.Size) {
			return fmt.Errorf("%s nodes need a machine type such as e2-medium, got %q", pool.role, pool.pool.Size)
		}
		if pool.pool.DiskGiB < ImageDiskGiB {
			return fmt.Errorf("%s nodes: a %d GiB boot disk is smaller than the %d GiB Talos image", pool.role, pool.pool.DiskGiB, ImageDiskGiB)
		}
	}
	if !args.Network.IsValid() || !args.Network.Addr().Is4() || args.Network.Bits() < 8 || args.Network.Bits() > 29 {
		return fmt.Errorf("network %s must be an IPv4 range from /8 to /29, the sizes a GCP subnet takes", args.Network)
	}
	for _, cidr := range args.AdminCIDRs {
		if !cidr.IsValid() || !cidr.Addr().Is4() {
			return fmt.Errorf("admin CIDR %s: the GCP nodes have IPv4 addresses only, so admin CIDRs must be IPv4", cidr)
		}
	}
	if !versionPattern.MatchString(args.TalosVersion) {
		return fmt.Errorf("talos version %q must look like v1.12.4", args.TalosVersion)
	}
	return nil
}

// NewNodes creates the network, the firewall rules, the Talos image, the
// log bucket, the nodes and the two load balancers.
func NewNodes(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Nodes, error) {
	if err := validate(name, args); err != nil {
		return nil, fmt.Errorf("gcp nodes: %w", err)
	}
	component := &Nodes{}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)

	// An explicit provider reads no stack configuration of its own, so the
	// project the default provider would take from gcp:project is passed on.
	project := args.Project
	if project == "" {
		project, _ = ctx.GetConfig("gcp:project")
	}
	providerArgs := &gcp.ProviderArgs{
		Region:        pulumi.String(args.Region),
		DefaultLabels: pulumi.ToStringMap(Labels(args)),
	}
	if project != "" {
		providerArgs.Project = pulumi.String(project)
	}
	provider, err := gcp.NewProvider(ctx, name+"-gcp", providerArgs, parent)
	if err != nil {
		return nil, fmt.Errorf("gcp provider: %w", err)
	}
	in := []pulumi.ResourceOption{parent, pulumi.Provider(provider)}

	zones := args.Zones
	if len(zones) == 0 {
		found, err := compute.GetZones(ctx, &compute.GetZonesArgs{
			Region: pulumi.StringRef(args.Region),
			Status: pulumi.StringRef("UP"),
		}, pulumi.Provider(provider))
		if err != nil {
			return nil, fmt.Errorf("gcp zones of %s: %w", args.Region, err)
		}
		zones = slices.Sorted(slices.Values(found.Names))
		zones = zones[:min(DefaultZones, len(zones))]
	}
	if len(zones) == 0 {
		return nil, fmt.Errorf("gcp: region %s has no zones that are up", args.Region)
	}

	net, err := newNetwork(ctx, name, args, in)
	if err != nil {
		return nil, fmt.Errorf("gcp network: %w", err)
	}
	image, err := newImage(ctx, name, args, in)
	if err != nil {
		return nil, fmt.Errorf("gcp talos %s image: %w", args.TalosVersion, err)
	}
	logs, account, err := newLogBucket(ctx, name, args, in)
	if err != nil {
		return nil, fmt.Errorf("gcp log bucket: %w", err)
	}
	component.Platform.LogBucket = &infra.Bucket{Type: "gcs", Name: logs.Name}

	members := map[infra.Role][]member{}
	publicIPs := pulumi.StringArray{}
	i := 0
	for _, pool := range []struct {
		role infra.Role
		pool config.NodePool
	}{{infra.ControlPlane, args.ControlPlane}, {infra.Worker, args.Workers}} {
		var previous *compute.Instance
		for n := 1; n <= pool.pool.Count; n++ {
			nodeName := infra.CloudNodeName(args.Environment, pool.role, n)
			// Round robin over all nodes, not per role, as on AWS: with one
			// control plane and one worker they still land in two zones.
			zone := zones[i%len(zones)]
			i++
			suffix := fmt.Sprintf("%s-%02d", pool.role.Short(), n)
			instance, err := newInstance(ctx, name+"-"+suffix, nodeName, zone, pool.role, pool.pool, args, net, image, account, previous, in)
			if err != nil {
				return nil, fmt.Errorf("gcp instance %s: %w", nodeName, err)
			}
			previous = instance
			members[pool.role] = append(members[pool.role], member{suffix: suffix, zone: zone, instance: instance})
			nic := instance.NetworkInterfaces.Index(pulumi.Int(0))
			publicIP := nic.AccessConfigs().Index(pulumi.Int(0)).NatIp().Elem()
			publicIPs = append(publicIPs, pulumi.Sprintf("%s/32", publicIP))
			component.Platform.Nodes = append(component.Platform.Nodes, infra.Node{
				Name:      nodeName,
				Role:      pool.role,
				PrivateIP: nic.NetworkIp().Elem(),
				PublicIP:  publicIP,
				Machine:   instance,
			})
		}
	}
	if err := allowHairpin(ctx, name, args, net, publicIPs, in); err != nil {
		return nil, fmt.Errorf("gcp hairpin firewall: %w", err)
	}

	endpoints := map[string]pulumi.StringOutput{}
	for _, b := range balancers {
		address, err := newLoadBalancer(ctx, name, args, net, b, members[b.role], in)
		if err != nil {
			return nil, fmt.Errorf("gcp %s load balancer: %w", b.purpose, err)
		}
		endpoints[b.purpose] = address
	}
	component.Platform.Endpoint = endpoints["api"]
	component.Platform.IngressEndpoint = endpoints["ingress"]
	component.Platform.Passthrough = true

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"endpoint":        component.Platform.Endpoint,
		"ingressEndpoint": component.Platform.IngressEndpoint,
		"logBucket":       logs.Name,
		"image":           image.Name,
		"zones":           pulumi.ToStringArray(zones),
	}); err != nil {
		return nil, err
	}
	return component, nil
}

type network struct {
	network *compute.Network
	subnet  *compute.Subnetwork
}

// member is one node and the zone it is in: instance groups are zonal.
type member struct {
	suffix   string // of its resource names: cp-01
	zone     string
	instance *compute.Instance
}

func newNetwork(ctx *pulumi.Context, name string, args *Args, in []pulumi.ResourceOption) (*network, error) {
	vpc, err := compute.NewNetwork(ctx, name+"-vpc", &compute.NetworkArgs{
		Name: pulumi.String(infra.NetworkName(args.Environment, "vpc")),
		// One subnet in the lab's region, with the lab's range, instead of
		// one per region with Google's.
		AutoCreateSubnetworks: pulumi.Bool(false),
		Description:           pulumi.String("sre-lab " + args.Environment + " Talos nodes"),
	}, in...)
	if err != nil {
		return nil, err
	}
	subnet, err := compute.NewSubnetwork(ctx, name+"-subnet", &compute.SubnetworkArgs{
		Name:        pulumi.String(infra.NetworkName(args.Environment, "subnet")),
		Network:     vpc.ID(),
		Region:      pulumi.String(args.Region),
		IpCidrRange: pulumi.String(args.Network.Masked().String()),
		// Nodes reach Google APIs (the log bucket) without leaving Google's
		// network, even once a node has no external address.
		PrivateIpGoogleAccess: pulumi.Bool(true),
	}, in...)
	if err != nil {
		return nil, err
	}
	net := &network{network: vpc, subnet: subnet}
	if err := newFirewalls(ctx, name, args, net, in); err != nil {
		return nil, err
	}
	return net, nil
}

// rule is one ingress firewall rule: TCP ports (none: every protocol) from
// sources to the nodes of some roles.
type rule struct {
	suffix, description string
	ports               []int
	sources             []string
	roles               []infra.Role
}

// firewallRules are the openings that do not depend on the nodes. A GCP
// ingress rule without sources admits everyone, so a rule is only made
// when it has some: no admin CIDR, no admin rule.
func firewallRules(args *Args) []rule {
	both := []infra.Role{infra.ControlPlane, infra.Worker}
	rules := []rule{{
		suffix:      "internal",
		description: "node to node inside the subnet, every protocol",
		sources:     []string{args.Network.Masked().String()},
		roles:       both,
	}}
	if len(args.AdminCIDRs) > 0 {
		var sources []string
		for _, cidr := range args.AdminCIDRs {
			sources = append(sources, cidr.Masked().String())
		}
		// On every node: talosctl and the program apply the first
		// configuration at each node's own address, before the load
		// balancer has a healthy backend.
		rules = append(rules, rule{
			suffix:      "admin",
			description: "the Kubernetes and Talos APIs from the admin CIDRs",
			ports:       AdminPorts,
			sources:     sources,
			roles:       both,
		})
	}
	for _, b := range balancers {
		rules = append(rules, rule{
			suffix:      "health-checks-" + b.purpose,
			description: "Google's health checks of the " + b.purpose + " load balancer",
			ports:       []int{b.healthPort},
			sources:     HealthCheckRanges,
			roles:       []infra.Role{b.role},
		})
	}
	// The web ingress is public by design: Let's Encrypt's HTTP-01 checks
	// and browsers reach it through the load balancer, which keeps their
	// addresses.
	rules = append(rules, rule{
		suffix:      "web",
		description: "web traffic through the ingress load balancer",
		ports:       WebPorts,
		sources:     []string{"0.0.0.0/0"},
		roles:       []infra.Role{infra.Worker},
	})
	return rules
}

func tcp(ports []int) compute.FirewallAllowArray {
	if len(ports) == 0 {
		return compute.FirewallAllowArray{&compute.FirewallAllowArgs{Protocol: pulumi.String("all")}}
	}
	var p pulumi.StringArray
	for _, port := range ports {
		p = append(p, pulumi.String(strconv.Itoa(port)))
	}
	return compute.FirewallAllowArray{&compute.FirewallAllowArgs{Protocol: pulumi.String("tcp"), Ports: p}}
}

func tags(env string, roles []infra.Role) pulumi.StringArray {
	var out pulumi.StringArray
	for _, role := range roles {
		out = append(out, pulumi.String(NodeTag(env, role)))
	}
	return out
}

func newFirewalls(ctx *pulumi.Context, name string, args *Args, net *network, in []pulumi.ResourceOption) error {
	for _, r := range firewallRules(args) {
		if _, err := compute.NewFirewall(ctx, name+"-fw-"+r.suffix, &compute.FirewallArgs{
			Name:         pulumi.String(infra.NetworkName(args.Environment, r.suffix)),
			Network:      net.network.ID(),
			Description:  pulumi.String(r.description),
			Direction:    pulumi.String("INGRESS"),
			Allows:       tcp(r.ports),
			SourceRanges: pulumi.ToStringArray(r.sources),
			TargetTags:   tags(args.Environment, r.roles),
		}, in...); err != nil {
			return fmt.Errorf("firewall %s: %w", r.suffix, err)
		}
	}
	return nil
}

// allowHairpin lets the nodes reach the control planes through the API
// load balancer. A node's packets to the load balancer's external address
// leave with the node's external address as source, which the subnet rule
// does not match; workers need that path to join, before they learn the
// control planes' private addresses. Every node is listed, so the rule
// always has a source.
func allowHairpin(ctx *pulumi.Context, name string, args *Args, net *network, publicIPs pulumi.StringArray, in []pulumi.ResourceOption) error {
	_, err := compute.NewFirewall(ctx, name+"-fw-hairpin", &compute.FirewallArgs{
		Name:         pulumi.String(infra.NetworkName(args.Environment, "hairpin")),
		Network:      net.network.ID(),
		Description:  pulumi.String("the nodes to the Kubernetes API through the load balancer"),
		Direction:    pulumi.String("INGRESS"),
		Allows:       tcp([]int{infra.KubeAPIPort}),
		SourceRanges: publicIPs,
		TargetTags:   tags(args.Environment, []infra.Role{infra.ControlPlane}),
	}, in...)
	return err
}

// newImage uploads the Image Factory artifact to a bucket and registers it
// as a Compute Engine image, which imports only from Cloud Storage.
func newImage(ctx *pulumi.Context, name string, args *Args, in []pulumi.ResourceOption) (*compute.Image, error) {
	bucket, err := storage.NewBucket(ctx, name+"-images", &storage.BucketArgs{
		// Named by Pulumi, from the resource name plus a random suffix:
		// bucket names are global across all of Cloud Storage.
		Location:                 pulumi.String(strings.ToUpper(args.Region)),
		UniformBucketLevelAccess: pulumi.Bool(true),
		PublicAccessPrevention:   pulumi.String("enforced"),
		// Only a copy of a public artifact: nothing to keep.
		ForceDestroy: pulumi.Bool(true),
	}, in...)
	if err != nil {
		return nil, err
	}
	object, err := storage.NewBucketObject(ctx, name+"-talos-artifact", &storage.BucketObjectArgs{
		Bucket: bucket.Name,
		Name:   pulumi.String(ObjectName(args.TalosVersion)),
		Source: pulumi.NewRemoteAsset(ImageURL(args.TalosVersion)),
	}, in...)
	if err != nil {
		return nil, err
	}
	return compute.NewImage(ctx, name+"-talos-image", &compute.ImageArgs{
		Name:        pulumi.String(ImageName(args.Environment, args.TalosVersion)),
		Family:      pulumi.String(infra.NetworkName(args.Environment, "talos")),
		Description: pulumi.String("Talos " + args.TalosVersion + " from " + ImageURL(args.TalosVersion)),
		// The form rawDisk.source takes: the object's storage.googleapis.com
		// URL, not its gs:// URI, JSON API self link or download link.
		RawDisk: &compute.ImageRawDiskArgs{
			Source: pulumi.Sprintf("https://storage.googleapis.com/%s/%s", object.Bucket, object.Name),
		},
		GuestOsFeatures: guestOSFeatures(),
	}, in...)
}

func guestOSFeatures() compute.ImageGuestOsFeatureArray {
	var out compute.ImageGuestOsFeatureArray
	for _, f := range GuestOSFeatures {
		out = append(out, &compute.ImageGuestOsFeatureArgs{Type: pulumi.String(f)})
	}
	return out
}

// newLogBucket is where Loki keeps log chunks: private, reachable only by
// the nodes' service account, and kept when the stack is destroyed if
// KeepLogs says so.
func newLogBucket(ctx *pulumi.Context, name string, args *Args, in []pulumi.ResourceOption) (*storage.Bucket, *serviceaccount.Account, error) {
	bucket, err := storage.NewBucket(ctx, name+"-logs", &storage.BucketArgs{
		// Named by Pulumi: name-logs plus a random suffix.
		Location:                 pulumi.String(strings.ToUpper(args.Region)),
		UniformBucketLevelAccess: pulumi.Bool(true),
		PublicAccessPrevention:   pulumi.String("enforced"),
		ForceDestroy:             pulumi.Bool(!args.KeepLogs),
	}, in...)
	if err != nil {
		return nil, nil, err
	}
	account, err := serviceaccount.NewAccount(ctx, name+"-nodes", &serviceaccount.AccountArgs{
		AccountId:   pulumi.String(ServiceAccountID(args.Environment)),
		DisplayName: pulumi.String("sre-lab " + args.Environment + " Talos nodes"),
		Description: pulumi.String("Identity of the Talos nodes: Loki writes its log bucket with it."),
	}, in...)
	if err != nil {
		return nil, nil, fmt.Errorf("service account: %w", err)
	}
	// On the bucket, not the project: the nodes reach no other bucket.
	if _, err := storage.NewBucketIAMMember(ctx, name+"-nodes-logs", &storage.BucketIAMMemberArgs{
		Bucket: bucket.Name,
		Role:   pulumi.String(LogBucketRole),
		Member: account.Member,
	}, in...); err != nil {
		return nil, nil, fmt.Errorf("log bucket access: %w", err)
	}
	return bucket, account, nil
}

// newInstance creates one node, after the node before it of the same role
// (previous, nil for the first), so a change to a pool reaches its
// instances one at a time.
//
// What a change does is the schema of terraform-provider-google v5, which
// pulumi-gcp v7 wraps (google/services/compute/resource_compute_instance.go).
// A new name or zone replaces the instance, and a node moves zone when the
// counts or zones change, as nodes are spread over both pools; so does a
// new boot disk size, type or label, and the labels carry the environment
// and the stack. A new machine type or service account is an update: with
// allowStoppingForUpdate the provider stops the instance, changes it and
// starts it again. Instance tags and labels change in place.
//
// The name is fixed and Compute Engine refuses a second instance of that
// name in the zone, so a replacement deletes the old instance first, and
// its instance group memberships with it (see newLoadBalancer).
func newInstance(ctx *pulumi.Context, resourceName, nodeName, zone string, role infra.Role, pool config.NodePool, args *Args, net *network, image *compute.Image, account *serviceaccount.Account, previous *compute.Instance, in []pulumi.ResourceOption) (*compute.Instance, error) {
	opts := append(slices.Clone(in),
		// A new Talos version reaches running nodes by upgrade, not by
		// replacing them; only new nodes boot the new image.
		pulumi.IgnoreChanges([]string{"bootDisk.initializeParams.image"}),
		pulumi.DeleteBeforeReplace(true))
	if previous != nil {
		opts = append(opts, pulumi.DependsOn([]pulumi.Resource{previous}))
	}
	return compute.NewInstance(ctx, resourceName, &compute.InstanceArgs{
		Name:        pulumi.String(nodeName),
		MachineType: pulumi.String(pool.Size),
		Zone:        pulumi.String(zone),
		BootDisk: &compute.InstanceBootDiskArgs{
			AutoDelete: pulumi.Bool(true),
			InitializeParams: &compute.InstanceBootDiskInitializeParamsArgs{
				Image: image.SelfLink,
				Size:  pulumi.Int(pool.DiskGiB),
				Type:  pulumi.String("pd-balanced"),
				// Disks take no default labels from the provider.
				Labels: pulumi.ToStringMap(withRole(Labels(args), role)),
			},
		},
		NetworkInterfaces: compute.InstanceNetworkInterfaceArray{&compute.InstanceNetworkInterfaceArgs{
			Subnetwork: net.subnet.ID(),
			// An ephemeral external address: talosctl and the program reach
			// each node's Talos API there until the cluster is up.
			AccessConfigs: compute.InstanceNetworkInterfaceAccessConfigArray{&compute.InstanceNetworkInterfaceAccessConfigArgs{}},
		}},
		Tags:   pulumi.StringArray{pulumi.String(NodeTag(args.Environment, role))},
		Labels: pulumi.StringMap{"role": pulumi.String(string(role))},
		ServiceAccount: &compute.InstanceServiceAccountArgs{
			Email:  account.Email,
			Scopes: pulumi.ToStringArray(NodeScopes),
		},
		// A new machine type needs the node stopped; Talos comes back from
		// that as from any reboot.
		AllowStoppingForUpdate: pulumi.Bool(true),
		// No metadata: Talos boots into maintenance mode and receives its
		// configuration over its API, like on every other backend.
	}, opts...)
}

func withRole(labels map[string]string, role infra.Role) map[string]string {
	out := maps.Clone(labels)
	out["role"] = string(role)
	return out
}

// newLoadBalancer creates one regional external passthrough load balancer:
// an address, a TCP health check, one unmanaged instance group per zone
// holding the role's nodes there, a backend service over the groups and a
// forwarding rule for the ports. It returns the address.
//
// Each node joins its group through a membership of its own rather than
// the group's instance list. Compute Engine drops a deleted instance from
// its groups, and a replacement has the same self link, so a list would
// show no change and the new node would stay outside the load balancer
// (the note on InstanceGroupMembership in pulumi-gcp, from
// terraform-provider-google's google_compute_instance_group_membership).
// A membership names the instance, which forces a new membership, so a
// replaced instance takes its memberships down with it and the new
// instance joins again.
func newLoadBalancer(ctx *pulumi.Context, name string, args *Args, net *network, b balancer, members []member, in []pulumi.ResourceOption) (pulumi.StringOutput, error) {
	prefix := name + "-" + b.purpose
	lbName := infra.NetworkName(args.Environment, b.purpose)
	address, err := compute.NewAddress(ctx, prefix+"-address", &compute.AddressArgs{
		Name:        pulumi.String(lbName),
		Region:      pulumi.String(args.Region),
		AddressType: pulumi.String("EXTERNAL"),
		NetworkTier: pulumi.String("PREMIUM"),
		Description: pulumi.String("sre-lab " + args.Environment + " " + b.purpose + " load balancer"),
	}, in...)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	health, err := compute.NewRegionHealthCheck(ctx, prefix+"-health", &compute.RegionHealthCheckArgs{
		Name:               pulumi.String(lbName),
		Region:             pulumi.String(args.Region),
		CheckIntervalSec:   pulumi.Int(10),
		TimeoutSec:         pulumi.Int(5),
		HealthyThreshold:   pulumi.Int(2),
		UnhealthyThreshold: pulumi.Int(3),
		TcpHealthCheck:     &compute.RegionHealthCheckTcpHealthCheckArgs{Port: pulumi.Int(b.healthPort)},
	}, in...)
	if err != nil {
		return pulumi.StringOutput{}, err
	}

	byZone := map[string][]member{}
	for _, m := range members {
		byZone[m.zone] = append(byZone[m.zone], m)
	}
	zones := slices.Collect(maps.Keys(byZone))
	sort.Strings(zones)
	backends := compute.RegionBackendServiceBackendArray{}
	for _, zone := range zones {
		group, err := compute.NewInstanceGroup(ctx, fmt.Sprintf("%s-%s-%s", name, b.role.Short(), zone), &compute.InstanceGroupArgs{
			Name:        pulumi.String(infra.NetworkName(args.Environment, b.role.Short()+"-"+zone)),
			Zone:        pulumi.String(zone),
			Network:     net.network.ID(),
			Description: pulumi.String("sre-lab " + args.Environment + " " + string(b.role) + " nodes in " + zone),
		}, in...)
		if err != nil {
			return pulumi.StringOutput{}, fmt.Errorf("instance group %s: %w", zone, err)
		}
		for _, m := range byZone[zone] {
			if _, err := compute.NewInstanceGroupMembership(ctx, name+"-"+m.suffix+"-membership", &compute.InstanceGroupMembershipArgs{
				Instance:      m.instance.SelfLink,
				InstanceGroup: group.Name,
				Zone:          pulumi.String(zone),
			}, append(slices.Clone(in),
				// A membership is the pair of instance and group: one created
				// before its predecessor is deleted would be undone by that
				// delete.
				pulumi.DeleteBeforeReplace(true))...); err != nil {
				return pulumi.StringOutput{}, fmt.Errorf("instance group %s member %s: %w", zone, m.suffix, err)
			}
		}
		backends = append(backends, &compute.RegionBackendServiceBackendArgs{
			Group: group.SelfLink,
			// The only mode a passthrough load balancer takes.
			BalancingMode: pulumi.String("CONNECTION"),
		})
	}
	// A backend service without groups (a lab without workers) is valid;
	// the ingress address then answers nothing.
	backend, err := compute.NewRegionBackendService(ctx, prefix+"-backend", &compute.RegionBackendServiceArgs{
		Name:                pulumi.String(lbName),
		Region:              pulumi.String(args.Region),
		LoadBalancingScheme: pulumi.String("EXTERNAL"),
		Protocol:            pulumi.String("TCP"),
		HealthChecks:        health.SelfLink,
		Backends:            backends,
	}, in...)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	var ports pulumi.StringArray
	for _, p := range b.ports {
		ports = append(ports, pulumi.String(strconv.Itoa(p)))
	}
	if _, err := compute.NewForwardingRule(ctx, prefix+"-forwarding", &compute.ForwardingRuleArgs{
		Name:                pulumi.String(lbName),
		Region:              pulumi.String(args.Region),
		IpAddress:           address.Address,
		IpProtocol:          pulumi.String("TCP"),
		LoadBalancingScheme: pulumi.String("EXTERNAL"),
		NetworkTier:         pulumi.String("PREMIUM"),
		BackendService:      backend.SelfLink,
		// Forwarded unchanged: a passthrough load balancer maps no ports.
		Ports: ports,
	}, in...); err != nil {
		return pulumi.StringOutput{}, err
	}
	return address.Address, nil
}
