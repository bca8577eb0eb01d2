package slo

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/observability/dashboards"
)

func mustDashboards(t *testing.T) []dashboards.Dashboard {
	t.Helper()
	ds, err := Dashboards()
	require.NoError(t, err)
	return ds
}

// TestDashboardPerSLO: one dashboard per SLO, in the SLOs' folder, under a
// uid Grafana accepts (at most 40 characters) that the drills can name.
func TestDashboardPerSLO(t *testing.T) {
	ds := mustDashboards(t)
	require.Len(t, ds, len(All()))
	for i, s := range All() {
		d := ds[i]
		assert.Equal(t, DashboardUID(s), d.UID)
		assert.LessOrEqual(t, len(d.UID), 40, d.UID)
		assert.Equal(t, DashboardFolder, d.Folder)
		assert.Equal(t, s.Title+" SLO", d.Title)
		var doc struct {
			UID   string `json:"uid"`
			Title string `json:"title"`
		}
		require.NoError(t, json.Unmarshal(d.JSON, &doc))
		assert.Equal(t, d.UID, doc.UID)
		assert.Equal(t, d.Title, doc.Title)
	}
}

// TestDashboardQueries: every query parses as PromQL once Grafana's
// variables are filled in, and every recording rule a dashboard reads is
// one the rule file records for that SLO; raw metrics come only from the
// SLO's own queries.
func TestDashboardQueries(t *testing.T) {
	recorded := map[string]map[string]bool{} // sloth_id -> record names
	for _, g := range mustGroups(t) {
		for _, r := range g.Rules {
			if r.Record != "" {
				id := r.Labels["sloth_id"]
				if recorded[id] == nil {
					recorded[id] = map[string]bool{}
				}
				recorded[id][r.Record] = true
			}
		}
	}
	p := parser.NewParser(parser.Options{})
	for i, d := range mustDashboards(t) {
		s := All()[i]
		t.Run(d.UID, func(t *testing.T) {
			exprs, err := dashboards.Expressions(d)
			require.NoError(t, err)
			require.NotEmpty(t, exprs)
			for _, record := range []string{objectiveRecord, budgetRecord, budgetRemainingRecord, currentBurnRecord, periodBurnRecord, errorRatioPrefix + "5m"} {
				assert.True(t, recorded[s.ID()][record], "rule file records no %s for %s", record, s.ID())
			}
			sliMetrics := map[string]bool{}
			for _, q := range []string{s.ErrorQuery, s.TotalQuery} {
				rendered, err := perSecond(q)
				require.NoError(t, err)
				node, err := p.ParseExpr(strings.ReplaceAll(rendered, "$__rate_interval", "1m"))
				require.NoError(t, err)
				parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
					if vs, ok := n.(*parser.VectorSelector); ok {
						sliMetrics[vs.Name] = true
					}
					return nil
				})
			}
			for _, e := range exprs {
				node, err := p.ParseExpr(strings.ReplaceAll(e, "$__rate_interval", "1m"))
				require.NoError(t, err, e)
				parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
					vs, ok := n.(*parser.VectorSelector)
					if !ok {
						return nil
					}
					switch {
					case vs.Name == "ALERTS":
					case strings.HasPrefix(vs.Name, "slo:"):
						assert.True(t, recorded[s.ID()][vs.Name], "%s reads %s, which the rule file does not record for %s", d.UID, vs.Name, s.ID())
						assert.Contains(t, vs.String(), `sloth_id="`+s.ID()+`"`, "%s must stay on its own SLO", vs)
					default:
						assert.True(t, sliMetrics[vs.Name], "%s reads %s, which is not in the SLO's queries", d.UID, vs.Name)
					}
					return nil
				})
			}
		})
	}
}

// TestBurnRateWindows: the burn-rate panel has one series per window sloth
// records, which are the windows its alerts compare.
func TestBurnRateWindows(t *testing.T) {
	gs := mustGroups(t)
	for _, s := range All() {
		assert.Equal(t, []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"}, errorRatioWindows(gs, s), s.ID())
	}
}

// TestDashboardDatasource: every panel and target reads the datasource
// variable, whose default is the lab's Prometheus, as on the lab's own
// dashboards.
func TestDashboardDatasource(t *testing.T) {
	for _, d := range mustDashboards(t) {
		var doc struct {
			Templating struct {
				List []struct {
					Name    string `json:"name"`
					Current struct {
						Value string `json:"value"`
					} `json:"current"`
				} `json:"list"`
			} `json:"templating"`
			Panels []struct {
				Type       string `json:"type"`
				Datasource *struct {
					UID string `json:"uid"`
				} `json:"datasource"`
				Targets []struct {
					Datasource struct {
						UID string `json:"uid"`
					} `json:"datasource"`
				} `json:"targets"`
			} `json:"panels"`
		}
		require.NoError(t, json.Unmarshal(d.JSON, &doc))
		require.Len(t, doc.Templating.List, 1)
		assert.Equal(t, "datasource", doc.Templating.List[0].Name)
		assert.Equal(t, dashboards.DatasourceUID, doc.Templating.List[0].Current.Value)
		for _, p := range doc.Panels {
			if p.Type == "row" {
				continue
			}
			require.NotNil(t, p.Datasource)
			assert.Equal(t, "${datasource}", p.Datasource.UID)
			for _, tgt := range p.Targets {
				assert.Equal(t, "${datasource}", tgt.Datasource.UID)
			}
		}
	}
}

// TestDashboardOf: the alerts of an SLO lead to its dashboard; others to
// none.
func TestDashboardOf(t *testing.T) {
	for alert, want := range map[string]string{
		"DemoHighErrorRate":    "slo-podinfo-requests-availability",
		"DemoNotServing":       "slo-podinfo-requests-availability",
		"DemoHighLatency":      "slo-podinfo-requests-latency",
		"IngressHighErrorRate": "slo-cilium-ingress-requests-success",
	} {
		got, ok := DashboardOf(alert)
		assert.True(t, ok, alert)
		assert.Equal(t, want, got, alert)
	}
	_, ok := DashboardOf("EtcdNoLeader")
	assert.False(t, ok)
}
