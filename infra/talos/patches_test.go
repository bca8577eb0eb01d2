package talos

import (
	"strings"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configpatcher"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/config/validation"
	blockres "github.com/siderolabs/talos/pkg/machinery/resources/block"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sreconfig "github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
)

// mode is the runtime a config is validated for: metal (the VirtualBox ISO
// installs to disk) or a cloud image that is already installed.
type mode struct {
	name    string
	install bool
}

func (m mode) String() string        { return m.name }
func (m mode) RequiresInstall() bool { return m.install }
func (m mode) InContainer() bool     { return false }

var (
	metal = mode{"metal", true}
	cloud = mode{"cloud", false}
)

var localParams = PatchParams{
	NetworkCIDR:  "192.168.56.0/24",
	CertSANs:     []string{"192.168.56.10"},
	InstallDisk:  "/dev/sda",
	InstallImage: infra.InstallerImage(sreconfig.DefaultTalosVersion),
}

var awsParams = PatchParams{
	NetworkCIDR:  "10.0.0.0/16",
	CertSANs:     []string{"sre-lab-dev-api-0123456789.elb.eu-central-1.amazonaws.com"},
	InstallImage: infra.InstallerImage(sreconfig.DefaultTalosVersion),
}

// generated is what the Talos provider starts from: machinery's own config
// for the pinned version, before the project's patches.
func generated(t *testing.T, role machine.Type) config.Provider {
	t.Helper()
	contract, err := config.ParseContractFromVersion(sreconfig.DefaultTalosVersion)
	require.NoError(t, err)
	in, err := generate.NewInput("sre-lab-test", "https://192.168.56.10:6443", sreconfig.DefaultKubernetesVersion,
		generate.WithVersionContract(contract))
	require.NoError(t, err)
	cfg, err := in.Config(role)
	require.NoError(t, err)
	return cfg
}

// patched applies patches as the provider does and validates the result
// with machinery's validator in strict mode, so warnings fail too.
func patched(t *testing.T, role machine.Type, m mode, patches ...string) (config.Provider, error) {
	t.Helper()
	loaded, err := configpatcher.LoadPatches(patches)
	if err != nil {
		return nil, err
	}
	out, err := configpatcher.Apply(configpatcher.WithConfig(generated(t, role)), loaded)
	if err != nil {
		return nil, err
	}
	cfg, err := out.Config()
	if err != nil {
		return nil, err
	}
	warnings, err := cfg.Validate(m, validation.WithStrict())
	if err != nil {
		return nil, err
	}
	if len(warnings) > 0 {
		return nil, &warningsError{warnings}
	}
	return cfg, nil
}

type warningsError struct{ warnings []string }

func (w *warningsError) Error() string { return strings.Join(w.warnings, "; ") }

func TestPatchesPassTalosValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		role   machine.Type
		sre    infra.Role
		mode   mode
		params PatchParams
		patch  func(PatchParams) (string, error)
	}{
		{"local control plane", machine.TypeControlPlane, infra.ControlPlane, metal, localParams, ControlPlanePatch},
		{"local worker", machine.TypeWorker, infra.Worker, metal, localParams, WorkerPatch},
		{"aws control plane", machine.TypeControlPlane, infra.ControlPlane, cloud, awsParams, ControlPlanePatch},
		{"aws worker", machine.TypeWorker, infra.Worker, cloud, awsParams, WorkerPatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rolePatch, err := tc.patch(tc.params)
			require.NoError(t, err)
			nodePatch, err := NodePatch("talos-node-01", NodeLabels("local", tc.sre))
			require.NoError(t, err)
			cfg, err := patched(t, tc.role, tc.mode, rolePatch, nodePatch)
			require.NoError(t, err)

			c := cfg.Cluster()
			assert.Equal(t, "none", c.Network().CNI().Name(), "Cilium is installed instead")
			assert.False(t, c.Proxy().Enabled(), "Cilium replaces kube-proxy")
			assert.Equal(t, []string{sreconfig.PodCIDR.String()}, c.Network().PodCIDRs())
			assert.Equal(t, []string{sreconfig.ServiceCIDR.String()}, c.Network().ServiceCIDRs())
			m := cfg.Machine()
			assert.True(t, m.Features().KubePrism().Enabled())
			assert.Equal(t, infra.KubePrismPort, m.Features().KubePrism().Port())
			assert.Equal(t, []string{tc.params.NetworkCIDR}, m.Kubelet().NodeIP().ValidSubnets())
			assert.Equal(t, tc.params.InstallImage, m.Install().Image())
			assert.Subset(t, m.Security().CertSANs(), tc.params.CertSANs)
			for k, v := range NodeLabels("local", tc.sre) {
				assert.Equal(t, v, m.NodeLabels()[k], k)
			}
			assert.Equal(t, "talos-node-01", cfg.NetworkHostnameConfig().Hostname())
			// Service logs and kernel messages reach the receiver's fixed
			// cluster IP, each on its own port, service logs tagged with
			// the node. Over TCP: a UDP socket Talos connects at boot,
			// before Cilium serves the address, is never rewritten to the
			// receiver (see LogURL).
			dests := m.Logging().Destinations()
			require.Len(t, dests, 1)
			assert.Equal(t, "tcp://10.96.0.20:6050/", dests[0].Endpoint().String())
			assert.Equal(t, "json_lines", dests[0].Format())
			assert.Equal(t, map[string]string{"node": "talos-node-01"}, dests[0].ExtraTags())
			kernel := cfg.Runtime().KmsgLogURLs()
			require.Len(t, kernel, 1)
			assert.Equal(t, "tcp://10.96.0.20:6051/", kernel[0].String())
			// Generated secrets survive the patch: an empty value in a patch
			// would have replaced them.
			assert.NotEmpty(t, m.Security().Token())
			assert.Equal(t, "cluster.local", c.Network().DNSDomain())
			assert.True(t, m.Features().HostDNS().Enabled())
			assert.False(t, m.Features().HostDNS().ForwardKubeDNSToHost(), "CoreDNS breaks under Cilium's eBPF masquerading otherwise")

			if tc.role == machine.TypeControlPlane {
				assert.Equal(t, "0.0.0.0", c.ControllerManager().ExtraArgs()["bind-address"])
				assert.Equal(t, "0.0.0.0", c.Scheduler().ExtraArgs()["bind-address"])
				assert.Equal(t, "http://0.0.0.0:2381", c.Etcd().ExtraArgs()["listen-metrics-urls"])
				assert.Equal(t, []string{tc.params.NetworkCIDR}, c.Etcd().AdvertisedSubnets())
				assert.Subset(t, c.CertSANs(), tc.params.CertSANs)
			}
		})
	}
}

func TestLocalPathVolumeOnWorkers(t *testing.T) {
	params := localParams
	params.LocalPath = LocalPathPartition
	patch, err := WorkerPatch(params)
	require.NoError(t, err)
	cfg, err := patched(t, machine.TypeWorker, metal, patch)
	require.NoError(t, err)

	var user, ephemeral bool
	for _, v := range cfg.UserVolumeConfigs() {
		if v.Name() == infra.LocalPathVolume {
			user = true
			assert.Equal(t, "system_disk", v.Provisioning().DiskSelector().ValueOrZero().String())
			assert.Equal(t, LocalPathMinSize.Value(), v.Provisioning().MinSize().ValueOrZero())
			assert.True(t, v.Provisioning().Grow().ValueOrZero(), "the volume takes what EPHEMERAL leaves")
		}
	}
	if v, ok := cfg.Volumes().ByName("EPHEMERAL"); ok {
		ephemeral = true
		assert.Equal(t, EphemeralMaxSize.Value(), v.Provisioning().MaxSize().ValueOrZero())
	}
	assert.True(t, user, "user volume %s", infra.LocalPathVolume)
	assert.True(t, ephemeral, "EPHEMERAL is capped")

	without, err := WorkerPatch(localParams)
	require.NoError(t, err)
	assert.NotContains(t, without, "UserVolumeConfig", "only backends without a CSI driver get the volume")
}

func TestBrokenPatchFailsValidation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		patch string
	}{
		{"unknown field", "machine:\n  kubelett: {}\n"},
		{"invalid CNI", "cluster:\n  network:\n    cni:\n      name: weave\n"},
		{"hostname and auto together", "apiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\nhostname: talos-cp-01\n"},
		{"bad valid subnet", "machine:\n  kubelet:\n    nodeIP:\n      validSubnets: [not-a-cidr]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := patched(t, machine.TypeControlPlane, metal, tc.patch)
			assert.Error(t, err)
		})
	}
}

func TestPatchesCarryNoEmptyValues(t *testing.T) {
	p, err := WorkerPatch(awsParams)
	require.NoError(t, err)
	for _, forbidden := range []string{`: ""`, ": null", ": []", ": {}", "token:", "type:", "dnsDomain"} {
		assert.NotContains(t, p, forbidden)
	}
	assert.NotContains(t, p, "disk:", "cloud images are installed already; no install disk")
}

// TestEtcdBackupAccess: with backups on, pods in one namespace may take
// etcd snapshots through a control plane's Talos API, with that role only;
// without, Kubernetes gets no Talos API access at all.
func TestEtcdBackupAccess(t *testing.T) {
	for _, ns := range []string{"", "kube-system"} {
		t.Run("namespace="+ns, func(t *testing.T) {
			params := localParams
			params.EtcdBackupNamespace = ns
			patch, err := ControlPlanePatch(params)
			require.NoError(t, err)
			cfg, err := patched(t, machine.TypeControlPlane, metal, patch)
			require.NoError(t, err)
			access := cfg.Machine().Features().KubernetesTalosAPIAccess()
			assert.Equal(t, ns != "", access.Enabled())
			if ns == "" {
				assert.Empty(t, access.AllowedRoles())
				return
			}
			assert.Equal(t, []string{EtcdBackupRole}, access.AllowedRoles())
			assert.Equal(t, []string{ns}, access.AllowedKubernetesNamespaces())
		})
	}
}

// TestLocalPathDirectoryInContainers: a node without a disk (Talos in a
// container) gets the volume as a directory, and EPHEMERAL is left alone.
func TestLocalPathDirectoryInContainers(t *testing.T) {
	params := localParams
	params.LocalPath = LocalPathDirectory
	patch, err := WorkerPatch(params)
	require.NoError(t, err)
	cfg, err := patched(t, machine.TypeWorker, metal, patch)
	require.NoError(t, err)
	var found bool
	for _, v := range cfg.UserVolumeConfigs() {
		if v.Name() == infra.LocalPathVolume {
			found = true
			assert.Equal(t, blockres.VolumeTypeDirectory, v.Type().ValueOrZero())
		}
	}
	assert.True(t, found, "user volume %s", infra.LocalPathVolume)
	_, capped := cfg.Volumes().ByName("EPHEMERAL")
	assert.False(t, capped, "no disk to split")
}

// TestLoopbackAddresses: behind a passthrough load balancer the control
// planes hold its address on lo, and the kubelet and etcd still pick the
// node network's address.
func TestLoopbackAddresses(t *testing.T) {
	params := awsParams
	params.LoopbackAddresses = []string{"203.0.113.10/32"}
	patch, err := ControlPlanePatch(params)
	require.NoError(t, err)
	cfg, err := patched(t, machine.TypeControlPlane, cloud, patch)
	require.NoError(t, err)
	var lo []string
	for _, d := range cfg.Machine().Network().Devices() {
		if d.Interface() == "lo" {
			lo = d.Addresses()
		}
	}
	assert.Equal(t, []string{"203.0.113.10/32"}, lo)
	assert.Equal(t, []string{params.NetworkCIDR}, cfg.Machine().Kubelet().NodeIP().ValidSubnets())

	without, err := ControlPlanePatch(awsParams)
	require.NoError(t, err)
	assert.NotContains(t, without, "interfaces", "nothing on lo without a passthrough load balancer")
}

// TestDHCPOnEveryLink: where the private network card is attached after
// boot (Hetzner), every physical link is configured by DHCP, on both roles.
func TestDHCPOnEveryLink(t *testing.T) {
	for _, tc := range []struct {
		role  machine.Type
		patch func(PatchParams) (string, error)
	}{{machine.TypeControlPlane, ControlPlanePatch}, {machine.TypeWorker, WorkerPatch}} {
		params := awsParams
		params.DHCPOnEveryLink = true
		patch, err := tc.patch(params)
		require.NoError(t, err)
		cfg, err := patched(t, tc.role, cloud, patch)
		require.NoError(t, err)
		var found bool
		for _, d := range cfg.Machine().Network().Devices() {
			if s := d.Selector(); s != nil && s.Physical() != nil && *s.Physical() {
				found = true
				assert.True(t, d.DHCP(), tc.role)
			}
		}
		assert.True(t, found, "%s: a physical-link selector", tc.role)
	}
	without, err := WorkerPatch(awsParams)
	require.NoError(t, err)
	assert.NotContains(t, without, "deviceSelector")
}
