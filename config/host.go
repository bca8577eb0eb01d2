package config

// CheckHost refuses a local backend on a host it cannot run on, before any
// resource exists. goos is the host's runtime.GOOS: the command provider
// runs the backend's scripts on the machine running Pulumi.
//
// The local backends run their scripts through /bin/sh and need the node
// network routed to the host. VirtualBox 7 on macOS offers host-only
// networks only (VBoxManageHostonly.cpp builds `hostonlyif` only with
// VBOX_WITH_NETFLT, which macOS lacks), and Docker Desktop keeps container
// addresses inside its VM, so neither backend works there yet.
func CheckHost(cfg Config, goos string) error {
	if !cfg.Cloud.Local() || goos == "linux" {
		return nil
	}
	why := "the local lab runs on Linux hosts only"
	switch {
	case goos == "darwin" && cfg.Cloud == VirtualBox:
		why += "; VirtualBox 7 on macOS has host-only networks, not the host-only interfaces the lab's VMs use"
	case goos == "darwin" && cfg.Cloud == Docker:
		why += "; Docker Desktop on macOS does not route container addresses to the host"
	default:
		why += "; its scripts need /bin/sh and a host-only network on the host itself"
	}
	return invalid(KeyCloud, string(cfg.Cloud), "%s (this host: %s). Use a Linux machine, or a cloud environment (dev, staging, prod)", why, goos)
}
