package drillrun

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/practice/drillrun/drilltest"
	"github.com/your-org/sre-lab/practice/drills"
	"github.com/your-org/sre-lab/verify"
	"github.com/your-org/sre-lab/verify/verifytest"
)

const password = "drilltest-grafana-pw-Xk29"

// poll is the runner's interval in these tests; the clock makes it free.
const poll = 15 * time.Second

// setup serves lab and returns a runner against it with a fake clock, and
// the buffer its progress lines go to.
func setup(t *testing.T, lab *drilltest.Lab, clock Clock) (*Runner, *bytes.Buffer) {
	t.Helper()
	server := lab.Start(t)
	kube, err := verify.NewKubeClient([]byte(server.Kubeconfig()))
	require.NoError(t, err)
	var out bytes.Buffer
	if clock == nil {
		clock = drilltest.NewClock()
	}
	return &Runner{
		Kube: kube, GrafanaPassword: password, Out: &out, Clock: clock,
		Poll: poll, RequestTimeout: 10 * time.Second, CleanupTimeout: 10 * time.Second,
	}, &out
}

func mustDrill(t *testing.T, name string) drills.Drill {
	t.Helper()
	d, err := drills.Find(name)
	require.NoError(t, err)
	return d
}

// firingAt makes lab report d's alert, with d's labels, firing from the
// n-th look at Prometheus's alerts on.
func firingAt(lab *drilltest.Lab, d drills.Drill, n int) {
	labels := map[string]string{"alertname": d.Alert}
	for k, v := range d.Labels {
		labels[k] = v
	}
	lab.Alert, lab.FireAt = labels, n
}

// TestRunPasses: the fault is created, Grafana annotated, the alert seen
// at the third look (the first is the check before the drill), the fault
// deleted and the annotation closed with the verdict, in that order.
func TestRunPasses(t *testing.T) {
	d := mustDrill(t, "pod-kill")
	lab := drilltest.NewLab(password)
	firingAt(lab, d, 3)
	r, out := setup(t, lab, nil)

	res, err := r.Run(context.Background(), d)

	require.NoError(t, err)
	assert.Equal(t, Passed, res.Outcome)
	assert.Equal(t, poll, res.Elapsed, "seen at the second look of the watch, one poll in")
	assert.Equal(t, "PASS pod-kill: DemoNotServing fired 15s after the fault started (limit 9m0s)", res.Line())
	assert.Equal(t, []string{
		"POST " + drilltest.PathChaos + "podchaos",
		"POST " + drilltest.PathAnnotations,
		"DELETE " + drilltest.PathChaos + "podchaos/sre-lab-drill-pod-kill",
		"PATCH " + drilltest.PathAnnotations + "/42",
	}, lab.Changes())
	want, err := d.Objects[0].JSON(drills.Namespace)
	require.NoError(t, err)
	requests := lab.Requests()
	for _, req := range requests {
		switch req.String() {
		case "POST " + drilltest.PathChaos + "podchaos":
			assert.JSONEq(t, string(want), req.Body)
		case "POST " + drilltest.PathAnnotations:
			var a map[string]any
			require.NoError(t, json.Unmarshal([]byte(req.Body), &a))
			assert.Equal(t, "slo-podinfo-requests-availability", a["dashboardUID"])
			assert.Equal(t, float64(drilltest.NewClock().Now().UnixMilli()), a["time"])
			assert.Equal(t, []any{"sre-lab-drill", "pod-kill"}, a["tags"])
		case "PATCH " + drilltest.PathAnnotations + "/42":
			assert.JSONEq(t, `{"timeEnd":`+jsonInt(drilltest.NewClock().Now().Add(poll).UnixMilli())+`,"text":"`+res.Line()+`"}`, req.Body)
		}
	}
	assert.Contains(t, out.String(), "drill pod-kill: created PodChaos apps/sre-lab-drill-pod-kill\n")
	assert.Contains(t, out.String(), "ended: delete PodChaos apps/sre-lab-drill-pod-kill\n")
	assert.NotContains(t, out.String(), password)
}

func jsonInt(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRunAlertNeverFires: the watch looks until the limit itself, fails,
// and still ends the fault.
func TestRunAlertNeverFires(t *testing.T) {
	d := mustDrill(t, "cpu-stress")
	lab := drilltest.NewLab(password)
	r, _ := setup(t, lab, nil)

	res, err := r.Run(context.Background(), d)

	require.NoError(t, err)
	assert.Equal(t, Failed, res.Outcome)
	assert.Equal(t, d.Within, res.Elapsed)
	assert.Equal(t, `FAIL cpu-stress: DemoHighLatency{severity="critical"} did not fire within 20m0s`, res.Line())
	looks := 0
	for _, req := range lab.Requests() {
		if req.URI == drilltest.PathAlerts {
			looks++
		}
	}
	// One look before the drill, one at the start and one per poll up to
	// and at the limit.
	assert.Equal(t, 1+1+int(d.Within/poll), looks)
	assert.Contains(t, lab.Changes(), "DELETE "+drilltest.PathChaos+"stresschaos/sre-lab-drill-cpu-stress")
}

// TestRunWantsTheRightAlert: the ticket alert of the same name does not
// pass a drill that expects the page.
func TestRunWantsTheRightAlert(t *testing.T) {
	d := mustDrill(t, "cpu-stress")
	lab := drilltest.NewLab(password)
	lab.Alert = map[string]string{"alertname": "DemoHighLatency", "severity": "warning", "sloth_severity": "ticket"}
	lab.FireAt = 1
	r, _ := setup(t, lab, nil)

	res, err := r.Run(context.Background(), d)

	require.NoError(t, err)
	assert.Equal(t, Failed, res.Outcome)
}

// interruptingClock is Ctrl-C during the watch: its first Sleep cancels
// the run's context.
type interruptingClock struct {
	*drilltest.Clock
	cancel context.CancelFunc
}

func (c interruptingClock) Sleep(ctx context.Context, d time.Duration) error {
	c.cancel()
	return c.Clock.Sleep(ctx, d)
}

// TestRunInterrupted: an interrupt while watching ends the fault anyway,
// on a context of its own, deleting its objects in reverse order, and says
// so in the verdict.
func TestRunInterrupted(t *testing.T) {
	d := mustDrill(t, "dns-failure")
	lab := drilltest.NewLab(password)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, _ := setup(t, lab, interruptingClock{drilltest.NewClock(), cancel})

	res, err := r.Run(ctx, d)

	require.NoError(t, err)
	assert.Equal(t, Interrupted, res.Outcome)
	assert.Equal(t, "FAIL dns-failure: interrupted after 0s, before DemoNotServing fired", res.Line())
	assert.Equal(t, []string{
		"POST " + drilltest.PathChaos + "dnschaos",
		"POST " + drilltest.PathChaos + "podchaos",
		"POST " + drilltest.PathAnnotations,
		"DELETE " + drilltest.PathChaos + "podchaos/sre-lab-drill-dns-failure-reconnect",
		"DELETE " + drilltest.PathChaos + "dnschaos/sre-lab-drill-dns-failure",
		"PATCH " + drilltest.PathAnnotations + "/42",
	}, lab.Changes())
}

// TestRunInterruptedWhileStarting: an interrupt that cuts the creation
// short still deletes what may have been created.
func TestRunInterruptedWhileStarting(t *testing.T) {
	d := mustDrill(t, "memory-stress")
	lab := drilltest.NewLab(password)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lab.OnRequest = func(req drilltest.Request) {
		if req.Method == http.MethodPost && req.URI == drilltest.PathChaos+"stresschaos" {
			cancel()
		}
	}
	r, _ := setup(t, lab, nil)

	res, err := r.Run(ctx, d)

	if err == nil {
		assert.Equal(t, Interrupted, res.Outcome)
	}
	assert.Contains(t, lab.Changes(), "DELETE "+drilltest.PathChaos+"stresschaos/sre-lab-drill-memory-stress")
}

// TestRunDrain: the drain cordons the nodes pods can go to (not the
// tainted control plane, not the node cordoned before), evicts podinfo's
// pods and Hubble relay's, leaves running the pod a disruption budget
// protects, and uncordons exactly the nodes it cordoned.
func TestRunDrain(t *testing.T) {
	d := mustDrill(t, "node-drain")
	lab := drilltest.NewLab(password)
	firingAt(lab, d, 4)
	lab.Override["POST /api/v1/namespaces/apps/pods/podinfo-7d9c5b8f6-fghij/eviction"] = verifytest.Status(
		http.StatusTooManyRequests, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.")
	r, out := setup(t, lab, nil)

	res, err := r.Run(context.Background(), d)

	require.NoError(t, err)
	assert.Equal(t, Passed, res.Outcome)
	assert.Equal(t, 2*poll, res.Elapsed)
	evict := "POST /api/v1/namespaces/apps/pods/"
	assert.Equal(t, []string{
		"PATCH /api/v1/nodes/talos-worker-01",
		"PATCH /api/v1/nodes/talos-worker-02",
		evict + "podinfo-7d9c5b8f6-abcde/eviction",
		evict + "podinfo-7d9c5b8f6-fghij/eviction",
		"POST /api/v1/namespaces/kube-system/pods/hubble-relay-6b7c9d8f5-q2w3e/eviction",
		"POST " + drilltest.PathAnnotations,
		"PATCH /api/v1/nodes/talos-worker-02",
		"PATCH /api/v1/nodes/talos-worker-01",
		"PATCH " + drilltest.PathAnnotations + "/42",
	}, lab.Changes())
	var patches []string
	for _, req := range lab.Requests() {
		switch {
		case req.Method == http.MethodPatch && req.URI == "/api/v1/nodes/talos-worker-01":
			patches = append(patches, req.Body)
			assert.Equal(t, "application/merge-patch+json", req.Header.Get("Content-Type"))
		case req.Method == http.MethodPost && req.URI == evict+"podinfo-7d9c5b8f6-abcde/eviction":
			assert.JSONEq(t, `{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"podinfo-7d9c5b8f6-abcde","namespace":"apps"}}`, req.Body)
		}
	}
	assert.Equal(t, []string{`{"spec":{"unschedulable":true}}`, `{"spec":{"unschedulable":false}}`}, patches)
	assert.Contains(t, out.String(), "drill node-drain: evicted pod apps/podinfo-7d9c5b8f6-abcde\n")
	assert.Contains(t, out.String(), "drill node-drain: the disruption budget of pod apps/podinfo-7d9c5b8f6-fghij refused its eviction: 429 Too Many Requests: Cannot evict pod as it would violate the pod's disruption budget.\n")
	assert.Contains(t, out.String(), "drill node-drain: evicted pod kube-system/hubble-relay-6b7c9d8f5-q2w3e\n")
	assert.Contains(t, out.String(), "ended: uncordon node talos-worker-01\n")
}

// TestRunCleansUpOnError: an eviction the API server fails stops the
// drill with its reason, and every node it cordoned is uncordoned.
func TestRunCleansUpOnError(t *testing.T) {
	d := mustDrill(t, "node-drain")
	lab := drilltest.NewLab(password)
	lab.Override["POST /api/v1/namespaces/apps/pods/podinfo-7d9c5b8f6-fghij/eviction"] = verifytest.Status(
		http.StatusForbidden, "Forbidden", `pods "podinfo-7d9c5b8f6-fghij" is forbidden: User "dev" cannot create resource "pods/eviction"`)
	r, _ := setup(t, lab, nil)

	_, err := r.Run(context.Background(), d)

	require.Error(t, err)
	assert.Equal(t, `starting drill node-drain: evict pod apps/podinfo-7d9c5b8f6-fghij: 403 Forbidden: pods "podinfo-7d9c5b8f6-fghij" is forbidden: User "dev" cannot create resource "pods/eviction"`, err.Error())
	assert.Equal(t, []string{
		"PATCH /api/v1/nodes/talos-worker-01",
		"PATCH /api/v1/nodes/talos-worker-02",
		"POST /api/v1/namespaces/apps/pods/podinfo-7d9c5b8f6-abcde/eviction",
		"POST /api/v1/namespaces/apps/pods/podinfo-7d9c5b8f6-fghij/eviction",
		"PATCH /api/v1/nodes/talos-worker-02",
		"PATCH /api/v1/nodes/talos-worker-01",
	}, lab.Changes(), "no annotation for a drill that never started")
}

// TestRunCleanupFails: a fault that cannot be deleted is an error, and the
// output names the command that deletes it.
func TestRunCleanupFails(t *testing.T) {
	d := mustDrill(t, "pod-kill")
	lab := drilltest.NewLab(password)
	firingAt(lab, d, 2)
	lab.Override["DELETE "+drilltest.PathChaos+"podchaos/sre-lab-drill-pod-kill"] = verifytest.Status(
		http.StatusInternalServerError, "InternalError", "etcdserver: request timed out")
	r, out := setup(t, lab, nil)

	res, err := r.Run(context.Background(), d)

	assert.Equal(t, Passed, res.Outcome)
	require.Error(t, err)
	assert.Equal(t, "ending drill pod-kill: delete PodChaos apps/sre-lab-drill-pod-kill: 500 Internal Server Error: etcdserver: request timed out", err.Error())
	assert.Contains(t, out.String(), "could not delete PodChaos apps/sre-lab-drill-pod-kill; undo it with: kubectl -n apps delete podchaos.chaos-mesh.org sre-lab-drill-pod-kill\n")
}

// TestRunRefuses: a lab that cannot run the drill is left untouched, and
// the error says why.
func TestRunRefuses(t *testing.T) {
	tests := []struct {
		name    string
		drill   string
		setup   func(lab *drilltest.Lab, d drills.Drill)
		wantErr string
		changes []string
	}{
		{
			name:    "alert firing already",
			drill:   "cpu-stress",
			setup:   func(lab *drilltest.Lab, d drills.Drill) { firingAt(lab, d, 1) },
			wantErr: `DemoHighLatency{severity="critical"} is firing already, so the drill could not tell its own effect; wait until it resolves`,
		},
		{
			name:  "no demo",
			drill: "pod-kill",
			setup: func(lab *drilltest.Lab, _ drills.Drill) {
				lab.Override["GET "+drilltest.PathDemoPods] = verifytest.OK([]byte(`{"kind":"PodList","items":[]}`))
			},
			wantErr: "no pod with label app.kubernetes.io/name=podinfo in namespace apps: is the practice layer on (sre-lab:practice)?",
		},
		{
			name:  "prometheus down",
			drill: "pod-kill",
			setup: func(lab *drilltest.Lab, _ drills.Drill) {
				lab.Override["GET "+drilltest.PathAlerts] = verifytest.Status(http.StatusServiceUnavailable, "ServiceUnavailable",
					`no endpoints available for service "kube-prometheus-stack-prometheus"`)
			},
			wantErr: `before the drill: alerts from Prometheus: 503 Service Unavailable: no endpoints available for service "kube-prometheus-stack-prometheus"`,
		},
		{
			name:  "no chaos mesh",
			drill: "cpu-stress",
			setup: func(lab *drilltest.Lab, _ drills.Drill) {
				lab.Override["POST "+drilltest.PathChaos+"stresschaos"] = verifytest.Status(http.StatusNotFound, "NotFound", "the server could not find the requested resource")
			},
			wantErr: "starting drill cpu-stress: create StressChaos apps/sre-lab-drill-cpu-stress: 404 Not Found: the server could not find the requested resource (is Chaos Mesh installed? its CRDs serve chaos-mesh.org/v1alpha1)",
			// What the 404 may have left is deleted all the same.
			changes: []string{"POST " + drilltest.PathChaos + "stresschaos", "DELETE " + drilltest.PathChaos + "stresschaos/sre-lab-drill-cpu-stress"},
		},
		{
			name:  "leftover of an earlier run",
			drill: "cpu-stress",
			setup: func(lab *drilltest.Lab, _ drills.Drill) {
				lab.Override["POST "+drilltest.PathChaos+"stresschaos"] = verifytest.Status(http.StatusConflict, "AlreadyExists", `stresschaos.chaos-mesh.org "sre-lab-drill-cpu-stress" already exists`)
			},
			wantErr: `starting drill cpu-stress: create StressChaos apps/sre-lab-drill-cpu-stress: 409 Conflict: stresschaos.chaos-mesh.org "sre-lab-drill-cpu-stress" already exists (left by an earlier drill? kubectl -n apps delete stresschaos.chaos-mesh.org sre-lab-drill-cpu-stress)`,
			// Not this run's object: it stays.
			changes: []string{"POST " + drilltest.PathChaos + "stresschaos"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDrill(t, tc.drill)
			lab := drilltest.NewLab(password)
			tc.setup(lab, d)
			r, _ := setup(t, lab, nil)

			_, err := r.Run(context.Background(), d)

			require.Error(t, err)
			assert.Equal(t, tc.wantErr, err.Error())
			assert.Equal(t, tc.changes, lab.Changes())
		})
	}
}

// TestRunWithoutGrafana: annotations are a help, not a condition: a
// Grafana that refuses the login leaves a warning and the drill's verdict.
func TestRunWithoutGrafana(t *testing.T) {
	d := mustDrill(t, "pod-kill")
	lab := drilltest.NewLab("another password")
	firingAt(lab, d, 2)
	r, out := setup(t, lab, nil)

	res, err := r.Run(context.Background(), d)

	require.NoError(t, err)
	assert.Equal(t, Passed, res.Outcome)
	assert.Contains(t, out.String(), "warning: could not annotate Grafana: grafana login as admin: 401 Unauthorized")
	assert.NotContains(t, out.String(), password)
}

// TestRunReportsPrometheusErrors: when Prometheus stops answering during
// the watch, the failed verdict says so, since the alert may have fired
// unseen.
func TestRunReportsPrometheusErrors(t *testing.T) {
	d := mustDrill(t, "pod-kill")
	lab := drilltest.NewLab(password)
	lab.OnRequest = func(req drilltest.Request) {
		if req.Method == http.MethodPost && req.URI == drilltest.PathAnnotations {
			lab.Override["GET "+drilltest.PathAlerts] = verifytest.Response{Status: http.StatusBadGateway, Body: []byte("upstream connect error")}
		}
	}
	r, _ := setup(t, lab, nil)

	res, err := r.Run(context.Background(), d)

	require.NoError(t, err)
	assert.Equal(t, "FAIL pod-kill: DemoNotServing did not fire within 9m0s; last look at Prometheus failed: alerts from Prometheus: 502 Bad Gateway: upstream connect error", res.Line())
}
