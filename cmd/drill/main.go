// Command drill runs one incident drill of practice/drills against a
// running lab: it injects the fault, annotates the drill's Grafana
// dashboard, waits for the expected alert in Prometheus, ends the drill
// (also on Ctrl-C and when the time runs out) and prints one PASS or FAIL
// line with the time to detect. It reads what it needs from the stack
// outputs, as verify does.
//
//	go run ./cmd/drill -s dev [-timeout 30s] <drill>
//	go run ./cmd/drill -list
//
// -list needs no stack. It exits 0 when the alert fired in time, 1 when it
// did not or the drill could not run or be ended, and 2 on bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/your-org/sre-lab/e2e"
	"github.com/your-org/sre-lab/practice/drillrun"
	"github.com/your-org/sre-lab/practice/drills"
	"github.com/your-org/sre-lab/verify"
)

// pollEvery is how often Prometheus is asked for the alert: it evaluates
// the lab's rules every 30 seconds, so asking more often finds nothing
// new, and less often would blur the time to detect.
const pollEvery = 15 * time.Second

// cleanupTimeout bounds ending a drill after an interrupt; each of its
// requests is bounded by -timeout as well.
const cleanupTimeout = 2 * time.Minute

func main() { os.Exit(interruptible()) }

// interruptible runs the command with Ctrl-C cancelling the drill instead
// of killing the process, so that the drill is still ended.
func interruptible() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return run(ctx, os.Args[1:], verify.Exec, os.Stdout, drillrun.RealClock{})
}

// run is the whole command with its programs, output and clock injected,
// so tests drive it against a stand-in lab; it returns the exit status.
func run(ctx context.Context, args []string, runner verify.Runner, stdout io.Writer, clock drillrun.Clock) int {
	code, err := drill(ctx, args, runner, stdout, clock)
	if err != nil {
		// Were this write to fail there would be nowhere left to say so;
		// the exit status still does.
		_, _ = fmt.Fprintf(stdout, "drill: %v\n", err)
	}
	return code
}

// drill parses the flags and lists the drills or runs one.
func drill(ctx context.Context, args []string, runner verify.Runner, stdout io.Writer, clock drillrun.Clock) (int, error) {
	flags := verify.NewStackFlags("drill", stdout, "request to the lab")
	list := flags.Bool("list", false, "list the drills and exit; needs no stack")
	// StackFlags takes no arguments, and the drill's name is one, so the
	// flags are read here first; StackFlags checks them below, without
	// the name.
	if err := flags.FlagSet.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, nil
		}
		return 2, nil
	}
	names := flags.Args()
	if *list {
		if len(names) > 0 {
			return 2, fmt.Errorf("-list takes no drill name, got %q", names)
		}
		return listDrills(stdout)
	}
	if len(names) != 1 {
		return 2, fmt.Errorf("name one drill after the flags, e.g. go run ./cmd/drill -s dev pod-kill; -list shows them all")
	}
	d, err := drills.Find(names[0])
	if err != nil {
		return 2, err
	}
	if code, ok, err := flags.Parse(args[:len(args)-1]); !ok {
		return code, err
	}

	readCtx, cancel := context.WithTimeout(ctx, *flags.Timeout)
	defer cancel()
	outputs, err := e2e.ReadStack(readCtx, runner, *flags.Stack)
	if err != nil {
		return 1, err
	}
	// The kubeconfig stays in memory: nothing here runs a program that
	// would need it on disk.
	kube, err := verify.NewKubeClient([]byte(outputs.Kubeconfig))
	if err != nil {
		return 1, fmt.Errorf("stack %s: %w", *flags.Stack, err)
	}
	r := &drillrun.Runner{
		Kube:            kube,
		GrafanaPassword: outputs.GrafanaAdminPassword,
		Out:             stdout,
		Clock:           clock,
		Poll:            pollEvery,
		RequestTimeout:  *flags.Timeout,
		CleanupTimeout:  cleanupTimeout,
	}
	res, err := r.Run(ctx, d)
	if res.Outcome != 0 {
		if _, werr := fmt.Fprintln(stdout, res.Line()); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	if err != nil || res.Outcome != drillrun.Passed {
		return 1, err
	}
	return 0, nil
}

// listDrills prints the catalogue as a table: what each drill does and
// what must fire how soon.
func listDrills(stdout io.Writer) (int, error) {
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "DRILL\tEXPECTS\tWITHIN\tDASHBOARD\tWHAT")
	for _, d := range drills.All() {
		what, _, _ := strings.Cut(d.Description, ". ")
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.Expectation(), d.Within, d.Dashboard, strings.TrimSuffix(what, "."))
	}
	if err := w.Flush(); err != nil {
		return 1, err
	}
	return 0, nil
}
