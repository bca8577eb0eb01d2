package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/e2e/e2etest"
	"github.com/your-org/sre-lab/verify"
	"github.com/your-org/sre-lab/verify/verifytest"
)

// names are the assertions in report order.
var names = []string{
	"scrape targets up", "control plane scraped", "node-exporter", "kube-state-metrics", "hubble flows",
	"pod logs", "kubernetes events", "talos logs", "grafana datasources", "grafana dashboards", "alertmanager",
}

// TestAssertions runs every assertion against a recorded lab, healthy and
// with one kind of data missing at a time, and wants exactly the
// assertion about that data to fail, saying what is missing.
func TestAssertions(t *testing.T) {
	stack, err := DecodeStack(verifytest.StackOutputs("kubeconfig is not used here"))
	require.NoError(t, err)
	ok := func(name string) verifytest.Response { return verifytest.OK(e2etest.Fixture(name)) }
	empty := verifytest.OK(e2etest.EmptyVector)

	tests := []struct {
		name     string
		breakLab func(lab *e2etest.Lab)
		password verify.Secret
		// fail maps each assertion that must fail to what its detail
		// must say; every other assertion must pass.
		fail map[string][]string
		// pass holds exact details of passing assertions.
		pass map[string]string
	}{
		{
			name: "healthy lab",
			pass: map[string]string{
				"scrape targets up":     "48/48 targets up in 19 jobs",
				"control plane scraped": "kube-etcd 3/3, kube-scheduler 3/3, kube-controller-manager 3/3",
				"node-exporter":         "node_uname_info from 5/5 nodes",
				"kube-state-metrics":    "kube_node_info from 5/5 nodes",
				"hubble flows":          "151845 flows counted by 5 agents",
				"pod logs":              "65659 lines in 15m0s from 5 namespaces (cert-manager, kube-system, local-path-storage, logging, monitoring)",
				"kubernetes events":     "1284 events in 15m0s",
				"talos logs":            "19807 lines in 15m0s from 5/5 nodes",
				"grafana datasources":   "prometheus, loki healthy",
				"grafana dashboards":    "2 loaded: SRE Lab/Cluster overview, Cilium/Hubble",
				"alertmanager":          "Alertmanager 0.30.0 (cluster ready), 2 alerts, Watchdog active",
			},
		},
		{
			name:     "an etcd target down",
			breakLab: func(l *e2etest.Lab) { l.Prometheus[e2etest.QueryUp] = ok("prometheus-up-etcd-down.json") },
			fail:     map[string][]string{"scrape targets up": {"1 of 48 targets down: kube-etcd/192.168.56.11:2381"}},
		},
		{
			name:     "prometheus has scraped nothing",
			breakLab: func(l *e2etest.Lab) { l.Prometheus[e2etest.QueryUp] = empty },
			fail:     map[string][]string{"scrape targets up": {"no data: up returned nothing"}},
		},
		{
			name: "scheduler not scraped",
			breakLab: func(l *e2etest.Lab) {
				l.Prometheus[e2etest.QueryControlPlane] = ok("prometheus-control-plane-no-scheduler.json")
			},
			fail: map[string][]string{"control plane scraped": {"kube-scheduler not scraped; want every one of 3 control planes up"}},
		},
		{
			name:     "no control plane target at all",
			breakLab: func(l *e2etest.Lab) { l.Prometheus[e2etest.QueryControlPlane] = empty },
			fail:     map[string][]string{"control plane scraped": {"kube-etcd not scraped; kube-scheduler not scraped; kube-controller-manager not scraped"}},
		},
		{
			name: "node-exporter missing on a worker",
			breakLab: func(l *e2etest.Lab) {
				l.Prometheus[e2etest.QueryNodeExporter] = ok("prometheus-node-uname-worker-missing.json")
			},
			fail: map[string][]string{"node-exporter": {"node_uname_info has no series for talos-worker-02 (4 series for 5 nodes)"}},
		},
		{
			name:     "kube-state-metrics exports nothing",
			breakLab: func(l *e2etest.Lab) { l.Prometheus[e2etest.QueryKubeStateMetrics] = empty },
			fail:     map[string][]string{"kube-state-metrics": {"no data: kube_node_info returned nothing"}},
		},
		{
			name:     "hubble metrics not scraped",
			breakLab: func(l *e2etest.Lab) { l.Prometheus[e2etest.QueryHubbleFlows] = empty },
			fail:     map[string][]string{"hubble flows": {"no data: sum by (instance) (hubble_flows_processed_total) returned nothing"}},
		},
		{
			name:     "hubble counted no flow",
			breakLab: func(l *e2etest.Lab) { l.Prometheus[e2etest.QueryHubbleFlows] = ok("prometheus-hubble-flows-zero.json") },
			fail:     map[string][]string{"hubble flows": {"5 agents report hubble_flows_processed_total but none has counted a flow"}},
		},
		{
			name: "prometheus unreachable",
			breakLab: func(l *e2etest.Lab) {
				l.Prometheus[e2etest.QueryHubbleFlows] = verifytest.Status(http.StatusServiceUnavailable, "ServiceUnavailable", `no endpoints available for service "kube-prometheus-stack-prometheus"`)
			},
			fail: map[string][]string{"hubble flows": {`503 Service Unavailable: no endpoints available for service "kube-prometheus-stack-prometheus"`}},
		},
		{
			name: "prometheus rejects the query",
			breakLab: func(l *e2etest.Lab) {
				l.Prometheus[e2etest.QueryNodeExporter] = verifytest.Response{Status: http.StatusBadRequest, Body: []byte(`{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\""}`)}
			},
			fail: map[string][]string{"node-exporter": {`query node_uname_info: 400 error: invalid parameter "query"`}},
		},
		{
			name:     "no pod logs",
			breakLab: func(l *e2etest.Lab) { l.Loki[e2etest.QueryPodLogs] = empty },
			fail:     map[string][]string{"pod logs": {"no pod log line reached Loki in the last 15m0s"}},
		},
		{
			name:     "no kubernetes events",
			breakLab: func(l *e2etest.Lab) { l.Loki[e2etest.QueryEvents] = empty },
			fail:     map[string][]string{"kubernetes events": {"no Kubernetes event reached Loki in the last 15m0s"}},
		},
		{
			name:     "no talos logs",
			breakLab: func(l *e2etest.Lab) { l.Loki[e2etest.QueryTalosLogs] = empty },
			fail:     map[string][]string{"talos logs": {"no Talos log line reached Loki in the last 15m0s"}},
		},
		{
			name:     "talos kernel logs only",
			breakLab: func(l *e2etest.Lab) { l.Loki[e2etest.QueryTalosLogs] = ok("loki-talos-kernel-only.json") },
			fail:     map[string][]string{"talos logs": {"no Talos service logs in the last 15m0s from talos-cp-01, talos-cp-02, talos-cp-03, talos-worker-01, talos-worker-02"}},
		},
		{
			name:     "talos logs missing from a control plane",
			breakLab: func(l *e2etest.Lab) { l.Loki[e2etest.QueryTalosLogs] = ok("loki-talos-cp-missing.json") },
			fail:     map[string][]string{"talos logs": {"from talos-cp-03"}},
		},
		{
			name: "loki not ready",
			breakLab: func(l *e2etest.Lab) {
				l.Loki[e2etest.QueryEvents] = verifytest.Response{Status: http.StatusServiceUnavailable, Body: []byte("Ingester not ready: waiting for 15s after being ready\n")}
			},
			fail: map[string][]string{"kubernetes events": {"503 Service Unavailable: Ingester not ready"}},
		},
		{
			name: "grafana cannot reach loki",
			breakLab: func(l *e2etest.Lab) {
				l.Grafana[e2etest.GrafanaLokiHealth] = verifytest.Response{Status: http.StatusBadRequest, Body: e2etest.Fixture("grafana-health-loki-failing.json")}
			},
			fail: map[string][]string{"grafana datasources": {"loki: 400 ERROR: Unable to connect with Loki"}},
		},
		{
			name:     "prometheus datasource missing",
			breakLab: func(l *e2etest.Lab) { delete(l.Grafana, e2etest.GrafanaPrometheusHealth) },
			fail:     map[string][]string{"grafana datasources": {"prometheus: 404 Not Found: Not found"}},
		},
		{
			name:     "dashboard not loaded",
			breakLab: func(l *e2etest.Lab) { delete(l.Grafana, e2etest.GrafanaHubble) },
			fail:     map[string][]string{"grafana dashboards": {"sre-lab-cilium-hubble: 404 Not Found: Not found"}},
		},
		{
			name:     "dashboard in the wrong folder",
			breakLab: func(l *e2etest.Lab) { l.Grafana[e2etest.GrafanaHubble] = ok("grafana-dashboard-hubble-general.json") },
			fail:     map[string][]string{"grafana dashboards": {`sre-lab-cilium-hubble is "Hubble" in folder "General", want "Hubble" in "Cilium"`}},
		},
		{
			name:     "wrong grafana password",
			password: "not-the-password",
			fail: map[string][]string{
				"grafana datasources": {"grafana login as admin: 401 Unauthorized"},
				"grafana dashboards":  {"grafana login as admin: 401 Unauthorized"},
			},
		},
		{
			name: "grafana down",
			breakLab: func(l *e2etest.Lab) {
				l.Grafana[e2etest.GrafanaLogin] = verifytest.Status(http.StatusServiceUnavailable, "ServiceUnavailable", `no endpoints available for service "kube-prometheus-stack-grafana"`)
			},
			fail: map[string][]string{
				"grafana datasources": {`no endpoints available for service "kube-prometheus-stack-grafana"`},
				"grafana dashboards":  {`no endpoints available for service "kube-prometheus-stack-grafana"`},
			},
		},
		{
			name: "no watchdog",
			breakLab: func(l *e2etest.Lab) {
				l.Alertmanager[e2etest.AlertmanagerAlerts] = ok("alertmanager-alerts-no-watchdog.json")
			},
			fail: map[string][]string{"alertmanager": {"no Watchdog alert among 1"}},
		},
		{
			name: "alertmanager without endpoints",
			breakLab: func(l *e2etest.Lab) {
				l.Alertmanager[e2etest.AlertmanagerStatus] = verifytest.Status(http.StatusServiceUnavailable, "ServiceUnavailable", `no endpoints available for service "kube-prometheus-stack-alertmanager"`)
			},
			fail: map[string][]string{"alertmanager": {`status: 503 Service Unavailable: no endpoints available`}},
		},
		{
			name: "alertmanager without configuration",
			breakLab: func(l *e2etest.Lab) {
				l.Alertmanager[e2etest.AlertmanagerStatus] = verifytest.OK([]byte(`{"cluster":{"status":"disabled"},"config":{"original":""},"versionInfo":{"version":"0.30.0"}}`))
			},
			fail: map[string][]string{"alertmanager": {"Alertmanager 0.30.0 answers without a configuration"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lab := e2etest.Healthy()
			if tc.breakLab != nil {
				tc.breakLab(lab)
			}
			server := e2etest.NewServer(t, lab)
			kube, err := verify.NewKubeClient([]byte(server.Kubeconfig()))
			require.NoError(t, err)
			password := stack.GrafanaAdminPassword
			if tc.password != "" {
				password = tc.password
			}
			checks, err := Assertions(Lab{Kube: kube, Nodes: stack.Nodes, GrafanaPassword: password, Window: e2etest.Window})
			require.NoError(t, err)

			results := verify.RunChecks(context.Background(), checks, 10*time.Second)

			var got []string
			for _, r := range results {
				got = append(got, r.Name)
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
				for _, secret := range []string{verifytest.Token, verifytest.GrafanaAdminPassword, e2etest.Session} {
					assert.NotContains(t, r.Detail, secret)
				}
			}
			assert.Equal(t, names, got)
			assert.LessOrEqual(t, lab.Logins(), 1, "the Grafana assertions share one login")
		})
	}
}

// TestLogRange: the LogQL range is the window in whole minutes where it
// is some, and in seconds (at least one) otherwise.
func TestLogRange(t *testing.T) {
	for window, want := range map[time.Duration]string{
		15 * time.Minute:  "15m",
		2 * time.Hour:     "120m",
		90 * time.Second:  "90s",
		time.Millisecond:  "1s",
		45 * time.Second:  "45s",
		time.Minute + 500: "60s",
	} {
		assert.Equal(t, want, logRange(window), window.String())
	}
}

// TestIsNode: a series names a node by name or by either address, with
// or without a port, and an empty label names none.
func TestIsNode(t *testing.T) {
	n := verify.Node{Name: "dev-sre-cp-01", PrivateIP: "10.0.1.10", PublicIP: "203.0.113.10"}
	for value, want := range map[string]bool{
		"dev-sre-cp-01":     true,
		"10.0.1.10":         true,
		"10.0.1.10:9100":    true,
		"203.0.113.10:9965": true,
		"10.0.1.11:9100":    false,
		"dev-sre-cp-02":     false,
		"":                  false,
	} {
		assert.Equal(t, want, isNode(n, value), value)
	}
	assert.False(t, isNode(verify.Node{Name: "talos-cp-01", PrivateIP: "10.5.0.2"}, ""), "no public IP is not a match for an empty label")
}

// TestDecodeStack: the e2e command needs verify's outputs and Grafana's
// admin password, and says which is missing without printing secrets.
func TestDecodeStack(t *testing.T) {
	s, err := DecodeStack(verifytest.StackOutputs("apiVersion: v1"))
	require.NoError(t, err)
	assert.Equal(t, verify.Secret(verifytest.GrafanaAdminPassword), s.GrafanaAdminPassword)
	assert.Len(t, s.Nodes, 5)

	_, err = DecodeStack([]byte(`{"kubeconfig":"k","talosconfig":"t","nodes":[{"name":"n","role":"worker","privateIp":"10.5.0.3"}]}`))
	require.Error(t, err)
	assert.Equal(t, "output grafanaAdminPassword is missing or empty", err.Error())

	_, err = DecodeStack([]byte(`{"grafanaAdminPassword":"p"}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "output kubeconfig is missing or empty")
	assert.NotContains(t, err.Error(), "grafanaAdminPassword")
}
