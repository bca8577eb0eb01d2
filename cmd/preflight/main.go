// Command preflight checks, before anything is created, that this host can
// run a local lab: VirtualBox or Docker, memory, CPUs, a free node network,
// a Pulumi login, the stack on its backend and, where the stack needs one,
// its passphrase in the environment. `task up` runs it before `pulumi up
// -s local`.
//
//	go run ./cmd/preflight [-s local]
//
// It prints every check, and for each one that fails what it measured,
// what the lab needs and how to fix it. It exits 0 when no check fails, 1
// when one does or the stack's settings cannot be read, and 2 on bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/your-org/sre-lab/internal/preflight"
)

func main() { os.Exit(run(os.Args[1:], preflight.ThisHost(), os.Stdout)) }

// run is the whole command with the host and output injected; it returns
// the exit status.
func run(args []string, host preflight.Host, stdout io.Writer) int {
	flags := flag.NewFlagSet("preflight", flag.ContinueOnError)
	flags.SetOutput(stdout)
	stack := flags.String("s", "local", "the local Pulumi `stack`, whose settings are read from Pulumi.<stack>.yaml")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() > 0 {
		_, _ = fmt.Fprintf(stdout, "preflight: unexpected arguments %q\n", flags.Args())
		return 2
	}
	lab, err := preflight.ReadStack(*stack, "Pulumi."+*stack+".yaml")
	if err != nil {
		// Were this write to fail there would be nowhere left to say so;
		// the exit status still does.
		_, _ = fmt.Fprintf(stdout, "preflight: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	results := preflight.Run(ctx, lab, host)
	_, _ = fmt.Fprintf(stdout, "preflight: stack %s, sre-lab:cloud %s, %s\n", *stack, lab.Config.Cloud, lab.StackFile)
	if err := preflight.Write(stdout, results); err != nil || !preflight.AllPassed(results) {
		return 1
	}
	return 0
}
