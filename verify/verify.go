// Package verify checks a running lab end to end: Talos services, node
// readiness, the CNI and the observability stack, each as a named check with
// its own timeout, reported as a pass/fail table.
package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Check is one named verification. Run returns a one-line detail when the
// check passes and an error explaining the failure when it does not; it must
// return once ctx is done, which is how the timeout is enforced.
type Check struct {
	Name string
	Run  func(ctx context.Context) (string, error)
}

// Result is the outcome of one check as the table shows it.
type Result struct {
	Name   string
	Pass   bool
	Detail string
}

// RunChecks runs every check with its own timeout and returns the results in
// the order of checks. The checks run concurrently: they are independent, and
// a lab where several things are down should not take the sum of their
// timeouts to report.
func RunChecks(ctx context.Context, checks []Check, timeout time.Duration) []Result {
	results := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { results[i] = runCheck(ctx, c, timeout) })
	}
	wg.Wait()
	return results
}

func runCheck(parent context.Context, c Check, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	detail, err := c.Run(ctx)
	if err == nil {
		return Result{Name: c.Name, Pass: true, Detail: detail}
	}
	msg := err.Error()
	// A bare "context deadline exceeded" does not tell the reader that the
	// limit was ours, nor how long it was.
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		msg = fmt.Sprintf("timed out after %s: %s", timeout, msg)
	}
	return Result{Name: c.Name, Detail: msg}
}

// RetryEvery is how often Settle runs failed checks again: Prometheus
// scrapes every 30 seconds by default, so asking more often finds nothing
// new.
const RetryEvery = 15 * time.Second

// Settle runs the checks, then runs the failed ones again every interval
// until all pass or wait has passed, and returns the last result of each.
// A lab just deployed has not had every scrape, log line and alert
// evaluation yet; waiting for them is part of asserting that they come,
// and wait bounds how late they may be.
func Settle(ctx context.Context, checks []Check, timeout, wait, interval time.Duration) []Result {
	deadline := time.Now().Add(wait)
	results := RunChecks(ctx, checks, timeout)
	for !Passed(results) && time.Now().Add(interval).Before(deadline) {
		select {
		case <-ctx.Done():
			return results
		case <-time.After(interval):
		}
		var again []Check
		var at []int
		for i, r := range results {
			if !r.Pass {
				again = append(again, checks[i])
				at = append(at, i)
			}
		}
		for j, r := range RunChecks(ctx, again, timeout) {
			results[at[j]] = r
		}
	}
	return results
}

// Passed reports whether every check passed.
func Passed(results []Result) bool {
	for _, r := range results {
		if !r.Pass {
			return false
		}
	}
	return true
}

// WriteTable prints the results as an aligned CHECK/RESULT/DETAIL table and a
// summary line.
func WriteTable(w io.Writer, results []Result) error {
	width := len("CHECK")
	for _, r := range results {
		width = max(width, len(r.Name))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s  %-6s  %s\n", width, "CHECK", "RESULT", "DETAIL")
	failed := 0
	for _, r := range results {
		verdict := "PASS"
		if !r.Pass {
			verdict = "FAIL"
			failed++
		}
		fmt.Fprintf(&b, "%-*s  %-6s  %s\n", width, r.Name, verdict, oneLine(r.Detail))
	}
	if failed == 0 {
		fmt.Fprintf(&b, "\nall %d checks passed\n", len(results))
	} else {
		fmt.Fprintf(&b, "\n%d of %d checks failed\n", failed, len(results))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// oneLine keeps each result on one table row: details quote program stderr
// and server bodies, which carry newlines and tabs that would break the
// columns.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
