package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/footprint"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

// stackFootprint runs a stack under mocks and adds up the requests in the
// values of every release it registered, and of the Deployments it
// registered itself.
func stackFootprint(t testing.TB, stack string, cfg map[string]string) footprint.Report {
	t.Helper()
	m, _, err := run(t, stack, cfg)
	require.NoError(t, err)
	releases := map[string]map[string]any{}
	for _, r := range m.byType("kubernetes:helm.sh/v3:Release") {
		values, _ := pulumitest.Plain(r.Inputs["values"]).(map[string]any)
		releases[r.Inputs["name"].StringValue()] = values
	}
	var deployments []footprint.Deployment
	for _, r := range m.byType("kubernetes:apps/v1:Deployment") {
		ns, _ := r.At("metadata.namespace")
		name, _ := r.At("metadata.name")
		replicas, _ := r.At("spec.replicas")
		list, _ := r.At("spec.template.spec.containers")
		d := footprint.Deployment{Name: fmt.Sprint(ns, "/", name), Replicas: int(replicas.(float64))}
		for _, c := range list.([]any) {
			d.Containers = append(d.Containers, c.(map[string]any))
		}
		deployments = append(deployments, d)
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
	}, releases, deployments...)
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
	t.Run("the practice layer is counted where it is on", func(t *testing.T) {
		workloads := func(stack string, cfg map[string]string) []string {
			var out []string
			for _, l := range stackFootprint(t, stack, cfg).Lines {
				out = append(out, l.Release+"/"+l.Workload)
			}
			return out
		}
		local, prod := workloads("local", userConfig(t, "local")), workloads("prod", userConfig(t, "prod"))
		for _, w := range []string{"podinfo/podinfo", "chaos-mesh/chaos-daemon", "chaos-mesh/controller-manager", "chaos-mesh/dns-server", "apps/podinfo-load/deployment"} {
			assert.Contains(t, local, w)
			assert.NotContains(t, prod, w)
		}
	})
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
