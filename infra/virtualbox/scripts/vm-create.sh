#!/bin/sh
# Creates and starts one Talos VM of SRE_VM_ARCH booting the ISO, and prints
# SRE_VM_IP, where the Talos layer finds it. On a host-only interface
# (Linux, SRE_NET_IF) the DHCP reservation the network command saved for its
# MAC brings it up there. On a host-only network (macOS, SRE_HOSTONLY_NET),
# whose DHCP server takes no reservations, the VM boots at a lease, is
# handed its network config there and the script returns once it answers at
# SRE_VM_IP (wait_planned). The VM records the local stack that made it
# (SRE_STACK, <project>/<stack>) as soon as it exists and is marked complete
# only once it is built, started and at its address. Re-run against a
# complete VM of this stack it only starts it if stopped; one this stack left
# half-built is removed and built again; one of another stack, or of no
# stack, is refused: VM names are the same for every local stack.
set -eu
: "${SRE_VM_NAME:?}" "${SRE_VM_ARCH:?}" "${SRE_VM_CPUS:?}" "${SRE_VM_MEMORY_MB:?}" "${SRE_VM_DISK_MB:?}" \
	"${SRE_VM_MAC:?}" "${SRE_VM_IP:?}" "${SRE_ISO_PATH:?}" "${SRE_STACK:?}"
if [ -n "${SRE_HOSTONLY_NET:-}" ]; then
	: "${SRE_VM_NAT_MAC:?}" "${SRE_VM_NETWORK_CONFIG:?}" "${SRE_DHCP_LEASES:?}"
else
	: "${SRE_NET_IF:?}"
fi

need_vboxmanage vm-create
guest_settings vm-create "$SRE_VM_ARCH"
if [ "$SRE_VM_ARCH" = arm64 ]; then
	need_vbox_version vm-create 7 1 "arm64 VMs"
fi

# modifyvm wants a MAC bare, the DHCP server lists it colon-separated;
# checking it here keeps a bad value from reaching either.
check_mac() {
	if ! printf '%s\n' "$2" | grep -Eq '^[0-9A-Fa-f]{12}$'; then
		echo "vm-create: $1 must be 12 hex digits, got '$2'" >&2
		exit 1
	fi
}
check_mac SRE_VM_MAC "$SRE_VM_MAC"

if [ -n "${SRE_HOSTONLY_NET:-}" ]; then
	check_mac SRE_VM_NAT_MAC "$SRE_VM_NAT_MAC"
	need_talosctl vm-create
	if ! command -v curl >/dev/null 2>&1; then
		echo "vm-create: curl was not found: install curl; it finds $SRE_VM_NAME on the host-only network" >&2
		exit 1
	fi
	# VirtualBox's NIC settings for a host-only network
	# (--host-only-net<N>, src/VBox/Frontends/VBoxManage/VBoxManageModifyVM.cpp).
	set -- --nic1 hostonlynet --host-only-net1 "$SRE_HOSTONLY_NET" --macaddress1 "$SRE_VM_MAC" --nic2 nat --macaddress2 "$SRE_VM_NAT_MAC"
else
	# VBoxNetDHCP reads its reservations once, when the first VM on the network
	# starts (DHCPServer::start in src/VBox/Main/src-server/DHCPServerImpl.cpp), so
	# the network command saves every VM's reservation before any VM exists.
	# Without one the VM would take a pool address Talos is never told about, and
	# wait there.
	mac=$(printf '%s\n' "$SRE_VM_MAC" | tr 'A-F' 'a-f' | sed 's/../&:/g; s/:$//')
	if ! dhcp_fixed "$(dhcp_network "$SRE_NET_IF")" | grep -qxF "$mac=$SRE_VM_IP"; then
		echo "vm-create: the DHCP server of $SRE_NET_IF has no reservation of $SRE_VM_IP for $mac, so $SRE_VM_NAME would boot at an address Talos does not expect;" \
			"run pulumi up again so the network command saves it" >&2
		exit 1
	fi
	set -- --nic1 hostonly --hostonlyadapter1 "$SRE_NET_IF" --macaddress1 "$SRE_VM_MAC" --nic2 nat
fi

# place starts nothing: it waits until the VM answers at SRE_VM_IP where no
# reservation puts it there (macOS).
place() {
	[ -n "${SRE_HOSTONLY_NET:-}" ] || return 0
	wait_planned vm-create 60
}

field() {
	printf '%s\n' "$info" | vm_field "$1"
}

# An existing VM of the planned name is this stack's only if it says so.
if info=$(VBoxManage showvminfo "$SRE_VM_NAME" --machinereadable 2>/dev/null); then
	owner=$(get_extra "$SRE_VM_NAME" "$owner_key")
	if [ -z "$owner" ]; then
		echo "vm-create: a VM named $SRE_VM_NAME exists and records no sre-lab stack ($owner_key), so it was made by hand or by an older sre-lab;" \
			"remove it ('VBoxManage unregistervm $SRE_VM_NAME --delete') if nothing needs it, then run pulumi up again" >&2
		exit 1
	fi
	if [ "$owner" != "$SRE_STACK" ]; then
		echo "vm-create: $SRE_VM_NAME belongs to local stack $owner; every local stack uses the same VM names and host-only network," \
			"so only one can run on a host: destroy $owner first ('pulumi destroy -s ${owner#*/}') or keep using it" >&2
		exit 1
	fi
	if [ "$(get_extra "$SRE_VM_NAME" "$complete_key")" != 1 ]; then
		echo "vm-create: $SRE_VM_NAME was left half-built by an interrupted run; removing it to build it again" >&2
		# A run killed between making the disk and attaching it leaves the
		# disk, which unregistervm --delete does not remove and createmedium
		# would not make again; a disk that was never made is no error.
		leftover=
		[ -n "$(field "$vm_ctl-0-0")" ] || leftover="$(dirname "$(field CfgFile)")/$SRE_VM_NAME.vdi"
		remove_vm vm-create "$SRE_VM_NAME" "$vm_ctl"
		if [ -n "$leftover" ]; then
			VBoxManage closemedium disk "$leftover" --delete >&2 || true
		fi
		info=
	fi
fi

# Pulumi never learns of a VM whose create failed, so a half-built one is
# removed here; a run killed outright leaves it unmarked for the next run to
# remove.
disk=
attached=
started=
rollback() {
	trap - INT TERM HUP
	echo "vm-create: $1; unregistering $SRE_VM_NAME" >&2
	if [ -n "$started" ]; then
		VBoxManage controlvm "$SRE_VM_NAME" poweroff >&2 || true
		wait_while "$SRE_VM_NAME" 30 1 running stopping || true
	fi
	# unregistervm --delete only removes attached disks, so an unattached
	# one is deleted on its own.
	if [ -n "$disk" ] && [ -z "$attached" ]; then
		VBoxManage closemedium disk "$disk" --delete >&2 || true
	fi
	VBoxManage unregistervm "$SRE_VM_NAME" --delete >&2 ||
		echo "vm-create: could not unregister $SRE_VM_NAME; remove it by hand" >&2
	exit 1
}

if [ -z "$info" ]; then
	trap 'rollback "interrupted"' INT TERM HUP
	# Unquoted: vm_platform is nothing, or an option and its value.
	VBoxManage createvm --name "$SRE_VM_NAME" $vm_platform --ostype "$vm_ostype" --register >&2
	VBoxManage setextradata "$SRE_VM_NAME" "$owner_key" "$SRE_STACK" >&2 ||
		rollback "recording the owning stack failed"
	info=$(VBoxManage showvminfo "$SRE_VM_NAME" --machinereadable) || rollback "showvminfo failed"
	cfg=$(field CfgFile)
	[ -n "$cfg" ] || rollback "showvminfo gave no CfgFile"
	vdi="$(dirname "$cfg")/$SRE_VM_NAME.vdi"

	# Disk first in boot order: the ISO only matters until Talos is installed.
	# Unquoted: vm_ioapic is nothing, or an option and its value.
	VBoxManage modifyvm "$SRE_VM_NAME" --cpus "$SRE_VM_CPUS" --memory "$SRE_VM_MEMORY_MB" "$@" \
		--boot1 disk --boot2 dvd --boot3 none --boot4 none $vm_ioapic --rtcuseutc on >&2 ||
		rollback "modifyvm failed"
	VBoxManage storagectl "$SRE_VM_NAME" --name "$vm_ctl" --add "$vm_bus" --portcount 2 >&2 ||
		rollback "adding the $vm_ctl controller failed"
	# Set before the call, so a signal that arrives while the disk is
	# being made finds it to delete.
	disk=$vdi
	VBoxManage createmedium disk --filename "$disk" --size "$SRE_VM_DISK_MB" --format VDI >&2 || {
		disk=
		rollback "creating $vdi failed"
	}
	VBoxManage storageattach "$SRE_VM_NAME" --storagectl "$vm_ctl" --port 0 --device 0 --type hdd --medium "$disk" >&2 ||
		rollback "attaching $disk failed"
	attached=yes
	VBoxManage storageattach "$SRE_VM_NAME" --storagectl "$vm_ctl" --port 1 --device 0 --type dvddrive --medium "$SRE_ISO_PATH" >&2 ||
		rollback "attaching $SRE_ISO_PATH failed"
	started=yes
	VBoxManage startvm "$SRE_VM_NAME" --type headless >&2 || rollback "starting $SRE_VM_NAME failed"
	place || rollback "$SRE_VM_NAME did not come up at $SRE_VM_IP: $(not_placed); its console in the VirtualBox window shows why"
	VBoxManage setextradata "$SRE_VM_NAME" "$complete_key" 1 >&2 || rollback "marking $SRE_VM_NAME complete failed"
	trap - INT TERM HUP
elif [ "$(field VMState)" != running ]; then
	VBoxManage startvm "$SRE_VM_NAME" --type headless >&2
	if ! place; then
		echo "vm-create: $SRE_VM_NAME was started but did not come up at $SRE_VM_IP: $(not_placed); its console in the VirtualBox window shows why" >&2
		exit 1
	fi
fi

echo "$SRE_VM_IP"
