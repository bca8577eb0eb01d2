#!/bin/sh
# Creates and starts one Talos VM booting the ISO; the DHCP reservation the
# network command saved for its MAC brings it up at SRE_VM_IP, which it
# prints. Re-running it against an existing VM only starts it if stopped.
set -eu
: "${SRE_VM_NAME:?}" "${SRE_VM_CPUS:?}" "${SRE_VM_MEMORY_MB:?}" "${SRE_VM_DISK_MB:?}" \
	"${SRE_VM_MAC:?}" "${SRE_VM_IP:?}" "${SRE_NET_IF:?}" "${SRE_ISO_PATH:?}"

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

# Pulumi never learns of a VM whose create failed, so a half-built one must be
# removed here or the next run would trip over its name.
rollback() {
	echo "vm-create: $1; unregistering $SRE_VM_NAME" >&2
	VBoxManage unregistervm "$SRE_VM_NAME" --delete >&2 ||
		echo "vm-create: could not unregister $SRE_VM_NAME; remove it by hand" >&2
	exit 1
}

if ! info=$(VBoxManage showvminfo "$SRE_VM_NAME" --machinereadable 2>/dev/null); then
	VBoxManage createvm --name "$SRE_VM_NAME" --ostype Linux_64 --register >&2
	info=$(VBoxManage showvminfo "$SRE_VM_NAME" --machinereadable) || rollback "showvminfo failed"
	cfg=$(field CfgFile)
	[ -n "$cfg" ] || rollback "showvminfo gave no CfgFile"
	disk="$(dirname "$cfg")/$SRE_VM_NAME.vdi"

	# Disk first in boot order: the ISO only matters until Talos is installed.
	VBoxManage modifyvm "$SRE_VM_NAME" --cpus "$SRE_VM_CPUS" --memory "$SRE_VM_MEMORY_MB" \
		--nic1 hostonly --hostonlyadapter1 "$SRE_NET_IF" --macaddress1 "$SRE_VM_MAC" --nic2 nat \
		--boot1 disk --boot2 dvd --boot3 none --boot4 none --ioapic on --rtcuseutc on >&2 ||
		rollback "modifyvm failed"
	VBoxManage storagectl "$SRE_VM_NAME" --name SATA --add sata --portcount 2 >&2 ||
		rollback "adding the SATA controller failed"
	VBoxManage createmedium disk --filename "$disk" --size "$SRE_VM_DISK_MB" --format VDI >&2 ||
		rollback "creating $disk failed"
	# unregistervm --delete only removes attached disks, so an unattached
	# one is deleted on its own.
	if ! VBoxManage storageattach "$SRE_VM_NAME" --storagectl SATA --port 0 --device 0 --type hdd --medium "$disk" >&2; then
		VBoxManage closemedium disk "$disk" --delete >&2 || true
		rollback "attaching $disk failed"
	fi
	VBoxManage storageattach "$SRE_VM_NAME" --storagectl SATA --port 1 --device 0 --type dvddrive --medium "$SRE_ISO_PATH" >&2 ||
		rollback "attaching $SRE_ISO_PATH failed"
fi

if [ "$(field VMState)" != running ]; then
	VBoxManage startvm "$SRE_VM_NAME" --type headless >&2
fi

echo "$SRE_VM_IP"
