package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseRefusesExposureAndLimits covers the rules that keep a stack from
// opening its APIs to wide ranges or from failing half-way through an
// update on a provider limit: each error names the key, the value and why.
func TestParseRefusesExposureAndLimits(t *testing.T) {
	const allow = "or set sre-lab:allowWideAdminCidrs: true"
	tests := []struct {
		name       string
		stack      string
		keys       keys
		key, value string
		allowed    []string
	}{
		// adminCidrs wider than /16 (IPv4) or /48 (IPv6).
		{"adminCidrs the whole internet", "dev", awsKeys.with(keys{KeyAdminCIDRs: `["0.0.0.0/0"]`}),
			KeyAdminCIDRs, "0.0.0.0/0", []string{"is wider than /16", "Kubernetes API (6443) and Talos API (50000)", "the whole internet", "maintenance mode", allow}},
		{"adminCidrs a /8 beside a /32", "prod", gcpKeys.with(keys{KeyAdminCIDRs: `["203.0.113.7/32","10.0.0.0/8"]`}),
			KeyAdminCIDRs, "10.0.0.0/8", []string{"is wider than /16", "that whole range", allow}},
		{"adminCidrs a /15 on hetzner", "dev", hetznerKeys.with(keys{KeyAdminCIDRs: "198.50.0.0/15"}),
			KeyAdminCIDRs, "198.50.0.0/15", []string{"is wider than /16", allow}},
		{"adminCidrs explicitly not allowed wide", "dev", azureKeys.with(keys{KeyAdminCIDRs: "0.0.0.0/0", KeyAllowWideAdminCIDRs: "false"}),
			KeyAdminCIDRs, "0.0.0.0/0", []string{"is wider than /16", allow}},
		{"adminCidrs all of IPv6", "dev", awsKeys.with(keys{KeyAdminCIDRs: `["::/0"]`}),
			KeyAdminCIDRs, "::/0", []string{"is wider than /48", "the whole internet", allow}},
		{"adminCidrs an IPv6 /32", "dev", awsKeys.with(keys{KeyAdminCIDRs: `["2001:db8::/32"]`}),
			KeyAdminCIDRs, "2001:db8::/32", []string{"is wider than /48", allow}},
		{"allowWideAdminCidrs on virtualbox", "local", keys{KeyAllowWideAdminCIDRs: "true"},
			KeyAllowWideAdminCIDRs, "true", []string{"has no meaning on virtualbox"}},
		{"allowWideAdminCidrs not a boolean", "dev", awsKeys.with(keys{KeyAllowWideAdminCIDRs: "yes please"}),
			KeyAllowWideAdminCIDRs, "yes please", []string{"must be true or false"}},

		// Local sizes that overflow or no laptop has.
		{"local vCPU count that overflows", "local", keys{KeyWorkerSize: "99999999999999999999cpu-4gb"},
			KeyWorkerSize, "99999999999999999999cpu-4gb", []string{"asks for 99999999999999999999 vCPU", "at most 64 vCPU and 512 GB"}},
		{"local memory that overflows", "local", keys{KeyControlPlaneSize: "2cpu-18446744073709551617gb"},
			KeyControlPlaneSize, "2cpu-18446744073709551617gb", []string{"at most 64 vCPU and 512 GB"}},
		{"65 vCPU locally", "local", keys{KeyWorkerSize: "65cpu-8gb"},
			KeyWorkerSize, "65cpu-8gb", []string{"asks for 65 vCPU and 8 GB", "at most 64 vCPU"}},
		{"513 GB on docker", "local", keys{KeyCloud: "docker", KeyWorkerSize: "4cpu-513gb"},
			KeyWorkerSize, "4cpu-513gb", []string{"at most 64 vCPU and 512 GB"}},

		// Disks beyond what each backend attaches.
		{"disk beyond gp3 on aws", "dev", awsKeys.with(keys{KeyWorkerDiskGiB: "16385"}),
			KeyWorkerDiskGiB, "16385", []string{"must be at most 16384 GiB on aws", "gp3"}},
		{"disk beyond pd-balanced on gcp", "dev", gcpKeys.with(keys{KeyControlPlaneDiskGiB: "65537"}),
			KeyControlPlaneDiskGiB, "65537", []string{"must be at most 65536 GiB on gcp", "pd-balanced"}},
		{"disk beyond an Azure OS disk", "dev", azureKeys.with(keys{KeyWorkerDiskGiB: "4096"}),
			KeyWorkerDiskGiB, "4096", []string{"must be at most 4095 GiB on azure", "OS disk"}},
		{"disk beyond a laptop on virtualbox", "local", keys{KeyControlPlaneDiskGiB: "2049"},
			KeyControlPlaneDiskGiB, "2049", []string{"must be at most 2048 GiB on virtualbox", "laptop"}},

		// Names GCP derives from the cluster name.
		{"clusterName of 49 on gcp", "dev", gcpKeys.with(keys{KeyClusterName: strings.Repeat("a", 49)}),
			KeyClusterName, strings.Repeat("a", 49), []string{"has 49 characters; at most 48 on gcp", "<clusterName>-images", "at most 63"}},
		{"clusterName of 63 on gcp", "prod", gcpKeys.with(keys{KeyClusterName: strings.Repeat("b", 63)}),
			KeyClusterName, strings.Repeat("b", 63), []string{"at most 48 on gcp"}},

		// The AWS node security group: 3 fixed rules, 2 per admin CIDR,
		// 1 per node, at most 60.
		{"56 nodes with one admin CIDR on aws", "prod", awsKeys.with(keys{KeyControlPlaneCount: "7", KeyWorkerCount: "49"}),
			KeyWorkerCount, "49", []string{"56 nodes (7 control planes) with 1 adminCidrs entries need 61 inbound rules", "default quota of 60", "at most 55 nodes in all, so at most 48 workers"}},
		{"many admin CIDRs shrink the node count on aws", "dev", awsKeys.with(keys{
			KeyAdminCIDRs:  `["203.0.113.1/32","203.0.113.2/32","203.0.113.3/32","203.0.113.4/32","203.0.113.5/32","203.0.113.6/32","203.0.113.7/32","203.0.113.8/32","203.0.113.9/32","203.0.113.10/32"]`,
			KeyWorkerCount: "37"}),
			KeyWorkerCount, "37", []string{"38 nodes (1 control planes) with 10 adminCidrs entries need 61 inbound rules", "at most 37 nodes in all, so at most 36 workers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(tt.stack, tt.keys.lookup())
			require.Error(t, err)
			assert.Zero(t, cfg)

			var found bool
			for _, e := range configErrors(err) {
				if e.Key == tt.key && e.Value == tt.value {
					found = true
					assert.Contains(t, e.Error(), fmt.Sprintf("sre-lab:%s = %q: ", tt.key, tt.value))
					for _, phrase := range tt.allowed {
						assert.Contains(t, e.Error(), phrase)
					}
				}
			}
			assert.True(t, found, "no *Error with key %q and value %q in:\n%v", tt.key, tt.value, err)
		})
	}
}

// TestParseAcceptsTheLimits: the values at each bound, and wide ranges
// once allowWideAdminCidrs says so, still pass.
func TestParseAcceptsTheLimits(t *testing.T) {
	tests := []struct {
		name  string
		stack string
		keys  keys
	}{
		{"adminCidrs a /16", "dev", awsKeys.with(keys{KeyAdminCIDRs: "198.51.0.0/16"})},
		{"0.0.0.0/0 with allowWideAdminCidrs", "dev", gcpKeys.with(keys{KeyAdminCIDRs: "0.0.0.0/0", KeyAllowWideAdminCIDRs: "true"})},
		{"a /8 with allowWideAdminCidrs on hetzner", "prod", hetznerKeys.with(keys{KeyAdminCIDRs: "10.0.0.0/8", KeyAllowWideAdminCIDRs: "true"})},
		{"64 vCPU and 512 GB locally", "local", keys{KeyWorkerSize: "64cpu-512gb"}},
		{"largest disk on aws", "dev", awsKeys.with(keys{KeyWorkerDiskGiB: "16384"})},
		{"largest disk on gcp", "dev", gcpKeys.with(keys{KeyWorkerDiskGiB: "65536"})},
		{"largest disk on azure", "dev", azureKeys.with(keys{KeyControlPlaneDiskGiB: "4095"})},
		{"largest disk on virtualbox", "local", keys{KeyWorkerDiskGiB: "2048"}},
		{"hetzner ignores the disk size", "dev", hetznerKeys.with(keys{KeyWorkerDiskGiB: "100000"})},
		{"clusterName of 48 on gcp", "dev", gcpKeys.with(keys{KeyClusterName: strings.Repeat("a", 48)})},
		{"clusterName of 63 on aws", "dev", awsKeys.with(keys{KeyClusterName: strings.Repeat("a", 63)})},
		{"55 nodes with one admin CIDR on aws", "prod", awsKeys.with(keys{KeyControlPlaneCount: "7", KeyWorkerCount: "48"})},
		{"57 nodes on gcp, which has no such rule", "prod", gcpKeys.with(keys{KeyControlPlaneCount: "7", KeyWorkerCount: "50"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustParse(t, tt.stack, tt.keys)
		})
	}
}

// TestHelmValuesCannotReplaceTheAlertmanagerConfig: kube-prometheus-stack
// values that would take over the configuration rendered from the secret
// sre-lab:alertmanager are refused, naming that key; their content, which
// may hold receiver secrets, is not shown.
func TestHelmValuesCannotReplaceTheAlertmanagerConfig(t *testing.T) {
	tests := []struct {
		name   string
		values string
		// key after "helmValues.kube-prometheus-stack.", and the value shown.
		key, value string
	}{
		{"alertmanager.config", `{"kube-prometheus-stack":{"alertmanager":{"config":{"receivers":[{"name":"x","webhook_configs":[{"url":"https://hooks.example.com/s3cr3tT0ken"}]}]}}}}`,
			"alertmanager.config", "(not shown)"},
		{"alertmanager.config as a string", `{"kube-prometheus-stack":{"alertmanager":{"config":"route: {}"}}}`,
			"alertmanager.config", "(not shown)"},
		{"alertmanager.config set to null", `{"kube-prometheus-stack":{"alertmanager":{"config":null}}}`,
			"alertmanager.config", "(not shown)"},
		{"useExistingSecret", `{"kube-prometheus-stack":{"alertmanager":{"alertmanagerSpec":{"useExistingSecret":true}}}}`,
			"alertmanager.alertmanagerSpec.useExistingSecret", "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("dev", awsKeys.with(keys{KeyHelmValues: tt.values}).lookup())
			require.Error(t, err)
			errs := configErrors(err)
			require.Len(t, errs, 1, "%v", err)
			assert.Equal(t, KeyHelmValues+".kube-prometheus-stack."+tt.key, errs[0].Key)
			assert.Equal(t, tt.value, errs[0].Value)
			assert.Contains(t, errs[0].Error(), "set receivers in the secret sre-lab:alertmanager instead")
			assert.NotContains(t, err.Error(), "s3cr3tT0ken")
		})
	}

	// Other Alertmanager values, and the same keys in other charts, pass.
	for _, values := range []string{
		`{"kube-prometheus-stack":{"alertmanager":{"alertmanagerSpec":{"replicas":2}}}}`,
		`{"kube-prometheus-stack":{"alertmanager":"not a map"}}`,
		`{"kube-prometheus-stack":{"alertmanager":{"alertmanagerSpec":{"useExistingSecret":false}}}}`,
		`{"loki":{"alertmanager":{"config":{}}}}`,
	} {
		_, err := Parse("dev", awsKeys.with(keys{KeyHelmValues: values}).lookup())
		assert.NoError(t, err, values)
	}
}
