#!/bin/sh
# Shared by the upgrade scripts, which are appended to it. They print one
# line on stdout, the version they leave behind, which Pulumi records as the
# step's output and hands to the next run as PULUMI_COMMAND_STDOUT; talosctl's
# own output goes to stderr so it cannot mix with that record.
set -eu

log() {
	echo "$me: $*" >&2
}

fail() {
	log "$*"
	exit 1
}

need_talosctl() {
	command -v talosctl >/dev/null 2>&1 ||
		fail "talosctl was not found: install talosctl (the same minor version as the cluster's Talos) and put it on PATH"
}

# The step holds the client's identity, not a talosconfig: one listing
# every node would change every step when a node is added. This writes the
# smallest talosconfig talosctl reads (siderolabs/talos
# pkg/machinery/client/config, Config and Context: a current context with
# endpoints and the base64 PEM ca, crt and key), with the control plane as
# its endpoint; every call names its node and endpoint anyway. The key
# reaches talosctl as a file only the current user can read, removed on
# exit, written by the printf builtin so it is no process's argument, and
# leaves the environment so no child process inherits it.
use_talosconfig() {
	: "${SRE_TALOS_CA:?}" "${SRE_TALOS_CRT:?}" "${SRE_TALOS_KEY:?}" "${SRE_CONTROL_PLANE:?}"
	# Base64 is all the provider hands over; anything else would be YAML
	# of its own inside the file.
	case "$SRE_TALOS_CA$SRE_TALOS_CRT$SRE_TALOS_KEY" in *[!A-Za-z0-9+/=]*)
		fail "the Talos client CA, certificate and key must be base64-encoded PEM, as the machine secrets' client configuration holds them" ;;
	esac
	case "$SRE_CONTROL_PLANE" in *[!A-Za-z0-9.:_-]*)
		fail "the control plane address $SRE_CONTROL_PLANE is not a host name or IP address" ;;
	esac
	umask 077
	TALOSCONFIG=$(mktemp "${TMPDIR:-/tmp}/sre-lab-talosconfig.XXXXXX") ||
		fail "could not create a private temporary file for the talosconfig"
	trap 'rm -f "$TALOSCONFIG"' EXIT
	trap 'exit 1' HUP INT TERM
	printf 'context: sre-lab\ncontexts:\n  sre-lab:\n    endpoints:\n      - "%s"\n    ca: %s\n    crt: %s\n    key: %s\n' \
		"$SRE_CONTROL_PLANE" "$SRE_TALOS_CA" "$SRE_TALOS_CRT" "$SRE_TALOS_KEY" >"$TALOSCONFIG"
	unset SRE_TALOS_CA SRE_TALOS_CRT SRE_TALOS_KEY
	export TALOSCONFIG
}

# Every call names its node both as endpoint and target, so talosctl talks to
# that node's apid directly instead of through whichever endpoint the
# talosconfig lists, which may be the node being rebooted. Prints the
# version without its "v", or nothing when the node could not be asked.
talos_version() {
	talosctl version --nodes "$1" --endpoints "$1" --short |
		awk '/^Server:/ { server = 1 } server && $1 == "Tag:" { sub(/^v/, "", $2); print $2; exit }'
}
