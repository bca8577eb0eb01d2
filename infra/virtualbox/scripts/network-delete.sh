#!/bin/sh
# Puts the host back as network-create.sh found it, from the record it
# printed: the lab's reservations dropped, the DHCP server given back its
# earlier settings (or removed when the lab added it), and the interface
# removed only when the lab created it. An adopted interface, such as the
# vboxnet0 Vagrant leaves, is the user's and stays. Safe to run again after a
# partial or manual removal.
set -eu

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

# VirtualBox keeps a DHCP server's settings after its interface is gone, so
# the server is dealt with on its own.
restore_dhcp network-delete "$(dhcp_network "$name")" "$before" "$made"

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
