package verify

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Where the lab's components answer. The names are the lab's own (Helm
// release kube-prometheus-stack in monitoring, Loki in logging); the
// services are reached through the API server's proxy so that verify needs
// nothing but the kubeconfig, no port-forward and no ingress.
const (
	pathNodes          = "/api/v1/nodes"
	pathCiliumAgent    = "/apis/apps/v1/namespaces/kube-system/daemonsets/cilium"
	pathCiliumOperator = "/apis/apps/v1/namespaces/kube-system/deployments/cilium-operator"
	pathPromTargets    = PrometheusProxy + "/api/v1/targets?state=active"
	pathLokiReady      = "/api/v1/namespaces/logging/services/loki:3100/proxy/ready"
	pathGrafanaHealth  = GrafanaProxy + "/api/health"
)

// PrometheusProxy and GrafanaProxy are the API server's service-proxy paths
// of kube-prometheus-stack's Prometheus and Grafana; a service's own API
// path follows them.
const (
	PrometheusProxy = "/api/v1/namespaces/monitoring/services/kube-prometheus-stack-prometheus:9090/proxy"
	GrafanaProxy    = "/api/v1/namespaces/monitoring/services/kube-prometheus-stack-grafana:80/proxy"
)

// Lab is what the checks run against.
type Lab struct {
	// Kube reaches the Kubernetes API.
	Kube *KubeClient
	// Run runs talosctl.
	Run Runner
	// Talosconfig is the path of the talosconfig file talosctl reads.
	Talosconfig string
	// Nodes are the nodes the stack says it built.
	Nodes []Node
}

// Checks are the lab's checks in report order, from the bottom of the stack
// up, so the first failure in the table is usually the cause of the rest.
func Checks(lab Lab) []Check {
	return []Check{
		talosServices(lab.Run, lab.Talosconfig, lab.Nodes),
		nodesReady(lab.Kube, lab.Nodes),
		cilium(lab.Kube),
		prometheusTargets(lab.Kube),
		lokiReady(lab.Kube),
		grafanaHealthy(lab.Kube),
	}
}

// nodesReady passes when every node the stack built is registered and Ready.
// Kubernetes node names are hostnames, which a cloud may choose, so a node
// counts as registered under its name or any of its addresses.
func nodesReady(kube *KubeClient, want []Node) Check {
	return Check{Name: "nodes ready", Run: func(ctx context.Context) (string, error) {
		var list struct {
			Items []struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
				Status struct {
					Addresses []struct {
						Address string `json:"address"`
					} `json:"addresses"`
					Conditions []struct {
						Type    string `json:"type"`
						Status  string `json:"status"`
						Reason  string `json:"reason"`
						Message string `json:"message"`
					} `json:"conditions"`
				} `json:"status"`
			} `json:"items"`
		}
		if err := kube.getJSON(ctx, pathNodes, &list); err != nil {
			return "", fmt.Errorf("list nodes: %w", err)
		}

		var notReady []string
		known := map[string]bool{}
		ready := 0
		for _, n := range list.Items {
			known[n.Metadata.Name] = true
			for _, a := range n.Status.Addresses {
				known[a.Address] = true
			}
			status, why := "missing", "no Ready condition"
			for _, c := range n.Status.Conditions {
				if c.Type == "Ready" {
					status, why = c.Status, c.Reason+": "+c.Message
				}
			}
			if status == "True" {
				ready++
				continue
			}
			notReady = append(notReady, fmt.Sprintf("%s Ready=%s (%s)", n.Metadata.Name, status, why))
		}

		var missing []string
		for _, n := range want {
			if !known[n.Name] && !known[n.PrivateIP] && !known[n.PublicIP] {
				missing = append(missing, fmt.Sprintf("%s (%s)", n.Name, n.TalosAddress()))
			}
		}
		var problems []string
		if len(list.Items) != len(want) || len(missing) > 0 {
			p := fmt.Sprintf("%d nodes registered, want %d", len(list.Items), len(want))
			if len(missing) > 0 {
				p += "; not registered: " + strings.Join(missing, ", ")
			}
			problems = append(problems, p)
		}
		problems = append(problems, notReady...)
		if len(problems) > 0 {
			return "", errors.New(strings.Join(problems, "; "))
		}
		return fmt.Sprintf("%d/%d nodes Ready", ready, len(want)), nil
	}}
}

// cilium passes when the agent is ready on every node it is scheduled on and
// the operator, which hands out pod CIDRs and garbage-collects identities,
// has a replica available.
func cilium(kube *KubeClient) Check {
	return Check{Name: "cilium", Run: func(ctx context.Context) (string, error) {
		var agent struct {
			Status struct {
				DesiredNumberScheduled int `json:"desiredNumberScheduled"`
				NumberReady            int `json:"numberReady"`
			} `json:"status"`
		}
		var operator struct {
			Spec struct {
				Replicas int `json:"replicas"`
			} `json:"spec"`
			Status struct {
				AvailableReplicas int `json:"availableReplicas"`
			} `json:"status"`
		}
		var problems []string
		agentErr := kube.getJSON(ctx, pathCiliumAgent, &agent)
		switch {
		case agentErr != nil:
			problems = append(problems, "daemonset kube-system/cilium: "+agentErr.Error())
		case agent.Status.DesiredNumberScheduled == 0:
			problems = append(problems, "cilium agent scheduled on no node")
		case agent.Status.NumberReady != agent.Status.DesiredNumberScheduled:
			problems = append(problems, fmt.Sprintf("cilium agent %d/%d ready", agent.Status.NumberReady, agent.Status.DesiredNumberScheduled))
		}
		operatorErr := kube.getJSON(ctx, pathCiliumOperator, &operator)
		switch {
		case operatorErr != nil:
			problems = append(problems, "deployment kube-system/cilium-operator: "+operatorErr.Error())
		case operator.Status.AvailableReplicas < 1:
			problems = append(problems, fmt.Sprintf("cilium-operator %d/%d available", operator.Status.AvailableReplicas, operator.Spec.Replicas))
		}
		if len(problems) > 0 {
			return "", errors.New(strings.Join(problems, "; "))
		}
		return fmt.Sprintf("agent %d/%d ready, operator %d/%d available",
			agent.Status.NumberReady, agent.Status.DesiredNumberScheduled,
			operator.Status.AvailableReplicas, operator.Spec.Replicas), nil
	}}
}

// prometheusTargets passes when Prometheus scrapes every target it
// discovered. A target not scraped yet ("unknown") fails too: verify runs
// after a deploy has settled, and a target that never got scraped is as
// blind as one that is down.
func prometheusTargets(kube *KubeClient) Check {
	return Check{Name: "prometheus targets", Run: func(ctx context.Context) (string, error) {
		type target struct {
			Labels    map[string]string `json:"labels"`
			Health    string            `json:"health"`
			LastError string            `json:"lastError"`
		}
		var answer struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				ActiveTargets []target `json:"activeTargets"`
			} `json:"data"`
		}
		if err := kube.getJSON(ctx, pathPromTargets, &answer); err != nil {
			return "", fmt.Errorf("query targets: %w", err)
		}
		if answer.Status != "success" {
			return "", fmt.Errorf("query targets: status %q: %s", answer.Status, answer.Error)
		}
		targets := answer.Data.ActiveTargets
		if len(targets) == 0 {
			return "", errors.New("no active targets: Prometheus scrapes nothing")
		}
		slices.SortStableFunc(targets, func(a, b target) int {
			return cmp.Or(cmp.Compare(a.Labels["job"], b.Labels["job"]), cmp.Compare(a.Labels["instance"], b.Labels["instance"]))
		})
		var bad []string
		for _, t := range targets {
			if t.Health == "up" {
				continue
			}
			why := t.LastError
			if why == "" {
				why = "no error recorded"
			}
			bad = append(bad, fmt.Sprintf("%s/%s %s (%s)", t.Labels["job"], t.Labels["instance"], t.Health, why))
		}
		if len(bad) > 0 {
			return "", fmt.Errorf("%d of %d targets not up: %s", len(bad), len(targets), strings.Join(bad, "; "))
		}
		return fmt.Sprintf("%d/%d active targets up", len(targets), len(targets)), nil
	}}
}

// lokiReady passes when Loki says it is ready to take pushes and queries.
func lokiReady(kube *KubeClient) Check {
	return Check{Name: "loki ready", Run: func(ctx context.Context) (string, error) {
		status, body, err := kube.Get(ctx, pathLokiReady)
		if err != nil {
			return "", err
		}
		if status != http.StatusOK {
			return "", fmt.Errorf("not ready: %s", Describe(status, body))
		}
		if got := strings.TrimSpace(string(body)); got != "ready" {
			return "", fmt.Errorf("answered %q, want \"ready\"", got)
		}
		return "ready", nil
	}}
}

// grafanaHealthy passes when Grafana reaches its database. Grafana answers
// 503 with the same JSON when it does not, so the body is read either way.
func grafanaHealthy(kube *KubeClient) Check {
	return Check{Name: "grafana health", Run: func(ctx context.Context) (string, error) {
		status, body, err := kube.Get(ctx, pathGrafanaHealth)
		if err != nil {
			return "", err
		}
		var health struct {
			Database string `json:"database"`
			Version  string `json:"version"`
		}
		if json.Unmarshal(body, &health) != nil || health.Database == "" {
			return "", fmt.Errorf("unhealthy: %s", Describe(status, body))
		}
		if status != http.StatusOK || health.Database != "ok" {
			return "", fmt.Errorf("database %s (%d %s)", health.Database, status, http.StatusText(status))
		}
		return fmt.Sprintf("database ok, Grafana %s", health.Version), nil
	}}
}
