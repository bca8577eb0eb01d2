package e2e

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/your-org/sre-lab/verify"
)

// The PromQL the metric assertions run. Each asks for a series the lab
// only has when the data really arrived, not for a target's health alone.
const (
	// queryUp is every scrape Prometheus made: 1 for a target that
	// answered its last scrape, 0 for one that did not.
	queryUp = "up"
	// queryControlPlane is the scrape of what Talos runs on control
	// planes and the lab's Talos patch exposes: etcd's metrics listener,
	// the scheduler and the controller manager bound beyond 127.0.0.1.
	queryControlPlane = `up{job=~"kube-etcd|kube-scheduler|kube-controller-manager"}`
	// queryNodeExporter is node-exporter's one series per machine,
	// labelled with the machine's hostname.
	queryNodeExporter = "node_uname_info"
	// queryKubeStateMetrics is kube-state-metrics' one series per
	// Kubernetes node, labelled with the node's name and address.
	queryKubeStateMetrics = "kube_node_info"
	// queryHubbleFlows is the flows each Cilium agent's Hubble has
	// processed, from the flow metric the lab enables.
	queryHubbleFlows = "sum by (instance) (hubble_flows_processed_total)"
)

// controlPlaneJobs are kube-prometheus-stack's job names for the control
// plane components the lab's Talos patch makes scrapable.
var controlPlaneJobs = []string{"kube-etcd", "kube-scheduler", "kube-controller-manager"}

// scrapeTargetsUp passes when every target Prometheus scraped answered
// its last scrape. It reads the `up` series rather than the targets API
// verify reads, so it sees what reached the database.
func scrapeTargetsUp(kube *verify.KubeClient) verify.Check {
	return verify.Check{Name: "scrape targets up", Run: func(ctx context.Context) (string, error) {
		samples, err := instant(ctx, kube, pathPromQuery, queryUp)
		if err != nil {
			return "", err
		}
		if len(samples) == 0 {
			return "", errEmpty(queryUp, "Prometheus has scraped nothing")
		}
		slices.SortFunc(samples, func(a, b sample) int {
			return cmp.Or(cmp.Compare(a.Labels["job"], b.Labels["job"]), cmp.Compare(a.Labels["instance"], b.Labels["instance"]))
		})
		var down []string
		jobs := map[string]bool{}
		for _, s := range samples {
			jobs[s.Labels["job"]] = true
			if s.Value != 1 {
				down = append(down, s.Labels["job"]+"/"+s.Labels["instance"])
			}
		}
		if len(down) > 0 {
			return "", fmt.Errorf("%d of %d targets down: %s", len(down), len(samples), strings.Join(down, ", "))
		}
		return fmt.Sprintf("%d/%d targets up in %d jobs", len(samples), len(samples), len(jobs)), nil
	}}
}

// controlPlaneTargets passes when etcd, the scheduler and the controller
// manager are each scraped and up on every control plane. These are the
// targets Talos hides by default; a job with fewer targets than control
// planes means the lab's patch or the chart's endpoints missed one.
func controlPlaneTargets(kube *verify.KubeClient, nodes []verify.Node) verify.Check {
	return verify.Check{Name: "control plane scraped", Run: func(ctx context.Context) (string, error) {
		want := 0
		for _, n := range nodes {
			if n.Role == verify.RoleControlPlane {
				want++
			}
		}
		samples, err := instant(ctx, kube, pathPromQuery, queryControlPlane)
		if err != nil {
			return "", err
		}
		up, seen := map[string]int{}, map[string]int{}
		for _, s := range samples {
			seen[s.Labels["job"]]++
			if s.Value == 1 {
				up[s.Labels["job"]]++
			}
		}
		var problems, counts []string
		for _, job := range controlPlaneJobs {
			counts = append(counts, fmt.Sprintf("%s %d/%d", job, up[job], want))
			switch {
			case seen[job] == 0:
				problems = append(problems, job+" not scraped")
			case up[job] != want:
				problems = append(problems, fmt.Sprintf("%s %d/%d up (%d targets)", job, up[job], want, seen[job]))
			}
		}
		if len(problems) > 0 {
			return "", fmt.Errorf("%s; want every one of %d control planes up", strings.Join(problems, "; "), want)
		}
		return strings.Join(counts, ", "), nil
	}}
}

// nodeExporter passes when node-exporter reports from every node.
func nodeExporter(kube *verify.KubeClient, nodes []verify.Node) verify.Check {
	return perNodeSeries("node-exporter", queryNodeExporter, kube, nodes, "nodename", "instance")
}

// kubeStateMetrics passes when kube-state-metrics describes every node.
func kubeStateMetrics(kube *verify.KubeClient, nodes []verify.Node) verify.Check {
	return perNodeSeries("kube-state-metrics", queryKubeStateMetrics, kube, nodes, "node", "internal_ip")
}

// perNodeSeries passes when query has a series naming every node in one
// of labels, by name or address.
func perNodeSeries(name, query string, kube *verify.KubeClient, nodes []verify.Node, labels ...string) verify.Check {
	return verify.Check{Name: name, Run: func(ctx context.Context) (string, error) {
		samples, err := instant(ctx, kube, pathPromQuery, query)
		if err != nil {
			return "", err
		}
		if len(samples) == 0 {
			return "", errEmpty(query, name+" is not scraped or exports nothing")
		}
		if missing := missingNodes(nodes, samples, labels...); len(missing) > 0 {
			return "", fmt.Errorf("%s has no series for %s (%d series for %d nodes)", query, strings.Join(missing, ", "), len(samples), len(nodes))
		}
		return fmt.Sprintf("%s from %d/%d nodes", query, len(nodes), len(nodes)), nil
	}}
}

// hubbleFlows passes when Hubble has counted flows: the flow metric
// exists only once an agent has observed traffic and Prometheus has
// scraped its Hubble metrics endpoint.
func hubbleFlows(kube *verify.KubeClient) verify.Check {
	return verify.Check{Name: "hubble flows", Run: func(ctx context.Context) (string, error) {
		samples, err := instant(ctx, kube, pathPromQuery, queryHubbleFlows)
		if err != nil {
			return "", err
		}
		if len(samples) == 0 {
			return "", errEmpty(queryHubbleFlows, "Hubble's flow metric is not scraped")
		}
		var total float64
		for _, s := range samples {
			total += s.Value
		}
		if total == 0 {
			return "", fmt.Errorf("%d agents report hubble_flows_processed_total but none has counted a flow", len(samples))
		}
		return fmt.Sprintf("%.0f flows counted by %d agents", total, len(samples)), nil
	}}
}
