// Package config is the typed stack configuration of sre-lab: every key under
// the `sre-lab` namespace is read once, environment defaults fill what the user
// left unset, and the result is validated before any resource is registered.
package config

import (
	"net/netip"
)

// Namespace is the Pulumi configuration namespace every key lives in.
const Namespace = "sre-lab"

// Environment is one row of the environment matrix.
type Environment string

// The environments of the matrix: each sets node counts and sizes
// (EnvironmentMatrix).
const (
	Local   Environment = "local"
	Dev     Environment = "dev"
	Staging Environment = "staging"
	Prod    Environment = "prod"
)

// Environments lists every environment in matrix order, for messages and tests.
var Environments = []Environment{Local, Dev, Staging, Prod}

// HA reports whether the environment must survive losing a control plane.
func (e Environment) HA() bool { return e == Staging || e == Prod }

// Cloud names a backend that provides the machines.
type Cloud string

// Every backend the design names. Only those in Implemented can be deployed.
const (
	VirtualBox Cloud = "virtualbox"
	Docker     Cloud = "docker"
	AWS        Cloud = "aws"
	GCP        Cloud = "gcp"
	Azure      Cloud = "azure"
	Hetzner    Cloud = "hetzner"
)

// Implemented lists the backends this build can deploy, in the order messages
// print them. The others in the design are planned and rejected with a clear
// message until their package exists.
var Implemented = []Cloud{VirtualBox, Docker, AWS, GCP, Azure, Hetzner}

// HetznerNetworkZones maps each Hetzner Cloud location (sre-lab:region on
// Hetzner) to the network zone its private networks and load balancers
// live in.
var HetznerNetworkZones = map[string]string{
	"fsn1": "eu-central", "nbg1": "eu-central", "hel1": "eu-central",
	"ash": "us-east", "hil": "us-west", "sin": "ap-southeast",
}

// Local reports whether the backend runs on the user's own machine.
func (c Cloud) Local() bool { return c == VirtualBox || c == Docker }

// CSIDriver reports whether the backend's block storage has a CSI driver
// the lab installs (EBS on AWS); elsewhere volumes are local-path
// directories on the nodes.
func (c Cloud) CSIDriver() bool { return c == AWS }

// ObjectStorage reports whether the backend creates the buckets logs and
// etcd snapshots go to. Hetzner's S3-compatible storage has no resource
// in its provider, so only AWS does today.
func (c Cloud) ObjectStorage() bool { return c == AWS }

// NodePool is the shape of one role's machines.
type NodePool struct {
	// Count is the number of machines of the role.
	Count int
	// Size is the backend's machine size: an instance type on a cloud,
	// "<n>cpu-<m>gb" on VirtualBox.
	Size string
	// DiskGiB is the system disk of each machine.
	DiskGiB int
}

// Config is the whole stack configuration after defaults and validation.
type Config struct {
	// Stack is the Pulumi stack name, used in tags and for the environment
	// default.
	Stack string
	// Environment selects the row of the matrix that fills unset values.
	Environment Environment
	// Cloud selects the backend.
	Cloud Cloud
	// Region is the cloud region (a location such as fsn1 on Hetzner);
	// empty on local backends.
	Region string
	// Zones are the availability zones nodes spread across; empty means the
	// backend picks up to three from the region.
	Zones []string
	// ClusterName names the Talos and Kubernetes cluster.
	ClusterName string
	// Domain is the DNS zone public endpoints live under; optional until
	// ingress needs it.
	Domain string
	// ControlPlane is the control-plane pool.
	ControlPlane NodePool
	// Workers is the worker pool.
	Workers NodePool
	// TalosVersion is the Talos release every node runs, with a leading "v".
	TalosVersion string
	// TalosImage is an explicit machine image to boot from, on backends
	// where the user makes it (a Hetzner snapshot ID); empty selects the
	// image made for TalosVersion.
	TalosImage string
	// KubernetesVersion is the Kubernetes release Talos deploys, without "v".
	KubernetesVersion string
	// NetworkCIDR is the network nodes talk on: the host-only network locally,
	// the VPC in a cloud.
	NetworkCIDR netip.Prefix
	// AdminCIDRs may reach the Kubernetes API (6443) and Talos API (50000).
	AdminCIDRs []netip.Prefix
	// AllowWideAdminCIDRs accepts AdminCIDRs wider than a /16 (IPv4) or a
	// /48 (IPv6), 0.0.0.0/0 among them, which expose those APIs to far
	// more than one admin's addresses.
	AllowWideAdminCIDRs bool
	// ProtectSecrets protects the Talos machine secrets from deletion: the
	// cluster's identity cannot be recreated.
	ProtectSecrets bool
	// Ingress is the ingress implementation.
	Ingress string
	// Secrets is the secrets operator.
	Secrets string
	// ACMEEmail receives Let's Encrypt notices for cloud certificates.
	ACMEEmail string
	// Charts are the pinned charts, with the user's version overrides.
	Charts map[string]Chart
	// HelmValues are raw values per chart, merged over the lab's own.
	HelmValues map[string]map[string]any
	// Monitoring sizes Prometheus, Alertmanager and Grafana.
	Monitoring Monitoring
	// Logging chooses the log collector and sizes Loki.
	Logging Logging
	// EtcdBackup schedules etcd snapshots to object storage.
	EtcdBackup EtcdBackup
	// Practice installs the practice layer: a demo service under steady
	// load and a chaos engine to inject failures into it.
	Practice bool
}

// EtcdBackup is when etcd snapshots are taken and who can read them.
type EtcdBackup struct {
	// Enabled takes scheduled snapshots; on by default in staging and prod
	// where the backend has object storage.
	Enabled bool
	// Schedule is a five-field cron expression, in UTC.
	Schedule string
	// Recipient is an age public key (age1...) the snapshots are encrypted
	// to; required in staging and prod. Empty, allowed in dev only, leaves
	// them to the bucket's encryption at rest, with Kubernetes Secrets
	// inside sealed only by Talos's secretbox key.
	Recipient string
}

// Monitoring is how long metrics are kept and how much disk the monitoring
// stack claims.
type Monitoring struct {
	// Retention is how long Prometheus keeps samples, as a Prometheus
	// duration (15d, 12h).
	Retention string
	// PrometheusStorage, AlertmanagerStorage and GrafanaStorage are volume
	// sizes as Kubernetes quantities (50Gi).
	PrometheusStorage   string
	AlertmanagerStorage string
	GrafanaStorage      string
}

// Logging is which agent ships logs and how long Loki keeps them.
type Logging struct {
	// Collector is the node agent that tails pod logs: CollectorAlloy or
	// CollectorPromtail.
	Collector string
	// Retention is how long Loki keeps logs, a whole number of days
	// written as a Prometheus duration (7d, 168h): the compactor deletes
	// by the day-long index periods.
	Retention string
	// Storage is the size of Loki's volume: the chunks themselves locally,
	// only the write-ahead log and index cache where a bucket holds them.
	Storage string
}

// Log collectors. Promtail reached end of life on 2026-03-02 and stays only
// for those who ask for it.
const (
	CollectorAlloy    = "alloy"
	CollectorPromtail = "promtail"
)

// LocalDomain is the DNS zone of a local lab's web endpoints. .internal is
// reserved for private networks, so it never leaks to public DNS; the host
// resolves the names through the /etc/hosts line the stack exports.
const LocalDomain = "sre-lab.internal"

// IngressDomain is the DNS zone of the lab's web endpoints: the configured
// domain, or LocalDomain on a laptop.
func (c Config) IngressDomain() string {
	if c.Domain == "" && c.Cloud.Local() {
		return LocalDomain
	}
	return c.Domain
}

// Ingress implementations.
const (
	IngressCilium = "cilium"
)

// Secrets operators.
const (
	SecretsSealed   = "sealed-secrets"
	SecretsExternal = "external-secrets"
)
