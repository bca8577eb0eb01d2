package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra/buildtags"
)

// globMatches reports whether a `pulumi up --target` pattern selects urn,
// by the rule of pulumi/pulumi pkg/resource/deploy/deployment.go
// (UrnTargets.getMatcher): the whole URN must match, ** stands for any run
// of characters and * for any run without a colon; a pattern with no star
// is a literal URN.
func globMatches(pattern, urn string) bool {
	switch {
	case pattern == "":
		return urn == ""
	case strings.HasPrefix(pattern, "**"):
		for i := 0; i <= len(urn); i++ {
			if globMatches(pattern[2:], urn[i:]) {
				return true
			}
		}
		return false
	case pattern[0] == '*':
		for i := 0; i <= len(urn); i++ {
			if globMatches(pattern[1:], urn[i:]) {
				return true
			}
			if i < len(urn) && urn[i] == ':' {
				return false
			}
		}
		return false
	}
	return urn != "" && urn[0] == pattern[0] && globMatches(pattern[1:], urn[1:])
}

// TestGlobMatches holds globMatches to the cases of Pulumi's own
// TestGlobUrn (pkg/resource/deploy/deployment_test.go), with the ones it
// must not match.
func TestGlobMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern  string
		match    []string
		mismatch []string
	}{
		{"**", []string{
			"urn:pulumi:stack::test::typ$aws:resource::aname",
			"urn:pulumi:stack::test::typ$azure:resource::bar",
		}, nil},
		{"urn:pulumi:stack::test::typ*:resource::bar", []string{
			"urn:pulumi:stack::test::typ$aws:resource::bar",
			"urn:pulumi:stack::test::typ$azure:resource::bar",
		}, []string{
			"urn:pulumi:stack::test::ty:resource::bar",
			"urn:pulumi:stack::test::type:resource::foobar",
		}},
		{"**:aname", []string{"urn:pulumi:stack::test::typ$aws:resource::aname"},
			[]string{"urn:pulumi:stack::test::typ$aws:resource::somename"}},
		{"*:*:stack::test::typ$aws:resource::*", []string{
			"urn:pulumi:stack::test::typ$aws:resource::aname",
			"urn:pulumi:stack::test::typ$aws:resource::bar",
		}, []string{"urn:pulumi:stack::test::typ$azure:resource::aname"}},
		{"stack::test::typ$aws:resource::none", []string{"stack::test::typ$aws:resource::none"},
			[]string{"stack::test::typ$aws:resource::nonee"}},
		// The pattern the Taskfile once had: * stops at the :: before the
		// name, so it matches nothing.
		{"**sre-lab:observability:*", nil, []string{
			"urn:pulumi:dev::sre-lab::sre-lab:observability:LokiStack::logging",
		}},
	} {
		for _, urn := range tc.match {
			assert.True(t, globMatches(tc.pattern, urn), "%s should match %s", tc.pattern, urn)
		}
		for _, urn := range tc.mismatch {
			assert.False(t, globMatches(tc.pattern, urn), "%s should not match %s", tc.pattern, urn)
		}
	}
}

// urnOf is the URN the engine gives a registration: the parent's type
// chain (none under the stack) joined to the type with $.
func urnOf(stack string, r registered) string {
	parentType := tokens.Type("")
	if parent := resource.URN(r.Parent); parent != "" && parent.QualifiedType() != resource.RootStackType {
		parentType = parent.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(stack), "sre-lab", parentType, tokens.Type(r.Type), r.Name))
}

// topComponent is the outermost type in a URN's type chain: the component
// a resource belongs to.
func topComponent(urn string) string {
	qualified := string(resource.URN(urn).QualifiedType())
	return strings.SplitN(qualified, "$", 2)[0]
}

// TestTaskTargets: every --target in Taskfile.yml selects exactly what the
// task's description promises, on every backend: the machine and Talos
// components with everything under them, or the observability components
// with everything under them. A pattern that selects nothing would make
// `pulumi up --target` update nothing.
func TestTaskTargets(t *testing.T) {
	promises := map[string]struct {
		desc  string
		layer string
	}{
		"k8s:bootstrap":     {"the machines and Talos", "sre-lab:infra:"},
		"k8s:observability": {"the monitoring and logging stacks", "sre-lab:observability:"},
	}
	doc := readYAML(t, "Taskfile.yml")
	tasks, _ := doc["tasks"].(map[string]any)
	target := regexp.MustCompile(`--target[ =]('[^']*'|"[^"]*"|\S+)`)
	globs := map[string][]string{}
	for name, task := range tasks {
		cmds, _ := dig(task, "cmds").([]any)
		for _, c := range cmds {
			for _, m := range target.FindAllStringSubmatch(fmt.Sprint(c), -1) {
				globs[name] = append(globs[name], strings.Trim(m[1], `'"`))
			}
		}
	}
	for name := range globs {
		require.Contains(t, promises, name, "task %s has a --target this test does not know the promise of", name)
		assert.Contains(t, dig(tasks, name, "desc"), promises[name].desc, name)
	}
	require.Len(t, globs, len(promises), "each promised task has its --target")

	for _, tc := range []struct {
		name, stack string
		set         map[string]string
	}{
		{"virtualbox", "local", nil},
		{"docker", "local", onDocker},
		{"aws", "dev", nil},
		{"hetzner", "dev", onHetzner},
		{"gcp", "dev", onGCP},
		{"azure", "staging", onAzure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, err := run(t, tc.stack, userConfigOn(t, tc.stack, tc.set))
			require.NoError(t, err)
			for task, patterns := range globs {
				var want, got []string
				for _, r := range m.resources {
					urn := urnOf(tc.stack, r)
					if strings.HasPrefix(topComponent(urn), promises[task].layer) {
						want = append(want, urn)
					}
					if slices.ContainsFunc(patterns, func(p string) bool { return globMatches(p, urn) }) {
						got = append(got, urn)
					}
				}
				require.NotEmpty(t, want, "%s: the program registers %s components", task, promises[task].layer)
				assert.ElementsMatch(t, want, got, "%s: %v", task, patterns)
			}
		})
	}
}

// taskTemplate expands a Taskfile string the way Task does for the
// variables the Taskfile uses.
func taskTemplate(t *testing.T, text string, vars map[string]string) string {
	t.Helper()
	tmpl, err := template.New("task").Option("missingkey=error").Funcs(template.FuncMap{
		"default": func(fallback string, v any) string {
			if s, _ := v.(string); s != "" {
				return s
			}
			return fallback
		},
	}).Parse(text)
	require.NoError(t, err, text)
	var b bytes.Buffer
	require.NoError(t, tmpl.Execute(&b, vars), text)
	return b.String()
}

// TestHealthTaskNamesOneNode runs `task health` as Task would, with a
// stand-in pulumi answering from the program's outputs and a stand-in
// talosctl recording its arguments: talosctl is given exactly one node, the
// first control plane, as Talos refuses health for several
// (helpers.FailIfMultiNodes), and without --nodes it would take every node
// the talosconfig lists.
func TestHealthTaskNamesOneNode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX shell")
	}
	doc := readYAML(t, "Taskfile.yml")
	health := dig(doc, "tasks", "health")
	cmds, _ := dig(health, "cmds").([]any)
	require.Len(t, cmds, 1)

	for _, stack := range []string{"local", "dev"} {
		t.Run(stack, func(t *testing.T) {
			_, out, err := run(t, stack, userConfig(t, stack))
			require.NoError(t, err)
			nodes := out["nodes"].Value.([]map[string]any)
			first := nodes[0]["publicIp"]
			if first == "" || first == nil {
				first = nodes[0]["privateIp"]
			}

			bin, home := t.TempDir(), t.TempDir()
			var answers strings.Builder
			for name, o := range out {
				if s, ok := o.Value.(string); ok && !o.Secret {
					fmt.Fprintf(&answers, "%s) echo '%s' ;;\n", name, s)
				}
			}
			pulumi := "#!/bin/sh\n[ \"$1 $2\" = 'stack output' ] && [ \"$4 $5\" = '-s " + stack + "' ] || exit 2\ncase \"$3\" in\n" +
				answers.String() + "*) echo \"no output $3\" >&2; exit 1 ;;\nesac\n"
			require.NoError(t, os.WriteFile(filepath.Join(bin, "pulumi"), []byte(pulumi), 0o755))
			args := filepath.Join(home, "talosctl-args")
			require.NoError(t, os.WriteFile(filepath.Join(bin, "talosctl"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > "+args+"\n"), 0o755))
			shell := func(cmd string) string {
				c := exec.Command("sh", "-c", cmd)
				c.Env = []string{"HOME=" + home, "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
				b, err := c.CombinedOutput()
				require.NoError(t, err, "%s: %s", cmd, b)
				return string(b)
			}

			vars := map[string]string{"STACK": stack}
			for _, name := range []string{"CREDENTIALS", "KUBECONFIG", "TALOSCONFIG"} {
				vars[name] = taskTemplate(t, fmt.Sprint(dig(doc, "vars", name)), vars)
			}
			taskVars, _ := dig(health, "vars").(map[string]any)
			for name, v := range taskVars {
				sh, ok := dig(v, "sh").(string)
				require.True(t, ok, "%s is a command's output", name)
				// Task drops the trailing newline of a command's output.
				vars[name] = strings.TrimRight(shell(taskTemplate(t, sh, vars)), "\n")
			}
			shell(taskTemplate(t, fmt.Sprint(cmds[0]), vars))

			b, err := os.ReadFile(args)
			require.NoError(t, err)
			argv := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			var named []string
			for i, a := range argv {
				if (a == "--nodes" || a == "-n") && i+1 < len(argv) {
					named = append(named, strings.Split(argv[i+1], ",")...)
				}
			}
			if len(named) == 0 {
				for _, n := range nodes {
					named = append(named, fmt.Sprint(n["name"]))
				}
			}
			assert.Equal(t, []string{fmt.Sprint(first)}, named, "talosctl health runs against one node, the first control plane: %v", argv)
			assert.Contains(t, argv, "health")
			assert.Contains(t, argv, strings.ReplaceAll(vars["TALOSCONFIG"], "$HOME", home), "the talosconfig task credentials writes")
		})
	}
}

// TestDocumentedOutputsExist: every `pulumi stack output <name>` that
// README.md, docs/ or Taskfile.yml tells a person to run names an output
// the program exports on some stack.
func TestDocumentedOutputsExist(t *testing.T) {
	exported := map[string]bool{}
	for _, stack := range []string{"local", "prod"} {
		_, out, err := run(t, stack, userConfig(t, stack))
		require.NoError(t, err)
		for name := range out {
			exported[name] = true
		}
	}
	use := regexp.MustCompile(`pulumi stack output ([A-Za-z][A-Za-z0-9]*)`)
	for _, file := range append(docFiles(t), "Taskfile.yml") {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, m := range use.FindAllStringSubmatch(string(b), -1) {
			assert.True(t, exported[m[1]], "%s: pulumi stack output %s names no output", file, m[1])
		}
	}
}

// goModVersion is the version go.mod requires of a module, or its go line
// for "go".
func goModVersion(t *testing.T, module string) string {
	t.Helper()
	b, err := os.ReadFile("go.mod")
	require.NoError(t, err)
	pattern := `(?m)^\s*` + regexp.QuoteMeta(module) + ` v?(\S+)`
	if module == "go" {
		pattern = `(?m)^go (\S+)`
	}
	m := regexp.MustCompile(pattern).FindStringSubmatch(string(b))
	require.NotNil(t, m, "go.mod names %s", module)
	return m[1]
}

// TestPinnedVersions: the Talos and Kubernetes versions live in
// config/versions.go and every other mention follows it (mise.toml, the
// Talos machinery in go.mod, the README's key table, the Azure upload
// steps; the workflows' talosctl downloads are held by the delivery
// tests), and mise.toml pins each tool to what the program uses.
func TestPinnedVersions(t *testing.T) {
	b, err := os.ReadFile("mise.toml")
	require.NoError(t, err)
	tools := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z]+) = "([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
		tools[m[1]] = m[2]
	}
	talos := strings.TrimPrefix(config.DefaultTalosVersion, "v")
	assert.Equal(t, map[string]string{
		"go":       tools["go"],
		"pulumi":   goModVersion(t, "github.com/pulumi/pulumi/sdk/v3"),
		"talosctl": talos,
		"kubectl":  config.DefaultKubernetesVersion,
		"helm":     goModVersion(t, "helm.sh/helm/v3"),
		"task":     tools["task"],
	}, tools)
	assert.True(t, strings.HasPrefix(goModVersion(t, "go"), tools["go"]+"."), "mise's go %s is go.mod's line", tools["go"])
	assert.True(t, strings.HasPrefix(tools["task"], "3."), "Taskfile.yml is version 3")

	assert.Equal(t, talos, goModVersion(t, "github.com/siderolabs/talos/pkg/machinery"),
		"the patches are validated by the machinery of the Talos the nodes run")
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	assert.Contains(t, string(readme), "| `talosVersion` | "+config.DefaultTalosVersion+" |")
	assert.Contains(t, string(readme), "| `kubernetesVersion` | "+config.DefaultKubernetesVersion+" |")
	_, azure := section(t, "docs/cloud-deployment.md", "2d. Azure")
	assert.Contains(t, azure, "V="+config.DefaultTalosVersion+"\n")
}

// taskCommands are a task's commands as Task would run them with vars,
// the Taskfile's global variables worked out first from vars, as Task
// does.
func taskCommands(t *testing.T, doc map[string]any, task string, vars map[string]string) []string {
	t.Helper()
	all := map[string]string{}
	for k, v := range vars {
		all[k] = v
	}
	for _, name := range []string{"CREDENTIALS", "KUBECONFIG", "TALOSCONFIG"} {
		all[name] = taskTemplate(t, fmt.Sprint(dig(doc, "vars", name)), all)
	}
	cmds, _ := dig(doc, "tasks", task, "cmds").([]any)
	require.NotEmpty(t, cmds, "task %s has commands", task)
	var out []string
	for _, c := range cmds {
		s, ok := c.(string)
		require.True(t, ok, "%s: %v is a command line", task, c)
		out = append(out, taskTemplate(t, s, all))
	}
	return out
}

// TestTaskfileUp: `task up` is the preflight checks, then exactly what `task
// local:up`, `task credentials STACK=local` and `task verify STACK=local
// WAIT=5m` run, in that order; its credential lines, run against a stand-in pulumi,
// leave the kubeconfig and talosconfig owner-only in ~/.sre-lab/local/.
func TestTaskfileUp(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX shell and file modes")
	}
	doc := readYAML(t, "Taskfile.yml")
	local := map[string]string{"STACK": "local"}
	want := []string{"go run ./cmd/preflight -s local"}
	for _, task := range []string{"local:up", "credentials"} {
		want = append(want, taskCommands(t, doc, task, local)...)
	}
	// The lab was just made: its checks get time to settle.
	want = append(want, taskCommands(t, doc, "verify", map[string]string{"STACK": "local", "WAIT": "5m"})...)
	// Whatever STACK says, as Task's default (dev) here: up is the local lab.
	require.Equal(t, want, taskCommands(t, doc, "up", map[string]string{"STACK": "dev"}))
	assert.Contains(t, dig(doc, "tasks", "up", "desc"), "preflight")
	for _, task := range []string{"up", "local:up"} {
		assert.Equal(t, "-tags="+buildtags.Local, dig(doc, "tasks", task, "env", "GOFLAGS"),
			"%s builds the program without the cloud backends", task)
	}

	bin, home := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bin, "pulumi"), []byte("#!/bin/sh\necho \"$1 $2 $3 $4 of $6\"\n"), 0o755))
	credentials := taskCommands(t, doc, "credentials", local)
	for _, line := range credentials {
		c := exec.Command("sh", "-c", line)
		c.Env = []string{"HOME=" + home, "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
		out, err := c.CombinedOutput()
		require.NoError(t, err, "%s: %s", line, out)
	}
	dir := filepath.Join(home, ".sre-lab", "local")
	for name, mode := range map[string]os.FileMode{"": 0o700, "kubeconfig": 0o600, "talosconfig": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, mode, fi.Mode().Perm(), "%s owner-only", filepath.Join(dir, name))
	}
	b, err := os.ReadFile(filepath.Join(dir, "kubeconfig"))
	require.NoError(t, err)
	assert.Equal(t, "stack output kubeconfig --show-secrets of local\n", string(b), "the local stack's secret output")
}

// stackEnvironments are the environments of the committed stack files,
// as the program reads them.
func stackEnvironments(t *testing.T) map[string]config.Environment {
	t.Helper()
	files, err := filepath.Glob("Pulumi.*.yaml")
	require.NoError(t, err)
	out := map[string]config.Environment{}
	for _, f := range files {
		stack := strings.TrimSuffix(strings.TrimPrefix(f, "Pulumi."), ".yaml")
		if strings.Contains(stack, ".") {
			continue // Pulumi.<stack>.deploy.yaml: Deployments settings
		}
		settings := userConfig(t, stack)
		cfg, err := config.Parse(stack, func(key string) (string, bool) {
			v, ok := settings[config.Namespace+":"+key]
			return v, ok
		})
		require.NoError(t, err, f)
		out[stack] = cfg.Environment
	}
	return out
}

// TestTaskfileCloudDestroy runs `task cloud:destroy` as Task would, for every
// stack with and without CONFIRM, against a stand-in pulumi: the local lab
// is refused and sent to task local:down, which destroys it; a stack whose
// program protects resources (staging, prod: the machine secrets) needs
// its name as CONFIRM; every other cloud stack goes with Pulumi's own
// preview and question, as nothing skips them (no --yes) or forces past a
// protected resource (no --remove, no unprotect).
func TestTaskfileCloudDestroy(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX shell")
	}
	doc := readYAML(t, "Taskfile.yml")
	preconditions, _ := dig(doc, "tasks", "cloud:destroy", "preconditions").([]any)
	require.NotEmpty(t, preconditions)
	bin := t.TempDir()
	args := filepath.Join(bin, "args")
	require.NoError(t, os.WriteFile(filepath.Join(bin, "pulumi"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > "+args+"\n"), 0o755))
	shell := func(line string) error {
		c := exec.Command("sh", "-c", line)
		c.Env = []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
		return c.Run()
	}
	argv := func() []string {
		b, err := os.ReadFile(args)
		require.NoError(t, err)
		return strings.Fields(string(b))
	}

	for stack, env := range stackEnvironments(t) {
		protected := false
		if env != config.Local {
			m, _, err := run(t, stack, userConfig(t, stack))
			require.NoError(t, err)
			protected = slices.ContainsFunc(m.resources, func(r registered) bool { return r.Protect })
		}
		for _, confirm := range []string{"", stack, "other"} {
			t.Run(stack+" CONFIRM="+confirm, func(t *testing.T) {
				vars := map[string]string{"STACK": stack, "CONFIRM": confirm}
				var refused []string
				for _, p := range preconditions {
					if shell(taskTemplate(t, fmt.Sprint(dig(p, "sh")), vars)) != nil {
						refused = append(refused, taskTemplate(t, fmt.Sprint(dig(p, "msg")), vars))
					}
				}
				switch {
				case env == config.Local:
					require.Len(t, refused, 1)
					assert.Contains(t, refused[0], "task local:down")
				case protected && confirm != stack:
					require.Len(t, refused, 1, "%s protects resources: destroying it takes its name again", stack)
					assert.Contains(t, refused[0], "CONFIRM="+stack)
				default:
					require.Empty(t, refused)
					cmds := taskCommands(t, doc, "cloud:destroy", vars)
					require.Len(t, cmds, 1)
					require.NoError(t, shell(cmds[0]))
					assert.Equal(t, []string{"destroy", "-s", stack}, argv())
				}
			})
		}
	}
	require.NoError(t, shell(taskCommands(t, doc, "local:down", map[string]string{"STACK": "dev"})[0]))
	assert.Equal(t, []string{"destroy", "-s", "local"}, argv(), "task local:down destroys the local lab")
}

// TestDocumentedTaskCommands: every `task <name> VAR=value` the README and
// docs give names a task of Taskfile.yml, passes only variables that task
// reads (in its commands, its preconditions or the global variables they
// use), and points it at a stack that has a stack file, or one the reader
// fills in; a cloud task is never pointed at a stack whose environment is
// local.
func TestDocumentedTaskCommands(t *testing.T) {
	doc := readYAML(t, "Taskfile.yml")
	tasks, _ := doc["tasks"].(map[string]any)
	globals, _ := doc["vars"].(map[string]any)
	envs := stackEnvironments(t)
	ref := regexp.MustCompile(`\{\{\s*\.([A-Z_]+)`)
	var reads func(text string, seen map[string]bool)
	reads = func(text string, seen map[string]bool) {
		for _, m := range ref.FindAllStringSubmatch(text, -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				reads(fmt.Sprint(globals[m[1]]), seen)
			}
		}
	}
	checked := 0
	for _, c := range documentedCommands(t) {
		args, ok := c.runs("task")
		if !ok || strings.HasPrefix(c.where, "Taskfile.yml") || len(args) == 0 || args[0] == "--list" {
			continue
		}
		checked++
		name := args[0]
		if !assert.True(t, tasks[name] != nil, "%s: %s: Taskfile.yml has no task %s", c.where, c.text, name) {
			continue
		}
		vars := map[string]bool{}
		reads(fmt.Sprint(tasks[name]), vars)
		for _, a := range args[1:] {
			if a == "--" {
				// What follows reaches the task as CLI_ARGS.
				assert.True(t, vars["CLI_ARGS"], "%s: %s: task %s passes on no arguments", c.where, c.text, name)
				break
			}
			k, v, ok := strings.Cut(a, "=")
			if !assert.True(t, ok && vars[k], "%s: %s: task %s reads no %s", c.where, c.text, name, k) || k != "STACK" || placeholder(v) {
				continue
			}
			if assert.Contains(t, envs, v, "%s: %s: no stack file Pulumi.%s.yaml", c.where, c.text, v) && strings.HasPrefix(name, "cloud:") {
				assert.NotEqual(t, config.Local, envs[v], "%s: %s: a cloud task on the local stack", c.where, c.text)
			}
		}
	}
	assert.Greater(t, checked, 20, "the docs' task commands were found")
}
