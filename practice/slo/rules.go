package slo

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// slothRules is the rule file slothgen made from All's specs.
//
//go:embed sloth_rules.yaml
var slothRules []byte

// RuleFileName is the embedded file's name, for messages.
const RuleFileName = "practice/slo/sloth_rules.yaml"

// RegenerateCommand rewrites the embedded rule file from All.
const RegenerateCommand = "go test ./practice/slo -run TestRuleFileIsCurrent -update"

// guardGroup is the name of the group of Guard alerts.
const guardGroup = "sre-lab-slo-guards"

// Rule is one recording or alerting rule, as Prometheus's rule files and
// the PrometheusRule resource spell it.
type Rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Group is a set of rules Prometheus evaluates together.
type Group struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

type ruleFile struct {
	Groups []Group `yaml:"groups"`
}

// groups parses the embedded file once; the SLOs and the file are fixed at
// build time.
var groups = sync.OnceValues(func() ([]Group, error) { return build(All(), slothRules) })

// Groups returns every rule group of the lab's SLOs: sloth's recording,
// metadata and alert groups of each SLO, in the order of All, then the
// guard alerts. It fails when the embedded rule file was made from other
// specs than All's, so that stale rules never reach a cluster.
func Groups() ([]Group, error) { return groups() }

// build checks that file was generated from slos and adds their guards.
func build(slos []SLO, file []byte) ([]Group, error) {
	input, err := generatorInput(slos)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(input)
	first, _, _ := bytes.Cut(file, []byte("\n"))
	if got, want := string(first), "# Input sha256: "+hex.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("%s was not generated from the SLOs in practice/slo (its first line is %q, want %q): run %s",
			RuleFileName, got, want, RegenerateCommand)
	}
	var parsed ruleFile
	if err := yaml.Unmarshal(file, &parsed); err != nil {
		return nil, fmt.Errorf("%s: %w", RuleFileName, err)
	}
	if len(parsed.Groups) == 0 {
		return nil, fmt.Errorf("%s has no rule groups", RuleFileName)
	}
	var guards []Rule
	for _, s := range slos {
		if s.Guard != nil {
			guards = append(guards, guardRule(s))
		}
	}
	if len(guards) > 0 {
		parsed.Groups = append(parsed.Groups, Group{Name: guardGroup, Rules: guards})
	}
	return parsed.Groups, nil
}

// guardRule is s's guard as an alerting rule, labelled with the SLO's
// sloth labels so that it sits beside the SLO's own alerts.
func guardRule(s SLO) Rule {
	g := s.Guard
	return Rule{
		Alert: g.Alert,
		Expr:  fmt.Sprintf("sum(rate(%s[%s])) == 0\nor\nabsent(%s)", g.Series, g.Window, g.Series),
		For:   g.For,
		Labels: map[string]string{
			"severity":      PageSeverity,
			"sloth_id":      s.ID(),
			"sloth_service": s.Service,
			"sloth_slo":     s.Name,
		},
		Annotations: map[string]string{
			"summary":     g.Summary,
			"description": g.Explanation,
			"runbook_url": Runbook(g.Alert),
		},
	}
}

// RuleFile returns Groups as one Prometheus rule file in YAML, the format
// Prometheus's rule_files and `promtool check rules` read.
func RuleFile() (string, error) {
	gs, err := Groups()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(ruleFile{Groups: gs}); err != nil {
		return "", fmt.Errorf("encoding rule file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("encoding rule file: %w", err)
	}
	return b.String(), nil
}

// PrometheusRuleSpec returns Groups as the spec of a monitoring.coreos.com/v1
// PrometheusRule, {"groups": [{"name", "rules": [...]}]}, built only from
// strings, []any and map[string]any so that it passes unchanged into a
// Pulumi resource, as observability/rules.PrometheusRuleSpec does. The
// rules are embedded and covered by the package's tests, so a failure is a
// programming error and panics.
func PrometheusRuleSpec() map[string]any {
	gs, err := Groups()
	if err != nil {
		panic(err)
	}
	specGroups := make([]any, 0, len(gs))
	for _, g := range gs {
		specRules := make([]any, 0, len(g.Rules))
		for _, r := range g.Rules {
			rule := map[string]any{"expr": r.Expr}
			if r.Record != "" {
				rule["record"] = r.Record
			}
			if r.Alert != "" {
				rule["alert"] = r.Alert
			}
			if r.For != "" {
				rule["for"] = r.For
			}
			if len(r.Labels) > 0 {
				rule["labels"] = anyMap(r.Labels)
			}
			if len(r.Annotations) > 0 {
				rule["annotations"] = anyMap(r.Annotations)
			}
			specRules = append(specRules, rule)
		}
		specGroups = append(specGroups, map[string]any{"name": g.Name, "rules": specRules})
	}
	return map[string]any{"groups": specGroups}
}

func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
