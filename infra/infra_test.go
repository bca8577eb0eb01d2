package infra

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{LocalNodeName(ControlPlane, 1), "talos-cp-01"},
		{LocalNodeName(Worker, 2), "talos-worker-02"},
		{CloudNodeName("dev", ControlPlane, 1), "dev-sre-cp-01"},
		{CloudNodeName("prod", Worker, 3), "prod-sre-worker-03"},
		{NetworkName("dev", "vpc"), "sre-lab-dev-vpc"},
		{NetworkName("prod", "node-subnet"), "sre-lab-prod-node-subnet"},
	} {
		assert.Equal(t, tc.want, tc.got)
	}
}

func TestTalosImagesFollowTheVersion(t *testing.T) {
	assert.Equal(t, "https://github.com/siderolabs/talos/releases/download/v1.12.4/metal-amd64.iso", ISOURL("v1.12.4", "amd64"))
	assert.Equal(t, "https://github.com/siderolabs/talos/releases/download/v1.12.4/sha256sum.txt", ChecksumsURL("v1.12.4"))
	assert.Equal(t, "factory.talos.dev/installer/"+VanillaSchematic+":v1.12.5", InstallerImage("v1.12.5"))
}

// The ISO follows the host's architecture, by the asset name the release's
// sha256sum.txt lists; the installer is one multi-architecture index, so an
// arm64 node installs and upgrades from the same image as an amd64 one.
func TestTalosImagesFollowTheArchitecture(t *testing.T) {
	for _, tc := range []struct{ arch, iso string }{
		{"amd64", "https://github.com/siderolabs/talos/releases/download/v1.12.4/metal-amd64.iso"},
		{"arm64", "https://github.com/siderolabs/talos/releases/download/v1.12.4/metal-arm64.iso"},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			assert.NoError(t, CheckArch(tc.arch))
			assert.Equal(t, tc.iso, ISOURL("v1.12.4", tc.arch))
			assert.NotContains(t, InstallerImage("v1.12.4"), tc.arch, "the installer index serves every architecture")
		})
	}
	for _, arch := range []string{"386", "riscv64", "arm", ""} {
		err := CheckArch(arch)
		if assert.Error(t, err, arch) {
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", arch))
			assert.Contains(t, err.Error(), "[amd64 arm64]")
		}
	}
}

func TestPlatformSplitsRoles(t *testing.T) {
	p := Platform{Nodes: []Node{
		{Name: "cp-1", Role: ControlPlane}, {Name: "cp-2", Role: ControlPlane}, {Name: "w-1", Role: Worker},
	}}
	names := func(nodes []Node) []string {
		var out []string
		for _, n := range nodes {
			out = append(out, n.Name)
		}
		return out
	}
	assert.Equal(t, []string{"cp-1", "cp-2"}, names(p.ControlPlanes()))
	assert.Equal(t, []string{"w-1"}, names(p.Workers()))
}
