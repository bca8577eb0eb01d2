package preflight

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/your-org/sre-lab/config"
)

// VirtualBoxMajor is the VirtualBox release the lab's VBoxManage scripts
// are written and tested for (infra/virtualbox: the stand-in keeps
// VirtualBox 7's states, and lib.sh's need_vboxmanage asks for 7.x).
const VirtualBoxMajor = 7

// commandTimeout bounds each program a check runs; none of them should
// take more than a moment.
const commandTimeout = 30 * time.Second

// checkHost refuses a host the program itself would refuse
// (config.CheckHost), before pulumi compiles anything.
func checkHost(lab Lab, host Host) Result {
	r := Result{Check: "host", Measured: host.GOOS, Needed: "an operating system the " + string(lab.Config.Cloud) + " backend runs on"}
	if err := config.CheckHost(lab.Config, host.GOOS); err != nil {
		r.Status = Failed
		r.Fix = err.Error()
	}
	return r
}

// vboxVersion is a line of `VBoxManage --version`, which prints
// VBOX_VERSION_STRING, "r" and the build revision (7.1.6r167084;
// src/VBox/Frontends/VBoxManage/VBoxManage.cpp); distribution builds add a
// tag to the version (7.0.16_Ubuntur162802).
var vboxVersion = regexp.MustCompile(`^([0-9]+)\.([0-9]+)\.([0-9]+)\S*r[0-9]+$`)

// vboxdrvMissing is what VirtualBox's Linux launcher script (VBox.sh,
// which VBoxManage runs through) prints on stdout, before the version,
// when the host driver is not loaded, as packer's and minikube's version
// checks met it: VMs cannot start then.
const vboxdrvMissing = "vboxdrv kernel module is not loaded"

// checkVirtualBox asks VBoxManage its version: the one the scripts are
// written for, with the kernel driver that starts VMs loaded.
func checkVirtualBox(ctx context.Context) Result {
	r := Result{Check: "VirtualBox", Needed: fmt.Sprintf("VirtualBox %d.x with VBoxManage on PATH and its vboxdrv kernel module loaded", VirtualBoxMajor)}
	install := fmt.Sprintf("install VirtualBox %d (https://www.virtualbox.org/wiki/Linux_Downloads, or your distribution's package) so that VBoxManage is on PATH, or run the lab in Docker: pulumi config set sre-lab:cloud docker -s local", VirtualBoxMajor)
	if _, err := exec.LookPath("VBoxManage"); err != nil {
		r.Status, r.Measured, r.Fix = Failed, "no VBoxManage on PATH", install
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "VBoxManage", "--version").CombinedOutput()
	if err != nil {
		r.Status, r.Measured, r.Fix = Failed, fmt.Sprintf("VBoxManage --version failed (%v): %s", err, lastLine(out)), install
		return r
	}
	var version string
	var major int
	lines := bufio.NewScanner(bytes.NewReader(out))
	for lines.Scan() {
		if m := vboxVersion.FindStringSubmatch(strings.TrimSpace(lines.Text())); m != nil {
			version = m[0]
			major, _ = strconv.Atoi(m[1])
		}
	}
	switch {
	case version == "":
		r.Status, r.Measured, r.Fix = Failed, fmt.Sprintf("no version in VBoxManage --version: %q", strings.TrimSpace(string(out))), install
	case major != VirtualBoxMajor:
		r.Status, r.Measured, r.Fix = Failed, "VirtualBox "+version, install
	case bytes.Contains(out, []byte(vboxdrvMissing)):
		r.Status, r.Measured = Failed, "VirtualBox "+version+", but its "+vboxdrvMissing
		r.Fix = "build and load it with sudo /sbin/vboxconfig (it needs your kernel's headers; with Secure Boot, sign the module or turn Secure Boot off), then run this again"
	default:
		r.Measured = "VirtualBox " + version
	}
	return r
}

// lastLine is the last non-empty line of a program's output, where its
// error usually is.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// memAvailable reads MemAvailable from Linux's /proc/meminfo, in bytes:
// the kernel's estimate of what can be allocated without swapping
// (Documentation/filesystems/proc.rst), which the nodes' memory must fit in.
func memAvailable(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "MemAvailable:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("%s: MemAvailable is %q, not <n> kB", path, strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: MemAvailable: %w", path, err)
		}
		return kb << 10, nil
	}
	return 0, errors.New(path + " has no MemAvailable line")
}

func gib(bytes int64) string { return fmt.Sprintf("%.1f GiB", float64(bytes)/(1<<30)) }

// fewer is how to make the lab smaller, the same for memory and CPUs.
const fewer = "or run a smaller lab: pulumi config set sre-lab:controlPlaneCount 1 -s local and pulumi config set sre-lab:workerCount 1 -s local"

// checkMemory compares the memory Linux can hand out without swapping
// with what the nodes take.
func checkMemory(lab Lab, host Host) Result {
	r := Result{Check: "memory", Needed: fmt.Sprintf("%s available for %s", gib(lab.Room.Memory), lab.nodes())}
	if host.GOOS != "linux" {
		r.Status = Unmeasured
		r.Measured = "free memory is read from /proc/meminfo, which " + host.GOOS + " does not have"
		r.Fix = "check by hand that " + gib(lab.Room.Memory) + " are free"
		return r
	}
	avail, err := memAvailable(host.MemInfo)
	if err != nil {
		r.Status, r.Measured = Unmeasured, err.Error()
		r.Fix = "check with free -g that " + gib(lab.Room.Memory) + " are available"
		return r
	}
	r.Measured = gib(avail) + " available (MemAvailable in " + host.MemInfo + ")"
	if avail < lab.Room.Memory {
		r.Status = Failed
		r.Fix = "stop other VMs and memory-hungry programs, " + fewer
	}
	return r
}

// checkCPUs compares the host's logical CPUs with the nodes' vCPUs, one
// each, as the README's room figure counts them. What else keeps those
// CPUs busy is not measured.
func checkCPUs(lab Lab, host Host) Result {
	need := int(lab.Room.MilliCPU / 1000)
	r := Result{
		Check:    "CPUs",
		Measured: fmt.Sprintf("%d logical CPUs (how busy they are is not measured)", host.CPUs),
		Needed:   fmt.Sprintf("%d for %s", need, lab.nodes()),
	}
	if host.CPUs < need {
		r.Status = Failed
		r.Fix = "use a machine with more CPUs, " + fewer
	}
	return r
}
