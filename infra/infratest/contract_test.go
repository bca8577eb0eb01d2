package infratest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/your-org/sre-lab/infra"
)

// recorder collects what Check reports instead of failing the test.
type recorder struct{ errors []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

const component = "urn:pulumi:dev::sre-lab::sre-lab:infra:TestNodes::lab"

// machine is the URN of a machine registered under the component.
func machine(name string) string {
	return "urn:pulumi:dev::sre-lab::sre-lab:infra:TestNodes$cloud:index:Machine::" + name
}

// good is a run that keeps every promise.
func good() Run {
	return Run{
		Environment: "dev", ControlPlanes: 1, Workers: 2,
		Nodes: []Node{
			{"dev-sre-cp-01", infra.ControlPlane, "10.0.0.10", "198.51.100.1"},
			{"dev-sre-worker-01", infra.Worker, "10.0.1.10", ""},
			{"dev-sre-worker-02", infra.Worker, "10.0.2.10", ""},
		},
		Endpoint:     "lb.example.com",
		ComponentURN: component,
		Registrations: []Registration{
			{Type: "sre-lab:infra:TestNodes", Name: "lab", Parent: "urn:pulumi:dev::sre-lab::pulumi:pulumi:Stack::sre-lab-dev"},
			{Type: "cloud:index:Network", Name: "net", Parent: component},
			{Type: "cloud:index:Subnet", Name: "sub", Parent: "urn:pulumi:dev::sre-lab::sre-lab:infra:TestNodes$cloud:index:Network::net"},
			{Type: "cloud:index:Machine", Name: "cp-01", Parent: component},
			{Type: "cloud:index:Machine", Name: "worker-01", Parent: component},
			{Type: "cloud:index:Machine", Name: "worker-02", Parent: component, Dependencies: []string{machine("worker-01")}},
		},
		Machines: []string{machine("cp-01"), machine("worker-01"), machine("worker-02")},
		Rules: []Rule{
			{6443, 6443, "203.0.113.7/32"}, {50000, 50000, "203.0.113.7/32"},
			{6443, 6443, "198.51.100.1/32"}, {30080, 30080, "0.0.0.0/0"}, {30443, 30443, "::/0"},
		},
		AdminCIDRs: []string{"203.0.113.7/32"},
	}
}

// TestCheck: a run that keeps the contract passes, and each broken promise
// is reported, so a backend cannot pass by accident.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Run)
		want   string
	}{
		{"kept", func(*Run) {}, ""},
		{"too few nodes", func(r *Run) { r.Workers = 3 }, "node count"},
		{"worker before control plane", func(r *Run) { r.Nodes[0], r.Nodes[1] = r.Nodes[1], r.Nodes[0] }, "control planes first"},
		{"bad name", func(r *Run) { r.Nodes[1].Name = "worker-1" }, "matches"},
		{"index gap", func(r *Run) { r.Nodes[2].Name = "dev-sre-worker-03" }, "indexes count from 01"},
		{"local names in a cloud", func(r *Run) { r.Nodes[0].Name = "talos-cp-01" }, "matches"},
		{"no private address", func(r *Run) { r.Nodes[0].PrivateIP = "" }, "private address"},
		{"no endpoint", func(r *Run) { r.Endpoint = "" }, "endpoint"},
		{"orphan resource", func(r *Run) {
			r.Registrations = append(r.Registrations, Registration{Type: "cloud:index:Disk", Name: "d", Parent: "urn:pulumi:dev::sre-lab::pulumi:pulumi:Stack::sre-lab-dev"})
		}, "never reaches"},
		{"api open to the world", func(r *Run) { r.Rules = append(r.Rules, Rule{6443, 6443, "0.0.0.0/0"}) }, "neither an admin CIDR nor a node"},
		{"talos api in a wide range", func(r *Run) { r.Rules = append(r.Rules, Rule{1, 65535, "192.0.2.0/24"}) }, "port 50000 opened to 192.0.2.0/24"},
		{"node port range open to the world", func(r *Run) { r.Rules = append(r.Rules, Rule{30080, 30443, "0.0.0.0/0"}) },
			"ports 30080-30443 opened to 0.0.0.0/0"},
		{"ssh open to the world", func(r *Run) { r.Rules = append(r.Rules, Rule{22, 22, "::/0"}) }, "ports 22-22 opened to ::/0"},
		{"azure's internet tag is the world", func(r *Run) { r.Rules = append(r.Rules, Rule{10250, 10250, "Internet"}) },
			"ports 10250-10250 opened to Internet"},
		{"the world as the admin's explicit choice", func(r *Run) {
			r.AdminCIDRs = append(r.AdminCIDRs, "0.0.0.0/0")
			r.Rules = append(r.Rules, Rule{6443, 6443, "0.0.0.0/0"}, Rule{50000, 50000, "0.0.0.0/0"})
		}, ""},
		{"web ports open to the world are fine", func(r *Run) { r.Rules = append(r.Rules, Rule{30443, 30443, "0.0.0.0/0"}) }, ""},
		{"admin CIDR not let in", func(r *Run) { r.Rules = r.Rules[1:] }, "reaches port 6443"},
		{"health checks allowed when declared", func(r *Run) {
			r.ProbeSources = []string{"35.191.0.0/16"}
			r.Rules = append(r.Rules, Rule{6443, 6443, "35.191.0.0/16"})
		}, ""},
		{"health check range undeclared", func(r *Run) { r.Rules = append(r.Rules, Rule{6443, 6443, "35.191.0.0/16"}) }, "neither an admin CIDR"},
		{"machine the backend never registered", func(r *Run) { r.Machines[1] = machine("elsewhere") }, "is registered by the backend"},
		{"two nodes on one machine", func(r *Run) { r.Machines[2] = r.Machines[1] }, "one node's only"},
		{"a node without machine", func(r *Run) { r.Machines = r.Machines[:2] }, "one machine per node"},
		{"machines unchecked when not given", func(r *Run) { r.Machines = nil }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := good()
			tc.change(&run)
			rec := &recorder{}
			Check(rec, run)
			if tc.want == "" {
				assert.Empty(t, rec.errors)
				return
			}
			assert.True(t, strings.Contains(strings.Join(rec.errors, "\n"), tc.want), "want %q in %v", tc.want, rec.errors)
		})
	}
	t.Run("local names and no rules", func(t *testing.T) {
		run := good()
		run.Local, run.Rules, run.AdminCIDRs = true, nil, nil
		for i, n := range []string{"talos-cp-01", "talos-worker-01", "talos-worker-02"} {
			run.Nodes[i].Name = n
		}
		rec := &recorder{}
		Check(rec, run)
		assert.Empty(t, rec.errors)
	})
}

// TestCheckRolling: the machines of each role form one chain, and a chain
// that is broken, crosses roles or is missing is reported.
func TestCheckRolling(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Run)
		want   string
	}{
		{"kept", func(*Run) {}, ""},
		{"all workers at once", func(r *Run) { r.Registrations[5].Dependencies = nil },
			"dev-sre-worker-02 depends on dev-sre-worker-01's machine: want true"},
		{"workers wait for the control plane", func(r *Run) { r.Registrations[4].Dependencies = []string{machine("cp-01")} },
			"dev-sre-worker-01 depends on dev-sre-cp-01's machine: want false"},
		{"a machine registered elsewhere", func(r *Run) { r.Machines[0] = machine("elsewhere") }, "is registered"},
		{"no machines", func(r *Run) { r.Machines = nil }, "one machine per node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := good()
			tc.change(&run)
			rec := &recorder{}
			CheckRolling(rec, run)
			if tc.want == "" {
				assert.Empty(t, rec.errors)
				return
			}
			assert.True(t, strings.Contains(strings.Join(rec.errors, "\n"), tc.want), "want %q in %v", tc.want, rec.errors)
		})
	}
}
