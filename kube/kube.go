// Package kube wires the Kubernetes layer onto a bootstrapped cluster:
// namespaces, the CRDs others need, Cilium, and the platform add-ons
// (cert-manager, the secrets operator, storage). The serial chain is
// CRDs -> Cilium -> everything else in parallel: no release waits for
// another unless it needs that one's CRDs or the pod network, or, on AWS,
// makes volume claims, which must be deleted before the EBS driver goes
// (Layer.Volumes).
package kube

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/apigate"
	"github.com/your-org/sre-lab/kube/certmanager"
	"github.com/your-org/sre-lab/kube/cilium"
	"github.com/your-org/sre-lab/kube/crds"
	"github.com/your-org/sre-lab/kube/etcdbackup"
	"github.com/your-org/sre-lab/kube/namespaces"
	"github.com/your-org/sre-lab/kube/secrets"
	"github.com/your-org/sre-lab/kube/storage"
)

// Layer is what the Kubernetes layer hands to the observability layer.
type Layer struct {
	// Namespaces holds every namespace the lab created.
	Namespaces *namespaces.Namespaces
	// CRDs must exist before anything renders ServiceMonitors or Gateways.
	CRDs *crds.CRDs
	// CNI is Cilium; pods need it to start.
	CNI *cilium.CNI
	// ClusterIssuer signs the lab's ingress certificates.
	ClusterIssuer string
	// StorageClass is the default class persistent volumes come from.
	StorageClass string
	// Volumes is what a release that makes claims of StorageClass depends
	// on, so that on destroy its claims are deleted, and their cloud disks
	// with them, before the storage driver goes; see storage.Storage.
	Volumes []pulumi.Resource
	// Hosts are the web endpoints, by service.
	Hosts map[string]string
}

// Ready is what a release in namespaces waits for: Cilium running with its
// LoadBalancer pools (it has pods, and may have LoadBalancer Services), the
// CRDs (it renders ServiceMonitors) and those namespaces. Nothing else:
// add-ons install in parallel.
func (l *Layer) Ready(namespaces ...string) []pulumi.Resource {
	deps := append(append([]pulumi.Resource{}, l.CNI.Ready...), l.CRDs.Ready...)
	for _, namespace := range namespaces {
		if n, ok := l.Namespaces.ByName[namespace]; ok {
			deps = append(deps, n)
		}
	}
	return deps
}

// Hosts of the web endpoints this layer serves through the ingress of
// cloud, under domain. The observability layer adds grafana.<domain>.
//
// The Hubble UI has no login and shows every flow, DNS query and HTTP path
// in the cluster, so it gets a host (and with it an Ingress) only on a local
// backend, whose network is the user's own machine. In a cloud the ingress
// faces the internet, and admins reach the UI by port-forward (`task
// hubble`) with their kubeconfig instead.
func Hosts(cloud config.Cloud, domain string) map[string]string {
	if !cloud.Local() {
		return map[string]string{}
	}
	return map[string]string{
		"hubble": "hubble." + domain,
	}
}

// metadataGuard closes the cloud's metadata service to pods; the one
// exception is Loki, where its bucket takes the nodes' identity (GCP).
// A laptop has no metadata service.
func metadataGuard(cloud config.Cloud, platform infra.Platform) *cilium.MetadataGuard {
	if cloud.Local() {
		return nil
	}
	g := &cilium.MetadataGuard{}
	if platform.LogBucket.ByNodeIdentity() {
		g.Exempt = []string{namespaces.Logging}
	}
	return g
}

// Install builds the Kubernetes layer of cfg on platform through provider;
// access is how it reads the cluster's state to wait for Cilium.
func Install(ctx *pulumi.Context, cfg config.Config, platform infra.Platform, provider *kubernetes.Provider, access apigate.Access) (*Layer, error) {
	with := pulumi.Providers(provider)
	layer := &Layer{Hosts: Hosts(cfg.Cloud, cfg.IngressDomain())}

	ns, err := namespaces.NewNamespaces(ctx, "sre-lab", &namespaces.Args{Specs: namespaceSpecs(cfg)}, with)
	if err != nil {
		return nil, err
	}
	layer.Namespaces = ns

	layer.CRDs, err = crds.NewCRDs(ctx, "sre-lab", &crds.Args{
		Prometheus: cfg.Charts[config.ChartPrometheusCRDs],
		GatewayAPI: cfg.Charts[config.ChartGatewayAPI],
		Namespace:  namespaces.KubeSystem,
	}, with)
	if err != nil {
		return nil, err
	}

	// The Hubble UI's ingress (local backends only) names its issuer before
	// cert-manager runs; cert-manager picks the ingress up once it does.
	issuer := certmanager.IssuerArgs{
		Kind: certmanager.ACME, Email: cfg.ACMEEmail,
		IngressClass: cilium.IngressClass, SolverAnnotations: cilium.NoForcedHTTPS(),
	}
	layer.ClusterIssuer = certmanager.LetsEncryptIssuer
	if cfg.Cloud.Local() {
		issuer = certmanager.IssuerArgs{Kind: certmanager.SelfSignedCA, Domain: cfg.IngressDomain()}
		layer.ClusterIssuer = certmanager.CAIssuer
	}

	layer.CNI, err = cilium.NewCNI(ctx, "cilium", &cilium.Args{
		Chart:               cfg.Charts[config.ChartCilium],
		OperatorReplicas:    replicas(cfg),
		ServiceMonitors:     true,
		DashboardsNamespace: namespaces.Monitoring,
		LoadBalancerRange:   platform.LoadBalancerRange,
		IngressAddress:      ingressAddress(platform),
		HubbleHost:          layer.Hosts["hubble"],
		ClusterIssuer:       layer.ClusterIssuer,
		MetadataGuard:       metadataGuard(cfg.Cloud, platform),
		Values:              cfg.HelmValues[config.ChartCilium],
		// Cilium renders ServiceMonitors, a GatewayClass and dashboards into
		// the monitoring namespace.
		DependsOn: append(append([]pulumi.Resource{}, layer.CRDs.Ready...), ns.ByName[namespaces.Monitoring]),
		Access:    access,
	}, with)
	if err != nil {
		return nil, err
	}

	// Everything below needs pods, hence the CNI, and renders ServiceMonitors,
	// hence the CRDs; none of it needs another add-on.
	after := layer.Ready

	if _, err := certmanager.NewCertManager(ctx, "cert-manager", &certmanager.Args{
		Chart:          cfg.Charts[config.ChartCertManager],
		Namespace:      namespaces.CertManager,
		Values:         cfg.HelmValues[config.ChartCertManager],
		ServiceMonitor: true,
		Issuer:         issuer,
		DependsOn:      after(namespaces.CertManager),
	}, with); err != nil {
		return nil, err
	}

	secretsArgs := &secrets.Args{
		Operator:       cfg.Secrets,
		Chart:          cfg.Charts[cfg.Secrets],
		Namespace:      namespaces.KubeSystem,
		Values:         cfg.HelmValues[cfg.Secrets],
		ServiceMonitor: true,
	}
	if cfg.Secrets == config.SecretsExternal {
		secretsArgs.Namespace = namespaces.ExternalSecrets
		if cfg.Cloud == config.AWS {
			secretsArgs.AWSRegion = cfg.Region
			secretsArgs.AWSKey = platform.SecretsKey
		}
	}
	secretsArgs.DependsOn = after(secretsArgs.Namespace)
	if _, err := secrets.NewOperator(ctx, cfg.Secrets, secretsArgs, with); err != nil {
		return nil, err
	}

	storageArgs := &storage.Args{
		Driver:             storage.LocalPath,
		Chart:              cfg.Charts[config.ChartLocalPath],
		Namespace:          namespaces.Storage,
		Values:             cfg.HelmValues[config.ChartLocalPath],
		ControllerReplicas: replicas(cfg),
	}
	if cfg.Cloud.CSIDriver() {
		storageArgs.Driver = storage.AWSEBS
		storageArgs.Chart = cfg.Charts[config.ChartEBSCSI]
		storageArgs.Namespace = namespaces.KubeSystem
		storageArgs.Values = cfg.HelmValues[config.ChartEBSCSI]
		storageArgs.AWSKey = platform.VolumeKey
		storageArgs.Region = cfg.Region
		storageArgs.ClusterName = cfg.ClusterName
		storageArgs.Access = access
	}
	storageArgs.DependsOn = after(storageArgs.Namespace)
	st, err := storage.NewStorage(ctx, "storage", storageArgs, with)
	if err != nil {
		return nil, err
	}
	layer.StorageClass = st.StorageClass
	layer.Volumes = st.Volumes

	if cfg.EtcdBackup.Enabled {
		if _, err := etcdbackup.New(ctx, "etcd-backup", &etcdbackup.Args{
			ClusterName: cfg.ClusterName,
			Bucket:      platform.BackupBucket,
			Backup:      cfg.EtcdBackup,
			DependsOn:   after(etcdbackup.Namespace),
		}, with); err != nil {
			return nil, err
		}
	}
	return layer, nil
}

// ingressAddress is the passthrough load balancer's address the ingress
// must answer on, or nil where the load balancer translates addresses.
func ingressAddress(p infra.Platform) pulumi.StringInput {
	if !p.Passthrough {
		return nil
	}
	return p.IngressEndpoint
}

// replicas of controllers that tolerate one: one in dev, two elsewhere so a
// node drain does not stop them.
func replicas(cfg config.Config) int {
	if cfg.Environment == config.Dev {
		return 1
	}
	return 2
}

// namespaceSpecs are the namespaces of cfg, by category, with the Pod
// Security level their pods need.
func namespaceSpecs(cfg config.Config) []namespaces.Spec {
	specs := []namespaces.Spec{
		{Name: namespaces.Monitoring, Enforce: namespaces.Privileged}, // node-exporter: host network, PID, paths
		{Name: namespaces.Logging, Enforce: namespaces.Privileged},    // collectors read host logs
		{Name: namespaces.Ingress, Enforce: namespaces.Baseline},
		// The practice layer's drills inject faults here, and only here.
		{Name: namespaces.Apps, Enforce: namespaces.Baseline, ChaosTarget: cfg.Practice},
		{Name: namespaces.CertManager, Enforce: namespaces.Baseline},
	}
	if !cfg.Cloud.CSIDriver() {
		specs = append(specs, namespaces.Spec{Name: namespaces.Storage, Enforce: namespaces.Privileged}) // provisioner helpers mount host paths
	}
	if cfg.Secrets == config.SecretsExternal {
		specs = append(specs, namespaces.Spec{Name: namespaces.ExternalSecrets, Enforce: namespaces.Baseline})
	}
	if cfg.EtcdBackup.Enabled {
		// Its own namespace: Talos grants the backup role to every pod in it.
		specs = append(specs, namespaces.Spec{Name: etcdbackup.Namespace, Enforce: etcdbackup.PodSecurity})
	}
	return specs
}
