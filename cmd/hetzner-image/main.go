// Command hetzner-image makes the Hetzner Cloud snapshot a Talos version
// boots from: it runs hcloud-upload-image on the Image Factory's hcloud
// disk image and labels the snapshot so the hetzner backend finds it
// (os=talos, talos-version=<version>). It needs hcloud-upload-image on PATH
// and HCLOUD_TOKEN in the environment; run it once per Talos version.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
)

func main() {
	args, err := uploadArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cmd := exec.Command("hcloud-upload-image", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "hcloud-upload-image:", err)
		os.Exit(1)
	}
}

// uploadArgs turns this command's flags into hcloud-upload-image's.
func uploadArgs(argv []string) ([]string, error) {
	fs := flag.NewFlagSet("hetzner-image", flag.ContinueOnError)
	version := fs.String("version", config.DefaultTalosVersion, "Talos version to upload")
	location := fs.String("location", "fsn1", "Hetzner location of the temporary server that writes the image")
	if err := fs.Parse(argv); err != nil {
		return nil, err
	}
	if _, ok := config.HetznerNetworkZones[*location]; !ok {
		return nil, fmt.Errorf("-location %q: not a Hetzner Cloud location", *location)
	}
	if !strings.HasPrefix(*version, "v") {
		return nil, fmt.Errorf("-version %q: a Talos release such as %s", *version, config.DefaultTalosVersion)
	}
	return []string{
		"upload",
		"--image-url", infra.DiskImageURL("hcloud", *version, "raw.xz"),
		"--compression", "xz",
		"--architecture", "x86",
		"--location", *location,
		"--labels", infra.TalosSnapshotLabels(*version),
		"--description", "Talos " + *version + " for sre-lab",
	}, nil
}
