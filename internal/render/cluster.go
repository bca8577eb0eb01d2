package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/internal/charts"
)

// Source is one thing that puts objects into the cluster: a Helm release,
// a plain manifest, or a raw resource the program registers.
type Source struct {
	// ID names the source among the cluster's sources (the root tests use
	// "type::name", as their dependency walk does).
	ID string
	// Release is the Helm release name; empty for anything else.
	Release string
	// Namespace is where the source's namespaced objects go when they do
	// not name one.
	Namespace string
	// Chart is the pinned chart of a release or manifest.
	Chart config.Chart
	// Manifest marks a plain manifest (Gateway API's install file).
	Manifest bool
	// Values are the release's values, exactly as the program registers them.
	Values map[string]any
	// Waits is true when Helm waits for the release's objects to be ready
	// (the release does not skip the await).
	Waits bool
	// Before holds the IDs of the sources that exist before this one is
	// applied: everything it depends on, directly or not.
	Before map[string]bool
	// Objects are a raw source's objects; for releases and manifests,
	// Build fills them in.
	Objects []Object
}

// Label names the source in messages: the release, or the resource.
func (s *Source) Label() string {
	if s.Release != "" {
		return "release " + s.Release
	}
	return s.ID
}

// Cluster is everything one stack puts into the cluster.
type Cluster struct {
	// Stack names the stack (and backend) in messages, such as "dev on gcp".
	Stack string
	// Sources are the releases, manifests and raw resources.
	Sources []*Source
	// CNI is the ID of the source that gives pods their network.
	CNI string
	// RuntimeCRDs maps API groups whose CRDs no chart or manifest ships to
	// the source whose controller registers them when it starts; objects
	// of those groups are checked for order only, as no schema exists
	// offline.
	RuntimeCRDs map[string]string
	// Endpoints are addresses something outside Kubernetes (Talos) sends
	// to; each must be a rendered Service's cluster IP and port.
	Endpoints []Endpoint
	// KubePrismPorts are the ports Talos serves KubePrism on, the
	// node-local API endpoint, read from the machine configs applied; a pod
	// that reaches the API at localhost must use one of them.
	KubePrismPorts []int
	// KubernetesVersion is the cluster's, such as "1.35.0": the Pod
	// Security checks run as that API server's.
	KubernetesVersion string
	// PodSecurity is what the API server enforces where a namespace has no
	// label (see TalosPodSecurity).
	PodSecurity PodSecurityDefaults
}

// kubeMajorMinor is the cluster's major and minor version.
func (c *Cluster) kubeMajorMinor() (int, int) {
	var major, minor int
	if _, err := fmt.Sscanf(strings.TrimPrefix(c.KubernetesVersion, "v"), "%d.%d", &major, &minor); err != nil {
		return 0, 0
	}
	return major, minor
}

// Endpoint is an address and port a node-level client is configured with.
type Endpoint struct {
	// What says who uses it, for messages.
	What string
	// IP is the address it sends to.
	IP string
	// Port is the port it sends to.
	Port int
}

// Problem is one thing the cluster would refuse, or one wait that would
// never end.
type Problem struct {
	// Stack is the cluster's label.
	Stack string
	// Source is the release or resource the object came from.
	Source string
	// Object is kind/namespace/name (kind/name when cluster-scoped).
	Object string
	// Check names the check that failed: schema, pod-security, readiness,
	// wiring.
	Check   string
	Message string
}

// String is the problem on one line.
func (p Problem) String() string {
	return fmt.Sprintf("%s: %s: %s: %s: %s", p.Stack, p.Source, p.Object, p.Check, p.Message)
}

func isMissing(err error) bool { return errors.Is(err, charts.ErrMissing) }

// Charts returns the charts c's releases and manifests need.
func (c *Cluster) Charts() []config.Chart {
	seen := map[config.Chart]bool{}
	var out []config.Chart
	for _, s := range c.Sources {
		if s.Chart.Name != "" && !seen[s.Chart] {
			seen[s.Chart] = true
			out = append(out, s.Chart)
		}
	}
	return out
}

// Build renders every release and manifest of c with r, each after the
// sources before it so that its capabilities list the CRDs they
// installed. Independent releases render in parallel.
func (r *Renderer) Build(c *Cluster) error {
	byID := c.byID()
	for _, s := range c.Sources {
		for id := range s.Before {
			if id == s.ID {
				return fmt.Errorf("%s: %s comes before itself", c.Stack, id)
			}
		}
	}
	done := map[string]bool{}
	for _, s := range c.Sources {
		if s.Chart.Name == "" {
			done[s.ID] = true
		}
	}
	for {
		var wave []*Source
		for _, s := range c.Sources {
			if done[s.ID] {
				continue
			}
			ready := true
			for id := range s.Before {
				if _, known := byID[id]; known && !done[id] {
					ready = false
				}
			}
			if ready {
				wave = append(wave, s)
			}
		}
		if len(wave) == 0 {
			break
		}
		errs := make([]error, len(wave))
		var wg sync.WaitGroup
		for i, s := range wave {
			apiVersions := c.crdVersionsBefore(s)
			wg.Go(func() {
				if s.Manifest {
					s.Objects, errs[i] = r.Manifest(s.Chart)
				} else {
					s.Objects, errs[i] = r.Render(s.Chart, s.Release, s.Namespace, s.Values, apiVersions)
				}
			})
		}
		wg.Wait()
		for i, s := range wave {
			if errs[i] != nil {
				return fmt.Errorf("%s: %s: %w", c.Stack, s.Label(), errs[i])
			}
			done[s.ID] = true
		}
	}
	for _, s := range c.Sources {
		if !done[s.ID] {
			return fmt.Errorf("%s: %s waits for a source that never renders", c.Stack, s.Label())
		}
	}
	return nil
}

// crdVersionsBefore is what discovery would list, beyond the built-in
// APIs, when s is applied: the served versions of every CRD an earlier
// source installed.
func (c *Cluster) crdVersionsBefore(s *Source) []string {
	set := map[string]bool{}
	for _, o := range c.Sources {
		if !s.Before[o.ID] {
			continue
		}
		for _, obj := range o.Objects {
			for _, gv := range crdGroupVersions(obj) {
				set[gv] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for gv := range set {
		out = append(out, gv)
	}
	sort.Strings(out)
	return out
}

func (c *Cluster) byID() map[string]*Source {
	m := make(map[string]*Source, len(c.Sources))
	for _, s := range c.Sources {
		m[s.ID] = s
	}
	return m
}

// placed is an object with where it came from and where it lands.
type placed struct {
	Object
	src       *Source
	namespace string
}

func (p placed) ref() string {
	if p.namespace == "" {
		return p.Kind() + "/" + p.Name()
	}
	return p.Kind() + "/" + p.namespace + "/" + p.Name()
}

// Check runs every check on a built cluster and returns its problems,
// sorted, one per line's worth.
func Check(c *Cluster) []Problem {
	k := newChecker(c)
	var out []Problem
	out = append(out, k.schema()...)
	out = append(out, k.podSecurity()...)
	out = append(out, k.readiness()...)
	out = append(out, k.wiring()...)
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// checker holds one cluster's objects, indexed for the checks.
type checker struct {
	c       *Cluster
	objects []placed
	crds    map[string][]placed // "group/Kind" -> CRDs defining it
}

func newChecker(c *Cluster) *checker {
	k := &checker{c: c, crds: map[string][]placed{}}
	for _, s := range c.Sources {
		for _, o := range s.Objects {
			if o.Kind() == "CustomResourceDefinition" {
				key := str(o.Map, "spec", "group") + "/" + str(o.Map, "spec", "names", "kind")
				k.crds[key] = append(k.crds[key], placed{Object: o, src: s})
			}
		}
	}
	sources := append([]*Source{}, c.Sources...)
	if made := clusterMade(c.Sources); len(made) > 0 {
		sources = append(sources, &Source{ID: "created by the cluster", Objects: made})
	}
	for _, s := range sources {
		for _, o := range s.Objects {
			k.objects = append(k.objects, placed{Object: o, src: s, namespace: k.namespaceOf(s, o)})
		}
	}
	return k
}

// clusterMade are the objects controllers create rather than any source:
// the API server's own Service (default/kubernetes, which it keeps in
// step with its address), and the kubelet Service the Prometheus
// Operator maintains when a rendered operator is started with
// --kubelet-service (prometheus-operator pkg/kubelet: its labels and
// ports are fixed there). Monitors select them, so wiring must see them.
func clusterMade(sources []*Source) []Object {
	out := []Object{serviceObject("default", "kubernetes",
		map[string]any{"component": "apiserver", "provider": "kubernetes"},
		map[string]any{"name": "https", "port": 443, "protocol": "TCP"})}
	for _, s := range sources {
		for _, o := range s.Objects {
			obj, ok, err := typed(o)
			if !ok || err != nil {
				continue
			}
			_, spec, ok := podTemplate(obj)
			if !ok {
				continue
			}
			for _, c := range spec.Containers {
				for _, arg := range c.Args {
					ref, found := strings.CutPrefix(arg, "--kubelet-service=")
					ns, name, slash := strings.Cut(ref, "/")
					if !found || !slash {
						continue
					}
					out = append(out, serviceObject(ns, name,
						map[string]any{"app.kubernetes.io/name": "kubelet", "k8s-app": "kubelet", "app.kubernetes.io/managed-by": "prometheus-operator"},
						map[string]any{"name": "https-metrics", "port": 10250},
						map[string]any{"name": "http-metrics", "port": 10255},
						map[string]any{"name": "cadvisor", "port": 4194}))
				}
			}
		}
	}
	return out
}

// serviceObject is a ClusterIP Service object as a controller would create it.
func serviceObject(namespace, name string, labels map[string]any, ports ...map[string]any) Object {
	ps := make([]any, len(ports))
	for i, p := range ports {
		ps[i] = p
	}
	o, _ := RawObject(map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": name, "namespace": namespace, "labels": labels},
		"spec":     map[string]any{"ports": ps},
	})
	return o
}

// namespaceOf is where o lands: nowhere for cluster-scoped kinds, else its
// own namespace or the release's (Helm's client fills it in).
func (k *checker) namespaceOf(s *Source, o Object) string {
	if k.clusterScoped(o) {
		return ""
	}
	if ns := o.Namespace(); ns != "" {
		return ns
	}
	if s.Namespace != "" {
		return s.Namespace
	}
	return "default"
}

func (k *checker) clusterScoped(o Object) bool {
	if builtin.IsGroupRegistered(o.Group()) {
		return clusterScopedKinds[o.Kind()]
	}
	for _, crd := range k.crds[o.Group()+"/"+o.Kind()] {
		return str(crd.Map, "spec", "scope") == "Cluster"
	}
	return false
}

// clusterScopedKinds are the built-in kinds without a namespace.
var clusterScopedKinds = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "ClusterRole": true,
	"ClusterRoleBinding": true, "CustomResourceDefinition": true, "StorageClass": true,
	"PriorityClass": true, "ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"MutatingAdmissionPolicy": true, "MutatingAdmissionPolicyBinding": true,
	"APIService": true, "CSIDriver": true, "CSINode": true, "IngressClass": true, "RuntimeClass": true,
	"VolumeAttachment": true, "VolumeAttributesClass": true, "FlowSchema": true,
	"PriorityLevelConfiguration": true, "CertificateSigningRequest": true, "DeviceClass": true,
}

func (k *checker) problem(p placed, check, format string, args ...any) Problem {
	return Problem{Stack: k.c.Stack, Source: p.src.Label(), Object: p.ref(), Check: check, Message: fmt.Sprintf(format, args...)}
}

// before reports whether the source with id exists when s is applied.
func before(s *Source, id string) bool { return s.Before[id] }

// RawObject is an object the program registers itself, as the provider
// sends it (JSON, so strict decoding sees the fields exactly).
func RawObject(m map[string]any) (Object, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return Object{}, err
	}
	return Object{Map: m, Raw: b}, nil
}

// ParseEndpoint reads a node-level endpoint URL such as
// "tcp://10.96.0.20:6050/".
func ParseEndpoint(what, raw string) (Endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Endpoint{}, fmt.Errorf("%s %q: %w", what, raw, err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return Endpoint{}, fmt.Errorf("%s %q: no port", what, raw)
	}
	return Endpoint{What: what, IP: u.Hostname(), Port: port}, nil
}
