package main

import (
	"fmt"
	"os"
	"path/filepath"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/your-org/sre-lab/internal/charts"
)

// fetchModule packages e's chart from its Go module, as the project's
// release does: the module must hash to the lock's go.sum line, the files
// hashed are the ones Helm loads (the module cache is not trusted by
// itself), and the chart is packaged with the Helm SDK (helm package:
// pkg/chartutil Save) after its version is stamped where the release
// stamps it.
func fetchModule(e charts.Entry) ([]byte, error) {
	m := e.Module
	dir, err := charts.VerifiedModule(m.Path, m.Version, m.Sum)
	if err != nil {
		return nil, err
	}
	chrt, err := loader.LoadDir(filepath.Join(dir, filepath.FromSlash(m.Dir)))
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
