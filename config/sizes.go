package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Seed minimums for every node: what Talos needs for a control plane plus
// the observability agents each node runs (the dev sizes: t3.medium, e2-medium,
// Standard_B2s, 2 vCPU / 4 GB locally).
const (
	MinVCPU   = 2
	MinMemGiB = 4
)

// Shape is the capacity of one machine size.
type Shape struct {
	VCPU   int
	MemGiB float64
}

// Upper bounds of a local node: more than a laptop or workstation can give
// one VM or container, so a larger figure is a typo. They also keep the
// memory in MB that VBoxManage takes (GB x 1024) far inside an int.
const (
	MaxLocalVCPU  = 64
	MaxLocalMemGB = 512
)

var localSize = regexp.MustCompile(`^([0-9]+)cpu-([0-9]+)gb$`)

// ParseLocalSize reads a VirtualBox or Docker size such as "2cpu-4gb", of at
// most MaxLocalVCPU and MaxLocalMemGB.
func ParseLocalSize(size string) (Shape, error) {
	m := localSize.FindStringSubmatch(size)
	if m == nil {
		return Shape{}, fmt.Errorf(`must look like "2cpu-4gb"`)
	}
	// With a bit size, digits that overflow are an error, not a clamped
	// value that would pass as an enormous machine.
	cpu, errCPU := strconv.ParseUint(m[1], 10, 32)
	mem, errMem := strconv.ParseUint(m[2], 10, 32)
	if errCPU != nil || errMem != nil || cpu > MaxLocalVCPU || mem > MaxLocalMemGB {
		return Shape{}, fmt.Errorf("asks for %s vCPU and %s GB; a local node has at most %d vCPU and %d GB, more than a laptop or workstation can give one node", m[1], m[2], MaxLocalVCPU, MaxLocalMemGB)
	}
	return Shape{VCPU: int(cpu), MemGiB: float64(mem)}, nil
}

// awsType splits an EC2 instance type: class letter, generation, attribute
// letters (a = AMD, i = Intel, d = local NVMe, n = network, g = Graviton...)
// and size.
var awsType = regexp.MustCompile(`^([tmcr])([0-9])([a-z-]*)\.([0-9]*x?large|nano|micro|small|medium)$`)

// burstable is the t3/t3a size table; other classes scale by vCPU.
var burstable = map[string]Shape{
	"nano": {2, 0.5}, "micro": {2, 1}, "small": {2, 2}, "medium": {2, 4},
	"large": {2, 8}, "xlarge": {4, 16}, "2xlarge": {8, 32},
}

// memPerVCPU is GiB of memory per vCPU for the fixed-performance classes.
var memPerVCPU = map[string]float64{"m": 4, "c": 2, "r": 8}

// ParseAWSSize reads an amd64 EC2 instance type of the general-purpose (t3+,
// m5+), compute (c5+) or memory (r5+) classes. Graviton types are refused:
// nodes boot the amd64 Talos AMI.
func ParseAWSSize(size string) (Shape, error) {
	const allowed = "must be an amd64 EC2 instance type of class t (generation 3+) or m, c, r (generation 5+), such as t3.medium or m6i.large"
	m := awsType.FindStringSubmatch(size)
	if m == nil {
		return Shape{}, fmt.Errorf("%s", allowed)
	}
	class, attrs, name := m[1], m[3], m[4]
	gen, _ := strconv.Atoi(m[2])
	if strings.Contains(attrs, "g") {
		return Shape{}, fmt.Errorf("is a Graviton (arm64) type; %s", allowed)
	}
	if class == "t" {
		if gen < 3 {
			return Shape{}, fmt.Errorf("%s", allowed)
		}
		shape, ok := burstable[name]
		if !ok {
			return Shape{}, fmt.Errorf("%s", allowed)
		}
		return shape, nil
	}
	if gen < 5 {
		return Shape{}, fmt.Errorf("%s", allowed)
	}
	vcpu := 0
	switch name {
	case "large":
		vcpu = 2
	case "xlarge":
		vcpu = 4
	default:
		n, err := strconv.Atoi(strings.TrimSuffix(name, "xlarge"))
		if err != nil || !strings.HasSuffix(name, "xlarge") {
			return Shape{}, fmt.Errorf("%s", allowed)
		}
		vcpu = 4 * n
	}
	return Shape{VCPU: vcpu, MemGiB: float64(vcpu) * memPerVCPU[class]}, nil
}

// hetznerTypes are the amd64 Hetzner Cloud server types: the shared
// cost-optimised cx (the 2025 generation cx23.. and the earlier cx22..),
// shared AMD cpx, and dedicated ccx.
var hetznerTypes = map[string]Shape{
	"cx22": {2, 4}, "cx32": {4, 8}, "cx42": {8, 16}, "cx52": {16, 32},
	"cx23": {2, 4}, "cx33": {4, 8}, "cx43": {8, 16}, "cx53": {16, 32},
	"cpx21": {3, 4}, "cpx31": {4, 8}, "cpx41": {8, 16}, "cpx51": {16, 32},
	"cpx22": {3, 4}, "cpx32": {4, 8}, "cpx42": {8, 16},
	"ccx13": {2, 8}, "ccx23": {4, 16}, "ccx33": {8, 32}, "ccx43": {16, 64}, "ccx53": {32, 128}, "ccx63": {48, 192},
}

// ParseHetznerSize reads an amd64 Hetzner Cloud server type. Arm types
// (cax) are refused: the Talos snapshot is amd64.
func ParseHetznerSize(size string) (Shape, error) {
	if shape, ok := hetznerTypes[size]; ok {
		return shape, nil
	}
	if strings.HasPrefix(size, "cax") {
		return Shape{}, fmt.Errorf("is an Arm (arm64) type; the Talos snapshot is amd64: use a cx, cpx or ccx type such as cx23")
	}
	names := make([]string, 0, len(hetznerTypes))
	for name := range hetznerTypes {
		names = append(names, name)
	}
	sort.Strings(names)
	return Shape{}, fmt.Errorf("must be an amd64 Hetzner Cloud server type: %s", strings.Join(names, ", "))
}

// GCP machine families are judged against the image infra/gcp registers and
// boots: a pd-balanced boot disk, and VIRTIO_SCSI_MULTIQUEUE as the only
// guest OS feature, so instances get virtio-net (infra/gcp GuestOSFeatures).
// Google's third-generation series and later offer gVNIC as their only
// network interface, and Compute Engine refuses to boot them from an image
// that does not declare GVNIC (siderolabs/talos#12004); the fourth-generation
// N4, N4D, C4 and C4D take no Persistent Disk either, only Hyperdisk. A
// family is accepted when it takes both virtio-net and pd-balanced. See
// https://cloud.google.com/compute/docs/machine-resource (machine series
// comparison) and https://cloud.google.com/compute/docs/networking/using-gvnic.
//
// gcpType is a GCP machine type of the families that pass that rule.
var gcpType = regexp.MustCompile(`^(e2|n2|n2d)-(standard|highmem|highcpu)-([0-9]+)$`)

// gcpRefused says why each family the lab's image cannot boot on is refused,
// so the user learns the reason rather than only the allowed list.
var gcpRefused = map[string]string{
	"c3":  "C3 machines need gVNIC",
	"c3d": "C3D machines need gVNIC",
	"h3":  "H3 machines need gVNIC",
	"m3":  "M3 machines need gVNIC",
	"z3":  "Z3 machines need gVNIC",
	"n4":  "N4 machines boot only from Hyperdisk and need gVNIC",
	"n4d": "N4D machines boot only from Hyperdisk and need gVNIC",
	"c4":  "C4 machines boot only from Hyperdisk and need gVNIC",
	"c4d": "C4D machines boot only from Hyperdisk and need gVNIC",
}

// gcpArm are the Arm families: the Talos image is amd64.
var gcpArm = map[string]bool{"t2a": true, "c4a": true, "n4a": true}

// gcpMemPerVCPU is GiB per vCPU of each GCP shape.
var gcpMemPerVCPU = map[string]float64{"standard": 4, "highmem": 8, "highcpu": 1}

// ParseGCPSize reads an amd64 GCP machine type that boots the lab's image:
// e2-medium, or <family>-<shape>-<vCPUs> of the e2, n2 and n2d families,
// such as e2-standard-2 or n2-highmem-4.
func ParseGCPSize(size string) (Shape, error) {
	const allowed = "must be an amd64 GCP machine type of the e2, n2 or n2d family, such as e2-medium, e2-standard-2 or n2-standard-4"
	if size == "e2-medium" {
		return Shape{2, 4}, nil
	}
	family, _, _ := strings.Cut(size, "-")
	if reason, ok := gcpRefused[family]; ok {
		return Shape{}, fmt.Errorf("%s, while the lab's Talos image boots from a pd-balanced disk with virtio-net: use an e2, n2 or n2d machine type such as e2-standard-2", reason)
	}
	if gcpArm[family] {
		return Shape{}, fmt.Errorf("is an Arm (arm64) machine type and the Talos image is amd64; %s", allowed)
	}
	m := gcpType.FindStringSubmatch(size)
	if m == nil {
		return Shape{}, fmt.Errorf("%s", allowed)
	}
	vcpu, err := strconv.Atoi(m[3])
	if err != nil || vcpu < 1 {
		return Shape{}, fmt.Errorf("%s", allowed)
	}
	return Shape{VCPU: vcpu, MemGiB: float64(vcpu) * gcpMemPerVCPU[m[2]]}, nil
}

// azureB are the burstable B-series sizes the lab fits on.
var azureB = map[string]Shape{
	"Standard_B2s": {2, 4}, "Standard_B2ms": {2, 8}, "Standard_B4ms": {4, 16},
	"Standard_B8ms": {8, 32}, "Standard_B12ms": {12, 48}, "Standard_B16ms": {16, 64},
}

// azureVersioned is a D (general purpose), E (memory) or F (compute) size
// of a v4 or later generation.
var azureVersioned = regexp.MustCompile(`^Standard_(D|E|F)([0-9]+)(a|d|s|ds|as|ads|ls|lds)?_v([0-9]+)$`)

// azureMemPerVCPU is GiB per vCPU of each family; the l (low memory) sizes,
// such as Standard_D2ls_v5, have 2.
var azureMemPerVCPU = map[string]float64{"D": 4, "E": 8, "F": 2}

// azureLastGen1 is the newest D, E and F version that still runs Generation
// 1 VMs. The lab registers its Talos image as Hyper-V Generation V1
// (infra/azure HyperVGeneration), and from v6 on these sizes run Generation
// 2 VMs only, some (Dasv6) with an NVMe disk controller only: "Generation 1
// VMs: Not Supported" in articles/virtual-machines/sizes/general-purpose/
// dsv6-series.md and dasv6-series.md of MicrosoftDocs/azure-compute-docs.
// Booting them takes a V2 image registration in infra/azure, not a config
// change, so config refuses them.
const azureLastGen1 = 5

// ParseAzureSize reads an amd64 Azure VM size that boots a Generation 1
// image: the B-series, or D, E and F sizes of v4 and v5. Arm sizes (p in the
// name) are refused.
func ParseAzureSize(size string) (Shape, error) {
	const allowed = "must be an amd64 Azure VM size such as Standard_B2s, Standard_B4ms or Standard_D4s_v5"
	if shape, ok := azureB[size]; ok {
		return shape, nil
	}
	m := azureVersioned.FindStringSubmatch(size)
	if m == nil {
		return Shape{}, fmt.Errorf("%s", allowed)
	}
	vcpu, _ := strconv.Atoi(m[2])
	gen, _ := strconv.Atoi(m[4])
	if vcpu < 1 || gen < 4 {
		return Shape{}, fmt.Errorf("%s", allowed)
	}
	if gen > azureLastGen1 {
		return Shape{}, fmt.Errorf("is a v%d size, which runs Generation 2 VMs only, while the lab registers its Talos image as Hyper-V Generation 1: use a B-series size or a D, E or F size of v4 or v5, such as Standard_D4s_v5", gen)
	}
	memPerVCPU := azureMemPerVCPU[m[1]]
	if strings.Contains(m[3], "l") {
		memPerVCPU = 2
	}
	return Shape{VCPU: vcpu, MemGiB: float64(vcpu) * memPerVCPU}, nil
}

// ParseSize reads a size for the given backend.
func ParseSize(cloud Cloud, size string) (Shape, error) {
	switch cloud {
	case VirtualBox, Docker:
		return ParseLocalSize(size)
	case AWS:
		return ParseAWSSize(size)
	case Hetzner:
		return ParseHetznerSize(size)
	case GCP:
		return ParseGCPSize(size)
	case Azure:
		return ParseAzureSize(size)
	}
	return Shape{}, fmt.Errorf("no size table for backend %q", cloud)
}
