//go:build !sre_lab_local

package backends

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/your-org/sre-lab/config"
)

func TestTheDefaultBuildHasEveryBackend(t *testing.T) {
	assert.Equal(t, config.Implemented, Built())
}
