package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/your-org/sre-lab/config"
)

// readYAML parses a committed YAML file into a generic tree.
func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(b, &doc), path)
	return doc
}

// dig walks a YAML tree by keys.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// steps lists the actions a job's steps use and the commands they run.
func steps(job any) (uses []string, runs string) {
	list, _ := dig(job, "steps").([]any)
	for _, s := range list {
		if u, ok := dig(s, "uses").(string); ok {
			uses = append(uses, strings.Split(u, "@")[0])
		}
		if r, ok := dig(s, "run").(string); ok {
			runs += r + "\n"
		}
	}
	return uses, runs
}

// TestDeliveryWorkflows: the workflows parse and do what the README says:
// CI lints and tests everything, validate runs the stacks under mocks, and
// deploy-cloud previews on pull requests and updates through OIDC with no
// stored key.
func TestDeliveryWorkflows(t *testing.T) {
	ci := readYAML(t, ".github/workflows/ci.yml")
	uses, runs := steps(dig(ci, "jobs", "test"))
	assert.Contains(t, uses, "golangci/golangci-lint-action")
	for _, cmd := range []string{"gofmt -l .", "go vet ./...", "go test ./..."} {
		assert.Contains(t, runs, cmd)
	}
	assert.Equal(t, map[string]any{"contents": "read"}, dig(ci, "permissions"))

	validate := readYAML(t, ".github/workflows/validate.yml")
	_, runs = steps(dig(validate, "jobs", "stacks"))
	// Every test the validate job names must exist, or it would pass by
	// running nothing.
	m := regexp.MustCompile(`-run '([^']+)'`).FindStringSubmatch(runs)
	require.NotNil(t, m, runs)
	src := testSources(t)
	for _, name := range strings.Split(m[1], "|") {
		assert.Contains(t, src, "func "+name+"(t *testing.T)", "validate.yml runs %s", name)
	}

	deploy := readYAML(t, ".github/workflows/deploy-cloud.yml")
	assert.Equal(t, "write", dig(deploy, "permissions", "id-token"), "OIDC needs an ID token")
	raw, err := os.ReadFile(".github/workflows/deploy-cloud.yml")
	require.NoError(t, err)
	assert.False(t, strings.Contains(string(raw), "${{ secrets."), "no stored credential: OIDC only")
	for _, job := range []string{"preview", "up"} {
		uses, _ := steps(dig(deploy, "jobs", job))
		assert.Subset(t, uses, []string{"pulumi/auth-actions", "aws-actions/configure-aws-credentials", "pulumi/actions"}, job)
	}
	assert.Equal(t, []any{"dev", "staging", "prod"}, dig(deploy, "jobs", "preview", "strategy", "matrix", "stack"))
	assert.Equal(t, "github.event_name == 'pull_request'", dig(deploy, "jobs", "preview", "if"))
	assert.Equal(t, []any{"main"}, dig(deploy, "on", "push", "branches"))
	_, runs = steps(dig(deploy, "jobs", "up"))
	assert.Contains(t, runs, talosctlURL(), "the runner's talosctl matches the pinned Talos version")
}

// talosctlURL is the talosctl release of the pinned Talos version.
func talosctlURL() string {
	return "https://github.com/siderolabs/talos/releases/download/" + config.DefaultTalosVersion + "/talosctl-linux-amd64"
}

// testSources is every test file of this package, to check names against.
func testSources(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	require.NoError(t, err)
	var b bytes.Buffer
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		b.Write(src)
	}
	return b.String()
}

// TestDeliveryTaskfile: each task is described and is a thin call of
// pulumi, go or talosctl (or the shell around them).
func TestDeliveryTaskfile(t *testing.T) {
	doc := readYAML(t, "Taskfile.yml")
	assert.Equal(t, "3", doc["version"])
	tasks, _ := doc["tasks"].(map[string]any)
	for _, name := range []string{"local:up", "local:down", "cloud:plan", "cloud:apply", "k8s:bootstrap", "k8s:observability", "verify", "test", "lint"} {
		assert.Contains(t, tasks, name)
	}
	thin := regexp.MustCompile(`^(\(umask 077; )?(pulumi|go|talosctl|golangci-lint|test) `)
	for name, task := range tasks {
		assert.NotEmpty(t, dig(task, "desc"), name)
		cmds, _ := dig(task, "cmds").([]any)
		require.NotEmpty(t, cmds, name)
		for _, c := range cmds {
			assert.Regexp(t, thin, c, name)
		}
	}
	assert.Equal(t, []any{"go test ./..."}, dig(tasks, "test", "cmds"), "the README's test command")
}

// TestDeliveryDeploymentSettings: the committed Pulumi Deployments settings
// decode into Pulumi's own type with no unknown field; no stack deploys on
// push, since a hosted runner's address is outside sre-lab:adminCidrs and
// the nodes would not answer it; all preview pull requests, watch only what
// changes the stack, and assume an AWS role through OIDC.
func TestDeliveryDeploymentSettings(t *testing.T) {
	role := regexp.MustCompile(`^arn:aws:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_-]+$`)
	for _, stack := range []string{"dev", "staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			b, err := os.ReadFile("Pulumi." + stack + ".deploy.yaml")
			require.NoError(t, err)
			var file struct {
				Settings apitype.DeploymentSettings `yaml:"settings"`
			}
			dec := yaml.NewDecoder(bytes.NewReader(b))
			dec.KnownFields(true)
			require.NoError(t, dec.Decode(&file))
			s := file.Settings

			require.NotNil(t, s.SourceContext)
			require.NotNil(t, s.SourceContext.Git)
			assert.Equal(t, "refs/heads/main", s.SourceContext.Git.Branch)
			require.NotNil(t, s.GitHub)
			assert.False(t, s.GitHub.DeployCommits, "no push-to-deploy until a runner with a listed egress address exists")
			assert.True(t, s.GitHub.PreviewPullRequests)
			assert.Contains(t, s.GitHub.Paths, "Pulumi."+stack+".yaml")
			assert.Contains(t, s.GitHub.Paths, "**/*.go")
			require.NotNil(t, s.Operation)
			require.NotNil(t, s.Operation.OIDC)
			require.NotNil(t, s.Operation.OIDC.AWS)
			assert.Regexp(t, role, s.Operation.OIDC.AWS.RoleARN)
			assert.Empty(t, s.Operation.EnvironmentVariables, "no credentials in environment variables")
			require.Len(t, s.Operation.PreRunCommands, 1)
			assert.Contains(t, s.Operation.PreRunCommands[0], talosctlURL())
		})
	}
}

// TestStackFiles: every stack file holds only keys of the sre-lab
// namespace, names its own environment, and is run by the program tests.
func TestStackFiles(t *testing.T) {
	files, err := filepath.Glob("Pulumi.*.yaml")
	require.NoError(t, err)
	var stackNames []string
	for _, f := range files {
		if strings.HasSuffix(f, ".deploy.yaml") {
			continue
		}
		stack := strings.TrimSuffix(strings.TrimPrefix(f, "Pulumi."), ".yaml")
		stackNames = append(stackNames, stack)
		cfg := stackConfig(t, stack)
		for key := range cfg {
			assert.True(t, strings.HasPrefix(key, "sre-lab:"), "%s: %s is outside the sre-lab namespace", f, key)
		}
		assert.Equal(t, stack, cfg["sre-lab:environment"], f)
	}
	assert.ElementsMatch(t, stacks, stackNames, "every stack file is exercised by the program tests")
}
