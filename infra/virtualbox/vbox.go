// Package virtualbox is the local backend: Talos VMs on a VirtualBox
// host-only network, driven through VBoxManage by the Pulumi command
// provider. Each VM gets a fixed MAC and a DHCP reservation, so Talos is
// configured in maintenance mode at an address known before the VM boots.
//
// The network command owns every reservation and saves them all before any
// VM starts: VBoxNetDHCP reads them once, when the first VM on the network
// starts (src/VBox/Main/src-server/DHCPServerImpl.cpp), so a reservation made
// by each VM as it is created would reach the running server too late for
// all but the first.
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
}

// Nodes is the `sre-lab:infra:VirtualBoxNodes` component.
type Nodes struct {
	pulumi.ResourceState

	// Platform is the backend contract.
	Platform infra.Platform
	// HostOnlyInterface is the host-only interface the lab runs on
	// (vboxnetN): one the lab created, or one already at the lab's host
	// address that it adopted and leaves in place on destroy.
	HostOnlyInterface pulumi.StringOutput
}

// VM is one planned machine: everything about it is known before any
// resource exists, which is what lets Talos target it by address.
type VM struct {
	Name     string
	Role     infra.Role
	IP       netip.Addr
	MAC      string
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

func nth(network netip.Prefix, offset int) netip.Addr {
	b := network.Masked().Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n += uint32(offset)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// NewNodes creates the host-only network, fetches the Talos ISO and starts
// one VM per planned node.
func NewNodes(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Nodes, error) {
	vms, err := Plan(*args)
	if err != nil {
		return nil, fmt.Errorf("virtualbox nodes: %w", err)
	}
	component := &Nodes{}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)

	// Every local stack plans the same VM names (talos-cp-01...) and network on
	// the same host, so each records the stack that made it: the network
	// scripts refuse a network another stack holds and network-delete.sh
	// leaves it, vm-create.sh refuses a VM name another stack holds and
	// vm-delete.sh leaves its VMs alone. It is environment, not a trigger,
	// so adding it replaced neither the network nor any VM.
	stack := ctx.Project() + "/" + ctx.Stack()

	netmask := net4Mask(args.Network.Bits())
	// The reservations are environment, not triggers: a worker added later
	// updates the network in place (network-update.sh) instead of replacing
	// it, and every VM with it.
	network, err := run(ctx, name+"-network", networkScripts, map[string]string{
		"SRE_NET_CIDR":          args.Network.String(),
		"SRE_NET_IP":            nth(args.Network, hostOffset).String(),
		"SRE_NET_MASK":          netmask,
		"SRE_DHCP_SERVER_IP":    nth(args.Network, dhcpServerOffset).String(),
		"SRE_DHCP_LOWER":        nth(args.Network, dhcpPoolFirst).String(),
		"SRE_DHCP_UPPER":        nth(args.Network, dhcpPoolLast).String(),
		"SRE_DHCP_RESERVATIONS": dhcpReservations(vms),
		"SRE_STACK":             stack,
	}, pulumi.Array{pulumi.String(args.Network.String())}, parent)
	if err != nil {
		return nil, fmt.Errorf("virtualbox network: %w", err)
	}
	component.HostOnlyInterface = network.Stdout.ApplyT(interfaceName).(pulumi.StringOutput)

	isoPath := filepath.Join(args.CacheDir, fmt.Sprintf("talos-%s-metal-amd64.iso", args.TalosVersion))
	iso, err := run(ctx, name+"-iso", isoScripts, map[string]string{
		"SRE_ISO_URL":      infra.ISOURL(args.TalosVersion),
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
			"SRE_VM_CPUS":      pulumi.String(strconv.Itoa(vm.CPUs)),
			"SRE_VM_MEMORY_MB": pulumi.String(strconv.Itoa(vm.MemoryMB)),
			"SRE_VM_DISK_MB":   pulumi.String(strconv.Itoa(vm.DiskMB)),
			"SRE_VM_DISK_KEY":  pulumi.String(diskKeys[vm.Role]),
			"SRE_VM_MAC":       pulumi.String(vm.MAC),
			"SRE_VM_IP":        pulumi.String(vm.IP.String()),
			"SRE_NET_IF":       component.HostOnlyInterface,
			"SRE_ISO_PATH":     trimmed(iso.Stdout),
			"SRE_STACK":        pulumi.String(stack),
		}
		// Only what the VM cannot change in place replaces it: the address
		// and MAC its DHCP reservation and Talos know it by, and the network
		// it sits on. Its size is environment, which vm-update.sh applies to
		// the same VM and disk: replacing every VM at once would take every
		// etcd member and its data with it.
		triggers := pulumi.Array{pulumi.String(vm.IP.String()), pulumi.String(vm.MAC), network.ID()}
		// The explicit dependency orders the VM after the network's update
		// too, when a plan change adds this VM's reservation.
		deps := []pulumi.Resource{network}
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
		"endpoint":          component.Platform.Endpoint,
		"hostOnlyInterface": component.HostOnlyInterface,
	}); err != nil {
		return nil, err
	}
	return component, nil
}

// scriptSet names the scripts of one command; an empty update re-runs
// create, an empty remove leaves what create made on destroy.
type scriptSet struct {
	create, update, remove string
}

var (
	networkScripts = scriptSet{create: "network-create.sh", update: "network-update.sh", remove: "network-delete.sh"}
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
		var mac strings.Builder
		for i := 0; i < len(vm.MAC); i += 2 {
			if i > 0 {
				mac.WriteByte(':')
			}
			mac.WriteString(strings.ToLower(vm.MAC[i : i+2]))
		}
		words = append(words, mac.String()+"="+vm.IP.String())
	}
	return strings.Join(words, " ")
}

// interfaceName reads the host-only interface name from the network
// command's output, whose first line it is; the lines after it are the
// record network-delete.sh puts the host back from.
func interfaceName(stdout string) string {
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
