package practice

import (
	"github.com/siderolabs/talos/pkg/machinery/constants"

	"github.com/your-org/sre-lab/kube/helm"
	"github.com/your-org/sre-lab/practice/slo"
)

// podinfoUser is the user and group podinfo runs as. The image's own user
// is a name ("app", its Dockerfile), which the kubelet cannot check
// against runAsNonRoot; its files are readable and executable by all, so
// nobody (65534) runs it, writing only to the chart's /data emptyDir.
const podinfoUser = 65534

// PublicRoute is one path the ingress sends to podinfo, with its Ingress
// path type: Exact matches the path alone, Prefix the path and everything
// under it, segment by segment.
type PublicRoute struct {
	Path, PathType string
}

// PublicRoutes are the podinfo routes reachable from outside the cluster
// (the pinned podinfo's routes: pkg/api/http/server.go, registerHandlers):
// its page and the echo the page calls, its read-only answers, and the
// status, delay and chunked routes people use to make errors and slow
// requests. Everything else stays inside, where the load generator, the
// drills and Prometheus reach the Service directly: /panic ends the
// process, POST /readyz/disable takes a pod out of service, /store and
// /cache write, /token signs, and /env, /configs, /metrics and
// /debug/pprof/ show the pod's environment, configuration, counters and
// profiles. Cilium turns Exact into an exact path match and Prefix into a
// segment-wise one (operator/pkg/model/translation/envoy_virtual_host.go,
// getRouteMatch), and podinfo's router answers a path with dot segments
// with a redirect to its clean form, which must match again.
var PublicRoutes = []PublicRoute{
	{"/", "Exact"},
	{"/version", "Exact"},
	{"/api/info", "Exact"},
	{"/api/echo", "Prefix"},
	{"/headers", "Exact"},
	{"/status", "Prefix"},
	{"/delay", "Prefix"},
	{"/chunked", "Prefix"},
	{"/healthz", "Exact"},
	{"/readyz", "Exact"},
	{"/swagger", "Prefix"},
	{"/swagger.json", "Exact"},
}

// PodinfoValues are podinfo's chart values (charts/podinfo/values.yaml of
// stefanprodan/podinfo): two replicas spread over the nodes with a
// disruption budget, so that a pod kill or a node drain is an incident to
// watch rather than an outage; a ServiceMonitor; requests and a memory
// limit; a pod the restricted Pod Security level admits; and an Ingress at
// args.Host like Grafana's, for PublicRoutes only.
func PodinfoValues(args *Args) map[string]any {
	annotations := map[string]any{"cert-manager.io/cluster-issuer": args.ClusterIssuer}
	for k, v := range args.IngressAnnotations {
		annotations[k] = v
	}
	paths := make([]map[string]any, len(PublicRoutes))
	for i, r := range PublicRoutes {
		paths[i] = map[string]any{"path": r.Path, "pathType": r.PathType}
	}
	return map[string]any{
		"replicaCount": Replicas,
		"resources":    helm.Resources("10m", "32Mi", "128Mi"),
		// The chart renders the budget only with more than one replica.
		"podDisruptionBudget": map[string]any{"maxUnavailable": 1},
		"topologySpreadConstraints": []map[string]any{{
			"maxSkew":     1,
			"topologyKey": "kubernetes.io/hostname",
			// dev has one worker: both pods then share it.
			"whenUnsatisfiable": "ScheduleAnyway",
			"labelSelector":     map[string]any{"matchLabels": map[string]any{slo.DemoAppLabel: slo.DemoApp}},
		}},
		// Scrapes /metrics on the http port of the Service.
		"serviceMonitor": map[string]any{"enabled": true},
		"podSecurityContext": map[string]any{
			"runAsNonRoot":   true,
			"runAsUser":      podinfoUser,
			"runAsGroup":     podinfoUser,
			"seccompProfile": map[string]any{"type": "RuntimeDefault"},
		},
		"securityContext": restrictedContainer(),
		"ingress": map[string]any{
			"enabled":     true,
			"className":   args.IngressClass,
			"annotations": annotations,
			"hosts": []map[string]any{{
				"host":  args.Host,
				"paths": paths,
			}},
			"tls": []map[string]any{{"secretName": "podinfo-tls", "hosts": []string{args.Host}}},
		},
	}
}

// restrictedContainer is a container security context the restricted Pod
// Security level admits, with a read-only root file system.
func restrictedContainer() map[string]any {
	return map[string]any{
		"allowPrivilegeEscalation": false,
		"readOnlyRootFilesystem":   true,
		"capabilities":             map[string]any{"drop": []string{"ALL"}},
	}
}

// RuntimeSocket is the CRI containerd socket of a Talos node (Talos
// machinery constants.CRIContainerdAddress), which Chaos Mesh's daemon
// drives containers through.
const RuntimeSocket = constants.CRIContainerdAddress

// ChaosMeshValues are Chaos Mesh's chart values (helm/chaos-mesh/values.yaml
// of chaos-mesh/chaos-mesh). The daemon talks to containerd: the chart
// mounts the socket's directory from the host at /host-run and hands the
// daemon /host-run/<socket> (templates/chaos-daemon-daemonset.yaml,
// chaos-daemon.socket-path in templates/_helpers.tpl). The DNS server,
// which DNS chaos answers from, is on. The dashboard is off: drills run as
// code (cmd/drill), and the dashboard would be one more way to start any
// fault in any namespace; should a user turn it on through helmValues, its
// Service stays cluster-internal. One controller: it elects a leader, so
// more replicas only stand by.
func ChaosMeshValues() map[string]any {
	return map[string]any{
		"controllerManager": map[string]any{
			"replicaCount": 1,
			"resources":    helm.Resources("25m", "128Mi", "512Mi"),
			// Faults only in namespaces annotated for them (the apps
			// namespace, namespaces.ChaosInjectAnnotation): without the
			// filter, anyone who may create a chaos object in any
			// namespace could aim it at kube-system.
			"enableFilterNamespace": true,
		},
		"chaosDaemon": map[string]any{
			"runtime":    "containerd",
			"socketPath": RuntimeSocket,
			"resources":  helm.Resources("25m", "64Mi", "256Mi"),
		},
		"dnsServer": map[string]any{
			"create":    true,
			"replicas":  1,
			"resources": helm.Resources("10m", "32Mi", "128Mi"),
		},
		"dashboard": map[string]any{
			"create":  false,
			"service": map[string]any{"type": "ClusterIP"},
		},
	}
}
