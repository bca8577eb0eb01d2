package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoAWSIdentityForPods: on AWS the nodes carry no IAM identity and
// instance metadata answers the node alone (hop limit 1); each workload
// that calls AWS gets its own key, as a Secret in its own namespace, and
// nowhere else. Staging with External Secrets has all four.
func TestNoAWSIdentityForPods(t *testing.T) {
	m, _, err := run(t, "staging", userConfigOn(t, "staging", map[string]string{"sre-lab:secrets": "external-secrets"}))
	require.NoError(t, err)
	for _, token := range []string{"aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile", "aws:iam/rolePolicy:RolePolicy"} {
		assert.Empty(t, m.byType(token), token)
	}
	for _, i := range m.byType("aws:ec2/instance:Instance") {
		_, profile := i.At("iamInstanceProfile")
		assert.False(t, profile, "%s has no instance profile", i.Name)
		hops, _ := i.At("metadataOptions.httpPutResponseHopLimit")
		assert.Equal(t, float64(1), hops, i.Name)
	}

	namespaces := map[string]string{}
	for _, s := range m.byType("kubernetes:core/v1:Secret") {
		if name, _ := s.At("metadata.name"); name != "aws-access-key" {
			continue
		}
		ns, _ := s.At("metadata.namespace")
		namespaces[ns.(string)] = s.Name
		id, _ := s.At("stringData.AWS_ACCESS_KEY_ID")
		assert.NotEmpty(t, id, s.Name)
		assert.True(t, s.Inputs["stringData"].ContainsSecrets(), "%s: the key stays secret in the state", s.Name)
	}
	assert.Equal(t, map[string]string{
		"kube-system":      "storage-aws-key",
		"logging":          "logging-aws-key",
		"etcd-backup":      "etcd-backup-aws-key",
		"external-secrets": "external-secrets-aws-key",
	}, namespaces, "one key per workload, in its namespace")
	assert.Len(t, m.byType("aws:iam/accessKey:AccessKey"), 4)
}

// TestSnapshotJobWritesWhereItsKeyMay: the prefix talos-backup writes
// under (S3_PREFIX) is the one prefix the snapshot user may put to.
func TestSnapshotJobWritesWhereItsKeyMay(t *testing.T) {
	m, _, err := run(t, "prod", userConfig(t, "prod"))
	require.NoError(t, err)
	job := m.named(t, "kubernetes:batch/v1:CronJob", "etcd-backup")
	env, _ := job.At("spec.jobTemplate.spec.template.spec.containers.0.env")
	prefix := ""
	for _, e := range env.([]any) {
		if kv := e.(map[string]any); kv["name"] == "S3_PREFIX" {
			prefix = kv["value"].(string)
		}
	}
	require.NotEmpty(t, prefix)

	var policy *registered
	for _, p := range m.byType("aws:iam/userPolicy:UserPolicy") {
		if strings.HasSuffix(p.Name, "-etcd-backup") {
			policy = &p
		}
	}
	require.NotNil(t, policy, "the snapshot job's user")
	raw, _ := policy.At("policy")
	var doc struct{ Statement []map[string]any }
	require.NoError(t, json.Unmarshal([]byte(raw.(string)), &doc))
	for _, st := range doc.Statement {
		if st["Effect"] == "Allow" {
			assert.Equal(t, "arn:aws:s3:::sre-lab-prod-etcd-0a1b2c3/"+prefix+"/*", st["Resource"])
		}
	}
}

// TestEBSClaimsGoBeforeTheDriver: the step that deletes the EBS claims
// waits for the driver's release, and every release that makes claims
// waits for that step. Pulumi destroys in the reverse order of
// dependencies, so a destroy removes Prometheus and Loki, then their
// claims and the disks behind them, then the driver; the driver going
// first left the disks behind.
func TestEBSClaimsGoBeforeTheDriver(t *testing.T) {
	m, _, err := run(t, "dev", userConfig(t, "dev"))
	require.NoError(t, err)
	const (
		release = "kubernetes:helm.sh/v3:Release"
		command = "command:local:Command"
	)
	step := m.named(t, command, "storage-release-volumes")
	assert.True(t, step.DependsOn(release, "storage-aws-ebs-csi-driver"), "the step goes before the driver")
	for _, name := range []string{"monitoring", "logging-loki"} {
		r := m.named(t, release, name)
		assert.True(t, m.dependencies(r)[command+"::storage-release-volumes"], "%s goes before the step that deletes its claims", name)
	}
	assert.False(t, m.dependencies(m.named(t, release, "storage-aws-ebs-csi-driver"))[command+"::storage-release-volumes"])

	local, _, err := run(t, "local", userConfig(t, "local"))
	require.NoError(t, err)
	for _, c := range local.byType(command) {
		assert.NotEqual(t, "storage-release-volumes", c.Name, "local volumes die with the nodes")
	}
}
