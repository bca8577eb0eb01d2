package egress

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	cidrs := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/28"), netip.MustParsePrefix("198.51.100.7/32")}
	for _, ok := range []string{"203.0.113.1", "203.0.113.15", "198.51.100.7"} {
		assert.NoError(t, Check(netip.MustParseAddr(ok), cidrs, "sre-lab:adminCidrs"), ok)
	}
	err := Check(netip.MustParseAddr("192.0.2.44"), cidrs, "sre-lab:adminCidrs")
	require.Error(t, err)
	for _, want := range []string{
		"sre-lab:adminCidrs = [203.0.113.0/28, 198.51.100.7/32]",
		"from 192.0.2.44, which is not in the list",
		"pulumi config set --path 'sre-lab:adminCidrs[2]' 192.0.2.44/32",
		"self-hosted agent pool",
		SkipEnv + "=1",
	} {
		assert.Contains(t, err.Error(), want)
	}
}
