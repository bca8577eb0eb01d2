#!/bin/sh
# Creates the lab's host-only network and its DHCP pool, then prints the
# interface name. Pulumi records stdout as the resource output that the
# delete script receives, so every other line goes to stderr.
set -eu
: "${SRE_NET_CIDR:?}" "${SRE_NET_IP:?}" "${SRE_NET_MASK:?}" \
	"${SRE_DHCP_SERVER_IP:?}" "${SRE_DHCP_LOWER:?}" "${SRE_DHCP_UPPER:?}"

if ! command -v VBoxManage >/dev/null 2>&1; then
	echo "network-create: VBoxManage was not found: install VirtualBox 7.x and put VBoxManage on PATH" >&2
	exit 1
fi

# A second interface with the host address would leave the host with two
# routes to the range, and VMs would land on whichever VirtualBox picks.
ifs=$(VBoxManage list hostonlyifs)
taken=$(printf '%s\n' "$ifs" | awk -v ip="$SRE_NET_IP" '
	/^Name:/ { name = $0; sub(/^Name:[ \t]*/, "", name) }
	$1 == "IPAddress:" && $2 == ip { print name; exit }')
if [ -n "$taken" ]; then
	echo "network-create: host-only interface $taken already uses $SRE_NET_IP ($SRE_NET_CIDR):" \
		"remove it with 'VBoxManage hostonlyif remove $taken' or set sre-lab:networkCidr to another range" >&2
	exit 1
fi

created=$(VBoxManage hostonlyif create)
printf '%s\n' "$created" >&2
name=$(printf '%s\n' "$created" | sed -n "s/.*Interface '\(.*\)' was successfully created.*/\1/p")
if [ -z "$name" ]; then
	echo "network-create: could not read the new interface name from VBoxManage hostonlyif create" >&2
	exit 1
fi

# The delete script only knows interfaces whose name reached Pulumi, so a
# half-configured one must go now or it would hold the range forever.
rollback() {
	echo "network-create: $1; removing $name" >&2
	VBoxManage hostonlyif remove "$name" >&2 || echo "network-create: could not remove $name; remove it by hand" >&2
	exit 1
}

VBoxManage hostonlyif ipconfig "$name" --ip "$SRE_NET_IP" --netmask "$SRE_NET_MASK" >&2 ||
	rollback "VirtualBox refused $SRE_NET_IP/$SRE_NET_MASK ($SRE_NET_CIDR) on $name (on Linux it only allows host-only ranges listed in /etc/vbox/networks.conf, 192.168.56.0/21 by default)"
VBoxManage dhcpserver add --interface="$name" --server-ip="$SRE_DHCP_SERVER_IP" --netmask="$SRE_NET_MASK" \
	--lower-ip="$SRE_DHCP_LOWER" --upper-ip="$SRE_DHCP_UPPER" --enable >&2 ||
	rollback "adding the DHCP server on $name failed"

echo "$name"
