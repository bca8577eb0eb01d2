package secrets

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/internal/pulumitest"
	"github.com/your-org/sre-lab/kube/namespaces"
)

// storeKey is the store's key as the AWS backend hands it over.
func storeKey() *infra.AccessKey {
	out := func(s string) pulumi.StringOutput { return pulumi.String(s).ToStringOutput() }
	return &infra.AccessKey{ID: out("AKIASTORE"), Secret: pulumi.ToSecret(out("store-secret")).(pulumi.StringOutput)}
}

// Type tokens of what the component registers.
const (
	tProvider = "pulumi:providers:kubernetes"
	tRelease  = "kubernetes:helm.sh/v3:Release"
	tStore    = "kubernetes:external-secrets.io/v1:ClusterSecretStore"
	tSecret   = "kubernetes:core/v1:Secret"
)

// componentName is what every test names the component.
const componentName = "secrets"

// operatorCase is one operator with what its typed values must hold.
type operatorCase struct {
	operator  string
	namespace string
	// want are typed values by dotted path.
	want map[string]any
	// absent are paths the typed values must not set.
	absent []string
}

// operatorCases covers both operators with the ServiceMonitor on and off,
// since the external-secrets render mode depends on it.
func operatorCases() []struct {
	name           string
	serviceMonitor bool
	operatorCase
} {
	sealed := func(sm bool) operatorCase {
		return operatorCase{
			operator:  config.SecretsSealed,
			namespace: namespaces.KubeSystem,
			want: map[string]any{
				"fullnameOverride":               "sealed-secrets-controller",
				"metrics.serviceMonitor.enabled": sm,
				"resources.requests.cpu":         "10m",
				"resources.requests.memory":      "32Mi",
				"resources.limits.memory":        "128Mi",
			},
			absent: []string{"resources.limits.cpu", "installCRDs", "serviceMonitor"},
		}
	}
	external := func(sm bool) operatorCase {
		c := operatorCase{
			operator:  config.SecretsExternal,
			namespace: namespaces.ExternalSecrets,
			want: map[string]any{
				"installCRDs":                              true,
				"serviceMonitor.enabled":                   sm,
				"resources.requests.cpu":                   "10m",
				"resources.requests.memory":                "64Mi",
				"resources.limits.memory":                  "256Mi",
				"webhook.resources.requests.cpu":           "10m",
				"webhook.resources.requests.memory":        "32Mi",
				"webhook.resources.limits.memory":          "128Mi",
				"certController.resources.requests.cpu":    "10m",
				"certController.resources.requests.memory": "32Mi",
				"certController.resources.limits.memory":   "128Mi",
			},
			absent: []string{
				"resources.limits.cpu",
				"webhook.resources.limits.cpu",
				"certController.resources.limits.cpu",
				"fullnameOverride",
				"metrics",
			},
		}
		if sm {
			c.want["serviceMonitor.renderMode"] = "alwaysRender"
		} else {
			// Left to the chart's default, which is harmless when disabled.
			c.absent = append(c.absent, "serviceMonitor.renderMode")
		}
		return c
	}
	return []struct {
		name           string
		serviceMonitor bool
		operatorCase
	}{
		{"sealed-secrets", false, sealed(false)},
		{"sealed-secrets with ServiceMonitor", true, sealed(true)},
		{"external-secrets", false, external(false)},
		{"external-secrets with ServiceMonitor", true, external(true)},
	}
}

// lookup walks plain nested maps along a dotted path.
func lookup(m map[string]any, path string) (any, bool) {
	var v any = m
	for _, step := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = mm[step]; !ok {
			return nil, false
		}
	}
	return v, true
}

// run registers a Kubernetes provider and the component under mocks; the
// component gets the provider only through pulumi.Providers, as in main.
func run(t *testing.T, args *Args) (*pulumitest.Mocks, *Operator, error) {
	t.Helper()
	m := &pulumitest.Mocks{}
	var op *Operator
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		op, err = NewOperator(ctx, componentName, args, pulumi.Providers(p))
		return err
	}, pulumi.WithMocks("sre-lab", "dev", m))
	return m, op, err
}

// assertChildren checks that the component registered children, each
// parented under it and reaching the cluster through the Kubernetes provider.
func assertChildren(t *testing.T, m *pulumitest.Mocks) {
	t.Helper()
	var children int
	for _, r := range m.Resources() {
		if !strings.Contains(r.Parent, Token) {
			continue
		}
		children++
		assert.Contains(t, r.Provider, tProvider+"::k8s", "provider of %s %s", r.Type, r.Name)
	}
	assert.NotZero(t, children, "no resource is parented under %s", Token)
}

func TestValues(t *testing.T) {
	for _, tc := range operatorCases() {
		t.Run(tc.name, func(t *testing.T) {
			values := Values(&Args{Operator: tc.operator, ServiceMonitor: tc.serviceMonitor})
			for path, want := range tc.want {
				got, ok := lookup(values, path)
				if assert.True(t, ok, "%s is not set", path) {
					assert.Equal(t, want, got, path)
				}
			}
			for _, path := range tc.absent {
				_, ok := lookup(values, path)
				assert.False(t, ok, "%s must not be set", path)
			}
		})
	}
	t.Run("unknown operator", func(t *testing.T) {
		assert.Nil(t, Values(&Args{Operator: "vault"}))
	})
}

func TestRelease(t *testing.T) {
	for _, tc := range operatorCases() {
		t.Run(tc.name, func(t *testing.T) {
			chart := config.DefaultCharts[tc.operator]
			m, op, err := run(t, &Args{
				Operator:       tc.operator,
				Chart:          chart,
				Namespace:      tc.namespace,
				ServiceMonitor: tc.serviceMonitor,
			})
			require.NoError(t, err)
			require.NotNil(t, op.Release)

			releases := m.ByType(tRelease)
			require.Len(t, releases, 1)
			r := releases[0]
			assert.Equal(t, componentName+"-"+chart.Name, r.Name)
			assert.Contains(t, r.Parent, Token)
			for path, want := range map[string]any{
				"name":                chart.Name,
				"chart":               chart.Name,
				"version":             chart.Version,
				"repositoryOpts.repo": chart.Repo,
				"namespace":           tc.namespace,
			} {
				got, ok := r.At(path)
				if assert.True(t, ok, "%s is not set", path) {
					assert.Equal(t, want, got, path)
				}
			}
			for path, want := range tc.want {
				got, ok := r.At("values." + path)
				if assert.True(t, ok, "values.%s is not set", path) {
					assert.Equal(t, want, got, "values."+path)
				}
			}
			for _, path := range tc.absent {
				_, ok := r.At("values." + path)
				assert.False(t, ok, "values.%s must not be set", path)
			}
			assertChildren(t, m)
		})
	}
}

func TestUserValues(t *testing.T) {
	for _, tc := range []struct {
		name     string
		operator string
		user     map[string]any
		// want holds overridden, added and kept values by path.
		want map[string]any
	}{
		{
			name:     "sealed-secrets",
			operator: config.SecretsSealed,
			user: map[string]any{
				"fullnameOverride": "my-controller",
				"resources":        map[string]any{"limits": map[string]any{"memory": "512Mi"}},
				"keyrenewperiod":   "720h",
			},
			want: map[string]any{
				"fullnameOverride":               "my-controller",
				"resources.limits.memory":        "512Mi",
				"keyrenewperiod":                 "720h",
				"resources.requests.memory":      "32Mi",
				"resources.requests.cpu":         "10m",
				"metrics.serviceMonitor.enabled": true,
			},
		},
		{
			name:     "external-secrets",
			operator: config.SecretsExternal,
			user: map[string]any{
				"serviceMonitor": map[string]any{"renderMode": "failIfMissing"},
				"webhook":        map[string]any{"resources": map[string]any{"requests": map[string]any{"memory": "48Mi"}}},
				"concurrent":     2,
			},
			want: map[string]any{
				"serviceMonitor.renderMode":         "failIfMissing",
				"webhook.resources.requests.memory": "48Mi",
				"concurrent":                        float64(2),
				"serviceMonitor.enabled":            true,
				"webhook.resources.requests.cpu":    "10m",
				"webhook.resources.limits.memory":   "128Mi",
				"installCRDs":                       true,
				"resources.limits.memory":           "256Mi",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, err := run(t, &Args{
				Operator:       tc.operator,
				Chart:          config.DefaultCharts[tc.operator],
				Namespace:      "ns",
				Values:         tc.user,
				ServiceMonitor: true,
			})
			require.NoError(t, err)
			releases := m.ByType(tRelease)
			require.Len(t, releases, 1)
			for path, want := range tc.want {
				got, ok := releases[0].At("values." + path)
				if assert.True(t, ok, "values.%s is not set", path) {
					assert.Equal(t, want, got, "values."+path)
				}
			}
		})
	}
}

func TestClusterSecretStore(t *testing.T) {
	for _, tc := range []struct {
		name      string
		operator  string
		region    string
		wantStore bool
	}{
		{"sealed-secrets", config.SecretsSealed, "", false},
		{"external-secrets without region", config.SecretsExternal, "", false},
		{"external-secrets in eu-central-1", config.SecretsExternal, "eu-central-1", true},
		{"external-secrets in us-west-2", config.SecretsExternal, "us-west-2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chart := config.DefaultCharts[tc.operator]
			args := &Args{
				Operator:  tc.operator,
				Chart:     chart,
				Namespace: "ns",
				AWSRegion: tc.region,
			}
			if tc.wantStore {
				args.AWSKey = storeKey()
			}
			m, op, err := run(t, args)
			require.NoError(t, err)
			stores := m.ByType(tStore)
			if !tc.wantStore {
				assert.Empty(t, stores)
				assert.Empty(t, op.StoreName)
				assert.Empty(t, m.ByType(tSecret))
				return
			}
			require.Len(t, stores, 1)
			s := stores[0]
			assert.Equal(t, componentName+"-aws-secrets-manager", s.Name)
			assert.Equal(t, "aws-secrets-manager", op.StoreName)
			for path, want := range map[string]any{
				"apiVersion":                "external-secrets.io/v1",
				"kind":                      "ClusterSecretStore",
				"metadata.name":             "aws-secrets-manager",
				"spec.provider.aws.service": "SecretsManager",
				"spec.provider.aws.region":  tc.region,
			} {
				got, ok := s.At(path)
				if assert.True(t, ok, "%s is not set", path) {
					assert.Equal(t, want, got, path)
				}
			}
			// The store's own key, from the Secret in the operator's
			// namespace: the nodes carry no AWS identity.
			ref := func(key string) map[string]any {
				return map[string]any{"name": "aws-access-key", "key": key, "namespace": "ns"}
			}
			auth, ok := s.At("spec.provider.aws.auth")
			require.True(t, ok, "the store authenticates with its own key")
			assert.Equal(t, map[string]any{"secretRef": map[string]any{
				"accessKeyIDSecretRef":     ref("AWS_ACCESS_KEY_ID"),
				"secretAccessKeySecretRef": ref("AWS_SECRET_ACCESS_KEY"),
			}}, auth)
			secrets := m.ByType(tSecret)
			require.Len(t, secrets, 1)
			assert.Equal(t, "ns", pulumitest.Plain(secrets[0].Inputs["metadata"].ObjectValue()["namespace"]))
			assert.Equal(t, map[string]any{"AWS_ACCESS_KEY_ID": "AKIASTORE", "AWS_SECRET_ACCESS_KEY": "store-secret"},
				pulumitest.Plain(secrets[0].Inputs["stringData"]))
			assert.True(t, s.DependsOn(tSecret, secrets[0].Name), "the store waits for its key")

			// Only namespaces that opt in by label may use it; without
			// conditions every namespace could read every secret.
			conditions, ok := s.At("spec.conditions")
			require.True(t, ok, "the store is limited to some namespaces")
			assert.Equal(t, []any{map[string]any{"namespaceSelector": map[string]any{
				"matchLabels": map[string]any{"sre-lab.io/aws-secrets": "allowed"},
			}}}, conditions)
			assert.True(t, s.DependsOn(tRelease, componentName+"-"+chart.Name),
				"store does not depend on the release: %v", s.Dependencies)
			assert.Contains(t, s.Parent, Token)
			assertChildren(t, m)
		})
	}
}

func TestInvalidArgs(t *testing.T) {
	sealed := config.DefaultCharts[config.ChartSealedSecrets]
	for _, tc := range []struct {
		name string
		args *Args
		// want are fragments the error must contain.
		want []string
	}{
		{
			name: "unknown operator",
			args: &Args{Operator: "vault", Chart: sealed, Namespace: "ns"},
			want: []string{`"vault"`, config.SecretsSealed, config.SecretsExternal},
		},
		{
			name: "empty operator",
			args: &Args{Chart: sealed, Namespace: "ns"},
			want: []string{`""`, config.SecretsSealed, config.SecretsExternal},
		},
		{
			name: "AWS region with sealed-secrets",
			args: &Args{Operator: config.SecretsSealed, Chart: sealed, Namespace: "kube-system", AWSRegion: "eu-central-1"},
			want: []string{"AWSRegion", "eu-central-1", config.SecretsSealed},
		},
		{
			name: "no namespace",
			args: &Args{Operator: config.SecretsExternal, Chart: config.DefaultCharts[config.ChartExternalSecrets]},
			want: []string{"namespace"},
		},
		{
			name: "AWS store without its key",
			args: &Args{Operator: config.SecretsExternal, Chart: config.DefaultCharts[config.ChartExternalSecrets], Namespace: "ns", AWSRegion: "eu-central-1"},
			want: []string{"access key", "no AWS identity"},
		},
		{
			name: "no args",
			want: []string{"no arguments"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, op, err := run(t, tc.args)
			require.Error(t, err)
			assert.Nil(t, op)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			for _, r := range m.Resources() {
				assert.Equal(t, tProvider, r.Type, "registered %s %s despite invalid args", r.Type, r.Name)
			}
		})
	}
}
