// Package helm installs pinned charts as Helm releases. Every chart in the
// lab goes through NewRelease, so each release is named after its chart,
// pinned to a repository and version, and gets its typed values with the
// user's raw values merged last.
package helm

import (
	"fmt"
	"strings"

	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
)

// Chart is a chart pinned to a repository and version; the pins live in
// config.DefaultCharts.
type Chart = config.Chart

// ReleaseArgs is one release of a chart.
type ReleaseArgs struct {
	Chart Chart
	// ReleaseName names the release when one chart is installed twice;
	// empty names it after the chart.
	ReleaseName string
	Namespace   string
	// Values are the component's typed values, already rendered to a map.
	Values map[string]any
	// Extra are the user's raw values; they win over Values key by key.
	Extra map[string]any
	// DependsOn is what must be ready before the release installs: the CNI
	// for anything with pods, the CRDs for anything rendering their kinds.
	// A component's own dependencies do not reach its children, so they are
	// passed here.
	DependsOn []pulumi.Resource
	// SkipAwait installs without Helm's wait, for a chart whose objects
	// only become ready through resources created after the release; the
	// component then waits for what matters itself. Without the wait an
	// atomic release could not roll back, so it is not atomic either.
	SkipAwait bool
}

// NewRelease installs args.Chart with full Helm semantics (hooks, CRDs,
// waiting for readiness), named after the chart unless args.ReleaseName
// says otherwise.
func NewRelease(ctx *pulumi.Context, name string, args ReleaseArgs, opts ...pulumi.ResourceOption) (*helmv3.Release, error) {
	releaseName := args.ReleaseName
	if releaseName == "" {
		releaseName = args.Chart.Name
	}
	release := &helmv3.ReleaseArgs{
		Name:      pulumi.String(releaseName),
		Chart:     pulumi.String(args.Chart.Name),
		Version:   pulumi.String(args.Chart.Version),
		Namespace: pulumi.String(args.Namespace),
		Values:    pulumi.ToMap(Merge(args.Values, args.Extra)),
		// Upgrades that fail roll back instead of leaving a half-applied release.
		Atomic:        pulumi.Bool(true),
		CleanupOnFail: pulumi.Bool(true),
		MaxHistory:    pulumi.Int(5),
		Timeout:       pulumi.Int(600),
	}
	if args.SkipAwait {
		release.SkipAwait = pulumi.Bool(true)
		release.Atomic = pulumi.Bool(false)
	}
	if strings.HasPrefix(args.Chart.Repo, "oci://") {
		// Registries hold charts by reference, not through an index.
		release.Chart = pulumi.String(strings.TrimSuffix(args.Chart.Repo, "/") + "/" + args.Chart.Name)
	} else {
		release.RepositoryOpts = &helmv3.RepositoryOptsArgs{Repo: pulumi.String(args.Chart.Repo)}
	}
	if len(args.DependsOn) > 0 {
		opts = append(opts, pulumi.DependsOn(args.DependsOn))
	}
	r, err := helmv3.NewRelease(ctx, name, release, opts...)
	if err != nil {
		return nil, fmt.Errorf("helm release %s: %w", args.Chart.Name, err)
	}
	return r, nil
}

// Merge returns base with over merged in: maps merge key by key, anything
// else in over replaces what base had. Neither argument is modified.
func Merge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if sub, ok := v.(map[string]any); ok {
			if prev, ok := out[k].(map[string]any); ok {
				out[k] = Merge(prev, sub)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// Resources is a container's requests with a memory limit. CPU is requested
// but not capped: a capped agent is throttled into dropped packets or missed
// scrapes, while memory without a limit can take a node down.
func Resources(cpu, memory, memoryLimit string) map[string]any {
	return map[string]any{
		"requests": map[string]any{"cpu": cpu, "memory": memory},
		"limits":   map[string]any{"memory": memoryLimit},
	}
}
