package verify

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunChecks(t *testing.T) {
	// "waits" only passes if "unblocks" runs while it waits: the checks
	// run concurrently, not one after the other.
	unblocked := make(chan struct{})
	checks := []Check{
		{Name: "waits", Run: func(ctx context.Context) (string, error) {
			select {
			case <-unblocked:
				return "unblocked", nil
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}},
		{Name: "unblocks", Run: func(context.Context) (string, error) {
			close(unblocked)
			return "done", nil
		}},
		{Name: "fails", Run: func(context.Context) (string, error) {
			return "", errors.New("broken")
		}},
	}

	results := RunChecks(context.Background(), checks, 10*time.Second)

	assert.Equal(t, []Result{
		{Name: "waits", Pass: true, Detail: "unblocked"},
		{Name: "unblocks", Pass: true, Detail: "done"},
		{Name: "fails", Detail: "broken"},
	}, results)
	assert.False(t, Passed(results))
	assert.True(t, Passed(results[:2]))
}

func TestRunChecksTimeout(t *testing.T) {
	hangs := Check{Name: "hangs", Run: func(ctx context.Context) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	}}

	results := RunChecks(context.Background(), []Check{hangs}, 20*time.Millisecond)

	assert.Equal(t, []Result{{Name: "hangs", Detail: "timed out after 20ms: context deadline exceeded"}}, results)
}

func TestWriteTable(t *testing.T) {
	tests := []struct {
		name    string
		results []Result
		want    string
	}{
		{
			name: "all pass",
			results: []Result{
				{Name: "talos services", Pass: true, Detail: "5 nodes, 51 services running, none unhealthy"},
				{Name: "loki ready", Pass: true, Detail: "ready"},
			},
			want: "" +
				"CHECK           RESULT  DETAIL\n" +
				"talos services  PASS    5 nodes, 51 services running, none unhealthy\n" +
				"loki ready      PASS    ready\n" +
				"\n" +
				"all 2 checks passed\n",
		},
		{
			name: "failures on one line each",
			results: []Result{
				{Name: "talos services", Detail: "talosctl: exit status 1: error listing resources\n\ton node 192.168.56.12"},
				{Name: "nodes ready", Pass: true, Detail: "5/5 nodes Ready"},
				{Name: "loki ready", Detail: "not ready: 503 Service Unavailable: Ingester not ready"},
			},
			want: "" +
				"CHECK           RESULT  DETAIL\n" +
				"talos services  FAIL    talosctl: exit status 1: error listing resources on node 192.168.56.12\n" +
				"nodes ready     PASS    5/5 nodes Ready\n" +
				"loki ready      FAIL    not ready: 503 Service Unavailable: Ingester not ready\n" +
				"\n" +
				"2 of 3 checks failed\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, WriteTable(&out, tc.results))
			assert.Equal(t, tc.want, out.String())
		})
	}
}

// TestSettle: failed checks run again until they pass or the wait is
// over; passing ones are not run again.
func TestSettle(t *testing.T) {
	var passing, late, never atomic.Int32
	checks := []Check{
		{Name: "passing", Run: func(context.Context) (string, error) { passing.Add(1); return "fine", nil }},
		{Name: "late", Run: func(context.Context) (string, error) {
			if late.Add(1) < 3 {
				return "", errors.New("not yet")
			}
			return "arrived", nil
		}},
		{Name: "never", Run: func(context.Context) (string, error) { never.Add(1); return "", errors.New("missing") }},
	}

	results := Settle(context.Background(), checks, time.Second, 200*time.Millisecond, 10*time.Millisecond)

	assert.Equal(t, []Result{
		{Name: "passing", Pass: true, Detail: "fine"},
		{Name: "late", Pass: true, Detail: "arrived"},
		{Name: "never", Detail: "missing"},
	}, results)
	assert.Equal(t, int32(1), passing.Load(), "a passing check is not run again")
	assert.Equal(t, int32(3), late.Load(), "a late check runs until it passes")
	assert.Greater(t, never.Load(), int32(3), "a failing check runs until the wait is over")

	never.Store(0)
	results = Settle(context.Background(), checks[2:], time.Second, 0, 10*time.Millisecond)
	assert.False(t, results[0].Pass)
	assert.Equal(t, int32(1), never.Load(), "no wait: one run")
}
