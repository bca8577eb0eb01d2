// Package infratest is the backend contract as a test: every backend's
// tests run Check on what one mocked run of the backend produced, so all
// of them answer for the same promises (node counts and names, an
// endpoint, every child under the component, each node a machine of its
// own, the admin ports closed to everyone but the admin CIDRs).
package infratest

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/stretchr/testify/assert"

	"github.com/your-org/sre-lab/infra"
)

// Node is one node of the platform with its outputs resolved.
type Node struct {
	Name      string
	Role      infra.Role
	PrivateIP string
	PublicIP  string
}

// Registration is one resource the backend registered, as the mocks saw it.
type Registration struct {
	Type, Name string
	// Parent is the parent's URN.
	Parent string
	// Dependencies are the URNs the resource waits for.
	Dependencies []string
}

// Rule is one firewall opening from outside the node network: a port
// range and the source range it admits.
type Rule struct {
	FromPort, ToPort int
	Source           string
}

// Run is what one mocked run of a backend produced.
type Run struct {
	// Environment and Local decide the node name pattern.
	Environment string
	Local       bool
	// ControlPlanes and Workers are the counts the backend was asked for.
	ControlPlanes, Workers int
	// Nodes and Endpoint are the platform with outputs resolved.
	Nodes    []Node
	Endpoint string
	// Machines are the URNs of the nodes' Machine resources, in node order.
	// Empty leaves the machines unchecked.
	Machines []string
	// ComponentURN is the backend component's URN.
	ComponentURN string
	// Registrations is everything the run registered.
	Registrations []Registration
	// Rules are the firewall openings from outside the node network; the
	// backend test extracts them from its own firewall resources.
	Rules []Rule
	// AdminCIDRs are the ranges the user allowed.
	AdminCIDRs []string
	// ProbeSources are the cloud's own load-balancer health-check ranges,
	// which must reach the API ports for the load balancer to work.
	ProbeSources []string
}

// T is the part of *testing.T that Check uses, so the contract itself can
// be tested against a recorder.
type T interface {
	Helper()
	Errorf(format string, args ...any)
}

// world are the sources that admit every address: the IPv4 and IPv6
// default routes, and Azure's "Internet" service tag and "*".
var world = []string{"0.0.0.0/0", "::/0", "Internet", "*"}

// WebPorts are the only ports anyone may reach: the ingress's 80 and 443
// where the load balancer passes traffic through unchanged (GCP), or the
// node ports it forwards them to. A range reaching past them would open
// whatever NodePort Service lands in between.
var WebPorts = []int{80, 443, infra.IngressHTTPNodePort, infra.IngressHTTPSNodePort}

// WorldOpen lists the rules of r that admit the whole internet: the
// figure a security review starts from.
func WorldOpen(r Run) []Rule {
	var out []Rule
	for _, rule := range r.Rules {
		if slices.Contains(world, rule.Source) {
			out = append(out, rule)
		}
	}
	return out
}

func checkWorld(t T, r Run) {
	t.Helper()
	for _, rule := range WorldOpen(r) {
		// A user who sets sre-lab:adminCidrs to the world (which config
		// refuses without allowWideAdminCidrs) has chosen it.
		if slices.Contains(r.AdminCIDRs, rule.Source) {
			continue
		}
		if rule.FromPort != rule.ToPort || !slices.Contains(WebPorts, rule.FromPort) {
			t.Errorf("ports %d-%d opened to %s: only the web node ports %v may be open to everyone",
				rule.FromPort, rule.ToPort, rule.Source, WebPorts)
		}
	}
}

// adminPorts may be reached only from the admin CIDRs.
var adminPorts = []int{infra.KubeAPIPort, infra.TalosAPIPort}

// Check asserts the backend contract on r.
func Check(t T, r Run) {
	t.Helper()
	checkNodes(t, r)
	assert.NotEmpty(t, r.Endpoint, "the platform has an endpoint")
	checkParents(t, r)
	checkMachines(t, r)
	checkAdminPorts(t, r)
	checkWorld(t, r)
	if l, ok := t.(interface{ Logf(string, ...any) }); ok {
		l.Logf("open to the whole internet: %v", WorldOpen(r))
	}
}

func checkNodes(t T, r Run) {
	t.Helper()
	pattern := regexp.MustCompile(fmt.Sprintf(`^%s-sre-(cp|worker)-([0-9]{2})$`, regexp.QuoteMeta(r.Environment)))
	if r.Local {
		pattern = regexp.MustCompile(`^talos-(cp|worker)-([0-9]{2})$`)
	}
	if !assert.Len(t, r.Nodes, r.ControlPlanes+r.Workers, "node count") {
		return
	}
	seen := map[string]bool{}
	for i, n := range r.Nodes {
		role, index := infra.ControlPlane, i+1
		if i >= r.ControlPlanes {
			role, index = infra.Worker, i+1-r.ControlPlanes
		}
		assert.Equal(t, role, n.Role, "node %d: control planes first, then workers", i)
		m := pattern.FindStringSubmatch(n.Name)
		if assert.NotNil(t, m, "node name %q matches %s", n.Name, pattern) {
			assert.Equal(t, role.Short(), m[1], "%s: the name carries the role", n.Name)
			assert.Equal(t, fmt.Sprintf("%02d", index), m[2], "%s: indexes count from 01 per role", n.Name)
		}
		assert.False(t, seen[n.Name], "node name %s is unique", n.Name)
		seen[n.Name] = true
		_, err := netip.ParseAddr(n.PrivateIP)
		assert.NoError(t, err, "%s has a private address", n.Name)
		if n.PublicIP != "" {
			_, err := netip.ParseAddr(n.PublicIP)
			assert.NoError(t, err, "%s public address", n.Name)
		}
	}
}

// urnOf is the URN Pulumi gives a registration: its type qualified by its
// parent's, in the parent's stack and project.
func urnOf(reg Registration) string {
	parent := resource.URN(reg.Parent)
	if !parent.IsValid() {
		return ""
	}
	qualifier := tokens.Type("")
	if parent.QualifiedType() != resource.RootStackType {
		qualifier = parent.QualifiedType()
	}
	return string(resource.NewURN(parent.Stack(), parent.Project(), qualifier, tokens.Type(reg.Type), reg.Name))
}

func checkParents(t T, r Run) {
	t.Helper()
	parentOf := map[string]string{}
	for _, reg := range r.Registrations {
		if u := urnOf(reg); u != "" {
			parentOf[u] = reg.Parent
		}
	}
	for _, reg := range r.Registrations {
		u := urnOf(reg)
		if u == r.ComponentURN {
			continue
		}
		// Walk up: every chain must reach the component.
		seen := map[string]bool{}
		for p := reg.Parent; p != r.ComponentURN; p = parentOf[p] {
			if p == "" || seen[p] {
				assert.Fail(t, "resource outside the component", "%s %s has parent chain that never reaches %s", reg.Type, reg.Name, r.ComponentURN)
				break
			}
			seen[p] = true
		}
	}
}

// checkMachines: each node is a machine of its own, registered by the
// backend, so checkParents has seen it reach the component.
func checkMachines(t T, r Run) {
	t.Helper()
	if len(r.Machines) == 0 {
		return
	}
	assert.Len(t, r.Machines, len(r.Nodes), "one machine per node")
	registered := map[string]bool{}
	for _, reg := range r.Registrations {
		registered[urnOf(reg)] = true
	}
	seen := map[string]bool{}
	for _, m := range r.Machines {
		assert.True(t, registered[m], "machine %s is registered by the backend", m)
		assert.False(t, seen[m], "machine %s is one node's only", m)
		seen[m] = true
	}
}

// checkAdminPorts: the Kubernetes and Talos APIs are open to the admin
// CIDRs, to the cloud's health checks and, for the load balancer's hairpin
// path, to the nodes' own public addresses; to nobody else, 0.0.0.0/0
// included unless the user wrote it.
func checkAdminPorts(t T, r Run) {
	t.Helper()
	allowed := append(slices.Clone(r.AdminCIDRs), r.ProbeSources...)
	for _, n := range r.Nodes {
		if n.PublicIP != "" {
			allowed = append(allowed, n.PublicIP+"/32")
		}
	}
	for _, rule := range r.Rules {
		for _, port := range adminPorts {
			if port < rule.FromPort || port > rule.ToPort {
				continue
			}
			assert.Contains(t, allowed, rule.Source,
				"port %d opened to %s, which is neither an admin CIDR nor a node", port, rule.Source)
		}
	}
	if r.Local {
		return
	}
	for _, cidr := range r.AdminCIDRs {
		for _, port := range adminPorts {
			open := slices.ContainsFunc(r.Rules, func(rule Rule) bool {
				return rule.Source == cidr && port >= rule.FromPort && port <= rule.ToPort
			})
			assert.True(t, open, "admin CIDR %s reaches port %d", cidr, port)
		}
	}
}
