#!/bin/sh
# Puts the macOS host back as hostnet-create.sh found it, from the record it
# printed: the host-only network removed when the lab created it, left when
# it adopted one already there. A network another local stack holds
# (network_owner_key) is left whole; giving the network back removes the
# owner record. Safe to run again after a partial or manual removal.
set -eu
stack=${SRE_STACK:-}

name=$(record_name)
# An empty record means create never got as far as a network.
[ -n "$name" ] || exit 0

need_vboxmanage hostnet-delete

net_key=$(network_owner_key "$name")
owner=$(get_extra global "$net_key")
if [ -n "$owner" ] && [ "$owner" != "$stack" ]; then
	echo "hostnet-delete: leaving host-only network $name, which belongs to local stack $owner" >&2
	exit 0
fi
VBoxManage setextradata global "$net_key" >&2

if [ "$(record_field network)" != created ]; then
	echo "hostnet-delete: leaving host-only network $name, which was there before the lab" >&2
	exit 0
fi
if [ -n "$(hostnet_field "$name" Name)" ]; then
	VBoxManage hostonlynet remove --name "$name" >&2
else
	echo "hostnet-delete: $name is already gone" >&2
fi
