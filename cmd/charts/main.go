// Command charts fills the chart cache the rendered-objects tests read:
// `go run ./cmd/charts pull [chart...]` downloads every pinned chart (or
// the named ones) that the cache's search path lacks: from its own
// repository with the Helm SDK (an https index, or an OCI registry), the
// Gateway API manifest from its release page, and a chart the lock names a
// Go module for from that module on the Go module proxy, packaged with the
// Helm SDK. Each is checked against internal/charts/charts.lock.json (and
// the repository's published digest, or the module's go.sum hash) and
// written to the last directory of the search path (SRE_LAB_CHART_CACHE,
// else the user's cache directory after ../shared/charts).
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/internal/charts"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "pull" {
		fmt.Fprintln(os.Stderr, "usage: go run ./cmd/charts pull [chart...]")
		os.Exit(2)
	}
	if err := run(os.Stdout, os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "charts:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, names []string) error {
	lock, err := charts.LoadLock()
	if err != nil {
		return err
	}
	dirs, err := charts.CacheDirs()
	if err != nil {
		return err
	}
	recorded, err := pull(&lock, dirs, names, fetch, out)
	if err != nil {
		return err
	}
	if !recorded {
		return nil
	}
	b, err := lock.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(charts.LockPath, b, 0o644); err != nil {
		return fmt.Errorf("recording the published digests (run from the repository root): %w", err)
	}
	fmt.Fprintf(out, "recorded the published digests in %s: review and commit it\n", charts.LockPath)
	return nil
}

// fetcher downloads one locked archive and returns its bytes.
type fetcher func(e charts.Entry) ([]byte, error)

// pull puts every archive of lock (or those of the charts named) that no
// directory of dirs holds into the last of them. An archive already found
// and accepted by the lock is kept. A download must match the digest the
// lock recorded; where none is recorded yet (the lock was written
// offline), the repository's own digest or the module's hash has been
// checked by fetch and the download's digest is recorded in lock, and
// recorded reports it.
func pull(lock *charts.Lock, dirs, names []string, fetch fetcher, out io.Writer) (recorded bool, err error) {
	for _, name := range names {
		if !slices.ContainsFunc(lock.Charts, func(e charts.Entry) bool { return e.Name == name }) {
			return false, fmt.Errorf("chart %s is not in %s", name, charts.LockPath)
		}
	}
	dir := dirs[len(dirs)-1]
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	for i := range lock.Charts {
		e := &lock.Charts[i]
		if len(names) > 0 && !slices.Contains(names, e.Name) {
			continue
		}
		if _, err := lock.Search(dirs, e.Chart()); err == nil {
			fmt.Fprintf(out, "have    %s\n", e.File)
			continue
		} else if !errors.Is(err, charts.ErrMissing) {
			return recorded, err
		}
		b, err := fetch(*e)
		if err != nil {
			return recorded, fmt.Errorf("%s %s: %w", e.Name, e.Version, err)
		}
		digest, err := e.Digest(b)
		if err != nil {
			return recorded, fmt.Errorf("%s %s: %w", e.Name, e.Version, err)
		}
		switch {
		case e.Accepts(digest):
		case e.Recorded() == "":
			e.Record(digest)
			recorded = true
		default:
			return recorded, fmt.Errorf("%s %s from %s has digest %s; %s expects %s", e.Name, e.Version, source(*e), digest, charts.LockPath, e.Recorded())
		}
		if err := writeAtomic(filepath.Join(dir, e.File), b); err != nil {
			return recorded, err
		}
		fmt.Fprintf(out, "pulled  %s (%s) into %s\n", e.File, digest, dir)
	}
	return recorded, nil
}

// source names where an entry's archive comes from, for messages.
func source(e charts.Entry) string {
	if e.Module != nil {
		return e.Module.Path + "@" + e.Module.Version
	}
	return e.Repo
}

// writeAtomic writes through a temporary file so an interrupted pull never
// leaves a half archive under the real name.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pull-*")
	if err != nil {
		return err
	}
	// After the rename the temporary name is gone and this does nothing.
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// fetch downloads e from where the program installs it from, or from its
// Go module where the lock names one.
func fetch(e charts.Entry) ([]byte, error) {
	switch {
	case e.Module != nil:
		return fetchModule(e)
	case e.Name == config.ChartGatewayAPI:
		return httpGet(fmt.Sprintf("%s/%s/standard-install.yaml", e.Repo, e.Version))
	case strings.HasPrefix(e.Repo, "oci://"):
		return fetchOCI(e)
	default:
		return fetchIndexed(e)
	}
}

// fetchOCI pulls the chart layer from the registry; the registry client
// checks every blob against its content digest.
func fetchOCI(e charts.Entry) ([]byte, error) {
	client, err := registry.NewClient()
	if err != nil {
		return nil, err
	}
	ref := strings.TrimPrefix(strings.TrimSuffix(e.Repo, "/"), "oci://") + "/" + e.Name + ":" + e.Version
	res, err := client.Pull(ref, registry.PullOptWithChart(true))
	if err != nil {
		return nil, err
	}
	return res.Chart.Data, nil
}

// fetchIndexed reads the repository's index, downloads the version's
// archive, and checks it against the digest the index lists for it.
func fetchIndexed(e charts.Entry) ([]byte, error) {
	settings := cli.New()
	getters := getter.All(settings)
	tmp, err := os.MkdirTemp("", "sre-lab-index-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	cr, err := repo.NewChartRepository(&repo.Entry{Name: "sre-lab-" + e.Name, URL: e.Repo}, getters)
	if err != nil {
		return nil, err
	}
	// The index goes to scratch space, not the user's Helm cache.
	cr.CachePath = tmp
	path, err := cr.DownloadIndexFile()
	if err != nil {
		return nil, err
	}
	index, err := repo.LoadIndexFile(path)
	if err != nil {
		return nil, err
	}
	cv, err := index.Get(e.Name, e.Version)
	if err != nil {
		return nil, err
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("the index of %s lists no URL for it", e.Repo)
	}
	url, err := repo.ResolveReferenceURL(e.Repo, cv.URLs[0])
	if err != nil {
		return nil, err
	}
	g, err := getters.ByScheme(strings.SplitN(url, ":", 2)[0])
	if err != nil {
		return nil, err
	}
	buf, err := g.Get(url)
	if err != nil {
		return nil, err
	}
	b := buf.Bytes()
	if cv.Digest != "" {
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != strings.TrimPrefix(cv.Digest, "sha256:") {
			return nil, fmt.Errorf("%s has sha256 %s, the index says %s", url, got, cv.Digest)
		}
	}
	return b, nil
}

// httpGet is a plain download, for the one pin that is a release asset
// rather than a chart.
func httpGet(url string) ([]byte, error) {
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
