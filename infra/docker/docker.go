// Package docker is the container backend: Talos nodes as privileged
// containers on one Docker bridge network, the way `talosctl cluster create
// --provisioner docker` runs them, but declared with the Pulumi Docker
// provider so `pulumi up` and `pulumi destroy` own every container, volume
// and network.
//
// A container is started without a machine config: the Talos "container"
// platform reads its config only from the USERDATA variable, and when that is
// empty Talos enters maintenance mode and waits for the config on the Talos
// API, exactly like the VirtualBox VMs. The config the Talos layer applies is
// persisted under /system/state, a named volume here, so a restarted or
// re-created container comes back as the same node.
//
// It runs on Linux hosts only, which config.CheckHost enforces: the Talos
// layer and every endpoint reach the nodes at their container addresses,
// which Docker Desktop (macOS, Windows) keeps inside its own VM.
package docker

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
)

// Token is the component's type token.
const Token = "sre-lab:infra:DockerNodes"

// DefaultNetwork is the bridge subnet used when Args.Network is unset. It is
// the range talosctl's own Docker clusters use, so a lab made either way
// looks the same; the two cannot run side by side on one engine.
const DefaultNetwork = "10.5.0.0/24"

// ImageRepository is where Sidero publishes the Talos container image.
const ImageRepository = "ghcr.io/siderolabs/talos"

// Image is the Talos container image of a version, the one talosctl's
// Docker clusters run. Its tag is the only place the node's Talos version is
// set: there is no installer and no upgrade in a container.
func Image(talosVersion string) string {
	return ImageRepository + ":" + talosVersion
}

// Offsets of well-known addresses inside the bridge network, the same layout
// as the VirtualBox host-only network so docs and muscle memory carry over.
const (
	gatewayOffset      = 1
	controlPlaneOffset = 10
	workerOffset       = 20
)

// Published ports are bound to loopback only: the lab's APIs must not be
// reachable from the LAN the laptop sits on, and on Docker Desktop (macOS,
// Windows) loopback is the only way in because container addresses are not
// routable from the host.
const publishAddress = "127.0.0.1"

// stopGraceSeconds is how long Docker waits after SIGTERM before killing a
// node. machined answers SIGTERM with its shutdown sequence (pods, kubelet,
// etcd, containerd, in order), which needs more than Docker's default 10
// seconds; talosctl waits the same 30.
const stopGraceSeconds = 30

// restartPolicy brings nodes back after a Docker engine or laptop restart,
// and after a Talos reboot, which in a container is the init process exiting.
// "unless-stopped" still lets a user `docker stop` a node to test failure.
const restartPolicy = "unless-stopped"

// Args shapes the container lab.
type Args struct {
	// ControlPlane and Workers are the pools. Size is "<n>cpu-<m>gb" and
	// becomes the container's CPU and memory limits. DiskGiB is ignored:
	// a container's state lives in Docker volumes, which grow on the
	// engine's disk and cannot be capped by the local volume driver.
	ControlPlane config.NodePool
	Workers      config.NodePool
	// Network is the bridge subnet, IPv4 and a /24 or larger; the zero
	// value means DefaultNetwork.
	Network netip.Prefix
	// TalosVersion selects the image: ghcr.io/siderolabs/talos:<version>.
	TalosVersion string
}

// Nodes is the `sre-lab:infra:DockerNodes` component.
type Nodes struct {
	pulumi.ResourceState

	// Platform is the backend contract.
	Platform infra.Platform
}

// node is one planned container: everything about it is known before any
// resource exists, which is what lets Talos target it by address.
type node struct {
	Name     string
	Role     infra.Role
	IP       netip.Addr
	CPUs     int
	MemoryMB int
}

// volume is a directory Talos expects to outlive the container. Talos in a
// container mounts nothing itself, so each of these must be a volume or the
// node would lose its state, its etcd data or its kubelet files on restart.
type volume struct {
	suffix, path string
}

// volumes are the paths talosctl gives volumes: the STATE and EPHEMERAL
// directories, and the overlay paths Talos 1.12 writes to at runtime under a
// read-only root (constants.Overlays in Talos machinery). Later Talos
// releases shrink that list to /opt; a volume Talos no longer writes to is
// merely empty.
var volumes = []volume{
	{"state", "/system/state"},
	{"var", "/var"},
	{"etc-cni", "/etc/cni"},
	{"etc-kubernetes", "/etc/kubernetes"},
	{"usr-libexec-kubernetes", "/usr/libexec/kubernetes"},
	{"opt", "/opt"},
}

// tmpfsPaths are scratch directories machined expects to start empty on
// every boot, as on a real machine where they are RAM-backed.
var tmpfsPaths = []string{"/run", "/system", "/tmp"}

// imageTag is what Docker accepts after the colon of an image reference.
var imageTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// withDefaults fills the values an empty Args may leave out.
func withDefaults(args Args) Args {
	if !args.Network.IsValid() {
		args.Network = netip.MustParsePrefix(DefaultNetwork)
	}
	return args
}

// plan validates args and lays out the containers: names, addresses and
// limits. It is pure, so every refusal happens before anything is
// registered.
func plan(args Args) ([]node, error) {
	if !imageTag.MatchString(args.TalosVersion) {
		return nil, fmt.Errorf("talos version %q is not a container image tag such as v1.12.4", args.TalosVersion)
	}
	if err := checkNetwork(args.Network); err != nil {
		return nil, err
	}
	var nodes []node
	for _, pool := range []struct {
		role     infra.Role
		pool     config.NodePool
		offset   int
		min, max int
		why      string
	}{
		// Control planes take .10-.18 and workers .20-.49: the same bounds
		// the stack config enforces for local backends, so one layout fits
		// every /24.
		{infra.ControlPlane, args.ControlPlane, controlPlaneOffset, 1, config.MaxLocalControlPlanes, "control planes live at .10 upwards"},
		// The ingress endpoint is the first worker, so there must be one.
		{infra.Worker, args.Workers, workerOffset, 1, config.MaxLocalWorkers, "workers live at .20 upwards and the first one receives ingress traffic"},
	} {
		if n := pool.pool.Count; n < pool.min || n > pool.max {
			return nil, fmt.Errorf("%s count %d: must be from %d to %d (%s)", pool.role, n, pool.min, pool.max, pool.why)
		}
		shape, err := config.ParseLocalSize(pool.pool.Size)
		if err != nil {
			return nil, fmt.Errorf("%s size %q: %w", pool.role, pool.pool.Size, err)
		}
		for i := 1; i <= pool.pool.Count; i++ {
			nodes = append(nodes, node{
				Name:     infra.LocalNodeName(pool.role, i),
				Role:     pool.role,
				IP:       nth(args.Network, pool.offset+i-1),
				CPUs:     shape.VCPU,
				MemoryMB: int(shape.MemGiB * 1024),
			})
		}
	}
	return nodes, nil
}

// checkNetwork refuses subnets the fixed address layout cannot live in.
func checkNetwork(network netip.Prefix) error {
	switch {
	case !network.IsValid():
		return fmt.Errorf("network: no subnet given")
	case !network.Addr().Is4():
		// Talos and Docker both handle IPv6, but the fixed .10/.20 layout
		// and the loopback port publishing are IPv4.
		return fmt.Errorf("network %s: must be an IPv4 subnet such as %s", network, DefaultNetwork)
	case network.Bits() > 24:
		return fmt.Errorf("network %s: must be a /24 or larger, as nodes take .10 to .49 and the gateway .1", network)
	}
	return nil
}

// nth is the address offset hosts into network.
func nth(network netip.Prefix, offset int) netip.Addr {
	b := network.Masked().Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n += uint32(offset)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// NewNodes creates the bridge network, pulls the Talos image and starts one
// container per planned node, with its volumes.
func NewNodes(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Nodes, error) {
	if args == nil {
		return nil, fmt.Errorf("docker nodes: no args")
	}
	a := withDefaults(*args)
	nodes, err := plan(a)
	if err != nil {
		return nil, fmt.Errorf("docker nodes: %w", err)
	}
	component := &Nodes{}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)
	// Networks, containers and volumes carry fixed names in the engine
	// (talos-cp-01, sre-lab-local-network): a replacement can only be made
	// once the old one is gone.
	fixedName := pulumi.DeleteBeforeReplace(true)

	network, err := docker.NewNetwork(ctx, name+"-network", &docker.NetworkArgs{
		Name:   pulumi.String(infra.NetworkName("local", "network")),
		Driver: pulumi.String("bridge"),
		IpamConfigs: docker.NetworkIpamConfigArray{docker.NetworkIpamConfigArgs{
			Subnet:  pulumi.String(a.Network.Masked().String()),
			Gateway: pulumi.String(nth(a.Network, gatewayOffset).String()),
		}},
		Labels: docker.NetworkLabelArray{
			docker.NetworkLabelArgs{Label: pulumi.String("project"), Value: pulumi.String("sre-lab")},
		},
	}, parent, fixedName)
	if err != nil {
		return nil, fmt.Errorf("docker network: %w", err)
	}

	// The image stays on the engine after destroy, so tearing the lab down
	// and up again does not pull it again.
	image, err := docker.NewRemoteImage(ctx, name+"-image", &docker.RemoteImageArgs{
		Name:        pulumi.String(Image(a.TalosVersion)),
		KeepLocally: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("talos image: %w", err)
	}

	firstCP, firstWorker := true, true
	for _, n := range nodes {
		var ports docker.ContainerPortArray
		// Only the first control plane and the first worker publish ports:
		// talosctl publishes the APIs of its first control plane the same
		// way, and two containers cannot bind one host port.
		switch {
		case n.Role == infra.ControlPlane && firstCP:
			ports = published(infra.KubeAPIPort, infra.TalosAPIPort)
			firstCP = false
		case n.Role == infra.Worker && firstWorker:
			ports = published(infra.IngressHTTPNodePort, infra.IngressHTTPSNodePort)
			firstWorker = false
		}
		ctr, err := newContainer(ctx, name, n, network, image, ports, parent, fixedName)
		if err != nil {
			return nil, fmt.Errorf("docker node %s: %w", n.Name, err)
		}
		ip := n.IP.String()
		component.Platform.Nodes = append(component.Platform.Nodes, infra.Node{
			Name: n.Name,
			Role: n.Role,
			// Derived from the container so Talos waits until it runs.
			PrivateIP: ctr.ID().ApplyT(func(pulumi.ID) string { return ip }).(pulumi.StringOutput),
			PublicIP:  pulumi.String("").ToStringOutput(),
			Machine:   ctr,
		})
	}

	// The endpoint is the first control plane's container address, not the
	// 127.0.0.1 it is also published on. The endpoint becomes
	// cluster.controlPlane.endpoint in every node's machine config, and
	// inside a worker container 127.0.0.1:6443 is the worker itself, where
	// no API server runs; talosctl's Docker clusters use the first control
	// plane's address in the cluster for the same reason. On a Linux host
	// the address is routable from the host too. On Docker Desktop it is
	// not: there, use the published 127.0.0.1:6443 (the API server's
	// certificate always includes 127.0.0.1) by pointing the kubeconfig's
	// server at it. The Talos API published on 127.0.0.1:50000 is checked
	// against machine.certSANs instead, which hold only the endpoint, so
	// talosctl through it needs 127.0.0.1 added there.
	component.Platform.Endpoint = component.Platform.ControlPlanes()[0].PrivateIP
	// Ingress arrives on the first worker's node ports, as NodePort services
	// (LoadBalancerRange is nil), and is published on 127.0.0.1:30080 and
	// :30443 for hosts that cannot route to the container.
	component.Platform.IngressEndpoint = component.Platform.Workers()[0].PrivateIP
	// No LB-IPAM pool: Cilium's L2 announcements answer ARP on the bridge,
	// but nothing guarantees the host routes to a bridge address that no
	// container owns (Docker Desktop never does), so services are reached
	// through node ports instead.
	component.Platform.LoadBalancerRange = nil
	// Containers run Talos from the image; there is nothing to install.
	component.Platform.InstallDisk = ""

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"endpoint":        component.Platform.Endpoint,
		"ingressEndpoint": component.Platform.IngressEndpoint,
		"network":         network.Name,
	}); err != nil {
		return nil, err
	}
	return component, nil
}

// newContainer creates a node's volumes and its container, with the settings
// the Talos container platform needs.
func newContainer(ctx *pulumi.Context, name string, n node, network *docker.Network, image *docker.RemoteImage, ports docker.ContainerPortArray, opts ...pulumi.ResourceOption) (*docker.Container, error) {
	labels := map[string]string{"project": "sre-lab", "role": string(n.Role), "node": n.Name}

	var mounts docker.ContainerMountArray
	for _, path := range tmpfsPaths {
		mounts = append(mounts, docker.ContainerMountArgs{Type: pulumi.String("tmpfs"), Target: pulumi.String(path)})
	}
	for _, v := range volumes {
		var volLabels docker.VolumeLabelArray
		for _, k := range sortedKeys(labels) {
			volLabels = append(volLabels, docker.VolumeLabelArgs{Label: pulumi.String(k), Value: pulumi.String(labels[k])})
		}
		// A volume is its own resource, not created implicitly by the
		// container, so `pulumi destroy` removes it: a stale STATE volume
		// would boot the next lab with the old cluster's identity.
		vol, err := docker.NewVolume(ctx, name+"-"+n.Name+"-"+v.suffix, &docker.VolumeArgs{
			Name:   pulumi.String(n.Name + "-" + v.suffix),
			Labels: volLabels,
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.path, err)
		}
		mounts = append(mounts, docker.ContainerMountArgs{
			Type:   pulumi.String("volume"),
			Source: vol.Name,
			Target: pulumi.String(v.path),
		})
	}

	var ctrLabels docker.ContainerLabelArray
	for _, k := range sortedKeys(labels) {
		ctrLabels = append(ctrLabels, docker.ContainerLabelArgs{Label: pulumi.String(k), Value: pulumi.String(labels[k])})
	}

	return docker.NewContainer(ctx, name+"-"+n.Name, &docker.ContainerArgs{
		Name:     pulumi.String(n.Name),
		Hostname: pulumi.String(n.Name),
		// The image ID, not its name, so a new pull of the pinned tag
		// replaces the container and the node runs what was pulled.
		Image: image.ImageId,
		Envs: pulumi.StringArray{
			// Talos picks its platform from this variable; without it
			// machined assumes metal and looks for disks.
			pulumi.String("PLATFORM=container"),
			// Shown as the instance type in Talos platform metadata, in the
			// form talosctl uses.
			pulumi.String(fmt.Sprintf("TALOSSKU=%dCPU-%dRAM", n.CPUs, n.MemoryMB)),
			// No USERDATA: the node waits in maintenance mode and the Talos
			// layer applies the config over the API, so the config and its
			// secrets never sit in the container's environment.
		},
		// Talos is the node's init: it mounts filesystems, runs containerd
		// with nested containers, and programs cgroups, routes and
		// netfilter for Kubernetes and Cilium, which takes every capability
		// and the devices only a privileged container gets.
		Privileged: pulumi.Bool(true),
		// containerd inside Talos makes syscalls Docker's default seccomp
		// profile denies.
		SecurityOpts: pulumi.StringArray{pulumi.String("seccomp=unconfined")},
		// Talos's root filesystem is read-only on every platform; writable
		// paths are exactly the tmpfs and volume mounts.
		ReadOnly: pulumi.Bool(true),
		Mounts:   mounts,
		// IPv6 stays as Docker leaves it (off on an IPv4 network). talosctl
		// turns it on for SideroLink's IPv6 tunnel, which the lab does not
		// use, and doing so fails on hosts with IPv6 disabled.
		// Talos's /sbin/init is meant to be the container's init: it reaps
		// its services, turns SIGTERM into its shutdown sequence, and a
		// Talos reboot ends the PID namespace it leads so the restart policy
		// starts it again. An engine-wide "init": true would put docker-init
		// in front of it.
		Init:                pulumi.Bool(false),
		Restart:             pulumi.String(restartPolicy),
		StopTimeout:         pulumi.Int(stopGraceSeconds),
		DestroyGraceSeconds: pulumi.Int(stopGraceSeconds),
		Cpus:                pulumi.String(strconv.Itoa(n.CPUs)),
		Memory:              pulumi.Int(n.MemoryMB),
		NetworksAdvanced: docker.ContainerNetworksAdvancedArray{docker.ContainerNetworksAdvancedArgs{
			Name:        network.Name,
			Ipv4Address: pulumi.String(n.IP.String()),
		}},
		Ports:  ports,
		Labels: ctrLabels,
	}, opts...)
}

// published binds container ports to the same port on the host's loopback.
// The same number on both sides keeps the docs' URLs (127.0.0.1:6443,
// 127.0.0.1:30080) true.
func published(ports ...int) docker.ContainerPortArray {
	var out docker.ContainerPortArray
	for _, p := range ports {
		out = append(out, docker.ContainerPortArgs{
			Internal: pulumi.Int(p),
			External: pulumi.Int(p),
			Ip:       pulumi.String(publishAddress),
			Protocol: pulumi.String("tcp"),
		})
	}
	return out
}

// sortedKeys keeps label order stable, so two runs register identical
// inputs.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
