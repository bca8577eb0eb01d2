package render

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// builtin is the API server's own types (client-go's scheme) plus the CRD
// type itself, which the apiextensions server serves.
var builtin = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// strict decodes YAML or JSON into the typed object and reports unknown and
// duplicate fields, which the API server drops (or takes the last of)
// while the value the chart meant is lost.
var strict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, builtin, builtin,
	kjson.SerializerOptions{Yaml: true, Strict: true})

// decoded is one strict decoding, kept: every stack that installs the same
// rendered object shares it, and the checks read it many times.
type decoded struct {
	obj runtime.Object
	ok  bool
	err error
}

var decodedCache sync.Map // sha256 of Raw -> decoded

// typed decodes a built-in object; ok is false for kinds the scheme does
// not serve (custom resources, or APIs the cluster no longer has). The
// result is shared: callers must not modify it.
func typed(o Object) (obj runtime.Object, ok bool, err error) {
	gvk := schema.FromAPIVersionAndKind(o.APIVersion(), o.Kind())
	if !builtin.Recognizes(gvk) {
		return nil, false, nil
	}
	key := sha256.Sum256(o.Raw)
	if d, hit := decodedCache.Load(key); hit {
		d := d.(decoded)
		return d.obj, d.ok, d.err
	}
	obj, _, err = strict.Decode(o.Raw, nil, nil)
	decodedCache.Store(key, decoded{obj: obj, ok: true, err: err})
	return obj, true, err
}

// schema checks every object: built-in kinds decode strictly into their
// k8s.io/api types; custom resources validate against the schema of the
// served version of a CRD that exists when they are applied, and carry no
// field the schema would prune.
func (k *checker) schema() []Problem {
	var out []Problem
	for _, p := range k.objects {
		if p.APIVersion() == "" || p.Kind() == "" {
			out = append(out, k.problem(p, "schema", "no apiVersion or kind"))
			continue
		}
		obj, isBuiltin, err := typed(p.Object)
		if isBuiltin {
			if err != nil {
				out = append(out, k.problem(p, "schema", "%s", oneLine(err)))
			}
			if crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition); ok {
				out = append(out, k.crdUsable(p, crd)...)
			}
			continue
		}
		if builtin.IsGroupRegistered(p.Group()) {
			out = append(out, k.problem(p, "schema", "%s is not served by Kubernetes %s (k8s.io/api has no %s in it)", p.APIVersion(), k.c.KubernetesVersion, p.Kind()))
			continue
		}
		out = append(out, k.customResource(p)...)
	}
	return out
}

// crdUsable checks that a CRD's schemas compile the way the apiextensions
// server needs them to: a CRD whose schema is not structural is refused.
func (k *checker) crdUsable(p placed, crd *apiextensionsv1.CustomResourceDefinition) []Problem {
	var out []Problem
	for _, v := range crd.Spec.Versions {
		if _, err := compiled(crd, v.Name); err != nil {
			out = append(out, k.problem(p, "schema", "version %s: %s", v.Name, oneLine(err)))
		}
	}
	return out
}

// customResource validates one custom resource against the CRD that
// defines it, found among the sources applied before it or in its own
// release's crds/ directory.
func (k *checker) customResource(p placed) []Problem {
	if installer, ok := k.c.RuntimeCRDs[p.Group()]; ok {
		if !before(p.src, installer) && p.src.ID != installer {
			return []Problem{k.problem(p, "schema", "its CRD is registered by %s at runtime, which is not applied before it", installer)}
		}
		return nil
	}
	candidates := k.crds[p.Group()+"/"+p.Kind()]
	if len(candidates) == 0 {
		return []Problem{k.problem(p, "schema", "no chart, manifest or resource of this stack installs a CRD for %s %s", p.APIVersion(), p.Kind())}
	}
	var crd placed
	found := false
	for _, c := range candidates {
		if before(p.src, c.src.ID) || (c.src == p.src && c.CRDDir) {
			crd, found = c, true
			break
		}
	}
	if !found {
		return []Problem{k.problem(p, "schema", "the CRD for %s is installed by %s, which is not applied before it (Helm maps every object of a release before it creates any)",
			p.Kind(), candidates[0].src.Label())}
	}
	obj, isBuiltin, err := typed(crd.Object)
	def, _ := obj.(*apiextensionsv1.CustomResourceDefinition)
	if !isBuiltin || def == nil {
		return []Problem{k.problem(p, "schema", "its CRD does not decode: %v", err)}
	}
	version := strings.TrimPrefix(p.APIVersion(), p.Group()+"/")
	served := false
	for _, v := range def.Spec.Versions {
		if v.Name == version && v.Served {
			served = true
		}
	}
	if !served {
		return []Problem{k.problem(p, "schema", "CRD %s does not serve version %s", def.Name, version)}
	}
	sv, err := compiled(def, version)
	if err != nil {
		return []Problem{k.problem(p, "schema", "CRD %s version %s: %s", def.Name, version, oneLine(err))}
	}
	if sv == nil {
		return nil
	}
	cr, err := deepCopy(p.Map)
	if err != nil {
		return []Problem{k.problem(p, "schema", "%s", oneLine(err))}
	}
	var out []Problem
	for _, e := range validation.ValidateCustomResource(nil, cr, sv.validator) {
		out = append(out, k.problem(p, "schema", "%s", oneLine(e)))
	}
	opts := structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}
	for _, path := range pruning.PruneWithOptions(cr, sv.structural, true, opts) {
		out = append(out, k.problem(p, "schema", "unknown field %q (the API server prunes it)", path))
	}
	return out
}

// compiledVersion is one CRD version's schema, ready to validate with.
type compiledVersion struct {
	validator  validation.SchemaValidator
	structural *structuralschema.Structural
}

var (
	compiledMu    sync.Mutex
	compiledCache = map[*apiextensionsv1.JSONSchemaProps]*compiledVersion{}
)

// compiled turns the openAPIV3Schema of one version of crd into the
// validator and structural schema the apiextensions server builds from it,
// once per distinct schema; nil when the version has no schema.
func compiled(crd *apiextensionsv1.CustomResourceDefinition, version string) (*compiledVersion, error) {
	var v1schema *apiextensionsv1.JSONSchemaProps
	for _, v := range crd.Spec.Versions {
		if v.Name == version && v.Schema != nil {
			v1schema = v.Schema.OpenAPIV3Schema
		}
	}
	if v1schema == nil {
		return nil, nil
	}
	// The decoded CRDs are shared (see typed), so one schema is one pointer.
	key := v1schema
	compiledMu.Lock()
	defer compiledMu.Unlock()
	if c, ok := compiledCache[key]; ok {
		return c, nil
	}
	var internal apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1schema, &internal, nil); err != nil {
		return nil, err
	}
	validator, _, err := validation.NewSchemaValidator(&internal)
	if err != nil {
		return nil, err
	}
	structural, err := structuralschema.NewStructural(&internal)
	if err != nil {
		return nil, fmt.Errorf("schema is not structural: %w", err)
	}
	c := &compiledVersion{validator: validator, structural: structural}
	compiledCache[key] = c
	return c, nil
}

// oneLine keeps a problem on its line.
func oneLine(v any) string {
	return strings.Join(strings.Fields(fmt.Sprint(v)), " ")
}
