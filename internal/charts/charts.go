// Package charts finds the pinned chart archives on this machine so tests can
// render them with Helm offline, and records in a committed lock which files
// those are. `go run ./cmd/charts pull` fills the cache from the charts' own
// repositories.
package charts

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/your-org/sre-lab/config"
)

// Environment variables that steer where archives come from.
const (
	// EnvCache names the cache directory, overriding every default.
	EnvCache = "SRE_LAB_CHART_CACHE"
	// EnvRequire, set to 1, turns a missing archive from a skip into a
	// failure; CI sets it so the tier cannot pass by not running.
	EnvRequire = "SRE_LAB_REQUIRE_CHARTS"
)

// PullCommand is what fills an empty cache; skip messages name it.
const PullCommand = "go run ./cmd/charts pull (or task charts)"

// LockPath is the lock file's path from the module root, where the pull
// command writes the digests it records.
const LockPath = "internal/charts/charts.lock.json"

//go:embed charts.lock.json
var lockFile []byte

// Entry is one pinned archive in the lock.
type Entry struct {
	// Name, Version and Repo are the pin, as in config.DefaultCharts.
	Name    string `json:"name"`
	Version string `json:"version"`
	Repo    string `json:"repo"`
	// File is the archive's name in the cache.
	File string `json:"file"`
	// SHA256 is the digest of the archive the lock was vetted with.
	SHA256 string `json:"sha256"`
	// PublishedSHA256 is the digest of the repository's published archive,
	// empty until a pull with network has recorded it.
	PublishedSHA256 string `json:"publishedSha256"`
}

// Chart is the entry as the program pins it.
func (e Entry) Chart() config.Chart {
	return config.Chart{Name: e.Name, Repo: e.Repo, Version: e.Version}
}

// Accepts reports whether digest (hex sha256) is one the lock trusts.
func (e Entry) Accepts(digest string) bool {
	return digest == e.SHA256 || (e.PublishedSHA256 != "" && digest == e.PublishedSHA256)
}

// Lock is the committed list of pinned archives.
type Lock struct {
	// About explains the two digests to whoever opens the file.
	About  []string `json:"about"`
	Charts []Entry  `json:"charts"`
}

// LoadLock returns the lock compiled into this binary.
func LoadLock() (Lock, error) {
	return ParseLock(lockFile)
}

// ParseLock reads a lock file's contents.
func ParseLock(b []byte) (Lock, error) {
	var l Lock
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return Lock{}, fmt.Errorf("chart lock: %w", err)
	}
	return l, nil
}

// Marshal writes the lock in the committed layout, sorted by name so a
// recorded digest shows up as a one-line diff.
func (l Lock) Marshal() ([]byte, error) {
	sort.Slice(l.Charts, func(i, j int) bool { return l.Charts[i].Name < l.Charts[j].Name })
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Entry returns the lock's entry for exactly this chart (name, version and
// repository); a chart pinned differently from the lock is an error, since
// its archive was never vetted.
func (l Lock) Entry(c config.Chart) (Entry, error) {
	for _, e := range l.Charts {
		if e.Name == c.Name {
			if e.Chart() != c {
				return Entry{}, fmt.Errorf("chart %s %s (%s) is not the locked %s (%s)", c.Name, c.Version, c.Repo, e.Version, e.Repo)
			}
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("chart %s is not in %s", c.Name, LockPath)
}

// FileName is an archive's name in the cache: <name>-<version>.tgz, and for
// Gateway API, which ships a manifest rather than a chart, the standard
// channel's install file.
func FileName(c config.Chart) string {
	if c.Name == config.ChartGatewayAPI {
		return c.Name + "-" + c.Version + "-standard-install.yaml"
	}
	return c.Name + "-" + c.Version + ".tgz"
}

// ErrMissing is wrapped by Find when an archive is not in the cache.
var ErrMissing = errors.New("chart archive not in the cache")

// CacheDir is where archives are looked for and pulled to: $SRE_LAB_CHART_CACHE
// when set; else ../shared/charts beside the module root when it exists
// (the offline copy next to this checkout); else the user's cache directory.
func CacheDir() (string, error) {
	if dir := os.Getenv(EnvCache); dir != "" {
		return filepath.Abs(dir)
	}
	if root, err := moduleRoot(); err == nil {
		shared := filepath.Join(filepath.Dir(root), "shared", "charts")
		if st, err := os.Stat(shared); err == nil && st.IsDir() {
			return shared, nil
		}
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("chart cache: %w", err)
	}
	return filepath.Join(base, "sre-lab", "charts"), nil
}

// moduleRoot is the nearest directory at or above the working directory
// holding go.mod: tests run in their package's directory, commands at the
// root.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Find returns the path of c's archive in dir after checking its digest
// against the lock. A missing file wraps ErrMissing; a file the lock does
// not accept is an error, never a silent render of unknown content.
func (l Lock) Find(dir string, c config.Chart) (string, error) {
	e, err := l.Entry(c)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, e.File)
	digest, err := FileSHA256(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", path, ErrMissing)
	}
	if err != nil {
		return "", err
	}
	if !e.Accepts(digest) {
		return "", fmt.Errorf("%s has sha256 %s, which %s does not list for %s %s", path, digest, LockPath, e.Name, e.Version)
	}
	return path, nil
}

// FileSHA256 is the hex sha256 of a file's contents.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
