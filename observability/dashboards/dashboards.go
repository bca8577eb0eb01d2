// Package dashboards holds the lab's own Grafana dashboards as code, built
// with grafana-foundation-sdk. kube-prometheus-stack and Cilium ship many
// dashboards; these two are the lab's front pages: one answers "is the
// cluster healthy?" and the other "is the network healthy?", each on a
// single screen, using only metrics the lab actually scrapes.
//
// The output is plain dashboard JSON, so the observability layer can put it
// into ConfigMaps the Grafana sidecar loads, and tests can check every query
// with Prometheus's own PromQL parser before anything reaches a cluster.
package dashboards

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// Dashboard is one dashboard the lab provisions through the Grafana sidecar.
type Dashboard struct {
	// UID is stable across builds so that bookmarks, links and alert
	// annotations pointing at the dashboard survive every redeploy.
	UID string
	// Folder is the Grafana folder the sidecar files the dashboard under;
	// it groups the lab's dashboards apart from the charts' own.
	Folder string
	// Title is the name Grafana lists, shown after the folder.
	Title string
	// JSON is the dashboard model Grafana imports, indented so that a
	// ConfigMap diff in a Pulumi preview stays readable.
	JSON []byte
}

// DatasourceUID is the uid of the Prometheus datasource kube-prometheus-stack
// provisions in Grafana ("prometheus"). Pinning the uid, rather than the
// datasource's display name, keeps the dashboards working if the name changes.
const DatasourceUID = "prometheus"

// datasourceVar is the dashboard variable every query reads its datasource
// from. Its default is DatasourceUID; the variable exists so that an SRE can
// point the same dashboard at another Prometheus (a Thanos or a second
// cluster) without editing it.
const datasourceVar = "datasource"

// Shared dashboard settings: 30s matches the default scrape interval closely
// enough that a refresh usually shows new samples, and one hour is long
// enough to see a trend yet short enough for $__rate_interval to stay fine.
const (
	refresh  = "30s"
	timeFrom = "now-1h"
	timeTo   = "now"
)

// LabTag is the tag every lab dashboard carries; each dashboard's drop-down
// of links lists the dashboards with it.
const LabTag = "sre-lab"

// All builds every lab dashboard, in a stable order; same output on every call (deterministic bytes).
// Stable order and bytes let a caller turn each dashboard into a ConfigMap
// without Pulumi previews showing changes that are not there.
func All() ([]Dashboard, error) {
	specs := []struct {
		uid, folder, title string
		build              func(*dashboard.DashboardBuilder) *dashboard.DashboardBuilder
	}{
		{"sre-lab-cluster-overview", "SRE Lab", "Cluster overview", clusterOverview},
		{"sre-lab-cilium-hubble", "Cilium", "Hubble", hubble},
	}
	out := make([]Dashboard, 0, len(specs))
	for _, s := range specs {
		d, err := Encode(s.build(New(s.title, s.uid)), s.folder)
		if err != nil {
			return nil, fmt.Errorf("dashboard %q: %w", s.uid, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// New starts a dashboard with the settings every lab dashboard shares: the
// sre-lab tag and a drop-down of the other lab dashboards, the datasource
// variable, a 30s refresh over the last hour, and read-only, since
// provisioned dashboards come back from code on every sync and edits made
// in the UI could not be kept. Callers may override the tags and time.
func New(title, uid string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Tags([]string{LabTag}).
		Refresh(refresh).
		Time(timeFrom, timeTo).
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Readonly().
		Link(dashboard.NewDashboardLinkBuilder("SRE Lab dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{LabTag}).
			AsDropdown(true).
			KeepTime(true).
			IncludeVars(false)).
		WithVariable(datasourceVariable())
}

// Encode builds b into the JSON Grafana imports, filed under folder, with
// panel ids in layout order so that the bytes are the same on every call.
func Encode(b *dashboard.DashboardBuilder, folder string) (Dashboard, error) {
	built, err := b.Build()
	if err != nil {
		return Dashboard{}, err
	}
	if built.Uid == nil || built.Title == nil {
		return Dashboard{}, errors.New("a lab dashboard needs a uid and a title")
	}
	numberPanels(&built)
	raw, err := json.MarshalIndent(built, "", "  ")
	if err != nil {
		return Dashboard{}, fmt.Errorf("encode: %w", err)
	}
	return Dashboard{UID: *built.Uid, Folder: folder, Title: *built.Title, JSON: raw}, nil
}

// Expressions returns every PromQL expression (target "expr") in a dashboard's JSON, for tests and for checks by callers.
// It reads the JSON rather than the builders so that it sees what Grafana
// will see, including panels nested in collapsed rows. Expressions come in
// panel order; targets without an "expr" (other datasources) are skipped,
// while an empty "expr" is returned so that a check can flag it.
func Expressions(d Dashboard) ([]string, error) {
	var doc struct {
		Panels []panelJSON `json:"panels"`
	}
	if err := json.Unmarshal(d.JSON, &doc); err != nil {
		return nil, fmt.Errorf("dashboard %q: %w", d.UID, err)
	}
	var out []string
	var walk func([]panelJSON)
	walk = func(panels []panelJSON) {
		for _, p := range panels {
			for _, t := range p.Targets {
				if t.Expr != nil {
					out = append(out, *t.Expr)
				}
			}
			walk(p.Panels)
		}
	}
	walk(doc.Panels)
	return out, nil
}

// panelJSON is the part of a panel (or row) Expressions reads: a row keeps
// its panels in "panels" while it is collapsed.
type panelJSON struct {
	Targets []struct {
		Expr *string `json:"expr"`
	} `json:"targets"`
	Panels []panelJSON `json:"panels"`
}

// numberPanels gives every panel and row an id in layout order. Grafana
// would invent ids on import, but fixed ones keep panel links (viewPanel=)
// and the JSON stable across builds.
func numberPanels(d *dashboard.Dashboard) {
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

// datasourceVariable lets the viewer pick any Prometheus datasource and
// defaults to the one kube-prometheus-stack provisions.
func datasourceVariable() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder(datasourceVar).
		Label("Data source").
		Type("prometheus").
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr("Prometheus")},
			Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr(DatasourceUID)},
		})
}

// datasource is the reference every panel, target and query variable uses.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{
		Type: cog.ToPtr("prometheus"),
		Uid:  cog.ToPtr("${" + datasourceVar + "}"),
	}
}

// Query is a range query over expr; legend names its series in Grafana's
// {{label}} syntax, and "" leaves naming to Grafana.
func Query(expr, legend string) *prometheus.DataqueryBuilder {
	q := prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		EditorMode(prometheus.QueryEditorModeCode).
		Expr(expr).
		Range()
	if legend != "" {
		q = q.LegendFormat(legend)
	}
	return q
}

// targets names queries A, B, C... in order, so that overrides and
// transformations can refer to them and the JSON does not depend on Grafana
// filling the ids in.
func targets(queries ...*prometheus.DataqueryBuilder) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], 0, len(queries))
	for i, q := range queries {
		out = append(out, q.RefId(string(rune('A'+i))))
	}
	return out
}

// Step is one threshold: from Value upwards the field is drawn in Color.
type Step struct {
	Value float64
	Color string
}

// Thresholds is an absolute scale starting at base colour.
func Thresholds(base string, more ...Step) *dashboard.ThresholdsConfigBuilder {
	out := []dashboard.Threshold{{Color: base}}
	for _, s := range more {
		out = append(out, dashboard.Threshold{Value: cog.ToPtr(s.Value), Color: s.Color})
	}
	return dashboard.NewThresholdsConfigBuilder().
		Mode(dashboard.ThresholdsModeAbsolute).
		Steps(out)
}

// anyIsBad colours a count of broken things: zero is fine, one is not.
func anyIsBad() *dashboard.ThresholdsConfigBuilder {
	return Thresholds("green", Step{1, "red"})
}
