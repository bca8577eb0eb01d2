package config

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Network defaults. The local one is VirtualBox's default host-only network;
// the cloud one is a private range clear of the pod and service networks.
var (
	DefaultLocalNetwork = netip.MustParsePrefix("192.168.56.0/24")
	// DefaultDockerNetwork is the bridge Talos containers share; talosctl's
	// own Docker clusters use the same range.
	DefaultDockerNetwork = netip.MustParsePrefix("10.5.0.0/24")
	DefaultCloudNetwork  = netip.MustParsePrefix("10.0.0.0/16")
)

// Pod and service networks of every cluster. Talos configures Kubernetes with
// them and the node network must not overlap either.
var (
	PodCIDR     = netip.MustParsePrefix("10.244.0.0/16")
	ServiceCIDR = netip.MustParsePrefix("10.96.0.0/12")
	// LogReceiverIP is the fixed cluster IP of the service that receives
	// Talos's own logs: Talos sends them from the host, where no cluster
	// name resolves, so its config carries an address. It sits in the low
	// band Kubernetes keeps for static cluster IPs, clear of CoreDNS at .10.
	LogReceiverIP = netip.MustParseAddr("10.96.0.20")
)

// Matrix is one row of the environment matrix: the node counts, the
// default sizes per backend, how much the monitoring stack keeps, and
// whether the practice layer is installed.
type Matrix struct {
	ControlPlanes int
	Workers       int
	Monitoring    Monitoring
	Logging       Logging
	// Practice installs the demo service and the chaos engine: on where
	// people learn and test, off where a cluster serves others, since the
	// chaos engine's daemon runs privileged on every worker.
	Practice bool
	// ControlPlaneSize and WorkerSize are keyed by backend.
	ControlPlaneSize map[Cloud]string
	WorkerSize       map[Cloud]string
}

// EnvironmentMatrix is the environment matrix README.md documents.
var EnvironmentMatrix = map[Environment]Matrix{
	Local: {
		ControlPlanes:    3,
		Workers:          2,
		Monitoring:       Monitoring{Retention: "3d", PrometheusStorage: "10Gi", AlertmanagerStorage: "1Gi", GrafanaStorage: "2Gi"},
		Logging:          Logging{Collector: CollectorAlloy, Retention: "3d", Storage: "10Gi"},
		Practice:         true,
		ControlPlaneSize: map[Cloud]string{VirtualBox: "2cpu-4gb", Docker: "2cpu-4gb"},
		WorkerSize:       map[Cloud]string{VirtualBox: "2cpu-4gb", Docker: "2cpu-4gb"},
	},
	Dev: {
		ControlPlanes:    1,
		Workers:          1,
		Monitoring:       Monitoring{Retention: "7d", PrometheusStorage: "20Gi", AlertmanagerStorage: "1Gi", GrafanaStorage: "5Gi"},
		Logging:          Logging{Collector: CollectorAlloy, Retention: "7d", Storage: "10Gi"},
		Practice:         true,
		ControlPlaneSize: map[Cloud]string{AWS: "t3.medium", GCP: "e2-medium", Azure: "Standard_B2s", Hetzner: "cx23"},
		WorkerSize:       map[Cloud]string{AWS: "t3.medium", GCP: "e2-medium", Azure: "Standard_B2s", Hetzner: "cx23"},
	},
	Staging: {
		ControlPlanes:    3,
		Workers:          2,
		Monitoring:       Monitoring{Retention: "15d", PrometheusStorage: "50Gi", AlertmanagerStorage: "2Gi", GrafanaStorage: "5Gi"},
		Logging:          Logging{Collector: CollectorAlloy, Retention: "14d", Storage: "20Gi"},
		Practice:         false,
		ControlPlaneSize: map[Cloud]string{AWS: "t3.medium", GCP: "e2-medium", Azure: "Standard_B2s", Hetzner: "cx23"},
		WorkerSize:       map[Cloud]string{AWS: "t3.large", GCP: "e2-standard-2", Azure: "Standard_B2ms", Hetzner: "cx33"},
	},
	Prod: {
		ControlPlanes:    3,
		Workers:          3,
		Monitoring:       Monitoring{Retention: "30d", PrometheusStorage: "100Gi", AlertmanagerStorage: "5Gi", GrafanaStorage: "10Gi"},
		Logging:          Logging{Collector: CollectorAlloy, Retention: "30d", Storage: "50Gi"},
		Practice:         false,
		ControlPlaneSize: map[Cloud]string{AWS: "t3.large", GCP: "e2-standard-2", Azure: "Standard_B2ms", Hetzner: "cx33"},
		WorkerSize:       map[Cloud]string{AWS: "t3.xlarge", GCP: "e2-standard-4", Azure: "Standard_B4ms", Hetzner: "cx43"},
	},
}

// DefaultEtcdBackupSchedule takes a snapshot every six hours, at a minute
// clear of the hour when other jobs start.
const DefaultEtcdBackupSchedule = "17 */6 * * *"

// Disk defaults in GiB, from the local topology (40 GB control planes,
// 50 GB workers), used on every backend.
const (
	DefaultControlPlaneDiskGiB = 40
	DefaultWorkerDiskGiB       = 50
)

// ApplyDefaults fills every key the user left unset from the environment's
// row of the matrix. It never touches a value the user set. It is pure so
// the matrix can be tested without Pulumi.
func ApplyDefaults(stack string, env Environment, raw Raw) Config {
	row := EnvironmentMatrix[env]
	cfg := Config{
		Stack:             stack,
		Environment:       env,
		Cloud:             pick(raw.Cloud, defaultCloud(env)),
		Region:            pick(raw.Region, ""),
		Zones:             slices.Clone(raw.Zones),
		ClusterName:       pick(raw.ClusterName, "sre-lab-"+string(env)),
		Domain:            pick(raw.Domain, ""),
		TalosVersion:      pick(raw.TalosVersion, DefaultTalosVersion),
		TalosImage:        pick(raw.TalosImage, ""),
		KubernetesVersion: pick(raw.KubernetesVersion, DefaultKubernetesVersion),
		ProtectSecrets:    env.HA(),
	}
	cfg.ControlPlane = NodePool{
		Count:   pick(raw.ControlPlaneCount, row.ControlPlanes),
		Size:    pick(raw.ControlPlaneSize, row.ControlPlaneSize[cfg.Cloud]),
		DiskGiB: pick(raw.ControlPlaneDiskGiB, DefaultControlPlaneDiskGiB),
	}
	cfg.Workers = NodePool{
		Count:   pick(raw.WorkerCount, row.Workers),
		Size:    pick(raw.WorkerSize, row.WorkerSize[cfg.Cloud]),
		DiskGiB: pick(raw.WorkerDiskGiB, DefaultWorkerDiskGiB),
	}
	network := DefaultCloudNetwork
	switch {
	case cfg.Cloud == Docker:
		network = DefaultDockerNetwork
	case cfg.Cloud.Local():
		network = DefaultLocalNetwork
	}
	cfg.NetworkCIDR = pick(raw.NetworkCIDR, network)
	// No default: a cloud stack must name who may reach its APIs, and a
	// local one has no firewall to configure.
	cfg.AdminCIDRs = slices.Clone(raw.AdminCIDRs)
	cfg.AllowWideAdminCIDRs = pick(raw.AllowWideAdminCIDRs, false)
	cfg.Monitoring = Monitoring{
		Retention:           pick(raw.Retention, row.Monitoring.Retention),
		PrometheusStorage:   pick(raw.PrometheusStorage, row.Monitoring.PrometheusStorage),
		AlertmanagerStorage: pick(raw.AlertmanagerStorage, row.Monitoring.AlertmanagerStorage),
		GrafanaStorage:      pick(raw.GrafanaStorage, row.Monitoring.GrafanaStorage),
	}
	cfg.Logging = Logging{
		Collector: pick(raw.LogCollector, row.Logging.Collector),
		Retention: pick(raw.LogRetention, row.Logging.Retention),
		Storage:   pick(raw.LokiStorage, row.Logging.Storage),
	}
	cfg.EtcdBackup = EtcdBackup{
		Enabled:   pick(raw.EtcdBackups, env.HA() && cfg.Cloud.ObjectStorage()),
		Schedule:  pick(raw.EtcdBackupSchedule, DefaultEtcdBackupSchedule),
		Recipient: pick(raw.EtcdBackupRecipient, ""),
	}
	cfg.Practice = pick(raw.Practice, row.Practice)
	cfg.Ingress = pick(raw.Ingress, IngressCilium)
	cfg.Secrets = pick(raw.Secrets, SecretsSealed)
	cfg.ACMEEmail = pick(raw.ACMEEmail, "")
	cfg.Charts = maps.Clone(DefaultCharts)
	for name, version := range raw.ChartVersions {
		chart := cfg.Charts[name]
		chart.Name, chart.Version = name, strings.TrimSpace(version)
		cfg.Charts[name] = chart
	}
	if raw.HelmValues != nil {
		cfg.HelmValues = map[string]map[string]any{}
		for name, values := range raw.HelmValues {
			cfg.HelmValues[name] = deepCopy(values).(map[string]any)
		}
	}
	return cfg
}

// deepCopy copies the maps and slices of decoded JSON so a Config never
// shares them with the Raw it came from.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// defaultCloud is VirtualBox for the local environment. Cloud environments
// have no default: the user chooses whose account pays.
func defaultCloud(env Environment) Cloud {
	if env == Local {
		return VirtualBox
	}
	return ""
}

func pick[T any](explicit *T, fallback T) T {
	if explicit != nil {
		return *explicit
	}
	return fallback
}
