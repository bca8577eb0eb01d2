package main

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra/talos"
)

// talosAPIAccess is the part of a Talos machine config patch that lets
// Kubernetes pods use the Talos API.
type talosAPIAccess struct {
	Machine struct {
		Features struct {
			KubernetesTalosAPIAccess *struct {
				AllowedRoles                []string `yaml:"allowedRoles"`
				AllowedKubernetesNamespaces []string `yaml:"allowedKubernetesNamespaces"`
			} `yaml:"kubernetesTalosAPIAccess"`
		} `yaml:"features"`
	} `yaml:"machine"`
}

// TestEtcdBackupNamespaceOnly: the control planes grant the os:etcd:backup
// role to one namespace, the snapshot job's own (not kube-system, whose
// every pod would then read etcd and all Secrets in it); the Talos
// ServiceAccount and the CronJob live there, and the namespace exists,
// enforcing restricted Pod Security, which the job's pod meets.
func TestEtcdBackupNamespaceOnly(t *testing.T) {
	namespace := etcdBackupNamespace(config.Config{EtcdBackup: config.EtcdBackup{Enabled: true}})
	assert.Equal(t, "etcd-backup", namespace)
	assert.Empty(t, etcdBackupNamespace(config.Config{}), "no backups, no Talos API access")

	// The control-plane patch built from what the program hands Talos.
	patch, err := talos.ControlPlanePatch(talos.PatchParams{NetworkCIDR: "10.0.0.0/16", EtcdBackupNamespace: namespace})
	require.NoError(t, err)
	granted := 0
	decoder := yaml.NewDecoder(strings.NewReader(patch))
	for {
		var doc talosAPIAccess
		err := decoder.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if access := doc.Machine.Features.KubernetesTalosAPIAccess; access != nil {
			granted++
			assert.Equal(t, []string{"os:etcd:backup"}, access.AllowedRoles)
			assert.Equal(t, []string{"etcd-backup"}, access.AllowedKubernetesNamespaces)
		}
	}
	assert.Equal(t, 1, granted)

	m, _, err := run(t, "staging", userConfig(t, "staging"))
	require.NoError(t, err)
	for _, r := range []registered{
		m.named(t, "kubernetes:talos.dev/v1alpha1:ServiceAccount", "etcd-backup-account"),
		m.named(t, "kubernetes:batch/v1:CronJob", "etcd-backup"),
	} {
		ns, _ := r.At("metadata.namespace")
		assert.Equal(t, namespace, ns, r.Name)
		assert.True(t, r.DependsOn("kubernetes:core/v1:Namespace", "sre-lab-etcd-backup"), "%s waits for its namespace", r.Name)
	}
	ns := m.named(t, "kubernetes:core/v1:Namespace", "sre-lab-etcd-backup")
	labels, _ := ns.At("metadata.labels")
	assert.Equal(t, "restricted", labels.(map[string]any)["pod-security.kubernetes.io/enforce"])
}
