package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/your-org/sre-lab/observability/logging"
	"github.com/your-org/sre-lab/verify"
)

// podLogsQuery counts the pod log lines of the window by namespace. Every
// collector the lab offers labels pod logs with the pod; the events
// pipeline is left out so that events alone cannot pass for pod logs.
func podLogsQuery(window time.Duration) string {
	return fmt.Sprintf(`sum by (namespace) (count_over_time({pod=~".+", job!=%q}[%s]))`, logging.JobEvents, logRange(window))
}

// eventsQuery counts the Kubernetes events of the window.
func eventsQuery(window time.Duration) string {
	return fmt.Sprintf(`sum(count_over_time({job=%q}[%s]))`, logging.JobEvents, logRange(window))
}

// talosLogsQuery counts Talos's own log lines of the window by the node
// tag each node's Talos config adds to its service logs.
func talosLogsQuery(window time.Duration) string {
	return fmt.Sprintf(`sum by (node) (count_over_time({job=%q}[%s]))`, logging.JobTalos, logRange(window))
}

// podLogs passes when Loki holds pod log lines from the window.
func podLogs(kube *verify.KubeClient, window time.Duration) verify.Check {
	return verify.Check{Name: "pod logs", Run: func(ctx context.Context) (string, error) {
		query := podLogsQuery(window)
		samples, err := instant(ctx, kube, pathLokiQuery, query)
		if err != nil {
			return "", err
		}
		var lines float64
		var namespaces []string
		for _, s := range samples {
			lines += s.Value
			namespaces = append(namespaces, s.Labels["namespace"])
		}
		if lines == 0 {
			return "", errEmpty(query, fmt.Sprintf("no pod log line reached Loki in the last %s", window))
		}
		slices.Sort(namespaces)
		return fmt.Sprintf("%.0f lines in %s from %d namespaces (%s)", lines, window, len(namespaces), strings.Join(namespaces, ", ")), nil
	}}
}

// kubernetesEvents passes when Loki holds Kubernetes events from the
// window: the cluster-wide receiver watches them and ships them as logs.
func kubernetesEvents(kube *verify.KubeClient, window time.Duration) verify.Check {
	return verify.Check{Name: "kubernetes events", Run: func(ctx context.Context) (string, error) {
		query := eventsQuery(window)
		samples, err := instant(ctx, kube, pathLokiQuery, query)
		if err != nil {
			return "", err
		}
		var events float64
		for _, s := range samples {
			events += s.Value
		}
		if events == 0 {
			return "", errEmpty(query, fmt.Sprintf("no Kubernetes event reached Loki in the last %s", window))
		}
		return fmt.Sprintf("%.0f events in %s", events, window), nil
	}}
}

// talosLogs passes when Loki holds Talos service logs from every node in
// the window. They travel outside Kubernetes (Talos sends them over TCP
// to the receiver's fixed cluster IP), so pods logging proves nothing
// about them; kubelet and containerd run as Talos services and write to
// these logs on every node.
func talosLogs(kube *verify.KubeClient, nodes []verify.Node, window time.Duration) verify.Check {
	return verify.Check{Name: "talos logs", Run: func(ctx context.Context) (string, error) {
		query := talosLogsQuery(window)
		samples, err := instant(ctx, kube, pathLokiQuery, query)
		if err != nil {
			return "", err
		}
		if len(samples) == 0 {
			return "", errEmpty(query, fmt.Sprintf("no Talos log line reached Loki in the last %s", window))
		}
		var lines float64
		for _, s := range samples {
			lines += s.Value
		}
		if missing := missingNodes(nodes, samples, "node"); len(missing) > 0 {
			return "", fmt.Errorf("no Talos service logs in the last %s from %s", window, strings.Join(missing, ", "))
		}
		return fmt.Sprintf("%.0f lines in %s from %d/%d nodes", lines, window, len(nodes), len(nodes)), nil
	}}
}
