// Package footprint adds up what the lab asks of its nodes: the resource
// requests in the values of every Helm release the program registers, plus
// what Talos runs for Kubernetes itself, against the nodes' allocatable
// capacity. The figures come from the same values a real `pulumi up`
// installs, so a change to any chart's resources changes the report.
package footprint

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/your-org/sre-lab/config"
)

// Quantity is CPU in millicores and memory in bytes.
type Quantity struct {
	MilliCPU int64
	Memory   int64
}

// Add returns q + o.
func (q Quantity) Add(o Quantity) Quantity {
	return Quantity{q.MilliCPU + o.MilliCPU, q.Memory + o.Memory}
}

// Times returns q scaled by n.
func (q Quantity) Times(n int) Quantity {
	return Quantity{q.MilliCPU * int64(n), q.Memory * int64(n)}
}

// Workload is one kind of pod a release runs and where its chart takes
// the containers' resources.
type Workload struct {
	// Release is the Helm release's name.
	Release string
	// Name is what the report calls it.
	Name string
	// Resources is the dotted values path of a {requests, limits} map.
	Resources string
	// Containers is how many containers in the pod take those resources
	// (the EBS driver gives every sidecar the same); 0 means 1.
	Containers int
	// EveryNode marks a DaemonSet that also runs on control planes.
	EveryNode bool
	// Workers marks a DaemonSet without the control planes' toleration:
	// one pod per worker.
	Workers bool
	// Replicas is the values path of the replica count; empty means one.
	Replicas string
}

// Catalogue lists the long-running workloads of every chart the lab
// installs. Jobs (certificate and webhook setup) run once and are left out.
var Catalogue = []Workload{
	{Release: config.ChartCilium, Name: "agent", Resources: "resources", EveryNode: true},
	{Release: config.ChartCilium, Name: "envoy", Resources: "envoy.resources", EveryNode: true},
	{Release: config.ChartCilium, Name: "operator", Resources: "operator.resources", Replicas: "operator.replicas"},
	{Release: config.ChartCilium, Name: "hubble-relay", Resources: "hubble.relay.resources"},
	{Release: config.ChartCilium, Name: "hubble-ui frontend", Resources: "hubble.ui.frontend.resources"},
	{Release: config.ChartCilium, Name: "hubble-ui backend", Resources: "hubble.ui.backend.resources"},
	{Release: config.ChartCertManager, Name: "controller", Resources: "resources"},
	{Release: config.ChartCertManager, Name: "webhook", Resources: "webhook.resources", Replicas: "webhook.replicaCount"},
	{Release: config.ChartCertManager, Name: "cainjector", Resources: "cainjector.resources", Replicas: "cainjector.replicaCount"},
	{Release: config.ChartSealedSecrets, Name: "controller", Resources: "resources"},
	{Release: config.ChartExternalSecrets, Name: "controller", Resources: "resources"},
	{Release: config.ChartExternalSecrets, Name: "webhook", Resources: "webhook.resources"},
	{Release: config.ChartExternalSecrets, Name: "cert-controller", Resources: "certController.resources"},
	{Release: config.ChartLocalPath, Name: "provisioner", Resources: "resources"},
	// The plugin and five sidecars; the node pod has the plugin and two.
	{Release: config.ChartEBSCSI, Name: "controller", Resources: "controller.resources", Containers: 6, Replicas: "controller.replicaCount"},
	{Release: config.ChartEBSCSI, Name: "node", Resources: "node.resources", Containers: 3, EveryNode: true},
	{Release: config.ChartKubePrometheus, Name: "prometheus", Resources: "prometheus.prometheusSpec.resources", Replicas: "prometheus.prometheusSpec.replicas"},
	{Release: config.ChartKubePrometheus, Name: "prometheus config-reloader", Resources: "prometheusOperator.prometheusConfigReloader.resources", Replicas: "prometheus.prometheusSpec.replicas"},
	{Release: config.ChartKubePrometheus, Name: "alertmanager", Resources: "alertmanager.alertmanagerSpec.resources", Replicas: "alertmanager.alertmanagerSpec.replicas"},
	{Release: config.ChartKubePrometheus, Name: "alertmanager config-reloader", Resources: "prometheusOperator.prometheusConfigReloader.resources", Replicas: "alertmanager.alertmanagerSpec.replicas"},
	{Release: config.ChartKubePrometheus, Name: "operator", Resources: "prometheusOperator.resources"},
	{Release: config.ChartKubePrometheus, Name: "kube-state-metrics", Resources: "kube-state-metrics.resources"},
	{Release: config.ChartKubePrometheus, Name: "node-exporter", Resources: "prometheus-node-exporter.resources", EveryNode: true},
	{Release: config.ChartKubePrometheus, Name: "grafana", Resources: "grafana.resources"},
	// The dashboards and datasources sidecars.
	{Release: config.ChartKubePrometheus, Name: "grafana sidecars", Resources: "grafana.sidecar.resources", Containers: 2},
	{Release: config.ChartLoki, Name: "loki", Resources: "singleBinary.resources", Replicas: "singleBinary.replicas"},
	{Release: config.ChartAlloy, Name: "alloy", Resources: "alloy.resources", EveryNode: true},
	{Release: config.ChartAlloy, Name: "alloy config-reloader", Resources: "configReloader.resources", EveryNode: true},
	{Release: config.ChartPromtail, Name: "promtail", Resources: "resources", EveryNode: true},
	{Release: "alloy-receiver", Name: "alloy", Resources: "alloy.resources", Replicas: "controller.replicas"},
	{Release: "alloy-receiver", Name: "alloy config-reloader", Resources: "configReloader.resources", Replicas: "controller.replicas"},
	// The practice layer (sre-lab:practice).
	{Release: config.ChartPodinfo, Name: "podinfo", Resources: "resources", Replicas: "replicaCount"},
	{Release: config.ChartChaosMesh, Name: "controller-manager", Resources: "controllerManager.resources", Replicas: "controllerManager.replicaCount"},
	{Release: config.ChartChaosMesh, Name: "chaos-daemon", Resources: "chaosDaemon.resources", Workers: true},
	{Release: config.ChartChaosMesh, Name: "dns-server", Resources: "dnsServer.resources", Replicas: "dnsServer.replicas"},
}

// Deployment is a workload the program registers as a Kubernetes object
// rather than through a chart (the practice layer's load generator).
type Deployment struct {
	// Name is what the report calls it, namespace/name.
	Name string
	// Replicas is its spec.replicas.
	Replicas int
	// Containers are its pod template's containers, each with a
	// resources map of requests and limits.
	Containers []map[string]any
}

// WithoutPods are releases that only install definitions.
var WithoutPods = []string{config.ChartPrometheusCRDs}

// Talos's own requests for Kubernetes: the static pods on every control
// plane, CoreDNS, and what the kubelet reserves for the system on each
// node (Talos machinery constants and its control-plane templates).
var (
	ControlPlanePods = []Quantity{
		mustParse("200m", "512Mi"), // kube-apiserver
		mustParse("50m", "256Mi"),  // kube-controller-manager
		mustParse("10m", "64Mi"),   // kube-scheduler
	}
	CoreDNS         = mustParse("100m", "70Mi")
	CoreDNSReplicas = 2
	ReservedControl = mustParse("50m", "512Mi")
	ReservedWorker  = mustParse("50m", "384Mi")
)

// Nodes is the shape of a stack's machines.
type Nodes struct {
	ControlPlanes, Workers int
	ControlPlane, Worker   config.Shape
}

// Line is one workload's share of the requests.
type Line struct {
	Release, Workload string
	Pods              int
	Requests          Quantity
}

// Report is a stack's requests against its capacity.
type Report struct {
	Stack string
	Nodes Nodes
	// Capacity is the machines' size; Allocatable is what the kubelet
	// offers pods after the system reservation.
	Capacity, Allocatable Quantity
	// Kubernetes is what Talos runs for the cluster itself.
	Kubernetes Quantity
	// Lab is the sum of Lines.
	Lab   Quantity
	Lines []Line
}

// Headroom is the share of allocatable CPU and memory no pod requests.
func (r Report) Headroom() (cpu, memory float64) {
	used := r.Lab.Add(r.Kubernetes)
	return 1 - float64(used.MilliCPU)/float64(r.Allocatable.MilliCPU),
		1 - float64(used.Memory)/float64(r.Allocatable.Memory)
}

// HostLoad is what the nodes take from one machine they all run on, as
// the Docker backend's containers do. CPU counts what is requested (the
// pods' requests and each node's reservation for Talos and the kubelet):
// beyond that a busy node is throttled, not stopped. Memory counts the
// nodes' full sizes: a container node may fill its whole limit, and
// memory taken is not given back, so only the sizes bound what the host
// must hold.
func (r Report) HostLoad() Quantity {
	requested := r.Lab.Add(r.Kubernetes).MilliCPU + r.Capacity.MilliCPU - r.Allocatable.MilliCPU
	return Quantity{MilliCPU: requested, Memory: r.Capacity.Memory}
}

// FitsHost reports whether the nodes fit one machine of size host that
// keeps reserve for its own processes: the pods' requests fit the nodes,
// and HostLoad fits what the machine has left.
func (r Report) FitsHost(host, reserve Quantity) bool {
	cpu, mem := r.Headroom()
	load := r.HostLoad()
	return cpu > 0 && mem > 0 &&
		load.MilliCPU <= host.MilliCPU-reserve.MilliCPU &&
		load.Memory <= host.Memory-reserve.Memory
}

// Build adds up the requests of releases, keyed by release name with
// their values, and of deployments, on nodes. A release the catalogue does
// not know, or a workload without requests, is an error: the report must
// not pass by missing something.
func Build(stack string, nodes Nodes, releases map[string]map[string]any, deployments ...Deployment) (Report, error) {
	r := Report{Stack: stack, Nodes: nodes}
	total := nodes.ControlPlanes + nodes.Workers
	cp := shape(nodes.ControlPlane).Times(nodes.ControlPlanes)
	w := shape(nodes.Worker).Times(nodes.Workers)
	r.Capacity = cp.Add(w)
	r.Allocatable = Quantity{
		r.Capacity.MilliCPU - ReservedControl.MilliCPU*int64(nodes.ControlPlanes) - ReservedWorker.MilliCPU*int64(nodes.Workers),
		r.Capacity.Memory - ReservedControl.Memory*int64(nodes.ControlPlanes) - ReservedWorker.Memory*int64(nodes.Workers),
	}
	for _, p := range ControlPlanePods {
		r.Kubernetes = r.Kubernetes.Add(p.Times(nodes.ControlPlanes))
	}
	r.Kubernetes = r.Kubernetes.Add(CoreDNS.Times(CoreDNSReplicas))

	names := make([]string, 0, len(releases))
	for name := range releases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		values := releases[name]
		found := false
		for _, wl := range Catalogue {
			if wl.Release != name {
				continue
			}
			found = true
			req, err := requests(values, wl.Resources)
			if err != nil {
				return Report{}, fmt.Errorf("%s %s: %w", name, wl.Name, err)
			}
			pods := total
			if wl.Workers {
				pods = nodes.Workers
			} else if !wl.EveryNode {
				pods = 1
				if wl.Replicas != "" {
					n, ok := number(lookup(values, wl.Replicas))
					if !ok {
						return Report{}, fmt.Errorf("%s %s: no replica count at %s", name, wl.Name, wl.Replicas)
					}
					pods = n
				}
			}
			containers := max(wl.Containers, 1)
			line := Line{Release: name, Workload: wl.Name, Pods: pods, Requests: req.Times(pods * containers)}
			r.Lines = append(r.Lines, line)
			r.Lab = r.Lab.Add(line.Requests)
		}
		if !found && !slices.Contains(WithoutPods, name) {
			return Report{}, fmt.Errorf("release %s is not in the footprint catalogue", name)
		}
	}
	for _, d := range deployments {
		var req Quantity
		for i, c := range d.Containers {
			q, err := requests(c, "resources")
			if err != nil {
				return Report{}, fmt.Errorf("deployment %s container %d: %w", d.Name, i, err)
			}
			req = req.Add(q)
		}
		line := Line{Release: d.Name, Workload: "deployment", Pods: d.Replicas, Requests: req.Times(d.Replicas)}
		r.Lines = append(r.Lines, line)
		r.Lab = r.Lab.Add(line.Requests)
	}
	return r, nil
}

// String renders the report as a table.
func (r Report) String() string {
	var b strings.Builder
	cpu, mem := r.Headroom()
	fmt.Fprintf(&b, "stack %s: %d control planes (%dCPU/%gGiB) + %d workers (%dCPU/%gGiB)\n",
		r.Stack, r.Nodes.ControlPlanes, r.Nodes.ControlPlane.VCPU, r.Nodes.ControlPlane.MemGiB,
		r.Nodes.Workers, r.Nodes.Worker.VCPU, r.Nodes.Worker.MemGiB)
	t := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(t, "release\tworkload\tpods\tcpu\tmemory\t")
	for _, l := range r.Lines {
		fmt.Fprintf(t, "%s\t%s\t%d\t%s\t%s\t\n", l.Release, l.Workload, l.Pods, cpuString(l.Requests), memString(l.Requests))
	}
	fmt.Fprintf(t, "lab add-ons\t\t\t%s\t%s\t\n", cpuString(r.Lab), memString(r.Lab))
	fmt.Fprintf(t, "kubernetes (talos)\t\t\t%s\t%s\t\n", cpuString(r.Kubernetes), memString(r.Kubernetes))
	fmt.Fprintf(t, "allocatable\t\t\t%s\t%s\t\n", cpuString(r.Allocatable), memString(r.Allocatable))
	fmt.Fprintf(t, "headroom\t\t\t%.0f%%\t%.0f%%\t\n", cpu*100, mem*100)
	t.Flush()
	return b.String()
}

func cpuString(q Quantity) string { return fmt.Sprintf("%dm", q.MilliCPU) }
func memString(q Quantity) string { return fmt.Sprintf("%dMi", q.Memory>>20) }

func shape(s config.Shape) Quantity {
	return Quantity{int64(s.VCPU) * 1000, int64(s.MemGiB * (1 << 30))}
}

// requests reads the cpu and memory requests at path, and insists on a
// memory limit: a pod without one can take a node's memory from the rest.
func requests(values map[string]any, path string) (Quantity, error) {
	res, ok := lookup(values, path).(map[string]any)
	if !ok {
		return Quantity{}, fmt.Errorf("no resources at %s", path)
	}
	req, _ := res["requests"].(map[string]any)
	cpu, _ := req["cpu"].(string)
	mem, _ := req["memory"].(string)
	if cpu == "" || mem == "" {
		return Quantity{}, fmt.Errorf("no cpu and memory requests at %s", path)
	}
	if lim, _ := res["limits"].(map[string]any); lim == nil || lim["memory"] == nil {
		return Quantity{}, fmt.Errorf("no memory limit at %s", path)
	}
	return Parse(cpu, mem)
}

// lookup walks a dotted path through nested maps.
func lookup(values map[string]any, path string) any {
	var v any = values
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func number(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case float64:
		return int(n), n == float64(int(n))
	}
	return 0, false
}

// Parse reads a CPU quantity (500m, 2) and a memory quantity (64Mi, 1Gi,
// 1000k) in the forms the lab's values use.
func Parse(cpu, memory string) (Quantity, error) {
	var q Quantity
	if s, ok := strings.CutSuffix(cpu, "m"); ok {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return q, fmt.Errorf("cpu %q: %w", cpu, err)
		}
		q.MilliCPU = n
	} else {
		f, err := strconv.ParseFloat(cpu, 64)
		if err != nil {
			return q, fmt.Errorf("cpu %q: %w", cpu, err)
		}
		q.MilliCPU = int64(f * 1000)
	}
	units := []struct {
		suffix string
		factor int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}}
	for _, u := range units {
		if s, ok := strings.CutSuffix(memory, u.suffix); ok {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return q, fmt.Errorf("memory %q: %w", memory, err)
			}
			q.Memory = n * u.factor
			return q, nil
		}
	}
	n, err := strconv.ParseInt(memory, 10, 64)
	if err != nil {
		return q, fmt.Errorf("memory %q: %w", memory, err)
	}
	q.Memory = n
	return q, nil
}

func mustParse(cpu, memory string) Quantity {
	q, err := Parse(cpu, memory)
	if err != nil {
		panic(err)
	}
	return q
}
