package render

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/internal/charts"
)

// obj parses one YAML object the way a render does.
func obj(t *testing.T, doc string) Object {
	t.Helper()
	var m map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(doc), &m))
	return Object{Map: m, Raw: []byte(doc)}
}

// release is a waited release of objects in namespace, after before.
func release(name, namespace string, objects []Object, before ...string) *Source {
	b := map[string]bool{}
	for _, id := range before {
		b[id] = true
	}
	return &Source{ID: name, Release: name, Namespace: namespace, Waits: true, Before: b, Objects: objects}
}

func cluster(sources ...*Source) *Cluster {
	return &Cluster{Stack: "test", Sources: sources, CNI: "cni", KubernetesVersion: "1.35.0",
		PodSecurity: PodSecurityDefaults{Enforce: "baseline", EnforceVersion: "latest", Exempt: []string{"kube-system"}}}
}

// only keeps the problems of one check, as lines.
func only(problems []Problem, check string) []string {
	var out []string
	for _, p := range problems {
		if p.Check == check {
			out = append(out, p.String())
		}
	}
	return out
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.29
        ports: [{name: http, containerPort: 8080}]
`

func TestSchemaBuiltIn(t *testing.T) {
	c := cluster(&Source{ID: "cni"}, release("web", "apps", []Object{obj(t, deployment)}, "cni"))
	assert.Empty(t, only(Check(c), "schema"))

	typo := strings.Replace(deployment, "image: nginx:1.29", "image: nginx:1.29\n        imagePulPolicy: Always", 1)
	c = cluster(&Source{ID: "cni"}, release("web", "apps", []Object{obj(t, typo)}, "cni"))
	got := only(Check(c), "schema")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "test: release web: Deployment/apps/web: schema:")
	assert.Contains(t, got[0], `unknown field "spec.template.spec.containers[0].imagePulPolicy"`)

	removed := obj(t, "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: old}\n")
	got = only(Check(cluster(release("old", "apps", []Object{removed}))), "schema")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "policy/v1beta1 is not served")
}

const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
`

func TestSchemaCustomResource(t *testing.T) {
	widget := func(body string) Object {
		return obj(t, "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: "+body+"\n")
	}
	crds := &Source{ID: "crds", Release: "crds", Objects: []Object{obj(t, crd)}}
	ok := release("app", "apps", []Object{widget("{size: 2}")}, "crds")
	assert.Empty(t, only(Check(cluster(crds, ok)), "schema"))

	got := only(Check(cluster(crds, release("app", "apps", []Object{widget("{size: 0, colour: red}")}, "crds"))), "schema")
	assert.Len(t, got, 2)
	assert.Contains(t, strings.Join(got, "\n"), "spec.size")
	assert.Contains(t, strings.Join(got, "\n"), `unknown field "spec.colour"`)

	// The CRD exists, but only from a release applied in parallel.
	got = only(Check(cluster(crds, release("app", "apps", []Object{widget("{size: 2}")}))), "schema")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "not applied before it")

	got = only(Check(cluster(crds, release("app", "apps", []Object{obj(t, "apiVersion: example.com/v2\nkind: Widget\nmetadata: {name: w}\n")}, "crds"))), "schema")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "does not serve version v2")
}

func TestPodSecurity(t *testing.T) {
	hostNet := strings.Replace(deployment, "      containers:", "      hostNetwork: true\n      containers:", 1)
	ns := func(level string) Object {
		return obj(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps, labels: {pod-security.kubernetes.io/enforce: "+level+"}}\n")
	}
	// The cluster default (baseline) applies to an unlabelled namespace.
	got := only(Check(cluster(&Source{ID: "cni"}, release("web", "apps", []Object{obj(t, hostNet)}, "cni"))), "pod-security")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "baseline:latest (cluster default) forbids: host namespaces")

	// A privileged label allows it; an exempt namespace is not checked.
	assert.Empty(t, only(Check(cluster(&Source{ID: "ns", Objects: []Object{ns("privileged")}}, release("web", "apps", []Object{obj(t, hostNet)}, "ns"))), "pod-security"))
	assert.Empty(t, only(Check(cluster(release("web", "kube-system", []Object{obj(t, hostNet)}))), "pod-security"))

	// Restricted asks more than the plain Deployment gives.
	got = only(Check(cluster(&Source{ID: "ns", Objects: []Object{ns("restricted")}}, release("web", "apps", []Object{obj(t, deployment)}, "ns"))), "pod-security")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "label of namespace apps")
}

func TestTalosPodSecurity(t *testing.T) {
	d, err := TalosPodSecurity("v1.12.4", "1.35.0")
	require.NoError(t, err)
	assert.Equal(t, PodSecurityDefaults{Enforce: "baseline", EnforceVersion: "latest", Exempt: []string{"kube-system"}}, d)
}

func TestReadinessPodNetwork(t *testing.T) {
	got := only(Check(cluster(&Source{ID: "cni"}, release("web", "apps", []Object{obj(t, deployment)}))), "readiness")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "pod network of cni")
	assert.Empty(t, only(Check(cluster(&Source{ID: "cni"}, release("web", "apps", []Object{obj(t, deployment)}, "cni"))), "readiness"))
	// Without the wait, Helm does not care.
	unawaited := release("web", "apps", []Object{obj(t, deployment)})
	unawaited.Waits = false
	assert.Empty(t, only(Check(cluster(&Source{ID: "cni"}, unawaited)), "readiness"))
}

func TestReadinessClaims(t *testing.T) {
	claim := obj(t, "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec: {storageClassName: local, accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n")
	class := func(mode string) *Source {
		return &Source{ID: "storage", Release: "storage", Objects: []Object{obj(t,
			"apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: local}\nprovisioner: example.com/local\nvolumeBindingMode: "+mode+"\n")}}
	}
	got := only(Check(cluster(release("db", "apps", []Object{claim}))), "readiness")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "needs StorageClass local, which no source of this stack creates")

	assert.Empty(t, only(Check(cluster(class("Immediate"), release("db", "apps", []Object{claim}, "storage"))), "readiness"))

	// A class that waits for a consumer never binds a claim no pod mounts.
	got = only(Check(cluster(class("WaitForFirstConsumer"), release("db", "apps", []Object{claim}, "storage"))), "readiness")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "no pod of the release mounts it")

	// A class from a release that waits for this one comes too late.
	late := class("Immediate")
	late.Before = map[string]bool{"db": true}
	got = only(Check(cluster(late, release("db", "apps", []Object{claim}))), "readiness")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "creates only after this release")
}

func TestReadinessLoadBalancer(t *testing.T) {
	svc := obj(t, "apiVersion: v1\nkind: Service\nmetadata: {name: web, annotations: {lbipam.cilium.io/ips: 192.168.56.200}}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n")
	pool := func(start, stop string) *Source {
		return &Source{ID: "pool", Objects: []Object{obj(t, "apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata: {name: p}\nspec: {blocks: [{start: "+start+", stop: "+stop+"}]}\n")}}
	}
	got := only(Check(cluster(release("web", "apps", []Object{svc}))), "readiness")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "no load-balancer IP pool")
	assert.Empty(t, only(Check(cluster(pool("192.168.56.200", "192.168.56.210"), release("web", "apps", []Object{svc}, "pool"))), "readiness"))
	got = only(Check(cluster(pool("192.168.56.100", "192.168.56.110"), release("web", "apps", []Object{svc}, "pool"))), "readiness")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "asks for 192.168.56.200")
}

func TestReadinessHookServiceAccount(t *testing.T) {
	job := obj(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\nspec: {template: {spec: {serviceAccountName: migrator, restartPolicy: Never, containers: [{name: m, image: busybox:1.37}]}}}\n")
	job.Hook, job.Weight = []string{"pre-install"}, 1
	sa := obj(t, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: migrator}\n")
	got := only(Check(cluster(&Source{ID: "cni"}, release("app", "apps", []Object{job, sa}, "cni"))), "readiness")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "ServiceAccount migrator, which does not exist when the hook runs")
	sa.Hook, sa.Weight = []string{"pre-install"}, 0
	assert.Empty(t, only(Check(cluster(&Source{ID: "cni"}, release("app", "apps", []Object{job, sa}, "cni"))), "readiness"))
}

func TestWiring(t *testing.T) {
	svc := obj(t, "apiVersion: v1\nkind: Service\nmetadata: {name: web, labels: {app: web}}\nspec: {clusterIP: 10.96.0.20, selector: {app: web}, ports: [{name: http, port: 80}]}\n")
	monitor := func(port string) Object {
		return obj(t, "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: web}\nspec: {selector: {matchLabels: {app: web}}, endpoints: [{port: "+port+"}]}\n")
	}
	ingress := func(port string) Object {
		return obj(t, "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec: {rules: [{http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {name: "+port+"}}}}]}}]}\n")
	}
	wired := func(objects ...Object) []string {
		c := cluster(release("web", "apps", append([]Object{svc}, objects...)))
		return only(Check(c), "wiring")
	}
	assert.Empty(t, wired(monitor("http"), ingress("http")))
	got := wired(monitor("metrics"), ingress("https"))
	require.Len(t, got, 2)
	assert.Contains(t, got[0], `Ingress/apps/web: wiring: backend Service apps/web has no port https`)
	assert.Contains(t, got[1], `ServiceMonitor/apps/web: wiring: scrapes port "metrics"`)

	// A URL the program writes must name a Service and port.
	cm := func(url string) *Source {
		o, err := RawObject(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "ds", "namespace": "apps"},
			"data": map[string]any{"ds.yaml": "url: " + url}})
		require.NoError(t, err)
		return &Source{ID: "ds", Objects: []Object{o}}
	}
	assert.Empty(t, only(Check(cluster(release("web", "apps", []Object{svc}), cm("http://web.apps.svc.cluster.local:80/api"))), "wiring"))
	got = only(Check(cluster(release("web", "apps", []Object{svc}), cm("http://web.apps.svc:3100/api"))), "wiring")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "has no port 3100")

	// Node-level endpoints are a Service's cluster IP and port.
	c := cluster(release("web", "apps", []Object{svc}))
	c.Endpoints = []Endpoint{{What: "Talos log destination", IP: "10.96.0.20", Port: 80}}
	assert.Empty(t, only(Check(c), "wiring"))
	c.Endpoints[0].Port = 6050
	got = only(Check(c), "wiring")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "Talos log destination: 10.96.0.20:6050")
}

func TestParseEndpoint(t *testing.T) {
	e, err := ParseEndpoint("logs", "tcp://10.96.0.20:6050/")
	require.NoError(t, err)
	assert.Equal(t, Endpoint{What: "logs", IP: "10.96.0.20", Port: 6050}, e)
	_, err = ParseEndpoint("logs", "tcp://10.96.0.20/")
	assert.Error(t, err)
}

// cachedRenderer renders from the chart cache, skipping (or, under CI's
// SRE_LAB_REQUIRE_CHARTS=1, failing) when the archive is not there.
func cachedRenderer(t *testing.T, chart config.Chart) *Renderer {
	t.Helper()
	dirs, err := charts.CacheDirs()
	require.NoError(t, err)
	lock, err := charts.LoadLock()
	require.NoError(t, err)
	r, err := NewRenderer(dirs, lock, "1.35.0")
	require.NoError(t, err)
	missing, err := r.Missing([]config.Chart{chart})
	require.NoError(t, err)
	if len(missing) > 0 {
		if os.Getenv(charts.EnvRequire) == "1" {
			t.Fatalf("%v has no %v", dirs, missing)
		}
		t.Skipf("%v has no %v; fetch it with %s", dirs, missing, charts.PullCommand)
	}
	return r
}

// TestRenderRunsHelmInstall renders a pinned chart the way the provider
// installs it: objects with their source template, each render once.
func TestRenderRunsHelmInstall(t *testing.T) {
	chart := config.DefaultCharts[config.ChartLocalPath]
	r := cachedRenderer(t, chart)
	values := map[string]any{"storageClass": map[string]any{"defaultClass": true}}
	objects, err := r.Render(chart, "local-path-provisioner", "storage", values, nil)
	require.NoError(t, err)
	kinds := map[string]bool{}
	for _, o := range objects {
		kinds[o.Kind()] = true
		assert.NotEmpty(t, o.Template)
	}
	assert.True(t, kinds["StorageClass"] && kinds["Deployment"], "kinds: %v", kinds)
	again, err := r.Render(chart, "local-path-provisioner", "storage", values, nil)
	require.NoError(t, err)
	assert.Same(t, &objects[0], &again[0], "the same render is served from the cache")
}

// TestRenderChecksTheValuesSchema: a chart's values.schema.json refuses
// values before anything renders, as helm install does.
func TestRenderChecksTheValuesSchema(t *testing.T) {
	chart := config.DefaultCharts[config.ChartCertManager]
	r := cachedRenderer(t, chart)
	_, err := r.Render(chart, "cert-manager", "cert-manager", map[string]any{"replicaCount": "two"}, nil)
	assert.ErrorContains(t, err, "replicaCount")
	_, err = r.Render(chart, "cert-manager", "cert-manager", map[string]any{"replicaCount": 2}, nil)
	assert.NoError(t, err)
}
