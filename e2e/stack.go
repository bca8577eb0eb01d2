package e2e

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/your-org/sre-lab/verify"
)

// Stack is the part of the stack outputs the assertions need: verify's,
// and Grafana's admin password.
type Stack struct {
	verify.Stack
	GrafanaAdminPassword verify.Secret
}

// ReadStack reads the outputs of a Pulumi stack, secrets included, and
// rejects what verify rejects plus a missing Grafana password.
func ReadStack(ctx context.Context, run verify.Runner, stack string) (Stack, error) {
	return verify.ReadOutputs(ctx, run, stack, DecodeStack)
}

// DecodeStack decodes `pulumi stack output --json`.
func DecodeStack(data []byte) (Stack, error) {
	base, err := verify.DecodeStack(data)
	var grafana struct {
		Password verify.Secret `json:"grafanaAdminPassword"`
	}
	// verify.DecodeStack has reported a document that does not decode;
	// decoding it again can only fail the same way.
	if json.Unmarshal(data, &grafana) == nil && grafana.Password == "" {
		err = errors.Join(err, errors.New("output grafanaAdminPassword is missing or empty"))
	}
	if err != nil {
		return Stack{}, err
	}
	return Stack{Stack: base, GrafanaAdminPassword: grafana.Password}, nil
}
