// Package buildtags names the Go build tags that leave backends out of the
// program. It imports nothing, so a tool that only needs the names (the
// build benchmark) does not compile the backends they leave out.
package buildtags

// Local is the build tag that leaves every cloud backend out:
// `GOFLAGS=-tags=sre_lab_local pulumi up -s local` compiles VirtualBox and
// Docker only. The Go toolchain reads GOFLAGS in every build, including the
// one Pulumi's Go language host runs before each update: it runs `go build
// -o <tmp>` in the program's directory with the caller's environment
// (pulumi/pulumi sdk/go/pulumi-language-go/main.go, compileProgram). The
// provider plugins Pulumi installs follow go.mod's require lines, not the
// build (GetRequiredPackages in the same file), so the cloud plugins are
// still downloaded.
const Local = "sre_lab_local"

// Cloud is the tag that builds one cloud backend back into a local-only
// build, named after the backend's sre-lab:cloud value:
// GOFLAGS=-tags=sre_lab_local,sre_lab_aws. Each cloud backend's file in
// infra/backends carries the constraint `!sre_lab_local || <its tag>`.
func Cloud(cloud string) string { return "sre_lab_" + cloud }
