package config

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Secret keys: set them with `pulumi config set --secret`.
const (
	KeyGrafanaAdminPassword = "grafanaAdminPassword"
	KeyAlertmanager         = "alertmanager"
)

// Secrets are the stack's secret settings.
type Secrets struct {
	// GrafanaAdminPassword is Grafana's admin password, secret; nil when
	// unset, and then the lab generates one.
	GrafanaAdminPassword pulumi.StringInput
	// Alertmanager is the receivers object as JSON, for the alerting
	// package to parse and validate; empty when unset. It holds webhook
	// URLs and keys, so it is only ever passed on as a secret.
	Alertmanager string
}

// LoadSecrets reads the secret keys. A value stored in plain text is an
// error: it would sit unencrypted in the stack file.
func LoadSecrets(ctx *pulumi.Context) (Secrets, error) {
	var s Secrets
	for _, key := range SecretKeys {
		full := Namespace + ":" + key
		value, ok := ctx.GetConfig(full)
		if !ok {
			continue
		}
		if !ctx.IsConfigSecret(full) {
			return Secrets{}, &Error{Key: key, Value: "(not shown)", Allowed: fmt.Sprintf(
				"is stored in plain text; set it with `pulumi config set --secret %s ...` (or `--secret --path`)", full)}
		}
		switch key {
		case KeyGrafanaAdminPassword:
			if len(value) < 12 {
				return Secrets{}, &Error{Key: key, Value: "(secret)", Allowed: "must be at least 12 characters"}
			}
			s.GrafanaAdminPassword = pulumi.ToSecret(pulumi.String(value)).(pulumi.StringOutput)
		case KeyAlertmanager:
			s.Alertmanager = value
		}
	}
	return s, nil
}
