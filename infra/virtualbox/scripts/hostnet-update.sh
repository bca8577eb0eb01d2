#!/bin/sh
# Brings the lab's host-only network on macOS in line with the plan when its
# settings change, adding it again if it was removed by hand. Refuses a
# network another local stack holds and records SRE_STACK as the holder.
# Prints the record again: Pulumi replaces the output with this run's stdout.
set -eu
: "${SRE_NET_CIDR:?}" "${SRE_NET_NAME:?}" "${SRE_NET_MASK:?}" \
	"${SRE_NET_LOWER:?}" "${SRE_NET_UPPER:?}" "${SRE_STACK:?}"

need_vboxmanage hostnet-update

name=$(record_name)
how=$(record_field network)
if [ -z "$name" ] || [ -z "$how" ]; then
	echo "hostnet-update: the network command recorded no host-only network; replace it with 'pulumi up --replace' on the network command" >&2
	exit 1
fi

refuse_foreign_network hostnet-update "$name"
if [ -n "$(hostnet_field "$name" Name)" ]; then
	VBoxManage hostonlynet modify --name "$name" --netmask "$SRE_NET_MASK" \
		--lower-ip "$SRE_NET_LOWER" --upper-ip "$SRE_NET_UPPER" --enable >&2
else
	echo "hostnet-update: host-only network $name is gone; adding it again" >&2
	VBoxManage hostonlynet add --name "$name" --netmask "$SRE_NET_MASK" \
		--lower-ip "$SRE_NET_LOWER" --upper-ip "$SRE_NET_UPPER" --enable >&2
fi
record_network_owner "$name"

print_net_record "$name" "$how"
