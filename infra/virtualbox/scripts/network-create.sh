#!/bin/sh
# Sets up the lab's host-only network before any VM exists: the interface at
# the host address, its DHCP server with the lab's pool, and a reservation for
# every planned VM, and the local stack that holds it (SRE_STACK, in global
# extradata, network_owner_key). Prints the record (print_record) the update and delete
# scripts work from; Pulumi keeps stdout as the resource output, so every
# other line goes to stderr.
set -eu
: "${SRE_NET_CIDR:?}" "${SRE_NET_IP:?}" "${SRE_NET_MASK:?}" \
	"${SRE_DHCP_SERVER_IP:?}" "${SRE_DHCP_LOWER:?}" "${SRE_DHCP_UPPER:?}" \
	"${SRE_DHCP_RESERVATIONS:?}" "${SRE_STACK:?}"

need_vboxmanage network-create
check_reservations network-create "$SRE_DHCP_RESERVATIONS"

# An interface that already has the host address and the lab's mask is the
# lab's network, left by an earlier run or by another tool (Vagrant leaves
# vboxnet0 at 192.168.56.1/24): it is adopted, and destroy leaves it. With
# another mask the host would route part of the range two ways, so the run
# stops instead.
ifs=$(VBoxManage list hostonlyifs)
held=$(printf '%s\n' "$ifs" | awk -v ip="$SRE_NET_IP" '
	$1 == "Name:" { name = $0; sub(/^Name:[ \t]*/, "", name); addr = "" }
	$1 == "IPAddress:" { addr = $2 }
	$1 == "NetworkMask:" && addr == ip { print $2, name; exit }')
if [ -n "$held" ]; then
	name=${held#* }
	mask=${held%% *}
	if [ "$mask" != "$SRE_NET_MASK" ]; then
		echo "network-create: host-only interface $name already has $SRE_NET_IP with mask $mask, not the $SRE_NET_MASK of $SRE_NET_CIDR:" \
			"give it the lab's mask with 'VBoxManage hostonlyif ipconfig $name --ip $SRE_NET_IP --netmask $SRE_NET_MASK'," \
			"remove it with 'VBoxManage hostonlyif remove $name', or set sre-lab:networkCidr to another range" >&2
		exit 1
	fi
	# Another local stack's network is refused; one with no owner record,
	# made before networks recorded their stack, is adopted below.
	refuse_foreign_network network-create "$name"
	how=adopted
	echo "network-create: using host-only interface $name, which already has $SRE_NET_IP/$SRE_NET_MASK; destroy will leave it in place" >&2
else
	created=$(VBoxManage hostonlyif create)
	printf '%s\n' "$created" >&2
	name=$(printf '%s\n' "$created" | sed -n "s/.*Interface '\(.*\)' was successfully created.*/\1/p")
	if [ -z "$name" ]; then
		echo "network-create: could not read the new interface name from VBoxManage hostonlyif create" >&2
		exit 1
	fi
	how=created
fi
network=$(dhcp_network "$name")
before=

# Pulumi records nothing of a failed create, so the delete script never runs
# for it: what this run changed is undone here, or the next run would start
# from a half-made network.
rollback() {
	echo "network-create: $1; undoing this run" >&2
	if [ -n "$before" ]; then
		restore_dhcp network-create "$network" "$before" "$SRE_DHCP_RESERVATIONS" ||
			echo "network-create: could not put back the DHCP server of $name; check 'VBoxManage list dhcpservers'" >&2
	fi
	if [ "$how" = created ]; then
		VBoxManage hostonlyif remove "$name" >&2 || echo "network-create: could not remove $name; remove it by hand" >&2
	fi
	exit 1
}

if [ "$how" = created ]; then
	VBoxManage hostonlyif ipconfig "$name" --ip "$SRE_NET_IP" --netmask "$SRE_NET_MASK" >&2 ||
		rollback "VirtualBox refused $SRE_NET_IP/$SRE_NET_MASK ($SRE_NET_CIDR) on $name (on Linux it only allows host-only ranges listed in /etc/vbox/networks.conf, 192.168.56.0/21 by default)"
fi
before=$(dhcp_server "$network") || rollback "listing the DHCP servers failed"
[ -n "$before" ] || before=none
put_dhcp "$network" "$SRE_DHCP_SERVER_IP" "$SRE_NET_MASK" "$SRE_DHCP_LOWER" "$SRE_DHCP_UPPER" Yes ||
	rollback "setting up the DHCP server of $name failed"
reserve "$network" "$SRE_DHCP_RESERVATIONS" || rollback "saving the DHCP reservations on $name failed"
# A created interface's name may carry the record of an earlier interface
# of that name, removed by hand since: it is overwritten.
record_network_owner "$name" || rollback "recording local stack $SRE_STACK as the owner of $name failed"
restart_dhcp network-create "$network"

print_record "$name" "$how" "$before" "$SRE_DHCP_RESERVATIONS"
