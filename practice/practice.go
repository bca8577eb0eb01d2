// Package practice installs what the lab is practised on: podinfo, a demo
// service with metrics and built-in faults, behind the ingress and under
// steady load from fortio; Chaos Mesh, the engine drills inject failures
// with; and the SLO rules and dashboards handed to it. It is its own layer,
// on in local and dev and off in staging and prod (sre-lab:practice).
package practice

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/kube"
	"github.com/your-org/sre-lab/kube/cilium"
	"github.com/your-org/sre-lab/kube/helm"
	"github.com/your-org/sre-lab/kube/namespaces"
	"github.com/your-org/sre-lab/observability/monitoring"
	"github.com/your-org/sre-lab/practice/slo"
)

// Token is the component's type token.
const Token = "sre-lab:practice:Practice"

// Where the demo service runs and how it is reached: the SLOs and drills
// select it by slo.DemoNamespace, slo.DemoApp and slo.DemoAppLabel.
const (
	// ChaosNamespace holds Chaos Mesh.
	ChaosNamespace = namespaces.ChaosMesh
	// HTTPPort is the Service's http port (the chart's service.externalPort).
	HTTPPort = 9898
	// SLORules is the PrometheusRule of the SLOs' recording and alerting
	// rules, in the monitoring namespace.
	SLORules = "sre-lab-slos"
	// Replicas of podinfo: a drill can kill one pod while the other serves.
	Replicas = 2
)

// Rule is one PrometheusRule the layer registers.
type Rule struct {
	// Name is the PrometheusRule's name in the monitoring namespace.
	Name string
	// Spec is its spec, {groups: [...]}, as observability/rules builds
	// the lab's own.
	Spec map[string]any
}

// Args shapes the practice layer.
type Args struct {
	// Podinfo and ChaosMesh are the pinned charts.
	Podinfo, ChaosMesh config.Chart
	// Values are the user's raw values by chart name (sre-lab:helmValues);
	// each chart's are merged over the lab's.
	Values map[string]map[string]any
	// Host is podinfo's name on the ingress; IngressClass,
	// IngressAnnotations and ClusterIssuer serve and sign it, as for
	// Grafana.
	Host                        string
	IngressClass, ClusterIssuer string
	IngressAnnotations          map[string]string
	// Rules are the PrometheusRules of the SLOs.
	Rules []Rule
	// Dashboards are Grafana dashboard models by UID, provisioned through
	// the Grafana sidecar into DashboardFolder.
	Dashboards map[string][]byte
	// DashboardFolder is the Grafana folder the dashboards land in.
	DashboardFolder string
	// DependsOn must be ready first: the CNI, the CRDs (ServiceMonitor,
	// PrometheusRule), and the apps and monitoring namespaces.
	DependsOn []pulumi.Resource
}

// Practice is the `sre-lab:practice:Practice` component.
type Practice struct {
	pulumi.ResourceState

	// Podinfo and ChaosMesh are the releases.
	Podinfo, ChaosMesh *helm.Release
	// Hosts are the web endpoints it serves: podinfo.
	Hosts map[string]string
}

// Install builds the practice layer of cfg on the Kubernetes layer: podinfo
// at podinfo.<domain> with the lab's ingress class and issuer, its load,
// and Chaos Mesh.
func Install(ctx *pulumi.Context, cfg config.Config, layer *kube.Layer, provider *kubernetes.Provider) (*Practice, error) {
	boards, err := slo.Dashboards()
	if err != nil {
		return nil, fmt.Errorf("practice: SLO dashboards: %w", err)
	}
	byUID := map[string][]byte{}
	for _, b := range boards {
		byUID[b.UID] = b.JSON
	}
	return New(ctx, "practice", &Args{
		Rules:              []Rule{{Name: SLORules, Spec: slo.PrometheusRuleSpec()}},
		Dashboards:         byUID,
		DashboardFolder:    slo.DashboardFolder,
		Podinfo:            cfg.Charts[config.ChartPodinfo],
		ChaosMesh:          cfg.Charts[config.ChartChaosMesh],
		Values:             cfg.HelmValues,
		Host:               "podinfo." + cfg.IngressDomain(),
		IngressClass:       cilium.IngressClass,
		IngressAnnotations: cilium.NoForcedHTTPS(),
		ClusterIssuer:      layer.ClusterIssuer,
		DependsOn:          layer.Ready(slo.DemoNamespace, namespaces.Monitoring),
	}, pulumi.Providers(provider))
}

// validate refuses args that would register something broken, before
// anything is registered.
func (a *Args) validate() error {
	if a.Podinfo.Name == "" || a.ChaosMesh.Name == "" {
		return fmt.Errorf("the podinfo and chaos-mesh charts must be pinned")
	}
	if errs := validation.IsDNS1123Subdomain(a.Host); len(errs) > 0 {
		return fmt.Errorf("host %q: %s", a.Host, strings.Join(errs, "; "))
	}
	seen := map[string]bool{}
	for _, r := range a.Rules {
		if errs := validation.IsDNS1123Subdomain(r.Name); len(errs) > 0 {
			return fmt.Errorf("rule %q: %s", r.Name, strings.Join(errs, "; "))
		}
		if seen[r.Name] {
			return fmt.Errorf("rule %q is given twice", r.Name)
		}
		seen[r.Name] = true
		if _, ok := r.Spec["groups"].([]any); !ok {
			return fmt.Errorf("rule %q: its spec has no list of groups", r.Name)
		}
	}
	for _, uid := range slices.Sorted(maps.Keys(a.Dashboards)) {
		if errs := validation.IsDNS1123Subdomain(dashboardName(uid)); len(errs) > 0 {
			return fmt.Errorf("dashboard %q: its ConfigMap name: %s", uid, strings.Join(errs, "; "))
		}
		if !json.Valid(a.Dashboards[uid]) {
			return fmt.Errorf("dashboard %q is not JSON", uid)
		}
	}
	return nil
}

// dashboardName is the ConfigMap of dashboard uid, named as the lab's own
// dashboards are (observability/monitoring).
func dashboardName(uid string) string { return "dashboard-" + uid }

// New installs the practice layer.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Practice, error) {
	if err := args.validate(); err != nil {
		return nil, fmt.Errorf("practice: %w", err)
	}
	component := &Practice{Hosts: map[string]string{"podinfo": args.Host}}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)
	after := pulumi.DependsOn(args.DependsOn)

	ns, err := namespaces.NewNamespaces(ctx, name, &namespaces.Args{Specs: []namespaces.Spec{
		// The daemon runs privileged with the host's PID namespace and
		// paths (ChaosMeshValues).
		{Name: ChaosNamespace, Enforce: namespaces.Privileged},
	}}, parent)
	if err != nil {
		return nil, err
	}

	component.Podinfo, err = helm.NewRelease(ctx, name+"-podinfo", helm.ReleaseArgs{
		Chart:     args.Podinfo,
		Namespace: slo.DemoNamespace,
		Values:    PodinfoValues(args),
		Extra:     args.Values[config.ChartPodinfo],
		DependsOn: args.DependsOn,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("practice: %w", err)
	}
	// The load starts once podinfo's pods are ready, so that the SLOs'
	// first minutes measure the service rather than its rollout.
	if _, err := appsv1.NewDeployment(ctx, name+"-load", loadGenerator(), parent, pulumi.DependsOn([]pulumi.Resource{component.Podinfo})); err != nil {
		return nil, fmt.Errorf("practice load generator: %w", err)
	}

	component.ChaosMesh, err = helm.NewRelease(ctx, name+"-chaos-mesh", helm.ReleaseArgs{
		Chart:     args.ChaosMesh,
		Namespace: ChaosNamespace,
		Values:    ChaosMeshValues(),
		Extra:     args.Values[config.ChartChaosMesh],
		DependsOn: append(slices.Clone(args.DependsOn), ns.ByName[ChaosNamespace]),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("practice: %w", err)
	}

	// Prometheus takes rules from every namespace whatever their labels
	// (monitoring.Values: ruleSelectorNilUsesHelmValues false), and the
	// Grafana sidecar dashboards labelled monitoring.DashboardLabel.
	for _, r := range args.Rules {
		if _, err := apiextensions.NewCustomResource(ctx, name+"-rules-"+r.Name, &apiextensions.CustomResourceArgs{
			ApiVersion:  pulumi.String("monitoring.coreos.com/v1"),
			Kind:        pulumi.String("PrometheusRule"),
			Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String(r.Name), Namespace: pulumi.String(namespaces.Monitoring)},
			OtherFields: kubernetes.UntypedArgs{"spec": r.Spec},
		}, parent, after); err != nil {
			return nil, fmt.Errorf("practice rules %s: %w", r.Name, err)
		}
	}
	for _, uid := range slices.Sorted(maps.Keys(args.Dashboards)) {
		if _, err := corev1.NewConfigMap(ctx, name+"-dashboard-"+uid, &corev1.ConfigMapArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Name:        pulumi.String(dashboardName(uid)),
				Namespace:   pulumi.String(namespaces.Monitoring),
				Labels:      pulumi.StringMap{monitoring.DashboardLabel: pulumi.String("1")},
				Annotations: pulumi.StringMap{monitoring.FolderAnnotation: pulumi.String(args.DashboardFolder)},
			},
			Data: pulumi.StringMap{uid + ".json": pulumi.String(string(args.Dashboards[uid]))},
		}, parent, after); err != nil {
			return nil, fmt.Errorf("practice dashboard %s: %w", uid, err)
		}
	}

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{"podinfoHost": pulumi.String(args.Host)}); err != nil {
		return nil, err
	}
	return component, nil
}
