package slo

import (
	"encoding/json"
	"fmt"

	prometheusv1 "github.com/slok/sloth/pkg/prometheus/api/v1"
)

// slothSpecs turns slos into sloth's "prometheus/v1" specs, one per
// service in order of first appearance, as sloth wants one service per
// spec (pkg/prometheus/api/v1/v1.go).
func slothSpecs(slos []SLO) []prometheusv1.Spec {
	var specs []prometheusv1.Spec
	index := map[string]int{}
	for _, s := range slos {
		i, ok := index[s.Service]
		if !ok {
			i = len(specs)
			index[s.Service] = i
			specs = append(specs, prometheusv1.Spec{Version: prometheusv1.Version, Service: s.Service})
		}
		specs[i].SLOs = append(specs[i].SLOs, prometheusv1.SLO{
			Name:        s.Name,
			Description: s.Description,
			Objective:   s.Objective,
			SLI: prometheusv1.SLI{Events: &prometheusv1.SLIEvents{
				ErrorQuery: s.ErrorQuery,
				TotalQuery: s.TotalQuery,
			}},
			Alerting: prometheusv1.Alerting{
				Name: s.Alert,
				// Sloth adds a title and a summary of its own; these
				// replace its summary and add what the lab's alerts
				// carry (observability/rules).
				Annotations: map[string]string{
					"summary":     s.Summary,
					"description": s.Explanation,
					"runbook_url": Runbook(s.Alert),
				},
				PageAlert:   prometheusv1.Alert{Labels: map[string]string{"severity": PageSeverity}},
				TicketAlert: prometheusv1.Alert{Labels: map[string]string{"severity": TicketSeverity}},
			},
		})
	}
	return specs
}

// generatorInput is what slothgen reads on stdin for slos. Its bytes are
// what the rule file's digest covers, so they must not depend on anything
// but the SLOs: encoding/json writes struct fields in order and map keys
// sorted.
func generatorInput(slos []SLO) ([]byte, error) {
	if err := check(slos); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(slothSpecs(slos), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode sloth specs: %w", err)
	}
	return b, nil
}
