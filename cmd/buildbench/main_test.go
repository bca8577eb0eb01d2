package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBenchLinksNoSDK: `task bench:build` runs this command with `go run`,
// so whatever it imports is compiled before the first measurement. It
// needs the build tags' names, not the backends they leave out; importing
// infra/backends once made it compile the whole program first.
func TestBenchLinksNoSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	out, err := cmd.Output()
	require.NoError(t, err)
	for _, dep := range strings.Fields(string(out)) {
		assert.False(t, strings.HasPrefix(dep, "github.com/pulumi/"), "the bench imports %s", dep)
	}
}
