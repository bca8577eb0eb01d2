#!/bin/sh
# Shared by the scripts that wait on the Kubernetes API; each is appended
# to it and names itself in $me. Configured through the environment:
# SRE_API_URL, SRE_API_CA (PEM), SRE_API_CERT and SRE_API_KEY when objects
# are read as the admin, and the bound and pace of the wait. Progress goes
# to stderr: stdout is the step's recorded output.
set -eu
: "${SRE_API_URL:?}" "${SRE_API_CA:?}" "${SRE_API_TIMEOUT_SECONDS:?}" "${SRE_API_INTERVAL_SECONDS:?}"

fail() {
	echo "$me: $*" >&2
	exit 1
}

# api_open prepares the private directory curl reads the CA, and the
# admin's certificate and key when given, from; it is removed on exit and
# the key leaves the environment. $1 says what curl is needed for.
api_open() {
	command -v curl >/dev/null 2>&1 || fail "curl was not found: install curl; $1"
	umask 077
	dir=$(mktemp -d "${TMPDIR:-/tmp}/sre-lab-$me.XXXXXX") ||
		fail "could not create a private temporary directory"
	trap 'rm -rf "$dir"' EXIT
	trap 'exit 1' HUP INT TERM
	printf '%s\n' "$SRE_API_CA" >"$dir/ca.pem"
	auth=
	if [ -n "${SRE_API_KEY:-}" ]; then
		printf '%s\n' "${SRE_API_CERT:?}" >"$dir/cert.pem"
		printf '%s\n' "$SRE_API_KEY" >"$dir/key.pem"
		unset SRE_API_KEY
		auth=yes
	fi
}

# api_get PATH fetches PATH into $dir/body and prints the HTTP status, 000
# when nothing answered ($dir/err then says why). The server must prove it
# holds this cluster's certificate: an address reused from an earlier
# cluster would otherwise pass for this one.
api_get() {
	api_call GET "$1"
}

# api_call METHOD PATH is api_get with another method (DELETE).
api_call() {
	path=$2
	: >"$dir/body"
	set -- --silent --show-error --request "$1" --output "$dir/body" --write-out '%{http_code}' \
		--cacert "$dir/ca.pem" --connect-timeout 5 --max-time 15 "$SRE_API_URL$path"
	if [ -n "$auth" ]; then
		set -- --cert "$dir/cert.pem" --key "$dir/key.pem" "$@"
	fi
	status=$(curl "$@" 2>"$dir/err") || status=000
	echo "$status"
}

# api_error is curl's last error on one line.
api_error() {
	tr '\n' ' ' <"$dir/err"
}

# wait_until CHECK WHAT HINT runs CHECK until it prints nothing; what it
# prints is why it is not done yet. Past the timeout it fails, saying WHAT
# did not happen, the last reason and HINT.
wait_until() {
	deadline=$(($(date +%s) + SRE_API_TIMEOUT_SECONDS))
	while :; do
		why=$($1)
		[ -n "$why" ] || return 0
		echo "$me: waiting: $why" >&2
		[ "$(date +%s)" -lt "$deadline" ] ||
			fail "$2 within ${SRE_API_TIMEOUT_SECONDS}s (last: $why). $3"
		sleep "$SRE_API_INTERVAL_SECONDS"
	done
}
