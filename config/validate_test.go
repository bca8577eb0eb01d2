package config

import (
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// knownCharts is how chartVersions and helmValues errors list the charts the
// lab installs: every key of DefaultCharts, sorted.
const knownCharts = "known charts: alloy, aws-ebs-csi-driver, cert-manager, chaos-mesh, cilium, external-secrets, " +
	"gateway-api, kube-prometheus-stack, local-path-provisioner, loki, podinfo, prometheus-operator-crds, promtail, sealed-secrets"

// TestParseRejectsBadInput is the catalogue of configuration mistakes. Every
// error must name the full key, quote the offending value and say what is
// allowed, so the user can fix the stack file without reading code.
func TestParseRejectsBadInput(t *testing.T) {
	tests := []struct {
		name  string
		stack string
		keys  keys
		// key and value the error must carry.
		key, value string
		// allowed are phrases of the explanation.
		allowed []string
	}{
		// Backend.
		{"unknown cloud on dev", "dev", awsKeys.with(keys{KeyCloud: "gce"}),
			KeyCloud, "gce", []string{"the dev environment runs on aws, gcp, azure, hetzner"}},
		{"unknown cloud on local", "local", keys{KeyCloud: "gce"},
			KeyCloud, "gce", []string{"the local environment runs on virtualbox, docker"}},
		{"aws on local", "local", keys{KeyCloud: "aws"},
			KeyCloud, "aws", []string{"the local environment runs on virtualbox, docker"}},
		{"virtualbox on dev", "dev", awsKeys.with(keys{KeyCloud: "virtualbox"}),
			KeyCloud, "virtualbox", []string{"the dev environment runs on aws, gcp, azure, hetzner"}},
		// GCP.
		{"gcp with an AWS region", "dev", awsKeys.with(keys{KeyCloud: "gcp"}),
			KeyRegion, "eu-central-1", []string{"must be a GCP region such as europe-west3"}},
		{"gcp zone in AWS form", "staging", gcpKeys.with(keys{KeyZones: "europe-west3a"}),
			KeyZones, "europe-west3a", []string{"each zone must be in region europe-west3, such as europe-west3-a"}},
		{"gcp arm machine type", "dev", gcpKeys.with(keys{KeyWorkerSize: "t2a-standard-2"}),
			KeyWorkerSize, "t2a-standard-2", []string{"must be an amd64 GCP machine type"}},
		{"gcp machine type below the minimum", "dev", gcpKeys.with(keys{KeyWorkerSize: "e2-small"}),
			KeyWorkerSize, "e2-small", []string{"must be an amd64 GCP machine type"}},
		{"gcp highcpu too small in memory", "prod", gcpKeys.with(keys{KeyWorkerSize: "e2-highcpu-2"}),
			KeyWorkerSize, "e2-highcpu-2", []string{"4 GiB"}},

		// Azure.
		{"azure without an image", "dev", azureKeys.without(KeyTalosImage),
			KeyTalosImage, "", []string{"required on azure", "page blob", "docs/cloud-deployment.md"}},
		{"azure image not a VHD", "dev", azureKeys.with(keys{KeyTalosImage: "https://example.com/talos.iso"}),
			KeyTalosImage, "https://example.com/talos.iso", []string{"required on azure"}},
		{"azure location with spaces", "dev", azureKeys.with(keys{KeyRegion: "West Europe"}),
			KeyRegion, "West Europe", []string{"programmatic name such as westeurope"}},
		{"azure zone 4", "prod", azureKeys.with(keys{KeyZones: "1,4"}),
			KeyZones, "4", []string{"zones are 1, 2 and 3"}},
		{"azure arm size", "dev", azureKeys.with(keys{KeyWorkerSize: "Standard_D2ps_v5"}),
			KeyWorkerSize, "Standard_D2ps_v5", []string{"must be an amd64 Azure VM size"}},

		// Hetzner.
		{"hetzner with an AWS region", "dev", awsKeys.with(keys{KeyCloud: "hetzner"}),
			KeyRegion, "eu-central-1", []string{"must be a Hetzner Cloud location: ash, fsn1, hel1, hil, nbg1, sin"}},
		{"hetzner without a location", "dev", hetznerKeys.without(KeyRegion),
			KeyRegion, "", []string{"required on hetzner, for example fsn1"}},
		{"hetzner with zones", "staging", hetznerKeys.with(keys{KeyZones: "fsn1-dc14"}),
			KeyZones, "fsn1-dc14", []string{"has no meaning on hetzner", "placement group"}},
		{"hetzner arm type", "dev", hetznerKeys.with(keys{KeyWorkerSize: "cax21"}),
			KeyWorkerSize, "cax21", []string{"Arm (arm64)", "cx23"}},
		{"hetzner unknown type", "prod", hetznerKeys.with(keys{KeyControlPlaneSize: "t3.large"}),
			KeyControlPlaneSize, "t3.large", []string{"must be an amd64 Hetzner Cloud server type", "cx23"}},
		{"hetzner type below the minimum", "dev", hetznerKeys.with(keys{KeyWorkerSize: "cpx11"}),
			KeyWorkerSize, "cpx11", []string{"must be an amd64 Hetzner Cloud server type"}},
		{"hetzner image not an ID", "dev", hetznerKeys.with(keys{KeyTalosImage: "talos-v1.12.4"}),
			KeyTalosImage, "talos-v1.12.4", []string{"numeric ID of a Hetzner snapshot made from Talos v1.12.4"}},
		{"talosImage on aws", "dev", awsKeys.with(keys{KeyTalosImage: "123"}),
			KeyTalosImage, "123", []string{"has no meaning on aws"}},
		{"talosImage on docker", "local", keys{KeyCloud: "docker", KeyTalosImage: "123"},
			KeyTalosImage, "123", []string{"has no meaning on docker"}},
		{"docker with a region", "local", keys{KeyCloud: "docker", KeyRegion: "fsn1"},
			KeyRegion, "fsn1", []string{"has no meaning on docker"}},
		{"cloud missing on dev", "dev", awsKeys.without(KeyCloud),
			KeyCloud, "", []string{"required for the dev environment", "allowed: aws, gcp, azure, hetzner"}},
		{"cloud missing on prod", "prod", awsKeys.without(KeyCloud),
			KeyCloud, "", []string{"required for the prod environment"}},
		{"cloud set to the empty string on local", "local", keys{KeyCloud: ""},
			KeyCloud, "", []string{"required for the local environment", "allowed: virtualbox, docker"}},

		// Environment.
		{"unknown environment", "dev", awsKeys.with(keys{KeyEnvironment: "qa"}),
			KeyEnvironment, "qa", []string{"allowed: local, dev, staging, prod"}},
		{"environment is case sensitive", "dev", awsKeys.with(keys{KeyEnvironment: "Dev"}),
			KeyEnvironment, "Dev", []string{"allowed: local, dev, staging, prod"}},
		{"stack not named after an environment", "my-feature", awsKeys,
			KeyEnvironment, "", []string{`stack "my-feature" is not named after an environment`, "local, dev, staging, prod"}},

		// Control planes.
		{"zero control planes", "dev", awsKeys.with(keys{KeyControlPlaneCount: "0"}),
			KeyControlPlaneCount, "0", []string{"must be an odd number from 1 to 7"}},
		{"negative control planes", "local", keys{KeyControlPlaneCount: "-1"},
			KeyControlPlaneCount, "-1", []string{"must be an odd number from 1 to 9"}},
		{"two control planes on dev", "dev", awsKeys.with(keys{KeyControlPlaneCount: "2"}),
			KeyControlPlaneCount, "2", []string{"must be an odd number from 1 to 7", "etcd"}},
		{"four control planes on prod", "prod", awsKeys.with(keys{KeyControlPlaneCount: "4"}),
			KeyControlPlaneCount, "4", []string{"prod needs an odd number from 3 to 7", "quorum"}},
		{"one control plane on staging", "staging", awsKeys.with(keys{KeyControlPlaneCount: "1"}),
			KeyControlPlaneCount, "1", []string{"staging needs an odd number from 3 to 7"}},
		{"too many control planes on dev", "dev", awsKeys.with(keys{KeyControlPlaneCount: "9"}),
			KeyControlPlaneCount, "9", []string{"from 1 to 7"}},
		{"too many control planes on prod", "prod", awsKeys.with(keys{KeyControlPlaneCount: "9"}),
			KeyControlPlaneCount, "9", []string{"prod needs an odd number from 3 to 7"}},
		{"too many control planes on local", "local", keys{KeyControlPlaneCount: "11"},
			KeyControlPlaneCount, "11", []string{"from 1 to 9"}},
		{"controlPlaneCount not a number", "dev", awsKeys.with(keys{KeyControlPlaneCount: "1.5"}),
			KeyControlPlaneCount, "1.5", []string{"must be a whole number"}},

		// Workers.
		{"prod below its worker minimum", "prod", awsKeys.with(keys{KeyWorkerCount: "2"}),
			KeyWorkerCount, "2", []string{"prod needs from 3 to 50 workers"}},
		{"staging below its worker minimum", "staging", awsKeys.with(keys{KeyWorkerCount: "1"}),
			KeyWorkerCount, "1", []string{"staging needs from 2 to 50 workers"}},
		{"no workers on dev", "dev", awsKeys.with(keys{KeyWorkerCount: "0"}),
			KeyWorkerCount, "0", []string{"dev needs from 1 to 50 workers"}},
		{"too many workers on aws", "dev", awsKeys.with(keys{KeyWorkerCount: "51"}),
			KeyWorkerCount, "51", []string{"dev needs from 1 to 50 workers"}},
		{"too many workers on local", "local", keys{KeyWorkerCount: "31"},
			KeyWorkerCount, "31", []string{"local needs from 1 to 30 workers"}},
		{"workerCount not a number", "staging", awsKeys.with(keys{KeyWorkerCount: "three"}),
			KeyWorkerCount, "three", []string{"must be a whole number"}},
		{"workerCount empty", "staging", awsKeys.with(keys{KeyWorkerCount: ""}),
			KeyWorkerCount, "", []string{"must be a whole number"}},

		// Node network.
		{"networkCidr prefix too long", "dev", awsKeys.with(keys{KeyNetworkCIDR: "10.0.0.0/33"}),
			KeyNetworkCIDR, "10.0.0.0/33", []string{"must be an IPv4 CIDR such as 10.0.0.0/16"}},
		{"networkCidr not a CIDR", "dev", awsKeys.with(keys{KeyNetworkCIDR: "banana"}),
			KeyNetworkCIDR, "banana", []string{"must be an IPv4 CIDR such as 10.0.0.0/16"}},
		{"networkCidr with host bits", "dev", awsKeys.with(keys{KeyNetworkCIDR: "10.0.0.5/16"}),
			KeyNetworkCIDR, "10.0.0.5/16", []string{"has host bits set", "did you mean 10.0.0.0/16?"}},
		{"public networkCidr", "dev", awsKeys.with(keys{KeyNetworkCIDR: "8.8.0.0/16"}),
			KeyNetworkCIDR, "8.8.0.0/16", []string{"must be inside a private range", "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16"}},
		{"networkCidr wider than a private range", "dev", awsKeys.with(keys{KeyNetworkCIDR: "10.0.0.0/7"}),
			KeyNetworkCIDR, "10.0.0.0/7", []string{"must be inside a private range"}},
		{"networkCidr is the pod network", "dev", awsKeys.with(keys{KeyNetworkCIDR: "10.244.0.0/16"}),
			KeyNetworkCIDR, "10.244.0.0/16", []string{"overlaps the pod network 10.244.0.0/16", "service network 10.96.0.0/12"}},
		{"networkCidr inside the service network", "dev", awsKeys.with(keys{KeyNetworkCIDR: "10.100.0.0/16"}),
			KeyNetworkCIDR, "10.100.0.0/16", []string{"overlaps the pod network"}},
		{"VPC too small", "dev", awsKeys.with(keys{KeyNetworkCIDR: "10.0.0.0/24"}),
			KeyNetworkCIDR, "10.0.0.0/24", []string{"a VPC must be from /16 to /22"}},
		{"VPC too large", "dev", awsKeys.with(keys{KeyNetworkCIDR: "10.0.0.0/12"}),
			KeyNetworkCIDR, "10.0.0.0/12", []string{"a VPC must be from /16 to /22"}},
		{"host-only network smaller than /24", "local", keys{KeyNetworkCIDR: "192.168.56.0/25", KeyAdminCIDRs: `["192.168.56.1/32"]`},
			KeyNetworkCIDR, "192.168.56.0/25", []string{"needs a /24 or larger"}},
		{"IPv6 networkCidr", "dev", awsKeys.with(keys{KeyNetworkCIDR: "fd00::/48"}),
			KeyNetworkCIDR, "fd00::/48", []string{"must be an IPv4 CIDR"}},

		// Admin CIDRs.
		{"malformed admin CIDR", "dev", awsKeys.with(keys{KeyAdminCIDRs: `["1.2.3.4/40"]`}),
			KeyAdminCIDRs, "1.2.3.4/40", []string{"each entry must be a CIDR such as 203.0.113.7/32"}},
		{"admin CIDR with host bits", "dev", awsKeys.with(keys{KeyAdminCIDRs: `["203.0.113.7/24"]`}),
			KeyAdminCIDRs, "203.0.113.7/24", []string{"has host bits set", "did you mean 203.0.113.0/24?"}},
		{"IPv6 admin CIDR", "dev", awsKeys.with(keys{KeyAdminCIDRs: `["2001:db8::/64"]`}),
			KeyAdminCIDRs, "2001:db8::/64", []string{"must be an IPv4 CIDR"}},
		{"wide IPv6 admin CIDR allowed wide", "dev", awsKeys.with(keys{KeyAdminCIDRs: `["::/0"]`, KeyAllowWideAdminCIDRs: "true"}),
			KeyAdminCIDRs, "::/0", []string{"must be an IPv4 CIDR"}},
		{"adminCidrs missing on aws", "dev", awsKeys.without(KeyAdminCIDRs),
			KeyAdminCIDRs, "", []string{"required on aws", "203.0.113.7/32", "0.0.0.0/0"}},
		{"adminCidrs explicit empty list on aws", "prod", awsKeys.with(keys{KeyAdminCIDRs: `[]`}),
			KeyAdminCIDRs, "", []string{"required on aws"}},
		{"adminCidrs explicit empty string on aws", "dev", awsKeys.with(keys{KeyAdminCIDRs: ""}),
			KeyAdminCIDRs, "", []string{"required on aws"}},
		{"adminCidrs not a list", "dev", awsKeys.with(keys{KeyAdminCIDRs: `["203.0.113.7/32"`}),
			KeyAdminCIDRs, `["203.0.113.7/32"`, []string{"must be a YAML list or a comma-separated string"}},

		// Region and zones.
		{"region missing on aws", "dev", awsKeys.without(KeyRegion),
			KeyRegion, "", []string{"required on aws, for example eu-central-1"}},
		{"malformed region", "dev", awsKeys.with(keys{KeyRegion: "Frankfurt"}),
			KeyRegion, "Frankfurt", []string{"must be an AWS region such as eu-central-1"}},
		{"zone not in the region", "dev", awsKeys.with(keys{KeyZones: `["eu-central-1a","eu-west-1a"]`}),
			KeyZones, "eu-west-1a", []string{"each zone must be in region eu-central-1", "eu-central-1a"}},
		{"zone equal to the region", "dev", awsKeys.with(keys{KeyZones: `["eu-central-1"]`}),
			KeyZones, "eu-central-1", []string{"each zone must be in region eu-central-1"}},
		{"zone listed twice", "dev", awsKeys.with(keys{KeyZones: `["eu-central-1a","eu-central-1a"]`}),
			KeyZones, "eu-central-1a", []string{"listed twice"}},
		{"more zones than /24 subnets fit", "dev", awsKeys.with(keys{KeyZones: "eu-central-1a,eu-central-1b,eu-central-1c,eu-central-1d,eu-central-1e"}),
			KeyZones, "eu-central-1a,eu-central-1b,eu-central-1c,eu-central-1d,eu-central-1e", []string{"at most 4 zones"}},
		{"zones on virtualbox", "local", keys{KeyZones: "eu-central-1a"},
			KeyZones, "eu-central-1a", []string{"has no meaning on virtualbox"}},
		{"adminCidrs on virtualbox", "local", keys{KeyAdminCIDRs: "192.168.56.1/32"},
			KeyAdminCIDRs, "192.168.56.1/32", []string{"has no meaning on virtualbox"}},
		{"zones not a list", "dev", awsKeys.with(keys{KeyZones: `[eu-central-1a]`}),
			KeyZones, `[eu-central-1a]`, []string{"must be a YAML list or a comma-separated string"}},
		{"region set on virtualbox", "local", keys{KeyRegion: "eu-central-1"},
			KeyRegion, "eu-central-1", []string{"has no meaning on virtualbox", "remove it"}},

		// Versions.
		{"talosVersion of another minor", "dev", awsKeys.with(keys{KeyTalosVersion: "v1.11.5"}),
			KeyTalosVersion, "v1.11.5", []string{"must be a v1.12.x release such as v1.12.4"}},
		{"talosVersion without the v", "dev", awsKeys.with(keys{KeyTalosVersion: "1.12.4"}),
			KeyTalosVersion, "1.12.4", []string{"must be a v1.12.x release such as v1.12.4"}},
		{"talosVersion of a later minor sharing the prefix", "local", keys{KeyTalosVersion: "v1.120.0"},
			KeyTalosVersion, "v1.120.0", []string{"must be a v1.12.x release"}},
		{"kubernetesVersion with a leading v", "dev", awsKeys.with(keys{KeyKubernetesVersion: "v1.35.0"}),
			KeyKubernetesVersion, "v1.35.0", []string{"without a leading v, such as 1.35.0"}},
		{"kubernetesVersion too old for Talos 1.12", "dev", awsKeys.with(keys{KeyKubernetesVersion: "1.29.0"}),
			KeyKubernetesVersion, "1.29.0", []string{"not supported by Talos v1.12.4", "too old"}},
		{"kubernetesVersion too new for Talos 1.12", "dev", awsKeys.with(keys{KeyKubernetesVersion: "1.36.0"}),
			KeyKubernetesVersion, "1.36.0", []string{"not supported by Talos v1.12.4", "too new"}},

		// Sizes and disks.
		{"t3.small is below the minimum", "dev", awsKeys.with(keys{KeyControlPlaneSize: "t3.small"}),
			KeyControlPlaneSize, "t3.small", []string{"has 2 vCPU and 2 GiB", "at least 2 vCPU and 4 GiB"}},
		{"one vCPU locally", "local", keys{KeyWorkerSize: "1cpu-4gb"},
			KeyWorkerSize, "1cpu-4gb", []string{"has 1 vCPU and 4 GiB", "at least 2 vCPU and 4 GiB"}},
		{"two GiB locally", "local", keys{KeyControlPlaneSize: "2cpu-2gb"},
			KeyControlPlaneSize, "2cpu-2gb", []string{"has 2 vCPU and 2 GiB", "at least 2 vCPU and 4 GiB"}},
		{"Graviton type", "dev", awsKeys.with(keys{KeyWorkerSize: "t4g.medium"}),
			KeyWorkerSize, "t4g.medium", []string{"Graviton", "amd64 EC2 instance type"}},
		{"unknown instance class", "dev", awsKeys.with(keys{KeyWorkerSize: "x1e.large"}),
			KeyWorkerSize, "x1e.large", []string{"must be an amd64 EC2 instance type", "t3.medium or m6i.large"}},
		{"old burstable generation", "dev", awsKeys.with(keys{KeyControlPlaneSize: "t2.medium"}),
			KeyControlPlaneSize, "t2.medium", []string{"must be an amd64 EC2 instance type"}},
		{"instance type on virtualbox", "local", keys{KeyWorkerSize: "t3.medium"},
			KeyWorkerSize, "t3.medium", []string{`must look like "2cpu-4gb"`}},
		{"local size on aws", "dev", awsKeys.with(keys{KeyWorkerSize: "2cpu-4gb"}),
			KeyWorkerSize, "2cpu-4gb", []string{"must be an amd64 EC2 instance type"}},
		{"control-plane disk below 20 GiB", "local", keys{KeyControlPlaneDiskGiB: "19"},
			KeyControlPlaneDiskGiB, "19", []string{"must be at least 20 GiB"}},
		{"worker disk below 20 GiB", "dev", awsKeys.with(keys{KeyWorkerDiskGiB: "10"}),
			KeyWorkerDiskGiB, "10", []string{"must be at least 20 GiB"}},
		{"disk not a number", "dev", awsKeys.with(keys{KeyWorkerDiskGiB: "50GiB"}),
			KeyWorkerDiskGiB, "50GiB", []string{"must be a whole number"}},

		// Names.
		{"clusterName with uppercase", "dev", awsKeys.with(keys{KeyClusterName: "SRE-Lab"}),
			KeyClusterName, "SRE-Lab", []string{"must be a lowercase DNS label"}},
		{"clusterName ending in a dash", "local", keys{KeyClusterName: "lab-"},
			KeyClusterName, "lab-", []string{"must be a lowercase DNS label"}},
		{"clusterName longer than 63", "local", keys{KeyClusterName: strings.Repeat("a", 64)},
			KeyClusterName, strings.Repeat("a", 64), []string{"at most 63 characters"}},
		{"domain with uppercase", "dev", awsKeys.with(keys{KeyDomain: "Lab.Example.com"}),
			KeyDomain, "Lab.Example.com", []string{"must be a lowercase DNS name such as lab.example.com"}},
		{"domain with an underscore", "dev", awsKeys.with(keys{KeyDomain: "lab_1.example.com"}),
			KeyDomain, "lab_1.example.com", []string{"must be a lowercase DNS name"}},
		{"domain without a dot", "local", keys{KeyDomain: "localhost"},
			KeyDomain, "localhost", []string{"must be a lowercase DNS name"}},

		// TLS on a cloud: domain and acmeEmail.
		{"domain missing on aws", "dev", awsKeys.without(KeyDomain),
			KeyDomain, "", []string{"required on aws", "grafana.<domain>"}},
		{"domain explicit empty string on aws", "prod", awsKeys.with(keys{KeyDomain: ""}),
			KeyDomain, "", []string{"required on aws"}},
		{"acmeEmail missing on aws", "dev", awsKeys.without(KeyACMEEmail),
			KeyACMEEmail, "", []string{"required on aws", "Let's Encrypt"}},
		{"acmeEmail explicit empty string on aws", "staging", awsKeys.with(keys{KeyACMEEmail: ""}),
			KeyACMEEmail, "", []string{"required on aws"}},
		{"acmeEmail without an at sign", "dev", awsKeys.with(keys{KeyACMEEmail: "sre.example.com"}),
			KeyACMEEmail, "sre.example.com", []string{"must be an e-mail address such as sre@example.com"}},
		{"acmeEmail without a dot in the domain", "dev", awsKeys.with(keys{KeyACMEEmail: "sre@localhost"}),
			KeyACMEEmail, "sre@localhost", []string{"must be an e-mail address"}},
		{"acmeEmail with a space", "dev", awsKeys.with(keys{KeyACMEEmail: "sre team@example.com"}),
			KeyACMEEmail, "sre team@example.com", []string{"must be an e-mail address"}},
		{"acmeEmail with two at signs", "dev", awsKeys.with(keys{KeyACMEEmail: "sre@lab@example.com"}),
			KeyACMEEmail, "sre@lab@example.com", []string{"must be an e-mail address"}},
		{"acmeEmail with only a domain", "dev", awsKeys.with(keys{KeyACMEEmail: "@example.com"}),
			KeyACMEEmail, "@example.com", []string{"must be an e-mail address"}},

		// Ingress and secrets operator.
		{"ingress nginx", "local", keys{KeyIngress: "nginx"},
			KeyIngress, "nginx", []string{"ingress-nginx is retired", "allowed: cilium"}},
		{"ingress ingress-nginx on aws", "dev", awsKeys.with(keys{KeyIngress: "ingress-nginx"}),
			KeyIngress, "ingress-nginx", []string{"ingress-nginx is retired", "allowed: cilium"}},
		{"unknown ingress", "dev", awsKeys.with(keys{KeyIngress: "traefik"}),
			KeyIngress, "traefik", []string{"allowed: cilium"}},
		{"ingress is case sensitive", "local", keys{KeyIngress: "Cilium"},
			KeyIngress, "Cilium", []string{"allowed: cilium"}},
		{"ingress explicit empty string", "local", keys{KeyIngress: ""},
			KeyIngress, "", []string{"allowed: cilium"}},
		{"unknown secrets operator", "dev", awsKeys.with(keys{KeySecrets: "vault"}),
			KeySecrets, "vault", []string{"allowed: sealed-secrets, external-secrets"}},
		{"secrets explicit empty string", "local", keys{KeySecrets: ""},
			KeySecrets, "", []string{"allowed: sealed-secrets, external-secrets"}},

		// Chart versions.
		{"chartVersions malformed JSON", "dev", awsKeys.with(keys{KeyChartVersions: `{"cilium":`}),
			KeyChartVersions, `{"cilium":`, []string{"must be an object of chart name to version", "{cilium: 1.20.0}"}},
		{"chartVersions a list", "local", keys{KeyChartVersions: `["cilium"]`},
			KeyChartVersions, `["cilium"]`, []string{"must be an object of chart name to version"}},
		{"chartVersions with a number for a version", "local", keys{KeyChartVersions: `{"cilium":1.2}`},
			KeyChartVersions, `{"cilium":1.2}`, []string{"must be an object of chart name to version"}},
		{"unknown chart in chartVersions", "dev", awsKeys.with(keys{KeyChartVersions: `{"ciliumm":"1.20.2"}`}),
			KeyChartVersions, "ciliumm", []string{knownCharts}},
		{"ingress-nginx in chartVersions", "local", keys{KeyChartVersions: `{"ingress-nginx":"4.12.0"}`},
			KeyChartVersions, "ingress-nginx", []string{knownCharts}},
		{"empty version in chartVersions", "dev", awsKeys.with(keys{KeyChartVersions: `{"cilium":""}`}),
			KeyChartVersions + ".cilium", "", []string{"needs an exact version such as 1.20.0"}},
		{"blank version in chartVersions", "local", keys{KeyChartVersions: `{"cert-manager":"  "}`},
			KeyChartVersions + ".cert-manager", "", []string{"needs an exact version such as v1.21.1"}},
		{"gateway-api version without its tag's v", "local", keys{KeyChartVersions: `{"gateway-api":"1.6.1"}`},
			KeyChartVersions + ".gateway-api", "1.6.1", []string{"needs an exact version such as v1.6.1"}},
		{"floating version in chartVersions", "local", keys{KeyChartVersions: `{"cilium":"latest"}`},
			KeyChartVersions + ".cilium", "latest", []string{"needs an exact version"}},
		{"acmeEmail on virtualbox", "local", keys{KeyACMEEmail: "me@example.org"},
			KeyACMEEmail, "me@example.org", []string{"has no meaning on virtualbox"}},

		// Helm values.
		{"helmValues malformed JSON", "dev", awsKeys.with(keys{KeyHelmValues: `{"cilium":{`}),
			KeyHelmValues, `{"cilium":{`, []string{"must be an object of chart name to a values object", "{cilium: {operator: {replicas: 1}}}"}},
		{"helmValues for a chart not an object", "local", keys{KeyHelmValues: `{"cilium":1}`},
			KeyHelmValues, `{"cilium":1}`, []string{"must be an object of chart name to a values object"}},
		{"unknown chart in helmValues", "dev", awsKeys.with(keys{KeyHelmValues: `{"ingress-nginx":{"controller":{}}}`}),
			KeyHelmValues, "ingress-nginx", []string{"charts that take values: alloy, aws-ebs-csi-driver, cert-manager, chaos-mesh, cilium, external-secrets, kube-prometheus-stack, local-path-provisioner, loki, podinfo, prometheus-operator-crds, promtail, sealed-secrets"}},
		{"helmValues for gateway-api", "dev", awsKeys.with(keys{KeyHelmValues: `{"gateway-api":{"x":1}}`}),
			KeyHelmValues, "gateway-api", []string{"gateway-api is a manifest and takes no values"}},

		// Monitoring retention.
		{"retention in words", "staging", awsKeys.with(keys{KeyRetention: "15 days"}),
			KeyRetention, "15 days", []string{"must be a Prometheus duration", "15d, 12h or 1w"}},
		{"retention without a unit", "local", keys{KeyRetention: "10"},
			KeyRetention, "10", []string{"must be a Prometheus duration"}},
		{"retention of zero", "dev", awsKeys.with(keys{KeyRetention: "0d"}),
			KeyRetention, "0d", []string{"must be a Prometheus duration"}},
		{"retention of zero in several units", "local", keys{KeyRetention: "0h0m"},
			KeyRetention, "0h0m", []string{"must be a Prometheus duration"}},
		{"retention with an uppercase unit", "prod", awsKeys.with(keys{KeyRetention: "30D"}),
			KeyRetention, "30D", []string{"must be a Prometheus duration"}},
		{"retention with a fraction", "local", keys{KeyRetention: "1.5d"},
			KeyRetention, "1.5d", []string{"must be a Prometheus duration"}},
		{"retention explicit empty string", "local", keys{KeyRetention: ""},
			KeyRetention, "", []string{"must be a Prometheus duration"}},

		// Monitoring volumes.
		{"prometheusStorage in GB", "dev", awsKeys.with(keys{KeyPrometheusStorage: "20GB"}),
			KeyPrometheusStorage, "20GB", []string{"must be a Kubernetes quantity", "20Gi"}},
		{"prometheusStorage of zero", "local", keys{KeyPrometheusStorage: "0Gi"},
			KeyPrometheusStorage, "0Gi", []string{"must be a Kubernetes quantity"}},
		{"prometheusStorage negative", "prod", awsKeys.with(keys{KeyPrometheusStorage: "-1Gi"}),
			KeyPrometheusStorage, "-1Gi", []string{"must be a Kubernetes quantity"}},
		{"alertmanagerStorage in words", "staging", awsKeys.with(keys{KeyAlertmanagerStorage: "lots"}),
			KeyAlertmanagerStorage, "lots", []string{"must be a Kubernetes quantity", "20Gi"}},
		{"alertmanagerStorage of zero with a fraction", "local", keys{KeyAlertmanagerStorage: "0.0Mi"},
			KeyAlertmanagerStorage, "0.0Mi", []string{"must be a Kubernetes quantity"}},
		{"alertmanagerStorage with a lowercase binary suffix", "dev", awsKeys.with(keys{KeyAlertmanagerStorage: "1gi"}),
			KeyAlertmanagerStorage, "1gi", []string{"must be a Kubernetes quantity"}},
		{"grafanaStorage negative", "local", keys{KeyGrafanaStorage: "-1Gi"},
			KeyGrafanaStorage, "-1Gi", []string{"must be a Kubernetes quantity", "20Gi"}},
		{"grafanaStorage of zero", "dev", awsKeys.with(keys{KeyGrafanaStorage: "0Gi"}),
			KeyGrafanaStorage, "0Gi", []string{"must be a Kubernetes quantity"}},

		// Logging.
		{"logCollector fluent-bit", "local", keys{KeyLogCollector: "fluent-bit"},
			KeyLogCollector, "fluent-bit", []string{"allowed: alloy (default), promtail"}},
		{"logCollector in capitals", "dev", awsKeys.with(keys{KeyLogCollector: "Alloy"}),
			KeyLogCollector, "Alloy", []string{"allowed: alloy"}},
		{"logRetention in words", "local", keys{KeyLogRetention: "a week"},
			KeyLogRetention, "a week", []string{"must be a duration such as 7d"}},
		{"logRetention a week and an hour", "dev", awsKeys.with(keys{KeyLogRetention: "1w1h"}),
			KeyLogRetention, "1w1h", []string{"whole number of days"}},
		{"logRetention in hours not whole days", "local", keys{KeyLogRetention: "36h"},
			KeyLogRetention, "36h", []string{"whole number of days", "day-long index periods"}},
		{"logRetention of zero", "local", keys{KeyLogRetention: "0d"},
			KeyLogRetention, "0d", []string{"whole number of days"}},
		{"logRetention explicit empty", "prod", awsKeys.with(keys{KeyLogRetention: ""}),
			KeyLogRetention, "", []string{"must be a duration"}},
		{"logRetention units out of order", "local", keys{KeyLogRetention: "1d1w"},
			KeyLogRetention, "1d1w", []string{"must be a duration"}},
		{"logRetention beyond a century", "local", keys{KeyLogRetention: "99999999999y"},
			KeyLogRetention, "99999999999y", []string{"must be a duration"}},
		// etcd backups.
		{"etcdBackups on local", "local", keys{KeyEtcdBackups: "true"},
			KeyEtcdBackups, "true", []string{"needs object storage", "virtualbox", "talosctl etcd snapshot"}},
		{"etcdBackups on hetzner", "prod", hetznerKeys.with(keys{KeyEtcdBackups: "true"}),
			KeyEtcdBackups, "true", []string{"needs object storage", "hetzner"}},
		{"etcdBackups not a boolean", "prod", awsKeys.with(keys{KeyEtcdBackups: "yes please"}),
			KeyEtcdBackups, "yes please", []string{"must be true or false"}},
		{"practice not a boolean", "local", keys{KeyPractice: "on"},
			KeyPractice, "on", []string{"must be true or false"}},
		{"etcdBackupSchedule with four fields", "prod", awsKeys.with(keys{KeyEtcdBackupSchedule: "0 */6 * *"}),
			KeyEtcdBackupSchedule, "0 */6 * *", []string{"five-field cron expression", "17 */6 * * *"}},
		{"etcdBackupSchedule as a macro", "staging", awsKeys.with(keys{KeyEtcdBackupSchedule: "@daily"}),
			KeyEtcdBackupSchedule, "@daily", []string{"five-field cron expression"}},
		{"etcdBackupSchedule with letters", "prod", awsKeys.with(keys{KeyEtcdBackupSchedule: "0 3 * * mon"}),
			KeyEtcdBackupSchedule, "0 3 * * mon", []string{"five-field cron expression"}},
		{"etcdBackups in prod without a recipient", "prod", awsKeys.without(KeyEtcdBackupRecipient),
			KeyEtcdBackups, "true", []string{"needs sre-lab:etcdBackupRecipient in prod", "every object of the cluster", "age-keygen"}},
		{"etcdBackups in staging with an empty recipient", "staging", awsKeys.with(keys{KeyEtcdBackups: "true", KeyEtcdBackupRecipient: ""}),
			KeyEtcdBackups, "true", []string{"needs sre-lab:etcdBackupRecipient in staging", "pulumi config set sre-lab:etcdBackupRecipient"}},
		{"etcdBackupRecipient a private key", "prod", awsKeys.with(keys{KeyEtcdBackupRecipient: "AGE-SECRET-KEY-1QQQ"}),
			KeyEtcdBackupRecipient, "AGE-SECRET-KEY-1QQQ", []string{"must be an age public key", "age-keygen"}},
		{"lokiStorage in GB", "staging", awsKeys.with(keys{KeyLokiStorage: "20GB"}),
			KeyLokiStorage, "20GB", []string{"must be a Kubernetes quantity", "20Gi"}},
		{"lokiStorage of zero", "local", keys{KeyLokiStorage: "0"},
			KeyLokiStorage, "0", []string{"must be a Kubernetes quantity"}},
		{"grafanaStorage with a space before the unit", "local", keys{KeyGrafanaStorage: "5 Gi"},
			KeyGrafanaStorage, "5 Gi", []string{"must be a Kubernetes quantity"}},
		{"grafanaStorage explicit empty string", "staging", awsKeys.with(keys{KeyGrafanaStorage: ""}),
			KeyGrafanaStorage, "", []string{"must be a Kubernetes quantity"}},

		// Exposure and provider limits.
		// adminCidrs wider than /16 (IPv4) or /48 (IPv6).
		{"adminCidrs the whole internet", "dev", awsKeys.with(keys{KeyAdminCIDRs: `["0.0.0.0/0"]`}),
			KeyAdminCIDRs, "0.0.0.0/0", []string{"is wider than /16", "Kubernetes API (6443) and Talos API (50000)", "the whole internet", "maintenance mode", "or set sre-lab:allowWideAdminCidrs: true"}},
		{"adminCidrs a /8 beside a /32", "prod", gcpKeys.with(keys{KeyAdminCIDRs: `["203.0.113.7/32","10.0.0.0/8"]`}),
			KeyAdminCIDRs, "10.0.0.0/8", []string{"is wider than /16", "that whole range", "or set sre-lab:allowWideAdminCidrs: true"}},
		{"adminCidrs a /15 on hetzner", "dev", hetznerKeys.with(keys{KeyAdminCIDRs: "198.50.0.0/15"}),
			KeyAdminCIDRs, "198.50.0.0/15", []string{"is wider than /16", "or set sre-lab:allowWideAdminCidrs: true"}},
		{"adminCidrs explicitly not allowed wide", "dev", azureKeys.with(keys{KeyAdminCIDRs: "0.0.0.0/0", KeyAllowWideAdminCIDRs: "false"}),
			KeyAdminCIDRs, "0.0.0.0/0", []string{"is wider than /16", "or set sre-lab:allowWideAdminCidrs: true"}},
		{"adminCidrs all of IPv6", "dev", awsKeys.with(keys{KeyAdminCIDRs: `["::/0"]`}),
			KeyAdminCIDRs, "::/0", []string{"is wider than /48", "the whole internet", "or set sre-lab:allowWideAdminCidrs: true"}},
		{"adminCidrs an IPv6 /32", "dev", awsKeys.with(keys{KeyAdminCIDRs: `["2001:db8::/32"]`}),
			KeyAdminCIDRs, "2001:db8::/32", []string{"is wider than /48", "or set sre-lab:allowWideAdminCidrs: true"}},
		{"allowWideAdminCidrs on virtualbox", "local", keys{KeyAllowWideAdminCIDRs: "true"},
			KeyAllowWideAdminCIDRs, "true", []string{"has no meaning on virtualbox"}},
		{"allowWideAdminCidrs not a boolean", "dev", awsKeys.with(keys{KeyAllowWideAdminCIDRs: "yes please"}),
			KeyAllowWideAdminCIDRs, "yes please", []string{"must be true or false"}},

		// Local sizes that overflow or no laptop has.
		{"local vCPU count that overflows", "local", keys{KeyWorkerSize: "99999999999999999999cpu-4gb"},
			KeyWorkerSize, "99999999999999999999cpu-4gb", []string{"asks for 99999999999999999999 vCPU", "at most 64 vCPU and 512 GB"}},
		{"local memory that overflows", "local", keys{KeyControlPlaneSize: "2cpu-18446744073709551617gb"},
			KeyControlPlaneSize, "2cpu-18446744073709551617gb", []string{"at most 64 vCPU and 512 GB"}},
		{"65 vCPU locally", "local", keys{KeyWorkerSize: "65cpu-8gb"},
			KeyWorkerSize, "65cpu-8gb", []string{"asks for 65 vCPU and 8 GB", "at most 64 vCPU"}},
		{"513 GB on docker", "local", keys{KeyCloud: "docker", KeyWorkerSize: "4cpu-513gb"},
			KeyWorkerSize, "4cpu-513gb", []string{"at most 64 vCPU and 512 GB"}},

		// Disks beyond what each backend attaches.
		{"disk beyond gp3 on aws", "dev", awsKeys.with(keys{KeyWorkerDiskGiB: "16385"}),
			KeyWorkerDiskGiB, "16385", []string{"must be at most 16384 GiB on aws", "gp3"}},
		{"disk beyond pd-balanced on gcp", "dev", gcpKeys.with(keys{KeyControlPlaneDiskGiB: "65537"}),
			KeyControlPlaneDiskGiB, "65537", []string{"must be at most 65536 GiB on gcp", "pd-balanced"}},
		{"disk beyond an Azure OS disk", "dev", azureKeys.with(keys{KeyWorkerDiskGiB: "4096"}),
			KeyWorkerDiskGiB, "4096", []string{"must be at most 4095 GiB on azure", "OS disk"}},
		{"disk beyond a laptop on virtualbox", "local", keys{KeyControlPlaneDiskGiB: "2049"},
			KeyControlPlaneDiskGiB, "2049", []string{"must be at most 2048 GiB on virtualbox", "laptop"}},

		// Names GCP derives from the cluster name.
		{"clusterName of 49 on gcp", "dev", gcpKeys.with(keys{KeyClusterName: strings.Repeat("a", 49)}),
			KeyClusterName, strings.Repeat("a", 49), []string{"has 49 characters; at most 48 on gcp", "<clusterName>-images", "at most 63"}},
		{"clusterName of 63 on gcp", "prod", gcpKeys.with(keys{KeyClusterName: strings.Repeat("b", 63)}),
			KeyClusterName, strings.Repeat("b", 63), []string{"at most 48 on gcp"}},

		// The AWS node security group: 3 fixed rules, 2 per admin CIDR,
		// 1 per node, at most 60.
		{"56 nodes with one admin CIDR on aws", "prod", awsKeys.with(keys{KeyControlPlaneCount: "7", KeyWorkerCount: "49"}),
			KeyWorkerCount, "49", []string{"56 nodes (7 control planes) with 1 adminCidrs entries need 61 inbound rules", "default quota of 60", "at most 55 nodes in all, so at most 48 workers"}},
		{"many admin CIDRs shrink the node count on aws", "dev", awsKeys.with(keys{
			KeyAdminCIDRs:  `["203.0.113.1/32","203.0.113.2/32","203.0.113.3/32","203.0.113.4/32","203.0.113.5/32","203.0.113.6/32","203.0.113.7/32","203.0.113.8/32","203.0.113.9/32","203.0.113.10/32"]`,
			KeyWorkerCount: "37"}),
			KeyWorkerCount, "37", []string{"38 nodes (1 control planes) with 10 adminCidrs entries need 61 inbound rules", "at most 37 nodes in all, so at most 36 workers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(tt.stack, tt.keys.lookup())
			require.Error(t, err)
			assert.Zero(t, cfg, "a rejected configuration must not be returned")

			msg := err.Error()
			assert.Contains(t, msg, "sre-lab:"+tt.key)
			assert.Contains(t, msg, fmt.Sprintf("%q", tt.value), "the offending value, quoted")
			for _, phrase := range tt.allowed {
				assert.Contains(t, msg, phrase)
			}

			var found bool
			for _, e := range configErrors(err) {
				if e.Key == tt.key && e.Value == tt.value {
					found = true
					assert.Contains(t, e.Error(), tt.allowed[0], "the explanation belongs to the offending key")
				}
			}
			assert.True(t, found, "no *Error with key %q and value %q in:\n%s", tt.key, tt.value, msg)
		})
	}
}

// TestParseIngressMessages: only the ingress-nginx names get the retirement
// explanation; any other value is simply not allowed.
func TestParseIngressMessages(t *testing.T) {
	for _, tt := range []struct {
		value   string
		retired bool
	}{
		{"nginx", true},
		{"ingress-nginx", true},
		{"traefik", false},
		{"nginx-ingress", false},
		{"cilium ", false},
	} {
		t.Run(tt.value, func(t *testing.T) {
			_, err := Parse("local", keys{KeyIngress: tt.value}.lookup())
			require.Error(t, err)
			assert.Equal(t, []string{KeyIngress}, errorKeys(err), "errors:\n%v", err)
			if tt.retired {
				assert.Contains(t, err.Error(), "retired")
			} else {
				assert.NotContains(t, err.Error(), "retired")
			}
			assert.Contains(t, err.Error(), "allowed: cilium")
		})
	}
}

// TestParseLocalNeedsNoTLSKeys: domain and acmeEmail exist for Let's Encrypt
// on a cloud; a local stack is valid without them while a cloud one is not.
func TestParseLocalNeedsNoTLSKeys(t *testing.T) {
	cfg := mustParse(t, "local", keys{})
	assert.Empty(t, cfg.Domain)
	assert.Empty(t, cfg.ACMEEmail)

	_, err := Parse("dev", awsKeys.without(KeyDomain, KeyACMEEmail).lookup())
	require.Error(t, err)
	assert.Equal(t, []string{KeyACMEEmail, KeyDomain}, errorKeys(err), "errors:\n%v", err)
}

// TestParseReportsEveryError: the user sees every problem in one run, and
// only real ones.
func TestParseReportsEveryError(t *testing.T) {
	tests := []struct {
		name  string
		stack string
		keys  keys
		want  []string // keys of the errors, sorted
	}{
		{
			name:  "workerCount and controlPlaneCount both not numbers",
			stack: "dev",
			keys:  awsKeys.with(keys{KeyWorkerCount: "three", KeyControlPlaneCount: "two"}),
			want:  []string{KeyControlPlaneCount, KeyWorkerCount},
		},
		{
			name:  "every type error of ParseRaw",
			stack: "dev",
			keys: awsKeys.with(keys{
				KeyControlPlaneCount: "x", KeyControlPlaneDiskGiB: "x", KeyWorkerCount: "x",
				KeyWorkerDiskGiB: "x", KeyNetworkCIDR: "x", KeyZones: "[x", KeyAdminCIDRs: `["x","y"]`,
				KeyChartVersions: "{", KeyHelmValues: "[",
			}),
			want: []string{KeyAdminCIDRs, KeyAdminCIDRs, KeyChartVersions, KeyControlPlaneCount, KeyControlPlaneDiskGiB,
				KeyHelmValues, KeyNetworkCIDR, KeyWorkerCount, KeyWorkerDiskGiB, KeyZones},
		},
		{
			name:  "even control planes and too few workers on prod",
			stack: "prod",
			keys:  awsKeys.with(keys{KeyControlPlaneCount: "2", KeyWorkerCount: "1"}),
			want:  []string{KeyControlPlaneCount, KeyWorkerCount},
		},
		{
			name:  "every rule of Validate at once",
			stack: "dev",
			keys: keys{
				KeyCloud: "aws", KeyRegion: "Frankfurt", KeyControlPlaneCount: "2", KeyWorkerCount: "0",
				KeyControlPlaneSize: "t3.small", KeyControlPlaneDiskGiB: "10", KeyWorkerSize: "t4g.large",
				KeyWorkerDiskGiB: "5", KeyTalosVersion: "v1.11.0", KeyClusterName: "Lab", KeyDomain: "x",
				KeyNetworkCIDR: "8.8.8.0/24", KeyAdminCIDRs: `["203.0.113.7/24","198.51.100.1/16"]`,
				KeyACMEEmail: "sre", KeyIngress: "nginx", KeySecrets: "vault",
				KeyChartVersions: `{"nope":"1.0.0","cilium":""}`, KeyHelmValues: `{"gateway-api":{}}`,
				KeyRetention: "15 days", KeyPrometheusStorage: "20GB", KeyAlertmanagerStorage: "lots", KeyGrafanaStorage: "0Gi",
			},
			want: []string{KeyACMEEmail, KeyAdminCIDRs, KeyAdminCIDRs, KeyAlertmanagerStorage, KeyChartVersions, KeyChartVersions + ".cilium",
				KeyClusterName, KeyControlPlaneCount, KeyControlPlaneDiskGiB, KeyControlPlaneSize, KeyDomain,
				KeyGrafanaStorage, KeyHelmValues, KeyIngress, KeyNetworkCIDR, KeyPrometheusStorage, KeyRegion, KeyRetention, KeySecrets,
				KeyTalosVersion, KeyWorkerCount, KeyWorkerDiskGiB, KeyWorkerSize},
		},
		{
			name:  "every monitoring key at once",
			stack: "local",
			keys:  keys{KeyRetention: "10", KeyPrometheusStorage: "-1Gi", KeyAlertmanagerStorage: "1gi", KeyGrafanaStorage: ""},
			want:  []string{KeyAlertmanagerStorage, KeyGrafanaStorage, KeyPrometheusStorage, KeyRetention},
		},
		{
			name:  "domain and acmeEmail both missing on aws",
			stack: "staging",
			keys:  awsKeys.without(KeyDomain, KeyACMEEmail),
			want:  []string{KeyACMEEmail, KeyDomain},
		},
		{
			name:  "a bad domain is reported as malformed, not also as missing",
			stack: "dev",
			keys:  awsKeys.with(keys{KeyDomain: "Lab"}),
			want:  []string{KeyDomain},
		},
		{
			name:  "a wrong cloud hides the rules that depend on it",
			stack: "local",
			keys:  keys{KeyCloud: "aws", KeyWorkerCount: "0"},
			want:  []string{KeyCloud},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.stack, tt.keys.lookup())
			require.Error(t, err)
			assert.Equal(t, tt.want, errorKeys(err), "errors:\n%v", err)
			// One line per problem, so none is hidden in another's message.
			assert.Len(t, strings.Split(err.Error(), "\n"), len(tt.want), "errors:\n%v", err)
		})
	}
}

// TestParseLocalNetworkErrorsNameOnlyTheKeyTheUserSet: a bad networkCidr is
// reported once, under networkCidr, never under a key the stack file lacks.
func TestParseLocalNetworkErrorsNameOnlyTheKeyTheUserSet(t *testing.T) {
	tests := []struct {
		name    string
		network string
	}{
		{"host bits", "192.168.56.5/24"},
		{"IPv6", "fd00::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("local", keys{KeyNetworkCIDR: tt.network}.lookup())
			require.Error(t, err)
			assert.Equal(t, []string{KeyNetworkCIDR}, errorKeys(err), "errors:\n%v", err)
			assert.NotContains(t, err.Error(), "sre-lab:"+KeyAdminCIDRs)
		})
	}
}

// TestParseListForms: a YAML list (stored by Pulumi as a JSON array) and a
// comma-separated string mean the same thing.
func TestParseListForms(t *testing.T) {
	wantZones := []string{"eu-central-1a", "eu-central-1b"}
	wantAdmin := []netip.Prefix{prefix("203.0.113.7/32"), prefix("198.51.100.0/24")}
	forms := []struct {
		name         string
		zones, admin string
	}{
		{"JSON arrays", `["eu-central-1a","eu-central-1b"]`, `["203.0.113.7/32","198.51.100.0/24"]`},
		{"JSON arrays with spaces", ` [ "eu-central-1a" , " eu-central-1b " ] `, `[" 203.0.113.7/32", "198.51.100.0/24 "]`},
		{"comma strings", "eu-central-1a, eu-central-1b", "203.0.113.7/32, 198.51.100.0/24"},
		{"comma strings without spaces", "eu-central-1a,eu-central-1b", "203.0.113.7/32,198.51.100.0/24"},
		{"comma strings with empty items", " eu-central-1a,, eu-central-1b, ", "203.0.113.7/32,,198.51.100.0/24,"},
	}
	var first *Config
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			cfg := mustParse(t, "staging", awsKeys.with(keys{KeyZones: f.zones, KeyAdminCIDRs: f.admin}))
			assert.Equal(t, wantZones, cfg.Zones)
			assert.Equal(t, wantAdmin, cfg.AdminCIDRs)
			if first == nil {
				first = &cfg
			} else {
				assert.Equal(t, *first, cfg, "every list form gives the same configuration")
			}
		})
	}

	t.Run("a single value without brackets or commas is a one-item list", func(t *testing.T) {
		cfg := mustParse(t, "dev", awsKeys.with(keys{KeyZones: "eu-central-1c", KeyAdminCIDRs: "203.0.113.7/32"}))
		assert.Equal(t, []string{"eu-central-1c"}, cfg.Zones)
		assert.Equal(t, []netip.Prefix{prefix("203.0.113.7/32")}, cfg.AdminCIDRs)
	})
}

// TestParseRaw checks typing alone: unset keys stay nil so defaults can tell
// them from explicit values.
func TestParseRaw(t *testing.T) {
	t.Run("no keys leaves everything unset", func(t *testing.T) {
		raw, err := ParseRaw(keys{}.lookup())
		require.NoError(t, err)
		assert.Equal(t, Raw{}, raw)
	})
	t.Run("every key is typed", func(t *testing.T) {
		raw, err := ParseRaw(keys{
			KeyEnvironment: "staging", KeyCloud: "aws", KeyRegion: "eu-central-1",
			KeyZones: `["eu-central-1a"]`, KeyClusterName: "c", KeyDomain: "d.example.com",
			KeyControlPlaneCount: "3", KeyControlPlaneSize: "m6i.large", KeyControlPlaneDiskGiB: "41",
			KeyWorkerCount: "4", KeyWorkerSize: "t3.large", KeyWorkerDiskGiB: "51",
			KeyTalosVersion: "v1.12.1", KeyKubernetesVersion: "1.34.0",
			KeyNetworkCIDR: " 10.1.0.0/16 ", KeyAdminCIDRs: "203.0.113.7/32",
			KeyIngress: "cilium", KeySecrets: "external-secrets", KeyACMEEmail: "sre@example.com",
			KeyChartVersions: `{"cilium":"1.20.2"}`, KeyHelmValues: `{"cilium":{"operator":{"replicas":1}}}`,
			KeyRetention: "90d", KeyPrometheusStorage: "80Gi", KeyAlertmanagerStorage: "4Gi", KeyGrafanaStorage: "8Gi",
		}.lookup())
		require.NoError(t, err)
		require.NotNil(t, raw.Environment)
		assert.Equal(t, Staging, *raw.Environment)
		require.NotNil(t, raw.Cloud)
		assert.Equal(t, AWS, *raw.Cloud)
		for name, got := range map[string]struct {
			p    *string
			want string
		}{
			"region":              {raw.Region, "eu-central-1"},
			"clusterName":         {raw.ClusterName, "c"},
			"domain":              {raw.Domain, "d.example.com"},
			"controlPlaneSize":    {raw.ControlPlaneSize, "m6i.large"},
			"workerSize":          {raw.WorkerSize, "t3.large"},
			"talosVersion":        {raw.TalosVersion, "v1.12.1"},
			"kubernetesVersion":   {raw.KubernetesVersion, "1.34.0"},
			"ingress":             {raw.Ingress, "cilium"},
			"secrets":             {raw.Secrets, "external-secrets"},
			"acmeEmail":           {raw.ACMEEmail, "sre@example.com"},
			"retention":           {raw.Retention, "90d"},
			"prometheusStorage":   {raw.PrometheusStorage, "80Gi"},
			"alertmanagerStorage": {raw.AlertmanagerStorage, "4Gi"},
			"grafanaStorage":      {raw.GrafanaStorage, "8Gi"},
		} {
			if assert.NotNil(t, got.p, name) {
				assert.Equal(t, got.want, *got.p, name)
			}
		}
		for name, got := range map[string]struct {
			p    *int
			want int
		}{
			"controlPlaneCount":   {raw.ControlPlaneCount, 3},
			"controlPlaneDiskGiB": {raw.ControlPlaneDiskGiB, 41},
			"workerCount":         {raw.WorkerCount, 4},
			"workerDiskGiB":       {raw.WorkerDiskGiB, 51},
		} {
			if assert.NotNil(t, got.p, name) {
				assert.Equal(t, got.want, *got.p, name)
			}
		}
		assert.Equal(t, []string{"eu-central-1a"}, raw.Zones)
		require.NotNil(t, raw.NetworkCIDR)
		assert.Equal(t, prefix("10.1.0.0/16"), *raw.NetworkCIDR)
		assert.Equal(t, []netip.Prefix{prefix("203.0.113.7/32")}, raw.AdminCIDRs)
		assert.Equal(t, map[string]string{"cilium": "1.20.2"}, raw.ChartVersions)
		assert.Equal(t, map[string]map[string]any{"cilium": {"operator": map[string]any{"replicas": float64(1)}}}, raw.HelmValues)
	})
	t.Run("chartVersions and helmValues are not checked against the chart table yet", func(t *testing.T) {
		// Typing only: unknown names are Validate's to report, with the list.
		raw, err := ParseRaw(keys{KeyChartVersions: `{"nope":""}`, KeyHelmValues: `{"gateway-api":{}}`}.lookup())
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"nope": ""}, raw.ChartVersions)
		assert.Equal(t, map[string]map[string]any{"gateway-api": {}}, raw.HelmValues)
	})
	t.Run("an empty adminCidrs list is explicit, not unset", func(t *testing.T) {
		for _, v := range []string{"[]", "", " [ ] "} {
			raw, err := ParseRaw(keys{KeyAdminCIDRs: v}.lookup())
			require.NoError(t, err, "%q", v)
			assert.NotNil(t, raw.AdminCIDRs, "%q", v)
			assert.Empty(t, raw.AdminCIDRs, "%q", v)
		}
	})
	t.Run("an empty string is a set value, not an unset key", func(t *testing.T) {
		raw, err := ParseRaw(keys{KeyRegion: "", KeyClusterName: "", KeyRetention: "", KeyGrafanaStorage: ""}.lookup())
		require.NoError(t, err)
		if assert.NotNil(t, raw.Region) {
			assert.Empty(t, *raw.Region)
		}
		assert.NotNil(t, raw.ClusterName)
		assert.NotNil(t, raw.Retention)
		assert.NotNil(t, raw.GrafanaStorage)
		assert.Nil(t, raw.PrometheusStorage, "a key not set stays nil")
		assert.Nil(t, raw.AlertmanagerStorage, "a key not set stays nil")
	})
	t.Run("monitoring values are not checked while typing", func(t *testing.T) {
		// Their forms are Validate's to report, with the key.
		raw, err := ParseRaw(keys{KeyRetention: "15 days", KeyPrometheusStorage: "lots"}.lookup())
		require.NoError(t, err)
		require.NotNil(t, raw.Retention)
		assert.Equal(t, "15 days", *raw.Retention)
		require.NotNil(t, raw.PrometheusStorage)
		assert.Equal(t, "lots", *raw.PrometheusStorage)
	})
	t.Run("type errors name the key and the value", func(t *testing.T) {
		_, err := ParseRaw(keys{KeyWorkerDiskGiB: "lots"}.lookup())
		require.Error(t, err)
		assert.Equal(t, `sre-lab:workerDiskGiB = "lots": must be a whole number`, err.Error())
	})
}

// TestValidate runs the rules on a hand-built Config, without defaults.
func TestValidate(t *testing.T) {
	valid := func() Config {
		return Config{
			Stack:             "staging",
			Environment:       Staging,
			Cloud:             AWS,
			Region:            "us-east-2",
			Zones:             []string{"us-east-2a", "us-east-2b", "us-east-2c"},
			ClusterName:       "lab",
			Domain:            "lab.example.com",
			ControlPlane:      NodePool{Count: 3, Size: "m6i.large", DiskGiB: 20},
			Workers:           NodePool{Count: 50, Size: "c6a.xlarge", DiskGiB: 20},
			TalosVersion:      "v1.12.0",
			KubernetesVersion: "1.35.0",
			NetworkCIDR:       prefix("172.16.0.0/22"),
			AdminCIDRs:        []netip.Prefix{prefix("203.0.113.7/32")},
			ProtectSecrets:    true,
			Ingress:           IngressCilium,
			Secrets:           SecretsSealed,
			ACMEEmail:         "sre@example.com",
			// A copy: rows below write to it.
			Charts:     maps.Clone(DefaultCharts),
			HelmValues: map[string]map[string]any{ChartCilium: {"operator": map[string]any{"replicas": 1}}},
			Monitoring: Monitoring{Retention: "15d", PrometheusStorage: "50Gi", AlertmanagerStorage: "2Gi", GrafanaStorage: "5Gi"},
			Logging:    Logging{Collector: CollectorAlloy, Retention: "14d", Storage: "20Gi"},
			EtcdBackup: EtcdBackup{Enabled: true, Schedule: DefaultEtcdBackupSchedule, Recipient: testRecipient},
		}
	}
	require.NoError(t, Validate(valid()))

	tests := []struct {
		name    string
		mutate  func(*Config)
		wantKey string // empty: still valid
	}{
		// Workers kept to what the AWS node security group holds with 7
		// control planes: 60 rules, 3 fixed, 2 for the admin CIDR, 1 per node.
		{"seven control planes on aws", func(c *Config) { c.ControlPlane.Count, c.Workers.Count = 7, 48 }, ""},
		{"nine control planes on aws", func(c *Config) { c.ControlPlane.Count, c.Workers.Count = 9, 46 }, KeyControlPlaneCount},
		{"one node more than the aws security group holds", func(c *Config) { c.ControlPlane.Count, c.Workers.Count = 7, 49 }, KeyWorkerCount},
		{"as many nodes on gcp, which has no such limit", func(c *Config) {
			c.Cloud, c.Region, c.Zones, c.ControlPlane.Size, c.Workers.Size = GCP, "us-east4", nil, "e2-standard-2", "e2-standard-4"
			c.ControlPlane.Count, c.Workers.Count, c.EtcdBackup.Enabled = 7, 50, false
		}, ""},
		{"/16 VPC", func(c *Config) { c.NetworkCIDR = prefix("192.168.0.0/16") }, ""},
		{"/23 VPC", func(c *Config) { c.NetworkCIDR = prefix("10.0.0.0/23") }, KeyNetworkCIDR},
		{"no zones lets the backend pick", func(c *Config) { c.Zones = nil }, ""},
		{"zone of another region", func(c *Config) { c.Zones = []string{"us-east-1a"} }, KeyZones},
		{"GovCloud region", func(c *Config) { c.Region = "us-gov-west-1"; c.Zones = nil }, ""},
		{"region with a zone letter", func(c *Config) { c.Region = "us-east-2a" }, KeyRegion},
		{"no domain on aws", func(c *Config) { c.Domain = "" }, KeyDomain},
		{"no acmeEmail on aws", func(c *Config) { c.ACMEEmail = "" }, KeyACMEEmail},
		{"acmeEmail not an address", func(c *Config) { c.ACMEEmail = "sre" }, KeyACMEEmail},
		{"acmeEmail with a plus and subdomain", func(c *Config) { c.ACMEEmail = "sre+lab@mail.example.co.uk" }, ""},
		{"ingress nginx", func(c *Config) { c.Ingress = "nginx" }, KeyIngress},
		{"ingress unset", func(c *Config) { c.Ingress = "" }, KeyIngress},
		{"external-secrets", func(c *Config) { c.Secrets = SecretsExternal }, ""},
		{"unknown secrets operator", func(c *Config) { c.Secrets = "vault" }, KeySecrets},
		{"overridden chart version", func(c *Config) { c.Charts[ChartCilium] = Chart{ChartCilium, "https://helm.cilium.io/", "1.20.2"} }, ""},
		{"chart with an empty version", func(c *Config) { c.Charts[ChartEBSCSI] = Chart{Name: ChartEBSCSI} }, KeyChartVersions + "." + ChartEBSCSI},
		{"chart not in the table", func(c *Config) { c.Charts["nope"] = Chart{"nope", "https://example.com", "1.0.0"} }, KeyChartVersions},
		{"no helm values", func(c *Config) { c.HelmValues = nil }, ""},
		{"helm values for every installable chart", func(c *Config) {
			for name := range DefaultCharts {
				if name != ChartGatewayAPI {
					c.HelmValues[name] = map[string]any{}
				}
			}
		}, ""},
		{"helm values for gateway-api", func(c *Config) { c.HelmValues[ChartGatewayAPI] = map[string]any{} }, KeyHelmValues},
		{"helm values for an unknown chart", func(c *Config) { c.HelmValues["nope"] = nil }, KeyHelmValues},
		{"51 workers", func(c *Config) { c.Workers.Count = 51 }, KeyWorkerCount},
		{"zero network", func(c *Config) { c.NetworkCIDR = netip.Prefix{} }, KeyNetworkCIDR},
		{"no admin CIDRs", func(c *Config) { c.AdminCIDRs = nil }, KeyAdminCIDRs},
		{"azure without an image", func(c *Config) {
			c.Cloud, c.Region, c.Zones, c.ControlPlane.Size, c.Workers.Size = Azure, "westeurope", nil, "Standard_B2s", "Standard_B2s"
			c.EtcdBackup.Enabled = false
		}, KeyTalosImage},
		{"latest supported kubernetes patch", func(c *Config) { c.KubernetesVersion = "1.35.9" }, ""},
		{"kubernetes without a patch", func(c *Config) { c.KubernetesVersion = "1.35" }, KeyKubernetesVersion},
		{"talos pre-release", func(c *Config) { c.TalosVersion = "v1.12.0-beta.1" }, KeyTalosVersion},

		// Retention: a Prometheus duration, above zero.
		{"retention in hours", func(c *Config) { c.Monitoring.Retention = "12h" }, ""},
		{"retention in weeks", func(c *Config) { c.Monitoring.Retention = "1w" }, ""},
		{"retention in years", func(c *Config) { c.Monitoring.Retention = "1y" }, ""},
		{"retention of days and hours", func(c *Config) { c.Monitoring.Retention = "1d12h" }, ""},
		{"retention units out of order", func(c *Config) { c.Monitoring.Retention = "12h1d" }, KeyRetention},
		{"retention unit repeated", func(c *Config) { c.Monitoring.Retention = "1d1d" }, KeyRetention},
		{"retention with zeros inside it", func(c *Config) { c.Monitoring.Retention = "100d" }, ""},
		{"retention of hours and zero minutes", func(c *Config) { c.Monitoring.Retention = "1h0m" }, ""},
		{"retention in words", func(c *Config) { c.Monitoring.Retention = "15 days" }, KeyRetention},
		{"retention without a unit", func(c *Config) { c.Monitoring.Retention = "10" }, KeyRetention},
		{"retention of zero days", func(c *Config) { c.Monitoring.Retention = "0d" }, KeyRetention},
		{"retention of zero in several units", func(c *Config) { c.Monitoring.Retention = "00h0m" }, KeyRetention},
		{"retention of zero without a unit", func(c *Config) { c.Monitoring.Retention = "0" }, KeyRetention},
		{"retention negative", func(c *Config) { c.Monitoring.Retention = "-1d" }, KeyRetention},
		{"retention Go-style with a fraction", func(c *Config) { c.Monitoring.Retention = "1.5h" }, KeyRetention},
		{"retention with an unknown unit", func(c *Config) { c.Monitoring.Retention = "3mo" }, KeyRetention},
		{"retention with spaces around it", func(c *Config) { c.Monitoring.Retention = " 15d " }, KeyRetention},
		{"retention unset", func(c *Config) { c.Monitoring.Retention = "" }, KeyRetention},

		// Volumes: Kubernetes quantities, above zero.
		{"prometheusStorage in Mi", func(c *Config) { c.Monitoring.PrometheusStorage = "500Mi" }, ""},
		{"prometheusStorage with a fraction", func(c *Config) { c.Monitoring.PrometheusStorage = "1.5Gi" }, ""},
		{"prometheusStorage below one with a leading zero", func(c *Config) { c.Monitoring.PrometheusStorage = "0.5Ti" }, ""},
		{"prometheusStorage in decimal gigabytes", func(c *Config) { c.Monitoring.PrometheusStorage = "20G" }, ""},
		{"prometheusStorage with zeros inside it", func(c *Config) { c.Monitoring.PrometheusStorage = "100Gi" }, ""},
		{"prometheusStorage in GB", func(c *Config) { c.Monitoring.PrometheusStorage = "20GB" }, KeyPrometheusStorage},
		{"prometheusStorage of zero", func(c *Config) { c.Monitoring.PrometheusStorage = "0Gi" }, KeyPrometheusStorage},
		{"prometheusStorage negative", func(c *Config) { c.Monitoring.PrometheusStorage = "-1Gi" }, KeyPrometheusStorage},
		{"prometheusStorage unset", func(c *Config) { c.Monitoring.PrometheusStorage = "" }, KeyPrometheusStorage},
		{"alertmanagerStorage in Mi", func(c *Config) { c.Monitoring.AlertmanagerStorage = "256Mi" }, ""},
		{"alertmanagerStorage in words", func(c *Config) { c.Monitoring.AlertmanagerStorage = "lots" }, KeyAlertmanagerStorage},
		{"alertmanagerStorage of zero with a fraction", func(c *Config) { c.Monitoring.AlertmanagerStorage = "0.00Gi" }, KeyAlertmanagerStorage},
		{"alertmanagerStorage with an uppercase K", func(c *Config) { c.Monitoring.AlertmanagerStorage = "100K" }, KeyAlertmanagerStorage},
		{"alertmanagerStorage with a trailing dot", func(c *Config) { c.Monitoring.AlertmanagerStorage = "1.Gi" }, KeyAlertmanagerStorage},
		{"grafanaStorage in Ki", func(c *Config) { c.Monitoring.GrafanaStorage = "1048576Ki" }, ""},
		{"grafanaStorage of zero", func(c *Config) { c.Monitoring.GrafanaStorage = "0Gi" }, KeyGrafanaStorage},
		{"grafanaStorage negative", func(c *Config) { c.Monitoring.GrafanaStorage = "-1Gi" }, KeyGrafanaStorage},
		{"grafanaStorage in GiB", func(c *Config) { c.Monitoring.GrafanaStorage = "5GiB" }, KeyGrafanaStorage},
		{"grafanaStorage with a space before the unit", func(c *Config) { c.Monitoring.GrafanaStorage = "5 Gi" }, KeyGrafanaStorage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.mutate(&cfg)
			err := Validate(cfg)
			if tt.wantKey == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, []string{tt.wantKey}, errorKeys(err), "errors:\n%v", err)
		})
	}
}

func TestErrorMessageFormat(t *testing.T) {
	err := &Error{Key: KeyCloud, Value: "gce", Allowed: "the dev environment runs on aws"}
	assert.Equal(t, `sre-lab:cloud = "gce": the dev environment runs on aws`, err.Error())
	// Values with quotes or newlines stay on one readable line.
	err = &Error{Key: KeyClusterName, Value: "a\"b\nc", Allowed: "x"}
	assert.Equal(t, `sre-lab:clusterName = "a\"b\nc": x`, err.Error())
}
