package virtualbox

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/siderolabs/talos/pkg/machinery/api/resource/definitions/network"
	"github.com/siderolabs/talos/pkg/machinery/cel/celenv"
	"github.com/siderolabs/talos/pkg/machinery/config/configpatcher"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/config/validation"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	talosconfig "github.com/siderolabs/talos/pkg/machinery/config"

	sreconfig "github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/infratest"
	"github.com/your-org/sre-lab/infra/talos"
)

// macArgs is labArgs on a Mac of arch.
func macArgs(cacheDir, arch string) Args {
	args := labArgs(cacheDir)
	args.HostOS, args.HostArch = "darwin", arch
	return args
}

// On a Mac the network command makes a host-only network whose range
// starts at the host's address just below the DHCP pool, and every VM
// command carries what moves its VM from a lease to its planned address.
func TestNewNodesOnMacOS(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			cache := t.TempDir()
			m, got, err := deployVBox(t, "lab", macArgs(cache, arch))
			require.NoError(t, err)

			network := m.Named(t, commandToken, "lab-network")
			assert.Equal(t, map[string]string{
				"SRE_NET_CIDR":  "192.168.56.0/24",
				"SRE_NET_NAME":  "sre-lab",
				"SRE_NET_MASK":  "255.255.255.0",
				"SRE_NET_LOWER": "192.168.56.199",
				"SRE_NET_UPPER": "192.168.56.250",
				"SRE_STACK":     "sre-lab/local",
			}, envOf(t, network))
			for input, script := range map[string]string{"create": "hostnet-create.sh", "update": "hostnet-update.sh", "delete": "hostnet-delete.sh"} {
				assert.Equal(t, scriptText(t, script), network.Inputs[resource.PropertyKey(input)].StringValue(), input)
			}
			assert.Equal(t, "sre-lab", got.hostOnlyNet)

			iso := envOf(t, m.Named(t, commandToken, "lab-iso"))
			assert.Equal(t, "https://github.com/siderolabs/talos/releases/download/v1.12.4/metal-"+arch+".iso", iso["SRE_ISO_URL"])
			assert.Equal(t, filepath.Join(cache, "talos-v1.12.4-metal-"+arch+".iso"), iso["SRE_ISO_PATH"])

			vms, err := Plan(macArgs(cache, arch))
			require.NoError(t, err)
			assert.ElementsMatch(t, []string{"talos-cp-01", "talos-cp-02", "talos-cp-03", "talos-worker-01", "talos-worker-02"},
				slices.Collect(maps.Keys(got.patches)), "every node gets its address from its config")
			for _, vm := range vms {
				env := envOf(t, m.Named(t, commandToken, "lab-"+vm.Name))
				assert.Equal(t, arch, env["SRE_VM_ARCH"], vm.Name)
				assert.Equal(t, "sre-lab", env["SRE_HOSTONLY_NET"], vm.Name)
				assert.Equal(t, NATMAC(vm.IP), env["SRE_VM_NAT_MAC"], vm.Name)
				assert.Equal(t, "/var/db/dhcpd_leases", env["SRE_DHCP_LEASES"], vm.Name)
				assert.Equal(t, got.patches[vm.Name], env["SRE_VM_NETWORK_CONFIG"], "%s is handed the config its node is applied with", vm.Name)
				assert.NotContains(t, env, "SRE_NET_IF", vm.Name)
			}
			assert.Equal(t, []string{"192.168.56.10", "192.168.56.11", "192.168.56.12", "192.168.56.20", "192.168.56.21"}, got.privateIPs)
			assert.Equal(t, "192.168.56.10", got.endpoint)
		})
	}
}

// On Linux the reservations keep the addresses: no node needs a patch and
// no VM command carries the macOS settings.
func TestNewNodesOnLinuxNeedNoPatches(t *testing.T) {
	m, got, err := deployVBox(t, "lab", labArgs(t.TempDir()))
	require.NoError(t, err)
	assert.Empty(t, got.patches)
	for _, r := range m.ByType(commandToken) {
		for _, key := range []string{"SRE_HOSTONLY_NET", "SRE_VM_NAT_MAC", "SRE_VM_NETWORK_CONFIG", "SRE_DHCP_LEASES", "SRE_NET_NAME"} {
			assert.NotContains(t, envOf(t, r), key, r.Name)
		}
	}
}

// A host without the lab's scripts, or of an architecture Talos has no
// image for, is refused before anything is registered.
func TestNewNodesRefusesUnsupportedHosts(t *testing.T) {
	for _, c := range []struct{ os, arch, want string }{
		{"windows", "amd64", `VirtualBox VMs are made on linux and darwin hosts, not on "windows"`},
		{"", "amd64", `the host's system and architecture were not given (Args.HostOS "", Args.HostArch "amd64")`},
		{"linux", "", `Args.HostArch ""`},
		{"linux", "386", `no Talos image is published for "386"`},
		{"darwin", "riscv64", `no Talos image is published for "riscv64"`},
	} {
		t.Run(c.os+"/"+c.arch, func(t *testing.T) {
			args := labArgs(t.TempDir())
			args.HostOS, args.HostArch = c.os, c.arch
			m, _, err := deployVBox(t, "lab", args)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.Empty(t, m.Resources(), "nothing is registered")
		})
	}
}

// The patch a node gets on a Mac is a valid Talos config once the Talos
// layer lays it over the generated config with the role and node patches:
// the host-only link, found by its MAC, has the planned address and no
// DHCP; the NAT link, found by its MAC, is up with DHCP; no other link runs
// DHCP. Machinery's own loader, validator and CEL environment judge it.
func TestStaticAddressPatch(t *testing.T) {
	for _, subnet := range []string{"192.168.56.0/24", "10.20.30.0/24", "172.16.0.0/16"} {
		args := macArgs("/cache", "arm64")
		args.Network = netip.MustParsePrefix(subnet)
		vms, err := Plan(args)
		require.NoError(t, err)
		for _, vm := range vms {
			t.Run(subnet+"/"+vm.Name, func(t *testing.T) {
				patch, err := StaticAddressPatch(vm, args.Network)
				require.NoError(t, err)
				cfg := appliedConfig(t, vm, args.Network, patch)

				assert.False(t, cfg.RunDefaultDHCPOperators(), "DHCP runs only where the config says")
				aliases := map[string]string{}
				for _, a := range cfg.NetworkLinkAliasConfigs() {
					aliases[a.Name()] = a.LinkSelector().String()
					for _, card := range []struct{ mac, alias string }{{vm.MAC, labLink}, {vm.NATMAC, uplinkLink}} {
						hw, err := net.ParseMAC(colonMAC(card.mac))
						require.NoError(t, err)
						matches, err := a.LinkSelector().EvalBool(celenv.LinkLocator(), map[string]any{"link": &network.LinkStatusSpec{PermanentAddr: hw}})
						require.NoError(t, err)
						assert.Equal(t, card.alias == a.Name(), matches, "%s selects the card %s", a.Name(), card.mac)
					}
				}
				assert.Len(t, aliases, 2)

				links := map[string][]string{}
				for _, l := range cfg.NetworkCommonLinkConfigs() {
					assert.True(t, l.Up().ValueOr(false), "%s is brought up", l.Name())
					var addrs []string
					for _, a := range l.Addresses() {
						addrs = append(addrs, a.Address().String())
					}
					links[l.Name()] = addrs
				}
				bits := args.Network.Bits()
				assert.Equal(t, map[string][]string{labLink: {fmt.Sprintf("%s/%d", vm.IP, bits)}, uplinkLink: nil}, links)
				var dhcp []string
				for _, d := range cfg.NetworkDHCPv4Configs() {
					dhcp = append(dhcp, d.Name())
				}
				assert.Equal(t, []string{uplinkLink}, dhcp, "DHCP on the NAT link only")
				assert.True(t, args.Network.Contains(vm.IP))
			})
		}
	}
}

// metal is the runtime the VMs' configs are validated for: installed from
// the ISO to disk.
type metal struct{}

func (metal) String() string        { return "metal" }
func (metal) RequiresInstall() bool { return true }
func (metal) InContainer() bool     { return false }

// appliedConfig is a VM's config as the Talos provider builds it: machinery's
// generated config for its role, the role patch the Talos layer applies on
// VirtualBox, its node patch and the network patch; validated strictly, so a
// warning fails too.
func appliedConfig(t *testing.T, vm VM, subnet netip.Prefix, patch string) talosconfig.Provider {
	t.Helper()
	contract, err := talosconfig.ParseContractFromVersion(sreconfig.DefaultTalosVersion)
	require.NoError(t, err)
	in, err := generate.NewInput("sre-lab-test", "https://"+vm.IP.String()+":6443", sreconfig.DefaultKubernetesVersion, generate.WithVersionContract(contract))
	require.NoError(t, err)
	role, rolePatch := machine.TypeControlPlane, talos.ControlPlanePatch
	if vm.Role == infra.Worker {
		role, rolePatch = machine.TypeWorker, talos.WorkerPatch
	}
	generated, err := in.Config(role)
	require.NoError(t, err)
	params := talos.PatchParams{NetworkCIDR: subnet.String(), CertSANs: []string{vm.IP.String()}, InstallDisk: InstallDisk,
		InstallImage: infra.InstallerImage(sreconfig.DefaultTalosVersion), LocalPath: talos.LocalPathPartition}
	rp, err := rolePatch(params)
	require.NoError(t, err)
	np, err := talos.NodePatch(vm.Name, talos.NodeLabels("local", vm.Role))
	require.NoError(t, err)
	patches, err := configpatcher.LoadPatches([]string{rp, np, patch})
	require.NoError(t, err)
	out, err := configpatcher.Apply(configpatcher.WithConfig(generated), patches)
	require.NoError(t, err)
	cfg, err := out.Config()
	require.NoError(t, err)
	warnings, err := cfg.Validate(metal{}, validation.WithStrict())
	require.NoError(t, err)
	assert.Empty(t, warnings)
	return cfg
}

// The backend contract holds on a Mac of either architecture.
func TestContractOnMacOS(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			m, got, err := deployVBox(t, "sre-lab-local", macArgs(t.TempDir(), arch))
			require.NoError(t, err)
			run := infratest.Run{Environment: "local", Local: true, ControlPlanes: 3, Workers: 2, Endpoint: got.endpoint, ComponentURN: got.urn}
			for i, n := range got.nodes {
				run.Nodes = append(run.Nodes, infratest.Node{Name: n.Name, Role: n.Role, PrivateIP: got.privateIPs[i], PublicIP: got.publicIPs[i]})
			}
			for _, r := range m.Resources() {
				run.Registrations = append(run.Registrations, infratest.Registration{Type: r.Type, Name: r.Name, Parent: r.Parent})
			}
			infratest.Check(t, run)
		})
	}
}
