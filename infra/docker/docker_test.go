package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
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

// Type tokens of the Docker provider's resources.
const (
	networkToken   = "docker:index/network:Network"
	imageToken     = "docker:index/remoteImage:RemoteImage"
	containerToken = "docker:index/container:Container"
	volumeToken    = "docker:index/volume:Volume"
)

// labArgs is the 2024 topology on the default bridge: three control planes
// and two workers of 2 vCPU / 4 GB.
func labArgs() Args {
	return Args{
		ControlPlane: config.NodePool{Count: 3, Size: "2cpu-4gb", DiskGiB: 40},
		Workers:      config.NodePool{Count: 2, Size: "2cpu-4gb", DiskGiB: 50},
		Network:      netip.MustParsePrefix(DefaultNetwork),
		TalosVersion: "v1.12.4",
	}
}

// withCounts is labArgs with other pool sizes.
func withCounts(cps, workers int) Args {
	args := labArgs()
	args.ControlPlane.Count, args.Workers.Count = cps, workers
	return args
}

// imageID is what the mocked engine reports for a pulled image: a digest of
// the reference, so two tags never share an ID.
func imageID(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// deploy runs NewNodes under mocks and resolves every output the layers
// above consume.
func deploy(name string, args *Args) (*infratest.Outcome, error) {
	m := &pulumitest.Mocks{Outputs: func(r pulumi.MockResourceArgs) map[string]any {
		if r.TypeToken == imageToken {
			return map[string]any{"imageId": imageID(r.Inputs["name"].StringValue())}
		}
		return nil
	}}
	return infratest.RunBackend(m, nil, func(ctx *pulumi.Context) (infratest.Component, error) {
		nodes, err := NewNodes(ctx, name, args)
		if err != nil {
			return infratest.Component{}, err
		}
		return infratest.Component{Resource: nodes, Platform: nodes.Platform}, nil
	})
}

// mustDeploy is deploy for runs that must succeed.
func mustDeploy(t *testing.T, args Args) *infratest.Outcome {
	t.Helper()
	o, err := deploy("lab", &args)
	require.NoError(t, err)
	return o
}

// container is the registration of one node's container.
func container(t *testing.T, m *infratest.Mocks, node string) pulumitest.Resource {
	t.Helper()
	return m.Named(t, containerToken, "lab-"+node)
}

// input is a resolved input of r at path, failing when it is missing.
func input(t *testing.T, r pulumitest.Resource, path string) any {
	t.Helper()
	v, ok := r.At(path)
	require.True(t, ok, "%s %s has no input %s", r.Type, r.Name, path)
	return v
}

// nodeNames are the containers of a cps+workers lab, in platform order.
func nodeNames(cps, workers int) []string {
	var out []string
	for i := 1; i <= cps; i++ {
		out = append(out, infra.LocalNodeName(infra.ControlPlane, i))
	}
	for i := 1; i <= workers; i++ {
		out = append(out, infra.LocalNodeName(infra.Worker, i))
	}
	return out
}

// roleOf reads the role back from a local node name.
func roleOf(name string) infra.Role {
	if strings.HasPrefix(name, "talos-cp-") {
		return infra.ControlPlane
	}
	return infra.Worker
}

func TestWithDefaults(t *testing.T) {
	for _, c := range []struct {
		name    string
		network netip.Prefix
		want    string
	}{
		{"unset takes the default bridge", netip.Prefix{}, DefaultNetwork},
		{"set is kept", netip.MustParsePrefix("172.30.0.0/16"), "172.30.0.0/16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := labArgs()
			args.Network = c.network
			got := withDefaults(args)
			assert.Equal(t, c.want, got.Network.String())
			got.Network = args.Network
			assert.Equal(t, args, got, "nothing else changes")
		})
	}
}

func TestPlanLayout(t *testing.T) {
	for _, c := range []struct {
		name    string
		args    Args
		network string
		want    []node
	}{
		{"3+2 on the default bridge", withCounts(3, 2), DefaultNetwork, []node{
			{"talos-cp-01", infra.ControlPlane, netip.MustParseAddr("10.5.0.10"), 2, 4096},
			{"talos-cp-02", infra.ControlPlane, netip.MustParseAddr("10.5.0.11"), 2, 4096},
			{"talos-cp-03", infra.ControlPlane, netip.MustParseAddr("10.5.0.12"), 2, 4096},
			{"talos-worker-01", infra.Worker, netip.MustParseAddr("10.5.0.20"), 2, 4096},
			{"talos-worker-02", infra.Worker, netip.MustParseAddr("10.5.0.21"), 2, 4096},
		}},
		{"1+1 on a /16", withCounts(1, 1), "172.30.0.0/16", []node{
			{"talos-cp-01", infra.ControlPlane, netip.MustParseAddr("172.30.0.10"), 2, 4096},
			{"talos-worker-01", infra.Worker, netip.MustParseAddr("172.30.0.20"), 2, 4096},
		}},
		{"largest pools", withCounts(9, 30), DefaultNetwork, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			args.Network = netip.MustParsePrefix(c.network)
			got, err := plan(args)
			require.NoError(t, err)
			if c.want == nil {
				require.Len(t, got, 39)
				assert.Equal(t, "10.5.0.18", got[8].IP.String(), "the ninth control plane")
				assert.Equal(t, "10.5.0.49", got[38].IP.String(), "the thirtieth worker")
				return
			}
			assert.Equal(t, c.want, got)
		})
	}
}

func TestResourceCountsByType(t *testing.T) {
	for _, c := range []struct{ cps, workers int }{{3, 2}, {1, 1}} {
		t.Run(fmt.Sprintf("%d+%d", c.cps, c.workers), func(t *testing.T) {
			o := mustDeploy(t, withCounts(c.cps, c.workers))
			m := o.Mocks
			nodes := c.cps + c.workers
			for token, want := range map[string]int{
				Token:          1,
				networkToken:   1,
				imageToken:     1,
				containerToken: nodes,
				volumeToken:    nodes * len(volumes),
			} {
				assert.Len(t, m.ByType(token), want, token)
			}
			assert.Len(t, m.Resources(), 3+nodes*(1+len(volumes)), "nothing else is registered")
			for _, r := range m.Resources() {
				if r.Type != Token {
					assert.Equal(t, o.ComponentURN, r.Parent, "%s %s is parented under the component", r.Type, r.Name)
				}
			}
			var names []string
			for _, r := range m.ByType(containerToken) {
				names = append(names, r.Name)
			}
			var want []string
			for _, n := range nodeNames(c.cps, c.workers) {
				want = append(want, "lab-"+n)
			}
			assert.ElementsMatch(t, want, names, "child names derive from the component's")
		})
	}
}

func TestNetwork(t *testing.T) {
	for _, c := range []struct {
		network, subnet, gateway string
	}{
		{DefaultNetwork, "10.5.0.0/24", "10.5.0.1"},
		{"172.30.0.0/16", "172.30.0.0/16", "172.30.0.1"},
		// An address inside the range is taken for its range, as Docker
		// wants the network address.
		{"10.9.8.7/24", "10.9.8.0/24", "10.9.8.1"},
	} {
		t.Run(c.network, func(t *testing.T) {
			args := labArgs()
			args.Network = netip.MustParsePrefix(c.network)
			m := mustDeploy(t, args).Mocks
			n := m.Named(t, networkToken, "lab-network")
			assert.Equal(t, "sre-lab-local-network", input(t, n, "name"))
			assert.Equal(t, "bridge", input(t, n, "driver"))
			assert.Equal(t, []any{map[string]any{"subnet": c.subnet, "gateway": c.gateway}}, input(t, n, "ipamConfigs"))
			for _, name := range nodeNames(3, 2) {
				nets := input(t, container(t, m, name), "networksAdvanced").([]any)
				require.Len(t, nets, 1, "%s is on one network only", name)
				assert.Equal(t, "sre-lab-local-network", nets[0].(map[string]any)["name"], name)
			}
		})
	}
}

func TestContainerIdentity(t *testing.T) {
	for _, c := range []struct {
		cps, workers int
		want         map[string]string // container name -> fixed address
	}{
		{3, 2, map[string]string{
			"talos-cp-01": "10.5.0.10", "talos-cp-02": "10.5.0.11", "talos-cp-03": "10.5.0.12",
			"talos-worker-01": "10.5.0.20", "talos-worker-02": "10.5.0.21",
		}},
		{1, 1, map[string]string{"talos-cp-01": "10.5.0.10", "talos-worker-01": "10.5.0.20"}},
	} {
		t.Run(fmt.Sprintf("%d+%d", c.cps, c.workers), func(t *testing.T) {
			m := mustDeploy(t, withCounts(c.cps, c.workers)).Mocks
			require.Len(t, m.ByType(containerToken), len(c.want))
			for name, ip := range c.want {
				r := container(t, m, name)
				assert.Equal(t, name, input(t, r, "name"))
				assert.Equal(t, name, input(t, r, "hostname"), "Talos reads its hostname from the container")
				nets := input(t, r, "networksAdvanced").([]any)
				require.Len(t, nets, 1)
				assert.Equal(t, ip, nets[0].(map[string]any)["ipv4Address"], "%s has a fixed address", name)
			}
		})
	}
}

func TestContainerRunsTheContainerPlatform(t *testing.T) {
	m := mustDeploy(t, labArgs()).Mocks
	for _, name := range nodeNames(3, 2) {
		t.Run(name, func(t *testing.T) {
			r := container(t, m, name)
			assert.Equal(t, true, input(t, r, "privileged"))
			assert.Equal(t, true, input(t, r, "readOnly"), "the root filesystem is read-only, as on every Talos platform")
			assert.Equal(t, []any{"seccomp=unconfined"}, input(t, r, "securityOpts"))
			assert.Equal(t, false, input(t, r, "init"), "machined is PID 1")
			assert.Equal(t, "unless-stopped", input(t, r, "restart"))
			assert.Equal(t, float64(30), input(t, r, "stopTimeout"))
			assert.Equal(t, float64(30), input(t, r, "destroyGraceSeconds"))
			assert.Equal(t, []any{"PLATFORM=container", "TALOSSKU=2CPU-4096RAM"}, input(t, r, "envs"),
				"no USERDATA: the node boots into maintenance mode and gets its config over the API")
			_, hasSysctls := r.At("sysctls")
			assert.False(t, hasSysctls, "IPv6 is left as Docker sets it")

			role := string(roleOf(name))
			assert.ElementsMatch(t, []any{
				map[string]any{"label": "project", "value": "sre-lab"},
				map[string]any{"label": "role", "value": role},
				map[string]any{"label": "node", "value": name},
			}, input(t, r, "labels"))
		})
	}
}

func TestContainerMounts(t *testing.T) {
	m := mustDeploy(t, labArgs()).Mocks
	for _, name := range nodeNames(3, 2) {
		t.Run(name, func(t *testing.T) {
			want := []any{
				map[string]any{"type": "tmpfs", "target": "/run"},
				map[string]any{"type": "tmpfs", "target": "/system"},
				map[string]any{"type": "tmpfs", "target": "/tmp"},
				map[string]any{"type": "volume", "target": "/system/state", "source": name + "-state"},
				map[string]any{"type": "volume", "target": "/var", "source": name + "-var"},
				map[string]any{"type": "volume", "target": "/etc/cni", "source": name + "-etc-cni"},
				map[string]any{"type": "volume", "target": "/etc/kubernetes", "source": name + "-etc-kubernetes"},
				map[string]any{"type": "volume", "target": "/usr/libexec/kubernetes", "source": name + "-usr-libexec-kubernetes"},
				map[string]any{"type": "volume", "target": "/opt", "source": name + "-opt"},
			}
			assert.Equal(t, want, input(t, container(t, m, name), "mounts"))

			// Every volume a container mounts is a named resource of its
			// own, so it survives the container and goes with the stack.
			for _, v := range volumes {
				vol := m.Named(t, volumeToken, "lab-"+name+"-"+v.suffix)
				assert.Equal(t, name+"-"+v.suffix, input(t, vol, "name"))
				assert.Contains(t, input(t, vol, "labels"), map[string]any{"label": "node", "value": name})
			}
		})
	}
}

func TestLimitsFromSize(t *testing.T) {
	for _, c := range []struct {
		cpSize, workerSize string
		wantCP, wantWorker [2]any // cpus, memory MB
		wantSKU            [2]string
	}{
		{"2cpu-4gb", "2cpu-4gb", [2]any{"2", float64(4096)}, [2]any{"2", float64(4096)}, [2]string{"2CPU-4096RAM", "2CPU-4096RAM"}},
		{"4cpu-8gb", "2cpu-6gb", [2]any{"4", float64(8192)}, [2]any{"2", float64(6144)}, [2]string{"4CPU-8192RAM", "2CPU-6144RAM"}},
	} {
		t.Run(c.cpSize+"/"+c.workerSize, func(t *testing.T) {
			args := labArgs()
			args.ControlPlane.Size, args.Workers.Size = c.cpSize, c.workerSize
			// Disk sizes are ignored: nothing about them reaches Docker.
			args.ControlPlane.DiskGiB, args.Workers.DiskGiB = 999, 1
			m := mustDeploy(t, args).Mocks
			for _, name := range nodeNames(3, 2) {
				r := container(t, m, name)
				want, sku := c.wantCP, c.wantSKU[0]
				if roleOf(name) == infra.Worker {
					want, sku = c.wantWorker, c.wantSKU[1]
				}
				assert.Equal(t, want, [2]any{input(t, r, "cpus"), input(t, r, "memory")}, name)
				assert.Contains(t, input(t, r, "envs"), "TALOSSKU="+sku, name)
			}
			for _, r := range m.Resources() {
				_, ok := r.At("size")
				assert.False(t, ok, "%s %s has no size", r.Type, r.Name)
			}
		})
	}
}

func TestPublishedPorts(t *testing.T) {
	port := func(p int) any {
		return map[string]any{"internal": float64(p), "external": float64(p), "ip": "127.0.0.1", "protocol": "tcp"}
	}
	for _, c := range []struct{ cps, workers int }{{3, 2}, {1, 1}} {
		t.Run(fmt.Sprintf("%d+%d", c.cps, c.workers), func(t *testing.T) {
			m := mustDeploy(t, withCounts(c.cps, c.workers)).Mocks
			want := map[string]any{
				"talos-cp-01":     []any{port(6443), port(50000)},
				"talos-worker-01": []any{port(30080), port(30443)},
			}
			for _, name := range nodeNames(c.cps, c.workers) {
				r := container(t, m, name)
				got, ok := r.At("ports")
				if w, published := want[name]; published {
					assert.Equal(t, w, got, "%s publishes on loopback only", name)
					continue
				}
				assert.False(t, ok && len(got.([]any)) > 0, "%s publishes nothing, got %v", name, got)
			}
			for _, r := range m.Resources() {
				if r.Type == containerToken {
					continue
				}
				_, ok := r.At("ports")
				assert.False(t, ok, "%s %s publishes nothing", r.Type, r.Name)
			}
		})
	}
}

func TestImageFollowsTalosVersion(t *testing.T) {
	ids := map[string]string{}
	for _, c := range []struct{ version, ref string }{
		{"v1.12.4", "ghcr.io/siderolabs/talos:v1.12.4"},
		{"v1.12.5", "ghcr.io/siderolabs/talos:v1.12.5"},
	} {
		t.Run(c.version, func(t *testing.T) {
			assert.Equal(t, c.ref, Image(c.version))
			args := labArgs()
			args.TalosVersion = c.version
			m := mustDeploy(t, args).Mocks
			img := m.Named(t, imageToken, "lab-image")
			assert.Equal(t, c.ref, input(t, img, "name"))
			assert.Equal(t, true, input(t, img, "keepLocally"), "destroy leaves the pulled image for the next lab")
			for _, name := range nodeNames(3, 2) {
				assert.Equal(t, imageID(c.ref), input(t, container(t, m, name), "image"), "%s runs the pulled image", name)
			}
			ids[c.version] = input(t, container(t, m, "talos-cp-01"), "image").(string)
		})
	}
	assert.NotEqual(t, ids["v1.12.4"], ids["v1.12.5"], "a new Talos version replaces the containers")
}

func TestFixedNamesDeleteBeforeReplace(t *testing.T) {
	m := mustDeploy(t, labArgs()).Mocks
	for _, r := range m.Resources() {
		switch r.Type {
		case networkToken, containerToken, volumeToken:
			assert.True(t, r.DeleteBeforeReplace, "%s %s has a fixed name in the engine", r.Type, r.Name)
		case imageToken:
			assert.False(t, r.DeleteBeforeReplace, "a new image can be pulled beside the old")
		}
	}
}

func TestPlatform(t *testing.T) {
	for _, c := range []struct {
		network      string
		cps, workers int
		wantIPs      []string
		wantEndpoint string
		wantIngress  string
	}{
		{DefaultNetwork, 3, 2, []string{"10.5.0.10", "10.5.0.11", "10.5.0.12", "10.5.0.20", "10.5.0.21"}, "10.5.0.10", "10.5.0.20"},
		{DefaultNetwork, 1, 1, []string{"10.5.0.10", "10.5.0.20"}, "10.5.0.10", "10.5.0.20"},
		{"172.30.0.0/16", 3, 2, []string{"172.30.0.10", "172.30.0.11", "172.30.0.12", "172.30.0.20", "172.30.0.21"}, "172.30.0.10", "172.30.0.20"},
	} {
		t.Run(fmt.Sprintf("%s %d+%d", c.network, c.cps, c.workers), func(t *testing.T) {
			args := withCounts(c.cps, c.workers)
			args.Network = netip.MustParsePrefix(c.network)
			o := mustDeploy(t, args)

			var names, privateIPs []string
			var roles []infra.Role
			for _, n := range o.Nodes {
				names = append(names, n.Name)
				roles = append(roles, n.Role)
				privateIPs = append(privateIPs, n.PrivateIP)
				assert.Empty(t, n.PublicIP, "containers have no public address")
			}
			assert.Equal(t, nodeNames(c.cps, c.workers), names, "control planes first, in index order")
			for i, r := range roles {
				want := infra.Worker
				if i < c.cps {
					want = infra.ControlPlane
				}
				assert.Equal(t, want, r, names[i])
			}
			assert.Equal(t, c.wantIPs, privateIPs)
			assert.Equal(t, c.wantEndpoint, o.Endpoint, "the first control plane, reachable from every container")
			assert.Equal(t, c.wantIngress, o.Ingress, "the first worker's node ports")
			assert.Nil(t, o.Platform.LoadBalancerRange, "no L2 announcements on a bridge")
			assert.Nil(t, o.Platform.LogBucket)
			assert.Empty(t, o.Platform.InstallDisk, "containers do not install")
		})
	}
}

func TestBadArgsRegisterNothing(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*Args)
		want   []string
	}{
		{"cloud size on control planes", func(a *Args) { a.ControlPlane.Size = "t3.medium" }, []string{"controlplane", `"t3.medium"`, "2cpu-4gb"}},
		{"upper-case worker size", func(a *Args) { a.Workers.Size = "2CPU-4GB" }, []string{"worker", `"2CPU-4GB"`, "2cpu-4gb"}},
		{"no control plane", func(a *Args) { a.ControlPlane.Count = 0 }, []string{"controlplane count 0", "from 1 to 9"}},
		{"ten control planes", func(a *Args) { a.ControlPlane.Count = 10 }, []string{"controlplane count 10", "from 1 to 9"}},
		{"no worker", func(a *Args) { a.Workers.Count = 0 }, []string{"worker count 0", "from 1 to 30", "ingress"}},
		{"31 workers", func(a *Args) { a.Workers.Count = 31 }, []string{"worker count 31", "from 1 to 30"}},
		{"IPv6 network", func(a *Args) { a.Network = netip.MustParsePrefix("fd00:5::/64") }, []string{"fd00:5::/64", "IPv4"}},
		{"network smaller than /24", func(a *Args) { a.Network = netip.MustParsePrefix("10.5.0.0/25") }, []string{"10.5.0.0/25", "/24 or larger"}},
		{"no Talos version", func(a *Args) { a.TalosVersion = "" }, []string{`talos version ""`, "v1.12.4"}},
		{"Talos version with a registry", func(a *Args) { a.TalosVersion = "ghcr.io/x:v1" }, []string{`"ghcr.io/x:v1"`, "image tag"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := labArgs()
			c.mutate(&args)
			o, err := deploy("lab", &args)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "docker nodes:", "the error names what was being built")
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Empty(t, o.Mocks.Resources(), "a bad argument registers nothing, the component included")
		})
	}
	t.Run("nil args", func(t *testing.T) {
		o, err := deploy("lab", nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "docker nodes")
		assert.Empty(t, o.Mocks.Resources())
	})
}

func TestTwoRunsRegisterIdenticalInputs(t *testing.T) {
	first, second := mustDeploy(t, labArgs()), mustDeploy(t, labArgs())
	a, b := first.Mocks.Resources(), second.Mocks.Resources()
	require.Equal(t, len(a), len(b))
	byName := map[string]pulumitest.Resource{}
	for _, r := range b {
		byName[r.Type+"::"+r.Name] = r
	}
	for _, r := range a {
		other, ok := byName[r.Type+"::"+r.Name]
		if assert.True(t, ok, "%s %s registered once only", r.Type, r.Name) {
			assert.Equal(t, pulumitest.Plain(resource.NewPropertyValue(r.Inputs)), pulumitest.Plain(resource.NewPropertyValue(other.Inputs)), "%s %s", r.Type, r.Name)
		}
	}
}

// TestContract runs the backend contract every backend answers for.
func TestContract(t *testing.T) {
	for _, tc := range []struct{ cp, w int }{{3, 2}, {1, 1}, {5, 3}} {
		t.Run(fmt.Sprintf("%d+%d", tc.cp, tc.w), func(t *testing.T) {
			args := withCounts(tc.cp, tc.w)
			o, err := deploy("sre-lab-local", &args)
			require.NoError(t, err)
			run := o.Contract()
			run.Environment, run.Local = "local", true
			run.ControlPlanes, run.Workers = tc.cp, tc.w
			infratest.Check(t, run)
		})
	}
}
