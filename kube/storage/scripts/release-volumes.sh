
# release-volumes: the delete step of the command between the storage
# driver and the releases whose claims it provisions. A StatefulSet's
# claims outlive its release, and the cloud disks behind them live until
# the driver deletes them, so before the driver goes this deletes every
# PersistentVolumeClaim of the driver's class, in every namespace, and
# waits until the driver has deleted the volumes of those claims (no
# PersistentVolume of the class with the Delete reclaim policy is left).
# Volumes kept on purpose (Retain) are not waited for. Reads and deletes
# as the admin.
: "${SRE_API_CERT:?}" "${SRE_API_KEY:?}" "${SRE_STORAGE_CLASS:?}"
me="release-volumes"
api_open "it deletes the cluster's volume claims before the storage driver goes"

# items prints the list in $dir/body one object a line, each line starting
# with the object's "metadata" key, in one spelling whether the API server
# pretty-printed it or not: no space around a key's colon or after an
# opening bracket or comma. Quotes escaped inside strings are replaced
# first, so a field quoted in an annotation (kubectl's last-applied
# configuration) cannot pass for the object's own.
items() {
	{
		tr -d '\n' <"$dir/body"
		echo
	} | sed -e 's/\\"/_/g' -e 's/" *: */":/g' -e 's/\([[{,]\) */\1/g' -e 's/"metadata":/\
&/g'
}

# of_class prints the lines of items whose object is of the class.
of_class() {
	items | while IFS= read -r item; do
		case $item in
		'"metadata":{"name":"'*'"storageClassName":"'"$SRE_STORAGE_CLASS"'"'*) echo "$item" ;;
		esac
	done
}

# name_of and namespace_of read an item's metadata: the API server writes
# the name first, and the namespace is the first key of that name.
name_of() {
	name=${1#'"metadata":{"name":"'}
	echo "${name%%'"'*}"
}

namespace_of() {
	namespace=${1#*'"namespace":"'}
	echo "${namespace%%'"'*}"
}

# list PATH WHAT fetches a list into $dir/body; it prints why it could not.
list() {
	code=$(api_get "$1")
	case $code in
	200) ;;
	000) api_error ;;
	*) echo "HTTP $code listing $2" ;;
	esac
}

# pending deletes the claims of the class that are left, and says what the
# driver still has to do.
pending() {
	why=$(list /api/v1/persistentvolumeclaims PersistentVolumeClaims)
	[ -z "$why" ] || { echo "$why"; return; }
	claims=$(of_class | while IFS= read -r item; do echo "$(namespace_of "$item")/$(name_of "$item")"; done)
	if [ -n "$claims" ]; then
		for claim in $claims; do
			code=$(api_call DELETE "/api/v1/namespaces/${claim%%/*}/persistentvolumeclaims/${claim#*/}")
			case $code in
			200 | 202 | 404) ;;
			*) echo "HTTP $code deleting the claim $claim" && return ;;
			esac
		done
		echo "deleting the claims of class $SRE_STORAGE_CLASS (each goes once no pod uses it):" $claims
		return
	fi
	why=$(list /api/v1/persistentvolumes PersistentVolumes)
	[ -z "$why" ] || { echo "$why"; return; }
	volumes=$(of_class | while IFS= read -r item; do
		case $item in *'"persistentVolumeReclaimPolicy":"Delete"'*) name_of "$item" ;; esac
	done)
	[ -z "$volumes" ] || echo "volumes the driver has not deleted yet:" $volumes
}

wait_until pending "The volumes of class $SRE_STORAGE_CLASS were not deleted" \
	"A claim is deleted only once no pod uses it: see kubectl get pods -A and kubectl get pvc -A. If the cluster is gone, remove this step from the state (pulumi state delete) and sweep the cloud's volumes as docs/cloud-deployment.md says."
echo "$me: no volume of class $SRE_STORAGE_CLASS is left" >&2
echo released
