#!/bin/sh
# Sets up the lab's host-only network on macOS, where VirtualBox 7 has
# host-only networks in place of host-only interfaces: SRE_NET_NAME, with
# mask SRE_NET_MASK, the host at SRE_NET_LOWER and macOS's DHCP server
# leasing the addresses after it up to SRE_NET_UPPER (the lowest address of
# the range is the host's: src/VBox/Devices/Network/DrvVMNet.m passes the
# range to vmnet as its start and end address). It records the local stack
# that holds it (SRE_STACK, in global extradata, network_owner_key) and
# prints the record (print_net_record) the update and delete scripts work
# from; Pulumi keeps stdout as the resource output, so every other line goes
# to stderr.
set -eu
: "${SRE_NET_CIDR:?}" "${SRE_NET_NAME:?}" "${SRE_NET_MASK:?}" \
	"${SRE_NET_LOWER:?}" "${SRE_NET_UPPER:?}" "${SRE_STACK:?}"

need_vboxmanage hostnet-create

nets=$(VBoxManage list hostonlynets)
# Another host-only network over any of the lab's addresses would give the
# host two interfaces into one range, and the VMs two DHCP servers; it is
# named instead of guessed at. 'hostonlynet add' checks nothing of the sort,
# nor that the name is free (VirtualBox::createHostOnlyNetwork,
# src/VBox/Main/src-server/VirtualBoxImpl.cpp).
clash=$(printf '%s\n' "$nets" | awk -v name="$SRE_NET_NAME" -v lower="$SRE_NET_LOWER" -v mask="$SRE_NET_MASK" '
	function num(a,   p) { split(a, p, "."); return ((p[1] * 256 + p[2]) * 256 + p[3]) * 256 + p[4] }
	function check() {
		if (n == "" || n == name || m == "" || l == "") return
		big = 4294967296 - num(m)
		if (4294967296 - num(mask) > big) big = 4294967296 - num(mask)
		if (int(num(l) / big) == int(num(lower) / big)) { print n " (" l "/" m ")"; found = 1 }
	}
	$1 == "Name:" { if (!found) check(); n = $0; sub(/^Name:[ \t]*/, "", n); m = ""; l = "" }
	$1 == "NetworkMask:" { m = $2 }
	$1 == "LowerIP:" { l = $2 }
	END { if (!found) check() }')
if [ -n "$clash" ]; then
	echo "hostnet-create: host-only network $clash overlaps $SRE_NET_CIDR:" \
		"remove it with 'VBoxManage hostonlynet remove --name ${clash%% (*}' if nothing uses it, or set sre-lab:networkCidr to another range" >&2
	exit 1
fi

lower=$(hostnet_field "$SRE_NET_NAME" LowerIP)
if [ -n "$lower" ]; then
	# A network of the lab's name is the lab's if it has the host address
	# and mask: an earlier run's, or one made by hand following the docs.
	# It is adopted, and destroy leaves it.
	mask=$(hostnet_field "$SRE_NET_NAME" NetworkMask)
	if [ "$lower" != "$SRE_NET_LOWER" ] || [ "$mask" != "$SRE_NET_MASK" ]; then
		echo "hostnet-create: host-only network $SRE_NET_NAME has the host at $lower with mask $mask, not $SRE_NET_LOWER with $SRE_NET_MASK of $SRE_NET_CIDR:" \
			"remove it with 'VBoxManage hostonlynet remove --name $SRE_NET_NAME', or set sre-lab:networkCidr to its range" >&2
		exit 1
	fi
	refuse_foreign_network hostnet-create "$SRE_NET_NAME"
	how=adopted
	echo "hostnet-create: using host-only network $SRE_NET_NAME, which already has the host at $SRE_NET_LOWER/$SRE_NET_MASK; destroy will leave it in place" >&2
	VBoxManage hostonlynet modify --name "$SRE_NET_NAME" --upper-ip "$SRE_NET_UPPER" --enable >&2
else
	VBoxManage hostonlynet add --name "$SRE_NET_NAME" --netmask "$SRE_NET_MASK" \
		--lower-ip "$SRE_NET_LOWER" --upper-ip "$SRE_NET_UPPER" --enable >&2
	how=created
fi

# Pulumi records nothing of a failed create, so the delete script never runs
# for it: a network this run made is removed again.
if ! record_network_owner "$SRE_NET_NAME"; then
	echo "hostnet-create: recording local stack $SRE_STACK as the owner of $SRE_NET_NAME failed; undoing this run" >&2
	if [ "$how" = created ]; then
		VBoxManage hostonlynet remove --name "$SRE_NET_NAME" >&2 ||
			echo "hostnet-create: could not remove $SRE_NET_NAME; remove it by hand" >&2
	fi
	exit 1
fi

print_net_record "$SRE_NET_NAME" "$how"
