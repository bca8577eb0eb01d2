package cost

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
)

// parse is a stack's config from keys, as Pulumi would hand them over.
func parse(t *testing.T, stack string, keys map[string]string) config.Config {
	t.Helper()
	cfg, err := config.Parse(stack, func(k string) (string, bool) { v, ok := keys[k]; return v, ok })
	require.NoError(t, err)
	return cfg
}

func cloudKeys(cloud, region string) map[string]string {
	return map[string]string{
		config.KeyCloud: cloud, config.KeyRegion: region, config.KeyAdminCIDRs: "203.0.113.7/32",
		config.KeyDomain: "lab.example.com", config.KeyACMEEmail: "sre@example.com",
		// Staging and prod on AWS back etcd up, encrypted to an age key.
		config.KeyEtcdBackupRecipient: "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
	}
}

// TestEveryStack: each environment on each priced backend has an estimate
// made of its machines, disks, addresses and load balancers, adding up.
func TestEveryStack(t *testing.T) {
	for _, tc := range []struct {
		stack, cloud, region string
		currency             string
		lines                int
		min, max             float64
	}{
		// 2 machines + 2 disks + IPs + NLB.
		{"dev", "aws", "eu-central-1", "USD", 6, 60, 120},
		{"staging", "aws", "eu-central-1", "USD", 6, 250, 450},
		{"prod", "aws", "eu-central-1", "USD", 6, 600, 1000},
		{"dev", "gcp", "europe-west3", "USD", 6, 60, 120},
		{"prod", "gcp", "europe-west3", "USD", 6, 500, 900},
		// Machines include their disk.
		{"dev", "hetzner", "fsn1", "EUR", 4, 10, 30},
		{"prod", "hetzner", "fsn1", "EUR", 4, 40, 120},
	} {
		t.Run(tc.stack+"/"+tc.cloud, func(t *testing.T) {
			e, err := Of(parse(t, tc.stack, cloudKeys(tc.cloud, tc.region)))
			require.NoError(t, err)
			assert.Equal(t, tc.currency, e.Currency)
			assert.Len(t, e.Lines, tc.lines)
			sum := 0.0
			for _, l := range e.Lines {
				assert.Positive(t, l.Monthly, l.Item)
				sum += l.Monthly
			}
			assert.InDelta(t, sum, e.Total, 0.01)
			assert.GreaterOrEqual(t, e.Total, tc.min)
			assert.LessOrEqual(t, e.Total, tc.max)
			assert.Contains(t, e.String(), PricesAsOf)
		})
	}
	for _, cloud := range []string{"virtualbox", "docker"} {
		e, err := Of(parse(t, "local", map[string]string{config.KeyCloud: cloud}))
		require.NoError(t, err)
		assert.Zero(t, e.Total)
		assert.Equal(t, "0 (runs on this machine)", e.String())
	}
}

// TestDevOnAWS pins the arithmetic on one stack: 2 × t3.medium, 90 GiB of
// gp3, two public addresses, one NLB.
func TestDevOnAWS(t *testing.T) {
	e, err := Of(parse(t, "dev", cloudKeys("aws", "eu-central-1")))
	require.NoError(t, err)
	want := []Line{
		{"1 × t3.medium control plane", 35.04},
		{"1 × 40 GiB disk", 3.81},
		{"1 × t3.medium worker", 35.04},
		{"1 × 50 GiB disk", 4.76},
		{"2 public IPv4 addresses", 7.3},
		{"1 load balancer(s)", 19.71},
	}
	assert.Equal(t, want, e.Lines)
	assert.InDelta(t, 105.66, e.Total, 0.001)
}

// TestDefaultSizesArePriced: every size the matrix hands out on a priced
// backend is in the table, so a stack without size keys always gets an
// estimate.
func TestDefaultSizesArePriced(t *testing.T) {
	for env, row := range config.EnvironmentMatrix {
		for cloud, prices := range Table {
			for _, size := range []string{row.ControlPlaneSize[cloud], row.WorkerSize[cloud]} {
				if size == "" {
					continue
				}
				_, ok := prices.Hourly[size]
				assert.True(t, ok, "%s %s default %s has a price", env, cloud, size)
			}
		}
	}
}

// TestUnpricedSize: a size the table lacks is named, not counted as free.
func TestUnpricedSize(t *testing.T) {
	keys := cloudKeys("aws", "eu-central-1")
	keys[config.KeyWorkerSize] = "m5.8xlarge"
	_, err := Of(parse(t, "dev", keys))
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "m5.8xlarge"), err.Error())
}
