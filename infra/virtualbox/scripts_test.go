package virtualbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSleep only records, so polling loops run instantly and can be counted.
const fakeSleep = `#!/bin/sh
echo "sleep $*" >>"$FAKE_VBOX_STATE/calls"
`

var fakes = map[string]string{"sleep": fakeSleep}

// standIns are the fakes the built stand-in is: VBoxManage; curl, which
// answers downloads and the Talos API of the VMs it knows; and talosctl,
// which hands those VMs a network config.
var standIns = []string{"VBoxManage", "curl", "talosctl"}

// hostTools are the only real programs on the scripts' PATH, so a host
// that happens to have VirtualBox or curl installed cannot leak into a test,
// and a script starting to need another tool shows up here.
var hostTools = []string{"awk", "cat", "dirname", "grep", "mkdir", "mktemp", "mv", "rm", "sed", "sha256sum", "tr"}

// The VM the single-VM tests create, and the lab's second planned VM, with
// the MACs Plan derives from their addresses.
const (
	vmName   = "talos-cp-01"
	vmMAC    = "080027a8380a"
	vmIP     = "192.168.56.10"
	netIF    = "vboxnet0"
	cpRes    = "08:00:27:a8:38:0a=192.168.56.10"
	workRes  = "08:00:27:a8:38:14=192.168.56.20"
	work2Res = "08:00:27:a8:38:15=192.168.56.21"
)

// standIn is the built VBoxManage stand-in.
var standIn string

// TestMain builds the VBoxManage stand-in once for every test: a binary of
// the standard library alone starts in milliseconds, where re-running the
// test binary, which carries the Pulumi SDK, takes a hundred, and the scripts
// call VBoxManage hundreds of times.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sre-lab-vboxmanage")
	if err == nil {
		standIn, err = buildStandIn(dir)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the VBoxManage stand-in: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	// A stand-in left in the temporary directory harms nothing.
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildStandIn compiles fakevbox_test.go as a program of its own in dir.
func buildStandIn(dir string) (string, error) {
	src, err := os.ReadFile("fakevbox_test.go")
	if err != nil {
		return "", err
	}
	program := strings.Replace(string(src), "package virtualbox", "package main", 1) +
		"\nfunc main() { os.Exit(fakeMain(os.Args)) }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(program), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module vboxmanage\n\ngo 1.23\n"), 0o644); err != nil {
		return "", err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(dir, "VBoxManage")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	cmd.Dir = dir
	// The stand-in is a module of its own with no dependency: nothing of
	// the caller's module or workspace settings applies to it.
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, out)
	}
	return bin, nil
}

// lab is one isolated run environment: $LAB/bin is the whole PATH and
// $LAB/state the stand-ins' state.
type lab struct {
	t     *testing.T
	root  string
	state string
	bin   string
	// env is added to every run, after the run's own.
	env map[string]string
}

type result struct {
	stdout, stderr string
	code           int
}

// newLab prepares a lab whose VirtualBox is h, the $LAB in its paths
// standing for the lab's directory; VBoxManage and curl name the stand-in
// among the other fakes to install.
func newLab(t *testing.T, h *vboxHost, fakeNames ...string) *lab {
	t.Helper()
	root := t.TempDir()
	l := &lab{t: t, root: root, state: filepath.Join(root, "state"), bin: filepath.Join(root, "bin"), env: map[string]string{}}
	for _, dir := range []string{l.bin, l.state} {
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	for _, tool := range hostTools {
		path, err := exec.LookPath(tool)
		require.NoError(t, err)
		require.NoError(t, os.Symlink(path, filepath.Join(l.bin, tool)))
	}
	for _, name := range fakeNames {
		if slices.Contains(standIns, name) {
			require.NoError(t, os.Symlink(standIn, filepath.Join(l.bin, name)))
			continue
		}
		require.NoError(t, os.WriteFile(filepath.Join(l.bin, name), []byte(fakes[name]), 0o755))
	}
	l.setHost(h)
	return l
}

// setHost makes h what VirtualBox knows, $LAB in its paths standing for the
// lab's directory.
func (l *lab) setHost(h *vboxHost) {
	l.t.Helper()
	h.init()
	data, err := json.Marshal(h)
	require.NoError(l.t, err)
	require.NoError(l.t, os.WriteFile(filepath.Join(l.state, "vbox.json"), []byte(strings.ReplaceAll(string(data), "$LAB", l.root)), 0o644))
}

// host is what VirtualBox knows now, with the lab's directory shown as $LAB.
func (l *lab) host() *vboxHost {
	l.t.Helper()
	data, err := os.ReadFile(filepath.Join(l.state, "vbox.json"))
	require.NoError(l.t, err)
	h := &vboxHost{}
	require.NoError(l.t, json.Unmarshal([]byte(strings.ReplaceAll(string(data), l.root, "$LAB")), h))
	h.init()
	return h
}

// run executes a script as the command provider does: the text vbox.go
// hands it, passed to /bin/sh -c, configured only through the environment.
func (l *lab) run(script string, env map[string]string) result {
	l.t.Helper()
	text, err := commandText(script)
	require.NoError(l.t, err)
	return l.runText(script, text, env)
}

func (l *lab) runText(name, text string, env map[string]string) result {
	l.t.Helper()
	cmd := exec.Command("/bin/sh", "-c", text)
	cmd.Env = []string{"PATH=" + l.bin, "FAKE_VBOX_STATE=" + l.state}
	for _, m := range []map[string]string{env, l.env} {
		for k, v := range m {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		require.True(l.t, errors.As(err, &exit), "running %s: %v", name, err)
		code = exit.ExitCode()
	}
	l.t.Logf("%s stderr:\n%s", name, stderr.String())
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// calls lists every fake invocation so far, with the lab's directory shown
// as $LAB.
func (l *lab) calls() []string {
	l.t.Helper()
	return l.log("calls")
}

// events lists what happened to the VMs' guests so far, "<vm> <what>".
func (l *lab) events() []string {
	l.t.Helper()
	return l.log("events")
}

func (l *lab) log(name string) []string {
	l.t.Helper()
	data, err := os.ReadFile(filepath.Join(l.state, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(l.t, err)
	return strings.Split(strings.TrimSuffix(strings.ReplaceAll(string(data), l.root, "$LAB"), "\n"), "\n")
}

// forgetLogs starts the call and event logs afresh.
func (l *lab) forgetLogs() {
	l.t.Helper()
	for _, name := range []string{"calls", "events"} {
		err := os.Remove(filepath.Join(l.state, name))
		if !errors.Is(err, os.ErrNotExist) {
			require.NoError(l.t, err)
		}
	}
}

func count(calls []string, prefix string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// merge returns a copy of base with the entries of over replacing its own.
func merge(base, over map[string]string) map[string]string {
	env := map[string]string{}
	for k, v := range base {
		env[k] = v
	}
	for k, v := range over {
		env[k] = v
	}
	return env
}

func networkEnv() map[string]string {
	return map[string]string{
		"SRE_NET_CIDR":          "192.168.56.0/24",
		"SRE_NET_IP":            "192.168.56.1",
		"SRE_NET_MASK":          "255.255.255.0",
		"SRE_DHCP_SERVER_IP":    "192.168.56.2",
		"SRE_DHCP_LOWER":        "192.168.56.200",
		"SRE_DHCP_UPPER":        "192.168.56.250",
		"SRE_DHCP_RESERVATIONS": cpRes + " " + workRes,
		"SRE_STACK":             labStack,
	}
}

func vmEnv(l *lab) map[string]string {
	return map[string]string{
		"SRE_VM_NAME":      vmName,
		"SRE_VM_ARCH":      "amd64",
		"SRE_VM_CPUS":      "2",
		"SRE_VM_MEMORY_MB": "4096",
		"SRE_VM_DISK_MB":   "40960",
		"SRE_VM_DISK_KEY":  "sre-lab:controlPlaneDiskGiB",
		"SRE_VM_MAC":       vmMAC,
		"SRE_VM_IP":        vmIP,
		"SRE_NET_IF":       netIF,
		"SRE_ISO_PATH":     filepath.Join(l.root, "cache", "talos.iso"),
		"SRE_STACK":        labStack,
	}
}

// labStack is the stack the script tests run as; otherStack another local
// stack on the same host.
const (
	labStack   = "sre-lab/local"
	otherStack = "sre-lab/local2"
)

// record is the network command's output for an interface.
func record(name, how, before, reserved string) string {
	return fmt.Sprintf("%s\ninterface: %s\ndhcp-before: %s\nreserved: %s\n", name, how, before, reserved)
}

// The fresh install's vboxnet0 DHCP server, as dhcp_server prints it.
const freshServer = "192.168.56.100 255.255.255.0 192.168.56.101 192.168.56.254 Yes"

// labServer is the DHCP server network-create.sh sets up, with fixed saved
// reservations ("mac=ip" words).
func labServer(fixed ...string) *dhcpServer {
	s := &dhcpServer{IP: "192.168.56.2", Mask: "255.255.255.0", Lower: "192.168.56.200", Upper: "192.168.56.250", Enabled: true,
		Fixed: map[string]string{}, Leases: map[string]string{}}
	for _, r := range fixed {
		mac, ip, _ := strings.Cut(r, "=")
		s.Fixed[mac] = ip
	}
	return s
}

// labHost is a host where network-create.sh made vboxnet0 and its server
// for labStack.
func labHost(fixed ...string) *vboxHost {
	return &vboxHost{
		Interfaces: map[string]*hostOnlyIf{netIF: {IP: "192.168.56.1", Mask: "255.255.255.0"}},
		DHCP:       map[string]*dhcpServer{vboxnet0Network: labServer(fixed...)},
		Extra:      map[string]string{ownerKey(netIF): labStack},
	}
}

// ownerKey is the global extradata key naming the local stack that holds
// the lab's network on interface name.
func ownerKey(name string) string { return "sre-lab/network/" + name + "/stack" }

// ownedBy returns h with the lab's network on vboxnet0 recorded as stack's,
// or with no owner record when stack is empty.
func ownedBy(h *vboxHost, stack string) *vboxHost {
	return with(h, func(h *vboxHost) {
		delete(h.Extra, ownerKey(netIF))
		if stack != "" {
			if h.Extra == nil {
				h.Extra = map[string]string{}
			}
			h.Extra[ownerKey(netIF)] = stack
		}
	})
}

// clone copies a host through its JSON form.
func clone(h *vboxHost) *vboxHost {
	data, err := json.Marshal(h)
	if err != nil {
		panic(err)
	}
	var c vboxHost
	if err := json.Unmarshal(data, &c); err != nil {
		panic(err)
	}
	c.init()
	return &c
}

// scriptCase is one run of a script against a prepared host.
type scriptCase struct {
	name       string
	host       *vboxHost
	env        map[string]string
	fail       string // argv prefix of the VBoxManage call that fails
	wantCode   int
	wantStdout string
	wantCalls  []string
	wantStderr []string // substrings
	// wantHost is VirtualBox's settings after the run; nil: the host the
	// case started from.
	wantHost *vboxHost
}

func (c scriptCase) start() *vboxHost {
	if c.host == nil {
		return emptyHost()
	}
	return clone(c.host)
}

func (c scriptCase) check(t *testing.T, l *lab, r result) {
	t.Helper()
	assert.Equal(t, c.wantCode, r.code, "exit code")
	assert.Equal(t, c.wantStdout, r.stdout, "stdout")
	assert.Equal(t, c.wantCalls, l.calls(), "calls")
	for _, s := range c.wantStderr {
		assert.Contains(t, r.stderr, s)
	}
	want := c.wantHost
	if want == nil {
		want = c.start()
	}
	assert.Equal(t, clone(want).settings(), l.host().settings(), "VirtualBox settings")
}

// VBoxManage calls the network scripts make.
const (
	listIfs  = "VBoxManage list hostonlyifs"
	listDHCP = "VBoxManage list dhcpservers"
	createIf = "VBoxManage hostonlyif create"
)

func ipconfigCall(name string) string {
	return "VBoxManage hostonlyif ipconfig " + name + " --ip 192.168.56.1 --netmask 255.255.255.0"
}

func removeIfCall(name string) string { return "VBoxManage hostonlyif remove " + name }

// getOwnerCall reads the owner record of the network on name, setOwnerCall
// records labStack in it, clearOwnerCall removes it.
func getOwnerCall(name string) string { return "VBoxManage getextradata global " + ownerKey(name) }
func setOwnerCall(name string) string {
	return "VBoxManage setextradata global " + ownerKey(name) + " " + labStack
}
func clearOwnerCall(name string) string { return "VBoxManage setextradata global " + ownerKey(name) }

// labDHCPCall gives a network's server the lab's settings.
func labDHCPCall(verb, name string) string {
	return "VBoxManage dhcpserver " + verb + " --network=HostInterfaceNetworking-" + name +
		" --server-ip=192.168.56.2 --netmask=255.255.255.0 --lower-ip=192.168.56.200 --upper-ip=192.168.56.250 --enable"
}

// freshDHCPCall gives vboxnet0's server back the settings of a fresh install.
const freshDHCPCall = "VBoxManage dhcpserver modify --network=HostInterfaceNetworking-vboxnet0" +
	" --server-ip=192.168.56.100 --netmask=255.255.255.0 --lower-ip=192.168.56.101 --upper-ip=192.168.56.254 --enable"

func reserveCall(name, res string) string {
	mac, ip, _ := strings.Cut(res, "=")
	return "VBoxManage dhcpserver modify --network=HostInterfaceNetworking-" + name + " --mac-address=" + mac + " --fixed-address=" + ip
}

func unreserveCall(name, res string) string {
	mac, _, _ := strings.Cut(res, "=")
	return "VBoxManage dhcpserver modify --network=HostInterfaceNetworking-" + name + " --mac-address=" + mac + " --remove-config"
}

func restartCall(name string) string {
	return "VBoxManage dhcpserver restart --network=HostInterfaceNetworking-" + name
}

func removeDHCPCall(name string) string {
	return "VBoxManage dhcpserver remove --network=HostInterfaceNetworking-" + name
}

// vagrantHost has vboxnet0 at the lab's host address, as Vagrant leaves it,
// with the default DHCP server already serving a VM of the user's.
func vagrantHost() *vboxHost {
	h := freshInstall()
	h.Interfaces = map[string]*hostOnlyIf{netIF: {IP: "192.168.56.1", Mask: "255.255.255.0"}}
	h.init()
	s := h.DHCP[vboxnet0Network]
	s.start()
	s.Leases["08:00:27:00:00:01"] = "192.168.56.101"
	h.VMs["vagrant-box"] = &fakeVM{State: "running", NIC: "hostonly", Adapter: netIF, MAC: "08:00:27:00:00:01", Address: "192.168.56.101"}
	return h
}

// with returns h changed by f, leaving h as it was.
func with(h *vboxHost, f func(*vboxHost)) *vboxHost {
	c := clone(h)
	f(c)
	return c
}

func TestScriptNetworkCreate(t *testing.T) {
	both := cpRes + " " + workRes
	lab0 := labHost(cpRes, workRes)
	for _, c := range []scriptCase{
		{
			// VirtualBox's own default server for vboxnet0 makes
			// 'dhcpserver add' fail; it is modified instead.
			name:       "fresh install: takes over the default DHCP server of vboxnet0",
			host:       freshInstall(),
			wantStdout: record(netIF, "created", freshServer, both),
			wantCalls: []string{listIfs, createIf, ipconfigCall(netIF), listDHCP, listDHCP, labDHCPCall("modify", netIF),
				reserveCall(netIF, cpRes), reserveCall(netIF, workRes), setOwnerCall(netIF), restartCall(netIF)},
			wantStderr: []string{"not running"},
			wantHost:   lab0,
		},
		{
			// 192.168.56.10 shares a prefix with the host address but is no clash.
			name: "other interfaces: takes the lowest free name and adds a server",
			host: with(freshInstall(), func(h *vboxHost) {
				h.Interfaces[netIF] = &hostOnlyIf{IP: "192.168.56.10", Mask: "255.255.255.0"}
				h.Interfaces["vboxnet2"] = &hostOnlyIf{IP: "10.0.0.1", Mask: "255.255.255.0"}
			}),
			wantStdout: record("vboxnet1", "created", "none", both),
			wantCalls: []string{listIfs, createIf, ipconfigCall("vboxnet1"), listDHCP, listDHCP, labDHCPCall("add", "vboxnet1"),
				reserveCall("vboxnet1", cpRes), reserveCall("vboxnet1", workRes), setOwnerCall("vboxnet1"), restartCall("vboxnet1")},
			wantHost: with(freshInstall(), func(h *vboxHost) {
				h.Interfaces[netIF] = &hostOnlyIf{IP: "192.168.56.10", Mask: "255.255.255.0"}
				h.Interfaces["vboxnet2"] = &hostOnlyIf{IP: "10.0.0.1", Mask: "255.255.255.0"}
				h.Interfaces["vboxnet1"] = &hostOnlyIf{IP: "192.168.56.1", Mask: "255.255.255.0"}
				h.DHCP["HostInterfaceNetworking-vboxnet1"] = labServer(cpRes, workRes)
				h.Extra = map[string]string{ownerKey("vboxnet1"): labStack}
			}),
		},
		{
			name:       "vboxnet0 already at the host address is adopted",
			host:       vagrantHost(),
			wantStdout: record(netIF, "adopted", freshServer, both),
			wantCalls: []string{listIfs, getOwnerCall(netIF), listDHCP, listDHCP, labDHCPCall("modify", netIF),
				reserveCall(netIF, cpRes), reserveCall(netIF, workRes), setOwnerCall(netIF), restartCall(netIF)},
			wantStderr: []string{"using host-only interface vboxnet0", "destroy will leave it"},
			wantHost: ownedBy(with(vagrantHost(), func(h *vboxHost) {
				h.DHCP[vboxnet0Network] = labServer(cpRes, workRes)
			}), labStack),
		},
		{
			// Networks made before they recorded their stack have no owner
			// record: the first stack to run adopts the lab's network.
			name:       "the lab's network with no owner record is adopted",
			host:       ownedBy(labHost(cpRes, workRes), ""),
			wantStdout: record(netIF, "adopted", "192.168.56.2 255.255.255.0 192.168.56.200 192.168.56.250 Yes", both),
			wantCalls: []string{listIfs, getOwnerCall(netIF), listDHCP, listDHCP, labDHCPCall("modify", netIF),
				reserveCall(netIF, cpRes), reserveCall(netIF, workRes), setOwnerCall(netIF), restartCall(netIF)},
			wantHost: lab0,
		},
		{
			name:      "another local stack's network is refused, naming it",
			host:      ownedBy(labHost(cpRes, workRes), otherStack),
			wantCode:  1,
			wantCalls: []string{listIfs, getOwnerCall(netIF)},
			wantStderr: []string{"vboxnet0", "belongs to local stack sre-lab/local2",
				"pulumi destroy -s local2"},
		},
		{
			name:     "recording the owner fails: everything undone",
			host:     freshInstall(),
			fail:     "setextradata global",
			wantCode: 1,
			wantCalls: []string{listIfs, createIf, ipconfigCall(netIF), listDHCP, listDHCP, labDHCPCall("modify", netIF),
				reserveCall(netIF, cpRes), reserveCall(netIF, workRes), setOwnerCall(netIF),
				listDHCP, unreserveCall(netIF, cpRes), unreserveCall(netIF, workRes), listDHCP, freshDHCPCall, restartCall(netIF),
				removeIfCall(netIF)},
			wantStderr: []string{"recording local stack sre-lab/local"},
		},
		{
			name:      "host address with another mask is refused",
			host:      with(freshInstall(), func(h *vboxHost) { h.Interfaces[netIF] = &hostOnlyIf{IP: "192.168.56.1", Mask: "255.255.0.0"} }),
			wantCode:  1,
			wantCalls: []string{listIfs},
			wantStderr: []string{"vboxnet0", "255.255.0.0", "255.255.255.0", "192.168.56.0/24",
				"VBoxManage hostonlyif ipconfig vboxnet0 --ip 192.168.56.1 --netmask 255.255.255.0",
				"VBoxManage hostonlyif remove vboxnet0", "sre-lab:networkCidr"},
		},
		{
			name:      "interface creation fails",
			host:      freshInstall(),
			fail:      "hostonlyif create",
			wantCode:  1,
			wantCalls: []string{listIfs, createIf},
		},
		{
			name:       "ipconfig fails removes the interface",
			host:       freshInstall(),
			fail:       "hostonlyif ipconfig",
			wantCode:   1,
			wantCalls:  []string{listIfs, createIf, ipconfigCall(netIF), removeIfCall(netIF)},
			wantStderr: []string{"/etc/vbox/networks.conf", "192.168.56.0/21"},
		},
		{
			name:     "DHCP setup fails: interface removed, default server given back",
			host:     freshInstall(),
			fail:     "dhcpserver modify --network=HostInterfaceNetworking-vboxnet0 --server-ip=192.168.56.2",
			wantCode: 1,
			wantCalls: []string{listIfs, createIf, ipconfigCall(netIF), listDHCP, listDHCP, labDHCPCall("modify", netIF),
				listDHCP, unreserveCall(netIF, cpRes), unreserveCall(netIF, workRes), listDHCP, freshDHCPCall, restartCall(netIF),
				removeIfCall(netIF)},
			wantStderr: []string{"DHCP server of vboxnet0"},
		},
		{
			name:     "reservation fails: everything undone",
			host:     freshInstall(),
			fail:     "dhcpserver modify --network=HostInterfaceNetworking-vboxnet0 --mac-address=08:00:27:a8:38:14 --fixed",
			wantCode: 1,
			wantCalls: []string{listIfs, createIf, ipconfigCall(netIF), listDHCP, listDHCP, labDHCPCall("modify", netIF),
				reserveCall(netIF, cpRes), reserveCall(netIF, workRes),
				listDHCP, unreserveCall(netIF, cpRes), unreserveCall(netIF, workRes), listDHCP, freshDHCPCall, restartCall(netIF),
				removeIfCall(netIF)},
			wantStderr: []string{"reservations"},
		},
		{
			name:     "adopted interface without a server: a failure removes only the server",
			host:     with(emptyHost(), func(h *vboxHost) { h.Interfaces[netIF] = &hostOnlyIf{IP: "192.168.56.1", Mask: "255.255.255.0"} }),
			fail:     "dhcpserver modify --network=HostInterfaceNetworking-vboxnet0 --mac-address=08:00:27:a8:38:14 --fixed",
			wantCode: 1,
			wantCalls: []string{listIfs, getOwnerCall(netIF), listDHCP, listDHCP, labDHCPCall("add", netIF),
				reserveCall(netIF, cpRes), reserveCall(netIF, workRes), listDHCP, removeDHCPCall(netIF)},
		},
		{
			name:       "malformed reservations",
			host:       freshInstall(),
			env:        map[string]string{"SRE_DHCP_RESERVATIONS": "080027a8380a=192.168.56.10"},
			wantCode:   1,
			wantStderr: []string{"SRE_DHCP_RESERVATIONS", "080027a8380a=192.168.56.10"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, c.start(), "VBoxManage")
			env := merge(networkEnv(), c.env)
			env["FAKE_VBOX_FAIL"] = c.fail
			c.check(t, l, l.run("network-create.sh", env))
		})
	}
}

// The regression for the first real run on a fresh host: a failed run
// leaves the host as it found it, so the next one succeeds.
func TestScriptNetworkCreateRetry(t *testing.T) {
	l := newLab(t, freshInstall(), "VBoxManage")
	failed := l.run("network-create.sh", merge(networkEnv(), map[string]string{
		"FAKE_VBOX_FAIL": "dhcpserver modify --network=HostInterfaceNetworking-vboxnet0 --mac-address=08:00:27:a8:38:14 --fixed",
	}))
	require.Equal(t, 1, failed.code)
	assert.Equal(t, freshInstall().settings(), l.host().settings(), "the failed run is undone")

	retried := l.run("network-create.sh", networkEnv())
	require.Equal(t, 0, retried.code)
	assert.Equal(t, record(netIF, "created", freshServer, cpRes+" "+workRes), retried.stdout)
	assert.Equal(t, clone(labHost(cpRes, workRes)).settings(), l.host().settings())
}

func TestScriptNetworkUpdate(t *testing.T) {
	running := func(h *vboxHost) *vboxHost {
		h.init()
		h.DHCP[vboxnet0Network].start()
		return h
	}
	for _, c := range []struct {
		scriptCase
		wantRunning []string // reservations the running server serves; nil: not running
	}{
		{
			scriptCase: scriptCase{
				name: "adds a worker's reservation and restarts the running server",
				host: running(labHost(cpRes, workRes)),
				env: map[string]string{
					"PULUMI_COMMAND_STDOUT": strings.TrimSuffix(record(netIF, "created", "none", cpRes+" "+workRes), "\n"),
					"SRE_DHCP_RESERVATIONS": cpRes + " " + workRes + " " + work2Res,
				},
				wantStdout: record(netIF, "created", "none", cpRes+" "+workRes+" "+work2Res),
				wantCalls: []string{getOwnerCall(netIF), setOwnerCall(netIF), listDHCP, labDHCPCall("modify", netIF),
					reserveCall(netIF, cpRes), reserveCall(netIF, workRes), reserveCall(netIF, work2Res), restartCall(netIF)},
				wantHost: labHost(cpRes, workRes, work2Res),
			},
			wantRunning: []string{cpRes, workRes, work2Res},
		},
		{
			scriptCase: scriptCase{
				name: "drops the reservation of a removed worker",
				host: running(labHost(cpRes, workRes, work2Res)),
				env: map[string]string{
					"PULUMI_COMMAND_STDOUT": strings.TrimSuffix(record(netIF, "created", "none", cpRes+" "+workRes+" "+work2Res), "\n"),
					"SRE_DHCP_RESERVATIONS": cpRes + " " + workRes,
				},
				wantStdout: record(netIF, "created", "none", cpRes+" "+workRes),
				wantCalls: []string{getOwnerCall(netIF), setOwnerCall(netIF), listDHCP, labDHCPCall("modify", netIF), unreserveCall(netIF, work2Res),
					reserveCall(netIF, cpRes), reserveCall(netIF, workRes), restartCall(netIF)},
				wantHost: labHost(cpRes, workRes),
			},
			wantRunning: []string{cpRes, workRes},
		},
		{
			scriptCase: scriptCase{
				name: "a server that is not running is left for the first VM to start",
				host: labHost(cpRes),
				env: map[string]string{
					"PULUMI_COMMAND_STDOUT": record(netIF, "adopted", freshServer, cpRes),
				},
				wantStdout: record(netIF, "adopted", freshServer, cpRes+" "+workRes),
				wantCalls: []string{getOwnerCall(netIF), setOwnerCall(netIF), listDHCP, labDHCPCall("modify", netIF),
					reserveCall(netIF, cpRes), reserveCall(netIF, workRes), restartCall(netIF)},
				wantStderr: []string{"not running"},
				wantHost:   labHost(cpRes, workRes),
			},
		},
		{
			// Before the network owned the reservations, its output was
			// the interface name and each VM made its own.
			scriptCase: scriptCase{
				name:       "record of an older create holding only the name",
				host:       running(labHost(cpRes)),
				env:        map[string]string{"PULUMI_COMMAND_STDOUT": "vboxnet0"},
				wantStdout: record(netIF, "created", "none", cpRes+" "+workRes),
				wantCalls: []string{getOwnerCall(netIF), setOwnerCall(netIF), listDHCP, labDHCPCall("modify", netIF),
					reserveCall(netIF, cpRes), reserveCall(netIF, workRes), restartCall(netIF)},
				wantHost: labHost(cpRes, workRes),
			},
			wantRunning: []string{cpRes, workRes},
		},
		{
			// Networks made before they recorded their stack have no owner
			// record: the first stack to run adopts the lab's network.
			scriptCase: scriptCase{
				name:       "a network with no owner record is adopted",
				host:       ownedBy(labHost(cpRes), ""),
				env:        map[string]string{"PULUMI_COMMAND_STDOUT": record(netIF, "created", "none", cpRes)},
				wantStdout: record(netIF, "created", "none", cpRes+" "+workRes),
				wantCalls: []string{getOwnerCall(netIF), setOwnerCall(netIF), listDHCP, labDHCPCall("modify", netIF),
					reserveCall(netIF, cpRes), reserveCall(netIF, workRes), restartCall(netIF)},
				wantHost: labHost(cpRes, workRes),
			},
		},
		{
			scriptCase: scriptCase{
				name:       "another local stack's network is refused, naming it",
				host:       ownedBy(labHost(cpRes), otherStack),
				env:        map[string]string{"PULUMI_COMMAND_STDOUT": record(netIF, "adopted", freshServer, cpRes)},
				wantCode:   1,
				wantCalls:  []string{getOwnerCall(netIF)},
				wantStderr: []string{"belongs to local stack sre-lab/local2", "pulumi destroy -s local2"},
			},
		},
		{
			scriptCase: scriptCase{
				name: "a server removed by hand is added again",
				host: with(labHost(), func(h *vboxHost) { delete(h.DHCP, vboxnet0Network) }),
				env: map[string]string{
					"PULUMI_COMMAND_STDOUT": record(netIF, "created", "none", cpRes+" "+workRes),
				},
				wantStdout: record(netIF, "created", "none", cpRes+" "+workRes),
				wantCalls: []string{getOwnerCall(netIF), setOwnerCall(netIF), listDHCP, labDHCPCall("add", netIF),
					reserveCall(netIF, cpRes), reserveCall(netIF, workRes), restartCall(netIF)},
				wantHost: labHost(cpRes, workRes),
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, c.start(), "VBoxManage")
			c.check(t, l, l.run("network-update.sh", merge(networkEnv(), c.env)))
			if c.wantCode != 0 {
				return
			}
			got := l.host().DHCP[vboxnet0Network]
			require.NotNil(t, got)
			if c.wantRunning == nil {
				assert.Nil(t, got.Running, "running config")
				return
			}
			require.NotNil(t, got.Running, "the server must run")
			assert.Equal(t, labServer(c.wantRunning...).Fixed, got.Running.Fixed, "reservations the running server serves")
		})
	}
}

func TestScriptNetworkDelete(t *testing.T) {
	both := cpRes + " " + workRes
	for _, c := range []scriptCase{
		{
			name:      "interface and server the lab added are removed",
			host:      with(labHost(cpRes, workRes), func(h *vboxHost) { h.Interfaces["vboxnet1"] = &hostOnlyIf{IP: "10.0.0.1", Mask: "255.255.255.0"} }),
			env:       map[string]string{"PULUMI_COMMAND_STDOUT": record(netIF, "created", "none", both)},
			wantCalls: []string{getOwnerCall(netIF), listDHCP, removeDHCPCall(netIF), clearOwnerCall(netIF), listIfs, removeIfCall(netIF)},
			wantHost:  with(emptyHost(), func(h *vboxHost) { h.Interfaces["vboxnet1"] = &hostOnlyIf{IP: "10.0.0.1", Mask: "255.255.255.0"} }),
		},
		{
			name: "fresh install: the default server is given back",
			host: labHost(cpRes, workRes),
			env:  map[string]string{"PULUMI_COMMAND_STDOUT": record(netIF, "created", freshServer, both)},
			wantCalls: []string{getOwnerCall(netIF), listDHCP, unreserveCall(netIF, cpRes), unreserveCall(netIF, workRes), listDHCP, freshDHCPCall, restartCall(netIF),
				clearOwnerCall(netIF), listIfs, removeIfCall(netIF)},
			wantHost: freshInstall(),
		},
		{
			name: "an adopted interface stays, with its server as it was",
			host: labHost(cpRes, workRes),
			env:  map[string]string{"PULUMI_COMMAND_STDOUT": record(netIF, "adopted", freshServer, both)},
			wantCalls: []string{getOwnerCall(netIF), listDHCP, unreserveCall(netIF, cpRes), unreserveCall(netIF, workRes), listDHCP, freshDHCPCall, restartCall(netIF),
				clearOwnerCall(netIF)},
			wantStderr: []string{"leaving host-only interface vboxnet0"},
			wantHost:   with(freshInstall(), func(h *vboxHost) { h.Interfaces[netIF] = &hostOnlyIf{IP: "192.168.56.1", Mask: "255.255.255.0"} }),
		},
		{
			name:      "record of an older create holding only the name",
			host:      labHost(cpRes),
			env:       map[string]string{"PULUMI_COMMAND_STDOUT": "vboxnet0"},
			wantCalls: []string{getOwnerCall(netIF), listDHCP, removeDHCPCall(netIF), clearOwnerCall(netIF), listIfs, removeIfCall(netIF)},
			wantHost:  emptyHost(),
		},
		{
			// The second stack's state holds the network when it adopted
			// the first one's before networks recorded their stack.
			name:       "another local stack's network is left whole",
			host:       ownedBy(labHost(cpRes, workRes), otherStack),
			env:        map[string]string{"PULUMI_COMMAND_STDOUT": record(netIF, "adopted", freshServer, both)},
			wantCalls:  []string{getOwnerCall(netIF)},
			wantStderr: []string{"leaving host-only network vboxnet0", "sre-lab/local2"},
		},
		{
			// A state from before networks recorded their stack passes
			// no SRE_STACK.
			name:      "a state without a stack gives back a network with no owner record",
			host:      ownedBy(labHost(cpRes, workRes), ""),
			env:       map[string]string{"PULUMI_COMMAND_STDOUT": record(netIF, "created", "none", both), "SRE_STACK": ""},
			wantCalls: []string{getOwnerCall(netIF), listDHCP, removeDHCPCall(netIF), clearOwnerCall(netIF), listIfs, removeIfCall(netIF)},
			wantHost:  emptyHost(),
		},
		{
			name:      "everything already gone",
			env:       map[string]string{"PULUMI_COMMAND_STDOUT": record(netIF, "created", "none", both)},
			wantCalls: []string{getOwnerCall(netIF), listDHCP, clearOwnerCall(netIF), listIfs},
		},
		{
			name: "create never printed a name",
			host: labHost(cpRes),
			env:  map[string]string{"PULUMI_COMMAND_STDOUT": ""},
		},
		{
			name:      "interface removal fails",
			host:      with(labHost(), func(h *vboxHost) { delete(h.DHCP, vboxnet0Network) }),
			env:       map[string]string{"PULUMI_COMMAND_STDOUT": record(netIF, "created", "none", both)},
			fail:      "hostonlyif remove",
			wantCode:  1,
			wantCalls: []string{getOwnerCall(netIF), listDHCP, clearOwnerCall(netIF), listIfs, removeIfCall(netIF)},
			wantHost:  with(emptyHost(), func(h *vboxHost) { h.Interfaces[netIF] = &hostOnlyIf{IP: "192.168.56.1", Mask: "255.255.255.0"} }),
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, c.start(), "VBoxManage")
			env := merge(map[string]string{"SRE_STACK": labStack}, c.env)
			c.check(t, l, l.run("network-delete.sh", merge(env, map[string]string{"FAKE_VBOX_FAIL": c.fail})))
		})
	}
}

func TestScriptNetworkDeleteTwice(t *testing.T) {
	l := newLab(t, labHost(cpRes), "VBoxManage")
	env := map[string]string{"PULUMI_COMMAND_STDOUT": record(netIF, "created", "none", cpRes), "SRE_STACK": labStack}
	for i := range 2 {
		r := l.run("network-delete.sh", env)
		require.Equal(t, 0, r.code, "run %d", i+1)
		assert.Empty(t, r.stdout)
	}
	assert.Equal(t, 1, count(l.calls(), "VBoxManage hostonlyif remove"))
	assert.Equal(t, emptyHost().settings(), l.host().settings())
}

// Create then delete gives every kind of host back as it was.
func TestScriptNetworkRoundTrip(t *testing.T) {
	for name, h := range map[string]*vboxHost{
		"fresh install":      freshInstall(),
		"no DHCP server":     emptyHost(),
		"Vagrant's vboxnet0": vagrantHost(),
	} {
		t.Run(name, func(t *testing.T) {
			l := newLab(t, clone(h), "VBoxManage")
			created := l.run("network-create.sh", networkEnv())
			require.Equal(t, 0, created.code)
			deleted := l.run("network-delete.sh", map[string]string{"PULUMI_COMMAND_STDOUT": strings.TrimSuffix(created.stdout, "\n"), "SRE_STACK": labStack})
			require.Equal(t, 0, deleted.code)
			assert.Equal(t, clone(h).settings(), l.host().settings())
		})
	}
}

func TestScriptISOFetch(t *testing.T) {
	const (
		url  = "https://github.com/siderolabs/talos/releases/download/v1.12.4/metal-amd64.iso"
		sums = "https://github.com/siderolabs/talos/releases/download/v1.12.4/sha256sum.txt"
	)
	listed := fmt.Sprintf("%x", sha256.Sum256([]byte(fakeISO)))
	other := fmt.Sprintf("%x", sha256.Sum256([]byte("another iso\n")))
	for _, c := range []struct {
		name       string
		existing   *string // content of the ISO before the run
		sums       *string // the release's sha256sum.txt; nil: the stand-in's own
		noCurl     bool
		noHasher   bool
		curlFails  bool
		wantCode   int
		wantISO    bool // the verified ISO is there after the run
		wantCalls  []string
		wantStderr []string
	}{
		{name: "downloads a missing ISO and checks it", wantISO: true, wantCalls: []string{"sums", "iso"}},
		{name: "keeps a cached ISO the release lists", existing: ptr(fakeISO), wantISO: true, wantCalls: []string{"sums"}},
		{name: "replaces a cached ISO the release does not list", existing: ptr("stale\n"), wantISO: true, wantCalls: []string{"sums", "iso"}},
		{name: "downloads over an empty file", existing: ptr(""), wantISO: true, wantCalls: []string{"sums", "iso"}},
		{name: "refuses an ISO with another checksum", sums: ptr(other + "  metal-amd64.iso\n"), wantCode: 1,
			wantCalls: []string{"sums", "iso"}, wantStderr: []string{"has sha256 " + listed, "lists " + other, "not using it"}},
		{name: "accepts a binary-mode line", sums: ptr(listed + " *metal-amd64.iso\n"), wantISO: true, wantCalls: []string{"sums", "iso"}},
		{name: "refuses a release that lists no ISO", sums: ptr(listed + "  talosctl-linux-amd64\n"), wantCode: 1,
			wantCalls: []string{"sums"}, wantStderr: []string{"lists no single sha256 for metal-amd64.iso"}},
		{name: "download fails", curlFails: true, wantCode: 1, wantCalls: []string{"sums"}, wantStderr: []string{sums}},
		{name: "curl missing", noCurl: true, wantCode: 1, wantStderr: []string{"curl was not found"}},
		{name: "no checksum tool", noHasher: true, wantCode: 1, wantStderr: []string{"neither sha256sum nor shasum"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fakeNames := []string{"curl"}
			if c.noCurl {
				fakeNames = nil
			}
			l := newLab(t, emptyHost(), fakeNames...)
			if c.noHasher {
				require.NoError(t, os.Remove(filepath.Join(l.bin, "sha256sum")))
			}
			iso := filepath.Join(l.root, "cache", "talos", "v1.12.4", "metal-amd64.iso")
			if c.existing != nil {
				require.NoError(t, os.MkdirAll(filepath.Dir(iso), 0o755))
				require.NoError(t, os.WriteFile(iso, []byte(*c.existing), 0o644))
			}
			env := map[string]string{"SRE_ISO_URL": url, "SRE_ISO_SUMS_URL": sums, "SRE_ISO_PATH": iso}
			if c.curlFails {
				env["FAKE_CURL_FAIL"] = "1"
			}
			if c.sums != nil {
				env["FAKE_CURL_SUMS"] = *c.sums
			}
			r := l.run("iso-fetch.sh", env)

			assert.Equal(t, c.wantCode, r.code, "exit code")
			calls := map[string]string{
				"sums": "curl -fsSL --retry 3 -o $LAB/cache/talos/v1.12.4/metal-amd64.iso.sha256sum.txt " + sums,
				"iso":  "curl -fsSL --retry 3 -o $LAB/cache/talos/v1.12.4/metal-amd64.iso.part " + url,
			}
			var wantCalls []string
			for _, call := range c.wantCalls {
				wantCalls = append(wantCalls, calls[call])
			}
			assert.Equal(t, wantCalls, l.calls())
			for _, s := range c.wantStderr {
				assert.Contains(t, r.stderr, s)
			}
			assert.NoFileExists(t, iso+".part")
			assert.NoFileExists(t, iso+".sha256sum.txt")
			if !c.wantISO {
				assert.Empty(t, r.stdout)
				if c.existing == nil {
					assert.NoFileExists(t, iso)
				}
				return
			}
			assert.Equal(t, iso+"\n", r.stdout)
			got, err := os.ReadFile(iso)
			require.NoError(t, err)
			assert.Equal(t, fakeISO, string(got))
		})
	}
}

func ptr(s string) *string { return &s }

// vmCalls names the VBoxManage calls vm-create.sh can make.
var vmCalls = struct {
	showvminfo, createvm, modifyvm, storagectl, createmedium, attachDisk, attachISO, start, closeDisk, unregister,
	getOwner, getComplete, setOwner, setComplete, poweroff, detachISO string
}{
	showvminfo:   "VBoxManage showvminfo talos-cp-01 --machinereadable",
	getOwner:     "VBoxManage getextradata talos-cp-01 sre-lab/stack",
	getComplete:  "VBoxManage getextradata talos-cp-01 sre-lab/complete",
	setOwner:     "VBoxManage setextradata talos-cp-01 sre-lab/stack " + labStack,
	setComplete:  "VBoxManage setextradata talos-cp-01 sre-lab/complete 1",
	poweroff:     "VBoxManage controlvm talos-cp-01 poweroff",
	detachISO:    "VBoxManage storageattach talos-cp-01 --storagectl SATA --port 1 --device 0 --type dvddrive --medium emptydrive",
	createvm:     "VBoxManage createvm --name talos-cp-01 --ostype Linux_64 --register",
	modifyvm:     "VBoxManage modifyvm talos-cp-01 --cpus 2 --memory 4096 --nic1 hostonly --hostonlyadapter1 vboxnet0 --macaddress1 080027a8380a --nic2 nat --boot1 disk --boot2 dvd --boot3 none --boot4 none --ioapic on --rtcuseutc on",
	storagectl:   "VBoxManage storagectl talos-cp-01 --name SATA --add sata --portcount 2",
	createmedium: "VBoxManage createmedium disk --filename $LAB/state/machines/talos-cp-01/talos-cp-01.vdi --size 40960 --format VDI",
	attachDisk:   "VBoxManage storageattach talos-cp-01 --storagectl SATA --port 0 --device 0 --type hdd --medium $LAB/state/machines/talos-cp-01/talos-cp-01.vdi",
	attachISO:    "VBoxManage storageattach talos-cp-01 --storagectl SATA --port 1 --device 0 --type dvddrive --medium $LAB/cache/talos.iso",
	start:        "VBoxManage startvm talos-cp-01 --type headless",
	closeDisk:    "VBoxManage closemedium disk $LAB/state/machines/talos-cp-01/talos-cp-01.vdi --delete",
	unregister:   "VBoxManage unregistervm talos-cp-01 --delete",
}

// vmDisk is where vm-create.sh puts talos-cp-01's disk: beside the
// settings file the stand-in names.
const vmDisk = "$LAB/state/machines/talos-cp-01/talos-cp-01.vdi"

// withVM adds talos-cp-01 on vboxnet0 in the given state, as vm-create.sh
// makes it from vmEnv: 2 CPUs, 4096 MB and a 40960 MB disk, owned by the
// lab's stack and complete.
func withVM(h *vboxHost, state string) *vboxHost {
	return with(h, func(h *vboxHost) {
		h.VMs[vmName] = &fakeVM{State: state, OSType: "Linux_64", NIC: "hostonly", Adapter: netIF, MAC: "08:00:27:a8:38:0a", CPUs: 2, MemoryMB: 4096,
			Controllers: map[string]string{"SATA": "sata"}, Disk: vmDisk, DiskCtl: "SATA",
			Extra: map[string]string{"sre-lab/stack": labStack, "sre-lab/complete": "1"}}
		h.Disks[vmDisk] = &fakeDisk{CapacityMB: 40960}
	})
}

func TestScriptVMCreate(t *testing.T) {
	v := vmCalls
	reserved := labHost(cpRes)
	for _, c := range []struct {
		scriptCase
		wantAddress string // what the VM got from DHCP; empty: not started
	}{
		{
			scriptCase: scriptCase{
				name:       "creates and starts a new VM at its reserved address",
				host:       reserved,
				wantStdout: vmIP + "\n",
				wantCalls: []string{listDHCP, v.showvminfo, v.createvm, v.setOwner, v.showvminfo, v.modifyvm, v.storagectl,
					v.createmedium, v.attachDisk, v.attachISO, v.start, v.setComplete},
				wantHost: withVM(reserved, "running"),
			},
			wantAddress: vmIP,
		},
		{
			scriptCase: scriptCase{
				name:       "no reservation: stops before making anything",
				host:       labHost(workRes),
				wantCode:   1,
				wantCalls:  []string{listDHCP},
				wantStderr: []string{"no reservation of 192.168.56.10 for 08:00:27:a8:38:0a", "pulumi up"},
			},
		},
		{
			scriptCase: scriptCase{
				name:       "running VM is left as it is",
				host:       withVM(reserved, "running"),
				wantStdout: vmIP + "\n",
				wantCalls:  []string{listDHCP, v.showvminfo, v.getOwner, v.getComplete},
			},
		},
		{
			scriptCase: scriptCase{
				name:       "stopped VM is started",
				host:       withVM(reserved, "poweroff"),
				env:        map[string]string{"SRE_VM_MAC": "080027A8380A"},
				wantStdout: vmIP + "\n",
				wantCalls:  []string{listDHCP, v.showvminfo, v.getOwner, v.getComplete, v.start},
				wantHost:   withVM(reserved, "running"),
			},
			wantAddress: vmIP,
		},
		{
			scriptCase: scriptCase{
				name: "disk creation fails unregisters the VM",
				host: reserved,
				fail: "createmedium",
				wantCalls: []string{listDHCP, v.showvminfo, v.createvm, v.setOwner, v.showvminfo, v.modifyvm, v.storagectl,
					v.createmedium, v.unregister},
				wantCode:   1,
				wantStderr: []string{"talos-cp-01.vdi"},
			},
		},
		{
			scriptCase: scriptCase{
				name: "disk attach fails deletes the disk and the VM",
				host: reserved,
				fail: "storageattach talos-cp-01 --storagectl SATA --port 0",
				wantCalls: []string{listDHCP, v.showvminfo, v.createvm, v.setOwner, v.showvminfo, v.modifyvm, v.storagectl,
					v.createmedium, v.attachDisk, v.closeDisk, v.unregister},
				wantCode: 1,
			},
		},
		{
			scriptCase: scriptCase{
				name:      "modifyvm fails unregisters the VM",
				host:      reserved,
				fail:      "modifyvm",
				wantCalls: []string{listDHCP, v.showvminfo, v.createvm, v.setOwner, v.showvminfo, v.modifyvm, v.unregister},
				wantCode:  1,
			},
		},
		{
			scriptCase: scriptCase{
				name:       "start fails when the interface is gone",
				host:       withVM(with(reserved, func(h *vboxHost) { delete(h.Interfaces, netIF) }), "poweroff"),
				wantCalls:  []string{listDHCP, v.showvminfo, v.getOwner, v.getComplete, v.start},
				wantCode:   1,
				wantStderr: []string{"Nonexistent host networking interface"},
			},
		},
		{
			scriptCase: scriptCase{
				name:       "another stack's VM is refused, naming the stack",
				host:       with(withVM(reserved, "running"), func(h *vboxHost) { h.VMs[vmName].Extra["sre-lab/stack"] = otherStack }),
				wantCode:   1,
				wantCalls:  []string{listDHCP, v.showvminfo, v.getOwner},
				wantStderr: []string{"talos-cp-01 belongs to local stack " + otherStack, "pulumi destroy -s local2"},
			},
		},
		{
			scriptCase: scriptCase{
				name:       "a VM that records no stack is refused",
				host:       with(withVM(reserved, "poweroff"), func(h *vboxHost) { h.VMs[vmName].Extra = nil }),
				wantCode:   1,
				wantCalls:  []string{listDHCP, v.showvminfo, v.getOwner},
				wantStderr: []string{"records no sre-lab stack", "VBoxManage unregistervm talos-cp-01 --delete"},
			},
		},
		{
			scriptCase: scriptCase{
				// Killed after the disk was made, before it was attached.
				name: "a VM this stack left half-built is removed with its loose disk and built again",
				host: with(reserved, func(h *vboxHost) {
					h.VMs[vmName] = &fakeVM{State: "poweroff", OSType: "Linux_64", NIC: "hostonly", Adapter: netIF, MAC: "08:00:27:a8:38:0a", CPUs: 2, MemoryMB: 4096,
						Controllers: map[string]string{"SATA": "sata"},
						Extra:       map[string]string{"sre-lab/stack": labStack}}
					h.Disks[vmDisk] = &fakeDisk{CapacityMB: 40960}
				}),
				wantStdout: vmIP + "\n",
				wantCalls: []string{listDHCP, v.showvminfo, v.getOwner, v.getComplete,
					v.showvminfo, v.showvminfo, v.detachISO, v.unregister, v.closeDisk,
					v.createvm, v.setOwner, v.showvminfo, v.modifyvm, v.storagectl,
					v.createmedium, v.attachDisk, v.attachISO, v.start, v.setComplete},
				wantStderr: []string{"half-built"},
				wantHost:   withVM(reserved, "running"),
			},
			wantAddress: vmIP,
		},
		{
			scriptCase: scriptCase{
				name:       "TERM while the disk is made: the disk and the VM are removed",
				host:       reserved,
				env:        map[string]string{"FAKE_VBOX_SIGNAL": "TERM createmedium"},
				wantCode:   1,
				wantCalls:  []string{listDHCP, v.showvminfo, v.createvm, v.setOwner, v.showvminfo, v.modifyvm, v.storagectl, v.createmedium, v.closeDisk, v.unregister},
				wantStderr: []string{"interrupted"},
			},
		},
		{
			scriptCase: scriptCase{
				name:     "TERM after the start, before the mark: the VM is powered off and removed",
				host:     reserved,
				env:      map[string]string{"FAKE_VBOX_SIGNAL": "TERM startvm"},
				wantCode: 1,
				wantCalls: []string{listDHCP, v.showvminfo, v.createvm, v.setOwner, v.showvminfo, v.modifyvm, v.storagectl,
					v.createmedium, v.attachDisk, v.attachISO, v.start, v.poweroff, v.showvminfo, "sleep 1", v.showvminfo, v.unregister},
				wantStderr: []string{"interrupted"},
			},
		},
		{
			scriptCase: scriptCase{
				name:       "malformed MAC",
				host:       reserved,
				env:        map[string]string{"SRE_VM_MAC": "08:00:27:a8:38:0a"},
				wantCode:   1,
				wantStderr: []string{"SRE_VM_MAC"},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, c.start(), "VBoxManage", "sleep")
			env := merge(vmEnv(l), c.env)
			env["FAKE_VBOX_FAIL"] = c.fail
			c.check(t, l, l.run("vm-create.sh", env))
			if c.wantAddress != "" {
				assert.Equal(t, c.wantAddress, l.host().VMs[vmName].Address, "address the VM got")
			}
		})
	}
}

func TestScriptVMCreateTwice(t *testing.T) {
	l := newLab(t, labHost(cpRes), "VBoxManage")
	for i := range 2 {
		r := l.run("vm-create.sh", vmEnv(l))
		require.Equal(t, 0, r.code, "run %d", i+1)
		assert.Equal(t, vmIP+"\n", r.stdout, "run %d", i+1)
	}
	calls := l.calls()
	assert.Equal(t, 1, count(calls, "VBoxManage createvm"))
	assert.Equal(t, 1, count(calls, "VBoxManage startvm"))
	assert.Zero(t, count(calls, "VBoxManage dhcpserver"), "reservations are the network's")
}

func TestScriptVMDelete(t *testing.T) {
	const (
		getOwner   = "VBoxManage getextradata talos-cp-01 sre-lab/stack"
		showvminfo = "VBoxManage showvminfo talos-cp-01 --machinereadable"
		poweroff   = "VBoxManage controlvm talos-cp-01 poweroff"
		detach     = "VBoxManage storageattach talos-cp-01 --storagectl SATA --port 1 --device 0 --type dvddrive --medium emptydrive"
		unregister = "VBoxManage unregistervm talos-cp-01 --delete"
	)
	// A VM that ignores poweroff is checked 30 times, with a sleep between.
	stuck := []string{getOwner, showvminfo, poweroff}
	for i := range 30 {
		if i > 0 {
			stuck = append(stuck, "sleep 1")
		}
		stuck = append(stuck, showvminfo)
	}
	// The reservation stays with the network in every case: a replaced VM
	// comes back with the same MAC and must find it.
	reserved := labHost(cpRes)
	for _, c := range []scriptCase{
		{
			name:      "powers off a running VM and deletes it",
			host:      withVM(reserved, "running"),
			wantCalls: []string{getOwner, showvminfo, poweroff, showvminfo, "sleep 1", showvminfo, detach, unregister},
			wantHost:  reserved,
		},
		{
			name:      "deletes a stopped VM",
			host:      withVM(reserved, "poweroff"),
			wantCalls: []string{getOwner, showvminfo, showvminfo, detach, unregister},
			wantHost:  reserved,
		},
		{
			name:      "DVD detach failure is ignored",
			host:      withVM(reserved, "poweroff"),
			fail:      "storageattach",
			wantCalls: []string{getOwner, showvminfo, showvminfo, detach, unregister},
			wantHost:  reserved,
		},
		{
			name:       "another stack's VM stays",
			host:       with(withVM(reserved, "running"), func(h *vboxHost) { h.VMs[vmName].Extra["sre-lab/stack"] = otherStack }),
			wantCalls:  []string{getOwner},
			wantStderr: []string{"leaving talos-cp-01, which belongs to local stack " + otherStack},
		},
		{
			name:      "VM already gone",
			host:      reserved,
			wantCalls: []string{getOwner},
		},
		{
			name:      "VM and network already gone",
			wantCalls: []string{getOwner},
		},
		{
			name:       "VM that will not stop",
			host:       withVM(reserved, "running"),
			fail:       "controlvm",
			wantCode:   1,
			wantCalls:  stuck,
			wantStderr: []string{"still running"},
		},
		{
			name:      "unregister fails",
			host:      withVM(reserved, "poweroff"),
			fail:      "unregistervm",
			wantCode:  1,
			wantCalls: []string{getOwner, showvminfo, showvminfo, detach, unregister},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, c.start(), "VBoxManage", "sleep")
			env := vmEnv(l)
			env["FAKE_VBOX_FAIL"] = c.fail
			c.check(t, l, l.run("vm-delete.sh", env))
		})
	}
}

// vm-update.sh's calls for talos-cp-01 grown to 4 CPUs, 8192 MB and 60 GiB.
var updateCalls = struct {
	show, medium, acpi, poweroff, modify, resize, start, probe string
}{
	show:     "VBoxManage showvminfo talos-cp-01 --machinereadable",
	medium:   "VBoxManage showmediuminfo disk " + vmDisk,
	acpi:     "VBoxManage controlvm talos-cp-01 acpipowerbutton",
	poweroff: "VBoxManage controlvm talos-cp-01 poweroff",
	modify:   "VBoxManage modifyvm talos-cp-01 --cpus 4 --memory 8192",
	resize:   "VBoxManage modifymedium disk " + vmDisk + " --resize 61440",
	start:    "VBoxManage startvm talos-cp-01 --type headless",
	probe:    "curl --silent --insecure --noproxy * --connect-timeout 5 --max-time 10 --output /dev/null https://192.168.56.10:50000/",
}

// grown is talos-cp-01 at 4 CPUs, 8192 MB and a 61440 MB disk, in state.
func grown(h *vboxHost, state string) *vboxHost {
	return with(withVM(h, state), func(h *vboxHost) {
		h.VMs[vmName].CPUs, h.VMs[vmName].MemoryMB = 4, 8192
		h.Disks[vmDisk].CapacityMB = 61440
	})
}

// repeat is calls n times over, with pause between them.
func repeat(n int, pause string, calls ...string) []string {
	var out []string
	for i := range n {
		if i > 0 {
			out = append(out, pause)
		}
		out = append(out, calls...)
	}
	return out
}

func TestScriptVMUpdate(t *testing.T) {
	u := updateCalls
	reserved := labHost(cpRes)
	bigger := map[string]string{"SRE_VM_CPUS": "4", "SRE_VM_MEMORY_MB": "8192", "SRE_VM_DISK_MB": "61440"}
	// The stand-in's Talos refuses two probes after it starts.
	booted := repeat(3, "sleep 5", u.probe)
	// The stand-in's Talos powers off on the second check after the button.
	halted := []string{u.acpi, u.show, "sleep 2", u.show}
	ignoring := func(h *vboxHost) { h.VMs[vmName].IgnoresACPI = true }
	for _, c := range []struct {
		scriptCase
		noCurl     bool
		wantEvents []string
	}{
		{
			scriptCase: scriptCase{
				name:       "grows a running VM in place: power button, change, start, wait for Talos",
				host:       withVM(reserved, "running"),
				env:        bigger,
				wantStdout: vmIP + "\n",
				wantCalls:  slices.Concat([]string{u.show, u.medium}, halted, []string{u.modify, u.resize, u.start}, booted),
				wantHost:   grown(reserved, "running"),
			},
			wantEvents: []string{"talos-cp-01 halting", "talos-cp-01 poweroff", "talos-cp-01 started", "talos-cp-01 answering"},
		},
		{
			scriptCase: scriptCase{
				name:       "nothing to change: a running VM is left alone",
				host:       withVM(reserved, "running"),
				wantStdout: vmIP + "\n",
				wantCalls:  []string{u.show, u.medium},
			},
		},
		{
			scriptCase: scriptCase{
				name:       "a smaller disk is refused, naming the setting, before the VM is touched",
				host:       withVM(reserved, "running"),
				env:        map[string]string{"SRE_VM_CPUS": "4", "SRE_VM_DISK_MB": "20480"},
				wantCode:   1,
				wantCalls:  []string{u.show, u.medium},
				wantStderr: []string{"cannot shrink", "set sre-lab:controlPlaneDiskGiB to 40 or more"},
			},
		},
		{
			scriptCase: scriptCase{
				name:       "a guest that ignores the power button is powered off after 150 checks",
				host:       with(withVM(reserved, "running"), ignoring),
				env:        bigger,
				wantStdout: vmIP + "\n",
				wantCalls: slices.Concat([]string{u.show, u.medium, u.acpi}, repeat(150, "sleep 2", u.show),
					[]string{u.poweroff, u.show, "sleep 1", u.show, u.modify, u.resize, u.start}, booted),
				wantStderr: []string{"did not shut down on the ACPI power button"},
				wantHost:   with(grown(reserved, "running"), ignoring),
			},
			wantEvents: []string{"talos-cp-01 poweroff", "talos-cp-01 started", "talos-cp-01 answering"},
		},
		{
			scriptCase: scriptCase{
				name:       "a power button that fails: powered off at once",
				host:       withVM(reserved, "running"),
				env:        bigger,
				fail:       "controlvm talos-cp-01 acpipowerbutton",
				wantStdout: vmIP + "\n",
				wantCalls: slices.Concat([]string{u.show, u.medium, u.acpi, u.poweroff, u.show, "sleep 1", u.show,
					u.modify, u.resize, u.start}, booted),
				wantHost: grown(reserved, "running"),
			},
		},
		{
			scriptCase: scriptCase{
				name:       "a stopped VM is changed and started",
				host:       withVM(reserved, "poweroff"),
				env:        bigger,
				wantStdout: vmIP + "\n",
				wantCalls:  slices.Concat([]string{u.show, u.medium, u.modify, u.resize, u.start}, booted),
				wantHost:   grown(reserved, "running"),
			},
		},
		{
			scriptCase: scriptCase{
				name:       "a stopped VM with nothing to change is started",
				host:       withVM(reserved, "poweroff"),
				wantStdout: vmIP + "\n",
				wantCalls:  slices.Concat([]string{u.show, u.medium, u.start}, booted),
				wantHost:   withVM(reserved, "running"),
			},
		},
		{
			scriptCase: scriptCase{
				name:       "a failed change starts the VM again",
				host:       withVM(reserved, "running"),
				env:        bigger,
				fail:       "modifyvm",
				wantCode:   1,
				wantCalls:  slices.Concat([]string{u.show, u.medium}, halted, []string{u.modify, u.start}),
				wantStderr: []string{"setting 4 CPUs and 8192 MB failed", "starting talos-cp-01 again"},
			},
		},
		{
			scriptCase: scriptCase{
				name:       "a node that never answers fails the update after 60 probes",
				host:       with(withVM(reserved, "poweroff"), func(h *vboxHost) { h.VMs[vmName].NeverAnswers = true }),
				env:        map[string]string{"SRE_VM_CPUS": "4", "SRE_VM_MEMORY_MB": "8192"},
				wantCode:   1,
				wantCalls:  slices.Concat([]string{u.show, u.medium, u.modify, u.start}, repeat(60, "sleep 5", u.probe)),
				wantStderr: []string{"does not answer on 192.168.56.10:50000"},
				wantHost: with(withVM(reserved, "running"), func(h *vboxHost) {
					h.VMs[vmName].CPUs, h.VMs[vmName].MemoryMB, h.VMs[vmName].NeverAnswers = 4, 8192, true
				}),
			},
		},
		{
			scriptCase: scriptCase{
				name:       "a VM removed by hand",
				host:       reserved,
				env:        bigger,
				wantCode:   1,
				wantCalls:  []string{u.show},
				wantStderr: []string{"not registered", "pulumi up --replace"},
			},
		},
		{
			scriptCase: scriptCase{
				name:       "a paused VM is left to the user",
				host:       withVM(reserved, "paused"),
				env:        bigger,
				wantCode:   1,
				wantCalls:  []string{u.show},
				wantStderr: []string{"talos-cp-01 is paused"},
			},
		},
		{
			scriptCase: scriptCase{
				name:       "without curl nothing is touched",
				host:       withVM(reserved, "running"),
				env:        bigger,
				wantCode:   1,
				wantCalls:  []string{u.show, u.medium},
				wantStderr: []string{"curl was not found"},
			},
			noCurl: true,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			fakeNames := []string{"VBoxManage", "curl", "sleep"}
			if c.noCurl {
				fakeNames = []string{"VBoxManage", "sleep"}
			}
			l := newLab(t, c.start(), fakeNames...)
			env := merge(vmEnv(l), c.env)
			env["FAKE_VBOX_FAIL"] = c.fail
			c.check(t, l, l.run("vm-update.sh", env))
			if c.wantEvents != nil {
				assert.Equal(t, c.wantEvents, l.events(), "what happened to the guest")
			}
		})
	}
}

// A second update with the same sizes changes nothing and reboots nothing.
func TestScriptVMUpdateTwice(t *testing.T) {
	l := newLab(t, withVM(labHost(cpRes), "running"), "VBoxManage", "curl", "sleep")
	env := merge(vmEnv(l), map[string]string{"SRE_VM_CPUS": "4", "SRE_VM_MEMORY_MB": "8192", "SRE_VM_DISK_MB": "61440"})
	require.Equal(t, 0, l.run("vm-update.sh", env).code)
	uuid := l.host().VMs[vmName].UUID
	l.forgetLogs()
	r := l.run("vm-update.sh", env)
	require.Equal(t, 0, r.code)
	assert.Equal(t, vmIP+"\n", r.stdout)
	assert.Equal(t, []string{updateCalls.show, updateCalls.medium}, l.calls())
	assert.Empty(t, l.events(), "the VM was not restarted")
	assert.Equal(t, uuid, l.host().VMs[vmName].UUID)
}

// The states the update meets are the stand-in's, not the script's: a
// running VM cannot be modified or have its disk resized, the power button
// leaves the guest to power off, and a disk only grows.
func TestStandInVMStates(t *testing.T) {
	l := newLab(t, withVM(labHost(cpRes), "poweroff"), "VBoxManage")
	disk := strings.ReplaceAll(vmDisk, "$LAB", l.root)
	for _, step := range []struct {
		cmd        string
		wantCode   int
		wantOutput string // in stdout or stderr
	}{
		{"startvm talos-cp-01 --type headless", 0, "successfully started"},
		{"modifyvm talos-cp-01 --cpus 4", 1, "The machine 'talos-cp-01' is already locked for a session (or being unlocked)"},
		{"modifymedium disk " + disk + " --resize 61440", 1, "Failed to lock media when resizing"},
		{"startvm talos-cp-01 --type headless", 1, "already locked for a session"},
		{"controlvm talos-cp-01 acpipowerbutton", 0, ""},
		{"showvminfo talos-cp-01 --machinereadable", 0, `VMState="running"`},
		{"modifyvm talos-cp-01 --cpus 4", 1, "already locked for a session"},
		{"showvminfo talos-cp-01 --machinereadable", 0, `VMState="poweroff"`},
		{"controlvm talos-cp-01 acpipowerbutton", 1, "Machine 'talos-cp-01' is not currently running"},
		{"modifymedium disk " + disk + " --resize 20480", 1, "Shrinking is not yet supported for medium"},
		{"modifymedium disk " + disk + " --resize 61440", 0, "100%"},
		{"showmediuminfo disk " + disk, 0, "Capacity:       61440 MBytes"},
		{"modifyvm talos-cp-01 --cpus 4 --memory 8192", 0, ""},
		{"showvminfo talos-cp-01 --machinereadable", 0, "memory=8192\ncpus=4\n"},
		{"showvminfo talos-cp-01 --machinereadable", 0, `"SATA-0-0"="` + disk + `"`},
	} {
		r := l.runText(step.cmd, "VBoxManage "+step.cmd, nil)
		assert.Equal(t, step.wantCode, r.code, step.cmd)
		assert.Contains(t, r.stdout+r.stderr, step.wantOutput, step.cmd)
	}
	assert.Equal(t, []string{"talos-cp-01 started", "talos-cp-01 halting", "talos-cp-01 poweroff"}, l.events())
}

// scriptEnv is an environment every script accepts.
func scriptEnv(l *lab) map[string]string {
	env := merge(merge(networkEnv(), macNetworkEnv()), vmEnv(l))
	env["PULUMI_COMMAND_STDOUT"] = record("vboxnet3", "created", "none", cpRes)
	return env
}

func TestScriptsWithoutVBoxManage(t *testing.T) {
	for _, script := range []string{"network-create.sh", "network-update.sh", "network-delete.sh", "hostnet-create.sh", "hostnet-update.sh", "hostnet-delete.sh",
		"vm-create.sh", "vm-update.sh", "vm-delete.sh"} {
		t.Run(script, func(t *testing.T) {
			l := newLab(t, emptyHost(), "sleep")
			r := l.run(script, scriptEnv(l))
			assert.Equal(t, 1, r.code)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, "VBoxManage")
			assert.Contains(t, r.stderr, "install VirtualBox")
			assert.Empty(t, l.calls())
		})
	}
}

// Every script names the variables it needs when one is missing, instead of
// acting on an empty value.
func TestScriptsRequireTheirEnvironment(t *testing.T) {
	network := []string{"SRE_NET_CIDR", "SRE_NET_IP", "SRE_NET_MASK", "SRE_DHCP_SERVER_IP", "SRE_DHCP_LOWER", "SRE_DHCP_UPPER", "SRE_DHCP_RESERVATIONS", "SRE_STACK"}
	hostNet := []string{"SRE_NET_CIDR", "SRE_NET_NAME", "SRE_NET_MASK", "SRE_NET_LOWER", "SRE_NET_UPPER", "SRE_STACK"}
	vm := []string{"SRE_VM_NAME", "SRE_VM_ARCH", "SRE_VM_CPUS", "SRE_VM_MEMORY_MB", "SRE_VM_DISK_MB", "SRE_VM_MAC", "SRE_VM_IP", "SRE_ISO_PATH", "SRE_STACK"}
	for _, c := range []struct {
		script string
		mac    bool // run on a host-only network (macOS)
		vars   []string
	}{
		{"network-create.sh", false, network},
		{"network-update.sh", false, network},
		{"hostnet-create.sh", true, hostNet},
		{"hostnet-update.sh", true, hostNet},
		{"iso-fetch.sh", false, []string{"SRE_ISO_URL", "SRE_ISO_SUMS_URL", "SRE_ISO_PATH"}},
		{"vm-create.sh", false, append(slices.Clone(vm), "SRE_NET_IF")},
		{"vm-create.sh", true, append(slices.Clone(vm), "SRE_VM_NAT_MAC", "SRE_VM_NETWORK_CONFIG", "SRE_DHCP_LEASES")},
		{"vm-update.sh", false, []string{"SRE_VM_NAME", "SRE_VM_ARCH", "SRE_VM_CPUS", "SRE_VM_MEMORY_MB", "SRE_VM_DISK_MB", "SRE_VM_DISK_KEY", "SRE_VM_IP"}},
		{"vm-update.sh", true, []string{"SRE_VM_MAC", "SRE_VM_NETWORK_CONFIG", "SRE_DHCP_LEASES"}},
		{"vm-delete.sh", false, []string{"SRE_VM_NAME", "SRE_STACK"}},
	} {
		script := c.script
		for _, missing := range c.vars {
			t.Run(fmt.Sprintf("%s/mac=%v/%s", script, c.mac, missing), func(t *testing.T) {
				host := freshInstall()
				if c.mac {
					host = macFreshInstall("amd64")
				}
				l := newLab(t, host, "VBoxManage", "curl", "talosctl", "sleep")
				env := scriptEnv(l)
				if c.mac {
					env = merge(env, macVMEnv(l))
				}
				env["SRE_ISO_URL"] = "https://example.invalid/talos.iso"
				env["SRE_ISO_SUMS_URL"] = "https://example.invalid/sha256sum.txt"
				delete(env, missing)
				r := l.run(script, env)
				assert.NotEqual(t, 0, r.code)
				assert.Empty(t, r.stdout)
				assert.Contains(t, r.stderr, missing)
				assert.Empty(t, l.calls())
			})
		}
	}
}
