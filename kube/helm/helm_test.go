package helm

import (
	"fmt"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

// Type tokens of what the tests look for.
const (
	tRelease   = "kubernetes:helm.sh/v3:Release"
	tNamespace = "kubernetes:core/v1:Namespace"
	tProvider  = "pulumi:providers:kubernetes"
)

// clone deep-copies values made of maps and lists, so tests can tell whether
// Merge touched its arguments.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return map[string]any(nil)
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = clone(e)
		}
		return out
	case []any:
		if v == nil {
			return []any(nil)
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = clone(e)
		}
		return out
	}
	return v
}

func TestMerge(t *testing.T) {
	for _, tc := range []struct {
		name       string
		base, over map[string]any
		want       map[string]any
	}{
		{
			name: "both nil",
			want: map[string]any{},
		},
		{
			name: "nil over keeps base",
			base: map[string]any{"a": 1, "m": map[string]any{"b": true}},
			want: map[string]any{"a": 1, "m": map[string]any{"b": true}},
		},
		{
			name: "nil base takes over",
			over: map[string]any{"a": 1, "m": map[string]any{"b": true}},
			want: map[string]any{"a": 1, "m": map[string]any{"b": true}},
		},
		{
			name: "empty maps",
			base: map[string]any{},
			over: map[string]any{},
			want: map[string]any{},
		},
		{
			name: "disjoint keys",
			base: map[string]any{"a": 1},
			over: map[string]any{"b": 2},
			want: map[string]any{"a": 1, "b": 2},
		},
		{
			name: "scalar replaces scalar",
			base: map[string]any{"a": 1, "keep": "x"},
			over: map[string]any{"a": 2},
			want: map[string]any{"a": 2, "keep": "x"},
		},
		{
			name: "nested maps merge key by key",
			base: map[string]any{"hubble": map[string]any{"enabled": true, "relay": map[string]any{"enabled": true, "replicas": 1}}},
			over: map[string]any{"hubble": map[string]any{"relay": map[string]any{"replicas": 3}, "ui": map[string]any{"enabled": true}}},
			want: map[string]any{"hubble": map[string]any{
				"enabled": true,
				"relay":   map[string]any{"enabled": true, "replicas": 3},
				"ui":      map[string]any{"enabled": true},
			}},
		},
		{
			name: "empty nested map changes nothing",
			base: map[string]any{"m": map[string]any{"a": 1}},
			over: map[string]any{"m": map[string]any{}},
			want: map[string]any{"m": map[string]any{"a": 1}},
		},
		{
			name: "list replaces list",
			base: map[string]any{"tolerations": []any{map[string]any{"key": "a"}, map[string]any{"key": "b"}}},
			over: map[string]any{"tolerations": []any{map[string]any{"key": "c"}}},
			want: map[string]any{"tolerations": []any{map[string]any{"key": "c"}}},
		},
		{
			name: "empty list replaces list",
			base: map[string]any{"l": []any{1, 2}},
			over: map[string]any{"l": []any{}},
			want: map[string]any{"l": []any{}},
		},
		{
			name: "scalar replaces map",
			base: map[string]any{"m": map[string]any{"a": 1}},
			over: map[string]any{"m": "off"},
			want: map[string]any{"m": "off"},
		},
		{
			name: "map replaces scalar",
			base: map[string]any{"m": "off"},
			over: map[string]any{"m": map[string]any{"a": 1}},
			want: map[string]any{"m": map[string]any{"a": 1}},
		},
		{
			name: "list replaces map",
			base: map[string]any{"m": map[string]any{"a": 1}},
			over: map[string]any{"m": []any{"a"}},
			want: map[string]any{"m": []any{"a"}},
		},
		{
			name: "null replaces, as Helm's null deletes a chart default",
			base: map[string]any{"m": map[string]any{"a": 1}, "s": "x"},
			over: map[string]any{"m": nil, "s": nil},
			want: map[string]any{"m": nil, "s": nil},
		},
		{
			name: "nested nil map merges as a map",
			base: map[string]any{"m": map[string]any{"a": 1}},
			over: map[string]any{"m": map[string]any(nil)},
			want: map[string]any{"m": map[string]any{"a": 1}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, _ := clone(tc.base).(map[string]any)
			over, _ := clone(tc.over).(map[string]any)

			got := Merge(tc.base, tc.over)
			assert.Equal(t, tc.want, got)
			assert.NotNil(t, got, "Merge always returns a map")

			assert.Equal(t, base, tc.base, "base is not modified")
			assert.Equal(t, over, tc.over, "over is not modified")
		})
	}
}

func TestMergeResultIsNewMap(t *testing.T) {
	base := map[string]any{"a": 1, "m": map[string]any{"b": 1}}
	over := map[string]any{"c": 3, "m": map[string]any{"d": 4}}

	got := Merge(base, over)
	got["a"] = "changed"
	got["c"] = "changed"
	got["new"] = true
	got["m"].(map[string]any)["b"] = "changed"

	assert.Equal(t, map[string]any{"a": 1, "m": map[string]any{"b": 1}}, base,
		"the result and the maps merged into it are new maps, not base")
	assert.Equal(t, map[string]any{"c": 3, "m": map[string]any{"d": 4}}, over,
		"the result and the maps merged into it are new maps, not over")
}

// outcome is what one mocked run left behind.
type outcome struct {
	mocks *pulumitest.Mocks
	// urns are the URNs of the namespaces the run made to depend on.
	urns []string
}

// run registers a Kubernetes provider, deps namespaces, and the release of
// args (with those namespaces as DependsOn) under mocks.
func run(t *testing.T, args ReleaseArgs, deps ...string) outcome {
	t.Helper()
	out := outcome{mocks: &pulumitest.Mocks{}}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		for _, name := range deps {
			ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name)},
			}, pulumi.Provider(p))
			if err != nil {
				return err
			}
			args.DependsOn = append(args.DependsOn, ns)
			urn, err := pulumitest.Await(ctx, ns.URN())
			if err != nil {
				return err
			}
			out.urns = append(out.urns, fmt.Sprint(urn.Value))
		}
		r, err := NewRelease(ctx, "rel", args, pulumi.Provider(p))
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("NewRelease returned no release")
		}
		return nil
	}, pulumi.WithMocks("sre-lab", "dev", out.mocks))
	require.NoError(t, err)
	return out
}

// release is the one release a run registered.
func release(t *testing.T, out outcome) pulumitest.Resource {
	t.Helper()
	releases := out.mocks.ByType(tRelease)
	require.Len(t, releases, 1)
	return releases[0]
}

// at reads a release input the test expects to be set.
func at(t *testing.T, r pulumitest.Resource, path string) any {
	t.Helper()
	v, ok := r.At(path)
	require.True(t, ok, "release input %s is missing", path)
	return v
}

func TestNewRelease(t *testing.T) {
	values := map[string]any{
		"replicas": 1,
		"image":    map[string]any{"repository": "example/app", "tag": "1.0"},
		"args":     []any{"--a", "--b"},
	}
	extra := map[string]any{
		"replicas": 2,
		"image":    map[string]any{"tag": "1.1"},
		"args":     []any{"--c"},
		"extra":    true,
	}
	// The values as the release receives them: Merge(values, extra), with
	// numbers as the engine carries them.
	wantValues := map[string]any{
		"replicas": float64(2),
		"image":    map[string]any{"repository": "example/app", "tag": "1.1"},
		"args":     []any{"--c"},
		"extra":    true,
	}

	for _, tc := range []struct {
		name   string
		chart  config.Chart
		values map[string]any
		extra  map[string]any
		// wantChart is the chart input; wantRepo the repositoryOpts.repo
		// input, empty when there must be no repositoryOpts.
		wantChart  string
		wantRepo   string
		wantValues map[string]any
	}{
		{
			name:       "https repository",
			chart:      config.Chart{Name: "cert-manager", Repo: "https://charts.jetstack.io", Version: "v1.21.1"},
			values:     values,
			extra:      extra,
			wantChart:  "cert-manager",
			wantRepo:   "https://charts.jetstack.io",
			wantValues: wantValues,
		},
		{
			name:       "https repository with trailing slash",
			chart:      config.DefaultCharts[config.ChartCilium],
			values:     values,
			wantChart:  "cilium",
			wantRepo:   "https://helm.cilium.io/",
			wantValues: map[string]any{"replicas": float64(1), "image": map[string]any{"repository": "example/app", "tag": "1.0"}, "args": []any{"--a", "--b"}},
		},
		{
			name:       "oci registry",
			chart:      config.DefaultCharts[config.ChartLocalPath],
			values:     values,
			extra:      extra,
			wantChart:  "oci://ghcr.io/rancher/local-path-provisioner/charts/local-path-provisioner",
			wantValues: wantValues,
		},
		{
			name:       "oci registry with trailing slash",
			chart:      config.Chart{Name: "app", Repo: "oci://registry.example.com/charts/", Version: "0.1.0"},
			extra:      extra,
			wantChart:  "oci://registry.example.com/charts/app",
			wantValues: map[string]any{"replicas": float64(2), "image": map[string]any{"tag": "1.1"}, "args": []any{"--c"}, "extra": true},
		},
		{
			name:       "no values",
			chart:      config.DefaultCharts[config.ChartPrometheusCRDs],
			wantChart:  "prometheus-operator-crds",
			wantRepo:   "https://prometheus-community.github.io/helm-charts",
			wantValues: map[string]any{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			valuesBefore, _ := clone(tc.values).(map[string]any)
			extraBefore, _ := clone(tc.extra).(map[string]any)
			out := run(t, ReleaseArgs{Chart: tc.chart, Namespace: "apps", Values: tc.values, Extra: tc.extra})
			r := release(t, out)

			assert.Equal(t, "rel", r.Name, "the resource keeps the caller's name")
			assert.Equal(t, tc.chart.Name, at(t, r, "name"), "the release is named after the chart")
			assert.Equal(t, tc.wantChart, at(t, r, "chart"))
			assert.Equal(t, tc.chart.Version, at(t, r, "version"))
			assert.Equal(t, "apps", at(t, r, "namespace"))
			if tc.wantRepo == "" {
				v, ok := r.At("repositoryOpts")
				assert.False(t, ok, "a registry chart is referenced whole, without repositoryOpts: %v", v)
			} else {
				assert.Equal(t, tc.wantRepo, at(t, r, "repositoryOpts.repo"))
			}
			assert.Equal(t, true, at(t, r, "atomic"), "a failed upgrade rolls back")
			assert.Equal(t, true, at(t, r, "cleanupOnFail"))
			assert.Equal(t, float64(5), at(t, r, "maxHistory"))
			assert.Equal(t, float64(600), at(t, r, "timeout"))
			assert.Equal(t, tc.wantValues, at(t, r, "values"))

			assert.Contains(t, r.Provider, tProvider+"::k8s::", "the release uses the provider it was given")
			assert.Empty(t, r.Dependencies, "no DependsOn, no dependencies")

			assert.Equal(t, valuesBefore, tc.values, "Values are not modified")
			assert.Equal(t, extraBefore, tc.extra, "Extra is not modified")
		})
	}
}

// TestNewReleaseName: a chart installed twice needs a second release name;
// the chart reference stays the chart's.
func TestNewReleaseName(t *testing.T) {
	chart := config.DefaultCharts[config.ChartAlloy]
	for _, tc := range []struct{ releaseName, want string }{
		{"", "alloy"},
		{"alloy-receiver", "alloy-receiver"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			r := release(t, run(t, ReleaseArgs{Chart: chart, ReleaseName: tc.releaseName, Namespace: "logging"}))
			assert.Equal(t, tc.want, at(t, r, "name"))
			assert.Equal(t, "alloy", at(t, r, "chart"))
			assert.Equal(t, chart.Version, at(t, r, "version"))
		})
	}
}

func TestNewReleaseDependsOn(t *testing.T) {
	chart := config.DefaultCharts[config.ChartCertManager]
	for _, tc := range []struct {
		name string
		deps []string
	}{
		{"none", nil},
		{"one", []string{"monitoring"}},
		{"two", []string{"monitoring", "cert-manager"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := run(t, ReleaseArgs{Chart: chart, Namespace: "cert-manager"}, tc.deps...)
			r := release(t, out)

			assert.ElementsMatch(t, out.urns, r.Dependencies, "the release depends on exactly DependsOn")
			for _, dep := range tc.deps {
				assert.True(t, r.DependsOn(tNamespace, dep), "release depends on namespace %s: %v", dep, r.Dependencies)
			}
			assert.False(t, r.DependsOn(tNamespace, "elsewhere"))
		})
	}
}

// TestReleaseMatchesSDK: NewRelease registers the provider's release type
// without the SDK's helm/v3 package, so it must send what that package
// sends for the same release: the type, every input key and value (a
// misspelt key would be ignored by the provider, not refused) and the
// provider version the SDK pins.
func TestReleaseMatchesSDK(t *testing.T) {
	cilium := config.DefaultCharts[config.ChartCilium]
	localPath := config.DefaultCharts[config.ChartLocalPath]
	values := map[string]any{"replicas": 2, "image": map[string]any{"tag": "1.1"}}
	for _, tc := range []struct {
		name string
		args ReleaseArgs
		sdk  *helmv3.ReleaseArgs
	}{
		{
			name: "chart from a repository",
			args: ReleaseArgs{Chart: cilium, Namespace: "kube-system", Values: values},
			sdk: &helmv3.ReleaseArgs{
				Name: pulumi.String("cilium"), Chart: pulumi.String("cilium"), Version: pulumi.String(cilium.Version),
				Namespace: pulumi.String("kube-system"), Values: pulumi.ToMap(values),
				RepositoryOpts: &helmv3.RepositoryOptsArgs{Repo: pulumi.String(cilium.Repo)},
				Atomic:         pulumi.Bool(true), CleanupOnFail: pulumi.Bool(true), MaxHistory: pulumi.Int(5), Timeout: pulumi.Int(600),
			},
		},
		{
			name: "chart from a registry, second release name, no wait",
			args: ReleaseArgs{Chart: localPath, ReleaseName: "second", Namespace: "storage", SkipAwait: true},
			sdk: &helmv3.ReleaseArgs{
				Name: pulumi.String("second"), Chart: pulumi.String(localPath.Repo + "/" + localPath.Name), Version: pulumi.String(localPath.Version),
				Namespace: pulumi.String("storage"), Values: pulumi.Map{},
				SkipAwait: pulumi.Bool(true), Atomic: pulumi.Bool(false), CleanupOnFail: pulumi.Bool(true), MaxHistory: pulumi.Int(5), Timeout: pulumi.Int(600),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mocks := &pulumitest.Mocks{}
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
				if err != nil {
					return err
				}
				if _, err := NewRelease(ctx, "ours", tc.args, pulumi.Provider(p)); err != nil {
					return err
				}
				_, err = helmv3.NewRelease(ctx, "sdk", tc.sdk, pulumi.Provider(p))
				return err
			}, pulumi.WithMocks("sre-lab", "dev", mocks))
			require.NoError(t, err)

			assert.Equal(t, ReleaseToken, tRelease)
			mocks.SameAs(t, tRelease, "ours", "sdk")
		})
	}
}

// TestReleaseOutputs: what the lab reads back from a release (its name, and
// the revision that re-runs Cilium's readiness wait after an upgrade) comes
// out of the provider's outputs as the SDK's typed release reads it.
func TestReleaseOutputs(t *testing.T) {
	mocks := &pulumitest.Mocks{Outputs: func(args pulumi.MockResourceArgs) map[string]any {
		if args.TypeToken != tRelease {
			return nil
		}
		return map[string]any{"status": map[string]any{"name": "cilium", "namespace": "kube-system", "revision": 3, "status": "deployed"}}
	}}
	var name, revision, sdkName, sdkRevision any
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		chart := config.DefaultCharts[config.ChartCilium]
		ours, err := NewRelease(ctx, "ours", ReleaseArgs{Chart: chart, Namespace: "kube-system"})
		if err != nil {
			return err
		}
		sdk, err := helmv3.NewRelease(ctx, "sdk", &helmv3.ReleaseArgs{Name: pulumi.String(chart.Name), Chart: pulumi.String(chart.Name)})
		if err != nil {
			return err
		}
		for _, read := range []struct {
			out  pulumi.Output
			into *any
		}{
			{ours.Name, &name},
			{ours.Revision(), &revision},
			{sdk.Name.Elem(), &sdkName},
			{sdk.Status.Revision().Elem(), &sdkRevision},
		} {
			if *read.into, err = pulumitest.AwaitKnown(ctx, read.out); err != nil {
				return err
			}
		}
		return nil
	}, pulumi.WithMocks("sre-lab", "dev", mocks))
	require.NoError(t, err)

	assert.Equal(t, "cilium", name)
	assert.Equal(t, sdkName, name)
	assert.EqualValues(t, 3, revision)
	assert.EqualValues(t, sdkRevision, revision, "the revision is the one the SDK reads")
}
