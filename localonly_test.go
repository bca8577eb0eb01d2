//go:build sre_lab_local

package main

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra/backends"
)

// TestLocalOnlyBuild runs in the build a laptop uses for the local lab
// (.ci/run: go test -tags sre_lab_local -run LocalOnly .): the local stack
// still registers a whole lab, and a cloud stack stops before any resource
// with the tag that would build its backend in.
func TestLocalOnlyBuild(t *testing.T) {
	require.Equal(t, []config.Cloud{config.VirtualBox, config.Docker}, backends.Built())

	t.Run("local", func(t *testing.T) {
		m, out, err := run(t, "local", userConfig(t, "local"))
		require.NoError(t, err)
		assert.NotEmpty(t, m.byType("sre-lab:infra:TalosCluster"))
		assert.Contains(t, out, "kubeconfig")
	})
	on := map[config.Cloud]map[string]string{config.AWS: {}, config.GCP: onGCP, config.Azure: onAzure, config.Hetzner: onHetzner}
	for _, cloud := range backends.Clouds() {
		t.Run(string(cloud), func(t *testing.T) {
			cfg := userConfigOn(t, "dev", on[cloud])
			m, _, err := runBuilt(t, "dev", cfg, netip.MustParseAddr("203.0.113.7"))
			require.Error(t, err)
			for _, want := range []string{
				"sre-lab:cloud = " + string(cloud),
				"this build has only: virtualbox, docker",
				backends.CloudTags[cloud],
			} {
				assert.Contains(t, err.Error(), want)
			}
			assert.Empty(t, m.resources, "a backend left out of the build must stop the program before any resource")
		})
	}
}
