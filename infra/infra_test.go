package infra

import (
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
	assert.Equal(t, "https://github.com/siderolabs/talos/releases/download/v1.12.4/metal-amd64.iso", ISOURL("v1.12.4"))
	assert.Equal(t, "https://github.com/siderolabs/talos/releases/download/v1.12.4/sha256sum.txt", ChecksumsURL("v1.12.4"))
	assert.Equal(t, "factory.talos.dev/installer/"+VanillaSchematic+":v1.12.5", InstallerImage("v1.12.5"))
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
