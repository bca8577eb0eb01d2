// Package logging installs the lab's logs pipeline: Loki in monolithic
// mode with the compactor enforcing retention, a node agent tailing pod
// logs (Grafana Alloy, or Promtail for those who ask), a cluster-wide
// Alloy receiving Kubernetes events and Talos's own service and kernel
// logs, and Loki as a Grafana datasource.
package logging

import (
	"fmt"
	"net/netip"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/kube/awskey"
	"github.com/your-org/sre-lab/kube/cilium"
	"github.com/your-org/sre-lab/kube/helm"
)

// Token is the component's type token.
const Token = "sre-lab:observability:LokiStack"

// LokiPort is Loki's HTTP port: pushes, queries and readiness.
const LokiPort = 3100

// ReceiverRelease names the second Alloy release, the cluster-wide one.
const ReceiverRelease = "alloy-receiver"

// Grafana finds the Loki datasource by these; DatasourceLabel is the
// label kube-prometheus-stack's Grafana sidecar loads datasources from.
const (
	DatasourceUID   = "loki"
	DatasourceLabel = "grafana_datasource"
)

// Args shapes the logging stack.
type Args struct {
	// Charts holds the pinned loki, alloy and promtail charts.
	Charts map[string]config.Chart
	// Namespace runs Loki and the collectors; privileged, for the agent's
	// host log mount.
	Namespace string
	// GrafanaNamespace is where Grafana's sidecar looks for datasources.
	GrafanaNamespace string
	// Logging is the collector, retention and volume size.
	Logging config.Logging
	// StorageClass Loki's volume comes from.
	StorageClass string
	// Bucket keeps the chunks; nil keeps them on Loki's volume.
	Bucket *infra.Bucket
	// ReceiverIP is the fixed cluster IP Talos sends its logs to.
	ReceiverIP netip.Addr
	// Values are the user's raw values per chart, merged last.
	Values map[string]map[string]any
	// DependsOn must be ready first: the CNI, the CRDs, the namespaces and
	// the storage driver.
	DependsOn []pulumi.Resource
}

// Stack is the `sre-lab:observability:LokiStack` component.
type Stack struct {
	pulumi.ResourceState

	// Loki, Collector and Receiver are the releases.
	Loki, Collector, Receiver *helm.Release
	// URL is Loki's address inside the cluster.
	URL string
}

// URL is Loki's in-cluster address: the monolithic release serves
// everything from one service named after the chart.
func URL(namespace string) string {
	return fmt.Sprintf("http://%s.%s.svc.cluster.local:%d", config.ChartLoki, namespace, LokiPort)
}

// pushURL is where collectors send.
func pushURL(namespace string) string { return URL(namespace) + "/loki/api/v1/push" }

// storeType is Loki's name for where chunks live.
func storeType(b *infra.Bucket) string {
	if b == nil {
		return "filesystem"
	}
	return b.Type
}

// LokiValues renders the Loki chart values: one monolithic replica (a
// single binary scales no further without object storage and a ring),
// no gateway, caches, canary or ruler, and the compactor deleting what
// is older than the retention.
func LokiValues(args *Args) map[string]any {
	store := storeType(args.Bucket)
	storage := map[string]any{"type": store}
	singleBinary := map[string]any{
		"replicas": 1,
		"persistence": map[string]any{
			"enabled":      true,
			"size":         args.Logging.Storage,
			"storageClass": args.StorageClass,
		},
		"resources": helm.Resources("100m", "256Mi", "1Gi"),
	}
	if b := args.Bucket; b != nil {
		storage["bucketNames"] = map[string]any{"chunks": b.Name}
		if b.Type == "s3" {
			storage["s3"] = s3Values(b, singleBinary)
		}
		// The nodes' identity reaches the bucket through the cloud's
		// metadata service, which the Cilium policy closes to every pod
		// without this label (the chart merges it into the pod's labels:
		// loki chart templates/_pod.tpl).
		if b.ByNodeIdentity() {
			singleBinary["podLabels"] = map[string]any{cilium.CloudIdentityLabel: "true"}
		}
	}
	off := map[string]any{"enabled": false}
	return map[string]any{
		"deploymentMode": "Monolithic",
		"loki": map[string]any{
			// One tenant: Grafana and the collectors send no org header.
			"auth_enabled": false,
			"commonConfig": map[string]any{"replication_factor": 1},
			"storage":      storage,
			"schemaConfig": map[string]any{"configs": []map[string]any{{
				"from":         "2024-04-01",
				"store":        "tsdb",
				"object_store": store,
				"schema":       "v13",
				"index":        map[string]any{"prefix": "loki_index_", "period": "24h"},
			}}},
			"limits_config": map[string]any{"retention_period": args.Logging.Retention},
			"compactor": map[string]any{
				"retention_enabled":    true,
				"delete_request_store": store,
				"working_directory":    "/var/loki/compactor",
			},
		},
		"singleBinary": singleBinary,
		"read":         map[string]any{"replicas": 0},
		"write":        map[string]any{"replicas": 0},
		"backend":      map[string]any{"replicas": 0},
		"gateway":      off,
		"chunksCache":  off,
		"resultsCache": off,
		"lokiCanary":   off,
		// Helm's test needs the canary.
		"test":    off,
		"ruler":   off,
		"sidecar": map[string]any{"rules": off},
		"monitoring": map[string]any{
			"serviceMonitor": map[string]any{"enabled": true},
		},
	}
}

// s3Values is the S3 block of Loki's storage. Without a key, the nodes'
// cloud identity reaches the bucket. With one, Loki's pod takes the key
// Secret as its environment and the configuration names the variables,
// which Loki expands at start (the chart always passes
// -config.expand-env=true: loki chart 18.11.0 templates/_pod.tpl), so the
// key is in neither the chart values nor the rendered ConfigMap. Loki
// reads the key once, so a replaced key rolls the pod.
func s3Values(b *infra.Bucket, singleBinary map[string]any) map[string]any {
	s3 := map[string]any{"region": b.Region}
	if b.Key == nil {
		return s3
	}
	s3["accessKeyId"] = "${" + awskey.IDKey + "}"
	s3["secretAccessKey"] = "${" + awskey.SecretKey + "}"
	singleBinary["extraEnvFrom"] = []any{map[string]any{"secretRef": map[string]any{"name": awskey.SecretName}}}
	singleBinary["podAnnotations"] = map[string]any{awskey.RevisionAnnotation: awskey.Revision(b.Key)}
	return s3
}

// controlPlaneToleration lets node agents run on control planes too:
// their pods and Talos services log as well.
var controlPlaneToleration = map[string]any{
	"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule",
}

// StorageDir is where a collector release keeps its state on each node:
// Alloy's data directory (file positions, the events cursor) or
// Promtail's positions file. On the node, not in the container, so a
// restarted or upgraded pod carries on where the last one stopped
// instead of sending Loki every log file again; under /var, which Talos
// keeps across reboots (/run, the Promtail chart's default, is tmpfs). One
// directory per release, so two releases never share a positions file.
func StorageDir(release string) string { return "/var/lib/sre-lab/" + release }

// stateVolume is the name of the host directory's volume in the pod.
const stateVolume = "state"

// hostDir is the pod volume of a release's StorageDir; the logging
// namespace is privileged, so Pod Security admits the hostPath.
func hostDir(release string) map[string]any {
	return map[string]any{"name": stateVolume, "hostPath": map[string]any{
		"path": StorageDir(release), "type": "DirectoryOrCreate",
	}}
}

// alloyValues are what both Alloy releases share. The chart keeps Alloy's
// data in alloy.storagePath, /tmp/alloy by default, on the container's
// own filesystem (alloy chart 1.11.1 values.yaml, and
// templates/containers/_agent.yaml passes it as --storage.path), so
// every restart lost the positions; the release's host directory is
// mounted there instead. The image runs as root (grafana/alloy
// Dockerfile: the alloy user is created but not made the default), so
// the directory kubelet creates, owned by root, is writable.
func alloyValues(release, content string, alloy map[string]any, controller map[string]any) map[string]any {
	dir := StorageDir(release)
	a := helm.Merge(map[string]any{
		"configMap":   map[string]any{"content": content},
		"storagePath": dir,
		"mounts": map[string]any{"extra": []map[string]any{
			{"name": stateVolume, "mountPath": dir},
		}},
		// No usage reports leave the lab.
		"enableReporting": false,
		"resources":       helm.Resources("20m", "96Mi", "384Mi"),
	}, alloy)
	c := helm.Merge(map[string]any{
		"volumes": map[string]any{"extra": []map[string]any{hostDir(release)}},
	}, controller)
	return map[string]any{
		// The lab uses no PodLogs objects.
		"crds":           map[string]any{"create": false},
		"alloy":          a,
		"controller":     c,
		"configReloader": map[string]any{"resources": helm.Resources("5m", "16Mi", "64Mi")},
		"serviceMonitor": map[string]any{"enabled": true},
	}
}

// CollectorValues renders the node agent's values: Alloy or Promtail on
// every node, reading the kubelet's log files. The release is named after
// its chart.
func CollectorValues(args *Args) map[string]any {
	release := args.Logging.Collector
	if release == config.CollectorPromtail {
		// The chart keeps positions in a hostPath under /run, which Talos
		// empties on reboot (promtail chart 6.17.1 values.yaml,
		// config.positions and defaultVolumes); the positions file moves
		// to the release's directory under /var.
		return map[string]any{
			"config": map[string]any{
				"clients":   []map[string]any{{"url": pushURL(args.Namespace)}},
				"positions": map[string]any{"filename": StorageDir(release) + "/positions.yaml"},
			},
			"extraVolumes":      []map[string]any{hostDir(release)},
			"extraVolumeMounts": []map[string]any{{"name": stateVolume, "mountPath": StorageDir(release)}},
			"resources":         helm.Resources("20m", "64Mi", "256Mi"),
			"tolerations":       []map[string]any{controlPlaneToleration},
			"serviceMonitor":    map[string]any{"enabled": true},
		}
	}
	return alloyValues(release, PodLogsConfig(pushURL(args.Namespace)),
		map[string]any{"mounts": map[string]any{"varlog": true}},
		map[string]any{"type": "daemonset", "tolerations": []map[string]any{controlPlaneToleration}})
}

// ReceiverValues renders the cluster-wide Alloy: one replica, so events
// are read once, behind a service at the fixed address Talos sends to,
// on TCP (see talos.LogURL for why not UDP). The raw syslog format it
// reads Talos's JSON lines with is experimental in Alloy, so this release
// alone runs at that stability level. Its state directory is on whichever
// node it runs: the events cursor survives a restart in place, not a move.
func ReceiverValues(args *Args) map[string]any {
	ports := []map[string]any{}
	for _, p := range []struct {
		name string
		port int
	}{{"talos-service", infra.TalosServiceLogsPort}, {"talos-kernel", infra.TalosKernelLogsPort}} {
		ports = append(ports, map[string]any{"name": p.name, "port": p.port, "targetPort": p.port, "protocol": "TCP"})
	}
	v := alloyValues(ReceiverRelease, ReceiverConfig(pushURL(args.Namespace)),
		map[string]any{"stabilityLevel": "experimental", "extraPorts": ports},
		map[string]any{"type": "deployment", "replicas": 1})
	v["service"] = map[string]any{"enabled": true, "type": "ClusterIP", "clusterIP": args.ReceiverIP.String()}
	return v
}

// Datasource is the Grafana provisioning file that adds Loki.
func Datasource(namespace string) (string, error) {
	b, err := yaml.Marshal(map[string]any{
		"apiVersion": 1,
		"datasources": []map[string]any{{
			"name":     "Loki",
			"type":     "loki",
			"uid":      DatasourceUID,
			"url":      URL(namespace),
			"access":   "proxy",
			"jsonData": map[string]any{"maxLines": 1000},
		}},
	})
	return string(b), err
}

// validate catches what would otherwise surface as a failed release.
func validate(args *Args) error {
	if args.Logging.Collector != config.CollectorAlloy && args.Logging.Collector != config.CollectorPromtail {
		return fmt.Errorf("logging: unknown collector %q (allowed: %s, %s)", args.Logging.Collector, config.CollectorAlloy, config.CollectorPromtail)
	}
	for _, name := range []string{config.ChartLoki, config.ChartAlloy, args.Logging.Collector} {
		if _, ok := args.Charts[name]; !ok {
			return fmt.Errorf("logging: no pinned chart %q", name)
		}
	}
	if !args.ReceiverIP.IsValid() {
		return fmt.Errorf("logging: the Talos log receiver needs a cluster IP")
	}
	return nil
}

// NewStack installs Loki, the collectors and the Grafana datasource.
func NewStack(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Stack, error) {
	if err := validate(args); err != nil {
		return nil, err
	}
	component := &Stack{URL: URL(args.Namespace)}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)

	lokiDeps := args.DependsOn
	if b := args.Bucket; b != nil && b.Key != nil {
		key, err := awskey.NewSecret(ctx, name+"-aws-key", args.Namespace, b.Key, parent, pulumi.DependsOn(args.DependsOn))
		if err != nil {
			return nil, fmt.Errorf("loki: %w", err)
		}
		lokiDeps = append(append([]pulumi.Resource{}, args.DependsOn...), key)
	}
	var err error
	component.Loki, err = helm.NewRelease(ctx, name+"-loki", helm.ReleaseArgs{
		Chart:     args.Charts[config.ChartLoki],
		Namespace: args.Namespace,
		Values:    LokiValues(args),
		Extra:     args.Values[config.ChartLoki],
		DependsOn: lokiDeps,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("loki: %w", err)
	}
	// The collectors retry until Loki answers; they need not wait for it.
	component.Collector, err = helm.NewRelease(ctx, name+"-"+args.Logging.Collector, helm.ReleaseArgs{
		Chart:     args.Charts[args.Logging.Collector],
		Namespace: args.Namespace,
		Values:    CollectorValues(args),
		Extra:     args.Values[args.Logging.Collector],
		DependsOn: args.DependsOn,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("log collector: %w", err)
	}
	component.Receiver, err = helm.NewRelease(ctx, name+"-"+ReceiverRelease, helm.ReleaseArgs{
		Chart:       args.Charts[config.ChartAlloy],
		ReleaseName: ReceiverRelease,
		Namespace:   args.Namespace,
		Values:      ReceiverValues(args),
		DependsOn:   args.DependsOn,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("log receiver: %w", err)
	}

	datasource, err := Datasource(args.Namespace)
	if err != nil {
		return nil, fmt.Errorf("loki datasource: %w", err)
	}
	if _, err := corev1.NewConfigMap(ctx, name+"-datasource", &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String("loki-datasource"),
			Namespace: pulumi.String(args.GrafanaNamespace),
			Labels:    pulumi.StringMap{DatasourceLabel: pulumi.String("1")},
		},
		Data: pulumi.StringMap{"loki.yaml": pulumi.String(datasource)},
	}, parent, pulumi.DependsOn(args.DependsOn)); err != nil {
		return nil, fmt.Errorf("loki datasource: %w", err)
	}

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"url": pulumi.String(component.URL),
	}); err != nil {
		return nil, err
	}
	return component, nil
}
