#!/bin/sh
# Creates and starts one Talos VM booting the ISO, with a DHCP reservation so
# it comes up at SRE_VM_IP; prints that address. Re-running it against an
# existing VM only refreshes the reservation and starts the VM if stopped.
set -eu
: "${SRE_VM_NAME:?}" "${SRE_VM_CPUS:?}" "${SRE_VM_MEMORY_MB:?}" "${SRE_VM_DISK_MB:?}" \
	"${SRE_VM_MAC:?}" "${SRE_VM_IP:?}" "${SRE_NET_IF:?}" "${SRE_ISO_PATH:?}"

if ! command -v VBoxManage >/dev/null 2>&1; then
	echo "vm-create: VBoxManage was not found: install VirtualBox 7.x and put VBoxManage on PATH" >&2
	exit 1
fi

# modifyvm wants the MAC bare, the DHCP server wants it colon-separated;
# checking it here keeps a bad value from reaching either.
if ! printf '%s\n' "$SRE_VM_MAC" | grep -Eq '^[0-9A-Fa-f]{12}$'; then
	echo "vm-create: SRE_VM_MAC must be 12 hex digits, got '$SRE_VM_MAC'" >&2
	exit 1
fi
mac=$(printf '%s\n' "$SRE_VM_MAC" | tr 'A-F' 'a-f' | sed 's/../&:/g; s/:$//')

field() {
	printf '%s\n' "$info" | sed -n "s/^$1=\"\(.*\)\"\$/\1/p"
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

# Done on every run so a reservation lost with a recreated network comes back.
VBoxManage dhcpserver modify --interface="$SRE_NET_IF" --mac-address="$mac" --fixed-address="$SRE_VM_IP" >&2

if [ "$(field VMState)" != running ]; then
	VBoxManage startvm "$SRE_VM_NAME" --type headless >&2
fi

echo "$SRE_VM_IP"
