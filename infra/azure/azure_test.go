package azure

import (
	"fmt"
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
	tComponent = Token
	tRG        = "azure-native:resources:ResourceGroup"
	tVNet      = "azure-native:network:VirtualNetwork"
	tSubnet    = "azure-native:network:Subnet"
	tNSG       = "azure-native:network:NetworkSecurityGroup"
	tPIP       = "azure-native:network:PublicIPAddress"
	tNIC       = "azure-native:network:NetworkInterface"
	tLB        = "azure-native:network:LoadBalancer"
	tImage     = "azure-native:compute:Image"
	tVM        = "azure-native:compute:VirtualMachine"
	tPassword  = "random:index/randomPassword:RandomPassword"

	// component is the name the tests give the component; every child's
	// resource name starts with it.
	component = "sre-lab-dev"

	// subscription is the subscription in the IDs the mocks give.
	subscription = "/subscriptions/00000000-0000-0000-0000-000000000000"

	mockPassword = "mock-admin-password"
	blobURL      = "https://srelabimages.blob.core.windows.net/images/talos-v1.12.4.vhd"
	existingID   = subscription + "/resourceGroups/images/providers/Microsoft.Compute/galleries/talos/images/talos/versions/1.12.4"
)

// azureNameKey is the input that carries a resource's Azure name; the
// provider answers it back as the name output.
var azureNameKey = map[string]string{
	tRG:     "resourceGroupName",
	tVNet:   "virtualNetworkName",
	tSubnet: "subnetName",
	tNSG:    "networkSecurityGroupName",
	tPIP:    "publicIpAddressName",
	tNIC:    "networkInterfaceName",
	tLB:     "loadBalancerName",
	tImage:  "imageName",
	tVM:     "vmName",
}

// publicIPOf derives a public address from a resource name: the load
// balancer 203.0.113.10, sre-lab-dev-cp-02-pip 198.51.100.12, workers from
// 198.51.100.101.
func publicIPOf(name string) string {
	if name == component+"-lb-pip" {
		return "203.0.113.10"
	}
	base := strings.TrimSuffix(name, "-pip")
	n, _ := strconv.Atoi(base[strings.LastIndex(base, "-")+1:])
	if strings.Contains(base, "-cp-") {
		return fmt.Sprintf("198.51.100.%d", 10+n)
	}
	return fmt.Sprintf("198.51.100.%d", 100+n)
}

func inputString(args pulumi.MockResourceArgs, key string) string {
	v, _ := pulumitest.At(resource.NewPropertyValue(args.Inputs), key)
	s, _ := v.(string)
	return s
}

// rgID is the ID Azure gives a resource group.
func rgID(name string) string { return subscription + "/resourceGroups/" + name }

// lbID is the ID Azure gives the lab's load balancer.
func lbID(env string) string {
	return rgID("sre-lab-"+env+"-rg") + "/providers/Microsoft.Network/loadBalancers/sre-lab-" + env + "-lb"
}

func newMocks() *pulumitest.Mocks {
	return &pulumitest.Mocks{
		Outputs: func(args pulumi.MockResourceArgs) map[string]any {
			out := map[string]any{}
			if key, ok := azureNameKey[args.TypeToken]; ok {
				out["name"] = inputString(args, key)
			}
			switch args.TypeToken {
			case tPIP:
				out["ipAddress"] = publicIPOf(args.Name)
			case tPassword:
				out["result"] = mockPassword
			}
			return out
		},
		// Azure's IDs where the component builds on them: the load balancer
		// refers to its own parts by IDs made from the group's.
		IDs: func(args pulumi.MockResourceArgs) string {
			group := inputString(args, "resourceGroupName")
			switch args.TypeToken {
			case tRG:
				return rgID(group)
			case tLB:
				return rgID(group) + "/providers/Microsoft.Network/loadBalancers/" + inputString(args, "loadBalancerName")
			case tImage:
				return rgID(group) + "/providers/Microsoft.Compute/images/" + inputString(args, "imageName")
			}
			return ""
		},
	}
}

// baseArgs is a dev lab of cp control planes and w workers in westeurope,
// its image registered from an uploaded blob.
func baseArgs(cp, w int) *Args {
	return &Args{
		Environment:  "dev",
		Stack:        "dev",
		Location:     "westeurope",
		ControlPlane: config.NodePool{Count: cp, Size: "Standard_B2s", DiskGiB: 40},
		Workers:      config.NodePool{Count: w, Size: "Standard_D4_v3", DiskGiB: 50},
		Network:      netip.MustParsePrefix("10.0.0.0/16"),
		AdminCIDRs:   []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")},
		TalosVersion: "v1.12.4",
		ImageBlobURL: blobURL,
	}
}

func runNodes(args *Args) (*infratest.Outcome, error) {
	return infratest.RunBackend(newMocks(), nil, func(ctx *pulumi.Context) (infratest.Component, error) {
		nodes, err := NewNodes(ctx, component, args)
		if err != nil {
			return infratest.Component{}, err
		}
		return infratest.Component{Resource: nodes, Platform: nodes.Platform, Outputs: map[string]pulumi.Output{
			"resourceGroup": nodes.ResourceGroup,
			"imageID":       nodes.ImageID,
		}}, nil
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

// resourceOf is the resource name of a node's part: dev-sre-cp-02 and
// "-nic" give sre-lab-dev-cp-02-nic.
func resourceOf(node, suffix string) string {
	return component + "-" + node[strings.Index(node, "-sre-")+len("-sre-"):] + suffix
}

func TestVHDURL(t *testing.T) {
	const prefix = "https://factory.talos.dev/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/"
	for version, want := range map[string]string{
		"v1.12.4": prefix + "v1.12.4/azure-amd64.vhd",
		"v1.12.0": prefix + "v1.12.0/azure-amd64.vhd",
		"v1.11.6": prefix + "v1.11.6/azure-amd64.vhd",
	} {
		got := VHDURL(version)
		assert.Equal(t, want, got)
		// Azure reads the fixed VHD only; a compressed artifact would fail
		// when the image is made.
		for _, compressed := range []string{".xz", ".zst", ".gz", ".tar"} {
			assert.NotContains(t, got, compressed, "the Factory serves the VHD uncompressed without a suffix")
		}
		assert.Equal(t, "talos-"+version, ImageName(version))
	}
}

func TestDiskSKU(t *testing.T) {
	for size, want := range map[string]string{
		"Standard_B2s":       "Premium_LRS",
		"Standard_B2ms":      "Premium_LRS",
		"Standard_B2als_v2":  "Premium_LRS",
		"Standard_D4s_v5":    "Premium_LRS",
		"Standard_D4ads_v5":  "Premium_LRS",
		"Standard_E4-2ds_v5": "Premium_LRS",
		"Standard_DS2_v2":    "Premium_LRS",
		"Standard_GS5":       "Premium_LRS",
		"Standard_D4_v3":     "StandardSSD_LRS",
		"Standard_A2_v2":     "StandardSSD_LRS",
		"Standard_D2d_v4":    "StandardSSD_LRS",
		"Standard_NC6":       "StandardSSD_LRS",
		"not-an-azure-size":  "StandardSSD_LRS",
	} {
		assert.Equal(t, want, DiskSKU(size), size)
	}
}

func TestResourceCounts(t *testing.T) {
	tests := []struct {
		name   string
		cp, w  int
		image  bool // an image blob, rather than an existing image
		admins []string
	}{
		{"1cp-1w", 1, 1, true, []string{"203.0.113.7/32"}},
		{"3cp-3w", 3, 3, true, []string{"203.0.113.7/32", "198.51.100.0/24"}},
		{"3cp-0w", 3, 0, true, []string{"203.0.113.7/32"}},
		{"1cp-2w-existing-image-no-admins", 1, 2, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.AdminCIDRs = infratest.Prefixes(tt.admins)
			if !tt.image {
				args.ImageBlobURL, args.ImageID = "", existingID
			}
			o := mustRun(t, args)
			want := map[string]int{
				tComponent: 1,
				tRG:        1,
				tVNet:      1,
				tSubnet:    1,
				tNSG:       1,
				tLB:        1,
				tPassword:  1,
				// One per node, and the load balancer's.
				tPIP: tt.cp + tt.w + 1,
				tNIC: tt.cp + tt.w,
				tVM:  tt.cp + tt.w,
			}
			if tt.image {
				want[tImage] = 1
			}
			assert.Equal(t, want, o.Mocks.CountByType())

			for _, r := range o.Mocks.Resources() {
				if r.Type == tComponent {
					continue
				}
				assert.Equal(t, o.ComponentURN, r.Parent, "%s %s parent", r.Type, r.Name)
				assert.True(t, strings.HasPrefix(r.Name, component+"-"), "%s %s derives its name from the component's", r.Type, r.Name)
				assert.Empty(t, r.Provider, "%s %s uses the default azure-native provider", r.Type, r.Name)
			}
		})
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		env, stack string
		wantVMs    []string
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
				return in(o.Mocks.Named(t, token, resourceName), azureNameKey[token])
			}
			prefix := "sre-lab-" + tt.env
			assert.Equal(t, prefix+"-rg", nameOf(tRG, component+"-rg"))
			assert.Equal(t, prefix+"-vnet", nameOf(tVNet, component+"-vnet"))
			assert.Equal(t, prefix+"-subnet", nameOf(tSubnet, component+"-subnet"))
			assert.Equal(t, prefix+"-nsg", nameOf(tNSG, component+"-nsg"))
			assert.Equal(t, prefix+"-lb", nameOf(tLB, component+"-lb"))
			assert.Equal(t, prefix+"-lb-pip", nameOf(tPIP, component+"-lb-pip"))
			assert.Equal(t, "talos-v1.12.4", nameOf(tImage, component+"-image"))

			var vms []string
			for _, vm := range o.Mocks.ByType(tVM) {
				node := fmt.Sprint(in(vm, "vmName"))
				vms = append(vms, node)
				assert.Equal(t, node, in(vm, "osProfile.computerName"), "the host name is the node name")
				assert.Equal(t, node+"-osdisk", in(vm, "storageProfile.osDisk.name"))
				assert.Equal(t, node+"-nic", nameOf(tNIC, resourceOf(node, "-nic")))
				assert.Equal(t, node+"-pip", nameOf(tPIP, resourceOf(node, "-pip")))
			}
			sort.Strings(vms)
			assert.Equal(t, tt.wantVMs, vms)

			// Tags on everything that takes them; the role on VMs.
			want := map[string]any{"project": "sre-lab", "environment": tt.env, "stack": tt.stack, "managed-by": "pulumi"}
			for _, r := range o.Mocks.Resources() {
				switch r.Type {
				case tComponent, tPassword:
					continue
				case tSubnet:
					assert.Nil(t, in(r, "tags"), "subnets take no tags")
					continue
				}
				tags, _ := in(r, "tags").(map[string]any)
				if r.Type == tVM {
					role := infra.ControlPlane
					if strings.Contains(r.Name, "-worker-") {
						role = infra.Worker
					}
					assert.Equal(t, string(role), tags["role"], r.Name)
					delete(tags, "role")
				}
				assert.Equal(t, want, tags, "%s %s tags", r.Type, r.Name)
				assert.Equal(t, "westeurope", in(r, "location"), "%s %s location", r.Type, r.Name)
			}
		})
	}
}

// secRule is one security rule as the tests compare them.
type secRule struct {
	Name     string
	Priority int
	Source   string
	Ports    string // comma-separated, in order
}

func rulesOf(t *testing.T, nsg pulumitest.Resource) []secRule {
	t.Helper()
	var out []secRule
	for _, r := range infratest.Objects(in(nsg, "securityRules")) {
		name := fmt.Sprint(r["name"])
		assert.Equal(t, "Inbound", r["direction"], name)
		assert.Equal(t, "Allow", r["access"], name)
		assert.Equal(t, "Tcp", r["protocol"], name)
		assert.Equal(t, "*", r["sourcePortRange"], name)
		assert.Equal(t, "*", r["destinationAddressPrefix"], name)
		assert.Nil(t, r["destinationPortRange"], "%s: Azure takes one of the range and the list", name)
		assert.Nil(t, r["sourceAddressPrefixes"], name)
		out = append(out, secRule{
			Name:     name,
			Priority: infratest.Number(r["priority"]),
			Source:   fmt.Sprint(r["sourceAddressPrefix"]),
			Ports:    strings.Join(infratest.Strings(r["destinationPortRanges"]), ","),
		})
	}
	return out
}

func TestSecurityRules(t *testing.T) {
	probes := secRule{"allow-lb-probes", 200, "AzureLoadBalancer", "6443,50000,30080,30443"}
	web := secRule{"allow-web", 210, "Internet", "30080,30443"}
	hairpins := []secRule{
		{"allow-hairpin-dev-sre-cp-01", 300, "198.51.100.11/32", "6443"},
		{"allow-hairpin-dev-sre-worker-01", 301, "198.51.100.101/32", "6443"},
	}
	tests := []struct {
		name   string
		admins []string
		want   []secRule
	}{
		{"one-admin", []string{"203.0.113.7/32"}, append([]secRule{
			{"allow-admin-01", 100, "203.0.113.7/32", "6443,50000"}, probes, web,
		}, hairpins...)},
		{"two-admins", []string{"203.0.113.7/32", "198.51.100.0/24"}, append([]secRule{
			{"allow-admin-01", 100, "203.0.113.7/32", "6443,50000"},
			{"allow-admin-02", 101, "198.51.100.0/24", "6443,50000"}, probes, web,
		}, hairpins...)},
		// A range written with host bits reaches Azure as its network.
		{"unmasked-admin", []string{"203.0.113.7/24"}, append([]secRule{
			{"allow-admin-01", 100, "203.0.113.0/24", "6443,50000"}, probes, web,
		}, hairpins...)},
		{"open-on-purpose", []string{"0.0.0.0/0"}, append([]secRule{
			{"allow-admin-01", 100, "0.0.0.0/0", "6443,50000"}, probes, web,
		}, hairpins...)},
		{"no-admins", nil, append([]secRule{probes, web}, hairpins...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(1, 1)
			args.AdminCIDRs = infratest.Prefixes(tt.admins)
			o := mustRun(t, args)

			nsg := o.Mocks.Named(t, tNSG, component+"-nsg")
			rules := rulesOf(t, nsg)
			assert.Equal(t, tt.want, rules)

			priorities := map[int]bool{}
			openOnPurpose := len(tt.admins) == 1 && tt.admins[0] == "0.0.0.0/0"
			for _, r := range rules {
				assert.False(t, priorities[r.Priority], "%s: priority %d is unique", r.Name, r.Priority)
				priorities[r.Priority] = true
				assert.True(t, r.Priority >= 100 && r.Priority <= 4096, "%s: priority %d is one Azure takes", r.Name, r.Priority)
				for _, port := range strings.Split(r.Ports, ",") {
					if port != "6443" && port != "50000" {
						continue
					}
					// The admin ports: only the admin CIDRs, the probes, and
					// the nodes' own addresses for the hairpin path.
					switch {
					case strings.HasPrefix(r.Name, "allow-admin-"):
						var masked []netip.Prefix
						for _, cidr := range args.AdminCIDRs {
							masked = append(masked, cidr.Masked())
						}
						assert.Contains(t, masked, netip.MustParsePrefix(r.Source), r.Name)
					case r.Name == "allow-lb-probes":
						assert.Equal(t, "AzureLoadBalancer", r.Source)
					default:
						assert.True(t, strings.HasPrefix(r.Name, "allow-hairpin-"), "%s opens %s", r.Name, port)
						assert.True(t, strings.HasSuffix(r.Source, "/32"), r.Name)
					}
					for _, open := range []string{"*", "Internet", "0.0.0.0/0", "Any"} {
						if r.Source == open {
							assert.True(t, openOnPurpose, "%s opens %s to %s", r.Name, port, open)
						}
					}
				}
			}

			subnet := o.Mocks.Named(t, tSubnet, component+"-subnet")
			assert.Equal(t, nsg.Name+"_id", in(subnet, "networkSecurityGroup.id"), "the group guards the node subnet")
			assert.Equal(t, "10.0.0.0/24", in(subnet, "addressPrefix"))
			assert.Equal(t, "sre-lab-dev-vnet", in(subnet, "virtualNetworkName"))
			for _, nic := range o.Mocks.ByType(tNIC) {
				assert.Nil(t, in(nic, "networkSecurityGroup"), "%s: the subnet's group is the only one", nic.Name)
			}
			vnet := o.Mocks.Named(t, tVNet, component+"-vnet")
			assert.Equal(t, []any{"10.0.0.0/16"}, in(vnet, "addressSpace.addressPrefixes"))
			assert.Nil(t, in(vnet, "subnets"), "the subnet is its own resource, never inline")
		})
	}
}

// wantForwards is what the load balancer forwards, and to which pool.
var wantForwards = []struct {
	name             string
	port, targetPort int
	pool             string
}{
	{"kube-api", 6443, 6443, "controlplanes"},
	{"talos-api", 50000, 50000, "controlplanes"},
	{"http", 80, 30080, "workers"},
	{"https", 443, 30443, "workers"},
}

func TestLoadBalancer(t *testing.T) {
	tests := []struct {
		name  string
		env   string
		cp, w int
	}{
		{"dev-1cp-1w", "dev", 1, 1},
		{"dev-3cp-3w", "dev", 3, 3},
		{"staging-3cp-2w", "staging", 3, 2},
		{"dev-1cp-0w", "dev", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.Environment = tt.env
			o := mustRun(t, args)
			id := lbID(tt.env)

			pip := o.Mocks.Named(t, tPIP, component+"-lb-pip")
			assert.Equal(t, map[string]any{"name": "Standard", "tier": "Regional"}, in(pip, "sku"))
			assert.Equal(t, "Static", in(pip, "publicIPAllocationMethod"))
			assert.Equal(t, "IPv4", in(pip, "publicIPAddressVersion"))
			assert.Equal(t, []any{"1", "2", "3"}, in(pip, "zones"), "the frontend is zone-redundant")

			lb := o.Mocks.Named(t, tLB, component+"-lb")
			assert.Equal(t, "sre-lab-"+tt.env+"-lb", in(lb, "loadBalancerName"))
			assert.Equal(t, "sre-lab-"+tt.env+"-rg", in(lb, "resourceGroupName"))
			assert.Equal(t, map[string]any{"name": "Standard", "tier": "Regional"}, in(lb, "sku"))
			assert.Equal(t, []map[string]any{{"name": "public", "publicIPAddress": map[string]any{"id": pip.Name + "_id"}}},
				infratest.Objects(in(lb, "frontendIPConfigurations")))
			assert.Equal(t, []map[string]any{{"name": "controlplanes"}, {"name": "workers"}}, infratest.Objects(in(lb, "backendAddressPools")),
				"pools are filled from the interfaces")

			probes := map[string]map[string]any{}
			for _, p := range infratest.Objects(in(lb, "probes")) {
				probes[fmt.Sprint(p["name"])] = p
			}
			assert.Len(t, probes, 4, "one probe per target port")

			rules := infratest.Objects(in(lb, "loadBalancingRules"))
			require.Len(t, rules, len(wantForwards))
			for i, f := range wantForwards {
				r := rules[i]
				assert.Equal(t, f.name, r["name"])
				assert.Equal(t, "Tcp", r["protocol"], f.name)
				assert.Equal(t, float64(f.port), r["frontendPort"], f.name)
				assert.Equal(t, float64(f.targetPort), r["backendPort"], "%s: Azure rules translate the port", f.name)
				// The rule's parts are the balancer's own, by the IDs Azure
				// gives them.
				assert.Equal(t, map[string]any{"id": id + "/frontendIPConfigurations/public"}, r["frontendIPConfiguration"], f.name)
				assert.Equal(t, map[string]any{"id": id + "/backendAddressPools/" + f.pool}, r["backendAddressPool"], f.name)
				probeName := fmt.Sprintf("tcp-%d", f.targetPort)
				assert.Equal(t, map[string]any{"id": id + "/probes/" + probeName}, r["probe"], f.name)
				assert.Equal(t, map[string]any{
					"name": probeName, "protocol": "Tcp", "port": float64(f.targetPort),
					"intervalInSeconds": float64(5), "numberOfProbes": float64(2), "probeThreshold": float64(2),
				}, probes[probeName], "%s: the probe checks the port traffic goes to", f.name)
				assert.Equal(t, true, r["disableOutboundSnat"], "%s: nodes go out through their own addresses", f.name)
				assert.Equal(t, true, r["enableTcpReset"], f.name)
				assert.Equal(t, float64(IdleTimeoutMinutes), r["idleTimeoutInMinutes"], f.name)
				assert.Nil(t, r["enableFloatingIP"], "%s: floating IP would forbid the port translation", f.name)
			}

			// Every node's interface joins its role's pool, and only that one.
			members := map[string][]string{}
			for _, nic := range o.Mocks.ByType(tNIC) {
				pools := infratest.Objects(in(nic, "ipConfigurations.0.loadBalancerBackendAddressPools"))
				require.Len(t, pools, 1, nic.Name)
				pool := strings.TrimPrefix(fmt.Sprint(pools[0]["id"]), id+"/backendAddressPools/")
				members[pool] = append(members[pool], nic.Name)
				assert.True(t, nic.DependsOn(tLB, lb.Name), "%s waits for the balancer and its pools", nic.Name)
			}
			var wantCP, wantWorkers []string
			for i := 1; i <= tt.cp; i++ {
				wantCP = append(wantCP, fmt.Sprintf("%s-cp-%02d-nic", component, i))
			}
			for i := 1; i <= tt.w; i++ {
				wantWorkers = append(wantWorkers, fmt.Sprintf("%s-worker-%02d-nic", component, i))
			}
			assert.Equal(t, wantCP, members["controlplanes"])
			assert.Equal(t, wantWorkers, members["workers"])
			assert.Len(t, members, min(2, len(wantCP)+len(wantWorkers)), "no other pool: %v", members)
		})
	}
}

func TestNodes(t *testing.T) {
	tests := []struct {
		name      string
		cp, w     int
		zones     []string
		wantZones map[string]string // node -> zone
	}{
		{"3cp-3w-all-zones", 3, 3, nil, map[string]string{
			"dev-sre-cp-01": "1", "dev-sre-cp-02": "2", "dev-sre-cp-03": "3",
			"dev-sre-worker-01": "1", "dev-sre-worker-02": "2", "dev-sre-worker-03": "3",
		}},
		// Counted across both pools, so a one-node pool does not put every
		// worker in the control plane's zone.
		{"1cp-2w-all-zones", 1, 2, nil, map[string]string{
			"dev-sre-cp-01": "1", "dev-sre-worker-01": "2", "dev-sre-worker-02": "3",
		}},
		{"one-zone", 2, 1, []string{"2"}, map[string]string{
			"dev-sre-cp-01": "2", "dev-sre-cp-02": "2", "dev-sre-worker-01": "2",
		}},
		{"two-zones-in-given-order", 2, 2, []string{"3", "1"}, map[string]string{
			"dev-sre-cp-01": "3", "dev-sre-cp-02": "1", "dev-sre-worker-01": "3", "dev-sre-worker-02": "1",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.Zones = tt.zones
			o := mustRun(t, args)
			image := o.Mocks.Named(t, tImage, component+"-image")
			imageID := rgID("sre-lab-dev-rg") + "/providers/Microsoft.Compute/images/talos-v1.12.4"

			vms := o.Mocks.ByType(tVM)
			require.Len(t, vms, tt.cp+tt.w)
			for _, vm := range vms {
				node := fmt.Sprint(in(vm, "vmName"))
				pool, host := args.ControlPlane, 10
				if strings.Contains(node, "-worker-") {
					pool, host = args.Workers, 20
				}
				index, _ := strconv.Atoi(node[len(node)-2:])

				assert.Equal(t, []any{tt.wantZones[node]}, in(vm, "zones"), node)
				assert.Equal(t, pool.Size, in(vm, "hardwareProfile.vmSize"), node)
				assert.Equal(t, map[string]any{
					"name":         node + "-osdisk",
					"createOption": "FromImage",
					"deleteOption": "Delete",
					"caching":      "ReadWrite",
					"diskSizeGB":   float64(pool.DiskGiB),
					"managedDisk":  map[string]any{"storageAccountType": DiskSKU(pool.Size)},
				}, in(vm, "storageProfile.osDisk"), node)
				assert.Equal(t, map[string]any{"id": imageID}, in(vm, "storageProfile.imageReference"), node)
				assert.True(t, vm.DependsOn(tImage, image.Name), "%s boots from the registered image", node)
				assert.Equal(t, []string{"storageProfile.imageReference"}, vm.IgnoreChanges, "%s: Talos upgrades in place", node)

				nic := o.Mocks.Named(t, tNIC, resourceOf(node, "-nic"))
				assert.Equal(t, []map[string]any{{"id": nic.Name + "_id", "primary": true}}, infratest.Objects(in(vm, "networkProfile.networkInterfaces")), node)

				// No configuration rides along: Talos waits in maintenance mode
				// for it to arrive over its API.
				assert.Nil(t, in(vm, "osProfile.customData"), node)
				assert.Nil(t, in(vm, "userData"), node)
				assert.Equal(t, "talos", in(vm, "osProfile.adminUsername"), node)
				assert.Equal(t, mockPassword, in(vm, "osProfile.adminPassword"), node)
				assert.True(t, vm.Inputs["osProfile"].ContainsSecrets(), "%s: the admin password stays secret", node)
				assert.Equal(t, false, in(vm, "osProfile.linuxConfiguration.provisionVMAgent"), "%s: Talos has no VM agent", node)
				assert.Equal(t, false, in(vm, "osProfile.allowExtensionOperations"), node)
				assert.Equal(t, true, in(vm, "diagnosticsProfile.bootDiagnostics.enabled"), node)

				wantIP := fmt.Sprintf("10.0.0.%d", host+index-1)
				pip := o.Mocks.Named(t, tPIP, resourceOf(node, "-pip"))
				assert.Equal(t, map[string]any{
					"name":                      "primary",
					"primary":                   true,
					"privateIPAllocationMethod": "Static",
					"privateIPAddress":          wantIP,
					"privateIPAddressVersion":   "IPv4",
					"subnet":                    map[string]any{"id": component + "-subnet_id"},
					"publicIPAddress":           map[string]any{"id": pip.Name + "_id"},
					"loadBalancerBackendAddressPools": []any{map[string]any{
						"id": lbID("dev") + "/backendAddressPools/" + map[bool]string{true: "controlplanes", false: "workers"}[host == 10],
					}},
				}, in(nic, "ipConfigurations.0"), node)
				assert.Len(t, infratest.Objects(in(nic, "ipConfigurations")), 1, node)

				assert.Equal(t, []any{"1", "2", "3"}, in(pip, "zones"), "%s: a zone-redundant address outlives a move of its VM to another zone", node)
				assert.Equal(t, map[string]any{"name": "Standard", "tier": "Regional"}, in(pip, "sku"), node)
				assert.Equal(t, "Static", in(pip, "publicIPAllocationMethod"), node)
			}
		})
	}
}

func TestImage(t *testing.T) {
	tests := []struct {
		name     string
		version  string
		blob, id string
		wantID   string
	}{
		{"blob-v1.12.4", "v1.12.4", blobURL, "", rgID("sre-lab-dev-rg") + "/providers/Microsoft.Compute/images/talos-v1.12.4"},
		{"blob-v1.11.6", "v1.11.6", "https://x.blob.core.windows.net/images/talos-v1.11.6.VHD", "", rgID("sre-lab-dev-rg") + "/providers/Microsoft.Compute/images/talos-v1.11.6"},
		{"existing-image", "v1.12.4", "", existingID, existingID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(1, 2)
			args.TalosVersion, args.ImageBlobURL, args.ImageID = tt.version, tt.blob, tt.id
			o := mustRun(t, args)

			images := o.Mocks.ByType(tImage)
			if tt.blob == "" {
				assert.Empty(t, images, "an existing image is used as it is")
			} else {
				require.Len(t, images, 1)
				assert.Equal(t, map[string]any{
					"imageName":         "talos-" + tt.version,
					"resourceGroupName": "sre-lab-dev-rg",
					"location":          "westeurope",
					"hyperVGeneration":  "V1",
					"storageProfile": map[string]any{"osDisk": map[string]any{
						"osType":  "Linux",
						"osState": "Generalized",
						"blobUri": tt.blob,
					}},
					"tags": map[string]any{"project": "sre-lab", "environment": "dev", "stack": "dev", "managed-by": "pulumi"},
				}, pulumitest.Plain(resource.NewPropertyValue(images[0].Inputs)))
			}
			assert.Equal(t, tt.wantID, o.Outputs["imageID"])
			for _, vm := range o.Mocks.ByType(tVM) {
				assert.Equal(t, tt.wantID, in(vm, "storageProfile.imageReference.id"), vm.Name)
			}
		})
	}
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
			args := baseArgs(tt.cp, tt.w)
			args.Network = netip.MustParsePrefix("10.0.0.0/24")
			o := mustRun(t, args)
			assert.Equal(t, tt.want, o.Nodes)
			for _, n := range o.Nodes {
				assert.Equal(t, publicIPOf(resourceOf(n.Name, "-pip")), n.PublicIP, "%s: the public address is the node's own", n.Name)
				// Talos uses these addresses to configure the node: they must
				// wait for the VM, not just for the address.
				vm := o.Mocks.Named(t, tVM, resourceOf(n.Name, ""))
				vmURN := fmt.Sprintf("urn:pulumi:dev::sre-lab::%s$%s::%s", Token, tVM, vm.Name)
				assert.Contains(t, o.Waits[n.Name+"/private"], vmURN, n.Name)
				assert.Contains(t, o.Waits[n.Name+"/public"], vmURN, n.Name)
			}
			assert.Equal(t, "203.0.113.10", o.Endpoint, "the endpoint is the load balancer's address")
			assert.Contains(t, o.Waits["endpoint"], fmt.Sprintf("urn:pulumi:dev::sre-lab::%s$%s::%s-lb", Token, tLB, component),
				"the endpoint waits for the balancer, not just its address")
			assert.Equal(t, "203.0.113.10", o.Ingress, "web traffic arrives at the same balancer")
			assert.Equal(t, "sre-lab-dev-rg", o.Outputs["resourceGroup"])
			assert.Empty(t, o.Platform.InstallDisk, "the image is already installed")
			assert.Nil(t, o.Platform.LoadBalancerRange, "the cloud balancer serves LoadBalancer services")
			assert.Nil(t, o.Platform.LogBucket, "no bucket without an identity Loki could use")
		})
	}
}

func TestBadArgs(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Args)
		wantErr string
	}{
		{"no-environment", func(a *Args) { a.Environment = "" }, "environment is required"},
		{"no-location", func(a *Args) { a.Location = "" }, `location "" must be an Azure region name such as westeurope`},
		{"display-name-location", func(a *Args) { a.Location = "West Europe" }, `location "West Europe" must be an Azure region name`},
		{"zone-4", func(a *Args) { a.Zones = []string{"1", "4"} }, `zones ["1" "4"]: each must be one of 1, 2, 3, once`},
		{"aws-zone", func(a *Args) { a.Zones = []string{"westeurope-1"} }, "each must be one of 1, 2, 3"},
		{"repeated-zone", func(a *Args) { a.Zones = []string{"2", "2"} }, "each must be one of 1, 2, 3, once"},
		{"no-network", func(a *Args) { a.Network = netip.Prefix{} }, "must be an IPv4 range"},
		{"network-too-small", func(a *Args) { a.Network = netip.MustParsePrefix("10.0.0.0/25") }, "network 10.0.0.0/25 must be an IPv4 range of /24 or larger"},
		{"ipv6-network", func(a *Args) { a.Network = netip.MustParsePrefix("fd00::/48") }, "must be an IPv4 range"},
		{"no-control-planes", func(a *Args) { a.ControlPlane.Count = 0 }, "0 controlplane nodes: from 1 to 10 fit the addresses reserved for them, 10.0.0.10 to 10.0.0.19"},
		{"too-many-control-planes", func(a *Args) { a.ControlPlane.Count = 11 }, "11 controlplane nodes: from 1 to 10"},
		{"too-many-workers", func(a *Args) { a.Workers.Count = 236 }, "236 worker nodes: from 0 to 235 fit the addresses reserved for them, 10.0.0.20 to 10.0.0.254"},
		{"negative-workers", func(a *Args) { a.Workers.Count = -1 }, "-1 worker nodes"},
		{"no-size", func(a *Args) { a.Workers.Size = "" }, `worker size "" is not an Azure VM size such as Standard_B2s`},
		{"aws-size", func(a *Args) { a.ControlPlane.Size = "t3.medium" }, `controlplane size "t3.medium" is not an Azure VM size`},
		{"small-disk", func(a *Args) { a.ControlPlane.DiskGiB = 10 }, "controlplane disk of 10 GiB: the Talos image needs at least 11 GiB"},
		{"no-disk", func(a *Args) { a.Workers.DiskGiB = 0 }, "worker disk of 0 GiB"},
		{"ipv6-admin", func(a *Args) { a.AdminCIDRs = infratest.Prefixes([]string{"203.0.113.7/32", "2001:db8::/48"}) }, "admin CIDR 2001:db8::/48: the lab's Azure addresses are IPv4 only"},
		{"too-many-admins", func(a *Args) { a.AdminCIDRs = make([]netip.Prefix, 101) }, "101 admin CIDRs: at most 100"},
		{"no-version", func(a *Args) { a.TalosVersion = "" }, `talos version "" must be a release such as v1.12.4`},
		{"version-without-v", func(a *Args) { a.TalosVersion = "1.12.4" }, `talos version "1.12.4"`},
		{"no-image", func(a *Args) { a.ImageBlobURL = "" }, "set exactly one of the image blob URL and the image ID"},
		{"both-images", func(a *Args) { a.ImageID = existingID }, "set exactly one of the image blob URL and the image ID"},
		{"factory-url-as-blob", func(a *Args) { a.ImageBlobURL = VHDURL("v1.12.4") }, "must be the https URL of a .vhd page blob in Azure storage"},
		{"compressed-blob", func(a *Args) { a.ImageBlobURL = blobURL + ".zst" }, "must be the https URL of a .vhd page blob"},
		{"http-blob", func(a *Args) { a.ImageBlobURL = strings.Replace(blobURL, "https", "http", 1) }, "must be the https URL"},
		{"image-name", func(a *Args) { a.ImageBlobURL, a.ImageID = "", "talos-v1.12.4" }, `image ID "talos-v1.12.4" must be the resource ID of an image`},
		{"marketplace-urn", func(a *Args) { a.ImageBlobURL, a.ImageID = "", "siderolabs:talos:1.12:latest" }, "must be the resource ID of an image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(1, 1)
			tt.change(args)
			o, err := runNodes(args)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "azure nodes: ")
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Empty(t, o.Mocks.Resources(), "nothing is registered for bad args")
		})
	}
}

func TestBadArgsNamesTheVHD(t *testing.T) {
	args := baseArgs(1, 1)
	args.ImageBlobURL = ""
	_, err := runNodes(args)
	require.Error(t, err)
	assert.Contains(t, err.Error(), VHDURL("v1.12.4"), "the error says what to upload")
	assert.Contains(t, err.Error(), "az storage blob upload --type page")
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
			run.ProbeSources = []string{LoadBalancerTag}
			// Every inbound allow rule whose source is not the virtual network
			// is an opening from outside it.
			for _, r := range rulesOf(t, o.Mocks.Named(t, tNSG, component+"-nsg")) {
				if r.Source == "VirtualNetwork" || r.Source == args.Network.String() {
					continue
				}
				for _, p := range strings.Split(r.Ports, ",") {
					port, err := strconv.Atoi(p)
					require.NoError(t, err, r.Name)
					run.Rules = append(run.Rules, infratest.Rule{FromPort: port, ToPort: port, Source: r.Source})
				}
			}
			require.NotEmpty(t, run.Rules)
			infratest.Check(t, run)
			infratest.CheckRolling(t, run)
		})
	}
}

// TestReplacement: a VM keeps its fixed name and OS disk name, so a
// replaced one is deleted before its successor is created, and a new zone
// replaces it whatever the provider says; its interface and address are
// not replaced with it, as Azure deletes neither while in use; each role's
// VMs form one chain, so a change to a pool reaches them one at a time.
func TestReplacement(t *testing.T) {
	for _, tp := range infratest.ReplacementTopologies {
		t.Run(tp.Name, func(t *testing.T) {
			o := mustRun(t, baseArgs(tp.ControlPlanes, tp.Workers))
			for _, vm := range infratest.CheckReplacement(t, o.Mocks, tVM, o.Contract()) {
				assert.Equal(t, "Delete", in(vm, "storageProfile.osDisk.deleteOption"), "%s: the OS disk, of a fixed name too, goes with the VM", vm.Name)
				assert.Contains(t, o.Mocks.ReplaceOnChanges(vm), "zones", "%s: Azure moves no VM between zones", vm.Name)
				nic := o.Mocks.Named(t, tNIC, vm.Name+"-nic")
				pip := o.Mocks.Named(t, tPIP, vm.Name+"-pip")
				assert.False(t, nic.DeleteBeforeReplace, "%s outlives the VM; deleted first, a renamed lab would fail on it", nic.Name)
				assert.False(t, pip.DeleteBeforeReplace, "%s outlives the VM; deleted first, a renamed lab would fail on it", pip.Name)
			}
		})
	}
}
