package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckHost(t *testing.T) {
	for _, tc := range []struct {
		cloud Cloud
		goos  string
		want  string
	}{
		{VirtualBox, "linux", ""},
		{Docker, "linux", ""},
		{AWS, "darwin", ""},
		{Hetzner, "windows", ""},
		{VirtualBox, "darwin", `sre-lab:cloud = "virtualbox": the local lab runs on Linux hosts only; VirtualBox 7 on macOS has host-only networks`},
		{Docker, "darwin", `sre-lab:cloud = "docker": the local lab runs on Linux hosts only; Docker Desktop on macOS`},
		{VirtualBox, "windows", "need /bin/sh"},
	} {
		t.Run(string(tc.cloud)+" on "+tc.goos, func(t *testing.T) {
			err := CheckHost(Config{Cloud: tc.cloud}, tc.goos)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "this host: "+tc.goos)
		})
	}
}
