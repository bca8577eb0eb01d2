// Package charts finds the pinned chart archives on this machine so tests can
// render them with Helm offline, and records in a committed lock which files
// those are. `go run ./cmd/charts pull` fills the cache from the charts' own
// repositories, or, for a chart the lock names a Go module for, from that
// module on the Go module proxy.
package charts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
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

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/your-org/sre-lab/config"
)

// Environment variables that steer where archives come from.
const (
	// EnvCache is the cache's search path, overriding every default: one
	// directory, or several joined with the OS's list separator (':' on
	// Unix) as in PATH; pulls write to the last.
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
	// Module, when set, is where the archive comes from instead of Repo:
	// the chart's directory in its project's Go module, packaged here.
	// SHA256 and PublishedSHA256 are then empty, since packaging stamps
	// every file with the time, and Module.ChartSum identifies the archive.
	Module *Module `json:"module,omitempty"`
	// RuntimeCRDs, when set, are the CRDs the chart's controller registers
	// when it starts instead of shipping them in crds/ (Cilium's operator),
	// read from the project's Go module so that objects of their kinds can
	// be checked offline like any other custom resource.
	RuntimeCRDs *CRDSource `json:"runtimeCRDs,omitempty"`
}

// CRDSource is a directory of CRD files in a Go module version.
type CRDSource struct {
	// Path and Version name the module version: the release's tag.
	Path    string `json:"path"`
	Version string `json:"version"`
	// Dir holds the CRD files, in subdirectories too.
	Dir string `json:"dir"`
	// Sum is the module's hash as go.sum records it (h1:).
	Sum string `json:"sum"`
}

// Module is a chart's source in a Go module the module proxy serves.
type Module struct {
	// Path and Version name the module version: a pseudo-version of the
	// chart release's commit where the project's tags are not versions of
	// its module path.
	Path    string `json:"path"`
	Version string `json:"version"`
	// Dir is the chart's directory inside the module.
	Dir string `json:"dir"`
	// Sum is the module's hash as go.sum records it (h1:, the dirhash of
	// its files), which the download must match.
	Sum string `json:"sum"`
	// SetVersion stamps the chart's version and appVersion with the pinned
	// version, as the project's release does (helm package --version
	// --app-version) over a Chart.yaml that holds a placeholder; without
	// it the Chart.yaml must already carry the pinned version.
	SetVersion bool `json:"setVersion"`
	// ChartSum is the dirhash (h1:) of the files in the packaged archive,
	// empty until the first pull records it.
	ChartSum string `json:"chartSum"`
}

// Chart is the entry as the program pins it.
func (e Entry) Chart() config.Chart {
	return config.Chart{Name: e.Name, Repo: e.Repo, Version: e.Version}
}

// Accepts reports whether digest (see Digest) is one the lock trusts.
func (e Entry) Accepts(digest string) bool {
	if e.Module != nil {
		return e.Module.ChartSum != "" && digest == e.Module.ChartSum
	}
	return digest == e.SHA256 || (e.PublishedSHA256 != "" && digest == e.PublishedSHA256)
}

// Recorded is the digest a download must match, or empty while the lock
// has none to compare it with (it was written offline).
func (e Entry) Recorded() string {
	if e.Module != nil {
		return e.Module.ChartSum
	}
	return e.PublishedSHA256
}

// Record keeps digest as the one later downloads must match.
func (e *Entry) Record(digest string) {
	if e.Module != nil {
		e.Module.ChartSum = digest
		return
	}
	e.PublishedSHA256 = digest
}

// Digest identifies an archive's contents the way the lock records them:
// the hex sha256 of the file, or for a chart packaged from a module, the
// dirhash of the files inside it.
func (e Entry) Digest(archive []byte) (string, error) {
	if e.Module != nil {
		return ArchiveSum(archive)
	}
	sum := sha256.Sum256(archive)
	return hex.EncodeToString(sum[:]), nil
}

// ArchiveSum is the dirhash (h1:, as go.sum writes module hashes) of the
// regular files in a gzipped tar archive, by their names in it: it depends
// on the files' names and contents only, not on the timestamps and modes
// helm package writes.
func ArchiveSum(archive []byte) (string, error) {
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return "", err
	}
	files := map[string][]byte{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if _, dup := files[h.Name]; dup {
			return "", fmt.Errorf("archive holds %s twice", h.Name)
		}
		if files[h.Name], err = io.ReadAll(tr); err != nil {
			return "", err
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	return dirhash.Hash1(names, func(name string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(files[name])), nil
	})
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

// CacheDirs is the search path archives are looked for in, in order, and
// pulled to (the last directory): the directories of $SRE_LAB_CHART_CACHE
// when set; else ../shared/charts beside the module root when it exists
// (the offline copy next to this checkout, which a pull leaves alone)
// followed by the user's cache directory, where a pull puts what the copy
// lacks.
func CacheDirs() ([]string, error) {
	if list := os.Getenv(EnvCache); list != "" {
		var dirs []string
		for _, dir := range filepath.SplitList(list) {
			if dir == "" {
				continue
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return nil, err
			}
			dirs = append(dirs, abs)
		}
		if len(dirs) > 0 {
			return dirs, nil
		}
	}
	var dirs []string
	if root, err := moduleRoot(); err == nil {
		shared := filepath.Join(filepath.Dir(root), "shared", "charts")
		if st, err := os.Stat(shared); err == nil && st.IsDir() {
			dirs = append(dirs, shared)
		}
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("chart cache: %w", err)
	}
	return append(dirs, filepath.Join(base, "sre-lab", "charts")), nil
}

// CacheDir is the first directory of CacheDirs, for readers of one
// archive from a chart repository, which the offline copy holds.
func CacheDir() (string, error) {
	dirs, err := CacheDirs()
	if err != nil {
		return "", err
	}
	return dirs[0], nil
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
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", path, ErrMissing)
	}
	if err != nil {
		return "", err
	}
	digest, err := e.Digest(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if !e.Accepts(digest) {
		kind := "sha256"
		if e.Module != nil {
			kind = "chart files hashing to"
		}
		return "", fmt.Errorf("%s has %s %s, which %s does not list for %s %s", path, kind, digest, LockPath, e.Name, e.Version)
	}
	return path, nil
}

// Search is Find over a search path: the archive in the first directory
// that has it. Missing from every one wraps ErrMissing; the first copy the
// lock does not accept is an error, not a reason to look further.
func (l Lock) Search(dirs []string, c config.Chart) (string, error) {
	for _, dir := range dirs {
		path, err := l.Find(dir, c)
		if !errors.Is(err, ErrMissing) {
			return path, err
		}
	}
	return "", fmt.Errorf("%s %s in %v: %w", c.Name, c.Version, dirs, ErrMissing)
}
