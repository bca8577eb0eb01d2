//go:build sre_lab_local && !sre_lab_aws && !sre_lab_gcp && !sre_lab_azure && !sre_lab_hetzner

package backends

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

func TestLocalOnlyBuildRefusesCloudsBeforeAnyResource(t *testing.T) {
	assert.Equal(t, []config.Cloud{config.VirtualBox, config.Docker}, Built())
	for _, cloud := range Clouds() {
		t.Run(string(cloud), func(t *testing.T) {
			m := &pulumitest.Mocks{}
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				_, err := New(ctx, "lab", config.Config{Cloud: cloud}, Host{OS: "linux", Arch: "amd64"})
				return err
			}, pulumi.WithMocks("sre-lab", "dev", m))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "add the "+CloudTags[cloud]+" tag")
			assert.Empty(t, m.Resources())
		})
	}
}
