// Package apigate holds back everything that talks to the Kubernetes API
// until the API server answers. pulumi-kubernetes probes the cluster once,
// when its provider is configured, and if nothing answers it marks the
// cluster unreachable and fails every resource of the update
// (provider/pkg/provider/provider.go, clusterUnreachable). Talos hands out
// the kubeconfig as soon as the machine config exists (the Kubeconfig RPC
// in internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go),
// while etcd and the API server's static pod are still starting, so the
// provider must not see the kubeconfig before the gate has passed.
package apigate

import (
	_ "embed"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// DefaultTimeout bounds the wait: a bootstrapped control plane pulls the
// etcd and API server images and starts them within a few minutes; a slow
// link to the image registry on a laptop takes longer.
const DefaultTimeout = 15 * time.Minute

// pollInterval is the pause between two attempts.
const pollInterval = 5 * time.Second

//go:embed scripts/lib.sh
var lib string

//go:embed scripts/wait-api.sh
var waitAPI string

// script is the gate's own wait, on the shared library.
var script = Compose(waitAPI)

// Compose puts a script that waits on the Kubernetes API on top of the
// shared library (scripts/lib.sh: api_open, api_get, api_error,
// wait_until), in the text the command provider hands to /bin/sh -c. Its
// environment must hold SRE_API_URL, SRE_API_CA, SRE_API_TIMEOUT_SECONDS
// and SRE_API_INTERVAL_SECONDS, and SRE_API_CERT and SRE_API_KEY to read
// objects as the admin.
func Compose(body string) string {
	return lib + body
}

// Args shapes the gate of one cluster.
type Args struct {
	// URL is the API server as clients reach it: https://<endpoint>:6443.
	URL pulumi.StringInput
	// CACertificate is the cluster's CA, PEM; the server must present a
	// certificate it signed.
	CACertificate pulumi.StringInput
	// Timeout bounds the wait; zero means DefaultTimeout.
	Timeout time.Duration
}

// Access is how a script reaches the API server as the cluster admin, for
// waits that read objects, each value PEM; the key is secret.
type Access struct {
	// URL is the API server as clients reach it.
	URL pulumi.StringOutput
	// CACertificate is the cluster's CA.
	CACertificate pulumi.StringOutput
	// ClientCertificate and ClientKey are the admin's credentials.
	ClientCertificate pulumi.StringOutput
	ClientKey         pulumi.StringOutput
}

// PEMOutput decodes an output the way PEM decodes a string; secrecy is
// kept.
func PEMOutput(v pulumi.StringOutput) pulumi.StringOutput {
	return v.ApplyT(PEM).(pulumi.StringOutput)
}

// New registers the gate: a command that polls URL until the API server
// answers, run when the cluster is created and again whenever its address
// or CA changes (a new cluster).
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*local.Command, error) {
	if args.URL == nil || args.CACertificate == nil {
		return nil, fmt.Errorf("api gate %s: the URL and the CA certificate are required", name)
	}
	timeout := args.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return local.NewCommand(ctx, name, &local.CommandArgs{
		Interpreter: pulumi.StringArray{pulumi.String("/bin/sh"), pulumi.String("-c")},
		Create:      pulumi.String(script),
		Environment: pulumi.StringMap{
			"SRE_API_URL":              args.URL,
			"SRE_API_CA":               args.CACertificate,
			"SRE_API_TIMEOUT_SECONDS":  pulumi.String(seconds(timeout)),
			"SRE_API_INTERVAL_SECONDS": pulumi.String(seconds(pollInterval)),
		},
		// A new endpoint or CA is a new cluster, which must be waited for
		// again; the create script is the only one.
		Triggers: pulumi.Array{args.URL, args.CACertificate},
	}, opts...)
}

// Hold returns value once gate has passed, so whatever is configured from
// it (the Kubernetes provider) cannot start earlier. Secrecy is kept.
func Hold(gate *local.Command, value pulumi.StringOutput) pulumi.StringOutput {
	return pulumi.All(value, gate.Stdout).ApplyT(func(v []any) string {
		return v[0].(string)
	}).(pulumi.StringOutput)
}

// PEM returns ca as PEM text, decoding it when it comes base64-encoded.
func PEM(ca string) (string, error) {
	ca = strings.TrimSpace(ca)
	if strings.HasPrefix(ca, "-----BEGIN") {
		return ca, nil
	}
	decoded, err := base64.StdEncoding.DecodeString(ca)
	if err != nil {
		return "", fmt.Errorf("the cluster CA is neither PEM nor base64: %w", err)
	}
	if !strings.HasPrefix(strings.TrimSpace(string(decoded)), "-----BEGIN") {
		return "", fmt.Errorf("the cluster CA decodes from base64 to something that is not PEM")
	}
	return strings.TrimSpace(string(decoded)), nil
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
