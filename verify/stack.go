package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Node roles as the stack's `nodes` output spells them.
const (
	RoleControlPlane = "controlplane"
	RoleWorker       = "worker"
)

// Secret is a credential from the stack outputs. It prints as a placeholder
// so that no %v of a Stack, in an error or a log line, can leak it.
type Secret string

// String hides the value from fmt's %v, %s and %q.
func (Secret) String() string { return "[secret]" }

// GoString hides the value from fmt's %#v.
func (Secret) GoString() string { return "[secret]" }

// Node is one entry of the stack's `nodes` output.
type Node struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	PrivateIP string `json:"privateIp"`
	PublicIP  string `json:"publicIp"`
}

// TalosAddress is where talosctl reaches the node: the public IP in a cloud,
// where the private one is not routable from the operator's machine, and the
// private one on a laptop, where there is no other.
func (n Node) TalosAddress() string {
	if n.PublicIP != "" {
		return n.PublicIP
	}
	return n.PrivateIP
}

// Stack is the part of the stack outputs the checks need.
type Stack struct {
	Kubeconfig  Secret `json:"kubeconfig"`
	Talosconfig Secret `json:"talosconfig"`
	Nodes       []Node `json:"nodes"`
}

// ReadStack reads the outputs of a Pulumi stack, secrets included.
func ReadStack(ctx context.Context, run Runner, stack string) (Stack, error) {
	return ReadOutputs(ctx, run, stack, DecodeStack)
}

// ReadOutputs runs `pulumi stack output --json --show-secrets` for stack
// and decodes the document with decode, so every command that reads a lab's
// outputs reports a failure the same way.
func ReadOutputs[S any](ctx context.Context, run Runner, stack string, decode func([]byte) (S, error)) (S, error) {
	var zero S
	out, err := run(ctx, "pulumi", "stack", "output", "--json", "--show-secrets", "-s", stack)
	if err != nil {
		return zero, fmt.Errorf("read outputs of stack %s: %w", stack, err)
	}
	s, err := decode(out)
	if err != nil {
		return zero, fmt.Errorf("outputs of stack %s: %w", stack, err)
	}
	return s, nil
}

// DecodeStack decodes `pulumi stack output --json` and rejects outputs the
// checks cannot work from, so a stack that was never deployed fails with a
// reason instead of six confusing check failures.
func DecodeStack(data []byte) (Stack, error) {
	var s Stack
	// The decoder's errors name offsets and types, never the values, so
	// they are safe to show even though the document holds secrets.
	if err := json.Unmarshal(data, &s); err != nil {
		return Stack{}, fmt.Errorf("decode: %w", err)
	}
	var errs []error
	if s.Kubeconfig == "" {
		errs = append(errs, errors.New("output kubeconfig is missing or empty"))
	}
	if s.Talosconfig == "" {
		errs = append(errs, errors.New("output talosconfig is missing or empty"))
	}
	if len(s.Nodes) == 0 {
		errs = append(errs, errors.New("output nodes is missing or empty"))
	}
	for i, n := range s.Nodes {
		if n.Name == "" {
			errs = append(errs, fmt.Errorf("nodes[%d] has no name", i))
		}
		if n.Role != RoleControlPlane && n.Role != RoleWorker {
			errs = append(errs, fmt.Errorf("nodes[%d] (%s) has role %q, want %q or %q", i, n.Name, n.Role, RoleControlPlane, RoleWorker))
		}
		if n.TalosAddress() == "" {
			errs = append(errs, fmt.Errorf("nodes[%d] (%s) has no IP address", i, n.Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Stack{}, err
	}
	return s, nil
}
