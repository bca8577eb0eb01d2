package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/mod/sumdb/dirhash"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/your-org/sre-lab/internal/charts"
)

// downloaded is the part of `go mod download -json` the pull reads: where
// the module's files are, its hash, and the go command's own error.
type downloaded struct {
	Dir   string
	Sum   string
	Error string
}

// downloader fetches one module version into the module cache.
type downloader func(path, version string) (downloaded, error)

// goModDownload asks the go command for path@version. It runs outside any
// module (an empty directory, no workspace), so it neither reads nor
// changes this repository's go.mod and go.sum; the go command takes the
// zip from GOPROXY and checks it against GOSUMDB before extracting it
// (cmd/go, "go help module-auth").
func goModDownload(path, version string) (downloaded, error) {
	dir, err := os.MkdirTemp("", "sre-lab-module-")
	if err != nil {
		return downloaded{}, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	cmd := exec.Command("go", "mod", "download", "-json", path+"@"+version)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var d downloaded
	if err := json.Unmarshal(out, &d); err != nil {
		return downloaded{}, fmt.Errorf("go mod download %s@%s: %v: %s", path, version, runErr, stderr.String())
	}
	if d.Error != "" {
		return downloaded{}, errors.New(d.Error)
	}
	if runErr != nil {
		return downloaded{}, fmt.Errorf("go mod download %s@%s: %w: %s", path, version, runErr, stderr.String())
	}
	return d, nil
}

// fetchModule packages e's chart from its Go module, as the project's
// release does: the module must hash to the lock's go.sum line, the files
// hashed are the ones Helm loads (the module cache is not trusted by
// itself), and the chart is packaged with the Helm SDK (helm package:
// pkg/chartutil Save) after its version is stamped where the release
// stamps it.
func fetchModule(e charts.Entry, download downloader) ([]byte, error) {
	m := e.Module
	d, err := download(m.Path, m.Version)
	if err != nil {
		return nil, err
	}
	if d.Sum != m.Sum {
		return nil, fmt.Errorf("module %s@%s has hash %s; %s expects %s", m.Path, m.Version, d.Sum, charts.LockPath, m.Sum)
	}
	onDisk, err := dirhash.HashDir(d.Dir, m.Path+"@"+m.Version, dirhash.Hash1)
	if err != nil {
		return nil, err
	}
	if onDisk != m.Sum {
		return nil, fmt.Errorf("the files of %s@%s in %s hash to %s, not %s: clean the module cache (go clean -modcache)", m.Path, m.Version, d.Dir, onDisk, m.Sum)
	}
	chrt, err := loader.LoadDir(filepath.Join(d.Dir, filepath.FromSlash(m.Dir)))
	if err != nil {
		return nil, fmt.Errorf("%s in %s@%s: %w", m.Dir, m.Path, m.Version, err)
	}
	if m.SetVersion {
		chrt.Metadata.Version = e.Version
		chrt.Metadata.AppVersion = e.Version
	}
	if chrt.Metadata.Name != e.Name || chrt.Metadata.Version != e.Version {
		return nil, fmt.Errorf("%s in %s@%s is chart %s %s, not %s %s", m.Dir, m.Path, m.Version, chrt.Metadata.Name, chrt.Metadata.Version, e.Name, e.Version)
	}
	tmp, err := os.MkdirTemp("", "sre-lab-package-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	path, err := chartutil.Save(chrt, tmp)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}
