package slo

import (
	"fmt"
	"slices"
	"strings"
	"text/template"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
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

// Six hours shows the 5m and 1h burn of a drill and how it ends.
const (
	timeFrom = "now-6h"
	timeTo   = "now"
)

// span is a quarter of the grid's width: four stats read as one status
// line.
const span = 6

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
		burn = append(burn, dashboards.Query(errorRatioPrefix+w+byID+" / on (sloth_id, sloth_slo, sloth_service) group_left () "+budgetRecord+byID, w))
	}
	alerts := []string{s.Alert}
	if s.Guard != nil {
		alerts = append(alerts, s.Guard.Alert)
	}

	b := dashboards.New(title, DashboardUID(s)).
		Description(s.Description).
		Tags([]string{dashboards.LabTag, "slo"}).
		Time(timeFrom, timeTo)

	b = b.WithRow(dashboard.NewRowBuilder("Error budget")).
		WithPanel(dashboards.StatPanel("Objective", "Share of events that must be good over the 30-day period.", units.PercentUnit, span,
			dashboards.Query(objectiveRecord+byID, "objective")).
			Decimals(2)).
		WithPanel(dashboards.StatPanel("Error budget left", "Share of the period's error budget not yet spent. Below zero the SLO is missed for the period.", units.PercentUnit, span,
			dashboards.Query(budgetRemainingRecord+byID, "left")).
			Thresholds(dashboards.Thresholds("red", dashboards.Step{Value: 0, Color: "orange"}, dashboards.Step{Value: 0.25, Color: "green"}))).
		WithPanel(dashboards.StatPanel("Burn rate (5m)", "How many times faster than sustainable the budget burns now: at 1 it lasts exactly the period.", units.Short, span,
			dashboards.Query(currentBurnRecord+byID, "burn rate")).
			Decimals(1).
			Thresholds(dashboards.Thresholds("green", dashboards.Step{Value: 1, Color: "orange"}))).
		WithPanel(dashboards.StatPanel("Alerts firing", "Firing alerts of this SLO: "+strings.Join(alerts, ", ")+". See the runbook for each.", units.Short, span,
			dashboards.Query(`count(ALERTS{alertstate="firing", `+id+`}) or vector(0)`, "firing")).
			Thresholds(dashboards.Thresholds("green", dashboards.Step{Value: 1, Color: "red"})).
			ColorMode(common.BigValueColorModeBackground)).
		WithPanel(dashboards.TimeseriesPanel("Error budget left over the period", "The budget left, as the period's window slides: an incident is a step down, and it comes back 30 days later.", units.PercentUnit, 24,
			dashboards.Query(budgetRemainingRecord+byID, "left")))

	b = b.WithRow(dashboard.NewRowBuilder("Burn rate")).
		WithPanel(dashboards.TimeseriesPanel("Burn rate by window", "Error ratio over each window sloth's alerts compare, divided by the error budget. A page needs a short and a long window above their factor together; see the alert rule for the factors.", units.Short, 24,
			burn...))

	b = b.WithRow(dashboard.NewRowBuilder("Events")).
		WithPanel(dashboards.TimeseriesPanel("Events", "All events the SLO counts and the bad ones, per second.", units.OpsPerSecond, 12,
			dashboards.Query(total, "all"),
			dashboards.Query(errs, "bad"))).
		WithPanel(dashboards.TimeseriesPanel("Bad events (5m)", "Share of bad events over the last 5 minutes, against the error budget.", units.PercentUnit, 12,
			dashboards.Query(errorRatioPrefix+windows[0]+byID, "bad ("+windows[0]+")"),
			dashboards.Query(budgetRecord+byID, "budget")))

	return dashboards.Encode(b, DashboardFolder)
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
