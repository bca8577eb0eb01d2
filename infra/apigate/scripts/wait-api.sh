
# wait-api: returns once the Kubernetes API server answers at SRE_API_URL,
# the address every client of the cluster uses (through the cloud load
# balancer where there is one, since those forward only to targets their
# health checks pass). Talos hands out the kubeconfig as soon as its machine
# config exists, minutes before etcd and the API server run; a Kubernetes
# provider configured in that window fails every resource of the update.
# Prints the URL on stdout, which Pulumi records as the gate's output.
me="wait-api"
api_open "it checks that the Kubernetes API answers before anything is installed in the cluster"

# answered prints why the API server has not answered yet, or nothing.
answered() {
	code=$(api_get /readyz)
	case $code in
	200) echo "$me: the Kubernetes API at $SRE_API_URL is ready" >&2 ;;
	401 | 403)
		# Anonymous requests refused: the server is up and authenticating,
		# which is all a client needs to start.
		echo "$me: the Kubernetes API at $SRE_API_URL answers (HTTP $code to an anonymous /readyz)" >&2
		;;
	000) echo "$SRE_API_URL: $(api_error)" ;;
	*) echo "$SRE_API_URL: HTTP $code from /readyz: the server runs but is not ready" ;;
	esac
}

wait_until answered "the Kubernetes API at $SRE_API_URL did not answer" \
	"Check that this machine's address is in sre-lab:adminCidrs and that the control planes booted (their consoles show why not); then run pulumi up again"
echo "$SRE_API_URL"
