package certmanager

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/internal/pulumitest"
	"github.com/your-org/sre-lab/kube/namespaces"
)

// Type tokens of everything the component registers.
const (
	tProvider      = "pulumi:providers:kubernetes"
	tRelease       = "kubernetes:helm.sh/v3:Release"
	tClusterIssuer = "kubernetes:cert-manager.io/v1:ClusterIssuer"
	tCertificate   = "kubernetes:cert-manager.io/v1:Certificate"
)

// component is the name tests give the component: unlike the chart's name,
// so release-name assertions show the Helm name comes from the chart.
const component = "certs"

// testArgs are valid args for an issuer kind.
func testArgs(kind string) *Args {
	args := &Args{
		Chart:     config.DefaultCharts[config.ChartCertManager],
		Namespace: namespaces.CertManager,
		Issuer:    IssuerArgs{Kind: kind},
	}
	if kind == SelfSignedCA {
		args.Issuer.Domain = config.LocalDomain
	}
	if kind == ACME {
		args.Issuer.Email = "sre@example.com"
		args.Issuer.IngressClass = "cilium"
	}
	return args
}

// run installs the component under mocks, through a kubernetes provider
// handed to it the way the program does.
func run(t *testing.T, args *Args) (*pulumitest.Mocks, *CertManager, error) {
	t.Helper()
	m := &pulumitest.Mocks{}
	var cm *CertManager
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		cm, err = NewCertManager(ctx, component, args, pulumi.Providers(p))
		return err
	}, pulumi.WithMocks("sre-lab", "dev", m))
	return m, cm, err
}

// mustRun is run for args that are valid.
func mustRun(t *testing.T, args *Args) (*pulumitest.Mocks, *CertManager) {
	t.Helper()
	m, cm, err := run(t, args)
	require.NoError(t, err)
	require.NotNil(t, cm)
	return m, cm
}

// release is the one Helm release the component registered.
func release(t *testing.T, m *pulumitest.Mocks) pulumitest.Resource {
	t.Helper()
	releases := m.ByType(tRelease)
	require.Len(t, releases, 1)
	return releases[0]
}

// at reads a path the test expects to be set.
func at(t *testing.T, r pulumitest.Resource, path string) any {
	t.Helper()
	v, ok := r.At(path)
	require.True(t, ok, "%s %s has no %s", r.Type, r.Name, path)
	return v
}

// lookup walks a rendered values map along a dotted path.
func lookup(values map[string]any, path string) (any, bool) {
	var v any = values
	for _, step := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[step]; !ok {
			return nil, false
		}
	}
	return v, true
}

// metadataNames are the Kubernetes names of the registrations of one type.
func metadataNames(t *testing.T, m *pulumitest.Mocks, token string) []string {
	t.Helper()
	names := []string{}
	for _, r := range m.ByType(token) {
		names = append(names, at(t, r, "metadata.name").(string))
	}
	sort.Strings(names)
	return names
}

// byMetadataName finds the registration of a type with a Kubernetes name.
func byMetadataName(t *testing.T, m *pulumitest.Mocks, token, name string) pulumitest.Resource {
	t.Helper()
	for _, r := range m.ByType(token) {
		if v, ok := r.At("metadata.name"); ok && v == name {
			return r
		}
	}
	t.Fatalf("no %s with metadata.name %q", token, name)
	return pulumitest.Resource{}
}

// workloads are the chart's three deployments, by their values prefix.
var workloads = map[string]string{"controller": "", "webhook": "webhook.", "cainjector": "cainjector."}

func TestValues(t *testing.T) {
	for _, serviceMonitor := range []bool{false, true} {
		t.Run(map[bool]string{false: "without ServiceMonitor", true: "with ServiceMonitor"}[serviceMonitor], func(t *testing.T) {
			args := testArgs(SelfSignedCA)
			args.ServiceMonitor = serviceMonitor
			values := Values(args)
			for path, want := range map[string]any{
				"crds.enabled":                      true,
				"crds.keep":                         true,
				"replicaCount":                      1,
				"prometheus.enabled":                true,
				"prometheus.servicemonitor.enabled": serviceMonitor,
				"prometheus.podmonitor.enabled":     false,
				"featureGates":                      "NameConstraints=true",
				"webhook.featureGates":              "NameConstraints=true",
			} {
				got, ok := lookup(values, path)
				require.True(t, ok, path)
				assert.Equal(t, want, got, path)
			}
			for workload, prefix := range workloads {
				for _, path := range []string{"requests.cpu", "requests.memory", "limits.memory"} {
					got, ok := lookup(values, prefix+"resources."+path)
					require.True(t, ok, "%s resources.%s", workload, path)
					assert.NotEmpty(t, got, "%s resources.%s", workload, path)
				}
			}
		})
	}
}

func TestRelease(t *testing.T) {
	chart := config.DefaultCharts[config.ChartCertManager]
	for _, kind := range []string{SelfSignedCA, ACME} {
		for _, serviceMonitor := range []bool{false, true} {
			t.Run(kind+map[bool]string{false: "", true: "/servicemonitor"}[serviceMonitor], func(t *testing.T) {
				args := testArgs(kind)
				args.ServiceMonitor = serviceMonitor
				m, cm := mustRun(t, args)
				r := release(t, m)

				assert.Equal(t, component, r.Name)
				assert.Equal(t, "cert-manager", at(t, r, "name"))
				assert.Equal(t, chart.Name, at(t, r, "chart"))
				assert.Equal(t, chart.Version, at(t, r, "version"))
				assert.Equal(t, chart.Repo, at(t, r, "repositoryOpts.repo"))
				assert.Equal(t, namespaces.CertManager, at(t, r, "namespace"))

				assert.Equal(t, true, at(t, r, "values.crds.enabled"))
				assert.Equal(t, true, at(t, r, "values.crds.keep"))
				assert.Equal(t, true, at(t, r, "values.prometheus.enabled"))
				assert.Equal(t, serviceMonitor, at(t, r, "values.prometheus.servicemonitor.enabled"))
				assert.Equal(t, false, at(t, r, "values.prometheus.podmonitor.enabled"))
				assert.Equal(t, 1.0, at(t, r, "values.replicaCount"))
				for workload, prefix := range workloads {
					assert.NotEmpty(t, at(t, r, "values."+prefix+"resources.requests.memory"), workload)
					assert.NotEmpty(t, at(t, r, "values."+prefix+"resources.limits.memory"), workload)
				}

				require.NotNil(t, cm.Release)
			})
		}
	}
}

func TestUserValuesWin(t *testing.T) {
	for _, kind := range []string{SelfSignedCA, ACME} {
		t.Run(kind, func(t *testing.T) {
			args := testArgs(kind)
			args.Values = map[string]any{
				"replicaCount": 2,
				"webhook": map[string]any{
					"resources": map[string]any{"limits": map[string]any{"memory": "512Mi"}},
				},
			}
			m, _ := mustRun(t, args)
			r := release(t, m)

			assert.Equal(t, 2.0, at(t, r, "values.replicaCount"))
			assert.Equal(t, "512Mi", at(t, r, "values.webhook.resources.limits.memory"))
			// Merged key by key: what the user left alone keeps its typed value.
			typed, _ := lookup(Values(args), "webhook.resources.requests.memory")
			assert.Equal(t, typed, at(t, r, "values.webhook.resources.requests.memory"))
			assert.Equal(t, true, at(t, r, "values.crds.enabled"))
			assert.Equal(t, 1.0, at(t, r, "values.webhook.replicaCount"))
		})
	}
}

func TestIssuers(t *testing.T) {
	custom := testArgs(ACME)
	custom.Issuer.Server = "https://acme.example.com/directory"
	tests := []struct {
		name           string
		args           *Args
		issuerName     string
		clusterIssuers []string
		certificates   []string
		server         string
	}{
		{"selfsigned-ca", testArgs(SelfSignedCA), "sre-lab-ca", []string{"sre-lab-ca", "sre-lab-selfsigned"}, []string{"sre-lab-ca"}, ""},
		{"acme", testArgs(ACME), "letsencrypt", []string{"letsencrypt", "letsencrypt-staging"}, []string{}, "https://acme-v02.api.letsencrypt.org/directory"},
		{"acme with server", custom, "letsencrypt", []string{"letsencrypt", "letsencrypt-staging"}, []string{}, "https://acme.example.com/directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, cm := mustRun(t, tt.args)
			assert.Equal(t, tt.issuerName, cm.IssuerName)
			assert.Equal(t, tt.clusterIssuers, metadataNames(t, m, tClusterIssuer))
			assert.Equal(t, tt.certificates, metadataNames(t, m, tCertificate))

			rel := release(t, m)
			for _, token := range []string{tClusterIssuer, tCertificate} {
				for _, r := range m.ByType(token) {
					assert.Equal(t, "cert-manager.io/v1", at(t, r, "apiVersion"), r.Name)
					assert.True(t, r.DependsOn(tRelease, rel.Name), "%s does not depend on the release", r.Name)
				}
			}

			switch tt.args.Issuer.Kind {
			case SelfSignedCA:
				selfSigned := byMetadataName(t, m, tClusterIssuer, "sre-lab-selfsigned")
				assert.Equal(t, map[string]any{}, at(t, selfSigned, "spec.selfSigned"))

				cert := byMetadataName(t, m, tCertificate, "sre-lab-ca")
				assert.Equal(t, namespaces.CertManager, at(t, cert, "metadata.namespace"))
				for path, want := range map[string]any{
					"spec.isCA":                      true,
					"spec.commonName":                "sre-lab local CA",
					"spec.secretName":                "sre-lab-ca",
					"spec.duration":                  "8760h",
					"spec.renewBefore":               "2400h",
					"spec.privateKey.rotationPolicy": "Always",
					"spec.nameConstraints":           map[string]any{"critical": true, "permitted": map[string]any{"dnsDomains": []any{"sre-lab.internal"}}},
					"spec.privateKey.algorithm":      "ECDSA",
					"spec.privateKey.size":           256.0,
					"spec.issuerRef.name":            "sre-lab-selfsigned",
					"spec.issuerRef.kind":            "ClusterIssuer",
					"spec.issuerRef.group":           "cert-manager.io",
				} {
					assert.Equal(t, want, at(t, cert, path), path)
				}

				ca := byMetadataName(t, m, tClusterIssuer, "sre-lab-ca")
				assert.Equal(t, "sre-lab-ca", at(t, ca, "spec.ca.secretName"))
				assert.True(t, ca.DependsOn(tCertificate, cert.Name), "the CA issuer does not depend on its certificate")
			case ACME:
				accountKeys := map[string]bool{}
				for name, server := range map[string]string{
					"letsencrypt":         tt.server,
					"letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
				} {
					issuer := byMetadataName(t, m, tClusterIssuer, name)
					assert.Equal(t, "sre@example.com", at(t, issuer, "spec.acme.email"), name)
					assert.Equal(t, server, at(t, issuer, "spec.acme.server"), name)
					assert.Equal(t, []any{map[string]any{
						"http01": map[string]any{"ingress": map[string]any{"ingressClassName": "cilium"}},
					}}, at(t, issuer, "spec.acme.solvers"), name)
					key := at(t, issuer, "spec.acme.privateKeySecretRef.name").(string)
					assert.NotEmpty(t, key, name)
					accountKeys[key] = true
				}
				assert.Equal(t, map[string]bool{"letsencrypt-account-key": true, "letsencrypt-staging-account-key": true}, accountKeys)
			}
		})
	}
}

func TestChildren(t *testing.T) {
	for kind, want := range map[string][]string{
		SelfSignedCA: {
			tCertificate + "::" + component + "-ca-certificate",
			tClusterIssuer + "::" + component + "-ca",
			tClusterIssuer + "::" + component + "-selfsigned",
			tRelease + "::" + component,
		},
		ACME: {
			tClusterIssuer + "::" + component + "-letsencrypt",
			tClusterIssuer + "::" + component + "-letsencrypt-staging",
			tRelease + "::" + component,
		},
	} {
		t.Run(kind, func(t *testing.T) {
			m, _ := mustRun(t, testArgs(kind))
			got := []string{}
			components := 0
			for _, r := range m.Resources() {
				switch r.Type {
				case tProvider:
					continue
				case Token:
					components++
					assert.Equal(t, component, r.Name)
					continue
				}
				got = append(got, r.Type+"::"+r.Name)
				assert.Contains(t, r.Parent, Token, "%s %s is not parented under the component", r.Type, r.Name)
				assert.Contains(t, r.Provider, tProvider, "%s %s does not use the component's provider", r.Type, r.Name)
			}
			sort.Strings(got)
			assert.Equal(t, 1, components)
			assert.Equal(t, want, got)
		})
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Args) *Args
		want   []string
	}{
		{"unknown kind", func(a *Args) *Args { a.Issuer.Kind = "vault"; return a }, []string{"Issuer.Kind", `"vault"`}},
		{"empty kind", func(a *Args) *Args { a.Issuer.Kind = ""; return a }, []string{"Issuer.Kind", `""`}},
		{"acme without email", func(a *Args) *Args { a.Issuer.Kind = ACME; a.Issuer.Email = ""; return a }, []string{"Issuer.Email", `""`}},
		{"acme without ingress class", func(a *Args) *Args { a.Issuer.Kind = ACME; a.Issuer.IngressClass = ""; return a }, []string{"Issuer.IngressClass", `""`}},
		{"no namespace", func(a *Args) *Args { a.Namespace = ""; return a }, []string{"Namespace"}},
		{"ca without domain", func(a *Args) *Args { a.Issuer = IssuerArgs{Kind: SelfSignedCA}; return a }, []string{"Issuer.Domain", `""`}},
		{"nil args", func(*Args) *Args { return nil }, []string{"args"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &pulumitest.Mocks{}
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				_, err := NewCertManager(ctx, component, tt.mutate(testArgs(ACME)))
				return err
			}, pulumi.WithMocks("sre-lab", "dev", m))
			require.Error(t, err)
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), want)
			}
			assert.Empty(t, m.Resources(), "registered before validating")
		})
	}
}

// The solver's Ingresses carry the annotations the caller names (Cilium:
// no forced HTTPS redirect), in both Let's Encrypt issuers; none without.
func TestSolverAnnotations(t *testing.T) {
	args := testArgs(ACME)
	args.Issuer.SolverAnnotations = map[string]string{"ingress.cilium.io/force-https": "disabled"}
	m, _ := mustRun(t, args)
	issuers := m.ByType(tClusterIssuer)
	require.Len(t, issuers, 2)
	for _, issuer := range issuers {
		assert.Equal(t, "cilium", at(t, issuer, "spec.acme.solvers.0.http01.ingress.ingressClassName"), issuer.Name)
		assert.Equal(t, map[string]any{"ingress.cilium.io/force-https": "disabled"},
			at(t, issuer, "spec.acme.solvers.0.http01.ingress.ingressTemplate.metadata.annotations"), issuer.Name)
	}

	m, _ = mustRun(t, testArgs(ACME))
	for _, issuer := range m.ByType(tClusterIssuer) {
		_, ok := issuer.At("spec.acme.solvers.0.http01.ingress.ingressTemplate")
		assert.False(t, ok, "%s: no template without annotations", issuer.Name)
	}
}

// TestCANameConstraints: a certificate cut from the CA Certificate's spec
// the way cert-manager cuts it makes TLS clients (Go's crypto/x509 here)
// accept leaves for the lab's domain and refuse any other name, so
// trusting the CA on a host trusts it for the lab only; and it lives a
// year, renewed before any leaf the old CA signed (90 days by default)
// can outlive it.
func TestCANameConstraints(t *testing.T) {
	m, _ := mustRun(t, testArgs(SelfSignedCA))
	cert := byMetadataName(t, m, tCertificate, "sre-lab-ca")

	duration, err := time.ParseDuration(at(t, cert, "spec.duration").(string))
	require.NoError(t, err)
	assert.Equal(t, 365*24*time.Hour, duration)
	renewBefore, err := time.ParseDuration(at(t, cert, "spec.renewBefore").(string))
	require.NoError(t, err)
	assert.Greater(t, renewBefore, 90*24*time.Hour, "leaves of the old CA expire before it does")
	assert.Less(t, renewBefore, duration)

	var permitted []string
	for _, d := range at(t, cert, "spec.nameConstraints.permitted.dnsDomains").([]any) {
		permitted = append(permitted, d.(string))
	}
	assert.Equal(t, []string{config.LocalDomain}, permitted)
	critical := at(t, cert, "spec.nameConstraints.critical").(bool)
	assert.True(t, critical)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:                big.NewInt(1),
		Subject:                     pkix.Name{CommonName: at(t, cert, "spec.commonName").(string)},
		NotBefore:                   now.Add(-time.Hour),
		NotAfter:                    now.Add(duration),
		IsCA:                        true,
		BasicConstraintsValid:       true,
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		PermittedDNSDomains:         permitted,
		PermittedDNSDomainsCritical: critical,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	for i, tc := range []struct {
		names []string
		ok    bool
	}{
		{[]string{"hubble.sre-lab.internal"}, true},
		{[]string{"grafana.sre-lab.internal", "sre-lab.internal"}, true},
		{[]string{"bank.example.com"}, false},
		{[]string{"sre-lab.internal.example.com"}, false},
		{[]string{"evilsre-lab.internal"}, false},
		// Every name of a leaf must fit, not only the one asked for.
		{[]string{"hubble.sre-lab.internal", "bank.example.com"}, false},
	} {
		t.Run(strings.Join(tc.names, ","), func(t *testing.T) {
			leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			require.NoError(t, err)
			leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
				SerialNumber: big.NewInt(int64(i + 2)),
				DNSNames:     tc.names,
				NotBefore:    now.Add(-time.Hour),
				NotAfter:     now.Add(90 * 24 * time.Hour),
				KeyUsage:     x509.KeyUsageDigitalSignature,
				ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}, ca, &leafKey.PublicKey, key)
			require.NoError(t, err)
			leaf, err := x509.ParseCertificate(leafDER)
			require.NoError(t, err)
			_, err = leaf.Verify(x509.VerifyOptions{DNSName: tc.names[0], Roots: roots})
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			var invalid x509.CertificateInvalidError
			require.ErrorAs(t, err, &invalid)
			assert.Equal(t, x509.CANotAuthorizedForThisName, invalid.Reason)
		})
	}
}
