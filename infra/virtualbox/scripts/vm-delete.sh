#!/bin/sh
# Powers off and deletes one VM with its disk. Safe to run when the VM is
# already gone. Its DHCP reservation belongs to the network command and
# stays: a replaced VM is deleted and created again without the network
# changing, and must find its reservation in place. A VM another local stack
# made (its sre-lab/stack extradata names that stack) is that stack's and
# stays too.
set -eu
: "${SRE_VM_NAME:?}" "${SRE_STACK:?}"

need_vboxmanage vm-delete
# A state from before VMs had an architecture holds amd64 ones.
guest_settings vm-delete "${SRE_VM_ARCH:-amd64}"

# getextradata fails for a VM that is not registered.
if ! owner=$(get_extra "$SRE_VM_NAME" "$owner_key" 2>/dev/null); then
	echo "vm-delete: $SRE_VM_NAME is already gone" >&2
	exit 0
fi
# A VM without an owner predates the mark; as far as can be told it is the
# stack's whose state holds it, which is the one running this script.
if [ -n "$owner" ] && [ "$owner" != "$SRE_STACK" ]; then
	echo "vm-delete: leaving $SRE_VM_NAME, which belongs to local stack $owner, not $SRE_STACK" >&2
	exit 0
fi
remove_vm vm-delete "$SRE_VM_NAME" "$vm_ctl"
