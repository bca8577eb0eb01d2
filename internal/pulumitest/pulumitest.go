// Package pulumitest runs Pulumi code under mocks and records what it
// registered, so tests can assert names, parents, providers, dependencies and
// inputs by path without a cloud or a cluster.
package pulumitest

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

// Resource is one registration as the mocks saw it.
type Resource struct {
	Type                string
	Name                string
	URN                 string
	Parent              string
	Provider            string
	Dependencies        []string
	Protect             bool
	DeleteBeforeReplace bool
	IgnoreChanges       []string
	// ReplaceWith are the URNs whose replacement replaces this resource.
	ReplaceWith []string
	// Version is the provider plugin version the registration asked for;
	// empty leaves the choice to the engine.
	Version string
	Inputs  resource.PropertyMap
}

// Outputs adds provider-computed outputs for a resource; it returns extra
// properties merged over the inputs.
type Outputs func(args pulumi.MockResourceArgs) map[string]any

// Invokes answers a function call; it returns extra properties merged over
// the call's arguments.
type Invokes func(args pulumi.MockCallArgs) map[string]any

// Mocks records registrations and answers them with their inputs plus what
// Outputs and Invokes add.
type Mocks struct {
	Outputs Outputs
	Invokes Invokes
	// IDs, when set, names a resource's ID; empty keeps name_id. Some
	// providers (Hetzner) take IDs as numbers.
	IDs func(args pulumi.MockResourceArgs) string

	mu        sync.Mutex
	resources []Resource
	calls     []Call
}

// Call is one function (data source) the program invoked, as the mocks saw
// it: what the program asked a provider to compute.
type Call struct {
	Token string
	Args  resource.PropertyMap
}

// NewResource implements pulumi.MockResourceMonitor.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := Resource{Type: args.TypeToken, Name: args.Name, Inputs: args.Inputs, Provider: args.Provider}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.Dependencies = rpc.GetDependencies()
		r.Protect = rpc.GetProtect()
		r.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
		r.IgnoreChanges = rpc.GetIgnoreChanges()
		r.ReplaceWith = rpc.GetReplaceWith()
		r.Version = rpc.GetVersion()
		if r.Provider == "" {
			r.Provider = rpc.GetProvider()
		}
	}
	out := args.Inputs.Copy()
	if m.Outputs != nil {
		for k, v := range m.Outputs(args) {
			out[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
		}
	}
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()
	if m.IDs != nil {
		if id := m.IDs(args); id != "" {
			return id, out, nil
		}
	}
	return args.Name + "_id", out, nil
}

// Call implements pulumi.MockResourceMonitor.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, Call{Token: args.Token, Args: args.Args.Copy()})
	m.mu.Unlock()
	out := args.Args.Copy()
	if m.Invokes != nil {
		for k, v := range m.Invokes(args) {
			out[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
		}
	}
	return out, nil
}

// Calls returns every function call, in call order.
func (m *Mocks) Calls() []Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Call(nil), m.calls...)
}

// Resources returns every registration, in registration order.
func (m *Mocks) Resources() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Resource(nil), m.resources...)
}

// ByType returns the registrations of one type token, sorted by name.
func (m *Mocks) ByType(token string) []Resource {
	var out []Resource
	for _, r := range m.Resources() {
		if r.Type == token {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Named returns the one registration of a type and name, failing the test
// when there is none.
func (m *Mocks) Named(t testing.TB, token, name string) Resource {
	t.Helper()
	for _, r := range m.Resources() {
		if r.Type == token && r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s named %q was registered", token, name)
	return Resource{}
}

// SameAs fails the test unless the registrations of type token named got
// and want reached the engine alike: the same inputs, provider, provider
// version and parent, and a version at all. Code that registers a
// provider's type itself, instead of through the provider's SDK, registers
// the same thing through both and compares them this way.
func (m *Mocks) SameAs(t testing.TB, token, got, want string) {
	t.Helper()
	g, w := m.Named(t, token, got), m.Named(t, token, want)
	if w.Version == "" {
		t.Errorf("%s %s asks for no provider version", token, want)
	}
	for _, field := range []struct {
		name      string
		got, want any
	}{
		{"inputs", g.Inputs, w.Inputs},
		{"provider", g.Provider, w.Provider},
		{"provider version", g.Version, w.Version},
		{"parent", g.Parent, w.Parent},
	} {
		if !reflect.DeepEqual(field.got, field.want) {
			t.Errorf("%s %s and %s differ in %s:\n got  %v\n want %v", token, got, want, field.name, field.got, field.want)
		}
	}
}

// DependsOn reports whether r lists a dependency on a resource of the given
// type and name, directly.
func (r Resource) DependsOn(token, name string) bool {
	for _, urn := range r.Dependencies {
		if strings.HasSuffix(urn, "$"+token+"::"+name) || strings.HasSuffix(urn, "::"+token+"::"+name) {
			return true
		}
	}
	return false
}

// At returns the input at a dotted path such as "hubble.relay.enabled",
// unwrapping secrets and known outputs; ok is false when any step is missing.
func (r Resource) At(path string) (any, bool) {
	return At(resource.NewPropertyValue(r.Inputs), path)
}

// At walks a property value along a dotted path; a number steps into a
// list ("containers.0.image").
func At(v resource.PropertyValue, path string) (any, bool) {
	for _, step := range strings.Split(path, ".") {
		v = unwrap(v)
		if i, err := strconv.Atoi(step); err == nil && v.IsArray() {
			if i < 0 || i >= len(v.ArrayValue()) {
				return nil, false
			}
			v = v.ArrayValue()[i]
			continue
		}
		if !v.IsObject() {
			return nil, false
		}
		next, ok := v.ObjectValue()[resource.PropertyKey(step)]
		if !ok {
			return nil, false
		}
		v = next
	}
	return Plain(v), true
}

func unwrap(v resource.PropertyValue) resource.PropertyValue {
	for {
		switch {
		case v.IsSecret():
			v = v.SecretValue().Element
		case v.IsOutput() && v.OutputValue().Known:
			v = v.OutputValue().Element
		default:
			return v
		}
	}
}

// Plain turns a property value into Go values (maps, slices, strings,
// float64, bool), with secrets and known outputs unwrapped.
func Plain(v resource.PropertyValue) any {
	v = unwrap(v)
	switch {
	case v.IsObject():
		m := map[string]any{}
		for k, e := range v.ObjectValue() {
			m[string(k)] = Plain(e)
		}
		return m
	case v.IsArray():
		a := []any{}
		for _, e := range v.ArrayValue() {
			a = append(a, Plain(e))
		}
		return a
	case v.IsNull():
		return nil
	}
	return v.V
}

// AwaitKnown resolves an output and fails when it is unknown, as an
// output the mocks never answer would be.
func AwaitKnown(ctx *pulumi.Context, o pulumi.Output) (any, error) {
	r, err := Await(ctx, o)
	if err != nil {
		return nil, err
	}
	if !r.Known {
		return nil, fmt.Errorf("output unknown")
	}
	return r.Value, nil
}

// AwaitString is AwaitKnown for an output that must be a string.
func AwaitString(ctx *pulumi.Context, o pulumi.Output) (string, error) {
	v, err := AwaitKnown(ctx, o)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("output is %T, not a string", v)
	}
	return s, nil
}

// Await resolves an output inside a mocked program.
func Await(ctx *pulumi.Context, o pulumi.Output) (internals.UnsafeAwaitOutputResult, error) {
	return internals.UnsafeAwaitOutput(ctx.Context(), o)
}
