package backends

import "github.com/your-org/sre-lab/config"

// LocalOnlyTag is the build tag that leaves every cloud backend out:
// `GOFLAGS=-tags=sre_lab_local pulumi up -s local` compiles VirtualBox and
// Docker only. The Go toolchain reads GOFLAGS in every build, including the
// one Pulumi's Go language host runs before each update: it runs `go build
// -o <tmp>` in the program's directory with the caller's environment
// (pulumi/pulumi sdk/go/pulumi-language-go/main.go, compileProgram). The
// provider plugins Pulumi installs follow go.mod's require lines, not the
// build (GetRequiredPackages in the same file),
// so the cloud plugins are still downloaded.
const LocalOnlyTag = "sre_lab_local"

// CloudTags are the tags that build one cloud backend back into a
// local-only build (GOFLAGS=-tags=sre_lab_local,sre_lab_aws). Each
// backend's file carries the constraint `!sre_lab_local || <its tag>`;
// TestBuildConstraints holds the files to this table.
var CloudTags = map[config.Cloud]string{
	config.AWS:     "sre_lab_aws",
	config.GCP:     "sre_lab_gcp",
	config.Azure:   "sre_lab_azure",
	config.Hetzner: "sre_lab_hetzner",
}
