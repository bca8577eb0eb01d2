package config

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseDefaultsPerEnvironment pins the environment matrix: what a stack
// gets for every key its owner did not set.
func TestParseDefaultsPerEnvironment(t *testing.T) {
	admin := []netip.Prefix{prefix("203.0.113.7/32")}
	tests := []struct {
		name  string
		stack string
		keys  keys
		want  Config
	}{
		{
			name:  "local with no keys is a VirtualBox lab of 3+2",
			stack: "local",
			keys:  keys{},
			want: Config{
				Stack:             "local",
				Environment:       Local,
				Cloud:             VirtualBox,
				ClusterName:       "sre-lab-local",
				ControlPlane:      NodePool{Count: 3, Size: "2cpu-4gb", DiskGiB: 40},
				Workers:           NodePool{Count: 2, Size: "2cpu-4gb", DiskGiB: 50},
				TalosVersion:      "v1.12.4",
				KubernetesVersion: "1.35.0",
				NetworkCIDR:       prefix("192.168.56.0/24"),
				AdminCIDRs:        nil,
				ProtectSecrets:    false,
			},
		},
		{
			name:  "dev on aws is 1+1 t3.medium",
			stack: "dev",
			keys:  awsKeys,
			want: Config{
				Stack:             "dev",
				Environment:       Dev,
				Cloud:             AWS,
				Region:            "eu-central-1",
				ClusterName:       "sre-lab-dev",
				ControlPlane:      NodePool{Count: 1, Size: "t3.medium", DiskGiB: 40},
				Workers:           NodePool{Count: 1, Size: "t3.medium", DiskGiB: 50},
				TalosVersion:      "v1.12.4",
				KubernetesVersion: "1.35.0",
				NetworkCIDR:       prefix("10.0.0.0/16"),
				AdminCIDRs:        admin,
				ProtectSecrets:    false,
			},
		},
		{
			name:  "staging on aws is 3+2 with larger workers and protected secrets",
			stack: "staging",
			keys:  awsKeys,
			want: Config{
				Stack:             "staging",
				Environment:       Staging,
				Cloud:             AWS,
				Region:            "eu-central-1",
				ClusterName:       "sre-lab-staging",
				ControlPlane:      NodePool{Count: 3, Size: "t3.medium", DiskGiB: 40},
				Workers:           NodePool{Count: 2, Size: "t3.large", DiskGiB: 50},
				TalosVersion:      "v1.12.4",
				KubernetesVersion: "1.35.0",
				NetworkCIDR:       prefix("10.0.0.0/16"),
				AdminCIDRs:        admin,
				ProtectSecrets:    true,
			},
		},
		{
			name:  "prod on aws is 3+3 with protected secrets",
			stack: "prod",
			keys:  awsKeys,
			want: Config{
				Stack:             "prod",
				Environment:       Prod,
				Cloud:             AWS,
				Region:            "eu-central-1",
				ClusterName:       "sre-lab-prod",
				ControlPlane:      NodePool{Count: 3, Size: "t3.large", DiskGiB: 40},
				Workers:           NodePool{Count: 3, Size: "t3.xlarge", DiskGiB: 50},
				TalosVersion:      "v1.12.4",
				KubernetesVersion: "1.35.0",
				NetworkCIDR:       prefix("10.0.0.0/16"),
				AdminCIDRs:        admin,
				ProtectSecrets:    true,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, tt.stack, tt.keys)
			assert.Equal(t, tt.want, got)

			// The published constants and matrix agree with what Parse filled.
			assert.Equal(t, DefaultTalosVersion, got.TalosVersion)
			assert.Equal(t, DefaultKubernetesVersion, got.KubernetesVersion)
			row, ok := EnvironmentMatrix[tt.want.Environment]
			require.True(t, ok, "environment %s missing from EnvironmentMatrix", tt.want.Environment)
			assert.Equal(t, row.ControlPlanes, got.ControlPlane.Count)
			assert.Equal(t, row.Workers, got.Workers.Count)
			assert.Equal(t, row.ControlPlaneSize[got.Cloud], got.ControlPlane.Size)
			assert.Equal(t, row.WorkerSize[got.Cloud], got.Workers.Size)
			assert.Equal(t, DefaultControlPlaneDiskGiB, got.ControlPlane.DiskGiB)
			assert.Equal(t, DefaultWorkerDiskGiB, got.Workers.DiskGiB)
			assert.Equal(t, tt.want.Environment.HA(), got.ProtectSecrets)
		})
	}
}

// TestEnvironmentMatrixCoversEveryEnvironment guards against an environment
// added to Environments without a row, which would default to zero nodes.
func TestEnvironmentMatrixCoversEveryEnvironment(t *testing.T) {
	assert.Equal(t, []Environment{Local, Dev, Staging, Prod}, Environments)
	for _, env := range Environments {
		row, ok := EnvironmentMatrix[env]
		if assert.True(t, ok, "no matrix row for %s", env) {
			assert.Positive(t, row.ControlPlanes, env)
			assert.Positive(t, row.Workers, env)
			assert.NotEmpty(t, row.ControlPlaneSize, env)
			assert.NotEmpty(t, row.WorkerSize, env)
		}
	}
}

// TestParseExplicitValuesWinOverDefaults: a key the user set is never
// replaced by the environment default.
func TestParseExplicitValuesWinOverDefaults(t *testing.T) {
	tests := []struct {
		name  string
		stack string
		keys  keys
		check func(t *testing.T, cfg Config)
	}{
		{
			name:  "workerCount on staging",
			stack: "staging",
			keys:  awsKeys.with(keys{KeyWorkerCount: "4"}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, 4, cfg.Workers.Count)
				assert.Equal(t, 3, cfg.ControlPlane.Count, "control planes keep their default")
			},
		},
		{
			name:  "whitespace around a number is tolerated",
			stack: "staging",
			keys:  awsKeys.with(keys{KeyWorkerCount: " 5 "}),
			check: func(t *testing.T, cfg Config) { assert.Equal(t, 5, cfg.Workers.Count) },
		},
		{
			name:  "controlPlaneSize and workerSize on prod",
			stack: "prod",
			keys:  awsKeys.with(keys{KeyControlPlaneSize: "m6i.large", KeyWorkerSize: "r5.large"}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, "m6i.large", cfg.ControlPlane.Size)
				assert.Equal(t, "r5.large", cfg.Workers.Size)
			},
		},
		{
			name:  "local sizes, counts and disks",
			stack: "local",
			keys: keys{
				KeyControlPlaneCount: "1", KeyControlPlaneSize: "4cpu-8gb", KeyControlPlaneDiskGiB: "20",
				KeyWorkerCount: "3", KeyWorkerSize: "2cpu-6gb", KeyWorkerDiskGiB: "100",
			},
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, NodePool{Count: 1, Size: "4cpu-8gb", DiskGiB: 20}, cfg.ControlPlane)
				assert.Equal(t, NodePool{Count: 3, Size: "2cpu-6gb", DiskGiB: 100}, cfg.Workers)
			},
		},
		{
			name:  "networkCidr on aws",
			stack: "dev",
			keys:  awsKeys.with(keys{KeyNetworkCIDR: "172.20.0.0/20"}),
			check: func(t *testing.T, cfg Config) { assert.Equal(t, prefix("172.20.0.0/20"), cfg.NetworkCIDR) },
		},
		{
			name:  "networkCidr on local moves the host-only network",
			stack: "local",
			keys:  keys{KeyNetworkCIDR: "192.168.60.0/24"},
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, prefix("192.168.60.0/24"), cfg.NetworkCIDR)
				assert.Empty(t, cfg.AdminCIDRs)
			},
		},
		{
			name:  "clusterName and domain",
			stack: "dev",
			keys:  awsKeys.with(keys{KeyClusterName: "team-a", KeyDomain: "lab.example.com"}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, "team-a", cfg.ClusterName)
				assert.Equal(t, "lab.example.com", cfg.Domain)
			},
		},
		{
			name:  "talosVersion and kubernetesVersion within the supported range",
			stack: "local",
			keys:  keys{KeyTalosVersion: "v1.12.0", KeyKubernetesVersion: "1.30.0"},
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, "v1.12.0", cfg.TalosVersion)
				assert.Equal(t, "1.30.0", cfg.KubernetesVersion)
			},
		},
		{
			name:  "zones are kept as given",
			stack: "staging",
			keys:  awsKeys.with(keys{KeyZones: `["eu-central-1b","eu-central-1c"]`}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, []string{"eu-central-1b", "eu-central-1c"}, cfg.Zones)
			},
		},
		{
			name:  "environment key overrides the stack name",
			stack: "my-feature",
			keys:  awsKeys.with(keys{KeyEnvironment: "dev"}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, "my-feature", cfg.Stack)
				assert.Equal(t, Dev, cfg.Environment)
				assert.Equal(t, "sre-lab-dev", cfg.ClusterName)
				assert.Equal(t, 1, cfg.ControlPlane.Count)
				assert.Equal(t, 1, cfg.Workers.Count)
				assert.False(t, cfg.ProtectSecrets)
			},
		},
		{
			name:  "environment key overrides a stack named after another environment",
			stack: "dev",
			keys:  awsKeys.with(keys{KeyEnvironment: "prod"}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, "dev", cfg.Stack)
				assert.Equal(t, Prod, cfg.Environment)
				assert.Equal(t, 3, cfg.Workers.Count)
				assert.Equal(t, "t3.xlarge", cfg.Workers.Size)
				assert.True(t, cfg.ProtectSecrets)
			},
		},
		{
			name:  "explicit 0.0.0.0/0 is allowed when written out",
			stack: "dev",
			keys:  awsKeys.with(keys{KeyAdminCIDRs: `["0.0.0.0/0"]`}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, []netip.Prefix{prefix("0.0.0.0/0")}, cfg.AdminCIDRs)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustParse(t, tt.stack, tt.keys))
		})
	}
}

// TestApplyDefaults exercises the pure default step without parsing.
func TestApplyDefaults(t *testing.T) {
	ptr := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	aws := AWS

	t.Run("local stacks get no adminCidrs: there is no firewall", func(t *testing.T) {
		cfg := ApplyDefaults("local", Local, Raw{})
		assert.Nil(t, cfg.AdminCIDRs)
		assert.Nil(t, cfg.Zones)
		assert.Empty(t, cfg.Region)
		assert.Empty(t, cfg.Domain)
	})
	t.Run("explicit empty adminCidrs are kept empty", func(t *testing.T) {
		cfg := ApplyDefaults("local", Local, Raw{AdminCIDRs: []netip.Prefix{}})
		assert.NotNil(t, cfg.AdminCIDRs)
		assert.Empty(t, cfg.AdminCIDRs)
	})
	t.Run("cloud environments get no adminCidrs and no cloud by default", func(t *testing.T) {
		cfg := ApplyDefaults("dev", Dev, Raw{})
		assert.Empty(t, cfg.AdminCIDRs)
		assert.Equal(t, Cloud(""), cfg.Cloud)
		assert.Equal(t, DefaultCloudNetwork, cfg.NetworkCIDR)
	})
	t.Run("explicit values are kept", func(t *testing.T) {
		net := prefix("10.20.0.0/16")
		raw := Raw{
			Cloud:               &aws,
			Region:              ptr("us-east-2"),
			ClusterName:         ptr("x"),
			ControlPlaneCount:   num(5),
			ControlPlaneSize:    ptr("m6i.xlarge"),
			ControlPlaneDiskGiB: num(60),
			WorkerCount:         num(7),
			WorkerSize:          ptr("c6a.xlarge"),
			WorkerDiskGiB:       num(70),
			TalosVersion:        ptr("v1.12.1"),
			KubernetesVersion:   ptr("1.34.2"),
			NetworkCIDR:         &net,
		}
		cfg := ApplyDefaults("prod", Prod, raw)
		assert.Equal(t, Config{
			Stack:             "prod",
			Environment:       Prod,
			Cloud:             AWS,
			Region:            "us-east-2",
			ClusterName:       "x",
			ControlPlane:      NodePool{Count: 5, Size: "m6i.xlarge", DiskGiB: 60},
			Workers:           NodePool{Count: 7, Size: "c6a.xlarge", DiskGiB: 70},
			TalosVersion:      "v1.12.1",
			KubernetesVersion: "1.34.2",
			NetworkCIDR:       net,
			ProtectSecrets:    true,
		}, cfg)
	})
	t.Run("explicit zero counts are not replaced by defaults", func(t *testing.T) {
		cfg := ApplyDefaults("staging", Staging, Raw{Cloud: &aws, ControlPlaneCount: num(0), WorkerCount: num(0)})
		assert.Equal(t, 0, cfg.ControlPlane.Count)
		assert.Equal(t, 0, cfg.Workers.Count)
	})
	t.Run("the config does not alias the raw slices", func(t *testing.T) {
		raw := Raw{Zones: []string{"eu-central-1a"}, AdminCIDRs: []netip.Prefix{prefix("203.0.113.7/32")}}
		cfg := ApplyDefaults("dev", Dev, raw)
		raw.Zones[0] = "changed"
		raw.AdminCIDRs[0] = prefix("198.51.100.0/24")
		assert.Equal(t, []string{"eu-central-1a"}, cfg.Zones)
		assert.Equal(t, []netip.Prefix{prefix("203.0.113.7/32")}, cfg.AdminCIDRs)
	})
}

func TestEnvironmentHAAndCloudLocal(t *testing.T) {
	for env, ha := range map[Environment]bool{Local: false, Dev: false, Staging: true, Prod: true} {
		assert.Equal(t, ha, env.HA(), "HA of %s", env)
	}
	for cloud, local := range map[Cloud]bool{VirtualBox: true, Docker: true, AWS: false, GCP: false, Azure: false, Hetzner: false} {
		assert.Equal(t, local, cloud.Local(), "Local of %s", cloud)
	}
}
