package footprint

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		cpu, mem string
		want     Quantity
	}{
		{"10m", "64Mi", Quantity{10, 64 << 20}},
		{"2", "1Gi", Quantity{2000, 1 << 30}},
		{"0.5", "512Ki", Quantity{500, 512 << 10}},
		{"100m", "1000k", Quantity{100, 1e6}},
		{"1m", "1048576", Quantity{1, 1 << 20}},
	} {
		got, err := Parse(tc.cpu, tc.mem)
		require.NoError(t, err, "%s %s", tc.cpu, tc.mem)
		assert.Equal(t, tc.want, got, "%s %s", tc.cpu, tc.mem)
	}
	for _, bad := range [][2]string{{"ten", "64Mi"}, {"10m", "lots"}, {"m", "1Gi"}, {"1", "Gi"}} {
		_, err := Parse(bad[0], bad[1])
		assert.Error(t, err, "%v", bad)
	}
}

// lab is a cluster of two 2 vCPU / 4 GiB control planes and one worker.
var lab = Nodes{ControlPlanes: 2, Workers: 1, ControlPlane: config.Shape{VCPU: 2, MemGiB: 4}, Worker: config.Shape{VCPU: 2, MemGiB: 4}}

func resources(cpu, mem, limit string) map[string]any {
	return map[string]any{"requests": map[string]any{"cpu": cpu, "memory": mem}, "limits": map[string]any{"memory": limit}}
}

// TestBuild: DaemonSets count once per node, replicas come from the values,
// sidecars sharing resources multiply, and Kubernetes's own requests and
// the kubelet's reservations are accounted for.
func TestBuild(t *testing.T) {
	releases := map[string]map[string]any{
		config.ChartPromtail: {"resources": resources("20m", "64Mi", "256Mi")},
		config.ChartLoki:     {"singleBinary": map[string]any{"replicas": float64(2), "resources": resources("100m", "256Mi", "1Gi")}},
		config.ChartEBSCSI: {
			"controller": map[string]any{"replicaCount": 1, "resources": resources("10m", "40Mi", "256Mi")},
			"node":       map[string]any{"resources": resources("10m", "40Mi", "256Mi")},
		},
		config.ChartPrometheusCRDs: {},
	}
	r, err := Build("t", lab, releases)
	require.NoError(t, err)

	byName := map[string]Line{}
	for _, l := range r.Lines {
		byName[l.Release+"/"+l.Workload] = l
	}
	assert.Equal(t, Line{config.ChartPromtail, "promtail", 3, Quantity{60, 192 << 20}}, byName["promtail/promtail"])
	assert.Equal(t, Line{config.ChartLoki, "loki", 2, Quantity{200, 512 << 20}}, byName["loki/loki"])
	assert.Equal(t, Line{config.ChartEBSCSI, "controller", 1, Quantity{60, 240 << 20}}, byName["aws-ebs-csi-driver/controller"])
	assert.Equal(t, Line{config.ChartEBSCSI, "node", 3, Quantity{90, 360 << 20}}, byName["aws-ebs-csi-driver/node"])
	assert.Len(t, r.Lines, 4, "the CRD chart runs no pods")
	assert.Equal(t, Quantity{410, 1304 << 20}, r.Lab)

	assert.Equal(t, Quantity{6000, 12 << 30}, r.Capacity)
	assert.Equal(t, Quantity{6000 - 150, 12<<30 - 2*512<<20 - 384<<20}, r.Allocatable)
	// Two sets of control-plane pods and two CoreDNS replicas.
	assert.Equal(t, Quantity{2*260 + 200, 2*832<<20 + 140<<20}, r.Kubernetes)

	cpu, mem := r.Headroom()
	assert.InDelta(t, 1-float64(410+720)/5850, cpu, 1e-9)
	assert.InDelta(t, 1-float64(1304+1804)/float64(12*1024-1408), mem, 1e-9)
	assert.Contains(t, r.String(), "headroom")
}

// TestFitsHost: nodes sharing one machine take it by their CPU requests
// and their full memory sizes, and must leave the machine its reserve.
func TestFitsHost(t *testing.T) {
	releases := map[string]map[string]any{
		config.ChartLoki: {"singleBinary": map[string]any{"replicas": 1, "resources": resources("100m", "256Mi", "1Gi")}},
	}
	r, err := Build("t", lab, releases)
	require.NoError(t, err)
	// Loki, two sets of control-plane pods, CoreDNS, and what the three
	// nodes reserve; all 12 GiB of the three 4 GiB nodes.
	assert.Equal(t, Quantity{100 + 720 + 150, 12 << 30}, r.HostLoad())

	reserve := Quantity{1000, 3 << 30}
	assert.True(t, r.FitsHost(Quantity{4000, 16 << 30}, reserve))
	assert.True(t, r.FitsHost(Quantity{1970, 15 << 30}, reserve), "exactly full")
	assert.False(t, r.FitsHost(Quantity{4000, 14 << 30}, reserve), "the nodes' memory would take the reserve")
	assert.False(t, r.FitsHost(Quantity{1969, 16 << 30}, reserve), "the requests would take the reserve's CPU")

	crowded, err := Build("t", lab, map[string]map[string]any{
		config.ChartLoki: {"singleBinary": map[string]any{"replicas": 1, "resources": resources("100m", "11Gi", "12Gi")}},
	})
	require.NoError(t, err)
	assert.False(t, crowded.FitsHost(Quantity{64000, 256 << 30}, reserve), "requests beyond the nodes' allocatable fit no host")
}

// TestBuildRefusesGaps: the report fails rather than undercount.
func TestBuildRefusesGaps(t *testing.T) {
	for _, tc := range []struct {
		name     string
		releases map[string]map[string]any
		want     string
	}{
		{"unknown release", map[string]map[string]any{"mystery": {}}, "release mystery is not in the footprint catalogue"},
		{"no resources", map[string]map[string]any{config.ChartPromtail: {}}, "promtail promtail: no resources at resources"},
		{"no memory request", map[string]map[string]any{config.ChartPromtail: {"resources": map[string]any{
			"requests": map[string]any{"cpu": "10m"}, "limits": map[string]any{"memory": "1Gi"}}}}, "no cpu and memory requests"},
		{"no memory limit", map[string]map[string]any{config.ChartPromtail: {"resources": map[string]any{
			"requests": map[string]any{"cpu": "10m", "memory": "64Mi"}}}}, "no memory limit"},
		{"no replica count", map[string]map[string]any{config.ChartLoki: {"singleBinary": map[string]any{
			"resources": resources("100m", "256Mi", "1Gi")}}}, "no replica count at singleBinary.replicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build("t", lab, tc.releases)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestBuildPracticeLayer: the chaos daemon runs on the workers only (it
// has no control-plane toleration), the controller and DNS server by their
// replica counts, and a Deployment the program registers itself counts
// each container's requests once per replica.
func TestBuildPracticeLayer(t *testing.T) {
	releases := map[string]map[string]any{
		config.ChartChaosMesh: {
			"controllerManager": map[string]any{"replicaCount": 1, "resources": resources("25m", "128Mi", "512Mi")},
			"chaosDaemon":       map[string]any{"resources": resources("25m", "64Mi", "256Mi")},
			"dnsServer":         map[string]any{"replicas": 1, "resources": resources("10m", "32Mi", "128Mi")},
		},
		config.ChartPodinfo: {"replicaCount": 2, "resources": resources("10m", "32Mi", "128Mi")},
	}
	load := Deployment{Name: "apps/podinfo-load", Replicas: 1, Containers: []map[string]any{
		{"name": "steady", "resources": resources("10m", "32Mi", "64Mi")},
		{"name": "slow", "resources": resources("10m", "32Mi", "64Mi")},
	}}
	nodes := Nodes{ControlPlanes: 3, Workers: 2, ControlPlane: config.Shape{VCPU: 2, MemGiB: 4}, Worker: config.Shape{VCPU: 2, MemGiB: 4}}
	r, err := Build("t", nodes, releases, load)
	require.NoError(t, err)
	byName := map[string]Line{}
	for _, l := range r.Lines {
		byName[l.Release+"/"+l.Workload] = l
	}
	assert.Equal(t, Line{config.ChartChaosMesh, "chaos-daemon", 2, Quantity{50, 128 << 20}}, byName["chaos-mesh/chaos-daemon"], "two workers, not five nodes")
	assert.Equal(t, Line{config.ChartChaosMesh, "controller-manager", 1, Quantity{25, 128 << 20}}, byName["chaos-mesh/controller-manager"])
	assert.Equal(t, Line{config.ChartPodinfo, "podinfo", 2, Quantity{20, 64 << 20}}, byName["podinfo/podinfo"])
	assert.Equal(t, Line{"apps/podinfo-load", "deployment", 1, Quantity{20, 64 << 20}}, byName["apps/podinfo-load/deployment"])

	load.Containers[1] = map[string]any{"name": "slow", "resources": map[string]any{"requests": map[string]any{"cpu": "10m", "memory": "32Mi"}}}
	_, err = Build("t", nodes, releases, load)
	assert.ErrorContains(t, err, "deployment apps/podinfo-load container 1: no memory limit")
}
