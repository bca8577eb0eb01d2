package rules

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// runbookDir is docs/runbooks/ relative to this package.
var runbookDir = filepath.Join("..", "..", "docs", "runbooks")

// parseRules runs content through Prometheus's own rule-file loader the way
// `promtool check rules` does, but stricter: unknown fields are errors, and
// names must satisfy the legacy (pre-UTF-8) scheme so the file loads on any
// Prometheus version. The loader only warns (through the logger) about a
// second YAML document, so a warning counts as an error too.
func parseRules(t *testing.T, content string) (*rulefmt.RuleGroups, []error) {
	t.Helper()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	groups, errs := rulefmt.Parse([]byte(content), false, model.LegacyValidation, parser.NewParser(parser.Options{}), logger)
	if logs.Len() > 0 {
		errs = append(errs, &logError{logs.String()})
	}
	return groups, errs
}

type logError struct{ msg string }

func (e *logError) Error() string { return "rulefmt logged: " + e.msg }

// mustRuleFile renders RuleFile and fails the test if it cannot.
func mustRuleFile(t *testing.T) string {
	t.Helper()
	content, err := RuleFile()
	require.NoError(t, err)
	return content
}

func TestRuleFileParsesWithRulefmt(t *testing.T) {
	content := mustRuleFile(t)
	parsed, errs := parseRules(t, content)
	require.Empty(t, errs, "rule file:\n%s", content)
	require.NotNil(t, parsed)

	// The file must carry every group and rule of Groups, field for field,
	// so an empty or partial file cannot pass just by being valid.
	groups := Groups()
	require.Len(t, parsed.Groups, len(groups))
	for i, g := range groups {
		pg := parsed.Groups[i]
		assert.Equal(t, g.Name, pg.Name)
		require.Len(t, pg.Rules, len(g.Rules), "group %s", g.Name)
		for j, r := range g.Rules {
			pr := pg.Rules[j]
			assert.Equal(t, r.Alert, pr.Alert)
			assert.Empty(t, pr.Record, "%s is an alerting rule", r.Alert)
			assert.Equal(t, r.Expr, pr.Expr, "%s", r.Alert)
			want, err := model.ParseDuration(r.For)
			require.NoError(t, err, "%s: for %q", r.Alert, r.For)
			assert.Equal(t, want, pr.For, "%s", r.Alert)
			assert.Equal(t, map[string]string{"severity": r.Severity}, pr.Labels, "%s", r.Alert)
			assert.Equal(t, r.Summary, pr.Annotations["summary"], "%s", r.Alert)
			assert.Equal(t, r.Description, pr.Annotations["description"], "%s", r.Alert)
		}
	}
}

func TestExprsAreValidPromQL(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	for _, g := range Groups() {
		for _, r := range g.Rules {
			t.Run(r.Alert, func(t *testing.T) {
				expr, err := p.ParseExpr(r.Expr)
				require.NoError(t, err, "expr:\n%s", r.Expr)
				// An alerting rule must return an instant vector; a scalar
				// or string parses but fails at every evaluation.
				assert.Equal(t, parser.ValueTypeVector, expr.Type())
			})
		}
	}
}

// selectors parses expr and returns its vector selectors, in order.
func selectors(t *testing.T, expr string) []*parser.VectorSelector {
	t.Helper()
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	require.NoError(t, err)
	var out []*parser.VectorSelector
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// TestAlertsReadTheirMetrics pins the lab's alerts to the group they belong
// in and to exactly the metrics they read, so a missing or extra alert, or a
// misspelt metric name (which parses as valid PromQL), fails here.
func TestAlertsReadTheirMetrics(t *testing.T) {
	tests := []struct {
		group, alert string
		metrics      []string
	}{
		{"talos-etcd", "EtcdNoLeader", []string{"etcd_server_has_leader"}},
		{"talos-etcd", "EtcdFrequentLeaderChanges", []string{"etcd_server_leader_changes_seen_total"}},
		{"talos-etcd", "EtcdDatabaseNearQuota", []string{"etcd_mvcc_db_total_size_in_bytes", "etcd_server_quota_backend_bytes"}},
		{"talos-etcd", "EtcdHighFsyncLatency", []string{"etcd_disk_wal_fsync_duration_seconds_bucket"}},
		{"talos-etcd", "ControlPlaneNodeNotReady", []string{"kube_node_status_condition", "kube_node_role"}},
		{"cilium", "CiliumAgentDown", []string{"up", "up"}},
		{"cilium", "CiliumHighDropRate", []string{"hubble_drop_total"}},
		{"cilium", "CiliumPolicyDenials", []string{"hubble_drop_total"}},
		{"cilium", "HubbleRelayDown", []string{"kube_deployment_status_replicas_available", "kube_deployment_spec_replicas"}},
		{"loki", "LokiRequestErrors", []string{"loki_request_duration_seconds_count", "loki_request_duration_seconds_count"}},
		{"loki", "LokiDiscardedSamples", []string{"loki_discarded_samples_total"}},
		{"loki", "LogCollectorPodsNotReady", []string{"kube_daemonset_status_number_ready", "kube_daemonset_status_desired_number_scheduled"}},
		{"loki", "LogReceiverDown", []string{"kube_deployment_status_replicas_available"}},
		{"talos-etcd", "EtcdBackupTooOld", []string{"kube_cronjob_status_last_successful_time"}},
		{"storage", "PersistentVolumeSpaceLow", []string{"kubelet_volume_stats_available_bytes", "kubelet_volume_stats_capacity_bytes"}},
		{"storage", "PersistentVolumeSpaceCritical", []string{"kubelet_volume_stats_available_bytes", "kubelet_volume_stats_capacity_bytes"}},
		{"storage", "PersistentVolumeFillingUp", []string{"kubelet_volume_stats_available_bytes", "kubelet_volume_stats_available_bytes", "kubelet_volume_stats_capacity_bytes"}},
	}

	rules := map[string]Rule{}
	groupOf := map[string]string{}
	for _, g := range Groups() {
		for _, r := range g.Rules {
			rules[r.Alert] = r
			groupOf[r.Alert] = g.Name
		}
	}
	var want []string
	for _, tc := range tests {
		want = append(want, tc.alert)
		t.Run(tc.alert, func(t *testing.T) {
			r, ok := rules[tc.alert]
			require.True(t, ok, "no rule %s", tc.alert)
			assert.Equal(t, tc.group, groupOf[tc.alert])
			var got []string
			for _, vs := range selectors(t, r.Expr) {
				got = append(got, vs.Name)
			}
			assert.ElementsMatch(t, tc.metrics, got, "expr:\n%s", r.Expr)
		})
	}
	assert.ElementsMatch(t, want, slices.Collect(maps.Keys(rules)), "alerts defined vs. alerts this test knows")
}

// TestSelectorsMatchTheLab checks the label matchers that tie the rules to
// how the lab labels its targets and objects.
func TestSelectorsMatchTheLab(t *testing.T) {
	tests := []struct {
		name    string
		alert   string
		metric  string // selectors of this metric in the alert's expr
		label   string
		matches []string // values the selectors must all accept
		rejects []string // values they must all refuse
	}{
		// Talos etcd is scraped by the chart's kubeEtcd ServiceMonitor.
		{"etcd job no leader", "EtcdNoLeader", "etcd_server_has_leader", "job", []string{"kube-etcd"}, []string{"etcd", "kube-etcd-x"}},
		{"etcd job leader changes", "EtcdFrequentLeaderChanges", "etcd_server_leader_changes_seen_total", "job", []string{"kube-etcd"}, []string{"etcd"}},
		{"etcd job db size", "EtcdDatabaseNearQuota", "etcd_mvcc_db_total_size_in_bytes", "job", []string{"kube-etcd"}, []string{"etcd"}},
		{"etcd job quota", "EtcdDatabaseNearQuota", "etcd_server_quota_backend_bytes", "job", []string{"kube-etcd"}, []string{"etcd"}},
		{"etcd job fsync", "EtcdHighFsyncLatency", "etcd_disk_wal_fsync_duration_seconds_bucket", "job", []string{"kube-etcd"}, []string{"etcd"}},
		{"control-plane role", "ControlPlaneNodeNotReady", "kube_node_role", "role", []string{"control-plane"}, []string{"worker", ""}},
		{"ready condition", "ControlPlaneNodeNotReady", "kube_node_status_condition", "condition", []string{"Ready"}, []string{"DiskPressure"}},
		{"ready status true", "ControlPlaneNodeNotReady", "kube_node_status_condition", "status", []string{"true"}, []string{"false", "unknown"}},
		{"cilium agent job", "CiliumAgentDown", "up", "job", []string{"cilium-agent", "kube-system/cilium-agent"}, []string{"cilium-operator", "hubble-metrics"}},
		// Policy drops belong to CiliumPolicyDenials only, not to both.
		{"policy drops counted", "CiliumPolicyDenials", "hubble_drop_total", "reason", []string{"POLICY_DENIED", "POLICY_DENY"}, []string{"UNSUPPORTED_L3_PROTOCOL", "CT_MAP_INSERTION_FAILED"}},
		{"policy drops excluded", "CiliumHighDropRate", "hubble_drop_total", "reason", []string{"UNSUPPORTED_L3_PROTOCOL", "CT_MAP_INSERTION_FAILED"}, []string{"POLICY_DENIED", "POLICY_DENY"}},
		{"relay deployment", "HubbleRelayDown", "kube_deployment_status_replicas_available", "deployment", []string{"hubble-relay"}, []string{"hubble-ui"}},
		{"relay namespace", "HubbleRelayDown", "kube_deployment_spec_replicas", "namespace", []string{"kube-system"}, []string{"default"}},
		{"collector daemonsets", "LogCollectorPodsNotReady", "kube_daemonset_status_number_ready", "daemonset", []string{"alloy", "promtail"}, []string{"cilium", "alloy-extra", "loki"}},
		{"collector desired", "LogCollectorPodsNotReady", "kube_daemonset_status_desired_number_scheduled", "daemonset", []string{"alloy", "promtail"}, []string{"cilium"}},
		{"collector namespace", "LogCollectorPodsNotReady", "kube_daemonset_status_number_ready", "namespace", []string{"logging"}, []string{"kube-system"}},
		{"backup cronjob", "EtcdBackupTooOld", "kube_cronjob_status_last_successful_time", "cronjob", []string{"talos-backup"}, []string{"other"}},
		{"backup namespace", "EtcdBackupTooOld", "kube_cronjob_status_last_successful_time", "namespace", []string{"etcd-backup"}, []string{"kube-system"}},
		{"receiver deployment", "LogReceiverDown", "kube_deployment_status_replicas_available", "deployment", []string{"alloy-receiver"}, []string{"alloy", "hubble-relay"}},
	}

	rules := map[string]Rule{}
	for _, g := range Groups() {
		for _, r := range g.Rules {
			rules[r.Alert] = r
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := rules[tc.alert]
			require.True(t, ok, "no rule %s", tc.alert)
			found := 0
			for _, vs := range selectors(t, r.Expr) {
				if vs.Name != tc.metric {
					continue
				}
				found++
				accepts := func(v string) bool {
					for _, m := range vs.LabelMatchers {
						if m.Name == tc.label && !m.Matches(v) {
							return false
						}
					}
					return true
				}
				hasMatcher := slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool { return m.Name == tc.label })
				assert.True(t, hasMatcher, "%s selects on %s", vs, tc.label)
				for _, v := range tc.matches {
					assert.True(t, accepts(v), "%s should accept %s=%q", vs, tc.label, v)
				}
				for _, v := range tc.rejects {
					assert.False(t, accepts(v), "%s should refuse %s=%q", vs, tc.label, v)
				}
			}
			assert.NotZero(t, found, "%s reads no %s", tc.alert, tc.metric)
		})
	}
}

func TestRuleMetadata(t *testing.T) {
	parsed, errs := parseRules(t, mustRuleFile(t))
	require.Empty(t, errs)
	require.NotEmpty(t, parsed.Groups)
	for _, g := range parsed.Groups {
		for _, r := range g.Rules {
			t.Run(r.Alert, func(t *testing.T) {
				assert.Contains(t, []string{SeverityWarning, SeverityCritical}, r.Labels["severity"])
				assert.Len(t, r.Labels, 1, "severity is the only label: %v", r.Labels)
				assert.NotEmpty(t, strings.TrimSpace(r.Annotations["summary"]), "summary")
				assert.NotEmpty(t, strings.TrimSpace(r.Annotations["description"]), "description")
				assert.NotEmpty(t, r.Annotations["runbook_url"], "runbook_url")
				assert.ElementsMatch(t, []string{"summary", "description", "runbook_url"}, keys(r.Annotations))
				assert.NotZero(t, r.For, "for: a single bad scrape must not fire an alert")
			})
		}
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRunbookLinks(t *testing.T) {
	parsed, errs := parseRules(t, mustRuleFile(t))
	require.Empty(t, errs)
	anchors := map[string]map[string]heading{} // file -> anchor -> heading
	for i, g := range parsed.Groups {
		for j, r := range g.Rules {
			t.Run(r.Alert, func(t *testing.T) {
				url := r.Annotations["runbook_url"]
				rest, ok := strings.CutPrefix(url, RunbookBase+"/")
				require.True(t, ok, "runbook_url %q is not under %s/", url, RunbookBase)
				file, anchor, ok := strings.Cut(rest, "#")
				require.True(t, ok, "runbook_url %q has no anchor", url)
				assert.Equal(t, g.Name+".md", file, "runbook file is named after the group")
				assert.Equal(t, Groups()[i].Rules[j].Runbook, anchor, "anchor is Rule.Runbook")
				require.Equal(t, file, filepath.Base(file), "runbook %q stays in %s", file, runbookDir)

				if anchors[file] == nil {
					content, err := os.ReadFile(filepath.Join(runbookDir, file))
					require.NoError(t, err, "runbook file of group %s", g.Name)
					anchors[file] = map[string]heading{}
					for _, h := range headings(string(content)) {
						anchors[file][h.anchor] = h
					}
				}
				h, ok := anchors[file][anchor]
				require.True(t, ok, "%s has no heading with anchor #%s", file, anchor)
				assert.Equal(t, r.Alert, h.text, "the section is headed with the alert's name")
				assert.Contains(t, h.body, "**What to check.**", "section %s says what to check", h.text)
				assert.Contains(t, h.body, "**What to do", "section %s says what to do", h.text)
				assert.Contains(t, h.body, "```", "section %s has commands to run", h.text)
			})
		}
	}
}

// TestRunbookSectionsHaveAlerts keeps the runbooks from keeping sections for
// alerts that no longer exist: every second-level heading of a group's
// runbook is one of its alerts, or the shared setup section.
func TestRunbookSectionsHaveAlerts(t *testing.T) {
	for _, g := range Groups() {
		t.Run(g.Name, func(t *testing.T) {
			content, err := os.ReadFile(filepath.Join(runbookDir, g.Name+".md"))
			require.NoError(t, err)
			allowed := []string{"Before you start"}
			for _, r := range g.Rules {
				allowed = append(allowed, r.Alert)
			}
			var sections []string
			for _, h := range headings(string(content)) {
				if h.level == 2 {
					sections = append(sections, h.text)
					assert.Contains(t, allowed, h.text, "section without an alert in group %s", g.Name)
				}
			}
			assert.NotEmpty(t, sections)
		})
	}
}

// heading is an ATX heading of a Markdown file, with the anchor GitHub gives
// it and the text of its section.
type heading struct {
	level  int
	text   string
	anchor string
	body   string
}

var headingLine = regexp.MustCompile(`^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$`)

// headings lists content's headings outside fenced code blocks, where "# "
// starts a shell comment, not a heading. Repeated anchors get GitHub's -1,
// -2 ... suffixes.
func headings(content string) []heading {
	var out []heading
	seen := map[string]int{}
	inFence := false
	var current *heading
	for line := range strings.Lines(content) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			inFence = !inFence
		}
		if !inFence {
			if m := headingLine.FindStringSubmatch(strings.TrimRight(line, "\n")); m != nil {
				anchor := githubAnchor(m[2])
				if n := seen[anchor]; n > 0 {
					seen[anchor] = n + 1
					anchor = anchor + "-" + strconv.Itoa(n)
				} else {
					seen[anchor] = 1
				}
				out = append(out, heading{level: len(m[1]), text: m[2], anchor: anchor})
				current = &out[len(out)-1]
				continue
			}
		}
		if current != nil {
			current.body += line
		}
	}
	return out
}

// githubAnchor is the fragment GitHub links a heading with: lowercased,
// spaces turned into hyphens, and punctuation other than - and _ dropped.
func githubAnchor(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(text)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestGitHubAnchor(t *testing.T) {
	tests := []struct{ heading, want string }{
		{"EtcdNoLeader", "etcdnoleader"},
		{"Before you start", "before-you-start"},
		{"What to do: now!", "what-to-do-now"},
		{"`talosctl` etcd status", "talosctl-etcd-status"},
		{"snake_case and kebab-case", "snake_case-and-kebab-case"},
		{"Runbook: talos-etcd alerts", "runbook-talos-etcd-alerts"},
	}
	for _, tc := range tests {
		t.Run(tc.heading, func(t *testing.T) {
			assert.Equal(t, tc.want, githubAnchor(tc.heading))
		})
	}
}

func TestHeadings(t *testing.T) {
	content := "# Title\nintro\n## Alert\ntext\n```sh\n# not a heading\n```\n## Alert\nagain\n### Sub ###\n"
	got := headings(content)
	require.Len(t, got, 4)
	assert.Equal(t, heading{1, "Title", "title", "intro\n"}, got[0])
	assert.Equal(t, heading{2, "Alert", "alert", "text\n```sh\n# not a heading\n```\n"}, got[1])
	assert.Equal(t, "alert-1", got[2].anchor, "GitHub numbers repeated anchors")
	assert.Equal(t, heading{3, "Sub", "sub", ""}, got[3])
}

func TestGroups(t *testing.T) {
	groups := Groups()
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
		assert.NotEmpty(t, g.Rules, "group %s has no rules", g.Name)
	}
	assert.Equal(t, []string{"talos-etcd", "cilium", "loki", "storage"}, names)
}

func TestAlertNamesUnique(t *testing.T) {
	where := map[string]string{}
	for _, g := range Groups() {
		for _, r := range g.Rules {
			other, dup := where[r.Alert]
			assert.False(t, dup, "alert %s is in group %s and %s", r.Alert, other, g.Name)
			where[r.Alert] = g.Name
		}
	}
	assert.NotEmpty(t, where)
}

func TestPrometheusRuleSpecMatchesRuleFile(t *testing.T) {
	var fromFile map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(mustRuleFile(t)), &fromFile))

	spec := PrometheusRuleSpec()
	// The spec must consist of plain JSON values (string, []any,
	// map[string]any) to pass into a Pulumi resource unchanged: a JSON round
	// trip leaves it exactly as it was.
	raw, err := json.Marshal(spec)
	require.NoError(t, err)
	var roundTrip map[string]any
	require.NoError(t, json.Unmarshal(raw, &roundTrip))
	require.Equal(t, roundTrip, spec, "spec holds only plain JSON values")

	assert.Equal(t, fromFile, spec, "PrometheusRuleSpec and RuleFile carry the same groups")

	// Spelled out, so that a failure names the alert.
	specGroups, ok := spec["groups"].([]any)
	require.True(t, ok, "spec.groups is a list")
	groups := Groups()
	require.Len(t, specGroups, len(groups))
	for i, g := range groups {
		sg := specGroups[i].(map[string]any)
		assert.Equal(t, g.Name, sg["name"])
		rules := sg["rules"].([]any)
		require.Len(t, rules, len(g.Rules), "group %s", g.Name)
		for j, r := range g.Rules {
			sr := rules[j].(map[string]any)
			assert.Equal(t, r.Alert, sr["alert"])
			assert.Equal(t, r.Expr, sr["expr"], "%s", r.Alert)
			assert.Equal(t, r.For, sr["for"], "%s", r.Alert)
			assert.Equal(t, map[string]any{"severity": r.Severity}, sr["labels"], "%s", r.Alert)
		}
	}
}

// TestValidatorRejectsBrokenRules proves the rulefmt check bites: the same
// renderer that writes RuleFile, given one broken rule, produces a file
// Prometheus refuses, with an error about that breakage.
func TestValidatorRejectsBrokenRules(t *testing.T) {
	base := Rule{
		Alert:       "Broken",
		Expr:        `up{job="x"} == 0`,
		For:         "5m",
		Severity:    SeverityWarning,
		Summary:     "A target is down.",
		Description: "{{ $labels.instance }} is down.",
		Runbook:     "broken",
	}
	tests := []struct {
		name    string
		rule    func(Rule) Rule
		file    func(string) string // edits the rendered file
		wantErr string              // "" for the untouched control case
	}{
		{name: "control: the base rule is valid"},
		{
			name:    "unbalanced parenthesis",
			rule:    func(r Rule) Rule { r.Expr = `sum(rate(up[5m]) > 0`; return r },
			wantErr: "could not parse expression",
		},
		{
			name:    "unknown function",
			rule:    func(r Rule) Rule { r.Expr = `rat(up[5m]) > 0`; return r },
			wantErr: "could not parse expression",
		},
		{
			name:    "range vector without a function",
			rule:    func(r Rule) Rule { r.Expr = `up[5m] > 0`; return r },
			wantErr: "could not parse expression",
		},
		{
			name:    "bad label matcher",
			rule:    func(r Rule) Rule { r.Expr = `up{job=~"("} == 0`; return r },
			wantErr: "could not parse expression",
		},
		{
			name:    "bad duration",
			rule:    func(r Rule) Rule { r.For = "5 minutes"; return r },
			wantErr: "duration",
		},
		{
			name:    "bad template",
			rule:    func(r Rule) Rule { r.Description = "{{ $labels.instance is down"; return r },
			wantErr: "description",
		},
		{
			name:    "unknown field",
			file:    func(s string) string { return insertBeforeKey(s, "expr", "severity: warning") },
			wantErr: "field severity not found",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := base
			if tc.rule != nil {
				r = tc.rule(r)
			}
			content, err := render([]Group{{Name: "broken", Rules: []Rule{r}}})
			require.NoError(t, err, "render checks completeness, not PromQL")
			if tc.file != nil {
				edited := tc.file(content)
				require.NotEqual(t, content, edited, "the edit applied")
				content = edited
			}
			_, errs := parseRules(t, content)
			if tc.wantErr == "" {
				assert.Empty(t, errs, "file:\n%s", content)
				return
			}
			require.NotEmpty(t, errs, "rulefmt accepted:\n%s", content)
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			assert.Contains(t, strings.Join(msgs, "\n"), tc.wantErr)
		})
	}
}

// insertBeforeKey adds line, indented like the first line holding key, just
// before it.
func insertBeforeKey(content, key, line string) string {
	var b strings.Builder
	done := false
	for l := range strings.Lines(content) {
		trimmed := strings.TrimLeft(l, " ")
		if !done && strings.HasPrefix(trimmed, key+":") {
			b.WriteString(l[:len(l)-len(trimmed)] + line + "\n")
			done = true
		}
		b.WriteString(l)
	}
	return b.String()
}

// TestRenderRejectsIncompleteRules covers the checks RuleFile and
// PrometheusRuleSpec make before rendering.
func TestRenderRejectsIncompleteRules(t *testing.T) {
	good := Rule{
		Alert: "Good", Expr: "up == 0", For: "5m", Severity: SeverityCritical,
		Summary: "s", Description: "d", Runbook: "good",
	}
	with := func(edit func(*Rule)) []Group {
		r := good
		edit(&r)
		return []Group{{Name: "g", Rules: []Rule{r}}}
	}
	tests := []struct {
		name    string
		groups  []Group
		wantErr string
	}{
		{"no alert name", with(func(r *Rule) { r.Alert = "" }), "no alert name"},
		{"no expression", with(func(r *Rule) { r.Expr = " " }), "no expression"},
		{"unknown severity", with(func(r *Rule) { r.Severity = "info" }), `severity "info"`},
		{"no summary", with(func(r *Rule) { r.Summary = "" }), "no summary"},
		{"no description", with(func(r *Rule) { r.Description = "" }), "no description"},
		{"anchor with #", with(func(r *Rule) { r.Runbook = "#good" }), "runbook anchor"},
		{"anchor in capitals", with(func(r *Rule) { r.Runbook = "Good" }), "runbook anchor"},
		{"no anchor", with(func(r *Rule) { r.Runbook = "" }), "runbook anchor"},
		{"group without a name", []Group{{Rules: []Rule{good}}}, "group without a name"},
		{"empty group", []Group{{Name: "g"}}, "no rules"},
		{"group twice", []Group{{Name: "g", Rules: []Rule{good}}, {Name: "g", Rules: []Rule{{
			Alert: "Other", Expr: "up", Severity: SeverityWarning, Summary: "s", Description: "d", Runbook: "other",
		}}}}, "defined twice"},
		{"alert in two groups", []Group{{Name: "a", Rules: []Rule{good}}, {Name: "b", Rules: []Rule{good}}}, "already defined in group a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(tc.groups)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			_, err = specOf(tc.groups)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}
