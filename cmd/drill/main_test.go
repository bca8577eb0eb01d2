package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/practice/drillrun"
	"github.com/your-org/sre-lab/practice/drillrun/drilltest"
	"github.com/your-org/sre-lab/practice/drills"
	"github.com/your-org/sre-lab/verify/verifytest"
)

// secrets are the stand-in lab's credentials, which no output may show.
var secrets = []string{verifytest.Token, verifytest.TalosKey, verifytest.GrafanaAdminPassword, "BEGIN CERTIFICATE"}

// interruptOnSleep is Ctrl-C while the drill waits for its alert: the
// first wait cancels the command's context.
type interruptOnSleep struct {
	*drilltest.Clock
	cancel context.CancelFunc
}

func (c interruptOnSleep) Sleep(ctx context.Context, d time.Duration) error {
	c.cancel()
	return c.Clock.Sleep(ctx, d)
}

// TestRun drives the command from its flags to its exit status against
// the stand-in lab and the recorded stack outputs.
func TestRun(t *testing.T) {
	podKill := func(lab *drilltest.Lab) {
		lab.Alert = map[string]string{"alertname": "DemoNotServing", "severity": "critical"}
		lab.FireAt = 3
	}
	tests := []struct {
		name string
		args []string
		lab  func(lab *drilltest.Lab)
		// interrupt cancels the context at the first wait for the alert.
		interrupt bool
		stack     func(r *verifytest.Runner)
		want      int
		out       []string
		// notOut must not be in the output.
		notOut []string
		// changes are what the drill did to the lab, in order.
		changes []string
	}{
		{
			name: "alert fires",
			args: []string{"-s", "local", "pod-kill"},
			lab:  podKill,
			want: 0,
			out: []string{
				"drill pod-kill: created PodChaos apps/sre-lab-drill-pod-kill\n",
				"drill pod-kill: watching for DemoNotServing for up to 9m0s; dashboard slo-podinfo-requests-availability, runbook https://github.com/your-org/sre-lab/blob/main/docs/runbooks/slo.md#demonotserving\n",
				"ended: delete PodChaos apps/sre-lab-drill-pod-kill\n",
				"PASS pod-kill: DemoNotServing fired 15s after the fault started (limit 9m0s)\n",
			},
			changes: []string{
				"POST " + drilltest.PathChaos + "podchaos",
				"POST " + drilltest.PathAnnotations,
				"DELETE " + drilltest.PathChaos + "podchaos/sre-lab-drill-pod-kill",
				"PATCH " + drilltest.PathAnnotations + "/42",
			},
		},
		{
			name: "alert never fires",
			args: []string{"-s", "local", "-timeout", "5s", "network-latency"},
			want: 1,
			out: []string{
				"ended: delete NetworkChaos apps/sre-lab-drill-network-latency\n",
				"FAIL network-latency: DemoNotServing did not fire within 10m0s\n",
			},
			changes: []string{
				"POST " + drilltest.PathChaos + "networkchaos",
				"POST " + drilltest.PathAnnotations,
				"DELETE " + drilltest.PathChaos + "networkchaos/sre-lab-drill-network-latency",
				"PATCH " + drilltest.PathAnnotations + "/42",
			},
		},
		{
			name:      "ctrl-c",
			args:      []string{"-s", "local", "node-drain"},
			interrupt: true,
			want:      1,
			out: []string{
				"ended: uncordon node talos-worker-01\n",
				"FAIL node-drain: interrupted after 0s, before HubbleRelayDown fired\n",
			},
			changes: []string{
				"PATCH /api/v1/nodes/talos-worker-01",
				"PATCH /api/v1/nodes/talos-worker-02",
				"POST /api/v1/namespaces/apps/pods/podinfo-7d9c5b8f6-abcde/eviction",
				"POST /api/v1/namespaces/apps/pods/podinfo-7d9c5b8f6-fghij/eviction",
				"POST /api/v1/namespaces/kube-system/pods/hubble-relay-6b7c9d8f5-q2w3e/eviction",
				"POST " + drilltest.PathAnnotations,
				"PATCH /api/v1/nodes/talos-worker-02",
				"PATCH /api/v1/nodes/talos-worker-01",
				"PATCH " + drilltest.PathAnnotations + "/42",
			},
		},
		{
			name: "error while starting",
			args: []string{"-s", "local", "node-drain"},
			lab: func(lab *drilltest.Lab) {
				lab.Override["PATCH /api/v1/nodes/talos-worker-02"] = verifytest.Status(http.StatusForbidden, "Forbidden",
					`nodes "talos-worker-02" is forbidden: User "dev" cannot patch resource "nodes"`)
			},
			want: 1,
			out: []string{
				"could not uncordon node talos-worker-02; undo it with: kubectl uncordon talos-worker-02\n",
				"ended: uncordon node talos-worker-01\n",
				`drill: starting drill node-drain: cordon node talos-worker-02: 403 Forbidden: nodes "talos-worker-02" is forbidden`,
				"ending drill node-drain: uncordon node talos-worker-02: 403 Forbidden",
			},
			// A drill that never started has no verdict.
			notOut: []string{"PASS", "FAIL"},
			changes: []string{
				"PATCH /api/v1/nodes/talos-worker-01",
				"PATCH /api/v1/nodes/talos-worker-02",
				// The node whose cordon failed is uncordoned too, in
				// case the request went through; that fails the same way.
				"PATCH /api/v1/nodes/talos-worker-02",
				"PATCH /api/v1/nodes/talos-worker-01",
			},
		},
		{
			name: "unknown drill",
			args: []string{"-s", "local", "pod-delete"},
			want: 2,
			out:  []string{`drill: unknown drill "pod-delete": known are pod-kill, network-loss`},
		},
		{
			name: "no drill named",
			args: []string{"-s", "local"},
			want: 2,
			out:  []string{"drill: name one drill after the flags, e.g. go run ./cmd/drill -s dev pod-kill; -list shows them all\n"},
		},
		{
			name: "no stack",
			args: []string{"pod-kill"},
			want: 2,
			out:  []string{"drill: -s <stack> is required, e.g. go run ./cmd/drill -s dev\n"},
		},
		{
			name: "list with a name",
			args: []string{"-list", "pod-kill"},
			want: 2,
			out:  []string{`drill: -list takes no drill name, got ["pod-kill"]`},
		},
		{
			name: "unknown flag",
			args: []string{"-s", "dev", "-v", "pod-kill"},
			want: 2,
			out:  []string{"flag provided but not defined: -v", "-list"},
		},
		{
			name: "help",
			args: []string{"-h"},
			want: 0,
			out:  []string{"Usage of drill:", "-s stack", "-list"},
		},
		{
			name:  "stack never deployed",
			args:  []string{"-s", "dev", "pod-kill"},
			stack: func(r *verifytest.Runner) { r.Stack = []byte(`{"environment": "dev"}`) },
			want:  1,
			out:   []string{"drill: outputs of stack dev: output kubeconfig is missing or empty"},
		},
		{
			name: "pulumi fails",
			args: []string{"-s", "dev", "pod-kill"},
			stack: func(r *verifytest.Runner) {
				r.Stack, r.StackErr = nil, errors.New("pulumi: exit status 255: error: no stack named 'dev' found")
			},
			want: 1,
			out:  []string{"drill: read outputs of stack dev: pulumi: exit status 255: error: no stack named 'dev' found\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lab := drilltest.NewLab(verifytest.GrafanaAdminPassword)
			if tc.lab != nil {
				tc.lab(lab)
			}
			server := lab.Start(t)
			runner := verifytest.NewRunner(server.Kubeconfig())
			if tc.stack != nil {
				tc.stack(runner)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var clock drillrun.Clock = drilltest.NewClock()
			if tc.interrupt {
				clock = interruptOnSleep{drilltest.NewClock(), cancel}
			}
			var out bytes.Buffer

			code := run(ctx, tc.args, runner.Run, &out, clock)
			t.Logf("output:\n%s", out.String())

			assert.Equal(t, tc.want, code, out.String())
			for _, want := range tc.out {
				assert.Contains(t, out.String(), want)
			}
			for _, unwanted := range tc.notOut {
				assert.NotContains(t, out.String(), unwanted)
			}
			assert.Equal(t, tc.changes, lab.Changes())
			for _, secret := range secrets {
				assert.NotContains(t, out.String(), secret)
			}
		})
	}
}

// TestList: -list works offline, without a stack, and shows every drill
// with what it expects.
func TestList(t *testing.T) {
	runner := &verifytest.Runner{}
	var out bytes.Buffer

	code := run(context.Background(), []string{"-list"}, runner.Run, &out, drilltest.NewClock())

	require.Equal(t, 0, code, out.String())
	assert.Empty(t, runner.Calls(), "listing runs no program")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, len(drills.All())+1)
	assert.Regexp(t, `^DRILL +EXPECTS +WITHIN +DASHBOARD +WHAT$`, lines[0])
	for i, d := range drills.All() {
		assert.Regexp(t, `^`+d.Name+` +`, lines[i+1])
		assert.Contains(t, lines[i+1], " "+d.Within.String()+" ")
		assert.Contains(t, lines[i+1], " "+d.Dashboard+" ")
	}
	assert.Contains(t, out.String(), `cpu-stress       DemoHighLatency{severity="critical"}  20m0s`)
}
