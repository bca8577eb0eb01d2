package monitoring

import (
	"encoding/json"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/internal/pulumitest"
	"github.com/your-org/sre-lab/observability/dashboards"
)

// args is a local monitoring stack with the lab's dashboards.
func args(t *testing.T) *Args {
	t.Helper()
	boards, err := dashboards.All()
	require.NoError(t, err)
	return &Args{
		Chart:           config.DefaultCharts[config.ChartKubePrometheus],
		Namespace:       "monitoring",
		Monitoring:      config.EnvironmentMatrix[config.Local].Monitoring,
		Replicas:        1,
		StorageClass:    "local-path",
		ControlPlaneIPs: pulumi.ToStringArray([]string{"192.168.56.10"}),
		NodePorts:       true,
		GrafanaHost:     "grafana.sre-lab.internal",
		IngressClass:    "cilium",
		ClusterIssuer:   "sre-lab-ca",
		Dashboards:      boards,
	}
}

// run registers the stack through a Kubernetes provider under mocks.
func run(t *testing.T, a *Args) (*pulumitest.Mocks, error) {
	t.Helper()
	m := &pulumitest.Mocks{Outputs: func(args pulumi.MockResourceArgs) map[string]any {
		if args.TypeToken == "random:index/randomPassword:RandomPassword" {
			return map[string]any{"result": "generated-password"}
		}
		return nil
	}}
	_, err := m.InCluster("local", nil, func(ctx *pulumi.Context, with pulumi.ResourceOption, _ []pulumi.Resource) (pulumi.Resource, error) {
		return NewStack(ctx, "monitoring", a, with)
	})
	return m, err
}

// TestDashboardsAreProvisioned: each lab dashboard is a ConfigMap the
// Grafana sidecar loads (its label), in the folder its annotation names,
// holding the dashboard's own JSON.
func TestDashboardsAreProvisioned(t *testing.T) {
	a := args(t)
	m, err := run(t, a)
	require.NoError(t, err)
	require.Len(t, a.Dashboards, 2)
	for _, d := range a.Dashboards {
		cm := m.Named(t, "kubernetes:core/v1:ConfigMap", "monitoring-dashboard-"+d.UID)
		label, _ := cm.At("metadata.labels." + DashboardLabel)
		assert.Equal(t, "1", label)
		folder, _ := cm.At("metadata.annotations." + FolderAnnotation)
		assert.Equal(t, d.Folder, folder)
		data, _ := cm.At("data")
		body := data.(map[string]any)[d.UID+".json"].(string)
		var model map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &model))
		assert.Equal(t, d.Title, model["title"])
	}
}

// TestSidecarAndReloaderResources: every container the chart adds beside
// Grafana, Prometheus and Alertmanager has requests and a memory limit,
// and the sidecar files dashboards into folders.
func TestSidecarAndReloaderResources(t *testing.T) {
	v := Values(args(t))
	at := func(path ...string) any {
		var cur any = v
		for _, p := range path {
			cur = cur.(map[string]any)[p]
		}
		return cur
	}
	for _, path := range [][]string{
		{"grafana", "sidecar", "resources"},
		{"prometheusOperator", "prometheusConfigReloader", "resources"},
	} {
		res := at(path...).(map[string]any)
		assert.NotEmpty(t, res["requests"], "%v", path)
		assert.NotEmpty(t, res["limits"].(map[string]any)["memory"], "%v", path)
	}
	assert.Equal(t, FolderAnnotation, at("grafana", "sidecar", "dashboards", "folderAnnotation"))
	assert.Equal(t, true, at("grafana", "sidecar", "dashboards", "provider", "foldersFromFilesStructure"))
}

// TestPasswordStaysSecret: a generated admin password is secret and only in
// the Secret the chart reads, never in the release values.
func TestPasswordStaysSecret(t *testing.T) {
	m, err := run(t, args(t))
	require.NoError(t, err)
	secret := m.Named(t, "kubernetes:core/v1:Secret", "monitoring-grafana-admin")
	assert.True(t, secret.Inputs["stringData"].ContainsSecrets(), "the password is secret")
	release := m.Named(t, "kubernetes:helm.sh/v3:Release", "monitoring")
	values, _ := json.Marshal(pulumitest.Plain(release.Inputs["values"]))
	assert.NotContains(t, string(values), "generated-password")
}

func TestReplicasMustBePositive(t *testing.T) {
	a := args(t)
	a.Replicas = 0
	m, err := run(t, a)
	require.Error(t, err)
	assert.Empty(t, m.ByType(Token), "nothing but the test's provider is registered")
	assert.Len(t, m.Resources(), 1)
}

// Grafana's Ingress carries the controller's annotations; in a cloud, where
// the ingress also answers plain HTTP for ACME challenges, its session
// cookie is secure-only and HSTS is on; a local lab, which serves Grafana
// on a plain-HTTP node port too, keeps neither.
func TestGrafanaOverHTTPS(t *testing.T) {
	for _, tc := range []struct {
		name      string
		nodePorts bool
	}{{"cloud", false}, {"local", true}} {
		t.Run(tc.name, func(t *testing.T) {
			a := args(t)
			a.NodePorts = tc.nodePorts
			a.IngressAnnotations = map[string]string{"ingress.cilium.io/force-https": "disabled"}
			m, err := run(t, a)
			require.NoError(t, err)
			releases := m.ByType("kubernetes:helm.sh/v3:Release")
			require.Len(t, releases, 1)
			r := releases[0]
			annotations, _ := r.At("values.grafana.ingress.annotations")
			assert.Equal(t, map[string]any{
				"cert-manager.io/cluster-issuer": "sre-lab-ca",
				"ingress.cilium.io/force-https":  "disabled",
			}, annotations)
			ini, _ := r.At("values.grafana")
			sec, has := ini.(map[string]any)["grafana.ini"]
			if tc.nodePorts {
				assert.False(t, has, "a plain-HTTP node port needs a cookie that is not secure-only")
				return
			}
			require.True(t, has, "grafana.ini is set in a cloud")
			assert.Equal(t, map[string]any{"security": map[string]any{
				"cookie_secure": true, "strict_transport_security": true,
				"strict_transport_security_max_age_seconds": float64(31536000),
			}}, sec)
		})
	}
}
