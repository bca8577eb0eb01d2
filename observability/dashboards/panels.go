package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/gauge"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// Panel heights in grid rows. Stats are short so a row of them reads as a
// status line; graphs are tall enough for a table legend under the plot.
const (
	statHeight  = 4
	graphHeight = 9
	tableHeight = 8
)

// lastValue reduces a series to its latest sample: a status panel should
// show the state now, not an average over the time range.
func lastValue() *common.ReduceDataOptionsBuilder {
	return common.NewReduceDataOptionsBuilder().
		Calcs([]string{"lastNotNull"}).
		Values(false)
}

// timeseriesPanel plots qs from zero: every quantity on these two
// dashboards is non-negative, and a zero-based axis keeps small wiggles
// from looking like outages.
func timeseriesPanel(title, description, unit string, span uint32, qs ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	return TimeseriesPanel(title, description, unit, span, qs...).Min(0)
}

// TimeseriesPanel plots qs over time. The legend is a table with mean, max
// and last so that the worst series can be found by sorting instead of by
// hovering.
func TimeseriesPanel(title, description, unit string, span uint32, qs ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
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

// StatPanel shows the latest value of each query with a sparkline, so a
// number that just changed is visible as such.
func StatPanel(title, description, unit string, span uint32, qs ...*prometheus.DataqueryBuilder) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Targets(targets(qs...)).
		Span(span).
		Height(statHeight).
		Unit(unit).
		ReduceOptions(lastValue()).
		// Neutral unless the caller says what is bad: Grafana's default
		// scale turns any value above 80 red, nodes and pods included.
		Thresholds(Thresholds("text")).
		GraphMode(common.BigValueGraphModeArea).
		ColorMode(common.BigValueColorModeValue).
		TextMode(common.BigValueTextModeAuto).
		Orientation(common.VizOrientationAuto)
}

// gaugePanel shows ratios that have a natural ceiling (100% of what is
// allocatable), where the distance to the ceiling is the point.
func gaugePanel(title, description string, span uint32, qs ...*prometheus.DataqueryBuilder) *gauge.PanelBuilder {
	return gauge.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Targets(targets(qs...)).
		Span(span).
		Height(graphHeight).
		Unit(units.PercentUnit).
		Min(0).
		Max(1).
		ReduceOptions(lastValue()).
		ShowThresholdMarkers(true).
		Orientation(common.VizOrientationAuto).
		Thresholds(Thresholds("green", Step{0.8, "orange"}, Step{0.9, "red"}))
}

// tablePanel lists the rows of an instant query.
func tablePanel(title, description string, span uint32, qs ...*prometheus.DataqueryBuilder) *table.PanelBuilder {
	return table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Targets(targets(qs...)).
		Span(span).
		Height(tableHeight).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"}))
}

// instantTable is an instant query whose labels become table columns.
func instantTable(expr string) *prometheus.DataqueryBuilder {
	return Query(expr, "").
		Instant().
		Format(prometheus.PromQueryFormatTable)
}
