#!/bin/sh
# Powers off and deletes one VM with its disk. Safe to run when the VM is
# already gone. Its DHCP reservation belongs to the network command and
# stays: a replaced VM is deleted and created again without the network
# changing, and must find its reservation in place.
set -eu
: "${SRE_VM_NAME:?}"

need_vboxmanage vm-delete

if info=$(VBoxManage showvminfo "$SRE_VM_NAME" --machinereadable 2>/dev/null); then
	if [ "$(printf '%s\n' "$info" | vm_field VMState)" = running ]; then
		# The VM may stop on its own meanwhile; the wait below settles it.
		VBoxManage controlvm "$SRE_VM_NAME" poweroff >&2 ||
			echo "vm-delete: poweroff of $SRE_VM_NAME failed, waiting for it to stop" >&2
	fi
	# A VM that has not released its session cannot be unregistered.
	if ! wait_while "$SRE_VM_NAME" 30 1 running stopping; then
		echo "vm-delete: $SRE_VM_NAME is still running after 30 checks; power it off and retry" >&2
		exit 1
	fi
	# The ISO is shared by every VM and stack: detach it rather than rely on
	# unregistervm --delete sparing it.
	VBoxManage storageattach "$SRE_VM_NAME" --storagectl SATA --port 1 --device 0 --type dvddrive --medium emptydrive >&2 ||
		echo "vm-delete: could not detach the DVD of $SRE_VM_NAME" >&2
	VBoxManage unregistervm "$SRE_VM_NAME" --delete >&2
else
	echo "vm-delete: $SRE_VM_NAME is already gone" >&2
fi
