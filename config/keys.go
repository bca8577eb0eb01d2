package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// SecretKeys are the settings LoadSecrets reads.
var SecretKeys = []string{KeyGrafanaAdminPassword, KeyAlertmanager}

// Keys is every setting of the namespace, sorted: the keys ParseRaw looks
// up, learnt by asking it, and SecretKeys. Deriving the list from the
// reader keeps a new key from being refused as unknown.
func Keys() []string {
	var keys []string
	_, _ = ParseRaw(func(key string) (string, bool) {
		keys = append(keys, key)
		return "", false
	})
	keys = append(keys, SecretKeys...)
	slices.Sort(keys)
	return slices.Compact(keys)
}

// KeysSet lists the configuration keys of this run, every namespace, from
// where the Pulumi Go SDK takes them (pulumi.EnvConfig, a JSON object of
// full key to value; the SDK's getEnvInfo in go/pulumi/run.go). The
// context offers no list of its keys. An object such as helmValues is one
// key whose value is JSON, so paths set with --path add no key. Unreadable
// JSON yields no keys, as the SDK then has no config either.
func KeysSet() []string {
	var cfg map[string]string
	if err := json.Unmarshal([]byte(os.Getenv(pulumi.EnvConfig)), &cfg); err != nil {
		return nil
	}
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// CheckKnown refuses every key of the namespace that is no setting,
// naming the nearest one: a misspelt key would otherwise be ignored and
// its default used without a word. Keys of other namespaces (gcp:project)
// belong to providers and pass.
func CheckKnown(keys []string) error {
	known := Keys()
	var errs []error
	for _, full := range keys {
		name, ok := strings.CutPrefix(full, Namespace+":")
		if !ok || slices.Contains(known, name) {
			continue
		}
		if near := nearest(name, known); near != "" {
			errs = append(errs, fmt.Errorf("%s is not a setting; did you mean %s:%s?", full, Namespace, near))
		} else {
			errs = append(errs, fmt.Errorf("%s is not a setting; the settings are listed in README.md, Stack configuration", full))
		}
	}
	return errors.Join(errs...)
}

// nearest is the known key closest to name by edit distance, ignoring
// case, or empty when none is close enough to be the one meant: within a
// third of the name's length, and at least 2 edits allowed.
func nearest(name string, known []string) string {
	best, bestDist := "", max(2, len(name)/3)+1
	for _, k := range known {
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes; keys
// are ASCII.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
