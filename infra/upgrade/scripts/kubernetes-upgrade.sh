
# kubernetes-upgrade: brings the cluster to SRE_KUBERNETES_VERSION with
# talosctl upgrade-k8s, which moves the API servers, controller managers,
# schedulers and kubelets one node at a time and then the bootstrap manifests.
me="kubernetes-upgrade"
: "${SRE_KUBERNETES_VERSION:?}" "${SRE_CONTROL_PLANE:?}"
target=${SRE_KUBERNETES_VERSION#v}

# No one place reports the cluster's Kubernetes version: a run that failed
# halfway leaves a mix that only upgrade-k8s can finish. So the step trusts
# the version its last successful run recorded (a failed run records
# nothing), and otherwise runs upgrade-k8s, which skips whatever is already
# at the target.
recorded=$(printf '%s' "${PULUMI_COMMAND_STDOUT:-}" | tr -d '\r\n')
if [ "${recorded#v}" = "$target" ]; then
	log "Kubernetes is at $target since the last successful run; nothing to do"
	echo "$target"
	exit 0
fi

need_talosctl
use_talosconfig

# upgrade-k8s prints a diff of every bootstrap manifest it changes, Secrets
# included, and Pulumi keeps command output in the stack's state: only
# talosctl's progress lines are passed on. A pipeline's status is its last
# command's, so talosctl's exit code travels through the filter as a marker.
only_progress() {
	awk '
		BEGIN { rc = 1 }
		/^sre-lab-exit=/ { rc = substr($0, 14) + 0; next }
		/^[A-Za-z]/ || /^ ?[<>] / { print; fflush(); next }
		/[^ \t]/ { hidden++ }
		END {
			if (hidden) printf "(%d lines of manifest diff not shown: they can hold Secret values)\n", hidden
			exit rc
		}'
}

log "upgrading Kubernetes ${recorded:+from $recorded }to $target through $SRE_CONTROL_PLANE"
# The generated machine configuration carries no docs or examples; the
# patches upgrade-k8s writes must not add them, or the next apply would
# churn every node.
{
	talosctl upgrade-k8s --nodes "$SRE_CONTROL_PLANE" --endpoints "$SRE_CONTROL_PLANE" --to "$target" \
		--with-docs=false --with-examples=false 2>&1 &&
		printf '\nsre-lab-exit=0\n' || printf '\nsre-lab-exit=%d\n' "$?"
} | only_progress >&2 ||
	fail "talosctl upgrade-k8s to $target failed (see above); run pulumi up again to resume: components already at $target are skipped"

echo "$target"
