#!/bin/sh
# Runs once, when the step is created with the cluster, which Talos
# bootstraps at the pinned version: there is nothing to upgrade. The version
# printed is what the update script compares the next target with.
set -eu
: "${SRE_KUBERNETES_VERSION:?}"
echo "kubernetes-upgrade: the cluster starts at the pinned Kubernetes ${SRE_KUBERNETES_VERSION#v}; a later change of sre-lab:kubernetesVersion upgrades it in place" >&2
echo "${SRE_KUBERNETES_VERSION#v}"
