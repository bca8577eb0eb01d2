package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/kube/cilium"
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

// TestMetadataGuard: in a cloud no pod reaches the metadata service, save
// Loki's namespace where its bucket takes the nodes' identity (GCP); a
// laptop has no metadata service to guard.
func TestMetadataGuard(t *testing.T) {
	byNodes := &infra.Bucket{Type: "gcs"}
	keyed := &infra.Bucket{Type: "s3", Key: &infra.AccessKey{}}
	for _, tc := range []struct {
		name  string
		cloud config.Cloud
		logs  *infra.Bucket
		want  *cilium.MetadataGuard
	}{
		{"virtualbox", config.VirtualBox, nil, nil},
		{"docker", config.Docker, nil, nil},
		{"gcp: Loki on the nodes' identity", config.GCP, byNodes, &cilium.MetadataGuard{Exempt: []string{namespaces.Logging}}},
		{"aws: Loki with its own key", config.AWS, keyed, &cilium.MetadataGuard{}},
		{"hetzner: no bucket", config.Hetzner, nil, &cilium.MetadataGuard{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, metadataGuard(tc.cloud, infra.Platform{LogBucket: tc.logs}))
		})
	}
}

// TestChaosTargets: with the practice layer on, the apps namespace, where
// the drills aim, is the one namespace Chaos Mesh may inject faults into;
// with it off, none is.
func TestChaosTargets(t *testing.T) {
	targets := func(cfg config.Config) []string {
		var out []string
		for _, spec := range namespaceSpecs(cfg) {
			if spec.ChaosTarget {
				out = append(out, spec.Name)
			}
		}
		return out
	}
	cfg := config.Config{Cloud: config.VirtualBox, Practice: true}
	assert.Equal(t, []string{namespaces.Apps}, targets(cfg))
	cfg.Practice = false
	assert.Empty(t, targets(cfg))
}
