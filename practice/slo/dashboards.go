package slo

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/template"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"

	"github.com/your-org/sre-lab/observability/dashboards"
)

// DashboardFolder is the Grafana folder of the SLO dashboards.
const DashboardFolder = "SLOs"

// Sloth's recording rules the dashboards read besides the per-window error
// ratios (sloth internal/plugin/slo/core/metadata_rules_v1). The tests
// check that the rule file records each of them for every SLO.
const (
	objectiveRecord       = "slo:objective:ratio"
	budgetRecord          = "slo:error_budget:ratio"
	budgetRemainingRecord = "slo:period_error_budget_remaining:ratio"
	currentBurnRecord     = "slo:current_burn_rate:ratio"
	periodBurnRecord      = "slo:period_burn_rate:ratio"
	// errorRatioPrefix starts every per-window error ratio, whose window
	// is the sloth_window label (sloth pkg/common/conventions).
	errorRatioPrefix = "slo:sli_error:ratio_rate"
)

// The same dashboard settings and datasource handling as the lab's own
// dashboards (observability/dashboards): a datasource variable defaulting to
// kube-prometheus-stack's Prometheus by uid, 30s refresh, the sre-lab tag
// that the dashboards' drop-down links follow.
const (
	datasourceVar = "datasource"
	labTag        = "sre-lab"
	refresh       = "30s"
	// Six hours shows the 5m and 1h burn of a drill and how it ends.
	timeFrom = "now-6h"
	timeTo   = "now"
)

// Panel heights in grid rows: stats as a status line, graphs with room for
// a table legend.
const (
	statHeight  = 4
	graphHeight = 9
)

// DashboardUID is the uid of the dashboard of s; drills name it, and
// Grafana caps uids at 40 characters.
func DashboardUID(s SLO) string { return "slo-" + s.ID() }

// Dashboards builds one dashboard per SLO, in the order of All: the error
// budget left, how fast it burns over each of sloth's windows, and the
// events the SLO counts. The output is deterministic, as the lab's other
// dashboards are, so ConfigMaps made from it do not churn.
func Dashboards() ([]dashboards.Dashboard, error) {
	gs, err := Groups()
	if err != nil {
		return nil, err
	}
	var out []dashboards.Dashboard
	for _, s := range All() {
		d, err := sloDashboard(s, errorRatioWindows(gs, s))
		if err != nil {
			return nil, fmt.Errorf("dashboard of slo %s: %w", s.ID(), err)
		}
		out = append(out, d)
	}
	return out, nil
}

// errorRatioWindows are the windows sloth records s's error ratio over,
// shortest first, read from the rules so that the dashboard shows exactly
// what the alerts compare.
func errorRatioWindows(gs []Group, s SLO) []string {
	var windows []string
	for _, g := range gs {
		for _, r := range g.Rules {
			if w, ok := strings.CutPrefix(r.Record, errorRatioPrefix); ok && r.Labels["sloth_id"] == s.ID() {
				windows = append(windows, w)
			}
		}
	}
	return windows
}

func sloDashboard(s SLO, windows []string) (dashboards.Dashboard, error) {
	if len(windows) == 0 {
		return dashboards.Dashboard{}, fmt.Errorf("the rule file records no error ratio for it")
	}
	id := `sloth_id="` + s.ID() + `"`
	byID := "{" + id + "}"
	title := s.Title + " SLO"
	errs, err := perSecond(s.ErrorQuery)
	if err != nil {
		return dashboards.Dashboard{}, err
	}
	total, err := perSecond(s.TotalQuery)
	if err != nil {
		return dashboards.Dashboard{}, err
	}

	burn := make([]*prometheus.DataqueryBuilder, 0, len(windows))
	for _, w := range windows {
		burn = append(burn, query(errorRatioPrefix+w+byID+" / on (sloth_id, sloth_slo, sloth_service) group_left () "+budgetRecord+byID, w))
	}
	alerts := []string{s.Alert}
	if s.Guard != nil {
		alerts = append(alerts, s.Guard.Alert)
	}

	b := classicDashboard(title).
		Uid(DashboardUID(s)).
		Description(s.Description).
		Tags([]string{labTag, "slo"}).
		Refresh(refresh).
		Time(timeFrom, timeTo).
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		// Provisioned from code on every sync: edits in the UI would not
		// last, and read-only says so.
		Readonly().
		Link(dashboard.NewDashboardLinkBuilder("SRE Lab dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{labTag}).
			AsDropdown(true).
			KeepTime(true).
			IncludeVars(false)).
		WithVariable(datasourceVariable())

	b = b.WithRow(dashboard.NewRowBuilder("Error budget")).
		WithPanel(statPanel("Objective", "Share of events that must be good over the 30-day period.", units.PercentUnit,
			query(objectiveRecord+byID, "objective")).
			Decimals(2)).
		WithPanel(statPanel("Error budget left", "Share of the period's error budget not yet spent. Below zero the SLO is missed for the period.", units.PercentUnit,
			query(budgetRemainingRecord+byID, "left")).
			Thresholds(thresholds("red", step{0, "orange"}, step{0.25, "green"}))).
		WithPanel(statPanel("Burn rate (5m)", "How many times faster than sustainable the budget burns now: at 1 it lasts exactly the period.", units.Short,
			query(currentBurnRecord+byID, "burn rate")).
			Decimals(1).
			Thresholds(thresholds("green", step{1, "orange"}))).
		WithPanel(statPanel("Alerts firing", "Firing alerts of this SLO: "+strings.Join(alerts, ", ")+". See the runbook for each.", units.Short,
			query(`count(ALERTS{alertstate="firing", `+id+`}) or vector(0)`, "firing")).
			Thresholds(thresholds("green", step{1, "red"})).
			ColorMode(common.BigValueColorModeBackground)).
		WithPanel(timeseriesPanel("Error budget left over the period", "The budget left, as the period's window slides: an incident is a step down, and it comes back 30 days later.", units.PercentUnit, 24,
			query(budgetRemainingRecord+byID, "left")))

	b = b.WithRow(dashboard.NewRowBuilder("Burn rate")).
		WithPanel(timeseriesPanel("Burn rate by window", "Error ratio over each window sloth's alerts compare, divided by the error budget. A page needs a short and a long window above their factor together; see the alert rule for the factors.", units.Short, 24,
			burn...))

	b = b.WithRow(dashboard.NewRowBuilder("Events")).
		WithPanel(timeseriesPanel("Events", "All events the SLO counts and the bad ones, per second.", units.OpsPerSecond, 12,
			query(total, "all"),
			query(errs, "bad"))).
		WithPanel(timeseriesPanel("Bad events (5m)", "Share of bad events over the last 5 minutes, against the error budget.", units.PercentUnit, 12,
			query(errorRatioPrefix+windows[0]+byID, "bad ("+windows[0]+")"),
			query(budgetRecord+byID, "budget")))

	built, err := b.Build()
	if err != nil {
		return dashboards.Dashboard{}, err
	}
	numberPanels(&built)
	raw, err := json.MarshalIndent(built, "", "  ")
	if err != nil {
		return dashboards.Dashboard{}, fmt.Errorf("encode: %w", err)
	}
	return dashboards.Dashboard{UID: DashboardUID(s), Folder: DashboardFolder, Title: title, JSON: raw}, nil
}

// classicDashboard starts a dashboard in Grafana's classic schema, which the
// foundation SDK deprecates in favour of its v2 schema; Grafana's sidecar
// provisioning does not load v2 yet (as in observability/dashboards).
//
//nolint:staticcheck // the deprecated classic schema, as said above
func classicDashboard(title string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title)
}

// perSecond renders an SLO query with Grafana's rate interval as window.
func perSecond(q string) (string, error) {
	tpl, err := template.New("query").Option("missingkey=error").Parse(q)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := tpl.Execute(&b, map[string]string{"window": "$__rate_interval"}); err != nil {
		return "", err
	}
	return b.String(), nil
}

// datasourceVariable lets the viewer pick any Prometheus datasource and
// defaults to the lab's (dashboards.DatasourceUID).
func datasourceVariable() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder(datasourceVar).
		Label("Data source").
		Type("prometheus").
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr("Prometheus")},
			Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr(dashboards.DatasourceUID)},
		})
}

// datasource is the reference every panel and target uses.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${" + datasourceVar + "}")}
}

// query is a range query over expr with a legend.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		EditorMode(prometheus.QueryEditorModeCode).
		Expr(expr).
		Range().
		LegendFormat(legend)
}

// targets names queries A, B, C... so the JSON does not wait for Grafana
// to fill the ids in.
func targets(qs ...*prometheus.DataqueryBuilder) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], 0, len(qs))
	for i, q := range qs {
		out = append(out, q.RefId(string(rune('A'+i))))
	}
	return out
}

// statPanel shows the latest value with a sparkline; neutral unless the
// caller says what is bad.
// Four to a row, they read as one status line.
func statPanel(title, description, unit string, qs ...*prometheus.DataqueryBuilder) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Targets(targets(qs...)).
		Span(6).
		Height(statHeight).
		Unit(unit).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false)).
		Thresholds(thresholds("text")).
		GraphMode(common.BigValueGraphModeArea).
		ColorMode(common.BigValueColorModeValue)
}

// timeseriesPanel plots qs with a table legend, so the worst series can be
// found by sorting.
func timeseriesPanel(title, description, unit string, span uint32, qs ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Targets(targets(qs...)).
		Span(span).
		Height(graphHeight).
		Unit(unit).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			Calcs([]string{"mean", "max", "lastNotNull"})).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
}

// step is one threshold: from Value upwards the field is drawn in Color.
type step struct {
	Value float64
	Color string
}

// thresholds is an absolute scale starting at base colour.
func thresholds(base string, more ...step) *dashboard.ThresholdsConfigBuilder {
	out := []dashboard.Threshold{{Color: base}}
	for _, s := range more {
		out = append(out, dashboard.Threshold{Value: cog.ToPtr(s.Value), Color: s.Color})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(out)
}

// numberPanels gives every panel and row an id in layout order, so panel
// links and the JSON stay stable across builds.
func numberPanels(d *dashboard.Dashboard) { //nolint:staticcheck // classic schema, as above
	var id uint32
	next := func() uint32 { id++; return id }
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			p.Panel.Id = cog.ToPtr(next())
		case p.RowPanel != nil:
			p.RowPanel.Id = next()
			for i := range p.RowPanel.Panels {
				p.RowPanel.Panels[i].Id = cog.ToPtr(next())
			}
		}
	}
}

// DashboardOf is the dashboard uid of the SLO whose burn-rate or guard alert
// is named alert, and false when no SLO has such an alert.
func DashboardOf(alert string) (string, bool) {
	i := slices.IndexFunc(All(), func(s SLO) bool {
		return s.Alert == alert || s.Guard != nil && s.Guard.Alert == alert
	})
	if i < 0 {
		return "", false
	}
	return DashboardUID(All()[i]), true
}
