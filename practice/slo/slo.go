// Package slo holds the practice layer's service level objectives as typed
// Go values and turns them into Prometheus rules and Grafana dashboards.
//
// The multi-window multi-burn-rate recording and alerting rules come from
// sloth's library (github.com/slok/sloth), run by the slothgen module next
// to this package: sloth v0.16.0 does not build against the Prometheus
// module this program uses, so the rules are generated there and embedded
// here as sloth_rules.yaml, whose first line records the SHA-256 of the
// specs it was made from. The tests fail when the specs in this package and
// that file disagree, and regenerate it with -update.
//
// Next to sloth's rules the package adds one alert sloth cannot express: an
// SLO computed from events has nothing to say when there are no events, so
// a service that serves nothing at all keeps a perfect SLO. Such an SLO
// carries a Guard that fires when its requests stop.
package slo

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/kube/namespaces"
	"github.com/your-org/sre-lab/observability/rules"
)

// Where the demo service runs. These are the facts the practice layer's
// install shares with the rules: podinfo's Helm release in namespace apps,
// scraped by the chart's own ServiceMonitor, which names the job after the
// Service (podinfo charts/podinfo/templates/servicemonitor.yaml sets no
// jobLabel, and the Prometheus Operator then uses the Service's name).
const (
	// DemoNamespace is the namespace of the demo service and its load.
	DemoNamespace = namespaces.Apps
	// DemoApp is podinfo's release, its app.kubernetes.io/name label, its
	// Service and its scrape job: the chart names everything after a
	// release whose name contains the chart's (podinfo.fullname in its
	// templates/_helpers.tpl).
	DemoApp = config.ChartPodinfo
	// DemoAppLabel is the label podinfo's pods and Service carry, set to
	// DemoApp (podinfo.selectorLabels).
	DemoAppLabel = "app.kubernetes.io/name"
)

// RunbookFile is the runbook of every SLO alert, under docs/runbooks/.
const RunbookFile = "slo.md"

// SLO is one service level objective over events: the share of good events
// among all events over the SLO period (sloth's default, 30 days).
type SLO struct {
	// Service groups SLOs of one thing; it becomes sloth_service.
	Service string
	// Name names the SLO within its service; it becomes sloth_slo, and
	// Service-Name is sloth_id.
	Name string
	// Title is what the dashboard is called.
	Title string
	// Description says what is measured and where.
	Description string
	// Objective is the target share of good events, in percent.
	Objective float64
	// ErrorQuery and TotalQuery are the rate of bad events and of all
	// events; {{.window}} is where sloth puts each window's range.
	ErrorQuery string
	TotalQuery string
	// Alert is the name of the burn-rate alert. Sloth makes two with that
	// name: the page alert (label sloth_severity="page", severity
	// critical) for fast burns and the ticket alert (sloth_severity=
	// "ticket", severity warning) for slow ones.
	Alert string
	// Summary and Explanation become the alert's summary and description.
	Summary     string
	Explanation string
	// Guard, when set, fires when the SLO's events stop altogether.
	Guard *Guard
}

// Guard is an alert on an SLO's events disappearing.
type Guard struct {
	// Alert is the alert's name.
	Alert string
	// Series selects the SLO's total events (a counter). The alert fires
	// when their rate over Window is zero, or when no such series exists
	// (the targets are gone or not scraped), for For.
	Series string
	Window string
	For    string
	// Summary and Explanation become the alert's summary and description.
	Summary     string
	Explanation string
}

// ID is sloth's id of the SLO, the value of its sloth_id label.
func (s SLO) ID() string { return s.Service + "-" + s.Name }

// Runbook is the URL of the runbook section of the alert named alert.
func Runbook(alert string) string {
	return rules.RunbookBase + "/" + RunbookFile + "#" + strings.ToLower(alert)
}

// Severities of sloth's two alerts, mapped onto the lab's, which
// Alertmanager routes on.
const (
	PageSeverity   = rules.SeverityCritical
	TicketSeverity = rules.SeverityWarning
)

var (
	// sloth's spec validation wants names that fit a Prometheus label value
	// and an id; these keep to the lab's lowercase-hyphen style.
	namePattern  = regexp.MustCompile(`^[a-z][a-z0-9-]*[a-z0-9]$`)
	alertPattern = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
)

// check rejects an SLO that sloth or Prometheus would reject later, or that
// would render into an alert without its texts.
func (s SLO) check() error {
	switch {
	case !namePattern.MatchString(s.Service):
		return fmt.Errorf("service %q: want lowercase letters, digits and hyphens", s.Service)
	case !namePattern.MatchString(s.Name):
		return fmt.Errorf("name %q: want lowercase letters, digits and hyphens", s.Name)
	case s.Objective <= 0 || s.Objective >= 100:
		return fmt.Errorf("objective %v: want a percentage above 0 and below 100", s.Objective)
	case !strings.Contains(s.ErrorQuery, "{{.window}}") || !strings.Contains(s.TotalQuery, "{{.window}}"):
		return fmt.Errorf("queries must use {{.window}} for the range")
	case !alertPattern.MatchString(s.Alert):
		return fmt.Errorf("alert %q: want CamelCase", s.Alert)
	case strings.TrimSpace(s.Title) == "" || strings.TrimSpace(s.Summary) == "" || strings.TrimSpace(s.Explanation) == "":
		return fmt.Errorf("title, summary and explanation are required")
	}
	if g := s.Guard; g != nil {
		if !alertPattern.MatchString(g.Alert) || g.Series == "" || g.Window == "" || g.For == "" ||
			strings.TrimSpace(g.Summary) == "" || strings.TrimSpace(g.Explanation) == "" {
			return fmt.Errorf("guard %q: needs a CamelCase alert, series, window, for, summary and explanation", g.Alert)
		}
	}
	return nil
}

// check rejects a set of SLOs with a bad member or a name used twice.
func check(slos []SLO) error {
	ids, alerts := map[string]bool{}, map[string]bool{}
	for _, s := range slos {
		if err := s.check(); err != nil {
			return fmt.Errorf("slo %s: %w", s.ID(), err)
		}
		if ids[s.ID()] {
			return fmt.Errorf("slo %s: defined twice", s.ID())
		}
		ids[s.ID()] = true
		names := []string{s.Alert}
		if s.Guard != nil {
			names = append(names, s.Guard.Alert)
		}
		for _, a := range names {
			if alerts[a] {
				return fmt.Errorf("slo %s: alert %s is used twice", s.ID(), a)
			}
			alerts[a] = true
		}
	}
	return nil
}
