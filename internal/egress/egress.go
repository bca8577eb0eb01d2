// Package egress tells whether the machine running `pulumi up` may reach
// the nodes' admin ports. In a cloud the Talos API (50000) and the
// Kubernetes API (6443) answer only sre-lab:adminCidrs, and every apply,
// the API gate and the Kubernetes provider connect from this machine: from
// an address outside the list, each would time out after minutes instead
// of failing at once. A hosted Pulumi Deployments runner is the usual case.
package egress

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// SkipEnv is the variable that, set to 1, skips the check: for a network whose connections to
// the nodes leave from another address than the one the lookup sees.
const SkipEnv = "SRE_LAB_SKIP_EGRESS_CHECK"

// lookupURL answers a request with the caller's public IPv4 address.
const lookupURL = "https://checkip.amazonaws.com"

// Lookup asks lookupURL for this machine's public address.
func Lookup(ctx context.Context) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, lookupURL, nil)
	if err != nil {
		return netip.Addr{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return netip.Addr{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256))
	if err != nil {
		return netip.Addr{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return netip.Addr{}, fmt.Errorf("%s answered %s", lookupURL, resp.Status)
	}
	return netip.ParseAddr(strings.TrimSpace(string(body)))
}

// Check reports an error naming the key, the address and the fix when addr
// is in none of cidrs.
func Check(addr netip.Addr, cidrs []netip.Prefix, key string) error {
	for _, c := range cidrs {
		if c.Contains(addr) {
			return nil
		}
	}
	listed := make([]string, len(cidrs))
	for i, c := range cidrs {
		listed[i] = c.String()
	}
	return fmt.Errorf("%s = [%s]: this machine reaches the internet from %s, which is not in the list, "+
		"so the nodes' Talos API (50000) and Kubernetes API (6443) will not answer it and pulumi up would time out. "+
		"Add it (pulumi config set --path '%s[%d]' %s/32) or run from a machine whose address is listed "+
		"(for Pulumi Deployments: a self-hosted agent pool with a fixed egress address); "+
		"if your connections to the nodes leave from another address than %s, set %s=1",
		key, strings.Join(listed, ", "), addr, key, len(cidrs), addr, lookupURL, SkipEnv)
}
