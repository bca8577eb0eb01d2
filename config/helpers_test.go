package config

import (
	"maps"
	"net/netip"
	"slices"
	"testing"
)

// keys is a stack's `sre-lab` configuration, keyed without the namespace.
type keys map[string]string

// lookup serves keys the way Pulumi's GetConfig does: a missing key is unset,
// an empty string is set.
func (k keys) lookup() Lookup {
	return func(key string) (string, bool) {
		v, ok := k[key]
		return v, ok
	}
}

// with returns a copy of k with extra merged in; extra wins.
func (k keys) with(extra keys) keys {
	out := maps.Clone(k)
	if out == nil {
		out = keys{}
	}
	maps.Copy(out, extra)
	return out
}

// without returns a copy of k with the named keys removed.
func (k keys) without(names ...string) keys {
	out := maps.Clone(k)
	for _, n := range names {
		delete(out, n)
	}
	return out
}

// testRecipient is a well-formed age public key.
const testRecipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

// awsKeys is the least a cloud stack must set: TLS through Let's Encrypt
// makes domain and acmeEmail required on every cloud, and staging and
// prod encrypt the etcd snapshots they take by default.
var awsKeys = keys{
	KeyCloud:               "aws",
	KeyRegion:              "eu-central-1",
	KeyAdminCIDRs:          `["203.0.113.7/32"]`,
	KeyDomain:              "lab.example.com",
	KeyACMEEmail:           "sre@example.com",
	KeyEtcdBackupRecipient: testRecipient,
}

// gcpKeys are the keys a GCP stack must set.
var gcpKeys = keys{
	KeyCloud:      "gcp",
	KeyRegion:     "europe-west3",
	KeyAdminCIDRs: `["203.0.113.7/32"]`,
	KeyDomain:     "lab.example.com",
	KeyACMEEmail:  "sre@example.com",
}

// azureKeys are the keys an Azure stack must set, the Talos image among
// them.
var azureKeys = keys{
	KeyCloud:      "azure",
	KeyRegion:     "westeurope",
	KeyAdminCIDRs: `["203.0.113.7/32"]`,
	KeyDomain:     "lab.example.com",
	KeyACMEEmail:  "sre@example.com",
	KeyTalosImage: "https://srelabimages.blob.core.windows.net/talos/talos-v1.12.4.vhd",
}

// hetznerKeys are the keys a Hetzner stack must set.
var hetznerKeys = keys{
	KeyCloud:      "hetzner",
	KeyRegion:     "fsn1",
	KeyAdminCIDRs: `["203.0.113.7/32"]`,
	KeyDomain:     "lab.example.com",
	KeyACMEEmail:  "sre@example.com",
}

func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// configErrors flattens an error tree (errors.Join nests) into every *Error
// it holds, in order.
func configErrors(err error) []*Error {
	if err == nil {
		return nil
	}
	var out []*Error
	switch u := err.(type) {
	case *Error:
		return []*Error{u}
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, configErrors(e)...)
		}
	case interface{ Unwrap() error }:
		out = append(out, configErrors(u.Unwrap())...)
	}
	return out
}

// errorKeys lists the keys of every *Error in err, sorted.
func errorKeys(err error) []string {
	var ks []string
	for _, e := range configErrors(err) {
		ks = append(ks, e.Key)
	}
	slices.Sort(ks)
	return ks
}

// mustParse parses a configuration that is expected to be valid.
func mustParse(t *testing.T, stack string, k keys) Config {
	t.Helper()
	cfg, err := Parse(stack, k.lookup())
	if err != nil {
		t.Fatalf("Parse(%q, %v): unexpected error:\n%v", stack, k, err)
	}
	return cfg
}
