package etcdbackup

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

const recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

func args(recipient string) *Args {
	out := func(s string) pulumi.StringOutput { return pulumi.String(s).ToStringOutput() }
	return &Args{
		ClusterName: "sre-lab-prod",
		Bucket: &infra.Bucket{Type: "s3", Name: out("sre-lab-prod-etcd-abc"), Region: "eu-central-1",
			Key: &infra.AccessKey{ID: out("AKIABACKUP"), Secret: pulumi.ToSecret(out("backup-secret")).(pulumi.StringOutput)}},
		Backup: config.EtcdBackup{Enabled: true, Schedule: config.DefaultEtcdBackupSchedule, Recipient: recipient},
	}
}

// run registers the component through a Kubernetes provider under mocks.
func run(t *testing.T, a *Args) (*pulumitest.Mocks, error) {
	t.Helper()
	m, _, err := pulumitest.InCluster("prod", nil, func(ctx *pulumi.Context, with pulumi.ResourceOption, _ []pulumi.Resource) (pulumi.Resource, error) {
		return New(ctx, "etcd-backup", a, with)
	})
	return m, err
}

// env reads the job's environment as a map.
func env(t *testing.T, job pulumitest.Resource) map[string]any {
	t.Helper()
	list, ok := job.At("spec.jobTemplate.spec.template.spec.containers.0.env")
	require.True(t, ok)
	out := map[string]any{}
	for _, e := range list.([]any) {
		kv := e.(map[string]any)
		out[kv["name"].(string)] = kv["value"]
	}
	return out
}

// TestBackupJob: the Talos account grants the backup role only; the job
// runs on the schedule, one at a time, unprivileged, with requests and a
// memory limit, writing to the bucket under the cluster's name with the
// bucket's own key from a Secret beside it, encrypted to the recipient
// when one is given.
func TestBackupJob(t *testing.T) {
	for _, tc := range []struct {
		name, recipient string
		want            map[string]any
	}{
		{"age recipient", recipient, map[string]any{"AGE_X25519_PUBLIC_KEY": recipient}},
		{"bucket encryption only", "", map[string]any{"DISABLE_ENCRYPTION": "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := run(t, args(tc.recipient))
			require.NoError(t, err)
			assert.Len(t, m.ByType(Token), 1)

			account := m.Named(t, "kubernetes:talos.dev/v1alpha1:ServiceAccount", "etcd-backup-account")
			roles, _ := account.At("spec.roles")
			assert.Equal(t, []any{"os:etcd:backup"}, roles)
			ns, _ := account.At("metadata.namespace")
			assert.Equal(t, "etcd-backup", ns, "Talos grants the role to every pod of the namespace: the job's own")

			job := m.Named(t, "kubernetes:batch/v1:CronJob", "etcd-backup")
			for path, want := range map[string]any{
				"metadata.name":          Name,
				"metadata.namespace":     "etcd-backup",
				"spec.schedule":          config.DefaultEtcdBackupSchedule,
				"spec.concurrencyPolicy": "Forbid",
				"spec.timeZone":          "Etc/UTC",
				"spec.jobTemplate.spec.template.spec.securityContext.runAsNonRoot":                          true,
				"spec.jobTemplate.spec.template.spec.containers.0.image":                                    config.TalosBackupImage,
				"spec.jobTemplate.spec.template.spec.containers.0.securityContext.allowPrivilegeEscalation": false,
				"spec.jobTemplate.spec.template.spec.containers.0.resources.requests.memory":                "64Mi",
				"spec.jobTemplate.spec.template.spec.containers.0.resources.limits.memory":                  "512Mi",
				"spec.jobTemplate.spec.template.spec.volumes.1.secret.secretName":                           Name,
			} {
				got, ok := job.At(path)
				assert.True(t, ok, path)
				assert.Equal(t, want, got, path)
			}
			assert.True(t, job.DependsOn("kubernetes:talos.dev/v1alpha1:ServiceAccount", "etcd-backup-account"),
				"the job waits for the account whose secret it mounts")
			e := env(t, job)
			assert.Equal(t, "sre-lab-prod-etcd-abc", e["BUCKET"])
			assert.Equal(t, "eu-central-1", e["AWS_REGION"])
			assert.Equal(t, "sre-lab-prod", e["S3_PREFIX"])
			for k, v := range tc.want {
				assert.Equal(t, v, e[k], k)
			}
			// The bucket's own key, from the Secret beside the job, never
			// written into the pod spec.
			for _, name := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
				assert.Nil(t, e[name], "%s has no value in the spec", name)
				assert.Equal(t, map[string]any{"name": "aws-access-key", "key": name}, fromSecret(t, job)[name], name)
			}
			secret := m.Named(t, "kubernetes:core/v1:Secret", "etcd-backup-aws-key")
			for path, want := range map[string]any{
				"metadata.name":                    "aws-access-key",
				"metadata.namespace":               Namespace,
				"stringData.AWS_ACCESS_KEY_ID":     "AKIABACKUP",
				"stringData.AWS_SECRET_ACCESS_KEY": "backup-secret",
			} {
				got, _ := secret.At(path)
				assert.Equal(t, want, got, path)
			}
			assert.True(t, job.DependsOn("kubernetes:core/v1:Secret", "etcd-backup-aws-key"), "the job waits for its key")
		})
	}
}

// fromSecret reads the job's environment taken from Secrets, by name.
func fromSecret(t *testing.T, job pulumitest.Resource) map[string]any {
	t.Helper()
	list, ok := job.At("spec.jobTemplate.spec.template.spec.containers.0.env")
	require.True(t, ok)
	out := map[string]any{}
	for _, e := range list.([]any) {
		kv := e.(map[string]any)
		from, _ := kv["valueFrom"].(map[string]any)
		if ref, ok := from["secretKeyRef"]; ok {
			out[kv["name"].(string)] = ref
		}
	}
	return out
}

// TestBackupPodIsRestricted: the pod meets the Pod Security level its
// namespace enforces, restricted: non-root, the runtime's seccomp profile,
// no privilege escalation, no capabilities, no host namespaces, and only
// emptyDir and Secret volumes.
func TestBackupPodIsRestricted(t *testing.T) {
	assert.Equal(t, "restricted", PodSecurity)
	m, err := run(t, args(""))
	require.NoError(t, err)
	job := m.Named(t, "kubernetes:batch/v1:CronJob", "etcd-backup")
	pod, ok := job.At("spec.jobTemplate.spec.template.spec")
	require.True(t, ok)
	spec := pod.(map[string]any)
	for _, host := range []string{"hostNetwork", "hostPID", "hostIPC"} {
		assert.NotContains(t, spec, host)
	}
	for path, want := range map[string]any{
		"securityContext.runAsNonRoot":                          true,
		"securityContext.seccompProfile.type":                   "RuntimeDefault",
		"containers.0.securityContext.allowPrivilegeEscalation": false,
		"containers.0.securityContext.capabilities.drop":        []any{"ALL"},
	} {
		got, ok := job.At("spec.jobTemplate.spec.template.spec." + path)
		assert.True(t, ok, path)
		assert.Equal(t, want, got, path)
	}
	_, added := job.At("spec.jobTemplate.spec.template.spec.containers.0.securityContext.capabilities.add")
	assert.False(t, added, "no capabilities added")
	require.Len(t, spec["containers"], 1)
	for _, v := range spec["volumes"].([]any) {
		volume := v.(map[string]any)
		delete(volume, "name")
		for kind := range volume {
			assert.Contains(t, []string{"emptyDir", "secret"}, kind)
		}
	}
}

func TestBackupNeedsAnS3Bucket(t *testing.T) {
	for _, a := range []*Args{
		{ClusterName: "x", Backup: config.EtcdBackup{Schedule: "0 * * * *"}},
		{ClusterName: "x", Bucket: &infra.Bucket{Type: "gcs"}, Backup: config.EtcdBackup{Schedule: "0 * * * *"}},
	} {
		m, err := run(t, a)
		require.Error(t, err)
		assert.Empty(t, m.ByType(Token), "nothing registered")
	}
}
