package main

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/your-org/sre-lab/e2e/e2etest"
	"github.com/your-org/sre-lab/verify/verifytest"
)

// TestRun drives the command against the recorded lab, from the flags to
// the exit status, and checks every output for the lab's secrets.
func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		breakLab func(lab *e2etest.Lab)
		setup    func(r *verifytest.Runner)
		want     int
		// out are lines, or parts of lines, the output must contain.
		out []string
		// calls is how many times pulumi must have been run.
		calls int
		// takes is the least time the run must take.
		takes time.Duration
	}{
		{
			name:  "healthy lab",
			args:  []string{"-s", "local"},
			want:  0,
			calls: 1,
			out: []string{
				"CHECK                  RESULT  DETAIL\n",
				"scrape targets up      PASS    48/48 targets up in 19 jobs\n",
				"talos logs             PASS    19807 lines in 15m0s from 5/5 nodes\n",
				"grafana dashboards     PASS    2 loaded: SRE Lab/Cluster overview, Cilium/Hubble\n",
				"alertmanager           PASS    Alertmanager 0.30.0 (cluster ready), 2 alerts, Watchdog active\n",
				"\nall 11 checks passed\n",
			},
		},
		{
			name: "data missing, waited for in vain",
			args: []string{"-s", "local", "-wait", "200ms", "-window", "15m"},
			breakLab: func(lab *e2etest.Lab) {
				lab.Loki[e2etest.QueryEvents] = verifytest.OK(e2etest.EmptyVector)
				lab.Alertmanager[e2etest.AlertmanagerAlerts] = verifytest.OK(e2etest.Fixture("alertmanager-alerts-no-watchdog.json"))
			},
			want:  1,
			calls: 1,
			// Failed assertions are retried until -wait has passed.
			takes: 150 * time.Millisecond,
			out: []string{
				"kubernetes events      FAIL    no data: sum(count_over_time({job=\"kubernetes-events\"}[15m])) returned nothing",
				"alertmanager           FAIL    no Watchdog alert among 1",
				"pod logs               PASS",
				"\n2 of 11 checks failed\n",
			},
		},
		{
			name: "a longer log window is a longer range",
			args: []string{"-s", "local", "-window", "1h"},
			want: 1,
			out:  []string{`pod logs               FAIL    query sum by (namespace) (count_over_time({pod=~".+", job!="kubernetes-events"}[60m])): 400 error: e2etest: no answer recorded`},
		},
		{
			name: "stack missing",
			args: []string{"-timeout", "10s"},
			want: 2,
			out:  []string{"e2e: -s <stack> is required, e.g. go run ./cmd/e2e -s dev\n"},
		},
		{
			name: "stray argument",
			args: []string{"-s", "dev", "prod"},
			want: 2,
			out:  []string{`e2e: unexpected arguments ["prod"]`},
		},
		{
			name: "zero timeout",
			args: []string{"-s", "dev", "-timeout", "0s"},
			want: 2,
			out:  []string{"e2e: -timeout 0s: must be positive, e.g. -timeout 30s"},
		},
		{
			name: "negative wait",
			args: []string{"-s", "dev", "-wait", "-1s"},
			want: 2,
			out:  []string{"e2e: -wait -1s: must be 0 (no retries) or more, e.g. -wait 5m"},
		},
		{
			name: "window too short",
			args: []string{"-s", "dev", "-window", "30s"},
			want: 2,
			out:  []string{"e2e: -window must be at least 1m"},
		},
		{
			name: "help",
			args: []string{"-h"},
			want: 0,
			out:  []string{"Usage of e2e:", "-s stack", "-wait duration", "-window duration"},
		},
		{
			name: "pulumi fails",
			args: []string{"-s", "dev"},
			setup: func(r *verifytest.Runner) {
				r.Stack, r.StackErr = nil, errors.New("pulumi: exit status 255: error: no stack named 'dev' found")
			},
			want:  1,
			calls: 1,
			out:   []string{"e2e: read outputs of stack dev: pulumi: exit status 255: error: no stack named 'dev' found\n"},
		},
		{
			name: "no grafana password",
			args: []string{"-s", "dev"},
			setup: func(r *verifytest.Runner) {
				r.Stack = bytes.Replace(r.Stack, []byte(`"grafanaAdminPassword": "`+verifytest.GrafanaAdminPassword+`"`), []byte(`"grafanaAdminPassword": ""`), 1)
			},
			want: 1,
			out:  []string{"e2e: outputs of stack dev: output grafanaAdminPassword is missing or empty"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lab := e2etest.Healthy()
			if tc.breakLab != nil {
				tc.breakLab(lab)
			}
			server := e2etest.NewServer(t, lab)
			runner := verifytest.NewRunner(server.Kubeconfig())
			if tc.setup != nil {
				tc.setup(runner)
			}
			var out bytes.Buffer

			start := time.Now()
			code := run(tc.args, runner.Run, &out, 20*time.Millisecond)

			assert.Equal(t, tc.want, code, out.String())
			for _, want := range tc.out {
				assert.Contains(t, out.String(), want)
			}
			for _, secret := range []string{verifytest.Token, verifytest.GrafanaAdminPassword, e2etest.Session, "BEGIN CERTIFICATE"} {
				assert.NotContains(t, out.String(), secret)
			}
			if tc.calls > 0 {
				assert.Len(t, runner.Calls(), tc.calls, "pulumi once, and no talosctl")
				assert.Equal(t, []string{"pulumi", "stack", "output", "--json", "--show-secrets", "-s", tc.args[1]}, runner.Calls()[0])
			}
			assert.GreaterOrEqual(t, time.Since(start), tc.takes)
		})
	}
}
