package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
		{"tplConfig", `{"kube-prometheus-stack":{"alertmanager":{"tplConfig":true}}}`,
			"alertmanager.tplConfig", "true"},
		{"stringConfig", `{"kube-prometheus-stack":{"alertmanager":{"stringConfig":"receivers: [{name: x, slack_configs: [{api_url: 'https://hooks.slack.com/s3cr3tT0ken'}]}]"}}}`,
			"alertmanager.stringConfig", "(not shown)"},
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
		`{"kube-prometheus-stack":{"alertmanager":{"tplConfig":false,"stringConfig":""}}}`,
		`{"loki":{"alertmanager":{"config":{}}}}`,
	} {
		_, err := Parse("dev", awsKeys.with(keys{KeyHelmValues: values}).lookup())
		assert.NoError(t, err, values)
	}
}
