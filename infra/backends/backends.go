// Package backends holds the one switch that turns `sre-lab:cloud` into
// machines. Each backend lives in its own package under infra/ and returns
// the same infra.Platform.
//
// Each backend registers itself from a file of its own, so that Go build
// tags can leave cloud backends out of a build: a laptop that only runs the
// local lab need not compile four cloud SDKs (tags.go says how).
package backends

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/buildtags"
)

// Host is the machine the program and the command provider's scripts run
// on, as runtime.GOOS and runtime.GOARCH name it: the local backends make
// their network and pick their guests' architecture from it.
type Host struct {
	OS   string
	Arch string
}

// builder makes the machines of one backend as a component named name.
type builder func(ctx *pulumi.Context, name string, cfg config.Config, host Host) (infra.Platform, error)

// built holds the backends compiled into this binary, filled by each
// backend's file as the package initialises.
var built = map[config.Cloud]builder{}

// register adds a backend to this build.
func register(cloud config.Cloud, b builder) { built[cloud] = b }

// Built lists the backends this binary can deploy, in config.Implemented's
// order.
func Built() []config.Cloud {
	var out []config.Cloud
	for _, c := range config.Implemented {
		if _, ok := built[c]; ok {
			out = append(out, c)
		}
	}
	return out
}

// New creates the machines of cfg's backend, as a component named name. A
// backend this build left out is refused before any resource, with the tag
// that builds it in.
func New(ctx *pulumi.Context, name string, cfg config.Config, host Host) (infra.Platform, error) {
	b, ok := built[cfg.Cloud]
	if !ok {
		return infra.Platform{}, missing(cfg.Cloud, Built())
	}
	return b(ctx, name, cfg, host)
}

// missing says which backend the build lacks, what it has and how to get
// the backend back: drop the local-only tag, or add the backend's own.
func missing(cloud config.Cloud, have []config.Cloud) error {
	names := make([]string, len(have))
	for i, c := range have {
		names[i] = string(c)
	}
	tag, known := CloudTags[cloud]
	if !known {
		return fmt.Errorf("%s:%s = %q: no such backend in this build; it has: %s",
			config.Namespace, config.KeyCloud, cloud, strings.Join(names, ", "))
	}
	return fmt.Errorf("%s:%s = %s, but this build has only: %s; unset GOFLAGS or add the %s tag (GOFLAGS=-tags=%s,%s)",
		config.Namespace, config.KeyCloud, cloud, strings.Join(names, ", "), tag, buildtags.Local, tag)
}

// Clouds are the backends that need a cloud SDK, the ones build tags can
// leave out, in config.Implemented's order.
func Clouds() []config.Cloud {
	var out []config.Cloud
	for _, c := range config.Implemented {
		if _, ok := CloudTags[c]; ok {
			out = append(out, c)
		}
	}
	return slices.Clip(out)
}
