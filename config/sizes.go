package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Seed minimums for every node: what Talos needs for a control plane plus
// the observability agents each node runs (DESIGN.md: t3.medium, e2-medium,
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

var localSize = regexp.MustCompile(`^([0-9]+)cpu-([0-9]+)gb$`)

// ParseLocalSize reads a VirtualBox size such as "2cpu-4gb".
func ParseLocalSize(size string) (Shape, error) {
	m := localSize.FindStringSubmatch(size)
	if m == nil {
		return Shape{}, fmt.Errorf(`must look like "2cpu-4gb"`)
	}
	cpu, _ := strconv.Atoi(m[1])
	mem, _ := strconv.Atoi(m[2])
	return Shape{VCPU: cpu, MemGiB: float64(mem)}, nil
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

// gcpType is a GCP machine type of the families the lab runs on.
var gcpType = regexp.MustCompile(`^(e2|n2|n2d|n4|c3|c3d|c4)-(standard|highmem|highcpu)-([0-9]+)$`)

// gcpMemPerVCPU is GiB per vCPU of each GCP shape.
var gcpMemPerVCPU = map[string]float64{"standard": 4, "highmem": 8, "highcpu": 1}

// ParseGCPSize reads an amd64 GCP machine type: e2-medium, or
// <family>-<shape>-<vCPUs> such as e2-standard-2 or n2-highmem-4. Arm
// families (t2a, c4a) are refused: the Talos image is amd64.
func ParseGCPSize(size string) (Shape, error) {
	const allowed = "must be an amd64 GCP machine type such as e2-medium, e2-standard-2 or n2-standard-4"
	if size == "e2-medium" {
		return Shape{2, 4}, nil
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

// azureMemPerVCPU is GiB per vCPU of each family.
var azureMemPerVCPU = map[string]float64{"D": 4, "E": 8, "F": 2}

// ParseAzureSize reads an amd64 Azure VM size: the B-series, or D, E and F
// sizes of v4 and later. Arm sizes (p in the name) are refused.
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
	return Shape{VCPU: vcpu, MemGiB: float64(vcpu) * azureMemPerVCPU[m[1]]}, nil
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
