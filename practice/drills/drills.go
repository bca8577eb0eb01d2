// Package drills is the practice layer's catalogue of incident drills as
// code. Each drill injects one fault into the demo service (podinfo in
// namespace apps) or its surroundings, names the alert that must fire, the
// dashboard to watch while it runs and the runbook to follow, and the time
// within which the alert must fire.
//
// The faults are Chaos Mesh objects, except the node drain, which is done
// through the Kubernetes API (cordon and evictions) as kubectl does it. The
// time limit rests on the alert's rule: its windows, burn factors and for,
// the share of events the fault spoils (an assumption each drill states),
// and the delay of scraping and rule evaluation; the package's tests check
// every limit against the rules. A drill that fails is a finding: the
// fault hurt less than assumed, or the alert is blind or slow to it.
package drills

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/your-org/sre-lab/observability/rules"
	"github.com/your-org/sre-lab/practice/slo"
)

// PipelineLag is how long a change in the demo takes to reach a firing
// alert once its rule's condition holds on paper: a scrape (podinfo's
// ServiceMonitor scrapes every 15s, Cilium's Envoy every 10s), an
// evaluation of sloth's recording group and then of its alert group
// (kube-prometheus-stack evaluates every 30s), and a second scrape for rate()
// to see the change, with room to spare.
const PipelineLag = 2 * time.Minute

// deadMansSwitch is how long a Chaos Mesh fault outlives its drill's limit
// when nothing deletes it: every object carries a duration, so a drill
// whose runner died still ends.
const deadMansSwitch = 5 * time.Minute

// Drill is one fault and what it must set off.
type Drill struct {
	// Name is what `go run ./cmd/drill` takes.
	Name string
	// Description says what the drill does and what a person should see.
	Description string
	// Objects are the Chaos Mesh objects the drill creates in Namespace.
	Objects []Object
	// Drain, when set, is the node drain the drill does instead.
	Drain *Drain
	// Alert is the name of the alert that must fire; Labels are labels it
	// must carry too (sloth's page and ticket alerts share a name).
	Alert  string
	Labels map[string]string
	// Dashboard is the uid of the Grafana dashboard to watch.
	Dashboard string
	// Runbook is the URL of the runbook section to follow.
	Runbook string
	// Within is the time from the fault's start within which Alert must
	// fire.
	Within time.Duration
	// Affected is the share of the alert's events the fault is assumed
	// to spoil (1 for "all of them"); Within rests on it.
	Affected float64
	// Delay is how long the fault takes to reach those events, such as a
	// client's DNS cache running out.
	Delay time.Duration
	// Why explains Within in words.
	Why string
}

// Drain cordons every node pods can be scheduled on and evicts the pods
// of Evict, as `kubectl drain --pod-selector` would on each node at once.
// An eviction a PodDisruptionBudget refuses leaves its pod running, as
// kubectl drain would until the budget allows it.
type Drain struct {
	Evict []PodSet
}

// PodSet is the pods a label selector matches in a namespace.
type PodSet struct {
	Namespace string
	Selector  map[string]string
}

// Namespace is where the drills' objects live: next to the demo.
const Namespace = slo.DemoNamespace

// podinfo selects every podinfo pod. Selectors and labels are made fresh
// for each drill, so that changing one drill's cannot change another's.
func podinfo() PodSelector {
	return PodSelector{
		Selector: PodSelectorSpec{
			Namespaces:     []string{slo.DemoNamespace},
			LabelSelectors: map[string]string{slo.DemoAppLabel: slo.DemoApp},
		},
		Mode: "all",
	}
}

// clients selects the demo's clients: every other pod in its namespace,
// which is where the load generator runs. NotIn also matches pods without
// the label.
func clients() PodSelector {
	return PodSelector{
		Selector: PodSelectorSpec{
			Namespaces: []string{slo.DemoNamespace},
			ExpressionSelectors: []LabelSelectorRequirement{
				{Key: slo.DemoAppLabel, Operator: "NotIn", Values: []string{slo.DemoApp}},
			},
		},
		Mode: "all",
	}
}

// page are the labels of the lab's critical alerts, sloth's page alert
// among them.
func page() map[string]string { return map[string]string{"severity": slo.PageSeverity} }

// hubbleRelay are Hubble relay's pods: one replica without a disruption
// budget or tolerations in the lab's Cilium values, labelled k8s-app by the
// chart (cilium install/kubernetes/cilium/templates/hubble-relay/deployment.yaml,
// values.yaml hubble.relay) in Cilium's namespace, kube-system, where
// observability/rules' HubbleRelayDown looks for its Deployment.
func hubbleRelay() PodSet {
	return PodSet{Namespace: "kube-system", Selector: map[string]string{"k8s-app": "hubble-relay"}}
}

// All returns the catalogue in a stable order.
func All() []Drill {
	return []Drill{
		expect(Drill{
			Name: "pod-kill",
			Description: "Takes every podinfo pod down for the whole drill. Chaos Mesh's pod-failure swaps the pods' " +
				"containers for a pause image: the pods stay, nothing answers, and Prometheus cannot scrape them. " +
				"A single pod kill is healed by the Deployment within seconds and never reaches an alert; this is " +
				"the kill that does not heal.",
			Objects: []Object{{Kind: "PodChaos", Resource: "podchaos", Name: objectName("pod-kill"), Spec: &PodChaosSpec{
				ContainerSelector: ContainerSelector{PodSelector: podinfo()},
				Action:            "pod-failure",
			}}},
			Alert:    "DemoNotServing",
			Within:   9 * time.Minute,
			Affected: 1,
			Why:      "podinfo's series go stale as soon as its scrapes fail, so the guard's absent() holds at once; the limit allows its full 5m rate window and its 2m for.",
		}),
		expect(Drill{
			Name: "network-loss",
			Description: "Drops every packet podinfo sends, to its clients, the kubelet and Prometheus alike. " +
				"podinfo itself stays healthy and records no error: its requests just never complete, and " +
				"Prometheus's scrapes fail with them.",
			Objects: []Object{{Kind: "NetworkChaos", Resource: "networkchaos", Name: objectName("network-loss"), Spec: &NetworkChaosSpec{
				PodSelector: podinfo(),
				Action:      "loss",
				Direction:   "to",
				Loss:        &LossSpec{Loss: "100"},
			}}},
			Alert:    "DemoNotServing",
			Within:   9 * time.Minute,
			Affected: 1,
			Why:      "the first failed scrape makes podinfo's series stale, so the guard's absent() holds at once; the limit allows its full 5m rate window and its 2m for.",
		}),
		expect(Drill{
			Name: "network-latency",
			Description: "Delays every packet podinfo sends by 3s. podinfo's latency SLO sees nothing: its clock runs " +
				"inside the handler. A round trip now takes over 6s, past the kubelet's 5s probe timeout, so the " +
				"pods turn unready (and their liveness probes restart them) and the Service stops sending them " +
				"traffic: slow becomes down.",
			Objects: []Object{{Kind: "NetworkChaos", Resource: "networkchaos", Name: objectName("network-latency"), Spec: &NetworkChaosSpec{
				PodSelector: podinfo(),
				Action:      "delay",
				Direction:   "to",
				Delay:       &DelaySpec{Latency: "3s"},
			}}},
			Alert:    "DemoNotServing",
			Within:   10 * time.Minute,
			Affected: 1,
			// podinfo's chart probes every 10s and gives up after 3 failures.
			Delay: time.Minute,
			Why:   "the probes fail three times 10s apart before the Service drops the pods, within a minute; then the guard needs its 5m window without a request and its 2m for.",
		}),
		expect(Drill{
			Name: "cpu-stress",
			Description: "Runs four CPU stressors at full load inside podinfo's containers, in podinfo's own cgroup: " +
				"podinfo requests little CPU, so it has one of the smallest shares of a busy node, and its handlers " +
				"wait for the CPU between their steps.",
			Objects: []Object{{Kind: "StressChaos", Resource: "stresschaos", Name: objectName("cpu-stress"), Spec: &StressChaosSpec{
				ContainerSelector: ContainerSelector{PodSelector: podinfo()},
				Stressors:         &Stressors{CPU: &CPUStressor{Workers: 4, Load: 100}},
			}}},
			Alert:    "DemoHighLatency",
			Labels:   page(),
			Within:   20 * time.Minute,
			Affected: 0.5,
			Why:      "at least half of podinfo's answers are assumed to take over 250ms while it starves; the 1h window then crosses 14.4 times the 1% budget after 17m17s.",
		}),
		expect(Drill{
			Name: "memory-stress",
			Description: "Fills podinfo's containers with 256MB of stressor memory, more than the practice layer's memory limit, and " +
				"tells the OOM killer to spare the stressor (oom_score_adj -1000), so it kills podinfo instead. " +
				"Whether podinfo then crash-loops or comes back once the stressor is gone is what the drill finds out.",
			Objects: []Object{{Kind: "StressChaos", Resource: "stresschaos", Name: objectName("memory-stress"), Spec: &StressChaosSpec{
				ContainerSelector: ContainerSelector{PodSelector: podinfo()},
				Stressors:         &Stressors{Memory: &MemoryStressor{Workers: 1, Size: "256MB", OOMScoreAdj: -1000}},
			}}},
			Alert:    "DemoNotServing",
			Within:   10 * time.Minute,
			Affected: 1,
			// A crash loop's restarts back off, so the pods spend most of
			// the first minute unready.
			Delay: time.Minute,
			Why:   "assuming podinfo crash-loops, its pods are unready and unscraped within a minute; then the guard needs its 5m window and its 2m for.",
		}),
		expect(Drill{
			Name: "dns-failure",
			Description: "Makes every DNS lookup of the demo's clients (the other pods in its namespace: the load " +
				"generator) fail, then kills podinfo's pods once. Kept-alive connections never look the name up " +
				"again, so DNS failing alone changes nothing until connections are made anew; the kill forces " +
				"that, and the clients cannot find podinfo any more. podinfo's availability SLO stays perfect: no " +
				"request arrives to fail.",
			Objects: []Object{
				{Kind: "DNSChaos", Resource: "dnschaos", Name: objectName("dns-failure"), Spec: &DNSChaosSpec{
					ContainerSelector: ContainerSelector{PodSelector: clients()},
					Action:            "error",
				}},
				{Kind: "PodChaos", Resource: "podchaos", Name: objectName("dns-failure-reconnect"), Spec: &PodChaosSpec{
					ContainerSelector: ContainerSelector{PodSelector: podinfo()},
					Action:            "pod-kill",
				}},
			},
			Alert:    "DemoNotServing",
			Within:   10 * time.Minute,
			Affected: 1,
			// The killed pods come back within a minute, and with them
			// the clients' attempts to reconnect.
			Delay: time.Minute,
			Why:   "the new pods are ready within a minute and receive no request; then the guard needs its 5m window and its 2m for.",
		}),
		expect(Drill{
			Name: "node-drain",
			Description: "Cordons every node pods can be scheduled on, as a maintenance that drained all workers at " +
				"once would, and evicts podinfo's pods and Hubble relay's. podinfo's disruption budget lets one " +
				"pod go and refuses the other, so the demo keeps serving; Hubble relay, one replica without a " +
				"budget, goes Pending with nowhere to run until the drill uncordons the nodes.",
			Drain: &Drain{Evict: []PodSet{
				{Namespace: slo.DemoNamespace, Selector: map[string]string{slo.DemoAppLabel: slo.DemoApp}},
				hubbleRelay(),
			}},
			Alert:     "HubbleRelayDown",
			Dashboard: "sre-lab-cluster-overview",
			Runbook:   rules.RunbookBase + "/cilium.md#hubblerelaydown",
			Within:    12 * time.Minute,
			Affected:  1,
			Why:       "the relay's Deployment has no available replica from the eviction on; the alert then needs its 10m for.",
		}),
	}
}

// expect fills in where an SLO alert leads, its SLO's dashboard and its
// runbook, and gives every Chaos Mesh object a duration past the limit, so
// that a fault whose runner died ends by itself.
func expect(d Drill) Drill {
	if dashboard, ok := slo.DashboardOf(d.Alert); ok {
		d.Dashboard, d.Runbook = dashboard, slo.Runbook(d.Alert)
	}
	duration := (d.Within + deadMansSwitch).String()
	for _, o := range d.Objects {
		switch spec := o.Spec.(type) {
		case *PodChaosSpec:
			spec.Duration = duration
		case *NetworkChaosSpec:
			spec.Duration = duration
		case *StressChaosSpec:
			spec.Duration = duration
		case *DNSChaosSpec:
			spec.Duration = duration
		}
	}
	return d
}

// objectName names a drill's object, so that a leftover says where it
// came from.
func objectName(drill string) string { return "sre-lab-drill-" + drill }

// Find returns the drill called name, or an error listing the known ones.
func Find(name string) (Drill, error) {
	all := All()
	i := slices.IndexFunc(all, func(d Drill) bool { return d.Name == name })
	if i < 0 {
		names := make([]string, len(all))
		for j, d := range all {
			names[j] = d.Name
		}
		return Drill{}, fmt.Errorf("unknown drill %q: known are %s", name, strings.Join(names, ", "))
	}
	return all[i], nil
}

// Expectation is the drill's alert as a person reads it: the name and the
// extra labels, sorted, in PromQL's selector syntax.
func (d Drill) Expectation() string {
	if len(d.Labels) == 0 {
		return d.Alert
	}
	keys := make([]string, 0, len(d.Labels))
	for k := range d.Labels {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, d.Labels[k])
	}
	return d.Alert + "{" + strings.Join(parts, ", ") + "}"
}
