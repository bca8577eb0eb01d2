package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
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
	_, runs := steps(dig(ci, "jobs", "test"))
	// CI runs .ci/run, so a stop's check and GitHub's are one script, with
	// the linter the module pins rather than one an action downloads.
	assert.Contains(t, runs, ".ci/run")
	assert.Contains(t, runs, "go run ./cmd/charts pull", "the render tier's archives")
	script, err := os.ReadFile(".ci/run")
	require.NoError(t, err)
	for _, cmd := range []string{"gofmt -l .", "go vet ./...", "go tool -modfile=tools/go.mod golangci-lint run ./...", "go test ./...", "SRE_LAB_REQUIRE_CHARTS=1", "go mod tidy -diff"} {
		assert.Contains(t, string(script), cmd)
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
	for _, job := range []string{"preview-dev", "preview-gated", "up"} {
		uses, _ := steps(dig(deploy, "jobs", job))
		assert.Subset(t, uses, []string{"pulumi/auth-actions", "aws-actions/configure-aws-credentials", "pulumi/actions"}, job)
	}
	assert.Equal(t, []any{"main"}, dig(deploy, "on", "push", "branches"))
	_, runs = steps(dig(deploy, "jobs", "up"))
	assert.Contains(t, runs, talosctlURL(), "the runner's talosctl matches the pinned Talos version")
	checksVerified(t, runs)
}

// TestDeliveryWorkflowPreviews: a pull request's preview runs the pull
// request's own program, so deploy-cloud gives it no credential beyond one
// stack's preview. Every job that can run on pull_request skips forks
// (pull_request_target is never used), asks pulumi/auth-actions for a team
// token scoped to team:sre-lab-<stack>-preview (never the organization
// token) and assumes a preview role, never the deploy role of the up job.
// A job that names staging or prod runs behind its <stack>-preview
// environment (protected by reviewers, docs/cloud-deployment.md section 6);
// only dev previews without one. Every stack is still previewed.
func TestDeliveryWorkflowPreviews(t *testing.T) {
	const path = ".github/workflows/deploy-cloud.yml"
	deploy := readYAML(t, path)
	on, _ := dig(deploy, "on").(map[string]any)
	require.Contains(t, on, "pull_request", path)
	assert.NotContains(t, on, "pull_request_target", "pull_request_target would hand a fork's program the base repository's credentials")
	jobs, _ := dig(deploy, "jobs").(map[string]any)
	require.Contains(t, jobs, "up")

	// A condition that names one event other than pull_request keeps the
	// job off pull requests; anything else may run there.
	notPR := regexp.MustCompile(`^github\.event_name (!= 'pull_request'|== '(push|workflow_dispatch|schedule)')$`)
	const sameRepo = "github.event.pull_request.head.repo.full_name == github.repository"
	deployRole := dig(step(dig(jobs, "up"), "aws-actions/configure-aws-credentials"), "with", "role-to-assume")
	require.NotEmpty(t, deployRole)

	previewed := map[string]bool{}
	roles := map[any]string{}
	for name, job := range jobs {
		cond, _ := dig(job, "if").(string)
		if notPR.MatchString(strings.TrimSpace(cond)) {
			continue
		}
		raw, err := yaml.Marshal(job)
		require.NoError(t, err)
		text := string(raw)

		assert.Contains(t, cond, sameRepo, "%s: no preview for pull requests from forks", name)
		assert.NotContains(t, cond, "||", "%s: the fork check cannot be bypassed", name)
		assert.NotContains(t, text, "access_token:organization", "%s: no organization-wide Pulumi token on pull requests", name)

		var stacks []string
		if m, ok := dig(job, "strategy", "matrix", "stack").([]any); ok {
			for _, s := range m {
				stacks = append(stacks, s.(string))
			}
		} else if sn, ok := dig(step(job, "pulumi/actions"), "with", "stack-name").(string); ok {
			stacks = []string{sn[strings.LastIndex(sn, "/")+1:]}
		}
		require.NotEmpty(t, stacks, "%s: previews which stack?", name)
		expand := func(v any, stack string) string {
			s, _ := v.(string)
			return strings.ReplaceAll(s, "${{ matrix.stack }}", stack)
		}

		auth := step(job, "pulumi/auth-actions")
		assert.Equal(t, "urn:pulumi:token-type:access_token:team", dig(auth, "with", "requested-token-type"), "%s: a team token, scoped to the stack's preview team", name)
		role := dig(step(job, "aws-actions/configure-aws-credentials"), "with", "role-to-assume")
		assert.NotEqual(t, deployRole, role, "%s: the preview role is not the deploy role", name)
		assert.Contains(t, role, "PREVIEW", "%s: a preview (read-only) role", name)
		if other, dup := roles[role]; dup {
			t.Errorf("%s and %s share the preview role %v: one role per environment", name, other, role)
		}
		roles[role] = name

		env := dig(job, "environment")
		for _, stack := range stacks {
			previewed[stack] = true
			assert.Equal(t, "team:sre-lab-"+stack+"-preview", expand(dig(auth, "with", "scope"), stack), "%s: token scoped to the %s stack", name, stack)
			if stack != "dev" {
				assert.Equal(t, stack+"-preview", expand(env, stack), "%s: %s previews only behind the protected %s-preview environment", name, stack, stack)
			}
		}
		if env == nil {
			assert.NotRegexp(t, `staging|prod`, text, "%s: no environment, so nothing of staging or prod", name)
		}
	}
	assert.Equal(t, map[string]bool{"dev": true, "staging": true, "prod": true}, previewed, "every stack is previewed")

	up := dig(jobs, "up")
	assert.Equal(t, "github.event_name != 'pull_request'", dig(up, "if"), "updates never run on pull requests")
	assert.Equal(t, "${{ github.event.inputs.stack || 'dev' }}", dig(up, "environment"), "updates run behind the stack's environment")
}

// step is the first step of a job that uses an action, or nil.
func step(job any, action string) any {
	list, _ := dig(job, "steps").([]any)
	for _, s := range list {
		if u, ok := dig(s, "uses").(string); ok && strings.Split(u, "@")[0] == action {
			return s
		}
	}
	return nil
}

// talosctlURL is the talosctl release of the pinned Talos version.
func talosctlURL() string {
	return "https://github.com/siderolabs/talos/releases/download/" + config.DefaultTalosVersion + "/talosctl-linux-amd64"
}

// checksVerified asserts that a talosctl install checks the binary against
// the same release's sha256sum.txt before installing it.
func checksVerified(t *testing.T, install string) {
	t.Helper()
	sums := "https://github.com/siderolabs/talos/releases/download/" + config.DefaultTalosVersion + "/sha256sum.txt"
	assert.Contains(t, install, sums, "the checksums come from the pinned release")
	check := strings.Index(install, "sha256sum -c")
	place := strings.Index(install, "install -m 0755 talosctl-linux-amd64")
	assert.True(t, check >= 0 && place > check, "the binary is verified before it is installed: %s", install)
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
// pulumi, go, talosctl or kubectl (or the shell around them); the Hubble UI,
// which no cloud serves publicly, has its port-forward.
func TestDeliveryTaskfile(t *testing.T) {
	doc := readYAML(t, "Taskfile.yml")
	assert.Equal(t, "3", doc["version"])
	tasks, _ := doc["tasks"].(map[string]any)
	for _, name := range []string{"local:up", "local:down", "cloud:plan", "cloud:apply", "k8s:bootstrap", "k8s:observability", "verify", "hubble", "test", "lint"} {
		assert.Contains(t, tasks, name)
	}
	thin := regexp.MustCompile(`^(\(umask 077; )?(pulumi|go|talosctl|kubectl|golangci-lint|test|mkdir) `)
	for name, task := range tasks {
		assert.NotEmpty(t, dig(task, "desc"), name)
		cmds, _ := dig(task, "cmds").([]any)
		require.NotEmpty(t, cmds, name)
		for _, c := range cmds {
			assert.Regexp(t, thin, c, name)
		}
	}
	assert.Equal(t, []any{"go test ./..."}, dig(tasks, "test", "cmds"), "the README's test command")
	// The chart's Service (cilium templates/hubble-ui/service.yaml) in the
	// release's namespace.
	assert.Equal(t, []any{`kubectl --kubeconfig "{{.KUBECONFIG}}" -n kube-system port-forward svc/hubble-ui 12000:80`}, dig(tasks, "hubble", "cmds"), "the README's Hubble UI endpoint")
}

// TestDeliveryCredentialsOutsideCheckout: the kubeconfig and talosconfig
// hold cluster-admin keys, so every documented way of writing or reading
// them uses ~/.sre-lab/<stack>/ (credentialDir), never the checkout: the
// Taskfile's paths are the Go pattern, .gitignore lists both names for a
// stray copy, and no README or docs line writes or exports one there.
func TestDeliveryCredentialsOutsideCheckout(t *testing.T) {
	doc := readYAML(t, "Taskfile.yml")
	dir := fmt.Sprintf(credentialDir, "{{.STACK}}")
	assert.Equal(t, dir, dig(doc, "vars", "CREDENTIALS"), "credentialDir in main.go")
	assert.Equal(t, "{{.CREDENTIALS}}/kubeconfig", dig(doc, "vars", "KUBECONFIG"))
	assert.Equal(t, "{{.CREDENTIALS}}/talosconfig", dig(doc, "vars", "TALOSCONFIG"))
	assert.Equal(t, []any{
		`(umask 077; mkdir -p "{{.CREDENTIALS}}" && chmod 700 "{{.CREDENTIALS}}")`,
		`(umask 077; pulumi stack output kubeconfig --show-secrets -s {{.STACK}} > "{{.KUBECONFIG}}")`,
		`(umask 077; pulumi stack output talosconfig --show-secrets -s {{.STACK}} > "{{.TALOSCONFIG}}")`,
	}, dig(doc, "tasks", "credentials", "cmds"))
	assert.Equal(t, []any{`talosctl --talosconfig "{{.TALOSCONFIG}}" --nodes "{{.NODE}}" --endpoints "{{.NODE}}" health`}, dig(doc, "tasks", "health", "cmds"))

	ignore, err := os.ReadFile(".gitignore")
	require.NoError(t, err)
	for _, name := range []string{"kubeconfig", "talosconfig"} {
		assert.Contains(t, strings.Split(string(ignore), "\n"), name, ".gitignore")
	}

	docs := []string{"README.md"}
	for _, glob := range []string{"docs/*.md", "docs/runbooks/*.md"} {
		files, err := filepath.Glob(glob)
		require.NoError(t, err)
		docs = append(docs, files...)
	}
	inCheckout := regexp.MustCompile(`(\$PWD/|\./|(^|[^-])>\s*"?|--(kube|talos)config[= ]"?)(kube|talos)config\b`)
	exported := regexp.MustCompile(`\b(KUBECONFIG|TALOSCONFIG)=(\S+)`)
	for _, path := range docs {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		for i, line := range strings.Split(string(b), "\n") {
			assert.NotRegexp(t, inCheckout, line, "%s:%d writes or reads credentials in the checkout", path, i+1)
			for _, m := range exported.FindAllStringSubmatch(line, -1) {
				assert.True(t, strings.HasPrefix(m[2], "$HOME/.sre-lab/"), "%s:%d: %s is not under ~/.sre-lab/<stack>/", path, i+1, m[0])
			}
		}
	}
}

// TestDeliveryDeploymentSettings: the committed Pulumi Deployments settings
// decode into Pulumi's own type with no unknown field; no stack deploys on
// push, since a hosted runner's address is outside sre-lab:adminCidrs and
// the nodes would not answer it; only dev previews pull requests, since a
// preview runs the pull request's program with the stack's role and token
// and staging/prod secrets must not be readable before review (they are
// previewed in GitHub Actions behind a protected environment); all watch
// only what changes the stack and assume an AWS role through OIDC.
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
			assert.Equal(t, stack == "dev", s.GitHub.PreviewPullRequests, "pull-request previews of %s", stack)
			assert.Contains(t, s.GitHub.Paths, "Pulumi."+stack+".yaml")
			assert.Contains(t, s.GitHub.Paths, "**/*.go")
			require.NotNil(t, s.Operation)
			require.NotNil(t, s.Operation.OIDC)
			require.NotNil(t, s.Operation.OIDC.AWS)
			assert.Regexp(t, role, s.Operation.OIDC.AWS.RoleARN)
			assert.Empty(t, s.Operation.EnvironmentVariables, "no credentials in environment variables")
			require.Len(t, s.Operation.PreRunCommands, 1)
			assert.Contains(t, s.Operation.PreRunCommands[0], talosctlURL())
			checksVerified(t, s.Operation.PreRunCommands[0])
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

// TestTalosctlInstallRejectsACorruptBinary runs the Deployments install
// command against a stand-in curl serving the release's files, in the
// format of Talos's sha256sum.txt ("<sha256>  <file>" per release asset):
// a matching binary is installed, a corrupted one is not.
func TestTalosctlInstallRejectsACorruptBinary(t *testing.T) {
	b, err := os.ReadFile("Pulumi.dev.deploy.yaml")
	require.NoError(t, err)
	var file struct {
		Settings apitype.DeploymentSettings `yaml:"settings"`
	}
	require.NoError(t, yaml.Unmarshal(b, &file))
	install := file.Settings.Operation.PreRunCommands[0]

	for _, tc := range []struct {
		name    string
		served  string
		wantErr bool
	}{
		{"intact", "talosctl binary", false},
		{"corrupted in transit", "talosctl binAry", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "bin")
			require.NoError(t, os.MkdirAll(bin, 0o755))
			sum := sha256.Sum256([]byte("talosctl binary"))
			sums := fmt.Sprintf("%x  talosctl-darwin-amd64\n%x  talosctl-linux-amd64\n", sha256.Sum256([]byte("other")), sum)
			curl := "#!/bin/sh\nfor a; do u=$a; done\ncase $u in\n*/sha256sum.txt) printf '%s' \"$SUMS\" > sha256sum.txt ;;\n*/talosctl-linux-amd64) printf '%s' \"$SERVED\" > talosctl-linux-amd64 ;;\n*) exit 22 ;;\nesac\n"
			require.NoError(t, os.WriteFile(filepath.Join(bin, "curl"), []byte(curl), 0o755))
			for _, tool := range []string{"grep", "sha256sum", "install", "mktemp"} {
				path, err := exec.LookPath(tool)
				require.NoError(t, err)
				require.NoError(t, os.Symlink(path, filepath.Join(bin, tool)))
			}
			target := filepath.Join(dir, "talosctl")
			cmd := exec.Command("/bin/sh", "-c", strings.ReplaceAll(install, "/usr/local/bin/talosctl", target))
			cmd.Env = []string{"PATH=" + bin, "TMPDIR=" + dir, "SUMS=" + sums, "SERVED=" + tc.served}
			out, err := cmd.CombinedOutput()
			if tc.wantErr {
				require.Error(t, err, "%s", out)
				assert.NoFileExists(t, target, "a binary that fails its checksum is never installed")
				return
			}
			require.NoError(t, err, "%s", out)
			got, err := os.ReadFile(target)
			require.NoError(t, err)
			assert.Equal(t, "talosctl binary", string(got))
		})
	}
}

// TestWorkflowActionsArePinned: a tag can be moved to other code after a
// review; a commit cannot. Every action in every workflow is pinned by its
// full commit SHA, with the release it was read from in a trailing comment
// so a reader (and Dependabot) can tell which version it is.
func TestWorkflowActionsArePinned(t *testing.T) {
	files, err := filepath.Glob(".github/workflows/*.yml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	uses := regexp.MustCompile(`^\s*(?:-\s+)?uses:\s*(\S+)(.*)$`)
	pinned := regexp.MustCompile(`^[\w.-]+/[\w./-]+@[0-9a-f]{40}$`)
	version := regexp.MustCompile(`^\s*#\s*v\d+(\.\d+)*\s*$`)
	count := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		for i, line := range strings.Split(string(b), "\n") {
			m := uses.FindStringSubmatch(line)
			if m == nil || strings.HasPrefix(m[1], "./") {
				continue
			}
			count++
			assert.Regexp(t, pinned, m[1], "%s:%d: pin the action to a commit SHA", file, i+1)
			assert.Regexp(t, version, m[2], "%s:%d: name the release the SHA is, as # vX.Y.Z", file, i+1)
		}
	}
	assert.Positive(t, count, "the workflows use actions")
}
