// Package infra is the contract every backend fulfils: the machines it made
// and the address of the cluster endpoint. Talos consumes nothing else, so a
// backend can be swapped without touching the layers above it.
package infra

import (
	"fmt"
	"net/netip"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Ports every backend opens and every layer refers to. Each is defined here
// only: Talos patches, firewall rules, load balancers and Cilium values all
// use these constants.
const (
	// KubeAPIPort is the Kubernetes API server.
	KubeAPIPort = 6443
	// TalosAPIPort is apid, the Talos API that talosctl and the provider use.
	TalosAPIPort = 50000
	// TrustdPort is trustd, which workers call to get their certificates.
	TrustdPort = 50001
	// KubePrismPort is the node-local, highly available API endpoint Talos
	// runs on every node (127.0.0.1). Cilium reaches the API through it.
	KubePrismPort = 7445
	// EtcdMetricsPort is where the Talos patch makes etcd serve metrics.
	// It must never be reachable from outside the cluster network.
	EtcdMetricsPort = 2381
	// IngressHTTPNodePort and IngressHTTPSNodePort are where Cilium's shared
	// ingress listens on every node in a cloud; the cloud load balancer
	// forwards 80 and 443 to them.
	IngressHTTPNodePort  = 30080
	IngressHTTPSNodePort = 30443
	// TalosServiceLogsPort and TalosKernelLogsPort receive, over TCP, the
	// newline-delimited JSON Talos sends of its own services and of the
	// kernel; two ports so the receiver can tell the streams apart.
	TalosServiceLogsPort = 6050
	TalosKernelLogsPort  = 6051
)

// AddressRange is a block of addresses on the node network, both ends
// included.
type AddressRange struct {
	First, Last netip.Addr
}

// Role is what a node does in the cluster.
type Role string

// The two Talos machine types.
const (
	ControlPlane Role = "controlplane"
	Worker       Role = "worker"
)

// Short is the role as it appears in node names: cp or worker.
func (r Role) Short() string {
	if r == ControlPlane {
		return "cp"
	}
	return "worker"
}

// Node is one machine a backend made.
type Node struct {
	// Name is the machine's name, and the Kubernetes node name.
	Name string
	// Role is the Talos machine type.
	Role Role
	// PrivateIP is the address on the node network.
	PrivateIP pulumi.StringOutput
	// PublicIP is the address reachable from outside; an empty string where
	// the backend gives none.
	PublicIP pulumi.StringOutput
	// Machine is the resource that is the node (instance, server, VM or
	// container). A replacement of it is a new, unconfigured machine, often
	// at the same address: everything Talos does to the node is replaced
	// with it, so the new machine gets its configuration again.
	Machine pulumi.Resource
	// ConfigPatches are Talos config patches this node needs beyond its
	// role's, applied with its machine config: on a macOS VirtualBox host,
	// its static address, which no DHCP reservation keeps there.
	ConfigPatches []string
}

// TalosAddress is where the program reaches the node's Talos API: the public
// address when there is one, the private one otherwise.
func (n Node) TalosAddress() pulumi.StringOutput {
	return pulumi.All(n.PublicIP, n.PrivateIP).ApplyT(func(v []any) string {
		if public, _ := v[0].(string); public != "" {
			return public
		}
		return v[1].(string)
	}).(pulumi.StringOutput)
}

// Platform is what every backend returns.
type Platform struct {
	// Nodes lists control planes first, then workers, each in index order.
	Nodes []Node
	// Endpoint is the host name or address in front of the control planes:
	// a load balancer in a cloud, the first control plane locally. The
	// cluster endpoint is https://Endpoint:KubeAPIPort.
	Endpoint pulumi.StringOutput
	// InstallDisk is the disk Talos installs to, for backends that boot an
	// installer ISO; empty where the image is already installed.
	InstallDisk string
	// LoadBalancerRange is handed out to LoadBalancer services by Cilium
	// (LB-IPAM with L2 announcements) on backends without a cloud load
	// balancer; nil in a cloud.
	LoadBalancerRange *AddressRange
	// IngressEndpoint is where web traffic for the ingress arrives: the
	// cloud load balancer's name, or the ingress's LB-IPAM address locally.
	IngressEndpoint pulumi.StringOutput
	// LogBucket is the object storage Loki keeps chunks in; nil where
	// Loki keeps them on its own volume.
	LogBucket *Bucket
	// BackupBucket receives etcd snapshots; nil where none are scheduled.
	BackupBucket *Bucket
	// VolumeKey is the credential the volume driver's controller creates,
	// attaches and deletes volumes with, where the nodes carry no cloud
	// identity a pod may borrow (AWS); nil elsewhere.
	VolumeKey *AccessKey
	// SecretsKey reads the lab's part of the cloud secret manager for the
	// secrets operator; nil where there is none to read or the nodes'
	// identity does it.
	SecretsKey *AccessKey
	// Passthrough is set where the cloud load balancer forwards packets
	// with its own address as destination (GCP): control planes must hold
	// Endpoint as a local address, and the ingress Service takes
	// IngressEndpoint as its load-balancer IP, which Cilium answers for.
	Passthrough bool
	// DHCPOnEveryLink asks DHCP for an address on every physical network
	// card, for clouds whose private network card is attached after boot
	// and absent from the metadata Talos configures links from (Hetzner).
	DHCPOnEveryLink bool
}

// Bucket is object storage a backend made for the cluster, for one
// workload: reachable either by the nodes' own cloud identity (Key nil) or
// only with Key, which the backend made for that workload alone.
type Bucket struct {
	// Type is Loki's name for the store: s3, gcs or azure.
	Type string
	// Name is the bucket's name.
	Name pulumi.StringOutput
	// Region is where the bucket lives, for stores whose clients need it.
	Region string
	// Key is the workload's own credential for the bucket; nil where the
	// nodes' cloud identity reaches it.
	Key *AccessKey
}

// ByNodeIdentity reports whether the bucket's workload reaches it with the
// nodes' own cloud identity, from the cloud's metadata service: then that
// workload, and only it, must be let through to MetadataAddress.
func (b *Bucket) ByNodeIdentity() bool { return b != nil && b.Key == nil }

// MetadataAddress is where every cloud the lab runs on answers instance
// metadata, and with it the credentials of the node's cloud identity:
// AWS (IMDS), GCP (metadata.google.internal), Azure (IMDS) and Hetzner.
const MetadataAddress = "169.254.169.254"

// AccessKey is a long-lived credential of a cloud identity made for one
// workload and allowed only what that workload does. It exists where the
// nodes must not lend their own identity to pods and the cluster has no
// issuer the cloud trusts for short-lived ones (AWS without an OIDC
// provider); the workload receives it as a Secret in its own namespace.
type AccessKey struct {
	// ID names the key (an AWS access key ID); it is not a credential by
	// itself.
	ID pulumi.StringOutput
	// Secret is the key's secret half, always a Pulumi secret.
	Secret pulumi.StringOutput
}

// ControlPlanes returns the control-plane nodes in order.
func (p Platform) ControlPlanes() []Node { return p.byRole(ControlPlane) }

// Workers returns the worker nodes in order.
func (p Platform) Workers() []Node { return p.byRole(Worker) }

func (p Platform) byRole(role Role) []Node {
	var out []Node
	for _, n := range p.Nodes {
		if n.Role == role {
			out = append(out, n)
		}
	}
	return out
}

// LocalNodeName is the name of a node on a laptop backend: talos-cp-01.
func LocalNodeName(role Role, index int) string {
	return fmt.Sprintf("talos-%s-%02d", role.Short(), index)
}

// CloudNodeName is the name of a node in a cloud: dev-sre-cp-01.
func CloudNodeName(env string, role Role, index int) string {
	return fmt.Sprintf("%s-sre-%s-%02d", env, role.Short(), index)
}

// NetworkName is the name of a cloud network resource: sre-lab-dev-vpc.
func NetworkName(env, purpose string) string {
	return fmt.Sprintf("sre-lab-%s-%s", env, purpose)
}

// ClusterEndpoint is the URL Kubernetes clients and Talos use for the API.
func ClusterEndpoint(endpoint pulumi.StringOutput) pulumi.StringOutput {
	return pulumi.Sprintf("https://%s:%d", endpoint, KubeAPIPort)
}

// LocalPathVolume is the Talos user volume local-path-provisioner keeps its
// volumes on. Talos mounts user volumes at /var/mnt/<name>; the Talos patch
// creates the volume and the storage layer points the provisioner at it.
const LocalPathVolume = "local-path-provisioner"

// LocalPathDir is where LocalPathVolume is mounted on every node.
const LocalPathDir = "/var/mnt/" + LocalPathVolume
