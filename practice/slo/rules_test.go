package slo

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/your-org/sre-lab/observability/rules"
)

// runbookPath is docs/runbooks/slo.md relative to this package.
var runbookPath = filepath.Join("..", "..", "docs", "runbooks", RunbookFile)

// parseRules loads content the way observability/rules's tests do: with
// Prometheus's own rule-file loader, unknown fields refused, legacy metric
// and label names (which any Prometheus version loads), and a warning
// logged by the loader counted as an error.
func parseRules(t *testing.T, content string) *rulefmt.RuleGroups {
	t.Helper()
	var logs bytes.Buffer
	groups, errs := rulefmt.Parse([]byte(content), false, model.LegacyValidation,
		parser.NewParser(parser.Options{}), slog.New(slog.NewTextHandler(&logs, nil)))
	require.Empty(t, errs, "rule file:\n%s", content)
	require.Empty(t, logs.String(), "rulefmt logged")
	return groups
}

func mustGroups(t *testing.T) []Group {
	t.Helper()
	gs, err := Groups()
	require.NoError(t, err)
	return gs
}

// TestRuleFileParsesWithRulefmt: the rule file loads in Prometheus and
// carries every group and rule of Groups, field for field.
func TestRuleFileParsesWithRulefmt(t *testing.T) {
	content, err := RuleFile()
	require.NoError(t, err)
	parsed := parseRules(t, content)

	gs := mustGroups(t)
	require.Len(t, parsed.Groups, len(gs))
	for i, g := range gs {
		pg := parsed.Groups[i]
		assert.Equal(t, g.Name, pg.Name)
		require.Len(t, pg.Rules, len(g.Rules), "group %s", g.Name)
		for j, r := range g.Rules {
			pr := pg.Rules[j]
			assert.Equal(t, r.Record, pr.Record)
			assert.Equal(t, r.Alert, pr.Alert)
			assert.Equal(t, r.Expr, pr.Expr)
			assert.Equal(t, r.Labels, pr.Labels)
			assert.Equal(t, r.Annotations, pr.Annotations)
			if r.For != "" {
				want, err := model.ParseDuration(r.For)
				require.NoError(t, err)
				assert.Equal(t, want, pr.For)
			}
		}
	}
}

// TestSlothGroupsPerSLO: sloth makes three groups per SLO (SLI error
// ratios, metadata, alerts), and the guards follow in a group of their own.
func TestSlothGroupsPerSLO(t *testing.T) {
	var want []string
	for _, s := range All() {
		want = append(want,
			"sloth-slo-sli-recordings-"+s.ID(),
			"sloth-slo-meta-recordings-"+s.ID(),
			"sloth-slo-alerts-"+s.ID())
	}
	want = append(want, guardGroup)
	var got []string
	for _, g := range mustGroups(t) {
		got = append(got, g.Name)
	}
	assert.Equal(t, want, got)
}

// TestExprsAreValidPromQL: every expression parses, and alerts return an
// instant vector (a scalar parses but fails at every evaluation).
func TestExprsAreValidPromQL(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	for _, g := range mustGroups(t) {
		for _, r := range g.Rules {
			expr, err := p.ParseExpr(r.Expr)
			require.NoError(t, err, "%s %s%s:\n%s", g.Name, r.Record, r.Alert, r.Expr)
			if r.Alert != "" {
				assert.Equal(t, parser.ValueTypeVector, expr.Type(), r.Alert)
			}
		}
	}
}

// alertRules are the alerting rules by name; sloth's page and ticket
// alerts share theirs.
func alertRules(t *testing.T) map[string][]Rule {
	t.Helper()
	out := map[string][]Rule{}
	for _, g := range mustGroups(t) {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out[r.Alert] = append(out[r.Alert], r)
			}
		}
	}
	return out
}

// TestAlerts: each SLO has a page alert (critical) and a ticket alert
// (warning) under its name, a guard where it has one, and every alert
// carries the lab's summary, description and runbook link.
func TestAlerts(t *testing.T) {
	tests := []struct {
		alert      string
		severities []string // sloth_severity/severity pairs, in file order
	}{
		{"DemoHighErrorRate", []string{"page/critical", "ticket/warning"}},
		{"DemoHighLatency", []string{"page/critical", "ticket/warning"}},
		{"APIServerHighErrorRate", []string{"page/critical", "ticket/warning"}},
		{"IngressHighErrorRate", []string{"page/critical", "ticket/warning"}},
		{"DemoNotServing", []string{"/critical"}},
	}
	byName := alertRules(t)
	var names []string
	for _, tc := range tests {
		names = append(names, tc.alert)
		t.Run(tc.alert, func(t *testing.T) {
			rs := byName[tc.alert]
			var got []string
			for _, r := range rs {
				got = append(got, r.Labels["sloth_severity"]+"/"+r.Labels["severity"])
				assert.NotEmpty(t, strings.TrimSpace(r.Annotations["summary"]))
				assert.NotEmpty(t, strings.TrimSpace(r.Annotations["description"]))
				assert.Equal(t, rules.RunbookBase+"/slo.md#"+strings.ToLower(tc.alert), r.Annotations["runbook_url"])
			}
			assert.Equal(t, tc.severities, got)
		})
	}
	var all []string
	for name := range byName {
		all = append(all, name)
	}
	assert.ElementsMatch(t, names, all, "alerts defined vs. alerts this test knows")
}

// TestRunbooksExist: every runbook_url points at a heading of
// docs/runbooks/slo.md, whose anchor is the alert's name lowercased.
func TestRunbooksExist(t *testing.T) {
	b, err := os.ReadFile(runbookPath)
	require.NoError(t, err)
	headings := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			headings[strings.ToLower(strings.TrimSpace(h))] = true
		}
	}
	for name, rs := range alertRules(t) {
		_, anchor, _ := strings.Cut(rs[0].Annotations["runbook_url"], "#")
		assert.True(t, headings[anchor], "%s has no section for %s", runbookPath, name)
	}
}

// TestNoAlertShadowsTheLabRules: no alert of the SLOs shadows one of
// observability/rules, as both end up in the same Prometheus.
func TestNoAlertShadowsTheLabRules(t *testing.T) {
	byName := alertRules(t)
	for _, g := range rules.Groups() {
		for _, r := range g.Rules {
			assert.NotContains(t, byName, r.Alert, "alert %s is in observability/rules group %s too", r.Alert, g.Name)
		}
	}
}

// TestPrometheusRuleSpec: the PrometheusRule spec carries exactly what the
// rule file says, in plain Go values.
func TestPrometheusRuleSpec(t *testing.T) {
	content, err := RuleFile()
	require.NoError(t, err)
	var fromFile map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(content), &fromFile))
	assert.Equal(t, fromFile, PrometheusRuleSpec())
}

// TestGuardExpression: the guard fires on zero requests over its window
// and on requests that are not scraped at all.
func TestGuardExpression(t *testing.T) {
	s := All()[0]
	require.NotNil(t, s.Guard)
	r := guardRule(s)
	assert.Equal(t, "sum(rate("+s.Guard.Series+"[5m])) == 0\nor\nabsent("+s.Guard.Series+")", r.Expr)
	assert.Equal(t, "2m", r.For)
	assert.Equal(t, map[string]string{
		"severity": "critical", "sloth_id": "podinfo-requests-availability",
		"sloth_service": "podinfo", "sloth_slo": "requests-availability",
	}, r.Labels)
}

// selectorsOf returns the vector selectors of metric in every rule of the
// SLO, from the generated rules.
func selectorsOf(t *testing.T, id, metric string) []*parser.VectorSelector {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	var out []*parser.VectorSelector
	for _, g := range mustGroups(t) {
		if !strings.HasSuffix(g.Name, id) && g.Name != guardGroup {
			continue
		}
		for _, r := range g.Rules {
			if g.Name == guardGroup && r.Labels["sloth_id"] != id {
				continue
			}
			node, err := p.ParseExpr(r.Expr)
			require.NoError(t, err)
			parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok && vs.Name == metric {
					out = append(out, vs)
				}
				return nil
			})
		}
	}
	require.NotEmpty(t, out, "no selector of %s in the rules of %s", metric, id)
	return out
}

// TestSelectorsMatchTheLab pins the SLIs to the series the lab's targets
// expose: which label values each selector of a metric must accept, and
// which it must refuse, in every rule that reads it.
func TestSelectorsMatchTheLab(t *testing.T) {
	tests := []struct {
		name, slo, metric, label string
		matches, rejects         []string
	}{
		// podinfo's own paths for probes and scrapes are not users.
		{"podinfo user paths", "podinfo-requests-availability", "http_request_duration_seconds_count", "path",
			[]string{"root", "api_info", "status", "delay", "chunked_wait"}, []string{"healthz", "readyz", "metrics"}},
		{"podinfo namespace", "podinfo-requests-availability", "http_request_duration_seconds_count", "namespace",
			[]string{"apps"}, []string{"default", "monitoring"}},
		{"podinfo job", "podinfo-requests-availability", "http_request_duration_seconds_count", "job",
			[]string{"podinfo"}, []string{"apps/podinfo", "podinfo-backend"}},
		// The latency SLO leaves out what is slow by design.
		{"podinfo timed paths", "podinfo-requests-latency", "http_request_duration_seconds_bucket", "path",
			[]string{"root", "api_info", "status", "version", "echo"}, []string{"delay", "chunked_wait", "healthz", "readyz", "metrics"}},
		{"250ms bucket", "podinfo-requests-latency", "http_request_duration_seconds_bucket", "le",
			[]string{"0.25"}, []string{"0.025", "2.5", "0.5", "+Inf"}},
		{"ingress listeners", "cilium-ingress-requests-success", "envoy_http_downstream_rq_total", "envoy_http_conn_manager_prefix",
			[]string{"listener-insecure", "listener-secure"}, []string{"envoy-prometheus-metrics-listener", "envoy-health-listener", "envoy-admin-listener"}},
		{"apiserver job", "kube-apiserver-requests-availability", "apiserver_request_total", "job",
			[]string{"apiserver"}, []string{"kubelet"}},
		{"apiserver verbs", "kube-apiserver-requests-availability", "apiserver_request_total", "verb",
			[]string{"GET", "LIST", "POST", "PATCH", "DELETE"}, []string{"WATCH", "CONNECT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, vs := range selectorsOf(t, tc.slo, tc.metric) {
				var ms []*labels.Matcher
				for _, m := range vs.LabelMatchers {
					if m.Name == tc.label {
						ms = append(ms, m)
					}
				}
				require.NotEmpty(t, ms, "%s has no %s matcher", vs, tc.label)
				for _, v := range tc.matches {
					for _, m := range ms {
						assert.True(t, m.Matches(v), "%s should accept %s=%q", vs, tc.label, v)
					}
				}
				for _, v := range tc.rejects {
					// The matchers of a selector all have to hold, so one
					// refusing is enough.
					refused := slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return !m.Matches(v) })
					assert.True(t, refused, "%s should refuse %s=%q", vs, tc.label, v)
				}
			}
		})
	}
}

// TestErrorSelectors: the bad events are the 5xx answers of each
// availability SLI, and the ingress's class label is Envoy's bare digit.
func TestErrorSelectors(t *testing.T) {
	tests := []struct{ slo, metric, label, bad, good string }{
		{"podinfo-requests-availability", "http_request_duration_seconds_count", "status", "503", "200"},
		{"kube-apiserver-requests-availability", "apiserver_request_total", "code", "500", "429"},
		{"cilium-ingress-requests-success", "envoy_http_downstream_rq_xx", "envoy_response_code_class", "5", "4"},
	}
	for _, tc := range tests {
		t.Run(tc.slo, func(t *testing.T) {
			var found bool
			for _, vs := range selectorsOf(t, tc.slo, tc.metric) {
				for _, m := range vs.LabelMatchers {
					if m.Name == tc.label {
						found = true
						assert.True(t, m.Matches(tc.bad), "%s", vs)
						assert.False(t, m.Matches(tc.good), "%s", vs)
					}
				}
			}
			assert.True(t, found, "no %s matcher on %s", tc.label, tc.metric)
		})
	}
}

// TestCheck: an SLO that sloth or the alerts would choke on is refused,
// naming the field and the value.
func TestCheck(t *testing.T) {
	good := All()[0]
	tests := []struct {
		name    string
		edit    func(s *SLO)
		wantErr string
	}{
		{"service", func(s *SLO) { s.Service = "Pod Info" }, `service "Pod Info": want lowercase letters, digits and hyphens`},
		{"objective", func(s *SLO) { s.Objective = 100 }, "objective 100: want a percentage above 0 and below 100"},
		{"window", func(s *SLO) { s.ErrorQuery = "sum(rate(x[5m]))" }, "queries must use {{.window}}"},
		{"alert", func(s *SLO) { s.Alert = "demo_high" }, `alert "demo_high": want CamelCase`},
		{"texts", func(s *SLO) { s.Summary = " " }, "title, summary and explanation are required"},
		{"guard", func(s *SLO) { s.Guard = &Guard{Alert: "X"} }, `guard "X": needs`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			tc.edit(&s)
			err := check([]SLO{s})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
	t.Run("twice", func(t *testing.T) {
		err := check([]SLO{good, good})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "slo podinfo-requests-availability: defined twice")
	})
	require.NoError(t, check(All()))
	assert.Regexp(t, regexp.MustCompile(`^[a-z0-9-]+$`), good.ID())
}
