// Package rules holds the Prometheus alerting rules the lab adds on top of
// kube-prometheus-stack's default rules, which stay on. The defaults know
// nothing about Talos (etcd scraped on port 2381 under job "kube-etcd",
// talosctl instead of SSH), Cilium and Hubble, Loki with its collector, or
// where the lab's runbooks live; these rules fill those gaps, and each links
// to a runbook under docs/runbooks/.
//
// The rules are plain data so that one definition renders both as a
// Prometheus rule file (RuleFile, which the tests validate with Prometheus's
// own rulefmt and PromQL parser) and as the spec of a PrometheusRule object
// (PrometheusRuleSpec) for the Kubernetes layer to apply.
package rules

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RunbookBase is the URL of the runbook directory, docs/runbooks/ on the
// repository's main branch. A rule's runbook_url is
// RunbookBase/<group name>.md#<Rule.Runbook>.
const RunbookBase = "https://github.com/your-org/sre-lab/blob/main/docs/runbooks"

// Severities a rule may carry. Alertmanager routes on them: critical means
// the cluster (or its network) is broken or will be soon and someone should
// look now; warning means something degrades and can wait for working hours.
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Rule is one alerting rule.
type Rule struct {
	// Alert is the alert's name, in CamelCase; it is also the heading of the
	// rule's section in its runbook.
	Alert string
	// Expr is the PromQL expression; every series it returns is an alert.
	Expr string
	// For is how long Expr must keep returning a series before the alert
	// fires, as a Prometheus duration ("5m").
	For string
	// Severity is SeverityWarning or SeverityCritical.
	Severity string
	// Summary is a one-line statement of the problem.
	Summary string
	// Description says what is wrong where; it may use alert templating
	// such as {{ $labels.instance }} and {{ $value }}.
	Description string
	// Runbook is the anchor of the rule's section in its group's runbook
	// file: the GitHub anchor of the section's heading, so "etcdnoleader"
	// for "## EtcdNoLeader".
	Runbook string
}

// Group is a named set of rules Prometheus evaluates together. Its name is
// also the name of its runbook file, docs/runbooks/<Name>.md.
type Group struct {
	Name  string
	Rules []Rule
}

// etcdJob is the job label of Talos's etcd metrics: the chart's kubeEtcd
// ServiceMonitor scrapes the control planes on port 2381, where the Talos
// patch makes etcd listen for metrics, and names the job "kube-etcd".
const etcdJob = `job="kube-etcd"`

// Groups returns the lab's alert groups: talos-etcd, cilium, loki and
// storage, in that order.
func Groups() []Group {
	return []Group{etcdGroup(), ciliumGroup(), lokiGroup(), storageGroup()}
}

func etcdGroup() Group {
	return Group{Name: "talos-etcd", Rules: []Rule{
		{
			Alert: "EtcdNoLeader",
			// A member without a leader refuses writes, and the API server
			// on its node fails with it. An election takes a few seconds
			// (the election timeout is 1s), so a minute without a leader is
			// no longer an election in progress.
			Expr:        `etcd_server_has_leader{` + etcdJob + `} == 0`,
			For:         "1m",
			Severity:    SeverityCritical,
			Summary:     "An etcd member has no leader.",
			Description: "etcd member {{ $labels.instance }} has had no leader for over a minute; it cannot serve writes, and the control plane on that node is effectively down.",
			Runbook:     "etcdnoleader",
		},
		{
			Alert: "EtcdFrequentLeaderChanges",
			// A rolling Talos upgrade or reboot of all control planes moves
			// leadership at most once per control plane (three in the
			// lab's HA stacks). More than three changes within an hour is
			// more than any planned maintenance causes, so the members are
			// losing heartbeats: slow disks, a saturated CPU or a flaky
			// network. Every member counts each change, so the maximum over
			// members is taken to fire once for the cluster.
			Expr:        `max by (job) (increase(etcd_server_leader_changes_seen_total{` + etcdJob + `}[1h])) > 3`,
			For:         "5m",
			Severity:    SeverityWarning,
			Summary:     "etcd changes leader frequently.",
			Description: "etcd has seen {{ $value | humanize }} leader changes in the last hour; members are probably missing heartbeats because of slow disks, CPU starvation or network trouble between control planes.",
			Runbook:     "etcdfrequentleaderchanges",
		},
		{
			Alert: "EtcdDatabaseNearQuota",
			// At 100% of its backend quota etcd raises the NOSPACE alarm
			// and rejects every write until an operator compacts,
			// defragments and disarms it, which stops Kubernetes. 80%
			// leaves time to do that calmly; the chart's own
			// etcdDatabaseQuotaLowSpace only fires at 95%.
			Expr: `(
  etcd_mvcc_db_total_size_in_bytes{` + etcdJob + `}
/
  etcd_server_quota_backend_bytes{` + etcdJob + `}
) > 0.8`,
			For:         "10m",
			Severity:    SeverityWarning,
			Summary:     "etcd database is close to its size quota.",
			Description: "etcd member {{ $labels.instance }} uses {{ $value | humanizePercentage }} of its backend quota; at 100% etcd raises a NOSPACE alarm and rejects all writes.",
			Runbook:     "etcddatabasenearquota",
		},
		{
			Alert: "EtcdHighFsyncLatency",
			// etcd fsyncs its WAL before acknowledging each write; its own
			// guidance wants the 99th percentile under 10ms. At 500ms a
			// member misses the 100ms heartbeats its followers expect and
			// elections follow. VirtualBox disks on a busy laptop and
			// throttled cloud volumes get there; ten minutes ignores a
			// single slow burst such as a snapshot.
			Expr: `histogram_quantile(0.99,
  sum by (instance, le) (rate(etcd_disk_wal_fsync_duration_seconds_bucket{` + etcdJob + `}[5m]))
) > 0.5`,
			For:         "10m",
			Severity:    SeverityWarning,
			Summary:     "etcd WAL fsync is slow.",
			Description: "99th percentile WAL fsync latency on etcd member {{ $labels.instance }} is {{ $value | humanizeDuration }}; etcd needs well under 10ms and elections start when it nears the heartbeat interval.",
			Runbook:     "etcdhighfsynclatency",
		},
		{
			Alert: "ControlPlaneNodeNotReady",
			// The control-plane role comes from kube_node_role, which
			// kube-state-metrics derives from the node-role.kubernetes.io/*
			// labels. kube_node_labels cannot stand in for it: node labels
			// are only exported when allow-listed, and the control-plane
			// label's value is empty, which PromQL cannot tell from a
			// missing label. A Talos upgrade or reboot brings a node back
			// within a few minutes; ten minutes leaves room for a slow
			// laptop or cloud boot and still pages before the chart's
			// KubeNodeNotReady (warning after 15m). Losing a control plane
			// removes the cluster's only failure tolerance (or, with one
			// control plane, the cluster), hence critical.
			Expr: `(
  kube_node_status_condition{condition="Ready", status="true"} == 0
)
and on (node)
  kube_node_role{role="control-plane"}`,
			For:         "10m",
			Severity:    SeverityCritical,
			Summary:     "A control-plane node is not Ready.",
			Description: "Control-plane node {{ $labels.node }} has not been Ready for 10 minutes; its etcd member and API server may be gone, leaving etcd without failure tolerance.",
			Runbook:     "controlplanenodenotready",
		},
		{
			Alert: "EtcdBackupTooOld",
			// The snapshot job runs every few hours (sre-lab:
			// etcdBackupSchedule); a day without a successful one means
			// restoring would lose at least a day. The metric exists only
			// where backups are scheduled and once one has succeeded, so
			// labs without backups never fire.
			Expr:        `time() - kube_cronjob_status_last_successful_time{namespace="etcd-backup", cronjob="talos-backup"} > 86400`,
			For:         "30m",
			Severity:    SeverityWarning,
			Summary:     "No etcd snapshot has succeeded for a day.",
			Description: "The last successful etcd snapshot of CronJob {{ $labels.namespace }}/{{ $labels.cronjob }} is {{ $value | humanizeDuration }} old.",
			Runbook:     "etcdbackuptooold",
		},
	}}
}

func ciliumGroup() Group {
	return Group{Name: "cilium", Rules: []Rule{
		{
			Alert: "CiliumAgentDown",
			// Without its agent a node keeps forwarding with the eBPF
			// programs already loaded, but new pods there get no network and
			// policy changes stop applying: critical after five minutes, long
			// enough for an agent restart during a rollout. The absent()
			// arm catches the case where no agent is scraped at all (every
			// agent down, or the ServiceMonitor gone), where up == 0 returns
			// nothing.
			Expr: `up{job=~".*cilium-agent.*"} == 0
or
absent(up{job=~".*cilium-agent.*"})`,
			For:         "5m",
			Severity:    SeverityCritical,
			Summary:     "A Cilium agent is down or not scraped.",
			Description: "{{ if $labels.instance }}Cilium agent {{ $labels.instance }} has been down for 5 minutes; pods on its node get no new endpoints and no policy updates.{{ else }}No Cilium agent has been scraped for 5 minutes: every agent is down, or their ServiceMonitor is missing.{{ end }}",
			Runbook:     "ciliumagentdown",
		},
		{
			Alert: "CiliumHighDropRate",
			// Policy denials have an alert of their own below, so they are
			// left out here rather than firing twice. Other drop reasons
			// are background noise in a lab this size (stray IPv6 or stale
			// connections) and stay well under one packet a second
			// cluster-wide; five a second for fifteen minutes is a broken
			// datapath, routing or MTU problem, not a burst of
			// retransmits.
			Expr:        `sum by (reason) (rate(hubble_drop_total{reason!~"POLICY_DENIED|POLICY_DENY"}[5m])) > 5`,
			For:         "15m",
			Severity:    SeverityWarning,
			Summary:     "Cilium drops many packets for one reason.",
			Description: "Cilium has been dropping {{ $value | humanize }} packets/s with reason {{ $labels.reason }} for 15 minutes.",
			Runbook:     "ciliumhighdroprate",
		},
		{
			Alert: "CiliumPolicyDenials",
			// Any sustained denial means a network policy blocks traffic
			// someone still sends: either a policy is missing an allow
			// rule, or something probes where it should not. Ten minutes
			// of it rules out a one-off connection attempt. Cilium reports
			// drops by a default-deny policy as POLICY_DENIED and by an
			// explicit deny rule as POLICY_DENY; both count.
			Expr:        `sum by (instance) (rate(hubble_drop_total{reason=~"POLICY_DENIED|POLICY_DENY"}[5m])) > 0`,
			For:         "10m",
			Severity:    SeverityWarning,
			Summary:     "Network policy keeps denying traffic.",
			Description: "Hubble on {{ $labels.instance }} has recorded {{ $value | humanize }} policy-denied packets/s for 10 minutes.",
			Runbook:     "ciliumpolicydenials",
		},
		{
			Alert: "HubbleRelayDown",
			// Relay exports no metrics of its own in the lab, so this
			// reads its Deployment from kube-state-metrics; absent() covers
			// a deleted Deployment. Losing relay blinds the Hubble UI and
			// CLI but not the datapath, hence a warning.
			Expr: `kube_deployment_status_replicas_available{namespace="kube-system", deployment="hubble-relay"} == 0
or
absent(kube_deployment_spec_replicas{namespace="kube-system", deployment="hubble-relay"})`,
			For:         "10m",
			Severity:    SeverityWarning,
			Summary:     "Hubble relay is down.",
			Description: "The hubble-relay Deployment in kube-system has had no available replica (or has not existed) for 10 minutes; the Hubble UI and hubble observe through relay show nothing.",
			Runbook:     "hubblerelaydown",
		},
	}}
}

func lokiGroup() Group {
	return Group{Name: "loki", Rules: []Rule{
		{
			Alert: "LokiRequestErrors",
			// Collectors retry failed pushes, so a few 5xx are harmless;
			// one request in twenty failing for fifteen minutes outlasts
			// the retries, and logs are lost or queries fail. Kept per
			// route so the alert tells pushes from queries.
			Expr: `(
  sum by (namespace, job, route) (rate(loki_request_duration_seconds_count{status_code=~"5.."}[5m]))
/
  sum by (namespace, job, route) (rate(loki_request_duration_seconds_count[5m]))
) > 0.05`,
			For:         "15m",
			Severity:    SeverityWarning,
			Summary:     "Loki answers many requests with 5xx.",
			Description: "{{ $value | humanizePercentage }} of requests to {{ $labels.job }} route {{ $labels.route }} fail with a 5xx status.",
			Runbook:     "lokirequesterrors",
		},
		{
			Alert: "LokiDiscardedSamples",
			// A discarded sample is a log line Loki refused for good (rate
			// or stream limits, too old, too long, bad labels); nothing
			// retries it. Any sustained rate is data loss, but a collector
			// catching up after a restart can briefly send lines older than
			// Loki accepts, hence fifteen minutes.
			Expr:        `sum by (namespace, tenant, reason) (rate(loki_discarded_samples_total[5m])) > 0`,
			For:         "15m",
			Severity:    SeverityWarning,
			Summary:     "Loki is discarding log lines.",
			Description: "Loki discards {{ $value | humanize }} lines/s for tenant {{ $labels.tenant }} with reason {{ $labels.reason }}.",
			Runbook:     "lokidiscardedsamples",
		},
		{
			Alert: "LogCollectorPodsNotReady",
			// The collector (Grafana Alloy, or Promtail where chosen) runs
			// one pod per node in the logging namespace; a node whose pod
			// is not ready ships no logs. A rollout replaces the pods one
			// at a time in well under fifteen minutes on a lab cluster.
			Expr: `kube_daemonset_status_number_ready{namespace="logging", daemonset=~"alloy|promtail"}
<
kube_daemonset_status_desired_number_scheduled{namespace="logging", daemonset=~"alloy|promtail"}`,
			For:         "15m",
			Severity:    SeverityWarning,
			Summary:     "Log collector pods are not ready on every node.",
			Description: "DaemonSet {{ $labels.namespace }}/{{ $labels.daemonset }} has had only {{ $value }} ready pods, fewer than desired, for 15 minutes; logs from the other nodes are not collected.",
			Runbook:     "logcollectorpodsnotready",
		},
		{
			Alert: "LogReceiverDown",
			// One replica receives Kubernetes events and the Talos nodes'
			// own logs; while it is down, Talos holds its lines in a bounded
			// memory buffer and resends them over TCP, and events wait in
			// the API server for an hour: an outage longer than either
			// loses them. Ten minutes covers a rollout or a rescheduled pod.
			Expr:        `kube_deployment_status_replicas_available{namespace="logging", deployment="alloy-receiver"} == 0`,
			For:         "10m",
			Severity:    SeverityWarning,
			Summary:     "Kubernetes events and Talos node logs are not being collected.",
			Description: "Deployment {{ $labels.namespace }}/{{ $labels.deployment }} has had no available pod for 10 minutes; events and Talos service and kernel logs are held back meanwhile, and lost once Talos's buffer or the API server's event retention runs out.",
			Runbook:     "logreceiverdown",
		},
	}}
}

// pvFree is the free fraction of each persistent volume the kubelet reports
// on: EBS volumes, and local-path's local volumes, whose figures are those of
// the filesystem all of a node's local-path claims share. A claim made with
// local-path's volumeType: hostPath annotation has no figures and is not in
// it; see docs/runbooks/storage.md.
const pvFree = `  kubelet_volume_stats_available_bytes{job="kubelet"}
/
  kubelet_volume_stats_capacity_bytes{job="kubelet"}`

func storageGroup() Group {
	return Group{Name: "storage", Rules: []Rule{
		{
			Alert: "PersistentVolumeSpaceLow",
			// 15% free leaves days of headroom for the lab's steady writers
			// (Prometheus, Loki) to be cleaned up or resized; fifteen
			// minutes skips a temporary file that is written and deleted.
			Expr:        "(\n" + pvFree + "\n) < 0.15",
			For:         "15m",
			Severity:    SeverityWarning,
			Summary:     "A persistent volume is running out of space.",
			Description: "PersistentVolumeClaim {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} has only {{ $value | humanizePercentage }} free.",
			Runbook:     "persistentvolumespacelow",
		},
		{
			Alert: "PersistentVolumeSpaceCritical",
			// At 5% a busy writer fills the rest within minutes and the
			// application fails (Prometheus and Loki stop ingesting), so
			// this fires after five minutes, not fifteen.
			Expr:        "(\n" + pvFree + "\n) < 0.05",
			For:         "5m",
			Severity:    SeverityCritical,
			Summary:     "A persistent volume is almost full.",
			Description: "PersistentVolumeClaim {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} has only {{ $value | humanizePercentage }} free; its application will fail when it is full.",
			Runbook:     "persistentvolumespacecritical",
		},
		{
			Alert: "PersistentVolumeFillingUp",
			// Extrapolates six hours of trend a day ahead, so a volume that
			// fills steadily is caught while there is still a day to act.
			// Only volumes already past half full count: a fresh volume's
			// first hours of writes would otherwise predict a fill. The
			// trend must hold for an hour so a one-off bulk write does not
			// fire it.
			Expr: `predict_linear(kubelet_volume_stats_available_bytes{job="kubelet"}[6h], 24 * 3600) < 0
and
(
` + pvFree + `
) < 0.5`,
			For:         "1h",
			Severity:    SeverityWarning,
			Summary:     "A persistent volume will fill up within 24 hours.",
			Description: "At its rate over the last 6 hours, PersistentVolumeClaim {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} will be full within 24 hours.",
			Runbook:     "persistentvolumefillingup",
		},
	}}
}

// The shape of a Prometheus rule file, in the field order Prometheus's own
// documentation uses.
type (
	ruleFile struct {
		Groups []fileGroup `yaml:"groups"`
	}
	fileGroup struct {
		Name  string     `yaml:"name"`
		Rules []fileRule `yaml:"rules"`
	}
	fileRule struct {
		Alert       string            `yaml:"alert"`
		Expr        string            `yaml:"expr"`
		For         string            `yaml:"for,omitempty"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
)

// RuleFile returns Groups as a Prometheus rule file in YAML, the format
// `promtool check rules` and Prometheus's rule_files read. It fails if a
// rule lacks a name, expression, summary, description or runbook anchor,
// has an unknown severity, or reuses another rule's name.
func RuleFile() (string, error) {
	return render(Groups())
}

// render is RuleFile for any groups.
func render(groups []Group) (string, error) {
	file, err := build(groups)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(file); err != nil {
		return "", fmt.Errorf("encoding rule file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("encoding rule file: %w", err)
	}
	return b.String(), nil
}

// PrometheusRuleSpec returns Groups as the spec of a monitoring.coreos.com/v1
// PrometheusRule: {"groups": [{"name", "rules": [{"alert", "expr", "for",
// "labels", "annotations"}]}]}, built only from strings, []any and
// map[string]any so that it passes unchanged into a Pulumi resource. It
// carries exactly what RuleFile renders. The rules are fixed and covered by
// the package's tests, so a rule that RuleFile would reject is a programming
// error and panics here.
func PrometheusRuleSpec() map[string]any {
	spec, err := specOf(Groups())
	if err != nil {
		panic(err)
	}
	return spec
}

// specOf is PrometheusRuleSpec for any groups.
func specOf(groups []Group) (map[string]any, error) {
	file, err := build(groups)
	if err != nil {
		return nil, err
	}
	specGroups := make([]any, 0, len(file.Groups))
	for _, g := range file.Groups {
		specRules := make([]any, 0, len(g.Rules))
		for _, r := range g.Rules {
			rule := map[string]any{
				"alert":       r.Alert,
				"expr":        r.Expr,
				"labels":      stringMap(r.Labels),
				"annotations": stringMap(r.Annotations),
			}
			if r.For != "" {
				rule["for"] = r.For
			}
			specRules = append(specRules, rule)
		}
		specGroups = append(specGroups, map[string]any{"name": g.Name, "rules": specRules})
	}
	return map[string]any{"groups": specGroups}, nil
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// anchorPattern is what a GitHub heading anchor can consist of.
var anchorPattern = regexp.MustCompile(`^[a-z0-9_-]+$`)

// build checks groups and turns them into the rule file's shape, adding the
// severity label and the annotations.
func build(groups []Group) (ruleFile, error) {
	file := ruleFile{Groups: make([]fileGroup, 0, len(groups))}
	groupNames := map[string]bool{}
	alerts := map[string]string{}
	for _, g := range groups {
		if g.Name == "" {
			return ruleFile{}, fmt.Errorf("group without a name")
		}
		if groupNames[g.Name] {
			return ruleFile{}, fmt.Errorf("group %s: defined twice", g.Name)
		}
		groupNames[g.Name] = true
		if len(g.Rules) == 0 {
			return ruleFile{}, fmt.Errorf("group %s: no rules", g.Name)
		}
		fg := fileGroup{Name: g.Name, Rules: make([]fileRule, 0, len(g.Rules))}
		for i, r := range g.Rules {
			if err := check(r); err != nil {
				return ruleFile{}, fmt.Errorf("group %s, rule %d (%s): %w", g.Name, i+1, r.Alert, err)
			}
			if other, ok := alerts[r.Alert]; ok {
				return ruleFile{}, fmt.Errorf("group %s: alert %s is already defined in group %s", g.Name, r.Alert, other)
			}
			alerts[r.Alert] = g.Name
			fg.Rules = append(fg.Rules, fileRule{
				Alert:  r.Alert,
				Expr:   r.Expr,
				For:    r.For,
				Labels: map[string]string{"severity": r.Severity},
				Annotations: map[string]string{
					"summary":     r.Summary,
					"description": r.Description,
					"runbook_url": RunbookBase + "/" + g.Name + ".md#" + r.Runbook,
				},
			})
		}
		file.Groups = append(file.Groups, fg)
	}
	return file, nil
}

// check rejects a rule that would render into an incomplete alert. PromQL
// and durations are left to Prometheus's own parsers in the tests.
func check(r Rule) error {
	switch {
	case r.Alert == "":
		return fmt.Errorf("no alert name")
	case strings.TrimSpace(r.Expr) == "":
		return fmt.Errorf("no expression")
	case r.Severity != SeverityWarning && r.Severity != SeverityCritical:
		return fmt.Errorf("severity %q: allowed are %s and %s", r.Severity, SeverityWarning, SeverityCritical)
	case strings.TrimSpace(r.Summary) == "":
		return fmt.Errorf("no summary")
	case strings.TrimSpace(r.Description) == "":
		return fmt.Errorf("no description")
	case !anchorPattern.MatchString(r.Runbook):
		return fmt.Errorf("runbook anchor %q: want a GitHub heading anchor (lowercase letters, digits, - and _)", r.Runbook)
	}
	return nil
}
