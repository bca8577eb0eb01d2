#!/bin/sh
# Puts the host back as network-create.sh found it, from the record it
# printed: the lab's reservations dropped, the DHCP server given back its
# earlier settings (or removed when the lab added it), and the interface
# removed only when the lab created it. An adopted interface, such as the
# vboxnet0 Vagrant leaves, is the user's and stays. A network another local
# stack holds (network_owner_key) is left whole, reservations and all; giving
# the network back removes the owner record. Safe to run again after a
# partial or manual removal.
set -eu
# A state from before networks recorded their stack has no SRE_STACK: it
# gives back only a network no stack has claimed since.
stack=${SRE_STACK:-}

name=$(record_name)
# An empty record means create never got as far as an interface.
[ -n "$name" ] || exit 0

need_vboxmanage network-delete

how=$(record_field interface)
before=$(record_field dhcp-before)
made=$(record_field reserved)
# A record holding only a name comes from a create that always made both the
# interface and its DHCP server.
[ -n "$how" ] || how=created
[ -n "$before" ] || before=none

net_key=$(network_owner_key "$name")
owner=$(get_extra global "$net_key")
if [ -n "$owner" ] && [ "$owner" != "$stack" ]; then
	echo "network-delete: leaving host-only network $name and its DHCP reservations, which belong to local stack $owner" >&2
	exit 0
fi

# VirtualBox keeps a DHCP server's settings after its interface is gone, so
# the server is dealt with on its own.
restore_dhcp network-delete "$(dhcp_network "$name")" "$before" "$made"
VBoxManage setextradata global "$net_key" >&2

if [ "$how" != created ]; then
	echo "network-delete: leaving host-only interface $name, which was there before the lab" >&2
	exit 0
fi
ifs=$(VBoxManage list hostonlyifs)
if printf '%s\n' "$ifs" | awk -v n="$name" '
	/^Name:/ { v = $0; sub(/^Name:[ \t]*/, "", v); if (v == n) found = 1 }
	END { exit !found }'; then
	VBoxManage hostonlyif remove "$name" >&2
else
	echo "network-delete: $name is already gone" >&2
fi
