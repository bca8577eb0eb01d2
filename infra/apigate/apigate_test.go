package apigate

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const pemCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"

func TestPEM(t *testing.T) {
	for name, c := range map[string]struct {
		in, want, err string
	}{
		"PEM as is":          {in: pemCA + "\n", want: pemCA},
		"base64 of PEM":      {in: base64.StdEncoding.EncodeToString([]byte(pemCA + "\n")), want: pemCA},
		"neither":            {in: "not a certificate", err: "neither PEM nor base64"},
		"base64 of non-PEM":  {in: base64.StdEncoding.EncodeToString([]byte("hello")), err: "not PEM"},
		"empty (no CA read)": {in: "", err: "not PEM"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := PEM(c.in)
			if c.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}
