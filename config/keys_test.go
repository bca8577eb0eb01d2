package config

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeys: the settings are what ParseRaw and LoadSecrets read, objects
// and secrets included, each once.
func TestKeys(t *testing.T) {
	keys := Keys()
	for _, k := range []string{KeyEnvironment, KeyAdminCIDRs, KeyHelmValues, KeyChartVersions, KeyEtcdBackupRecipient, KeyPractice, KeyGrafanaAdminPassword, KeyAlertmanager} {
		assert.Contains(t, keys, k)
	}
	assert.Len(t, keys, 36)
	assert.IsIncreasing(t, keys)
}

// TestCheckKnown: a key of the namespace that is no setting is refused
// with the nearest setting; other namespaces and every setting pass.
func TestCheckKnown(t *testing.T) {
	var all []string
	for _, k := range Keys() {
		all = append(all, Namespace+":"+k)
	}
	require.NoError(t, CheckKnown(append(all, "gcp:project", "aws:region", "kubernetes:context")))

	for _, tc := range []struct{ key, want string }{
		{"sre-lab:adminCidr", "sre-lab:adminCidr is not a setting; did you mean sre-lab:adminCidrs?"},
		{"sre-lab:talosversion", "sre-lab:talosversion is not a setting; did you mean sre-lab:talosVersion?"},
		{"sre-lab:workerCont", "sre-lab:workerCont is not a setting; did you mean sre-lab:workerCount?"},
		{"sre-lab:helmValue", "sre-lab:helmValue is not a setting; did you mean sre-lab:helmValues?"},
		{"sre-lab:grafanaPassword", "sre-lab:grafanaPassword is not a setting; did you mean sre-lab:grafanaAdminPassword?"},
		{"sre-lab:practise", "sre-lab:practise is not a setting; did you mean sre-lab:practice?"},
		{"sre-lab:vpc", "sre-lab:vpc is not a setting; the settings are listed in README.md, Stack configuration"},
	} {
		err := CheckKnown([]string{"sre-lab:region", tc.key, "gcp:project"})
		require.Error(t, err, tc.key)
		assert.Equal(t, tc.want, err.Error())
	}

	err := CheckKnown([]string{"sre-lab:regoin", "sre-lab:zone"})
	require.Error(t, err)
	assert.Equal(t, "sre-lab:regoin is not a setting; did you mean sre-lab:region?\n"+
		"sre-lab:zone is not a setting; did you mean sre-lab:zones?", err.Error(), "every unknown key at once")
}

// TestKeysSet reads the keys as the SDK receives them: one per top-level
// key, an object's paths inside its JSON value.
func TestKeysSet(t *testing.T) {
	t.Setenv(pulumi.EnvConfig, `{"sre-lab:helmValues":"{\"cilium\":{\"operator\":{\"replicas\":1}}}","gcp:project":"p","sre-lab:zones":"[\"a\"]"}`)
	assert.Equal(t, []string{"gcp:project", "sre-lab:helmValues", "sre-lab:zones"}, KeysSet())
	t.Setenv(pulumi.EnvConfig, `not json`)
	assert.Empty(t, KeysSet())
}
