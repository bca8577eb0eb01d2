#!/bin/sh
# Helpers shared by the VirtualBox scripts. vbox.go puts this text in front of
# every script it hands the command provider, so each runs on its own; it only
# defines functions.

# need_vboxmanage stops the calling script when VBoxManage is missing, before
# it acts on anything.
need_vboxmanage() {
	if ! command -v VBoxManage >/dev/null 2>&1; then
		echo "$1: VBoxManage was not found: install VirtualBox 7.x and put VBoxManage on PATH" >&2
		exit 1
	fi
}

# need_talosctl stops the calling script when talosctl is missing: on a
# host-only network without DHCP reservations (macOS) it hands each VM its
# address.
need_talosctl() {
	if ! command -v talosctl >/dev/null 2>&1; then
		echo "$1: talosctl was not found: install talosctl (the Talos release's, 'brew install siderolabs/tap/talosctl' on macOS) and put it on PATH;" \
			"it gives each VM its planned address, since macOS's DHCP server takes no reservations" >&2
		exit 1
	fi
}

# need_vbox_version WHO MAJOR MINOR WHAT stops the calling script when
# VirtualBox is older than MAJOR.MINOR, which WHAT needs. 'VBoxManage
# --version' prints the version and build ("7.1.6r167084").
need_vbox_version() {
	have=$(VBoxManage --version) || exit 1
	if ! printf '%s\n' "$have" | awk -v major="$2" -v minor="$3" -F '[.r_]' '
		{ exit !($1 > major || ($1 == major && $2 >= minor)) }'; then
		echo "$1: VirtualBox $have is too old for $4, which need VirtualBox $2.$3 or newer: update VirtualBox" >&2
		exit 1
	fi
}

# guest_settings WHO ARCH sets what VirtualBox is told about a guest of
# that architecture (amd64 or arm64): vm_platform and vm_ostype for
# createvm, vm_bus and vm_ctl (the bus and the name the lab gives the disk
# controller), and vm_ioapic for modifyvm. An arm64 guest is of VirtualBox's
# "arm" platform (createvm --platform-architecture, VirtualBox 7.1 and
# newer), whose only storage bus is VirtIO SCSI
# (PlatformProperties::getSupportedStorageBuses in
# src/VBox/Main/src-server/PlatformPropertiesImpl.cpp) and which has no
# I/O APIC; VirtualBox's Linux arm64 types are per distribution
# (src/VBox/Main/src-all/Global.cpp), and Debian's defaults (VirtIO SCSI,
# the ARMv8 virtual chipset, EFI) suit Talos. The x86 settings are
# VirtualBox's own defaults and need none of these options.
guest_settings() {
	case $2 in
	amd64) vm_platform= vm_ostype=Linux_64 vm_bus=sata vm_ctl=SATA vm_ioapic="--ioapic on" ;;
	arm64) vm_platform="--platform-architecture arm" vm_ostype=Debian_arm64 vm_bus=virtio-scsi vm_ctl=VirtIO vm_ioapic= ;;
	*)
		echo "$1: SRE_VM_ARCH must be amd64 or arm64, got '$2'" >&2
		exit 1
		;;
	esac
}

# vm_field KEY prints the value of KEY in 'showvminfo --machinereadable'
# output read from stdin. VBoxManage prints numbers bare (memory=4096),
# strings quoted (VMState="running") and some keys quoted too
# ("SATA-0-0"="/path/disk.vdi") (src/VBox/Frontends/VBoxManage/VBoxManageInfo.cpp).
vm_field() {
	awk -v key="$1" '
		{
			i = index($0, "=")
			if (i == 0) next
			k = substr($0, 1, i - 1); v = substr($0, i + 1)
			gsub(/^"|"$/, "", k); gsub(/^"|"$/, "", v)
			if (k == key) { print v; exit }
		}'
}

# vm_state NAME prints a VM's state (running, poweroff, stopping, ...); empty
# when it cannot be read.
vm_state() {
	VBoxManage showvminfo "$1" --machinereadable 2>/dev/null | vm_field VMState
}

# wait_while NAME CHECKS PAUSE STATE... returns once the VM is in none of the
# states, or fails after CHECKS checks PAUSE seconds apart. An unreadable
# state counts as left: the next VBoxManage call reports the real cause.
wait_while() {
	wait_vm=$1 wait_checks=$2 wait_pause=$3
	shift 3
	wait_n=0
	while :; do
		case " $* " in
		*" $(vm_state "$wait_vm") "*) ;;
		*) return 0 ;;
		esac
		wait_n=$((wait_n + 1))
		[ "$wait_n" -lt "$wait_checks" ] || return 1
		sleep "$wait_pause"
	done
}

# get_extra TARGET KEY prints the extradata KEY of TARGET, a VM or "global"
# (VirtualBox's own), nothing when it is unset; it fails when TARGET cannot be
# read. 'VBoxManage getextradata' prints "Value: <v>" or "No value set!"
# (handleGetExtraData in src/VBox/Frontends/VBoxManage/VBoxManageMisc.cpp).
get_extra() {
	extra=$(VBoxManage getextradata "$1" "$2") || return
	printf '%s\n' "$extra" | sed -n 's/^Value: //p'
}

# The extradata vm-create.sh leaves on a VM: the local stack that made it
# (<project>/<stack>), set right after createvm, and 1 once the VM is fully
# built and started, set last. A VM of the lab's with an owner and no mark
# is what an interrupted create left.
owner_key=sre-lab/stack
complete_key=sre-lab/complete

# network_owner_key NAME is the global extradata key recording the local
# stack (<project>/<stack>) that holds the lab's network on host-only
# interface NAME. Every local stack plans the same network, so without it a
# second stack would adopt the first one's and, on destroy, take its
# reservations.
network_owner_key() {
	echo "sre-lab/network/$1/stack"
}

# refuse_foreign_network WHO NAME stops the calling script when another local
# stack than SRE_STACK holds the lab's network on NAME. A network with no
# owner record passes: it was made before networks recorded their stack, and
# the first stack to run since adopts it.
refuse_foreign_network() {
	holder=$(get_extra global "$(network_owner_key "$2")") || exit 1
	if [ -n "$holder" ] && [ "$holder" != "$SRE_STACK" ]; then
		echo "$1: host-only network $2 ($SRE_NET_CIDR) belongs to local stack $holder; every local stack uses the same VM names and host-only network," \
			"so only one can run on a host: destroy $holder first ('pulumi destroy -s ${holder#*/}') or keep using it" >&2
		exit 1
	fi
}

# record_network_owner NAME records SRE_STACK as the holder of the lab's
# network on NAME.
record_network_owner() {
	VBoxManage setextradata global "$(network_owner_key "$1")" "$SRE_STACK" >&2
}

# remove_vm WHO NAME CTL powers a VM off and deletes it with its disk,
# keeping the ISO, which every VM and stack share; CTL is its disk
# controller (guest_settings).
remove_vm() {
	if [ "$(vm_state "$2")" = running ]; then
		# The VM may stop on its own meanwhile; the wait below settles it.
		VBoxManage controlvm "$2" poweroff >&2 ||
			echo "$1: poweroff of $2 failed, waiting for it to stop" >&2
	fi
	# A VM that has not released its session cannot be unregistered.
	if ! wait_while "$2" 30 1 running stopping; then
		echo "$1: $2 is still running after 30 checks; power it off and retry" >&2
		return 1
	fi
	# Detached rather than relying on unregistervm --delete sparing it.
	VBoxManage storageattach "$2" --storagectl "$3" --port 1 --device 0 --type dvddrive --medium emptydrive >&2 ||
		echo "$1: could not detach the DVD of $2" >&2
	VBoxManage unregistervm "$2" --delete >&2
}

# dhcp_network names the network a host-only interface's DHCP server belongs
# to (HostNetworkInterface::i_composeNetworkName in
# src/VBox/Main/src-server/HostNetworkInterfaceImpl.cpp). The scripts reach
# servers by it rather than by --interface, which VBoxManage resolves through
# the interface and so fails once the interface is gone
# (src/VBox/Frontends/VBoxManage/VBoxManageDHCPServer.cpp).
dhcp_network() {
	echo "HostInterfaceNetworking-$1"
}

# dhcp_server prints "IP MASK LOWER UPPER Yes|No" for the DHCP server of a
# network, nothing when it has none; the fields are those of 'VBoxManage list
# dhcpservers' (listDhcpServers in src/VBox/Frontends/VBoxManage/VBoxManageList.cpp).
# A failed listing fails, so it is never taken for "no server".
dhcp_server() {
	servers=$(VBoxManage list dhcpservers) || return
	printf '%s\n' "$servers" | awk -v net="$1" '
		$1 == "NetworkName:" { on = ($2 == net) }
		on && $1 == "Dhcpd" && ip == "" { ip = $3 }
		on && $1 == "LowerIPAddress:" && lo == "" { lo = $2 }
		on && $1 == "UpperIPAddress:" && up == "" { up = $2 }
		on && $1 == "NetworkMask:" && mask == "" { mask = $2 }
		on && $1 == "Enabled:" && en == "" { en = $2 }
		END { if (ip != "") print ip, mask, lo, up, en }'
}

# dhcp_fixed prints "mac=address" for every reservation a network's DHCP
# server holds in its settings.
dhcp_fixed() {
	servers=$(VBoxManage list dhcpservers) || return
	printf '%s\n' "$servers" | awk -v net="$1" '
		$1 == "NetworkName:" { on = ($2 == net); mac = "" }
		on && $1 == "Individual" { mac = ($3 == "MAC") ? $4 : "" }
		on && mac != "" && $1 == "Fixed" { if ($3 != "dynamic") print mac "=" $3; mac = "" }'
}

# put_dhcp NETWORK IP MASK LOWER UPPER Yes|No gives the network's DHCP server
# these settings, adding it when there is none: 'dhcpserver add' refuses a
# network that already has one, as every fresh install has for vboxnet0
# (MainConfigFile in src/VBox/Main/xml/Settings.cpp).
put_dhcp() {
	if [ "$6" = Yes ]; then state=--enable; else state=--disable; fi
	verb=add
	current=$(dhcp_server "$1") || return
	if [ -n "$current" ]; then verb=modify; fi
	VBoxManage dhcpserver "$verb" --network="$1" --server-ip="$2" --netmask="$3" \
		--lower-ip="$4" --upper-ip="$5" "$state" >&2
}

# reserve NETWORK "mac=ip ..." saves each reservation in the server's
# settings.
reserve() {
	for r in $2; do
		VBoxManage dhcpserver modify --network="$1" --mac-address="${r%%=*}" --fixed-address="${r#*=}" >&2 || return
	done
}

# unreserve NETWORK "mac=ip ..." drops the reservations of those MACs; one
# that is already gone is no error (VBoxManage creates the config to remove it).
unreserve() {
	for r in $2; do
		VBoxManage dhcpserver modify --network="$1" --mac-address="${r%%=*}" --remove-config >&2 || return
	done
}

# restart_dhcp makes a running VBoxNetDHCP read the saved settings again: it
# reads them only when it starts (DHCPServer::start, i_writeDhcpdConfig in
# src/VBox/Main/src-server/DHCPServerImpl.cpp). Restarting fails when it is not
# running, which is fine: the first VM to start on the network starts it with
# every saved reservation.
restart_dhcp() {
	if ! VBoxManage dhcpserver restart --network="$2" >&2; then
		echo "$1: the DHCP server of $2 is not running; the first VM to start will start it with every reservation" >&2
	fi
}

# check_reservations refuses a reservation list that is not "mac=ip ...", so
# a bad value never reaches VirtualBox half-applied.
check_reservations() {
	bad=$(printf '%s\n' $2 | grep -Evx '[0-9a-f]{2}(:[0-9a-f]{2}){5}=[0-9]{1,3}(\.[0-9]{1,3}){3}' || true)
	if [ -n "$bad" ]; then
		echo "$1: SRE_DHCP_RESERVATIONS must be 'mac=ip' words with lower-case colon-separated MACs, got '$bad'" >&2
		exit 1
	fi
}

# record_field KEY prints a line of the record network-create.sh printed
# (PULUMI_COMMAND_STDOUT); the first line is the interface name.
record_field() {
	printf '%s\n' "${PULUMI_COMMAND_STDOUT:-}" | sed -n "s/^$1: //p"
}

# record_name prints the interface the record names.
record_name() {
	printf '%s\n' "${PULUMI_COMMAND_STDOUT:-}" | sed -n '1{s/[[:space:]]*$//;p;}'
}

# print_record NAME HOW BEFORE RESERVED is the network command's stdout: what
# the delete script needs to put the host back as it found it. HOW is created
# or adopted; BEFORE the DHCP server the network had before the lab (none, or
# the fields of dhcp_server); RESERVED the reservations the lab made.
print_record() {
	printf '%s\ninterface: %s\ndhcp-before: %s\nreserved: %s\n' "$1" "$2" "$3" "$4"
}

# restore_dhcp WHO NETWORK BEFORE RESERVED puts the network's DHCP server back
# the way the lab found it: removed when it had none, otherwise without the
# lab's reservations and with its own settings again, which a running server
# is restarted to serve.
restore_dhcp() {
	current=$(dhcp_server "$2") || return
	if [ "$3" = none ]; then
		if [ -n "$current" ]; then
			VBoxManage dhcpserver remove --network="$2" >&2 || return
		fi
		return 0
	fi
	if [ -n "$current" ]; then
		unreserve "$2" "$4" || return
	fi
	# Unquoted: BEFORE holds the five settings put_dhcp takes.
	put_dhcp "$2" $3 || return
	restart_dhcp "$1" "$2"
}

# print_net_record NAME HOW is the macOS network command's stdout: the
# host-only network's name, and whether the lab created it or adopted one
# already there, which destroy leaves.
print_net_record() {
	printf '%s\nnetwork: %s\n' "$1" "$2"
}

# talos_probe IP prints curl's exit code for a connection to the Talos API
# port of IP: 0 from a node in maintenance mode, whose API asks for no
# client certificate (tls.ServerOnly in internal/app/maintenance/provider.go
# of siderolabs/talos), 56 from a configured node, whose apid does, and 7
# (refused, no route) or 28 (timed out) while nothing answers; any other
# code means something answered too (35 from a curl without HTTP/2, whose
# TLS session a gRPC server ends). No proxy: the address is on the
# host-only network.
talos_probe() {
	probe_code=0
	curl --silent --insecure --noproxy '*' --connect-timeout 5 --max-time 10 --output /dev/null \
		"https://$1:50000/" || probe_code=$?
	echo "$probe_code"
}

# lease_of FILE MAC prints the address macOS's DHCP server (bootpd) leased
# to MAC (12 hex digits), nothing when it leased none. Its lease file holds
# one "{ ... }" block per client with ip_address= and hw_address=1,<mac>
# lines, the MAC's bytes written without leading zeros ("8:0:27:a8:38:a";
# trimMacAddress in pkg/drivers/hyperkit/network.go of kubernetes/minikube).
lease_of() {
	[ -r "$1" ] || return 0
	awk -v want="$(printf '%s\n' "$2" | tr 'A-F' 'a-f')" '
		function bare(mac,   n, i, b, out) {
			n = split(mac, b, ":")
			for (i = 1; i <= n; i++) out = out (length(b[i]) == 1 ? "0" : "") b[i]
			return tolower(out)
		}
		/^[ \t]*\{/ { ip = ""; hw = "" }
		/^[ \t]*ip_address=/ { ip = $0; sub(/^[ \t]*ip_address=/, "", ip) }
		/^[ \t]*hw_address=/ { hw = $0; sub(/^[ \t]*hw_address=[0-9]*,/, "", hw); hw = bare(hw) }
		/^[ \t]*\}/ { if (hw == want && ip != "") found = ip }
		END { if (found != "") print found }' "$1"
}

# hand_config WHO ADDRESS applies SRE_VM_NETWORK_CONFIG to the node in
# maintenance mode at ADDRESS. The maintenance API takes a config from
# anyone (talosctl's --insecure uses --nodes as its endpoints,
# WithClientMaintenance in cmd/talosctl/pkg/talos/global/client.go), and
# applies one without a machine config at once while it waits for the rest.
hand_config() {
	hand_file=$(mktemp "${TMPDIR:-/tmp}/sre-lab-network.XXXXXX") || return
	printf '%s\n' "$SRE_VM_NETWORK_CONFIG" >"$hand_file"
	echo "$1: $SRE_VM_NAME answers at $2, the address macOS's DHCP server leased it; giving it $SRE_VM_IP" >&2
	hand_code=0
	talosctl apply-config --insecure --nodes "$2" --file "$hand_file" >&2 || hand_code=$?
	rm -f "$hand_file"
	return "$hand_code"
}

# wait_planned WHO PROBES returns once the VM answers on its Talos API port
# at SRE_VM_IP, probing PROBES times 5 seconds apart, and fails after. On a
# host-only network without reservations (SRE_HOSTONLY_NET) a VM that boots
# unconfigured answers at the address bootpd leased it instead: it is
# handed its network config there, once, which moves it to SRE_VM_IP. An
# installed node comes back at SRE_VM_IP by itself, its config holding the
# same network config.
wait_planned() {
	planned_n=0
	wait_lease=
	handed=
	while :; do
		case $(talos_probe "$SRE_VM_IP") in
		7 | 28) ;;
		*) return 0 ;;
		esac
		if [ -n "${SRE_HOSTONLY_NET:-}" ] && [ -z "$handed" ]; then
			wait_lease=$(lease_of "$SRE_DHCP_LEASES" "$SRE_VM_MAC")
			if [ -n "$wait_lease" ]; then
				case $(talos_probe "$wait_lease") in
				7 | 28) ;;
				*)
					handed=yes
					hand_config "$1" "$wait_lease" || {
						handed=failed
						return 1
					}
					;;
				esac
			fi
		fi
		planned_n=$((planned_n + 1))
		[ "$planned_n" -lt "$2" ] || return 1
		sleep 5
	done
}

# not_placed prints why wait_planned gave up, for the caller's message.
not_placed() {
	if [ "$handed" = failed ]; then
		echo "talosctl could not hand it its network config at $wait_lease, where macOS's DHCP server leased it an address"
	elif [ -n "$handed" ]; then
		echo "it was given $SRE_VM_IP at $wait_lease but does not answer there"
	elif [ -n "$wait_lease" ]; then
		echo "it was leased $wait_lease but does not answer there"
	elif [ -n "${SRE_HOSTONLY_NET:-}" ]; then
		echo "$SRE_DHCP_LEASES holds no lease for its MAC $SRE_VM_MAC, so it has no address yet"
	else
		echo "it does not answer on $SRE_VM_IP:50000"
	fi
}

# hostnet_field NAME KEY prints a setting of the host-only network NAME as
# 'VBoxManage list hostonlynets' prints it (Name:, State:, NetworkMask:,
# LowerIP:, UpperIP:; listHostOnlyNetworks in
# src/VBox/Frontends/VBoxManage/VBoxManageList.cpp), nothing when there is no
# such network. VirtualBox finds a network by name as the first of that name
# (VirtualBox::findHostOnlyNetworkByName, src/VBox/Main/src-server/VirtualBoxImpl.cpp),
# so the first is read here too. A failed listing fails.
hostnet_field() {
	nets=$(VBoxManage list hostonlynets) || return
	printf '%s\n' "$nets" | awk -v name="$1" -v key="$2:" '
		$1 == "Name:" { v = $0; sub(/^Name:[ \t]*/, "", v); seen = seen || on; on = !seen && v == name }
		on && $1 == key { sub(/^[^:]*:[ \t]*/, ""); print; exit }'
}
