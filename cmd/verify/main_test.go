package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

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
			out:  []string{"verify: -timeout must be positive"},
		},
		{
			name: "help",
			args: []string{"-h"},
			want: 0,
			out:  []string{"Usage of verify:", "-s stack"},
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

			code := run(tc.args, runner.Run, &out)

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

	code := run([]string{"-s", "local"}, runner, &out)

	assert.Equal(t, 0, code, out.String())
	require.NotEmpty(t, path, "talosctl was run")
	_, err := os.Stat(filepath.Dir(path))
	assert.True(t, errors.Is(err, os.ErrNotExist), "the secrets directory is removed: %v", err)
	assert.Equal(t, []string{"pulumi", "stack", "output", "--json", "--show-secrets", "-s", "local"}, lab.Calls()[0])
}
