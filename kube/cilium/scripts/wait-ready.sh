
# cilium-ready: returns once Cilium runs: its agent DaemonSet rolled out and
# available on every node, its operator Deployment available, and the
# operator's CRDs served (the LB-IPAM pool is one of them). The release is
# installed without Helm's wait, which would also hold out for the shared
# ingress Service's load-balancer address, an address only the pool created
# after this can give (helm pkg/kube/ready.go, serviceReady). Reads the API
# as the admin; prints "ready" on stdout, the step's recorded output.
: "${SRE_API_CERT:?}" "${SRE_API_KEY:?}" "${SRE_NAMESPACE:?}"
me="cilium-ready"
api_open "it checks that Cilium runs before anything else is installed"

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
	code=$(api_get "/apis/apps/v1/namespaces/$SRE_NAMESPACE/daemonsets/cilium")
	case $code in
	200) why=$(daemonset_pending) && [ -z "$why" ] || { echo "$why"; return; } ;;
	000) api_error; return ;;
	*) echo "HTTP $code reading the cilium DaemonSet"; return ;;
	esac
	code=$(api_get "/apis/apps/v1/namespaces/$SRE_NAMESPACE/deployments/cilium-operator")
	case $code in
	200) why=$(deployment_pending) && [ -z "$why" ] || { echo "$why"; return; } ;;
	000) api_error; return ;;
	*) echo "HTTP $code reading the cilium-operator Deployment"; return ;;
	esac
	# The operator registers Cilium's CRDs when it starts; until the API
	# serves them, the pool cannot be created.
	code=$(api_get "/apis/cilium.io/v2/ciliumloadbalancerippools")
	[ "$code" = 200 ] || echo "HTTP $code listing CiliumLoadBalancerIPPools: the operator has not registered Cilium's CRDs yet"
}

wait_until pending "Cilium did not become ready" \
	"Look at the agents with: kubectl -n $SRE_NAMESPACE get pods -l k8s-app=cilium -o wide; kubectl -n $SRE_NAMESPACE logs ds/cilium"
echo "$me: Cilium runs on every node" >&2
echo ready
