// Command slothgen turns the lab's SLO specs into Prometheus rules with
// sloth's own library, so the multi-window multi-burn-rate rules come from
// the field's implementation rather than from arithmetic written here.
//
// It is a module of its own because sloth v0.16.0 calls
// promql/parser.ParseExpr, a package function github.com/prometheus/prometheus
// v0.316.0 (the lab module's version) no longer has; here sloth builds
// against the v0.310.0 it was released with. The lab module never imports
// this program: practice/slo feeds it the specs as JSON on stdin (a list of
// sloth "prometheus/v1" specs, one per service) and embeds the rule file it
// prints. The first line of that file is the SHA-256 of the input, which
// practice/slo's tests compare with the specs in the code to catch a rule
// file that was not regenerated.
//
//	go test ./practice/slo -run TestRuleFileIsCurrent -update
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/slok/sloth/pkg/common/model"
	"github.com/slok/sloth/pkg/lib"
	prometheusv1 "github.com/slok/sloth/pkg/prometheus/api/v1"
)

func main() {
	if err := generate(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "slothgen: %v\n", err)
		os.Exit(1)
	}
}

// generate reads the specs from in and writes one Prometheus rule file with
// every SLO's groups to out.
func generate(in io.Reader, out io.Writer) error {
	input, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(input))
	// A field sloth does not know would otherwise vanish without a word.
	dec.DisallowUnknownFields()
	var specs []prometheusv1.Spec
	if err := dec.Decode(&specs); err != nil {
		return fmt.Errorf("decode specs: %w", err)
	}
	if len(specs) == 0 {
		return errors.New("no specs on stdin")
	}

	ctx := context.Background()
	gen, err := lib.NewPrometheusSLOGenerator(lib.PrometheusSLOGeneratorConfig{})
	if err != nil {
		return err
	}
	// One result holding every service's SLOs makes sloth write a single
	// YAML document; Prometheus's rule loader only reads the first of
	// several.
	var all model.PromSLOGroupResult
	for _, spec := range specs {
		res, err := gen.GenerateFromSlothV1(ctx, spec)
		if err != nil {
			return fmt.Errorf("service %s: %w", spec.Service, err)
		}
		all.SLOResults = append(all.SLOResults, res.SLOResults...)
	}
	var rules bytes.Buffer
	if err := gen.WriteResultAsPrometheusStd(ctx, all, &rules); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(out, "# Input sha256: %x\n", sha256.Sum256(input)); err != nil {
		return err
	}
	_, err = out.Write(rules.Bytes())
	return err
}
