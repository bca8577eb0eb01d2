package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/assert"
	"gopkg.in/yaml.v3"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/internal/charts"
	"github.com/your-org/sre-lab/internal/pulumitest"
	"github.com/your-org/sre-lab/internal/render"
	"github.com/your-org/sre-lab/kube/cilium"
	"github.com/your-org/sre-lab/kube/namespaces"
)

// The rendered-objects tier: every stack's releases rendered by Helm from
// the pinned archives, with the program's raw resources beside them, and
// checked the way the API server, Pod Security admission and Helm's wait
// will (internal/render).

const (
	releaseToken    = "kubernetes:helm.sh/v3:Release"
	configFileToken = "kubernetes:yaml/v2:ConfigFile"
	applyToken      = "talos:machine/configurationApply:ConfigurationApply"
	bootstrapToken  = "talos:machine/bootstrap:Bootstrap"
)

// renderStack is one stack file on one backend.
type renderStack struct {
	label string
	stack string
	on    map[string]string
}

// renderStacks are every stack file on every backend it can use, plus the
// optional charts (External Secrets, Promtail) so that every pinned archive
// is rendered by some stack. The practice layer is on by default in local
// and dev, so their stacks render it; staging, where it is off by default,
// renders it once turned on, on three control planes and two workers.
var renderStacks = func() []renderStack {
	out := []renderStack{{"local", "local", nil}, {"local on docker", "local", onDocker}}
	for _, stack := range []string{"dev", "staging", "prod"} {
		out = append(out,
			renderStack{stack + " on aws", stack, nil},
			renderStack{stack + " on gcp", stack, onGCP},
			renderStack{stack + " on azure", stack, onAzure},
			renderStack{stack + " on hetzner", stack, onHetzner})
	}
	return append(out,
		renderStack{"staging on aws with external-secrets", "staging", map[string]string{"sre-lab:" + config.KeySecrets: config.SecretsExternal}},
		renderStack{"local with promtail", "local", map[string]string{"sre-lab:" + config.KeyLogCollector: config.CollectorPromtail}},
		renderStack{"staging on aws with practice", "staging", map[string]string{"sre-lab:" + config.KeyPractice: "true"}})
}()

var (
	rendererOnce sync.Once
	renderer     *render.Renderer
	rendererErr  error
	podSecurity  render.PodSecurityDefaults
	skipOnce     sync.Once
)

// sharedRenderer is one renderer for the whole test run, so a chart with
// the same values renders once however many stacks install it.
func sharedRenderer(t testing.TB) *render.Renderer {
	t.Helper()
	rendererOnce.Do(func() {
		var dirs []string
		var lock charts.Lock
		if dirs, rendererErr = charts.CacheDirs(); rendererErr != nil {
			return
		}
		if lock, rendererErr = charts.LoadLock(); rendererErr != nil {
			return
		}
		if renderer, rendererErr = render.NewRenderer(dirs, lock, config.DefaultKubernetesVersion); rendererErr != nil {
			return
		}
		var pinned []config.Chart
		for _, c := range config.DefaultCharts {
			pinned = append(pinned, c)
		}
		missing, err := renderer.Missing(pinned)
		if err != nil {
			rendererErr = err
			return
		}
		if len(missing) > 0 {
			rendererErr = fmt.Errorf("%w: %s has no %s", charts.ErrMissing, strings.Join(dirs, string(os.PathListSeparator)), strings.Join(missing, ", "))
			return
		}
		podSecurity, rendererErr = render.TalosPodSecurity(config.DefaultTalosVersion, config.DefaultKubernetesVersion)
	})
	if errors.Is(rendererErr, charts.ErrMissing) && os.Getenv(charts.EnvRequire) != "1" {
		// One line says why and what to run; the other tests point at it.
		reason := "rendered-objects tier skipped, see above"
		skipOnce.Do(func() {
			reason = fmt.Sprintf("rendered-objects tier skipped: %v; fetch them with %s", rendererErr, charts.PullCommand)
		})
		t.Skip(reason)
	}
	if rendererErr != nil {
		t.Fatal(rendererErr)
	}
	return renderer
}

// renderedCluster runs the program for a stack under mocks and renders
// what it registered.
func renderedCluster(t testing.TB, label, stack string, cfg map[string]string) *render.Cluster {
	t.Helper()
	r := sharedRenderer(t)
	l, _, err := run(t, stack, cfg)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	c, err := l.cluster(label)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Build(c); err != nil {
		t.Fatal(err)
	}
	if err := addRuntimeCRDs(r, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// addRuntimeCRDs gives each release whose controller registers CRDs at
// start (Cilium's operator) those CRDs, read from the project's Go module,
// so that the stack's objects of their kinds are checked against their
// schemas: the release comes before them, as the wait on it does.
func addRuntimeCRDs(r *render.Renderer, c *render.Cluster) error {
	for _, s := range c.Sources {
		if s.Release == "" || s.Manifest {
			continue
		}
		crds, err := r.RuntimeCRDs(s.Chart)
		if err != nil {
			return err
		}
		s.Objects = append(s.Objects, crds...)
	}
	return nil
}

// cluster is what the program puts into the cluster: its releases, the
// Gateway API manifest and its raw Kubernetes resources, each with what
// comes before it.
func (l *lab) cluster(label string) (*render.Cluster, error) {
	c := &render.Cluster{
		Stack: label,
		CNI:   releaseToken + "::cilium",
		// Talos registers talos.dev's ServiceAccount CRD once the cluster
		// is bootstrapped with Kubernetes Talos API access on; Cilium's
		// operator registers its CRDs when it starts, which
		// addRuntimeCRDs reads.
		RuntimeCRDs:       map[string]string{},
		KubernetesVersion: config.DefaultKubernetesVersion,
		PodSecurity:       podSecurity,
		KubePrismPorts:    l.kubePrismPorts(),
	}
	if b := l.byType(bootstrapToken); len(b) == 1 {
		c.RuntimeCRDs["talos.dev"] = bootstrapToken + "::" + b[0].Name
	}
	for _, r := range l.resources {
		id := r.Type + "::" + r.Name
		before := l.dependencies(r)
		switch {
		case r.Type == releaseToken:
			s, err := releaseSource(r)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", label, r.Name, err)
			}
			s.ID, s.Before = id, before
			c.Sources = append(c.Sources, s)
		case r.Type == configFileToken:
			s, err := manifestSource(r)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", label, r.Name, err)
			}
			s.ID, s.Before = id, before
			c.Sources = append(c.Sources, s)
		case strings.HasPrefix(r.Type, "kubernetes:"):
			s, err := rawSource(r)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", label, r.Name, err)
			}
			s.ID, s.Before = id, before
			c.Sources = append(c.Sources, s)
		case r.Type == applyToken:
			eps, err := logDestinations(r)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", label, r.Name, err)
			}
			c.Endpoints = appendNew(c.Endpoints, eps...)
		}
	}
	return c, nil
}

// releaseSource reads a Helm release's chart, version, repository,
// namespace, name, values and wait as the program registered them.
func releaseSource(r registered) (*render.Source, error) {
	get := func(path string) string {
		v, _ := r.At(path)
		s, _ := v.(string)
		return s
	}
	chart := config.Chart{Name: get("chart"), Version: get("version"), Repo: get("repositoryOpts.repo")}
	if strings.HasPrefix(chart.Name, "oci://") {
		i := strings.LastIndex(chart.Name, "/")
		chart.Repo, chart.Name = chart.Name[:i], chart.Name[i+1:]
	}
	values, _ := pulumitest.Plain(r.Inputs["values"]).(map[string]any)
	skip, _ := r.At("skipAwait")
	return &render.Source{
		Release:   get("name"),
		Namespace: get("namespace"),
		Chart:     chart,
		Values:    values,
		Waits:     skip != true,
	}, nil
}

// manifestSource maps the Gateway API ConfigFile's URL back to the pinned
// release it downloads.
func manifestSource(r registered) (*render.Source, error) {
	file, _ := r.At("file")
	url := fmt.Sprint(file)
	pin := config.DefaultCharts[config.ChartGatewayAPI]
	version, ok := strings.CutSuffix(strings.TrimPrefix(url, pin.Repo+"/"), "/standard-install.yaml")
	if !ok || !strings.HasPrefix(url, pin.Repo+"/") {
		return nil, fmt.Errorf("config file %s is not a Gateway API release from %s", url, pin.Repo)
	}
	return &render.Source{Chart: config.Chart{Name: pin.Name, Repo: pin.Repo, Version: version}, Manifest: true}, nil
}

// rawSource is one typed or custom Kubernetes resource, as the object the
// provider sends: apiVersion and kind from the type token
// (kubernetes:<group>/<version>:<Kind>, core for the empty group).
func rawSource(r registered) (*render.Source, error) {
	parts := strings.Split(r.Type, ":")
	if len(parts) != 3 {
		return nil, fmt.Errorf("unexpected type %s", r.Type)
	}
	apiVersion := strings.TrimPrefix(parts[1], "core/")
	obj, _ := pulumitest.Plain(resource.NewPropertyValue(r.Inputs)).(map[string]any)
	obj["apiVersion"], obj["kind"] = apiVersion, parts[2]
	o, err := render.RawObject(obj)
	if err != nil {
		return nil, err
	}
	return &render.Source{Objects: []render.Object{o}}, nil
}

// logDestinations are the addresses a node's machine config sends its
// logs to (machine.logging.destinations), read from the patches applied.
func logDestinations(r registered) ([]render.Endpoint, error) {
	patches, _ := pulumitest.Plain(r.Inputs["configPatches"]).([]any)
	var out []render.Endpoint
	for _, p := range patches {
		dec := yaml.NewDecoder(strings.NewReader(fmt.Sprint(p)))
		for {
			var doc struct {
				Machine struct {
					Logging struct {
						Destinations []struct {
							Endpoint string `yaml:"endpoint"`
						} `yaml:"destinations"`
					} `yaml:"logging"`
				} `yaml:"machine"`
			}
			if err := dec.Decode(&doc); err != nil {
				break
			}
			for _, d := range doc.Machine.Logging.Destinations {
				e, err := render.ParseEndpoint("Talos log destination", d.Endpoint)
				if err != nil {
					return nil, err
				}
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// kubePrismPorts are the ports the nodes serve KubePrism on
// (machine.features.kubePrism), read from the role patches the program asks
// the Talos provider to generate each role's machine config with.
func (l *lab) kubePrismPorts() []int {
	var patches []any
	for _, c := range l.calls {
		if c.Token == "talos:machine/getConfiguration:getConfiguration" {
			list, _ := pulumitest.Plain(resource.NewObjectProperty(c.Args)).(map[string]any)["configPatches"].([]any)
			patches = append(patches, list...)
		}
	}
	var out []int
	for _, p := range patches {
		dec := yaml.NewDecoder(strings.NewReader(fmt.Sprint(p)))
		for {
			var doc struct {
				Machine struct {
					Features struct {
						KubePrism struct {
							Enabled bool `yaml:"enabled"`
							Port    int  `yaml:"port"`
						} `yaml:"kubePrism"`
					} `yaml:"features"`
				} `yaml:"machine"`
			}
			if err := dec.Decode(&doc); err != nil {
				break
			}
			if kp := doc.Machine.Features.KubePrism; kp.Enabled && kp.Port != 0 && !slices.Contains(out, kp.Port) {
				out = append(out, kp.Port)
			}
		}
	}
	return out
}

func appendNew(list []render.Endpoint, add ...render.Endpoint) []render.Endpoint {
	for _, a := range add {
		found := false
		for _, e := range list {
			found = found || e == a
		}
		if !found {
			list = append(list, a)
		}
	}
	return list
}

// TestRenderedObjects renders every stack on every backend and expects no
// problem from any check.
func TestRenderedObjects(t *testing.T) {
	sharedRenderer(t)
	for _, st := range renderStacks {
		t.Run(st.label, func(t *testing.T) {
			c := renderedCluster(t, st.label, st.stack, userConfigOn(t, st.stack, st.on))
			for _, p := range render.Check(c) {
				t.Error(p)
			}
		})
	}
}

// TestRenderedObjectsCatch proves each check can fail: a values change a
// user could make through sre-lab:helmValues breaks what the check guards,
// and the check names it.
func TestRenderedObjectsCatch(t *testing.T) {
	sharedRenderer(t)
	for _, tc := range []struct {
		name, stack string
		on          map[string]string
		values      string
		check       string
		// want are substrings of one problem line.
		want []string
	}{{
		name: "a container field the API does not have", stack: "local",
		values: `{"alloy": {"controller": {"extraContainers": [{"name": "x", "image": "busybox:1.37", "imagePulPolicy": "Always"}]}}}`,
		check:  "schema", want: []string{"release alloy:", "DaemonSet/logging/alloy", "imagePulPolicy"},
	}, {
		name: "a custom resource field its CRD refuses", stack: "local",
		values: `{"kube-prometheus-stack": {"prometheus": {"serviceMonitor": {"interval": "soon"}}}}`,
		check:  "schema", want: []string{"ServiceMonitor/monitoring/kube-prometheus-stack-prometheus", "spec.endpoints[0].interval"},
	}, {
		name: "host network in a baseline namespace", stack: "local",
		values: `{"cert-manager": {"webhook": {"hostNetwork": true}}}`,
		check:  "pod-security", want: []string{"Deployment/cert-manager/cert-manager-webhook", "baseline", "host namespaces"},
	}, {
		name: "a LoadBalancer Service where no pool exists", stack: "dev",
		values: `{"kube-prometheus-stack": {"grafana": {"service": {"type": "LoadBalancer"}}}}`,
		check:  "readiness", want: []string{"Service/monitoring/kube-prometheus-stack-grafana", "no load-balancer IP pool"},
	}, {
		name: "a claim of a StorageClass nobody creates", stack: "local",
		values: `{"loki": {"singleBinary": {"persistence": {"storageClass": "fast-ssd"}}}}`,
		check:  "readiness", want: []string{"StatefulSet/logging/loki", "StorageClass fast-ssd", "no source"},
	}, {
		name: "Cilium pointed at a port KubePrism does not serve", stack: "local",
		values: `{"cilium": {"k8sServicePort": 6444}}`,
		check:  "wiring", want: []string{"DaemonSet/kube-system/cilium", "localhost:6444", "KubePrism on [7445]"},
	}, {
		name: "podinfo's Service port moved from under the load generator", stack: "dev",
		values: `{"podinfo": {"service": {"externalPort": 9899}}}`,
		check:  "wiring", want: []string{"kubernetes:apps/v1:Deployment::practice-load", "podinfo.apps.svc.cluster.local:9898", "backend Service apps/podinfo has no port 9898"},
	}, {
		name: "Loki's Service renamed under the datasource", stack: "local",
		values: `{"loki": {"fullnameOverride": "logs"}}`,
		check:  "wiring", want: []string{"logging-datasource", "loki.logging.svc", "not rendered"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := userConfigOn(t, tc.stack, tc.on)
			cfg["sre-lab:helmValues"] = tc.values
			c := renderedCluster(t, tc.name, tc.stack, cfg)
			problems := render.Check(c)
			for _, p := range problems {
				if p.Check != tc.check {
					continue
				}
				line, all := p.String(), true
				for _, w := range tc.want {
					all = all && strings.Contains(line, w)
				}
				if all {
					return
				}
			}
			t.Errorf("no %s problem containing %q; got:\n%s", tc.check, tc.want, lines(problems))
		})
	}
}

// TestRenderedPractice: where the practice layer is on, the cluster gets
// podinfo in apps and Chaos Mesh in chaos-mesh, rendered from their pinned
// archives; where it is off, neither.
func TestRenderedPractice(t *testing.T) {
	sharedRenderer(t)
	for _, tc := range []struct {
		label, stack string
		on           map[string]string
		want         bool
	}{
		{"local", "local", nil, true},
		{"dev on aws", "dev", nil, true},
		{"local without practice", "local", map[string]string{"sre-lab:" + config.KeyPractice: "false"}, false},
	} {
		t.Run(tc.label, func(t *testing.T) {
			c := renderedCluster(t, tc.label, tc.stack, userConfigOn(t, tc.stack, tc.on))
			found := map[string]string{}
			for _, s := range c.Sources {
				if s.Chart.Name == config.ChartPodinfo || s.Chart.Name == config.ChartChaosMesh {
					found[s.Release] = s.Namespace
					assert.NotEmpty(t, s.Objects, s.Release)
				}
			}
			if !tc.want {
				assert.Empty(t, found)
				return
			}
			assert.Equal(t, map[string]string{"podinfo": "apps", "chaos-mesh": "chaos-mesh"}, found)
		})
	}
}

func lines(problems []render.Problem) string {
	var b strings.Builder
	for _, p := range problems {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

// BenchmarkRender times the whole tier from a cold render cache: every
// stack on every backend run under mocks, rendered and checked.
func BenchmarkRender(b *testing.B) {
	sharedRenderer(b)
	for b.Loop() {
		r, err := render.ForLab()
		if err != nil {
			b.Fatal(err)
		}
		for _, st := range renderStacks {
			l, _, err := run(b, st.stack, userConfigOn(b, st.stack, st.on))
			if err != nil {
				b.Fatal(err)
			}
			c, err := l.cluster(st.label)
			if err != nil {
				b.Fatal(err)
			}
			if err := r.Build(c); err != nil {
				b.Fatal(err)
			}
			if err := addRuntimeCRDs(r, c); err != nil {
				b.Fatal(err)
			}
			render.Check(c)
		}
	}
}

// TestRenderedMetadataException: the pod the metadata policy lets through
// on GCP is Loki's as the chart renders it (the chart merges
// singleBinary.podLabels into the pod template: loki templates/_pod.tpl),
// in the namespace the policy exempts; on other clouds no Loki pod
// carries the label.
func TestRenderedMetadataException(t *testing.T) {
	sharedRenderer(t)
	for _, tc := range []struct {
		label, stack string
		on           map[string]string
		want         bool
	}{
		{"dev on gcp", "dev", onGCP, true},
		{"dev on aws", "dev", nil, false},
	} {
		t.Run(tc.label, func(t *testing.T) {
			c := renderedCluster(t, tc.label, tc.stack, userConfigOn(t, tc.stack, tc.on))
			found := false
			for _, s := range c.Sources {
				for _, o := range s.Objects {
					if o.Kind() != "StatefulSet" || o.Name() != "loki" || len(o.Hook) > 0 {
						continue
					}
					found = true
					assert.Equal(t, namespaces.Logging, s.Namespace)
					got := o.Map["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any)["labels"].(map[string]any)[cilium.CloudIdentityLabel]
					if tc.want {
						assert.Equal(t, "true", got, "Loki's pod carries the label the policy exempts")
					} else {
						assert.Nil(t, got)
					}
				}
			}
			assert.True(t, found, "Loki's StatefulSet is rendered")
		})
	}
}
