// Command verify checks a running lab end to end and prints a pass/fail
// table: Talos services, nodes Ready, Cilium, Prometheus targets, Loki and
// Grafana. It reads everything it needs from the stack outputs.
//
//	go run ./cmd/verify -s dev [-timeout 30s] [-wait 0s]
//
// -wait runs failed checks again until they pass or it has passed, for a
// lab that was just deployed: `task up` gives its new lab a few minutes to
// have every target scraped.
//
// It exits 0 when every check passes, 1 when one fails or the lab cannot be
// checked, and 2 on bad usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/your-org/sre-lab/verify"
)

func main() { os.Exit(run(os.Args[1:], verify.Exec, os.Stdout, verify.RetryEvery)) }

// run is the whole command with its programs, output and retry interval
// injected, so tests drive it against a recorded lab; it returns the exit
// status.
func run(args []string, runner verify.Runner, stdout io.Writer, every time.Duration) int {
	code, err := verifyStack(args, runner, stdout, every)
	if err != nil {
		// Were this write to fail there would be nowhere left to say
		// so; the exit status still does.
		_, _ = fmt.Fprintf(stdout, "verify: %v\n", err)
	}
	return code
}

// verifyStack parses the flags, checks the stack's lab and prints the table.
func verifyStack(args []string, runner verify.Runner, stdout io.Writer, every time.Duration) (int, error) {
	flags := verify.NewStackFlags("verify", stdout, "check")
	flags.WithWait("check")
	if code, ok, err := flags.Parse(args); !ok {
		return code, err
	}
	stack, timeout, wait := flags.Stack, flags.Timeout, flags.Wait

	// Interrupting cancels the checks instead of killing the process, so
	// the deferred removal of the secrets still runs.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	results, err := check(ctx, runner, *stack, *timeout, *wait, every)
	if results != nil {
		err = errors.Join(err, verify.WriteTable(stdout, results))
	}
	if err != nil || !verify.Passed(results) {
		return 1, err
	}
	return 0, nil
}

// check reads the stack's outputs and runs the checks against its lab. The
// talosconfig exists on disk only while the checks run, owner-only in a
// private temporary directory; the kubeconfig never touches disk, since the
// Kubernetes client reads it from memory.
func check(ctx context.Context, runner verify.Runner, stack string, timeout, wait, every time.Duration) (results []verify.Result, err error) {
	readCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	outputs, err := verify.ReadStack(readCtx, runner, stack)
	if err != nil {
		return nil, err
	}
	kube, err := verify.NewKubeClient([]byte(outputs.Kubeconfig))
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", stack, err)
	}

	dir, err := os.MkdirTemp("", "sre-lab-verify-")
	if err != nil {
		return nil, err
	}
	defer func() {
		// A credential left behind is a failure worth reporting, not a
		// cleanup detail.
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove secrets: %w", rerr))
		}
	}()
	talosconfig := filepath.Join(dir, "talosconfig")
	if err = os.WriteFile(talosconfig, []byte(outputs.Talosconfig), 0o600); err != nil {
		return nil, err
	}

	return verify.Settle(ctx, verify.Checks(verify.Lab{
		Kube:        kube,
		Run:         runner,
		Talosconfig: talosconfig,
		Nodes:       outputs.Nodes,
	}), timeout, wait, every), nil
}
