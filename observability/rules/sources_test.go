package rules

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/kube/storage"
)

// backend is what decides which metric producers a stack runs: the cloud,
// and the kind of PersistentVolume its default StorageClass makes.
type backend struct {
	cloud config.Cloud
	// volumes is "csi" where a CSI driver makes volumes, else the
	// PersistentVolume source local-path-provisioner gives them ("local" or
	// "hostPath").
	volumes string
}

// chartVolumeType is the chart's own default volume type (its values.yaml,
// storageClass.defaultVolumeType), which applies when the lab sets none;
// kube/storage's chart test reads it from the pinned archive.
const chartVolumeType = "hostPath"

// labBackend is cloud as the lab builds it. The driver choice restates
// kube.Install's; the volume type is read from the values kube/storage
// really passes to the chart.
func labBackend(t *testing.T, cloud config.Cloud) backend {
	t.Helper()
	if cloud.CSIDriver() {
		return backend{cloud: cloud, volumes: "csi"}
	}
	values := storage.Values(&storage.Args{Driver: storage.LocalPath})
	require.NotNil(t, values)
	class, _ := values["storageClass"].(map[string]any)
	volumeType, ok := class["defaultVolumeType"].(string)
	if !ok {
		volumeType = chartVolumeType
	}
	return backend{cloud: cloud, volumes: volumeType}
}

// everywhere is a producer every backend runs.
func everywhere(backend) bool { return true }

// producer is one installed component and the metric names it exports.
type producer struct {
	// prefix selects metric names; the longest matching prefix wins, so a
	// narrower family can override its component's wider one.
	prefix string
	// exact makes prefix match one name only.
	exact bool
	// source names the component and where upstream defines the family.
	source string
	// on reports whether the backend's stack produces the family.
	on func(backend) bool
}

// producers is what the lab installs that exports metrics, on which
// backends. Every family names its upstream source; a rule may read only
// families listed here.
var producers = []producer{
	{prefix: "up", exact: true, on: everywhere,
		// Written by Prometheus for each scrape target
		// (prometheus/prometheus scrape/scrape.go, the report's "up").
		source: "Prometheus, per scrape target"},
	{prefix: "etcd_", on: everywhere,
		// etcd's own metrics (etcd-io/etcd server/etcdserver/metrics.go,
		// server/storage/mvcc/metrics.go, server/storage/wal/metrics.go),
		// served on 2381 by the Talos patch and scraped by the chart's
		// kubeEtcd ServiceMonitor (observability/monitoring).
		source: "etcd on the control planes"},
	{prefix: "kube_", on: everywhere,
		// kube-state-metrics, a kube-prometheus-stack dependency; one
		// store per object kind (kubernetes/kube-state-metrics
		// internal/store/node.go, deployment.go, daemonset.go,
		// cronjob.go). The talos-backup CronJob exports nothing itself;
		// its kube_cronjob_* series exist where backups are scheduled.
		source: "kube-state-metrics"},
	{prefix: "kubelet_", on: everywhere,
		// The kubelet's own metrics (k8s.io/kubernetes
		// pkg/kubelet/metrics/metrics.go), the chart's kubelet
		// ServiceMonitor.
		source: "kubelet"},
	{prefix: "kubelet_volume_stats_", on: func(b backend) bool { return b.volumes == "csi" || b.volumes == "local" },
		// k8s.io/kubernetes pkg/kubelet/metrics/collectors/
		// volume_stats.go, only for volumes whose plugin provides
		// metrics: csi (pkg/volume/csi/csi_metrics.go, NodeGetVolumeStats,
		// which the EBS CSI node advertises in
		// kubernetes-sigs/aws-ebs-csi-driver pkg/driver/node.go) and
		// local (pkg/volume/local, statfs); hostPath has none
		// (pkg/volume/hostpath, MetricsNil).
		source: "kubelet volume statistics"},
	{prefix: "container_", on: everywhere,
		// cAdvisor inside the kubelet, /metrics/cadvisor on the chart's
		// kubelet ServiceMonitor (google/cadvisor metrics/prometheus.go).
		source: "kubelet cAdvisor"},
	{prefix: "node_", on: everywhere,
		// prometheus/node_exporter collector/*.go, the chart's
		// prometheus-node-exporter DaemonSet.
		source: "node-exporter"},
	{prefix: "cilium_", on: everywhere,
		// cilium/cilium pkg/metrics/metrics.go; agent and operator
		// ServiceMonitors from kube/cilium.
		source: "Cilium agent and operator"},
	{prefix: "hubble_", on: everywhere,
		// The agent's Hubble metrics server, handlers enabled in
		// kube/cilium HubbleMetrics (drop: cilium/cilium
		// pkg/hubble/metrics/drop/handler.go).
		source: "Hubble metrics in the Cilium agent"},
	{prefix: "loki_", on: everywhere,
		// Loki single binary with its ServiceMonitor
		// (observability/logging): grafana/loki pkg/validation/validate.go
		// (discarded samples) and grafana/dskit server/metrics.go
		// (request_duration_seconds under Loki's metrics namespace).
		source: "Loki"},
	{prefix: "alloy_", on: everywhere,
		// grafana/alloy; the receiver Deployment is Alloy whichever node
		// collector is chosen (observability/logging).
		source: "Grafana Alloy"},
}

// producerOf is the producer of metric, by longest matching prefix.
func producerOf(metric string) (producer, bool) {
	var best producer
	found := false
	for _, p := range producers {
		match := metric == p.prefix || (!p.exact && strings.HasPrefix(metric, p.prefix))
		if match && (!found || len(p.prefix) > len(best.prefix)) {
			best, found = p, true
		}
	}
	return best, found
}

// unproduced lists, for each rule of groups, the metrics it reads that
// nothing installed on b produces.
func unproduced(t *testing.T, b backend, groups []Group) []string {
	t.Helper()
	var out []string
	for _, g := range groups {
		for _, r := range g.Rules {
			var names []string
			for _, vs := range selectors(t, r.Expr) {
				if !slices.Contains(names, vs.Name) {
					names = append(names, vs.Name)
				}
			}
			for _, name := range names {
				p, ok := producerOf(name)
				switch {
				case !ok:
					out = append(out, fmt.Sprintf("%s reads %s, which no installed component produces", r.Alert, name))
				case !p.on(b):
					out = append(out, fmt.Sprintf("%s reads %s, which %s does not produce on %s (volumes: %s)", r.Alert, name, p.source, b.cloud, b.volumes))
				}
			}
		}
	}
	return out
}

// TestRuleMetricsAreProduced: on every backend, each metric a lab rule
// reads comes from something the stack installs there, so no alert is
// silent for want of its series.
func TestRuleMetricsAreProduced(t *testing.T) {
	for _, cloud := range config.Implemented {
		t.Run(string(cloud), func(t *testing.T) {
			assert.Empty(t, unproduced(t, labBackend(t, cloud), Groups()))
		})
	}
}

// TestUnproducedMetricsAreFound proves the check bites: hostPath volumes
// leave the storage alerts without series, and a metric no component
// exports is named.
func TestUnproducedMetricsAreFound(t *testing.T) {
	var storageGroup []Group
	for _, g := range Groups() {
		if g.Name == "storage" {
			storageGroup = append(storageGroup, g)
		}
	}
	require.Len(t, storageGroup, 1)

	got := unproduced(t, backend{cloud: config.Hetzner, volumes: "hostPath"}, storageGroup)
	require.NotEmpty(t, got)
	for _, msg := range got {
		assert.Contains(t, msg, "kubelet_volume_stats_")
		assert.Contains(t, msg, "hostPath")
	}
	assert.Empty(t, unproduced(t, backend{cloud: config.Hetzner, volumes: "local"}, storageGroup))
	assert.Empty(t, unproduced(t, backend{cloud: config.AWS, volumes: "csi"}, storageGroup))

	made := []Group{{Name: "made-up", Rules: []Rule{{Alert: "MadeUp", Expr: `rate(made_up_total[5m]) > 0`}}}}
	assert.Equal(t, []string{"MadeUp reads made_up_total, which no installed component produces"},
		unproduced(t, backend{cloud: config.VirtualBox, volumes: "local"}, made))
}

// TestProducerOf pins the prefix rule the table relies on.
func TestProducerOf(t *testing.T) {
	for metric, want := range map[string]string{
		"kubelet_volume_stats_available_bytes": "kubelet volume statistics",
		"kubelet_running_pods":                 "kubelet",
		"up":                                   "Prometheus, per scrape target",
		"kube_node_role":                       "kube-state-metrics",
	} {
		p, ok := producerOf(metric)
		require.True(t, ok, metric)
		assert.Equal(t, want, p.source, metric)
	}
	_, ok := producerOf("upstream_requests_total")
	assert.False(t, ok, "up matches only the metric named up")
}
