package buildbench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary doubles as the measured program: with holdEnv set it
// holds that many MiB resident for a while, and with spawnEnv it starts
// that many copies of itself first, as the go command starts compilers.
const (
	holdEnv  = "BUILDBENCH_TEST_HOLD_MIB"
	spawnEnv = "BUILDBENCH_TEST_SPAWN"
)

func TestMain(m *testing.M) {
	if n, _ := strconv.Atoi(os.Getenv(spawnEnv)); n > 0 {
		var kids []*exec.Cmd
		for range n {
			c := exec.Command(os.Args[0])
			c.Env = append(os.Environ(), spawnEnv+"=0")
			if err := c.Start(); err != nil {
				os.Exit(2)
			}
			kids = append(kids, c)
		}
		for _, c := range kids {
			_ = c.Wait()
		}
		os.Exit(0)
	}
	if mib, _ := strconv.Atoi(os.Getenv(holdEnv)); mib > 0 {
		b := make([]byte, mib<<20)
		for i := range b {
			b[i] = 1
		}
		time.Sleep(time.Second)
		runtime.KeepAlive(b)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMeasureSumsTheWholeProcessTree(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the tree's memory is read from /proc")
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), holdEnv+"=100", spawnEnv+"=3")
	r, err := Measure(context.Background(), cmd)
	require.NoError(t, err)
	// Three children hold 100 MiB each at once: the tree held 300 MiB,
	// while no single process held more than about 100.
	assert.Greater(t, r.PeakRSS, int64(250<<20), "peak %d", r.PeakRSS)
	assert.Positive(t, r.CPU, "the children's CPU time counts")
	assert.Positive(t, r.Wall)
}

func TestMeasureReportsAFailedCommand(t *testing.T) {
	_, err := Measure(context.Background(), exec.Command("sh", "-c", "exit 3"))
	assert.Error(t, err)
}

func TestReadStat(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, line string
		ppid       int
		rss        int64
		ok         bool
	}{
		{"plain", "4242 (compile) R 4200 4242 1 0 -1 4194560 100 0 0 0 50 3 0 0 20 0 3 0 900 1000000 2560 18446744073709551615", 4200, 2560, true},
		{"spaces and parentheses in the name", "77 (my (odd) cmd) S 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 4096 12 0", 1, 12, true},
		{"truncated", "77 (x) S 1 77", 0, 0, false},
		{"no name", "garbage", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			require.NoError(t, os.WriteFile(path, []byte(tc.line+"\n"), 0o600))
			ppid, rss, ok := readStat(path)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.ppid, ppid)
			assert.Equal(t, tc.rss, rss)
		})
	}
}

func TestBuildFlags(t *testing.T) {
	assert.Empty(t, Build{Name: "default"}.Flags())
	assert.Equal(t, []string{"-tags=sre_lab_local,sre_lab_aws", "-p=1"},
		Build{Tags: []string{"sre_lab_local", "sre_lab_aws"}, Jobs: 1}.Flags())
}

// TestRunBuildsColdThenWarm builds a one-file module: the cold build
// compiles the runtime into an empty cache of its own, the warm one sees
// main.go edited through the overlay and leaves the checkout alone.
func TestRunBuildsColdThenWarm(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the runtime from an empty cache")
	}
	dir := t.TempDir()
	main := []byte("package main\n\nfunc main() {}\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/tiny\n\ngo 1.22\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), main, 0o600))
	scratch := t.TempDir()
	row, err := Run(context.Background(), dir, scratch, Build{Name: "tiny", Jobs: 1})
	require.NoError(t, err)
	assert.Positive(t, row.Cold.CPU)
	assert.Positive(t, row.Warm.Wall)
	assert.Greater(t, row.Cold.CPU, row.Warm.CPU, "the warm build reuses the cold build's cache")
	after, err := os.ReadFile(filepath.Join(dir, "main.go"))
	require.NoError(t, err)
	assert.Equal(t, main, after, "the edit goes through the overlay")
	entries, err := os.ReadDir(scratch)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasPrefix(e.Name(), "gocache-"), "the cache is removed after the run")
	}
}

func TestTable(t *testing.T) {
	rows := []Row{
		{Build: Build{Name: "default"}, Cold: Result{Wall: 500 * time.Second, CPU: 900 * time.Second, PeakRSS: 6e9}, Warm: Result{Wall: 20 * time.Second, CPU: 30 * time.Second, PeakRSS: 1.5e9}},
		{Build: Build{Name: "local only"}, Cold: Result{Wall: 200 * time.Second, CPU: 350 * time.Second}, Warm: Result{Wall: 15 * time.Second}},
	}
	out := Table(rows)
	assert.Contains(t, out, "default                cold        500s      900s     6.0 GB")
	assert.Contains(t, out, "local only             cold        200s      350s        n/a")
	assert.Contains(t, out, "local only cold build: 0.40× the default one")
}
