#!/bin/sh
# Brings the lab's DHCP server in line with the plan when the reservation list
# changes (a worker added or removed): saves the new reservations, drops those
# no VM is planned for any more, then restarts the server if it runs, as it
# only reads them when it starts. Refuses a network another local stack holds
# and records SRE_STACK as the holder of one with no owner record, made
# before networks recorded their stack. Prints the record again: Pulumi replaces the
# output with this run's stdout.
set -eu
: "${SRE_NET_CIDR:?}" "${SRE_NET_IP:?}" "${SRE_NET_MASK:?}" \
	"${SRE_DHCP_SERVER_IP:?}" "${SRE_DHCP_LOWER:?}" "${SRE_DHCP_UPPER:?}" \
	"${SRE_DHCP_RESERVATIONS:?}" "${SRE_STACK:?}"

need_vboxmanage network-update
check_reservations network-update "$SRE_DHCP_RESERVATIONS"

name=$(record_name)
if [ -z "$name" ]; then
	echo "network-update: the network command recorded no interface; replace it with 'pulumi up --replace' on the network command" >&2
	exit 1
fi
how=$(record_field interface)
before=$(record_field dhcp-before)
made=$(record_field reserved)
# A record holding only a name comes from a create that always made both the
# interface and its DHCP server, and left reservations to the VMs.
[ -n "$how" ] || how=created
[ -n "$before" ] || before=none
network=$(dhcp_network "$name")

refuse_foreign_network network-update "$name"
record_network_owner "$name"

gone=
for r in $made; do
	case " $SRE_DHCP_RESERVATIONS " in
	*" ${r%%=*}="*) ;;
	*) gone="$gone $r" ;;
	esac
done

put_dhcp "$network" "$SRE_DHCP_SERVER_IP" "$SRE_NET_MASK" "$SRE_DHCP_LOWER" "$SRE_DHCP_UPPER" Yes
unreserve "$network" "$gone"
reserve "$network" "$SRE_DHCP_RESERVATIONS"
restart_dhcp network-update "$network"

print_record "$name" "$how" "$before" "$SRE_DHCP_RESERVATIONS"
