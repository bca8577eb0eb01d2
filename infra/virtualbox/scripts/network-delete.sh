#!/bin/sh
# Removes the host-only network named by the create script's output. Safe to
# run again after a partial or manual removal.
set -eu

name=$(printf '%s' "${PULUMI_COMMAND_STDOUT:-}" | tr -d '\r\n')
# An empty output means create never got as far as an interface.
[ -n "$name" ] || exit 0

if ! command -v VBoxManage >/dev/null 2>&1; then
	echo "network-delete: VBoxManage was not found: install VirtualBox 7.x and put VBoxManage on PATH" >&2
	exit 1
fi

# VirtualBox keeps a DHCP server's config after its interface is gone, so it
# is removed on its own; failing here means it was already removed.
VBoxManage dhcpserver remove --interface="$name" >&2 ||
	echo "network-delete: no DHCP server on $name, nothing to remove" >&2

ifs=$(VBoxManage list hostonlyifs)
if printf '%s\n' "$ifs" | awk -v n="$name" '
	/^Name:/ { v = $0; sub(/^Name:[ \t]*/, "", v); if (v == n) found = 1 }
	END { exit !found }'; then
	VBoxManage hostonlyif remove "$name" >&2
else
	echo "network-delete: $name is already gone" >&2
fi
