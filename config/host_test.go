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
		want  []string // substrings of the error; none: allowed
	}{
		{VirtualBox, "linux", nil},
		{Docker, "linux", nil},
		{VirtualBox, "darwin", nil},
		{AWS, "darwin", nil},
		{Hetzner, "windows", nil},
		{Docker, "darwin", []string{`sre-lab:cloud = "docker": runs on Linux hosts only (this host: darwin)`,
			"Docker Desktop keeps containers in its own VM", "Set sre-lab:cloud to virtualbox", "7.1 or newer on Apple Silicon"}},
		{Docker, "windows", []string{`sre-lab:cloud = "docker": runs on Linux hosts only (this host: windows)`, "Set sre-lab:cloud to virtualbox"}},
		{VirtualBox, "windows", []string{`sre-lab:cloud = "virtualbox": runs on Linux and macOS hosts only (this host: windows)`,
			"/bin/sh", "a cloud environment"}},
		{VirtualBox, "freebsd", []string{"(this host: freebsd)"}},
	} {
		t.Run(string(tc.cloud)+" on "+tc.goos, func(t *testing.T) {
			err := CheckHost(Config{Cloud: tc.cloud}, tc.goos)
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tc.want {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}
