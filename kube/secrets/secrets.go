// Package secrets installs the lab's secrets operator: sealed-secrets, which
// decrypts SealedSecrets committed to Git, or external-secrets, which syncs
// secrets from a cloud secret manager. Exactly one of them runs per stack,
// chosen by config.Config.Secrets.
package secrets

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/kube/awskey"
	"github.com/your-org/sre-lab/kube/helm"
)

// Token is the component's type token.
const Token = "sre-lab:kube:SecretsOperator"

// SealedControllerName is the name the sealed-secrets chart gives its
// controller. kubeseal looks for a controller of exactly this name (in
// kube-system) unless told otherwise, so pinning it keeps `kubeseal` working
// without flags whatever the release is called.
const SealedControllerName = "sealed-secrets-controller"

// AWSStoreName is the name of the ClusterSecretStore that reads AWS Secrets
// Manager; ExternalSecrets refer to it by this name.
const AWSStoreName = "aws-secrets-manager"

// OptInLabel and OptInValue mark a namespace whose ExternalSecrets may use
// the AWS store: `kubectl label namespace <ns> sre-lab.io/aws-secrets=allowed`.
// The store serves no other namespace. Labelling a namespace takes the
// right to patch namespaces, which a namespace's own users do not have.
const (
	OptInLabel = "sre-lab.io/aws-secrets"
	OptInValue = "allowed"
)

// Operators lists the secrets operators this package installs, in the order
// error messages print them.
var Operators = []string{config.SecretsSealed, config.SecretsExternal}

// Args chooses and shapes the secrets operator.
type Args struct {
	// Operator is config.SecretsSealed or config.SecretsExternal.
	Operator string
	// Chart is the operator's pinned chart.
	Chart config.Chart
	// Namespace is where the release goes. The namespace is created
	// elsewhere: sealed-secrets belongs in kube-system, where kubeseal finds
	// its controller by default; external-secrets in its own namespace.
	Namespace string
	// Values are the user's raw chart values, merged over the typed ones key
	// by key.
	Values map[string]any
	// ServiceMonitor makes the chart render a Prometheus ServiceMonitor for
	// the operator's metrics.
	ServiceMonitor bool
	// AWSRegion, with external-secrets, adds a ClusterSecretStore for AWS
	// Secrets Manager in that region. It is an error with sealed-secrets.
	AWSRegion string
	// AWSKey is the store's own access key, allowed to read the lab's
	// secrets only; required with AWSRegion, as the nodes carry no AWS
	// identity.
	AWSKey *infra.AccessKey
	// DependsOn must be ready before the release installs (the CNI, the
	// CRDs); see helm.ReleaseArgs.DependsOn.
	DependsOn []pulumi.Resource
}

// Operator is the `sre-lab:kube:SecretsOperator` component.
type Operator struct {
	pulumi.ResourceState

	// Release is the operator's Helm release, for later components that need
	// its CRDs to depend on.
	Release *helm.Release
	// StoreName is the ClusterSecretStore ExternalSecrets can use; "" when
	// none was created.
	StoreName string
}

// validate rejects args that would install the wrong thing or nothing
// useful; it runs before anything is registered so a bad config leaves no
// half-built component behind.
func validate(args *Args) error {
	if args == nil {
		return fmt.Errorf("no arguments")
	}
	switch args.Operator {
	case config.SecretsSealed:
		if args.AWSRegion != "" {
			return fmt.Errorf("AWSRegion %q is set but %s reads no cloud secret manager; it applies only to %s",
				args.AWSRegion, config.SecretsSealed, config.SecretsExternal)
		}
	case config.SecretsExternal:
		if args.AWSRegion != "" && args.AWSKey == nil {
			return fmt.Errorf("the AWS store in %s needs its own access key: the nodes carry no AWS identity", args.AWSRegion)
		}
	default:
		return fmt.Errorf("unknown operator %q; expected one of: %s", args.Operator, strings.Join(Operators, ", "))
	}
	// An empty namespace would silently land the release in "default".
	if args.Namespace == "" {
		return fmt.Errorf("%s needs a namespace", args.Operator)
	}
	return nil
}

// Values returns the typed chart values of args.Operator, before the user's
// raw values; nil for an operator this package does not know.
func Values(args *Args) map[string]any {
	switch args.Operator {
	case config.SecretsSealed:
		return sealedValues(args)
	case config.SecretsExternal:
		return externalValues(args)
	}
	return nil
}

func sealedValues(args *Args) map[string]any {
	return map[string]any{
		"fullnameOverride": SealedControllerName,
		"metrics": map[string]any{
			"serviceMonitor": map[string]any{"enabled": args.ServiceMonitor},
		},
		// A single controller holding a few sealing keys; lab clusters seal
		// tens of secrets, not thousands.
		"resources": helm.Resources("10m", "32Mi", "128Mi"),
	}
}

func externalValues(args *Args) map[string]any {
	serviceMonitor := map[string]any{"enabled": args.ServiceMonitor}
	if args.ServiceMonitor {
		// The chart's default skips the ServiceMonitor when its CRD is not
		// known to the API server at render time. The monitoring CRDs are
		// installed in the same run, so on a first deploy the chart could
		// render before they exist and drop the monitor without a word.
		serviceMonitor["renderMode"] = "alwaysRender"
	}
	return map[string]any{
		// The store below and every ExternalSecret need the CRDs; the chart
		// installs and upgrades them with the operator.
		"installCRDs":    true,
		"serviceMonitor": serviceMonitor,
		// The controller caches the secrets it syncs, so it gets the most
		// headroom; the webhook and cert controller only validate and rotate.
		"resources": helm.Resources("10m", "64Mi", "256Mi"),
		"webhook": map[string]any{
			"resources": helm.Resources("10m", "32Mi", "128Mi"),
		},
		"certController": map[string]any{
			"resources": helm.Resources("10m", "32Mi", "128Mi"),
		},
	}
}

// StoreSpec is the AWS store's spec: Secrets Manager in region, read with
// the key in keyNamespace (the operator's own; a ClusterSecretStore must
// name it), for ExternalSecrets in namespaces labelled OptInLabel only
// (the conditions of external-secrets' v1 ClusterSecretStore CRD, chart
// 2.9.0 templates/crds/clustersecretstore.yaml). Without the conditions
// any namespace could sync any of the lab's secrets.
func StoreSpec(region, keyNamespace string) map[string]any {
	ref := func(key string) map[string]any {
		return map[string]any{"name": awskey.SecretName, "key": key, "namespace": keyNamespace}
	}
	return map[string]any{
		"provider": map[string]any{
			"aws": map[string]any{
				"service": "SecretsManager",
				"region":  region,
				"auth": map[string]any{
					"secretRef": map[string]any{
						"accessKeyIDSecretRef":     ref(awskey.IDKey),
						"secretAccessKeySecretRef": ref(awskey.SecretKey),
					},
				},
			},
		},
		"conditions": []any{
			map[string]any{
				"namespaceSelector": map[string]any{
					"matchLabels": map[string]any{OptInLabel: OptInValue},
				},
			},
		},
	}
}

// NewOperator installs the chosen secrets operator and, for external-secrets
// with an AWS region, a cluster-wide store for AWS Secrets Manager.
func NewOperator(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Operator, error) {
	if err := validate(args); err != nil {
		return nil, fmt.Errorf("secrets operator %s: %w", name, err)
	}
	component := &Operator{}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)

	release, err := helm.NewRelease(ctx, name+"-"+args.Chart.Name, helm.ReleaseArgs{
		Chart:     args.Chart,
		Namespace: args.Namespace,
		Values:    Values(args),
		Extra:     args.Values,
		DependsOn: args.DependsOn,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("secrets operator %s: %w", args.Operator, err)
	}
	component.Release = release

	if args.Operator == config.SecretsExternal && args.AWSRegion != "" {
		key, err := awskey.NewSecret(ctx, name+"-aws-key", args.Namespace, args.AWSKey, parent, pulumi.DependsOn(args.DependsOn))
		if err != nil {
			return nil, fmt.Errorf("cluster secret store %s: %w", AWSStoreName, err)
		}
		_, err = apiextensions.NewCustomResource(ctx, name+"-"+AWSStoreName, &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String("external-secrets.io/v1"),
			Kind:       pulumi.String("ClusterSecretStore"),
			// An explicit name, not an auto-named one, because ExternalSecrets
			// in other stacks and repositories refer to the store by name.
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(AWSStoreName)},
			OtherFields: kubernetes.UntypedArgs{
				"spec": StoreSpec(args.AWSRegion, args.Namespace),
			},
			// The CRD and the webhook that validates the store come with the
			// release; creating the store before them fails. The controller
			// reads the key Secret at every sync, so it needs no restart when
			// the key is replaced.
		}, parent, pulumi.DependsOn([]pulumi.Resource{release, key}))
		if err != nil {
			return nil, fmt.Errorf("cluster secret store %s: %w", AWSStoreName, err)
		}
		component.StoreName = AWSStoreName
	}

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"releaseName": release.Name,
		"storeName":   pulumi.String(component.StoreName),
	}); err != nil {
		return nil, err
	}
	return component, nil
}
