
# node-upgrade: brings one node to SRE_TALOS_VERSION. Runs when the step's
# inputs change, which is mostly a new version; when the node already runs it
# nothing happens, so any other change and any retry are harmless.
me="node-upgrade"
: "${SRE_NODE_NAME:?}" "${SRE_NODE_ADDRESS:?}" "${SRE_TALOS_VERSION:?}" "${SRE_INSTALLER_IMAGE:?}" \
	"${SRE_CONTROL_PLANE:?}" "${SRE_HEALTH_TIMEOUT:?}"
node=$SRE_NODE_NAME
address=$SRE_NODE_ADDRESS
target=${SRE_TALOS_VERSION#v}

need_talosctl
use_talosconfig

# The first control plane's step, when etcd backups are on, keeps a copy of
# etcd before any member goes down: SRE_ETCD_SNAPSHOT_DIR is relative to the
# cache directory of whoever runs Pulumi, kept owner-only. talosctl writes
# <path>.part (mode 0600) and renames it to <path> only once the whole
# snapshot arrived (cmd/talosctl/cmd/talos/etcd.go, etcdSnapshotCmd), and it
# asks exactly one node, as health does.
snapshot_etcd() {
	case "${XDG_CACHE_HOME:-}" in
	/*) cache=$XDG_CACHE_HOME ;;
	*)
		case "${HOME:-}" in /*) ;; *) fail "no cache directory for the etcd snapshot: set HOME or XDG_CACHE_HOME; $node was left at v$running" ;; esac
		cache=$HOME/.cache ;;
	esac
	dir=$cache/$SRE_ETCD_SNAPSHOT_DIR
	{ mkdir -p "$dir" && chmod 700 "$dir"; } ||
		fail "could not create $dir for the etcd snapshot; $node was left at v$running"
	file=$dir/etcd-$(date -u +%Y%m%dT%H%M%SZ).snapshot
	log "taking an etcd snapshot from $node into $file before upgrading it"
	{ talosctl etcd snapshot --nodes "$address" --endpoints "$address" "$file" >&2 && [ -s "$file" ]; } ||
		fail "the etcd snapshot from $node failed (see above), so $node and the nodes after it were left at v$running; fix it and run pulumi up again"
}

# talosctl health runs its checks on one control plane and finds the other
# nodes through discovery; listing them here would need their Kubernetes
# InternalIPs, which are not the addresses this program reaches them on.
healthy() {
	talosctl health --nodes "$SRE_CONTROL_PLANE" --endpoints "$SRE_CONTROL_PLANE" \
		--wait-timeout "$SRE_HEALTH_TIMEOUT" >&2
}

running=$(talos_version "$address")
[ -n "$running" ] || fail "could not read the Talos version of $node at $address (see above)"
if [ "$running" = "$target" ]; then
	log "$node already runs Talos v$target; nothing to do"
	echo "v$target"
	exit 0
fi

# The previous node's step waited for health, but a retry after a failed run
# may start here: never take a node down from an unhealthy cluster.
log "$node runs Talos v$running; checking cluster health before upgrading it to v$target"
healthy || fail "the cluster is not healthy, so $node was left at v$running; fix the cluster and run pulumi up again"

if [ -n "${SRE_ETCD_SNAPSHOT_DIR:-}" ]; then
	snapshot_etcd
fi

log "upgrading $node ($address) to $SRE_INSTALLER_IMAGE"
talosctl upgrade --nodes "$address" --endpoints "$address" --image "$SRE_INSTALLER_IMAGE" --wait >&2 ||
	fail "talosctl upgrade of $node ($address) to $SRE_INSTALLER_IMAGE failed (see above); run pulumi up again to retry"

# Talos boots the previous version when the new one fails to come up, and
# the upgrade still reports success: only the running version tells.
running=$(talos_version "$address")
[ "$running" = "$target" ] ||
	fail "$node came back running Talos v${running:-unknown}, not v$target: Talos falls back to the previous version when the new one fails to boot (see talosctl dmesg --nodes $address)"

log "$node runs Talos v$target; waiting up to $SRE_HEALTH_TIMEOUT for the cluster to be healthy before the next node"
healthy || fail "the cluster did not become healthy within $SRE_HEALTH_TIMEOUT after upgrading $node; the remaining nodes were not touched"
echo "v$target"
