// Package preflight checks, before `task up` creates anything, that this
// host can hold the local lab: the VirtualBox the scripts drive, memory and
// CPUs for the nodes, a node network nothing else on the host claims, and a
// Pulumi backend that will not stop at a passphrase prompt. Every check
// runs, and each one that fails says what it measured, what the lab needs
// and how to fix it, so one run lists everything to do.
package preflight

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"

	"github.com/your-org/sre-lab/config"
)

// Status is the outcome of one check.
type Status int

// The outcomes. Unmeasured is a check this host gives no figure for: it
// does not fail the run, and its Fix says how to check by hand.
const (
	Passed Status = iota
	Failed
	Unmeasured
)

func (s Status) String() string {
	switch s {
	case Passed:
		return "ok"
	case Failed:
		return "FAILED"
	}
	return "unmeasured"
}

// Result is one check: what this host has against what the lab needs.
type Result struct {
	// Check names what was checked.
	Check string
	Status
	// Measured is what this host has, Needed what the lab needs.
	Measured, Needed string
	// Fix says how to meet the need, or how to check it by hand when it
	// could not be measured; empty for a passed check.
	Fix string
}

// Interface is a network interface of the host and its addresses.
type Interface struct {
	Name  string
	Addrs []netip.Prefix
}

// Host is what the checks read about the machine, injected so tests run
// against stand-ins. The programs the checks call (VBoxManage, pulumi) are
// found on PATH.
type Host struct {
	// GOOS is the operating system, as runtime.GOOS names it.
	GOOS string
	// CPUs is the number of logical CPUs.
	CPUs int
	// MemInfo and Routes are Linux's /proc/meminfo and /proc/net/route.
	MemInfo, Routes string
	// Interfaces lists the network interfaces and their addresses.
	Interfaces func() ([]Interface, error)
	// LookupEnv reads the environment.
	LookupEnv func(string) (string, bool)
}

// ThisHost is the machine the command runs on.
func ThisHost() Host {
	return Host{
		GOOS:       runtime.GOOS,
		CPUs:       runtime.NumCPU(),
		MemInfo:    "/proc/meminfo",
		Routes:     "/proc/net/route",
		Interfaces: systemInterfaces,
		LookupEnv:  os.LookupEnv,
	}
}

func systemInterfaces() ([]Interface, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]Interface, 0, len(ifaces))
	for _, iface := range ifaces {
		addrs, err := iface.Addrs()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", iface.Name, err)
		}
		in := Interface{Name: iface.Name}
		for _, a := range addrs {
			ipnet, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			addr, ok := netip.AddrFromSlice(ipnet.IP)
			if !ok {
				continue
			}
			bits, _ := ipnet.Mask.Size()
			addr = addr.Unmap()
			if addr.Is4() && bits > 32 {
				bits -= 96
			}
			in.Addrs = append(in.Addrs, netip.PrefixFrom(addr, bits))
		}
		out = append(out, in)
	}
	return out, nil
}

// Run checks host against lab. Every check runs, whatever the ones before
// found.
func Run(ctx context.Context, lab Lab, host Host) []Result {
	results := []Result{checkHost(lab, host)}
	switch lab.Config.Cloud {
	case config.VirtualBox:
		results = append(results, checkVirtualBox(ctx))
	case config.Docker:
		results = append(results, checkDocker(ctx, host))
	}
	results = append(results, checkMemory(lab, host), checkCPUs(lab, host), checkNetwork(lab, host))
	login, backend := checkLogin(ctx)
	return append(results, login, checkStack(ctx, lab, backend), checkPassphrase(lab, backend, host))
}

// AllPassed reports whether no check failed.
func AllPassed(results []Result) bool {
	for _, r := range results {
		if r.Status == Failed {
			return false
		}
	}
	return true
}

// Write prints one line per check, and for a check that failed or could
// not be measured, what it found, what is needed and how to fix it.
func Write(w io.Writer, results []Result) error {
	var b strings.Builder
	for _, r := range results {
		fmt.Fprintf(&b, "%-10s %s: %s\n", r.Status, r.Check, r.Measured)
		if r.Status == Passed {
			continue
		}
		fmt.Fprintf(&b, "%-10s needed: %s\n", "", r.Needed)
		fmt.Fprintf(&b, "%-10s fix: %s\n", "", r.Fix)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
