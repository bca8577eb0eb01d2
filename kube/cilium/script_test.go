package cilium

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/internal/apitest"
)

// hostTools are the only programs on the wait script's PATH.
var hostTools = []string{"curl", "date", "grep", "head", "mktemp", "rm", "sed", "sleep", "tr"}

// The objects the stand-in serves carry the fields of k8s.io/api
// apps/v1/types.go with the same JSON tags and omitempty rules: a
// DaemonSet's four counts are always present, the rest of its status and
// every count of a Deployment's status are left out at zero. They are
// serialised metadata, spec, status, with managedFields as the API server
// adds them (keys such as "f:replicas"), pretty-printed, as kube-apiserver
// answers a curl user agent.
type (
	managedField struct {
		Manager  string         `json:"manager"`
		FieldsV1 map[string]any `json:"fieldsV1"`
	}
	objectMeta struct {
		Name          string         `json:"name"`
		Namespace     string         `json:"namespace"`
		Generation    int64          `json:"generation,omitempty"`
		ManagedFields []managedField `json:"managedFields,omitempty"`
	}
	daemonSetStatus struct {
		CurrentNumberScheduled int32 `json:"currentNumberScheduled"`
		NumberMisscheduled     int32 `json:"numberMisscheduled"`
		DesiredNumberScheduled int32 `json:"desiredNumberScheduled"`
		NumberReady            int32 `json:"numberReady"`
		ObservedGeneration     int64 `json:"observedGeneration,omitempty"`
		UpdatedNumberScheduled int32 `json:"updatedNumberScheduled,omitempty"`
		NumberAvailable        int32 `json:"numberAvailable,omitempty"`
		NumberUnavailable      int32 `json:"numberUnavailable,omitempty"`
	}
	daemonSet struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Metadata   objectMeta      `json:"metadata"`
		Spec       map[string]any  `json:"spec"`
		Status     daemonSetStatus `json:"status"`
	}
	deploymentStatus struct {
		ObservedGeneration int64 `json:"observedGeneration,omitempty"`
		Replicas           int32 `json:"replicas,omitempty"`
		UpdatedReplicas    int32 `json:"updatedReplicas,omitempty"`
		ReadyReplicas      int32 `json:"readyReplicas,omitempty"`
		AvailableReplicas  int32 `json:"availableReplicas,omitempty"`
	}
	deployment struct {
		APIVersion string           `json:"apiVersion"`
		Kind       string           `json:"kind"`
		Metadata   objectMeta       `json:"metadata"`
		Spec       map[string]any   `json:"spec"`
		Status     deploymentStatus `json:"status"`
	}
)

// cluster is what the API server knows while Cilium comes up; each field
// is a state the real objects pass through.
type cluster struct {
	mu         sync.Mutex
	agents     daemonSetStatus
	operator   deploymentStatus
	crdsServed bool
}

func (c *cluster) set(change func(*cluster)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	change(c)
}

// ServeHTTP answers as kube-apiserver does: 401 without the admin's client
// certificate, 404 for a resource whose CRD is not registered.
func (c *cluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		http.Error(w, `{"kind":"Status","code":401,"reason":"Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	managed := []managedField{{Manager: "helm", FieldsV1: map[string]any{"f:spec": map[string]any{"f:replicas": map[string]any{}}}}}
	var body any
	switch r.URL.Path {
	case "/apis/apps/v1/namespaces/kube-system/daemonsets/cilium":
		body = daemonSet{APIVersion: "apps/v1", Kind: "DaemonSet",
			Metadata: objectMeta{Name: "cilium", Namespace: Namespace, Generation: 1, ManagedFields: managed},
			Spec:     map[string]any{"revisionHistoryLimit": 10}, Status: c.agents}
	case "/apis/apps/v1/namespaces/kube-system/deployments/cilium-operator":
		body = deployment{APIVersion: "apps/v1", Kind: "Deployment",
			Metadata: objectMeta{Name: "cilium-operator", Namespace: Namespace, Generation: 1, ManagedFields: managed},
			Spec:     map[string]any{"replicas": 2, "revisionHistoryLimit": 10}, Status: c.operator}
	case "/apis/cilium.io/v2/ciliumloadbalancerippools":
		if !c.crdsServed {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		body = map[string]any{"apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPoolList", "items": []any{}}
	default:
		http.NotFound(w, r)
		return
	}
	out, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

func waitEnv(url string, a apitest.Authority, timeout string) map[string]string {
	return map[string]string{
		"SRE_API_URL":              url,
		"SRE_API_CA":               a.CA,
		"SRE_API_CERT":             a.ClientCertificate,
		"SRE_API_KEY":              a.ClientKey,
		"SRE_NAMESPACE":            Namespace,
		"SRE_API_TIMEOUT_SECONDS":  timeout,
		"SRE_API_INTERVAL_SECONDS": "0.05",
	}
}

// A fresh install on five nodes, step by step as the controllers report
// it; every step but the last must keep the script waiting.
func TestWaitFollowsTheRollout(t *testing.T) {
	steps := []struct {
		change func(*cluster)
		why    string
	}{
		{func(c *cluster) {}, "latest spec is not observed yet"},
		{func(c *cluster) { c.agents = daemonSetStatus{ObservedGeneration: 1} }, "schedules no pod yet"},
		{func(c *cluster) {
			c.agents = daemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 5, CurrentNumberScheduled: 5, UpdatedNumberScheduled: 5, NumberUnavailable: 5}
		}, "cilium agents: 0 of 5 available"},
		{func(c *cluster) { c.agents.NumberReady, c.agents.NumberAvailable, c.agents.NumberUnavailable = 3, 3, 2 }, "cilium agents: 3 of 5 available"},
		{func(c *cluster) { c.agents.NumberReady, c.agents.NumberAvailable, c.agents.NumberUnavailable = 5, 5, 0 }, "cilium-operator Deployment's latest spec"},
		{func(c *cluster) {
			c.operator = deploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1}
		}, "cilium-operator: 1 of 2 available"},
		{func(c *cluster) { c.operator.ReadyReplicas, c.operator.AvailableReplicas = 2, 2 }, "HTTP 404 listing CiliumLoadBalancerIPPools"},
		{func(c *cluster) { c.crdsServed = true }, ""},
	}
	a := apitest.NewAuthority(t)
	state := &cluster{}
	api := apitest.NewServer(t, a, state)
	api.Start(t)
	next := 0
	var seen []string
	r := apitest.Run(t, waitScript, hostTools, waitEnv(api.URL(), a, "60"), func(line string) {
		if !strings.Contains(line, "waiting:") {
			return
		}
		seen = append(seen, line)
		// Move on only once the script reported the current step.
		if next < len(steps)-1 && strings.Contains(line, steps[next].why) {
			next++
			state.set(steps[next].change)
		}
	})
	require.Equal(t, 0, r.Code)
	assert.Equal(t, "ready\n", r.Stdout)
	assert.Equal(t, len(steps)-1, next, "every step was reported before the next began: %v", seen)
}

func TestWaitGivesUp(t *testing.T) {
	a := apitest.NewAuthority(t)
	// other presents another cluster's admin certificate, which the API
	// server's TLS handshake refuses.
	other := func(a apitest.Authority) apitest.Authority {
		o := apitest.NewAuthority(t)
		o.CA = a.CA
		return o
	}
	for name, c := range map[string]struct {
		agents daemonSetStatus
		start  bool
		client apitest.Authority
		want   string
	}{
		"agents never available": {
			agents: daemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberAvailable: 1},
			start:  true, client: a, want: "cilium agents: 1 of 2 available",
		},
		"API server gone":         {client: a, want: "Failed to connect"},
		"another cluster's admin": {start: true, client: other(a), want: "curl: ("},
	} {
		t.Run(name, func(t *testing.T) {
			api := apitest.NewServer(t, a, &cluster{agents: c.agents})
			if c.start {
				api.Start(t)
			}
			r := apitest.Run(t, waitScript, hostTools, waitEnv(api.URL(), c.client, "1"), nil)
			require.NotEqual(t, 0, r.Code)
			assert.Empty(t, r.Stdout)
			assert.Contains(t, r.Stderr, "Cilium did not become ready within 1s")
			assert.Contains(t, r.Stderr, c.want)
			assert.Contains(t, r.Stderr, "kubectl -n kube-system logs ds/cilium", "the message says where to look")
		})
	}
}

// The admin key reaches curl as a file only the user can read, gone when
// the script ends.
func TestWaitLeavesNoKey(t *testing.T) {
	a := apitest.NewAuthority(t)
	state := &cluster{
		agents:     daemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 1, UpdatedNumberScheduled: 1, NumberAvailable: 1, NumberReady: 1},
		operator:   deploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2, ReadyReplicas: 2},
		crdsServed: true,
	}
	api := apitest.NewServer(t, a, state)
	api.Start(t)
	tmp := t.TempDir()
	env := waitEnv(api.URL(), a, "10")
	env["TMPDIR"] = tmp
	r := apitest.Run(t, waitScript, hostTools, env, nil)
	require.Equal(t, 0, r.Code)
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left)
	assert.NotContains(t, r.Stderr, "PRIVATE KEY")
}
