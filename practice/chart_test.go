package practice

import (
	"encoding/json"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/internal/charts"
	"github.com/your-org/sre-lab/internal/render"
	"github.com/your-org/sre-lab/kube/helm"
	"github.com/your-org/sre-lab/kube/namespaces"
	"github.com/your-org/sre-lab/practice/drills"
	"github.com/your-org/sre-lab/practice/slo"
)

// renderChart renders chart with values the way the release installs it,
// from the chart cache; without the archive the test is skipped, or fails
// under CI's SRE_LAB_REQUIRE_CHARTS=1.
func renderChart(t *testing.T, chart config.Chart, release, namespace string, values map[string]any) []render.Object {
	t.Helper()
	r, err := render.ForLab()
	require.NoError(t, err)
	missing, err := r.Missing([]config.Chart{chart})
	require.NoError(t, err)
	if len(missing) > 0 {
		if os.Getenv(charts.EnvRequire) == "1" {
			t.Fatalf("the chart cache has no %v; %s fetches it", missing, charts.PullCommand)
		}
		t.Skipf("the chart cache has no %v; %s fetches it", missing, charts.PullCommand)
	}
	objects, err := r.Render(chart, release, namespace, values, nil)
	require.NoError(t, err)
	return objects
}

// find decodes the one rendered object of kind and name into out.
func find(t *testing.T, objects []render.Object, kind, name string, out any) {
	t.Helper()
	for _, o := range objects {
		if o.Kind() == kind && o.Name() == name && len(o.Hook) == 0 {
			require.NoError(t, yaml.Unmarshal(o.Raw, out))
			return
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
}

// installed are the objects an install creates: not the chart's test
// hooks, which only `helm test` runs.
func installed(objects []render.Object) []render.Object {
	return slices.DeleteFunc(slices.Clone(objects), func(o render.Object) bool { return len(o.Hook) > 0 })
}

// checked runs the render tier's checks of one kind on objects installed
// into namespace, which enforces level, as the lab's namespaces label it.
func checked(t *testing.T, check, namespace, level string, objects []render.Object) []string {
	t.Helper()
	ns, err := render.RawObject(map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": namespace, "labels": toAny(namespaces.Labels(level))},
	})
	require.NoError(t, err)
	c := &render.Cluster{
		Stack:             "practice",
		KubernetesVersion: config.DefaultKubernetesVersion,
		PodSecurity:       render.PodSecurityDefaults{Enforce: namespaces.Baseline, EnforceVersion: "latest", Exempt: []string{namespaces.KubeSystem}},
		Sources: []*render.Source{
			{ID: "namespace", Objects: []render.Object{ns}},
			{ID: "release", Release: "release", Namespace: namespace, Waits: true, Before: map[string]bool{"namespace": true}, Objects: objects},
		},
	}
	var out []string
	for _, p := range render.Check(c) {
		if p.Check == check {
			out = append(out, p.String())
		}
	}
	return out
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestPodinfoChart renders the pinned podinfo chart with the lab's values:
// the Service, labels and port the load, the SLOs and the drills rely on;
// two replicas under a disruption budget; the ServiceMonitor and Ingress;
// and pods the restricted level admits, which the chart's defaults are not.
func TestPodinfoChart(t *testing.T) {
	args := testArgs()
	objects := renderChart(t, args.Podinfo, slo.DemoApp, slo.DemoNamespace, PodinfoValues(args))

	var svc corev1.Service
	find(t, objects, "Service", slo.DemoApp, &svc)
	assert.Equal(t, map[string]string{slo.DemoAppLabel: slo.DemoApp}, svc.Spec.Selector)
	assert.Contains(t, svc.Spec.Ports, corev1.ServicePort{Name: "http", Port: HTTPPort, TargetPort: svc.Spec.Ports[0].TargetPort, Protocol: corev1.ProtocolTCP})
	assert.Equal(t, "http", svc.Spec.Ports[0].TargetPort.String())
	assert.Equal(t, corev1.ServiceTypeClusterIP, svc.Spec.Type)

	var d appsv1.Deployment
	find(t, objects, "Deployment", slo.DemoApp, &d)
	require.NotNil(t, d.Spec.Replicas)
	assert.Equal(t, int32(Replicas), *d.Spec.Replicas)
	assert.Equal(t, slo.DemoApp, d.Spec.Template.Labels[slo.DemoAppLabel])
	c := d.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "10m", c.Resources.Requests.Cpu().String())
	assert.Equal(t, "128Mi", c.Resources.Limits.Memory().String())
	assert.Contains(t, c.Command, "--port=9898")
	require.Len(t, d.Spec.Template.Spec.TopologySpreadConstraints, 1)

	var pdb policyv1.PodDisruptionBudget
	find(t, objects, "PodDisruptionBudget", slo.DemoApp, &pdb)
	assert.Equal(t, "1", pdb.Spec.MaxUnavailable.String())

	var ing networkingv1.Ingress
	find(t, objects, "Ingress", slo.DemoApp, &ing)
	require.NotNil(t, ing.Spec.IngressClassName)
	assert.Equal(t, "cilium", *ing.Spec.IngressClassName)
	assert.Equal(t, "podinfo.sre-lab.internal", ing.Spec.Rules[0].Host)
	assert.Equal(t, []networkingv1.IngressTLS{{Hosts: []string{"podinfo.sre-lab.internal"}, SecretName: "podinfo-tls"}}, ing.Spec.TLS)
	assert.Equal(t, map[string]string{"cert-manager.io/cluster-issuer": "sre-lab-ca", "ingress.cilium.io/force-https": "disabled"}, ing.Annotations)
	require.Len(t, ing.Spec.Rules, 1)
	for _, tc := range []struct {
		path   string
		public bool
	}{
		{"/", true},
		{"/version", true},
		{"/api/info", true},
		{"/api/echo", true},
		{"/headers", true},
		{"/status/500", true},
		{"/delay/1", true},
		{"/chunked/2", true},
		{"/healthz", true},
		{"/readyz", true},
		{"/swagger/index.html", true},
		{"/swagger.json", true},
		{"/panic", false},
		{"/env", false},
		{"/readyz/disable", false},
		{"/readyz/enable", false},
		{"/fault_injection/enable", false},
		{"/store", false},
		{"/cache/key", false},
		{"/token", false},
		{"/configs", false},
		{"/metrics", false},
		{"/debug/pprof/heap", false},
		{"/echo", false},
		{"/ws/echo", false},
		{"/statusx", false},
		{"/versions", false},
	} {
		assert.Equal(t, tc.public, ciliumRoutes(ing.Spec.Rules[0], tc.path), "is %s public", tc.path)
	}

	var monitor struct {
		Spec struct {
			Endpoints []struct{ Port, Path string }
		}
	}
	find(t, objects, "ServiceMonitor", slo.DemoApp, &monitor)
	assert.Equal(t, "http", monitor.Spec.Endpoints[0].Port)
	assert.Equal(t, "/metrics", monitor.Spec.Endpoints[0].Path)
	assert.Empty(t, checked(t, "wiring", slo.DemoNamespace, namespaces.Restricted, objects), "the ServiceMonitor and Ingress find the Service and its port")

	assert.Empty(t, checked(t, "pod-security", slo.DemoNamespace, namespaces.Restricted, installed(objects)))
	bare := PodinfoValues(args)
	delete(bare, "podSecurityContext")
	delete(bare, "securityContext")
	refused := checked(t, "pod-security", slo.DemoNamespace, namespaces.Restricted,
		installed(renderChart(t, args.Podinfo, slo.DemoApp, slo.DemoNamespace, bare)))
	require.Len(t, refused, 1, "without the lab's security contexts the chart's pod is not restricted")
	assert.Contains(t, refused[0], "runAsNonRoot")
}

// ciliumRoutes says whether Cilium's ingress sends a request for path to a
// backend of rule, as it translates Ingress paths into Envoy routes
// (cilium operator/pkg/model/ingestion/ingress.go maps the path types;
// operator/pkg/model/translation/envoy_virtual_host.go, getRouteMatch):
// Exact is an exact path, Prefix "/" any path, and any other Prefix a
// path-separated prefix, its trailing slash trimmed.
func ciliumRoutes(rule networkingv1.IngressRule, path string) bool {
	for _, p := range rule.HTTP.Paths {
		switch prefix := strings.TrimSuffix(p.Path, "/"); {
		case p.PathType == nil:
		case *p.PathType == networkingv1.PathTypeExact:
			if path == p.Path {
				return true
			}
		case *p.PathType == networkingv1.PathTypePrefix && p.Path == "/":
			return true
		case *p.PathType == networkingv1.PathTypePrefix:
			if path == prefix || strings.HasPrefix(path, prefix+"/") {
				return true
			}
		}
	}
	return false
}

// TestChaosMeshChart renders the pinned Chaos Mesh chart with the lab's
// values: the daemon reaches Talos's containerd socket; the DNS server
// runs; no dashboard, and no Service beyond the cluster; and what its
// namespace must allow: the daemon alone needs privileged, which baseline
// refuses, while the rest would pass baseline.
func TestChaosMeshChart(t *testing.T) {
	chart := config.DefaultCharts[config.ChartChaosMesh]
	objects := renderChart(t, chart, config.ChartChaosMesh, ChaosNamespace, ChaosMeshValues())

	assert.Equal(t, "/run/containerd/containerd.sock", RuntimeSocket, "Talos's CRI socket")
	var ds appsv1.DaemonSet
	find(t, objects, "DaemonSet", "chaos-daemon", &ds)
	var hostDir string
	for _, v := range ds.Spec.Template.Spec.Volumes {
		if v.Name == "socket-path" {
			require.NotNil(t, v.HostPath)
			hostDir = v.HostPath.Path
		}
	}
	assert.Equal(t, path.Dir(RuntimeSocket), hostDir, "the socket's directory is mounted from the host")
	daemon := ds.Spec.Template.Spec.Containers[0]
	assert.Contains(t, daemon.VolumeMounts, corev1.VolumeMount{Name: "socket-path", MountPath: "/host-run"})
	command := strings.Join(daemon.Command, " ")
	assert.Contains(t, command, "--runtime containerd")
	assert.Contains(t, command, "--runtime-socket-path /host-run/"+path.Base(RuntimeSocket))
	assert.Equal(t, helm.Resources("25m", "64Mi", "256Mi")["requests"].(map[string]any)["memory"], daemon.Resources.Requests.Memory().String())

	var controller, dns appsv1.Deployment
	find(t, objects, "Deployment", "chaos-controller-manager", &controller)
	assert.Equal(t, int32(1), *controller.Spec.Replicas)
	assert.Contains(t, controller.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "ENABLE_FILTER_NAMESPACE", Value: "true"},
		"faults only in namespaces annotated for them")
	find(t, objects, "Deployment", "chaos-dns-server", &dns)
	assert.Equal(t, int32(1), *dns.Spec.Replicas)

	for _, o := range objects {
		if o.Kind() == "Deployment" {
			assert.NotEqual(t, "chaos-dashboard", o.Name(), "the dashboard is off")
		}
		if o.Kind() == "Service" {
			var s corev1.Service
			require.NoError(t, yaml.Unmarshal(o.Raw, &s))
			// No type is the API's default, ClusterIP.
			assert.Contains(t, []corev1.ServiceType{"", corev1.ServiceTypeClusterIP}, s.Spec.Type, s.Name)
		}
	}
	on := helm.Merge(ChaosMeshValues(), map[string]any{"dashboard": map[string]any{"create": true}})
	var dashboard corev1.Service
	find(t, renderChart(t, chart, config.ChartChaosMesh, ChaosNamespace, on), "Service", "chaos-dashboard", &dashboard)
	assert.Equal(t, corev1.ServiceTypeClusterIP, dashboard.Spec.Type, "turned on, it stays cluster-internal")

	assert.Empty(t, checked(t, "pod-security", ChaosNamespace, namespaces.Privileged, installed(objects)))
	refused := checked(t, "pod-security", ChaosNamespace, namespaces.Baseline, installed(objects))
	require.Len(t, refused, 1, "only the daemon needs more than baseline: %v", refused)
	for _, want := range []string{"DaemonSet/chaos-mesh/chaos-daemon", "privileged", "host namespaces", "hostPath volumes"} {
		assert.Contains(t, refused[0], want)
	}
}

// TestDrillObjectsMatchChaosMeshCRDs: every drill's Chaos Mesh object, as
// cmd/drill sends it, passes the schema of the CRD the pinned chart
// installs, as the API server would check it: the kind and version are
// served, and no field is unknown, mistyped or out of its enum. A field
// Chaos Mesh does not know and a mode it does not offer are refused, so
// the check can fail.
func TestDrillObjectsMatchChaosMeshCRDs(t *testing.T) {
	chart := config.DefaultCharts[config.ChartChaosMesh]
	chaos := renderChart(t, chart, config.ChartChaosMesh, ChaosNamespace, ChaosMeshValues())

	schemaProblems := func(objects []render.Object) []string {
		c := &render.Cluster{
			Stack:             "practice",
			KubernetesVersion: config.DefaultKubernetesVersion,
			PodSecurity:       render.PodSecurityDefaults{Enforce: namespaces.Baseline, EnforceVersion: "latest"},
			Sources: []*render.Source{
				{ID: "chaos-mesh", Release: config.ChartChaosMesh, Namespace: ChaosNamespace, Objects: chaos},
				{ID: "drill", Namespace: drills.Namespace, Before: map[string]bool{"chaos-mesh": true}, Objects: objects},
			},
		}
		var out []string
		for _, p := range render.Check(c) {
			if p.Check == "schema" && p.Source == "drill" {
				out = append(out, p.String())
			}
		}
		return out
	}
	// sent decodes o as the API server receives it, after change.
	sent := func(o drills.Object, change func(spec map[string]any)) render.Object {
		raw, err := o.JSON(drills.Namespace)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		change(m["spec"].(map[string]any))
		obj, err := render.RawObject(m)
		require.NoError(t, err)
		return obj
	}
	as := func(map[string]any) {}

	var all []render.Object
	kinds := map[string]bool{}
	for _, d := range drills.All() {
		for _, o := range d.Objects {
			all = append(all, sent(o, as))
			kinds[o.Kind] = true
		}
	}
	require.NotEmpty(t, all)
	for _, o := range all {
		targets, _ := o.Map["spec"].(map[string]any)["selector"].(map[string]any)["namespaces"].([]any)
		assert.Equal(t, []any{slo.DemoNamespace}, targets,
			"%s targets only the namespace the kube layer annotates for Chaos Mesh", o.Name())
	}
	assert.Equal(t, map[string]bool{"PodChaos": true, "NetworkChaos": true, "StressChaos": true, "DNSChaos": true}, kinds,
		"every kind the drills use is checked")
	assert.Empty(t, schemaProblems(all))

	first := drills.All()[0].Objects[0]
	for _, tc := range []struct {
		name   string
		change func(map[string]any)
		want   string
	}{
		{"a field Chaos Mesh does not know", func(s map[string]any) { s["colour"] = "red" }, `unknown field "spec.colour"`},
		{"a mode it does not offer", func(s map[string]any) { s["mode"] = "every" }, "spec.mode"},
	} {
		got := schemaProblems([]render.Object{sent(first, tc.change)})
		require.Len(t, got, 1, tc.name)
		assert.Contains(t, got[0], tc.want, tc.name)
	}
}
