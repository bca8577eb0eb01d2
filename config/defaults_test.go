package config

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
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
				// Local serves no public TLS: neither domain nor acmeEmail.
				Domain:     "",
				ACMEEmail:  "",
				Ingress:    "cilium",
				Secrets:    "sealed-secrets",
				Charts:     DefaultCharts,
				HelmValues: nil,
				Monitoring: Monitoring{Retention: "3d", PrometheusStorage: "10Gi", AlertmanagerStorage: "1Gi", GrafanaStorage: "2Gi"},
				Logging:    Logging{Collector: CollectorAlloy, Retention: "3d", Storage: "10Gi"},
				EtcdBackup: EtcdBackup{Enabled: false, Schedule: DefaultEtcdBackupSchedule},
				Practice:   true,
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
				Domain:            "lab.example.com",
				ACMEEmail:         "sre@example.com",
				Ingress:           "cilium",
				Secrets:           "sealed-secrets",
				Charts:            DefaultCharts,
				HelmValues:        nil,
				Monitoring:        Monitoring{Retention: "7d", PrometheusStorage: "20Gi", AlertmanagerStorage: "1Gi", GrafanaStorage: "5Gi"},
				Logging:           Logging{Collector: CollectorAlloy, Retention: "7d", Storage: "10Gi"},
				EtcdBackup:        EtcdBackup{Enabled: false, Schedule: DefaultEtcdBackupSchedule, Recipient: testRecipient},
				Practice:          true,
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
				Domain:            "lab.example.com",
				ACMEEmail:         "sre@example.com",
				Ingress:           "cilium",
				Secrets:           "sealed-secrets",
				Charts:            DefaultCharts,
				HelmValues:        nil,
				Monitoring:        Monitoring{Retention: "15d", PrometheusStorage: "50Gi", AlertmanagerStorage: "2Gi", GrafanaStorage: "5Gi"},
				Logging:           Logging{Collector: CollectorAlloy, Retention: "14d", Storage: "20Gi"},
				EtcdBackup:        EtcdBackup{Enabled: true, Schedule: DefaultEtcdBackupSchedule, Recipient: testRecipient},
				Practice:          false,
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
				Domain:            "lab.example.com",
				ACMEEmail:         "sre@example.com",
				Ingress:           "cilium",
				Secrets:           "sealed-secrets",
				Charts:            DefaultCharts,
				HelmValues:        nil,
				Monitoring:        Monitoring{Retention: "30d", PrometheusStorage: "100Gi", AlertmanagerStorage: "5Gi", GrafanaStorage: "10Gi"},
				Logging:           Logging{Collector: CollectorAlloy, Retention: "30d", Storage: "50Gi"},
				EtcdBackup:        EtcdBackup{Enabled: true, Schedule: DefaultEtcdBackupSchedule, Recipient: testRecipient},
				Practice:          false,
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
			assert.Equal(t, row.Monitoring, got.Monitoring)
			assert.Equal(t, row.Practice, got.Practice)
			assert.Equal(t, tt.want.Environment.HA(), got.ProtectSecrets)
			assert.Equal(t, IngressCilium, got.Ingress)
			assert.Equal(t, SecretsSealed, got.Secrets)
			assert.Equal(t, DefaultCharts, got.Charts)
			assert.Nil(t, got.HelmValues)
			if got.Cloud.Local() {
				assert.Empty(t, got.Domain, "a local stack needs no domain")
				assert.Empty(t, got.ACMEEmail, "a local stack needs no acmeEmail")
			}
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
			// A default the validator rejects would fail every stack of
			// the environment that leaves the key unset.
			assert.Empty(t, validateMonitoring(row.Monitoring), "monitoring defaults of %s", env)
		}
	}
}

// TestMonitoringDefaultsPerEnvironment pins how long each environment keeps
// metrics and how much disk its monitoring stack claims, and that the
// environment, not the stack name, picks the row.
func TestMonitoringDefaultsPerEnvironment(t *testing.T) {
	want := map[Environment]Monitoring{
		Local:   {Retention: "3d", PrometheusStorage: "10Gi", AlertmanagerStorage: "1Gi", GrafanaStorage: "2Gi"},
		Dev:     {Retention: "7d", PrometheusStorage: "20Gi", AlertmanagerStorage: "1Gi", GrafanaStorage: "5Gi"},
		Staging: {Retention: "15d", PrometheusStorage: "50Gi", AlertmanagerStorage: "2Gi", GrafanaStorage: "5Gi"},
		Prod:    {Retention: "30d", PrometheusStorage: "100Gi", AlertmanagerStorage: "5Gi", GrafanaStorage: "10Gi"},
	}
	require.Len(t, want, len(Environments), "one expectation per environment")
	for _, env := range Environments {
		t.Run(string(env), func(t *testing.T) {
			k := awsKeys
			if env == Local {
				k = keys{}
			}
			assert.Equal(t, want[env], mustParse(t, string(env), k).Monitoring, "parsed")
			assert.Equal(t, want[env], ApplyDefaults(string(env), env, Raw{}).Monitoring, "ApplyDefaults")
			assert.Equal(t, want[env], EnvironmentMatrix[env].Monitoring, "matrix")
		})
	}
	t.Run("the environment key picks the row, not the stack name", func(t *testing.T) {
		cfg := mustParse(t, "dev", awsKeys.with(keys{KeyEnvironment: "prod"}))
		assert.Equal(t, want[Prod], cfg.Monitoring)
	})
}

func TestLoggingDefaultsPerEnvironment(t *testing.T) {
	want := map[Environment]Logging{
		Local:   {Collector: CollectorAlloy, Retention: "3d", Storage: "10Gi"},
		Dev:     {Collector: CollectorAlloy, Retention: "7d", Storage: "10Gi"},
		Staging: {Collector: CollectorAlloy, Retention: "14d", Storage: "20Gi"},
		Prod:    {Collector: CollectorAlloy, Retention: "30d", Storage: "50Gi"},
	}
	require.Len(t, want, len(Environments), "one expectation per environment")
	for _, env := range Environments {
		t.Run(string(env), func(t *testing.T) {
			k := awsKeys
			if env == Local {
				k = keys{}
			}
			assert.Equal(t, want[env], mustParse(t, string(env), k).Logging)
		})
	}
	t.Run("explicit values win", func(t *testing.T) {
		cfg := mustParse(t, "prod", awsKeys.with(keys{KeyLogCollector: "promtail", KeyLogRetention: "168h", KeyLokiStorage: "5Gi"}))
		assert.Equal(t, Logging{Collector: CollectorPromtail, Retention: "168h", Storage: "5Gi"}, cfg.Logging)
	})
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
			keys:  awsKeys.with(keys{KeyClusterName: "team-a", KeyDomain: "team-a.example.org"}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, "team-a", cfg.ClusterName)
				assert.Equal(t, "team-a.example.org", cfg.Domain)
			},
		},
		{
			name:  "domain on local is kept though not required",
			stack: "local",
			keys:  keys{KeyDomain: "lab.internal.example"},
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, "lab.internal.example", cfg.Domain)
				assert.Equal(t, "lab.internal.example", cfg.IngressDomain())
			},
		},
		{
			name:  "acmeEmail on aws",
			stack: "prod",
			keys:  awsKeys.with(keys{KeyACMEEmail: "platform+certs@team-a.example.org"}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, "platform+certs@team-a.example.org", cfg.ACMEEmail)
			},
		},
		{
			name:  "secrets external-secrets",
			stack: "dev",
			keys:  awsKeys.with(keys{KeySecrets: "external-secrets"}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, SecretsExternal, cfg.Secrets)
				assert.Equal(t, IngressCilium, cfg.Ingress, "ingress keeps its default")
			},
		},
		{
			name:  "ingress cilium set explicitly",
			stack: "local",
			keys:  keys{KeyIngress: "cilium", KeySecrets: "sealed-secrets"},
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, IngressCilium, cfg.Ingress)
				assert.Equal(t, SecretsSealed, cfg.Secrets)
			},
		},
		{
			name:  "chartVersions changes only the version of the named chart",
			stack: "staging",
			keys:  awsKeys.with(keys{KeyChartVersions: `{"cilium":"1.20.2"}`}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, Chart{Name: "cilium", Repo: "https://helm.cilium.io/", Version: "1.20.2"}, cfg.Charts[ChartCilium])
				assert.Equal(t, DefaultCharts[ChartCilium].Repo, cfg.Charts[ChartCilium].Repo, "the repository is kept")
				assert.Len(t, cfg.Charts, len(DefaultCharts), "no chart added or dropped")
				for name, chart := range DefaultCharts {
					if name != ChartCilium {
						assert.Equal(t, chart, cfg.Charts[name], "%s keeps its pin", name)
					}
				}
				assert.Nil(t, cfg.HelmValues)
			},
		},
		{
			name:  "chartVersions for several charts",
			stack: "local",
			keys:  keys{KeyChartVersions: `{"cert-manager":"v1.21.0","gateway-api":"v1.6.0"}`},
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, "v1.21.0", cfg.Charts[ChartCertManager].Version)
				assert.Equal(t, DefaultCharts[ChartCertManager].Repo, cfg.Charts[ChartCertManager].Repo)
				assert.Equal(t, "v1.6.0", cfg.Charts[ChartGatewayAPI].Version)
				assert.Equal(t, DefaultCharts[ChartCilium], cfg.Charts[ChartCilium])
			},
		},
		{
			name:  "an empty chartVersions object keeps every pin",
			stack: "local",
			keys:  keys{KeyChartVersions: `{}`},
			check: func(t *testing.T, cfg Config) { assert.Equal(t, DefaultCharts, cfg.Charts) },
		},
		{
			name:  "helmValues are carried through",
			stack: "dev",
			keys:  awsKeys.with(keys{KeyHelmValues: `{"cilium":{"operator":{"replicas":1}}}`}),
			check: func(t *testing.T, cfg Config) {
				// JSON numbers arrive as float64, as Helm itself decodes them.
				assert.Equal(t, map[string]map[string]any{
					"cilium": {"operator": map[string]any{"replicas": float64(1)}},
				}, cfg.HelmValues)
				assert.Equal(t, DefaultCharts, cfg.Charts, "values do not change the pins")
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
			name:  "retention alone",
			stack: "staging",
			keys:  awsKeys.with(keys{KeyRetention: "1d12h"}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, Monitoring{Retention: "1d12h", PrometheusStorage: "50Gi", AlertmanagerStorage: "2Gi", GrafanaStorage: "5Gi"},
					cfg.Monitoring, "the volumes keep their staging defaults")
			},
		},
		{
			name:  "prometheusStorage alone",
			stack: "prod",
			keys:  awsKeys.with(keys{KeyPrometheusStorage: "1.5Ti"}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, Monitoring{Retention: "30d", PrometheusStorage: "1.5Ti", AlertmanagerStorage: "5Gi", GrafanaStorage: "10Gi"},
					cfg.Monitoring, "the others keep their prod defaults")
			},
		},
		{
			name:  "alertmanagerStorage alone",
			stack: "dev",
			keys:  awsKeys.with(keys{KeyAlertmanagerStorage: "500Mi"}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, Monitoring{Retention: "7d", PrometheusStorage: "20Gi", AlertmanagerStorage: "500Mi", GrafanaStorage: "5Gi"},
					cfg.Monitoring, "the others keep their dev defaults")
			},
		},
		{
			name:  "grafanaStorage alone",
			stack: "local",
			keys:  keys{KeyGrafanaStorage: "3G"},
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, Monitoring{Retention: "3d", PrometheusStorage: "10Gi", AlertmanagerStorage: "1Gi", GrafanaStorage: "3G"},
					cfg.Monitoring, "the others keep their local defaults")
			},
		},
		{
			name:  "every monitoring key on local",
			stack: "local",
			keys: keys{
				KeyRetention: "12h", KeyPrometheusStorage: "4Gi",
				KeyAlertmanagerStorage: "256Mi", KeyGrafanaStorage: "1.5Gi",
			},
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, Monitoring{Retention: "12h", PrometheusStorage: "4Gi", AlertmanagerStorage: "256Mi", GrafanaStorage: "1.5Gi"}, cfg.Monitoring)
			},
		},
		{
			name:  "monitoring keys smaller than prod's defaults on prod",
			stack: "prod",
			keys: awsKeys.with(keys{
				KeyRetention: "1w", KeyPrometheusStorage: "20Gi",
				KeyAlertmanagerStorage: "1Gi", KeyGrafanaStorage: "2Gi",
			}),
			check: func(t *testing.T, cfg Config) {
				assert.Equal(t, Monitoring{Retention: "1w", PrometheusStorage: "20Gi", AlertmanagerStorage: "1Gi", GrafanaStorage: "2Gi"}, cfg.Monitoring)
			},
		},
		{
			name:  "explicit 0.0.0.0/0 is allowed with allowWideAdminCidrs",
			stack: "dev",
			keys:  awsKeys.with(keys{KeyAdminCIDRs: `["0.0.0.0/0"]`, KeyAllowWideAdminCIDRs: "true"}),
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
	boolPtr := func(b bool) *bool { return &b }
	aws := AWS

	t.Run("local stacks get no adminCidrs: there is no firewall", func(t *testing.T) {
		cfg := ApplyDefaults("local", Local, Raw{})
		assert.Nil(t, cfg.AdminCIDRs)
		assert.Nil(t, cfg.Zones)
		assert.Empty(t, cfg.Region)
		assert.Empty(t, cfg.Domain)
		assert.Empty(t, cfg.ACMEEmail)
		assert.Equal(t, IngressCilium, cfg.Ingress)
		assert.Equal(t, SecretsSealed, cfg.Secrets)
		assert.Equal(t, DefaultCharts, cfg.Charts)
		assert.Nil(t, cfg.HelmValues)
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
			Domain:              ptr("lab.example.com"),
			ACMEEmail:           ptr("sre@example.com"),
			Ingress:             ptr("cilium"),
			Secrets:             ptr("external-secrets"),
			ChartVersions:       map[string]string{ChartCilium: "1.20.2"},
			HelmValues:          map[string]map[string]any{ChartCilium: {"operator": map[string]any{"replicas": 1}}},
			Retention:           ptr("45d"),
			PrometheusStorage:   ptr("200Gi"),
			AlertmanagerStorage: ptr("3Gi"),
			GrafanaStorage:      ptr("20Gi"),
			LogCollector:        ptr("promtail"),
			LogRetention:        ptr("60d"),
			LokiStorage:         ptr("80Gi"),
			EtcdBackups:         boolPtr(false),
			Practice:            boolPtr(true),
			EtcdBackupSchedule:  ptr("0 3 * * *"),
			EtcdBackupRecipient: ptr("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"),
		}
		charts := maps.Clone(DefaultCharts)
		charts[ChartCilium] = Chart{Name: ChartCilium, Repo: "https://helm.cilium.io/", Version: "1.20.2"}
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
			Domain:            "lab.example.com",
			ACMEEmail:         "sre@example.com",
			Ingress:           "cilium",
			Secrets:           "external-secrets",
			Charts:            charts,
			HelmValues:        map[string]map[string]any{"cilium": {"operator": map[string]any{"replicas": 1}}},
			Monitoring:        Monitoring{Retention: "45d", PrometheusStorage: "200Gi", AlertmanagerStorage: "3Gi", GrafanaStorage: "20Gi"},
			Logging:           Logging{Collector: CollectorPromtail, Retention: "60d", Storage: "80Gi"},
			EtcdBackup:        EtcdBackup{Enabled: false, Schedule: "0 3 * * *", Recipient: "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"},
			Practice:          true,
		}, cfg)
	})
	t.Run("explicit empty monitoring values are not replaced by defaults", func(t *testing.T) {
		// Validate rejects them by key; a default must not hide the mistake.
		cfg := ApplyDefaults("prod", Prod, Raw{Retention: ptr(""), PrometheusStorage: ptr(""), AlertmanagerStorage: ptr(""), GrafanaStorage: ptr("")})
		assert.Equal(t, Monitoring{}, cfg.Monitoring)
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
	t.Run("the charts of a config are its own copy", func(t *testing.T) {
		before := maps.Clone(DefaultCharts)
		first := ApplyDefaults("local", Local, Raw{})
		first.Charts[ChartCilium] = Chart{Name: ChartCilium, Version: "changed"}
		delete(first.Charts, ChartCertManager)
		second := ApplyDefaults("local", Local, Raw{})
		assert.Equal(t, before, DefaultCharts)
		assert.Equal(t, before, second.Charts)
	})
	t.Run("adding helmValues to a config leaves raw alone", func(t *testing.T) {
		raw := Raw{HelmValues: map[string]map[string]any{ChartCilium: {}}}
		cfg := ApplyDefaults("local", Local, raw)
		cfg.HelmValues[ChartCertManager] = map[string]any{"crds": true}
		assert.Equal(t, map[string]map[string]any{ChartCilium: {}}, raw.HelmValues)
	})
}

// TestChartOverrideDoesNotMutateDefaultCharts: an override belongs to one
// stack; the pin table every other stack starts from stays as released.
func TestChartOverrideDoesNotMutateDefaultCharts(t *testing.T) {
	before := maps.Clone(DefaultCharts)
	pinned := DefaultCharts[ChartCilium].Version
	require.NotEqual(t, "1.20.2", pinned, "the override must differ from the pin to prove anything")

	cfg := mustParse(t, "dev", awsKeys.with(keys{KeyChartVersions: `{"cilium":"1.20.2","cert-manager":"v1.20.0"}`}))
	require.Equal(t, "1.20.2", cfg.Charts[ChartCilium].Version)

	assert.Equal(t, pinned, DefaultCharts[ChartCilium].Version)
	assert.Equal(t, before, DefaultCharts)

	// Writing through the parsed config does not reach the table either.
	cfg.Charts[ChartCilium] = Chart{Name: ChartCilium, Version: "9.9.9"}
	assert.Equal(t, before, DefaultCharts)

	// And the next stack parsed gets the pins, not the last override.
	next := mustParse(t, "dev", awsKeys)
	assert.Equal(t, before, next.Charts)
}

// TestDefaultChartsAreComplete: every pin is keyed by its own name and has a
// repository and an exact version, so an unset chartVersions installs
// something real.
func TestDefaultChartsAreComplete(t *testing.T) {
	assert.ElementsMatch(t, []string{
		ChartCilium, ChartGatewayAPI, ChartPrometheusCRDs, ChartCertManager,
		ChartSealedSecrets, ChartExternalSecrets, ChartLocalPath, ChartEBSCSI,
		ChartKubePrometheus, ChartLoki, ChartAlloy, ChartPromtail,
		ChartPodinfo, ChartChaosMesh,
	}, slices.Collect(maps.Keys(DefaultCharts)))
	for name, chart := range DefaultCharts {
		assert.Equal(t, name, chart.Name, "key and name of %s", name)
		assert.NotEmpty(t, chart.Repo, name)
		assert.NotEmpty(t, strings.TrimSpace(chart.Version), name)
		assert.Equal(t, strings.TrimSpace(chart.Version), chart.Version, "%s version has no stray spaces", name)
	}
	// The error messages list the same charts, sorted.
	assert.Equal(t, "known charts: "+strings.Join(slices.Sorted(maps.Keys(DefaultCharts)), ", "), knownCharts)
	// Both secrets operators the secrets key allows have a chart.
	assert.Contains(t, DefaultCharts, SecretsSealed)
	assert.Contains(t, DefaultCharts, SecretsExternal)
	assert.Contains(t, DefaultCharts, IngressCilium)
	// Both log collectors have a chart.
	assert.Contains(t, DefaultCharts, CollectorAlloy)
	assert.Contains(t, DefaultCharts, CollectorPromtail)
	// The monitoring stack's operator and the CRDs installed before it are
	// released together from one repository.
	assert.Equal(t, DefaultCharts[ChartPrometheusCRDs].Repo, DefaultCharts[ChartKubePrometheus].Repo)
}

func TestEnvironmentHAAndCloudLocal(t *testing.T) {
	for env, ha := range map[Environment]bool{Local: false, Dev: false, Staging: true, Prod: true} {
		assert.Equal(t, ha, env.HA(), "HA of %s", env)
	}
	for cloud, local := range map[Cloud]bool{VirtualBox: true, Docker: true, AWS: false, GCP: false, Azure: false, Hetzner: false} {
		assert.Equal(t, local, cloud.Local(), "Local of %s", cloud)
	}
}

func TestOverridesAreNormalisedAndOwned(t *testing.T) {
	cfg := mustParse(t, "dev", awsKeys.with(keys{
		KeyChartVersions: `{"cilium":" 1.20.2 "}`,
		KeyHelmValues:    `{"cilium":{"operator":{"replicas":1}}}`,
		KeyACMEEmail:     "SRE@Example.COM",
	}))
	assert.Equal(t, "1.20.2", cfg.Charts[ChartCilium].Version, "surrounding spaces would make Helm refuse the version")
	assert.Equal(t, "SRE@Example.COM", cfg.ACMEEmail, "e-mail domains are case-insensitive")

	raw := Raw{HelmValues: map[string]map[string]any{"cilium": {"operator": map[string]any{"replicas": 1.0}}}}
	owned := ApplyDefaults("dev", Dev, raw)
	raw.HelmValues["cilium"]["operator"].(map[string]any)["replicas"] = 3.0
	assert.Equal(t, 1.0, owned.HelmValues["cilium"]["operator"].(map[string]any)["replicas"], "a Config shares no values with its Raw")
}

func TestIngressDomain(t *testing.T) {
	assert.Equal(t, "sre-lab.internal", mustParse(t, "local", keys{}).IngressDomain(), "a private zone the host resolves through /etc/hosts")
	assert.Equal(t, "lab.example.com", mustParse(t, "dev", awsKeys).IngressDomain())
}

// TestLogReceiverIP: Talos's logs go to a fixed cluster IP, which must lie
// in the service network's low band that Kubernetes keeps for static
// addresses, and not on CoreDNS.
func TestLogReceiverIP(t *testing.T) {
	assert.True(t, ServiceCIDR.Contains(LogReceiverIP))
	ip, base := LogReceiverIP.As4(), ServiceCIDR.Addr().As4()
	assert.Equal(t, base[:3], ip[:3], "within the first 256 addresses")
	assert.NotEqual(t, byte(10), ip[3]-base[3], "CoreDNS has .10")
}

// TestHetznerAndDockerDefaults: the matrix has sizes for the new backends,
// and Docker nodes get their own bridge network.
func TestHetznerAndDockerDefaults(t *testing.T) {
	for env, want := range map[string][2]string{
		"dev": {"cx23", "cx23"}, "staging": {"cx23", "cx33"}, "prod": {"cx33", "cx43"},
	} {
		cfg := mustParse(t, env, hetznerKeys)
		assert.Equal(t, want, [2]string{cfg.ControlPlane.Size, cfg.Workers.Size}, env)
		assert.Equal(t, DefaultCloudNetwork, cfg.NetworkCIDR, env)
		assert.Equal(t, "fsn1", cfg.Region)
	}
	cfg := mustParse(t, "prod", hetznerKeys.with(keys{KeyTalosImage: "123456"}))
	assert.Equal(t, "123456", cfg.TalosImage)

	docker := mustParse(t, "local", keys{KeyCloud: "docker"})
	assert.Equal(t, DefaultDockerNetwork, docker.NetworkCIDR)
	assert.Equal(t, "2cpu-4gb", docker.Workers.Size)
	assert.Equal(t, 3, docker.ControlPlane.Count)
	assert.Equal(t, 2, docker.Workers.Count)
}

// TestEtcdBackupRecipientOptionalOutsideHA: dev may keep snapshots to the
// bucket's encryption at rest, and staging and prod with backups off need
// no recipient.
func TestEtcdBackupRecipientOptionalOutsideHA(t *testing.T) {
	noKey := awsKeys.without(KeyEtcdBackupRecipient)
	assert.True(t, mustParse(t, "dev", noKey.with(keys{KeyEtcdBackups: "true"})).EtcdBackup.Enabled)
	for _, stack := range []string{"staging", "prod"} {
		assert.False(t, mustParse(t, stack, noKey.with(keys{KeyEtcdBackups: "false"})).EtcdBackup.Enabled, stack)
	}
}

// TestEtcdBackupDefaults: snapshots are on where losing etcd costs most
// and a bucket exists for them, and never silently on elsewhere.
func TestEtcdBackupDefaults(t *testing.T) {
	for _, tc := range []struct {
		stack string
		keys  keys
		want  bool
	}{
		{"local", keys{}, false},
		{"dev", awsKeys, false},
		{"staging", awsKeys, true},
		{"prod", awsKeys, true},
		{"prod", hetznerKeys, false},
		{"dev", awsKeys.with(keys{KeyEtcdBackups: "true"}), true},
		{"prod", awsKeys.with(keys{KeyEtcdBackups: "false"}), false},
	} {
		cfg := mustParse(t, tc.stack, tc.keys)
		assert.Equal(t, tc.want, cfg.EtcdBackup.Enabled, "%s %v", tc.stack, tc.keys)
		assert.Equal(t, DefaultEtcdBackupSchedule, cfg.EtcdBackup.Schedule)
	}
	cfg := mustParse(t, "prod", awsKeys.with(keys{KeyEtcdBackupSchedule: "0 3,15 * * 1-5", KeyEtcdBackupRecipient: "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}))
	assert.Equal(t, "0 3,15 * * 1-5", cfg.EtcdBackup.Schedule)
	assert.Equal(t, "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p", cfg.EtcdBackup.Recipient)
}

// TestPracticeDefaults: the practice layer is on where people learn and
// test (local, dev) and off where the cluster serves others (staging,
// prod), and an explicit setting wins in every environment.
func TestPracticeDefaults(t *testing.T) {
	for _, tc := range []struct {
		stack string
		keys  keys
		want  bool
	}{
		{"local", keys{}, true},
		{"local", keys{KeyCloud: "docker"}, true},
		{"dev", awsKeys, true},
		{"dev", hetznerKeys, true},
		{"staging", awsKeys, false},
		{"prod", awsKeys, false},
		{"local", keys{KeyPractice: "false"}, false},
		{"dev", awsKeys.with(keys{KeyPractice: "false"}), false},
		{"staging", awsKeys.with(keys{KeyPractice: "true"}), true},
		{"prod", awsKeys.with(keys{KeyPractice: " TRUE "}), true},
	} {
		assert.Equal(t, tc.want, mustParse(t, tc.stack, tc.keys).Practice, "%s %v", tc.stack, tc.keys)
	}
}
