package talos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/internal/pulumitest"
)

// A node added to the cluster must not change the upgrade steps of the
// nodes already there: a changed input runs a step's update script, so
// every node would be asked for its version and Kubernetes upgraded again.
// The talosconfig lists every node, so the steps hold the client's identity
// from the machine secrets instead.
func TestAddingANodeChangesNoUpgradeStep(t *testing.T) {
	three, err := deployCluster(t, 3, 0, nil)
	require.NoError(t, err)
	four, err := deployCluster(t, 3, 1, nil)
	require.NoError(t, err)
	for _, step := range []string{"sre-lab-upgrade-talos-cp-01", "sre-lab-upgrade-talos-cp-02", "sre-lab-upgrade-talos-cp-03", "sre-lab-upgrade-kubernetes"} {
		before, after := three.Named(t, commandToken, step), four.Named(t, commandToken, step)
		assert.True(t, before.Inputs.DeepEquals(after.Inputs), "%s changed with a node added:\n%v\n%v", step, before.Inputs, after.Inputs)
	}
	four.Named(t, commandToken, "sre-lab-upgrade-talos-worker-01")

	step := three.Named(t, commandToken, "sre-lab-upgrade-talos-cp-01")
	for key, want := range map[string]string{"SRE_TALOS_CA": "ca", "SRE_TALOS_CRT": "cert", "SRE_TALOS_KEY": "key"} {
		got, _ := step.At("environment." + key)
		assert.Equal(t, want, got, "%s comes from the machine secrets' client configuration", key)
	}
	_, ok := step.At("environment.SRE_TALOSCONFIG")
	assert.False(t, ok, "no talosconfig in a step")
}

// With etcd backups on, the first control plane's step keeps a snapshot in
// the cache directory of whoever runs Pulumi, one directory per cluster.
func TestUpgradeSnapshotsEtcdWhereBackupsAreOn(t *testing.T) {
	snapshotDirs := func(m *pulumitest.Mocks) map[string]any {
		dirs := map[string]any{}
		for _, r := range m.ByType(commandToken) {
			if dir, ok := r.At("environment.SRE_ETCD_SNAPSHOT_DIR"); ok {
				dirs[r.Name] = dir
			}
		}
		return dirs
	}
	on, err := deployCluster(t, 3, 2, func(a *ClusterArgs) { a.EtcdBackupNamespace = "etcd-backup" })
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"sre-lab-upgrade-talos-cp-01": "sre-lab/sre-lab"}, snapshotDirs(on))

	off, err := deployCluster(t, 3, 2, nil)
	require.NoError(t, err)
	assert.Empty(t, snapshotDirs(off))
}
