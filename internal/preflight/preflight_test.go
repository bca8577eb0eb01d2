package preflight

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
)

// stackFile writes a stack file with the given sre-lab settings (and any
// extra top-level YAML) and reads it as the command would.
func stackFile(t *testing.T, settings map[string]string, extra string) Lab {
	t.Helper()
	var b strings.Builder
	b.WriteString(extra + "config:\n")
	for k, v := range settings {
		fmt.Fprintf(&b, "  sre-lab:%s: %s\n", k, v)
	}
	path := filepath.Join(t.TempDir(), "Pulumi.local.yaml")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	lab, err := ReadStack("local", path)
	require.NoError(t, err)
	return lab
}

var local = map[string]string{"environment": "local", "cloud": "virtualbox"}

// onPath puts stand-ins for programs, shell scripts, on a PATH of their
// own, so no real VBoxManage or pulumi of this machine answers.
func onPath(t *testing.T, programs map[string]string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the stand-ins are POSIX shell scripts")
	}
	dir := t.TempDir()
	for name, script := range programs {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755))
	}
	t.Setenv("PATH", dir)
}

// file writes content to a file of its own and returns its path.
func file(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// meminfo is /proc/meminfo with MemAvailable at gib GiB.
func meminfo(gib int) string {
	return fmt.Sprintf("MemTotal:       65536000 kB\nMemFree:         1000000 kB\nMemAvailable:   %8d kB\nBuffers:          100000 kB\n", gib<<20)
}

// routeTable is /proc/net/route with one line per iface and prefix,
// written as the kernel writes it on this machine: each address's bytes,
// in network order, read as a native 32-bit word.
func routeTable(routes ...Route) string {
	word := func(a netip.Addr) string {
		b := a.As4()
		return fmt.Sprintf("%08X", binary.NativeEndian.Uint32(b[:]))
	}
	var b strings.Builder
	b.WriteString("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n")
	for _, r := range routes {
		mask := netip.PrefixFrom(netip.IPv4Unspecified(), 0).Addr()
		if r.Dst.Bits() > 0 {
			m := ^uint32(0) << (32 - r.Dst.Bits())
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], m)
			mask = netip.AddrFrom4(a)
		}
		fmt.Fprintf(&b, "%s\t%s\t00000000\t0001\t0\t0\t0\t%s\t0\t0\t0\n", r.Iface, word(r.Dst.Addr()), word(mask))
	}
	return b.String()
}

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// linux is a host with room for the default lab and nothing in its way.
func linux(t *testing.T) Host {
	return Host{
		GOOS:    "linux",
		CPUs:    16,
		MemInfo: file(t, meminfo(32)),
		Routes:  file(t, routeTable(Route{"eth0", netip.MustParsePrefix("0.0.0.0/0")}, Route{"eth0", netip.MustParsePrefix("192.168.1.0/24")})),
		Interfaces: func() ([]Interface, error) {
			return []Interface{
				{"lo", prefixes("127.0.0.1/8", "::1/128")},
				{"eth0", prefixes("192.168.1.23/24", "fe80::1/64")},
			}, nil
		},
		LookupEnv: func(string) (string, bool) { return "", false },
	}
}

// TestReadStackFromTheRepository: the committed local stack is the
// README's lab: five nodes of 2 vCPU and 4 GiB on 192.168.56.0/24, the
// figures the memory and CPU checks hold the host to.
func TestReadStackFromTheRepository(t *testing.T) {
	lab, err := ReadStack("local", "../../Pulumi.local.yaml")
	require.NoError(t, err)
	assert.Equal(t, config.VirtualBox, lab.Config.Cloud)
	assert.Equal(t, netip.MustParsePrefix("192.168.56.0/24"), lab.Config.NetworkCIDR)
	assert.Equal(t, int64(10_000), lab.Room.MilliCPU)
	assert.Equal(t, int64(20)<<30, lab.Room.Memory)
	assert.Equal(t, "3 control planes and 2 workers of 2cpu-4gb", lab.nodes())
}

func TestReadStack(t *testing.T) {
	lab := stackFile(t, map[string]string{"environment": "local", "cloud": "docker", "workerCount": "1", "workerSize": "4cpu-8gb"}, "encryptionsalt: v1:abc\n")
	assert.Equal(t, config.DefaultDockerNetwork, lab.Config.NetworkCIDR, "the backend's default network")
	assert.Equal(t, int64(3*2_000+4_000), lab.Room.MilliCPU)
	assert.Equal(t, int64(3*4+8)<<30, lab.Room.Memory)
	assert.True(t, lab.PassphraseSalt)
	assert.Equal(t, "3 control planes of 2cpu-4gb and 1 workers of 4cpu-8gb", lab.nodes())

	lab = stackFile(t, map[string]string{"environment": "local", "networkCidr": "192.168.58.0/24"}, "")
	assert.Equal(t, netip.MustParsePrefix("192.168.58.0/24"), lab.Config.NetworkCIDR)
	assert.False(t, lab.PassphraseSalt)

	for _, tc := range []struct {
		name, yaml, stack, want string
	}{
		{"a setting the program refuses", "config:\n  sre-lab:environment: local\n  sre-lab:workerSize: 2cpu-1gb\n", "local", "sre-lab:workerSize"},
		{"a cloud stack", "config:\n  sre-lab:environment: dev\n  sre-lab:cloud: hetzner\n  sre-lab:region: fsn1\n" +
			"  sre-lab:adminCidrs: [203.0.113.7/32]\n  sre-lab:domain: lab.example.com\n  sre-lab:acmeEmail: sre@example.com\n",
			"dev", "runs on hetzner, a cloud"},
		{"not YAML", "config: [", "local", "did not find expected node content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadStack(tc.stack, file(t, tc.yaml))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := ReadStack("local", filepath.Join(t.TempDir(), "missing.yaml"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestCheckHost(t *testing.T) {
	lab := stackFile(t, local, "")
	assert.Equal(t, Passed, checkHost(lab, Host{GOOS: "linux"}).Status)
	r := checkHost(lab, Host{GOOS: "windows"})
	assert.Equal(t, Failed, r.Status)
	assert.Equal(t, "windows", r.Measured)
	assert.Equal(t, config.CheckHost(lab.Config, "windows").Error(), r.Fix, "the program's own reason")
}

// TestCheckVirtualBox runs the check against a stand-in VBoxManage
// printing what VirtualBox's own does.
func TestCheckVirtualBox(t *testing.T) {
	banner := "WARNING: The vboxdrv kernel module is not loaded. Either there is no module\n" +
		"         available for the current kernel (6.8.0-45-generic) or it failed to\n" +
		"         load. Please recompile the kernel module and install it by\n\n" +
		"           sudo /sbin/vboxconfig\n\n" +
		"         You will not be able to start VMs until this problem is fixed.\n"
	for _, tc := range []struct {
		name, script string
		status       Status
		measured     string
		fix          string
	}{
		{"7.1", "echo 7.1.6r167084", Passed, "VirtualBox 7.1.6r167084", ""},
		{"a distribution's 7.0", "echo 7.0.16_Ubuntur162802", Passed, "VirtualBox 7.0.16_Ubuntur162802", ""},
		{"6.1", "echo 6.1.50r161033", Failed, "VirtualBox 6.1.50r161033", "install VirtualBox 7"},
		{"8.0", "echo 8.0.0r170000", Failed, "VirtualBox 8.0.0r170000", "install VirtualBox 7"},
		{"the driver not loaded", "printf '%s' '" + banner + "'; echo 7.2.4r170995", Failed, "vboxdrv kernel module is not loaded", "sudo /sbin/vboxconfig"},
		{"no version", "echo 'VBoxManage: error: something else'", Failed, "no version in VBoxManage --version", "install VirtualBox 7"},
		{"an error", "echo 'VBoxManage: error: Failed to create the VirtualBox object!' >&2; exit 1", Failed, "Failed to create the VirtualBox object!", "install VirtualBox 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onPath(t, map[string]string{"VBoxManage": `[ "$*" = --version ] || exit 9` + "\n" + tc.script + "\n"})
			r := checkVirtualBox(context.Background())
			assert.Equal(t, tc.status, r.Status, r.Measured)
			assert.Contains(t, r.Measured, tc.measured)
			assert.Equal(t, "VirtualBox 7.x with VBoxManage on PATH and its vboxdrv kernel module loaded", r.Needed)
			if tc.fix == "" {
				assert.Empty(t, r.Fix)
			} else {
				assert.Contains(t, r.Fix, tc.fix)
			}
		})
	}
	t.Run("no VBoxManage", func(t *testing.T) {
		onPath(t, nil)
		r := checkVirtualBox(context.Background())
		assert.Equal(t, Failed, r.Status)
		assert.Equal(t, "no VBoxManage on PATH", r.Measured)
		assert.Contains(t, r.Fix, "sre-lab:cloud docker", "the other local backend")
	})
}

// TestVirtualBoxMajorIsTheScripts: the release the check asks for is the
// one the VirtualBox scripts ask for when VBoxManage is missing.
func TestVirtualBoxMajorIsTheScripts(t *testing.T) {
	b, err := os.ReadFile("../../infra/virtualbox/scripts/lib.sh")
	require.NoError(t, err)
	assert.Contains(t, string(b), fmt.Sprintf("install VirtualBox %d.x", VirtualBoxMajor))
}

func TestCheckMemory(t *testing.T) {
	lab := stackFile(t, local, "")
	host := linux(t)
	r := checkMemory(lab, host)
	assert.Equal(t, Passed, r.Status)
	assert.Equal(t, "32.0 GiB available (MemAvailable in "+host.MemInfo+")", r.Measured)

	host.MemInfo = file(t, meminfo(12))
	r = checkMemory(lab, host)
	assert.Equal(t, Failed, r.Status)
	assert.Equal(t, "12.0 GiB available (MemAvailable in "+host.MemInfo+")", r.Measured)
	assert.Equal(t, "20.0 GiB available for 3 control planes and 2 workers of 2cpu-4gb", r.Needed)
	assert.Contains(t, r.Fix, "sre-lab:controlPlaneCount 1")

	host.MemInfo = file(t, "MemTotal: 1000 kB\n")
	r = checkMemory(lab, host)
	assert.Equal(t, Unmeasured, r.Status)
	assert.Contains(t, r.Measured, "no MemAvailable line")

	host.GOOS = "darwin"
	r = checkMemory(lab, host)
	assert.Equal(t, Unmeasured, r.Status)
	assert.Equal(t, "free memory is read from /proc/meminfo, which darwin does not have", r.Measured)
	assert.Equal(t, "check by hand that 20.0 GiB are free", r.Fix)
}

func TestCheckCPUs(t *testing.T) {
	lab := stackFile(t, local, "")
	host := linux(t)
	assert.Equal(t, Passed, checkCPUs(lab, host).Status)
	host.CPUs = 10
	assert.Equal(t, Passed, checkCPUs(lab, host).Status, "one logical CPU per vCPU is enough")
	host.CPUs = 8
	r := checkCPUs(lab, host)
	assert.Equal(t, Failed, r.Status)
	assert.Equal(t, "8 logical CPUs (how busy they are is not measured)", r.Measured)
	assert.Equal(t, "10 for 3 control planes and 2 workers of 2cpu-4gb", r.Needed)
}

func TestReadRoutes(t *testing.T) {
	want := []Route{
		{"eth0", netip.MustParsePrefix("0.0.0.0/0")},
		{"wg0", netip.MustParsePrefix("10.8.0.0/16")},
		{"docker0", netip.MustParsePrefix("172.17.0.0/16")},
		{"tun0", netip.MustParsePrefix("192.168.56.128/25")},
	}
	got, err := readRoutes(file(t, routeTable(want...)))
	require.NoError(t, err)
	assert.Equal(t, want, got)

	// A line the kernel wrote on a little-endian machine, as read there.
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		got, err = readRoutes(file(t, "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"+
			"vboxnet0\t0038A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"))
		require.NoError(t, err)
		assert.Equal(t, []Route{{"vboxnet0", netip.MustParsePrefix("192.168.56.0/24")}}, got)
	}
	_, err = readRoutes(file(t, "Iface\tDestination\nx\tzz\t0\t0\t0\t0\t0\t0\n"))
	assert.Error(t, err)
}

func TestCheckNetwork(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings map[string]string
		// goos is the host's system; empty is linux.
		goos     string
		ifaces   []Interface
		routes   []Route
		status   Status
		measured string
		fix      string
	}{
		{name: "nothing in the way", settings: local, status: Passed,
			measured: "no interface or route of this host uses 192.168.56.0/24"},
		{name: "the lab's host-only interface from an earlier run", settings: local,
			ifaces: []Interface{{"vboxnet0", prefixes("192.168.56.1/24")}},
			routes: []Route{{"vboxnet0", netip.MustParsePrefix("192.168.56.0/24")}},
			status: Passed, measured: "vboxnet0 already holds 192.168.56.0/24 (the lab's network from an earlier run)"},
		{name: "a host-only interface with another mask", settings: local,
			ifaces: []Interface{{"vboxnet0", prefixes("192.168.56.1/21")}},
			status: Failed, measured: "vboxnet0 has address 192.168.56.1/21"},
		{name: "the home network", settings: local,
			ifaces: []Interface{{"wlan0", prefixes("192.168.56.23/24")}},
			status: Failed, measured: "wlan0 has address 192.168.56.23/24",
			fix: "free the range on wlan0, or move the lab: pulumi config set sre-lab:networkCidr 192.168.57.0/24 -s local"},
		{name: "the suggestion skips what is taken", settings: local,
			ifaces: []Interface{{"wlan0", prefixes("192.168.56.23/24")}, {"vboxnet1", prefixes("192.168.57.1/24")}},
			status: Failed, fix: "sre-lab:networkCidr 192.168.58.0/24 -s local"},
		{name: "a VPN route", settings: local,
			routes: []Route{{"tun0", netip.MustParsePrefix("192.168.0.0/16")}},
			status: Failed, measured: "tun0 has route 192.168.0.0/16",
			fix: "move the lab to a free private range"},
		{name: "Docker's bridge from an earlier run", settings: map[string]string{"environment": "local", "cloud": "docker"},
			ifaces: []Interface{{"br-0123456789ab", prefixes("10.5.0.1/24")}, {"docker0", prefixes("172.17.0.1/16")}},
			routes: []Route{{"br-0123456789ab", netip.MustParsePrefix("10.5.0.0/24")}, {"docker0", netip.MustParsePrefix("172.17.0.0/16")}},
			status: Passed, measured: "br-0123456789ab already holds 10.5.0.0/24"},
		{name: "a VirtualBox interface is not Docker's", settings: map[string]string{"environment": "local", "cloud": "docker"},
			ifaces: []Interface{{"vboxnet0", prefixes("10.5.0.1/24")}},
			status: Failed, measured: "vboxnet0 has address 10.5.0.1/24",
			fix: "sre-lab:networkCidr 10.5.1.0/24 -s local"},
		{name: "the lab's host-only network on macOS, its VMs running", settings: local, goos: "darwin",
			ifaces: []Interface{{"bridge100", prefixes("192.168.56.199/24")}},
			status: Passed, measured: "bridge100 already holds 192.168.56.0/24 (the lab's network from an earlier run)"},
		{name: "another vmnet network over the lab's on macOS", settings: local, goos: "darwin",
			ifaces: []Interface{{"bridge101", prefixes("192.168.56.1/23")}},
			status: Failed, measured: "bridge101 has address 192.168.56.1/23"},
		{name: "a bridge on Linux is not VirtualBox's", settings: local,
			ifaces: []Interface{{"bridge100", prefixes("192.168.56.199/24")}},
			status: Failed, measured: "bridge100 has address 192.168.56.199/24"},
		{name: "a host-only interface's name on macOS is not VirtualBox's there", settings: local, goos: "darwin",
			ifaces: []Interface{{"vboxnet0", prefixes("192.168.56.1/24")}},
			status: Failed, measured: "vboxnet0 has address 192.168.56.1/24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lab := stackFile(t, tc.settings, "")
			host := linux(t)
			if tc.goos != "" {
				host.GOOS = tc.goos
			}
			ifaces, _ := host.Interfaces()
			ifaces = append(ifaces, tc.ifaces...)
			host.Interfaces = func() ([]Interface, error) { return ifaces, nil }
			host.Routes = file(t, routeTable(append([]Route{{"eth0", netip.MustParsePrefix("0.0.0.0/0")}}, tc.routes...)...))
			r := checkNetwork(lab, host)
			assert.Equal(t, tc.status, r.Status, r.Measured)
			assert.Contains(t, r.Measured, tc.measured)
			assert.Contains(t, r.Fix, tc.fix)
			assert.Equal(t, lab.Config.NetworkCIDR.String()+" (sre-lab:networkCidr) used by nothing else on this host", r.Needed)
		})
	}
	t.Run("routes on another system", func(t *testing.T) {
		host := linux(t)
		host.GOOS = "darwin"
		r := checkNetwork(stackFile(t, local, ""), host)
		assert.Equal(t, Passed, r.Status)
		assert.Contains(t, r.Measured, "routes not read: they come from /proc/net/route, which darwin does not have")
	})
}

// whoami is what `pulumi whoami -v` prints (pkg/cmd/pulumi/whoami).
func whoami(url string) string {
	return `[ "$*" = "whoami -v --non-interactive" ] || { echo "unexpected: $*" >&2; exit 9; }` + "\n" +
		"printf 'User: sre\\nOrganizations: \\nBackend URL: %s\\nToken type: personal\\n' '" + url + "'\n"
}

// pulumiCLI answers `pulumi whoami -v` with the backend url and `pulumi
// stack ls --json` with stacks, as pkg/cmd/pulumi/stack/stack_ls.go
// prints them.
func pulumiCLI(url, stacks string) string {
	return `if [ "$*" = "stack ls --json --non-interactive" ]; then printf '%s\n' '` + stacks + `'; exit 0; fi` + "\n" + whoami(url)
}

func TestCheckLogin(t *testing.T) {
	onPath(t, map[string]string{"pulumi": whoami("file:///home/sre/.pulumi")})
	r, backend := checkLogin(context.Background())
	assert.Equal(t, Passed, r.Status)
	assert.Equal(t, "logged in as sre to file:///home/sre/.pulumi", r.Measured)
	assert.Equal(t, "file:///home/sre/.pulumi", backend)

	onPath(t, map[string]string{"pulumi": "echo 'error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions' >&2; exit 255\n"})
	r, backend = checkLogin(context.Background())
	assert.Equal(t, Failed, r.Status)
	assert.Contains(t, r.Measured, "PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions")
	assert.Contains(t, r.Fix, "pulumi login --local")
	assert.Empty(t, backend)

	onPath(t, nil)
	r, _ = checkLogin(context.Background())
	assert.Equal(t, Failed, r.Status)
	assert.Equal(t, "no pulumi on PATH", r.Measured)
	assert.Contains(t, r.Fix, "install the Pulumi CLI")
}

func TestCheckStack(t *testing.T) {
	const backend = "file:///home/sre/.pulumi"
	for _, tc := range []struct {
		name     string
		backend  string
		pulumi   string
		status   Status
		measured string
		fix      string
	}{
		{"the stack is there", backend,
			pulumiCLI(backend, `[{"name":"dev","current":false},{"name":"local","current":true,"updateInProgress":false}]`),
			Passed, "local on " + backend, ""},
		{"named with its organization and project", "https://api.pulumi.com",
			pulumiCLI("https://api.pulumi.com", `[{"name":"sre/sre-lab/local","current":false}]`),
			Passed, "sre/sre-lab/local on https://api.pulumi.com", ""},
		{"only other stacks", backend, pulumiCLI(backend, `[{"name":"dev"},{"name":"local-old"}]`),
			Failed, "no local among this project's stacks on " + backend + ": dev, local-old", "pulumi stack init local (once: Pulumi.local.yaml already holds its settings)"},
		{"no stacks yet", backend, pulumiCLI(backend, `[]`),
			Failed, "no stack of this project on " + backend, "pulumi stack init local"},
		{"stack ls fails", backend, `echo "error: could not read the project" >&2; exit 255` + "\n",
			Unmeasured, "pulumi stack ls failed (exit status 255): error: could not read the project", "run pulumi stack ls"},
		{"not logged in", "", pulumiCLI(backend, `[]`),
			Unmeasured, "depends on the backend", "log in first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onPath(t, map[string]string{"pulumi": tc.pulumi})
			lab := stackFile(t, local, "")
			r := checkStack(context.Background(), lab, tc.backend)
			assert.Equal(t, tc.status, r.Status, r.Measured)
			assert.Contains(t, r.Measured, tc.measured)
			assert.Contains(t, r.Fix, tc.fix)
			assert.Equal(t, "stack local on the backend this CLI is logged in to", r.Needed)
		})
	}
}

func TestCheckPassphrase(t *testing.T) {
	const secret = "correct horse battery staple"
	readable := file(t, secret+"\n")
	for _, tc := range []struct {
		name    string
		salt    bool
		backend string
		env     map[string]string
		status  Status
		says    string
	}{
		{"local backend, nothing set", false, "file:///home/sre/.pulumi", nil, Failed,
			"stacks on file:///home/sre/.pulumi encrypt their secrets with a passphrase; neither PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE is set"},
		{"object storage backend, nothing set", false, "s3://state-bucket", nil, Failed, "neither"},
		{"the passphrase set", false, "file:///home/sre/.pulumi", map[string]string{passphraseEnv: secret}, Passed, "PULUMI_CONFIG_PASSPHRASE is set"},
		{"an empty passphrase is one", false, "file:///home/sre/.pulumi", map[string]string{passphraseEnv: ""}, Passed, "PULUMI_CONFIG_PASSPHRASE is set"},
		{"a passphrase file", false, "file:///home/sre/.pulumi", map[string]string{passphraseFileEnv: readable}, Passed, "names a readable file"},
		{"an empty file variable is none", false, "file:///home/sre/.pulumi", map[string]string{passphraseFileEnv: ""}, Failed, "neither"},
		{"a file that is not there", false, "file:///home/sre/.pulumi", map[string]string{passphraseFileEnv: "/nonexistent/passphrase"}, Failed, "cannot be read"},
		{"Pulumi Cloud", false, "https://api.pulumi.com", nil, Passed, "not needed: https://api.pulumi.com encrypts the stack's secrets itself"},
		{"Pulumi Cloud with a passphrase stack", true, "https://api.pulumi.com", nil, Failed, "holds a passphrase salt (encryptionsalt)"},
		{"no backend known", false, "", nil, Unmeasured, "depends on its backend"},
		{"no backend known, but a salt", true, "", map[string]string{passphraseEnv: secret}, Passed, "PULUMI_CONFIG_PASSPHRASE is set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lab := stackFile(t, local, "")
			lab.PassphraseSalt = tc.salt
			host := linux(t)
			host.LookupEnv = func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			r := checkPassphrase(lab, tc.backend, host)
			assert.Equal(t, tc.status, r.Status, r.Measured)
			assert.Contains(t, r.Measured, tc.says)
			if tc.status == Failed {
				assert.NotEmpty(t, r.Fix)
			}
			var out strings.Builder
			require.NoError(t, Write(&out, []Result{r}))
			assert.NotContains(t, out.String(), secret, "the passphrase is never printed")
		})
	}
}

// TestRunReportsEveryFailure: on a host where everything is wrong, every
// check still runs and each failure says what it found, what is needed and
// how to fix it.
func TestRunReportsEveryFailure(t *testing.T) {
	onPath(t, map[string]string{
		"VBoxManage": "echo 6.1.50r161033\n",
		"pulumi":     pulumiCLI("file:///home/sre/.pulumi", `[{"name":"dev"}]`),
	})
	lab := stackFile(t, local, "")
	host := linux(t)
	host.CPUs = 4
	host.MemInfo = file(t, meminfo(8))
	host.Interfaces = func() ([]Interface, error) {
		return []Interface{{"wlan0", prefixes("192.168.56.23/24")}}, nil
	}
	results := Run(context.Background(), lab, host)
	var checks []string
	for _, r := range results {
		checks = append(checks, r.Check)
	}
	assert.Equal(t, []string{"host", "VirtualBox", "memory", "CPUs", "network", "Pulumi login", "stack", "passphrase"}, checks)
	assert.False(t, AllPassed(results))

	var out strings.Builder
	require.NoError(t, Write(&out, results))
	assert.Equal(t, strings.Join([]string{
		"ok         host: linux",
		"FAILED     VirtualBox: VirtualBox 6.1.50r161033",
		"           needed: VirtualBox 7.x with VBoxManage on PATH and its vboxdrv kernel module loaded",
		"           fix: " + results[1].Fix,
		"FAILED     memory: 8.0 GiB available (MemAvailable in " + host.MemInfo + ")",
		"           needed: 20.0 GiB available for 3 control planes and 2 workers of 2cpu-4gb",
		"           fix: " + results[2].Fix,
		"FAILED     CPUs: 4 logical CPUs (how busy they are is not measured)",
		"           needed: 10 for 3 control planes and 2 workers of 2cpu-4gb",
		"           fix: " + results[3].Fix,
		"FAILED     network: wlan0 has address 192.168.56.23/24",
		"           needed: 192.168.56.0/24 (sre-lab:networkCidr) used by nothing else on this host",
		"           fix: " + results[4].Fix,
		"ok         Pulumi login: logged in as sre to file:///home/sre/.pulumi",
		"FAILED     stack: no local among this project's stacks on file:///home/sre/.pulumi: dev",
		"           needed: stack local on the backend this CLI is logged in to",
		"           fix: pulumi stack init local (once: Pulumi.local.yaml already holds its settings)",
		"FAILED     passphrase: " + results[7].Measured,
		"           needed: " + results[7].Needed,
		"           fix: " + results[7].Fix,
		"",
	}, "\n"), out.String())

	t.Run("docker checks Docker, not VirtualBox", func(t *testing.T) {
		host := linux(t)
		missing := filepath.Join(t.TempDir(), "docker.sock")
		host.LookupEnv = func(k string) (string, bool) { return "unix://" + missing, k == "DOCKER_HOST" }
		results := Run(context.Background(), stackFile(t, map[string]string{"environment": "local", "cloud": "docker"}, ""), host)
		var checks []string
		for _, r := range results {
			checks = append(checks, r.Check)
		}
		assert.Contains(t, checks, "Docker")
		assert.NotContains(t, checks, "VirtualBox")
	})
}

// dockerEngine serves answer on a Unix socket, as Docker Engine serves its
// API, and returns the socket's path.
func dockerEngine(t *testing.T, answer http.HandlerFunc) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	server := httptest.NewUnstartedServer(answer)
	server.Listener = l
	server.Start()
	t.Cleanup(server.Close)
	return path
}

func TestCheckDocker(t *testing.T) {
	engine := dockerEngine(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"Platform":{"Name":"Docker Engine - Community"},"Version":"27.3.1","ApiVersion":"1.47","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64"}`))
	})
	broken := dockerEngine(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"message":"starting"}`, http.StatusInternalServerError)
	})
	stale := filepath.Join(t.TempDir(), "docker.sock")
	require.NoError(t, os.WriteFile(stale, nil, 0o600))
	for _, tc := range []struct {
		name     string
		env      map[string]string
		status   Status
		measured string
		fix      string
	}{
		{"an engine answering", map[string]string{"DOCKER_HOST": "unix://" + engine}, Passed,
			"Docker Engine 27.3.1 (API 1.47, linux) on " + engine, ""},
		{"no socket", map[string]string{"DOCKER_HOST": "unix://" + filepath.Join(t.TempDir(), "docker.sock")}, Failed,
			"no Docker Engine listens on", "sudo systemctl enable --now docker"},
		{"a socket file nothing listens on", map[string]string{"DOCKER_HOST": "unix://" + stale}, Failed,
			"no Docker Engine listens on " + stale, "install Docker Engine"},
		{"an engine that cannot answer", map[string]string{"DOCKER_HOST": "unix://" + broken}, Failed,
			"answered GET /version with 500 Internal Server Error and no version", "docker info"},
		{"a daemon over TCP", map[string]string{"DOCKER_HOST": "tcp://10.0.0.5:2376"}, Unmeasured,
			"DOCKER_HOST=tcp://10.0.0.5:2376 is not a Unix socket", "docker info"},
		{"a context", map[string]string{"DOCKER_CONTEXT": "remote"}, Unmeasured,
			"DOCKER_CONTEXT=remote chooses the daemon", "docker info"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := linux(t)
			host.LookupEnv = func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			r := checkDocker(context.Background(), host)
			assert.Equal(t, tc.status, r.Status, r.Measured)
			assert.Contains(t, r.Measured, tc.measured)
			assert.Contains(t, r.Fix, tc.fix)
			assert.Equal(t, "a running Docker Engine this user may use", r.Needed)
		})
	}
}

func TestAllPassed(t *testing.T) {
	assert.True(t, AllPassed([]Result{{Status: Passed}, {Status: Unmeasured}}), "what could not be measured does not stop the run")
	assert.False(t, AllPassed([]Result{{Status: Passed}, {Status: Failed}}))
}
