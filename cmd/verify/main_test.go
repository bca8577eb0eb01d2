package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/verify/verifytest"
)

// TestRun drives the command against the recorded lab, from the flags to
// the exit status, and checks every output for the lab's secrets.
func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		api   map[string]verifytest.Response
		setup func(r *verifytest.Runner)
		want  int
		// out are lines, or parts of lines, the output must contain.
		out []string
	}{
		{
			name: "healthy lab",
			args: []string{"-s", "local"},
			want: 0,
			out: []string{
				"CHECK               RESULT  DETAIL\n",
				"talos services      PASS    5 nodes, 51 services running, none unhealthy\n",
				"nodes ready         PASS    5/5 nodes Ready\n",
				"cilium              PASS    agent 5/5 ready, operator 2/2 available\n",
				"prometheus targets  PASS    39/39 active targets up\n",
				"loki ready          PASS    ready\n",
				"grafana health      PASS    database ok, Grafana 12.3.1\n",
				"\nall 6 checks passed\n",
			},
		},
		{
			name: "broken lab",
			args: []string{"-s", "local", "-timeout", "20s"},
			api: map[string]verifytest.Response{
				verifytest.PathNodes:         verifytest.OK(verifytest.Fixture("nodes-notready.json")),
				verifytest.PathLokiReady:     {Status: http.StatusServiceUnavailable, Body: []byte("Ingester not ready: waiting for 15s after being ready\n")},
				verifytest.PathGrafanaHealth: {Status: http.StatusServiceUnavailable, Body: verifytest.Fixture("grafana-health-failing.json")},
			},
			setup: func(r *verifytest.Runner) { r.Talos = verifytest.Fixture("talos-services-no-etcd.json") },
			want:  1,
			out: []string{
				"talos services      FAIL    talos-cp-02/etcd missing\n",
				"nodes ready         FAIL    talos-worker-01 Ready=False (KubeletNotReady: container runtime network not ready",
				"cilium              PASS",
				"loki ready          FAIL    not ready: 503 Service Unavailable: Ingester not ready",
				"grafana health      FAIL    database failing (503 Service Unavailable)\n",
				"\n4 of 6 checks failed\n",
			},
		},
		{
			name: "checks time out",
			args: []string{"-s", "local", "-timeout", "1ns"},
			want: 1,
			out:  []string{"nodes ready         FAIL    timed out after 1ns"},
		},
		{
			name: "stack missing",
			args: []string{"-timeout", "10s"},
			want: 2,
			out:  []string{"verify: -s <stack> is required, e.g. go run ./cmd/verify -s dev\n"},
		},
		{
			name: "unknown flag",
			args: []string{"-s", "dev", "-v"},
			want: 2,
			out:  []string{"flag provided but not defined: -v", "-timeout duration"},
		},
		{
			name: "stray argument",
			args: []string{"-s", "dev", "prod"},
			want: 2,
			out:  []string{`verify: unexpected arguments ["prod"]`},
		},
		{
			name: "zero timeout",
			args: []string{"-s", "dev", "-timeout", "0s"},
			want: 2,
			out:  []string{"verify: -timeout 0s: must be positive, e.g. -timeout 30s"},
		},
		{
			name: "negative wait",
			args: []string{"-s", "dev", "-wait", "-1s"},
			want: 2,
			out:  []string{"verify: -wait -1s: must be 0 (no retries) or more, e.g. -wait 5m"},
		},
		{
			name: "help",
			args: []string{"-h"},
			want: 0,
			out:  []string{"Usage of verify:", "-s stack", "-wait duration"},
		},
		{
			name: "pulumi fails",
			args: []string{"-s", "dev"},
			setup: func(r *verifytest.Runner) {
				r.Stack, r.StackErr = nil, errors.New("pulumi: exit status 255: error: no stack named 'dev' found")
			},
			want: 1,
			out:  []string{"verify: read outputs of stack dev: pulumi: exit status 255: error: no stack named 'dev' found\n"},
		},
		{
			name:  "stack never deployed",
			args:  []string{"-s", "dev"},
			setup: func(r *verifytest.Runner) { r.Stack = []byte(`{"environment": "dev"}`) },
			want:  1,
			out:   []string{"verify: outputs of stack dev: output kubeconfig is missing or empty"},
		},
		{
			name: "kubeconfig without credentials",
			args: []string{"-s", "dev"},
			setup: func(r *verifytest.Runner) {
				r.Stack = bytes.Replace(r.Stack, []byte(`token: `+verifytest.Token), []byte(`exec: {command: aws}`), 1)
			},
			want: 1,
			out:  []string{`verify: stack dev: kubeconfig: user "admin@sre-lab" has neither a client certificate nor a token`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			server := verifytest.NewServer(t, tc.api)
			runner := verifytest.NewRunner(server.Kubeconfig())
			if tc.setup != nil {
				tc.setup(runner)
			}
			var out bytes.Buffer

			code := run(tc.args, runner.Run, &out, time.Millisecond)

			assert.Equal(t, tc.want, code, out.String())
			for _, want := range tc.out {
				assert.Contains(t, out.String(), want)
			}
			for _, secret := range []string{verifytest.Token, verifytest.TalosKey, verifytest.GrafanaAdminPassword, "BEGIN CERTIFICATE"} {
				assert.NotContains(t, out.String(), secret)
			}
		})
	}
}

// TestRunSecretFiles checks that talosctl gets the talosconfig in an
// owner-only file that is gone once the command returns.
func TestRunSecretFiles(t *testing.T) {
	server := verifytest.NewServer(t, nil)
	lab := verifytest.NewRunner(server.Kubeconfig())
	var path string
	// The runner is called from a check's goroutine, where require's
	// FailNow must not be used.
	runner := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		if name != "talosctl" {
			return lab.Run(ctx, name, args...)
		}
		i := slices.Index(args, "--talosconfig")
		if !assert.GreaterOrEqual(t, i, 0) {
			return nil, errors.New("no --talosconfig")
		}
		path = args[i+1]
		if file, err := os.Stat(path); assert.NoError(t, err) {
			assert.Equal(t, os.FileMode(0o600), file.Mode().Perm())
		}
		if dir, err := os.Stat(filepath.Dir(path)); assert.NoError(t, err) {
			assert.Equal(t, os.FileMode(0o700), dir.Mode().Perm())
		}
		content, err := os.ReadFile(path)
		assert.NoError(t, err)
		assert.Equal(t, verifytest.Talosconfig, string(content))
		entries, err := os.ReadDir(filepath.Dir(path))
		assert.NoError(t, err)
		assert.Len(t, entries, 1, "only the talosconfig is written; the kubeconfig stays in memory")
		return lab.Run(ctx, name, args...)
	}
	var out bytes.Buffer

	code := run([]string{"-s", "local"}, runner, &out, time.Millisecond)

	assert.Equal(t, 0, code, out.String())
	require.NotEmpty(t, path, "talosctl was run")
	_, err := os.Stat(filepath.Dir(path))
	assert.True(t, errors.Is(err, os.ErrNotExist), "the secrets directory is removed: %v", err)
	assert.Equal(t, []string{"pulumi", "stack", "output", "--json", "--show-secrets", "-s", "local"}, lab.Calls()[0])
}

// TestRunWaitsForALabToSettle: a lab just deployed has targets Prometheus
// has not scraped yet. Under -wait the failed checks run again until they
// pass and the passing ones are not run again; without it the first answer
// stands.
func TestRunWaitsForALabToSettle(t *testing.T) {
	for _, tc := range []struct {
		name       string
		wait       string
		want       int
		targetAsks int32
		out        string
	}{
		{"no wait", "0s", 1, 1, "prometheus targets  FAIL"},
		{"settles within the wait", "10s", 0, 3, "prometheus targets  PASS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asks atomic.Int32
			healthy := verifytest.Healthy()
			server := verifytest.NewHandlerServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				resp, ok := healthy[r.RequestURI]
				// The first two scrapes have not happened yet.
				if r.RequestURI == verifytest.PathPromTargets && asks.Add(1) < 3 {
					resp = verifytest.OK(verifytest.Fixture("prometheus-targets-down.json"))
				}
				if !assert.True(t, ok, r.RequestURI) {
					resp = verifytest.Status(http.StatusNotFound, "NotFound", r.RequestURI)
				}
				resp.Write(w)
			}))
			runner := verifytest.NewRunner(server.Kubeconfig())
			var out bytes.Buffer

			code := run([]string{"-s", "local", "-wait", tc.wait}, runner.Run, &out, time.Millisecond)

			assert.Equal(t, tc.want, code, out.String())
			assert.Contains(t, out.String(), tc.out)
			assert.Equal(t, tc.targetAsks, asks.Load(), "Prometheus asked until its targets were up, or once without a wait")
			talos := 0
			for _, call := range runner.Calls() {
				if call[0] == "talosctl" {
					talos++
				}
			}
			assert.Equal(t, 1, talos, "a passing check is not run again")
		})
	}
}
