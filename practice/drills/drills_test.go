package drills

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/observability/dashboards"
	"github.com/your-org/sre-lab/observability/rules"
	"github.com/your-org/sre-lab/practice/slo"
)

// alertRule is an alerting rule from either rule source, in one shape.
type alertRule struct {
	name, expr, forDuration string
	labels                  map[string]string
}

// allAlertRules are the alerting rules that reach the lab's Prometheus:
// the SLOs' and observability/rules'.
func allAlertRules(t *testing.T) []alertRule {
	t.Helper()
	var out []alertRule
	gs, err := slo.Groups()
	require.NoError(t, err)
	for _, g := range gs {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, alertRule{r.Alert, r.Expr, r.For, r.Labels})
			}
		}
	}
	for _, g := range rules.Groups() {
		for _, r := range g.Rules {
			out = append(out, alertRule{r.Alert, r.Expr, r.For, map[string]string{"severity": r.Severity}})
		}
	}
	return out
}

// rulesFor are the rules that make d's expected alert: its name and every
// label it expects.
func rulesFor(t *testing.T, d Drill) []alertRule {
	t.Helper()
	var out []alertRule
	for _, r := range allAlertRules(t) {
		if r.name != d.Alert {
			continue
		}
		match := true
		for k, v := range d.Labels {
			match = match && r.labels[k] == v
		}
		if match {
			out = append(out, r)
		}
	}
	return out
}

func TestCatalogue(t *testing.T) {
	var names []string
	for _, d := range All() {
		names = append(names, d.Name)
	}
	assert.Equal(t, []string{"pod-kill", "network-loss", "network-latency", "cpu-stress", "memory-stress", "dns-failure", "node-drain"}, names)
}

// TestExpectedAlertsExist: every drill's alert, with its labels, is a rule
// the lab's Prometheus evaluates.
func TestExpectedAlertsExist(t *testing.T) {
	for _, d := range All() {
		t.Run(d.Name, func(t *testing.T) {
			assert.NotEmpty(t, rulesFor(t, d), "no rule makes %s", d.Expectation())
		})
	}
}

// TestDashboardsExist: every drill names a dashboard the lab provisions.
func TestDashboardsExist(t *testing.T) {
	uids := map[string]bool{}
	lab, err := dashboards.All()
	require.NoError(t, err)
	sloDashboards, err := slo.Dashboards()
	require.NoError(t, err)
	for _, d := range append(lab, sloDashboards...) {
		uids[d.UID] = true
	}
	for _, d := range All() {
		assert.True(t, uids[d.Dashboard], "%s: no dashboard %q", d.Name, d.Dashboard)
	}
}

// TestRunbooksExist: every drill's runbook is a section of a file under
// docs/runbooks/, and the same one its alert's rule links.
func TestRunbooksExist(t *testing.T) {
	for _, d := range All() {
		t.Run(d.Name, func(t *testing.T) {
			rel, ok := strings.CutPrefix(d.Runbook, rules.RunbookBase+"/")
			require.True(t, ok, "%s is not under %s", d.Runbook, rules.RunbookBase)
			file, anchor, _ := strings.Cut(rel, "#")
			b, err := os.ReadFile(filepath.Join("..", "..", "docs", "runbooks", file))
			require.NoError(t, err)
			assert.Contains(t, strings.ToLower(string(b)), "\n## "+anchor+"\n", "%s has no section #%s", file, anchor)
		})
	}
}

// earliest is how long after a fault starts the burn-rate condition expr
// first holds, when the fault spoils the share affected of the events and
// none were bad before: a window W's error ratio then grows as
// affected*t/W, so "ratio over W > threshold" holds from threshold/affected*W
// on, never if the threshold is at least affected. OR takes the sooner of
// its sides and AND the later. ok is false for expressions of another
// shape.
func earliest(t *testing.T, node parser.Node, affected float64) (d time.Duration, ok bool) {
	t.Helper()
	switch n := node.(type) {
	case *parser.ParenExpr:
		return earliest(t, n.Expr, affected)
	case *parser.AggregateExpr:
		return earliest(t, n.Expr, affected)
	case *parser.BinaryExpr:
		switch n.Op {
		case parser.LOR, parser.LAND:
			l, lok := earliest(t, n.LHS, affected)
			r, rok := earliest(t, n.RHS, affected)
			if !lok || !rok {
				return 0, false
			}
			if (n.Op == parser.LOR) == (l < r) {
				return l, true
			}
			return r, true
		case parser.GTR:
			vs, isSel := n.LHS.(*parser.VectorSelector)
			if !isSel {
				return 0, false
			}
			window, isRatio := strings.CutPrefix(vs.Name, "slo:sli_error:ratio_rate")
			if !isRatio {
				return 0, false
			}
			w, err := model.ParseDuration(window)
			require.NoError(t, err)
			threshold := constant(t, n.RHS)
			if threshold >= affected {
				return time.Duration(math.MaxInt64), true
			}
			return time.Duration(threshold / affected * float64(w)), true
		}
	}
	return 0, false
}

// constant evaluates a number-only expression such as (14.4 * 0.005).
func constant(t *testing.T, node parser.Node) float64 {
	t.Helper()
	switch n := node.(type) {
	case *parser.NumberLiteral:
		return n.Val
	case *parser.ParenExpr:
		return constant(t, n.Expr)
	case *parser.BinaryExpr:
		require.Equal(t, parser.ItemType(parser.MUL), n.Op, "threshold %s", n)
		return constant(t, n.LHS) * constant(t, n.RHS)
	}
	require.Failf(t, "not a constant", "%s", node)
	return 0
}

// longestRange is the longest range selector of an expression: the time a
// rate() over it needs to forget what happened before a fault.
func longestRange(node parser.Node) time.Duration {
	var longest time.Duration
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if ms, ok := n.(*parser.MatrixSelector); ok {
			longest = max(longest, ms.Range)
		}
		return nil
	})
	return longest
}

// TestWithinMatchesTheRule: each drill's limit is what its alert's rule
// needs under the drill's assumption, plus its delay and PipelineLag, with
// at most a minute of rounding on top: a limit the rule cannot meet would
// fail every run, and a padded one would hide a slow alert. Burn-rate
// rules are timed by their windows and factors; others by their longest
// range, the time to forget the traffic before the fault.
func TestWithinMatchesTheRule(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	for _, d := range All() {
		t.Run(d.Name, func(t *testing.T) {
			require.Greater(t, d.Affected, 0.0)
			require.LessOrEqual(t, d.Affected, 1.0)
			var need time.Duration
			for i, r := range rulesFor(t, d) {
				node, err := p.ParseExpr(r.expr)
				require.NoError(t, err)
				fires, ok := earliest(t, node, d.Affected)
				if !ok {
					fires = longestRange(node)
				}
				if r.forDuration != "" {
					f, err := model.ParseDuration(r.forDuration)
					require.NoError(t, err)
					fires += time.Duration(f)
				}
				if i == 0 || fires < need {
					need = fires
				}
			}
			require.Less(t, need, time.Hour, "%s cannot fire for this fault in reasonable time", d.Expectation())
			need += d.Delay + PipelineLag
			assert.GreaterOrEqual(t, d.Within, need, "limit %s, the rule needs %s", d.Within, need)
			assert.LessOrEqual(t, d.Within, need+time.Minute, "limit %s, the rule needs only %s", d.Within, need)
			assert.NotEmpty(t, d.Why)
		})
	}
}

// TestEarliest pins the timing of a sloth page alert at a 0.5% budget:
// a full outage crosses 14.4 times the budget over 1h after 4m19s, half of
// one after twice that, and a twentieth of one never reaches 14.4x, leaving
// the slow pair (6x over 30m and 6h), whose 6h window needs 3h36m.
func TestEarliest(t *testing.T) {
	expr := `(
  max(slo:sli_error:ratio_rate5m{sloth_id="x"} > (14.4 * 0.005)) without (sloth_window)
  and
  max(slo:sli_error:ratio_rate1h{sloth_id="x"} > (14.4 * 0.005)) without (sloth_window)
)
or
(
  max(slo:sli_error:ratio_rate30m{sloth_id="x"} > (6 * 0.005)) without (sloth_window)
  and
  max(slo:sli_error:ratio_rate6h{sloth_id="x"} > (6 * 0.005)) without (sloth_window)
)`
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	require.NoError(t, err)
	for affected, want := range map[float64]time.Duration{
		1:    259200 * time.Millisecond,
		0.5:  518400 * time.Millisecond,
		0.05: 3*time.Hour + 36*time.Minute,
	} {
		got, ok := earliest(t, node, affected)
		require.True(t, ok)
		assert.InDelta(t, float64(want), float64(got), float64(time.Millisecond), "affected %v", affected)
	}
}

// TestChaosObjects pins the objects each drill creates, as the API server
// receives them: Chaos Mesh v1alpha1 field names, the demo's selectors, and
// a duration past the drill's limit.
func TestChaosObjects(t *testing.T) {
	podinfoSelector := `"selector":{"namespaces":["apps"],"labelSelectors":{"app.kubernetes.io/name":"podinfo"}},"mode":"all"`
	meta := func(name string) string {
		return `"metadata":{"labels":{"app.kubernetes.io/managed-by":"sre-lab-drill"},"name":"` + name + `","namespace":"apps"}`
	}
	tests := map[string][]string{
		"pod-kill": {`{"apiVersion":"chaos-mesh.org/v1alpha1","kind":"PodChaos",` + meta("sre-lab-drill-pod-kill") +
			`,"spec":{` + podinfoSelector + `,"action":"pod-failure","duration":"14m0s"}}`},
		"network-loss": {`{"apiVersion":"chaos-mesh.org/v1alpha1","kind":"NetworkChaos",` + meta("sre-lab-drill-network-loss") +
			`,"spec":{` + podinfoSelector + `,"action":"loss","duration":"14m0s","direction":"to","loss":{"loss":"100"}}}`},
		"network-latency": {`{"apiVersion":"chaos-mesh.org/v1alpha1","kind":"NetworkChaos",` + meta("sre-lab-drill-network-latency") +
			`,"spec":{` + podinfoSelector + `,"action":"delay","duration":"15m0s","direction":"to","delay":{"latency":"3s"}}}`},
		"cpu-stress": {`{"apiVersion":"chaos-mesh.org/v1alpha1","kind":"StressChaos",` + meta("sre-lab-drill-cpu-stress") +
			`,"spec":{` + podinfoSelector + `,"stressors":{"cpu":{"workers":4,"load":100}},"duration":"25m0s"}}`},
		"memory-stress": {`{"apiVersion":"chaos-mesh.org/v1alpha1","kind":"StressChaos",` + meta("sre-lab-drill-memory-stress") +
			`,"spec":{` + podinfoSelector + `,"stressors":{"memory":{"workers":1,"size":"256MB","oomScoreAdj":-1000}},"duration":"15m0s"}}`},
		"dns-failure": {
			`{"apiVersion":"chaos-mesh.org/v1alpha1","kind":"DNSChaos",` + meta("sre-lab-drill-dns-failure") +
				`,"spec":{"selector":{"namespaces":["apps"],"expressionSelectors":[{"key":"app.kubernetes.io/name","operator":"NotIn","values":["podinfo"]}]},"mode":"all","action":"error","duration":"15m0s"}}`,
			`{"apiVersion":"chaos-mesh.org/v1alpha1","kind":"PodChaos",` + meta("sre-lab-drill-dns-failure-reconnect") +
				`,"spec":{` + podinfoSelector + `,"action":"pod-kill","duration":"15m0s"}}`,
		},
		"node-drain": nil,
	}
	for _, d := range All() {
		t.Run(d.Name, func(t *testing.T) {
			want, known := tests[d.Name]
			require.True(t, known, "this test does not know drill %s", d.Name)
			require.Len(t, d.Objects, len(want))
			for i, o := range d.Objects {
				got, err := o.JSON(Namespace)
				require.NoError(t, err)
				assert.JSONEq(t, want[i], string(got))
				assert.Equal(t, "/apis/chaos-mesh.org/v1alpha1/namespaces/apps/"+strings.ToLower(o.Kind), o.Path(Namespace))
			}
		})
	}
}

// TestFaultOutlivesNoLimit: every Chaos Mesh fault lasts past its drill's
// limit, or it would end before the alert had its chance.
func TestFaultOutlivesNoLimit(t *testing.T) {
	for _, d := range All() {
		for _, o := range d.Objects {
			var spec struct {
				Duration string `json:"duration"`
			}
			b, err := json.Marshal(o.Spec)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &spec))
			got, err := time.ParseDuration(spec.Duration)
			require.NoError(t, err, "%s: %s", d.Name, o.Kind)
			assert.Greater(t, got, d.Within, "%s: %s", d.Name, o.Kind)
		}
	}
}

// TestDrainOrObjects: a drill does exactly one kind of fault, and the
// drain evicts the demo's pods and Hubble relay's.
func TestDrainOrObjects(t *testing.T) {
	for _, d := range All() {
		assert.True(t, (d.Drain == nil) != (len(d.Objects) == 0), d.Name)
	}
	d, err := Find("node-drain")
	require.NoError(t, err)
	assert.Equal(t, &Drain{Evict: []PodSet{
		{Namespace: "apps", Selector: map[string]string{"app.kubernetes.io/name": "podinfo"}},
		{Namespace: "kube-system", Selector: map[string]string{"k8s-app": "hubble-relay"}},
	}}, d.Drain)
}

// TestDrainReachesItsAlert: the relay the drain evicts is the one
// HubbleRelayDown watches: every selector of the rule is in the evicted
// pods' namespace and names their Deployment, which the Cilium chart calls
// after the pods' k8s-app label.
func TestDrainReachesItsAlert(t *testing.T) {
	relay := hubbleRelay()
	var expr string
	for _, g := range rules.Groups() {
		for _, r := range g.Rules {
			if r.Alert == "HubbleRelayDown" {
				expr = r.Expr
			}
		}
	}
	require.NotEmpty(t, expr)
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	require.NoError(t, err)
	var checked int
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		checked++
		for _, m := range vs.LabelMatchers {
			switch m.Name {
			case "namespace":
				assert.True(t, m.Matches(relay.Namespace), "%s", vs)
			case "deployment":
				assert.True(t, m.Matches(relay.Selector["k8s-app"]), "%s", vs)
			}
		}
		return nil
	})
	assert.Equal(t, 2, checked)
}

func TestFind(t *testing.T) {
	d, err := Find("dns-failure")
	require.NoError(t, err)
	assert.Equal(t, "DemoNotServing", d.Expectation())
	d, err = Find("cpu-stress")
	require.NoError(t, err)
	assert.Equal(t, `DemoHighLatency{severity="critical"}`, d.Expectation())
	_, err = Find("pod-delete")
	require.Error(t, err)
	assert.Equal(t, `unknown drill "pod-delete": known are pod-kill, network-loss, network-latency, cpu-stress, memory-stress, dns-failure, node-drain`, err.Error())
}
