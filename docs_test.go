package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/aws"
	"github.com/your-org/sre-lab/infra/azure"
	"github.com/your-org/sre-lab/infra/docker"
	"github.com/your-org/sre-lab/infra/gcp"
	"github.com/your-org/sre-lab/infra/hetzner"
	"github.com/your-org/sre-lab/infra/infratest"
	"github.com/your-org/sre-lab/infra/virtualbox"
	"github.com/your-org/sre-lab/internal/pulumitest"
	"github.com/your-org/sre-lab/internal/render"
)

// anchors are the fragment identifiers GitHub gives the headings of a
// Markdown file: the text lowercased, every character but letters, digits,
// spaces, hyphens and underscores dropped, spaces turned into hyphens, and
// -1, -2, ... added to repeats. Headings inside code fences are none.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	link := regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	out, seen := map[string]bool{}, map[string]int{}
	fenced := false
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		line := lines.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		text, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if fenced || !strings.HasPrefix(line, "#") || !ok || len(line)-len(strings.TrimLeft(line, "#")) > 6 {
			continue
		}
		text = link.ReplaceAllString(strings.TrimSpace(text), "$1")
		slug := strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
				return r
			}
			return -1
		}, strings.ToLower(text))
		if n := seen[slug]; n > 0 {
			out[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	require.NoError(t, lines.Err())
	return out
}

// TestAnchorRule holds anchors to GitHub's rule on headings this repository
// uses: numbers, punctuation, code, links and a repeat.
func TestAnchorRule(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.md")
	require.NoError(t, os.WriteFile(path, []byte("# sre-lab\n## 5. Pulumi Deployments\n"+
		"### `task health` fails: what now?\n## Alerts (Talos, etcd)\n## Setup\n## Setup\n"+
		"```sh\n# not a heading\n```\n## See [the runbook](runbooks/a.md)\n#nospace\n"), 0o600))
	got := anchors(t, path)
	assert.Equal(t, map[string]bool{
		"sre-lab": true, "5-pulumi-deployments": true, "task-health-fails-what-now": true,
		"alerts-talos-etcd": true, "setup": true, "setup-1": true, "see-the-runbook": true,
	}, got)
}

// docFiles are the pages a person reads: README.md and everything under
// docs/.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	require.NoError(t, filepath.WalkDir("docs", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return err
	}))
	return files
}

// headerFiles are the committed files whose comments send a reader to the
// docs: stack and deployment settings, the Taskfile, the workflows.
func headerFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, glob := range []string{"Pulumi*.yaml", "Taskfile.yml", ".github/workflows/*.yml"} {
		m, err := filepath.Glob(glob)
		require.NoError(t, err)
		files = append(files, m...)
	}
	return files
}

// TestDocLinks: every relative link and path of a Markdown page, and every
// page a file's comments name, exists in the repository, and every #anchor
// is a heading of the page it points into. A document that is not in the
// repository (a design or decisions document someone else holds) is not
// referred to.
func TestDocLinks(t *testing.T) {
	mdLink := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdPath := regexp.MustCompile("(?:^|[\\s(`])((?:[\\w.-]+/)*[\\w.-]+\\.md(?:#[\\w-]+)?)")
	check := func(t *testing.T, where, base, ref string) {
		path, anchor, _ := strings.Cut(ref, "#")
		target := where
		if path != "" {
			target = filepath.Join(base, path)
			if _, err := os.Stat(target); err != nil {
				// Plain mentions are written from the repository root.
				target = filepath.Clean(path)
			}
			_, err := os.Stat(target)
			if !assert.NoError(t, err, "%s refers to %s, which is not in the repository", where, ref) {
				return
			}
		}
		if anchor != "" {
			if st, err := os.Stat(target); err == nil && !st.IsDir() {
				assert.True(t, anchors(t, target)[anchor], "%s: %s has no heading for #%s", where, target, anchor)
			}
		}
	}
	for _, file := range docFiles(t) {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			if ref := m[1]; !regexp.MustCompile(`^[a-z]+:`).MatchString(ref) {
				check(t, file, filepath.Dir(file), ref)
			}
		}
		for _, m := range mdPath.FindAllStringSubmatch(mdLink.ReplaceAllString(string(b), "]"), -1) {
			check(t, file, filepath.Dir(file), m[1])
		}
	}
	for _, file := range headerFiles(t) {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if comment, ok := strings.CutPrefix(strings.TrimSpace(line), "#"); ok {
				for _, m := range mdPath.FindAllStringSubmatch(comment, -1) {
					check(t, file, ".", m[1])
				}
			}
		}
	}
	// The design these pages once measured themselves against is in no
	// reader's hands.
	gone := regexp.MustCompile(`(?i)DESIGN\.md|2024 (design|topology|layout)|decisions doc`)
	for _, file := range append(docFiles(t), headerFiles(t)...) {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		for i, line := range strings.Split(string(b), "\n") {
			assert.NotRegexp(t, gone, line, "%s:%d", file, i+1)
		}
	}
}

// section is the prose and the code blocks of the part of a Markdown page
// under the heading that starts with title, up to the next heading of the
// same or a higher level.
func section(t *testing.T, path, title string) (prose, code string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var in, fenced bool
	level := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if !fenced && strings.HasPrefix(line, "#") {
			hashes := len(line) - len(strings.TrimLeft(line, "#"))
			if in && hashes <= level {
				break
			}
			if strings.HasPrefix(strings.TrimSpace(line[hashes:]), title) {
				in, level = true, hashes
				continue
			}
		}
		if !in {
			continue
		}
		if fenced {
			code += line + "\n"
		} else {
			prose += line + "\n"
		}
	}
	require.True(t, in, "%s has no section %q", path, title)
	return prose, code
}

// commandsIn are the programs a code block runs: each line's first word,
// past comments and variable assignments.
func commandsIn(code string) []string {
	var out []string
	for _, line := range strings.Split(code, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") || strings.Contains(fields[0], "=") {
			continue
		}
		out = append(out, fields[0])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestCloudWalkThroughs: the cloud walk-through works from a fresh account
// in order. Every program a backend's steps run is named as a tool before
// (in the common tools or the backend's own); the Azure image blob sits in
// a resource group made first, in the stack's region, as Azure makes an
// image only from a blob of its own region; a fresh GCP project turns on
// the API of every kind of resource the program registers there.
func TestCloudWalkThroughs(t *testing.T) {
	const doc = "docs/cloud-deployment.md"
	common, _ := section(t, doc, "1. Common")
	for _, title := range []string{"2a. AWS", "2b. Hetzner", "2c. GCP", "2d. Azure"} {
		prose, code := section(t, doc, title)
		for _, cmd := range commandsIn(code) {
			assert.True(t, strings.Contains(common+prose, "`"+cmd+"`"), "%s runs %s, which no tool list names", title, cmd)
		}
	}

	_, azure := section(t, doc, "2d. Azure")
	group := strings.Index(azure, "az group create")
	account := strings.Index(azure, "az storage account create")
	require.True(t, group >= 0 && account >= 0, "the Azure steps make a resource group and a storage account")
	assert.Less(t, group, account, "the resource group exists before the storage account is made in it")
	flag := regexp.MustCompile(`(?m)^(az group create|az storage account create) .*(?:-l|--location) (\S+)`)
	region := regexp.MustCompile(`pulumi config set sre-lab:region (\S+)`).FindStringSubmatch(azure)
	require.NotNil(t, region, "the Azure steps set the stack's region")
	locations := flag.FindAllStringSubmatch(azure, -1)
	require.Len(t, locations, 2, "both the group and the storage account name their region")
	for _, m := range locations {
		assert.Equal(t, region[1], m[2], "%s is in the stack's region", m[1])
	}

	_, gcp := section(t, doc, "2c. GCP")
	enable := regexp.MustCompile(`gcloud services enable ([^\n]*)`).FindStringSubmatch(gcp)
	require.NotNil(t, enable, "a fresh GCP project has its APIs off")
	api := map[string]string{
		"compute":        "compute.googleapis.com",
		"storage":        "storage.googleapis.com",
		"serviceaccount": "iam.googleapis.com",
	}
	m, _, err := run(t, "dev", userConfigOn(t, "dev", onGCP))
	require.NoError(t, err)
	for typ := range m.countByType() {
		module, ok := strings.CutPrefix(typ, "gcp:")
		if !ok {
			continue
		}
		module, _, _ = strings.Cut(module, "/")
		require.Contains(t, api, module, "%s: which API serves it?", typ)
		assert.Contains(t, strings.Fields(enable[1]), api[module], "%s needs its API on", typ)
	}
}

// TestProjectDescription: Pulumi.yaml, the first file `pulumi` shows about
// the project, names every backend the program builds.
func TestProjectDescription(t *testing.T) {
	desc, _ := readYAML(t, "Pulumi.yaml")["description"].(string)
	for _, cloud := range config.Implemented {
		assert.Contains(t, strings.ToLower(desc), string(cloud), "Pulumi.yaml's description")
	}
}

// TestShellIsPortable: `go test ./...` needs only a POSIX shell, awk and
// sed, so no script or stand-in, in Go source or a .sh file, uses a GNU-only
// form that macOS's BSD tools refuse: stat -c (BSD: -f) or sed -i without
// a suffix argument.
func TestShellIsPortable(t *testing.T) {
	gnu := regexp.MustCompile(`\bstat (-c|--format|--printf)\b|\bsed -i( |$)`)
	require.NoError(t, filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, ".sh") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "//") {
				assert.NotRegexp(t, gnu, line, "%s:%d", path, i+1)
			}
		}
		return nil
	}))
}

// TestReadmeFirstRun: the README's first section takes a newcomer from a
// fresh Linux machine to `pulumi up -s local`: the room the local stack's
// nodes take, computed from its config; the backend login and the
// passphrase before the stack is made (else task credentials and verify
// wait at a prompt); and for `go test`, every host tool a script test puts
// on its stand-in PATH.
func TestReadmeFirstRun(t *testing.T) {
	prose, code := section(t, "README.md", "First run")

	cfg, err := config.Parse("local", func(key string) (string, bool) {
		v, ok := stackConfig(t, "local")[config.Namespace+":"+key]
		return v, ok
	})
	require.NoError(t, err)
	var vcpu, disk int
	var mem float64
	for _, pool := range []config.NodePool{cfg.ControlPlane, cfg.Workers} {
		shape, err := config.ParseLocalSize(pool.Size)
		require.NoError(t, err)
		vcpu += pool.Count * shape.VCPU
		mem += float64(pool.Count) * shape.MemGiB
		disk += pool.Count * pool.DiskGiB
	}
	for _, room := range []string{fmt.Sprintf("%d vCPU", vcpu), fmt.Sprintf("%.0f GB of RAM", mem), fmt.Sprintf("%d GB of disk", disk)} {
		assert.Contains(t, strings.Join(strings.Fields(prose), " "), room)
	}
	assert.Contains(t, prose, "Linux")

	steps := []string{"pulumi login", "export PULUMI_CONFIG_PASSPHRASE=", "pulumi stack init local", "pulumi up -s local", "pulumi stack output next -s local"}
	at := -1
	for _, step := range steps {
		i := strings.Index(code, step)
		require.Greater(t, i, at, "%q comes after the steps before it", step)
		at = i
	}

	decl := regexp.MustCompile(`(?s)var hostTools = \[\]string\{([^}]*)\}`)
	quoted := regexp.MustCompile(`"([^"]+)"`)
	tools := map[string]bool{}
	require.NoError(t, filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			for _, q := range quoted.FindAllStringSubmatch(m[1], -1) {
				tools[q[1]] = true
			}
		}
		return err
	}))
	require.NotEmpty(t, tools)
	for tool := range tools {
		assert.Contains(t, prose, "`"+tool+"`", "go test runs scripts that call %s", tool)
	}
}

// docCommand is a command a page or the Taskfile gives a person to run.
type docCommand struct {
	where, text string
}

// inlineCode is a Markdown code span; it may wrap onto the next line.
var inlineCode = regexp.MustCompile("`([^`]+)`")

// alsoCommand is a command a code block's comment offers instead of its
// line's own ("# or: task local:up").
var alsoCommand = regexp.MustCompile(`#\s*or: (.+)$`)

// taskVar is a Task template in a command line.
var taskVar = regexp.MustCompile(`\{\{[^}]*\}\}`)

// documentedCommands are the command lines of README.md and docs/: each
// line of a code block (without its comment, plus the command a comment
// offers as an alternative) and each code span, whitespace folded; and
// the command lines of every task in Taskfile.yml.
func documentedCommands(t *testing.T) []docCommand {
	t.Helper()
	var out []docCommand
	for _, file := range docFiles(t) {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		var prose strings.Builder
		fenced := false
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				fenced = !fenced
				continue
			}
			if !fenced {
				prose.WriteString(line + "\n")
				continue
			}
			where := fmt.Sprintf("%s:%d", file, i+1)
			cmd, comment, _ := strings.Cut(line, " #")
			if cmd = strings.TrimSpace(cmd); cmd != "" && !strings.HasPrefix(cmd, "#") {
				out = append(out, docCommand{where, cmd})
			}
			if m := alsoCommand.FindStringSubmatch("#" + comment); m != nil {
				out = append(out, docCommand{where, strings.TrimSpace(m[1])})
			}
		}
		for _, m := range inlineCode.FindAllStringSubmatch(prose.String(), -1) {
			out = append(out, docCommand{file, strings.Join(strings.Fields(m[1]), " ")})
		}
	}
	tasks, _ := readYAML(t, "Taskfile.yml")["tasks"].(map[string]any)
	for name, task := range tasks {
		cmds, _ := dig(task, "cmds").([]any)
		for _, c := range cmds {
			if s, ok := c.(string); ok {
				// What Task fills in is one word the reader does not see.
				s = taskVar.ReplaceAllString(s, "{{.}}")
				out = append(out, docCommand{"Taskfile.yml, task " + name, s})
			}
		}
	}
	return out
}

// runs reports whether a command line runs program, and its arguments.
func (c docCommand) runs(program string) ([]string, bool) {
	fields := strings.Fields(c.text)
	if len(fields) == 0 || fields[0] != program {
		return nil, false
	}
	return fields[1:], true
}

// placeholder is an argument the reader fills in (<stack>, …, $REGION) or
// Task does ({{.STACK}}).
func placeholder(arg string) bool {
	return strings.ContainsAny(arg, "<…$") || strings.Contains(arg, "{{")
}

// stackFileExists reports whether stack has a committed stack file.
func stackFileExists(stack string) bool {
	_, err := os.Stat("Pulumi." + stack + ".yaml")
	return err == nil
}

// goFlags are the flags the Go source of a command declares (flag.String
// and the like, on any flag set), each marked whether it is a boolean,
// which takes no value.
func goFlags(t *testing.T, dir string) map[string]bool {
	t.Helper()
	declared := regexp.MustCompile(`\.(String|Bool|Duration|Int|Int64|Uint|Float64|Func|TextVar)(?:Var)?\((?:&?[\w.]+, )?"([^"]+)"`)
	flags := map[string]bool{}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range declared.FindAllStringSubmatch(string(b), -1) {
			flags[m[2]] = m[1] == "Bool"
		}
		// The flags every command that checks a running lab shares.
		if strings.Contains(string(b), "verify.NewStackFlags(") {
			maps.Copy(flags, goFlags(t, "verify"))
		}
	}
	return flags
}

// goNames are the lowercase string literals of the module's Go source,
// outside tests: where a command's subcommands and arguments (a drill's
// name, charts' "pull") are known.
func goNames(t *testing.T) map[string]bool {
	t.Helper()
	literal := regexp.MustCompile(`"([a-z][a-z0-9-]*)"`)
	names := map[string]bool{}
	require.NoError(t, filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
		return err
	}))
	return names
}

// goTests are the test and benchmark functions of the packages a go test
// pattern names (".", "./...", "./infra/...").
func goTests(t *testing.T, patterns []string) []string {
	t.Helper()
	fn := regexp.MustCompile(`(?m)^func ((?:Test|Benchmark)\w*)\(`)
	var out []string
	for _, p := range patterns {
		dir, recursive := strings.CutSuffix(p, "/...")
		require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != dir && (!recursive || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(path, "_test.go") {
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				for _, m := range fn.FindAllStringSubmatch(string(b), -1) {
					out = append(out, m[1])
				}
			}
			return nil
		}))
	}
	return out
}

// TestDocumentedGoCommands: every `go run ./cmd/<name>` in the docs and
// the Taskfile names a command of this module, with only flags it declares
// and arguments the module's source names; every `go test -run` or `-bench`
// pattern selects a test or benchmark of the packages it names; `go tool`
// runs a tool tools/go.mod pins.
func TestDocumentedGoCommands(t *testing.T) {
	names := goNames(t)
	checked := 0
	for _, c := range documentedCommands(t) {
		args, ok := c.runs("go")
		if !ok || len(args) == 0 {
			continue
		}
		checked++
		switch args[0] {
		case "run":
			require.Greater(t, len(args), 1, "%s: %s", c.where, c.text)
			dir := filepath.Clean(args[1])
			if !assert.FileExists(t, filepath.Join(dir, "main.go"), "%s: %s", c.where, c.text) {
				continue
			}
			flags := goFlags(t, dir)
			for i := 2; i < len(args); i++ {
				arg := args[i]
				if !strings.HasPrefix(arg, "-") {
					assert.True(t, placeholder(arg) || names[arg], "%s: %s: the program knows no %q", c.where, c.text, arg)
					continue
				}
				name, _, inline := strings.Cut(strings.TrimLeft(arg, "-"), "=")
				boolean, declared := flags[name]
				assert.True(t, declared, "%s: %s: %s declares no flag -%s", c.where, c.text, dir, name)
				if !inline && !boolean {
					i++ // the flag's value
				}
			}
		case "test":
			var run, bench string
			var pkgs []string
			for i := 1; i < len(args); i++ {
				switch {
				case args[i] == "-run" && i+1 < len(args):
					run, i = strings.Trim(args[i+1], `'"`), i+1
				case args[i] == "-bench" && i+1 < len(args):
					bench, i = strings.Trim(args[i+1], `'"`), i+1
				case !strings.HasPrefix(args[i], "-"):
					pkgs = append(pkgs, args[i])
				}
			}
			funcs := goTests(t, pkgs)
			for prefix, pattern := range map[string]string{"Test": run, "Benchmark": bench} {
				if pattern == "" || pattern == "^$" {
					continue
				}
				re, err := regexp.Compile(pattern)
				require.NoError(t, err, "%s: %s", c.where, c.text)
				assert.True(t, slices.ContainsFunc(funcs, func(f string) bool { return strings.HasPrefix(f, prefix) && re.MatchString(f) }),
					"%s: %s: no %s function in %v matches %s", c.where, c.text, prefix, pkgs, pattern)
			}
		case "tool":
			modfile := "go.mod"
			for _, a := range args[1:] {
				if v, ok := strings.CutPrefix(a, "-modfile="); ok {
					modfile = v
				}
			}
			b, err := os.ReadFile(modfile)
			require.NoError(t, err, "%s: %s", c.where, c.text)
			tool := args[slices.IndexFunc(args[1:], func(a string) bool { return !strings.HasPrefix(a, "-") })+1]
			assert.Regexp(t, `(?m)^tool .*/`+regexp.QuoteMeta(tool)+`$`, string(b), "%s: %s: %s pins no %s", c.where, c.text, modfile, tool)
		}
	}
	assert.Greater(t, checked, 10, "the docs' go commands were found")
}

// pulumiArgs splits a pulumi command line into its words and the value of
// its -s/--stack flag.
func pulumiArgs(args []string) (words []string, stack string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "-s" || a == "--stack") && i+1 < len(args):
			stack, i = args[i+1], i+1
		case strings.HasPrefix(a, "--stack="):
			stack = strings.TrimPrefix(a, "--stack=")
		default:
			words = append(words, a)
		}
	}
	return words, stack
}

// TestDocumentedPulumiCommands: every pulumi command in the docs and the
// Taskfile names a stack that has a stack file (or one the reader fills
// in), and every `pulumi config set` of the sre-lab namespace sets a
// setting the program reads, as a secret where the program reads it as
// one (config.SecretKeys).
func TestDocumentedPulumiCommands(t *testing.T) {
	known := config.Keys()
	checked := 0
	for _, c := range documentedCommands(t) {
		args, ok := c.runs("pulumi")
		if !ok {
			continue
		}
		checked++
		words, stack := pulumiArgs(args)
		if stack != "" {
			assert.True(t, placeholder(stack) || stackFileExists(stack), "%s: %s: no stack file Pulumi.%s.yaml", c.where, c.text, stack)
		}
		if len(words) >= 3 && words[0] == "stack" && words[1] == "init" {
			assert.True(t, placeholder(words[2]) || stackFileExists(words[2]), "%s: %s: no stack file Pulumi.%s.yaml", c.where, c.text, words[2])
		}
		if len(words) < 2 || words[0] != "config" || words[1] != "set" {
			continue
		}
		var key string
		secret := false
		for _, w := range words[2:] {
			switch {
			case w == "--secret":
				secret = true
			case !strings.HasPrefix(w, "-") && key == "":
				key = strings.Trim(w, `'"`)
			}
		}
		if key == "" {
			continue // the command named in prose, without its arguments
		}
		name, ok := strings.CutPrefix(key, config.Namespace+":")
		if !ok || placeholder(name) {
			continue // a provider's setting (gcp:project)
		}
		name = regexp.MustCompile(`[.\[].*$`).ReplaceAllString(name, "")
		assert.Contains(t, known, name, "%s: %s sets no setting of the program", c.where, c.text)
		if slices.Contains(config.SecretKeys, name) {
			assert.True(t, secret, "%s: %s: the program reads %s as a secret, so it is set with --secret", c.where, c.text, name)
		}
	}
	assert.Greater(t, checked, 20, "the docs' pulumi commands were found")
}

// netFacts are the ports and address ranges one backend's own resources
// name: firewall rules, load balancers, health checks, published ports,
// networks and subnets.
type netFacts struct {
	ports   map[int]bool
	sources map[string]bool
}

// portKey marks an input, or any input above it, as a port: fromPort,
// listenPort, ports[0].internal, destinationPortRanges, healthCheck.port.
var portKey = regexp.MustCompile(`(?i)port`)

// serviceTag is an Azure source naming a range Azure manages.
var serviceTag = regexp.MustCompile(`^(Internet|AzureLoadBalancer|VirtualNetwork)$`)

// backendFacts walks the inputs of every resource under the backend
// component token. Ranges the user or the mocks chose (the admin CIDRs,
// each node's own /32) are left out: the picture names them in words.
func backendFacts(m *lab, token string, userRanges []string) netFacts {
	f := netFacts{ports: map[int]bool{}, sources: map[string]bool{}}
	var walk func(v any, port bool)
	walk = func(v any, port bool) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(e, port || portKey.MatchString(k) && !strings.EqualFold(k, "sourcePortRange"))
			}
		case []any:
			for _, e := range v {
				walk(e, port)
			}
		case float64:
			if port {
				f.ports[int(v)] = true
			}
		case string:
			if n, err := strconv.Atoi(v); err == nil && port {
				f.ports[n] = true
			}
			if p, err := netip.ParsePrefix(v); err == nil && !slices.Contains(userRanges, v) && !p.IsSingleIP() {
				f.sources[p.String()] = true
			}
			if serviceTag.MatchString(v) {
				f.sources[v] = true
			}
		}
	}
	for _, r := range m.resources {
		if strings.HasPrefix(topComponent(urnOf("s", r)), token) {
			walk(pulumitest.Plain(resource.NewObjectProperty(r.Inputs)), false)
		}
	}
	return f
}

// pictureTable reads the ports column of the tables in a section, and
// the address ranges and Azure service tags anywhere in it.
func pictureTable(t *testing.T, prose string) (ports map[int]bool, sources map[string]bool) {
	t.Helper()
	number := regexp.MustCompile(`\b[0-9]{2,5}\b`)
	cidr := regexp.MustCompile(`\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}\b|::/0`)
	tag := regexp.MustCompile("`([A-Za-z]+)`")
	ports, sources = map[int]bool{}, map[string]bool{}
	column := -1
	for _, line := range strings.Split(prose, "\n") {
		if !strings.HasPrefix(line, "|") {
			column = -1
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if column < 0 {
			column = slices.IndexFunc(cells, func(c string) bool { return strings.TrimSpace(c) == "ports" })
			require.GreaterOrEqual(t, column, 0, "a network table has a ports column: %s", line)
			continue
		}
		for _, m := range number.FindAllString(cells[column], -1) {
			n, _ := strconv.Atoi(m)
			ports[n] = true
		}
	}
	for _, m := range cidr.FindAllString(prose, -1) {
		sources[m] = true
	}
	for _, m := range tag.FindAllStringSubmatch(prose, -1) {
		if serviceTag.MatchString(m[1]) {
			sources[m[1]] = true
		}
	}
	return ports, sources
}

// TestDocNetworkPicture: the network picture in docs/architecture.md names,
// for each backend, every port its firewalls, load balancers and published
// ports open and every range its resources carry, and nothing else but the
// program's own ports (infra's, the local node ports from the nodePortUrls
// output, the web ports of the backend contract) and the pod and service
// networks; the part for every backend names each of infra's ports and
// the log receiver's address; the local parts name the endpoint and the
// ingress address the outputs give.
func TestDocNetworkPicture(t *testing.T) {
	const doc = "docs/architecture.md"
	everyPort := []int{infra.KubeAPIPort, infra.TalosAPIPort, infra.TrustdPort, infra.KubePrismPort,
		infra.EtcdMetricsPort, infra.TalosServiceLogsPort, infra.TalosKernelLogsPort}
	prose, _ := section(t, doc, "Every backend")
	ports, sources := pictureTable(t, prose)
	assert.ElementsMatch(t, everyPort, slices.Collect(maps.Keys(ports)), "every backend's ports")
	assert.ElementsMatch(t, []string{config.PodCIDR.String(), config.ServiceCIDR.String()}, slices.Collect(maps.Keys(sources)))
	assert.Contains(t, prose, config.LogReceiverIP.String())

	for _, tc := range []struct {
		title, stack, token string
		set                 map[string]string
	}{
		{"VirtualBox", "local", virtualbox.Token, nil},
		{"Docker", "local", docker.Token, onDocker},
		{"AWS", "dev", aws.Token, nil},
		{"GCP", "dev", gcp.Token, onGCP},
		{"Azure", "staging", azure.Token, onAzure},
		{"Hetzner", "dev", hetzner.Token, onHetzner},
	} {
		t.Run(tc.title, func(t *testing.T) {
			cfg := userConfigOn(t, tc.stack, tc.set)
			m, out, err := run(t, tc.stack, cfg)
			require.NoError(t, err)
			var admins []string
			if v := cfg["sre-lab:adminCidrs"]; v != "" {
				require.NoError(t, json.Unmarshal([]byte(v), &admins))
			}
			facts := backendFacts(m, tc.token, admins)
			delete(facts.ports, 0) // AWS's egress rule: every port
			allowed := maps.Clone(facts.ports)
			for _, p := range everyPort {
				allowed[p] = true
			}
			prose, _ := section(t, doc, tc.title)
			if nodePorts, ok := out["nodePortUrls"].Value.(map[string]string); ok {
				endpoint, err := url.Parse(fmt.Sprint(out["endpoint"].Value))
				require.NoError(t, err)
				assert.Contains(t, prose, endpoint.Hostname(), "the endpoint")
				for _, u := range nodePorts {
					parsed, err := url.Parse(u)
					require.NoError(t, err)
					port, _ := strconv.Atoi(parsed.Port())
					facts.ports[port] = true
					allowed[port] = true
				}
				for _, p := range infratest.WebPorts {
					allowed[p] = true
				}
			}
			if tc.title == "VirtualBox" {
				assert.Contains(t, prose, fmt.Sprint(out["ingress"].Value), "the ingress address")
			}
			ports, sources := pictureTable(t, prose)
			for p := range facts.ports {
				assert.True(t, ports[p], "%s opens %d, which the picture does not name", tc.title, p)
			}
			for p := range ports {
				assert.True(t, allowed[p], "the picture names %d, which %s does not open", p, tc.title)
			}
			assert.ElementsMatch(t, slices.Collect(maps.Keys(facts.sources)), slices.Collect(maps.Keys(sources)),
				"the ranges %s's resources carry", tc.title)
		})
	}
}

// kubectlKinds are the kubectl short names the docs use, with the kind
// each stands for.
var kubectlKinds = map[string]string{
	"deploy": "Deployment", "deployment": "Deployment", "ds": "DaemonSet", "daemonset": "DaemonSet",
	"sts": "StatefulSet", "statefulset": "StatefulSet", "svc": "Service", "service": "Service",
	"cm": "ConfigMap", "configmap": "ConfigMap", "secret": "Secret", "pvc": "PersistentVolumeClaim",
	"job": "Job", "cronjob": "CronJob",
}

// runtimeObjects are objects a controller of the lab makes when it runs,
// which no chart renders: the Prometheus Operator's governing Service of
// each Prometheus (governingServiceName in prometheus-operator's
// pkg/prometheus), in the namespace of the Prometheus.
var runtimeObjects = []string{"monitoring/Service/prometheus-operated"}

// kubectlCalls are the kubectl commands of the docs, split at shell
// separators, with the namespace each names (empty for none, "*" for
// -A) and the kind/name objects it refers to.
type kubectlCall struct {
	docCommand
	namespace string
	objects   []string
}

func kubectlCalls(t *testing.T) []kubectlCall {
	t.Helper()
	var out []kubectlCall
	for _, c := range documentedCommands(t) {
		for _, part := range regexp.MustCompile(`;|&&|\|`).Split(c.text, -1) {
			args, ok := docCommand{c.where, strings.TrimSpace(part)}.runs("kubectl")
			if !ok {
				continue
			}
			call := kubectlCall{docCommand: docCommand{c.where, strings.TrimSpace(part)}}
			for i, a := range args {
				switch {
				case (a == "-n" || a == "--namespace") && i+1 < len(args):
					call.namespace = args[i+1]
				case strings.HasPrefix(a, "--namespace="):
					call.namespace = strings.TrimPrefix(a, "--namespace=")
				case a == "-A" || a == "--all-namespaces":
					call.namespace = "*"
				}
				if kind, name, ok := strings.Cut(a, "/"); ok && kubectlKinds[kind] != "" && !placeholder(name) {
					call.objects = append(call.objects, kubectlKinds[kind]+"/"+name)
				}
			}
			out = append(out, call)
		}
	}
	return out
}

// TestDocumentedKubectlCommands: every namespace a kubectl command in the
// docs names is one the program puts objects in (on some stack and
// backend) or one Kubernetes makes; with the pinned chart archives at
// hand, every deploy/, ds/, svc/... it names is an object the program's
// releases and resources render in that namespace, or one a controller
// of the lab makes when it runs.
func TestDocumentedKubectlCommands(t *testing.T) {
	variants := []struct {
		label, stack string
		set          map[string]string
	}{
		{"local on virtualbox", "local", nil},
		{"local on docker", "local", onDocker},
		{"prod on aws", "prod", map[string]string{"sre-lab:secrets": "external-secrets"}},
		{"dev on gcp", "dev", onGCP},
		{"staging on azure", "staging", onAzure},
		{"dev on hetzner", "dev", onHetzner},
	}
	namespaces := map[string]bool{"kube-system": true, "default": true, "kube-public": true, "kube-node-lease": true}
	var clusters []*render.Cluster
	for _, v := range variants {
		m, _, err := run(t, v.stack, userConfigOn(t, v.stack, v.set))
		require.NoError(t, err, v.label)
		c, err := m.cluster(v.label)
		require.NoError(t, err)
		clusters = append(clusters, c)
		for _, s := range c.Sources {
			namespaces[s.Namespace] = true
			for _, o := range s.Objects {
				namespaces[o.Namespace()] = true
				if o.Kind() == "Namespace" {
					namespaces[o.Name()] = true
				}
			}
		}
	}
	calls := kubectlCalls(t)
	require.Greater(t, len(calls), 50, "the docs' kubectl commands were found")
	for _, c := range calls {
		if c.namespace != "" && c.namespace != "*" && !placeholder(c.namespace) {
			assert.True(t, namespaces[c.namespace], "%s: %s: the program puts nothing in namespace %s", c.where, c.text, c.namespace)
		}
	}

	t.Run("objects", func(t *testing.T) {
		r := sharedRenderer(t)
		objects := map[string]bool{}
		for _, o := range runtimeObjects {
			objects[o] = true
		}
		for _, c := range clusters {
			require.NoError(t, r.Build(c))
			for _, s := range c.Sources {
				for _, o := range s.Objects {
					ns := o.Namespace()
					if ns == "" {
						ns = s.Namespace
					}
					objects[ns+"/"+o.Kind()+"/"+o.Name()] = true
				}
			}
		}
		for _, c := range calls {
			for _, o := range c.objects {
				ns := c.namespace
				if ns == "" {
					ns = "default"
				}
				assert.True(t, objects[ns+"/"+o], "%s: %s: the program makes no %s in %s", c.where, c.text, o, ns)
			}
		}
	})
}
