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

	recorded, err := pull(&lock, dir, fetch, io.Discard)
	require.NoError(t, err)
	assert.True(t, recorded)
	assert.Equal(t, digest(upstream), lock.Charts[0].PublishedSHA256)
	got, err := os.ReadFile(filepath.Join(dir, "demo-1.0.0.tgz"))
	require.NoError(t, err)
	assert.Equal(t, upstream, got)

	// An accepted archive in the cache is not downloaded again.
	recorded, err = pull(&lock, dir, fetch, io.Discard)
	require.NoError(t, err)
	assert.False(t, recorded)
	assert.Equal(t, 1, fetched)

	// A changed upstream archive is refused and not written.
	require.NoError(t, os.Remove(filepath.Join(dir, "demo-1.0.0.tgz")))
	upstream = []byte("tampered archive")
	_, err = pull(&lock, dir, fetch, io.Discard)
	assert.ErrorContains(t, err, "expects "+lock.Charts[0].PublishedSHA256)
	assert.NoFileExists(t, filepath.Join(dir, "demo-1.0.0.tgz"))
}

// TestPullAcceptsTheVettedArchive: a download identical to the vetted
// archive needs no recording.
func TestPullAcceptsTheVettedArchive(t *testing.T) {
	dir := t.TempDir()
	vetted := []byte("vetted archive")
	lock := testLock(digest(vetted), "")
	recorded, err := pull(&lock, dir, func(charts.Entry) ([]byte, error) { return vetted, nil }, io.Discard)
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
	_, err := pull(&lock, dir, func(charts.Entry) ([]byte, error) { return nil, nil }, io.Discard)
	assert.ErrorContains(t, err, "does not list")
}
