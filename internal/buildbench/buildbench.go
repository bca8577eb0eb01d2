// Package buildbench measures what building the program costs a person:
// wall time, CPU time and the peak memory of the whole build (the go
// command and every compiler and linker it runs at once), for a cold
// build with a build cache of its own and for a warm one after a
// one-line edit. `task bench:build` prints its figures; no test times
// anything.
package buildbench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Result is one measured command.
type Result struct {
	// Wall is the elapsed time.
	Wall time.Duration
	// CPU is user plus system time of the command and every process it
	// waited for: what the build cost all cores together.
	CPU time.Duration
	// PeakRSS is the largest sum of resident memory of the command's
	// process tree seen by the sampler, in bytes; zero where /proc is
	// missing (not Linux).
	PeakRSS int64
}

// SampleEvery is how often the process tree's memory is read. A compile
// of a large package lives for seconds, so a tenth of a second sees it.
const SampleEvery = 100 * time.Millisecond

// Measure runs cmd to completion and measures it. On Linux the resident
// memory of cmd and all its descendants is summed from /proc every
// SampleEvery, since the build's peak is many compilers at once, which a
// single process's maximum (wait4's ru_maxrss) does not show.
func Measure(ctx context.Context, cmd *exec.Cmd) (Result, error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var max int64
		tick := time.NewTicker(SampleEvery)
		defer tick.Stop()
		for {
			if rss := treeRSS(cmd.Process.Pid); rss > max {
				max = rss
			}
			select {
			case <-done:
				peak <- max
				return
			case <-ctx.Done():
				peak <- max
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	r := Result{Wall: time.Since(start), PeakRSS: <-peak}
	if cmd.ProcessState != nil {
		r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return r, err
}

// treeRSS sums the resident memory of pid and its descendants, read from
// /proc/<pid>/stat (field 4 is the parent, field 24 the resident pages;
// proc(5)). Processes that end while being read are skipped.
func treeRSS(root int) int64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	parent := map[int]int{}
	pages := map[int]int64{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, rss, ok := readStat(filepath.Join("/proc", e.Name(), "stat"))
		if !ok {
			continue
		}
		parent[pid], pages[pid] = ppid, rss
	}
	var sum int64
	for pid, rss := range pages {
		for p := pid; p > 1; p = parent[p] {
			if p == root {
				sum += rss
				break
			}
		}
	}
	return sum * int64(os.Getpagesize())
}

// readStat reads the parent pid and resident pages from a stat file. The
// command name in field 2 may hold spaces, so fields count from its
// closing parenthesis.
func readStat(path string) (ppid int, rss int64, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 22 {
		return 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	rss, err2 := strconv.ParseInt(f[21], 10, 64)
	return ppid, rss, err1 == nil && err2 == nil
}

// Build is one way of building the program.
type Build struct {
	// Name labels the figures.
	Name string
	// Tags are the build tags (go build -tags).
	Tags []string
	// Jobs is go build -p, the packages compiled at once; zero keeps the
	// go command's default, one per CPU.
	Jobs int
}

// Flags are the go build flags of b.
func (b Build) Flags() []string {
	var f []string
	if len(b.Tags) > 0 {
		f = append(f, "-tags="+strings.Join(b.Tags, ","))
	}
	if b.Jobs > 0 {
		f = append(f, "-p="+strconv.Itoa(b.Jobs))
	}
	return f
}

// Row is the figures of one build, cold and warm.
type Row struct {
	Build Build
	// Cold starts from an empty build cache of its own.
	Cold Result
	// Warm rebuilds with that cache after a one-line edit to the main
	// package, which recompiles it and relinks.
	Warm Result
}

// Run measures b in dir (the module root) with a build cache under
// scratch that no other build shares. The module cache stays the user's:
// downloads are not build cost. The edit is made through an overlay
// (go help build, -overlay), so the checkout is never written.
func Run(ctx context.Context, dir, scratch string, b Build) (Row, error) {
	cache, err := os.MkdirTemp(scratch, "gocache-")
	if err != nil {
		return Row{}, err
	}
	// A cold cache of a full build is gigabytes: never leave it behind.
	defer func() { _ = os.RemoveAll(cache) }()
	bin := filepath.Join(scratch, "sre-lab-"+strings.ReplaceAll(b.Name, " ", "-"))
	build := func(extra ...string) (Result, error) {
		args := append(append([]string{"build", "-o", bin}, b.Flags()...), extra...)
		cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
		cmd.Dir = dir
		// GOFLAGS from the shell would change what is measured.
		cmd.Env = append(os.Environ(), "GOCACHE="+cache, "GOFLAGS=")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		r, err := Measure(ctx, cmd)
		if err != nil {
			return r, fmt.Errorf("%s: go %s: %w\n%s", b.Name, strings.Join(args, " "), err, stderr.String())
		}
		return r, nil
	}
	row := Row{Build: b}
	if row.Cold, err = build(); err != nil {
		return row, err
	}
	overlay, err := editOverlay(dir, scratch)
	if err != nil {
		return row, err
	}
	row.Warm, err = build("-overlay=" + overlay)
	return row, err
}

// editOverlay writes main.go with one more line, and the overlay file
// that puts it in place of the checkout's main.go.
func editOverlay(dir, scratch string) (string, error) {
	src, err := os.ReadFile(filepath.Join(dir, "main.go"))
	if err != nil {
		return "", err
	}
	edited := filepath.Join(scratch, "main.go")
	stamp := fmt.Sprintf("\n// edited by buildbench at %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	if err := os.WriteFile(edited, append(src, stamp...), 0o600); err != nil {
		return "", err
	}
	main, err := filepath.Abs(filepath.Join(dir, "main.go"))
	if err != nil {
		return "", err
	}
	overlay := filepath.Join(scratch, "overlay.json")
	j := fmt.Sprintf(`{"Replace":{%q:%q}}`, main, edited)
	return overlay, os.WriteFile(overlay, []byte(j), 0o600)
}

// Table prints rows as aligned figures, then each build's cold time as a
// share of the first row's.
func Table(rows []Row) string {
	var w strings.Builder
	fmt.Fprintf(&w, "%d CPUs, %s/%s, %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(&w, "%-22s %-6s %9s %9s %10s\n", "build", "cache", "wall", "cpu", "peak mem")
	for _, r := range rows {
		for _, m := range []struct {
			name string
			res  Result
		}{{"cold", r.Cold}, {"warm", r.Warm}} {
			fmt.Fprintf(&w, "%-22s %-6s %8.0fs %8.0fs %10s\n", r.Build.Name, m.name,
				m.res.Wall.Seconds(), m.res.CPU.Seconds(), gigabytes(m.res.PeakRSS))
		}
	}
	if len(rows) > 1 && rows[0].Cold.Wall > 0 {
		for _, r := range rows[1:] {
			fmt.Fprintf(&w, "%s cold build: %.2f× the %s one\n", r.Build.Name,
				r.Cold.Wall.Seconds()/rows[0].Cold.Wall.Seconds(), rows[0].Build.Name)
		}
	}
	return w.String()
}

// gigabytes prints bytes as GB with one decimal, or n/a when unmeasured.
func gigabytes(n int64) string {
	if n == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f GB", float64(n)/1e9)
}
