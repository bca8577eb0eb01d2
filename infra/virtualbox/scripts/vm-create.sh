#!/bin/sh
# Creates and starts one Talos VM booting the ISO; the DHCP reservation the
# network command saved for its MAC brings it up at SRE_VM_IP, which it
# prints. The VM records the local stack that made it (SRE_STACK,
# <project>/<stack>) as soon as it exists and is marked complete only once
# it is built and started. Re-run against a complete VM of this stack it
# only starts it if stopped; one this stack left half-built is removed and
# built again; one of another stack, or of no stack, is refused: VM names
# are the same for every local stack.
set -eu
: "${SRE_VM_NAME:?}" "${SRE_VM_CPUS:?}" "${SRE_VM_MEMORY_MB:?}" "${SRE_VM_DISK_MB:?}" \
	"${SRE_VM_MAC:?}" "${SRE_VM_IP:?}" "${SRE_NET_IF:?}" "${SRE_ISO_PATH:?}" "${SRE_STACK:?}"

refuse_macos vm-create
need_vboxmanage vm-create

# modifyvm wants the MAC bare, the DHCP server lists it colon-separated;
# checking it here keeps a bad value from reaching either.
if ! printf '%s\n' "$SRE_VM_MAC" | grep -Eq '^[0-9A-Fa-f]{12}$'; then
	echo "vm-create: SRE_VM_MAC must be 12 hex digits, got '$SRE_VM_MAC'" >&2
	exit 1
fi
mac=$(printf '%s\n' "$SRE_VM_MAC" | tr 'A-F' 'a-f' | sed 's/../&:/g; s/:$//')

# VBoxNetDHCP reads its reservations once, when the first VM on the network
# starts (DHCPServer::start in src/VBox/Main/src-server/DHCPServerImpl.cpp), so
# the network command saves every VM's reservation before any VM exists.
# Without one the VM would take a pool address Talos is never told about, and
# wait there.
if ! dhcp_fixed "$(dhcp_network "$SRE_NET_IF")" | grep -qxF "$mac=$SRE_VM_IP"; then
	echo "vm-create: the DHCP server of $SRE_NET_IF has no reservation of $SRE_VM_IP for $mac, so $SRE_VM_NAME would boot at an address Talos does not expect;" \
		"run pulumi up again so the network command saves it" >&2
	exit 1
fi

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
		[ -n "$(field SATA-0-0)" ] || leftover="$(dirname "$(field CfgFile)")/$SRE_VM_NAME.vdi"
		remove_vm vm-create "$SRE_VM_NAME"
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
	VBoxManage createvm --name "$SRE_VM_NAME" --ostype Linux_64 --register >&2
	VBoxManage setextradata "$SRE_VM_NAME" "$owner_key" "$SRE_STACK" >&2 ||
		rollback "recording the owning stack failed"
	info=$(VBoxManage showvminfo "$SRE_VM_NAME" --machinereadable) || rollback "showvminfo failed"
	cfg=$(field CfgFile)
	[ -n "$cfg" ] || rollback "showvminfo gave no CfgFile"
	vdi="$(dirname "$cfg")/$SRE_VM_NAME.vdi"

	# Disk first in boot order: the ISO only matters until Talos is installed.
	VBoxManage modifyvm "$SRE_VM_NAME" --cpus "$SRE_VM_CPUS" --memory "$SRE_VM_MEMORY_MB" \
		--nic1 hostonly --hostonlyadapter1 "$SRE_NET_IF" --macaddress1 "$SRE_VM_MAC" --nic2 nat \
		--boot1 disk --boot2 dvd --boot3 none --boot4 none --ioapic on --rtcuseutc on >&2 ||
		rollback "modifyvm failed"
	VBoxManage storagectl "$SRE_VM_NAME" --name SATA --add sata --portcount 2 >&2 ||
		rollback "adding the SATA controller failed"
	# Set before the call, so a signal that arrives while the disk is
	# being made finds it to delete.
	disk=$vdi
	VBoxManage createmedium disk --filename "$disk" --size "$SRE_VM_DISK_MB" --format VDI >&2 || {
		disk=
		rollback "creating $vdi failed"
	}
	VBoxManage storageattach "$SRE_VM_NAME" --storagectl SATA --port 0 --device 0 --type hdd --medium "$disk" >&2 ||
		rollback "attaching $disk failed"
	attached=yes
	VBoxManage storageattach "$SRE_VM_NAME" --storagectl SATA --port 1 --device 0 --type dvddrive --medium "$SRE_ISO_PATH" >&2 ||
		rollback "attaching $SRE_ISO_PATH failed"
	started=yes
	VBoxManage startvm "$SRE_VM_NAME" --type headless >&2 || rollback "starting $SRE_VM_NAME failed"
	VBoxManage setextradata "$SRE_VM_NAME" "$complete_key" 1 >&2 || rollback "marking $SRE_VM_NAME complete failed"
	trap - INT TERM HUP
elif [ "$(field VMState)" != running ]; then
	VBoxManage startvm "$SRE_VM_NAME" --type headless >&2
fi

echo "$SRE_VM_IP"
