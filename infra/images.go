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

// TalosReleases is where Sidero Labs publishes each Talos release's assets
// with a sha256sum.txt that lists the ISO and talosctl among them (the
// "sha256sum ... > sha256sum.txt" step of .github/workflows/ci.yaml in
// siderolabs/talos). Image Factory publishes no checksums, so what can come
// from a release does.
const TalosReleases = "https://github.com/siderolabs/talos/releases/download"

// ISOAsset is the release asset local VMs boot from: the vanilla metal ISO,
// the same schematic InstallerImage installs.
const ISOAsset = "metal-amd64.iso"

// ReleaseAssetURL is one asset of a Talos release.
func ReleaseAssetURL(talosVersion, asset string) string {
	return fmt.Sprintf("%s/%s/%s", TalosReleases, talosVersion, asset)
}

// ChecksumsURL is the sha256sum.txt of a Talos release.
func ChecksumsURL(talosVersion string) string {
	return ReleaseAssetURL(talosVersion, "sha256sum.txt")
}

// ISOURL is the bootable metal ISO of a Talos version, for local VMs.
func ISOURL(talosVersion string) string {
	return ReleaseAssetURL(talosVersion, ISOAsset)
}

// InstallerImage is the container image Talos installs and upgrades from.
func InstallerImage(talosVersion string) string {
	return fmt.Sprintf("%s/%s:%s", InstallerFactory, VanillaSchematic, talosVersion)
}

// DiskImageURL is a Talos version's boot image for a platform (metal,
// hcloud, gcp...), in the form the Image Factory serves it (iso, raw.xz,
// raw.tar.gz...).
func DiskImageURL(platform, talosVersion, suffix string) string {
	return fmt.Sprintf("%s/image/%s/%s/%s-amd64.%s", ImageFactory, VanillaSchematic, talosVersion, platform, suffix)
}

// TalosSnapshotLabels label a machine image made from a Talos version, so
// backends that cannot name images by version (Hetzner snapshots) find it
// by selector.
func TalosSnapshotLabels(talosVersion string) string {
	return "os=talos,talos-version=" + talosVersion
}
