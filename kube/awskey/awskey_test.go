package awskey

import (
	"regexp"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

func key(id, secret string) *infra.AccessKey {
	return &infra.AccessKey{
		ID:     pulumi.String(id).ToStringOutput(),
		Secret: pulumi.String(secret).ToStringOutput(),
	}
}

// TestNewSecret: the key lands in the workload's namespace under the AWS
// SDKs' variable names, its secret half a Pulumi secret in what the
// provider receives; no key is an error, not an empty Secret.
func TestNewSecret(t *testing.T) {
	m := &pulumitest.Mocks{}
	var missing error
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		if _, err := NewSecret(ctx, "loki-key", "logging", key("AKIALOKI", "loki-secret")); err != nil {
			return err
		}
		_, missing = NewSecret(ctx, "none", "logging", nil)
		return nil
	}, pulumi.WithMocks("sre-lab", "dev", m))
	require.NoError(t, err)

	require.Error(t, missing)
	assert.Contains(t, missing.Error(), "no key to hand to logging")
	secrets := m.ByType("kubernetes:core/v1:Secret")
	require.Len(t, secrets, 1)
	s := secrets[0]
	name, _ := s.At("metadata.name")
	namespace, _ := s.At("metadata.namespace")
	assert.Equal(t, SecretName, name)
	assert.Equal(t, "logging", namespace)
	data, ok := s.Inputs["stringData"]
	require.True(t, ok)
	assert.Equal(t, map[string]any{IDKey: "AKIALOKI", SecretKey: "loki-secret"}, pulumitest.Plain(data))
	// The SDK may mark the whole map secret or only the element; either
	// keeps the secret half out of plain text.
	secret := data.IsSecret()
	if !secret && data.IsObject() {
		secret = data.ObjectValue()[resource.PropertyKey(SecretKey)].ContainsSecrets()
	}
	assert.True(t, secret, "the secret half stays secret")
}

// TestRevision: the revision follows the key ID, so a replaced key rolls
// the pods, and does not give the ID away.
func TestRevision(t *testing.T) {
	revisions := map[string]string{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		for _, id := range []string{"AKIAFIRST", "AKIASECOND"} {
			r, err := pulumitest.AwaitString(ctx, Revision(key(id, "s")).ToStringOutput())
			if err != nil {
				return err
			}
			revisions[id] = r
		}
		return nil
	}, pulumi.WithMocks("sre-lab", "dev", &pulumitest.Mocks{}))
	require.NoError(t, err)
	for id, r := range revisions {
		assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{16}$`), r, id)
		assert.NotContains(t, r, "AKIA")
	}
	assert.NotEqual(t, revisions["AKIAFIRST"], revisions["AKIASECOND"])
}
