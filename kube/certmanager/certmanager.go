// Package certmanager installs cert-manager and the cluster issuers every
// ingress certificate in the lab comes from: a self-signed CA on local labs,
// which no public ACME server can reach, and Let's Encrypt on clouds.
package certmanager

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/kube/helm"
)

// Token is the component's type token.
const Token = "sre-lab:kube:CertManager"

// Issuer kinds, the values of IssuerArgs.Kind.
const (
	// SelfSignedCA issues from a CA the cluster creates for itself: local labs
	// have no public address for an ACME server to validate.
	SelfSignedCA = "selfsigned-ca"
	// ACME issues from Let's Encrypt (or another ACME directory) through
	// HTTP-01 challenges answered by the ingress controller.
	ACME = "acme"
)

// Let's Encrypt directories.
const (
	// LetsEncryptProduction issues publicly trusted certificates, under
	// rate limits.
	LetsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"
	// LetsEncryptStaging issues untrusted certificates with far higher rate
	// limits, for trying a setup before it counts.
	LetsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// Names of the ClusterIssuers that workloads reference from their
// Certificates and ingress annotations.
const (
	// CAIssuer signs with the lab's self-signed CA.
	CAIssuer = "sre-lab-ca"
	// LetsEncryptIssuer is Let's Encrypt production, or IssuerArgs.Server
	// when set.
	LetsEncryptIssuer = "letsencrypt"
	// LetsEncryptStagingIssuer is always Let's Encrypt staging.
	LetsEncryptStagingIssuer = "letsencrypt-staging"
)

const (
	apiVersion = "cert-manager.io/v1"
	// selfSignedIssuer only bootstraps the CA certificate; nothing else
	// should use it, since each certificate it signs is its own root.
	selfSignedIssuer = "sre-lab-selfsigned"
	// caCertificate names both the CA Certificate and the Secret it writes.
	caCertificate = "sre-lab-ca"
	// caDuration is how long each CA certificate is valid: a year, so a
	// copy of the CA trusted on a host (or its key, should it leak) is
	// good for a year at most.
	caDuration = "8760h"
	// caRenewBefore renews the CA this long before it expires: longer than
	// the 90 days a leaf certificate lives by default, so every leaf the old
	// CA signed expires before the old CA does, and hosts that trust both
	// the old and the renewed CA see no gap.
	caRenewBefore = "2400h"
	// nameConstraintsGate is the cert-manager feature gate that honours a
	// Certificate's nameConstraints; the CRD asks for it on both the
	// controller and the webhook.
	nameConstraintsGate = "NameConstraints=true"
)

// IssuerArgs chooses where certificates come from.
type IssuerArgs struct {
	// Kind is SelfSignedCA or ACME.
	Kind string
	// Email is the ACME account address, where Let's Encrypt sends expiry
	// and policy notices; required for ACME.
	Email string
	// Server is the ACME directory of LetsEncryptIssuer; empty means
	// LetsEncryptProduction.
	Server string
	// IngressClass is the ingress class of the HTTP-01 solver, the one that
	// routes the cluster's public traffic (Cilium's, "cilium"); required for
	// ACME.
	IngressClass string
	// Domain is the only DNS domain (with its subdomains) the self-signed
	// CA may sign for, written into its name constraints; required for
	// SelfSignedCA.
	Domain string
	// SolverAnnotations go on every Ingress the HTTP-01 solver creates,
	// for the controller's per-Ingress settings (Cilium: no forced HTTPS
	// redirect, which would send the challenge to a listener that has no
	// certificate yet).
	SolverAnnotations map[string]string
}

// Args configures cert-manager.
type Args struct {
	// Chart is the pinned cert-manager chart.
	Chart config.Chart
	// Namespace runs cert-manager. It also holds the CA secret: ClusterIssuers
	// read their secrets from cert-manager's cluster resource namespace, which
	// is its own namespace.
	Namespace string
	// Values are the user's raw chart values; they win over Values(args).
	Values map[string]any
	// ServiceMonitor creates a ServiceMonitor for the controller and webhook;
	// set it only once the Prometheus Operator CRDs exist, or the release fails.
	ServiceMonitor bool
	// Issuer chooses the cluster issuers.
	Issuer IssuerArgs
	// DependsOn must be ready before the release installs (the CNI, the
	// CRDs); see helm.ReleaseArgs.DependsOn.
	DependsOn []pulumi.Resource
}

// CertManager is the `sre-lab:kube:CertManager` component.
type CertManager struct {
	pulumi.ResourceState

	// IssuerName is the ClusterIssuer workloads should reference: CAIssuer
	// or LetsEncryptIssuer.
	IssuerName string
	// Release is the cert-manager Helm release, for whatever needs its CRDs
	// or webhook.
	Release *helm.Release
}

// Values renders the typed chart values of args.
func Values(args *Args) map[string]any {
	return map[string]any{
		"crds": map[string]any{
			"enabled": true,
			// Removing the CRDs would garbage-collect every Certificate and
			// issuer with them, so they outlive the release.
			"keep": true,
		},
		// One replica each: leader election makes more of them standbys,
		// which a lab has no room for.
		"replicaCount": 1,
		"prometheus": map[string]any{
			"enabled": true,
			"servicemonitor": map[string]any{
				"enabled": args.ServiceMonitor,
			},
			// The chart refuses both monitors at once; the lab scrapes
			// through ServiceMonitors only.
			"podmonitor": map[string]any{
				"enabled": false,
			},
		},
		"resources": helm.Resources("10m", "64Mi", "256Mi"),
		// The local CA's name constraints. The controller has the gate on by
		// default since v1.20; saying so keeps a chart whose controller or
		// webhook defaults it off from dropping the constraints silently.
		"featureGates": nameConstraintsGate,
		"webhook": map[string]any{
			"featureGates": nameConstraintsGate,
			"replicaCount": 1,
			"resources":    helm.Resources("10m", "32Mi", "128Mi"),
		},
		"cainjector": map[string]any{
			"replicaCount": 1,
			// cainjector caches every CRD, webhook configuration and the
			// certificates they point at, so it grows faster than the webhook.
			"resources": helm.Resources("10m", "64Mi", "256Mi"),
		},
	}
}

// validate rejects args that would install cert-manager without a usable
// issuer, before anything is registered.
func validate(args *Args) error {
	if args == nil {
		return errors.New("args are required")
	}
	if args.Namespace == "" {
		return errors.New(`args.Namespace is empty: cert-manager and its CA secret need one to live in`)
	}
	switch args.Issuer.Kind {
	case SelfSignedCA:
		if args.Issuer.Domain == "" {
			return fmt.Errorf("Issuer.Domain %q: required for %s issuers, the CA may sign for that domain only", args.Issuer.Domain, SelfSignedCA)
		}
	case ACME:
		if args.Issuer.Email == "" {
			return fmt.Errorf("Issuer.Email %q: required for %s issuers, it is the ACME account address", args.Issuer.Email, ACME)
		}
		if args.Issuer.IngressClass == "" {
			return fmt.Errorf("Issuer.IngressClass %q: required for %s issuers, HTTP-01 challenges are answered through it", args.Issuer.IngressClass, ACME)
		}
	default:
		return fmt.Errorf("Issuer.Kind %q: must be %q or %q", args.Issuer.Kind, SelfSignedCA, ACME)
	}
	return nil
}

// NewCertManager installs cert-manager and the cluster issuers of
// args.Issuer.Kind.
func NewCertManager(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*CertManager, error) {
	if err := validate(args); err != nil {
		return nil, fmt.Errorf("cert-manager %s: %w", name, err)
	}
	component := &CertManager{}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)

	release, err := helm.NewRelease(ctx, name, helm.ReleaseArgs{
		Chart:     args.Chart,
		Namespace: args.Namespace,
		Values:    Values(args),
		Extra:     args.Values,
		DependsOn: args.DependsOn,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("cert-manager %s: %w", name, err)
	}
	component.Release = release
	// The release waits for the webhook to be ready, and the API server
	// rejects cert-manager objects until both the CRDs and the webhook are up.
	afterRelease := pulumi.DependsOn([]pulumi.Resource{release})

	switch args.Issuer.Kind {
	case SelfSignedCA:
		component.IssuerName, err = selfSignedCA(ctx, name, args, parent, afterRelease)
	case ACME:
		component.IssuerName, err = letsEncrypt(ctx, name, args, parent, afterRelease)
	}
	if err != nil {
		return nil, fmt.Errorf("cert-manager %s: %w", name, err)
	}

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"issuerName": pulumi.String(component.IssuerName),
	}); err != nil {
		return nil, err
	}
	return component, nil
}

// selfSignedCA creates a CA certificate signed by itself and the issuer that
// signs with it, and returns that issuer's name. Browsers trust it once the
// CA secret's ca.crt is imported, which beats a self-signed certificate per
// host. Since that import makes the host trust whatever the CA signs, the CA
// is valid for args.Issuer.Domain only (critical name constraints, which
// TLS clients enforce on a trusted root) and for a year; cert-manager
// renews it, with a new key, caRenewBefore ahead, and the renewed ca.crt
// has to be imported again.
func selfSignedCA(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (string, error) {
	selfSigned, err := object(ctx, name+"-selfsigned", "ClusterIssuer", &metav1.ObjectMetaArgs{
		Name: pulumi.String(selfSignedIssuer),
	}, map[string]any{
		"selfSigned": map[string]any{},
	}, opts...)
	if err != nil {
		return "", fmt.Errorf("cluster issuer %s: %w", selfSignedIssuer, err)
	}
	ca, err := object(ctx, name+"-ca-certificate", "Certificate", &metav1.ObjectMetaArgs{
		Name:      pulumi.String(caCertificate),
		Namespace: pulumi.String(args.Namespace),
	}, map[string]any{
		"isCA":        true,
		"commonName":  "sre-lab local CA",
		"secretName":  caCertificate,
		"duration":    caDuration,
		"renewBefore": caRenewBefore,
		"nameConstraints": map[string]any{
			"critical": true,
			"permitted": map[string]any{
				"dnsDomains": []string{args.Issuer.Domain},
			},
		},
		"privateKey": map[string]any{
			"algorithm":      "ECDSA",
			"size":           256,
			"rotationPolicy": "Always",
		},
		"issuerRef": map[string]any{
			"name":  selfSignedIssuer,
			"kind":  "ClusterIssuer",
			"group": "cert-manager.io",
		},
	}, after(opts, selfSigned)...)
	if err != nil {
		return "", fmt.Errorf("certificate %s: %w", caCertificate, err)
	}
	// Without the secret the issuer would only report not ready until it
	// appears; waiting for the Certificate keeps creation and deletion in
	// order.
	if _, err := object(ctx, name+"-ca", "ClusterIssuer", &metav1.ObjectMetaArgs{
		Name: pulumi.String(CAIssuer),
	}, map[string]any{
		"ca": map[string]any{"secretName": caCertificate},
	}, after(opts, ca)...); err != nil {
		return "", fmt.Errorf("cluster issuer %s: %w", CAIssuer, err)
	}
	return CAIssuer, nil
}

// letsEncrypt creates the production and staging ACME issuers and returns
// the production one's name. Each has its own account key secret: the two
// directories hold separate accounts.
func letsEncrypt(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (string, error) {
	server := args.Issuer.Server
	if server == "" {
		server = LetsEncryptProduction
	}
	for _, issuer := range []struct{ name, server string }{
		{LetsEncryptIssuer, server},
		{LetsEncryptStagingIssuer, LetsEncryptStaging},
	} {
		if _, err := object(ctx, name+"-"+issuer.name, "ClusterIssuer", &metav1.ObjectMetaArgs{
			Name: pulumi.String(issuer.name),
		}, map[string]any{
			"acme": map[string]any{
				"email":  args.Issuer.Email,
				"server": issuer.server,
				"privateKeySecretRef": map[string]any{
					"name": issuer.name + "-account-key",
				},
				"solvers": []any{
					map[string]any{
						"http01": map[string]any{
							"ingress": solverIngress(args.Issuer),
						},
					},
				},
			},
		}, opts...); err != nil {
			return "", fmt.Errorf("cluster issuer %s: %w", issuer.name, err)
		}
	}
	return LetsEncryptIssuer, nil
}

// solverIngress is how the HTTP-01 solver's Ingresses are made.
func solverIngress(issuer IssuerArgs) map[string]any {
	ingress := map[string]any{"ingressClassName": issuer.IngressClass}
	if len(issuer.SolverAnnotations) > 0 {
		annotations := map[string]any{}
		for k, v := range issuer.SolverAnnotations {
			annotations[k] = v
		}
		ingress["ingressTemplate"] = map[string]any{"metadata": map[string]any{"annotations": annotations}}
	}
	return ingress
}

// after returns opts plus a dependency on r, in a new slice so that sibling
// resources never share (and overwrite) one backing array.
func after(opts []pulumi.ResourceOption, r pulumi.Resource) []pulumi.ResourceOption {
	out := make([]pulumi.ResourceOption, 0, len(opts)+1)
	out = append(out, opts...)
	return append(out, pulumi.DependsOn([]pulumi.Resource{r}))
}

// object creates a cert-manager.io/v1 object. Callers name it in metadata
// because workloads reference issuers by name, which Pulumi's auto-naming
// would suffix.
func object(ctx *pulumi.Context, name, kind string, metadata *metav1.ObjectMetaArgs, spec map[string]any, opts ...pulumi.ResourceOption) (*apiextensions.CustomResource, error) {
	return apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String(apiVersion),
		Kind:        pulumi.String(kind),
		Metadata:    metadata,
		OtherFields: kubernetes.UntypedArgs{"spec": spec},
	}, opts...)
}
