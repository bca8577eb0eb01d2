// Package e2e asserts that a running lab's data arrives, where verify only
// asserts that its parts answer: every scrape target up, node-exporter,
// kube-state-metrics and the control plane scraped for every node, Hubble
// flow metrics, pod logs, Kubernetes events and Talos's own logs in Loki,
// Grafana's datasources healthy and the lab's dashboards loaded, and the
// always-firing Watchdog alert delivered to Alertmanager.
//
// The assertions are verify.Checks, reported in verify's table, and reach
// every service the way verify does: through the Kubernetes API server's
// service proxy, with nothing but the stack's kubeconfig (and Grafana's
// admin password, also a stack output).
package e2e

import (
	"fmt"
	"time"

	"github.com/your-org/sre-lab/observability/dashboards"
	"github.com/your-org/sre-lab/verify"
)

// Lab is what the assertions run against.
type Lab struct {
	// Kube reaches the Kubernetes API.
	Kube *verify.KubeClient
	// Nodes are the nodes the stack says it built; per-node data must
	// arrive from each of them.
	Nodes []verify.Node
	// GrafanaPassword is the admin password Grafana's API takes.
	GrafanaPassword verify.Secret
	// Window is how far back the log assertions look: a lab that stopped
	// shipping logs longer ago than this fails.
	Window time.Duration
}

// Assertions are the lab's data assertions in report order: metrics from
// the bottom of the stack up, then logs, then what a person sees (Grafana)
// and what pages them (Alertmanager).
func Assertions(lab Lab) ([]verify.Check, error) {
	boards, err := dashboards.All()
	if err != nil {
		return nil, fmt.Errorf("the lab's dashboards: %w", err)
	}
	grafana := verify.NewGrafana(lab.Kube, lab.GrafanaPassword)
	return []verify.Check{
		scrapeTargetsUp(lab.Kube),
		controlPlaneTargets(lab.Kube, lab.Nodes),
		nodeExporter(lab.Kube, lab.Nodes),
		kubeStateMetrics(lab.Kube, lab.Nodes),
		hubbleFlows(lab.Kube),
		podLogs(lab.Kube, lab.Window),
		kubernetesEvents(lab.Kube, lab.Window),
		talosLogs(lab.Kube, lab.Nodes, lab.Window),
		grafanaDatasources(grafana),
		grafanaDashboards(grafana, boards),
		alertmanager(lab.Kube),
	}, nil
}
