package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/kube/etcdbackup"
	"github.com/your-org/sre-lab/kube/namespaces"
)

// TestEtcdBackupNamespace: with backups on, the snapshot job gets a
// namespace of its own, which Talos lets use the backup role, enforcing
// restricted Pod Security; without, no such namespace.
func TestEtcdBackupNamespace(t *testing.T) {
	levels := func(cfg config.Config) map[string]string {
		out := map[string]string{}
		for _, spec := range namespaceSpecs(cfg) {
			out[spec.Name] = spec.Enforce
		}
		return out
	}
	cfg := config.Config{Cloud: config.AWS, Secrets: config.SecretsSealed}
	assert.NotContains(t, levels(cfg), etcdbackup.Namespace)

	cfg.EtcdBackup.Enabled = true
	got := levels(cfg)
	assert.Equal(t, namespaces.Restricted, got["etcd-backup"])
	assert.Equal(t, "etcd-backup", etcdbackup.Namespace)
	assert.NotEqual(t, namespaces.KubeSystem, etcdbackup.Namespace, "Talos grants the role to every pod of the namespace")
}
