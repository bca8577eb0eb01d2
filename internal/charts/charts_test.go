package charts

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

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

func TestCacheDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvCache, dir)
	got, err := CacheDir()
	require.NoError(t, err)
	assert.Equal(t, dir, got, "the variable wins")

	t.Setenv(EnvCache, "")
	got, err = CacheDir()
	require.NoError(t, err)
	root, err := moduleRoot()
	require.NoError(t, err)
	shared := filepath.Join(filepath.Dir(root), "shared", "charts")
	if _, err := os.Stat(shared); err == nil {
		assert.Equal(t, shared, got, "the copy beside the checkout comes next")
	} else {
		base, err := os.UserCacheDir()
		require.NoError(t, err)
		assert.Equal(t, filepath.Join(base, "sre-lab", "charts"), got, "else the user's cache")
	}
}
