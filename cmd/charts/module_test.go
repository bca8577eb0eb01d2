package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
	"sigs.k8s.io/yaml"

	"github.com/your-org/sre-lab/internal/charts"
)

const (
	demoModule  = "example.com/demo"
	demoVersion = "v0.0.0-20260101000000-0123456789ab"
)

// demoFiles is a module holding a chart whose Chart.yaml carries a
// placeholder version, as Chaos Mesh's does between releases.
var demoFiles = map[string]string{
	"go.mod":                      "module " + demoModule + "\n\ngo 1.22\n",
	"deploy/demo/Chart.yaml":      "apiVersion: v2\nname: demo\nversion: 0.0.0\nappVersion: \"0.0.0\"\n",
	"deploy/demo/values.yaml":     "replicas: 1\n",
	"deploy/demo/templates/a.txt": "{{ .Values.replicas }}\n",
	"deploy/demo/.helmignore":     "notes.md\n",
	"deploy/demo/notes.md":        "left out by .helmignore\n",
}

// serveModule lays out one module version the way the module proxy serves
// it (the GOPROXY protocol, `go help goproxy`: <path>/@v/list, .info, .mod
// and a zip made as golang.org/x/mod/zip makes them) and points the go
// command at it, offline, with a module cache of the test's own. It
// returns the module's go.sum hash.
func serveModule(t *testing.T, files map[string]string) string {
	t.Helper()
	src := t.TempDir()
	for name, body := range files {
		path := filepath.Join(src, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
	}
	root := t.TempDir()
	escaped, err := module.EscapePath(demoModule)
	require.NoError(t, err)
	dir := filepath.Join(root, filepath.FromSlash(escaped), "@v")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	zipPath := filepath.Join(dir, demoVersion+".zip")
	f, err := os.Create(zipPath)
	require.NoError(t, err)
	require.NoError(t, modzip.CreateFromDir(f, module.Version{Path: demoModule, Version: demoVersion}, src))
	require.NoError(t, f.Close())
	for name, body := range map[string]string{
		"list":                demoVersion + "\n",
		demoVersion + ".info": `{"Version":"` + demoVersion + `","Time":"2026-01-01T00:00:00Z"}`,
		demoVersion + ".mod":  files["go.mod"],
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	sum, err := dirhash.HashZip(zipPath, dirhash.Hash1)
	require.NoError(t, err)

	t.Setenv("GOPROXY", "file://"+filepath.ToSlash(root))
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOMODCACHE", t.TempDir())
	// The test's module cache must be removable when it ends.
	t.Setenv("GOFLAGS", "-modcacherw")
	t.Setenv("GOTOOLCHAIN", "local")
	return sum
}

func demoEntry(sum string, setVersion bool) charts.Entry {
	return charts.Entry{Name: "demo", Version: "1.2.3", Repo: "https://charts.example.com", File: "demo-1.2.3.tgz",
		Module: &charts.Module{Path: demoModule, Version: demoVersion, Dir: "deploy/demo", Sum: sum, SetVersion: setVersion}}
}

// untar returns the files of a packaged chart.
func untar(t *testing.T, archive []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	require.NoError(t, err)
	out := map[string]string{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[h.Name] = string(b)
	}
}

// TestFetchModulePackagesTheRelease runs the go command against a module
// served offline: the chart comes out packaged under the pinned version
// (the release's --version and --app-version), without what .helmignore
// leaves out, and two pulls give the same chart sum although helm package
// stamps each file with the time.
func TestFetchModulePackagesTheRelease(t *testing.T) {
	sum := serveModule(t, demoFiles)
	e := demoEntry(sum, true)
	first, err := fetchModule(e)
	require.NoError(t, err)
	files := untar(t, first)
	assert.Contains(t, files, "demo/values.yaml")
	assert.Contains(t, files, "demo/templates/a.txt")
	assert.NotContains(t, files, "demo/notes.md", ".helmignore applies, as in helm package")
	var meta struct{ Name, Version, AppVersion string }
	require.NoError(t, yaml.Unmarshal([]byte(files["demo/Chart.yaml"]), &meta))
	assert.Equal(t, "demo", meta.Name)
	assert.Equal(t, "1.2.3", meta.Version)
	assert.Equal(t, "1.2.3", meta.AppVersion)

	second, err := fetchModule(e)
	require.NoError(t, err)
	a, err := charts.ArchiveSum(first)
	require.NoError(t, err)
	b, err := charts.ArchiveSum(second)
	require.NoError(t, err)
	assert.Equal(t, a, b)
}

// TestFetchModuleRefuses: the module must hash to the lock's go.sum line,
// on the proxy and in the module cache alike; the version must exist;
// and without setVersion the chart must already be the pinned version.
func TestFetchModuleRefuses(t *testing.T) {
	sum := serveModule(t, demoFiles)

	_, err := fetchModule(demoEntry("h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", true))
	assert.ErrorContains(t, err, "expects h1:AAAA")

	_, err = fetchModule(demoEntry(sum, false))
	assert.ErrorContains(t, err, "is chart demo 0.0.0, not demo 1.2.3")

	missing := demoEntry(sum, true)
	missing.Module.Version = "v0.0.0-20260202000000-ba9876543210"
	_, err = fetchModule(missing)
	assert.ErrorContains(t, err, missing.Module.Version)

	d, err := charts.DownloadModule(demoModule, demoVersion)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(d.Dir, "deploy", "demo", "values.yaml"), []byte("replicas: 9\n"), 0o644))
	_, err = fetchModule(demoEntry(sum, true))
	assert.ErrorContains(t, err, "go clean -modcache", "a changed module cache is not packaged")
}

// TestPullRecordsTheChartSumOnce: a chart packaged from a module is
// identified by its files' sum, recorded by the first pull and required
// of every later one, whatever the archive's timestamps.
func TestPullRecordsTheChartSumOnce(t *testing.T) {
	dir := t.TempDir()
	sum := serveModule(t, demoFiles)
	lock := charts.Lock{Charts: []charts.Entry{demoEntry(sum, true)}}
	fetch := fetchModule
	recorded, err := pull(&lock, []string{dir}, nil, fetch, io.Discard)
	require.NoError(t, err)
	assert.True(t, recorded)
	chartSum := lock.Charts[0].Module.ChartSum
	assert.Regexp(t, `^h1:`, chartSum)
	assert.Empty(t, lock.Charts[0].PublishedSHA256)

	require.NoError(t, os.Remove(filepath.Join(dir, "demo-1.2.3.tgz")))
	recorded, err = pull(&lock, []string{dir}, nil, fetch, io.Discard)
	require.NoError(t, err, "packaged again later, the same files")
	assert.False(t, recorded)

	require.NoError(t, os.Remove(filepath.Join(dir, "demo-1.2.3.tgz")))
	lock.Charts[0].Module.SetVersion = false
	lock.Charts[0].Version = "0.0.0"
	lock.Charts[0].File = "demo-0.0.0.tgz"
	lock.Charts[0].Module.ChartSum = chartSum
	_, err = pull(&lock, []string{dir}, nil, fetch, io.Discard)
	assert.ErrorContains(t, err, "expects "+chartSum, "other files than the recorded ones are refused")
}
