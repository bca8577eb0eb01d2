// Command buildbench prints what building the program costs on this
// machine: cold (an empty build cache of its own) and warm (a one-line
// edit) builds of the default program and of the local-only one
// (-tags=sre_lab_local), with wall time, CPU time and peak memory. Run it
// on an otherwise idle machine: `task bench:build`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"

	"github.com/your-org/sre-lab/infra/buildtags"
	"github.com/your-org/sre-lab/internal/buildbench"
)

// presets are the builds -builds may name, in the order they are printed;
// the first measured is what the others are compared with.
var presets = []buildbench.Build{
	{Name: "default"},
	{Name: "local-only", Tags: []string{buildtags.Local}},
	{Name: "default -p=1", Jobs: 1},
	{Name: "local-only -p=1", Tags: []string{buildtags.Local}, Jobs: 1},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run measures the builds -builds names and prints their figures.
func run() error {
	var names []string
	for _, p := range presets {
		names = append(names, p.Name)
	}
	builds := flag.String("builds", "default,local-only", "comma-separated builds to measure, of: "+strings.Join(names, ", "))
	dir := flag.String("dir", ".", "the module root to build")
	flag.Parse()

	var chosen []buildbench.Build
	for _, name := range strings.Split(*builds, ",") {
		i := slices.IndexFunc(presets, func(b buildbench.Build) bool { return b.Name == strings.TrimSpace(name) })
		if i < 0 {
			return fmt.Errorf("-builds: %q is not one of: %s", name, strings.Join(names, ", "))
		}
		chosen = append(chosen, presets[i])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	scratch, err := os.MkdirTemp("", "buildbench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(scratch) }()

	var rows []buildbench.Row
	for _, b := range chosen {
		fmt.Fprintf(os.Stderr, "building %s cold, then warm...\n", b.Name)
		row, err := buildbench.Run(ctx, *dir, scratch, b)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	fmt.Print(buildbench.Table(rows))
	return nil
}
