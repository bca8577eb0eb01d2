package talos

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/siderolabs/go-pointer"
	"github.com/siderolabs/talos/pkg/machinery/cel"
	"github.com/siderolabs/talos/pkg/machinery/cel/celenv"
	"github.com/siderolabs/talos/pkg/machinery/config/config"
	"github.com/siderolabs/talos/pkg/machinery/config/encoder"
	"github.com/siderolabs/talos/pkg/machinery/config/types/block"
	"github.com/siderolabs/talos/pkg/machinery/config/types/network"
	"github.com/siderolabs/talos/pkg/machinery/config/types/runtime"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	"github.com/siderolabs/talos/pkg/machinery/nethelpers"
	blockres "github.com/siderolabs/talos/pkg/machinery/resources/block"

	sreconfig "github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
)

// LabelPrefix namespaces the node labels sre-lab sets. It is outside the
// kubernetes.io namespaces, which the NodeRestriction admission plugin keeps
// kubelets from setting.
const LabelPrefix = "sre-lab.io/"

// PatchParams is what the role patches depend on.
type PatchParams struct {
	// NetworkCIDR is the node network; kubelet and etcd pick their address
	// from it even on machines with several interfaces (VirtualBox NAT).
	NetworkCIDR string
	// CertSANs are extra names and addresses in the API certificates: the
	// load balancer or endpoint the cluster is reached through.
	CertSANs []string
	// InstallDisk is where Talos installs itself; empty keeps the default.
	InstallDisk string
	// InstallImage is the installer of the pinned Talos version.
	InstallImage string
	// LocalPath gives workers a user volume for local-path-provisioner,
	// on backends without a cloud CSI driver.
	LocalPath LocalPath
	// EtcdBackupNamespace, when set, lets pods there take etcd snapshots
	// through the Talos API, and nothing else.
	EtcdBackupNamespace string
	// LoopbackAddresses are held on lo, so packets a passthrough load
	// balancer forwards with its own address as destination are accepted.
	LoopbackAddresses []string
	// DHCPOnEveryLink configures every physical link by DHCP, including
	// one attached after boot.
	DHCPOnEveryLink bool
}

// EtcdBackupRole is the one Talos API role the snapshot job gets.
const EtcdBackupRole = "os:etcd:backup"

// LocalPath is where local-path-provisioner's volume comes from.
type LocalPath int

// The kinds of LocalPath.
const (
	// NoLocalPath: a cloud CSI driver provides volumes.
	NoLocalPath LocalPath = iota
	// LocalPathPartition carves a partition out of the system disk.
	LocalPathPartition
	// LocalPathDirectory is a directory on EPHEMERAL, for nodes without a
	// disk of their own (Talos in a container).
	LocalPathDirectory
)

// Disk split on workers with LocalPathPartition: EPHEMERAL (/var: images,
// logs, emptyDirs) is capped so the rest of the disk is left for volumes.
var (
	EphemeralMaxSize = block.MustSize("20GiB")
	LocalPathMinSize = block.MustByteSize("5GiB")
)

// ControlPlanePatch is applied to every control plane's generated config.
func ControlPlanePatch(p PatchParams) (string, error) {
	cfg := basePatch(p)
	cfg.ClusterConfig.APIServerConfig = &v1alpha1.APIServerConfig{CertSANs: p.CertSANs}
	// Prometheus scrapes these from the pod network; Talos binds them to
	// localhost by default, which leaves their targets down.
	cfg.ClusterConfig.ControllerManagerConfig = &v1alpha1.ControllerManagerConfig{
		ExtraArgsConfig: map[string]string{"bind-address": "0.0.0.0"},
	}
	cfg.ClusterConfig.SchedulerConfig = &v1alpha1.SchedulerConfig{
		ExtraArgsConfig: map[string]string{"bind-address": "0.0.0.0"},
	}
	cfg.ClusterConfig.EtcdConfig = &v1alpha1.EtcdConfig{
		EtcdExtraArgs:         map[string]string{"listen-metrics-urls": fmt.Sprintf("http://0.0.0.0:%d", infra.EtcdMetricsPort)},
		EtcdAdvertisedSubnets: []string{p.NetworkCIDR},
	}
	if p.EtcdBackupNamespace != "" {
		// Snapshots are taken through a control plane's Talos API.
		cfg.MachineConfig.MachineFeatures.KubernetesTalosAPIAccessConfig = &v1alpha1.KubernetesTalosAPIAccessConfig{
			AccessEnabled:                     pointer.To(true),
			AccessAllowedRoles:                []string{EtcdBackupRole},
			AccessAllowedKubernetesNamespaces: []string{p.EtcdBackupNamespace},
		}
	}
	return encode(cfg)
}

// WorkerPatch is applied to every worker's generated config.
func WorkerPatch(p PatchParams) (string, error) {
	docs := []config.Document{basePatch(p)}
	if p.LocalPath != NoLocalPath {
		volumes, err := localPathVolume(p.LocalPath)
		if err != nil {
			return "", err
		}
		docs = append(docs, volumes...)
	}
	return encode(docs...)
}

// localPathVolume is a user volume, which Talos mounts at
// infra.LocalPathDir and shares with the kubelet. As a partition it takes
// what EPHEMERAL, capped, leaves of the system disk, so the provisioner's
// host paths are real disk, not /var; as a directory it lives on /var.
func localPathVolume(kind LocalPath) ([]config.Document, error) {
	if kind == LocalPathDirectory {
		user := block.NewUserVolumeConfigV1Alpha1()
		user.MetaName = infra.LocalPathVolume
		user.VolumeType = pointer.To(blockres.VolumeTypeDirectory)
		return []config.Document{user}, nil
	}
	systemDisk, err := cel.ParseBooleanExpression("system_disk", celenv.DiskLocator())
	if err != nil {
		return nil, fmt.Errorf("talos local-path volume: %w", err)
	}
	ephemeral := block.NewVolumeConfigV1Alpha1()
	ephemeral.MetaName = constants.EphemeralPartitionLabel
	ephemeral.ProvisioningSpec.ProvisioningMaxSize = EphemeralMaxSize

	user := block.NewUserVolumeConfigV1Alpha1()
	user.MetaName = infra.LocalPathVolume
	user.ProvisioningSpec.DiskSelectorSpec.Match = systemDisk
	user.ProvisioningSpec.ProvisioningMinSize = LocalPathMinSize
	user.ProvisioningSpec.ProvisioningGrow = pointer.To(true)
	return []config.Document{ephemeral, user}, nil
}

// basePatch holds what both roles share: Cilium replaces the default CNI and
// kube-proxy, and reaches the API through KubePrism on every node.
func basePatch(p PatchParams) *v1alpha1.Config {
	install := &v1alpha1.InstallConfig{InstallDisk: p.InstallDisk, InstallImage: p.InstallImage}
	return &v1alpha1.Config{
		ConfigVersion: "v1alpha1",
		MachineConfig: &v1alpha1.MachineConfig{
			MachineCertSANs: p.CertSANs,
			MachineKubelet: &v1alpha1.KubeletConfig{
				KubeletNodeIP: &v1alpha1.KubeletNodeIPConfig{KubeletNodeIPValidSubnets: []string{p.NetworkCIDR}},
			},
			MachineFeatures: &v1alpha1.FeaturesConfig{
				KubePrismSupport: &v1alpha1.KubePrism{ServerEnabled: pointer.To(true), ServerPort: infra.KubePrismPort},
				// Forwarding cluster DNS to the host resolver breaks CoreDNS
				// under Cilium's eBPF masquerading (see kube/cilium).
				HostDNSSupport: &v1alpha1.HostDNSConfig{
					HostDNSEnabled:              pointer.To(true),
					HostDNSForwardKubeDNSToHost: pointer.To(false),
				},
			},
			MachineInstall: install,
			MachineNetwork: networkPatch(p),
		},
		ClusterConfig: &v1alpha1.ClusterConfig{
			ClusterNetwork: &v1alpha1.ClusterNetworkConfig{
				CNI:           &v1alpha1.CNIConfig{CNIName: "none"},
				PodSubnet:     []string{sreconfig.PodCIDR.String()},
				ServiceSubnet: []string{sreconfig.ServiceCIDR.String()},
			},
			ProxyConfig: &v1alpha1.ProxyConfig{Disabled: pointer.To(true)},
		},
	}
}

// networkPatch adds to what the platform configures: addresses on lo
// behind a passthrough load balancer, DHCP where a link appears late.
func networkPatch(p PatchParams) *v1alpha1.NetworkConfig {
	var devices []*v1alpha1.Device
	if len(p.LoopbackAddresses) > 0 {
		devices = append(devices, &v1alpha1.Device{DeviceInterface: "lo", DeviceAddresses: p.LoopbackAddresses})
	}
	if p.DHCPOnEveryLink {
		devices = append(devices, &v1alpha1.Device{
			DeviceSelector: &v1alpha1.NetworkDeviceSelector{NetworkDevicePhysical: pointer.To(true)},
			DeviceDHCP:     pointer.To(true),
		})
	}
	if devices == nil {
		return nil
	}
	return &v1alpha1.NetworkConfig{NetworkInterfaces: devices}
}

// NodePatch names one node, labels it, and ships its service and kernel
// logs to the in-cluster receiver. Talos 1.12 sets hostnames through its
// HostnameConfig document; turning "auto" off lets the name be ours.
func NodePatch(name string, labels map[string]string) (string, error) {
	hostname := network.NewHostnameConfigV1Alpha1()
	hostname.ConfigAuto = pointer.To(nethelpers.AutoHostnameKindOff)
	hostname.ConfigHostname = name
	machine := &v1alpha1.Config{
		ConfigVersion: "v1alpha1",
		MachineConfig: &v1alpha1.MachineConfig{
			MachineNodeLabels: labels,
			// The node's name travels in every service line as an extra
			// tag: the receiver sees the connection come from the node's
			// cilium_host address, not from anything that names the node.
			MachineLogging: &v1alpha1.LoggingConfig{LoggingDestinations: []v1alpha1.LoggingDestination{{
				LoggingEndpoint:  &v1alpha1.Endpoint{URL: LogURL(infra.TalosServiceLogsPort)},
				LoggingFormat:    "json_lines",
				LoggingExtraTags: map[string]string{"node": name},
			}}},
		},
	}
	// Kernel lines can carry no tags: Talos's kmsg sender builds its
	// destinations with none (siderolabs/talos
	// internal/app/machined/pkg/controllers/runtime/kmsg_log.go, logConfig).
	kernel := runtime.NewKmsgLogV1Alpha1()
	kernel.MetaName = "sre-lab-kernel"
	kernel.KmsgLogURL.URL = LogURL(infra.TalosKernelLogsPort)
	return encode(machine, hostname, kernel)
}

// LogURL is where Talos sends one stream of its logs: TCP to the
// receiver's fixed cluster IP.
//
// TCP, because Talos starts sending at boot, long before Cilium or the
// receiver's Service exist, and Cilium's socket load balancer rewrites a
// service address only when a socket connects (cilium/cilium
// bpf/bpf_sock.c, the connect4 hook). Talos's json_lines sender dials
// once and dials again only after a failed write
// (siderolabs/talos internal/app/machined/pkg/runtime/logging/sender_jsonlines.go):
// a UDP socket "connects" at boot without the rewrite, its writes never
// fail, and every datagram follows the default route out of the cluster
// (siderolabs/talos#9736). A TCP dial fails until the Service is served;
// Talos then retries the same line every second on a fresh dial (the
// resend loops in internal/app/machined/pkg/runtime/logging/circular.go
// and internal/app/machined/pkg/controllers/runtime/kmsg_log.go), and the
// first dial after Cilium serves the Service is rewritten to the receiver.
// Sending runs apart from the services writing their logs, so a node
// never waits on logging; lines wait in Talos's memory buffer meanwhile.
func LogURL(port int) *url.URL {
	return &url.URL{Scheme: "tcp", Host: netip.AddrPortFrom(sreconfig.LogReceiverIP, uint16(port)).String(), Path: "/"}
}

// NodeLabels are the labels every node carries.
func NodeLabels(environment string, role infra.Role) map[string]string {
	return map[string]string{
		LabelPrefix + "environment": environment,
		LabelPrefix + "role":        string(role),
	}
}

// encode writes documents as a multi-document strategic merge patch. Some
// machinery fields lack omitempty (machine.type, machine.token,
// cluster.network.dnsDomain...), and an empty value in a patch would
// overwrite the generated one, so empty values are pruned before writing.
func encode(docs ...config.Document) (string, error) {
	parts := make([]string, 0, len(docs))
	for _, doc := range docs {
		b, err := encoder.NewEncoder(doc, encoder.WithComments(encoder.CommentsDisabled), encoder.WithOmitEmpty(true)).Encode()
		if err != nil {
			return "", fmt.Errorf("encode talos patch: %w", err)
		}
		var tree yaml.Node
		if err := yaml.Unmarshal(b, &tree); err != nil {
			return "", fmt.Errorf("encode talos patch: %w", err)
		}
		prune(&tree)
		out, err := yaml.Marshal(&tree)
		if err != nil {
			return "", fmt.Errorf("encode talos patch: %w", err)
		}
		parts = append(parts, string(out))
	}
	return strings.Join(parts, "---\n"), nil
}

// prune drops mapping entries whose value is null, an empty string or an
// empty collection, bottom up; false and 0 are values and stay.
func prune(n *yaml.Node) {
	for _, child := range n.Content {
		prune(child)
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !empty(n.Content[i+1]) {
			kept = append(kept, n.Content[i], n.Content[i+1])
		}
	}
	n.Content = kept
}

func empty(v *yaml.Node) bool {
	switch v.Kind {
	case yaml.ScalarNode:
		return v.Tag == "!!null" || (v.Tag == "!!str" && v.Value == "")
	case yaml.MappingNode, yaml.SequenceNode:
		return len(v.Content) == 0
	}
	return false
}
