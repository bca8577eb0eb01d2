package config

// Pinned releases. This is the one table of versions in the program; stack
// config may override each of them.
const (
	// DefaultTalosVersion is the Talos release nodes boot and install. It
	// follows the Talos machinery module in go.mod, which the pulumi-talos
	// provider (Talos 1.12 SDK) and the patch validator both speak.
	DefaultTalosVersion = "v1.12.4"
	// DefaultKubernetesVersion is the Kubernetes release Talos v1.12.4
	// installs by default.
	DefaultKubernetesVersion = "1.35.0"
	// SupportedTalosMinor is the Talos minor release this build's provider
	// and machinery can configure.
	SupportedTalosMinor = "v1.12"
)

// TalosBackupImage is Sidero Labs' etcd snapshot job for Talos clusters.
const TalosBackupImage = "ghcr.io/siderolabs/talos-backup:v0.1.0-beta.3"

// LoadGeneratorImage is fortio (Apache-2.0), the practice layer's load
// generator: release v1.75.2, which fortio's release workflow
// (.github/workflows/main.yml) pushes as fortio/fortio:1.75.2, the tag
// without its v.
const LoadGeneratorImage = "docker.io/fortio/fortio:1.75.2"

// Chart is a Helm chart (or, for gateway-api, a release manifest) pinned to
// a repository and an exact version.
type Chart struct {
	// Name is the chart's name; releases are named after it.
	Name string
	// Repo is the chart repository: an https index or an oci:// registry path.
	Repo string
	// Version is the exact chart version.
	Version string
}

// Chart names, the keys of DefaultCharts and of the chartVersions and
// helmValues config objects.
const (
	ChartCilium          = "cilium"
	ChartGatewayAPI      = "gateway-api"
	ChartPrometheusCRDs  = "prometheus-operator-crds"
	ChartCertManager     = "cert-manager"
	ChartSealedSecrets   = "sealed-secrets"
	ChartExternalSecrets = "external-secrets"
	ChartLocalPath       = "local-path-provisioner"
	ChartEBSCSI          = "aws-ebs-csi-driver"
	ChartKubePrometheus  = "kube-prometheus-stack"
	ChartLoki            = "loki"
	ChartAlloy           = "alloy"
	ChartPromtail        = "promtail"
	ChartPodinfo         = "podinfo"
	ChartChaosMesh       = "chaos-mesh"
)

// DefaultCharts pins every chart the lab installs. Each version was read from
// its project's release tags; stack config may override any of them through
// sre-lab:chartVersions.
var DefaultCharts = map[string]Chart{
	ChartCilium:          {ChartCilium, "https://helm.cilium.io/", "1.20.0"},
	ChartGatewayAPI:      {ChartGatewayAPI, "https://github.com/kubernetes-sigs/gateway-api/releases/download", "v1.6.1"},
	ChartPrometheusCRDs:  {ChartPrometheusCRDs, "https://prometheus-community.github.io/helm-charts", "31.0.1"},
	ChartCertManager:     {ChartCertManager, "https://charts.jetstack.io", "v1.21.1"},
	ChartSealedSecrets:   {ChartSealedSecrets, "https://bitnami-labs.github.io/sealed-secrets", "2.18.5"},
	ChartExternalSecrets: {ChartExternalSecrets, "https://charts.external-secrets.io", "2.9.0"},
	ChartLocalPath:       {ChartLocalPath, "oci://ghcr.io/rancher/local-path-provisioner/charts", "0.0.37"},
	ChartEBSCSI:          {ChartEBSCSI, "https://kubernetes-sigs.github.io/aws-ebs-csi-driver", "2.64.0"},
	// Its operator (v0.93.1) matches the CRDs of prometheus-operator-crds.
	ChartKubePrometheus: {ChartKubePrometheus, "https://prometheus-community.github.io/helm-charts", "88.5.3"},
	// Loki's chart moved to the community repository (Loki 3.7).
	ChartLoki:  {ChartLoki, "https://grafana-community.github.io/helm-charts", "18.11.0"},
	ChartAlloy: {ChartAlloy, "https://grafana.github.io/helm-charts", "1.11.1"},
	// The last release; the chart is deprecated with Promtail itself.
	ChartPromtail: {ChartPromtail, "https://grafana.github.io/helm-charts", "6.17.1"},
	// The practice layer's demo service. 6.9.2 rather than upstream's
	// newest (6.14.1): the chart is rendered offline from the project's Go
	// module, and the module proxy serves the commit of tag 6.9.2 but
	// refuses those of later tags (internal/charts/charts.lock.json).
	ChartPodinfo: {ChartPodinfo, "oci://ghcr.io/stefanprodan/charts", "6.9.2"},
	// The practice layer's chaos engine, the newest 2.x release (CHANGELOG.md
	// of chaos-mesh/chaos-mesh: 2.8.4, 2026-08-18).
	ChartChaosMesh: {ChartChaosMesh, "https://charts.chaos-mesh.org", "2.8.4"},
}
