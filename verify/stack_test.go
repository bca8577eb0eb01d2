package verify

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/verify/verifytest"
)

func TestDecodeStack(t *testing.T) {
	s, err := DecodeStack(verifytest.StackOutputs("apiVersion: v1\n"))
	require.NoError(t, err)

	assert.Equal(t, Secret("apiVersion: v1\n"), s.Kubeconfig)
	assert.Equal(t, Secret(verifytest.Talosconfig), s.Talosconfig)
	require.Len(t, s.Nodes, 5)
	assert.Equal(t, Node{Name: "talos-cp-01", Role: RoleControlPlane, PrivateIP: "192.168.56.10"}, s.Nodes[0])
	assert.Equal(t, Node{Name: "talos-worker-02", Role: RoleWorker, PrivateIP: "192.168.56.21"}, s.Nodes[4])
}

func TestDecodeStackErrors(t *testing.T) {
	tests := []struct {
		name, json string
		wantErr    []string
	}{
		{
			name:    "never deployed",
			json:    `{}`,
			wantErr: []string{"output kubeconfig is missing or empty", "output talosconfig is missing or empty", "output nodes is missing or empty"},
		},
		{
			name: "bad nodes",
			json: `{"kubeconfig": "k", "talosconfig": "t", "nodes": [
				{"name": "cp", "role": "master", "privateIp": "10.0.0.1"},
				{"role": "worker", "privateIp": "10.0.0.2"},
				{"name": "w2", "role": "worker", "privateIp": "", "publicIp": null}]}`,
			wantErr: []string{
				`nodes[0] (cp) has role "master", want "controlplane" or "worker"`,
				"nodes[1] has no name",
				"nodes[2] (w2) has no IP address",
			},
		},
		{
			name:    "not JSON",
			json:    "warning: A new version of Pulumi is available.\n",
			wantErr: []string{"decode: invalid character"},
		},
		{
			name:    "wrong type",
			json:    `{"kubeconfig": {"secret-value": "x"}}`,
			wantErr: []string{"decode: json: cannot unmarshal object"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeStack([]byte(tc.json))
			require.Error(t, err)
			for _, want := range tc.wantErr {
				assert.Contains(t, err.Error(), want)
			}
			assert.NotContains(t, err.Error(), "secret-value")
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s, err := DecodeStack(verifytest.StackOutputs("token: " + verifytest.Token))
	require.NoError(t, err)

	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out := fmt.Sprintf(format, s)
		assert.NotContains(t, out, verifytest.Token, format)
		assert.NotContains(t, out, verifytest.TalosKey, format)
		assert.Contains(t, out, "talos-cp-01", format)
	}
}

func TestReadStack(t *testing.T) {
	runner := verifytest.NewRunner("apiVersion: v1\n")

	s, err := ReadStack(context.Background(), runner.Run, "dev")

	require.NoError(t, err)
	assert.Len(t, s.Nodes, 5)
	assert.Equal(t, [][]string{{"pulumi", "stack", "output", "--json", "--show-secrets", "-s", "dev"}}, runner.Calls())
}

func TestReadStackErrors(t *testing.T) {
	tests := []struct {
		name     string
		stack    []byte
		stackErr error
		want     string
	}{
		{
			name:     "pulumi fails",
			stackErr: errors.New("pulumi: exit status 255: error: no stack named 'dev' found"),
			want:     "read outputs of stack dev: pulumi: exit status 255: error: no stack named 'dev' found",
		},
		{
			name:  "outputs unusable",
			stack: []byte(`{"kubeconfig": "k", "talosconfig": "t"}`),
			want:  "outputs of stack dev: output nodes is missing or empty",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runner := &verifytest.Runner{Stack: tc.stack, StackErr: tc.stackErr}
			_, err := ReadStack(context.Background(), runner.Run, "dev")
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
		})
	}
}

func TestTalosAddress(t *testing.T) {
	assert.Equal(t, "192.168.56.10", Node{PrivateIP: "192.168.56.10"}.TalosAddress())
	assert.Equal(t, "203.0.113.10", Node{PrivateIP: "10.0.1.10", PublicIP: "203.0.113.10"}.TalosAddress())
}
