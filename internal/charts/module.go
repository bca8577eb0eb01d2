package charts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/sumdb/dirhash"
)

// DownloadedModule is the part of `go mod download -json` the callers read:
// where the module's files are, its hash, and the go command's own error.
type DownloadedModule struct {
	Dir   string
	Sum   string
	Error string
}

// DownloadModule asks the go command for path@version. It runs outside any
// module (an empty directory, no workspace), so it neither reads nor
// changes this repository's go.mod and go.sum; the go command takes the
// zip from GOPROXY and checks it against GOSUMDB before extracting it
// (cmd/go, "go help module-auth").
func DownloadModule(path, version string) (DownloadedModule, error) {
	dir, err := os.MkdirTemp("", "sre-lab-module-")
	if err != nil {
		return DownloadedModule{}, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	cmd := exec.Command("go", "mod", "download", "-json", path+"@"+version)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var d DownloadedModule
	if err := json.Unmarshal(out, &d); err != nil {
		return DownloadedModule{}, fmt.Errorf("go mod download %s@%s: %v: %s", path, version, runErr, stderr.String())
	}
	if d.Error != "" {
		return DownloadedModule{}, errors.New(d.Error)
	}
	if runErr != nil {
		return DownloadedModule{}, fmt.Errorf("go mod download %s@%s: %w: %s", path, version, runErr, stderr.String())
	}
	return d, nil
}

// VerifiedModule downloads path@version and returns the directory of its
// files once the download and the files on disk both hash to sum, the
// module's go.sum line (h1:): the module cache is not trusted by itself.
func VerifiedModule(path, version, sum string) (string, error) {
	d, err := DownloadModule(path, version)
	if err != nil {
		return "", err
	}
	if d.Sum != sum {
		return "", fmt.Errorf("module %s@%s has hash %s; %s expects %s", path, version, d.Sum, LockPath, sum)
	}
	onDisk, err := dirhash.HashDir(d.Dir, path+"@"+version, dirhash.Hash1)
	if err != nil {
		return "", err
	}
	if onDisk != sum {
		return "", fmt.Errorf("the files of %s@%s in %s hash to %s, not %s: clean the module cache (go clean -modcache)", path, version, d.Dir, onDisk, sum)
	}
	return d.Dir, nil
}

// Files downloads s's module, verified, and returns the contents of every
// YAML file under s.Dir, in path order.
func (s CRDSource) Files() ([][]byte, error) {
	dir, err := VerifiedModule(s.Path, s.Version, s.Sum)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, filepath.FromSlash(s.Dir))
	var paths []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".yaml") {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s in %s@%s: %w", s.Dir, s.Path, s.Version, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s in %s@%s holds no YAML file", s.Dir, s.Path, s.Version)
	}
	sort.Strings(paths)
	out := make([][]byte, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
