package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
)

// TestUploadArgs: the snapshot is made from the Image Factory's hcloud
// image of the pinned version and labelled as the backend looks for it.
func TestUploadArgs(t *testing.T) {
	args, err := uploadArgs(nil)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"upload",
		"--image-url", "https://factory.talos.dev/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/" + config.DefaultTalosVersion + "/hcloud-amd64.raw.xz",
		"--compression", "xz",
		"--architecture", "x86",
		"--location", "fsn1",
		"--labels", "os=talos,talos-version=" + config.DefaultTalosVersion,
		"--description", "Talos " + config.DefaultTalosVersion + " for sre-lab",
	}, args)

	args, err = uploadArgs([]string{"-version", "v1.12.5", "-location", "hel1"})
	require.NoError(t, err)
	assert.Contains(t, args, "os=talos,talos-version=v1.12.5")
	assert.Contains(t, args, "hel1")

	for _, bad := range [][]string{{"-location", "eu-central-1"}, {"-version", "1.12.4"}, {"-nope"}} {
		_, err := uploadArgs(bad)
		assert.Error(t, err, "%v", bad)
	}
}
