package pulumitest

import (
	"fmt"
	"testing"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Type tokens the tests register.
const (
	tBox   = "test:index:Box"
	tOther = "test:index:Other"
	tGroup = "test:index:Group"
)

// str, num and obj shorten property values.
func str(s string) resource.PropertyValue  { return resource.NewProperty(s) }
func num(f float64) resource.PropertyValue { return resource.NewProperty(f) }
func obj(m resource.PropertyMap) resource.PropertyValue {
	return resource.NewProperty(m)
}

// known wraps v in a known output, as the engine sends values that were
// outputs of other resources.
func known(v resource.PropertyValue) resource.PropertyValue {
	return resource.NewProperty(resource.Output{Element: v, Known: true})
}

// inputs exercises every kind of value At and Plain must walk through.
func inputs() resource.PropertyMap {
	return resource.PropertyMap{
		"name": str("top"),
		"metadata": obj(resource.PropertyMap{
			"labels": obj(resource.PropertyMap{"app": str("web")}),
			"count":  num(3),
		}),
		"list": resource.NewProperty([]resource.PropertyValue{
			str("a"),
			obj(resource.PropertyMap{"k": resource.MakeSecret(str("v"))}),
		}),
		"secretLeaf":   resource.MakeSecret(str("hunter2")),
		"secretObject": resource.MakeSecret(obj(resource.PropertyMap{"password": str("pw")})),
		// A secret inside a known output inside a secret: every layer is
		// peeled.
		"layered":  resource.MakeSecret(known(resource.MakeSecret(obj(resource.PropertyMap{"deep": resource.NewProperty(true)})))),
		"output":   known(obj(resource.PropertyMap{"port": num(8080)})),
		"unknown":  resource.MakeComputed(str("")),
		"nothing":  resource.NewNullProperty(),
		"disabled": resource.NewProperty(false),
	}
}

func TestAt(t *testing.T) {
	r := Resource{Inputs: inputs()}
	for _, tc := range []struct {
		path string
		want any
		ok   bool
	}{
		// Nested objects.
		{path: "name", want: "top", ok: true},
		{path: "metadata.labels.app", want: "web", ok: true},
		{path: "metadata.count", want: float64(3), ok: true},
		{path: "metadata.labels", want: map[string]any{"app": "web"}, ok: true},
		{path: "metadata", want: map[string]any{"labels": map[string]any{"app": "web"}, "count": float64(3)}, ok: true},
		{path: "disabled", want: false, ok: true},
		{path: "nothing", want: nil, ok: true},
		// Arrays come back whole, with their elements plain; a number
		// steps into one.
		{path: "list", want: []any{"a", map[string]any{"k": "v"}}, ok: true},
		{path: "list.0", want: "a", ok: true},
		{path: "list.1.k", want: "v", ok: true},
		{path: "list.2", ok: false},
		{path: "list.-1", ok: false},
		{path: "list.k", ok: false},
		{path: "metadata.0", ok: false},
		// Secrets and known outputs are unwrapped, at the leaf and on the way.
		{path: "secretLeaf", want: "hunter2", ok: true},
		{path: "secretObject.password", want: "pw", ok: true},
		{path: "secretObject", want: map[string]any{"password": "pw"}, ok: true},
		{path: "layered.deep", want: true, ok: true},
		{path: "output.port", want: float64(8080), ok: true},
		// Missing steps.
		{path: "missing", ok: false},
		{path: "metadata.missing", ok: false},
		{path: "metadata.labels.app.more", ok: false},
		{path: "name.more", ok: false},
		{path: "nothing.more", ok: false},
		{path: "unknown.more", ok: false},
		{path: "", ok: false},
		{path: "metadata.", ok: false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			got, ok := r.At(tc.path)
			require.Equal(t, tc.ok, ok, "found %v", got)
			if tc.ok {
				assert.Equal(t, tc.want, got)
			} else {
				assert.Nil(t, got, "a missing path yields no value")
			}
		})
	}
}

func TestAtOnValue(t *testing.T) {
	// The package-level At walks any value, including a secret at the root.
	root := resource.MakeSecret(obj(resource.PropertyMap{"a": obj(resource.PropertyMap{"b": str("c")})}))
	got, ok := At(root, "a.b")
	require.True(t, ok)
	assert.Equal(t, "c", got)

	_, ok = At(str("scalar"), "a")
	assert.False(t, ok, "a scalar has no keys")
}

func TestPlain(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   resource.PropertyValue
		want any
	}{
		{"string", str("s"), "s"},
		{"number", num(1.5), 1.5},
		{"bool", resource.NewProperty(true), true},
		{"null", resource.NewNullProperty(), nil},
		{"secret", resource.MakeSecret(str("s")), "s"},
		{"known output", known(num(2)), float64(2)},
		{"empty array", resource.NewProperty([]resource.PropertyValue{}), []any{}},
		{"empty object", obj(resource.PropertyMap{}), map[string]any{}},
		{
			"array of secrets and objects",
			resource.NewProperty([]resource.PropertyValue{resource.MakeSecret(num(1)), obj(resource.PropertyMap{"x": known(str("y"))})}),
			[]any{float64(1), map[string]any{"x": "y"}},
		},
		{
			"object of arrays",
			obj(resource.PropertyMap{"l": resource.NewProperty([]resource.PropertyValue{str("a"), resource.NewNullProperty()})}),
			map[string]any{"l": []any{"a", nil}},
		},
		{
			"the whole input map",
			obj(inputs()),
			map[string]any{
				"name":         "top",
				"metadata":     map[string]any{"labels": map[string]any{"app": "web"}, "count": float64(3)},
				"list":         []any{"a", map[string]any{"k": "v"}},
				"secretLeaf":   "hunter2",
				"secretObject": map[string]any{"password": "pw"},
				"layered":      map[string]any{"deep": true},
				"output":       map[string]any{"port": float64(8080)},
				"unknown":      resource.Computed{Element: str("")},
				"nothing":      nil,
				"disabled":     false,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Plain(tc.in))
		})
	}
}

func TestResourceDependsOn(t *testing.T) {
	const (
		topLevel = "urn:pulumi:dev::sre-lab::" + tBox + "::db"
		child    = "urn:pulumi:dev::sre-lab::sre-lab:kube:CRDs$kubernetes:helm.sh/v3:Release::crds-prometheus"
		nested   = "urn:pulumi:dev::sre-lab::a:b:C$d:e:F$" + tOther + "::deep"
	)
	r := Resource{Dependencies: []string{topLevel, child, nested}}
	for _, tc := range []struct {
		name        string
		token, dep  string
		deps        []string
		want        bool
		explanation string
	}{
		{"top-level", tBox, "db", nil, true, "a resource without a parent"},
		{"child", "kubernetes:helm.sh/v3:Release", "crds-prometheus", nil, true, "a resource under a component"},
		{"nested child", tOther, "deep", nil, true, "a resource two components down"},
		{"wrong name", tBox, "web", nil, false, "same type, other name"},
		{"name suffix", tBox, "b", nil, false, "db ends with b but is not b"},
		{"name prefix", "kubernetes:helm.sh/v3:Release", "crds", nil, false, "crds-prometheus starts with crds but is not it"},
		{"wrong type", tOther, "db", nil, false, "same name, other type"},
		{"parent type", "sre-lab:kube:CRDs", "crds-prometheus", nil, false, "the parent's type is not the resource's"},
		{"type suffix", "index:Box", "db", nil, false, "a partial token"},
		{"no dependencies", tBox, "db", []string{}, false, "nothing to match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := r
			if tc.deps != nil {
				res = Resource{Dependencies: tc.deps}
			}
			assert.Equal(t, tc.want, res.DependsOn(tc.token, tc.dep), tc.explanation)
		})
	}
}

// box is a custom resource the tests register; group is a component.
type (
	box   struct{ pulumi.CustomResourceState }
	group struct{ pulumi.ResourceState }
)

// program registers under mocks three boxes out of name order, a component
// holding a fourth, and dependencies between them: b is parented under c and
// depends on a, and a depends on the component.
func program(t *testing.T, m *Mocks) {
	t.Helper()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var a, b, c, inner box
		var g group
		if err := ctx.RegisterResource(tBox, "c", pulumi.Map{}, &c); err != nil {
			return err
		}
		if err := ctx.RegisterComponentResource(tGroup, "g", &g); err != nil {
			return err
		}
		if err := ctx.RegisterResource(tOther, "inner", pulumi.Map{}, &inner, pulumi.Parent(&g)); err != nil {
			return err
		}
		// The SDK adds a child to its component while registering it, in the
		// background; wait so that depending on g finds inner.
		if _, err := Await(ctx, inner.URN()); err != nil {
			return err
		}
		if err := ctx.RegisterResource(tBox, "a", pulumi.Map{}, &a, pulumi.DependsOn([]pulumi.Resource{&g})); err != nil {
			return err
		}
		return ctx.RegisterResource(tBox, "b", pulumi.Map{}, &b, pulumi.Parent(&c), pulumi.DependsOn([]pulumi.Resource{&a}))
	}, pulumi.WithMocks("sre-lab", "dev", m))
	require.NoError(t, err)
}

func TestMocksRecordDependencies(t *testing.T) {
	m := &Mocks{}
	program(t, m)
	for _, tc := range []struct {
		name       string
		token, dep string
		want       bool
	}{
		{"b", tBox, "a", true},
		{"b", tBox, "c", false}, // a parent is not a dependency
		{"b", tOther, "inner", false},
		// Depending on a component depends on what it holds.
		{"a", tOther, "inner", true},
		{"a", tGroup, "g", false},
		{"a", tBox, "b", false},
		{"c", tBox, "a", false},
	} {
		t.Run(fmt.Sprintf("%s on %s %s", tc.name, tc.token, tc.dep), func(t *testing.T) {
			r := m.Named(t, tBox, tc.name)
			assert.Equal(t, tc.want, r.DependsOn(tc.token, tc.dep), "dependencies: %v", r.Dependencies)
		})
	}
}

func TestByType(t *testing.T) {
	m := &Mocks{}
	program(t, m)
	for _, tc := range []struct {
		token string
		want  []string
	}{
		{tBox, []string{"a", "b", "c"}},
		{tOther, []string{"inner"}},
		{tGroup, []string{"g"}},
		{"test:index:Missing", nil},
	} {
		t.Run(tc.token, func(t *testing.T) {
			var names []string
			for _, r := range m.ByType(tc.token) {
				assert.Equal(t, tc.token, r.Type)
				names = append(names, r.Name)
			}
			assert.Equal(t, tc.want, names, "registrations of the type, sorted by name")
		})
	}
	assert.Len(t, m.Resources(), 5, "every registration is recorded once")
}

// fakeTB records a failure instead of ending the test.
type fakeTB struct {
	testing.TB
	failure string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) { f.failure = fmt.Sprintf(format, args...) }

func (f *fakeTB) Errorf(format string, args ...any) { f.failure += fmt.Sprintf(format, args...) }

func TestNamed(t *testing.T) {
	m := &Mocks{}
	program(t, m)

	t.Run("found", func(t *testing.T) {
		f := &fakeTB{TB: t}
		r := m.Named(f, tBox, "b")
		assert.Empty(t, f.failure)
		assert.Equal(t, tBox, r.Type)
		assert.Equal(t, "b", r.Name)
		assert.Equal(t, "urn:pulumi:dev::sre-lab::"+tBox+"::c", r.Parent, "the parent is recorded")

		top := m.Named(f, tBox, "c")
		assert.Empty(t, f.failure)
		assert.Equal(t, "c", top.Name)
		assert.NotEqual(t, r.Parent, top.Parent, "c is not its own parent")
	})
	for _, tc := range []struct{ name, token, resource string }{
		{"missing name", tBox, "z"},
		{"other type", tOther, "b"},
		{"component's type", tGroup, "inner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeTB{TB: t}
			r := m.Named(f, tc.token, tc.resource)
			assert.Contains(t, f.failure, fmt.Sprintf("no %s named %q was registered", tc.token, tc.resource))
			assert.Equal(t, Resource{}, r)
		})
	}
}

// TestInCluster: the component is built through the provider it is given,
// after the namespaces it depends on, and its URN comes back.
func TestInCluster(t *testing.T) {
	m, urn, err := InCluster("dev", []string{"monitoring"}, func(ctx *pulumi.Context, with pulumi.ResourceOption, deps []pulumi.Resource) (pulumi.Resource, error) {
		require.Len(t, deps, 1)
		return corev1.NewConfigMap(ctx, "cm", &corev1.ConfigMapArgs{}, with, pulumi.DependsOn(deps))
	})
	require.NoError(t, err)
	assert.Equal(t, "urn:pulumi:dev::sre-lab::kubernetes:core/v1:ConfigMap::cm", urn)
	cm := m.Named(t, "kubernetes:core/v1:ConfigMap", "cm")
	assert.Contains(t, cm.Provider, "pulumi:providers:kubernetes::k8s::")
	assert.True(t, cm.DependsOn("kubernetes:core/v1:Namespace", "monitoring"))

	_, _, err = InCluster("dev", nil, func(*pulumi.Context, pulumi.ResourceOption, []pulumi.Resource) (pulumi.Resource, error) {
		return nil, assert.AnError
	})
	assert.ErrorIs(t, err, assert.AnError)
}

// TestSameAs registers pairs of resources that differ in one way each and
// checks SameAs tells them apart, naming what differs.
func TestSameAs(t *testing.T) {
	m := &Mocks{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var g group
		if err := ctx.RegisterComponentResource(tGroup, "g", &g); err != nil {
			return err
		}
		for _, r := range []struct {
			name   string
			inputs pulumi.Map
			opts   []pulumi.ResourceOption
		}{
			{"want", pulumi.Map{"file": pulumi.String("a.yaml")}, []pulumi.ResourceOption{pulumi.Version("1.2.3")}},
			{"same", pulumi.Map{"file": pulumi.String("a.yaml")}, []pulumi.ResourceOption{pulumi.Version("1.2.3")}},
			{"other-input", pulumi.Map{"file": pulumi.String("b.yaml")}, []pulumi.ResourceOption{pulumi.Version("1.2.3")}},
			{"extra-input", pulumi.Map{"file": pulumi.String("a.yaml"), "compat": pulumi.String("true")}, []pulumi.ResourceOption{pulumi.Version("1.2.3")}},
			{"no-version", pulumi.Map{"file": pulumi.String("a.yaml")}, nil},
			{"parented", pulumi.Map{"file": pulumi.String("a.yaml")}, []pulumi.ResourceOption{pulumi.Version("1.2.3"), pulumi.Parent(&g)}},
		} {
			var b box
			if err := ctx.RegisterResource(tBox, r.name, r.inputs, &b, r.opts...); err != nil {
				return err
			}
		}
		return nil
	}, pulumi.WithMocks("sre-lab", "dev", m))
	require.NoError(t, err)

	for _, tc := range []struct{ got, want, failure string }{
		{"same", "want", ""},
		{"other-input", "want", "differ in inputs"},
		{"extra-input", "want", "differ in inputs"},
		{"no-version", "want", "differ in provider version"},
		{"parented", "want", "differ in parent"},
		{"want", "no-version", "asks for no provider version"},
	} {
		t.Run(tc.got+" as "+tc.want, func(t *testing.T) {
			f := &fakeTB{TB: t}
			m.SameAs(f, tBox, tc.got, tc.want)
			if tc.failure == "" {
				assert.Empty(t, f.failure)
			} else {
				assert.Contains(t, f.failure, tc.failure)
			}
		})
	}
}
