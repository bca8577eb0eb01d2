package charts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
)

// TestLockCoversDefaultCharts keeps the lock and the program's pins in
// step: a chart bumped in config.DefaultCharts without a new lock entry would
// otherwise be rendered from an archive nobody vetted, or not at all.
func TestLockCoversDefaultCharts(t *testing.T) {
	lock, err := LoadLock()
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, e := range lock.Charts {
		assert.False(t, seen[e.Name], "%s is locked twice", e.Name)
		seen[e.Name] = true
		pinned, ok := config.DefaultCharts[e.Name]
		if assert.True(t, ok, "%s is locked but not pinned in config.DefaultCharts", e.Name) {
			assert.Equal(t, pinned, e.Chart(), "%s: lock and pin differ", e.Name)
		}
		assert.Equal(t, FileName(e.Chart()), e.File, "%s: file name", e.Name)
		if c := e.RuntimeCRDs; c != nil {
			// The CRDs of the release the chart installs, not of another.
			assert.Equal(t, "v"+strings.TrimPrefix(e.Version, "v"), c.Version, "%s: the CRDs' module is the chart's release", e.Name)
			assert.Regexp(t, `^h1:[A-Za-z0-9+/]{43}=$`, c.Sum, "%s: a go.sum hash", e.Name)
			assert.NotEmpty(t, c.Path+c.Dir, e.Name)
		}
		if m := e.Module; m != nil {
			// The archive is packaged here: no repository digest applies.
			assert.Empty(t, e.SHA256+e.PublishedSHA256, "%s: a packaged archive has no repository digest", e.Name)
			assert.Regexp(t, `^v[0-9]+\.[0-9]+\.[0-9]+-([0-9]+\.)?[0-9]{14}-[0-9a-f]{12}$`, m.Version, "%s: a pseudo-version", e.Name)
			assert.Regexp(t, `^h1:[A-Za-z0-9+/]{43}=$`, m.Sum, "%s: a go.sum hash", e.Name)
			assert.Regexp(t, `^h1:[A-Za-z0-9+/]{43}=$`, m.ChartSum, "%s: the packaged files' hash is recorded", e.Name)
			assert.NotEmpty(t, m.Path+m.Dir, e.Name)
			continue
		}
		assert.Regexp(t, `^[0-9a-f]{64}$`, e.SHA256, "%s: sha256", e.Name)
		assert.Regexp(t, `^([0-9a-f]{64})?$`, e.PublishedSHA256, "%s: publishedSha256", e.Name)
	}
	for name := range config.DefaultCharts {
		assert.True(t, seen[name], "%s is pinned but not locked", name)
	}
}

// TestLockRoundTrips proves Marshal writes what ParseLock reads, so a pull
// that records a digest rewrites the file without losing anything.
func TestLockRoundTrips(t *testing.T) {
	lock, err := LoadLock()
	require.NoError(t, err)
	b, err := lock.Marshal()
	require.NoError(t, err)
	assert.Equal(t, string(lockFile), string(b), "the committed lock is in Marshal's layout")
	_, err = ParseLock([]byte(`{"charts":[{"name":"x","colour":"red"}]}`))
	assert.Error(t, err, "unknown fields are refused")
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	content := []byte("archive")
	sum := sha256.Sum256(content)
	chart := config.Chart{Name: "demo", Repo: "https://charts.example.com", Version: "1.0.0"}
	lock := Lock{Charts: []Entry{{Name: "demo", Repo: chart.Repo, Version: chart.Version, File: FileName(chart), SHA256: hex.EncodeToString(sum[:])}}}

	_, err := lock.Find(dir, chart)
	assert.True(t, errors.Is(err, ErrMissing), "a missing file is ErrMissing: %v", err)

	path := filepath.Join(dir, "demo-1.0.0.tgz")
	require.NoError(t, os.WriteFile(path, content, 0o600))
	got, err := lock.Find(dir, chart)
	require.NoError(t, err)
	assert.Equal(t, path, got)

	require.NoError(t, os.WriteFile(path, []byte("something else"), 0o600))
	_, err = lock.Find(dir, chart)
	assert.ErrorContains(t, err, "does not list", "content the lock does not know is refused")
	assert.False(t, errors.Is(err, ErrMissing))

	// Once a pull recorded the published digest, that file is accepted too.
	other := sha256.Sum256([]byte("something else"))
	lock.Charts[0].PublishedSHA256 = hex.EncodeToString(other[:])
	_, err = lock.Find(dir, chart)
	assert.NoError(t, err)

	_, err = lock.Find(dir, config.Chart{Name: "demo", Repo: chart.Repo, Version: "2.0.0"})
	assert.ErrorContains(t, err, "not the locked", "a version the lock does not pin is refused")
}

func TestFileName(t *testing.T) {
	assert.Equal(t, "cilium-1.20.0.tgz", FileName(config.DefaultCharts[config.ChartCilium]))
	assert.Equal(t, "gateway-api-v1.6.1-standard-install.yaml", FileName(config.DefaultCharts[config.ChartGatewayAPI]))
}

func TestCacheDirs(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	t.Setenv(EnvCache, a)
	got, err := CacheDirs()
	require.NoError(t, err)
	assert.Equal(t, []string{a}, got, "the variable wins")

	t.Setenv(EnvCache, a+string(os.PathListSeparator)+string(os.PathListSeparator)+b)
	got, err = CacheDirs()
	require.NoError(t, err)
	assert.Equal(t, []string{a, b}, got, "a list, in order, like PATH")
	first, err := CacheDir()
	require.NoError(t, err)
	assert.Equal(t, a, first)

	t.Setenv(EnvCache, "")
	got, err = CacheDirs()
	require.NoError(t, err)
	root, err := moduleRoot()
	require.NoError(t, err)
	base, err := os.UserCacheDir()
	require.NoError(t, err)
	user := filepath.Join(base, "sre-lab", "charts")
	shared := filepath.Join(filepath.Dir(root), "shared", "charts")
	if _, err := os.Stat(shared); err == nil {
		assert.Equal(t, []string{shared, user}, got, "the copy beside the checkout, then the user's cache that pulls fill")
	} else {
		assert.Equal(t, []string{user}, got, "the user's cache alone")
	}
}

// archive is a gzipped tar of files, each stamped with modTime.
func archive(t *testing.T, modTime time.Time, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.ModTime = modTime
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	for _, name := range names {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), ModTime: modTime, Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(files[name]))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

// TestArchiveSum: two packagings of the same chart at different times
// have different bytes but one sum, which any change of a file's name or
// contents moves; it is the go.sum form of dirhash.
func TestArchiveSum(t *testing.T) {
	files := map[string]string{"demo/Chart.yaml": "name: demo\nversion: 1.0.0\n", "demo/values.yaml": "replicas: 2\n"}
	early := archive(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), files)
	late := archive(t, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), files)
	require.NotEqual(t, early, late, "the timestamps differ")
	a, err := ArchiveSum(early)
	require.NoError(t, err)
	b, err := ArchiveSum(late)
	require.NoError(t, err)
	assert.Equal(t, a, b)
	assert.True(t, strings.HasPrefix(a, "h1:"), a)

	changed, err := ArchiveSum(archive(t, time.Time{}, map[string]string{"demo/Chart.yaml": files["demo/Chart.yaml"], "demo/values.yaml": "replicas: 3\n"}))
	require.NoError(t, err)
	assert.NotEqual(t, a, changed, "contents count")
	renamed, err := ArchiveSum(archive(t, time.Time{}, map[string]string{"demo/Chart.yaml": files["demo/Chart.yaml"], "demo/values.yml": files["demo/values.yaml"]}))
	require.NoError(t, err)
	assert.NotEqual(t, a, renamed, "names count")

	_, err = ArchiveSum([]byte("not gzip"))
	assert.Error(t, err)
}

// TestFindModuleChart: an archive packaged from a module is accepted by
// its files' sum, whatever its timestamps, and refused when a file
// differs; until a pull records the sum, none is accepted.
func TestFindModuleChart(t *testing.T) {
	dir := t.TempDir()
	chart := config.Chart{Name: "demo", Repo: "oci://registry.example.com/charts", Version: "1.0.0"}
	files := map[string]string{"demo/Chart.yaml": "name: demo\nversion: 1.0.0\n"}
	packaged := archive(t, time.Now(), files)
	sum, err := ArchiveSum(packaged)
	require.NoError(t, err)
	entry := Entry{Name: "demo", Repo: chart.Repo, Version: chart.Version, File: FileName(chart),
		Module: &Module{Path: "example.com/demo", Version: "v0.0.0-20260101000000-0123456789ab", Dir: "chart", Sum: "h1:x"}}
	lock := Lock{Charts: []Entry{entry}}
	require.NoError(t, os.WriteFile(filepath.Join(dir, entry.File), archive(t, time.Now().Add(time.Hour), files), 0o600))

	_, err = lock.Find(dir, chart)
	assert.ErrorContains(t, err, "does not list", "no sum recorded yet: nothing is trusted")
	assert.Empty(t, lock.Charts[0].Recorded())

	lock.Charts[0].Record(sum)
	assert.Equal(t, sum, lock.Charts[0].Module.ChartSum)
	assert.Empty(t, lock.Charts[0].PublishedSHA256, "a module entry records its chart sum only")
	got, err := lock.Find(dir, chart)
	require.NoError(t, err, "repackaged later, same files")
	assert.Equal(t, filepath.Join(dir, entry.File), got)

	require.NoError(t, os.WriteFile(filepath.Join(dir, entry.File), archive(t, time.Now(), map[string]string{"demo/Chart.yaml": "name: demo\nversion: 1.0.1\n"}), 0o600))
	_, err = lock.Find(dir, chart)
	assert.ErrorContains(t, err, "chart files hashing to")
}

// TestSearch: the first directory holding the archive serves it; a
// copy the lock refuses stops the search rather than being skipped.
func TestSearch(t *testing.T) {
	empty, first, second := t.TempDir(), t.TempDir(), t.TempDir()
	content := []byte("archive")
	sum := sha256.Sum256(content)
	chart := config.Chart{Name: "demo", Repo: "https://charts.example.com", Version: "1.0.0"}
	lock := Lock{Charts: []Entry{{Name: "demo", Repo: chart.Repo, Version: chart.Version, File: FileName(chart), SHA256: hex.EncodeToString(sum[:])}}}

	_, err := lock.Search([]string{empty, second}, chart)
	assert.True(t, errors.Is(err, ErrMissing), "missing everywhere: %v", err)

	require.NoError(t, os.WriteFile(filepath.Join(second, "demo-1.0.0.tgz"), content, 0o600))
	got, err := lock.Search([]string{empty, second}, chart)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(second, "demo-1.0.0.tgz"), got)

	require.NoError(t, os.WriteFile(filepath.Join(first, "demo-1.0.0.tgz"), []byte("tampered"), 0o600))
	_, err = lock.Search([]string{first, second}, chart)
	assert.ErrorContains(t, err, "does not list")
}
