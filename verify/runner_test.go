package verify

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExec(t *testing.T) {
	out, err := Exec(context.Background(), "sh", "-c", "echo reached cp-01; echo 'no route to host' >&2; exit 3")

	require.Error(t, err)
	assert.Equal(t, "sh: exit status 3: no route to host", err.Error())
	assert.Equal(t, "reached cp-01\n", string(out), "output before the failure is kept")

	out, err = Exec(context.Background(), "sh", "-c", "echo ok")
	require.NoError(t, err)
	assert.Equal(t, "ok\n", string(out))

	_, err = Exec(context.Background(), "sh", "-c", "exit 1")
	require.Error(t, err)
	assert.Equal(t, "sh: exit status 1", err.Error())
}
