// Command e2e asserts that a running lab's data arrives and prints a
// pass/fail table: every scrape target up, node-exporter, kube-state-metrics
// and the control plane scraped, Hubble flows counted, pod logs, Kubernetes
// events and Talos logs in Loki, Grafana's datasources healthy and the lab's
// dashboards loaded, and Alertmanager holding the Watchdog alert. It reads
// everything it needs from the stack outputs; run verify first, which says
// whether the parts answer at all.
//
//	go run ./cmd/e2e -s dev [-timeout 30s] [-wait 0s] [-window 15m]
//
// -wait runs failed assertions again until they pass or it has passed, for
// a lab that was just deployed. It exits 0 when every assertion passes, 1
// when one fails or the lab cannot be checked, and 2 on bad usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/your-org/sre-lab/e2e"
	"github.com/your-org/sre-lab/verify"
)

func main() { os.Exit(run(os.Args[1:], verify.Exec, os.Stdout, verify.RetryEvery)) }

// run is the whole command with its programs, output and retry interval
// injected, so tests drive it against a recorded lab; it returns the exit
// status.
func run(args []string, runner verify.Runner, stdout io.Writer, every time.Duration) int {
	code, err := assertStack(args, runner, stdout, every)
	if err != nil {
		// Were this write to fail there would be nowhere left to say
		// so; the exit status still does.
		_, _ = fmt.Fprintf(stdout, "e2e: %v\n", err)
	}
	return code
}

// assertStack parses the flags, runs the assertions against the stack's
// lab and prints the table.
func assertStack(args []string, runner verify.Runner, stdout io.Writer, every time.Duration) (int, error) {
	flags := verify.NewStackFlags("e2e", stdout, "assertion")
	flags.WithWait("assertion")
	window := flags.Duration("window", 15*time.Minute, "how far back the logs must reach")
	if code, ok, err := flags.Parse(args); !ok {
		return code, err
	}
	stack, timeout, wait := flags.Stack, flags.Timeout, flags.Wait
	if *window < time.Minute {
		// Loki counts lines per range; under a minute a healthy but
		// quiet node could fall between two lines.
		return 2, errors.New("-window must be at least 1m")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	readCtx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	outputs, err := e2e.ReadStack(readCtx, runner, *stack)
	if err != nil {
		return 1, err
	}
	// The kubeconfig stays in memory: nothing here runs a program that
	// would need it on disk.
	kube, err := verify.NewKubeClient([]byte(outputs.Kubeconfig))
	if err != nil {
		return 1, fmt.Errorf("stack %s: %w", *stack, err)
	}
	checks, err := e2e.Assertions(e2e.Lab{
		Kube:            kube,
		Nodes:           outputs.Nodes,
		GrafanaPassword: outputs.GrafanaAdminPassword,
		Window:          *window,
	})
	if err != nil {
		return 1, err
	}
	results := verify.Settle(ctx, checks, *timeout, *wait, every)
	if err := verify.WriteTable(stdout, results); err != nil {
		return 1, err
	}
	if !verify.Passed(results) {
		return 1, nil
	}
	return 0, nil
}
