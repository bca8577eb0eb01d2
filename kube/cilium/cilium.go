// Package cilium installs Cilium as the cluster's CNI with the values Talos
// needs, Hubble for network observability, and Cilium's shared ingress. On
// backends without a cloud load balancer it also hands out LoadBalancer
// addresses from the node network (LB-IPAM) and announces them over ARP.
package cilium

import (
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/apigate"
	"github.com/your-org/sre-lab/kube/helm"
)

// ReadyTimeout bounds the wait for Cilium: every node pulls the agent and
// Envoy images, and the agents start only once the operator has registered
// the CRDs.
const ReadyTimeout = 15 * time.Minute

// readyInterval is the pause between two looks at the agents.
const readyInterval = 5 * time.Second

//go:embed scripts/wait-ready.sh
var waitReady string

// waitScript is the wait for Cilium on the API-wait library.
var waitScript = apigate.Compose(waitReady)

// Token is the component's type token.
const Token = "sre-lab:kube:CiliumCNI"

// Namespace is where Cilium runs; Talos exempts it from Pod Security.
const Namespace = "kube-system"

// IngressClass is the ingress class Cilium's controller serves.
const IngressClass = "cilium"

// ForceHTTPSAnnotation sets, per Ingress, whether Cilium answers plain
// HTTP with a redirect to HTTPS. Cilium applies a redirect to every
// Ingress of the same host in its shared listener (cilium/cilium issues
// 28852, 35347), including the Ingress cert-manager makes to answer an
// HTTP-01 challenge: the challenge is then sent to an HTTPS listener that
// has no certificate yet, and Let's Encrypt never issues one. So no Ingress
// of the lab forces HTTPS, and every one says so (NoForcedHTTPS).
const ForceHTTPSAnnotation = "ingress.cilium.io/force-https"

// NoForcedHTTPS are the annotations that keep an Ingress, and every other
// Ingress of its host, answering plain HTTP.
func NoForcedHTTPS() map[string]string {
	return map[string]string{ForceHTTPSAnnotation: "disabled"}
}

// HubbleMetrics are the Hubble metrics the lab collects: DNS, drops with their reasons, TCP flags,
// flows, port distribution, ICMP, and HTTP golden signals with exemplars and
// workload context for the dashboards.
var HubbleMetrics = []string{
	"dns",
	"drop",
	"tcp",
	"flow",
	"port-distribution",
	"icmp",
	"httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,destination_ip,destination_namespace,destination_workload,traffic_direction",
}

// Capabilities of the agent on Talos: the chart's defaults less SYS_MODULE
// (Talos loads no kernel modules at runtime) and SYSLOG.
var (
	AgentCapabilities = []string{
		"CHOWN", "KILL", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "SYS_ADMIN",
		"SYS_RESOURCE", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID",
	}
	CleanStateCapabilities = []string{"NET_ADMIN", "SYS_ADMIN", "SYS_RESOURCE"}
)

// Args shapes Cilium for one cluster.
type Args struct {
	// Chart is the pinned Cilium chart.
	Chart config.Chart
	// OperatorReplicas is 1 in dev, 2 elsewhere.
	OperatorReplicas int
	// ServiceMonitors turns on ServiceMonitors for the agent, operator,
	// Envoy and Hubble metrics; the Prometheus Operator CRDs must exist.
	ServiceMonitors bool
	// DashboardsNamespace receives Cilium's Grafana dashboards as ConfigMaps
	// labelled for the Grafana sidecar.
	DashboardsNamespace string
	// LoadBalancerRange, when set, is the LB-IPAM pool announced over L2:
	// its first address is the ingress's.
	LoadBalancerRange *infra.AddressRange
	// IngressAddress, when set, is a passthrough cloud load balancer's
	// address (GCP): the ingress takes it through LB-IPAM, unannounced,
	// and Cilium answers packets sent to it on every node.
	IngressAddress pulumi.StringInput
	// HubbleHost is the Hubble UI's host name on the ingress; empty leaves
	// the UI reachable by port-forward only, as in the clouds, where the
	// ingress is public and the UI has no login.
	HubbleHost string
	// ClusterIssuer signs the Hubble UI's certificate.
	ClusterIssuer string
	// MetadataGuard, when set, keeps pods away from the cloud's metadata
	// service (MetadataPolicy); nil on a laptop, which has none.
	MetadataGuard *MetadataGuard
	// Values are the user's raw chart values, merged last.
	Values map[string]any
	// DependsOn must be ready before the release installs (the CNI, the
	// CRDs); see helm.ReleaseArgs.DependsOn.
	DependsOn []pulumi.Resource
	// Access reaches the API server as the admin: the component reads the
	// agents' and operator's status through it to know Cilium runs.
	Access apigate.Access
}

// MetadataGuard says which pods, if any, may still reach the cloud's
// metadata service.
type MetadataGuard struct {
	// Exempt are the namespaces in which a pod labelled CloudIdentityLabel
	// keeps its way to the metadata service, for a workload that uses the
	// nodes' cloud identity (Loki and its bucket on GCP). Only cluster
	// admins create pods there, so the label cannot be borrowed.
	Exempt []string
}

// CloudIdentityLabel is the pod label that, set to "true" in one of
// MetadataGuard's Exempt namespaces, lets the pod reach the cloud's
// metadata service.
const CloudIdentityLabel = "sre-lab.io/cloud-identity"

// MetadataPolicyName names the cluster-wide policy MetadataPolicy makes.
const MetadataPolicyName = "sre-lab-cloud-metadata"

// dnsPort stays open to the metadata address: on GCP it is also the VPC's
// name server (Google Compute Engine docs, "Internal DNS": VMs resolve
// through the metadata server at 169.254.169.254), which the nodes'
// resolv.conf lists and CoreDNS, a pod, forwards to (Talos keeps cluster
// DNS off the host resolver, see Values). The metadata servers answer
// HTTP on port 80.
const dnsPort = 53

// namespaceLabel is the label Cilium gives every pod's identity with the
// pod's namespace (cilium pkg/k8s/apis/cilium.io/const.go,
// PodNamespaceLabel).
const namespaceLabel = "io.kubernetes.pod.namespace"

// MetadataPolicy is the spec list of a CiliumClusterwideNetworkPolicy that
// denies every pod behind the pod network egress to infra.MetadataAddress
// on every port but DNS (dnsPort), except the pods g exempts. The metadata service hands out the node's
// cloud credentials to whoever asks from the node (GCP has no hop limit),
// so without it any pod could act as the node.
//
// A deny wins over every allow (Cilium Documentation/security/policy/
// deny.rst), and a policy that selects a pod puts it in default deny for
// the directions it has rules for, unless enableDefaultDeny says otherwise
// (pkg/policy/api/rule.go, Rule.EnableDefaultDeny): both are off, so the
// policy takes the metadata service away and nothing else. Pods on the
// host network are not endpoints and keep it, as Talos and the node
// agents need it. The exempt pods are those in an exempt namespace with
// the label; label selectors cannot say "not both", so one rule denies
// pods without the label and another pods outside the namespaces.
func MetadataPolicy(g MetadataGuard) []map[string]any {
	deny := []any{map[string]any{
		"toCIDR": []any{infra.MetadataAddress + "/32"},
		"toPorts": []any{map[string]any{"ports": []any{
			map[string]any{"port": "1", "endPort": dnsPort - 1, "protocol": "ANY"},
			map[string]any{"port": strconv.Itoa(dnsPort + 1), "endPort": 65535, "protocol": "ANY"},
		}}},
	}}
	rule := func(description string, selector map[string]any) map[string]any {
		return map[string]any{
			"description":       description,
			"endpointSelector":  selector,
			"enableDefaultDeny": map[string]any{"ingress": false, "egress": false},
			"egressDeny":        deny,
		}
	}
	if len(g.Exempt) == 0 {
		return []map[string]any{rule("No pod reaches the cloud's metadata service and the node's cloud identity.", map[string]any{})}
	}
	exempt := make([]any, len(g.Exempt))
	for i, ns := range g.Exempt {
		exempt[i] = ns
	}
	return []map[string]any{
		rule("Pods without "+CloudIdentityLabel+" do not reach the cloud's metadata service.", map[string]any{
			"matchExpressions": []any{map[string]any{"key": CloudIdentityLabel, "operator": "DoesNotExist"}},
		}),
		rule("Pods outside the namespaces trusted with the node's cloud identity do not reach the cloud's metadata service.", map[string]any{
			"matchExpressions": []any{map[string]any{"key": namespaceLabel, "operator": "NotIn", "values": exempt}},
		}),
	}
}

// CNI is the `sre-lab:kube:CiliumCNI` component.
type CNI struct {
	pulumi.ResourceState

	// Release is the Cilium release, installed without Helm's wait.
	Release *helm.Release
	// Ready lists what passes once Cilium runs on every node and the
	// LoadBalancer pools exist: anything that needs pod networking or a
	// LoadBalancer address depends on all of it.
	Ready []pulumi.Resource
}

// Values renders the chart values for args. Each Talos-specific key follows
// the Talos guide to deploying Cilium.
func Values(args *Args) map[string]any {
	sm := args.ServiceMonitors
	v := map[string]any{
		// Talos assigns pod CIDRs per node; Cilium reads them from the nodes.
		"ipam": map[string]any{"mode": "kubernetes"},
		// Talos runs no kube-proxy (cluster.proxy.disabled) and Cilium reaches
		// the API server through KubePrism on every node.
		"kubeProxyReplacement": true,
		"k8sServiceHost":       "localhost",
		"k8sServicePort":       infra.KubePrismPort,
		// Talos mounts cgroup v2 itself and forbids remounting it.
		"cgroup": map[string]any{
			"autoMount": map[string]any{"enabled": false},
			"hostRoot":  "/sys/fs/cgroup",
		},
		"securityContext": map[string]any{"capabilities": map[string]any{
			"ciliumAgent":      slices.Clone(AgentCapabilities),
			"cleanCiliumState": slices.Clone(CleanStateCapabilities),
		}},
		// eBPF masquerading; the Talos patch turns off forwarding of cluster
		// DNS to the host resolver, which breaks CoreDNS under it.
		"bpf":      map[string]any{"masquerade": true},
		"operator": operatorValues(args),
		"hubble":   hubbleValues(args),
		"prometheus": map[string]any{
			"enabled": true,
			"serviceMonitor": map[string]any{
				"enabled": sm,
				// The CRDs are installed earlier in the same update, after the
				// chart's discovery check could have seen them.
				"trustCRDsExist": sm,
			},
		},
		"envoy": map[string]any{
			"prometheus": map[string]any{"serviceMonitor": map[string]any{"enabled": sm}},
			"resources":  helm.Resources("50m", "64Mi", "256Mi"),
		},
		"dashboards": dashboards(args.DashboardsNamespace),
		"ingressController": map[string]any{
			"enabled":          true,
			"default":          true,
			"loadbalancerMode": "shared",
			// The chart's default forces HTTPS on every Ingress, which
			// breaks HTTP-01 (ForceHTTPSAnnotation).
			"enforceHttps": false,
			"service":      ingressService(args),
		},
		"gatewayAPI": map[string]any{
			"enabled":      true,
			"gatewayClass": map[string]any{"create": "true"},
		},
		// Lease renewals for L2 announcements and the operator's watches need
		// more API calls than the client's default budget.
		"k8sClientRateLimit": map[string]any{"qps": 50, "burst": 100},
		"resources":          helm.Resources("100m", "256Mi", "1Gi"),
		// Restart agents when the config map changes, as a Helm upgrade
		// otherwise leaves them on the old settings.
		"rollOutCiliumPods": true,
	}
	if args.LoadBalancerRange != nil {
		v["l2announcements"] = map[string]any{"enabled": true}
	}
	return v
}

func operatorValues(args *Args) map[string]any {
	return map[string]any{
		"replicas": args.OperatorReplicas,
		"prometheus": map[string]any{
			"enabled":        true,
			"serviceMonitor": map[string]any{"enabled": args.ServiceMonitors},
		},
		"dashboards": dashboards(args.DashboardsNamespace),
		"resources":  helm.Resources("50m", "128Mi", "256Mi"),
	}
}

func hubbleValues(args *Args) map[string]any {
	ui := map[string]any{
		"enabled":  true,
		"frontend": map[string]any{"resources": helm.Resources("10m", "32Mi", "64Mi")},
		"backend":  map[string]any{"resources": helm.Resources("10m", "64Mi", "128Mi")},
	}
	if args.HubbleHost != "" {
		ui["ingress"] = map[string]any{
			"enabled":   true,
			"className": IngressClass,
			"hosts":     []string{args.HubbleHost},
			"annotations": map[string]any{
				"cert-manager.io/cluster-issuer": args.ClusterIssuer,
				ForceHTTPSAnnotation:             NoForcedHTTPS()[ForceHTTPSAnnotation],
			},
			"tls": []map[string]any{{"secretName": "hubble-ui-tls", "hosts": []string{args.HubbleHost}}},
		}
	}
	return map[string]any{
		"enabled": true,
		"relay": map[string]any{
			"enabled":   true,
			"resources": helm.Resources("20m", "64Mi", "128Mi"),
			// Its own gRPC and peer-connection metrics: a relay that has
			// lost its agents still answers, and only these show it.
			"prometheus": map[string]any{
				"enabled":        true,
				"serviceMonitor": map[string]any{"enabled": args.ServiceMonitors},
			},
		},
		"ui": ui,
		// Certificates made by `helm template` expire after a year with nobody
		// renewing them; the CronJob reissues them before they do.
		"tls": map[string]any{"auto": map[string]any{
			"enabled":              true,
			"method":               "cronJob",
			"certValidityDuration": 1095,
			"schedule":             "0 0 1 */4 *",
		}},
		"metrics": map[string]any{
			"enabled":           slices.Clone(HubbleMetrics),
			"enableOpenMetrics": true,
			"serviceMonitor":    map[string]any{"enabled": args.ServiceMonitors},
			"dashboards":        dashboards(args.DashboardsNamespace),
		},
	}
}

// ingressService puts the shared ingress on the pool's first address locally,
// and on fixed node ports behind the cloud load balancer otherwise.
func ingressService(args *Args) map[string]any {
	if args.IngressAddress != nil {
		return map[string]any{
			"type":        "LoadBalancer",
			"annotations": map[string]any{"lbipam.cilium.io/ips": args.IngressAddress},
		}
	}
	if r := args.LoadBalancerRange; r != nil {
		return map[string]any{
			"type":        "LoadBalancer",
			"annotations": map[string]any{"lbipam.cilium.io/ips": r.First.String()},
		}
	}
	return map[string]any{
		"type":             "NodePort",
		"insecureNodePort": infra.IngressHTTPNodePort,
		"secureNodePort":   infra.IngressHTTPSNodePort,
	}
}

func dashboards(namespace string) map[string]any {
	return map[string]any{"enabled": namespace != "", "namespace": namespace}
}

// NewCNI installs Cilium and, where args has a pool, the LB-IPAM pool and the
// L2 announcement policy.
func NewCNI(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*CNI, error) {
	if args.OperatorReplicas < 1 {
		return nil, fmt.Errorf("cilium: operator replicas must be at least 1, got %d", args.OperatorReplicas)
	}
	none := pulumi.StringOutput{}
	if a := args.Access; a.URL == none || a.CACertificate == none || a.ClientCertificate == none || a.ClientKey == none {
		return nil, fmt.Errorf("cilium: no access to the API server to wait for the agents with")
	}
	component := &CNI{}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	// Helm's wait would hold out for the shared ingress Service's
	// LoadBalancer address (helm pkg/kube/ready.go, serviceReady), which
	// only the pool below can give, and the pool's kind exists only once
	// the operator runs: the release goes in unawaited and the wait step
	// checks the agents and the operator instead.
	release, err := helm.NewRelease(ctx, name, helm.ReleaseArgs{
		Chart:     args.Chart,
		Namespace: Namespace,
		Values:    Values(args),
		Extra:     args.Values,
		DependsOn: args.DependsOn,
		SkipAwait: true,
	}, pulumi.Parent(component))
	if err != nil {
		return nil, fmt.Errorf("cilium: %w", err)
	}
	component.Release = release

	ready, err := local.NewCommand(ctx, name+"-ready", &local.CommandArgs{
		Interpreter: pulumi.StringArray{pulumi.String("/bin/sh"), pulumi.String("-c")},
		Create:      pulumi.String(waitScript),
		Environment: pulumi.StringMap{
			"SRE_API_URL":              args.Access.URL,
			"SRE_API_CA":               args.Access.CACertificate,
			"SRE_API_CERT":             args.Access.ClientCertificate,
			"SRE_API_KEY":              pulumi.ToSecret(args.Access.ClientKey).(pulumi.StringOutput),
			"SRE_NAMESPACE":            pulumi.String(Namespace),
			"SRE_API_TIMEOUT_SECONDS":  pulumi.String(strconv.Itoa(int(ReadyTimeout.Seconds()))),
			"SRE_API_INTERVAL_SECONDS": pulumi.String(strconv.Itoa(int(readyInterval.Seconds()))),
		},
		// A new revision (an upgrade of the chart or its values) rolls the
		// agents again: wait for them again.
		Triggers: pulumi.Array{release.Revision()},
	}, pulumi.Parent(component), pulumi.DependsOn([]pulumi.Resource{release}))
	if err != nil {
		return nil, fmt.Errorf("cilium readiness: %w", err)
	}
	component.Ready = []pulumi.Resource{ready}

	after := []pulumi.ResourceOption{pulumi.Parent(component), pulumi.DependsOn([]pulumi.Resource{ready})}
	if r := args.LoadBalancerRange; r != nil {
		pool, err := apiextensions.NewCustomResource(ctx, name+"-lb-pool", &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String("cilium.io/v2"),
			Kind:       pulumi.String("CiliumLoadBalancerIPPool"),
			Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String("sre-lab")},
			OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{
				"blocks": []map[string]any{{"start": r.First.String(), "stop": r.Last.String()}},
			}},
		}, after...)
		if err != nil {
			return nil, fmt.Errorf("cilium lb pool: %w", err)
		}
		policy, err := apiextensions.NewCustomResource(ctx, name+"-l2-policy", &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String("cilium.io/v2alpha1"),
			Kind:       pulumi.String("CiliumL2AnnouncementPolicy"),
			Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String("sre-lab")},
			OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{
				"loadBalancerIPs": true,
				"externalIPs":     false,
			}},
		}, after...)
		if err != nil {
			return nil, fmt.Errorf("cilium l2 policy: %w", err)
		}
		component.Ready = append(component.Ready, pool, policy)
	}
	if args.IngressAddress != nil {
		// One address, the load balancer's; nothing to announce, the
		// cloud already routes it to the nodes.
		pool, err := apiextensions.NewCustomResource(ctx, name+"-ingress-pool", &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String("cilium.io/v2"),
			Kind:       pulumi.String("CiliumLoadBalancerIPPool"),
			Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String("sre-lab-ingress")},
			OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
				"blocks": pulumi.Array{pulumi.Map{"start": args.IngressAddress, "stop": args.IngressAddress}},
			}},
		}, after...)
		if err != nil {
			return nil, fmt.Errorf("cilium ingress pool: %w", err)
		}
		component.Ready = append(component.Ready, pool)
	}
	if g := args.MetadataGuard; g != nil {
		specs := MetadataPolicy(*g)
		list := make([]any, len(specs))
		for i, spec := range specs {
			list[i] = spec
		}
		policy, err := apiextensions.NewCustomResource(ctx, name+"-metadata-policy", &apiextensions.CustomResourceArgs{
			ApiVersion:  pulumi.String("cilium.io/v2"),
			Kind:        pulumi.String("CiliumClusterwideNetworkPolicy"),
			Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String(MetadataPolicyName)},
			OtherFields: kubernetes.UntypedArgs{"specs": list},
		}, after...)
		if err != nil {
			return nil, fmt.Errorf("cilium metadata policy: %w", err)
		}
		// Before any workload starts, so no pod ever holds a token.
		component.Ready = append(component.Ready, policy)
	}
	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{}); err != nil {
		return nil, err
	}
	return component, nil
}
