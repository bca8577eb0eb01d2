package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
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
