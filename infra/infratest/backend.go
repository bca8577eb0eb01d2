package infratest

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

// Mocks records registrations like pulumitest.Mocks, with the
// replaceOnChanges option of each and whether it is a custom resource, and
// the function calls it answers, so a backend test can tell what was looked
// up and through which provider.
type Mocks struct {
	*pulumitest.Mocks

	mu               sync.Mutex
	calls            []Call
	replaceOnChanges map[string][]string // by type and name
	custom           map[string]bool     // by type and name
}

// Call is one function call the mocks answered.
type Call struct {
	Token    string
	Args     map[string]any
	Provider string
}

// Record wraps m so that the calls it answers are kept.
func Record(m *pulumitest.Mocks) *Mocks {
	return &Mocks{Mocks: m, replaceOnChanges: map[string][]string{}, custom: map[string]bool{}}
}

// NewResource implements pulumi.MockResourceMonitor.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	key := args.TypeToken + "::" + args.Name
	m.mu.Lock()
	m.custom[key] = args.Custom
	if rpc := args.RegisterRPC; rpc != nil {
		m.replaceOnChanges[key] = rpc.GetReplaceOnChanges()
	}
	m.mu.Unlock()
	return m.Mocks.NewResource(args)
}

// Custom reports whether a resource was registered as a custom resource,
// one a provider manages, rather than as a component.
func (m *Mocks) Custom(r pulumitest.Resource) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.custom[r.Type+"::"+r.Name]
}

// ReplaceOnChanges is the replaceOnChanges option a resource was
// registered with.
func (m *Mocks) ReplaceOnChanges(r pulumitest.Resource) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.replaceOnChanges[r.Type+"::"+r.Name]
}

// Call implements pulumi.MockResourceMonitor.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, Call{Token: args.Token, Args: args.Args.Mappable(), Provider: args.Provider})
	m.mu.Unlock()
	return m.Mocks.Call(args)
}

// Calls returns every call answered, in order.
func (m *Mocks) Calls() []Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

// CountByType is how many resources of each type token were registered.
func (m *Mocks) CountByType() map[string]int {
	c := map[string]int{}
	for _, r := range m.Resources() {
		c[r.Type]++
	}
	return c
}

// Component is what a backend test builds: the backend component, the
// platform it returned, and further outputs the test reads, by name.
type Component struct {
	Resource pulumi.Resource
	Platform infra.Platform
	Outputs  map[string]pulumi.Output
}

// Outcome is one mocked run of a backend: what it registered and, with
// every output resolved, what it returned.
type Outcome struct {
	Mocks        *Mocks
	ComponentURN string
	Platform     infra.Platform
	Endpoint     string
	Ingress      string
	// LogBucket is the log bucket's name; empty when there is none.
	LogBucket string
	Nodes     []Node
	// Machines are the URNs of the nodes' Machine resources, in node order.
	Machines []string
	// Outputs are Component.Outputs, resolved and printed.
	Outputs map[string]string
	// Waits are the URNs each output depends on, by "endpoint", "ingress",
	// "<node>/private" and "<node>/public": whoever uses the output waits
	// for them.
	Waits map[string][]string
}

// RunBackend runs build under m in stack dev of project sre-lab, with the
// given stack configuration, and resolves what it returns. The outcome is
// returned with the error too, so a failed run can still be inspected.
func RunBackend(m *pulumitest.Mocks, config map[string]string, build func(*pulumi.Context) (Component, error)) (*Outcome, error) {
	o := &Outcome{Mocks: Record(m), Outputs: map[string]string{}, Waits: map[string][]string{}}
	withConfig := func(info *pulumi.RunInfo) { info.Config = config }
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		c, err := build(ctx)
		if err != nil {
			return err
		}
		return o.resolve(ctx, c)
	}, pulumi.WithMocks("sre-lab", "dev", o.Mocks), withConfig)
	return o, err
}

func (o *Outcome) resolve(ctx *pulumi.Context, c Component) error {
	var err error
	if o.ComponentURN, _, err = awaitString(ctx, c.Resource.URN()); err != nil {
		return fmt.Errorf("component urn: %w", err)
	}
	o.Platform = c.Platform
	if o.Endpoint, o.Waits["endpoint"], err = awaitString(ctx, c.Platform.Endpoint); err != nil {
		return fmt.Errorf("endpoint: %w", err)
	}
	if c.Platform.IngressEndpoint.OutputState == nil {
		return fmt.Errorf("ingress endpoint not set")
	}
	if o.Ingress, o.Waits["ingress"], err = awaitString(ctx, c.Platform.IngressEndpoint); err != nil {
		return fmt.Errorf("ingress endpoint: %w", err)
	}
	if b := c.Platform.LogBucket; b != nil {
		if o.LogBucket, _, err = awaitString(ctx, b.Name); err != nil {
			return fmt.Errorf("log bucket: %w", err)
		}
	}
	for _, n := range c.Platform.Nodes {
		out := Node{Name: n.Name, Role: n.Role}
		if out.PrivateIP, o.Waits[n.Name+"/private"], err = awaitString(ctx, n.PrivateIP); err != nil {
			return fmt.Errorf("%s private ip: %w", n.Name, err)
		}
		if out.PublicIP, o.Waits[n.Name+"/public"], err = awaitString(ctx, n.PublicIP); err != nil {
			return fmt.Errorf("%s public ip: %w", n.Name, err)
		}
		if n.Machine == nil {
			return fmt.Errorf("%s has no machine", n.Name)
		}
		machine, _, err := awaitString(ctx, n.Machine.URN())
		if err != nil {
			return fmt.Errorf("%s machine: %w", n.Name, err)
		}
		o.Nodes = append(o.Nodes, out)
		o.Machines = append(o.Machines, machine)
	}
	for name, out := range c.Outputs {
		if o.Outputs[name], _, err = awaitString(ctx, out); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// awaitString resolves an output to its printed value and the URNs of the
// resources it depends on; an unknown output is an error, as an output the
// mocks never answer would be.
func awaitString(ctx *pulumi.Context, out pulumi.Output) (string, []string, error) {
	r, err := pulumitest.Await(ctx, out)
	if err != nil {
		return "", nil, err
	}
	if !r.Known {
		return "", nil, fmt.Errorf("output unknown")
	}
	var deps []string
	for _, d := range r.Dependencies {
		u, err := pulumitest.AwaitKnown(ctx, d.URN())
		if err != nil {
			return "", nil, err
		}
		deps = append(deps, fmt.Sprint(u))
	}
	return fmt.Sprint(r.Value), deps, nil
}

// Contract is the run Check takes, filled with what the outcome knows; the
// backend test adds what only it knows: the environment, the counts asked
// for, the admin CIDRs, its firewall openings and its cloud's probes.
func (o *Outcome) Contract() Run {
	r := Run{Nodes: o.Nodes, Endpoint: o.Endpoint, ComponentURN: o.ComponentURN, Machines: o.Machines}
	for _, res := range o.Mocks.Resources() {
		r.Registrations = append(r.Registrations, Registration{
			Type: res.Type, Name: res.Name, Parent: res.Parent, Dependencies: res.Dependencies,
		})
	}
	return r
}

// URN is the URN Pulumi gives a registration; empty for one without a
// parent.
func URN(r pulumitest.Resource) string {
	return urnOf(Registration{Type: r.Type, Name: r.Name, Parent: r.Parent})
}

// Input reads one input of a registration; nil when it is not set.
func Input(r pulumitest.Resource, path string) any {
	v, _ := r.At(path)
	return v
}

// Strings reads an input list as strings.
func Strings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// Objects reads an input list of objects.
func Objects(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, e := range l {
		m, _ := e.(map[string]any)
		out = append(out, m)
	}
	return out
}

// Number reads a numeric input, which reaches the mocks as a float64.
func Number(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// Prefixes parses CIDRs that a test knows to be valid.
func Prefixes(cidrs []string) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range cidrs {
		out = append(out, netip.MustParsePrefix(c))
	}
	return out
}

// CheckRolling asserts that each node's machine depends on the machine of
// the node before it of the same role, and on no other machine. The
// provider then updates or replaces a role's machines one after another,
// never all at once, while control planes and workers, two chains, are
// still created side by side.
func CheckRolling(t T, r Run) {
	t.Helper()
	if !assert.Len(t, r.Machines, len(r.Nodes), "one machine per node") {
		return
	}
	deps := map[string][]string{}
	for _, reg := range r.Registrations {
		if u := urnOf(reg); u != "" {
			deps[u] = reg.Dependencies
		}
	}
	previous := map[infra.Role]string{}
	for i, n := range r.Nodes {
		machine := r.Machines[i]
		d, ok := deps[machine]
		if !assert.True(t, ok, "%s: its machine %s is registered", n.Name, machine) {
			continue
		}
		for j, other := range r.Machines {
			if j == i {
				continue
			}
			want := other == previous[n.Role]
			assert.Equal(t, want, slices.Contains(d, other),
				"%s depends on %s's machine: want %v", n.Name, r.Nodes[j].Name, want)
		}
		previous[n.Role] = machine
	}
}

// PortRange reads a firewall port as clouds write it: "6443" or
// "30000-32767".
func PortRange(t testing.TB, port string) (from, to int) {
	t.Helper()
	lo, hi, ok := strings.Cut(port, "-")
	if !ok {
		hi = lo
	}
	from, err := strconv.Atoi(lo)
	require.NoError(t, err, port)
	to, err = strconv.Atoi(hi)
	require.NoError(t, err, port)
	return from, to
}

// Topology is one shape of the two pools a backend test builds.
type Topology struct {
	Name                   string
	ControlPlanes, Workers int
}

// ReplacementTopologies are the shapes replacement is checked on: one node
// of each role, a highly available cluster, and control planes alone.
var ReplacementTopologies = []Topology{
	{"1cp-1w", 1, 1},
	{"3cp-3w", 3, 3},
	{"3cp-0w", 3, 0},
}

// CheckReplacement asserts what every backend with fixed machine names
// promises: one machine of type token per node, each deleted before its
// replacement is made (the cloud refuses a second machine of the name),
// and each role's machines rolling one at a time (CheckRolling). It
// returns the machines for the backend's own checks.
func CheckReplacement(t *testing.T, m *Mocks, token string, r Run) []pulumitest.Resource {
	t.Helper()
	machines := m.ByType(token)
	require.Len(t, machines, len(r.Nodes), "one %s per node", token)
	for _, machine := range machines {
		assert.True(t, machine.DeleteBeforeReplace, "%s: a second machine of its name is refused", machine.Name)
	}
	CheckRolling(t, r)
	return machines
}
