package virtualbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeVBoxManage records every call and keeps just enough state in files
// under $FAKE_VBOX_STATE to answer the queries the scripts make:
// ifs/<name> holds an interface's address, dhcp/<name> marks its DHCP
// server, vms/<name> holds a VM's VMState. A call whose argv starts with
// $FAKE_VBOX_FAIL fails before touching any state. Commands that change
// something print progress on stdout, as VBoxManage does, so the tests catch
// a script that lets it reach its own stdout.
const fakeVBoxManage = `#!/bin/sh
s=$FAKE_VBOX_STATE
echo "VBoxManage $*" >>"$s/calls"
case "$*" in "${FAKE_VBOX_FAIL:-no failure injected}"*)
	echo "VBoxManage: error: injected failure" >&2
	exit 1 ;;
esac
case "$1" in
list)
	for f in "$s"/ifs/*; do
		[ -e "$f" ] || continue
		printf 'Name:            %s\nGUID:            786f6276-656e-4074-8000-0a0027000000\nDHCP:            Disabled\nIPAddress:       %s\nNetworkMask:     255.255.255.0\n\n' "${f##*/}" "$(cat "$f")"
	done
	exit 0 ;;
showvminfo)
	if [ ! -f "$s/vms/$2" ]; then
		echo "VBoxManage: error: Could not find a registered machine named '$2'" >&2
		exit 1
	fi
	state=$(cat "$s/vms/$2")
	printf 'name="%s"\nCfgFile="%s"\nVMState="%s"\n' "$2" "$s/machines/$2/$2.vbox" "$state"
	# A VM being powered off is seen stopping exactly once.
	if [ "$state" = stopping ]; then echo poweroff >"$s/vms/$2"; fi
	exit 0 ;;
esac
echo "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%"
case "$1" in
hostonlyif)
	case "$2" in
	create)
		name=${FAKE_VBOX_NEW_IF:-vboxnet3}
		echo 0.0.0.0 >"$s/ifs/$name"
		echo "Interface '$name' was successfully created" ;;
	ipconfig) echo "$5" >"$s/ifs/$3" ;;
	remove) rm "$s/ifs/$3" || exit 1 ;;
	esac ;;
dhcpserver)
	iface=${3#--interface=}
	case "$2" in
	add) : >"$s/dhcp/$iface" ;;
	remove) rm "$s/dhcp/$iface" || exit 1 ;;
	modify) [ -e "$s/dhcp/$iface" ] || exit 1 ;;
	esac ;;
createvm) echo poweroff >"$s/vms/$3" ;;
startvm) echo running >"$s/vms/$2" ;;
controlvm) echo stopping >"$s/vms/$2" ;;
unregistervm) rm "$s/vms/$2" || exit 1 ;;
esac
exit 0
`

// fakeCurl writes a small file where -o points, or a partial one and fails
// when $FAKE_CURL_FAIL is set, as an interrupted download would.
const fakeCurl = `#!/bin/sh
echo "curl $*" >>"$FAKE_VBOX_STATE/calls"
out=
while [ $# -gt 0 ]; do
	if [ "$1" = -o ]; then out=$2; fi
	shift
done
if [ -n "${FAKE_CURL_FAIL:-}" ]; then
	echo partial >"$out"
	echo "curl: (22) The requested URL returned error: 404" >&2
	exit 22
fi
echo "talos iso" >"$out"
`

// fakeSleep only records, so polling loops run instantly and can be counted.
const fakeSleep = `#!/bin/sh
echo "sleep $*" >>"$FAKE_VBOX_STATE/calls"
`

var fakes = map[string]string{"VBoxManage": fakeVBoxManage, "curl": fakeCurl, "sleep": fakeSleep}

// hostTools are the only real programs on the scripts' PATH, so a host
// that happens to have VirtualBox or curl installed cannot leak into a test,
// and a script starting to need another tool shows up here.
var hostTools = []string{"awk", "cat", "dirname", "grep", "mkdir", "mv", "rm", "sed", "tr"}

const (
	vmName = "talos-cp-01"
	vmMAC  = "08002738380a"
	vmIP   = "192.168.56.10"
	netIF  = "vboxnet0"
)

// host is what VirtualBox knows before a script runs.
type host struct {
	ifs  map[string]string // host-only interface name to its address
	dhcp []string          // interfaces that have a DHCP server
	vms  map[string]string // VM name to its VMState
}

// lab is one isolated run environment: $LAB/bin is the whole PATH and
// $LAB/state the fakes' state.
type lab struct {
	t     *testing.T
	root  string
	state string
	bin   string
}

type result struct {
	stdout, stderr string
	code           int
}

func newLab(t *testing.T, h host, fakeNames ...string) *lab {
	t.Helper()
	root := t.TempDir()
	l := &lab{t: t, root: root, state: filepath.Join(root, "state"), bin: filepath.Join(root, "bin")}
	for _, dir := range []string{l.bin, filepath.Join(l.state, "ifs"), filepath.Join(l.state, "dhcp"), filepath.Join(l.state, "vms")} {
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	for _, tool := range hostTools {
		path, err := exec.LookPath(tool)
		require.NoError(t, err)
		require.NoError(t, os.Symlink(path, filepath.Join(l.bin, tool)))
	}
	for _, name := range fakeNames {
		require.NoError(t, os.WriteFile(filepath.Join(l.bin, name), []byte(fakes[name]), 0o755))
	}
	for name, ip := range h.ifs {
		l.write("ifs/"+name, ip+"\n")
	}
	for _, name := range h.dhcp {
		l.write("dhcp/"+name, "")
	}
	for name, state := range h.vms {
		l.write("vms/"+name, state+"\n")
	}
	return l
}

func (l *lab) write(rel, content string) {
	l.t.Helper()
	require.NoError(l.t, os.WriteFile(filepath.Join(l.state, rel), []byte(content), 0o644))
}

func (l *lab) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(l.state, rel))
	return err == nil
}

// run executes the script as the command provider does: its text passed to
// /bin/sh -c, configured only through the environment.
func (l *lab) run(script string, env map[string]string) result {
	l.t.Helper()
	text, err := os.ReadFile(filepath.Join("scripts", script))
	require.NoError(l.t, err)
	cmd := exec.Command("/bin/sh", "-c", string(text))
	cmd.Env = []string{"PATH=" + l.bin, "FAKE_VBOX_STATE=" + l.state}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		require.True(l.t, errors.As(err, &exit), "running %s: %v", script, err)
		code = exit.ExitCode()
	}
	l.t.Logf("%s stderr:\n%s", script, stderr.String())
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// calls lists every fake invocation so far, with the lab's directory shown
// as $LAB.
func (l *lab) calls() []string {
	l.t.Helper()
	data, err := os.ReadFile(filepath.Join(l.state, "calls"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(l.t, err)
	return strings.Split(strings.TrimSuffix(strings.ReplaceAll(string(data), l.root, "$LAB"), "\n"), "\n")
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
		"SRE_NET_CIDR":       "192.168.56.0/24",
		"SRE_NET_IP":         "192.168.56.1",
		"SRE_NET_MASK":       "255.255.255.0",
		"SRE_DHCP_SERVER_IP": "192.168.56.2",
		"SRE_DHCP_LOWER":     "192.168.56.200",
		"SRE_DHCP_UPPER":     "192.168.56.250",
	}
}

func vmEnv(l *lab) map[string]string {
	return map[string]string{
		"SRE_VM_NAME":      vmName,
		"SRE_VM_CPUS":      "2",
		"SRE_VM_MEMORY_MB": "4096",
		"SRE_VM_DISK_MB":   "40960",
		"SRE_VM_MAC":       vmMAC,
		"SRE_VM_IP":        vmIP,
		"SRE_NET_IF":       netIF,
		"SRE_ISO_PATH":     filepath.Join(l.root, "cache", "talos.iso"),
	}
}

// scriptCase is one run of a script against a prepared host.
type scriptCase struct {
	name       string
	host       host
	env        map[string]string
	fail       string // argv prefix of the VBoxManage call that fails
	wantCode   int
	wantStdout string
	wantCalls  []string
	wantStderr []string        // substrings
	wantState  map[string]bool // state file to whether it must exist
}

func (c scriptCase) check(t *testing.T, l *lab, r result) {
	t.Helper()
	assert.Equal(t, c.wantCode, r.code, "exit code")
	assert.Equal(t, c.wantStdout, r.stdout, "stdout")
	assert.Equal(t, c.wantCalls, l.calls(), "calls")
	for _, s := range c.wantStderr {
		assert.Contains(t, r.stderr, s)
	}
	for rel, want := range c.wantState {
		assert.Equal(t, want, l.exists(rel), "state %s exists", rel)
	}
}

func TestScriptNetworkCreate(t *testing.T) {
	const (
		list      = "VBoxManage list hostonlyifs"
		create    = "VBoxManage hostonlyif create"
		ipconfig  = "VBoxManage hostonlyif ipconfig vboxnet3 --ip 192.168.56.1 --netmask 255.255.255.0"
		dhcpAdd   = "VBoxManage dhcpserver add --interface=vboxnet3 --server-ip=192.168.56.2 --netmask=255.255.255.0 --lower-ip=192.168.56.200 --upper-ip=192.168.56.250 --enable"
		removeNew = "VBoxManage hostonlyif remove vboxnet3"
	)
	for _, c := range []scriptCase{
		{
			name: "creates the interface and its DHCP server",
			// 192.168.56.10 shares a prefix with the host address but is no clash.
			host:       host{ifs: map[string]string{"vboxnet0": "192.168.56.10", "vboxnet1": "10.0.0.1"}},
			wantStdout: "vboxnet3\n",
			wantCalls:  []string{list, create, ipconfig, dhcpAdd},
			wantState:  map[string]bool{"ifs/vboxnet3": true, "dhcp/vboxnet3": true},
		},
		{
			name:       "host address already on an interface",
			host:       host{ifs: map[string]string{"vboxnet0": "192.168.56.1"}},
			wantCode:   1,
			wantCalls:  []string{list},
			wantStderr: []string{"vboxnet0", "192.168.56.0/24", "VBoxManage hostonlyif remove vboxnet0", "sre-lab:networkCidr"},
		},
		{
			name:      "interface creation fails",
			fail:      "hostonlyif create",
			wantCode:  1,
			wantCalls: []string{list, create},
			wantState: map[string]bool{"ifs/vboxnet3": false},
		},
		{
			name:       "ipconfig fails removes the interface",
			fail:       "hostonlyif ipconfig",
			wantCode:   1,
			wantCalls:  []string{list, create, ipconfig, removeNew},
			wantStderr: []string{"/etc/vbox/networks.conf", "192.168.56.0/21"},
			wantState:  map[string]bool{"ifs/vboxnet3": false},
		},
		{
			name:       "DHCP server fails removes the interface",
			fail:       "dhcpserver add",
			wantCode:   1,
			wantCalls:  []string{list, create, ipconfig, dhcpAdd, removeNew},
			wantStderr: []string{"DHCP", "vboxnet3"},
			wantState:  map[string]bool{"ifs/vboxnet3": false, "dhcp/vboxnet3": false},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, c.host, "VBoxManage")
			c.check(t, l, l.run("network-create.sh", merge(networkEnv(), map[string]string{"FAKE_VBOX_FAIL": c.fail})))
		})
	}
}

func TestScriptNetworkDelete(t *testing.T) {
	const (
		dhcpRemove = "VBoxManage dhcpserver remove --interface=vboxnet3"
		list       = "VBoxManage list hostonlyifs"
		remove     = "VBoxManage hostonlyif remove vboxnet3"
	)
	for _, c := range []scriptCase{
		{
			name:      "removes the DHCP server and the interface",
			host:      host{ifs: map[string]string{"vboxnet3": "192.168.56.1", "vboxnet0": "10.0.0.1"}, dhcp: []string{"vboxnet3"}},
			env:       map[string]string{"PULUMI_COMMAND_STDOUT": "vboxnet3\n"},
			wantCalls: []string{dhcpRemove, list, remove},
			wantState: map[string]bool{"ifs/vboxnet3": false, "dhcp/vboxnet3": false, "ifs/vboxnet0": true},
		},
		{
			name:      "interface without a DHCP server",
			host:      host{ifs: map[string]string{"vboxnet3": "192.168.56.1"}},
			env:       map[string]string{"PULUMI_COMMAND_STDOUT": "vboxnet3"},
			wantCalls: []string{dhcpRemove, list, remove},
			wantState: map[string]bool{"ifs/vboxnet3": false},
		},
		{
			name:      "everything already gone",
			env:       map[string]string{"PULUMI_COMMAND_STDOUT": "vboxnet3"},
			wantCalls: []string{dhcpRemove, list},
		},
		{
			name: "create never printed a name",
			env:  map[string]string{"PULUMI_COMMAND_STDOUT": ""},
		},
		{
			name:      "interface removal fails",
			host:      host{ifs: map[string]string{"vboxnet3": "192.168.56.1"}},
			env:       map[string]string{"PULUMI_COMMAND_STDOUT": "vboxnet3"},
			fail:      "hostonlyif remove",
			wantCode:  1,
			wantCalls: []string{dhcpRemove, list, remove},
			wantState: map[string]bool{"ifs/vboxnet3": true},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, c.host, "VBoxManage")
			c.check(t, l, l.run("network-delete.sh", merge(c.env, map[string]string{"FAKE_VBOX_FAIL": c.fail})))
		})
	}
}

func TestScriptNetworkDeleteTwice(t *testing.T) {
	l := newLab(t, host{ifs: map[string]string{"vboxnet3": "192.168.56.1"}, dhcp: []string{"vboxnet3"}}, "VBoxManage")
	env := map[string]string{"PULUMI_COMMAND_STDOUT": "vboxnet3"}
	for i := range 2 {
		r := l.run("network-delete.sh", env)
		require.Equal(t, 0, r.code, "run %d", i+1)
		assert.Empty(t, r.stdout)
	}
	assert.Equal(t, 1, count(l.calls(), "VBoxManage hostonlyif remove"))
	assert.False(t, l.exists("ifs/vboxnet3"))
}

func TestScriptNetworkRoundTrip(t *testing.T) {
	l := newLab(t, host{}, "VBoxManage")
	created := l.run("network-create.sh", networkEnv())
	require.Equal(t, 0, created.code)
	deleted := l.run("network-delete.sh", map[string]string{"PULUMI_COMMAND_STDOUT": created.stdout})
	require.Equal(t, 0, deleted.code)
	assert.False(t, l.exists("ifs/vboxnet3"))
	assert.False(t, l.exists("dhcp/vboxnet3"))
}

func TestScriptISOFetch(t *testing.T) {
	const url = "https://factory.talos.dev/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.12.4/metal-amd64.iso"
	for _, c := range []struct {
		name       string
		existing   *string // content of the ISO before the run
		noCurl     bool
		curlFails  bool
		wantCode   int
		wantCurl   bool
		wantISO    string // content after the run; empty: must not exist
		wantStderr []string
	}{
		{name: "downloads a missing ISO", wantCurl: true, wantISO: "talos iso\n"},
		{name: "keeps a downloaded ISO", existing: ptr("cached\n"), wantISO: "cached\n"},
		{name: "downloads over an empty file", existing: ptr(""), wantCurl: true, wantISO: "talos iso\n"},
		{name: "download fails", curlFails: true, wantCode: 1, wantCurl: true, wantStderr: []string{url}},
		{name: "curl missing", noCurl: true, wantCode: 1, wantStderr: []string{"curl was not found"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fakeNames := []string{"curl"}
			if c.noCurl {
				fakeNames = nil
			}
			l := newLab(t, host{}, fakeNames...)
			iso := filepath.Join(l.root, "cache", "talos", "v1.12.4", "metal-amd64.iso")
			if c.existing != nil {
				require.NoError(t, os.MkdirAll(filepath.Dir(iso), 0o755))
				require.NoError(t, os.WriteFile(iso, []byte(*c.existing), 0o644))
			}
			env := map[string]string{"SRE_ISO_URL": url, "SRE_ISO_PATH": iso}
			if c.curlFails {
				env["FAKE_CURL_FAIL"] = "1"
			}
			r := l.run("iso-fetch.sh", env)

			assert.Equal(t, c.wantCode, r.code, "exit code")
			var wantCalls []string
			if c.wantCurl {
				wantCalls = []string{"curl -fsSL --retry 3 -o $LAB/cache/talos/v1.12.4/metal-amd64.iso.part " + url}
			}
			assert.Equal(t, wantCalls, l.calls())
			for _, s := range c.wantStderr {
				assert.Contains(t, r.stderr, s)
			}
			assert.NoFileExists(t, iso+".part")
			if c.wantISO == "" {
				assert.Empty(t, r.stdout)
				assert.NoFileExists(t, iso)
				return
			}
			assert.Equal(t, iso+"\n", r.stdout)
			got, err := os.ReadFile(iso)
			require.NoError(t, err)
			assert.Equal(t, c.wantISO, string(got))
		})
	}
}

func ptr(s string) *string { return &s }

// vmCalls names the VBoxManage calls vm-create.sh can make.
var vmCalls = struct {
	showvminfo, createvm, modifyvm, storagectl, createmedium, attachDisk, attachISO, reserve, start, closeDisk, unregister string
}{
	showvminfo:   "VBoxManage showvminfo talos-cp-01 --machinereadable",
	createvm:     "VBoxManage createvm --name talos-cp-01 --ostype Linux_64 --register",
	modifyvm:     "VBoxManage modifyvm talos-cp-01 --cpus 2 --memory 4096 --nic1 hostonly --hostonlyadapter1 vboxnet0 --macaddress1 08002738380a --nic2 nat --boot1 disk --boot2 dvd --boot3 none --boot4 none --ioapic on --rtcuseutc on",
	storagectl:   "VBoxManage storagectl talos-cp-01 --name SATA --add sata --portcount 2",
	createmedium: "VBoxManage createmedium disk --filename $LAB/state/machines/talos-cp-01/talos-cp-01.vdi --size 40960 --format VDI",
	attachDisk:   "VBoxManage storageattach talos-cp-01 --storagectl SATA --port 0 --device 0 --type hdd --medium $LAB/state/machines/talos-cp-01/talos-cp-01.vdi",
	attachISO:    "VBoxManage storageattach talos-cp-01 --storagectl SATA --port 1 --device 0 --type dvddrive --medium $LAB/cache/talos.iso",
	reserve:      "VBoxManage dhcpserver modify --interface=vboxnet0 --mac-address=08:00:27:38:38:0a --fixed-address=192.168.56.10",
	start:        "VBoxManage startvm talos-cp-01 --type headless",
	closeDisk:    "VBoxManage closemedium disk $LAB/state/machines/talos-cp-01/talos-cp-01.vdi --delete",
	unregister:   "VBoxManage unregistervm talos-cp-01 --delete",
}

func TestScriptVMCreate(t *testing.T) {
	v := vmCalls
	network := []string{netIF}
	for _, c := range []scriptCase{
		{
			name:       "creates and starts a new VM",
			host:       host{dhcp: network},
			wantStdout: vmIP + "\n",
			wantCalls: []string{v.showvminfo, v.createvm, v.showvminfo, v.modifyvm, v.storagectl,
				v.createmedium, v.attachDisk, v.attachISO, v.reserve, v.start},
		},
		{
			name:       "running VM only gets its reservation",
			host:       host{dhcp: network, vms: map[string]string{vmName: "running"}},
			wantStdout: vmIP + "\n",
			wantCalls:  []string{v.showvminfo, v.reserve},
		},
		{
			name:       "stopped VM is started",
			host:       host{dhcp: network, vms: map[string]string{vmName: "poweroff"}},
			env:        map[string]string{"SRE_VM_MAC": "08002738380A"},
			wantStdout: vmIP + "\n",
			wantCalls:  []string{v.showvminfo, v.reserve, v.start},
		},
		{
			name: "disk creation fails unregisters the VM",
			host: host{dhcp: network},
			fail: "createmedium",
			wantCalls: []string{v.showvminfo, v.createvm, v.showvminfo, v.modifyvm, v.storagectl,
				v.createmedium, v.unregister},
			wantCode:   1,
			wantStderr: []string{"talos-cp-01.vdi"},
			wantState:  map[string]bool{"vms/" + vmName: false},
		},
		{
			name: "disk attach fails deletes the disk and the VM",
			host: host{dhcp: network},
			fail: "storageattach talos-cp-01 --storagectl SATA --port 0",
			wantCalls: []string{v.showvminfo, v.createvm, v.showvminfo, v.modifyvm, v.storagectl,
				v.createmedium, v.attachDisk, v.closeDisk, v.unregister},
			wantCode:  1,
			wantState: map[string]bool{"vms/" + vmName: false},
		},
		{
			name:      "modifyvm fails unregisters the VM",
			host:      host{dhcp: network},
			fail:      "modifyvm",
			wantCalls: []string{v.showvminfo, v.createvm, v.showvminfo, v.modifyvm, v.unregister},
			wantCode:  1,
			wantState: map[string]bool{"vms/" + vmName: false},
		},
		{
			name:      "reservation fails after creation",
			host:      host{dhcp: network, vms: map[string]string{vmName: "poweroff"}},
			fail:      "dhcpserver modify",
			wantCalls: []string{v.showvminfo, v.reserve},
			wantCode:  1,
		},
		{
			name:       "malformed MAC",
			env:        map[string]string{"SRE_VM_MAC": "08:00:27:38:38:0a"},
			wantCode:   1,
			wantStderr: []string{"SRE_VM_MAC"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, c.host, "VBoxManage")
			env := merge(vmEnv(l), c.env)
			env["FAKE_VBOX_FAIL"] = c.fail
			c.check(t, l, l.run("vm-create.sh", env))
		})
	}
}

func TestScriptVMCreateTwice(t *testing.T) {
	l := newLab(t, host{dhcp: []string{netIF}}, "VBoxManage")
	for i := range 2 {
		r := l.run("vm-create.sh", vmEnv(l))
		require.Equal(t, 0, r.code, "run %d", i+1)
		assert.Equal(t, vmIP+"\n", r.stdout, "run %d", i+1)
	}
	calls := l.calls()
	assert.Equal(t, 1, count(calls, "VBoxManage createvm"))
	assert.Equal(t, 1, count(calls, "VBoxManage startvm"))
	assert.Equal(t, 2, count(calls, vmCalls.reserve))
}

func TestScriptVMDelete(t *testing.T) {
	const (
		showvminfo = "VBoxManage showvminfo talos-cp-01 --machinereadable"
		poweroff   = "VBoxManage controlvm talos-cp-01 poweroff"
		detach     = "VBoxManage storageattach talos-cp-01 --storagectl SATA --port 1 --device 0 --type dvddrive --medium emptydrive"
		unregister = "VBoxManage unregistervm talos-cp-01 --delete"
		unreserve  = "VBoxManage dhcpserver modify --interface=vboxnet0 --mac-address=08:00:27:38:38:0a --remove-config"
	)
	// A VM that ignores poweroff is checked 30 times, with a sleep between.
	stuck := []string{showvminfo, poweroff}
	for i := range 30 {
		if i > 0 {
			stuck = append(stuck, "sleep 1")
		}
		stuck = append(stuck, showvminfo)
	}
	network := []string{netIF}
	for _, c := range []scriptCase{
		{
			name:      "powers off a running VM and deletes it",
			host:      host{dhcp: network, vms: map[string]string{vmName: "running"}},
			wantCalls: []string{showvminfo, poweroff, showvminfo, "sleep 1", showvminfo, detach, unregister, unreserve},
			wantState: map[string]bool{"vms/" + vmName: false},
		},
		{
			name:      "deletes a stopped VM",
			host:      host{dhcp: network, vms: map[string]string{vmName: "poweroff"}},
			wantCalls: []string{showvminfo, showvminfo, detach, unregister, unreserve},
			wantState: map[string]bool{"vms/" + vmName: false},
		},
		{
			name:      "DVD detach failure is ignored",
			host:      host{dhcp: network, vms: map[string]string{vmName: "poweroff"}},
			fail:      "storageattach",
			wantCalls: []string{showvminfo, showvminfo, detach, unregister, unreserve},
			wantState: map[string]bool{"vms/" + vmName: false},
		},
		{
			name:      "VM already gone only drops the reservation",
			host:      host{dhcp: network},
			wantCalls: []string{showvminfo, unreserve},
		},
		{
			name:      "VM and network already gone",
			wantCalls: []string{showvminfo, unreserve},
		},
		{
			name:       "VM that will not stop",
			host:       host{dhcp: network, vms: map[string]string{vmName: "running"}},
			fail:       "controlvm",
			wantCode:   1,
			wantCalls:  stuck,
			wantStderr: []string{"still running"},
			wantState:  map[string]bool{"vms/" + vmName: true},
		},
		{
			name:      "unregister fails",
			host:      host{dhcp: network, vms: map[string]string{vmName: "poweroff"}},
			fail:      "unregistervm",
			wantCode:  1,
			wantCalls: []string{showvminfo, showvminfo, detach, unregister},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, c.host, "VBoxManage", "sleep")
			env := vmEnv(l)
			env["FAKE_VBOX_FAIL"] = c.fail
			c.check(t, l, l.run("vm-delete.sh", env))
		})
	}
}

func TestScriptsWithoutVBoxManage(t *testing.T) {
	for _, script := range []string{"network-create.sh", "network-delete.sh", "vm-create.sh", "vm-delete.sh"} {
		t.Run(script, func(t *testing.T) {
			l := newLab(t, host{}, "sleep")
			env := merge(networkEnv(), vmEnv(l))
			env["PULUMI_COMMAND_STDOUT"] = "vboxnet3"
			r := l.run(script, env)
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
	for script, vars := range map[string][]string{
		"network-create.sh": {"SRE_NET_CIDR", "SRE_NET_IP", "SRE_NET_MASK", "SRE_DHCP_SERVER_IP", "SRE_DHCP_LOWER", "SRE_DHCP_UPPER"},
		"iso-fetch.sh":      {"SRE_ISO_URL", "SRE_ISO_PATH"},
		"vm-create.sh":      {"SRE_VM_NAME", "SRE_VM_CPUS", "SRE_VM_MEMORY_MB", "SRE_VM_DISK_MB", "SRE_VM_MAC", "SRE_VM_IP", "SRE_NET_IF", "SRE_ISO_PATH"},
		"vm-delete.sh":      {"SRE_VM_NAME", "SRE_VM_MAC", "SRE_NET_IF"},
	} {
		for _, missing := range vars {
			t.Run(fmt.Sprintf("%s/%s", script, missing), func(t *testing.T) {
				l := newLab(t, host{}, "VBoxManage", "curl", "sleep")
				env := merge(networkEnv(), vmEnv(l))
				env["SRE_ISO_URL"] = "https://example.invalid/talos.iso"
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
