// Package helm installs pinned charts as Helm releases. Every chart in the
// lab goes through NewRelease, so each release is named after its chart,
// pinned to a repository and version, and gets its typed values with the
// user's raw values merged last.
package helm

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/utilities"
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

// ReleaseToken is the type of the Kubernetes provider's Helm release.
const ReleaseToken = "kubernetes:helm.sh/v3:Release"

// Release is a Helm release the Kubernetes provider installs.
//
// The lab registers the provider's release type itself instead of through
// the SDK's helm/v3 package: that package also holds the Chart resource,
// which imports every API group the SDK generates, and compiling those was
// half of a cold build (docs/architecture.md, "Build cost"). The provider,
// its version and the inputs on the wire are the SDK's;
// TestReleaseMatchesSDK registers both and compares them.
type Release struct {
	pulumi.CustomResourceState

	// Name is the release's name in the cluster.
	Name pulumi.StringOutput `pulumi:"name"`
	// Status is what the provider reports of the installed release.
	Status pulumi.MapOutput `pulumi:"status"`
}

// Revision is the release's revision, which grows with every install and
// upgrade: when it changes, the chart's objects have rolled.
func (r *Release) Revision() pulumi.Output {
	return r.Status.MapIndex(pulumi.String("revision"))
}

// NewRelease installs args.Chart with full Helm semantics (hooks, CRDs,
// waiting for readiness), named after the chart unless args.ReleaseName
// says otherwise.
func NewRelease(ctx *pulumi.Context, name string, args ReleaseArgs, opts ...pulumi.ResourceOption) (*Release, error) {
	releaseName := args.ReleaseName
	if releaseName == "" {
		releaseName = args.Chart.Name
	}
	inputs := pulumi.Map{
		"name":      pulumi.String(releaseName),
		"chart":     pulumi.String(args.Chart.Name),
		"version":   pulumi.String(args.Chart.Version),
		"namespace": pulumi.String(args.Namespace),
		"values":    pulumi.ToMap(Merge(args.Values, args.Extra)),
		// Upgrades that fail roll back instead of leaving a half-applied release.
		"atomic":        pulumi.Bool(true),
		"cleanupOnFail": pulumi.Bool(true),
		"maxHistory":    pulumi.Int(5),
		"timeout":       pulumi.Int(600),
		// The release schema declares compat as the constant "true"
		// (pulumi-kubernetes provider/pkg/gen/overlays.go), so every SDK
		// sends it.
		"compat": pulumi.String("true"),
	}
	if args.SkipAwait {
		inputs["skipAwait"] = pulumi.Bool(true)
		inputs["atomic"] = pulumi.Bool(false)
	}
	if strings.HasPrefix(args.Chart.Repo, "oci://") {
		// Registries hold charts by reference, not through an index.
		inputs["chart"] = pulumi.String(strings.TrimSuffix(args.Chart.Repo, "/") + "/" + args.Chart.Name)
	} else {
		inputs["repositoryOpts"] = pulumi.Map{"repo": pulumi.String(args.Chart.Repo)}
	}
	if len(args.DependsOn) > 0 {
		opts = append(opts, pulumi.DependsOn(args.DependsOn))
	}
	// The SDK's defaults pin the provider plugin to the SDK's own version,
	// as its generated resources do.
	var r Release
	if err := ctx.RegisterResource(ReleaseToken, name, inputs, &r, utilities.PkgResourceDefaultOpts(opts)...); err != nil {
		return nil, fmt.Errorf("helm release %s: %w", args.Chart.Name, err)
	}
	return &r, nil
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
