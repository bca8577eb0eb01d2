package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/internal/charts"
)

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func testLock(vetted, published string) charts.Lock {
	return charts.Lock{Charts: []charts.Entry{{
		Name: "demo", Version: "1.0.0", Repo: "https://charts.example.com", File: "demo-1.0.0.tgz",
		SHA256: vetted, PublishedSHA256: published,
	}}}
}

// TestPullRecordsThePublishedDigestOnce: the lock was written offline, so
// the first pull records what the repository serves; from then on a
// different download is refused.
func TestPullRecordsThePublishedDigestOnce(t *testing.T) {
	dir := t.TempDir()
	upstream := []byte("published archive")
	lock := testLock(digest([]byte("vetted archive")), "")
	fetched := 0
	fetch := func(charts.Entry) ([]byte, error) { fetched++; return upstream, nil }

	recorded, err := pull(&lock, []string{dir}, nil, fetch, io.Discard)
	require.NoError(t, err)
	assert.True(t, recorded)
	assert.Equal(t, digest(upstream), lock.Charts[0].PublishedSHA256)
	got, err := os.ReadFile(filepath.Join(dir, "demo-1.0.0.tgz"))
	require.NoError(t, err)
	assert.Equal(t, upstream, got)

	// An accepted archive in the cache is not downloaded again.
	recorded, err = pull(&lock, []string{dir}, nil, fetch, io.Discard)
	require.NoError(t, err)
	assert.False(t, recorded)
	assert.Equal(t, 1, fetched)

	// A changed upstream archive is refused and not written.
	require.NoError(t, os.Remove(filepath.Join(dir, "demo-1.0.0.tgz")))
	upstream = []byte("tampered archive")
	_, err = pull(&lock, []string{dir}, nil, fetch, io.Discard)
	assert.ErrorContains(t, err, "expects "+lock.Charts[0].PublishedSHA256)
	assert.NoFileExists(t, filepath.Join(dir, "demo-1.0.0.tgz"))
}

// TestPullAcceptsTheVettedArchive: a download identical to the vetted
// archive needs no recording.
func TestPullAcceptsTheVettedArchive(t *testing.T) {
	dir := t.TempDir()
	vetted := []byte("vetted archive")
	lock := testLock(digest(vetted), "")
	recorded, err := pull(&lock, []string{dir}, nil, func(charts.Entry) ([]byte, error) { return vetted, nil }, io.Discard)
	require.NoError(t, err)
	assert.False(t, recorded)
	assert.Empty(t, lock.Charts[0].PublishedSHA256)
}

// TestPullRefusesAForeignCacheFile: a file under the archive's name that
// the lock does not know stops the pull instead of being overwritten or
// rendered.
func TestPullRefusesAForeignCacheFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "demo-1.0.0.tgz"), []byte("other"), 0o600))
	lock := testLock(digest([]byte("vetted")), "")
	_, err := pull(&lock, []string{dir}, nil, func(charts.Entry) ([]byte, error) { return nil, nil }, io.Discard)
	assert.ErrorContains(t, err, "does not list")
}

// TestPullFillsTheLastDirectory: an archive in any directory of the search
// path is kept where it is; what none holds goes to the last directory,
// so a read-only offline copy first in the path is never written to.
func TestPullFillsTheLastDirectory(t *testing.T) {
	shared, user := t.TempDir(), t.TempDir()
	have, want := []byte("have"), []byte("want")
	lock := charts.Lock{Charts: []charts.Entry{
		{Name: "have", Version: "1.0.0", Repo: "https://charts.example.com", File: "have-1.0.0.tgz", SHA256: digest(have)},
		{Name: "want", Version: "1.0.0", Repo: "https://charts.example.com", File: "want-1.0.0.tgz", SHA256: digest(want)},
	}}
	require.NoError(t, os.WriteFile(filepath.Join(shared, "have-1.0.0.tgz"), have, 0o600))
	var fetched []string
	fetch := func(e charts.Entry) ([]byte, error) { fetched = append(fetched, e.Name); return want, nil }
	_, err := pull(&lock, []string{shared, user}, nil, fetch, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"want"}, fetched)
	assert.FileExists(t, filepath.Join(user, "want-1.0.0.tgz"))
	assert.NoFileExists(t, filepath.Join(shared, "want-1.0.0.tgz"))
	assert.NoFileExists(t, filepath.Join(user, "have-1.0.0.tgz"))
}

// TestPullOnlyTheNamedCharts: naming charts pulls those alone, and a name
// the lock does not know is refused before anything is fetched.
func TestPullOnlyTheNamedCharts(t *testing.T) {
	dir := t.TempDir()
	lock := charts.Lock{Charts: []charts.Entry{
		{Name: "a", Version: "1.0.0", Repo: "https://charts.example.com", File: "a-1.0.0.tgz", SHA256: digest([]byte("a"))},
		{Name: "b", Version: "1.0.0", Repo: "https://charts.example.com", File: "b-1.0.0.tgz", SHA256: digest([]byte("b"))},
	}}
	var fetched []string
	fetch := func(e charts.Entry) ([]byte, error) { fetched = append(fetched, e.Name); return []byte(e.Name), nil }
	_, err := pull(&lock, []string{dir}, []string{"c"}, fetch, io.Discard)
	assert.ErrorContains(t, err, "chart c is not in internal/charts/charts.lock.json")
	assert.Empty(t, fetched)
	_, err = pull(&lock, []string{dir}, []string{"b"}, fetch, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"b"}, fetched)
}
