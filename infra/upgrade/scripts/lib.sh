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

# The talosconfig holds a client key: it reaches talosctl as a file only the
# current user can read, removed on exit, and leaves the environment so no
# child process inherits it.
use_talosconfig() {
	: "${SRE_TALOSCONFIG:?}"
	umask 077
	TALOSCONFIG=$(mktemp "${TMPDIR:-/tmp}/sre-lab-talosconfig.XXXXXX") ||
		fail "could not create a private temporary file for the talosconfig"
	trap 'rm -f "$TALOSCONFIG"' EXIT
	trap 'exit 1' HUP INT TERM
	printf '%s\n' "$SRE_TALOSCONFIG" >"$TALOSCONFIG"
	unset SRE_TALOSCONFIG
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
