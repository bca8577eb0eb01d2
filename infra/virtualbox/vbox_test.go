package virtualbox

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/infratest"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

const commandToken = "command:local:Command"

// labArgs is the 2024 topology: three control planes and two workers of
// 2 vCPU / 4 GB on the default host-only network.
func labArgs(cacheDir string) Args {
	return Args{
		ControlPlane: config.NodePool{Count: 3, Size: "2cpu-4gb", DiskGiB: 40},
		Workers:      config.NodePool{Count: 2, Size: "2cpu-4gb", DiskGiB: 50},
		Network:      netip.MustParsePrefix("192.168.56.0/24"),
		TalosVersion: "v1.12.4",
		CacheDir:     cacheDir,
		HostOS:       "linux",
		HostArch:     "amd64",
	}
}

// vboxMocks answers the command provider the way the scripts do, with the
// trailing newline pulumi-command trims: a VM prints its address, the ISO
// fetch its path and the network the record network-create.sh or, on
// macOS, hostnet-create.sh prints.
func vboxMocks() *pulumitest.Mocks {
	return &pulumitest.Mocks{Outputs: func(args pulumi.MockResourceArgs) map[string]any {
		if args.TypeToken != commandToken {
			return nil
		}
		stdout := "vboxnet0\ninterface: created\ndhcp-before: none\nreserved: 08:00:27:a8:38:0a=192.168.56.10"
		if env := args.Inputs["environment"]; env.IsObject() {
			obj := env.ObjectValue()
			switch {
			case obj.HasValue("SRE_NET_NAME"):
				stdout = obj["SRE_NET_NAME"].StringValue() + "\nnetwork: created"
			case obj.HasValue("SRE_VM_IP"):
				stdout = obj["SRE_VM_IP"].StringValue()
			case obj.HasValue("SRE_ISO_PATH"):
				stdout = obj["SRE_ISO_PATH"].StringValue()
			}
		}
		return map[string]any{"stdout": stdout}
	}}
}

// awaited is what NewNodes produced, resolved inside the run.
type awaited struct {
	urn         string
	hostOnlyNet string
	endpoint    string
	privateIPs  []string
	publicIPs   []string
	nodes       []infra.Node
	disk        string
	lbRange     *infra.AddressRange
	ingress     string
	// patches are the nodes' ConfigPatches.
	patches map[string]string
}

// deployVBox runs NewNodes under mocks and resolves every output the layers
// above consume.
func deployVBox(t *testing.T, name string, args Args) (*pulumitest.Mocks, awaited, error) {
	t.Helper()
	m := vboxMocks()
	got, err := deployWith(t, name, args, m)
	return m, got, err
}

// deployWith runs NewNodes against the given mocks.
func deployWith(t *testing.T, name string, args Args, m pulumi.MockResourceMonitor) (awaited, error) {
	t.Helper()
	return deployAs(t, "local", name, args, m)
}

// deployAs is deployWith as the named stack of the sre-lab project.
func deployAs(t *testing.T, stack, name string, args Args, m pulumi.MockResourceMonitor) (awaited, error) {
	t.Helper()
	var got awaited
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		nodes, err := NewNodes(ctx, name, &args)
		if err != nil {
			return err
		}
		urn, err := internals.UnsafeAwaitOutput(ctx.Context(), nodes.URN())
		if err != nil {
			return err
		}
		got.urn = string(urn.Value.(pulumi.URN))
		if got.hostOnlyNet, err = pulumitest.AwaitString(ctx, nodes.HostOnlyNetwork); err != nil {
			return fmt.Errorf("hostOnlyNetwork: %w", err)
		}
		if got.endpoint, err = pulumitest.AwaitString(ctx, nodes.Platform.Endpoint); err != nil {
			return fmt.Errorf("endpoint: %w", err)
		}
		got.lbRange = nodes.Platform.LoadBalancerRange
		if got.ingress, err = pulumitest.AwaitString(ctx, nodes.Platform.IngressEndpoint); err != nil {
			return fmt.Errorf("ingress endpoint: %w", err)
		}
		for _, n := range nodes.Platform.Nodes {
			private, err := pulumitest.AwaitString(ctx, n.PrivateIP)
			if err != nil {
				return fmt.Errorf("%s private IP: %w", n.Name, err)
			}
			public, err := pulumitest.AwaitString(ctx, n.PublicIP)
			if err != nil {
				return fmt.Errorf("%s public IP: %w", n.Name, err)
			}
			got.privateIPs = append(got.privateIPs, private)
			got.publicIPs = append(got.publicIPs, public)
		}
		got.nodes = nodes.Platform.Nodes
		got.disk = nodes.Platform.InstallDisk
		got.patches = nodes.ConfigPatches
		got.patches = nodes.ConfigPatches
		return nil
	}, pulumi.WithMocks("sre-lab", stack, m))
	return got, err
}

// envOf flattens a command's environment input to strings.
func envOf(t *testing.T, r pulumitest.Resource) map[string]string {
	t.Helper()
	env := r.Inputs["environment"]
	require.True(t, env.IsObject(), "%s has no environment", r.Name)
	out := map[string]string{}
	for k, v := range env.ObjectValue() {
		require.True(t, v.IsString(), "%s %s is %v", r.Name, k, v)
		out[string(k)] = v.StringValue()
	}
	return out
}

// triggersOf returns a command's triggers: numbers as float64, the rest as
// strings (outputs such as the network's ID are resolved by the mocks).
func triggersOf(t *testing.T, r pulumitest.Resource) []any {
	t.Helper()
	v, ok := r.Inputs["triggers"]
	if !ok || v.IsNull() {
		return nil
	}
	require.True(t, v.IsArray(), "%s triggers are %v", r.Name, v)
	var out []any
	for _, e := range v.ArrayValue() {
		switch {
		case e.IsNumber():
			out = append(out, e.NumberValue())
		case e.IsString():
			out = append(out, e.StringValue())
		default:
			t.Fatalf("%s trigger %v", r.Name, e)
		}
	}
	return out
}

// commands returns the command registrations by name.
func commands(m *pulumitest.Mocks) map[string]pulumitest.Resource {
	out := map[string]pulumitest.Resource{}
	for _, r := range m.ByType(commandToken) {
		out[r.Name] = r
	}
	return out
}

func scriptText(t *testing.T, name string) string {
	t.Helper()
	text, err := commandText(name)
	require.NoError(t, err)
	return text
}

func TestPlanLayout2024Topology(t *testing.T) {
	vms, err := Plan(labArgs("/cache"))
	require.NoError(t, err)
	want := []VM{
		{Name: "talos-cp-01", Role: infra.ControlPlane, IP: netip.MustParseAddr("192.168.56.10"), CPUs: 2, MemoryMB: 4096, DiskMB: 40960},
		{Name: "talos-cp-02", Role: infra.ControlPlane, IP: netip.MustParseAddr("192.168.56.11"), CPUs: 2, MemoryMB: 4096, DiskMB: 40960},
		{Name: "talos-cp-03", Role: infra.ControlPlane, IP: netip.MustParseAddr("192.168.56.12"), CPUs: 2, MemoryMB: 4096, DiskMB: 40960},
		{Name: "talos-worker-01", Role: infra.Worker, IP: netip.MustParseAddr("192.168.56.20"), CPUs: 2, MemoryMB: 4096, DiskMB: 51200},
		{Name: "talos-worker-02", Role: infra.Worker, IP: netip.MustParseAddr("192.168.56.21"), CPUs: 2, MemoryMB: 4096, DiskMB: 51200},
	}
	require.Len(t, vms, len(want))
	for i, w := range want {
		t.Run(w.Name, func(t *testing.T) {
			got := vms[i]
			assert.NotEmpty(t, got.MAC)
			assert.NotEmpty(t, got.NATMAC)
			got.MAC, got.NATMAC = "", "" // checked by TestPlanMACs
			assert.Equal(t, w, got)
		})
	}
}

func TestPlanSizes(t *testing.T) {
	for _, c := range []struct {
		cpSize, workerSize string
		cpDisk, workerDisk int
		wantCP, wantWorker [3]int // CPUs, MemoryMB, DiskMB
	}{
		{"2cpu-4gb", "2cpu-4gb", 40, 50, [3]int{2, 4096, 40960}, [3]int{2, 4096, 51200}},
		{"4cpu-8gb", "2cpu-6gb", 20, 100, [3]int{4, 8192, 20480}, [3]int{2, 6144, 102400}},
	} {
		t.Run(c.cpSize+"/"+c.workerSize, func(t *testing.T) {
			args := labArgs("/cache")
			args.ControlPlane.Size, args.ControlPlane.DiskGiB = c.cpSize, c.cpDisk
			args.Workers.Size, args.Workers.DiskGiB = c.workerSize, c.workerDisk
			vms, err := Plan(args)
			require.NoError(t, err)
			require.Len(t, vms, 5)
			for _, vm := range vms {
				want := c.wantWorker
				if vm.Role == infra.ControlPlane {
					want = c.wantCP
				}
				assert.Equal(t, want, [3]int{vm.CPUs, vm.MemoryMB, vm.DiskMB}, vm.Name)
			}
		})
	}
}

func TestPlanMACs(t *testing.T) {
	macShape := regexp.MustCompile(`^080027[0-9a-f]{6}$`)
	for _, network := range []string{"192.168.56.0/24", "10.20.30.0/24", "172.16.0.0/16"} {
		t.Run(network, func(t *testing.T) {
			args := labArgs("/cache")
			args.Network = netip.MustParsePrefix(network)
			vms, err := Plan(args)
			require.NoError(t, err)
			seen := map[string]string{}
			for _, vm := range vms {
				assert.Regexp(t, macShape, vm.MAC, vm.Name)
				assert.Equal(t, MAC(vm.IP), vm.MAC, "%s: MAC must be derived from the IP", vm.Name)
				if other, dup := seen[vm.MAC]; dup {
					t.Errorf("%s and %s share MAC %s", other, vm.Name, vm.MAC)
				}
				seen[vm.MAC] = vm.Name
			}
		})
	}
}

// MAC is a pure function of the address: VirtualBox OUI 08:00:27 followed by
// the address's last three octets in lowercase hex.
func TestMACFromAddress(t *testing.T) {
	for _, c := range []struct{ ip, want string }{
		{"192.168.56.10", "080027a8380a"},
		{"192.168.56.11", "080027a8380b"},
		{"192.168.56.20", "080027a83814"},
		{"10.20.30.10", "080027141e0a"},
		{"10.20.30.255", "080027141eff"},
		{"172.16.0.1", "080027100001"},
	} {
		t.Run(c.ip, func(t *testing.T) {
			ip := netip.MustParseAddr(c.ip)
			assert.Equal(t, c.want, MAC(ip))
			assert.Equal(t, "02"+c.want[2:], NATMAC(ip), "the NAT card's MAC is locally administered, the rest the same")
			assert.Equal(t, MAC(ip), MAC(netip.MustParseAddr(c.ip)), "deterministic")
		})
	}
}

func TestPlanNetworkMovesEveryAddress(t *testing.T) {
	for _, c := range []struct {
		network string
		want    []string
	}{
		{"192.168.56.0/24", []string{"192.168.56.10", "192.168.56.11", "192.168.56.12", "192.168.56.20", "192.168.56.21"}},
		{"10.20.30.0/24", []string{"10.20.30.10", "10.20.30.11", "10.20.30.12", "10.20.30.20", "10.20.30.21"}},
		{"172.16.0.0/16", []string{"172.16.0.10", "172.16.0.11", "172.16.0.12", "172.16.0.20", "172.16.0.21"}},
	} {
		t.Run(c.network, func(t *testing.T) {
			args := labArgs("/cache")
			args.Network = netip.MustParsePrefix(c.network)
			vms, err := Plan(args)
			require.NoError(t, err)
			var ips, macs []string
			for _, vm := range vms {
				ips = append(ips, vm.IP.String())
				macs = append(macs, vm.MAC)
			}
			assert.Equal(t, c.want, ips)
			for i, ip := range c.want {
				assert.Equal(t, MAC(netip.MustParseAddr(ip)), macs[i], "MAC follows the address")
			}
		})
	}
}

func TestPlanRejectsBadSize(t *testing.T) {
	for _, c := range []struct {
		name       string
		cp, worker string
		wantRole   infra.Role
		wantSize   string
	}{
		{"cloud type on control plane", "t3.medium", "2cpu-4gb", infra.ControlPlane, "t3.medium"},
		{"upper case on workers", "2cpu-4gb", "2CPU-4GB", infra.Worker, "2CPU-4GB"},
		{"missing unit", "2cpu-4", "2cpu-4gb", infra.ControlPlane, "2cpu-4"},
		{"empty worker size", "2cpu-4gb", "", infra.Worker, `""`},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := labArgs("/cache")
			args.ControlPlane.Size, args.Workers.Size = c.cp, c.worker
			vms, err := Plan(args)
			require.Error(t, err)
			assert.Nil(t, vms)
			assert.Contains(t, err.Error(), c.wantSize)
			assert.Contains(t, err.Error(), string(c.wantRole))
			assert.Contains(t, err.Error(), "2cpu-4gb", "the message shows the expected form")

			m, _, runErr := deployVBox(t, "lab", args)
			require.Error(t, runErr, "NewNodes must refuse the size")
			assert.Contains(t, runErr.Error(), c.wantSize)
			assert.Empty(t, m.ByType(commandToken), "nothing is created for a bad size")
			assert.Empty(t, m.ByType(Token))
		})
	}
}

func TestNewNodesRegistersCommandsUnderComponent(t *testing.T) {
	m, got, err := deployVBox(t, "lab", labArgs(t.TempDir()))
	require.NoError(t, err)

	components := m.ByType(Token)
	require.Len(t, components, 1)
	assert.Equal(t, "lab", components[0].Name)
	assert.Equal(t, "urn:pulumi:local::sre-lab::"+Token+"::lab", got.urn)

	var names []string
	for _, r := range m.ByType(commandToken) {
		names = append(names, r.Name)
		assert.Equal(t, got.urn, r.Parent, "%s must be parented under the component", r.Name)
	}
	assert.ElementsMatch(t, []string{
		"lab-network", "lab-iso",
		"lab-talos-cp-01", "lab-talos-cp-02", "lab-talos-cp-03",
		"lab-talos-worker-01", "lab-talos-worker-02",
	}, names)
}

func TestNewNodesCommandCountsFollowPools(t *testing.T) {
	for _, c := range []struct{ cps, workers int }{{1, 1}, {3, 2}, {5, 4}} {
		t.Run(fmt.Sprintf("%dcp-%dworkers", c.cps, c.workers), func(t *testing.T) {
			args := labArgs(t.TempDir())
			args.ControlPlane.Count, args.Workers.Count = c.cps, c.workers
			m, got, err := deployVBox(t, "lab", args)
			require.NoError(t, err)
			var network, iso, vms int
			for _, r := range m.ByType(commandToken) {
				env := envOf(t, r)
				switch {
				case env["SRE_VM_NAME"] != "":
					vms++
				case env["SRE_ISO_URL"] != "":
					iso++
				case env["SRE_NET_CIDR"] != "":
					network++
				default:
					t.Errorf("unexpected command %s", r.Name)
				}
			}
			assert.Equal(t, 1, network, "network commands")
			assert.Equal(t, 1, iso, "ISO commands")
			assert.Equal(t, c.cps+c.workers, vms, "VM commands")
			assert.Len(t, got.nodes, c.cps+c.workers)
		})
	}
}

func TestNewNodesVMEnvironment(t *testing.T) {
	cache := t.TempDir()
	m, _, err := deployVBox(t, "lab", labArgs(cache))
	require.NoError(t, err)
	iso := envOf(t, m.Named(t, commandToken, "lab-iso"))["SRE_ISO_PATH"]
	require.NotEmpty(t, iso)

	const cpDisk, workerDisk = "sre-lab:controlPlaneDiskGiB", "sre-lab:workerDiskGiB"
	for _, c := range []struct {
		name, cpus, mem, disk, diskKey, mac, ip string
	}{
		{"talos-cp-01", "2", "4096", "40960", cpDisk, "080027a8380a", "192.168.56.10"},
		{"talos-cp-02", "2", "4096", "40960", cpDisk, "080027a8380b", "192.168.56.11"},
		{"talos-cp-03", "2", "4096", "40960", cpDisk, "080027a8380c", "192.168.56.12"},
		{"talos-worker-01", "2", "4096", "51200", workerDisk, "080027a83814", "192.168.56.20"},
		{"talos-worker-02", "2", "4096", "51200", workerDisk, "080027a83815", "192.168.56.21"},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, map[string]string{
				"SRE_VM_NAME":      c.name,
				"SRE_VM_ARCH":      "amd64",
				"SRE_VM_CPUS":      c.cpus,
				"SRE_VM_MEMORY_MB": c.mem,
				"SRE_VM_DISK_MB":   c.disk,
				"SRE_VM_DISK_KEY":  c.diskKey,
				"SRE_VM_MAC":       c.mac,
				"SRE_VM_IP":        c.ip,
				"SRE_NET_IF":       "vboxnet0",
				"SRE_ISO_PATH":     iso,
				"SRE_STACK":        "sre-lab/local",
			}, envOf(t, m.Named(t, commandToken, "lab-"+c.name)))
		})
	}
}

func TestNewNodesNetworkEnvironment(t *testing.T) {
	for _, c := range []struct {
		network string
		want    map[string]string
	}{
		{"192.168.56.0/24", map[string]string{
			"SRE_NET_CIDR":       "192.168.56.0/24",
			"SRE_NET_IP":         "192.168.56.1",
			"SRE_NET_MASK":       "255.255.255.0",
			"SRE_DHCP_SERVER_IP": "192.168.56.2",
			"SRE_DHCP_LOWER":     "192.168.56.200",
			"SRE_DHCP_UPPER":     "192.168.56.250",
			"SRE_DHCP_RESERVATIONS": "08:00:27:a8:38:0a=192.168.56.10 08:00:27:a8:38:0b=192.168.56.11 08:00:27:a8:38:0c=192.168.56.12" +
				" 08:00:27:a8:38:14=192.168.56.20 08:00:27:a8:38:15=192.168.56.21",
			"SRE_STACK": "sre-lab/local",
		}},
		{"10.20.30.0/24", map[string]string{
			"SRE_NET_CIDR":       "10.20.30.0/24",
			"SRE_NET_IP":         "10.20.30.1",
			"SRE_NET_MASK":       "255.255.255.0",
			"SRE_DHCP_SERVER_IP": "10.20.30.2",
			"SRE_DHCP_LOWER":     "10.20.30.200",
			"SRE_DHCP_UPPER":     "10.20.30.250",
			"SRE_DHCP_RESERVATIONS": "08:00:27:14:1e:0a=10.20.30.10 08:00:27:14:1e:0b=10.20.30.11 08:00:27:14:1e:0c=10.20.30.12" +
				" 08:00:27:14:1e:14=10.20.30.20 08:00:27:14:1e:15=10.20.30.21",
			"SRE_STACK": "sre-lab/local",
		}},
		{"172.16.0.0/16", map[string]string{
			"SRE_NET_CIDR":       "172.16.0.0/16",
			"SRE_NET_IP":         "172.16.0.1",
			"SRE_NET_MASK":       "255.255.0.0",
			"SRE_DHCP_SERVER_IP": "172.16.0.2",
			"SRE_DHCP_LOWER":     "172.16.0.200",
			"SRE_DHCP_UPPER":     "172.16.0.250",
			"SRE_DHCP_RESERVATIONS": "08:00:27:10:00:0a=172.16.0.10 08:00:27:10:00:0b=172.16.0.11 08:00:27:10:00:0c=172.16.0.12" +
				" 08:00:27:10:00:14=172.16.0.20 08:00:27:10:00:15=172.16.0.21",
			"SRE_STACK": "sre-lab/local",
		}},
	} {
		t.Run(c.network, func(t *testing.T) {
			args := labArgs(t.TempDir())
			args.Network = netip.MustParsePrefix(c.network)
			m, _, err := deployVBox(t, "lab", args)
			require.NoError(t, err)
			assert.Equal(t, c.want, envOf(t, m.Named(t, commandToken, "lab-network")))
			for _, r := range m.ByType(commandToken) {
				if ip := envOf(t, r)["SRE_VM_IP"]; ip != "" {
					assert.True(t, args.Network.Contains(netip.MustParseAddr(ip)), "%s at %s outside %s", r.Name, ip, c.network)
				}
			}
		})
	}
}

func TestNewNodesISO(t *testing.T) {
	cache := t.TempDir()
	m, _, err := deployVBox(t, "lab", labArgs(cache))
	require.NoError(t, err)
	env := envOf(t, m.Named(t, commandToken, "lab-iso"))

	assert.Equal(t, []string{"SRE_ISO_PATH", "SRE_ISO_SUMS_URL", "SRE_ISO_URL"}, slices.Sorted(maps.Keys(env)))
	// The ISO comes from the release, whose sha256sum.txt lists it; Image
	// Factory publishes no checksum to verify its download against.
	assert.Equal(t, "https://github.com/siderolabs/talos/releases/download/v1.12.4/metal-amd64.iso", env["SRE_ISO_URL"])
	assert.Equal(t, "https://github.com/siderolabs/talos/releases/download/v1.12.4/sha256sum.txt", env["SRE_ISO_SUMS_URL"])

	path := env["SRE_ISO_PATH"]
	assert.True(t, strings.HasPrefix(path, cache+string(filepath.Separator)), "%s is not under the cache %s", path, cache)
	assert.Contains(t, filepath.Base(path), "v1.12.4")
	assert.True(t, strings.HasSuffix(path, ".iso"), path)

	// Every VM boots the ISO the fetch command reported.
	for _, r := range m.ByType(commandToken) {
		if vm := envOf(t, r); vm["SRE_VM_NAME"] != "" {
			assert.Equal(t, path, vm["SRE_ISO_PATH"], r.Name)
		}
	}
}

func TestNewNodesTalosVersionMovesISO(t *testing.T) {
	cache := t.TempDir()
	isoEnv := map[string]map[string]string{}
	vmTriggers := map[string][]any{}
	for _, version := range []string{"v1.12.4", "v1.12.5"} {
		args := labArgs(cache)
		args.TalosVersion = version
		m, _, err := deployVBox(t, "lab", args)
		require.NoError(t, err)
		env := envOf(t, m.Named(t, commandToken, "lab-iso"))
		isoEnv[version] = env
		assert.Equal(t, infra.ISOURL(version, "amd64"), env["SRE_ISO_URL"])
		assert.Contains(t, env["SRE_ISO_URL"], "/"+version+"/")
		assert.Contains(t, filepath.Base(env["SRE_ISO_PATH"]), version)
		assert.Equal(t, env["SRE_ISO_PATH"], envOf(t, m.Named(t, commandToken, "lab-talos-cp-01"))["SRE_ISO_PATH"])
		vmTriggers[version] = triggersOf(t, m.Named(t, commandToken, "lab-talos-cp-01"))
	}
	assert.NotEqual(t, isoEnv["v1.12.4"]["SRE_ISO_URL"], isoEnv["v1.12.5"]["SRE_ISO_URL"])
	assert.NotEqual(t, isoEnv["v1.12.4"]["SRE_ISO_PATH"], isoEnv["v1.12.5"]["SRE_ISO_PATH"])
	// A new Talos version is an upgrade, not a reason to rebuild the VMs.
	assert.Equal(t, vmTriggers["v1.12.4"], vmTriggers["v1.12.5"])
}

func TestNewNodesScripts(t *testing.T) {
	m, _, err := deployVBox(t, "lab", labArgs(t.TempDir()))
	require.NoError(t, err)
	lib, err := os.ReadFile(filepath.Join("scripts", "lib.sh"))
	require.NoError(t, err)
	for _, c := range []struct {
		command, create, update, remove string // update, remove empty: none
	}{
		{"lab-network", "network-create.sh", "network-update.sh", "network-delete.sh"},
		{"lab-iso", "iso-fetch.sh", "", ""},
		{"lab-talos-cp-01", "vm-create.sh", "vm-update.sh", "vm-delete.sh"},
		{"lab-talos-cp-02", "vm-create.sh", "vm-update.sh", "vm-delete.sh"},
		{"lab-talos-cp-03", "vm-create.sh", "vm-update.sh", "vm-delete.sh"},
		{"lab-talos-worker-01", "vm-create.sh", "vm-update.sh", "vm-delete.sh"},
		{"lab-talos-worker-02", "vm-create.sh", "vm-update.sh", "vm-delete.sh"},
	} {
		t.Run(c.command, func(t *testing.T) {
			r := m.Named(t, commandToken, c.command)
			interp := r.Inputs["interpreter"]
			require.True(t, interp.IsArray(), "interpreter is %v", interp)
			var argv []string
			for _, a := range interp.ArrayValue() {
				argv = append(argv, a.StringValue())
			}
			assert.Equal(t, []string{"/bin/sh", "-c"}, argv)

			// The script tests run commandText's text: the command must
			// carry exactly that, helpers included.
			for _, s := range []struct{ input, script, why string }{
				{"create", c.create, "runs on create"},
				{"update", c.update, "runs on update; without it create runs again"},
				{"delete", c.remove, "runs on destroy; without it the result is kept"},
			} {
				v, ok := r.Inputs[resource.PropertyKey(s.input)]
				if s.script == "" {
					assert.True(t, !ok || v.IsNull(), "%s has %s %v", c.command, s.input, v)
					continue
				}
				require.True(t, ok && v.IsString(), "%s has no %s script, which %s", c.command, s.input, s.why)
				assert.Equal(t, scriptText(t, s.script), v.StringValue(), "%s %s", c.command, s.input)
				assert.True(t, strings.HasPrefix(v.StringValue(), string(lib)), "%s %s starts with the helpers", c.command, s.input)
			}
		})
	}
}

// Every VM's MAC and address are in the network's reservation list, which
// is what lets network-create.sh save them all before any VM starts.
func TestNewNodesNetworkReservesEveryVM(t *testing.T) {
	for _, c := range []struct{ cps, workers int }{{1, 1}, {3, 2}, {5, 4}} {
		t.Run(fmt.Sprintf("%dcp-%dworkers", c.cps, c.workers), func(t *testing.T) {
			args := labArgs(t.TempDir())
			args.ControlPlane.Count, args.Workers.Count = c.cps, c.workers
			m, _, err := deployVBox(t, "lab", args)
			require.NoError(t, err)
			var want []string
			for _, r := range m.ByType(commandToken) {
				env := envOf(t, r)
				if env["SRE_VM_NAME"] == "" {
					continue
				}
				mac := strings.ToLower(env["SRE_VM_MAC"])
				var pairs []string
				for i := 0; i < len(mac); i += 2 {
					pairs = append(pairs, mac[i:i+2])
				}
				want = append(want, strings.Join(pairs, ":")+"="+env["SRE_VM_IP"])
			}
			got := strings.Fields(envOf(t, m.Named(t, commandToken, "lab-network"))["SRE_DHCP_RESERVATIONS"])
			assert.ElementsMatch(t, want, got)
		})
	}
}

// A worker added later changes only the network's reservation list: the
// network is updated in place, not replaced with every VM, and the VMs
// already there see no change.
func TestNewNodesWorkerAddedUpdatesNetworkInPlace(t *testing.T) {
	cache := t.TempDir()
	before, _, err := deployVBox(t, "lab", labArgs(cache))
	require.NoError(t, err)
	args := labArgs(cache)
	args.Workers.Count = 3
	after, _, err := deployVBox(t, "lab", args)
	require.NoError(t, err)

	oldNet, newNet := before.Named(t, commandToken, "lab-network"), after.Named(t, commandToken, "lab-network")
	assert.Equal(t, triggersOf(t, oldNet), triggersOf(t, newNet), "the network must not be replaced")
	oldEnv, newEnv := envOf(t, oldNet), envOf(t, newNet)
	assert.Equal(t, oldEnv["SRE_DHCP_RESERVATIONS"]+" 08:00:27:a8:38:16=192.168.56.22", newEnv["SRE_DHCP_RESERVATIONS"])
	delete(oldEnv, "SRE_DHCP_RESERVATIONS")
	delete(newEnv, "SRE_DHCP_RESERVATIONS")
	assert.Equal(t, oldEnv, newEnv, "only the reservations change")

	old := commands(before)
	for name, r := range commands(after) {
		if name == "lab-network" {
			continue
		}
		prev, existed := old[name]
		if !existed {
			assert.Equal(t, "lab-talos-worker-03", name)
			continue
		}
		assert.Equal(t, prev.Inputs, r.Inputs, "%s must not change", name)
	}
}

// Every VM waits for the network command, so it starts after the network
// saved (or, on a later run, updated) the reservations.
func TestNewNodesVMsDependOnNetwork(t *testing.T) {
	m, _, err := deployVBox(t, "lab", labArgs(t.TempDir()))
	require.NoError(t, err)
	for _, r := range m.ByType(commandToken) {
		if envOf(t, r)["SRE_VM_NAME"] == "" {
			continue
		}
		assert.True(t, r.DependsOn(commandToken, "lab-network"), "%s depends on %v", r.Name, r.Dependencies)
	}
}

func TestNetworkName(t *testing.T) {
	for _, c := range []struct{ stdout, want string }{
		{"vboxnet0\ninterface: created\ndhcp-before: none\nreserved: 08:00:27:a8:38:0a=192.168.56.10", "vboxnet0"},
		{"vboxnet3", "vboxnet3"},
		{"vboxnet3\n", "vboxnet3"},
		{"\r\nvboxnet1\r\ninterface: adopted", "vboxnet1"},
		{"", ""},
	} {
		assert.Equal(t, c.want, networkName(c.stdout), "%q", c.stdout)
	}
}

// Only the address, the MAC and the network replace a VM. A new size,
// control plane or worker, CPUs, memory or disk, is environment: the same
// command is updated (vm-update.sh) and the VM keeps its disk, where a
// replacement would take every etcd member at once.
func TestNewNodesVMSizeIsEnvironment(t *testing.T) {
	cache := t.TempDir()
	base, _, err := deployVBox(t, "lab", labArgs(cache))
	require.NoError(t, err)
	sizes := []string{"SRE_VM_CPUS", "SRE_VM_MEMORY_MB", "SRE_VM_DISK_MB"}
	for _, c := range []struct {
		name   string
		change func(*Args)
		want   map[string][3]string // VM: CPUs, MB of memory, MB of disk
	}{
		{"control planes grow", func(a *Args) { a.ControlPlane.Size, a.ControlPlane.DiskGiB = "4cpu-8gb", 60 }, map[string][3]string{
			"talos-cp-01": {"4", "8192", "61440"}, "talos-worker-01": {"2", "4096", "51200"},
		}},
		{"workers grow", func(a *Args) { a.Workers.Size, a.Workers.DiskGiB = "8cpu-16gb", 80 }, map[string][3]string{
			"talos-cp-01": {"2", "4096", "40960"}, "talos-worker-02": {"8", "16384", "81920"},
		}},
		{"smaller disks", func(a *Args) { a.ControlPlane.DiskGiB, a.Workers.DiskGiB = 20, 20 }, map[string][3]string{
			"talos-cp-03": {"2", "4096", "20480"}, "talos-worker-01": {"2", "4096", "20480"},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := labArgs(cache)
			c.change(&args)
			changed, _, err := deployVBox(t, "lab", args)
			require.NoError(t, err)
			network := changed.Named(t, commandToken, "lab-network")
			vms, err := Plan(args)
			require.NoError(t, err)
			for _, vm := range vms {
				before, after := base.Named(t, commandToken, "lab-"+vm.Name), changed.Named(t, commandToken, "lab-"+vm.Name)
				assert.Equal(t, []any{vm.IP.String(), vm.MAC, network.Name + "_id"}, triggersOf(t, after),
					"%s: address, MAC and network are all that replace it", vm.Name)
				assert.Equal(t, triggersOf(t, before), triggersOf(t, after), "%s must not be replaced", vm.Name)
				oldEnv, newEnv := envOf(t, before), envOf(t, after)
				if want, ok := c.want[vm.Name]; ok {
					assert.Equal(t, want, [3]string{newEnv[sizes[0]], newEnv[sizes[1]], newEnv[sizes[2]]}, vm.Name)
				}
				for _, k := range sizes {
					delete(oldEnv, k)
					delete(newEnv, k)
				}
				assert.Equal(t, oldEnv, newEnv, "%s: only the size changes", vm.Name)
				assert.Equal(t, scriptText(t, "vm-update.sh"), after.Inputs["update"].StringValue(), "%s is updated in place", vm.Name)
			}
		})
	}
}

// Each role's VMs form a chain, each depending on the one before it, so an
// update reaches one VM of a role at a time; control planes and workers are
// two chains, and every VM still waits for the network.
func TestNewNodesVMsRollOneAtATimePerRole(t *testing.T) {
	for _, c := range []struct{ cps, workers int }{{1, 1}, {3, 2}, {5, 4}} {
		t.Run(fmt.Sprintf("%dcp-%dworkers", c.cps, c.workers), func(t *testing.T) {
			args := labArgs(t.TempDir())
			args.ControlPlane.Count, args.Workers.Count = c.cps, c.workers
			m, _, err := deployVBox(t, "lab", args)
			require.NoError(t, err)
			vms, err := Plan(args)
			require.NoError(t, err)
			for i, vm := range vms {
				r := m.Named(t, commandToken, "lab-"+vm.Name)
				assert.True(t, r.DependsOn(commandToken, "lab-network"), "%s depends on %v", vm.Name, r.Dependencies)
				var want []string
				if i > 0 && vms[i-1].Role == vm.Role {
					want = append(want, "lab-"+vms[i-1].Name)
				}
				var got []string
				for _, other := range vms {
					if r.DependsOn(commandToken, "lab-"+other.Name) {
						got = append(got, "lab-"+other.Name)
					}
				}
				assert.Equal(t, want, got, "%s waits for the VM before it of its role, and no other", vm.Name)
			}
		})
	}
}

func TestNewNodesReplacementsDeleteFirst(t *testing.T) {
	m, _, err := deployVBox(t, "lab", labArgs(t.TempDir()))
	require.NoError(t, err)
	for _, name := range []string{"lab-network", "lab-talos-cp-01", "lab-talos-worker-02"} {
		assert.True(t, m.Named(t, commandToken, name).DeleteBeforeReplace, "%s has a fixed name in VirtualBox", name)
	}
	assert.False(t, m.Named(t, commandToken, "lab-iso").DeleteBeforeReplace, "the ISO is a shared cache, never deleted")
	assert.Equal(t, []any{"192.168.56.0/24"}, triggersOf(t, m.Named(t, commandToken, "lab-network")), "a new range replaces the network")
}

func TestNewNodesPlatform(t *testing.T) {
	for _, c := range []struct {
		network      string
		wantIPs      []string
		wantEndpoint string
	}{
		{"192.168.56.0/24", []string{"192.168.56.10", "192.168.56.11", "192.168.56.12", "192.168.56.20", "192.168.56.21"}, "192.168.56.10"},
		{"10.20.30.0/24", []string{"10.20.30.10", "10.20.30.11", "10.20.30.12", "10.20.30.20", "10.20.30.21"}, "10.20.30.10"},
	} {
		t.Run(c.network, func(t *testing.T) {
			args := labArgs(t.TempDir())
			args.Network = netip.MustParsePrefix(c.network)
			_, got, err := deployVBox(t, "lab", args)
			require.NoError(t, err)

			var names []string
			var roles []infra.Role
			for _, n := range got.nodes {
				names = append(names, n.Name)
				roles = append(roles, n.Role)
			}
			assert.Equal(t, []string{"talos-cp-01", "talos-cp-02", "talos-cp-03", "talos-worker-01", "talos-worker-02"}, names)
			assert.Equal(t, []infra.Role{infra.ControlPlane, infra.ControlPlane, infra.ControlPlane, infra.Worker, infra.Worker}, roles)
			assert.Equal(t, c.wantIPs, got.privateIPs)
			assert.Equal(t, []string{"", "", "", "", ""}, got.publicIPs)
			assert.Equal(t, c.wantEndpoint, got.endpoint)
			assert.Equal(t, "/dev/sda", got.disk)
			assert.Equal(t, "vboxnet0", got.hostOnlyNet)
			// LoadBalancer services take .50-.99, clear of nodes (.10-.49),
			// the host (.1) and DHCP (.200-.250); the ingress takes the first.
			prefix := strings.TrimSuffix(c.wantEndpoint, "10")
			require.NotNil(t, got.lbRange)
			assert.Equal(t, prefix+"50", got.lbRange.First.String())
			assert.Equal(t, prefix+"99", got.lbRange.Last.String())
			assert.Equal(t, prefix+"50", got.ingress)
		})
	}
}

// TestContract runs the backend contract every backend answers for.
func TestContract(t *testing.T) {
	for _, tc := range []struct{ cp, w int }{{3, 2}, {1, 1}, {5, 3}} {
		t.Run(fmt.Sprintf("%d+%d", tc.cp, tc.w), func(t *testing.T) {
			args := labArgs(t.TempDir())
			args.ControlPlane.Count, args.Workers.Count = tc.cp, tc.w
			m, got, err := deployVBox(t, "sre-lab-local", args)
			require.NoError(t, err)
			run := infratest.Run{
				Environment: "local", Local: true,
				ControlPlanes: tc.cp, Workers: tc.w,
				Endpoint: got.endpoint, ComponentURN: got.urn,
			}
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
