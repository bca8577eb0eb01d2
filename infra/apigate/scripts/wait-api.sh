#!/bin/sh
# wait-api: returns once the Kubernetes API server answers at SRE_API_URL,
# the address every client of the cluster uses (through the cloud load
# balancer where there is one, since those forward only to targets their
# health checks pass). Talos hands out the kubeconfig as soon as its machine
# config exists, minutes before etcd and the API server run; a Kubernetes
# provider configured in that window fails every resource of the update.
# Prints the URL on stdout, which Pulumi records as the gate's output.
set -eu
: "${SRE_API_URL:?}" "${SRE_API_CA:?}" "${SRE_API_TIMEOUT_SECONDS:?}" "${SRE_API_INTERVAL_SECONDS:?}"
me="wait-api"

fail() {
	echo "$me: $*" >&2
	exit 1
}

command -v curl >/dev/null 2>&1 ||
	fail "curl was not found: install curl; it checks that the Kubernetes API answers before anything is installed in the cluster"

# The cluster's CA is public, but curl reads it from a file; the directory
# also holds curl's last error.
dir=$(mktemp -d "${TMPDIR:-/tmp}/sre-lab-wait-api.XXXXXX") ||
	fail "could not create a temporary directory"
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' HUP INT TERM
printf '%s\n' "$SRE_API_CA" >"$dir/ca.pem"

# The server must prove it holds this cluster's certificate: an address
# reused from an earlier cluster would otherwise pass for this one.
deadline=$(($(date +%s) + SRE_API_TIMEOUT_SECONDS))
while :; do
	code=$(curl --silent --show-error --output /dev/null --write-out '%{http_code}' \
		--cacert "$dir/ca.pem" --connect-timeout 5 --max-time 10 \
		"$SRE_API_URL/readyz" 2>"$dir/err") || code=000
	case $code in
	200)
		echo "$me: the Kubernetes API at $SRE_API_URL is ready" >&2
		echo "$SRE_API_URL"
		exit 0
		;;
	401 | 403)
		# Anonymous requests refused: the server is up and authenticating,
		# which is all a client needs to start.
		echo "$me: the Kubernetes API at $SRE_API_URL answers (HTTP $code to an anonymous /readyz)" >&2
		echo "$SRE_API_URL"
		exit 0
		;;
	000) last=$(tr '\n' ' ' <"$dir/err") ;;
	*) last="HTTP $code from /readyz: the server runs but is not ready" ;;
	esac
	echo "$me: waiting for $SRE_API_URL: $last" >&2
	[ "$(date +%s)" -lt "$deadline" ] ||
		fail "the Kubernetes API at $SRE_API_URL did not answer within ${SRE_API_TIMEOUT_SECONDS}s (last: $last)." \
			"Check that this machine's address is in sre-lab:adminCidrs and that the control planes booted (their consoles show why not);" \
			"then run pulumi up again"
	sleep "$SRE_API_INTERVAL_SECONDS"
done
