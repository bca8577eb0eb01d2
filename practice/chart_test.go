package practice

import (
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
)

// renderChart renders chart with values the way the release installs it,
// from the chart cache; without the archive the test is skipped, or fails
// under CI's SRE_LAB_REQUIRE_CHARTS=1.
func renderChart(t *testing.T, chart config.Chart, release, namespace string, values map[string]any) []render.Object {
	t.Helper()
	dirs, err := charts.CacheDirs()
	require.NoError(t, err)
	lock, err := charts.LoadLock()
	require.NoError(t, err)
	r, err := render.NewRenderer(dirs, lock, config.DefaultKubernetesVersion)
	require.NoError(t, err)
	missing, err := r.Missing([]config.Chart{chart})
	require.NoError(t, err)
	if len(missing) > 0 {
		if os.Getenv(charts.EnvRequire) == "1" {
			t.Fatalf("%v has no %v; %s fetches it", dirs, missing, charts.PullCommand)
		}
		t.Skipf("%v has no %v; %s fetches it", dirs, missing, charts.PullCommand)
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
	objects := renderChart(t, args.Podinfo, Service, Namespace, PodinfoValues(args))

	var svc corev1.Service
	find(t, objects, "Service", Service, &svc)
	assert.Equal(t, map[string]string{AppLabel: Service}, svc.Spec.Selector)
	assert.Contains(t, svc.Spec.Ports, corev1.ServicePort{Name: "http", Port: HTTPPort, TargetPort: svc.Spec.Ports[0].TargetPort, Protocol: corev1.ProtocolTCP})
	assert.Equal(t, "http", svc.Spec.Ports[0].TargetPort.String())
	assert.Equal(t, corev1.ServiceTypeClusterIP, svc.Spec.Type)

	var d appsv1.Deployment
	find(t, objects, "Deployment", Service, &d)
	require.NotNil(t, d.Spec.Replicas)
	assert.Equal(t, int32(Replicas), *d.Spec.Replicas)
	assert.Equal(t, Service, d.Spec.Template.Labels[AppLabel])
	c := d.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "10m", c.Resources.Requests.Cpu().String())
	assert.Equal(t, "128Mi", c.Resources.Limits.Memory().String())
	assert.Contains(t, c.Command, "--port=9898")
	require.Len(t, d.Spec.Template.Spec.TopologySpreadConstraints, 1)

	var pdb policyv1.PodDisruptionBudget
	find(t, objects, "PodDisruptionBudget", Service, &pdb)
	assert.Equal(t, "1", pdb.Spec.MaxUnavailable.String())

	var ing networkingv1.Ingress
	find(t, objects, "Ingress", Service, &ing)
	require.NotNil(t, ing.Spec.IngressClassName)
	assert.Equal(t, "cilium", *ing.Spec.IngressClassName)
	assert.Equal(t, "podinfo.sre-lab.internal", ing.Spec.Rules[0].Host)
	assert.Equal(t, []networkingv1.IngressTLS{{Hosts: []string{"podinfo.sre-lab.internal"}, SecretName: "podinfo-tls"}}, ing.Spec.TLS)
	assert.Equal(t, map[string]string{"cert-manager.io/cluster-issuer": "sre-lab-ca", "ingress.cilium.io/force-https": "disabled"}, ing.Annotations)

	var monitor struct {
		Spec struct {
			Endpoints []struct{ Port, Path string }
		}
	}
	find(t, objects, "ServiceMonitor", Service, &monitor)
	assert.Equal(t, "http", monitor.Spec.Endpoints[0].Port)
	assert.Equal(t, "/metrics", monitor.Spec.Endpoints[0].Path)
	assert.Empty(t, checked(t, "wiring", Namespace, namespaces.Restricted, objects), "the ServiceMonitor and Ingress find the Service and its port")

	assert.Empty(t, checked(t, "pod-security", Namespace, namespaces.Restricted, installed(objects)))
	bare := PodinfoValues(args)
	delete(bare, "podSecurityContext")
	delete(bare, "securityContext")
	refused := checked(t, "pod-security", Namespace, namespaces.Restricted,
		installed(renderChart(t, args.Podinfo, Service, Namespace, bare)))
	require.Len(t, refused, 1, "without the lab's security contexts the chart's pod is not restricted")
	assert.Contains(t, refused[0], "runAsNonRoot")
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
