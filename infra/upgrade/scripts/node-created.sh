#!/bin/sh
# Runs once, when the step is created: with the cluster, or with a node added
# later, and either way the node boots the pinned version, so there is nothing
# to upgrade. The node may still be installing at this point, so nothing asks
# it anything.
set -eu
: "${SRE_NODE_NAME:?}" "${SRE_TALOS_VERSION:?}"
echo "node-upgrade: $SRE_NODE_NAME starts at the pinned Talos $SRE_TALOS_VERSION; a later change of sre-lab:talosVersion upgrades it in place" >&2
echo "$SRE_TALOS_VERSION"
