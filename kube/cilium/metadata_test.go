package cilium

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/internal/charts"
	"github.com/your-org/sre-lab/internal/render"
)

const tClusterPolicy = "kubernetes:cilium.io/v2:CiliumClusterwideNetworkPolicy"

// pod is an endpoint as a Cilium policy's endpointSelector sees it: its
// labels plus its namespace under Cilium's namespace label.
type pod struct {
	name      string
	namespace string
	labels    map[string]string
}

// want is whether the policy denies a pod the metadata service.
type want struct {
	pod    pod
	denied bool
}

func (p pod) identity() labels.Set {
	set := labels.Set{namespaceLabel: p.namespace}
	for k, v := range p.labels {
		set[k] = v
	}
	return set
}

// denied reports whether any rule of specs selects p and denies it the
// metadata address. Selectors are matched with Kubernetes's own label
// selector code: Cilium's endpointSelector is a metav1.LabelSelector with
// the same operators (cilium pkg/policy/api/selector.go).
func denied(t *testing.T, specs []map[string]any, p pod) bool {
	t.Helper()
	for _, rule := range specs {
		raw := rule["endpointSelector"].(map[string]any)
		var sel metav1.LabelSelector
		if exprs, ok := raw["matchExpressions"].([]any); ok {
			for _, e := range exprs {
				e := e.(map[string]any)
				req := metav1.LabelSelectorRequirement{Key: e["key"].(string), Operator: metav1.LabelSelectorOperator(e["operator"].(string))}
				for _, v := range asSlice(e["values"]) {
					req.Values = append(req.Values, v.(string))
				}
				sel.MatchExpressions = append(sel.MatchExpressions, req)
			}
		}
		s, err := metav1.LabelSelectorAsSelector(&sel)
		require.NoError(t, err)
		if s.Matches(p.identity()) {
			return true
		}
	}
	return false
}

// openPorts are the ports 1-65535 a deny rule leaves open, any protocol.
func openPorts(t *testing.T, rule map[string]any) []int {
	t.Helper()
	denied := make([]bool, 65536)
	for _, tp := range rule["toPorts"].([]any) {
		for _, p := range tp.(map[string]any)["ports"].([]any) {
			p := p.(map[string]any)
			assert.Equal(t, "ANY", p["protocol"])
			first, err := strconv.Atoi(p["port"].(string))
			require.NoError(t, err)
			last := first
			if end, ok := p["endPort"].(int); ok {
				last = end
			}
			for port := first; port <= last; port++ {
				denied[port] = true
			}
		}
	}
	var open []int
	for port := 1; port <= 65535; port++ {
		if !denied[port] {
			open = append(open, port)
		}
	}
	return open
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestMetadataPolicy: every pod behind the pod network loses the cloud's
// metadata service, except a pod labelled for it in an exempt namespace;
// each rule denies that address only and leaves the pods' other traffic
// as it was (no default deny, no allow rules).
func TestMetadataPolicy(t *testing.T) {
	loki := pod{"loki", "logging", map[string]string{CloudIdentityLabel: "true"}}
	for _, tc := range []struct {
		name  string
		guard MetadataGuard
		rules int
		pods  []want
	}{{
		name: "nothing exempt (AWS, Azure, Hetzner)", guard: MetadataGuard{}, rules: 1,
		pods: []want{
			{pod{"grafana", "monitoring", nil}, true},
			{loki, true},
		},
	}, {
		name: "Loki's namespace exempt (GCP)", guard: MetadataGuard{Exempt: []string{"logging"}}, rules: 2,
		pods: []want{
			{loki, false},
			{pod{"alloy", "logging", nil}, true},
			{pod{"podinfo", "apps", map[string]string{CloudIdentityLabel: "true"}}, true},
			{pod{"grafana", "monitoring", nil}, true},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			specs := MetadataPolicy(tc.guard)
			require.Len(t, specs, tc.rules)
			for _, rule := range specs {
				assert.Equal(t, map[string]any{"ingress": false, "egress": false}, rule["enableDefaultDeny"],
					"a selected pod must not fall into default deny")
				deny := rule["egressDeny"].([]any)
				require.Len(t, deny, 1)
				assert.Equal(t, []any{infra.MetadataAddress + "/32"}, deny[0].(map[string]any)["toCIDR"])
				assert.Equal(t, []int{53}, openPorts(t, deny[0].(map[string]any)),
					"every port is denied but DNS: on GCP the metadata address is the VPC's name server too")
				for _, allow := range []string{"egress", "ingress", "ingressDeny"} {
					assert.NotContains(t, rule, allow, "the policy denies the metadata service and nothing else")
				}
				assert.NotEmpty(t, rule["description"])
			}
			for _, w := range tc.pods {
				assert.Equal(t, w.denied, denied(t, specs, w.pod), "%s in %s with %v", w.pod.name, w.pod.namespace, w.pod.labels)
			}
		})
	}
}

// TestMetadataPolicyRegistered: clouds get the policy once the operator
// runs, which registers its kind, and before anything that waits on the
// CNI; a laptop gets none.
func TestMetadataPolicyRegistered(t *testing.T) {
	args := cloudArgs()
	args.MetadataGuard = &MetadataGuard{Exempt: []string{"logging"}}
	out := mustRun(t, args)
	policies := out.mocks.ByType(tClusterPolicy)
	require.Len(t, policies, 1)
	p := policies[0]
	assert.Equal(t, MetadataPolicyName, value(t, p, "metadata.name"))
	assert.Equal(t, len(MetadataPolicy(*args.MetadataGuard)), len(value(t, p, "specs").([]any)))
	assert.True(t, p.DependsOn(tCommand, component+"-ready"))
	assert.Equal(t, out.urn, p.Parent)
	assert.Len(t, out.cni.Ready, 2, "anything that needs the CNI waits for the policy too")

	assert.Empty(t, mustRun(t, localArgs()).mocks.ByType(tClusterPolicy), "no metadata service on a laptop")
	assert.Empty(t, mustRun(t, cloudArgs()).mocks.ByType(tClusterPolicy), "no guard asked for")
}

// TestMetadataPolicyMatchesCiliumCRD checks the policy against the schema
// of the CRD the pinned Cilium's operator registers, read from Cilium's Go
// module at the chart's release: the API server would take it. A field
// Cilium does not know and an operator it does not offer are refused, so
// the check can fail.
func TestMetadataPolicyMatchesCiliumCRD(t *testing.T) {
	r, err := render.ForLab()
	require.NoError(t, err)
	crds, err := r.RuntimeCRDs(config.DefaultCharts[config.ChartCilium])
	if err != nil {
		if os.Getenv(charts.EnvRequire) == "1" {
			t.Fatal(err)
		}
		t.Skipf("Cilium's CRDs could not be read (the module proxy is needed once): %v", err)
	}
	problems := func(specs []map[string]any) []string {
		list := make([]any, len(specs))
		for i, s := range specs {
			list[i] = s
		}
		policy, err := render.RawObject(map[string]any{
			"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
			"metadata": map[string]any{"name": MetadataPolicyName},
			"specs":    list,
		})
		require.NoError(t, err)
		c := &render.Cluster{
			Stack:             "cilium",
			KubernetesVersion: config.DefaultKubernetesVersion,
			Sources: []*render.Source{
				{ID: "cilium", Objects: crds},
				{ID: "policy", Before: map[string]bool{"cilium": true}, Objects: []render.Object{policy}},
			},
		}
		var out []string
		for _, p := range render.Check(c) {
			if p.Check == "schema" && p.Source == "policy" {
				out = append(out, p.String())
			}
		}
		return out
	}
	for _, g := range []MetadataGuard{{}, {Exempt: []string{"logging"}}} {
		assert.Empty(t, problems(MetadataPolicy(g)), "exempt %v", g.Exempt)
	}

	typo := MetadataPolicy(MetadataGuard{})
	typo[0]["egressDeny"] = []any{map[string]any{"toCIDRs": []any{infra.MetadataAddress + "/32"}}}
	got := problems(typo)
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "toCIDRs")

	operator := MetadataPolicy(MetadataGuard{Exempt: []string{"logging"}})
	operator[0]["endpointSelector"] = map[string]any{"matchExpressions": []any{map[string]any{"key": CloudIdentityLabel, "operator": "Absent"}}}
	got = problems(operator)
	require.NotEmpty(t, got)
	assert.Contains(t, strings.Join(got, "\n"), "operator")
}
