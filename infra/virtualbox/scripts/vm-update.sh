#!/bin/sh
# Gives a VM the CPUs, memory and disk size of the plan in place: the same
# VM, disk, MAC and address, so the node comes back as itself with its data
# (an etcd member keeps its membership). A running VM is shut down, changed
# and started again, and the script returns only once the node answers on
# its Talos API port at SRE_VM_IP (wait_planned, which on a host-only
# network gives a node that came back unconfigured its address again): vbox.go
# chains the VMs of a role, so the next one does not go down before this one
# is back. With nothing to change a running VM is left alone; a new Talos
# version reaches this script only as a new ISO path, which matters to new
# VMs alone. Prints the VM's address, as create does.
set -eu
: "${SRE_VM_NAME:?}" "${SRE_VM_ARCH:?}" "${SRE_VM_CPUS:?}" "${SRE_VM_MEMORY_MB:?}" "${SRE_VM_DISK_MB:?}" \
	"${SRE_VM_DISK_KEY:?}" "${SRE_VM_IP:?}"
if [ -n "${SRE_HOSTONLY_NET:-}" ]; then
	: "${SRE_VM_MAC:?}" "${SRE_VM_NETWORK_CONFIG:?}" "${SRE_DHCP_LEASES:?}"
fi

need_vboxmanage vm-update
guest_settings vm-update "$SRE_VM_ARCH"

# Talos runs its shutdown sequence on the ACPI power button, which a poweroff
# would cut short; once configured it also cordons and drains the node,
# which a PodDisruptionBudget can hold up. After 5 minutes the VM is powered
# off. It then gets 5 minutes to boot and answer on its Talos API port.
acpi_checks=150  # 2 s apart
boot_probes=60   # 5 s apart, each allowed up to 10 s (wait_planned)

fail() {
	echo "vm-update: $*" >&2
	exit 1
}

if ! info=$(VBoxManage showvminfo "$SRE_VM_NAME" --machinereadable 2>/dev/null); then
	fail "$SRE_VM_NAME is not registered in VirtualBox, so it cannot be changed;" \
		"if it was removed by hand, run 'pulumi up --replace' on its command ('pulumi stack --show-urns' lists it)"
fi
field() {
	printf '%s\n' "$info" | vm_field "$1"
}
state=$(field VMState)
cpus=$(field cpus)
memory=$(field memory)
disk=$(field "$vm_ctl-0-0")

# A session holds a VM in any other state, and modifyvm needs none to hold it.
case $state in
running | poweroff | aborted) ;;
*) fail "$SRE_VM_NAME is $state; start it or power it off, then run pulumi up again" ;;
esac
case $disk in
/*) ;;
*) fail "$SRE_VM_NAME has no disk on SATA port 0 ('$disk'); it was not made by this lab" ;;
esac
capacity=$(VBoxManage showmediuminfo disk "$disk" | awk '$1 == "Capacity:" { print $2; exit }')
case $capacity in
'' | *[!0-9]*) fail "could not read the size of $disk from 'VBoxManage showmediuminfo'" ;;
esac

# VirtualBox grows a disk but cannot shrink one (VERR_VD_SHRINK_NOT_SUPPORTED
# in src/VBox/Main/src-server/MediumImpl.cpp), so a smaller size is refused
# before the VM is touched.
if [ "$SRE_VM_DISK_MB" -lt "$capacity" ]; then
	fail "$SRE_VM_NAME has a $((capacity / 1024)) GiB disk and VirtualBox cannot shrink a disk:" \
		"set $SRE_VM_DISK_KEY to $((capacity / 1024)) or more; a smaller disk needs a new, empty VM" \
		"('pulumi up --replace' on its command)"
fi
resize=
if [ "$SRE_VM_DISK_MB" -gt "$capacity" ]; then
	resize=yes
fi
modify=
if [ "$cpus" != "$SRE_VM_CPUS" ] || [ "$memory" != "$SRE_VM_MEMORY_MB" ]; then
	modify=yes
fi

if [ "$state" = running ] && [ -z "$modify$resize" ]; then
	echo "$SRE_VM_IP"
	exit 0
fi
command -v curl >/dev/null 2>&1 ||
	fail "curl was not found: install curl; it waits until $SRE_VM_NAME answers again before the next VM goes down"
if [ -n "${SRE_HOSTONLY_NET:-}" ]; then
	need_talosctl vm-update
fi

if [ "$state" = running ]; then
	echo "vm-update: shutting $SRE_VM_NAME down to change it" >&2
	if ! VBoxManage controlvm "$SRE_VM_NAME" acpipowerbutton >&2 ||
		! wait_while "$SRE_VM_NAME" "$acpi_checks" 2 running stopping; then
		echo "vm-update: $SRE_VM_NAME did not shut down on the ACPI power button; powering it off" >&2
		VBoxManage controlvm "$SRE_VM_NAME" poweroff >&2 ||
			echo "vm-update: poweroff of $SRE_VM_NAME failed, waiting for it to stop" >&2
		wait_while "$SRE_VM_NAME" 30 1 running stopping ||
			fail "$SRE_VM_NAME is still running after 30 checks; power it off and run pulumi up again"
	fi
fi

# The node was up before: whatever fails from here, it is started again as
# it was before the run stops.
restart() {
	echo "vm-update: $1; starting $SRE_VM_NAME again as it was" >&2
	VBoxManage startvm "$SRE_VM_NAME" --type headless >&2 ||
		echo "vm-update: could not start $SRE_VM_NAME; start it with 'VBoxManage startvm $SRE_VM_NAME --type headless'" >&2
	exit 1
}
if [ -n "$modify" ]; then
	VBoxManage modifyvm "$SRE_VM_NAME" --cpus "$SRE_VM_CPUS" --memory "$SRE_VM_MEMORY_MB" >&2 ||
		restart "setting $SRE_VM_CPUS CPUs and $SRE_VM_MEMORY_MB MB failed"
fi
if [ -n "$resize" ]; then
	VBoxManage modifymedium disk "$disk" --resize "$SRE_VM_DISK_MB" >&2 ||
		restart "growing $disk to $SRE_VM_DISK_MB MB failed"
fi
VBoxManage startvm "$SRE_VM_NAME" --type headless >&2

if ! wait_planned vm-update "$boot_probes"; then
	fail "$SRE_VM_NAME was started but $(not_placed); its console in the VirtualBox window shows why;" \
		"run pulumi up again once it answers on $SRE_VM_IP:50000"
fi
echo "vm-update: $SRE_VM_NAME is back with $SRE_VM_CPUS CPUs, $SRE_VM_MEMORY_MB MB and a $SRE_VM_DISK_MB MB disk" >&2
echo "$SRE_VM_IP"
