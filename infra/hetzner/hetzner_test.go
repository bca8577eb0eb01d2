package hetzner

import (
	"fmt"
	"hash/crc32"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/infratest"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

// Type tokens of everything the component may register.
const (
	tComponent     = Token
	tNetwork       = "hcloud:index/network:Network"
	tSubnet        = "hcloud:index/networkSubnet:NetworkSubnet"
	tFirewall      = "hcloud:index/firewall:Firewall"
	tPlacement     = "hcloud:index/placementGroup:PlacementGroup"
	tServer        = "hcloud:index/server:Server"
	tServerNetwork = "hcloud:index/serverNetwork:ServerNetwork"
	tLB            = "hcloud:index/loadBalancer:LoadBalancer"
	tLBNetwork     = "hcloud:index/loadBalancerNetwork:LoadBalancerNetwork"
	tLBService     = "hcloud:index/loadBalancerService:LoadBalancerService"
	tLBTarget      = "hcloud:index/loadBalancerTarget:LoadBalancerTarget"

	invokeImage = "hcloud:index/getImage:getImage"
	// mockImage is the snapshot ID the image lookup answers.
	mockImage = 314159265

	// component is the name the tests give the component; every child's
	// resource name starts with it.
	component = "sre-lab-dev"
)

// idOf is the numeric ID the mocks give a resource, derived from its type
// and name so a test can compute the ID any reference must carry.
func idOf(token, name string) int {
	return int(crc32.ChecksumIEEE([]byte(token+"::"+name))%900_000_000) + 100_000_000
}

// publicIPOf derives a public address from a resource name:
// sre-lab-dev-cp-02 -> 198.51.100.12, workers from .101, the API load
// balancer 203.0.113.10 and the ingress one 203.0.113.20.
func publicIPOf(name string) string {
	switch {
	case strings.HasSuffix(name, "-api-lb"):
		return "203.0.113.10"
	case strings.HasSuffix(name, "-ingress-lb"):
		return "203.0.113.20"
	}
	n, _ := strconv.Atoi(name[strings.LastIndex(name, "-")+1:])
	if strings.Contains(name, "-cp-") {
		return fmt.Sprintf("198.51.100.%d", 10+n)
	}
	return fmt.Sprintf("198.51.100.%d", 100+n)
}

// newMocks answers with numeric IDs, as Hetzner gives them: the component
// turns IDs into the integers the provider's references take, and would
// fail on the usual name_id.
func newMocks() *pulumitest.Mocks {
	return &pulumitest.Mocks{
		Outputs: func(args pulumi.MockResourceArgs) map[string]any {
			switch args.TypeToken {
			case tServer:
				return map[string]any{"ipv4Address": publicIPOf(args.Name)}
			case tLB:
				return map[string]any{"ipv4": publicIPOf(args.Name)}
			}
			return nil
		},
		Invokes: func(args pulumi.MockCallArgs) map[string]any {
			if args.Token == invokeImage {
				return map[string]any{"id": mockImage}
			}
			return nil
		},
		IDs: func(args pulumi.MockResourceArgs) string { return strconv.Itoa(idOf(args.TypeToken, args.Name)) },
	}
}

// baseArgs is a dev lab of cp control planes and w workers in fsn1.
func baseArgs(cp, w int) *Args {
	return &Args{
		Environment:  "dev",
		Stack:        "dev",
		Location:     "fsn1",
		ControlPlane: config.NodePool{Count: cp, Size: "cx22", DiskGiB: 40},
		Workers:      config.NodePool{Count: w, Size: "cx32", DiskGiB: 80},
		Network:      netip.MustParsePrefix("10.0.0.0/16"),
		AdminCIDRs:   []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")},
		TalosVersion: "v1.12.4",
	}
}

func runNodes(args *Args) (*infratest.Outcome, error) {
	return infratest.RunBackend(newMocks(), nil, func(ctx *pulumi.Context) (infratest.Component, error) {
		nodes, err := NewNodes(ctx, component, args)
		if err != nil {
			return infratest.Component{}, err
		}
		return infratest.Component{Resource: nodes, Platform: nodes.Platform,
			Outputs: map[string]pulumi.Output{"networkID": nodes.NetworkID}}, nil
	})
}

func mustRun(t *testing.T, args *Args) *infratest.Outcome {
	t.Helper()
	o, err := runNodes(args)
	require.NoError(t, err)
	return o
}

// in reads one input of a registration, nil when it is not set.
var in = infratest.Input

func TestNetworkZone(t *testing.T) {
	tests := []struct {
		location string
		want     string
		wantErr  bool
	}{
		{"fsn1", "eu-central", false},
		{"nbg1", "eu-central", false},
		{"hel1", "eu-central", false},
		{"ash", "us-east", false},
		{"hil", "us-west", false},
		{"sin", "ap-southeast", false},
		{"FSN1", "", true},
		{"eu-central-1", "", true},
		{"fsn1-dc14", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.location, func(t *testing.T) {
			got, err := NetworkZone(tt.location)
			if !tt.wantErr {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				return
			}
			require.Error(t, err)
			assert.Empty(t, got)
			assert.Contains(t, err.Error(), strconv.Quote(tt.location), "the error names the bad value")
			assert.Contains(t, err.Error(), "allowed: ash, fsn1, hel1, hil, nbg1, sin")
		})
	}
}

func TestImageSelector(t *testing.T) {
	for version, want := range map[string]string{
		"v1.12.4": "os=talos,talos-version=v1.12.4",
		"v1.11.6": "os=talos,talos-version=v1.11.6",
	} {
		assert.Equal(t, want, ImageSelector(version))
	}
}

func TestResourceCounts(t *testing.T) {
	tests := []struct {
		name   string
		cp, w  int
		admins []string
	}{
		{"1cp-1w", 1, 1, []string{"203.0.113.7/32"}},
		{"3cp-3w", 3, 3, []string{"203.0.113.7/32", "2001:db8::/48"}},
		{"3cp-0w", 3, 0, []string{"203.0.113.7/32"}},
		{"1cp-2w-no-admins", 1, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.AdminCIDRs = infratest.Prefixes(tt.admins)
			o := mustRun(t, args)
			want := map[string]int{
				tComponent: 1,
				tNetwork:   1,
				tSubnet:    1,
				tFirewall:  1,
				tPlacement: 1,
				// Each server, and its attachment to the private network.
				tServer:        tt.cp + tt.w,
				tServerNetwork: tt.cp + tt.w,
				// The API and the ingress balancer, each in the network.
				tLB:        2,
				tLBNetwork: 2,
				// 6443 on one, 80 and 443 on the other.
				tLBService: 3,
				// Every control plane behind the API, every worker behind the
				// ingress.
				tLBTarget: tt.cp + tt.w,
			}
			assert.Equal(t, want, o.Mocks.CountByType())

			for _, r := range o.Mocks.Resources() {
				if r.Type == tComponent {
					continue
				}
				assert.Equal(t, o.ComponentURN, r.Parent, "%s %s parent", r.Type, r.Name)
				assert.True(t, strings.HasPrefix(r.Name, component+"-"), "%s %s derives its name from the component's", r.Type, r.Name)
			}
		})
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		env, stack string
		wantNodes  []string
	}{
		{"dev", "dev", []string{"dev-sre-cp-01", "dev-sre-cp-02", "dev-sre-worker-01"}},
		{"staging", "staging-eu", []string{"staging-sre-cp-01", "staging-sre-cp-02", "staging-sre-worker-01"}},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			args := baseArgs(2, 1)
			args.Environment, args.Stack = tt.env, tt.stack
			o := mustRun(t, args)

			nameOf := func(token, resourceName string) any {
				return in(o.Mocks.Named(t, token, resourceName), "name")
			}
			assert.Equal(t, "sre-lab-"+tt.env+"-network", nameOf(tNetwork, component+"-network"))
			assert.Equal(t, "sre-lab-"+tt.env+"-firewall", nameOf(tFirewall, component+"-firewall"))
			assert.Equal(t, "sre-lab-"+tt.env+"-cp", nameOf(tPlacement, component+"-cp-placement"))
			assert.Equal(t, "sre-lab-"+tt.env+"-api", nameOf(tLB, component+"-api-lb"))
			assert.Equal(t, "sre-lab-"+tt.env+"-ingress", nameOf(tLB, component+"-ingress-lb"))

			var nodes []string
			for _, s := range o.Mocks.ByType(tServer) {
				nodes = append(nodes, fmt.Sprint(in(s, "name")))
			}
			sort.Strings(nodes)
			assert.Equal(t, tt.wantNodes, nodes)

			// Labels on everything that takes them; the role on servers.
			want := map[string]any{"project": "sre-lab", "environment": tt.env, "stack": tt.stack, "managed-by": "pulumi"}
			labelled := 0
			for _, token := range []string{tNetwork, tFirewall, tPlacement, tLB} {
				for _, r := range o.Mocks.ByType(token) {
					assert.Equal(t, want, in(r, "labels"), "%s %s", r.Type, r.Name)
					labelled++
				}
			}
			assert.Equal(t, 5, labelled)
			for _, s := range o.Mocks.ByType(tServer) {
				role := string(infra.Worker)
				if strings.Contains(s.Name, "-cp-") {
					role = string(infra.ControlPlane)
				}
				wantServer := map[string]any{"role": role}
				for k, v := range want {
					wantServer[k] = v
				}
				assert.Equal(t, wantServer, in(s, "labels"), s.Name)
			}
		})
	}
}

func TestPrivateNetwork(t *testing.T) {
	tests := []struct {
		name       string
		network    string
		location   string
		cp, w      int
		wantRange  string // the network's range; empty: network itself
		wantZone   string
		wantSubnet string
		wantIPs    map[string]string // node name -> private address
	}{
		{
			name: "fsn1-1cp-1w", network: "10.0.0.0/16", location: "fsn1", cp: 1, w: 1,
			wantZone: "eu-central", wantSubnet: "10.0.0.0/24",
			wantIPs: map[string]string{"dev-sre-cp-01": "10.0.0.10", "dev-sre-worker-01": "10.0.0.20"},
		},
		{
			name: "ash-3cp-3w", network: "172.20.4.0/22", location: "ash", cp: 3, w: 3,
			wantZone: "us-east", wantSubnet: "172.20.4.0/24",
			wantIPs: map[string]string{
				"dev-sre-cp-01": "172.20.4.10", "dev-sre-cp-02": "172.20.4.11", "dev-sre-cp-03": "172.20.4.12",
				"dev-sre-worker-01": "172.20.4.20", "dev-sre-worker-02": "172.20.4.21", "dev-sre-worker-03": "172.20.4.22",
			},
		},
		{
			name: "sin-one-slash-24", network: "192.168.56.0/24", location: "sin", cp: 3, w: 2,
			wantZone: "ap-southeast", wantSubnet: "192.168.56.0/24",
			wantIPs: map[string]string{
				"dev-sre-cp-01": "192.168.56.10", "dev-sre-cp-02": "192.168.56.11", "dev-sre-cp-03": "192.168.56.12",
				"dev-sre-worker-01": "192.168.56.20", "dev-sre-worker-02": "192.168.56.21",
			},
		},
		{
			// Host bits are ignored: the range is what counts.
			name: "host-bits-set", network: "10.0.7.9/16", location: "nbg1", cp: 1, w: 1,
			wantRange: "10.0.0.0/16", wantZone: "eu-central", wantSubnet: "10.0.0.0/24",
			wantIPs: map[string]string{"dev-sre-cp-01": "10.0.0.10", "dev-sre-worker-01": "10.0.0.20"},
		},
		{
			name: "hil-full", network: "10.8.0.0/16", location: "hil", cp: maxControlPlanes, w: maxWorkers,
			wantZone: "us-west", wantSubnet: "10.8.0.0/24",
			wantIPs: map[string]string{
				"dev-sre-cp-01": "10.8.0.10", "dev-sre-cp-10": "10.8.0.19",
				"dev-sre-worker-01": "10.8.0.20", "dev-sre-worker-150": "10.8.0.169",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.Network, args.Location = netip.MustParsePrefix(tt.network), tt.location
			o := mustRun(t, args)

			network := o.Mocks.Named(t, tNetwork, component+"-network")
			wantRange := tt.wantRange
			if wantRange == "" {
				wantRange = tt.network
			}
			assert.Equal(t, wantRange, in(network, "ipRange"))
			networkID := float64(idOf(tNetwork, network.Name))

			subnet := o.Mocks.Named(t, tSubnet, component+"-subnet")
			assert.Equal(t, map[string]any{
				"networkId": networkID, "type": "cloud", "networkZone": tt.wantZone, "ipRange": tt.wantSubnet,
			}, pulumitest.Plain(resource.NewPropertyValue(subnet.Inputs)))

			placement := o.Mocks.Named(t, tPlacement, component+"-cp-placement")
			assert.Equal(t, "spread", in(placement, "type"))

			got := map[string]string{}
			for _, s := range o.Mocks.ByType(tServer) {
				node := fmt.Sprint(in(s, "name"))
				assert.Nil(t, in(s, "networks"), "%s joins the network through its own attachment", node)
				attachment := o.Mocks.Named(t, tServerNetwork, s.Name+"-network")
				assert.Equal(t, float64(idOf(tServer, s.Name)), in(attachment, "serverId"), node)
				assert.Equal(t, strconv.Itoa(idOf(tSubnet, subnet.Name)), in(attachment, "subnetId"), "%s joins the subnet, which must exist first", node)
				assert.Nil(t, in(attachment, "networkId"), node)
				got[node] = fmt.Sprint(in(attachment, "ip"))

				// Control planes spread over hosts; workers may share one.
				if strings.Contains(node, "-cp-") {
					assert.Equal(t, float64(idOf(tPlacement, placement.Name)), in(s, "placementGroupId"), node)
				} else {
					assert.Nil(t, in(s, "placementGroupId"), node)
				}
			}
			for node, ip := range tt.wantIPs {
				assert.Equal(t, ip, got[node], node)
			}
			assert.Len(t, got, tt.cp+tt.w)

			subnetRange := netip.MustParsePrefix(tt.wantSubnet)
			seen := map[string]bool{}
			for _, n := range o.Nodes {
				assert.Equal(t, got[n.Name], n.PrivateIP, "the platform carries %s's fixed address", n.Name)
				assert.True(t, subnetRange.Contains(netip.MustParseAddr(n.PrivateIP)), n.Name)
				assert.False(t, seen[n.PrivateIP], "%s is given twice", n.PrivateIP)
				seen[n.PrivateIP] = true
			}
		})
	}
}

// fwRule is the part of a firewall rule that decides who gets in.
type fwRule struct {
	Direction, Protocol, Port string
	Sources                   string // comma-separated, in order
}

func rulesOf(fw pulumitest.Resource) []fwRule {
	var out []fwRule
	for _, r := range infratest.Objects(in(fw, "rules")) {
		port, _ := r["port"].(string)
		out = append(out, fwRule{
			Direction: fmt.Sprint(r["direction"]),
			Protocol:  fmt.Sprint(r["protocol"]),
			Port:      port,
			Sources:   strings.Join(infratest.Strings(r["sourceIps"]), ","),
		})
	}
	return out
}

func TestFirewall(t *testing.T) {
	icmp := fwRule{"in", "icmp", "", "0.0.0.0/0,::/0"}
	tests := []struct {
		name   string
		admins []string
		want   []fwRule
	}{
		{"one-admin", []string{"203.0.113.7/32"}, []fwRule{
			icmp, {"in", "tcp", "6443", "203.0.113.7/32"}, {"in", "tcp", "50000", "203.0.113.7/32"},
		}},
		{"two-admins-v4-v6", []string{"203.0.113.7/32", "2001:db8::/48"}, []fwRule{
			icmp, {"in", "tcp", "6443", "203.0.113.7/32,2001:db8::/48"}, {"in", "tcp", "50000", "203.0.113.7/32,2001:db8::/48"},
		}},
		{"open-on-purpose", []string{"0.0.0.0/0"}, []fwRule{
			icmp, {"in", "tcp", "6443", "0.0.0.0/0"}, {"in", "tcp", "50000", "0.0.0.0/0"},
		}},
		// Hetzner refuses a rule without sources: nothing but ping.
		{"no-admins", nil, []fwRule{icmp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(3, 2)
			args.AdminCIDRs = infratest.Prefixes(tt.admins)
			o := mustRun(t, args)

			fws := o.Mocks.ByType(tFirewall)
			require.Len(t, fws, 1)
			rules := rulesOf(fws[0])
			assert.Equal(t, tt.want, rules)
			assert.Nil(t, in(fws[0], "applyTos"), "servers name the firewall themselves, at creation")

			// Nothing but ping is open to everyone, unless an admin CIDR says so.
			openOnPurpose := len(tt.admins) == 1 && tt.admins[0] == "0.0.0.0/0"
			for _, r := range rules {
				if r.Protocol != "icmp" && strings.Contains(r.Sources, "0.0.0.0/0") {
					assert.True(t, openOnPurpose, "%+v is open to the internet", r)
				}
			}

			fwID := float64(idOf(tFirewall, fws[0].Name))
			for _, s := range o.Mocks.ByType(tServer) {
				assert.Equal(t, []any{fwID}, in(s, "firewallIds"), s.Name)
			}
		})
	}
}

func TestImage(t *testing.T) {
	tests := []struct {
		name       string
		version    string
		image      string
		wantLookup string // the selector; empty: no lookup
		wantImage  string
	}{
		{"v1.12.4-lookup", "v1.12.4", "", "os=talos,talos-version=v1.12.4", strconv.Itoa(mockImage)},
		{"v1.11.6-lookup", "v1.11.6", "", "os=talos,talos-version=v1.11.6", strconv.Itoa(mockImage)},
		{"explicit-snapshot", "v1.12.4", "271828", "", "271828"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(2, 2)
			args.TalosVersion, args.Image = tt.version, tt.image
			o := mustRun(t, args)

			calls := o.Mocks.Calls()
			if tt.wantLookup == "" {
				assert.Empty(t, calls, "an explicit image is not looked up")
			} else {
				require.Len(t, calls, 1)
				assert.Equal(t, invokeImage, calls[0].Token)
				assert.Equal(t, map[string]any{
					"withSelector":     tt.wantLookup,
					"mostRecent":       true,
					"withArchitecture": "x86",
					"withStatuses":     []any{"available"},
				}, calls[0].Args)
			}

			servers := o.Mocks.ByType(tServer)
			require.Len(t, servers, 4)
			for _, s := range servers {
				assert.Equal(t, tt.wantImage, in(s, "image"), s.Name)
				assert.Equal(t, []string{"image"}, s.IgnoreChanges, "%s: Talos upgrades in place", s.Name)
			}
		})
	}
}

func TestServers(t *testing.T) {
	tests := []struct {
		name             string
		location         string
		cp, w            int
		cpSize, workSize string
	}{
		{"fsn1-1cp-1w", "fsn1", 1, 1, "cx22", "cx32"},
		{"hel1-3cp-3w", "hel1", 3, 3, "cpx31", "ccx23"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.Location = tt.location
			args.ControlPlane.Size, args.Workers.Size = tt.cpSize, tt.workSize
			o := mustRun(t, args)

			sizes := map[string]int{}
			for _, s := range o.Mocks.ByType(tServer) {
				sizes[fmt.Sprint(in(s, "serverType"))]++
				assert.Equal(t, tt.location, in(s, "location"), s.Name)
				assert.Equal(t, []any{map[string]any{"ipv4Enabled": true, "ipv6Enabled": true}}, in(s, "publicNets"), s.Name)
				assert.Nil(t, in(s, "userData"), "%s: Talos is configured over its API, not by user data", s.Name)
			}
			assert.Equal(t, map[string]int{tt.cpSize: tt.cp, tt.workSize: tt.w}, sizes)
		})
	}
}

// wantBalancers is what each load balancer forwards, and to which role.
var wantBalancers = []struct {
	purpose string
	host    string // last octet of its private address
	role    infra.Role
	ports   [][2]int // listen -> destination
}{
	{"api", "5", infra.ControlPlane, [][2]int{{6443, 6443}}},
	{"ingress", "6", infra.Worker, [][2]int{{80, 30080}, {443, 30443}}},
}

func TestLoadBalancerType(t *testing.T) {
	tests := []struct {
		targets int
		want    string
		fits    bool
	}{
		{0, "lb11", true},
		{1, "lb11", true},
		{25, "lb11", true},
		{26, "lb21", true},
		{75, "lb21", true},
		{76, "lb31", true},
		{150, "lb31", true},
		{151, "", false},
	}
	for _, tt := range tests {
		got, fits := loadBalancerType(tt.targets)
		assert.Equal(t, tt.want, got, "%d targets", tt.targets)
		assert.Equal(t, tt.fits, fits, "%d targets", tt.targets)
	}
}

func TestLoadBalancers(t *testing.T) {
	tests := []struct {
		name        string
		env         string
		location    string
		cp, w       int
		ingressType string // the API balancer is always an lb11
	}{
		{"dev-1cp-1w", "dev", "fsn1", 1, 1, "lb11"},
		{"dev-3cp-3w", "dev", "nbg1", 3, 3, "lb11"},
		{"staging-3cp-2w", "staging", "ash", 3, 2, "lb11"},
		{"dev-1cp-0w", "dev", "fsn1", 1, 0, "lb11"},
		// More workers than an lb11 takes.
		{"prod-3cp-30w", "prod", "hel1", 3, 30, "lb21"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.Environment, args.Location = tt.env, tt.location
			o := mustRun(t, args)
			subnet := o.Mocks.Named(t, tSubnet, component+"-subnet")
			count := map[infra.Role]int{infra.ControlPlane: tt.cp, infra.Worker: tt.w}
			serverOf := map[float64]string{} // ID -> resource name
			for _, s := range o.Mocks.ByType(tServer) {
				serverOf[float64(idOf(tServer, s.Name))] = s.Name
			}

			services := 0
			for _, b := range wantBalancers {
				prefix := component + "-" + b.purpose
				lb := o.Mocks.Named(t, tLB, prefix+"-lb")
				lbID := idOf(tLB, lb.Name)
				assert.Equal(t, "sre-lab-"+tt.env+"-"+b.purpose, in(lb, "name"))
				wantType := "lb11"
				if b.role == infra.Worker {
					wantType = tt.ingressType
				}
				assert.Equal(t, wantType, in(lb, "loadBalancerType"))
				assert.Equal(t, tt.location, in(lb, "location"))
				assert.Nil(t, in(lb, "targets"), "targets are separate resources")

				attached := o.Mocks.Named(t, tLBNetwork, prefix+"-lb-network")
				assert.Equal(t, map[string]any{
					"loadBalancerId": float64(lbID),
					"subnetId":       strconv.Itoa(idOf(tSubnet, subnet.Name)),
					"ip":             "10.0.0." + b.host,
				}, pulumitest.Plain(resource.NewPropertyValue(attached.Inputs)))

				for _, p := range b.ports {
					svc := o.Mocks.Named(t, tLBService, fmt.Sprintf("%s-%d", prefix, p[0]))
					services++
					assert.Equal(t, map[string]any{
						"loadBalancerId":  strconv.Itoa(lbID),
						"protocol":        "tcp",
						"listenPort":      float64(p[0]),
						"destinationPort": float64(p[1]),
						"healthCheck": map[string]any{
							"protocol": "tcp", "port": float64(p[1]),
							"interval": float64(10), "timeout": float64(5), "retries": float64(3),
						},
					}, pulumitest.Plain(resource.NewPropertyValue(svc.Inputs)), svc.Name)
				}

				// Every server of the role, and no other, at its private address,
				// once the balancer is in the network.
				var wantServers, gotServers []float64
				for i := 1; i <= count[b.role]; i++ {
					wantServers = append(wantServers, float64(idOf(tServer, fmt.Sprintf("%s-%s-%02d", component, b.role.Short(), i))))
				}
				for _, target := range o.Mocks.ByType(tLBTarget) {
					if infratest.Number(in(target, "loadBalancerId")) != lbID {
						continue
					}
					assert.True(t, strings.HasPrefix(target.Name, prefix+"-"+b.role.Short()+"-"), target.Name)
					assert.Equal(t, "server", in(target, "type"), target.Name)
					assert.Equal(t, true, in(target, "usePrivateIp"), target.Name)
					assert.True(t, target.DependsOn(tLBNetwork, attached.Name), "%s waits for the balancer to join the network", target.Name)
					id, _ := in(target, "serverId").(float64)
					gotServers = append(gotServers, id)
					server := serverOf[id]
					require.NotEmpty(t, server, "%s targets no server of the lab", target.Name)
					assert.True(t, target.DependsOn(tServerNetwork, server+"-network"), "%s waits for %s to join the network", target.Name, server)
				}
				assert.ElementsMatch(t, wantServers, gotServers, "%s targets", b.purpose)
			}
			assert.Equal(t, 3, services)
		})
	}
}

// TestTalosAPIIsNotOnTheLoadBalancer: a node in maintenance mode accepts an
// unauthenticated apply-config on 50000, and a load balancer forwards from
// anywhere (the firewall does not apply to it), so no service listens on,
// forwards to or health-checks the Talos API; the node firewall keeps it to
// the admin CIDRs.
func TestTalosAPIIsNotOnTheLoadBalancer(t *testing.T) {
	o := mustRun(t, baseArgs(3, 2))
	services := o.Mocks.ByType(tLBService)
	require.NotEmpty(t, services)
	for _, svc := range services {
		for _, path := range []string{"listenPort", "destinationPort"} {
			assert.NotEqual(t, float64(infra.TalosAPIPort), in(svc, path), "%s %s", svc.Name, path)
		}
		check, _ := in(svc, "healthCheck").(map[string]any)
		assert.NotEqual(t, float64(infra.TalosAPIPort), check["port"], "%s health check", svc.Name)
	}
	assert.Contains(t, AdminPorts, infra.TalosAPIPort, "admins still reach it at the nodes' addresses")
}

func TestPlatform(t *testing.T) {
	tests := []struct {
		name  string
		cp, w int
		want  []infratest.Node
	}{
		{"1cp-1w", 1, 1, []infratest.Node{
			{Name: "dev-sre-cp-01", Role: infra.ControlPlane, PrivateIP: "10.0.0.10", PublicIP: "198.51.100.11"},
			{Name: "dev-sre-worker-01", Role: infra.Worker, PrivateIP: "10.0.0.20", PublicIP: "198.51.100.101"},
		}},
		{"3cp-3w", 3, 3, []infratest.Node{
			{Name: "dev-sre-cp-01", Role: infra.ControlPlane, PrivateIP: "10.0.0.10", PublicIP: "198.51.100.11"},
			{Name: "dev-sre-cp-02", Role: infra.ControlPlane, PrivateIP: "10.0.0.11", PublicIP: "198.51.100.12"},
			{Name: "dev-sre-cp-03", Role: infra.ControlPlane, PrivateIP: "10.0.0.12", PublicIP: "198.51.100.13"},
			{Name: "dev-sre-worker-01", Role: infra.Worker, PrivateIP: "10.0.0.20", PublicIP: "198.51.100.101"},
			{Name: "dev-sre-worker-02", Role: infra.Worker, PrivateIP: "10.0.0.21", PublicIP: "198.51.100.102"},
			{Name: "dev-sre-worker-03", Role: infra.Worker, PrivateIP: "10.0.0.22", PublicIP: "198.51.100.103"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := mustRun(t, baseArgs(tt.cp, tt.w))
			assert.Equal(t, tt.want, o.Nodes)
			// The public addresses are the servers' own.
			for _, n := range o.Nodes {
				s := o.Mocks.Named(t, tServer, fmt.Sprintf("%s-%s", component, strings.TrimPrefix(n.Name, "dev-sre-")))
				assert.Equal(t, n.Name, in(s, "name"))
				assert.Equal(t, publicIPOf(s.Name), n.PublicIP)
			}
			assert.Equal(t, "203.0.113.10", o.Endpoint, "the endpoint is the API balancer's address")
			assert.Equal(t, "203.0.113.20", o.Ingress, "web traffic arrives at the ingress balancer")
			assert.Empty(t, o.Platform.InstallDisk, "the snapshot is already installed")
			assert.Nil(t, o.Platform.LogBucket, "the hcloud provider has no object storage")
			assert.Equal(t, strconv.Itoa(idOf(tNetwork, component+"-network")), o.Outputs["networkID"])
		})
	}
}

func TestBadArgs(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Args)
		wantErr string
	}{
		{"unknown-location", func(a *Args) { a.Location = "eu-central-1" }, `unknown Hetzner Cloud location "eu-central-1"; allowed: ash, fsn1, hel1, hil, nbg1, sin`},
		{"no-location", func(a *Args) { a.Location = "" }, `unknown Hetzner Cloud location ""`},
		{"no-environment", func(a *Args) { a.Environment = "" }, "environment is required"},
		{"no-control-planes", func(a *Args) { a.ControlPlane.Count = 0 }, "0 controlplane nodes: from 1 to 10 fit"},
		{"too-many-control-planes", func(a *Args) { a.ControlPlane.Count = 11 }, "11 controlplane nodes: from 1 to 10 fit the addresses reserved for them, 10.0.0.10 to 10.0.0.19"},
		{"too-many-workers", func(a *Args) { a.Workers.Count = 151 }, "151 worker nodes: from 0 to 150 fit behind the largest Hetzner load balancer"},
		{"negative-workers", func(a *Args) { a.Workers.Count = -1 }, "-1 worker nodes"},
		{"no-server-type", func(a *Args) { a.Workers.Size = "" }, "worker nodes need a server type"},
		{"network-too-small", func(a *Args) { a.Network = netip.MustParsePrefix("10.0.0.0/25") }, "network 10.0.0.0/25 must be an IPv4 range of /24 or larger"},
		{"ipv6-network", func(a *Args) { a.Network = netip.MustParsePrefix("fd00::/48") }, "must be an IPv4 range"},
		{"no-network", func(a *Args) { a.Network = netip.Prefix{} }, "must be an IPv4 range"},
		{"no-version", func(a *Args) { a.TalosVersion = "" }, "talos version is required"},
		{"image-name", func(a *Args) { a.Image = "talos-v1.12.4" }, `image "talos-v1.12.4" must be the numeric ID of a Talos snapshot`},
		{"image-zero", func(a *Args) { a.Image = "0" }, "must be the numeric ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(1, 1)
			tt.change(args)
			o, err := runNodes(args)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "hetzner nodes: ")
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Empty(t, o.Mocks.Resources(), "nothing is registered for bad args")
			assert.Empty(t, o.Mocks.Calls(), "nothing is looked up for bad args")
		})
	}
}

// TestContract runs the backend contract every backend answers for.
func TestContract(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cp, w  int
		admins []string
	}{
		{"dev", 1, 1, []string{"203.0.113.7/32"}},
		{"prod", 3, 3, []string{"203.0.113.7/32", "198.51.100.0/24"}},
		{"open on purpose", 3, 2, []string{"0.0.0.0/0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := baseArgs(tc.cp, tc.w)
			args.AdminCIDRs = infratest.Prefixes(tc.admins)
			o := mustRun(t, args)
			run := o.Contract()
			run.Environment, run.ControlPlanes, run.Workers = args.Environment, tc.cp, tc.w
			run.AdminCIDRs = tc.admins
			// Hetzner firewalls filter only the public interfaces: every
			// rule is an opening from outside the node network. ICMP has no
			// port to open; TestFirewall covers it.
			for _, fw := range o.Mocks.ByType(tFirewall) {
				for _, r := range rulesOf(fw) {
					if r.Direction != "in" || r.Protocol == "icmp" {
						continue
					}
					from, to := portRange(t, r.Port)
					for _, source := range strings.Split(r.Sources, ",") {
						run.Rules = append(run.Rules, infratest.Rule{FromPort: from, ToPort: to, Source: source})
					}
				}
			}
			require.NotEmpty(t, run.Rules)
			infratest.Check(t, run)
			infratest.CheckRolling(t, run)
		})
	}
}

// portRange reads a Hetzner rule port: "", "any", "6443" or "80-85".
func portRange(t *testing.T, port string) (from, to int) {
	t.Helper()
	switch port {
	case "":
		return 0, 0 // ICMP has no port
	case "any":
		return 1, 65535
	}
	return infratest.PortRange(t, port)
}

// TestPrivateCardByDHCP: servers join the private network after boot and
// Hetzner's metadata leaves that card out, so the platform asks Talos to
// configure every physical link by DHCP.
func TestPrivateCardByDHCP(t *testing.T) {
	o := mustRun(t, baseArgs(1, 1))
	assert.True(t, o.Platform.DHCPOnEveryLink)
}

// TestReplacement: a server keeps its fixed name, so a replaced one is
// deleted before its successor is created; its network attachment and
// load balancer target name the server and go with it, each gone before it
// is made again; each role's servers form one chain, so a change to a pool
// reaches them one at a time.
func TestReplacement(t *testing.T) {
	for _, tp := range infratest.ReplacementTopologies {
		t.Run(tp.Name, func(t *testing.T) {
			o := mustRun(t, baseArgs(tp.ControlPlanes, tp.Workers))
			for _, s := range infratest.CheckReplacement(t, o.Mocks, tServer, o.Contract()) {
				attachment := o.Mocks.Named(t, tServerNetwork, s.Name+"-network")
				assert.True(t, attachment.DependsOn(tServer, s.Name), "%s: replacing the server replaces its attachment", attachment.Name)
				assert.True(t, attachment.DeleteBeforeReplace, "%s must not overlap its predecessor", attachment.Name)
			}
			targets := o.Mocks.ByType(tLBTarget)
			require.Len(t, targets, tp.ControlPlanes+tp.Workers)
			for _, target := range targets {
				assert.True(t, target.DeleteBeforeReplace, "%s must not overlap its predecessor", target.Name)
			}
		})
	}
}
