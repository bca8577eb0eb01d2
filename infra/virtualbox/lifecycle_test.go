package virtualbox

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// engine stands in for the Pulumi engine and pulumi-command's local
// provider (provider/pkg/provider/local/commandController.go and
// commandOutputs.go in pulumi/pulumi-command): it runs NewNodes under
// mocks and, for each command the program registers, runs the script text
// and environment the program passed against the lab, feeding the real
// stdout back to the program. A new command runs create; one whose triggers
// changed is deleted and created again (delete-before-replace); one whose
// other inputs changed runs update (create when it has none), with the old
// stdout in PULUMI_COMMAND_STDOUT; a command the program no longer
// registers runs delete. stdout loses one trailing newline, as there.
// Commands run as soon as what they depend on is done, side by side, as the
// engine runs independent steps in parallel: only the program's
// dependencies order them.
type engine struct {
	lab *lab
	// stack is the Pulumi stack the program runs as.
	stack string
	// mu guards live and ran.
	mu sync.Mutex
	// live are the commands in the stack's state, by name.
	live map[string]*liveCommand
	// ran lists the scripts started, in order, as "name:create" and the
	// like.
	ran []string
}

type liveCommand struct {
	inputs resource.PropertyMap
	stdout string
}

func newEngine(l *lab) *engine {
	return &engine{lab: l, stack: "local", live: map[string]*liveCommand{}}
}

// up runs the program once, then deletes what it no longer registers.
func (e *engine) up(args Args) error {
	e.lab.t.Helper()
	m := &engineMocks{engine: e, seen: map[string]bool{}}
	if _, err := deployAs(e.lab.t, e.stack, "lab", args, m); err != nil {
		return err
	}
	var gone []string
	for name := range e.live {
		if !m.seen[name] {
			gone = append(gone, name)
		}
	}
	return e.remove(gone)
}

// destroy deletes every command in the state.
func (e *engine) destroy() error {
	return e.remove(slices.Collect(maps.Keys(e.live)))
}

// remove deletes commands in reverse dependency order: the VMs, which
// depend on the network, first.
func (e *engine) remove(names []string) error {
	slices.SortFunc(names, func(a, b string) int {
		return strings.Compare(e.order(a), e.order(b))
	})
	for _, name := range names {
		c := e.live[name]
		if _, err := e.exec(name, "delete", c.inputs, c.stdout); err != nil {
			return err
		}
		delete(e.live, name)
	}
	return nil
}

func (e *engine) order(name string) string {
	if env := e.live[name].inputs["environment"].ObjectValue(); env.HasValue("SRE_VM_NAME") {
		return "0" + name
	}
	return "1" + name
}

// exec runs one of a command's scripts; a missing delete script is a no-op
// and a missing update script falls back to create.
func (e *engine) exec(name, which string, inputs resource.PropertyMap, previous string) (string, error) {
	script := inputs[resource.PropertyKey(which)]
	if which == "update" && (!script.IsString() || script.StringValue() == "") {
		which, script = "create", inputs["create"]
	}
	if !script.IsString() {
		return previous, nil
	}
	env := map[string]string{}
	for k, v := range inputs["environment"].ObjectValue() {
		env[string(k)] = v.StringValue()
	}
	if previous != "" {
		env["PULUMI_COMMAND_STDOUT"] = previous
	}
	e.mu.Lock()
	e.ran = append(e.ran, name+":"+which)
	e.mu.Unlock()
	r := e.lab.runText(name+" "+which, script.StringValue(), env)
	if r.code != 0 {
		return "", fmt.Errorf("%s %s exited %d:\n%s", name, which, r.code, r.stderr)
	}
	return strings.TrimSuffix(r.stdout, "\n"), nil
}

// engineMocks is one run of the program.
type engineMocks struct {
	*engine
	seen map[string]bool
}

func (m *engineMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	out := args.Inputs.Copy()
	if args.TypeToken != commandToken {
		return args.Name + "_id", out, nil
	}
	m.mu.Lock()
	m.seen[args.Name] = true
	old := m.live[args.Name]
	m.mu.Unlock()
	var stdout string
	var err error
	switch {
	case old == nil:
		stdout, err = m.exec(args.Name, "create", args.Inputs, "")
	case !old.inputs["triggers"].DeepEquals(args.Inputs["triggers"]):
		if _, err = m.exec(args.Name, "delete", old.inputs, old.stdout); err == nil {
			m.mu.Lock()
			delete(m.live, args.Name)
			m.mu.Unlock()
			stdout, err = m.exec(args.Name, "create", args.Inputs, "")
		}
	case !old.inputs.DeepEquals(args.Inputs):
		stdout, err = m.exec(args.Name, "update", args.Inputs, old.stdout)
	default:
		stdout = old.stdout
	}
	if err != nil {
		return "", nil, err
	}
	m.mu.Lock()
	m.live[args.Name] = &liveCommand{inputs: args.Inputs, stdout: stdout}
	m.mu.Unlock()
	out["stdout"] = resource.NewProperty(stdout)
	return args.Name + "_id", out, nil
}

func (m *engineMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return args.Args.Copy(), nil
}

// lifecycleLab is a lab with every stand-in the commands need.
func lifecycleLab(t *testing.T, h *vboxHost) (*lab, Args) {
	l := newLab(t, h, "VBoxManage", "curl", "sleep")
	args := labArgs(l.root + "/cache")
	return l, args
}

// assertPlannedAddresses checks every planned VM runs at its planned
// address, which is what Talos is pointed at.
func assertPlannedAddresses(t *testing.T, l *lab, args Args) {
	t.Helper()
	vms, err := Plan(args)
	require.NoError(t, err)
	h := l.host()
	for _, vm := range vms {
		got := h.VMs[vm.Name]
		if assert.NotNil(t, got, "%s exists", vm.Name) {
			assert.Equal(t, "running", got.State, vm.Name)
			assert.Equal(t, vm.IP.String(), got.Address, "%s got its planned address", vm.Name)
		}
	}
}

// TestLifecycle runs the program's commands through pulumi up and destroy
// against the host states a real first run meets.
func TestLifecycle(t *testing.T) {
	for _, c := range []struct {
		name string
		host *vboxHost
		// failFirst makes the first up fail at this VBoxManage call.
		failFirst string
		wantHow   string
	}{
		{name: "fresh install", host: freshInstall(), wantHow: "created"},
		// Without VirtualBox's default server only the race between the
		// DHCP server and the VMs' reservations is left to get right.
		{name: "no DHCP server at all", host: emptyHost(), wantHow: "created"},
		{name: "vboxnet0 already at the host address, its DHCP server running", host: vagrantHost(), wantHow: "adopted"},
		{
			name: "re-run after saving the reservations failed half-way", host: freshInstall(), wantHow: "created",
			failFirst: "dhcpserver modify --network=HostInterfaceNetworking-vboxnet0 --mac-address=08:00:27:a8:38:14 --fixed",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, args := lifecycleLab(t, clone(c.host))
			e := newEngine(l)
			if c.failFirst != "" {
				l.env["FAKE_VBOX_FAIL"] = c.failFirst
				require.Error(t, e.up(args), "the injected failure must fail the first up")
				assert.Equal(t, clone(c.host).settings(), l.host().settings(), "a failed up leaves the host as it was")
				delete(l.env, "FAKE_VBOX_FAIL")
			}

			require.NoError(t, e.up(args))
			assertPlannedAddresses(t, l, args)
			network := e.live["lab-network"].stdout
			assert.Equal(t, netIF, networkName(network))
			assert.Contains(t, network, "interface: "+c.wantHow)

			// A second up with nothing changed runs nothing.
			ran := len(e.ran)
			require.NoError(t, e.up(args))
			assert.Len(t, e.ran, ran, "an unchanged program runs no script")

			require.NoError(t, e.destroy())
			assert.Equal(t, clone(c.host).settings(), l.host().settings(), "destroy leaves the host as it was")
		})
	}
}

// A worker added later gets its reservation from a network update before it
// starts, while the DHCP server already runs for the first five; removing it
// again drops the reservation. The network and the other VMs are left alone.
func TestLifecycleWorkerAddedAndRemoved(t *testing.T) {
	l, args := lifecycleLab(t, freshInstall())
	e := newEngine(l)
	require.NoError(t, e.up(args))
	require.NotNil(t, l.host().DHCP[vboxnet0Network].Running, "the first VM started the DHCP server")

	grown := args
	grown.Workers.Count = 3
	e.ran = nil
	require.NoError(t, e.up(grown))
	assert.Equal(t, []string{"lab-network:update", "lab-talos-worker-03:create"}, e.ran)
	assertPlannedAddresses(t, l, grown)
	assert.Equal(t, "192.168.56.22", l.host().DHCP[vboxnet0Network].Running.Fixed["08:00:27:a8:38:16"],
		"the running server was restarted with the new reservation")

	e.ran = nil
	require.NoError(t, e.up(args))
	assert.Equal(t, []string{"lab-network:update", "lab-talos-worker-03:delete"}, e.ran)
	assertPlannedAddresses(t, l, args)
	h := l.host()
	assert.NotContains(t, h.VMs, "talos-worker-03")
	assert.NotContains(t, h.DHCP[vboxnet0Network].Fixed, "08:00:27:a8:38:16")

	require.NoError(t, e.destroy())
	assert.Equal(t, freshInstall().settings(), l.host().settings())
}

// vmIdentity is what makes a VM the same one: its UUID, its disk and the
// disk's UUID, and the address it runs at.
type vmIdentity struct{ uuid, disk, diskUUID, address string }

func identities(l *lab) map[string]vmIdentity {
	h := l.host()
	out := map[string]vmIdentity{}
	for name, vm := range h.VMs {
		id := vmIdentity{uuid: vm.UUID, disk: vm.Disk, address: vm.Address}
		if d := h.Disks[vm.Disk]; d != nil {
			id.diskUUID = d.UUID
		}
		out[name] = id
	}
	return out
}

// assertSizes checks every planned VM has the CPUs, memory and disk of the
// plan.
func assertSizes(t *testing.T, l *lab, args Args) {
	t.Helper()
	vms, err := Plan(args)
	require.NoError(t, err)
	h := l.host()
	for _, vm := range vms {
		got := h.VMs[vm.Name]
		require.NotNil(t, got, vm.Name)
		require.NotNil(t, h.Disks[got.Disk], "%s has its disk", vm.Name)
		assert.Equal(t, [3]int{vm.CPUs, vm.MemoryMB, vm.DiskMB}, [3]int{got.CPUs, got.MemoryMB, h.Disks[got.Disk].CapacityMB},
			"%s: CPUs, MB of memory, MB of disk", vm.Name)
	}
}

// rolled replays the stand-in's events: a VM is down from its guest halting
// or powering off until its Talos API answers again. It fails the test when
// two VMs are ever down at once or one is left down, and returns the VMs in
// the order they went down.
func rolled(t *testing.T, events []string) []string {
	t.Helper()
	down := map[string]bool{}
	var order []string
	for _, e := range events {
		vm, what, _ := strings.Cut(e, " ")
		switch what {
		case "halting", "poweroff":
			if !down[vm] {
				down[vm] = true
				order = append(order, vm)
			}
		case "answering":
			delete(down, vm)
		}
		if len(down) > 1 {
			t.Errorf("after %q these VMs are down at once: %v\nevents: %v", e, slices.Sorted(maps.Keys(down)), events)
			return order
		}
	}
	assert.Empty(t, down, "VMs left down")
	return order
}

// A new size reaches the VMs of a role one at a time, each changed in place:
// the same VM and disk at the same address, shut down, changed, started, and
// answering again before the next goes down. A disk is never shrunk, and a
// run with nothing to change, or with only a new Talos ISO, reboots nothing.
func TestLifecycleResizeInPlace(t *testing.T) {
	l, args := lifecycleLab(t, freshInstall())
	e := newEngine(l)
	require.NoError(t, e.up(args))
	before := identities(l)
	require.Len(t, before, 5)

	workers := args
	workers.Workers.Size, workers.Workers.DiskGiB = "4cpu-8gb", 60
	cps := workers
	cps.ControlPlane.Size, cps.ControlPlane.DiskGiB = "4cpu-6gb", 50
	for _, step := range []struct {
		name string
		args Args
		vms  []string
	}{
		{"a worker size", workers, []string{"talos-worker-01", "talos-worker-02"}},
		{"a control plane size", cps, []string{"talos-cp-01", "talos-cp-02", "talos-cp-03"}},
	} {
		l.forgetLogs()
		e.ran = nil
		require.NoError(t, e.up(step.args), step.name)
		var want []string
		for _, vm := range step.vms {
			want = append(want, "lab-"+vm+":update")
		}
		assert.Equal(t, want, e.ran, "%s: each VM updated, in chain order, none replaced", step.name)
		assert.Equal(t, step.vms, rolled(t, l.events()), "%s: one VM down at a time, in chain order", step.name)
		assertSizes(t, l, step.args)
		assertPlannedAddresses(t, l, step.args)
		assert.Equal(t, before, identities(l), "%s: the same VMs and disks at the same addresses", step.name)
	}

	// VirtualBox cannot shrink a disk: the first worker refuses before it
	// is touched, and the chain stops there.
	shrunk := cps
	shrunk.Workers.DiskGiB = 40
	l.forgetLogs()
	e.ran = nil
	settings := l.host().settings()
	err := e.up(shrunk)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set sre-lab:workerDiskGiB to 60 or more")
	assert.Equal(t, []string{"lab-talos-worker-01:update"}, e.ran)
	assert.Empty(t, l.events(), "no VM went down")
	assert.Equal(t, settings, l.host().settings(), "nothing changed")

	e.ran = nil
	require.NoError(t, e.up(cps))
	assert.Empty(t, e.ran, "an unchanged program runs no script")

	// A new Talos version moves the ISO every VM's environment names, which
	// only new VMs boot: the update changes nothing and reboots nothing.
	newTalos := cps
	newTalos.TalosVersion = "v1.12.5"
	l.forgetLogs()
	e.ran = nil
	require.NoError(t, e.up(newTalos))
	require.NotEmpty(t, e.ran)
	assert.Equal(t, "lab-iso:create", e.ran[0])
	assert.ElementsMatch(t, []string{"lab-iso:create", "lab-talos-cp-01:update", "lab-talos-cp-02:update", "lab-talos-cp-03:update",
		"lab-talos-worker-01:update", "lab-talos-worker-02:update"}, e.ran)
	assert.Empty(t, l.events(), "no VM was restarted")
	for _, call := range []string{"VBoxManage controlvm", "VBoxManage modifyvm", "VBoxManage modifymedium", "VBoxManage startvm"} {
		assert.Zero(t, count(l.calls(), call), call)
	}
	assert.Equal(t, before, identities(l))

	require.NoError(t, e.destroy())
	assert.Equal(t, freshInstall().settings(), l.host().settings())
}

// The VMs start in whatever order they are created; each gets its planned
// address however they are shuffled.
func TestLifecycleVMStartOrder(t *testing.T) {
	l, args := lifecycleLab(t, freshInstall())
	e := newEngine(l)
	m := &engineMocks{engine: e, seen: map[string]bool{}}
	// The network and the ISO first, as the VMs wait for both.
	_, err := deployWith(t, "lab", args, &firstOnlyMocks{engineMocks: m, run: []string{"lab-network", "lab-iso"}})
	require.NoError(t, err)
	var names []string
	for name, c := range e.live {
		if c.inputs["environment"].ObjectValue().HasValue("SRE_VM_NAME") {
			names = append(names, name)
		}
	}
	require.Len(t, names, 5)
	slices.Sort(names)
	networkOnly := l.host()
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			// Back to no VM, and no DHCP server running yet.
			l.setHost(networkOnly)
			order := slices.Clone(names)
			rand.New(rand.NewPCG(seed, seed)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, name := range order {
				_, err := e.exec(name, "create", e.live[name].inputs, "")
				require.NoError(t, err)
			}
			assertPlannedAddresses(t, l, args)
		})
	}
}

// firstOnlyMocks runs the scripts of the named commands only; the others are
// registered without running, for the test to run itself.
type firstOnlyMocks struct {
	*engineMocks
	run []string
}

func (m *firstOnlyMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	if args.TypeToken == commandToken && !slices.Contains(m.run, args.Name) {
		m.mu.Lock()
		m.live[args.Name] = &liveCommand{inputs: args.Inputs}
		m.mu.Unlock()
		out := args.Inputs.Copy()
		out["stdout"] = resource.NewProperty("")
		return args.Name + "_id", out, nil
	}
	return m.engineMocks.NewResource(args)
}

// macLifecycleLab is a Mac of arch with every stand-in the commands need;
// the VM commands read its lease file instead of /var/db/dhcpd_leases.
func macLifecycleLab(t *testing.T, arch string) (*lab, Args) {
	l := newLab(t, macFreshInstall(arch), "VBoxManage", "curl", "talosctl", "sleep")
	l.env["SRE_DHCP_LEASES"] = l.state + "/" + leaseFile
	args := labArgs(l.root + "/cache")
	args.HostOS, args.HostArch = "darwin", arch
	return l, args
}

// The local lab on a Mac, Intel and Apple Silicon, through pulumi up and
// destroy: a host-only network, VMs of the host's architecture booting its
// ISO, each moved from its bootpd lease to its planned address with its NAT
// link kept for the way out; workers added and removed without touching the
// network; a new size rolled through a role one VM at a time, each VM
// handed its address again as it comes back unconfigured; and the Mac as it
// was after destroy.
func TestLifecycleOnMacOS(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			l, args := macLifecycleLab(t, arch)
			e := newEngine(l)
			require.NoError(t, e.up(args))
			assertPlannedAddresses(t, l, args)
			assertComplete(t, l, args, "sre-lab/local")
			platform := map[string]string{"amd64": "", "arm64": "arm"}[arch]
			for name, vm := range l.host().VMs {
				assert.True(t, vm.Uplink, "%s keeps its NAT link", name)
				assert.Equal(t, [3]string{"hostonlynet", HostOnlyNetworkName, platform}, [3]string{vm.NIC, vm.Net, vm.Platform}, name)
			}
			assert.Len(t, l.host().BootpLeases, 5, "every VM was leased an address first")
			assert.Equal(t, macNet+"\nnetwork: created", e.live["lab-network"].stdout)
			assert.Contains(t, e.live["lab-iso"].stdout, "metal-"+arch+".iso")

			ran := len(e.ran)
			require.NoError(t, e.up(args))
			assert.Len(t, e.ran, ran, "an unchanged program runs no script")

			grown := args
			grown.Workers.Count = 3
			e.ran = nil
			require.NoError(t, e.up(grown))
			assert.Equal(t, []string{"lab-talos-worker-03:create"}, e.ran, "no reservation to add: the network stays")
			assertPlannedAddresses(t, l, grown)
			e.ran = nil
			require.NoError(t, e.up(args))
			assert.Equal(t, []string{"lab-talos-worker-03:delete"}, e.ran)

			bigger := args
			bigger.Workers.Size = "4cpu-8gb"
			l.forgetLogs()
			e.ran = nil
			require.NoError(t, e.up(bigger))
			assert.Equal(t, []string{"lab-talos-worker-01:update", "lab-talos-worker-02:update"}, e.ran)
			assert.Equal(t, []string{"talos-worker-01", "talos-worker-02"}, rolled(t, l.events()), "one VM down at a time")
			assert.Equal(t, 2, count(l.calls(), "talosctl apply-config"), "each worker handed its address again")
			assertPlannedAddresses(t, l, bigger)
			assertSizes(t, l, bigger)

			require.NoError(t, e.destroy())
			assert.Equal(t, macFreshInstall(arch).settings(), l.host().settings(), "destroy leaves the Mac as it was")
		})
	}
}

// assertComplete checks every planned VM carries the marks of a finished
// create by the stack.
func assertComplete(t *testing.T, l *lab, args Args, stack string) {
	t.Helper()
	vms, err := Plan(args)
	require.NoError(t, err)
	h := l.host()
	for _, vm := range vms {
		if got := h.VMs[vm.Name]; assert.NotNil(t, got, vm.Name) {
			assert.Equal(t, map[string]string{"sre-lab/stack": stack, "sre-lab/complete": "1"}, got.Extra, vm.Name)
		}
	}
}

// A create killed half-way (no trap runs on SIGKILL) leaves a VM without
// its completion mark and a disk it never attached; the next up removes
// both and builds the VM again, complete, with its disk and at its reserved
// address. Destroy then leaves nothing behind.
func TestLifecycleInterruptedCreate(t *testing.T) {
	l, args := lifecycleLab(t, freshInstall())
	e := newEngine(l)
	l.env["FAKE_VBOX_SIGNAL"] = "KILL storageattach talos-cp-01 --storagectl SATA --port 0"
	require.Error(t, e.up(args), "the killed create fails the up")
	delete(l.env, "FAKE_VBOX_SIGNAL")
	half := l.host().VMs["talos-cp-01"]
	require.NotNil(t, half, "the killed run left the VM")
	assert.Empty(t, half.Extra["sre-lab/complete"], "a half-built VM is not marked complete")
	assert.NotContains(t, e.live, "lab-talos-cp-01", "Pulumi records no failed create")

	require.NoError(t, e.up(args))
	assertPlannedAddresses(t, l, args)
	assertSizes(t, l, args)
	assertComplete(t, l, args, "sre-lab/local")
	assert.Equal(t, "192.168.56.10", l.host().DHCP[vboxnet0Network].Fixed["08:00:27:a8:38:0a"], "the reservation is in place")

	require.NoError(t, e.destroy())
	assert.Equal(t, freshInstall().settings(), l.host().settings(), "no VM or disk is left")
}

// A second local stack plans the same VM names and network on the same
// host: its network is refused, naming the stack that has it, and its
// destroy leaves that stack's network, reservations and VMs as they were.
// The first stack's destroy takes the network's owner record with it.
func TestLifecycleSecondStack(t *testing.T) {
	l, args := lifecycleLab(t, freshInstall())
	first := newEngine(l)
	require.NoError(t, first.up(args))
	before := identities(l)
	network := l.host()
	assert.Equal(t, "sre-lab/local", network.Extra[ownerKey(netIF)], "the network records its stack")

	second := newEngine(l)
	second.stack = "local2"
	err := second.up(args)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "host-only network vboxnet0 (192.168.56.0/24) belongs to local stack sre-lab/local")
	assert.NotContains(t, second.live, "lab-network", "the refused network is not in the second stack's state")
	assert.Equal(t, network.settings(), l.host().settings(), "the first stack's network and VMs are untouched")

	// Before the network and VMs recorded their stack, the second stack
	// adopted the first one's into its state: its destroy runs their
	// delete scripts.
	for name, c := range first.live {
		env := c.inputs["environment"].ObjectValue()
		if !env.HasValue("SRE_STACK") {
			continue
		}
		inputs := c.inputs.Copy()
		adopted := env.Copy()
		adopted["SRE_STACK"] = resource.NewProperty("sre-lab/local2")
		inputs["environment"] = resource.NewObjectProperty(adopted)
		second.live[name] = &liveCommand{inputs: inputs, stdout: c.stdout}
	}
	require.Contains(t, second.live, "lab-network")
	require.NoError(t, second.destroy())
	assert.Equal(t, before, identities(l), "the second stack's destroy leaves the first stack's VMs")
	assertComplete(t, l, args, "sre-lab/local")
	assert.Equal(t, network.settings(), l.host().settings(), "the second stack's destroy leaves the first stack's network and reservations")

	require.NoError(t, first.destroy())
	assert.Empty(t, l.host().VMs)
	assert.Empty(t, l.host().Extra, "the owner record goes with the network")
	assert.Equal(t, freshInstall().settings(), l.host().settings())
}

// A network made before networks recorded their stack has no owner record
// and no SRE_STACK in its state: the stack's next up updates it in place,
// adopting it, and its destroy gives it back.
func TestLifecycleUnownedNetworkAdopted(t *testing.T) {
	l, args := lifecycleLab(t, freshInstall())
	e := newEngine(l)
	require.NoError(t, e.up(args))
	before := identities(l)
	h := l.host()
	delete(h.Extra, ownerKey(netIF))
	l.setHost(h)
	network := e.live["lab-network"]
	old := network.inputs["environment"].ObjectValue().Copy()
	delete(old, "SRE_STACK")
	network.inputs["environment"] = resource.NewObjectProperty(old)

	ran := len(e.ran)
	require.NoError(t, e.up(args))
	assert.Equal(t, []string{"lab-network:update"}, e.ran[ran:], "only the network is updated")
	assert.Equal(t, "sre-lab/local", l.host().Extra[ownerKey(netIF)], "the network is adopted")
	assert.Equal(t, before, identities(l), "no VM is replaced")

	require.NoError(t, e.destroy())
	assert.Equal(t, freshInstall().settings(), l.host().settings())
}
