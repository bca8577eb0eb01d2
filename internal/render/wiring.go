package render

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// wiring checks that objects which name other objects find them: monitors
// select a rendered Service or pod with the port they scrape, Ingress and
// HTTPRoute backends name a Service and one of its ports, in-cluster URLs
// the program writes (datasources, the log push address) name a Service
// and port, node-level endpoints are a Service's cluster IP and port, and
// pods that reach the API at the node use Talos's KubePrism port.
func (k *checker) wiring() []Problem {
	var out []Problem
	for _, p := range k.objects {
		switch {
		case p.Group() == "monitoring.coreos.com" && p.Kind() == "ServiceMonitor":
			out = append(out, k.serviceMonitor(p)...)
		case p.Group() == "monitoring.coreos.com" && p.Kind() == "PodMonitor":
			out = append(out, k.podMonitor(p)...)
		case p.Group() == "networking.k8s.io" && p.Kind() == "Ingress":
			out = append(out, k.ingress(p)...)
		case p.Group() == "gateway.networking.k8s.io" && p.Kind() == "HTTPRoute":
			out = append(out, k.httpRoute(p)...)
		}
	}
	out = append(out, k.urls()...)
	out = append(out, k.endpoints()...)
	out = append(out, k.kubePrism()...)
	return out
}

// kubePrism checks the pods that reach the API server at the node itself,
// as Cilium must before any Service works: the port they are given has to
// be one Talos serves KubePrism on, or they never start.
func (k *checker) kubePrism() []Problem {
	var out []Problem
	for _, p := range k.objects {
		obj, isBuiltin, err := typed(p.Object)
		if !isBuiltin || err != nil {
			continue
		}
		_, spec, ok := podTemplate(obj)
		if !ok {
			continue
		}
		for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
			host, port := env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]
			if host != "localhost" && host != "127.0.0.1" {
				continue
			}
			if n, err := strconv.Atoi(port); err != nil || !slices.Contains(k.c.KubePrismPorts, n) {
				out = append(out, k.problem(p, "wiring", "container %s reaches the API at %s:%s, but Talos serves KubePrism on %v",
					c.Name, host, port, k.c.KubePrismPorts))
			}
		}
	}
	return out
}

// service is one Service with the parts the checks read.
type service struct {
	placed
	svc *corev1.Service
}

func (k *checker) services() []service {
	var out []service
	for _, p := range k.objects {
		if p.Kind() != "Service" || len(p.Hook) > 0 {
			continue
		}
		obj, ok, err := typed(p.Object)
		if !ok || err != nil {
			continue
		}
		out = append(out, service{placed: p, svc: obj.(*corev1.Service)})
	}
	return out
}

func (k *checker) service(namespace, name string) *service {
	for _, s := range k.services() {
		if s.namespace == namespace && s.Name() == name {
			return &s
		}
	}
	return nil
}

// selector decodes a LabelSelector field; nil when absent.
func selector(v any) (labels.Selector, error) {
	m, _ := v.(map[string]any)
	if m == nil {
		return labels.Everything(), nil
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err != nil {
		return nil, err
	}
	return metav1.LabelSelectorAsSelector(&ls)
}

// monitorNamespaces is a monitor's namespaceSelector: any, a list, or (when
// absent) its own namespace.
func monitorNamespaces(p placed) func(string) bool {
	ns, _ := dig(p.Map, "spec", "namespaceSelector").(map[string]any)
	if any, _ := ns["any"].(bool); any {
		return func(string) bool { return true }
	}
	if names, ok := ns["matchNames"].([]any); ok && len(names) > 0 {
		return func(n string) bool { return slices.Contains(names, any(n)) }
	}
	return func(n string) bool { return n == p.namespace }
}

// serviceMonitor checks that a ServiceMonitor selects at least one Service
// and that every endpoint's named port exists on one of them.
func (k *checker) serviceMonitor(p placed) []Problem {
	sel, err := selector(dig(p.Map, "spec", "selector"))
	if err != nil {
		return []Problem{k.problem(p, "wiring", "selector: %s", err)}
	}
	inNS := monitorNamespaces(p)
	var matched []service
	for _, s := range k.services() {
		if inNS(s.namespace) && sel.Matches(labels.Set(s.svc.Labels)) {
			matched = append(matched, s)
		}
	}
	if len(matched) == 0 {
		return []Problem{k.problem(p, "wiring", "selects no Service any source of this stack renders (selector %s)", sel)}
	}
	var out []Problem
	endpoints, _ := dig(p.Map, "spec", "endpoints").([]any)
	for _, e := range endpoints {
		port := str(e.(map[string]any), "port")
		if port == "" {
			continue
		}
		if !slices.ContainsFunc(matched, func(s service) bool {
			return slices.ContainsFunc(s.svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == port })
		}) {
			out = append(out, k.problem(p, "wiring", "scrapes port %q, which no Service it selects (%s) names", port, refs(matched)))
		}
	}
	return out
}

// podMonitor checks that a PodMonitor selects a pod template some source
// renders and that its named ports are container ports of those pods.
func (k *checker) podMonitor(p placed) []Problem {
	sel, err := selector(dig(p.Map, "spec", "selector"))
	if err != nil {
		return []Problem{k.problem(p, "wiring", "selector: %s", err)}
	}
	inNS := monitorNamespaces(p)
	var ports []string
	matched := 0
	for _, o := range k.objects {
		if !inNS(o.namespace) {
			continue
		}
		obj, ok, err := typed(o.Object)
		if !ok || err != nil {
			continue
		}
		meta, spec, ok := podTemplate(obj)
		if !ok || !sel.Matches(labels.Set(meta.Labels)) {
			continue
		}
		matched++
		for _, c := range spec.Containers {
			for _, cp := range c.Ports {
				ports = append(ports, cp.Name)
			}
		}
	}
	if matched == 0 {
		return []Problem{k.problem(p, "wiring", "selects no pod any source of this stack renders (selector %s)", sel)}
	}
	var out []Problem
	endpoints, _ := dig(p.Map, "spec", "podMetricsEndpoints").([]any)
	for _, e := range endpoints {
		port := str(e.(map[string]any), "port")
		if port != "" && !slices.Contains(ports, port) {
			out = append(out, k.problem(p, "wiring", "scrapes port %q, which no container of the pods it selects names", port))
		}
	}
	return out
}

// backend checks one Service backend: the Service exists in namespace and
// has the port, by name or number.
func (k *checker) backend(p placed, namespace, name, portName string, portNumber int) []Problem {
	s := k.service(namespace, name)
	if s == nil {
		return []Problem{k.problem(p, "wiring", "backend Service %s/%s is not rendered by any source of this stack", namespace, name)}
	}
	for _, sp := range s.svc.Spec.Ports {
		if (portName != "" && sp.Name == portName) || (portNumber != 0 && int(sp.Port) == portNumber) {
			return nil
		}
	}
	want := portName
	if want == "" {
		want = strconv.Itoa(portNumber)
	}
	return []Problem{k.problem(p, "wiring", "backend Service %s/%s has no port %s", namespace, name, want)}
}

func (k *checker) ingress(p placed) []Problem {
	var out []Problem
	check := func(b any) {
		svc, _ := dig(asMap(b), "service").(map[string]any)
		if svc == nil {
			return
		}
		port := asMap(svc["port"])
		out = append(out, k.backend(p, p.namespace, str(svc, "name"), str(port, "name"), toInt(port["number"]))...)
	}
	if b := dig(p.Map, "spec", "defaultBackend"); b != nil {
		check(b)
	}
	rules, _ := dig(p.Map, "spec", "rules").([]any)
	for _, r := range rules {
		paths, _ := dig(asMap(r), "http", "paths").([]any)
		for _, path := range paths {
			check(asMap(path)["backend"])
		}
	}
	return out
}

func (k *checker) httpRoute(p placed) []Problem {
	var out []Problem
	rules, _ := dig(p.Map, "spec", "rules").([]any)
	for _, r := range rules {
		refs, _ := asMap(r)["backendRefs"].([]any)
		for _, ref := range refs {
			m := asMap(ref)
			if kind := str(m, "kind"); kind != "" && kind != "Service" {
				continue
			}
			ns := str(m, "namespace")
			if ns == "" {
				ns = p.namespace
			}
			out = append(out, k.backend(p, ns, str(m, "name"), "", toInt(m["port"]))...)
		}
	}
	return out
}

// serviceURL matches an in-cluster Service address: scheme, name,
// namespace, the svc domain and an optional port.
var serviceURL = regexp.MustCompile(`\b(https?|grpc|tcp)://([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?(:([0-9]+))?`)

// urls checks every in-cluster Service URL the program writes itself (its
// raw objects and the values it hands each release), which is where the
// datasource and log push addresses live; a chart's own defaults are the
// chart's business.
func (k *checker) urls() []Problem {
	var out []Problem
	seen := map[string]bool{}
	for _, s := range k.c.Sources {
		var texts []string
		if s.Chart.Name == "" {
			for _, o := range s.Objects {
				texts = append(texts, allStrings(o.Map)...)
			}
		} else {
			texts = allStrings(s.Values)
		}
		for _, text := range texts {
			for _, m := range serviceURL.FindAllStringSubmatch(text, -1) {
				key := s.ID + " " + m[0]
				if seen[key] {
					continue
				}
				seen[key] = true
				port := toInt(m[8])
				if port == 0 {
					port = map[string]int{"http": 80, "https": 443}[m[1]]
				}
				p := placed{Object: Object{Map: map[string]any{"kind": "URL", "metadata": map[string]any{"name": m[0]}}}, src: s}
				out = append(out, k.backend(p, m[4], m[2], "", port)...)
			}
		}
	}
	return out
}

// endpoints checks each node-level endpoint against the Services' fixed
// cluster IPs.
func (k *checker) endpoints() []Problem {
	var out []Problem
	for _, e := range k.c.Endpoints {
		found := false
		for _, s := range k.services() {
			if s.svc.Spec.ClusterIP != e.IP {
				continue
			}
			for _, sp := range s.svc.Spec.Ports {
				if int(sp.Port) == e.Port {
					found = true
				}
			}
		}
		if !found {
			out = append(out, Problem{Stack: k.c.Stack, Source: e.What, Object: fmt.Sprintf("%s:%d", e.IP, e.Port), Check: "wiring",
				Message: "no rendered Service has this cluster IP and port"})
		}
	}
	return out
}

func refs(ss []service) string {
	var names []string
	for _, s := range ss {
		names = append(names, s.ref())
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

// allStrings collects every string inside v.
func allStrings(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case map[string]any:
		var out []string
		for _, e := range t {
			out = append(out, allStrings(e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range t {
			out = append(out, allStrings(e)...)
		}
		return out
	}
	return nil
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func toInt(v any) int {
	switch t := v.(type) {
	case int:
		return t
	case int64:
		return int(t)
	case float64:
		return int(t)
	case string:
		n, _ := strconv.Atoi(t)
		return n
	}
	return 0
}
