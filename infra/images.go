package infra

import "fmt"

// Talos Image Factory. The vanilla schematic (no extensions, no extra kernel
// arguments) is the one every official Talos artifact is built from; a later
// schematic with extensions only needs a new ID here.
const (
	ImageFactory     = "https://factory.talos.dev"
	InstallerFactory = "factory.talos.dev/installer"
	VanillaSchematic = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
)

// ISOURL is the bootable metal ISO of a Talos version, for local VMs.
func ISOURL(talosVersion string) string {
	return fmt.Sprintf("%s/image/%s/%s/metal-amd64.iso", ImageFactory, VanillaSchematic, talosVersion)
}

// InstallerImage is the container image Talos installs and upgrades from.
func InstallerImage(talosVersion string) string {
	return fmt.Sprintf("%s/%s:%s", InstallerFactory, VanillaSchematic, talosVersion)
}
