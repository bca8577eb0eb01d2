package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/footprint"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

// stackFootprint runs a stack under mocks and adds up the requests in the
// values of every release it registered.
func stackFootprint(t testing.TB, stack string, cfg map[string]string) footprint.Report {
	t.Helper()
	m, _, err := run(t, stack, cfg)
	require.NoError(t, err)
	releases := map[string]map[string]any{}
	for _, r := range m.byType("kubernetes:helm.sh/v3:Release") {
		values, _ := pulumitest.Plain(r.Inputs["values"]).(map[string]any)
		releases[r.Inputs["name"].StringValue()] = values
	}
	parsed, err := config.Parse(stack, func(key string) (string, bool) {
		v, ok := cfg[config.Namespace+":"+key]
		return v, ok
	})
	require.NoError(t, err)
	cp, err := config.ParseSize(parsed.Cloud, parsed.ControlPlane.Size)
	require.NoError(t, err)
	w, err := config.ParseSize(parsed.Cloud, parsed.Workers.Size)
	require.NoError(t, err)
	report, err := footprint.Build(stack, footprint.Nodes{
		ControlPlanes: parsed.ControlPlane.Count, Workers: parsed.Workers.Count,
		ControlPlane: cp, Worker: w,
	}, releases)
	require.NoError(t, err)
	return report
}

// TestFootprint prints, per stack, what the lab requests against what the
// nodes offer (`go test -run TestFootprint -v .`). Every release must be in
// the catalogue and every workload must declare requests and a memory
// limit; the local lab of five 2 vCPU / 4 GB machines keeps at least 40%
// of its CPU and memory free.
func TestFootprint(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			report := stackFootprint(t, stack, userConfig(t, stack))
			t.Log("\n" + report.String())
			cpu, mem := report.Headroom()
			assert.Positive(t, cpu, "CPU requests fit")
			assert.Positive(t, mem, "memory requests fit")
			if stack == "local" {
				assert.GreaterOrEqual(t, cpu, 0.40, "local CPU headroom")
				assert.GreaterOrEqual(t, mem, 0.40, "local memory headroom")
			}
		})
	}
	t.Run("promtail and external-secrets are covered too", func(t *testing.T) {
		cfg := userConfig(t, "staging")
		cfg["sre-lab:logCollector"] = "promtail"
		cfg["sre-lab:secrets"] = "external-secrets"
		report := stackFootprint(t, "staging", cfg)
		var releases []string
		for _, l := range report.Lines {
			releases = append(releases, l.Release)
		}
		assert.Contains(t, releases, "promtail")
		assert.Contains(t, releases, "external-secrets")
		assert.NotContains(t, releases, "alloy")
	})
}

// BenchmarkFootprint reports each stack's headroom as benchmark metrics,
// for `go test -bench Footprint -run '^$' .`.
func BenchmarkFootprint(b *testing.B) {
	for _, stack := range stacks {
		b.Run(stack, func(b *testing.B) {
			cfg := userConfig(b, stack)
			var report footprint.Report
			for b.Loop() {
				report = stackFootprint(b, stack, cfg)
			}
			cpu, mem := report.Headroom()
			b.ReportMetric(cpu*100, "cpu-headroom-%")
			b.ReportMetric(mem*100, "mem-headroom-%")
			b.ReportMetric(float64(report.Lab.Add(report.Kubernetes).MilliCPU), "requested-mCPU")
			b.ReportMetric(float64(report.Lab.Add(report.Kubernetes).Memory>>20), "requested-MiB")
		})
	}
}
