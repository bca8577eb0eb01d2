package dashboards

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// build returns All() and fails the test on error.
func build(t *testing.T) []Dashboard {
	t.Helper()
	ds, err := All()
	require.NoError(t, err)
	return ds
}

// decode parses a dashboard's JSON the way Grafana receives it: as
// untyped JSON, not through the SDK types that produced it.
func decode(t *testing.T, d Dashboard) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(d.JSON, &doc), "dashboard %s is not valid JSON", d.UID)
	return doc
}

// panels flattens a dashboard's panels, rows included, with the panels of
// collapsed rows after their row.
func panels(doc map[string]any) []map[string]any {
	var out []map[string]any
	var walk func(any)
	walk = func(list any) {
		items, _ := list.([]any)
		for _, item := range items {
			p, ok := item.(map[string]any)
			if !ok {
				continue
			}
			out = append(out, p)
			walk(p["panels"])
		}
	}
	walk(doc["panels"])
	return out
}

// variables returns the dashboard's template variables by name.
func variables(doc map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	templating, _ := doc["templating"].(map[string]any)
	list, _ := templating["list"].([]any)
	for _, item := range list {
		v, _ := item.(map[string]any)
		if name, ok := v["name"].(string); ok {
			out[name] = v
		}
	}
	return out
}

// grafanaVar matches $name, ${name} and ${name:format} in a query.
var grafanaVar = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

// macros are the Grafana interval macros the dashboards may use, with a
// value Prometheus accepts in their place. A macro not listed here is left
// in the expression, so that the parser rejects it.
var macros = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__range":         "1h",
}

// varNames returns the names of the Grafana variables and macros in expr.
func varNames(expr string) []string {
	var out []string
	for _, m := range grafanaVar.FindAllStringSubmatch(expr, -1) {
		out = append(out, m[1]+m[2])
	}
	return out
}

// substitute replaces Grafana macros with durations and template variables
// with a plain value, which is what Grafana does before the query reaches
// Prometheus. Variables sit inside label matchers ("$namespace"), so any
// identifier-safe value keeps the expression well-formed.
func substitute(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		name := varNames(m)[0]
		if v, ok := macros[name]; ok {
			return v
		}
		if strings.HasPrefix(name, "__") {
			return m
		}
		return "x"
	})
}

// parsePromQL parses a dashboard expression as Prometheus will see it.
func parsePromQL(expr string) (parser.Expr, error) {
	return parser.NewParser(parser.Options{}).ParseExpr(substitute(expr))
}

// metricNames returns the metric names the expression selects.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	node, err := parsePromQL(expr)
	require.NoError(t, err, "expr:\n%s", expr)
	var out []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs.Name)
		}
		return nil
	})
	return out
}

func TestAllReturnsTheLabDashboards(t *testing.T) {
	want := []struct {
		uid, folder, title string
	}{
		{"sre-lab-cluster-overview", "SRE Lab", "Cluster overview"},
		{"sre-lab-cilium-hubble", "Cilium", "Hubble"},
	}
	got := build(t)
	require.Len(t, got, len(want))
	for i, w := range want {
		t.Run(w.uid, func(t *testing.T) {
			d := got[i]
			assert.Equal(t, w.uid, d.UID)
			assert.Equal(t, w.folder, d.Folder)
			assert.Equal(t, w.title, d.Title)

			doc := decode(t, d)
			assert.Equal(t, d.UID, doc["uid"], "JSON uid")
			assert.Equal(t, d.Title, doc["title"], "JSON title")
			assert.Contains(t, doc["tags"], "sre-lab")
			assert.Equal(t, "30s", doc["refresh"])
			assert.Equal(t, map[string]any{"from": "now-1h", "to": "now"}, doc["time"])
			// A provisioned dashboard with an "id" would clash with
			// whatever id the Grafana database already gave it.
			assert.NotContains(t, doc, "id")
		})
	}
}

func TestUIDsAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range build(t) {
		assert.False(t, seen[d.UID], "duplicate uid %q", d.UID)
		seen[d.UID] = true
		// Grafana refuses uids longer than 40 characters.
		assert.LessOrEqual(t, len(d.UID), 40, "uid %q", d.UID)
	}
}

func TestAllIsDeterministic(t *testing.T) {
	first, second := build(t), build(t)
	require.Equal(t, len(first), len(second))
	for i := range first {
		assert.Equal(t, string(first[i].JSON), string(second[i].JSON), "dashboard %s differs between builds", first[i].UID)
	}
}

func TestExpressionsAreValidPromQL(t *testing.T) {
	for _, d := range build(t) {
		t.Run(d.UID, func(t *testing.T) {
			exprs, err := Expressions(d)
			require.NoError(t, err)
			require.NotEmpty(t, exprs)
			for _, expr := range exprs {
				node, err := parsePromQL(expr)
				if assert.NoError(t, err, "expr:\n%s", expr) {
					// Every panel plots or lists series; a scalar or a
					// range vector parses but shows nothing useful.
					assert.Equal(t, parser.ValueTypeVector, node.Type(), "expr:\n%s", expr)
				}
			}
		})
	}
}

// TestPromQLCheckCatchesBadExpressions keeps the check above honest: the
// substitution must not hide mistakes from the parser.
func TestPromQLCheckCatchesBadExpressions(t *testing.T) {
	tests := []struct {
		name, expr string
		valid      bool
	}{
		{"macro and variable", `sum(rate(hubble_http_requests_total{destination_namespace=~"$namespace"}[$__rate_interval]))`, true},
		{"braced variable", `sum(up{job="${job}"})`, true},
		{"unbalanced parenthesis", `sum(rate(up[$__rate_interval])`, false},
		{"unknown macro", `rate(up[$__bogus_interval])`, false},
		{"variable as a range", `rate(up[$namespace])`, false},
		{"bad matcher", `up{job=apiserver}`, false},
		{"empty", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePromQL(tt.expr)
			if tt.valid {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestVariablesInExpressionsAreDefined(t *testing.T) {
	for _, d := range build(t) {
		t.Run(d.UID, func(t *testing.T) {
			vars := variables(decode(t, d))
			exprs, err := Expressions(d)
			require.NoError(t, err)
			for _, expr := range exprs {
				for _, name := range varNames(expr) {
					_, macro := macros[name]
					_, defined := vars[name]
					assert.True(t, macro || defined, "expr uses undefined $%s:\n%s", name, expr)
				}
			}
		})
	}
}

func TestEveryPanelQueriesPrometheus(t *testing.T) {
	for _, d := range build(t) {
		t.Run(d.UID, func(t *testing.T) {
			doc := decode(t, d)
			vars := variables(doc)

			// The datasource variable must default to the datasource
			// kube-prometheus-stack provisions, or a fresh Grafana shows
			// empty panels until someone picks one.
			dsVar, ok := vars[datasourceVar]
			require.True(t, ok, "no datasource variable")
			assert.Equal(t, "datasource", dsVar["type"])
			assert.Equal(t, "prometheus", dsVar["query"])
			current, _ := dsVar["current"].(map[string]any)
			assert.Equal(t, DatasourceUID, current["value"])

			allowed := []string{DatasourceUID, "${" + datasourceVar + "}"}
			checkRef := func(what string, ref any) {
				r, _ := ref.(map[string]any)
				if assert.NotNil(t, r, "%s has no datasource", what) {
					assert.Equal(t, "prometheus", r["type"], "%s datasource type", what)
					assert.Contains(t, allowed, r["uid"], "%s datasource uid", what)
				}
			}

			var n int
			for _, p := range panels(doc) {
				if p["type"] == "row" {
					continue
				}
				n++
				title, _ := p["title"].(string)
				checkRef("panel "+title, p["datasource"])
				targets, _ := p["targets"].([]any)
				if !assert.NotEmpty(t, targets, "panel %q has no targets", title) {
					continue
				}
				refIDs := map[any]bool{}
				for _, target := range targets {
					tg, _ := target.(map[string]any)
					checkRef("target of "+title, tg["datasource"])
					assert.NotEmpty(t, tg["expr"], "panel %q has a target without expr", title)
					assert.False(t, refIDs[tg["refId"]], "panel %q repeats refId %v", title, tg["refId"])
					refIDs[tg["refId"]] = true
				}
			}
			assert.Positive(t, n, "dashboard has no panels")
			for name, v := range vars {
				if v["type"] == "query" {
					checkRef("variable "+name, v["datasource"])
				}
			}
		})
	}
}

func TestDashboardsCoverTheirTopics(t *testing.T) {
	want := map[string][]string{
		"sre-lab-cluster-overview": {
			// Nodes
			"kube_node_info", "kube_node_status_condition",
			// Capacity
			"kube_pod_container_resource_requests", "kube_node_status_allocatable",
			"node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_filesystem_avail_bytes",
			// Workload health
			"kube_pod_status_ready", "kube_pod_container_status_waiting_reason",
			"kube_pod_container_status_restarts_total", "kube_deployment_status_replicas_unavailable",
			"kube_daemonset_status_desired_number_scheduled", "kube_daemonset_status_current_number_scheduled",
			// Control plane
			"up", "etcd_server_has_leader", "etcd_server_leader_changes_seen_total",
			"etcd_mvcc_db_total_size_in_bytes", "apiserver_request_total",
			"apiserver_request_duration_seconds_bucket",
			// Alerts
			"ALERTS",
		},
		"sre-lab-cilium-hubble": {
			"hubble_flows_processed_total", "hubble_drop_total", "cilium_drop_count_total",
			"hubble_dns_queries_total", "hubble_dns_responses_total",
			"hubble_http_requests_total", "hubble_http_request_duration_seconds_bucket",
			"hubble_tcp_flags_total",
		},
	}
	got := build(t)
	require.Len(t, got, len(want))
	for _, d := range got {
		t.Run(d.UID, func(t *testing.T) {
			metrics, ok := want[d.UID]
			require.True(t, ok, "no topics listed for %s", d.UID)
			exprs, err := Expressions(d)
			require.NoError(t, err)
			var used []string
			for _, expr := range exprs {
				used = append(used, metricNames(t, expr)...)
			}
			for _, m := range metrics {
				assert.Contains(t, used, m)
			}
		})
	}
}

// TestQueriesFilterWhatTheyClaim pins label values that parse either way
// but only work when spelt exactly as the exporter spells them.
func TestQueriesFilterWhatTheyClaim(t *testing.T) {
	tests := []struct {
		uid, contains string
	}{
		{"sre-lab-cluster-overview", `kube_node_status_condition{job="kube-state-metrics",condition="Ready",status="true"}`},
		{"sre-lab-cluster-overview", `reason="CrashLoopBackOff"`},
		{"sre-lab-cluster-overview", `up{job="apiserver"}`},
		{"sre-lab-cluster-overview", `up{job="kube-etcd"}`},
		{"sre-lab-cluster-overview", `up{job="kube-scheduler"}`},
		{"sre-lab-cluster-overview", `up{job="kube-controller-manager"}`},
		{"sre-lab-cluster-overview", `code=~"5.."`},
		{"sre-lab-cluster-overview", `ALERTS{alertstate="firing"`},
		{"sre-lab-cilium-hubble", `reason=~"POLICY_DENIED|POLICY_DENY"`},
		{"sre-lab-cilium-hubble", `rcode!="No Error"`},
		{"sre-lab-cilium-hubble", `status=~"5.."`},
		{"sre-lab-cilium-hubble", `histogram_quantile(0.99, sum by (le, destination_namespace, destination_workload) (rate(hubble_http_request_duration_seconds_bucket`},
	}
	byUID := map[string][]string{}
	for _, d := range build(t) {
		exprs, err := Expressions(d)
		require.NoError(t, err)
		byUID[d.UID] = exprs
	}
	for _, tt := range tests {
		t.Run(tt.uid+" "+tt.contains, func(t *testing.T) {
			found := slices.ContainsFunc(byUID[tt.uid], func(e string) bool {
				return strings.Contains(e, tt.contains)
			})
			assert.True(t, found, "no expression in %s contains %s", tt.uid, tt.contains)
		})
	}
}

func TestFiringAlertsIsAnInstantTable(t *testing.T) {
	var found bool
	for _, d := range build(t) {
		for _, p := range panels(decode(t, d)) {
			if p["title"] != "Firing alerts" {
				continue
			}
			found = true
			assert.Equal(t, "table", p["type"])
			targets, _ := p["targets"].([]any)
			require.Len(t, targets, 1)
			tg := targets[0].(map[string]any)
			assert.Equal(t, true, tg["instant"])
			assert.Equal(t, "table", tg["format"])
			assert.Contains(t, tg["expr"], "by (alertname, severity, namespace)")
		}
	}
	assert.True(t, found, "no Firing alerts panel")
}

func TestPanelsHaveUnitsIDsAndFitTheGrid(t *testing.T) {
	type box struct{ x, y, w, h float64 }
	for _, d := range build(t) {
		t.Run(d.UID, func(t *testing.T) {
			ids := map[float64]bool{}
			var boxes []box
			for _, p := range panels(decode(t, d)) {
				title, _ := p["title"].(string)
				id, ok := p["id"].(float64)
				if assert.True(t, ok, "panel %q has no id", title) {
					assert.False(t, ids[id], "panel id %v used twice", id)
					ids[id] = true
				}
				switch p["type"] {
				case "timeseries", "stat", "gauge":
					fc, _ := p["fieldConfig"].(map[string]any)
					defaults, _ := fc["defaults"].(map[string]any)
					assert.NotEmpty(t, defaults["unit"], "panel %q has no unit", title)
				}
				g, _ := p["gridPos"].(map[string]any)
				if !assert.NotNil(t, g, "panel %q has no gridPos", title) {
					continue
				}
				b := box{g["x"].(float64), g["y"].(float64), g["w"].(float64), g["h"].(float64)}
				assert.LessOrEqual(t, b.x+b.w, 24.0, "panel %q is wider than the grid", title)
				for _, o := range boxes {
					overlap := b.x < o.x+o.w && o.x < b.x+b.w && b.y < o.y+o.h && o.y < b.y+b.h
					assert.False(t, overlap, "panel %q overlaps another panel", title)
				}
				boxes = append(boxes, b)
			}
		})
	}
}

func TestExpressionsFindsNestedTargets(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    []string
		wantErr bool
	}{
		{
			name: "top-level, expanded and collapsed rows",
			json: `{"panels": [
				{"type": "stat", "targets": [{"expr": "a"}, {"expr": "b"}]},
				{"type": "row", "collapsed": false, "panels": []},
				{"type": "timeseries", "targets": [{"expr": "c"}]},
				{"type": "row", "collapsed": true, "panels": [
					{"type": "timeseries", "targets": [{"expr": "d"}]},
					{"type": "table", "targets": [{"expr": "e", "instant": true}]}
				]}
			]}`,
			want: []string{"a", "b", "c", "d", "e"},
		},
		{
			name: "targets without expr are not PromQL",
			json: `{"panels": [{"type": "text"}, {"type": "logs", "targets": [{"query": "x"}]}, {"targets": [{"expr": ""}]}]}`,
			want: []string{""},
		},
		{name: "no panels", json: `{"title": "empty"}`},
		{name: "not JSON", json: `{"panels": [`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Expressions(Dashboard{UID: "test", JSON: []byte(tt.json)})
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
