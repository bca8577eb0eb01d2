// Package observability wires what the lab exists for onto the Kubernetes
// layer: kube-prometheus-stack scraping the Talos control plane, the lab's
// own alert rules, and Grafana behind the ingress.
package observability

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/kube"
	"github.com/your-org/sre-lab/kube/cilium"
	"github.com/your-org/sre-lab/kube/namespaces"
	"github.com/your-org/sre-lab/observability/alerting"
	"github.com/your-org/sre-lab/observability/dashboards"
	"github.com/your-org/sre-lab/observability/logging"
	"github.com/your-org/sre-lab/observability/monitoring"
	"github.com/your-org/sre-lab/observability/rules"
)

// Layer is what the observability layer adds to the stack outputs.
type Layer struct {
	// Monitoring is kube-prometheus-stack.
	Monitoring *monitoring.Stack
	// Logging is Loki and its collectors.
	Logging *logging.Stack
	// Hosts are the web endpoints it serves.
	Hosts map[string]string
}

// Install builds the observability layer of cfg. alertmanager is the
// validated Alertmanager configuration, secret; nil keeps the chart's.
func Install(ctx *pulumi.Context, cfg config.Config, secrets config.Secrets, alertmanager pulumi.MapInput,
	platform infra.Platform, layer *kube.Layer, provider *kubernetes.Provider) (*Layer, error) {
	controlPlanes := pulumi.StringArray{}
	for _, cp := range platform.ControlPlanes() {
		controlPlanes = append(controlPlanes, cp.PrivateIP)
	}
	out := &Layer{Hosts: map[string]string{"grafana": "grafana." + cfg.IngressDomain()}}

	replicas := 1
	if cfg.Environment.HA() {
		replicas = 2
	}
	boards, err := dashboards.All()
	if err != nil {
		return nil, fmt.Errorf("dashboards: %w", err)
	}
	out.Monitoring, err = monitoring.NewStack(ctx, "monitoring", &monitoring.Args{
		Chart:                cfg.Charts[config.ChartKubePrometheus],
		Namespace:            namespaces.Monitoring,
		Monitoring:           cfg.Monitoring,
		Replicas:             replicas,
		StorageClass:         layer.StorageClass,
		ControlPlaneIPs:      controlPlanes,
		NodePorts:            cfg.Cloud.Local(),
		GrafanaHost:          out.Hosts["grafana"],
		IngressClass:         cilium.IngressClass,
		IngressAnnotations:   cilium.NoForcedHTTPS(),
		ClusterIssuer:        layer.ClusterIssuer,
		GrafanaAdminPassword: secrets.GrafanaAdminPassword,
		AlertmanagerConfig:   alertmanager,
		Rules:                rules.PrometheusRuleSpec(),
		Dashboards:           boards,
		Values:               cfg.HelmValues[config.ChartKubePrometheus],
		// Its claims wait in Pending until the storage driver binds them;
		// the release waits for that. It depends on layer.Volumes so that a
		// destroy deletes its claims before the driver.
		DependsOn: append(layer.Ready(namespaces.Monitoring), layer.Volumes...),
	}, pulumi.Providers(provider))
	if err != nil {
		return nil, err
	}

	out.Logging, err = logging.NewStack(ctx, "logging", &logging.Args{
		Charts:           cfg.Charts,
		Namespace:        namespaces.Logging,
		GrafanaNamespace: namespaces.Monitoring,
		Logging:          cfg.Logging,
		StorageClass:     layer.StorageClass,
		Bucket:           platform.LogBucket,
		ReceiverIP:       config.LogReceiverIP,
		Values:           cfg.HelmValues,
		DependsOn:        append(layer.Ready(namespaces.Logging, namespaces.Monitoring), layer.Volumes...),
	}, pulumi.Providers(provider))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AlertmanagerConfig parses and validates the `sre-lab:alertmanager`
// receivers (JSON) and renders the Alertmanager configuration as a secret:
// it carries webhook URLs and keys. Empty raw keeps the chart's default.
// It registers nothing, so main calls it before any resource exists.
func AlertmanagerConfig(raw string) (pulumi.MapInput, error) {
	if raw == "" {
		return nil, nil
	}
	var r alerting.Receivers
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, &config.Error{Key: config.KeyAlertmanager, Value: "(secret)", Allowed: fmt.Sprintf(
			"must be an object of receiver lists: {slack: [{name, apiUrl, channel}], webhooks: [...], pagerDuty: [...], email: [...]} (%v)", err)}
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	m, err := alerting.Config(r)
	if err != nil {
		return nil, err
	}
	return pulumi.ToSecret(pulumi.ToMap(m)).(pulumi.MapOutput), nil
}
