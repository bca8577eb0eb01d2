package verify

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/verify/verifytest"
)

// errTalosUnreachable is what talosctl, through Exec, reports when it reaches
// every node but 192.168.56.12.
var errTalosUnreachable = errors.New(`talosctl: exit status 1: error listing resources on node 192.168.56.12: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 192.168.56.12:50000: connect: no route to host"`)

// TestChecks runs every check against a recorded lab, healthy and broken one
// way at a time, and wants exactly the broken check to fail, naming the
// node, service or target at fault.
func TestChecks(t *testing.T) {
	stack, err := DecodeStack(verifytest.StackOutputs("kubeconfig is not used here"))
	require.NoError(t, err)

	tests := []struct {
		name     string
		api      map[string]verifytest.Response
		talos    []byte
		talosErr error
		// fail maps each check that must fail to what its detail must
		// say; every other check must pass.
		fail map[string][]string
		// pass holds exact details of passing checks.
		pass map[string]string
	}{
		{
			name: "healthy lab",
			pass: map[string]string{
				"talos services":     "5 nodes, 51 services running, none unhealthy",
				"nodes ready":        "5/5 nodes Ready",
				"cilium":             "agent 5/5 ready, operator 2/2 available",
				"prometheus targets": "39/39 active targets up",
				"loki ready":         "ready",
				"grafana health":     "database ok, Grafana 12.3.1",
			},
		},
		{
			name:  "talos service unhealthy",
			talos: verifytest.Fixture("talos-services-unhealthy.json"),
			fail:  map[string][]string{"talos services": {"talos-worker-01/kubelet not healthy"}},
		},
		{
			name:  "etcd missing on a control plane",
			talos: verifytest.Fixture("talos-services-no-etcd.json"),
			fail:  map[string][]string{"talos services": {"talos-cp-02/etcd missing"}},
		},
		{
			name:     "talosctl cannot reach a node",
			talos:    verifytest.Fixture("talos-services-partial.json"),
			talosErr: errTalosUnreachable,
			fail: map[string][]string{"talos services": {
				"dial tcp 192.168.56.12:50000: connect: no route to host",
				"talos-cp-03 (192.168.56.12): no services reported",
			}},
		},
		{
			name:     "talosctl fails outright",
			talosErr: errors.New(`talosctl: exit status 1: failed to determine endpoints`),
			fail:     map[string][]string{"talos services": {"failed to determine endpoints"}},
		},
		{
			name:  "talosctl prints garbage",
			talos: []byte("Usage:\n  talosctl get <type> [<id>] [flags]\n"),
			fail:  map[string][]string{"talos services": {"parse talosctl output"}},
		},
		{
			name: "node NotReady",
			api:  map[string]verifytest.Response{verifytest.PathNodes: verifytest.OK(verifytest.Fixture("nodes-notready.json"))},
			fail: map[string][]string{"nodes ready": {"talos-worker-01 Ready=False (KubeletNotReady: container runtime network not ready", "cni plugin not initialized"}},
		},
		{
			name: "node missing",
			api:  map[string]verifytest.Response{verifytest.PathNodes: verifytest.OK(verifytest.Fixture("nodes-missing.json"))},
			fail: map[string][]string{"nodes ready": {"4 nodes registered, want 5", "not registered: talos-worker-02 (192.168.56.21)"}},
		},
		{
			name: "cilium agent 4 of 5 ready",
			api:  map[string]verifytest.Response{verifytest.PathCiliumAgent: verifytest.OK(verifytest.Fixture("cilium-daemonset-4of5.json"))},
			fail: map[string][]string{"cilium": {"cilium agent 4/5 ready"}},
		},
		{
			name: "cilium operator unavailable",
			api:  map[string]verifytest.Response{verifytest.PathCiliumOperator: verifytest.OK(verifytest.Fixture("cilium-operator-unavailable.json"))},
			fail: map[string][]string{"cilium": {"cilium-operator 0/2 available"}},
		},
		{
			name: "cilium not installed",
			api: map[string]verifytest.Response{
				verifytest.PathCiliumAgent: verifytest.Status(http.StatusNotFound, "NotFound", `daemonsets.apps "cilium" not found`),
			},
			fail: map[string][]string{"cilium": {`daemonset kube-system/cilium: 404 Not Found: daemonsets.apps "cilium" not found`}},
		},
		{
			name: "prometheus target down",
			api:  map[string]verifytest.Response{verifytest.PathPromTargets: verifytest.OK(verifytest.Fixture("prometheus-targets-down.json"))},
			fail: map[string][]string{"prometheus targets": {
				"1 of 39 targets not up",
				`kube-etcd/192.168.56.11:2381 down (Get "http://192.168.56.11:2381/metrics": dial tcp 192.168.56.11:2381: connect: connection refused)`,
			}},
		},
		{
			name: "prometheus without endpoints",
			api: map[string]verifytest.Response{
				verifytest.PathPromTargets: verifytest.Status(http.StatusServiceUnavailable, "ServiceUnavailable", `no endpoints available for service "kube-prometheus-stack-prometheus"`),
			},
			fail: map[string][]string{"prometheus targets": {`503 Service Unavailable: no endpoints available for service "kube-prometheus-stack-prometheus"`}},
		},
		{
			name: "prometheus scrapes nothing",
			api: map[string]verifytest.Response{
				verifytest.PathPromTargets: verifytest.OK([]byte(`{"status":"success","data":{"activeTargets":[],"droppedTargets":[],"droppedTargetCounts":null}}`)),
			},
			fail: map[string][]string{"prometheus targets": {"no active targets"}},
		},
		{
			name: "loki ingester not ready",
			api: map[string]verifytest.Response{
				verifytest.PathLokiReady: {Status: http.StatusServiceUnavailable, Body: []byte("Ingester not ready: waiting for 15s after being ready\n")},
			},
			fail: map[string][]string{"loki ready": {"not ready: 503 Service Unavailable: Ingester not ready: waiting for 15s after being ready"}},
		},
		{
			name: "grafana database failing",
			api: map[string]verifytest.Response{
				verifytest.PathGrafanaHealth: {Status: http.StatusServiceUnavailable, Body: verifytest.Fixture("grafana-health-failing.json")},
			},
			fail: map[string][]string{"grafana health": {"database failing (503 Service Unavailable)"}},
		},
		{
			name: "grafana answers html",
			api: map[string]verifytest.Response{
				verifytest.PathGrafanaHealth: {Status: http.StatusBadGateway, Body: []byte("<html><body>Bad Gateway</body></html>\n")},
			},
			fail: map[string][]string{"grafana health": {"unhealthy: 502 Bad Gateway: <html>"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			server := verifytest.NewServer(t, tc.api)
			kube, err := NewKubeClient([]byte(server.Kubeconfig()))
			require.NoError(t, err)
			runner := verifytest.NewRunner(server.Kubeconfig())
			if tc.talos != nil || tc.talosErr != nil {
				runner.Talos, runner.TalosErr = tc.talos, tc.talosErr
			}

			results := RunChecks(context.Background(), Checks(Lab{
				Kube: kube, Run: runner.Run, Talosconfig: "/tmp/verify/talosconfig", Nodes: stack.Nodes,
			}), 10*time.Second)

			var names []string
			for _, r := range results {
				names = append(names, r.Name)
				if want, ok := tc.fail[r.Name]; ok {
					assert.False(t, r.Pass, "%s should fail", r.Name)
					for _, s := range want {
						assert.Contains(t, r.Detail, s, r.Name)
					}
				} else {
					assert.True(t, r.Pass, "%s should pass: %s", r.Name, r.Detail)
				}
				if want, ok := tc.pass[r.Name]; ok {
					assert.Equal(t, want, r.Detail, r.Name)
				}
				assert.NotContains(t, r.Detail, verifytest.Token)
				assert.NotContains(t, r.Detail, verifytest.TalosKey)
			}
			assert.Equal(t, []string{"talos services", "nodes ready", "cilium", "prometheus targets", "loki ready", "grafana health"}, names)
		})
	}
}

// TestTalosServicesCommandLine pins the talosctl invocation and that cloud
// nodes are reached on their public IPs and matched back by them.
func TestTalosServicesCommandLine(t *testing.T) {
	nodes := []Node{
		{Name: "dev-sre-cp-01", Role: RoleControlPlane, PrivateIP: "10.0.1.10", PublicIP: "203.0.113.10"},
		{Name: "dev-sre-worker-01", Role: RoleWorker, PrivateIP: "10.0.1.20", PublicIP: "203.0.113.20"},
	}
	service := func(node, id string) string {
		return `{"metadata": {"id": "` + id + `", "namespace": "runtime", "type": "Services.v1alpha1.talos.dev", "version": 2},
			"node": "` + node + `", "spec": {"healthy": true, "running": true, "unknown": false}}` + "\n"
	}
	runner := &verifytest.Runner{Talos: []byte(
		service("203.0.113.10", "etcd") + service("203.0.113.10", "kubelet") + service("203.0.113.20", "kubelet"),
	)}

	detail, err := talosServices(runner.Run, "/tmp/verify-1/talosconfig", nodes).Run(context.Background())

	require.NoError(t, err)
	assert.Equal(t, "2 nodes, 3 services running, none unhealthy", detail)
	assert.Equal(t, [][]string{{
		"talosctl", "--talosconfig", "/tmp/verify-1/talosconfig", "--nodes", "203.0.113.10,203.0.113.20",
		"get", "services", "-o", "json",
	}}, runner.Calls())
}

// TestTalosServicesNotRunning covers a service Talos lists while stopping,
// and a worker, which needs no etcd.
func TestTalosServicesNotRunning(t *testing.T) {
	nodes := []Node{{Name: "talos-worker-01", Role: RoleWorker, PrivateIP: "192.168.56.20"}}
	runner := &verifytest.Runner{Talos: []byte(`
{"metadata": {"id": "kubelet"}, "node": "192.168.56.20", "spec": {"healthy": false, "running": false, "unknown": true}}
{"metadata": {"id": "dashboard"}, "node": "192.168.56.20", "spec": {"healthy": false, "running": true, "unknown": true}}
`)}

	_, err := talosServices(runner.Run, "talosconfig", nodes).Run(context.Background())

	require.Error(t, err)
	assert.Equal(t, "talos-worker-01/kubelet not running", err.Error())
}
