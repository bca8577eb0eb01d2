package virtualbox

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// This file is the VBoxManage stand-in the script tests put first on PATH.
// TestMain builds it on its own, as package main with a main calling
// fakeMain, so it must use nothing but the standard library and what this
// file defines; the tests share its types to set up and read the state. It
// keeps what VirtualBox would know in $FAKE_VBOX_STATE/vbox.json and
// behaves as VirtualBox's own source says; each behaviour names the
// upstream file it comes from (paths in the VirtualBox tree,
// github.com/VirtualBox/virtualbox).
//
// The same program is the scripts' curl and talosctl: the Talos API a VM
// answers on is part of the guest this state holds, and ISO downloads are
// answered too.
//
// The host's system decides what VBoxManage can do: VirtualBox for Linux is
// built with host-only interfaces and VBoxNetDHCP (VBOX_WITH_NETFLT),
// VirtualBox for macOS with host-only networks that vmnet serves and macOS's
// own DHCP server, bootpd, leases addresses on (VBOX_WITH_VMNET)
// (src/VBox/Frontends/VBoxManage/VBoxManageHostonly.cpp, DrvVMNet.m).

// vboxHost is the VirtualBox state the scripts touch.
type vboxHost struct {
	// OS is the host's system as runtime.GOOS names it; empty is linux.
	OS string `json:"os,omitempty"`
	// Arch is the host's CPU as runtime.GOARCH names it; empty is amd64.
	Arch string `json:"arch,omitempty"`
	// Version is what VBoxManage --version prints; empty is fakeVersion.
	Version string `json:"version,omitempty"`
	// HostOnlyNets are the host-only networks (macOS), in the order they
	// were added: VirtualBox::createHostOnlyNetwork checks no name, so two
	// may share one (src/VBox/Main/src-server/VirtualBoxImpl.cpp).
	HostOnlyNets []*hostOnlyNet `json:"hostOnlyNets,omitempty"`
	// BootpLeases are the leases macOS's bootpd holds, by colon-separated
	// MAC; they outlive the VMs, and the state directory's dhcpd_leases is
	// written from them as bootpd writes /var/db/dhcpd_leases.
	BootpLeases map[string]string `json:"bootpLeases,omitempty"`
	// Interfaces are the host-only interfaces by name.
	Interfaces map[string]*hostOnlyIf `json:"interfaces"`
	// DHCP holds the DHCP servers by network name, which for a host-only
	// interface is HostInterfaceNetworking-<name>
	// (HostNetworkInterface::i_composeNetworkName,
	// src/VBox/Main/src-server/HostNetworkInterfaceImpl.cpp).
	DHCP map[string]*dhcpServer `json:"dhcp"`
	// VMs are the registered machines by name.
	VMs map[string]*fakeVM `json:"vms"`
	// Disks are the registered hard disks by location, as the media
	// registry knows them (src/VBox/Main/src-server/MediumImpl.cpp).
	Disks map[string]*fakeDisk `json:"disks"`
	// Extra is VirtualBox's global extradata, key to value.
	Extra map[string]string `json:"extra,omitempty"`

	// events are what this call did to the VMs' guests, "<vm> <what>", for
	// the events log: started, halting, poweroff, answering.
	events []string
}

// event notes for the events log that what happened to vm's guest.
func (h *vboxHost) event(vm, what string) {
	h.events = append(h.events, vm+" "+what)
}

type hostOnlyIf struct {
	IP   string `json:"ip"`
	Mask string `json:"mask"`
}

// hostOnlyNet is a host-only network's settings (HostOnlyNetworkImpl.cpp):
// the host takes Lower, bootpd leases the addresses after it up to Upper
// (vmnet's start and end address, DrvVMNet.m).
type hostOnlyNet struct {
	Name    string `json:"name"`
	Mask    string `json:"mask"`
	Lower   string `json:"lower"`
	Upper   string `json:"upper"`
	Enabled bool   `json:"enabled"`
}

// fakeVersion is the VirtualBox a host has unless its state says otherwise.
const fakeVersion = "7.1.6r167084"

// dhcpServer is a DHCP server's saved settings and, apart from them, the
// configuration its VBoxNetDHCP process read when it last started.
type dhcpServer struct {
	IP      string `json:"ip"`
	Mask    string `json:"mask"`
	Lower   string `json:"lower"`
	Upper   string `json:"upper"`
	Enabled bool   `json:"enabled"`
	// Fixed are the saved MAC reservations, MAC to address.
	Fixed map[string]string `json:"fixed,omitempty"`
	// Running is nil while no VBoxNetDHCP runs for the network.
	Running *dhcpdConfig `json:"running,omitempty"`
	// Leases are the addresses the process handed out, by MAC.
	Leases map[string]string `json:"leases,omitempty"`
}

// dhcpdConfig is the file DHCPServer::i_writeDhcpdConfig writes for the
// process when it starts (src/VBox/Main/src-server/DHCPServerImpl.cpp); the
// process serves from it until it is restarted.
type dhcpdConfig struct {
	Lower string            `json:"lower"`
	Upper string            `json:"upper"`
	Fixed map[string]string `json:"fixed,omitempty"`
}

type fakeVM struct {
	// UUID is random, as VirtualBox::createMachine makes it without
	// --uuid (src/VBox/Main/src-server/VirtualBoxImpl.cpp): a VM made
	// again under the same name is another VM.
	UUID string `json:"uuid,omitempty"`
	// Platform is "arm" for an arm64 VM, empty for x86; OSType its type.
	Platform string `json:"platform,omitempty"`
	OSType   string `json:"osType,omitempty"`
	State    string `json:"state"`
	CPUs     int    `json:"cpus,omitempty"`
	MemoryMB int    `json:"memoryMB,omitempty"`
	// NIC is the first card's attachment: hostonly to the interface
	// Adapter, or hostonlynet to the network Net.
	NIC     string `json:"nic,omitempty"`
	Adapter string `json:"adapter,omitempty"`
	Net     string `json:"net,omitempty"`
	MAC     string `json:"mac,omitempty"`
	// NATMAC is the second (NAT) card's MAC when one was set.
	NATMAC string `json:"natMAC,omitempty"`
	// Controllers are the storage controllers by name, to their bus.
	Controllers map[string]string `json:"controllers,omitempty"`
	// Disk is the location of the hard disk on port 0 of DiskCtl.
	Disk    string `json:"disk,omitempty"`
	DiskCtl string `json:"diskCtl,omitempty"`
	// Address is what DHCP gave the VM when it last started; empty when
	// nothing answered.
	Address string `json:"address,omitempty"`
	// Extra is the VM's extradata, key to value.
	Extra map[string]string `json:"extra,omitempty"`

	// What the guest does is not VirtualBox's to decide. A Talos guest
	// shuts down on the ACPI power button and answers on its API port once
	// booted; IgnoresACPI and NeverAnswers make one that does not.
	IgnoresACPI  bool `json:"ignoresACPI,omitempty"`
	NeverAnswers bool `json:"neverAnswers,omitempty"`
	// Configured is a Talos installed with its machine config: its API
	// asks clients for a certificate, and it keeps the address Static its
	// config gives it. Without one, Talos boots the ISO into maintenance
	// mode, where a network config handed to it (Static, Uplink) lasts
	// until the VM stops.
	Configured bool `json:"configured,omitempty"`
	// Static is the address Talos's network config gives the host-only
	// link; Uplink whether the NAT link is up with DHCP, the VM's way out.
	Static string `json:"static,omitempty"`
	Uplink bool   `json:"uplink,omitempty"`
	// Guest is where the guest is: booting, serving or halting while the VM
	// runs, empty while it does not.
	Guest string `json:"guest,omitempty"`
	// ShutdownIn counts the state checks left until a halting guest powers
	// off; BootIn the probes of its API refused until a booting one answers.
	// Both stand for time passing.
	ShutdownIn int `json:"shutdownIn,omitempty"`
	BootIn     int `json:"bootIn,omitempty"`
}

// fakeDisk is a registered hard disk image.
type fakeDisk struct {
	UUID       string `json:"uuid,omitempty"`
	CapacityMB int    `json:"capacityMB"`
}

// Guest pacing: how many state checks a Talos guest takes to power off after
// the power button, and how many probes of its API it refuses after it
// starts. Any count above one makes a script that does not wait fail.
const (
	talosShutdownChecks = 2
	talosBootProbes     = 2
	talosAPIPort        = "50000"
)

// Where a Talos guest is while its VM runs.
const (
	guestBooting = "booting"
	guestServing = "serving"
	guestHalting = "halting"
)

// networkPrefix and the interface name make the network name of a host-only
// interface's DHCP server.
const (
	networkPrefix   = "HostInterfaceNetworking-"
	vboxnet0Network = networkPrefix + "vboxnet0"
)

// freshInstall is VirtualBox as first installed: no interface, no VM, and
// the DHCP server for vboxnet0 that MainConfigFile's constructor puts in a
// new VirtualBox.xml (src/VBox/Main/xml/Settings.cpp).
func freshInstall() *vboxHost {
	return &vboxHost{DHCP: map[string]*dhcpServer{vboxnet0Network: {
		IP: "192.168.56.100", Mask: "255.255.255.0",
		Lower: "192.168.56.101", Upper: "192.168.56.254", Enabled: true,
	}}}
}

// emptyHost has no interface, DHCP server or VM.
func emptyHost() *vboxHost { return &vboxHost{} }

func (h *vboxHost) init() {
	if h.Interfaces == nil {
		h.Interfaces = map[string]*hostOnlyIf{}
	}
	if h.DHCP == nil {
		h.DHCP = map[string]*dhcpServer{}
	}
	if h.VMs == nil {
		h.VMs = map[string]*fakeVM{}
	}
	if h.Disks == nil {
		h.Disks = map[string]*fakeDisk{}
	}
	if h.BootpLeases == nil {
		h.BootpLeases = map[string]string{}
	}
	for _, s := range h.DHCP {
		if s.Fixed == nil {
			s.Fixed = map[string]string{}
		}
		if s.Leases == nil {
			s.Leases = map[string]string{}
		}
	}
}

// settings is the host without what only lives in running processes, which
// is what a destroy must give back, and without the random UUIDs, so two
// hosts compare by what they hold.
func (h *vboxHost) settings() *vboxHost {
	data, err := json.Marshal(h)
	if err != nil {
		panic(err)
	}
	var c vboxHost
	if err := json.Unmarshal(data, &c); err != nil {
		panic(err)
	}
	c.init()
	for _, s := range c.DHCP {
		s.Running, s.Leases = nil, map[string]string{}
	}
	for _, vm := range c.VMs {
		vm.UUID, vm.Address = "", ""
		vm.Guest, vm.ShutdownIn, vm.BootIn = "", 0, 0
		vm.Static, vm.Uplink = "", false
	}
	c.BootpLeases = nil
	for _, d := range c.Disks {
		d.UUID = ""
	}
	return &c
}

// vboxError is what VBoxManage reports on stderr before exiting non-zero;
// syntax errors exit 2 (RTEXITCODE_SYNTAX), the rest 1.
type vboxError struct {
	msg    string
	syntax bool
}

func (e *vboxError) Error() string { return e.msg }

func failf(format string, args ...any) error {
	return &vboxError{msg: fmt.Sprintf(format, args...)}
}

func syntaxf(format string, args ...any) error {
	return &vboxError{msg: fmt.Sprintf(format, args...), syntax: true}
}

// progress is the progress bar VBoxManage prints on stdout while it changes
// something; it is printed for every change so a script that lets it reach
// its own stdout (Pulumi's output) is caught.
const progress = "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%\n"

// fakeMain runs the program argv[0] names: curl, talosctl, or VBoxManage.
func fakeMain(argv []string) int {
	dir := os.Getenv("FAKE_VBOX_STATE")
	// VBoxSVC holds the one copy of the settings and serves every client in
	// turn; the lock does that for the scripts' concurrent calls.
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err == nil {
		defer lock.Close()
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fake %s: %v\n", filepath.Base(argv[0]), err)
		return 99
	}
	switch filepath.Base(argv[0]) {
	case "curl":
		return fakeCurl(dir, argv[1:])
	case "talosctl":
		return fakeTalosctl(dir, argv[1:])
	}
	return fakeVBoxManage(dir, argv[1:])
}

// appendLog appends a line to one of the logs in the state directory: calls,
// every program run, and events, what happened to the VMs.
func appendLog(dir, log, line string) {
	f, err := os.OpenFile(filepath.Join(dir, log), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintln(f, line)
		f.Close()
	}
}

func fakeVBoxManage(dir string, args []string) int {
	line := strings.Join(args, " ")
	appendLog(dir, "calls", "VBoxManage "+line)
	if fail := os.Getenv("FAKE_VBOX_FAIL"); fail != "" && strings.HasPrefix(line, fail) {
		fmt.Fprintln(os.Stderr, "VBoxManage: error: injected failure")
		return 1
	}
	h, err := loadHost(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fake VBoxManage: %v\n", err)
		return 99
	}
	out, runErr := h.run(dir, args)
	// VirtualBox saves each change as it is made, so a command that fails
	// half-way keeps what it did before failing.
	if err := saveHost(dir, h); err != nil {
		fmt.Fprintf(os.Stderr, "fake VBoxManage: %v\n", err)
		return 99
	}
	// "<TERM|KILL> <prefix>" signals the script that made this call once
	// the call is done: TERM as Ctrl-C or a stopped pulumi would, KILL as a
	// crash or power loss, which no trap sees.
	if sig, prefix, ok := strings.Cut(os.Getenv("FAKE_VBOX_SIGNAL"), " "); ok && strings.HasPrefix(line, prefix) {
		signal := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL}[sig]
		if signal == 0 || syscall.Kill(os.Getppid(), signal) != nil {
			fmt.Fprintf(os.Stderr, "fake VBoxManage: cannot send %q to the script\n", sig)
			return 99
		}
	}
	for _, e := range h.events {
		appendLog(dir, "events", e)
	}
	fmt.Print(out)
	if runErr != nil {
		fmt.Fprintf(os.Stderr, "VBoxManage: error: %v\n", runErr)
		var ve *vboxError
		if errors.As(runErr, &ve) && ve.syntax {
			return 2
		}
		return 1
	}
	return 0
}

func loadHost(dir string) (*vboxHost, error) {
	h := &vboxHost{}
	data, err := os.ReadFile(filepath.Join(dir, "vbox.json"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		if err := json.Unmarshal(data, h); err != nil {
			return nil, err
		}
	}
	h.init()
	return h, nil
}

func saveHost(dir string, h *vboxHost) error {
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "vbox.json"), data, 0o644); err != nil {
		return err
	}
	if !h.darwin() {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, leaseFile), []byte(h.bootpdLeases()), 0o644)
}

// leaseFile is the state directory's stand-in for /var/db/dhcpd_leases.
const leaseFile = "dhcpd_leases"

// bootpdLeases writes the leases as bootpd does: a block per client, the
// MAC's bytes without leading zeros after the hardware type
// (pkg/drivers/hyperkit/network.go of kubernetes/minikube parses them so).
func (h *vboxHost) bootpdLeases() string {
	var b strings.Builder
	for _, mac := range slices.Sorted(maps.Keys(h.BootpLeases)) {
		parts := strings.Split(mac, ":")
		for i, p := range parts {
			parts[i] = strings.TrimPrefix(p, "0")
			if parts[i] == "" {
				parts[i] = "0"
			}
		}
		short := strings.Join(parts, ":")
		fmt.Fprintf(&b, "{\n\tname=talos\n\tip_address=%s\n\thw_address=1,%s\n\tidentifier=1,%s\n\tlease=0x6790b4c9\n}\n",
			h.BootpLeases[mac], short, short)
	}
	return b.String()
}

// darwin is whether the host is macOS.
func (h *vboxHost) darwin() bool { return h.OS == "darwin" }

func (h *vboxHost) run(dir string, args []string) (string, error) {
	if len(args) == 0 {
		return "", syntaxf("no command")
	}
	switch args[0] {
	case "--version":
		return h.version() + "\n", nil
	case "list":
		return h.list(args[1:])
	case "hostonlyif":
		return h.hostOnlyIf(args[1:])
	case "hostonlynet":
		// Only VirtualBox for macOS has it (VBOX_WITH_VMNET,
		// src/VBox/Frontends/VBoxManage/VBoxManage.cpp and
		// VBoxManageHostonly.cpp).
		if !h.darwin() {
			return "", syntaxf("Invalid command 'hostonlynet'")
		}
		return h.hostOnlyNet(args[1:])
	case "dhcpserver":
		return h.dhcpServerCmd(args[1:])
	case "showvminfo":
		return h.showVMInfo(dir, args[1:])
	case "createvm", "modifyvm", "storagectl", "startvm", "controlvm", "unregistervm":
		return h.machineCmd(dir, args)
	case "createmedium", "closemedium", "showmediuminfo", "modifymedium", "storageattach":
		return h.mediumCmd(args)
	case "getextradata", "setextradata":
		return h.extraData(args)
	}
	return "", syntaxf("Invalid command '%s'", args[0])
}

// extraData reads and writes the extradata of a VM, or VirtualBox's own for
// the target "global", as handleGetExtraData and handleSetExtraData do
// (src/VBox/Frontends/VBoxManage/VBoxManageMisc.cpp): get prints
// "Value: <v>", or "No value set!" for a key that is unset, and still exits
// 0; set without a value removes the key. Machine::SetExtraData
// (src/VBox/Main/src-server/MachineImpl.cpp) takes no session, so a running
// VM's extradata can be set too.
func (h *vboxHost) extraData(args []string) (string, error) {
	if len(args) < 3 || (args[0] == "getextradata" && len(args) != 3) || len(args) > 4 {
		return "", syntaxf("%s global|<vm> <key> [<value>]", args[0])
	}
	extra := &h.Extra
	if args[1] != "global" {
		vm, err := h.findVM(args[1])
		if err != nil {
			return "", err
		}
		extra = &vm.Extra
	}
	key := args[2]
	if args[0] == "getextradata" {
		if v := (*extra)[key]; v != "" {
			return "Value: " + v + "\n", nil
		}
		return "No value set!\n", nil
	}
	if len(args) == 3 || args[3] == "" {
		delete(*extra, key)
		return "", nil
	}
	if *extra == nil {
		*extra = map[string]string{}
	}
	(*extra)[key] = args[3]
	return "", nil
}

// list prints what listNetworkInterfaces and listDhcpServers print
// (src/VBox/Frontends/VBoxManage/VBoxManageList.cpp).
func (h *vboxHost) list(args []string) (string, error) {
	if len(args) != 1 {
		return "", syntaxf("list takes one kind")
	}
	var b strings.Builder
	switch args[0] {
	case "hostonlynets":
		if !h.darwin() {
			return "", syntaxf("Unknown list kind '%s'", args[0])
		}
		for i, n := range h.HostOnlyNets {
			state := "Disabled"
			if n.Enabled {
				state = "Enabled"
			}
			fmt.Fprintf(&b, "Name:            %s\nGUID:            %08d-0000-4000-8000-000000000000\n\n", n.Name, i)
			fmt.Fprintf(&b, "State:           %s\nNetworkMask:     %s\nLowerIP:         %s\nUpperIP:         %s\n", state, n.Mask, n.Lower, n.Upper)
			fmt.Fprintf(&b, "VBoxNetworkName: hostonly-%s\n\n", n.Name)
		}
	case "hostonlyifs":
		for i, name := range slices.Sorted(maps.Keys(h.Interfaces)) {
			ifc := h.Interfaces[name]
			fmt.Fprintf(&b, "Name:            %s\n", name)
			fmt.Fprintf(&b, "GUID:            786f6276-656e-4%03d-8000-0a0027000000\n", i)
			fmt.Fprintf(&b, "DHCP:            Disabled\n")
			fmt.Fprintf(&b, "IPAddress:       %s\n", ifc.IP)
			fmt.Fprintf(&b, "NetworkMask:     %s\n", ifc.Mask)
			fmt.Fprintf(&b, "IPV6Address:     \nIPV6NetworkMaskPrefixLength: 0\n")
			fmt.Fprintf(&b, "HardwareAddress: 0a:00:27:00:00:%02x\n", i)
			fmt.Fprintf(&b, "MediumType:      Ethernet\nWireless:        No\nStatus:          Up\n")
			fmt.Fprintf(&b, "VBoxNetworkName: %s%s\n\n", networkPrefix, name)
		}
	case "dhcpservers":
		for i, network := range slices.Sorted(maps.Keys(h.DHCP)) {
			s := h.DHCP[network]
			if i > 0 {
				b.WriteString("\n")
			}
			enabled := "No"
			if s.Enabled {
				enabled = "Yes"
			}
			fmt.Fprintf(&b, "NetworkName:    %s\nDhcpd IP:       %s\nLowerIPAddress: %s\nUpperIPAddress: %s\nNetworkMask:    %s\nEnabled:        %s\n",
				network, s.IP, s.Lower, s.Upper, s.Mask, enabled)
			fmt.Fprintf(&b, "Global Configuration:\n    minLeaseTime:     default\n    defaultLeaseTime: default\n    maxLeaseTime:     default\n")
			fmt.Fprintf(&b, "    Forced options:   None\n    Suppressed opts.: None\n        1/legacy: %s\n", s.Mask)
			b.WriteString("Groups:               None\n")
			if len(s.Fixed) == 0 {
				b.WriteString("Individual Configs:   None\n")
			}
			for _, mac := range slices.Sorted(maps.Keys(s.Fixed)) {
				fmt.Fprintf(&b, "Individual Config:    MAC %s\n    Fixed Address:    %s\n", mac, s.Fixed[mac])
				b.WriteString("    minLeaseTime:     default\n    defaultLeaseTime: default\n    maxLeaseTime:     default\n")
				b.WriteString("    Forced options:   None\n    Suppressed opts.: None\n")
			}
		}
	default:
		return "", syntaxf("Unknown list kind '%s'", args[0])
	}
	return b.String(), nil
}

func (h *vboxHost) hostOnlyIf(args []string) (string, error) {
	if len(args) == 0 {
		return "", syntaxf("hostonlyif needs a subcommand")
	}
	// create and remove exist only where host-only interfaces do
	// (VBOX_WITH_NETFLT, src/VBox/Frontends/VBoxManage/VBoxManageHostonly.cpp);
	// VirtualBox 7 on macOS has host-only networks instead.
	if h.darwin() && (args[0] == "create" || args[0] == "remove") {
		return "", syntaxf("Unknown sub-command '%s'", args[0])
	}
	switch args[0] {
	case "create":
		// The vboxnetadp driver gives a new interface the first free unit
		// (vboxNetAdpGetNextAvailableUnit,
		// src/VBox/HostDrivers/VBoxNetAdp/VBoxNetAdp.c); VBoxNetAdpCtl add
		// reports its name (src/VBox/Main/src-server/generic/NetIf-generic.cpp).
		name := ""
		for n := 0; ; n++ {
			name = fmt.Sprintf("vboxnet%d", n)
			if _, taken := h.Interfaces[name]; !taken {
				break
			}
		}
		h.Interfaces[name] = &hostOnlyIf{IP: "0.0.0.0", Mask: "0.0.0.0"}
		return progress + fmt.Sprintf("Interface '%s' was successfully created\n", name), nil
	case "ipconfig":
		if len(args) != 6 || args[2] != "--ip" || args[4] != "--netmask" {
			return "", syntaxf("hostonlyif ipconfig <name> --ip <ip> --netmask <mask>")
		}
		ifc, err := h.findInterface(args[1])
		if err != nil {
			return "", err
		}
		ifc.IP, ifc.Mask = args[3], args[5]
		return "", nil
	case "remove":
		if len(args) != 2 {
			return "", syntaxf("hostonlyif remove <name>")
		}
		if _, err := h.findInterface(args[1]); err != nil {
			return "", err
		}
		// Removing an interface leaves its DHCP server in the settings
		// (Host::removeHostOnlyNetworkInterface only drops the interface's
		// extra data, src/VBox/Main/src-server/HostImpl.cpp).
		delete(h.Interfaces, args[1])
		return progress, nil
	}
	return "", syntaxf("Invalid hostonlyif subcommand '%s'", args[0])
}

// findInterface fails as Host::findHostNetworkInterfaceByName does
// (src/VBox/Main/src-server/HostImpl.cpp).
func (h *vboxHost) findInterface(name string) (*hostOnlyIf, error) {
	ifc, ok := h.Interfaces[name]
	if !ok {
		return nil, failf("The host network interface named '%s' could not be found", name)
	}
	return ifc, nil
}

// dhcpServerCmd follows src/VBox/Frontends/VBoxManage/VBoxManageDHCPServer.cpp:
// --interface is looked up as a host-only interface first, so it fails once
// the interface is gone; add refuses a network that has a server; the others
// refuse one that has none.
func (h *vboxHost) dhcpServerCmd(args []string) (string, error) {
	if len(args) == 0 {
		return "", syntaxf("dhcpserver needs a subcommand")
	}
	sub, opts := args[0], args[1:]
	network, rest, err := h.dhcpTarget(sub, opts)
	if err != nil {
		return "", err
	}
	s := h.DHCP[network]
	switch sub {
	case "add", "modify":
		if sub == "add" {
			if s != nil {
				return "", failf("DHCP server already exists")
			}
			s = &dhcpServer{Fixed: map[string]string{}, Leases: map[string]string{}}
		} else if s == nil {
			return "", failf("DHCP server does not exist")
		}
		if err := h.addOrModify(network, s, sub == "add", rest); err != nil {
			return "", err
		}
		return "", nil
	case "remove":
		if len(rest) > 0 {
			return "", syntaxf("unknown option %s", rest[0])
		}
		if s == nil {
			return "", failf("Failed to find DHCP server for network '%s'", network)
		}
		// The settings go, and the process with them.
		delete(h.DHCP, network)
		return "", nil
	case "restart":
		if len(rest) > 0 {
			return "", syntaxf("unknown option %s", rest[0])
		}
		if s == nil {
			return "", failf("Failed to find DHCP server for network '%s'", network)
		}
		// DHCPServer::restart refuses a server that is not running, stops
		// it, and starts it again only if it is enabled
		// (src/VBox/Main/src-server/DHCPServerImpl.cpp).
		if s.Running == nil {
			return "", failf("Failed to restart the server\nVBoxManage: error: not running")
		}
		s.Running = nil
		if s.Enabled {
			s.start()
		}
		return "", nil
	}
	return "", syntaxf("Invalid dhcpserver subcommand '%s'", sub)
}

// dhcpTarget finds the network a dhcpserver command names, returning the
// options left over.
func (h *vboxHost) dhcpTarget(sub string, opts []string) (string, []string, error) {
	var network, iface string
	var rest []string
	for i := 0; i < len(opts); i++ {
		key, value, hasValue := strings.Cut(opts[i], "=")
		switch key {
		case "--network", "--netname", "--interface", "--ifname":
			if !hasValue {
				if i+1 >= len(opts) {
					return "", nil, syntaxf("%s needs a value", key)
				}
				i++
				value = opts[i]
			}
			if key == "--network" || key == "--netname" {
				network = value
			} else {
				iface = value
			}
		default:
			rest = append(rest, opts[i])
		}
	}
	switch {
	case network != "" && iface != "":
		return "", nil, syntaxf("Either --network or --interface, not both")
	case network != "":
		return network, rest, nil
	case iface != "":
		if _, ok := h.Interfaces[iface]; !ok {
			if sub == "add" || sub == "modify" {
				return "", nil, failf("Could not find interface '%s'", iface)
			}
			return "", nil, failf("Failed to locate host-only interface '%s'", iface)
		}
		return networkPrefix + iface, rest, nil
	}
	return "", nil, syntaxf("You need to specify either --network or --interface to identify the DHCP server")
}

// addOrModify applies the options of dhcpserver add or modify in order, as
// dhcpdHandleAddAndModify does: server settings through
// DHCPServer::setConfiguration, which insists on a pool inside the server's
// network (src/VBox/Main/src-server/DHCPServerImpl.cpp), and a --mac-address
// selecting the config that --fixed-address and --remove-config act on.
func (h *vboxHost) addOrModify(network string, s *dhcpServer, add bool, opts []string) error {
	settings := map[string]string{}
	enabled := -1
	mac := ""
	type change struct{ mac, fixed string }
	var changes []change
	for i := 0; i < len(opts); i++ {
		key, value, hasValue := strings.Cut(opts[i], "=")
		needValue := func() error {
			if hasValue {
				return nil
			}
			if i+1 >= len(opts) {
				return syntaxf("%s needs a value", key)
			}
			i++
			value = opts[i]
			return nil
		}
		switch key {
		case "--server-ip", "--netmask", "--lower-ip", "--upper-ip":
			if err := needValue(); err != nil {
				return err
			}
			settings[key] = value
		case "--enable":
			enabled = 1
		case "--disable":
			enabled = 0
		case "--mac-address":
			if err := needValue(); err != nil {
				return err
			}
			m, err := normalMAC(value)
			if err != nil {
				return err
			}
			mac = m
		case "--fixed-address":
			if err := needValue(); err != nil {
				return err
			}
			if mac == "" {
				return syntaxf("--fixed-address can only be applied to a VM NIC or an MAC address")
			}
			if _, err := netip.ParseAddr(value); err != nil {
				return failf("Invalid IPv4 address: %s", value)
			}
			changes = append(changes, change{mac, value})
		case "--remove-config":
			if add {
				return syntaxf("--remove-config does not apply to the 'add' subcommand")
			}
			if mac == "" {
				return syntaxf("--remove-config cannot be applied to the global config")
			}
			changes = append(changes, change{mac: mac})
			mac = ""
		default:
			return syntaxf("Unknown option: %s", opts[i])
		}
	}
	if add {
		for _, k := range []string{"--server-ip", "--netmask", "--lower-ip", "--upper-ip"} {
			if settings[k] == "" {
				return syntaxf("Missing required option: %s", k)
			}
		}
		h.DHCP[network] = s
	}
	if len(settings) > 0 {
		next := *s
		for k, dst := range map[string]*string{"--server-ip": &next.IP, "--netmask": &next.Mask, "--lower-ip": &next.Lower, "--upper-ip": &next.Upper} {
			if v, ok := settings[k]; ok {
				*dst = v
			}
		}
		if err := validDHCPSettings(next.IP, next.Mask, next.Lower, next.Upper); err != nil {
			return err
		}
		s.IP, s.Mask, s.Lower, s.Upper = next.IP, next.Mask, next.Lower, next.Upper
	}
	if enabled >= 0 {
		s.Enabled = enabled == 1
	}
	for _, c := range changes {
		if c.fixed == "" {
			delete(s.Fixed, c.mac)
		} else {
			s.Fixed[c.mac] = c.fixed
		}
	}
	return nil
}

func validDHCPSettings(ip, mask, lower, upper string) error {
	parse := func(s string) (uint32, error) {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return 0, failf("Invalid address: %s", s)
		}
		b := a.As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), nil
	}
	var v [4]uint32
	for i, s := range []string{ip, mask, lower, upper} {
		n, err := parse(s)
		if err != nil {
			return err
		}
		v[i] = n
	}
	if v[2]&v[1] != v[0]&v[1] || v[3]&v[1] != v[0]&v[1] {
		return failf("Invalid range address (mask %s)", mask)
	}
	if v[2] > v[3] {
		return failf("Lower bound must be less or equal than the upper: %s vs %s", lower, upper)
	}
	return nil
}

// normalMAC accepts a MAC as RTGETOPT_REQ_MACADDR does, with or without
// colons, and gives it as VBoxManage lists it.
func normalMAC(s string) (string, error) {
	hex := strings.ToLower(strings.ReplaceAll(s, ":", ""))
	if len(hex) != 12 || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", syntaxf("Invalid MAC address '%s'", s)
	}
	var parts []string
	for i := 0; i < 12; i += 2 {
		parts = append(parts, hex[i:i+2])
	}
	return strings.Join(parts, ":"), nil
}

// start runs VBoxNetDHCP: DHCPServer::start writes the saved settings and
// reservations to the file the process reads, once
// (i_writeDhcpdConfig, src/VBox/Main/src-server/DHCPServerImpl.cpp).
func (s *dhcpServer) start() {
	s.Running = &dhcpdConfig{Lower: s.Lower, Upper: s.Upper, Fixed: maps.Clone(s.Fixed)}
}

// lease answers a DHCP request from mac the way the running process's
// config decides: its reserved address if the config has one, else the
// lease it already holds, else the lowest free pool address.
func (s *dhcpServer) lease(mac string) string {
	cfg := s.Running
	if addr, ok := cfg.Fixed[mac]; ok {
		s.Leases[mac] = addr
		return addr
	}
	if addr, ok := s.Leases[mac]; ok && inRange(addr, cfg.Lower, cfg.Upper) {
		return addr
	}
	taken := map[string]bool{}
	for m, a := range s.Leases {
		if m != mac {
			taken[a] = true
		}
	}
	for _, a := range cfg.Fixed {
		taken[a] = true
	}
	for a := netip.MustParseAddr(cfg.Lower); inRange(a.String(), cfg.Lower, cfg.Upper); a = a.Next() {
		if !taken[a.String()] {
			s.Leases[mac] = a.String()
			return a.String()
		}
	}
	return ""
}

func inRange(addr, lower, upper string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	return a.Compare(netip.MustParseAddr(lower)) >= 0 && a.Compare(netip.MustParseAddr(upper)) <= 0
}

// showVMInfo prints, for the settings the scripts read, what showVmInfo
// prints with --machinereadable (src/VBox/Frontends/VBoxManage/VBoxManageInfo.cpp):
// numbers bare (SHOW_ULONG_PROP), strings quoted, and the keys of storage
// attachments quoted too. A check of the state is also when time passes for
// the guest.
func (h *vboxHost) showVMInfo(dir string, args []string) (string, error) {
	if len(args) != 2 || args[1] != "--machinereadable" {
		return "", syntaxf("showvminfo <name> --machinereadable")
	}
	vm, err := h.findVM(args[0])
	if err != nil {
		return "", err
	}
	name := args[0]
	// The ACPI device only raises the button event
	// (acpiR3Port_PowerButtonPress, src/VBox/Devices/PC/DevACPI.cpp); the
	// machine stays running until the guest, done shutting down, powers it
	// off.
	if vm.Guest == guestHalting {
		vm.ShutdownIn--
		if vm.ShutdownIn <= 0 {
			vm.State, vm.Guest, vm.ShutdownIn = "poweroff", "", 0
			h.event(name, "poweroff")
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "name=\"%s\"\nUUID=\"%s\"\nCfgFile=\"%s\"\nmemory=%d\ncpus=%d\nVMState=\"%s\"\n",
		name, vm.UUID, filepath.Join(dir, "machines", name, name+".vbox"), vm.MemoryMB, vm.CPUs, vm.State)
	if vm.Disk != "" {
		id := ""
		if d := h.Disks[vm.Disk]; d != nil {
			id = d.UUID
		}
		fmt.Fprintf(&b, "\"%[1]s-0-0\"=\"%[2]s\"\n\"%[1]s-ImageUUID-0-0\"=\"%[3]s\"\n", vm.DiskCtl, vm.Disk, id)
	}
	// The attachment's own key names the interface or the network
	// (hostonlyadapter<N>, hostonly-network<N>).
	if vm.NIC == "hostonlynet" {
		fmt.Fprintf(&b, "nic1=\"hostonlynetwork\"\nhostonly-network1=\"%s\"\n", vm.Net)
	} else {
		fmt.Fprintf(&b, "nic1=\"hostonly\"\nhostonlyadapter1=\"%s\"\n", vm.Adapter)
	}
	fmt.Fprintf(&b, "macaddress1=\"%s\"\n", strings.ToUpper(strings.ReplaceAll(vm.MAC, ":", "")))
	// A VM being powered off is seen stopping once, then off.
	if vm.State == "stopping" {
		vm.State = "poweroff"
	}
	return b.String(), nil
}

func (h *vboxHost) findVM(name string) (*fakeVM, error) {
	vm, ok := h.VMs[name]
	if !ok {
		return nil, failf("Could not find a registered machine named '%s'", name)
	}
	return vm, nil
}

// locked is whether a session holds the VM: one does from start until the VM
// is off.
func (vm *fakeVM) locked() bool {
	return vm.State == "running" || vm.State == "stopping"
}

func (h *vboxHost) machineCmd(dir string, args []string) (string, error) {
	cmd := args[0]
	if cmd == "createvm" {
		if len(args) < 3 || args[1] != "--name" {
			return "", syntaxf("createvm --name <name>")
		}
		name := args[2]
		vm := &fakeVM{UUID: newUUID(), State: "poweroff"}
		for i := 3; i < len(args); i++ {
			switch args[i] {
			case "--register":
			case "--ostype", "--platform-architecture":
				if i+1 >= len(args) {
					return "", syntaxf("%s needs a value", args[i])
				}
				if args[i] == "--ostype" {
					vm.OSType = args[i+1]
				} else if err := h.platformOption(vm, args[i+1]); err != nil {
					return "", err
				}
				i++
			default:
				return "", syntaxf("Invalid parameter '%s'", args[i])
			}
		}
		// A type belongs to one platform: the x86 ones end in _64, the
		// arm64 ones in _arm64 (GUEST_OS_ID_STR_X64, GUEST_OS_ID_STR_A64,
		// src/VBox/Main/src-all/Global.cpp).
		if strings.HasSuffix(vm.OSType, "_arm64") != (vm.Platform == "arm") {
			return "", failf("Guest OS type '%s' is not supported on the %s platform", vm.OSType, cmp.Or(vm.Platform, "x86"))
		}
		if _, ok := h.VMs[name]; ok {
			return "", failf("Machine settings file for '%s' already exists", name)
		}
		h.VMs[name] = vm
		return fmt.Sprintf("Virtual machine '%s' is created and registered.\nUUID: %s\nSettings file: '%s'\n",
			name, vm.UUID, filepath.Join(dir, "machines", name, name+".vbox")), nil
	}
	if len(args) < 2 {
		return "", syntaxf("%s needs a machine", cmd)
	}
	name := args[1]
	vm, err := h.findVM(name)
	if err != nil {
		return "", err
	}
	switch cmd {
	case "modifyvm":
		// handleModifyVM takes a write lock on the machine, which a running
		// VM's session holds (LockMachine(a->session, LockType_Write) in
		// src/VBox/Frontends/VBoxManage/VBoxManageModifyVM.cpp,
		// Machine::lockMachine in src/VBox/Main/src-server/MachineImpl.cpp).
		if vm.locked() {
			return "", failf("The machine '%s' is already locked for a session (or being unlocked)", name)
		}
		for i := 2; i+1 < len(args); i++ {
			switch args[i] {
			case "--cpus", "--memory":
				n, err := strconv.Atoi(args[i+1])
				if err != nil || n < 1 {
					return "", syntaxf("Invalid %s value '%s'", args[i], args[i+1])
				}
				if args[i] == "--cpus" {
					vm.CPUs = n
				} else {
					vm.MemoryMB = n
				}
			case "--nic1":
				// hostonlynet is a NIC type only VirtualBox for macOS knows
				// (VBOX_WITH_VMNET in
				// src/VBox/Frontends/VBoxManage/VBoxManageModifyVM.cpp).
				switch {
				case args[i+1] == "hostonly", args[i+1] == "hostonlynet" && h.darwin():
					vm.NIC = args[i+1]
				default:
					return "", syntaxf("Invalid --nic1 argument '%s'", args[i+1])
				}
			case "--hostonlyadapter1":
				vm.Adapter = args[i+1]
			case "--host-only-net1":
				if !h.darwin() {
					return "", syntaxf("Unknown option: %s", args[i])
				}
				vm.Net = args[i+1]
			case "--ioapic":
				// The I/O APIC is x86's (PlatformX86Impl.cpp).
				if vm.Platform == "arm" {
					return "", failf("x86-specific platform settings are not available on this platform")
				}
			case "--macaddress1", "--macaddress2":
				mac, err := normalMAC(args[i+1])
				if err != nil {
					return "", err
				}
				if args[i] == "--macaddress1" {
					vm.MAC = mac
				} else {
					vm.NATMAC = mac
				}
			}
		}
	case "storagectl":
		return h.storageCtl(vm, args[2:])
	case "startvm":
		return h.startVM(name, vm)
	case "controlvm":
		return h.controlVM(name, vm, args[2:])
	case "unregistervm":
		if vm.locked() {
			return "", failf("Cannot unregister the machine '%s' while it is locked", name)
		}
		// --delete deletes the hard disks and keeps DVD images
		// (CleanupMode_DetachAllReturnHardDisksOnly in handleUnregisterVM,
		// src/VBox/Frontends/VBoxManage/VBoxManageMisc.cpp).
		if slices.Contains(args[2:], "--delete") && vm.Disk != "" {
			delete(h.Disks, vm.Disk)
		}
		delete(h.VMs, name)
	}
	return progress, nil
}

// controlVM handles the two controlvm actions the scripts use. Both need a
// running machine: VBoxManage only finds a console to act on in a running
// one (handleControlVM, src/VBox/Frontends/VBoxManage/VBoxManageControlVM.cpp).
func (h *vboxHost) controlVM(name string, vm *fakeVM, action []string) (string, error) {
	if len(action) != 1 {
		return "", syntaxf("controlvm <name> poweroff|acpipowerbutton")
	}
	if vm.State != "running" {
		return "", failf("Machine '%s' is not currently running", name)
	}
	switch action[0] {
	case "poweroff":
		vm.State, vm.Guest, vm.ShutdownIn = "stopping", "", 0
		h.event(name, "poweroff")
		return progress, nil
	case "acpipowerbutton":
		// Console::powerButton only presses the button
		// (src/VBox/Main/src-client/ConsoleImpl.cpp); a guest that handles
		// it halts, one that does not keeps running.
		if !vm.IgnoresACPI && vm.Guest != guestHalting {
			vm.Guest, vm.ShutdownIn = guestHalting, talosShutdownChecks
			h.event(name, "halting")
		}
		return "", nil
	}
	return "", syntaxf("Invalid parameter '%s'", action[0])
}

// startVM powers a VM on. A VM runs only on its own platform: VirtualBox
// for Apple Silicon runs arm VMs, the x86 builds x86 ones
// (VERR_PLATFORM_ARCH_NOT_SUPPORTED, src/VBox/Main/src-client/ConsoleImpl.cpp).
// The guest then asks the DHCP server of its first card's network for an
// address, unless an installed Talos gives it a static one.
func (h *vboxHost) startVM(name string, vm *fakeVM) (string, error) {
	if vm.locked() {
		return "", failf("The machine '%s' is already locked for a session", name)
	}
	if (vm.Platform == "arm") != (h.Arch == "arm64") {
		return "", failf("Cannot run the machine '%s': its platform architecture is not supported on this host (VERR_PLATFORM_ARCH_NOT_SUPPORTED)", name)
	}
	var lease func() string
	switch vm.NIC {
	case "hostonlynet":
		n := h.findNet(vm.Net)
		if n == nil {
			return "", failf("Could not find a host-only network named '%s' (VBOX_E_OBJECT_NOT_FOUND)", vm.Net)
		}
		if !n.Enabled {
			return "", failf("The host-only network '%s' is disabled", vm.Net)
		}
		lease = func() string { return h.bootpLease(n, vm.MAC) }
	default:
		if _, ok := h.Interfaces[vm.Adapter]; !ok {
			return "", failf("Nonexistent host networking interface, name '%s'", vm.Adapter)
		}
		// Starting the VM starts the DHCP server of its host-only
		// network if the server is enabled and not yet running (the
		// console's network setup,
		// src/VBox/Main/src-client/ConsoleImplConfigCommon.cpp, calls
		// IDHCPServer::Start).
		lease = func() string {
			s := h.DHCP[networkPrefix+vm.Adapter]
			if s == nil || !s.Enabled {
				return ""
			}
			if s.Running == nil {
				s.start()
			}
			return s.lease(vm.MAC)
		}
	}
	vm.State = "running"
	vm.Guest, vm.BootIn, vm.ShutdownIn = guestBooting, talosBootProbes, 0
	h.event(name, "started")
	// Talos in maintenance mode runs DHCP on every link, the NAT one too
	// (OperatorConfigController in
	// internal/app/machined/pkg/controllers/network/operator_config.go of
	// siderolabs/talos); a network config it was handed is gone with the
	// boot, while an installed one stays.
	if !vm.Configured {
		vm.Static, vm.Uplink = "", true
	}
	vm.Address = vm.Static
	if vm.Address == "" {
		vm.Address = lease()
	}
	return fmt.Sprintf("Waiting for VM \"%s\" to power on...\nVM \"%s\" has been successfully started.\n", name, name), nil
}

// platformOption sets createvm's --platform-architecture, which VBoxManage
// has from 7.1 on (src/VBox/Frontends/VBoxManage/VBoxManageMisc.cpp).
func (h *vboxHost) platformOption(vm *fakeVM, value string) error {
	if major, minor := h.versionNumber(); major < 7 || (major == 7 && minor < 1) {
		return syntaxf("Unknown option: --platform-architecture")
	}
	switch value {
	case "x86":
		vm.Platform = ""
	case "arm":
		vm.Platform = "arm"
	default:
		return syntaxf("Invalid --platform-architecture argument '%s'", value)
	}
	return nil
}

// version is what VBoxManage --version prints.
func (h *vboxHost) version() string {
	return cmp.Or(h.Version, fakeVersion)
}

// versionNumber is the major and minor number of the version.
func (h *vboxHost) versionNumber() (int, int) {
	parts := strings.SplitN(h.version(), ".", 3)
	major, _ := strconv.Atoi(parts[0])
	minor := 0
	if len(parts) > 1 {
		minor, _ = strconv.Atoi(parts[1])
	}
	return major, minor
}

// storageCtl adds a storage controller. An arm VM has only the VirtIO SCSI
// bus (PlatformProperties::getSupportedStorageBuses,
// src/VBox/Main/src-server/PlatformPropertiesImpl.cpp); --add takes the bus
// as VBoxManageStorageController.cpp spells it.
func (h *vboxHost) storageCtl(vm *fakeVM, args []string) (string, error) {
	flags := map[string]string{}
	for i := 0; i+1 < len(args); i += 2 {
		flags[args[i]] = args[i+1]
	}
	name, bus := flags["--name"], strings.ToLower(flags["--add"])
	if name == "" {
		return "", syntaxf("Storage controller name not specified")
	}
	if bus == "virtio" {
		bus = "virtio-scsi"
	}
	if !slices.Contains([]string{"ide", "sata", "scsi", "floppy", "sas", "usb", "pcie", "virtio-scsi"}, bus) {
		return "", failf("Invalid --add argument '%s'", flags["--add"])
	}
	if vm.Platform == "arm" && bus != "virtio-scsi" {
		return "", failf("The storage bus '%s' is not supported on this platform", bus)
	}
	if _, ok := vm.Controllers[name]; ok {
		return "", failf("Storage controller named '%s' already exists", name)
	}
	if vm.Controllers == nil {
		vm.Controllers = map[string]string{}
	}
	vm.Controllers[name] = bus
	return "", nil
}

// findNet finds a host-only network by name as VirtualBox does: the first
// of that name (VirtualBox::findHostOnlyNetworkByName,
// src/VBox/Main/src-server/VirtualBoxImpl.cpp).
func (h *vboxHost) findNet(name string) *hostOnlyNet {
	for _, n := range h.HostOnlyNets {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// hostOnlyNet handles add, modify and remove as handleHostonlyNet does
// (src/VBox/Frontends/VBoxManage/VBoxManageHostonly.cpp): add needs every
// setting and takes any name, modify and remove find the network by name.
func (h *vboxHost) hostOnlyNet(args []string) (string, error) {
	if len(args) == 0 {
		return "", syntaxf("No sub-command specified")
	}
	flags, enable := map[string]string{}, 0
	for i := 1; i < len(args); i++ {
		key, value, hasValue := strings.Cut(args[i], "=")
		switch key {
		case "--enable":
			enable = 1
		case "--disable":
			enable = -1
		case "--name", "--netmask", "--lower-ip", "--upper-ip":
			if !hasValue {
				if i+1 >= len(args) {
					return "", syntaxf("%s needs a value", key)
				}
				i++
				value = args[i]
			}
			flags[key] = value
		default:
			return "", syntaxf("Unknown option: %s", args[i])
		}
	}
	switch args[0] {
	case "add":
		for _, k := range []string{"--name", "--netmask", "--lower-ip", "--upper-ip"} {
			if flags[k] == "" {
				return "", failf("The %s parameter must be specified", k)
			}
		}
		n := &hostOnlyNet{Name: flags["--name"]}
		h.HostOnlyNets = append(h.HostOnlyNets, n)
		n.set(flags, enable)
		return "", nil
	case "modify", "remove":
		if flags["--name"] == "" {
			return "", failf("Either --name or --id parameter must be specified")
		}
		n := h.findNet(flags["--name"])
		if n == nil {
			return "", failf("Could not find a host-only network named '%s' (VBOX_E_OBJECT_NOT_FOUND)", flags["--name"])
		}
		if args[0] == "modify" {
			n.set(flags, enable)
			return "", nil
		}
		h.HostOnlyNets = slices.DeleteFunc(h.HostOnlyNets, func(o *hostOnlyNet) bool { return o == n })
		return "", nil
	}
	return "", syntaxf("Unknown sub-command '%s'", args[0])
}

// set applies the options present, as createUpdateHostOnlyNetworkCommon does.
func (n *hostOnlyNet) set(flags map[string]string, enable int) {
	for k, dst := range map[string]*string{"--netmask": &n.Mask, "--lower-ip": &n.Lower, "--upper-ip": &n.Upper} {
		if v, ok := flags[k]; ok {
			*dst = v
		}
	}
	if enable != 0 {
		n.Enabled = enable > 0
	}
}

// bootpLease answers a DHCP request on a host-only network as bootpd
// does: the address it already leased the MAC, else the lowest free one of
// the pool, which starts after the host's address (vmnet's start address
// is the gateway, NetdevVmnetHostOptions in qapi/net.json of qemu/qemu).
func (h *vboxHost) bootpLease(n *hostOnlyNet, mac string) string {
	first := netip.MustParseAddr(n.Lower).Next().String()
	if addr, ok := h.BootpLeases[mac]; ok && inRange(addr, first, n.Upper) {
		return addr
	}
	taken := map[string]bool{}
	for m, a := range h.BootpLeases {
		if m != mac {
			taken[a] = true
		}
	}
	for a := netip.MustParseAddr(first); inRange(a.String(), first, n.Upper); a = a.Next() {
		if !taken[a.String()] {
			h.BootpLeases[mac] = a.String()
			return a.String()
		}
	}
	return ""
}

// mediumCmd handles the hard disk commands after
// src/VBox/Frontends/VBoxManage/VBoxManageDisk.cpp, with the rules of
// src/VBox/Main/src-server/MediumImpl.cpp, and storageattach
// (src/VBox/Frontends/VBoxManage/VBoxManageStorageController.cpp).
func (h *vboxHost) mediumCmd(args []string) (string, error) {
	cmd := args[0]
	if cmd == "storageattach" {
		return h.storageAttach(args[1:])
	}
	opts := args[1:]
	// The medium type before the file is optional.
	if len(opts) > 0 && (opts[0] == "disk" || opts[0] == "dvd" || opts[0] == "floppy") {
		opts = opts[1:]
	}
	flags, file := map[string]string{}, ""
	for i := 0; i < len(opts); i++ {
		switch opts[i] {
		case "--filename", "--size", "--format", "--resize":
			if i+1 >= len(opts) {
				return "", syntaxf("%s needs a value", opts[i])
			}
			flags[opts[i]] = opts[i+1]
			i++
		case "--delete":
			flags["--delete"] = "yes"
		default:
			if strings.HasPrefix(opts[i], "-") || file != "" {
				return "", syntaxf("Invalid parameter '%s'", opts[i])
			}
			file = opts[i]
		}
	}
	if cmd == "createmedium" {
		file = flags["--filename"]
		size, err := strconv.Atoi(flags["--size"])
		if file == "" || err != nil || size < 1 {
			return "", syntaxf("createmedium disk --filename <file> --size <MB>")
		}
		if _, ok := h.Disks[file]; ok {
			return "", failf("Failed to create medium\nVBoxManage: error: Could not create the medium storage unit '%s' (VERR_ALREADY_EXISTS)", file)
		}
		d := &fakeDisk{UUID: newUUID(), CapacityMB: size}
		h.Disks[file] = d
		return progress + fmt.Sprintf("Medium created. UUID: %s\n", d.UUID), nil
	}
	d, ok := h.Disks[file]
	if !ok {
		return "", failf("Could not find file for the medium '%s' (VERR_FILE_NOT_FOUND)", file)
	}
	user := h.diskUser(file)
	switch cmd {
	case "closemedium":
		// Medium::close refuses a medium still attached (i_canClose).
		if user != "" {
			return "", failf("Medium '%s' cannot be closed because it is still attached to 1 virtual machines", file)
		}
		delete(h.Disks, file)
		return progress, nil
	case "showmediuminfo":
		// showMediumInfo prints the logical size in MB.
		var b strings.Builder
		fmt.Fprintf(&b, "UUID:           %s\nParent UUID:    base\nState:          created\nType:           normal (base)\n", d.UUID)
		fmt.Fprintf(&b, "Location:       %s\nStorage format: VDI\nFormat variant: dynamic default\nCapacity:       %d MBytes\n", file, d.CapacityMB)
		b.WriteString("Encryption:     disabled\n")
		if user != "" {
			fmt.Fprintf(&b, "In use by VMs:  %s (UUID: %s)\n", user, h.VMs[user].UUID)
		}
		return b.String(), nil
	case "modifymedium":
		size, err := strconv.Atoi(flags["--resize"])
		if err != nil || size < 1 {
			return "", syntaxf("modifymedium disk <file> --resize <MB>")
		}
		// Medium::resize locks the medium for writing first, which a
		// running VM holds; VDResize then refuses a smaller size
		// (i_taskResizeHandler, VERR_VD_SHRINK_NOT_SUPPORTED).
		if user != "" && h.VMs[user].locked() {
			return "", failf("Failed to lock media when resizing '%s'\nVBoxManage: error: Medium '%s' is locked for writing by another task", file, file)
		}
		if size < d.CapacityMB {
			return "0%...\nProgress state: VBOX_E_NOT_SUPPORTED\n",
				failf("Failed to resize medium\nVBoxManage: error: Shrinking is not yet supported for medium '%s'", file)
		}
		d.CapacityMB = size
		return progress, nil
	}
	return "", syntaxf("Invalid command '%s'", cmd)
}

// diskUser names the VM a disk is attached to, empty for none.
func (h *vboxHost) diskUser(file string) string {
	for _, name := range slices.Sorted(maps.Keys(h.VMs)) {
		if h.VMs[name].Disk == file {
			return name
		}
	}
	return ""
}

// storageAttach puts a medium on a port. A hard disk must be registered
// (or a file the registry can open); a DVD slot takes an image or
// emptydrive, which this state does not track.
func (h *vboxHost) storageAttach(args []string) (string, error) {
	if len(args) < 1 {
		return "", syntaxf("storageattach needs a machine")
	}
	vm, err := h.findVM(args[0])
	if err != nil {
		return "", err
	}
	flags := map[string]string{}
	for i := 1; i+1 < len(args); i += 2 {
		flags[args[i]] = args[i+1]
	}
	ctl := flags["--storagectl"]
	if _, ok := vm.Controllers[ctl]; !ok {
		return "", failf("Could not find a controller named '%s'", ctl)
	}
	if flags["--type"] != "hdd" {
		return progress, nil
	}
	if _, ok := h.Disks[flags["--medium"]]; !ok {
		return "", failf("Could not find file for the medium '%s' (VERR_FILE_NOT_FOUND)", flags["--medium"])
	}
	if flags["--port"] == "0" {
		vm.Disk, vm.DiskCtl = flags["--medium"], ctl
	}
	return progress, nil
}

// newUUID makes a random (version 4) UUID, as RTUuidCreate does.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// fakeCurl is curl as the scripts use it: a download to the file -o names,
// failing with $FAKE_CURL_FAIL set as an interrupted one would, or a probe
// of a VM's Talos API port. A release's sha256sum.txt lists the ISO it
// serves ($FAKE_CURL_SUMS replaces the list). Exit codes are curl's (CURLE_* in
// include/curl/curl.h of curl/curl).
func fakeCurl(dir string, args []string) int {
	appendLog(dir, "calls", "curl "+strings.Join(args, " "))
	out, target, silent := "", "", false
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-o" || args[i] == "--output":
			if i+1 < len(args) {
				out = args[i+1]
				i++
			}
		case args[i] == "-s" || args[i] == "--silent":
			silent = true
		case strings.HasPrefix(args[i], "https://") || strings.HasPrefix(args[i], "http://"):
			target = args[i]
		}
	}
	complain := func(code int, msg string) int {
		if !silent {
			fmt.Fprintf(os.Stderr, "curl: (%d) %s\n", code, msg)
		}
		return code
	}
	u, err := url.Parse(target)
	if err != nil || target == "" {
		return complain(3, "URL using bad/illegal format or missing URL")
	}
	if u.Port() == talosAPIPort {
		return probeTalos(dir, u.Hostname(), complain)
	}
	if os.Getenv("FAKE_CURL_FAIL") != "" {
		if out != "" {
			// What an interrupted download leaves; none at all is as good.
			_ = os.WriteFile(out, []byte("partial\n"), 0o644)
		}
		return complain(22, "The requested URL returned error: 404")
	}
	body := fakeISO
	if strings.HasSuffix(u.Path, "/sha256sum.txt") {
		body = fakeSums()
	}
	if out == "" {
		fmt.Print(body)
		return 0
	}
	if err := os.WriteFile(out, []byte(body), 0o644); err != nil {
		return complain(23, "Failure writing output to destination")
	}
	return 0
}

// fakeISO is what the stand-in serves as any release asset.
const fakeISO = "talos iso\n"

// fakeSums is a release's sha256sum.txt as Talos writes it: one
// "<sha256>  <file>" line per asset, the ISOs of both architectures among
// them.
func fakeSums() string {
	if s, ok := os.LookupEnv("FAKE_CURL_SUMS"); ok {
		return s
	}
	return fmt.Sprintf("%x  initramfs-amd64.xz\n%x  metal-amd64.iso\n%x  metal-arm64.iso\n%x  talosctl-linux-amd64\n",
		sha256.Sum256([]byte("initramfs")), sha256.Sum256([]byte(fakeISO)), sha256.Sum256([]byte(fakeISO)), sha256.Sum256([]byte("talosctl")))
}

// probeTalos answers a connection to port 50000 of ip as the guest at that
// address would: nothing accepts it until a started Talos has booted. Talos
// in maintenance mode then completes the TLS session of a client without a
// certificate (tls.ServerOnly in internal/app/maintenance/provider.go of
// siderolabs/talos), which curl reports as 0; a configured Talos's apid
// ends it (tls.Mutual in internal/app/apid/pkg/provider/provider.go), which
// curl reports as 56.
func probeTalos(dir, ip string, complain func(int, string) int) int {
	refused := func() int {
		return complain(7, "Failed to connect to "+ip+" port "+talosAPIPort+" after 3 ms: Couldn't connect to server")
	}
	h, err := loadHost(dir)
	if err != nil {
		return complain(99, err.Error())
	}
	name, vm := h.guestAt(ip)
	if vm == nil {
		return refused()
	}
	switch {
	case vm.Guest == guestBooting && vm.BootIn > 0:
		vm.BootIn--
	case vm.Guest == guestBooting && !vm.NeverAnswers:
		vm.Guest = guestServing
		h.event(name, "answering")
	}
	if err := saveHost(dir, h); err != nil {
		return complain(99, err.Error())
	}
	for _, e := range h.events {
		appendLog(dir, "events", e)
	}
	switch {
	case vm.Guest != guestServing:
		return refused()
	case vm.Configured:
		return complain(56, "OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate required, errno 0")
	}
	return 0
}

// guestAt is the running VM whose guest holds ip, if any.
func (h *vboxHost) guestAt(ip string) (string, *fakeVM) {
	for _, n := range slices.Sorted(maps.Keys(h.VMs)) {
		if vm := h.VMs[n]; vm.Address == ip && vm.State == "running" {
			return n, vm
		}
	}
	return "", nil
}

// fakeTalosctl is talosctl as the scripts use it: 'apply-config --insecure
// --nodes <address> --file <config>' to a node in maintenance mode, which
// takes a config from any client and, when it holds no machine config
// (v1alpha1), applies its network documents at once and keeps waiting
// (stateMaintenance in
// internal/app/machined/pkg/controllers/config/acquire.go of
// siderolabs/talos). With a LinkConfig document present Talos runs DHCP and
// brings up links only where the config says
// (Container.RunDefaultDHCPOperators,
// pkg/machinery/config/container/container.go, and LinkConfigController,
// internal/app/machined/pkg/controllers/network/link_config.go); links are
// named by LinkAliasConfig selectors, of which this stand-in reads the
// mac(link.permanent_addr) == "<mac>" form the lab writes.
func fakeTalosctl(dir string, args []string) int {
	appendLog(dir, "calls", "talosctl "+strings.Join(args, " "))
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "error: "+format+"\n", a...)
		return 1
	}
	if len(args) == 0 || args[0] != "apply-config" {
		return fail("the stand-in talosctl only applies configs")
	}
	var node, file string
	insecure := false
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "--insecure", "-i":
			insecure = true
		case "--nodes", "-n", "--file", "-f":
			if i+1 >= len(args) {
				return fail("flag needs an argument: %s", args[i])
			}
			if strings.HasPrefix(args[i], "--n") || args[i] == "-n" {
				node = args[i+1]
			} else {
				file = args[i+1]
			}
			i++
		default:
			return fail("unknown flag: %s", args[i])
		}
	}
	if !insecure || node == "" || file == "" {
		return fail("the stand-in talosctl needs --insecure, --nodes and --file")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fail("failed to read configuration from %q: %v", file, err)
	}
	h, err := loadHost(dir)
	if err != nil {
		return fail("%v", err)
	}
	_, vm := h.guestAt(node)
	switch {
	case vm == nil || vm.Guest != guestServing:
		return fail("rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp %s:%s: connect: connection refused\"", node, talosAPIPort)
	case vm.Configured:
		return fail("rpc error: code = Unavailable desc = connection error: desc = \"error reading server preface: remote error: tls: certificate required\"")
	}
	cfg, err := parseNetworkConfig(string(data))
	if err != nil {
		return fail("error applying new configuration: rpc error: code = InvalidArgument desc = configuration validation failed: %v", err)
	}
	vm.Static = ""
	if addr, ok := cfg.addresses[cfg.aliases[vm.MAC]]; ok {
		vm.Static = addr
	}
	vm.Address = vm.Static
	uplink := cfg.aliases[vm.NATMAC]
	vm.Uplink = uplink != "" && cfg.up[uplink] && cfg.dhcp[uplink]
	if err := saveHost(dir, h); err != nil {
		return fail("%v", err)
	}
	return 0
}

// networkConfig is what the stand-in reads of a Talos network config.
type networkConfig struct {
	// aliases are link names by the colon-separated MAC they select.
	aliases map[string]string
	// addresses are the first static address of a link, without prefix.
	addresses map[string]string
	// up and dhcp are the links a LinkConfig brings up and a DHCPv4Config
	// runs DHCP on.
	up, dhcp map[string]bool
}

// parseNetworkConfig reads the documents of a multi-document config. A
// v1alpha1 machine config, or any document the stand-in does not know, is
// refused: it would make the node leave maintenance mode, which no script
// of the lab does.
func parseNetworkConfig(text string) (networkConfig, error) {
	cfg := networkConfig{aliases: map[string]string{}, addresses: map[string]string{}, up: map[string]bool{}, dhcp: map[string]bool{}}
	for _, doc := range strings.Split(text, "\n---\n") {
		fields := map[string]string{}
		var address string
		for _, line := range strings.Split(doc, "\n") {
			key, value, ok := strings.Cut(strings.TrimSpace(line), ":")
			if !ok {
				continue
			}
			key, value = strings.TrimPrefix(key, "- "), strings.TrimSpace(value)
			if key == "address" && address == "" {
				address, _, _ = strings.Cut(value, "/")
			}
			if _, seen := fields[key]; !seen {
				fields[key] = value
			}
		}
		name := fields["name"]
		switch fields["kind"] {
		case "LinkAliasConfig":
			mac, ok := strings.CutPrefix(fields["match"], `mac(link.permanent_addr) == "`)
			mac, closed := strings.CutSuffix(mac, `"`)
			if !ok || !closed {
				return cfg, fmt.Errorf("LinkAliasConfig %s: the stand-in reads mac(link.permanent_addr) == \"<mac>\" selectors, got %q", name, fields["match"])
			}
			cfg.aliases[mac] = name
		case "LinkConfig":
			cfg.up[name] = fields["up"] != "false"
			if address != "" {
				cfg.addresses[name] = address
			}
		case "DHCPv4Config":
			cfg.dhcp[name] = true
		default:
			return cfg, fmt.Errorf("the stand-in takes network documents only, got kind %q", fields["kind"])
		}
	}
	return cfg, nil
}
