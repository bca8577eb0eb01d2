// Package monitoring installs kube-prometheus-stack the way Talos needs it:
// the control plane scraped where the Talos patch exposes it, kube-proxy
// left out, ServiceMonitors and rules discovered in every namespace,
// volumes for Prometheus, Alertmanager and Grafana, and Grafana's admin
// password kept out of the release values.
package monitoring

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/kube/helm"
	"github.com/your-org/sre-lab/observability/dashboards"
	"github.com/your-org/sre-lab/verify"
)

// Token is the component's type token.
const Token = "sre-lab:observability:MonitoringStack"

// Node ports of a local lab: the host reaches them on any node's address.
const (
	GrafanaNodePort      = 30300
	PrometheusNodePort   = 30900
	AlertmanagerNodePort = 30903
)

// GrafanaAdminSecret holds Grafana's admin user and password; the chart
// reads it instead of taking the password as a value.
const GrafanaAdminSecret = "grafana-admin"

// DashboardLabel is the label the Grafana sidecar loads dashboards from, in
// any namespace; Cilium's charts and the lab's dashboards use it.
const DashboardLabel = "grafana_dashboard"

// FolderAnnotation names the Grafana folder a dashboard ConfigMap lands in;
// dashboards without it land in the root folder.
const FolderAnnotation = "grafana_folder"

// Args shapes the monitoring stack.
type Args struct {
	// Chart is the pinned kube-prometheus-stack chart.
	Chart config.Chart
	// Namespace runs the stack; privileged, for node-exporter.
	Namespace string
	// Monitoring is retention and volume sizes.
	Monitoring config.Monitoring
	// Replicas of Prometheus and Alertmanager.
	Replicas int
	// StorageClass the volumes come from.
	StorageClass string
	// ControlPlaneIPs are where etcd serves metrics: Talos runs etcd as a
	// system service, not a pod, so there is nothing to select.
	ControlPlaneIPs pulumi.StringArrayInput
	// NodePorts exposes Grafana, Prometheus and Alertmanager on the local
	// node ports; in a cloud only Grafana is reachable, through the ingress.
	NodePorts bool
	// GrafanaHost is Grafana's name on the ingress.
	GrafanaHost string
	// IngressClass and ClusterIssuer serve and sign GrafanaHost.
	IngressClass, ClusterIssuer string
	// IngressAnnotations are the ingress controller's own settings for
	// Grafana's Ingress.
	IngressAnnotations map[string]string
	// GrafanaAdminPassword is the user's secret; nil generates one.
	GrafanaAdminPassword pulumi.StringInput
	// AlertmanagerConfig replaces the chart's Alertmanager configuration;
	// nil keeps it.
	AlertmanagerConfig pulumi.MapInput
	// Rules is the spec of a PrometheusRule with the lab's own alerts, on
	// top of the chart's default rules; nil adds none.
	Rules map[string]any
	// Dashboards are the lab's own, provisioned through the sidecar.
	Dashboards []dashboards.Dashboard
	// Values are the user's raw chart values, merged last.
	Values map[string]any
	// DependsOn must be ready first: the CNI, the CRDs, the namespace and
	// the storage driver.
	DependsOn []pulumi.Resource
}

// Stack is the `sre-lab:observability:MonitoringStack` component.
type Stack struct {
	pulumi.ResourceState

	// Release is the kube-prometheus-stack release.
	Release *helm.Release
	// GrafanaAdminPassword is secret.
	GrafanaAdminPassword pulumi.StringOutput
}

// Values renders the chart values of args.
func Values(args *Args) map[string]any {
	notFromHelm := map[string]any{}
	for _, kind := range []string{"serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig"} {
		// Discover every ServiceMonitor, PodMonitor and rule in the cluster
		// (Cilium's, Loki's...), not only those labelled for this release.
		notFromHelm[kind+"SelectorNilUsesHelmValues"] = false
	}
	prometheusSpec := helm.Merge(notFromHelm, map[string]any{
		"retention":   args.Monitoring.Retention,
		"replicas":    args.Replicas,
		"storageSpec": volume(args.StorageClass, args.Monitoring.PrometheusStorage),
		"resources":   helm.Resources("100m", "512Mi", "2Gi"),
	})
	v := map[string]any{
		// The CRDs come from prometheus-operator-crds, installed before the CNI.
		"crds": map[string]any{"enabled": false},
		// Talos runs no kube-proxy: Cilium replaces it.
		"kubeProxy":    map[string]any{"enabled": false},
		"defaultRules": map[string]any{"rules": map[string]any{"kubeProxy": false, "windows": false}},
		"kubeEtcd": map[string]any{
			"endpoints": args.ControlPlaneIPs,
			"service": map[string]any{
				"enabled":    true,
				"port":       infra.EtcdMetricsPort,
				"targetPort": infra.EtcdMetricsPort,
			},
			"serviceMonitor": map[string]any{"scheme": "http"},
		},
		// Talos labels its static pods k8s-app=..., not component=...
		"kubeControllerManager": map[string]any{
			"service": map[string]any{"selector": map[string]any{"k8s-app": "kube-controller-manager"}},
		},
		"kubeScheduler": map[string]any{
			"service": map[string]any{"selector": map[string]any{"k8s-app": "kube-scheduler"}},
		},
		"prometheus": map[string]any{
			"prometheusSpec": prometheusSpec,
			"service":        service(args.NodePorts, PrometheusNodePort),
		},
		"alertmanager": map[string]any{
			"alertmanagerSpec": map[string]any{
				"replicas":  args.Replicas,
				"storage":   volume(args.StorageClass, args.Monitoring.AlertmanagerStorage),
				"resources": helm.Resources("10m", "64Mi", "256Mi"),
			},
			"service": service(args.NodePorts, AlertmanagerNodePort),
		},
		"grafana": grafanaValues(args),
		"prometheusOperator": map[string]any{
			"resources": helm.Resources("50m", "128Mi", "512Mi"),
			// The reloader beside every Prometheus and Alertmanager.
			"prometheusConfigReloader": map[string]any{"resources": helm.Resources("10m", "32Mi", "64Mi")},
		},
		"kube-state-metrics":       map[string]any{"resources": helm.Resources("10m", "64Mi", "256Mi")},
		"prometheus-node-exporter": map[string]any{"resources": helm.Resources("10m", "32Mi", "128Mi")},
	}
	if args.AlertmanagerConfig != nil {
		v["alertmanager"].(map[string]any)["config"] = args.AlertmanagerConfig
	}
	return v
}

func grafanaValues(args *Args) map[string]any {
	g := map[string]any{
		"admin": map[string]any{
			"existingSecret": GrafanaAdminSecret,
			"userKey":        "admin-user",
			"passwordKey":    "admin-password",
		},
		"persistence": map[string]any{
			"enabled":          true,
			"storageClassName": args.StorageClass,
			"size":             args.Monitoring.GrafanaStorage,
		},
		// A ReadWriteOnce volume cannot be attached to a second pod while
		// the first still runs.
		"deploymentStrategy": map[string]any{"type": "Recreate"},
		"sidecar": map[string]any{"dashboards": map[string]any{
			"enabled":          true,
			"label":            DashboardLabel,
			"labelValue":       "1",
			"searchNamespace":  "ALL",
			"folderAnnotation": FolderAnnotation,
			"provider":         map[string]any{"foldersFromFilesStructure": true},
		}, "resources": helm.Resources("10m", "64Mi", "128Mi")},
		"service":   service(args.NodePorts, GrafanaNodePort),
		"resources": helm.Resources("50m", "128Mi", "512Mi"),
	}
	if args.GrafanaHost != "" {
		annotations := map[string]any{"cert-manager.io/cluster-issuer": args.ClusterIssuer}
		for k, v := range args.IngressAnnotations {
			annotations[k] = v
		}
		g["ingress"] = map[string]any{
			"enabled":          true,
			"ingressClassName": args.IngressClass,
			"hosts":            []string{args.GrafanaHost},
			"annotations":      annotations,
			"tls":              []map[string]any{{"secretName": "grafana-tls", "hosts": []string{args.GrafanaHost}}},
		}
	}
	if args.GrafanaHost != "" && !args.NodePorts {
		// The ingress answers plain HTTP too (Let's Encrypt's HTTP-01
		// challenge needs it, see cilium.ForceHTTPSAnnotation), so the
		// session cookie is kept off HTTP and browsers that saw Grafana
		// over HTTPS stay there. A local lab also serves Grafana on a
		// plain-HTTP node port, where a secure-only cookie would stop the
		// login.
		g["grafana.ini"] = map[string]any{"security": map[string]any{
			"cookie_secure":                             true,
			"strict_transport_security":                 true,
			"strict_transport_security_max_age_seconds": 31536000,
		}}
	}
	return g
}

// volume is a persistent volume claim template of the given size.
func volume(storageClass, size string) map[string]any {
	return map[string]any{"volumeClaimTemplate": map[string]any{"spec": map[string]any{
		"storageClassName": storageClass,
		"accessModes":      []string{"ReadWriteOnce"},
		"resources":        map[string]any{"requests": map[string]any{"storage": size}},
	}}}
}

// service is a NodePort service on a local lab and cluster-internal
// otherwise.
func service(nodePorts bool, port int) map[string]any {
	if !nodePorts {
		return map[string]any{"type": "ClusterIP"}
	}
	return map[string]any{"type": "NodePort", "nodePort": port}
}

// NewStack installs kube-prometheus-stack and Grafana's admin secret.
func NewStack(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Stack, error) {
	if args.Replicas < 1 {
		return nil, fmt.Errorf("monitoring: replicas must be at least 1, got %d", args.Replicas)
	}
	component := &Stack{}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)

	password := args.GrafanaAdminPassword
	if password == nil {
		generated, err := random.NewRandomPassword(ctx, name+"-grafana-admin", &random.RandomPasswordArgs{
			Length:  pulumi.Int(24),
			Special: pulumi.Bool(false),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("grafana password: %w", err)
		}
		password = generated.Result
	}
	component.GrafanaAdminPassword = pulumi.ToSecret(password.ToStringOutput()).(pulumi.StringOutput)

	secret, err := corev1.NewSecret(ctx, name+"-grafana-admin", &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(GrafanaAdminSecret),
			Namespace: pulumi.String(args.Namespace),
		},
		StringData: pulumi.StringMap{
			"admin-user":     pulumi.String(verify.GrafanaAdminUser),
			"admin-password": component.GrafanaAdminPassword,
		},
	}, parent, pulumi.DependsOn(args.DependsOn))
	if err != nil {
		return nil, fmt.Errorf("grafana admin secret: %w", err)
	}

	component.Release, err = helm.NewRelease(ctx, name, helm.ReleaseArgs{
		Chart:     args.Chart,
		Namespace: args.Namespace,
		Values:    Values(args),
		Extra:     args.Values,
		DependsOn: append(append([]pulumi.Resource{}, args.DependsOn...), secret),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("monitoring: %w", err)
	}
	if args.Rules != nil {
		// Prometheus picks rules up from any namespace; they need only the CRD.
		if _, err := apiextensions.NewCustomResource(ctx, name+"-rules", &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
			Kind:       pulumi.String("PrometheusRule"),
			Metadata: &metav1.ObjectMetaArgs{
				Name:      pulumi.String("sre-lab"),
				Namespace: pulumi.String(args.Namespace),
			},
			OtherFields: kubernetes.UntypedArgs{"spec": args.Rules},
		}, parent, pulumi.DependsOn(args.DependsOn)); err != nil {
			return nil, fmt.Errorf("monitoring rules: %w", err)
		}
	}
	for _, d := range args.Dashboards {
		if _, err := corev1.NewConfigMap(ctx, name+"-dashboard-"+d.UID, &corev1.ConfigMapArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Name:        pulumi.String("dashboard-" + d.UID),
				Namespace:   pulumi.String(args.Namespace),
				Labels:      pulumi.StringMap{DashboardLabel: pulumi.String("1")},
				Annotations: pulumi.StringMap{FolderAnnotation: pulumi.String(d.Folder)},
			},
			Data: pulumi.StringMap{d.UID + ".json": pulumi.String(string(d.JSON))},
		}, parent, pulumi.DependsOn(args.DependsOn)); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", d.Title, err)
		}
	}
	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"grafanaAdminPassword": component.GrafanaAdminPassword,
	}); err != nil {
		return nil, err
	}
	return component, nil
}
