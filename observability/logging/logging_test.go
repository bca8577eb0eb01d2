package logging

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/alloy/syntax/ast"
	"github.com/grafana/alloy/syntax/parser"
	"github.com/grafana/alloy/syntax/vm"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/internal/pulumitest"
	"github.com/your-org/sre-lab/kube/cilium"
	"github.com/your-org/sre-lab/kube/namespaces"
)

// Type tokens of everything the tests register or expect.
const (
	tProvider  = "pulumi:providers:kubernetes"
	tRelease   = "kubernetes:helm.sh/v3:Release"
	tConfigMap = "kubernetes:core/v1:ConfigMap"
	tNamespace = "kubernetes:core/v1:Namespace"
)

// component is the name tests give the stack: unlike any chart's name, so
// Helm release names visibly come from the charts, not from the component.
const component = "logs"

// Storage the tests run with: Loki's own volume, or an S3 bucket.
const (
	filesystem = "filesystem"
	s3         = "s3"
)

// bucketName and bucketRegion describe the bucket a cloud backend would pass.
const (
	bucketName   = "sre-lab-dev-logs-abc"
	bucketRegion = "eu-west-1"
)

// wantURL and wantPushURL are spelled out rather than built with URL, so a
// change to the service name or port fails here: Grafana, the collectors and
// the runbooks all use these addresses.
const (
	wantURL     = "http://loki.logging.svc.cluster.local:3100"
	wantPushURL = wantURL + "/loki/api/v1/push"
)

// deps are the namespaces tests pass in Args.DependsOn, standing for the
// CNI, CRDs, namespaces and storage driver the stack must wait for.
var deps = []string{"dep-logging", "dep-monitoring"}

// combos are every collector and storage pairing a stack config can produce.
var combos = []struct{ collector, store string }{
	{config.CollectorAlloy, filesystem},
	{config.CollectorAlloy, s3},
	{config.CollectorPromtail, filesystem},
	{config.CollectorPromtail, s3},
}

// validArgs are the args main.go would pass for a collector and a store.
// They are built fresh on every call: run appends to DependsOn and the
// bucket name is an output of the run that uses it.
func validArgs(collector, store string) *Args {
	args := &Args{
		Charts:           maps.Clone(config.DefaultCharts),
		Namespace:        namespaces.Logging,
		GrafanaNamespace: namespaces.Monitoring,
		Logging:          config.Logging{Collector: collector, Retention: "7d", Storage: "15Gi"},
		StorageClass:     "local-path",
		ReceiverIP:       config.LogReceiverIP,
	}
	if store == s3 {
		args.Bucket = &infra.Bucket{
			Type:   s3,
			Name:   pulumi.String(bucketName).ToStringOutput(),
			Region: bucketRegion,
		}
	}
	return args
}

// outcome is what one mocked run registered.
type outcome struct {
	mocks *pulumitest.Mocks
	stack *Stack
	urn   string
}

// run registers a Kubernetes provider, one Namespace per name in deps
// (added to args.DependsOn), and the stack through the provider, the way
// main.go wires it.
func run(t *testing.T, args *Args, deps ...string) (outcome, error) {
	t.Helper()
	var out outcome
	var err error
	out.mocks, out.urn, err = pulumitest.InCluster("dev", deps, func(ctx *pulumi.Context, with pulumi.ResourceOption, ready []pulumi.Resource) (pulumi.Resource, error) {
		args.DependsOn = append(args.DependsOn, ready...)
		c, err := NewStack(ctx, component, args, with)
		if err != nil {
			return nil, err
		}
		out.stack = c
		return c, nil
	})
	return out, err
}

// mustRun is run for args that must succeed.
func mustRun(t *testing.T, args *Args, deps ...string) outcome {
	t.Helper()
	out, err := run(t, args, deps...)
	require.NoError(t, err)
	require.NotNil(t, out.stack)
	require.NotEmpty(t, out.urn)
	return out
}

// release returns the release registered under a resource name, so each test
// reads the release it means whatever order they were registered in.
func (o outcome) release(t *testing.T, name string) pulumitest.Resource {
	t.Helper()
	return o.mocks.Named(t, tRelease, component+"-"+name)
}

// value reads an input the test expects to be set, failing when it is not.
func value(t *testing.T, r pulumitest.Resource, path string) any {
	t.Helper()
	v, ok := r.At(path)
	require.True(t, ok, "%s %s has no %s", r.Type, r.Name, path)
	return v
}

// object reads a map input, failing when it is absent or not a map.
func object(t *testing.T, r pulumitest.Resource, path string) map[string]any {
	t.Helper()
	m, ok := value(t, r, path).(map[string]any)
	require.True(t, ok, "%s %s: %s is not a map", r.Type, r.Name, path)
	return m
}

// list reads a list input, failing when it is absent or not a list.
func list(t *testing.T, r pulumitest.Resource, path string) []any {
	t.Helper()
	l, ok := value(t, r, path).([]any)
	require.True(t, ok, "%s %s: %s is not a list", r.Type, r.Name, path)
	return l
}

// absent asserts a values path is not set: the chart's default applies, or
// the key must not reach the cluster at all.
func absent(t *testing.T, r pulumitest.Resource, path string) {
	t.Helper()
	v, ok := r.At(path)
	assert.False(t, ok, "%s %s must not set %s, has %v", r.Type, r.Name, path, v)
}

// num is a number as inputs read back.
func num(n int) float64 { return float64(n) }

// wantToleration is the toleration node agents need to run on
// control planes, as inputs read it back.
var wantToleration = map[string]any{
	"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule",
}

// assertResources checks a container's resources at path: a CPU and memory
// request and a memory limit, so no pod is scheduled blind or grows
// unbounded.
func assertResources(t *testing.T, r pulumitest.Resource, path string) {
	t.Helper()
	for _, p := range []string{"requests.cpu", "requests.memory", "limits.memory"} {
		assert.NotEmpty(t, value(t, r, path+"."+p), "%s.%s", path, p)
	}
}

func TestNewStackResources(t *testing.T) {
	for _, tc := range combos {
		t.Run(tc.collector+"/"+tc.store, func(t *testing.T) {
			args := validArgs(tc.collector, tc.store)
			out := mustRun(t, args, deps...)

			components := out.mocks.ByType(Token)
			require.Len(t, components, 1, "one %s", Token)
			assert.Equal(t, component, components[0].Name)
			assert.Equal(t, wantURL, out.stack.URL)
			assert.NotNil(t, out.stack.Loki)
			assert.NotNil(t, out.stack.Collector)
			assert.NotNil(t, out.stack.Receiver)

			// Everything the stack registered, by type: nothing else.
			counts := map[string]int{}
			for _, r := range out.mocks.Resources() {
				counts[r.Type]++
			}
			assert.Equal(t, map[string]int{
				tProvider: 1, tNamespace: len(deps), // the test's own
				Token: 1, tRelease: 3, tConfigMap: 1,
			}, counts)

			releases := out.mocks.ByType(tRelease)
			require.Len(t, releases, 3)
			for _, want := range []struct{ resource, release, chart string }{
				{config.ChartLoki, "loki", config.ChartLoki},
				{tc.collector, tc.collector, tc.collector},
				{ReceiverRelease, "alloy-receiver", config.ChartAlloy},
			} {
				r := out.release(t, want.resource)
				pin := config.DefaultCharts[want.chart]
				assert.Equal(t, want.release, value(t, r, "name"), "Helm release name")
				assert.Equal(t, want.chart, value(t, r, "chart"))
				assert.Equal(t, pin.Version, value(t, r, "version"), "chart version is the pin")
				assert.Equal(t, pin.Repo, value(t, r, "repositoryOpts.repo"), "chart repository is the pin")
				assert.Equal(t, namespaces.Logging, value(t, r, "namespace"))
			}
			other := map[string]string{config.CollectorAlloy: "promtail", config.CollectorPromtail: "alloy"}[tc.collector]
			for _, r := range releases {
				assert.NotEqual(t, other, value(t, r, "name"), "only the chosen collector is installed")
			}

			ds := out.mocks.Named(t, tConfigMap, component+"-datasource")
			assert.Equal(t, "loki-datasource", value(t, ds, "metadata.name"))
			assert.Equal(t, namespaces.Monitoring, value(t, ds, "metadata.namespace"), "where Grafana's sidecar looks")
			assert.Equal(t, map[string]any{DatasourceLabel: "1"}, value(t, ds, "metadata.labels"))
			want, err := Datasource(namespaces.Logging)
			require.NoError(t, err)
			// The key holds a dot, so it cannot be part of a dotted path.
			assert.Equal(t, map[string]any{"loki.yaml": want}, value(t, ds, "data"))

			for _, r := range out.mocks.Resources() {
				if r.Type == tProvider || r.Type == tNamespace || r.Type == Token {
					continue
				}
				assert.Equal(t, out.urn, r.Parent, "%s %s is parented under the component", r.Type, r.Name)
				assert.Contains(t, r.Provider, tProvider+"::k8s::", "%s %s goes through the provider given to the component", r.Type, r.Name)
				for _, dep := range deps {
					assert.True(t, r.DependsOn(tNamespace, dep), "%s %s waits for %s: %v", r.Type, r.Name, dep, r.Dependencies)
				}
			}
		})
	}
}

func TestLokiValues(t *testing.T) {
	want := map[string]any{
		"deploymentMode":                       "Monolithic",
		"singleBinary.replicas":                num(1),
		"read.replicas":                        num(0),
		"write.replicas":                       num(0),
		"backend.replicas":                     num(0),
		"gateway.enabled":                      false,
		"chunksCache.enabled":                  false,
		"resultsCache.enabled":                 false,
		"lokiCanary.enabled":                   false,
		"test.enabled":                         false,
		"ruler.enabled":                        false,
		"loki.auth_enabled":                    false,
		"loki.commonConfig.replication_factor": num(1),
		"loki.compactor.retention_enabled":     true,
		"monitoring.serviceMonitor.enabled":    true,
		"singleBinary.persistence.enabled":     true,
	}
	for _, tc := range []struct {
		store, retention, size, class string
	}{
		{filesystem, "3d", "10Gi", "local-path"},
		{s3, "30d", "50Gi", "gp3"},
	} {
		t.Run(tc.store, func(t *testing.T) {
			args := validArgs(config.CollectorAlloy, tc.store)
			args.Logging.Retention = tc.retention
			args.Logging.Storage = tc.size
			args.StorageClass = tc.class
			r := mustRun(t, args).release(t, config.ChartLoki)

			for path, w := range want {
				assert.Equal(t, w, value(t, r, "values."+path), path)
			}
			assert.Equal(t, tc.retention, value(t, r, "values.loki.limits_config.retention_period"))
			assert.Equal(t, tc.store, value(t, r, "values.loki.compactor.delete_request_store"),
				"the compactor keeps delete requests where the chunks are")
			assert.Equal(t, tc.size, value(t, r, "values.singleBinary.persistence.size"))
			assert.Equal(t, tc.class, value(t, r, "values.singleBinary.persistence.storageClass"))
			assertResources(t, r, "values.singleBinary.resources")

			configs := list(t, r, "values.loki.schemaConfig.configs")
			require.Len(t, configs, 1)
			schema, ok := configs[0].(map[string]any)
			require.True(t, ok)
			assert.Equal(t, tc.store, schema["object_store"])
			assert.Equal(t, "tsdb", schema["store"])
			assert.Equal(t, "v13", schema["schema"])
			assert.NotEmpty(t, schema["from"])
			index, ok := schema["index"].(map[string]any)
			require.True(t, ok, "schema config has an index")
			assert.Equal(t, "24h", index["period"], "tsdb needs a 24h index period")

			assert.Equal(t, tc.store, value(t, r, "values.loki.storage.type"))
			if tc.store == s3 {
				assert.Equal(t, bucketName, value(t, r, "values.loki.storage.bucketNames.chunks"))
				assert.Equal(t, bucketRegion, value(t, r, "values.loki.storage.s3.region"))
			} else {
				absent(t, r, "values.loki.storage.bucketNames")
				absent(t, r, "values.loki.storage.s3")
			}
			keys := credentialKeys(object(t, r, "values"), "values")
			assert.Empty(t, keys, "the nodes' cloud identity reaches the bucket: no keys in values")
			if tc.store == s3 {
				assert.Equal(t, map[string]any{cilium.CloudIdentityLabel: "true"}, value(t, r, "values.singleBinary.podLabels"),
					"Loki borrows the nodes' identity, so the metadata policy lets it through")
			} else {
				absent(t, r, "values.singleBinary.podLabels")
			}
		})
	}
}

// TestLokiBucketKey: where the bucket comes with Loki's own key (AWS), the
// key goes into a Secret in Loki's namespace before the release, the pod
// takes that Secret as its environment, and the values name the variables
// Loki expands at start, never the key; a replaced key rolls the pod.
func TestLokiBucketKey(t *testing.T) {
	keyed := func(id string) *Args {
		args := validArgs(config.CollectorAlloy, s3)
		args.Bucket.Key = &infra.AccessKey{
			ID:     pulumi.String(id).ToStringOutput(),
			Secret: pulumi.ToSecret(pulumi.String("loki-secret").ToStringOutput()).(pulumi.StringOutput),
		}
		return args
	}
	o := mustRun(t, keyed("AKIALOKI"))
	r := o.release(t, config.ChartLoki)
	assert.Equal(t, "${AWS_ACCESS_KEY_ID}", value(t, r, "values.loki.storage.s3.accessKeyId"))
	assert.Equal(t, "${AWS_SECRET_ACCESS_KEY}", value(t, r, "values.loki.storage.s3.secretAccessKey"))
	assert.Equal(t, bucketRegion, value(t, r, "values.loki.storage.s3.region"))
	assert.Equal(t, []any{map[string]any{"secretRef": map[string]any{"name": "aws-access-key"}}},
		value(t, r, "values.singleBinary.extraEnvFrom"))
	paths := credentialKeys(object(t, r, "values"), "values")
	assert.Len(t, paths, 2, "the key's two halves")
	for _, path := range paths {
		assert.Regexp(t, `^\$\{AWS_[A-Z_]+\}$`, value(t, r, path), "%s names a variable, not the key", path)
	}
	assert.NotContains(t, fmt.Sprint(object(t, r, "values")), "AKIALOKI", "the key ID is not in the values")

	secret := o.mocks.Named(t, "kubernetes:core/v1:Secret", component+"-aws-key")
	for path, want := range map[string]any{
		"metadata.name":                    "aws-access-key",
		"metadata.namespace":               namespaces.Logging,
		"stringData.AWS_ACCESS_KEY_ID":     "AKIALOKI",
		"stringData.AWS_SECRET_ACCESS_KEY": "loki-secret",
	} {
		got, _ := secret.At(path)
		assert.Equal(t, want, got, path)
	}
	assert.True(t, r.DependsOn("kubernetes:core/v1:Secret", secret.Name), "Loki waits for its key")

	absent(t, r, "values.singleBinary.podLabels")
	annotations := value(t, r, "values.singleBinary.podAnnotations")
	other := mustRun(t, keyed("AKIAREPLACED")).release(t, config.ChartLoki)
	assert.NotEqual(t, annotations, value(t, other, "values.singleBinary.podAnnotations"), "a new key rolls Loki")

	unkeyed := mustRun(t, validArgs(config.CollectorAlloy, s3))
	assert.Empty(t, unkeyed.mocks.ByType("kubernetes:core/v1:Secret"), "no key, no Secret")
}

// credentialKeys lists the paths of keys in values that would hold object
// storage credentials; Loki must reach its bucket through the nodes'
// identity, and keys in Helm values end up in plain ConfigMaps and state.
func credentialKeys(v any, path string) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			norm := strings.ToLower(strings.ReplaceAll(k, "_", ""))
			for _, bad := range []string{"accesskey", "secretaccess", "accountkey", "connectionstring", "password"} {
				if strings.Contains(norm, bad) {
					out = append(out, path+"."+k)
					break
				}
			}
			out = append(out, credentialKeys(e, path+"."+k)...)
		}
	case []any:
		for i, e := range v {
			out = append(out, credentialKeys(e, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}

func TestCredentialKeysFindsKeys(t *testing.T) {
	// Without this, an empty result in TestLokiValues could mean a walker
	// that never looks.
	got := credentialKeys(map[string]any{"loki": map[string]any{"storage": map[string]any{
		"s3": map[string]any{"accessKeyId": "AKIA", "secret_access_key": "x"},
	}}}, "values")
	sort.Strings(got)
	assert.Equal(t, []string{"values.loki.storage.s3.accessKeyId", "values.loki.storage.s3.secret_access_key"}, got)
}

func TestCollectorValuesAlloy(t *testing.T) {
	for _, store := range []string{filesystem, s3} {
		t.Run(store, func(t *testing.T) {
			r := mustRun(t, validArgs(config.CollectorAlloy, store)).release(t, config.ChartAlloy)

			assert.Equal(t, "daemonset", value(t, r, "values.controller.type"), "one agent per node")
			assert.Contains(t, list(t, r, "values.controller.tolerations"), wantToleration,
				"control planes' pods log too")
			assert.Equal(t, true, value(t, r, "values.alloy.mounts.varlog"), "the agent reads /var/log/pods")
			assert.Equal(t, false, value(t, r, "values.alloy.enableReporting"), "no usage reports leave the lab")
			assert.Equal(t, false, value(t, r, "values.crds.create"))
			assert.Equal(t, true, value(t, r, "values.serviceMonitor.enabled"))
			assertResources(t, r, "values.alloy.resources")
			absent(t, r, "values.alloy.stabilityLevel")
			absent(t, r, "values.alloy.extraPorts")

			content, ok := value(t, r, "values.alloy.configMap.content").(string)
			require.True(t, ok)
			assert.Equal(t, PodLogsConfig(wantPushURL), content)
			assert.Contains(t, content, wantPushURL)
		})
	}
}

func TestCollectorValuesPromtail(t *testing.T) {
	r := mustRun(t, validArgs(config.CollectorPromtail, filesystem)).release(t, config.ChartPromtail)

	clients := list(t, r, "values.config.clients")
	require.Len(t, clients, 1, "one Loki to push to")
	assert.Equal(t, map[string]any{"url": wantPushURL}, clients[0])
	assert.Contains(t, list(t, r, "values.tolerations"), wantToleration, "control planes' pods log too")
	assertResources(t, r, "values.resources")
	assert.Equal(t, true, value(t, r, "values.serviceMonitor.enabled"))
}

func TestStateStaysOnTheNode(t *testing.T) {
	// Alloy's chart keeps its data in /tmp/alloy inside the container and
	// Promtail's in /run, which Talos empties on reboot: either way a new
	// pod read every log file from the start and Loki got duplicates.
	// Each release must keep its state in its own directory under the
	// node's /var, mounted where the collector writes it.
	hostPaths := map[string]string{}
	for _, tc := range []struct {
		collector, resource, release string
		storage, mounts, volumes     string
	}{
		{config.CollectorAlloy, config.ChartAlloy, "alloy", "values.alloy.storagePath", "values.alloy.mounts.extra", "values.controller.volumes.extra"},
		{config.CollectorAlloy, ReceiverRelease, "alloy-receiver", "values.alloy.storagePath", "values.alloy.mounts.extra", "values.controller.volumes.extra"},
		{config.CollectorPromtail, config.ChartPromtail, "promtail", "values.config.positions.filename", "values.extraVolumeMounts", "values.extraVolumes"},
	} {
		t.Run(tc.release, func(t *testing.T) {
			r := mustRun(t, validArgs(tc.collector, filesystem)).release(t, tc.resource)
			assert.Equal(t, tc.release, value(t, r, "name"))
			want := "/var/lib/sre-lab/" + tc.release
			path, ok := value(t, r, tc.storage).(string)
			require.True(t, ok)
			assert.True(t, path == want || strings.HasPrefix(path, want+"/"), "%s is %s, outside %s", tc.storage, path, want)

			mounts := list(t, r, tc.mounts)
			require.Len(t, mounts, 1)
			mount, ok := mounts[0].(map[string]any)
			require.True(t, ok)
			assert.Equal(t, want, mount["mountPath"])

			volumes := list(t, r, tc.volumes)
			require.Len(t, volumes, 1)
			assert.Equal(t, map[string]any{
				"name":     mount["name"],
				"hostPath": map[string]any{"path": want, "type": "DirectoryOrCreate"},
			}, volumes[0], "the mount is the node's directory")
			hostPaths[tc.release] = want
		})
	}
	assert.Len(t, hostPaths, 3)
	seen := map[string]bool{}
	for _, p := range hostPaths {
		assert.False(t, seen[p], "two releases share %s", p)
		seen[p] = true
	}
}

func TestReceiverValues(t *testing.T) {
	for _, tc := range []struct {
		name      string
		collector string
		ip        netip.Addr
	}{
		{"alloy collector", config.CollectorAlloy, config.LogReceiverIP},
		{"promtail collector", config.CollectorPromtail, config.LogReceiverIP},
		{"other address", config.CollectorAlloy, netip.MustParseAddr("10.96.0.42")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs(tc.collector, filesystem)
			args.ReceiverIP = tc.ip
			r := mustRun(t, args).release(t, ReceiverRelease)

			assert.Equal(t, ReceiverRelease, value(t, r, "name"))
			assert.Equal(t, config.ChartAlloy, value(t, r, "chart"), "the receiver is Alloy whatever the node agent")
			assert.Equal(t, "deployment", value(t, r, "values.controller.type"))
			assert.Equal(t, num(1), value(t, r, "values.controller.replicas"), "events are read once")
			assert.Equal(t, "experimental", value(t, r, "values.alloy.stabilityLevel"), "the raw syslog format is experimental")
			assert.Equal(t, true, value(t, r, "values.service.enabled"))
			assert.Equal(t, "ClusterIP", value(t, r, "values.service.type"))
			assert.Equal(t, tc.ip.String(), value(t, r, "values.service.clusterIP"), "Talos sends to a fixed address")
			assert.Equal(t, false, value(t, r, "values.alloy.enableReporting"))
			assertResources(t, r, "values.alloy.resources")

			ports := list(t, r, "values.alloy.extraPorts")
			// The Talos patches send to the infra constants; the Loki
			// runbook names 6050 and 6051.
			assert.Equal(t, 6050, infra.TalosServiceLogsPort)
			assert.Equal(t, 6051, infra.TalosKernelLogsPort)
			service, kernel := num(infra.TalosServiceLogsPort), num(infra.TalosKernelLogsPort)
			assert.ElementsMatch(t, []any{
				map[string]any{"name": "talos-service", "port": service, "targetPort": service, "protocol": "TCP"},
				map[string]any{"name": "talos-kernel", "port": kernel, "targetPort": kernel, "protocol": "TCP"},
			}, ports)

			content, ok := value(t, r, "values.alloy.configMap.content").(string)
			require.True(t, ok)
			assert.Equal(t, ReceiverConfig(wantPushURL), content)
			absent(t, r, "values.alloy.mounts.varlog")
		})
	}
}

func TestUserValues(t *testing.T) {
	alloyExtra := map[string]any{
		"controller": map[string]any{"priorityClassName": "system-node-critical"},
		"alloy":      map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "1Gi"}}},
	}
	t.Run("alloy values reach the collector, not the receiver", func(t *testing.T) {
		args := validArgs(config.CollectorAlloy, filesystem)
		args.Values = map[string]map[string]any{config.ChartAlloy: alloyExtra}
		out := mustRun(t, args)

		c := out.release(t, config.ChartAlloy)
		assert.Equal(t, "system-node-critical", value(t, c, "values.controller.priorityClassName"))
		assert.Equal(t, "1Gi", value(t, c, "values.alloy.resources.limits.memory"), "user values win")
		assert.Equal(t, "daemonset", value(t, c, "values.controller.type"), "merged key by key, not replaced")
		assert.Equal(t, "96Mi", value(t, c, "values.alloy.resources.requests.memory"), "merged key by key, not replaced")

		r := out.release(t, ReceiverRelease)
		absent(t, r, "values.controller.priorityClassName")
		assert.Equal(t, "384Mi", value(t, r, "values.alloy.resources.limits.memory"))
	})
	t.Run("promtail values reach promtail; alloy values reach nothing", func(t *testing.T) {
		args := validArgs(config.CollectorPromtail, filesystem)
		args.Values = map[string]map[string]any{
			config.ChartAlloy:    alloyExtra,
			config.ChartPromtail: {"priorityClassName": "system-node-critical"},
		}
		out := mustRun(t, args)

		assert.Equal(t, "system-node-critical", value(t, out.release(t, config.ChartPromtail), "values.priorityClassName"))
		r := out.release(t, ReceiverRelease)
		absent(t, r, "values.controller.priorityClassName")
		assert.Equal(t, "384Mi", value(t, r, "values.alloy.resources.limits.memory"))
	})
	t.Run("loki values override", func(t *testing.T) {
		args := validArgs(config.CollectorAlloy, filesystem)
		args.Values = map[string]map[string]any{config.ChartLoki: {
			"singleBinary": map[string]any{"resources": map[string]any{
				"requests": map[string]any{"cpu": "500m"},
				"limits":   map[string]any{"memory": "4Gi"},
			}},
			"loki": map[string]any{"limits_config": map[string]any{"retention_period": "1d"}},
		}}
		r := mustRun(t, args).release(t, config.ChartLoki)

		assert.Equal(t, "500m", value(t, r, "values.singleBinary.resources.requests.cpu"))
		assert.Equal(t, "4Gi", value(t, r, "values.singleBinary.resources.limits.memory"))
		assert.Equal(t, "256Mi", value(t, r, "values.singleBinary.resources.requests.memory"), "merged key by key")
		assert.Equal(t, "1d", value(t, r, "values.loki.limits_config.retention_period"))
		assert.Equal(t, "Monolithic", value(t, r, "values.deploymentMode"), "the rest stays")
	})
}

// parseAlloy parses an Alloy config with Alloy's own parser and indexes its
// top-level blocks as they read in the file (`loki.write "default"`). It
// fails on anything else at the top level or on a block declared twice,
// both of which Alloy refuses to load.
func parseAlloy(t *testing.T, src string) map[string]*ast.BlockStmt {
	t.Helper()
	f, err := parser.ParseFile("config.alloy", []byte(src))
	require.NoError(t, err, "Alloy's parser rejects the config:\n%s", src)
	blocks := map[string]*ast.BlockStmt{}
	for _, stmt := range f.Body {
		b, ok := stmt.(*ast.BlockStmt)
		require.True(t, ok, "top-level statement %T is not a component block", stmt)
		key := blockKey(strings.Join(b.Name, "."), b.Label)
		require.NotContains(t, blocks, key, "component declared twice")
		blocks[key] = b
	}
	return blocks
}

// blockKey names a component the way it reads in a config file.
func blockKey(name, label string) string { return fmt.Sprintf("%s %q", name, label) }

// keys returns the sorted keys of a block index, for readable failures.
func keys(blocks map[string]*ast.BlockStmt) []string {
	out := make([]string, 0, len(blocks))
	for k := range blocks {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// exports are what each component the configs use exports, from Alloy's
// component reference; a reference to anything else is a config Alloy
// refuses to load.
var exports = map[string][]string{
	"discovery.kubernetes": {"targets"},
	"discovery.relabel":    {"output", "rules"},
	"local.file_match":     {"targets"},
	"loki.process":         {"receiver"},
	"loki.relabel":         {"receiver", "rules"},
	"loki.write":           {"receiver"},
}

// reference matches a component export referenced in an expression, such as
// loki.process.talos.receiver or discovery.kubernetes.pods.targets.
var reference = regexp.MustCompile(`\b((?:discovery|local|loki)(?:\.[a-z_][a-z0-9_]*)+)\.(receiver|rules|targets|output)\b`)

// references lists every component export a config refers to, as written.
func references(src string) []string {
	var out []string
	for _, m := range reference.FindAllStringSubmatch(src, -1) {
		out = append(out, m[0])
	}
	return out
}

// dangling returns the references in src that name no block of blocks, or
// an export that component does not have: Alloy fails to load such a config.
func dangling(blocks map[string]*ast.BlockStmt, src string) []string {
	var out []string
	for _, m := range reference.FindAllStringSubmatch(src, -1) {
		component, export := m[1], m[2]
		i := strings.LastIndex(component, ".")
		name, label := component[:i], component[i+1:]
		if _, ok := blocks[blockKey(name, label)]; !ok {
			out = append(out, m[0])
			continue
		}
		known := false
		for _, e := range exports[name] {
			known = known || e == export
		}
		if !known {
			out = append(out, m[0])
		}
	}
	return out
}

func TestAlloyConfigs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		src    string
		blocks []string
		refs   []string
	}{
		{
			name: "pod logs",
			src:  PodLogsConfig(wantPushURL),
			blocks: []string{
				`discovery.kubernetes "pods"`,
				`discovery.relabel "pods"`,
				`local.file_match "pods"`,
				`loki.source.file "pods"`,
				`loki.process "pods"`,
				`loki.write "default"`,
			},
			refs: []string{
				"discovery.kubernetes.pods.targets",
				"discovery.relabel.pods.output",
				"local.file_match.pods.targets",
				"loki.process.pods.receiver",
				"loki.write.default.receiver",
			},
		},
		{
			name: "receiver",
			src:  ReceiverConfig(wantPushURL),
			blocks: []string{
				`loki.source.kubernetes_events "events"`,
				`loki.source.syslog "talos"`,
				`loki.relabel "talos"`,
				`loki.process "talos"`,
				`loki.write "default"`,
			},
			refs: []string{
				"loki.write.default.receiver",
				"loki.relabel.talos.rules",
				"loki.process.talos.receiver",
				"loki.write.default.receiver",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocks := parseAlloy(t, tc.src)
			assert.ElementsMatch(t, tc.blocks, keys(blocks))

			// The list of expected references keeps the regexp honest: a
			// pattern that matched nothing would leave nothing dangling.
			assert.Equal(t, tc.refs, references(tc.src))
			assert.Empty(t, dangling(blocks, tc.src), "every reference names a block of the same file")

			var endpoint struct {
				URL string `alloy:"url,attr"`
			}
			write := blocks[`loki.write "default"`]
			require.NotNil(t, write)
			require.Len(t, write.Body, 1, "one endpoint")
			require.NoError(t, vm.New(write.Body[0]).Evaluate(nil, &endpoint))
			assert.Equal(t, wantPushURL, endpoint.URL, "logs go to the Loki the stack installs")
		})
	}
}

func TestReceiverListeners(t *testing.T) {
	// listener is the part of loki.source.syslog's listener block the
	// receiver sets, typed as Alloy declares it (grafana/alloy
	// internal/component/loki/source/syslog/types.go, ListenerConfig);
	// decoding into it fails on any other attribute or a wrong type.
	type listener struct {
		Address      string            `alloy:"address,attr"`
		Protocol     string            `alloy:"protocol,attr"`
		SyslogFormat string            `alloy:"syslog_format,attr"`
		IdleTimeout  time.Duration     `alloy:"idle_timeout,attr"`
		Labels       map[string]string `alloy:"labels,attr"`
	}
	blocks := parseAlloy(t, ReceiverConfig(wantPushURL))
	syslog := blocks[`loki.source.syslog "talos"`]
	require.NotNil(t, syslog)

	var got []listener
	for _, stmt := range syslog.Body {
		b, ok := stmt.(*ast.BlockStmt)
		if !ok || strings.Join(b.Name, ".") != "listener" {
			continue
		}
		var l listener
		require.NoError(t, vm.New(b).Evaluate(nil, &l))
		got = append(got, l)
	}
	year := 365 * 24 * time.Hour
	// TCP, as talos.LogURL sends: a UDP socket Talos connects at boot is
	// never rewritten by Cilium to the receiver. Raw, because Talos's
	// lines are JSON, not syslog.
	assert.Equal(t, []listener{
		{Address: "0.0.0.0:6050", Protocol: "tcp", SyslogFormat: "raw", IdleTimeout: year, Labels: map[string]string{"job": JobTalos, "source": "service"}},
		{Address: "0.0.0.0:6051", Protocol: "tcp", SyslogFormat: "raw", IdleTimeout: year, Labels: map[string]string{"job": JobTalos, "source": "kernel"}},
	}, got, "Talos sends service and kernel logs as JSON lines over TCP to two ports")
	for _, l := range got {
		// Alloy's default closes a connection silent for 2m, which costs
		// Talos the next line it writes; the kernel is silent for hours.
		assert.Greater(t, l.IdleTimeout, 24*time.Hour, l.Address)
	}
}

func TestReceiverLabelsNodeByName(t *testing.T) {
	// The node label comes from the "node" tag Talos adds to every
	// service line, never from the connection's address, which is the
	// node's cilium_host address, not its node IP.
	src := ReceiverConfig(wantPushURL)
	blocks := parseAlloy(t, src)
	relabel := blocks[`loki.relabel "talos"`]
	require.NotNil(t, relabel)
	type rule struct {
		SourceLabels []string `alloy:"source_labels,attr"`
		TargetLabel  string   `alloy:"target_label,attr"`
	}
	var targets []string
	for _, stmt := range relabel.Body {
		b, ok := stmt.(*ast.BlockStmt)
		if !ok || strings.Join(b.Name, ".") != "rule" {
			continue
		}
		var r rule
		require.NoError(t, vm.New(b).Evaluate(nil, &r))
		targets = append(targets, r.TargetLabel)
	}
	assert.Equal(t, []string{"sender"}, targets, "the address is kept under a name that does not claim to be the node")
	assert.NotContains(t, src, "node_ip")

	process := blocks[`loki.process "talos"`]
	require.NotNil(t, process)
	var expressions map[string]string
	for _, stmt := range process.Body {
		b, ok := stmt.(*ast.BlockStmt)
		if !ok || strings.Join(b.Name, ".") != "stage.json" {
			continue
		}
		var stage struct {
			Expressions map[string]string `alloy:"expressions,attr"`
		}
		require.NoError(t, vm.New(b).Evaluate(nil, &stage))
		expressions = stage.Expressions
	}
	assert.Equal(t, "node", expressions["node"], "the node label is read from the line's node tag")
}

func TestAlloyChecksCatchBrokenConfigs(t *testing.T) {
	// The config checks above pass only if these fail: the parser must
	// reject broken syntax, and dangling must notice a missing block.
	for _, broken := range []string{
		strings.TrimSuffix(strings.TrimSpace(ReceiverConfig(wantPushURL)), "}"),
		`loki.write "default" { endpoint { url = } }`,
		`loki.process "x" { forward_to = [loki.write.default.receiver }`,
	} {
		_, err := parser.ParseFile("broken.alloy", []byte(broken))
		assert.Error(t, err, "the parser accepts:\n%s", broken)
	}

	src := strings.ReplaceAll(ReceiverConfig(wantPushURL), "loki.process.talos.receiver", "loki.process.missing.receiver")
	src = strings.ReplaceAll(src, "loki.relabel.talos.rules", "loki.relabel.talos.output")
	blocks := parseAlloy(t, src)
	assert.Equal(t, []string{"loki.relabel.talos.output", "loki.process.missing.receiver"}, dangling(blocks, src))
}

func TestDatasource(t *testing.T) {
	src, err := Datasource(namespaces.Logging)
	require.NoError(t, err)
	var file struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name   string `yaml:"name"`
			Type   string `yaml:"type"`
			UID    string `yaml:"uid"`
			URL    string `yaml:"url"`
			Access string `yaml:"access"`
		} `yaml:"datasources"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(src), &file), src)
	assert.Equal(t, 1, file.APIVersion)
	require.Len(t, file.Datasources, 1)
	ds := file.Datasources[0]
	assert.Equal(t, "loki", ds.Type)
	assert.Equal(t, DatasourceUID, ds.UID, "dashboards find Loki by uid")
	assert.Equal(t, wantURL, ds.URL)
	assert.Equal(t, "proxy", ds.Access, "Grafana's server reaches Loki, not the browser")
	assert.NotEmpty(t, ds.Name)
}

func TestURL(t *testing.T) {
	assert.Equal(t, wantURL, URL(namespaces.Logging))
	assert.Equal(t, "http://loki.other.svc.cluster.local:3100", URL("other"))
}

func TestNewStackRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Args)
		want   string // in the error
	}{
		{"no loki pin", func(a *Args) { delete(a.Charts, config.ChartLoki) }, `"loki"`},
		{"no alloy pin", func(a *Args) { delete(a.Charts, config.ChartAlloy) }, `"alloy"`},
		{"no alloy pin for the receiver with promtail", func(a *Args) {
			a.Logging.Collector = config.CollectorPromtail
			delete(a.Charts, config.ChartAlloy)
		}, `"alloy"`},
		{"no promtail pin", func(a *Args) {
			a.Logging.Collector = config.CollectorPromtail
			delete(a.Charts, config.ChartPromtail)
		}, `"promtail"`},
		{"no charts", func(a *Args) { a.Charts = nil }, "chart"},
		{"unknown collector", func(a *Args) { a.Logging.Collector = "fluent-bit" }, "fluent-bit"},
		{"unknown collector with a pin", func(a *Args) {
			a.Logging.Collector = "fluent-bit"
			a.Charts["fluent-bit"] = config.Chart{Name: "fluent-bit", Repo: "https://fluent.github.io/helm-charts", Version: "0.1.0"}
		}, `unknown collector "fluent-bit"`},
		{"empty collector", func(a *Args) { a.Logging.Collector = "" }, `""`},
		{"no receiver IP", func(a *Args) { a.ReceiverIP = netip.Addr{} }, "cluster IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs(config.CollectorAlloy, filesystem)
			tc.mutate(args)
			mocks := &pulumitest.Mocks{}
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				_, err := NewStack(ctx, component, args)
				return err
			}, pulumi.WithMocks("sre-lab", "dev", mocks))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, mocks.Resources(), "nothing is registered before args are checked")
		})
	}
}

// inputs indexes a run's registrations by type and name, so two runs can
// be compared resource by resource.
func inputs(o outcome) map[string]resource.PropertyMap {
	out := map[string]resource.PropertyMap{}
	for _, r := range o.mocks.Resources() {
		out[r.Type+"::"+r.Name] = r.Inputs
	}
	return out
}

func TestDeterministic(t *testing.T) {
	// Identical inputs on every run: otherwise each `pulumi up` would
	// upgrade the releases for nothing.
	for _, tc := range combos {
		t.Run(tc.collector+"/"+tc.store, func(t *testing.T) {
			first := inputs(mustRun(t, validArgs(tc.collector, tc.store), deps...))
			second := inputs(mustRun(t, validArgs(tc.collector, tc.store), deps...))
			require.Equal(t, len(first), len(second))
			for k, in := range first {
				other, ok := second[k]
				require.True(t, ok, "%s only registered once", k)
				assert.Equal(t, pulumitest.Plain(resource.NewObjectProperty(in)), pulumitest.Plain(resource.NewObjectProperty(other)), k)
			}
		})
	}
}
