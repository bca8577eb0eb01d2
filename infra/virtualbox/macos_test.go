package virtualbox

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The scripts on a macOS host: a host-only network (hostnet-*.sh) instead
// of a host-only interface, and VMs that boot at a bootpd lease and are
// handed their planned address there.

// macFreshInstall is VirtualBox as first installed on a Mac of arch: no
// host-only network, and the default DHCP server of vboxnet0 that every
// new VirtualBox.xml holds, which no Mac script touches.
func macFreshInstall(arch string) *vboxHost {
	h := freshInstall()
	h.OS = "darwin"
	if arch == "arm64" {
		h.Arch = "arm64"
	}
	return h
}

// The lab's host-only network as hostnet-create.sh makes it from
// macNetworkEnv.
const (
	macNet   = "sre-lab"
	macLower = "192.168.56.199"
	macUpper = "192.168.56.250"
	// macLease is the first address bootpd leases on it.
	macLease = "192.168.56.200"
	vmNATMAC = "020027a8380a"
)

func macNetworkEnv() map[string]string {
	return map[string]string{
		"SRE_NET_CIDR":  "192.168.56.0/24",
		"SRE_NET_NAME":  macNet,
		"SRE_NET_MASK":  "255.255.255.0",
		"SRE_NET_LOWER": macLower,
		"SRE_NET_UPPER": macUpper,
		"SRE_STACK":     labStack,
	}
}

// labNet is the network hostnet-create.sh makes.
func labNet() *hostOnlyNet {
	return &hostOnlyNet{Name: macNet, Mask: "255.255.255.0", Lower: macLower, Upper: macUpper, Enabled: true}
}

// macLabHost is a Mac of arch where hostnet-create.sh made the lab's
// network for labStack.
func macLabHost(arch string) *vboxHost {
	return with(macFreshInstall(arch), func(h *vboxHost) {
		h.HostOnlyNets = []*hostOnlyNet{labNet()}
		h.Extra = map[string]string{ownerKey(macNet): labStack}
	})
}

// macVMEnv is vmEnv on the lab's host-only network, with talos-cp-01's
// network config as vbox.go writes it and the lab's lease file.
func macVMEnv(l *lab) map[string]string {
	env := vmEnv(l)
	delete(env, "SRE_NET_IF")
	vms, err := Plan(labArgs(""))
	require.NoError(l.t, err)
	patch, err := StaticAddressPatch(vms[0], netip.MustParsePrefix("192.168.56.0/24"))
	require.NoError(l.t, err)
	env["SRE_HOSTONLY_NET"] = macNet
	env["SRE_VM_NAT_MAC"] = vmNATMAC
	env["SRE_VM_NETWORK_CONFIG"] = patch
	env["SRE_DHCP_LEASES"] = filepath.Join(l.state, leaseFile)
	return env
}

// macVM adds talos-cp-01 of arch on the lab's network in the given state,
// as vm-create.sh makes it from macVMEnv.
func macVM(h *vboxHost, arch, state string) *vboxHost {
	return with(h, func(h *vboxHost) {
		vm := &fakeVM{State: state, OSType: "Linux_64", NIC: "hostonlynet", Net: macNet, MAC: "08:00:27:a8:38:0a", NATMAC: "02:00:27:a8:38:0a",
			CPUs: 2, MemoryMB: 4096, Controllers: map[string]string{"SATA": "sata"}, Disk: vmDisk, DiskCtl: "SATA",
			Extra: map[string]string{"sre-lab/stack": labStack, "sre-lab/complete": "1"}}
		if arch == "arm64" {
			vm.Platform, vm.OSType, vm.Controllers, vm.DiskCtl = "arm", "Debian_arm64", map[string]string{"VirtIO": "virtio-scsi"}, "VirtIO"
		}
		h.VMs[vmName] = vm
		h.Disks[vmDisk] = &fakeDisk{CapacityMB: 40960}
	})
}

// hostnet-create.sh's calls.
const (
	listNets = "VBoxManage list hostonlynets"
	addNet   = "VBoxManage hostonlynet add --name sre-lab --netmask 255.255.255.0 --lower-ip 192.168.56.199 --upper-ip 192.168.56.250 --enable"
	modNet   = "VBoxManage hostonlynet modify --name sre-lab --netmask 255.255.255.0 --lower-ip 192.168.56.199 --upper-ip 192.168.56.250 --enable"
	rmNet    = "VBoxManage hostonlynet remove --name sre-lab"
)

func macRecord(how string) string { return macNet + "\nnetwork: " + how + "\n" }

func TestScriptHostNetCreate(t *testing.T) {
	vagrant := &hostOnlyNet{Name: "vagrantnet-vbox1", Mask: "255.255.255.0", Lower: "192.168.56.1", Upper: "192.168.56.254", Enabled: true}
	elsewhere := &hostOnlyNet{Name: "other", Mask: "255.255.255.0", Lower: "10.9.0.1", Upper: "10.9.0.99", Enabled: true}
	for _, c := range []scriptCase{
		{
			name:       "fresh install: the network is added and its owner recorded",
			host:       macFreshInstall("arm64"),
			wantStdout: macRecord("created"),
			wantCalls:  []string{listNets, listNets, addNet, setOwnerCall(macNet)},
			wantHost:   macLabHost("arm64"),
		},
		{
			name:       "a network of another range is left alone",
			host:       with(macFreshInstall("amd64"), func(h *vboxHost) { h.HostOnlyNets = []*hostOnlyNet{elsewhere} }),
			wantStdout: macRecord("created"),
			wantCalls:  []string{listNets, listNets, addNet, setOwnerCall(macNet)},
			wantHost: with(macLabHost("amd64"), func(h *vboxHost) {
				h.HostOnlyNets = []*hostOnlyNet{elsewhere, labNet()}
			}),
		},
		{
			// Vagrant's host-only network for 192.168.56.0/24.
			name:       "another network over the lab's range is refused, naming it",
			host:       with(macFreshInstall("amd64"), func(h *vboxHost) { h.HostOnlyNets = []*hostOnlyNet{vagrant} }),
			wantCode:   1,
			wantCalls:  []string{listNets},
			wantStderr: []string{"vagrantnet-vbox1 (192.168.56.1/255.255.255.0) overlaps 192.168.56.0/24", "VBoxManage hostonlynet remove --name vagrantnet-vbox1", "sre-lab:networkCidr"},
		},
		{
			name: "a /16 around the lab's range is refused too",
			host: with(macFreshInstall("amd64"), func(h *vboxHost) {
				h.HostOnlyNets = []*hostOnlyNet{{Name: "wide", Mask: "255.255.0.0", Lower: "192.168.0.1", Upper: "192.168.0.9"}}
			}),
			wantCode:   1,
			wantCalls:  []string{listNets},
			wantStderr: []string{"wide (192.168.0.1/255.255.0.0) overlaps"},
		},
		{
			name: "the lab's network with no owner record is adopted and kept on destroy",
			host: with(macFreshInstall("amd64"), func(h *vboxHost) {
				h.HostOnlyNets = []*hostOnlyNet{{Name: macNet, Mask: "255.255.255.0", Lower: macLower, Upper: "192.168.56.220"}}
			}),
			wantStdout: macRecord("adopted"),
			wantCalls: []string{listNets, listNets, listNets, getOwnerCall(macNet),
				"VBoxManage hostonlynet modify --name sre-lab --upper-ip 192.168.56.250 --enable", setOwnerCall(macNet)},
			wantStderr: []string{"destroy will leave it"},
			wantHost:   macLabHost("amd64"),
		},
		{
			name:       "another local stack's network is refused, naming it",
			host:       with(macLabHost("amd64"), func(h *vboxHost) { h.Extra[ownerKey(macNet)] = otherStack }),
			wantCode:   1,
			wantCalls:  []string{listNets, listNets, listNets, getOwnerCall(macNet)},
			wantStderr: []string{"host-only network sre-lab (192.168.56.0/24) belongs to local stack sre-lab/local2", "pulumi destroy -s local2"},
		},
		{
			name: "the lab's name with another host address is refused",
			host: with(macFreshInstall("amd64"), func(h *vboxHost) {
				h.HostOnlyNets = []*hostOnlyNet{{Name: macNet, Mask: "255.255.255.0", Lower: "192.168.56.1", Upper: "192.168.56.250", Enabled: true}}
			}),
			wantCode:   1,
			wantCalls:  []string{listNets, listNets, listNets},
			wantStderr: []string{"has the host at 192.168.56.1", "VBoxManage hostonlynet remove --name sre-lab"},
		},
		{
			name:       "recording the owner fails: the network is removed again",
			host:       macFreshInstall("amd64"),
			fail:       "setextradata global",
			wantCode:   1,
			wantCalls:  []string{listNets, listNets, addNet, setOwnerCall(macNet), rmNet},
			wantStderr: []string{"recording local stack sre-lab/local"},
		},
		{
			name:      "adding the network fails",
			host:      macFreshInstall("amd64"),
			fail:      "hostonlynet add",
			wantCode:  1,
			wantCalls: []string{listNets, listNets, addNet},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, c.start(), "VBoxManage")
			env := merge(macNetworkEnv(), c.env)
			env["FAKE_VBOX_FAIL"] = c.fail
			c.check(t, l, l.run("hostnet-create.sh", env))
		})
	}
}

func TestScriptHostNetUpdate(t *testing.T) {
	for _, c := range []scriptCase{
		{
			name:       "the network is given the plan's settings",
			host:       with(macLabHost("amd64"), func(h *vboxHost) { h.HostOnlyNets[0].Upper = "192.168.56.230" }),
			env:        map[string]string{"PULUMI_COMMAND_STDOUT": macRecord("created")},
			wantStdout: macRecord("created"),
			wantCalls:  []string{getOwnerCall(macNet), listNets, modNet, setOwnerCall(macNet)},
			wantHost:   macLabHost("amd64"),
		},
		{
			name:       "a network removed by hand is added again",
			host:       with(macLabHost("amd64"), func(h *vboxHost) { h.HostOnlyNets = nil }),
			env:        map[string]string{"PULUMI_COMMAND_STDOUT": macRecord("adopted")},
			wantStdout: macRecord("adopted"),
			wantCalls:  []string{getOwnerCall(macNet), listNets, addNet, setOwnerCall(macNet)},
			wantStderr: []string{"is gone; adding it again"},
			wantHost:   macLabHost("amd64"),
		},
		{
			name:       "another local stack's network is refused",
			host:       with(macLabHost("amd64"), func(h *vboxHost) { h.Extra[ownerKey(macNet)] = otherStack }),
			env:        map[string]string{"PULUMI_COMMAND_STDOUT": macRecord("created")},
			wantCode:   1,
			wantCalls:  []string{getOwnerCall(macNet)},
			wantStderr: []string{"belongs to local stack sre-lab/local2"},
		},
		{
			name:       "a record without the network",
			host:       macLabHost("amd64"),
			env:        map[string]string{"PULUMI_COMMAND_STDOUT": ""},
			wantCode:   1,
			wantStderr: []string{"pulumi up --replace"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, c.start(), "VBoxManage")
			c.check(t, l, l.run("hostnet-update.sh", merge(macNetworkEnv(), c.env)))
		})
	}
}

func TestScriptHostNetDelete(t *testing.T) {
	for _, c := range []scriptCase{
		{
			name:      "a network the lab created is removed with its owner record",
			host:      macLabHost("amd64"),
			env:       map[string]string{"PULUMI_COMMAND_STDOUT": macRecord("created")},
			wantCalls: []string{getOwnerCall(macNet), clearOwnerCall(macNet), listNets, rmNet},
			wantHost:  macFreshInstall("amd64"),
		},
		{
			name:       "an adopted network stays",
			host:       macLabHost("amd64"),
			env:        map[string]string{"PULUMI_COMMAND_STDOUT": macRecord("adopted")},
			wantCalls:  []string{getOwnerCall(macNet), clearOwnerCall(macNet)},
			wantStderr: []string{"leaving host-only network sre-lab, which was there before the lab"},
			wantHost:   with(macFreshInstall("amd64"), func(h *vboxHost) { h.HostOnlyNets = []*hostOnlyNet{labNet()} }),
		},
		{
			name:       "another local stack's network stays whole",
			host:       with(macLabHost("amd64"), func(h *vboxHost) { h.Extra[ownerKey(macNet)] = otherStack }),
			env:        map[string]string{"PULUMI_COMMAND_STDOUT": macRecord("created")},
			wantCalls:  []string{getOwnerCall(macNet)},
			wantStderr: []string{"belongs to local stack sre-lab/local2"},
		},
		{
			name:       "a network already gone",
			host:       macFreshInstall("amd64"),
			env:        map[string]string{"PULUMI_COMMAND_STDOUT": macRecord("created")},
			wantCalls:  []string{getOwnerCall(macNet), clearOwnerCall(macNet), listNets},
			wantStderr: []string{"already gone"},
		},
		{
			name: "create never printed a name",
			host: macLabHost("amd64"),
			env:  map[string]string{"PULUMI_COMMAND_STDOUT": ""},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, c.start(), "VBoxManage")
			c.check(t, l, l.run("hostnet-delete.sh", merge(map[string]string{"SRE_STACK": labStack}, c.env)))
		})
	}
}

// Create then delete gives a Mac back as it was.
func TestScriptHostNetRoundTrip(t *testing.T) {
	for name, h := range map[string]*vboxHost{
		"fresh install": macFreshInstall("arm64"),
		"with another network": with(macFreshInstall("amd64"), func(h *vboxHost) {
			h.HostOnlyNets = []*hostOnlyNet{{Name: "x", Mask: "255.255.255.0", Lower: "10.1.1.1", Upper: "10.1.1.9"}}
		}),
	} {
		t.Run(name, func(t *testing.T) {
			l := newLab(t, clone(h), "VBoxManage")
			created := l.run("hostnet-create.sh", macNetworkEnv())
			require.Equal(t, 0, created.code)
			deleted := l.run("hostnet-delete.sh", map[string]string{"PULUMI_COMMAND_STDOUT": strings.TrimSuffix(created.stdout, "\n"), "SRE_STACK": labStack})
			require.Equal(t, 0, deleted.code)
			assert.Equal(t, clone(h).settings(), l.host().settings())
		})
	}
}

// Each host's network scripts fail against the other host's VirtualBox,
// which lacks what they need, and leave it as it was: the path is chosen by
// the host's system, in vbox.go, not found out by trying.
func TestScriptsNeedTheirHostsNetworking(t *testing.T) {
	for _, c := range []struct {
		name, script string
		host         *vboxHost
		env          map[string]string
		wantCall     string
		wantStderr   string
	}{
		{"Linux scripts on a Mac", "network-create.sh", macFreshInstall("amd64"), networkEnv(), createIf, "Unknown sub-command 'create'"},
		{"Mac scripts on Linux", "hostnet-create.sh", freshInstall(), macNetworkEnv(), listNets, "Unknown list kind 'hostonlynets'"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, clone(c.host), "VBoxManage")
			r := l.run(c.script, c.env)
			assert.NotEqual(t, 0, r.code)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, c.wantStderr)
			assert.Equal(t, c.wantCall, l.calls()[len(l.calls())-1], "the call VirtualBox refuses")
			assert.Equal(t, clone(c.host).settings(), l.host().settings())
		})
	}
}

// bootpd's lease file, as lease_of reads it: bytes without leading zeros,
// several clients, a client that has no lease.
func TestLeaseFile(t *testing.T) {
	l := newLab(t, emptyHost())
	leases := filepath.Join(l.root, "dhcpd_leases")
	require.NoError(t, os.WriteFile(leases, []byte(`{
	name=talos-abc
	ip_address=192.168.56.201
	hw_address=1,8:0:27:a8:38:b
	identifier=1,8:0:27:a8:38:b
	lease=0x6790b4c9
}
{
	name=talos-def
	ip_address=192.168.56.200
	hw_address=1,8:0:27:a8:38:a
	identifier=1,8:0:27:a8:38:a
	lease=0x6790b4ca
}
`), 0o644))
	for _, c := range []struct{ mac, want string }{
		{"080027a8380a", "192.168.56.200\n"},
		{"080027A8380B", "192.168.56.201\n"},
		{"080027a83814", ""},
	} {
		r := l.runText("lease_of", libText(t)+"\nlease_of \"$F\" "+c.mac, map[string]string{"F": leases})
		assert.Equal(t, 0, r.code)
		assert.Equal(t, c.want, r.stdout, c.mac)
	}
	r := l.runText("lease_of", libText(t)+"\nlease_of \"$F\" 080027a8380a", map[string]string{"F": filepath.Join(l.root, "none")})
	assert.Equal(t, 0, r.code)
	assert.Empty(t, r.stdout, "no lease file yet: no lease")
}

// libText is scripts/lib.sh, the helpers every command starts with.
func libText(t *testing.T) string {
	t.Helper()
	data, err := scripts.ReadFile("scripts/lib.sh")
	require.NoError(t, err)
	return string(data)
}

// vm-create.sh's calls for talos-cp-01 on a Mac.
func macCreateCalls(arch string) []string {
	v := vmCalls
	createvm, modifyvm := v.createvm, "VBoxManage modifyvm talos-cp-01 --cpus 2 --memory 4096 --nic1 hostonlynet --host-only-net1 sre-lab --macaddress1 080027a8380a"+
		" --nic2 nat --macaddress2 020027a8380a --boot1 disk --boot2 dvd --boot3 none --boot4 none --ioapic on --rtcuseutc on"
	storagectl, attachDisk, attachISO := v.storagectl, v.attachDisk, v.attachISO
	var version []string
	if arch == "arm64" {
		version = []string{"VBoxManage --version"}
		createvm = "VBoxManage createvm --name talos-cp-01 --platform-architecture arm --ostype Debian_arm64 --register"
		modifyvm = strings.Replace(modifyvm, " --ioapic on", "", 1)
		storagectl = "VBoxManage storagectl talos-cp-01 --name VirtIO --add virtio-scsi --portcount 2"
		attachDisk = strings.Replace(attachDisk, "SATA", "VirtIO", 1)
		attachISO = strings.Replace(attachISO, "SATA", "VirtIO", 1)
	}
	return slices.Concat(version, []string{v.showvminfo, createvm, v.setOwner, v.showvminfo, modifyvm, storagectl, v.createmedium, attachDisk, attachISO, v.start},
		placeCalls(macLease), []string{v.setComplete})
}

// placeCalls are the calls that move a VM from its lease to 192.168.56.10:
// probes while it boots (the stand-in's Talos refuses two), the lease
// answering, the network config handed there, the planned address
// answering.
func placeCalls(lease string) []string {
	probe := func(ip string) string {
		return "curl --silent --insecure --noproxy * --connect-timeout 5 --max-time 10 --output /dev/null https://" + ip + ":50000/"
	}
	talosctl := "talosctl apply-config --insecure --nodes " + lease + " --file "
	return []string{probe(vmIP), probe(lease), "sleep 5", probe(vmIP), probe(lease), "sleep 5", probe(vmIP), probe(lease), talosctl, "sleep 5", probe(vmIP)}
}

// assertPlaced checks talos-cp-01 runs at its planned address with its NAT
// link up with DHCP.
func assertPlaced(t *testing.T, l *lab) {
	t.Helper()
	vm := l.host().VMs[vmName]
	require.NotNil(t, vm)
	assert.Equal(t, "running", vm.State)
	assert.Equal(t, vmIP, vm.Address, "at its planned address")
	assert.True(t, vm.Uplink, "the NAT link is up with DHCP")
}

// withoutTempNames masks the temporary file talosctl is handed, whose name
// mktemp makes up.
func withoutTempNames(calls []string) []string {
	out := slices.Clone(calls)
	for i, c := range out {
		if before, _, ok := strings.Cut(c, " --file "); ok {
			out[i] = before + " --file "
		}
	}
	return out
}

func TestScriptVMCreateOnMacOS(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			l := newLab(t, macLabHost(arch), "VBoxManage", "curl", "talosctl", "sleep")
			env := macVMEnv(l)
			env["SRE_VM_ARCH"] = arch
			env["TMPDIR"] = filepath.Join(l.root, "tmp")
			require.NoError(t, os.Mkdir(env["TMPDIR"], 0o755))
			r := l.run("vm-create.sh", env)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, vmIP+"\n", r.stdout)
			assert.Equal(t, macCreateCalls(arch), withoutTempNames(l.calls()))
			assert.Contains(t, r.stderr, "answers at 192.168.56.200, the address macOS's DHCP server leased it; giving it 192.168.56.10")
			assertPlaced(t, l)
			want := macVM(macLabHost(arch), arch, "running")
			assert.Equal(t, clone(want).settings(), l.host().settings())
			leases, err := os.ReadFile(filepath.Join(l.state, leaseFile))
			require.NoError(t, err)
			assert.Contains(t, string(leases), "ip_address=192.168.56.200\n\thw_address=1,8:0:27:a8:38:a\n", "bootpd's lease, bytes without leading zeros")
			left, err := os.ReadDir(env["TMPDIR"])
			require.NoError(t, err)
			assert.Empty(t, left, "the config handed to talosctl is removed")

			// Run again against the running, complete VM: nothing to do.
			l.forgetLogs()
			again := l.run("vm-create.sh", env)
			require.Equal(t, 0, again.code)
			rerun := []string{vmCalls.showvminfo, vmCalls.getOwner, vmCalls.getComplete}
			if arch == "arm64" {
				rerun = append([]string{"VBoxManage --version"}, rerun...)
			}
			assert.Equal(t, rerun, l.calls())
		})
	}
}

func TestScriptVMCreateOnMacOSFails(t *testing.T) {
	v := vmCalls
	for _, c := range []struct {
		name       string
		host       *vboxHost
		env        map[string]string
		tools      []string
		wantCalls  []string // a prefix of the calls
		wantStderr []string
		wantHost   *vboxHost // nil: the host it started from
	}{
		{
			name:       "without talosctl nothing is touched",
			host:       macLabHost("amd64"),
			tools:      []string{"VBoxManage", "curl", "sleep"},
			wantStderr: []string{"talosctl was not found", "brew install siderolabs/tap/talosctl"},
		},
		{
			name:       "arm64 VMs on VirtualBox 7.0 are refused",
			host:       with(macLabHost("arm64"), func(h *vboxHost) { h.Version = "7.0.20r163906" }),
			env:        map[string]string{"SRE_VM_ARCH": "arm64"},
			wantCalls:  []string{"VBoxManage --version"},
			wantStderr: []string{"VirtualBox 7.0.20r163906 is too old for arm64 VMs, which need VirtualBox 7.1 or newer"},
		},
		{
			name:       "an x86 VM on Apple Silicon does not start and is removed",
			host:       macLabHost("arm64"),
			wantCalls:  []string{v.showvminfo, v.createvm},
			wantStderr: []string{"VERR_PLATFORM_ARCH_NOT_SUPPORTED", "unregistering talos-cp-01"},
		},
		{
			// A full pool: bootpd leases nothing, and the VM is removed.
			name: "a VM that gets no lease is removed after 60 probes",
			host: with(macLabHost("amd64"), func(h *vboxHost) {
				h.HostOnlyNets[0].Upper = macLower
			}),
			wantCalls:  []string{v.showvminfo, v.createvm},
			wantStderr: []string{"did not come up at 192.168.56.10", "holds no lease for its MAC 080027a8380a", "unregistering talos-cp-01"},
		},
		{
			name:       "a failed hand-over removes the VM",
			host:       macLabHost("amd64"),
			env:        map[string]string{"SRE_VM_NETWORK_CONFIG": "kind: v1alpha1\n"},
			wantCalls:  []string{v.showvminfo, v.createvm},
			wantStderr: []string{"configuration validation failed", "talosctl could not hand it its network config at 192.168.56.200", "unregistering talos-cp-01"},
		},
		{
			name:       "a malformed NAT MAC",
			host:       macLabHost("amd64"),
			env:        map[string]string{"SRE_VM_NAT_MAC": "02:00:27:a8:38:0a"},
			wantStderr: []string{"SRE_VM_NAT_MAC must be 12 hex digits"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			tools := c.tools
			if tools == nil {
				tools = []string{"VBoxManage", "curl", "talosctl", "sleep"}
			}
			l := newLab(t, clone(c.host), tools...)
			r := l.run("vm-create.sh", merge(macVMEnv(l), c.env))
			assert.Equal(t, 1, r.code)
			assert.Empty(t, r.stdout)
			for _, s := range c.wantStderr {
				assert.Contains(t, r.stderr, s)
			}
			calls := l.calls()
			require.GreaterOrEqual(t, len(calls), len(c.wantCalls))
			assert.Equal(t, c.wantCalls, calls[:len(c.wantCalls)])
			want := c.wantHost
			if want == nil {
				want = c.host
			}
			assert.Equal(t, clone(want).settings(), l.host().settings(), "nothing is left behind")
		})
	}
}

// A VM shut down to be grown comes back unconfigured, its handed network
// config gone with the boot: vm-update.sh hands it over again at its lease.
// An installed node comes back at its address by itself.
func TestScriptVMUpdateOnMacOS(t *testing.T) {
	u := updateCalls
	bigger := map[string]string{"SRE_VM_CPUS": "4", "SRE_VM_MEMORY_MB": "8192", "SRE_VM_DISK_MB": "61440"}
	halted := []string{u.acpi, u.show, "sleep 2", u.show}
	for _, c := range []struct {
		name       string
		configured bool
		wantCalls  []string
	}{
		{"a node in maintenance mode is handed its address again", false,
			slices.Concat([]string{u.show, u.medium}, halted, []string{u.modify, u.resize, u.start}, placeCalls(macLease))},
		// While it boots, its old lease is probed too, and nothing is there.
		{"an installed node comes back at its address", true,
			slices.Concat([]string{u.show, u.medium}, halted, []string{u.modify, u.resize, u.start},
				repeat(2, "sleep 5", u.probe, strings.Replace(u.probe, vmIP, macLease, 1)), []string{"sleep 5", u.probe})},
	} {
		t.Run(c.name, func(t *testing.T) {
			running := with(macVM(macLabHost("amd64"), "amd64", "running"), func(h *vboxHost) {
				vm := h.VMs[vmName]
				vm.Guest, vm.Address, vm.Static, vm.Uplink, vm.Configured = guestServing, vmIP, vmIP, true, c.configured
				h.BootpLeases["08:00:27:a8:38:0a"] = macLease
			})
			l := newLab(t, running, "VBoxManage", "curl", "talosctl", "sleep")
			r := l.run("vm-update.sh", merge(macVMEnv(l), bigger))
			require.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, vmIP+"\n", r.stdout)
			assert.Equal(t, c.wantCalls, withoutTempNames(l.calls()))
			assertPlaced(t, l)
		})
	}
}

// What VirtualBox on a Mac accepts and refuses, step by step, from the
// stand-in: no host-only interfaces, host-only networks whose names need
// not be unique, the arm platform's storage and the host's architecture.
func TestStandInMacOS(t *testing.T) {
	l := newLab(t, macFreshInstall("arm64"), "VBoxManage")
	for _, step := range []struct {
		cmd        string
		wantCode   int
		wantOutput string // in stdout or stderr
	}{
		{"hostonlyif create", 2, "Unknown sub-command 'create'"},
		{"hostonlynet add --name n --netmask 255.255.255.0 --lower-ip 10.1.0.1 --upper-ip 10.1.0.9 --enable", 0, ""},
		{"hostonlynet add --name n --netmask 255.255.255.0 --lower-ip 10.2.0.1 --upper-ip 10.2.0.9 --enable", 0, ""},
		{"list hostonlynets", 0, "Name:            n\nGUID:            00000000-0000-4000-8000-000000000000\n\nState:           Enabled\nNetworkMask:     255.255.255.0\nLowerIP:         10.1.0.1\nUpperIP:         10.1.0.9\nVBoxNetworkName: hostonly-n\n\nName:            n\n"},
		{"hostonlynet remove --name n", 0, ""},
		{"list hostonlynets", 0, "LowerIP:         10.2.0.1\n"},
		{"hostonlynet remove --name missing", 1, "VBOX_E_OBJECT_NOT_FOUND"},
		{"hostonlynet add --name m --netmask 255.255.255.0", 1, "The --lower-ip parameter must be specified"},
		{"createvm --name x86 --ostype Linux_64 --register", 0, "created and registered"},
		{"createvm --name arm --platform-architecture arm --ostype Linux_64 --register", 1, "'Linux_64' is not supported on the arm platform"},
		{"createvm --name arm --platform-architecture arm --ostype Debian_arm64 --register", 0, "created and registered"},
		{"storagectl arm --name SATA --add sata --portcount 2", 1, "'sata' is not supported on this platform"},
		{"storagectl arm --name VirtIO --add virtio-scsi --portcount 2", 0, ""},
		{"modifyvm arm --ioapic on", 1, "x86-specific platform settings"},
		{"modifyvm arm --nic1 hostonlynet --host-only-net1 n --macaddress1 080027a8380a", 0, ""},
		{"startvm arm --type headless", 0, "successfully started"},
		{"modifyvm x86 --nic1 hostonlynet --host-only-net1 n", 0, ""},
		{"startvm x86 --type headless", 1, "VERR_PLATFORM_ARCH_NOT_SUPPORTED"},
		{"--version", 0, fakeVersion},
	} {
		r := l.runText(step.cmd, "VBoxManage "+step.cmd, nil)
		assert.Equal(t, step.wantCode, r.code, step.cmd)
		assert.Contains(t, r.stdout+r.stderr, step.wantOutput, step.cmd)
	}
	assert.Equal(t, "10.2.0.2", l.host().VMs["arm"].Address, "the VM got the network's first lease, after the host's address")
}

// Linux's VirtualBox has no host-only networks.
func TestStandInLinuxHasNoHostOnlyNetworks(t *testing.T) {
	l := newLab(t, freshInstall(), "VBoxManage")
	for _, cmd := range []string{"hostonlynet add --name n --netmask 255.255.255.0 --lower-ip 10.1.0.1 --upper-ip 10.1.0.9", "list hostonlynets",
		"createvm --name x --ostype Linux_64 --register", "modifyvm x --nic1 hostonlynet", "modifyvm x --host-only-net1 n"} {
		r := l.runText(cmd, "VBoxManage "+cmd, nil)
		if strings.HasPrefix(cmd, "createvm") {
			assert.Equal(t, 0, r.code, cmd)
			continue
		}
		assert.Equal(t, 2, r.code, "%s: a syntax error", cmd)
	}
}
