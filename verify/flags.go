package verify

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// StackFlags are the flags every command that checks a running lab takes:
// the stack whose outputs lead to the lab, and a time limit.
type StackFlags struct {
	*flag.FlagSet
	// Stack is the Pulumi stack (-s), required.
	Stack *string
	// Timeout limits reading the stack outputs and each check (-timeout).
	Timeout *time.Duration
	// Wait is how long failed checks run again (-wait, for Settle); nil
	// unless the command declared it with WithWait.
	Wait *time.Duration
}

// WithWait declares -wait for a command whose checks may run again until
// a lab just deployed settles; each names one check, as in NewStackFlags.
func (f *StackFlags) WithWait(each string) {
	f.Wait = f.Duration("wait", 0, "run failed "+each+"s again until they pass or this much time has passed")
}

// NewStackFlags declares the common flags of command, which prints its
// usage to stdout; each names what its timeout applies to. The command may
// add flags of its own before Parse.
func NewStackFlags(command string, stdout io.Writer, each string) StackFlags {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(stdout)
	return StackFlags{
		FlagSet: fs,
		Stack:   fs.String("s", "", "Pulumi `stack` of the lab to check (required)"),
		Timeout: fs.Duration("timeout", 30*time.Second, "time limit for reading the stack outputs and for each "+each),
	}
}

// Parse parses args and checks the common flags. When ok is false the
// command stops with code: 0 after -h, 2 for a usage error, which the flag
// package has printed or err describes.
func (f StackFlags) Parse(args []string) (code int, ok bool, err error) {
	if err := f.FlagSet.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false, nil
		}
		return 2, false, nil
	}
	switch {
	case *f.Stack == "":
		return 2, false, fmt.Errorf("-s <stack> is required, e.g. go run ./cmd/%s -s dev", f.Name())
	case f.NArg() > 0:
		return 2, false, fmt.Errorf("unexpected arguments %q", f.Args())
	case *f.Timeout <= 0:
		return 2, false, fmt.Errorf("-timeout %s: must be positive, e.g. -timeout 30s", *f.Timeout)
	case f.Wait != nil && *f.Wait < 0:
		return 2, false, fmt.Errorf("-wait %s: must be 0 (no retries) or more, e.g. -wait 5m", *f.Wait)
	}
	return 0, true, nil
}
