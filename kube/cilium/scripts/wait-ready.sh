#!/bin/sh
# wait-ready: returns once Cilium runs: its agent DaemonSet rolled out and
# available on every node, its operator Deployment available, and the
# operator's CRDs served (the LB-IPAM pool is one of them). The release is
# installed without Helm's wait, which would also hold out for the shared
# ingress Service's load-balancer address, an address only the pool created
# after this can give (helm pkg/kube/ready.go, serviceReady). Prints
# "ready" on stdout, the step's recorded output.
set -eu
: "${SRE_API_URL:?}" "${SRE_API_CA:?}" "${SRE_API_CERT:?}" "${SRE_API_KEY:?}" "${SRE_NAMESPACE:?}" \
	"${SRE_TIMEOUT_SECONDS:?}" "${SRE_INTERVAL_SECONDS:?}"
me="cilium-ready"

fail() {
	echo "$me: $*" >&2
	exit 1
}

command -v curl >/dev/null 2>&1 ||
	fail "curl was not found: install curl; it checks that Cilium runs before anything else is installed"

# The client key is the cluster admin's: it reaches curl as a file only
# this user can read, removed on exit, and leaves the environment.
umask 077
dir=$(mktemp -d "${TMPDIR:-/tmp}/sre-lab-cilium-ready.XXXXXX") ||
	fail "could not create a private temporary directory"
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' HUP INT TERM
printf '%s\n' "$SRE_API_CA" >"$dir/ca.pem"
printf '%s\n' "$SRE_API_CERT" >"$dir/cert.pem"
printf '%s\n' "$SRE_API_KEY" >"$dir/key.pem"
unset SRE_API_KEY

# get PATH fetches an object into $dir/body and prints the HTTP status.
get() {
	: >"$dir/body"
	status=$(curl --silent --show-error --output "$dir/body" --write-out '%{http_code}' \
		--cacert "$dir/ca.pem" --cert "$dir/cert.pem" --key "$dir/key.pem" \
		--connect-timeout 5 --max-time 15 "$SRE_API_URL$1" 2>"$dir/err") || status=000
	echo "$status"
}

# num FIELD prints the first value of a numeric JSON field in $dir/body,
# 0 when absent: the API server leaves zero counts out of a status. Objects
# are serialised metadata, spec, status, so the first "replicas" is the
# spec's and the first "generation" the metadata's.
num() {
	tr -d ' \n\t' <"$dir/body" | grep -o "\"$1\":[0-9][0-9]*" | head -n 1 | sed 's/.*://' | grep . || echo 0
}

# daemonset_pending and deployment_pending say why the workload in
# $dir/body is not available yet, or nothing when it is.
daemonset_pending() {
	desired=$(num desiredNumberScheduled)
	if [ "$(num observedGeneration)" -lt "$(num generation)" ]; then
		echo "the cilium DaemonSet's latest spec is not observed yet"
	elif [ "$desired" -eq 0 ]; then
		echo "the cilium DaemonSet schedules no pod yet"
	elif [ "$(num updatedNumberScheduled)" -lt "$desired" ] || [ "$(num numberAvailable)" -lt "$desired" ]; then
		echo "cilium agents: $(num numberAvailable) of $desired available, $(num updatedNumberScheduled) updated"
	fi
}

deployment_pending() {
	want=$(num replicas)
	if [ "$(num observedGeneration)" -lt "$(num generation)" ]; then
		echo "the cilium-operator Deployment's latest spec is not observed yet"
	elif [ "$(num updatedReplicas)" -lt "$want" ] || [ "$(num availableReplicas)" -lt "$want" ]; then
		echo "cilium-operator: $(num availableReplicas) of $want available"
	fi
}

pending() {
	code=$(get "/apis/apps/v1/namespaces/$SRE_NAMESPACE/daemonsets/cilium")
	case $code in
	200) why=$(daemonset_pending) && [ -z "$why" ] || { echo "$why"; return; } ;;
	000) tr '\n' ' ' <"$dir/err"; return ;;
	*) echo "HTTP $code reading the cilium DaemonSet"; return ;;
	esac
	code=$(get "/apis/apps/v1/namespaces/$SRE_NAMESPACE/deployments/cilium-operator")
	case $code in
	200) why=$(deployment_pending) && [ -z "$why" ] || { echo "$why"; return; } ;;
	000) tr '\n' ' ' <"$dir/err"; return ;;
	*) echo "HTTP $code reading the cilium-operator Deployment"; return ;;
	esac
	# The operator registers Cilium's CRDs when it starts; until the API
	# serves them, the pool cannot be created.
	code=$(get "/apis/cilium.io/v2/ciliumloadbalancerippools")
	[ "$code" = 200 ] || echo "HTTP $code listing CiliumLoadBalancerIPPools: the operator has not registered Cilium's CRDs yet"
}

deadline=$(($(date +%s) + SRE_TIMEOUT_SECONDS))
while :; do
	why=$(pending)
	if [ -z "$why" ]; then
		echo "$me: Cilium runs on every node" >&2
		echo ready
		exit 0
	fi
	echo "$me: waiting: $why" >&2
	[ "$(date +%s)" -lt "$deadline" ] ||
		fail "Cilium did not become ready within ${SRE_TIMEOUT_SECONDS}s (last: $why)." \
			"Look at the agents with: kubectl -n $SRE_NAMESPACE get pods -l k8s-app=cilium -o wide; kubectl -n $SRE_NAMESPACE logs ds/cilium"
	sleep "$SRE_INTERVAL_SECONDS"
done
