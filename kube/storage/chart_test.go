package storage

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/internal/charts"
)

// chartFiles returns the named files of the pinned chart's archive, keyed
// by their path inside the chart directory.
func chartFiles(t *testing.T, chart config.Chart, names ...string) map[string]string {
	t.Helper()
	// The archive comes from the render tier's cache (internal/charts); CI
	// requires it there, a checkout without it skips the chart checks.
	dir, err := charts.CacheDir()
	require.NoError(t, err)
	archive := filepath.Join(dir, charts.FileName(chart))
	f, err := os.Open(archive)
	if errors.Is(err, fs.ErrNotExist) {
		if os.Getenv(charts.EnvRequire) == "1" {
			t.Fatalf("chart archive %s is missing; %s fetches it", archive, charts.PullCommand)
		}
		t.Skipf("chart archive %s is not here; %s fetches it", archive, charts.PullCommand)
	}
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	want := map[string]bool{}
	for _, n := range names {
		want[chart.Name+"/"+n] = true
	}
	out := map[string]string{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if !want[h.Name] {
			continue
		}
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[strings.TrimPrefix(h.Name, chart.Name+"/")] = string(b)
	}
	for _, n := range names {
		require.Contains(t, out, n, "%s has no %s", archive, n)
	}
	return out
}

// TestLocalPathChartVolumeType reads the pinned chart to show that the key
// Values sets is the one that decides the volume type, and why it must be
// set: the chart's template copies storageClass.defaultVolumeType into the
// StorageClass annotation the provisioner reads (provisioner.go, Provision),
// and the chart's own default is hostPath, which the kubelet reports no
// volume statistics for.
func TestLocalPathChartVolumeType(t *testing.T) {
	files := chartFiles(t, config.DefaultCharts[config.ChartLocalPath], "values.yaml", "templates/storageclass.yaml")

	var annotation []string
	for line := range strings.Lines(files["templates/storageclass.yaml"]) {
		if strings.HasPrefix(strings.TrimSpace(line), "defaultVolumeType:") {
			annotation = append(annotation, strings.TrimSpace(line))
		}
	}
	require.Len(t, annotation, 1, "the StorageClass template writes one defaultVolumeType annotation")
	assert.Contains(t, annotation[0], ".storageClass.defaultVolumeType", "the annotation comes from the storageClass.defaultVolumeType value")

	var chartValues struct {
		StorageClass map[string]any `yaml:"storageClass"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(files["values.yaml"]), &chartValues))
	assert.Equal(t, "hostPath", chartValues.StorageClass["defaultVolumeType"], "the chart defaults to hostPath, so the lab must set the type")

	lab, _ := Values(validArgs(LocalPath))["storageClass"].(map[string]any)
	for key := range lab {
		assert.Contains(t, chartValues.StorageClass, key, "storageClass.%s is a key the chart reads", key)
	}
	assert.Equal(t, LocalVolumeType, lab["defaultVolumeType"])
}

// TestEBSChartKeys reads the pinned EBS CSI chart to show that every key
// the lab sets for the driver's AWS access is one the chart reads, and how:
// the controller takes the key from the Secret named by awsAccessSecret
// and its region from controller.region, the volumes get the cluster's tag
// from controller.k8sTagClusterId, and the node plugin joins the host
// network, off by default, through node.hostNetwork.
func TestEBSChartKeys(t *testing.T) {
	files := chartFiles(t, config.DefaultCharts[config.ChartEBSCSI], "values.yaml", "templates/controller.yaml", "templates/_node.tpl")

	var chartValues struct {
		AWSAccessSecret map[string]any `yaml:"awsAccessSecret"`
		Controller      map[string]any `yaml:"controller"`
		Node            map[string]any `yaml:"node"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(files["values.yaml"]), &chartValues))
	lab := Values(validArgs(AWSEBS))
	for key := range lab["awsAccessSecret"].(map[string]any) {
		assert.Contains(t, chartValues.AWSAccessSecret, key, "awsAccessSecret.%s is a key the chart reads", key)
	}
	for _, key := range []string{"region", "k8sTagClusterId", "podAnnotations"} {
		assert.Contains(t, chartValues.Controller, key, "controller.%s", key)
	}
	assert.Equal(t, false, chartValues.Node["hostNetwork"], "the chart keeps the node plugin off the host network unless told")
	assert.Contains(t, chartValues.Node, "metadataSources")

	controller := files["templates/controller.yaml"]
	for _, want := range []string{".Values.awsAccessSecret", "name: AWS_ACCESS_KEY_ID", "name: AWS_SECRET_ACCESS_KEY",
		".Values.controller.region", "name: AWS_REGION", "--k8s-tag-cluster-id="} {
		assert.Contains(t, controller, want)
	}
	assert.Contains(t, files["templates/_node.tpl"], "hostNetwork: {{ .Values.node.hostNetwork }}")
}
