package config

// CheckHost refuses a local backend on a host it cannot run on, before any
// resource exists. goos is the host's runtime.GOOS: the command provider
// runs the backend's scripts on the machine running Pulumi.
//
// VirtualBox runs on Linux and macOS. On macOS it has host-only networks in
// place of host-only interfaces (VBoxManageHostonly.cpp builds `hostonlyif
// create` only with VBOX_WITH_NETFLT and `hostonlynet` only with
// VBOX_WITH_VMNET), which the virtualbox backend uses there.
//
// Docker runs on Linux only. Docker Desktop keeps containers inside its own
// VM, so their addresses are not routable from the host: the Talos
// provider would have to reach every node through the first control
// plane's published port, which reaches no node still waiting for its
// config, and every endpoint the lab prints (the node addresses of the
// Kubernetes API, the node ports, the LoadBalancer pool) would point where
// the host cannot go. Talos's own docker provisioner avoids the first
// problem only by baking each node's config into its container at creation
// (pkg/provision/providers/docker/node.go in siderolabs/talos), which the
// lab's Talos layer, applying configs over the API, does not do.
func CheckHost(cfg Config, goos string) error {
	switch {
	case !cfg.Cloud.Local() || goos == "linux":
		return nil
	case cfg.Cloud == Docker:
		return invalid(KeyCloud, string(cfg.Cloud),
			"runs on Linux hosts only (this host: %s): Docker Desktop keeps containers in its own VM, so the node addresses the Talos API, "+
				"the Kubernetes API, the node ports and the LoadBalancer pool are reached at are not routable from the host. "+
				"Set %s:%s to %s: VirtualBox runs the same lab on Linux and macOS (7.1 or newer on Apple Silicon)",
			goos, Namespace, KeyCloud, VirtualBox)
	case goos == "darwin":
		return nil
	}
	return invalid(KeyCloud, string(cfg.Cloud),
		"runs on Linux and macOS hosts only (this host: %s): its scripts run through /bin/sh and VBoxManage on the host itself. "+
			"Use a Linux or macOS machine, or a cloud environment (dev, staging, prod)", goos)
}
