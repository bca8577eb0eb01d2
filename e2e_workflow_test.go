package main

import (
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/footprint"
)

const e2eWorkflow = ".github/workflows/e2e.yml"

// e2eStack is the throwaway stack the e2e workflow creates.
const e2eStack = "e2e"

// githubRunner is ubuntu-latest for a public repository: 4 vCPU and 16 GB
// (GitHub's table of standard hosted runners), counted in decimal
// gigabytes, the smaller reading.
var githubRunner = footprint.Quantity{MilliCPU: 4000, Memory: 16e9}

// runnerReserve is what the runner keeps for itself while the lab runs:
// the Pulumi CLI with the program and its providers (Kubernetes with the
// charts in memory, Talos, Docker, command), dockerd and the runner agent.
// An estimate, not a measurement: nothing here runs Docker.
var runnerReserve = footprint.Quantity{MilliCPU: 1000, Memory: 3 << 30}

// namedStep is the first step of a job with the given name, or nil.
func namedStep(job any, name string) any {
	list, _ := dig(job, "steps").([]any)
	for _, s := range list {
		if dig(s, "name") == name {
			return s
		}
	}
	return nil
}

// runOf is a step's shell script.
func runOf(s any) string {
	r, _ := dig(s, "run").(string)
	return r
}

// e2eConfig is the throwaway stack's config as the workflow builds it:
// the local stack file, then each `pulumi config set` of its stack step.
func e2eConfig(t *testing.T) map[string]string {
	t.Helper()
	stack := namedStep(dig(readYAML(t, e2eWorkflow), "jobs", "docker"), "stack")
	require.NotNil(t, stack, "a step named stack builds the throwaway stack")
	script := runOf(stack)
	require.Contains(t, script, "cp Pulumi.local.yaml Pulumi."+e2eStack+".yaml", "the stack starts from the local stack file")
	cfg := stackConfig(t, "local")
	set := regexp.MustCompile(`(?m)^\s*pulumi config set -s ` + e2eStack + ` (\S+) (\S+)\s*$`)
	matches := set.FindAllStringSubmatch(script, -1)
	require.NotEmpty(t, matches, script)
	for _, m := range matches {
		require.True(t, strings.HasPrefix(m[1], config.Namespace+":"), "%s is outside the sre-lab namespace", m[1])
		cfg[m[1]] = m[2]
	}
	return cfg
}

// TestE2EWorkflow: the e2e workflow installs the pinned tools, checked;
// builds a throwaway Docker stack on a hosted runner; runs verify and the
// data assertions; updates twice and previews, expecting no change the
// second time; and whatever happened collects diagnostics and destroys
// the lab. It runs on pull requests that touch the program, nightly and
// by hand, with read-only repository access and no stored secret.
func TestE2EWorkflow(t *testing.T) {
	doc := readYAML(t, e2eWorkflow)
	raw, err := os.ReadFile(e2eWorkflow)
	require.NoError(t, err)

	paths, _ := dig(doc, "on", "pull_request", "paths").([]any)
	assert.Subset(t, paths, []any{"**/*.go", "go.mod", "go.sum", "Pulumi.local.yaml", e2eWorkflow}, "pull requests that touch the program")
	assert.NotEmpty(t, dig(doc, "on", "schedule"), "nightly")
	assert.Contains(t, dig(doc, "on"), "workflow_dispatch")
	assert.NotContains(t, dig(doc, "on"), "pull_request_target")
	assert.Equal(t, map[string]any{"contents": "read"}, dig(doc, "permissions"))
	assert.NotContains(t, string(raw), "${{ secrets.", "no stored secret")

	job := dig(doc, "jobs", "docker")
	assert.Equal(t, "ubuntu-latest", dig(job, "runs-on"))
	minutes, _ := dig(job, "timeout-minutes").(int)
	assert.True(t, minutes > 0 && minutes <= 120, "a job timeout, under the hosted runner's own: %v", dig(job, "timeout-minutes"))
	assert.NotEmpty(t, dig(job, "env", "PULUMI_CONFIG_PASSPHRASE"), "the throwaway stack's passphrase")
	assert.Equal(t, "bash", dig(job, "defaults", "run", "shell"), "bash -eo pipefail, so a pulumi command piped into tee fails its step")

	// Tools: Go from go.mod, the Pulumi CLI of the SDK's release, talosctl
	// of the default Talos version; each download checked before use.
	assert.Equal(t, "go.mod", dig(step(job, "actions/setup-go"), "with", "go-version-file"))
	sdk := regexp.MustCompile(`(?m)^\s*github\.com/pulumi/pulumi/sdk/v3 v(\S+)`).FindStringSubmatch(readFile(t, "go.mod"))
	require.NotNil(t, sdk, "go.mod requires the Pulumi SDK")
	cli := runOf(namedStep(job, "pulumi CLI"))
	release := "https://github.com/pulumi/pulumi/releases/download/v" + sdk[1] + "/"
	assert.Contains(t, cli, release+"pulumi-v"+sdk[1]+"-linux-x64.tar.gz", "the CLI of the SDK's release")
	assert.Contains(t, cli, release+"pulumi-"+sdk[1]+"-checksums.txt")
	verified, unpacked := strings.Index(cli, "sha256sum -c"), strings.Index(cli, "tar -xzf")
	assert.True(t, verified >= 0 && unpacked > verified, "the archive is checked before it is unpacked: %s", cli)
	talosctl := runOf(namedStep(job, "talosctl"))
	assert.Contains(t, talosctl, talosctlURL(), "talosctl of config.DefaultTalosVersion")
	checksVerified(t, talosctl)

	// The steps, in order, with what each must run.
	list, _ := dig(job, "steps").([]any)
	var order []string
	for _, s := range list {
		name, _ := dig(s, "name").(string)
		if u, ok := dig(s, "uses").(string); ok {
			name = strings.Split(u, "@")[0]
		}
		order = append(order, name)
	}
	assert.Equal(t, []string{
		"actions/checkout", "actions/setup-go", "pulumi CLI", "talosctl", "checks", "stack",
		"pulumi up", "verify", "e2e assertions", "pulumi up again", "pulumi preview",
		"diagnostics", "pulumi destroy", "actions/upload-artifact",
	}, order)
	assert.Contains(t, runOf(namedStep(job, "checks")), "./cmd/verify ./cmd/e2e")
	stack := runOf(namedStep(job, "stack"))
	assert.Contains(t, stack, "pulumi login --local", "state on the runner, no backend account")
	assert.Contains(t, stack, "pulumi stack init "+e2eStack+" --secrets-provider passphrase")
	assert.Regexp(t, `pulumi up --yes .*-s `+e2eStack+`\b`, runOf(namedStep(job, "pulumi up")))
	assert.Regexp(t, `^verify -s `+e2eStack+` .*-wait \d+m`, runOf(namedStep(job, "verify")))
	assert.Regexp(t, `^e2e -s `+e2eStack+` .*-wait \d+m`, runOf(namedStep(job, "e2e assertions")))
	assert.Regexp(t, `pulumi up --yes .*--expect-no-changes .*-s `+e2eStack+`\b`, runOf(namedStep(job, "pulumi up again")), "idempotence")
	assert.Regexp(t, `pulumi preview --expect-no-changes .*-s `+e2eStack+`\b`, runOf(namedStep(job, "pulumi preview")))
	for _, dir := range []string{"cmd/verify", "cmd/e2e"} {
		assert.DirExists(t, dir)
	}

	// Whatever happened: diagnostics, destroy, artifact.
	for _, name := range []string{"diagnostics", "pulumi destroy"} {
		assert.Contains(t, dig(namedStep(job, name), "if"), "always()", name)
	}
	assert.Contains(t, dig(step(job, "actions/upload-artifact"), "if"), "always()")
	diagnostics := runOf(namedStep(job, "diagnostics"))
	for _, what := range []string{"kubectl --kubeconfig", "get events -A", "talosctl --talosconfig", " support ", "pulumi stack history"} {
		assert.Contains(t, diagnostics, what)
	}
	assert.Regexp(t, `pulumi destroy --yes .*-s `+e2eStack+`\b`, runOf(namedStep(job, "pulumi destroy")))
	artifact, _ := dig(step(job, "actions/upload-artifact"), "with", "path").(string)
	assert.Contains(t, diagnostics, `"$RUNNER_TEMP/credentials"`, "credentials are written outside the artifact")
	assert.Equal(t, "${{ runner.temp }}/diagnostics", artifact)

	// The stack: the local lab on Docker.
	cfg := e2eConfig(t)
	assert.Equal(t, string(config.Docker), cfg[config.Namespace+":"+config.KeyCloud])
	assert.Equal(t, string(config.Local), cfg[config.Namespace+":"+config.KeyEnvironment])
}

// TestE2EWorkflowPinsActions: every action is pinned by a full commit SHA,
// with the release it is in a trailing comment for the reader and for
// update tools.
func TestE2EWorkflowPinsActions(t *testing.T) {
	pinned := regexp.MustCompile(`^\s*(?:- )?uses: [\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$`)
	var uses int
	for i, line := range strings.Split(readFile(t, e2eWorkflow), "\n") {
		if strings.Contains(line, "uses:") {
			uses++
			assert.Regexp(t, pinned, line, "%s:%d", e2eWorkflow, i+1)
		}
	}
	assert.Equal(t, 3, uses, "checkout, setup-go and upload-artifact")
}

// TestE2ETopology: the footprint decides the e2e topology. Three control
// planes and two workers of the local size are used only if they fit the
// hosted runner; otherwise one of each, which must fit. `go test -run
// TestE2ETopology -v .` prints both reports.
func TestE2ETopology(t *testing.T) {
	cfg := e2eConfig(t)
	report := stackFootprint(t, e2eStack, cfg)
	t.Log("\n" + report.String())
	t.Logf("on one host: %dm CPU requested, %d MiB of node memory; runner %dm / %d MiB less %dm / %d MiB for itself",
		report.HostLoad().MilliCPU, report.HostLoad().Memory>>20,
		githubRunner.MilliCPU, githubRunner.Memory>>20, runnerReserve.MilliCPU, runnerReserve.Memory>>20)

	full := map[string]string{}
	for k, v := range cfg {
		full[k] = v
	}
	full[config.Namespace+":"+config.KeyControlPlaneCount] = "3"
	full[config.Namespace+":"+config.KeyWorkerCount] = "2"
	fullReport := stackFootprint(t, e2eStack, full)
	t.Log("\n" + fullReport.String())
	t.Logf("3+2 on one host: %dm CPU requested, %d MiB of node memory", fullReport.HostLoad().MilliCPU, fullReport.HostLoad().Memory>>20)

	topology := []int{report.Nodes.ControlPlanes, report.Nodes.Workers}
	if fullReport.FitsHost(githubRunner, runnerReserve) {
		assert.Equal(t, []int{3, 2}, topology, "3+2 fits the runner: the e2e run should use the lab's own topology")
		return
	}
	assert.Equal(t, []int{1, 1}, topology, "3+2 does not fit the runner: one control plane and one worker")
	assert.True(t, report.FitsHost(githubRunner, runnerReserve), "the e2e topology fits the runner")
}

// TestWorkflowsPassActionlint runs actionlint's own checks (expressions,
// contexts, action inputs, job and step keys, cron syntax) on every
// workflow, as `actionlint` would. shellcheck, which it would also run on
// the scripts, is left out so the result does not depend on what this
// machine has installed.
func TestWorkflowsPassActionlint(t *testing.T) {
	linter, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	require.NoError(t, err)
	files, err := os.ReadDir(".github/workflows")
	require.NoError(t, err)
	var paths []string
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".yml") || strings.HasSuffix(f.Name(), ".yaml") {
			paths = append(paths, ".github/workflows/"+f.Name())
		}
	}
	require.True(t, slices.Contains(paths, e2eWorkflow))

	problems, err := linter.LintFiles(paths, nil)
	require.NoError(t, err)
	for _, p := range problems {
		t.Errorf("%s:%d:%d: %s [%s]", p.Filepath, p.Line, p.Column, p.Message, p.Kind)
	}
}

// readFile is a committed file's text.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
