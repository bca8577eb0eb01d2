package infra

import (
	"fmt"
	"slices"
)

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

// TalosArchitectures are the CPU architectures, by Go's GOARCH names, that
// every Talos release publishes a metal ISO for: sha256sum.txt lists
// metal-amd64.iso and metal-arm64.iso (the same step of
// .github/workflows/ci.yaml in siderolabs/talos).
var TalosArchitectures = []string{"amd64", "arm64"}

// CheckArch refuses an architecture Talos publishes no image for.
func CheckArch(arch string) error {
	if !slices.Contains(TalosArchitectures, arch) {
		return fmt.Errorf("no Talos image is published for %q: Talos releases have images for %v only", arch, TalosArchitectures)
	}
	return nil
}

// ISOAsset is the release asset local VMs of an architecture boot from:
// the vanilla metal ISO, the same schematic InstallerImage installs.
func ISOAsset(arch string) string {
	return "metal-" + arch + ".iso"
}

// ReleaseAssetURL is one asset of a Talos release.
func ReleaseAssetURL(talosVersion, asset string) string {
	return fmt.Sprintf("%s/%s/%s", TalosReleases, talosVersion, asset)
}

// ChecksumsURL is the sha256sum.txt of a Talos release.
func ChecksumsURL(talosVersion string) string {
	return ReleaseAssetURL(talosVersion, "sha256sum.txt")
}

// ISOURL is the bootable metal ISO of a Talos version and architecture, for
// local VMs.
func ISOURL(talosVersion, arch string) string {
	return ReleaseAssetURL(talosVersion, ISOAsset(arch))
}

// InstallerImage is the container image Talos installs and upgrades from.
// It names no architecture because it needs none: Image Factory builds the
// installer for amd64 and arm64 and serves both under one image index, and
// each node pulls its own (internal/frontend/http/registry.go and
// docs/api.md, "installer Image", in siderolabs/image-factory).
func InstallerImage(talosVersion string) string {
	return fmt.Sprintf("%s/%s:%s", InstallerFactory, VanillaSchematic, talosVersion)
}

// DiskImageURL is a Talos version's boot image for a platform (metal,
// hcloud, gcp...), in the form the Image Factory serves it (iso, raw.xz,
// raw.tar.gz...). Cloud machines of the lab are amd64.
func DiskImageURL(platform, talosVersion, suffix string) string {
	return fmt.Sprintf("%s/image/%s/%s/%s-amd64.%s", ImageFactory, VanillaSchematic, talosVersion, platform, suffix)
}

// TalosSnapshotLabels label a machine image made from a Talos version, so
// backends that cannot name images by version (Hetzner snapshots) find it
// by selector.
func TalosSnapshotLabels(talosVersion string) string {
	return "os=talos,talos-version=" + talosVersion
}
