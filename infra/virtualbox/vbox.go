// Package virtualbox is the local backend: Talos VMs on a VirtualBox
// host-only network, driven through VBoxManage by the Pulumi command
// provider. Every VM answers at an address planned before it boots, where
// Talos configures it in maintenance mode; how it gets there depends on the
// host.
//
// On Linux each VM gets a fixed MAC and a DHCP reservation on a host-only
// interface (vboxnetN). The network command owns every reservation and
// saves them all before any VM starts: VBoxNetDHCP reads them once, when the
// first VM on the network starts
// (src/VBox/Main/src-server/DHCPServerImpl.cpp), so a reservation made by
// each VM as it is created would reach the running server too late for all
// but the first.
//
// On macOS VirtualBox 7 has host-only networks instead, served by macOS's
// own DHCP server (vmnet's bootpd), which takes no reservations. Each VM
// boots at whatever address bootpd leases it; its create script reads that
// lease by MAC, hands Talos, still in maintenance mode, a network config
// giving the VM's link its planned static address, and returns once the VM
// answers there. The same config is the node's ConfigPatches entry, which
// the Talos layer applies with the machine config, so the installed node
// keeps its address across reboots.
package virtualbox

import (
	"embed"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/siderolabs/go-pointer"
	"github.com/siderolabs/talos/pkg/machinery/cel"
	"github.com/siderolabs/talos/pkg/machinery/cel/celenv"
	talosconfig "github.com/siderolabs/talos/pkg/machinery/config/config"
	"github.com/siderolabs/talos/pkg/machinery/config/encoder"
	"github.com/siderolabs/talos/pkg/machinery/config/types/network"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
)

// Token is the component's type token.
const Token = "sre-lab:infra:VirtualBoxNodes"

// InstallDisk is the first disk of the SATA controller the VMs boot from.
const InstallDisk = "/dev/sda"

// Offsets of well-known addresses inside the host-only network: control
// planes at .10, workers at .20.
const (
	hostOffset         = 1
	dhcpServerOffset   = 2
	controlPlaneOffset = 10
	workerOffset       = 20
	dhcpPoolFirst      = 200
	dhcpPoolLast       = 250
	// LoadBalancer services (the ingress first) get addresses from .50-.99,
	// announced on the host-only network by Cilium.
	lbPoolFirst = 50
	lbPoolLast  = 99
	// A macOS host-only network gives the host its lowest address and
	// leases the rest of its range (vmnet_start_address_key in
	// src/VBox/Devices/Network/DrvVMNet.m; the start address is the
	// gateway and the following ones the DHCP pool, per
	// NetdevVmnetHostOptions in qapi/net.json of qemu/qemu). The host sits
	// just below the pool, so the pool is the one Linux leases from and
	// nodes and LoadBalancer addresses stay outside it.
	macHostOffset = dhcpPoolFirst - 1
)

// Host operating systems the lab's scripts support, as runtime.GOOS names
// them.
const (
	linuxHost = "linux"
	macHost   = "darwin"
)

// HostOnlyNetworkName is the VirtualBox host-only network the lab makes on
// macOS.
const HostOnlyNetworkName = "sre-lab"

// MacLeaseFile is where macOS's DHCP server, bootpd, which serves
// VirtualBox's host-only networks through vmnet, records its leases: one
// "{ ... }" block per client with ip_address= and hw_address=1,<mac>
// lines (pkg/drivers/hyperkit/network.go in kubernetes/minikube reads it
// the same way).
const MacLeaseFile = "/var/db/dhcpd_leases"

// Names the Talos network config gives the VM's links on macOS, found by
// MAC: their kernel names differ between amd64 and arm64 guests.
const (
	labLink    = "lab"
	uplinkLink = "uplink"
)

//go:embed scripts/*.sh
var scripts embed.FS

// Args shapes the local lab.
type Args struct {
	// ControlPlane and Workers are the pools; Size is "<n>cpu-<m>gb".
	ControlPlane config.NodePool
	Workers      config.NodePool
	// Network is the host-only network, a /24 or larger.
	Network netip.Prefix
	// TalosVersion selects the ISO the VMs boot.
	TalosVersion string
	// CacheDir holds downloaded ISOs, shared by every local stack.
	CacheDir string
	// HostOS and HostArch are the machine Pulumi and the scripts run on,
	// as runtime.GOOS and runtime.GOARCH name it. HostOS picks the network
	// (a host-only interface on linux, a host-only network on darwin);
	// HostArch the guests' architecture and Talos ISO (amd64, or arm64,
	// which VirtualBox runs from 7.1 on).
	HostOS   string
	HostArch string
}

// Nodes is the `sre-lab:infra:VirtualBoxNodes` component.
type Nodes struct {
	pulumi.ResourceState

	// Platform is the backend contract.
	Platform infra.Platform
	// HostOnlyNetwork is what the VMs' first network card is attached to:
	// on Linux the host-only interface (vboxnetN) the lab created, or one
	// already at the lab's host address that it adopted; on macOS the
	// host-only network HostOnlyNetworkName. An adopted one stays on
	// destroy.
	HostOnlyNetwork pulumi.StringOutput
	// ConfigPatches are Talos config patches nodes need beyond their
	// role's, by node name, to be applied with their machine config: on
	// macOS each node's static address on the host-only network
	// (StaticAddressPatch); none on Linux, where DHCP reservations keep
	// the addresses.
	ConfigPatches map[string]string
}

// VM is one planned machine: everything about it is known before any
// resource exists, which is what lets Talos target it by address.
type VM struct {
	Name string
	Role infra.Role
	IP   netip.Addr
	// MAC is the host-only card's, NATMAC the NAT card's, both derived from
	// IP. The NAT card's matters only where Talos must find that link by
	// MAC (macOS).
	MAC      string
	NATMAC   string
	CPUs     int
	MemoryMB int
	DiskMB   int
}

// Plan lays out the VMs of args: names, addresses, MACs and sizes.
func Plan(args Args) ([]VM, error) {
	if args.ControlPlane.Count < 1 {
		return nil, fmt.Errorf("at least one control plane is needed, got %d", args.ControlPlane.Count)
	}
	var vms []VM
	for _, pool := range []struct {
		role   infra.Role
		pool   config.NodePool
		offset int
	}{
		{infra.ControlPlane, args.ControlPlane, controlPlaneOffset},
		{infra.Worker, args.Workers, workerOffset},
	} {
		shape, err := config.ParseLocalSize(pool.pool.Size)
		if err != nil {
			return nil, fmt.Errorf("%s size %q: %w", pool.role, pool.pool.Size, err)
		}
		for i := 1; i <= pool.pool.Count; i++ {
			ip := nth(args.Network, pool.offset+i-1)
			vms = append(vms, VM{
				Name:     infra.LocalNodeName(pool.role, i),
				Role:     pool.role,
				IP:       ip,
				MAC:      MAC(ip),
				NATMAC:   NATMAC(ip),
				CPUs:     shape.VCPU,
				MemoryMB: int(shape.MemGiB * 1024),
				DiskMB:   pool.pool.DiskGiB * 1024,
			})
		}
	}
	return vms, nil
}

// MAC derives a VirtualBox MAC (OUI 08:00:27) from the VM's address, so the
// DHCP reservation and the VM agree without shared state.
func MAC(ip netip.Addr) string {
	b := ip.As4()
	return fmt.Sprintf("080027%02x%02x%02x", b[1], b[2], b[3])
}

// NATMAC derives the NAT card's MAC from the VM's address: a locally
// administered unicast address (02:...), so it never equals a host-only
// card's MAC.
func NATMAC(ip netip.Addr) string {
	b := ip.As4()
	return fmt.Sprintf("020027%02x%02x%02x", b[1], b[2], b[3])
}

// colonMAC writes a bare MAC ("080027a8380a") as Linux and VirtualBox's
// DHCP server print it, lower-case and colon-separated.
func colonMAC(bare string) string {
	var mac strings.Builder
	for i := 0; i < len(bare); i += 2 {
		if i > 0 {
			mac.WriteByte(':')
		}
		mac.WriteString(strings.ToLower(bare[i : i+2]))
	}
	return mac.String()
}

// StaticAddressPatch is the Talos network config a VM needs on a host-only
// network without DHCP reservations (macOS): its host-only link, found by
// MAC, gets the planned address and no DHCP, and its NAT link, also found
// by MAC, keeps DHCP for the way out. Both are named: with a LinkConfig
// document present, Talos runs no DHCP and brings up no link it was not
// told of (Container.RunDefaultDHCPOperators in
// pkg/machinery/config/container/container.go, and the default link-up in
// internal/app/machined/pkg/controllers/network/link_config.go of
// siderolabs/talos). In maintenance mode Talos applies such a config at
// once and keeps waiting for a complete one (stateMaintenance in
// internal/app/machined/pkg/controllers/config/acquire.go), which is how the
// create script moves the VM to its address before the Talos layer applies
// the machine config there.
func StaticAddressPatch(vm VM, subnet netip.Prefix) (string, error) {
	lab, err := linkAlias(labLink, vm.MAC)
	if err != nil {
		return "", err
	}
	uplink, err := linkAlias(uplinkLink, vm.NATMAC)
	if err != nil {
		return "", err
	}
	labConfig := network.NewLinkConfigV1Alpha1(labLink)
	labConfig.LinkUp = pointer.To(true)
	labConfig.LinkAddresses = []network.AddressConfig{{AddressAddress: netip.PrefixFrom(vm.IP, subnet.Bits())}}
	uplinkConfig := network.NewLinkConfigV1Alpha1(uplinkLink)
	uplinkConfig.LinkUp = pointer.To(true)
	docs := []talosconfig.Document{lab, labConfig, uplink, uplinkConfig, network.NewDHCPv4ConfigV1Alpha1(uplinkLink)}
	parts := make([]string, 0, len(docs))
	for _, doc := range docs {
		b, err := encoder.NewEncoder(doc, encoder.WithComments(encoder.CommentsDisabled), encoder.WithOmitEmpty(true)).Encode()
		if err != nil {
			return "", fmt.Errorf("talos network config of %s: %w", vm.Name, err)
		}
		parts = append(parts, string(b))
	}
	return strings.Join(parts, "---\n"), nil
}

// linkAlias names the link whose permanent MAC is mac, as Talos's
// LinkAliasConfig does, by a CEL selector in its link locator environment.
func linkAlias(name, mac string) (*network.LinkAliasConfigV1Alpha1, error) {
	expr, err := cel.ParseBooleanExpression(fmt.Sprintf("mac(link.permanent_addr) == %q", colonMAC(mac)), celenv.LinkLocator())
	if err != nil {
		return nil, fmt.Errorf("talos link selector for %s: %w", mac, err)
	}
	alias := network.NewLinkAliasConfigV1Alpha1(name)
	alias.Selector.Match = expr
	return alias, nil
}

func nth(network netip.Prefix, offset int) netip.Addr {
	b := network.Masked().Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n += uint32(offset)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// checkHost refuses a host the lab has no scripts for, naming what it
// supports; config.CheckHost has told users so before any of this runs.
func checkHost(args Args) error {
	if args.HostOS == "" || args.HostArch == "" {
		return fmt.Errorf("the host's system and architecture were not given (Args.HostOS %q, Args.HostArch %q)", args.HostOS, args.HostArch)
	}
	if args.HostOS != linuxHost && args.HostOS != macHost {
		return fmt.Errorf("VirtualBox VMs are made on %s and %s hosts, not on %q", linuxHost, macHost, args.HostOS)
	}
	if err := infra.CheckArch(args.HostArch); err != nil {
		return fmt.Errorf("VirtualBox VMs run the host's architecture: %w", err)
	}
	return nil
}

// NewNodes creates the host-only network, fetches the Talos ISO and starts
// one VM per planned node.
func NewNodes(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Nodes, error) {
	if err := checkHost(*args); err != nil {
		return nil, fmt.Errorf("virtualbox nodes: %w", err)
	}
	vms, err := Plan(*args)
	if err != nil {
		return nil, fmt.Errorf("virtualbox nodes: %w", err)
	}
	mac := args.HostOS == macHost
	patches := map[string]string{}
	if mac {
		for _, vm := range vms {
			if patches[vm.Name], err = StaticAddressPatch(vm, args.Network); err != nil {
				return nil, fmt.Errorf("virtualbox nodes: %w", err)
			}
		}
	}
	component := &Nodes{ConfigPatches: patches}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)

	// Every local stack plans the same VM names (talos-cp-01...) and network on
	// the same host, so each records the stack that made it: the network
	// scripts refuse a network another stack holds and the delete script
	// leaves it, vm-create.sh refuses a VM name another stack holds and
	// vm-delete.sh leaves its VMs alone. It is environment, not a trigger,
	// so adding it replaced neither the network nor any VM.
	stack := ctx.Project() + "/" + ctx.Stack()

	var netEnv map[string]string
	var netSet scriptSet
	if mac {
		netEnv, netSet = macNetwork(args, stack)
	} else {
		netEnv, netSet = interfaceNetwork(args, vms, stack)
	}
	netCmd, err := run(ctx, name+"-network", netSet, netEnv, pulumi.Array{pulumi.String(args.Network.String())}, parent)
	if err != nil {
		return nil, fmt.Errorf("virtualbox network: %w", err)
	}
	component.HostOnlyNetwork = netCmd.Stdout.ApplyT(networkName).(pulumi.StringOutput)

	isoPath := filepath.Join(args.CacheDir, fmt.Sprintf("talos-%s-%s", args.TalosVersion, infra.ISOAsset(args.HostArch)))
	iso, err := run(ctx, name+"-iso", isoScripts, map[string]string{
		"SRE_ISO_URL":      infra.ISOURL(args.TalosVersion, args.HostArch),
		"SRE_ISO_SUMS_URL": infra.ChecksumsURL(args.TalosVersion),
		"SRE_ISO_PATH":     isoPath,
	}, nil, parent)
	if err != nil {
		return nil, fmt.Errorf("talos iso: %w", err)
	}

	// The VMs of a role form a chain, each waiting for the one before it, so
	// a size change reaches one VM at a time: vm-update.sh returns only once
	// its VM answers again, so of three control planes two etcd members
	// keep quorum while the third is down.
	previous := map[infra.Role]pulumi.Resource{}
	for _, vm := range vms {
		env := pulumi.StringMap{
			"SRE_VM_NAME":      pulumi.String(vm.Name),
			"SRE_VM_ARCH":      pulumi.String(args.HostArch),
			"SRE_VM_CPUS":      pulumi.String(strconv.Itoa(vm.CPUs)),
			"SRE_VM_MEMORY_MB": pulumi.String(strconv.Itoa(vm.MemoryMB)),
			"SRE_VM_DISK_MB":   pulumi.String(strconv.Itoa(vm.DiskMB)),
			"SRE_VM_DISK_KEY":  pulumi.String(diskKeys[vm.Role]),
			"SRE_VM_MAC":       pulumi.String(vm.MAC),
			"SRE_VM_IP":        pulumi.String(vm.IP.String()),
			"SRE_ISO_PATH":     trimmed(iso.Stdout),
			"SRE_STACK":        pulumi.String(stack),
		}
		if mac {
			env["SRE_HOSTONLY_NET"] = component.HostOnlyNetwork
			env["SRE_VM_NAT_MAC"] = pulumi.String(vm.NATMAC)
			env["SRE_VM_NETWORK_CONFIG"] = pulumi.String(patches[vm.Name])
			env["SRE_DHCP_LEASES"] = pulumi.String(MacLeaseFile)
		} else {
			env["SRE_NET_IF"] = component.HostOnlyNetwork
		}
		// Only what the VM cannot change in place replaces it: the address
		// and MAC its DHCP reservation and Talos know it by, and the network
		// it sits on. Its size is environment, which vm-update.sh applies to
		// the same VM and disk: replacing every VM at once would take every
		// etcd member and its data with it.
		triggers := pulumi.Array{pulumi.String(vm.IP.String()), pulumi.String(vm.MAC), netCmd.ID()}
		// The explicit dependency orders the VM after the network's update
		// too, when a plan change adds this VM's reservation.
		deps := []pulumi.Resource{netCmd}
		if p := previous[vm.Role]; p != nil {
			deps = append(deps, p)
		}
		cmd, err := runWith(ctx, name+"-"+vm.Name, vmScripts, env, triggers,
			parent, pulumi.DependsOn(deps))
		if err != nil {
			return nil, fmt.Errorf("virtualbox vm %s: %w", vm.Name, err)
		}
		previous[vm.Role] = cmd
		ip := vm.IP.String()
		component.Platform.Nodes = append(component.Platform.Nodes, infra.Node{
			Name: vm.Name,
			Role: vm.Role,
			// Derived from the command's output so Talos waits for the VM.
			PrivateIP: cmd.Stdout.ApplyT(func(string) string { return ip }).(pulumi.StringOutput),
			PublicIP:  pulumi.String("").ToStringOutput(),
			Machine:   cmd,
		})
	}
	// The first control plane is the endpoint: see docs/architecture.md for
	// why not a shared VIP.
	component.Platform.Endpoint = component.Platform.ControlPlanes()[0].PrivateIP
	component.Platform.InstallDisk = InstallDisk
	component.Platform.LoadBalancerRange = &infra.AddressRange{
		First: nth(args.Network, lbPoolFirst),
		Last:  nth(args.Network, lbPoolLast),
	}
	component.Platform.IngressEndpoint = pulumi.String(component.Platform.LoadBalancerRange.First.String()).ToStringOutput()

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"endpoint":        component.Platform.Endpoint,
		"hostOnlyNetwork": component.HostOnlyNetwork,
	}); err != nil {
		return nil, err
	}
	return component, nil
}

// interfaceNetwork is the network command of a Linux host: a host-only
// interface with a DHCP server that reserves every VM's address. The
// reservations are environment, not triggers: a worker added later updates
// the network in place (network-update.sh) instead of replacing it, and
// every VM with it.
func interfaceNetwork(args *Args, vms []VM, stack string) (map[string]string, scriptSet) {
	return map[string]string{
		"SRE_NET_CIDR":          args.Network.String(),
		"SRE_NET_IP":            nth(args.Network, hostOffset).String(),
		"SRE_NET_MASK":          net4Mask(args.Network.Bits()),
		"SRE_DHCP_SERVER_IP":    nth(args.Network, dhcpServerOffset).String(),
		"SRE_DHCP_LOWER":        nth(args.Network, dhcpPoolFirst).String(),
		"SRE_DHCP_UPPER":        nth(args.Network, dhcpPoolLast).String(),
		"SRE_DHCP_RESERVATIONS": dhcpReservations(vms),
		"SRE_STACK":             stack,
	}, networkScripts
}

// macNetwork is the network command of a macOS host: a host-only network
// whose range starts at the host's address and goes on with the DHCP pool.
func macNetwork(args *Args, stack string) (map[string]string, scriptSet) {
	return map[string]string{
		"SRE_NET_CIDR":  args.Network.String(),
		"SRE_NET_NAME":  HostOnlyNetworkName,
		"SRE_NET_MASK":  net4Mask(args.Network.Bits()),
		"SRE_NET_LOWER": nth(args.Network, macHostOffset).String(),
		"SRE_NET_UPPER": nth(args.Network, dhcpPoolLast).String(),
		"SRE_STACK":     stack,
	}, hostNetScripts
}

// scriptSet names the scripts of one command; an empty update re-runs
// create, an empty remove leaves what create made on destroy.
type scriptSet struct {
	create, update, remove string
}

var (
	networkScripts = scriptSet{create: "network-create.sh", update: "network-update.sh", remove: "network-delete.sh"}
	hostNetScripts = scriptSet{create: "hostnet-create.sh", update: "hostnet-update.sh", remove: "hostnet-delete.sh"}
	isoScripts     = scriptSet{create: "iso-fetch.sh"}
	vmScripts      = scriptSet{create: "vm-create.sh", update: "vm-update.sh", remove: "vm-delete.sh"}
)

// diskKeys name the setting behind each role's disk size, for vm-update.sh
// to name when it refuses to shrink a disk.
var diskKeys = map[infra.Role]string{
	infra.ControlPlane: config.Namespace + ":" + config.KeyControlPlaneDiskGiB,
	infra.Worker:       config.Namespace + ":" + config.KeyWorkerDiskGiB,
}

func run(ctx *pulumi.Context, name string, set scriptSet, env map[string]string, triggers pulumi.Array, opts ...pulumi.ResourceOption) (*local.Command, error) {
	m := pulumi.StringMap{}
	for k, v := range env {
		m[k] = pulumi.String(v)
	}
	return runWith(ctx, name, set, m, triggers, opts...)
}

func runWith(ctx *pulumi.Context, name string, set scriptSet, env pulumi.StringMap, triggers pulumi.Array, opts ...pulumi.ResourceOption) (*local.Command, error) {
	create, err := commandText(set.create)
	if err != nil {
		return nil, err
	}
	args := &local.CommandArgs{
		Interpreter: pulumi.StringArray{pulumi.String("/bin/sh"), pulumi.String("-c")},
		Create:      pulumi.String(create),
		Environment: env,
		Triggers:    triggers,
	}
	if set.update != "" {
		update, err := commandText(set.update)
		if err != nil {
			return nil, err
		}
		args.Update = pulumi.String(update)
	}
	if set.remove != "" {
		remove, err := commandText(set.remove)
		if err != nil {
			return nil, err
		}
		args.Delete = pulumi.String(remove)
		// What the command makes has a fixed name (talos-cp-01, the host-only
		// address): the old one must be gone before its replacement is made.
		opts = append(opts, pulumi.DeleteBeforeReplace(true))
	}
	return local.NewCommand(ctx, name, args, opts...)
}

// commandText is the text the command provider runs for one of the embedded
// scripts: the shared helpers of scripts/lib.sh, then the script. The script
// tests run exactly this text, so what they prove holds for what ships.
func commandText(script string) (string, error) {
	lib, err := scripts.ReadFile("scripts/lib.sh")
	if err != nil {
		return "", err
	}
	body, err := scripts.ReadFile("scripts/" + script)
	if err != nil {
		return "", err
	}
	return string(lib) + "\n" + string(body), nil
}

// dhcpReservations is the DHCP reservation list of the plan as the network
// scripts take it: "mac=ip" words, the MAC lower-case and colon-separated as
// 'VBoxManage list dhcpservers' prints it, in plan order.
func dhcpReservations(vms []VM) string {
	words := make([]string, 0, len(vms))
	for _, vm := range vms {
		words = append(words, colonMAC(vm.MAC)+"="+vm.IP.String())
	}
	return strings.Join(words, " ")
}

// networkName reads the host-only interface or network name from the
// network command's output, whose first line it is; the lines after it are
// the record its delete script puts the host back from.
func networkName(stdout string) string {
	first, _, _ := strings.Cut(strings.TrimLeft(stdout, "\r\n"), "\n")
	return strings.TrimSpace(first)
}

func trimmed(s pulumi.StringOutput) pulumi.StringOutput {
	return s.ApplyT(strings.TrimSpace).(pulumi.StringOutput)
}

func net4Mask(bits int) string {
	m := ^uint32(0) << (32 - bits)
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}
