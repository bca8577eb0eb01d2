package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/internal/preflight"
)

// inCheckout runs the test in a directory holding stack, as Pulumi.local.yaml,
// with stand-ins for VBoxManage and pulumi on PATH.
func inCheckout(t *testing.T, stack, vboxVersion string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the stand-ins are POSIX shell scripts")
	}
	dir, bin := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.local.yaml"), []byte(stack), 0o600))
	for name, script := range map[string]string{
		"VBoxManage": "echo " + vboxVersion + "\n",
		"pulumi":     "printf 'User: sre\\nBackend URL: file:///home/sre/.pulumi\\n'\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+script), 0o755))
	}
	t.Setenv("PATH", bin)
	t.Chdir(dir)
}

// roomy is a Linux host with room for the default lab and the passphrase
// in its environment.
func roomy(t *testing.T) preflight.Host {
	meminfo := filepath.Join(t.TempDir(), "meminfo")
	require.NoError(t, os.WriteFile(meminfo, []byte("MemAvailable:   33554432 kB\n"), 0o600))
	return preflight.Host{
		GOOS:    "linux",
		CPUs:    16,
		MemInfo: meminfo,
		Routes:  filepath.Join(t.TempDir(), "no-routes"),
		Interfaces: func() ([]preflight.Interface, error) {
			return []preflight.Interface{{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.1.23/24")}}}, nil
		},
		LookupEnv: func(k string) (string, bool) { return "set", k == "PULUMI_CONFIG_PASSPHRASE" },
	}
}

const localStack = "config:\n  sre-lab:environment: local\n  sre-lab:cloud: virtualbox\n"

func TestRun(t *testing.T) {
	t.Run("a host ready for the lab", func(t *testing.T) {
		inCheckout(t, localStack, "7.1.6r167084")
		var out strings.Builder
		assert.Equal(t, 0, run(nil, roomy(t), &out), out.String())
		assert.Contains(t, out.String(), "preflight: stack local, sre-lab:cloud virtualbox, Pulumi.local.yaml\n")
		assert.Contains(t, out.String(), "ok         VirtualBox: VirtualBox 7.1.6r167084\n")
		assert.Contains(t, out.String(), "ok         passphrase: ")
		assert.NotContains(t, out.String(), "FAILED")
	})
	t.Run("a check fails", func(t *testing.T) {
		inCheckout(t, localStack, "6.1.50r161033")
		var out strings.Builder
		assert.Equal(t, 1, run([]string{"-s", "local"}, roomy(t), &out))
		assert.Contains(t, out.String(), "FAILED     VirtualBox: VirtualBox 6.1.50r161033\n")
	})
	t.Run("settings the program refuses", func(t *testing.T) {
		inCheckout(t, localStack+"  sre-lab:networkCidr: 8.8.8.0/24\n", "7.1.6r167084")
		var out strings.Builder
		assert.Equal(t, 1, run(nil, roomy(t), &out))
		assert.Contains(t, out.String(), "preflight: Pulumi.local.yaml: sre-lab:networkCidr")
	})
	t.Run("no stack file", func(t *testing.T) {
		inCheckout(t, localStack, "7.1.6r167084")
		var out strings.Builder
		assert.Equal(t, 1, run([]string{"-s", "lab"}, roomy(t), &out))
		assert.Contains(t, out.String(), "preflight: open Pulumi.lab.yaml")
	})
	t.Run("usage", func(t *testing.T) {
		var out strings.Builder
		assert.Equal(t, 0, run([]string{"-h"}, roomy(t), &out))
		assert.Contains(t, out.String(), "-s stack")
		assert.Equal(t, 2, run([]string{"-x"}, roomy(t), &out))
		out.Reset()
		assert.Equal(t, 2, run([]string{"local"}, roomy(t), &out))
		assert.Equal(t, "preflight: unexpected arguments [\"local\"]\n", out.String())
	})
}
