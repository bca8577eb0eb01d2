package cilium

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/apigate"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

// Type tokens of everything the tests register or expect.
const (
	tProvider  = "pulumi:providers:kubernetes"
	tRelease   = "kubernetes:helm.sh/v3:Release"
	tPool      = "kubernetes:cilium.io/v2:CiliumLoadBalancerIPPool"
	tPolicy    = "kubernetes:cilium.io/v2alpha1:CiliumL2AnnouncementPolicy"
	tNamespace = "kubernetes:core/v1:Namespace"
	tCommand   = "command:local:Command"
)

// access is the admin's way to the API server, as TalosCluster hands it
// over.
func access() apigate.Access {
	out := func(s string) pulumi.StringOutput { return pulumi.String(s).ToStringOutput() }
	return apigate.Access{
		URL:               out("https://192.168.56.10:6443"),
		CACertificate:     out("ca-pem"),
		ClientCertificate: out("cert-pem"),
		ClientKey:         pulumi.ToSecret(out("key-pem")).(pulumi.StringOutput),
	}
}

// component is the name tests give the component: unlike the chart's name,
// so the release's Helm name visibly comes from the chart.
const component = "cni"

// monitoring is the dashboards namespace the tests use.
const monitoring = "monitoring"

// localRange is a laptop backend's LB-IPAM pool.
var localRange = &infra.AddressRange{
	First: netip.MustParseAddr("192.168.56.50"),
	Last:  netip.MustParseAddr("192.168.56.99"),
}

// cloudArgs are valid args for a cloud backend: no pool, no Hubble host.
func cloudArgs() *Args {
	return &Args{
		Chart:               config.DefaultCharts[config.ChartCilium],
		OperatorReplicas:    2,
		ServiceMonitors:     true,
		DashboardsNamespace: monitoring,
		Access:              access(),
	}
}

// localArgs are valid args for a laptop backend: a pool and a Hubble host.
func localArgs() *Args {
	args := cloudArgs()
	args.OperatorReplicas = 1
	args.LoadBalancerRange = localRange
	args.HubbleHost = "hubble.lab.local"
	args.ClusterIssuer = "sre-lab-ca"
	return args
}

// outcome is what one mocked run registered.
type outcome struct {
	mocks *pulumitest.Mocks
	cni   *CNI
	urn   string
}

// run registers a Kubernetes provider, one Namespace per name in deps (added
// to args.DependsOn), and the component through the provider.
func run(t *testing.T, args *Args, deps ...string) (outcome, error) {
	t.Helper()
	var out outcome
	var err error
	out.mocks, out.urn, err = pulumitest.InCluster("local", deps, func(ctx *pulumi.Context, with pulumi.ResourceOption, ready []pulumi.Resource) (pulumi.Resource, error) {
		args.DependsOn = append(args.DependsOn, ready...)
		c, err := NewCNI(ctx, component, args, with)
		if err != nil {
			return nil, err
		}
		out.cni = c
		return c, nil
	})
	return out, err
}

// mustRun is run for valid args.
func mustRun(t *testing.T, args *Args, deps ...string) outcome {
	t.Helper()
	out, err := run(t, args, deps...)
	require.NoError(t, err)
	require.NotNil(t, out.cni)
	require.NotEmpty(t, out.urn)
	return out
}

// release is the one Helm release of a run.
func (o outcome) release(t *testing.T) pulumitest.Resource {
	t.Helper()
	releases := o.mocks.ByType(tRelease)
	require.Len(t, releases, 1, "one Helm release")
	return releases[0]
}

// value reads an input the test expects to be set, failing when it is not.
func value(t *testing.T, r pulumitest.Resource, path string) any {
	t.Helper()
	v, ok := r.At(path)
	require.True(t, ok, "%s %s has no %s", r.Type, r.Name, path)
	return v
}

// annotation reads one annotation from the map at path; annotation keys hold
// dots, so they cannot be part of a dotted path.
func annotation(t *testing.T, r pulumitest.Resource, path, key string) any {
	t.Helper()
	annotations, ok := value(t, r, path).(map[string]any)
	require.True(t, ok, "%s is not a map", path)
	v, ok := annotations[key]
	require.True(t, ok, "%s has no %s: %v", path, key, annotations)
	return v
}

// strs is a list of strings as inputs read back.
func strs(s ...string) []any {
	out := make([]any, len(s))
	for i, e := range s {
		out[i] = e
	}
	return out
}

// num is a number as inputs read back.
func num(n int) float64 { return float64(n) }

func TestTalosValues(t *testing.T) {
	want := map[string]any{
		"ipam.mode":                "kubernetes",
		"kubeProxyReplacement":     true,
		"k8sServiceHost":           "localhost",
		"k8sServicePort":           num(infra.KubePrismPort),
		"cgroup.autoMount.enabled": false,
		"cgroup.hostRoot":          "/sys/fs/cgroup",
		"bpf.masquerade":           true,
		"securityContext.capabilities.ciliumAgent": strs("CHOWN", "KILL", "NET_ADMIN", "NET_RAW", "IPC_LOCK",
			"SYS_ADMIN", "SYS_RESOURCE", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"),
		"securityContext.capabilities.cleanCiliumState": strs("NET_ADMIN", "SYS_ADMIN", "SYS_RESOURCE"),
	}
	for _, tc := range []struct {
		name string
		args *Args
	}{
		{"cloud", cloudArgs()},
		{"local", localArgs()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, tc.args).release(t)
			for path, w := range want {
				assert.Equal(t, w, value(t, r, "values."+path), path)
			}
			assert.Equal(t, num(7445), value(t, r, "values.k8sServicePort"), "KubePrism listens on 7445")
			agent := value(t, r, "values.securityContext.capabilities.ciliumAgent")
			assert.NotContains(t, agent, "SYS_MODULE", "Talos loads no kernel modules at runtime")
			assert.NotContains(t, agent, "SYSLOG")
			assert.NotContains(t, value(t, r, "values.securityContext.capabilities.cleanCiliumState"), "SYS_MODULE")
		})
	}
}

func TestHubble(t *testing.T) {
	for _, tc := range []struct {
		name            string
		serviceMonitors bool
		dashboards      string
	}{
		{"monitored with dashboards", true, monitoring},
		{"monitored without dashboards", true, ""},
		{"unmonitored with dashboards", false, monitoring},
		{"unmonitored without dashboards", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := cloudArgs()
			args.ServiceMonitors = tc.serviceMonitors
			args.DashboardsNamespace = tc.dashboards
			r := mustRun(t, args).release(t)

			for path, want := range map[string]any{
				"hubble.enabled":                    true,
				"hubble.relay.enabled":              true,
				"hubble.ui.enabled":                 true,
				"hubble.tls.auto.enabled":           true,
				"hubble.tls.auto.method":            "cronJob",
				"hubble.metrics.enableOpenMetrics":  true,
				"prometheus.enabled":                true,
				"operator.prometheus.enabled":       true,
				"prometheus.serviceMonitor.enabled": tc.serviceMonitors,
				// The chart checks for the CRDs at render time, before the
				// same update has installed them.
				"prometheus.serviceMonitor.trustCRDsExist":       tc.serviceMonitors,
				"operator.prometheus.serviceMonitor.enabled":     tc.serviceMonitors,
				"envoy.prometheus.serviceMonitor.enabled":        tc.serviceMonitors,
				"hubble.metrics.serviceMonitor.enabled":          tc.serviceMonitors,
				"hubble.relay.prometheus.enabled":                true,
				"hubble.relay.prometheus.serviceMonitor.enabled": tc.serviceMonitors,
			} {
				assert.Equal(t, want, value(t, r, "values."+path), path)
			}
			assert.NotEqual(t, "helm", value(t, r, "values.hubble.tls.auto.method"),
				"certificates made by helm expire with nobody renewing them")

			metrics, ok := value(t, r, "values.hubble.metrics.enabled").([]any)
			require.True(t, ok, "hubble.metrics.enabled is a list")
			for _, name := range []string{"dns", "drop", "tcp", "flow", "port-distribution", "icmp", "httpV2"} {
				found := false
				for _, m := range metrics {
					if s, _ := m.(string); s == name || strings.HasPrefix(s, name+":") {
						found = true
					}
				}
				assert.True(t, found, "hubble metric %s in %v", name, metrics)
			}

			for _, prefix := range []string{"", "operator.", "hubble.metrics."} {
				assert.Equal(t, tc.dashboards != "", value(t, r, "values."+prefix+"dashboards.enabled"), prefix+"dashboards.enabled")
				assert.Equal(t, tc.dashboards, value(t, r, "values."+prefix+"dashboards.namespace"), prefix+"dashboards.namespace")
			}
		})
	}
}

func TestOperatorReplicas(t *testing.T) {
	for _, tc := range []struct {
		replicas int
		err      bool
	}{
		{1, false},
		{2, false},
		{0, true},
		{-1, true},
	} {
		t.Run(strconv.Itoa(tc.replicas), func(t *testing.T) {
			args := localArgs()
			args.OperatorReplicas = tc.replicas
			out, err := run(t, args)
			if !tc.err {
				require.NoError(t, err)
				assert.Equal(t, num(tc.replicas), value(t, out.release(t), "values.operator.replicas"))
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "operator replicas")
			assert.Contains(t, err.Error(), strconv.Itoa(tc.replicas))
			assert.Nil(t, out.cni)
			resources := out.mocks.Resources()
			for _, r := range resources {
				assert.Equal(t, tProvider, r.Type, "registered %s %s despite invalid args", r.Type, r.Name)
			}
			assert.Len(t, resources, 1, "nothing but the test's provider")
		})
	}
}

func TestLoadBalancer(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		out := mustRun(t, localArgs())
		r := out.release(t)
		assert.Equal(t, true, value(t, r, "values.l2announcements.enabled"))
		assert.Equal(t, "LoadBalancer", value(t, r, "values.ingressController.service.type"))
		assert.Equal(t, "192.168.56.50", annotation(t, r, "values.ingressController.service.annotations", "lbipam.cilium.io/ips"),
			"the ingress takes the pool's first address")
		for _, path := range []string{"insecureNodePort", "secureNodePort"} {
			_, ok := r.At("values.ingressController.service." + path)
			assert.False(t, ok, "no %s on a LoadBalancer service", path)
		}

		pools := out.mocks.ByType(tPool)
		require.Len(t, pools, 1, "one LB-IPAM pool")
		pool := pools[0]
		assert.Equal(t, "cilium.io/v2", value(t, pool, "apiVersion"))
		assert.Equal(t, "CiliumLoadBalancerIPPool", value(t, pool, "kind"))
		assert.Equal(t, []any{map[string]any{"start": "192.168.56.50", "stop": "192.168.56.99"}}, value(t, pool, "spec.blocks"))

		policies := out.mocks.ByType(tPolicy)
		require.Len(t, policies, 1, "one L2 announcement policy")
		policy := policies[0]
		assert.Equal(t, "cilium.io/v2alpha1", value(t, policy, "apiVersion"))
		assert.Equal(t, "CiliumL2AnnouncementPolicy", value(t, policy, "kind"))
		assert.Equal(t, true, value(t, policy, "spec.loadBalancerIPs"))

		for _, cr := range []pulumitest.Resource{pool, policy} {
			assert.True(t, cr.DependsOn(tCommand, component+"-ready"),
				"%s waits until the operator runs, which registers its kind: %v", cr.Type, cr.Dependencies)
			assert.Equal(t, out.urn, cr.Parent, "%s is parented under the component", cr.Type)
			assert.Contains(t, cr.Provider, tProvider+"::k8s::", "%s goes through the component's provider", cr.Type)
			assert.NotEmpty(t, value(t, cr, "metadata.name"))
		}
	})

	t.Run("cloud", func(t *testing.T) {
		out := mustRun(t, cloudArgs())
		r := out.release(t)
		if v, ok := r.At("values.l2announcements.enabled"); ok {
			assert.Equal(t, false, v, "no L2 announcements behind a cloud load balancer")
		}
		assert.Equal(t, "NodePort", value(t, r, "values.ingressController.service.type"))
		assert.Equal(t, num(infra.IngressHTTPNodePort), value(t, r, "values.ingressController.service.insecureNodePort"))
		assert.Equal(t, num(infra.IngressHTTPSNodePort), value(t, r, "values.ingressController.service.secureNodePort"))
		assert.Equal(t, num(30080), value(t, r, "values.ingressController.service.insecureNodePort"))
		assert.Equal(t, num(30443), value(t, r, "values.ingressController.service.secureNodePort"))
		_, ok := r.At("values.ingressController.service.annotations")
		assert.False(t, ok, "no LB-IPAM annotation without a pool")
		assert.Empty(t, out.mocks.ByType(tPool), "no pool in a cloud")
		assert.Empty(t, out.mocks.ByType(tPolicy), "no L2 policy in a cloud")
	})
}

func TestIngress(t *testing.T) {
	for _, tc := range []struct {
		name   string
		host   string
		issuer string
	}{
		{"with Hubble host", "hubble.example.com", "letsencrypt"},
		{"with another Hubble host", "hubble.lab.local", "sre-lab-ca"},
		{"without Hubble host", "", "letsencrypt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := cloudArgs()
			args.HubbleHost = tc.host
			args.ClusterIssuer = tc.issuer
			r := mustRun(t, args).release(t)

			for path, want := range map[string]any{
				"ingressController.enabled":          true,
				"ingressController.default":          true,
				"ingressController.loadbalancerMode": "shared",
				"gatewayAPI.enabled":                 true,
			} {
				assert.Equal(t, want, value(t, r, "values."+path), path)
			}

			if tc.host == "" {
				if v, ok := r.At("values.hubble.ui.ingress.enabled"); ok {
					assert.Equal(t, false, v, "no Hubble UI ingress without a host")
				}
				_, ok := r.At("values.hubble.ui.ingress.hosts")
				assert.False(t, ok, "no Hubble UI hosts without a host")
				return
			}
			assert.Equal(t, true, value(t, r, "values.hubble.ui.ingress.enabled"))
			assert.Equal(t, IngressClass, value(t, r, "values.hubble.ui.ingress.className"))
			assert.Equal(t, "cilium", value(t, r, "values.hubble.ui.ingress.className"))
			assert.Equal(t, strs(tc.host), value(t, r, "values.hubble.ui.ingress.hosts"))
			assert.Equal(t, tc.issuer, annotation(t, r, "values.hubble.ui.ingress.annotations", "cert-manager.io/cluster-issuer"))
			tls, ok := value(t, r, "values.hubble.ui.ingress.tls").([]any)
			require.True(t, ok, "hubble.ui.ingress.tls is a list")
			require.Len(t, tls, 1)
			entry, ok := tls[0].(map[string]any)
			require.True(t, ok)
			assert.NotEmpty(t, entry["secretName"], "cert-manager needs a secret to write the certificate to")
			assert.Equal(t, strs(tc.host), entry["hosts"])
		})
	}
}

// mebibytes parses the Mi and Gi quantities the values use.
func mebibytes(t *testing.T, q any) int {
	t.Helper()
	s, ok := q.(string)
	require.True(t, ok, "quantity %v is a string", q)
	for suffix, factor := range map[string]int{"Mi": 1, "Gi": 1024} {
		if n, found := strings.CutSuffix(s, suffix); found {
			v, err := strconv.Atoi(n)
			require.NoError(t, err, s)
			return v * factor
		}
	}
	t.Fatalf("quantity %q is neither Mi nor Gi", s)
	return 0
}

func TestResources(t *testing.T) {
	r := mustRun(t, localArgs()).release(t)
	for _, tc := range []struct{ workload, prefix string }{
		{"agent", ""},
		{"operator", "operator."},
		{"hubble relay", "hubble.relay."},
		{"hubble ui frontend", "hubble.ui.frontend."},
		{"hubble ui backend", "hubble.ui.backend."},
		{"envoy", "envoy."},
	} {
		t.Run(tc.workload, func(t *testing.T) {
			p := "values." + tc.prefix + "resources."
			assert.NotEmpty(t, value(t, r, p+"requests.cpu"))
			request := mebibytes(t, value(t, r, p+"requests.memory"))
			limit := mebibytes(t, value(t, r, p+"limits.memory"))
			assert.Positive(t, request)
			assert.GreaterOrEqual(t, limit, request, "memory limit below the request")
			_, ok := r.At(p + "limits.cpu")
			assert.False(t, ok, "CPU is not capped, so a busy %s slows rather than being throttled", tc.workload)
		})
	}
}

func TestUserValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   map[string]any // paths the user's values set
		kept   map[string]any // paths the component's values still set
	}{
		{
			name:   "operator and relay",
			values: map[string]any{"operator": map[string]any{"replicas": 3}, "hubble": map[string]any{"relay": map[string]any{"enabled": false}}},
			want:   map[string]any{"operator.replicas": num(3), "hubble.relay.enabled": false},
			kept: map[string]any{
				"k8sServicePort":                       num(infra.KubePrismPort),
				"operator.prometheus.enabled":          true,
				"hubble.enabled":                       true,
				"hubble.ui.enabled":                    true,
				"hubble.tls.auto.method":               "cronJob",
				"hubble.relay.resources.limits.memory": "128Mi",
				"ipam.mode":                            "kubernetes",
			},
		},
		{
			name:   "a list replaces the whole list",
			values: map[string]any{"hubble": map[string]any{"metrics": map[string]any{"enabled": []any{"dns"}}}},
			want:   map[string]any{"hubble.metrics.enabled": strs("dns")},
			kept: map[string]any{
				"hubble.metrics.enableOpenMetrics": true,
				"hubble.relay.enabled":             true,
				"operator.replicas":                num(1),
			},
		},
		{
			name:   "new keys",
			values: map[string]any{"debug": map[string]any{"enabled": true}, "cgroup": map[string]any{"autoMount": map[string]any{"resources": map[string]any{}}}},
			want:   map[string]any{"debug.enabled": true},
			kept: map[string]any{
				"cgroup.autoMount.enabled": false,
				"cgroup.hostRoot":          "/sys/fs/cgroup",
				"k8sServicePort":           num(7445),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := localArgs()
			args.Values = tc.values
			r := mustRun(t, args).release(t)
			for path, want := range tc.want {
				assert.Equal(t, want, value(t, r, "values."+path), "user's %s", path)
			}
			for path, want := range tc.kept {
				assert.Equal(t, want, value(t, r, "values."+path), "component's %s", path)
			}
			assert.Equal(t, num(7445), value(t, r, "values.k8sServicePort"))
		})
	}
}

func TestRelease(t *testing.T) {
	for _, tc := range []struct {
		name string
		args *Args
		deps []string
	}{
		{"local with dependencies", localArgs(), []string{"dep-a", "dep-b"}},
		{"cloud with dependencies", cloudArgs(), []string{"crds", "monitoring"}},
		{"no dependencies", cloudArgs(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chart := tc.args.Chart
			out := mustRun(t, tc.args, tc.deps...)
			r := out.release(t)

			assert.Equal(t, component, r.Name, "the resource is named after the component")
			assert.Equal(t, "cilium", value(t, r, "name"), "the Helm release is named after the chart")
			assert.Equal(t, "cilium", value(t, r, "chart"))
			assert.Equal(t, chart.Version, value(t, r, "version"))
			assert.Equal(t, config.DefaultCharts[config.ChartCilium].Version, value(t, r, "version"))
			assert.Equal(t, chart.Repo, value(t, r, "repositoryOpts.repo"))
			assert.Equal(t, "kube-system", value(t, r, "namespace"))
			assert.Equal(t, Namespace, value(t, r, "namespace"))

			assert.Equal(t, out.urn, r.Parent, "release is parented under the component")
			assert.Contains(t, r.Provider, tProvider, "release goes through a kubernetes provider")
			assert.Contains(t, r.Provider, tProvider+"::k8s::", "release goes through the component's provider, not a default one")

			for _, name := range tc.deps {
				assert.True(t, r.DependsOn(tNamespace, name), "release depends on %s: %v", name, r.Dependencies)
			}
			if len(tc.deps) == 0 {
				assert.Empty(t, r.Dependencies)
			}
			assert.Len(t, r.Dependencies, len(tc.deps))

			assert.Equal(t, true, value(t, r, "skipAwait"),
				"Helm's wait would hold out for the ingress LoadBalancer address only the pool, created later, gives")
			assert.Equal(t, false, value(t, r, "atomic"), "a release without wait cannot roll back atomically")

			components := out.mocks.ByType(Token)
			require.Len(t, components, 1)
			assert.Equal(t, component, components[0].Name)
			require.NotNil(t, out.cni.Release, "the component exposes its release")
		})
	}
}

func TestValuesPure(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func() *Args
	}{
		{"cloud", cloudArgs},
		{"local", localArgs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args()
			args.Values = map[string]any{"operator": map[string]any{"replicas": 5}}
			first, second := Values(args), Values(args)
			require.Equal(t, first, second, "same args, same values")

			want := tc.args()
			want.Values = map[string]any{"operator": map[string]any{"replicas": 5}}
			want.Access = args.Access // outputs compare by identity, and Values never reads them
			assert.Equal(t, want, args, "Values leaves its args alone")
			assert.Equal(t, tc.args().OperatorReplicas, first["operator"].(map[string]any)["replicas"],
				"user values are merged by the release, not by Values")

			// Changing one rendering, however deep, leaves the next alone.
			first["operator"].(map[string]any)["replicas"] = 99
			first["hubble"].(map[string]any)["relay"].(map[string]any)["enabled"] = false
			first["cgroup"].(map[string]any)["autoMount"].(map[string]any)["enabled"] = true
			delete(first["ingressController"].(map[string]any), "service")
			delete(first, "ipam")
			assert.Equal(t, second, Values(args))
			assert.Equal(t, tc.args().OperatorReplicas, second["operator"].(map[string]any)["replicas"])
			assert.Equal(t, true, second["hubble"].(map[string]any)["relay"].(map[string]any)["enabled"])
			assert.Equal(t, false, second["cgroup"].(map[string]any)["autoMount"].(map[string]any)["enabled"])
			assert.Contains(t, second["ingressController"].(map[string]any), "service")
			assert.Contains(t, second, "ipam")
		})
	}
}

// TestPassthroughIngress: behind a passthrough load balancer (GCP) the
// ingress takes the load balancer's address through an LB-IPAM pool of
// exactly that address, with nothing announced over L2.
func TestPassthroughIngress(t *testing.T) {
	args := cloudArgs()
	args.IngressAddress = pulumi.String("203.0.113.20")
	out := mustRun(t, args)
	r := out.release(t)
	typ, _ := r.At("values.ingressController.service.type")
	assert.Equal(t, "LoadBalancer", typ)
	annotations, _ := r.At("values.ingressController.service.annotations")
	assert.Equal(t, map[string]any{"lbipam.cilium.io/ips": "203.0.113.20"}, annotations)
	_, announced := r.At("values.l2announcements")
	assert.False(t, announced, "the cloud routes the address; nothing to announce")

	pools := out.mocks.ByType("kubernetes:cilium.io/v2:CiliumLoadBalancerIPPool")
	require.Len(t, pools, 1)
	blocks, _ := pools[0].At("spec.blocks")
	assert.Equal(t, []any{map[string]any{"start": "203.0.113.20", "stop": "203.0.113.20"}}, blocks)
	assert.Empty(t, out.mocks.ByType("kubernetes:cilium.io/v2alpha1:CiliumL2AnnouncementPolicy"))
}

// The release goes in without Helm's wait; the component waits for the
// agents and the operator itself, and only then makes the pools, so nothing
// awaited depends on something created after it.
func TestReadiness(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      *Args
		wantReady int
	}{
		{"local", localArgs(), 3},
		{"cloud", cloudArgs(), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := mustRun(t, tc.args)
			wait := out.mocks.Named(t, tCommand, component+"-ready")
			assert.True(t, wait.DependsOn(tRelease, component), "the wait starts after the release")
			assert.Equal(t, out.urn, wait.Parent)
			create, _ := wait.At("create")
			assert.Equal(t, waitScript, create, "the script the tests run is the one registered")
			env, _ := wait.At("environment")
			assert.Equal(t, map[string]any{
				"SRE_API_URL":              "https://192.168.56.10:6443",
				"SRE_API_CA":               "ca-pem",
				"SRE_API_CERT":             "cert-pem",
				"SRE_API_KEY":              "key-pem",
				"SRE_NAMESPACE":            Namespace,
				"SRE_API_TIMEOUT_SECONDS":  "900",
				"SRE_API_INTERVAL_SECONDS": "5",
			}, env)
			for key, v := range wait.Inputs["environment"].ObjectValue() {
				if key == "SRE_API_KEY" {
					assert.True(t, v.ContainsSecrets(), "the admin key is secret")
				}
			}

			require.Len(t, out.cni.Ready, tc.wantReady, "Ready lists the wait and every pool")
			assert.IsType(t, &local.Command{}, out.cni.Ready[0], "the wait comes first")
			for _, r := range out.cni.Ready[1:] {
				assert.IsType(t, &apiextensions.CustomResource{}, r)
			}
			for _, cr := range append(out.mocks.ByType(tPool), out.mocks.ByType(tPolicy)...) {
				assert.True(t, cr.DependsOn(tCommand, component+"-ready"), cr.Name)
			}
		})
	}
}

func TestNeedsAccess(t *testing.T) {
	args := cloudArgs()
	args.Access = apigate.Access{}
	_, err := run(t, args)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cilium: no access to the API server")
}

// No Ingress of the lab forces HTTPS: Cilium would force it on the HTTP-01
// solver's Ingress of the same host too. The chart's default is true, so
// the value must be there, false; the Hubble UI's Ingress says so itself.
func TestNoForcedHTTPS(t *testing.T) {
	for _, args := range []*Args{cloudArgs(), localArgs()} {
		r := mustRun(t, args).release(t)
		assert.Equal(t, false, value(t, r, "values.ingressController.enforceHttps"))
	}
	args := cloudArgs()
	args.HubbleHost = "hubble.example.com"
	args.ClusterIssuer = "letsencrypt"
	r := mustRun(t, args).release(t)
	assert.Equal(t, "disabled", annotation(t, r, "values.hubble.ui.ingress.annotations", ForceHTTPSAnnotation))
	assert.Equal(t, map[string]string{ForceHTTPSAnnotation: "disabled"}, NoForcedHTTPS())
}
