// Package render turns the lab's Helm releases into the objects a cluster
// would receive, with Helm's own install code and the pinned chart
// archives, and checks those objects (and the program's raw resources) the
// way Kubernetes and Helm will: strict typed decoding and CRD schemas, Pod
// Security admission, what Helm waits for, and how the pieces name each
// other. The program's tests hand it what they saw under mocks.
package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/internal/charts"
)

// Object is one Kubernetes object as the cluster would receive it.
type Object struct {
	// Map is the object decoded from YAML.
	Map map[string]any
	// Raw is the YAML (or JSON) document it came from, kept for strict
	// decoding, which must see duplicate keys the map has already merged.
	Raw []byte
	// Hook lists the Helm hook events that create it; empty for ordinary
	// objects.
	Hook []string
	// Weight is the hook's weight, which orders hooks of one event.
	Weight int
	// CRDDir marks a CRD from a chart's crds/ directory, which Helm
	// installs before it renders anything else.
	CRDDir bool
	// Template is the chart file it came from, for messages.
	Template string
}

// APIVersion is the object's apiVersion.
func (o Object) APIVersion() string { return str(o.Map, "apiVersion") }

// Kind is the object's kind.
func (o Object) Kind() string { return str(o.Map, "kind") }

// Name is metadata.name.
func (o Object) Name() string { return str(o.Map, "metadata", "name") }

// Namespace is metadata.namespace as written; see Source.namespaceOf for
// the one the object lands in.
func (o Object) Namespace() string { return str(o.Map, "metadata", "namespace") }

// Labels are metadata.labels.
func (o Object) Labels() map[string]string { return strMap(o.Map, "metadata", "labels") }

// Annotations are metadata.annotations.
func (o Object) Annotations() map[string]string { return strMap(o.Map, "metadata", "annotations") }

// Group is the API group of apiVersion; empty for the core group.
func (o Object) Group() string {
	gv := o.APIVersion()
	if i := strings.Index(gv, "/"); i >= 0 {
		return gv[:i]
	}
	return ""
}

// Renderer renders charts from one cache directory, each distinct render
// once per process: the same chart, release and values at the same API
// versions always give the same objects.
type Renderer struct {
	dirs        []string
	lock        charts.Lock
	kubeVersion *chartutil.KubeVersion

	mu          sync.Mutex
	archives    map[string][]byte
	renders     map[string]*renderResult
	runtimeCRDs map[string][]Object
}

type renderResult struct {
	once    sync.Once
	objects []Object
	crdGVs  []string
	err     error
}

// NewRenderer renders the archives found in dirs (see charts.CacheDirs),
// checked against lock, for a cluster at kubeVersion (such as "1.35.0").
func NewRenderer(dirs []string, lock charts.Lock, kubeVersion string) (*Renderer, error) {
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, fmt.Errorf("kube version %q: %w", kubeVersion, err)
	}
	return &Renderer{dirs: dirs, lock: lock, kubeVersion: kv, archives: map[string][]byte{}, renders: map[string]*renderResult{}, runtimeCRDs: map[string][]Object{}}, nil
}

// ForLab renders the lab's archives: found on the cache search path
// (charts.CacheDirs), checked against the committed lock, for the pinned
// Kubernetes version.
func ForLab() (*Renderer, error) {
	dirs, err := charts.CacheDirs()
	if err != nil {
		return nil, err
	}
	lock, err := charts.LoadLock()
	if err != nil {
		return nil, err
	}
	return NewRenderer(dirs, lock, config.DefaultKubernetesVersion)
}

// archive returns the verified bytes of c's archive, read once.
func (r *Renderer) archive(c config.Chart) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.archives[c.Name+"@"+c.Version]; ok {
		return b, nil
	}
	path, err := r.lock.Search(r.dirs, c)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r.archives[c.Name+"@"+c.Version] = b
	return b, nil
}

// Missing returns the charts among cs whose archive is not in the cache, so
// a caller can skip (or fail) once, naming them, before rendering anything.
func (r *Renderer) Missing(cs []config.Chart) ([]string, error) {
	var missing []string
	for _, c := range cs {
		if _, err := r.lock.Search(r.dirs, c); err != nil {
			if isMissing(err) {
				missing = append(missing, charts.FileName(c))
				continue
			}
			return nil, err
		}
	}
	sort.Strings(missing)
	return missing, nil
}

// Manifest returns the objects of a plain manifest archive (Gateway API's
// install file), as the Kubernetes provider applies it.
func (r *Renderer) Manifest(c config.Chart) ([]Object, error) {
	b, err := r.archive(c)
	if err != nil {
		return nil, err
	}
	return splitDocs(string(b), charts.FileName(c), nil, 0)
}

// RuntimeCRDs returns the CRDs c's controller registers when it starts, as
// the lock sources them (charts.Entry.RuntimeCRDs), read once; nil when the
// chart has none. Add them to the source that installs the controller so
// that objects of their kinds are checked against their schemas, not only
// for order (Cluster.RuntimeCRDs).
func (r *Renderer) RuntimeCRDs(c config.Chart) ([]Object, error) {
	e, err := r.lock.Entry(c)
	if err != nil || e.RuntimeCRDs == nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := "crds:" + c.Name + "@" + c.Version
	if objects, ok := r.runtimeCRDs[key]; ok {
		return objects, nil
	}
	files, err := e.RuntimeCRDs.Files()
	if err != nil {
		return nil, fmt.Errorf("runtime CRDs of %s %s: %w", c.Name, c.Version, err)
	}
	var objects []Object
	for _, f := range files {
		docs, err := splitDocs(string(f), e.RuntimeCRDs.Path+"/"+e.RuntimeCRDs.Dir, nil, 0)
		if err != nil {
			return nil, err
		}
		objects = append(objects, docs...)
	}
	r.runtimeCRDs[key] = objects
	return objects, nil
}

// Render installs c as release name in namespace with values, the way the
// Kubernetes provider's Helm release does (helm action.Install, client
// side, dry run): values are checked against the chart's schema, hooks are
// rendered, and apiVersions (CRD group versions that exist before the
// release) join the built-in ones in .Capabilities. It returns the
// release's objects, its hooks and its crds/ CRDs.
func (r *Renderer) Render(c config.Chart, name, namespace string, values map[string]any, apiVersions []string) ([]Object, error) {
	key, err := json.Marshal([]any{c, name, namespace, values, apiVersions})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	res, ok := r.renders[string(key)]
	if !ok {
		res = &renderResult{}
		r.renders[string(key)] = res
	}
	r.mu.Unlock()
	res.once.Do(func() {
		res.objects, res.crdGVs, res.err = r.render(c, name, namespace, values, apiVersions)
		if res.err != nil {
			return
		}
		// Helm installs the crds/ directory before it asks the cluster
		// what it serves, so a chart sees its own CRDs' versions: render
		// again with them when the first pass did not include them.
		if extra := missingFrom(res.crdGVs, apiVersions); len(extra) > 0 {
			res.objects, _, res.err = r.render(c, name, namespace, values, append(append([]string{}, apiVersions...), extra...))
		}
	})
	return res.objects, res.err
}

func missingFrom(want, have []string) []string {
	set := map[string]bool{}
	for _, h := range have {
		set[h] = true
	}
	var out []string
	for _, w := range want {
		if !set[w] {
			out = append(out, w)
		}
	}
	return out
}

func (r *Renderer) render(c config.Chart, name, namespace string, values map[string]any, apiVersions []string) ([]Object, []string, error) {
	b, err := r.archive(c)
	if err != nil {
		return nil, nil, err
	}
	// Install trims disabled subcharts from the chart it is given, so every
	// render loads its own copy.
	chrt, err := loader.LoadArchive(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", charts.FileName(c), err)
	}
	vals, err := deepCopy(values)
	if err != nil {
		return nil, nil, err
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.ReleaseName = name
	install.Namespace = namespace
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.KubeVersion = r.kubeVersion
	install.APIVersions = apiVersions
	install.DisableOpenAPIValidation = true
	rel, err := install.Run(chrt, vals)
	if err != nil {
		return nil, nil, fmt.Errorf("render %s %s: %w", c.Name, c.Version, err)
	}
	objects, err := splitDocs(rel.Manifest, "", nil, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("render %s: %w", c.Name, err)
	}
	for _, h := range rel.Hooks {
		events := make([]string, 0, len(h.Events))
		for _, e := range h.Events {
			events = append(events, string(e))
		}
		hooked, err := splitDocs(h.Manifest, h.Path, events, h.Weight)
		if err != nil {
			return nil, nil, fmt.Errorf("render %s hook %s: %w", c.Name, h.Path, err)
		}
		objects = append(objects, hooked...)
	}
	var gvs []string
	for _, crd := range crdObjects(chrt) {
		docs, err := splitDocs(string(crd.File.Data), crd.Filename, nil, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("render %s crds: %w", c.Name, err)
		}
		for _, d := range docs {
			d.CRDDir = true
			objects = append(objects, d)
			gvs = append(gvs, crdGroupVersions(d)...)
		}
	}
	return objects, gvs, nil
}

// crdObjects are the crds/ files of the chart and the subcharts Install
// kept.
func crdObjects(c *chart.Chart) []chart.CRD {
	return c.CRDObjects()
}

// splitDocs splits a multi-document manifest into objects, dropping empty
// documents as Helm does.
func splitDocs(manifest, template string, hook []string, weight int) ([]Object, error) {
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	// SplitManifests names documents manifest-0, manifest-1...: keep the
	// file's order.
	sort.Slice(keys, func(i, j int) bool { return manifestIndex(keys[i]) < manifestIndex(keys[j]) })
	var out []Object
	for _, k := range keys {
		doc := docs[k]
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("%s: %w", sourceOf(doc, template), err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, Object{Map: m, Raw: []byte(doc), Hook: hook, Weight: weight, Template: sourceOf(doc, template)})
	}
	return out, nil
}

func manifestIndex(key string) int {
	var n int
	if _, err := fmt.Sscanf(strings.TrimPrefix(key, "manifest-"), "%d", &n); err != nil {
		return 0
	}
	return n
}

// sourceOf reads Helm's "# Source: chart/templates/x.yaml" comment.
func sourceOf(doc, fallback string) string {
	for line := range strings.Lines(doc) {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "# Source: "); ok {
			return s
		}
	}
	return fallback
}

// crdGroupVersions are the "group/version" and "group/version/Kind" names a
// served CRD adds to discovery, as Helm's capabilities list them.
func crdGroupVersions(o Object) []string {
	if o.Kind() != "CustomResourceDefinition" {
		return nil
	}
	group := str(o.Map, "spec", "group")
	kind := str(o.Map, "spec", "names", "kind")
	var out []string
	versions, _ := dig(o.Map, "spec", "versions").([]any)
	for _, v := range versions {
		vm, _ := v.(map[string]any)
		if served, _ := vm["served"].(bool); !served {
			continue
		}
		gv := group + "/" + fmt.Sprint(vm["name"])
		out = append(out, gv, gv+"/"+kind)
	}
	return out
}

func deepCopy(values map[string]any) (map[string]any, error) {
	if values == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(values)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	err = json.Unmarshal(b, &out)
	return out, err
}

func dig(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func str(m map[string]any, path ...string) string {
	s, _ := dig(m, path...).(string)
	return s
}

func strMap(m map[string]any, path ...string) map[string]string {
	raw, _ := dig(m, path...).(map[string]any)
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}
