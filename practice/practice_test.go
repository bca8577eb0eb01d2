package practice

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

// Type tokens of what the tests look for.
const (
	tRelease    = "kubernetes:helm.sh/v3:Release"
	tDeployment = "kubernetes:apps/v1:Deployment"
	tNamespace  = "kubernetes:core/v1:Namespace"
	tConfigMap  = "kubernetes:core/v1:ConfigMap"
	tRule       = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
	tNamespaces = "sre-lab:kube:Namespaces"
)

// testArgs is a local lab's practice layer.
func testArgs() *Args {
	return &Args{
		Podinfo:            config.DefaultCharts[config.ChartPodinfo],
		ChaosMesh:          config.DefaultCharts[config.ChartChaosMesh],
		Host:               "podinfo.sre-lab.internal",
		IngressClass:       "cilium",
		ClusterIssuer:      "sre-lab-ca",
		IngressAnnotations: map[string]string{"ingress.cilium.io/force-https": "disabled"},
	}
}

// ruleSpec is a PrometheusRule spec with one recording rule.
func ruleSpec(record string) map[string]any {
	return map[string]any{"groups": []any{map[string]any{"name": "g", "rules": []any{
		map[string]any{"record": record, "expr": "vector(1)"},
	}}}}
}

// run registers the layer through a Kubernetes provider under mocks.
func run(t *testing.T, a *Args) (*pulumitest.Mocks, error) {
	t.Helper()
	m, _, err := pulumitest.InCluster("local", nil, func(ctx *pulumi.Context, with pulumi.ResourceOption, _ []pulumi.Resource) (pulumi.Resource, error) {
		return New(ctx, "practice", a, with)
	})
	return m, err
}

// TestChildren: the demo service, its load, the chaos engine in its own
// privileged namespace, and nothing else when no SLOs are handed in; each
// a child of the component, on the cluster's provider.
func TestChildren(t *testing.T) {
	m, err := run(t, testArgs())
	require.NoError(t, err)
	counts := map[string]int{}
	for _, r := range m.Resources() {
		counts[r.Type]++
	}
	component := "urn:pulumi:local::sre-lab::" + Token + "::practice"
	assert.Equal(t, map[string]int{
		"pulumi:providers:kubernetes": 1,
		Token:                         1,
		tNamespaces:                   1,
		tNamespace:                    1,
		tRelease:                      2,
		tDeployment:                   1,
	}, counts)
	for _, r := range m.Resources() {
		switch r.Type {
		case Token, "pulumi:providers:kubernetes":
		case tNamespaces:
			assert.Equal(t, component, r.Parent)
		case tNamespace:
			assert.Contains(t, r.Parent, tNamespaces, "namespaces come from kube/namespaces")
			assert.Contains(t, r.Provider, "pulumi:providers:kubernetes::k8s")
		default:
			assert.Equal(t, component, r.Parent, "%s %s", r.Type, r.Name)
			assert.Contains(t, r.Provider, "pulumi:providers:kubernetes::k8s", "%s %s", r.Type, r.Name)
		}
	}

	ns := m.Named(t, tNamespace, "practice-chaos-mesh")
	name, _ := ns.At("metadata.name")
	assert.Equal(t, ChaosNamespace, name)
	labels, _ := ns.At("metadata.labels")
	assert.Equal(t, "privileged", labels.(map[string]any)["pod-security.kubernetes.io/enforce"], "the daemon needs the host's PID namespace and paths")
}

// TestReleases: each chart is installed from its pin, under its own name
// (podinfo's Service and labels follow it), in its namespace, after the
// Kubernetes layer; Chaos Mesh after its namespace too.
func TestReleases(t *testing.T) {
	a := testArgs()
	m, err := run(t, a)
	require.NoError(t, err)
	for _, tc := range []struct {
		resource, release, namespace, chart string
		chartPin                            config.Chart
	}{
		{"practice-podinfo", "podinfo", "apps", "oci://ghcr.io/stefanprodan/charts/podinfo", a.Podinfo},
		{"practice-chaos-mesh", "chaos-mesh", "chaos-mesh", "chaos-mesh", a.ChaosMesh},
	} {
		r := m.Named(t, tRelease, tc.resource)
		for path, want := range map[string]any{"name": tc.release, "namespace": tc.namespace, "chart": tc.chart, "version": tc.chartPin.Version} {
			got, _ := r.At(path)
			assert.Equal(t, want, got, "%s %s", tc.resource, path)
		}
	}
	repo, _ := m.Named(t, tRelease, "practice-chaos-mesh").At("repositoryOpts.repo")
	assert.Equal(t, "https://charts.chaos-mesh.org", repo)
	assert.True(t, m.Named(t, tRelease, "practice-chaos-mesh").DependsOn(tNamespace, "practice-chaos-mesh"))
}

// TestLoadGenerator: fortio sends steady traffic to podinfo's Service once
// podinfo is up, a small share of it to the latency endpoint, within
// requests and limits, as a pod the restricted level admits.
func TestLoadGenerator(t *testing.T) {
	m, err := run(t, testArgs())
	require.NoError(t, err)
	d := m.Named(t, tDeployment, "practice-load")
	assert.True(t, d.DependsOn(tRelease, "practice-podinfo"))
	for path, want := range map[string]any{
		"metadata.name":      LoadName,
		"metadata.namespace": "apps",
		"spec.replicas":      1.0,
		"spec.template.spec.automountServiceAccountToken":        false,
		"spec.template.spec.securityContext.runAsNonRoot":        true,
		"spec.template.spec.securityContext.runAsUser":           65534.0,
		"spec.template.spec.securityContext.seccompProfile.type": "RuntimeDefault",
	} {
		got, _ := d.At(path)
		assert.Equal(t, want, got, path)
	}
	containers, _ := d.At("spec.template.spec.containers")
	require.Len(t, containers, 2)
	want := map[string][]any{
		"steady": {"load", "-t", "0", "-qps", "5", "-c", "2", "-nocatchup", "-allow-initial-errors", "http://podinfo.apps.svc.cluster.local:9898/"},
		"slow":   {"load", "-t", "0", "-qps", "0.1", "-c", "1", "-nocatchup", "-allow-initial-errors", "http://podinfo.apps.svc.cluster.local:9898/delay/1"},
	}
	for _, c := range containers.([]any) {
		c := c.(map[string]any)
		name := c["name"].(string)
		assert.Equal(t, want[name], c["args"], name)
		assert.Equal(t, "docker.io/fortio/fortio:1.75.2", c["image"])
		assert.Equal(t, map[string]any{
			"requests": map[string]any{"cpu": "10m", "memory": "32Mi"},
			"limits":   map[string]any{"cpu": "100m", "memory": "64Mi"},
		}, c["resources"], name)
		assert.Equal(t, map[string]any{
			"allowPrivilegeEscalation": false,
			"readOnlyRootFilesystem":   true,
			"capabilities":             map[string]any{"drop": []any{"ALL"}},
		}, c["securityContext"], name)
	}
	assert.InDelta(t, 0.02, SlowQPS/(LoadQPS+SlowQPS), 0.005, "a small share goes to the latency endpoint")
}

// TestValuesOverride: the user's helmValues of each chart win over the
// lab's, key by key, and reach only their own release.
func TestValuesOverride(t *testing.T) {
	a := testArgs()
	a.Values = map[string]map[string]any{
		config.ChartPodinfo:   {"replicaCount": 3},
		config.ChartChaosMesh: {"dashboard": map[string]any{"create": true}},
	}
	m, err := run(t, a)
	require.NoError(t, err)
	podinfo := m.Named(t, tRelease, "practice-podinfo")
	replicas, _ := podinfo.At("values.replicaCount")
	assert.Equal(t, 3.0, replicas)
	_, leaked := podinfo.At("values.dashboard")
	assert.False(t, leaked)
	chaos := m.Named(t, tRelease, "practice-chaos-mesh")
	create, _ := chaos.At("values.dashboard.create")
	assert.Equal(t, true, create)
	service, _ := chaos.At("values.dashboard.service.type")
	assert.Equal(t, "ClusterIP", service, "a dashboard turned on stays cluster-internal")
}

// TestRulesAndDashboards: the SLOs' rules and dashboards are registered
// where the monitoring stack finds them, in a stable order, after the
// Kubernetes layer.
func TestRulesAndDashboards(t *testing.T) {
	a := testArgs()
	a.Rules = []Rule{{Name: "slo-podinfo", Spec: ruleSpec("a")}, {Name: "slo-apiserver", Spec: ruleSpec("b")}}
	a.Dashboards = map[string][]byte{"slo-podinfo": []byte(`{"title":"podinfo"}`), "slo-apiserver": []byte(`{"title":"api"}`)}
	a.DashboardFolder = "SLOs"
	m, err := run(t, a)
	require.NoError(t, err)
	for _, r := range a.Rules {
		rule := m.Named(t, tRule, "practice-rules-"+r.Name)
		name, _ := rule.At("metadata.name")
		ns, _ := rule.At("metadata.namespace")
		record, _ := rule.At("spec.groups.0.rules.0.record")
		assert.Equal(t, []any{r.Name, "monitoring", r.Spec["groups"].([]any)[0].(map[string]any)["rules"].([]any)[0].(map[string]any)["record"]},
			[]any{name, ns, record})
	}
	var names []string
	for _, cm := range m.ByType(tConfigMap) {
		names = append(names, cm.Name)
		uid := strings.TrimPrefix(cm.Name, "practice-dashboard-")
		for path, want := range map[string]any{
			"metadata.name":                       "dashboard-" + uid,
			"metadata.namespace":                  "monitoring",
			"metadata.labels.grafana_dashboard":   "1",
			"metadata.annotations.grafana_folder": a.DashboardFolder,
		} {
			got, _ := cm.At(path)
			assert.Equal(t, want, got, "%s %s", cm.Name, path)
		}
		data, _ := cm.At("data")
		assert.Equal(t, map[string]any{uid + ".json": string(a.Dashboards[uid])}, data)
	}
	assert.Equal(t, []string{"practice-dashboard-slo-apiserver", "practice-dashboard-slo-podinfo"}, names)
}

// TestInvalidArgsRegisterNothing: what would register a broken object is
// refused first, naming it.
func TestInvalidArgsRegisterNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Args)
		want string
	}{
		{"no host", func(a *Args) { a.Host = "" }, `host ""`},
		{"unpinned chart", func(a *Args) { a.ChaosMesh = config.Chart{} }, "charts must be pinned"},
		{"rule name", func(a *Args) { a.Rules = []Rule{{Name: "SLO_Podinfo", Spec: ruleSpec("a")}} }, `rule "SLO_Podinfo"`},
		{"rule twice", func(a *Args) {
			a.Rules = []Rule{{Name: "slo", Spec: ruleSpec("a")}, {Name: "slo", Spec: ruleSpec("b")}}
		}, `rule "slo" is given twice`},
		{"rule without groups", func(a *Args) { a.Rules = []Rule{{Name: "slo", Spec: map[string]any{}}} }, "no list of groups"},
		{"dashboard uid", func(a *Args) { a.Dashboards = map[string][]byte{"SLO podinfo": []byte(`{}`)} }, `dashboard "SLO podinfo"`},
		{"dashboard not JSON", func(a *Args) { a.Dashboards = map[string][]byte{"slo": []byte(`{`)} }, `dashboard "slo" is not JSON`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := testArgs()
			tc.edit(a)
			m, err := run(t, a)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, m.ByType(Token), fmt.Sprint(m.Resources()))
		})
	}
}
