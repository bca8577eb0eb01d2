package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// Selectors of kube-prometheus-stack's default scrape jobs. Pinning the job
// keeps a second scraper of the same exporter (a sidecar, a federation)
// from doubling every count.
const (
	ksm          = `job="kube-state-metrics"`
	nodeExporter = `job="node-exporter"`
	apiserver    = `job="apiserver"`
	etcd         = `job="kube-etcd"`
)

// activePods is 1 for every pod that is Pending or Running. Requests of
// finished pods (Jobs, evicted pods) stay in kube-state-metrics until the
// pod object is deleted but no longer hold capacity, so they are left out.
const activePods = `max by (namespace, pod) (kube_pod_status_phase{` + ksm + `,phase=~"Pending|Running"} == 1)`

// requested is the sum of active pods' requests of resource, grouped as
// by says (byNode, or "" for the whole cluster).
func requested(resource, by string) string {
	return fmt.Sprintf(`sum%s(kube_pod_container_resource_requests{%s,resource=%q} * on (namespace, pod) group_left () %s)`,
		by, ksm, resource, activePods)
}

// allocatable is what the nodes offer the scheduler of resource.
func allocatable(resource, by string) string {
	return fmt.Sprintf(`sum%s(kube_node_status_allocatable{%s,resource=%q})`, by, ksm, resource)
}

// requestRatio is how much of the allocatable resource the scheduler has
// handed out: when it nears 100% new pods stay Pending even if the nodes
// are idle, which utilisation graphs alone never show.
func requestRatio(resource, by string) string {
	return requested(resource, by) + " / " + allocatable(resource, by)
}

// byNode groups a sum per node; the empty string sums the whole cluster.
const byNode = " by (node) "

// clusterOverview answers, top to bottom, the questions of a cluster
// health check: are the nodes there, is there room, are the workloads
// running, is the control plane sound, and what is already alerting.
func clusterOverview(b *dashboard.DashboardBuilder) *dashboard.DashboardBuilder {
	b = b.Description("Health of the lab's Kubernetes cluster: nodes, capacity, workloads, control plane and firing alerts.")

	b = b.WithRow(dashboard.NewRowBuilder("Nodes")).
		WithPanel(StatPanel("Nodes", "Nodes registered with the API server.", units.Number, 6,
			Query(`count(kube_node_info{`+ksm+`})`, "nodes"))).
		WithPanel(StatPanel("Nodes Ready", "Nodes whose Ready condition is true: the kubelet reports in and the node takes pods.", units.Number, 6,
			Query(`sum(kube_node_status_condition{`+ksm+`,condition="Ready",status="true"})`, "ready"))).
		WithPanel(StatPanel("Nodes NotReady", "Nodes whose Ready condition is false or unknown: the kubelet is down, unreachable or unhealthy, and its pods are evicted after the toleration period.", units.Number, 6,
			Query(`sum(kube_node_status_condition{`+ksm+`,condition="Ready",status!="true"}) or vector(0)`, "not ready")).
			Thresholds(anyIsBad()).
			ColorMode(common.BigValueColorModeBackground)).
		WithPanel(StatPanel("Nodes cordoned", "Nodes marked unschedulable (kubectl cordon, or a drain in progress, for example during a Talos upgrade).", units.Number, 6,
			Query(`sum(kube_node_spec_unschedulable{`+ksm+`}) or vector(0)`, "cordoned")).
			Thresholds(Thresholds("green", Step{1, "orange"})))

	b = b.WithRow(dashboard.NewRowBuilder("Capacity")).
		WithPanel(gaugePanel("Cluster requests / allocatable", "Share of the cluster's allocatable CPU and memory that running and pending pods have requested. Near 100%, new pods cannot be scheduled.", 6,
			Query(requestRatio("cpu", ""), "CPU"),
			Query(requestRatio("memory", ""), "memory"))).
		WithPanel(timeseriesPanel("CPU requests / allocatable per node", "Requested CPU over allocatable CPU on each node.", units.PercentUnit, 9,
			Query(requestRatio("cpu", byNode), "{{node}}"))).
		WithPanel(timeseriesPanel("Memory requests / allocatable per node", "Requested memory over allocatable memory on each node.", units.PercentUnit, 9,
			Query(requestRatio("memory", byNode), "{{node}}"))).
		WithPanel(gaugePanel("Cluster utilisation", "CPU and memory actually in use across all nodes, from node-exporter. High use with low requests means pods request too little.", 6,
			// iowait and steal count as idle: the CPU is free for other
			// work, it is the disk or the hypervisor that is slow.
			Query(`1 - avg(sum without (mode) (rate(node_cpu_seconds_total{`+nodeExporter+`,mode=~"idle|iowait|steal"}[$__rate_interval])))`, "CPU"),
			Query(`1 - sum(node_memory_MemAvailable_bytes{`+nodeExporter+`}) / sum(node_memory_MemTotal_bytes{`+nodeExporter+`})`, "memory"))).
		WithPanel(timeseriesPanel("Node CPU utilisation", "Busy share of each node's CPUs.", units.PercentUnit, 9,
			Query(`1 - avg by (instance) (sum without (mode) (rate(node_cpu_seconds_total{`+nodeExporter+`,mode=~"idle|iowait|steal"}[$__rate_interval])))`, "{{instance}}"))).
		WithPanel(timeseriesPanel("Node memory utilisation", "Memory in use on each node; MemAvailable counts reclaimable page cache as free.", units.PercentUnit, 9,
			Query(`1 - sum by (instance) (node_memory_MemAvailable_bytes{`+nodeExporter+`}) / sum by (instance) (node_memory_MemTotal_bytes{`+nodeExporter+`})`, "{{instance}}"))).
		WithPanel(timeseriesPanel("Filesystem usage", "Used share of each disk-backed filesystem. On Talos, /var (the EPHEMERAL partition) holds images, logs and emptyDir volumes; when it fills, the kubelet evicts pods.", units.PercentUnit, 24,
			// Only real disks: tmpfs, overlay and Talos's read-only
			// squashfs root are either always full or meaningless here.
			Query(`max by (instance, mountpoint) (1 - node_filesystem_avail_bytes{`+nodeExporter+`,fstype=~"ext[234]|xfs|btrfs|zfs"} / node_filesystem_size_bytes{`+nodeExporter+`,fstype=~"ext[234]|xfs|btrfs|zfs"})`, "{{instance}} {{mountpoint}}")).
			Max(1))

	b = b.WithRow(dashboard.NewRowBuilder("Workload health")).
		WithPanel(StatPanel("Pods not Ready", "Pending or Running pods whose Ready condition is false: they receive no Service traffic.", units.Number, 6,
			Query(`sum(kube_pod_status_ready{`+ksm+`,condition="false"} * on (namespace, pod) group_left () `+activePods+`) or vector(0)`, "not ready")).
			Thresholds(anyIsBad()).
			ColorMode(common.BigValueColorModeBackground)).
		WithPanel(StatPanel("Containers in CrashLoopBackOff", "Containers the kubelet keeps restarting with back-off; see the waiting containers table for which.", units.Number, 6,
			Query(`sum(kube_pod_container_status_waiting_reason{`+ksm+`,reason="CrashLoopBackOff"}) or vector(0)`, "crash looping")).
			Thresholds(anyIsBad()).
			ColorMode(common.BigValueColorModeBackground)).
		WithPanel(StatPanel("Deployments with unavailable replicas", "Deployments that have fewer available replicas than desired.", units.Number, 6,
			Query(`count(kube_deployment_status_replicas_unavailable{`+ksm+`} > 0) or vector(0)`, "deployments")).
			Thresholds(anyIsBad()).
			ColorMode(common.BigValueColorModeBackground)).
		WithPanel(StatPanel("DaemonSets not fully scheduled", "DaemonSets running on fewer nodes than they should, such as Cilium or node-exporter missing from a node.", units.Number, 6,
			Query(`count((kube_daemonset_status_desired_number_scheduled{`+ksm+`} - kube_daemonset_status_current_number_scheduled{`+ksm+`}) > 0) or vector(0)`, "daemonsets")).
			Thresholds(anyIsBad()).
			ColorMode(common.BigValueColorModeBackground)).
		WithPanel(tablePanel("Waiting containers", "Containers that are not running and why (CrashLoopBackOff, ImagePullBackOff, CreateContainerConfigError...).", 8,
			instantTable(`sum by (namespace, pod, container, reason) (kube_pod_container_status_waiting_reason{`+ksm+`}) > 0`)).
			WithTransformation(organize([]string{"Time", "Value"}, nil)).
			SortBy([]cog.Builder[common.TableSortByFieldState]{
				common.NewTableSortByFieldStateBuilder().DisplayName("reason"),
			})).
		WithPanel(timeseriesPanel("Container restarts", "Container restarts per pod over the last 10 minutes; a steady line is a crash loop.", units.Short, 8,
			Query(`sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total{`+ksm+`}[10m])) > 0`, "{{namespace}}/{{pod}}")).
			Decimals(0)).
		WithPanel(timeseriesPanel("Unavailable replicas", "Missing Deployment replicas and DaemonSet pods not scheduled where they should be.", units.Short, 8,
			Query(`sum by (namespace, deployment) (kube_deployment_status_replicas_unavailable{`+ksm+`}) > 0`, "deploy {{namespace}}/{{deployment}}"),
			Query(`sum by (namespace, daemonset) (kube_daemonset_status_desired_number_scheduled{`+ksm+`} - kube_daemonset_status_current_number_scheduled{`+ksm+`}) > 0`, "ds {{namespace}}/{{daemonset}}")).
			Decimals(0))

	b = b.WithRow(dashboard.NewRowBuilder("Control-plane health")).
		WithPanel(StatPanel("Control-plane targets up", "Share of each component's scrape targets that answer. No data means Prometheus does not scrape the component at all (check the Talos patch that exposes its metrics).", units.PercentUnit, 12,
			Query(`avg(up{`+apiserver+`})`, "apiserver"),
			Query(`avg(up{`+etcd+`})`, "etcd"),
			Query(`avg(up{job="kube-scheduler"})`, "scheduler"),
			Query(`avg(up{job="kube-controller-manager"})`, "controller-manager")).
			Thresholds(Thresholds("red", Step{1, "green"})).
			ColorMode(common.BigValueColorModeBackground).
			GraphMode(common.BigValueGraphModeNone).
			TextMode(common.BigValueTextModeValueAndName).
			NoValue("not scraped")).
		WithPanel(StatPanel("etcd has leader", "Whether every etcd member sees a leader. Without one, etcd refuses writes and the API server cannot change anything.", units.NoUnit, 6,
			Query(`min(etcd_server_has_leader{`+etcd+`})`, "leader")).
			Mappings([]dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{
				Type: dashboard.MappingTypeValueToText,
				Options: map[string]dashboard.ValueMappingResult{
					"0": {Text: cog.ToPtr("No leader"), Color: cog.ToPtr("red")},
					"1": {Text: cog.ToPtr("Leader"), Color: cog.ToPtr("green")},
				},
			}}}).
			ColorMode(common.BigValueColorModeBackground).
			GraphMode(common.BigValueGraphModeNone)).
		WithPanel(StatPanel("etcd leader changes (1h)", "Leader elections in the last hour, as seen by the member that saw most. More than one or two an hour points at slow disks or a flaky network between control planes.", units.Number, 6,
			Query(`round(max(increase(etcd_server_leader_changes_seen_total{`+etcd+`}[1h])))`, "changes")).
			Thresholds(Thresholds("green", Step{1, "orange"}, Step{3, "red"}))).
		WithPanel(timeseriesPanel("etcd database size", "Size of each member's database file, the part of it in use, and the backend quota. At the quota etcd raises a NOSPACE alarm and goes read-only; compaction and defragmentation reclaim the gap.", units.BytesIEC, 8,
			Query(`etcd_mvcc_db_total_size_in_bytes{`+etcd+`}`, "{{instance}} size"),
			Query(`etcd_mvcc_db_total_size_in_use_in_bytes{`+etcd+`}`, "{{instance}} in use"),
			Query(`max(etcd_server_quota_backend_bytes{`+etcd+`})`, "quota"))).
		WithPanel(timeseriesPanel("API server requests by code", "Requests the API servers answer, by HTTP status code.", units.RequestsPerSecond, 8,
			Query(`sum by (code) (rate(apiserver_request_total{`+apiserver+`}[$__rate_interval]))`, "{{code}}"))).
		WithPanel(timeseriesPanel("API server 5xx error ratio", "Share of API requests answered with a 5xx status.", units.PercentUnit, 8,
			Query(`sum(rate(apiserver_request_total{`+apiserver+`,code=~"5.."}[$__rate_interval])) / sum(rate(apiserver_request_total{`+apiserver+`}[$__rate_interval]))`, "5xx ratio"))).
		WithPanel(timeseriesPanel("API server p99 latency by verb", "99th percentile of API request duration. WATCH and CONNECT are long-lived by design and left out.", units.Seconds, 24,
			Query(`histogram_quantile(0.99, sum by (le, verb) (rate(apiserver_request_duration_seconds_bucket{`+apiserver+`,verb!~"WATCH|CONNECT"}[$__rate_interval])))`, "{{verb}}")))

	b = b.WithRow(dashboard.NewRowBuilder("Top alerts")).
		WithPanel(tablePanel("Firing alerts", "Alerts firing now, by name, severity and namespace, most instances first. Watchdog and InfoInhibitor always fire by design and are left out.", 24,
			instantTable(`sort_desc(count by (alertname, severity, namespace) (ALERTS{alertstate="firing",alertname!~"Watchdog|InfoInhibitor"}))`)).
			WithTransformation(organize([]string{"Time"}, map[string]string{"Value": "firing"})).
			SortBy([]cog.Builder[common.TableSortByFieldState]{
				common.NewTableSortByFieldStateBuilder().DisplayName("firing").Desc(true),
			}).
			NoValue("No alerts firing"))

	return b
}

// organize hides the columns in hide and renames those in rename, so that
// a table shows labels rather than Prometheus's frame fields.
func organize(hide []string, rename map[string]string) dashboard.DataTransformerConfig {
	excluded := map[string]bool{}
	for _, h := range hide {
		excluded[h] = true
	}
	if rename == nil {
		rename = map[string]string{}
	}
	return dashboard.DataTransformerConfig{
		Id: "organize",
		Options: map[string]any{
			"excludeByName": excluded,
			"renameByName":  rename,
		},
	}
}
