package config

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAWSSize(t *testing.T) {
	tests := []struct {
		size string
		want Shape
	}{
		// Burstable classes follow the t3 table.
		{"t3.nano", Shape{VCPU: 2, MemGiB: 0.5}},
		{"t3.micro", Shape{VCPU: 2, MemGiB: 1}},
		{"t3.small", Shape{VCPU: 2, MemGiB: 2}},
		{"t3.medium", Shape{VCPU: 2, MemGiB: 4}},
		{"t3a.medium", Shape{VCPU: 2, MemGiB: 4}},
		{"t3.large", Shape{VCPU: 2, MemGiB: 8}},
		{"t3.xlarge", Shape{VCPU: 4, MemGiB: 16}},
		{"t3.2xlarge", Shape{VCPU: 8, MemGiB: 32}},
		// General purpose: 4 GiB per vCPU.
		{"m5.large", Shape{VCPU: 2, MemGiB: 8}},
		{"m6i.large", Shape{VCPU: 2, MemGiB: 8}},
		{"m6i.xlarge", Shape{VCPU: 4, MemGiB: 16}},
		{"m7i.2xlarge", Shape{VCPU: 8, MemGiB: 32}},
		{"m7i-flex.large", Shape{VCPU: 2, MemGiB: 8}},
		{"m5.24xlarge", Shape{VCPU: 96, MemGiB: 384}},
		// Compute: 2 GiB per vCPU.
		{"c5.large", Shape{VCPU: 2, MemGiB: 4}},
		{"c6a.xlarge", Shape{VCPU: 4, MemGiB: 8}},
		{"c5.9xlarge", Shape{VCPU: 36, MemGiB: 72}},
		// Memory: 8 GiB per vCPU.
		{"r5.large", Shape{VCPU: 2, MemGiB: 16}},
		{"r6i.4xlarge", Shape{VCPU: 16, MemGiB: 128}},
	}
	for _, tt := range tests {
		t.Run(tt.size, func(t *testing.T) {
			got, err := ParseAWSSize(tt.size)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)

			viaCloud, err := ParseSize(AWS, tt.size)
			require.NoError(t, err)
			assert.Equal(t, tt.want, viaCloud, "ParseSize(aws) agrees with ParseAWSSize")
		})
	}
}

func TestParseAWSSizeRejects(t *testing.T) {
	tests := []struct {
		size string
		want string // phrase of the error
	}{
		{"t4g.medium", "Graviton"},
		{"m6g.large", "Graviton"},
		{"c7gn.xlarge", "Graviton"},
		{"r6gd.large", "Graviton"},
		{"t2.micro", "generation 3+"},
		{"t2.medium", "generation 3+"},
		{"m4.large", "generation 5+"},
		{"c4.xlarge", "generation 5+"},
		{"m6i.medium", "such as t3.medium or m6i.large"},
		{"m6i.small", "such as t3.medium or m6i.large"},
		{"t3.4xlarge", "such as t3.medium or m6i.large"},
		{"m6i.metal", "such as t3.medium or m6i.large"},
		{"m6i.2large", "such as t3.medium or m6i.large"},
		{"x1e.large", "amd64 EC2 instance type"},
		{"i3.large", "amd64 EC2 instance type"},
		{"M6i.large", "amd64 EC2 instance type"},
		{"m6i", "amd64 EC2 instance type"},
		{"m6i.large ", "amd64 EC2 instance type"},
		{"2cpu-4gb", "amd64 EC2 instance type"},
		{"", "amd64 EC2 instance type"},
	}
	for _, tt := range tests {
		t.Run(tt.size, func(t *testing.T) {
			got, err := ParseAWSSize(tt.size)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Zero(t, got)
		})
	}
}

func TestParseLocalSize(t *testing.T) {
	tests := []struct {
		size    string
		want    Shape
		wantErr bool
	}{
		{size: "2cpu-4gb", want: Shape{VCPU: 2, MemGiB: 4}},
		{size: "4cpu-16gb", want: Shape{VCPU: 4, MemGiB: 16}},
		{size: "1cpu-2gb", want: Shape{VCPU: 1, MemGiB: 2}},
		{size: "12cpu-64gb", want: Shape{VCPU: 12, MemGiB: 64}},
		{size: "2CPU-4GB", wantErr: true},
		{size: "2cpu-4GiB", wantErr: true},
		{size: "2cpu4gb", wantErr: true},
		{size: "2 cpu-4 gb", wantErr: true},
		{size: "cpu-4gb", wantErr: true},
		{size: "2cpu-4.5gb", wantErr: true},
		{size: "t3.medium", wantErr: true},
		{size: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.size, func(t *testing.T) {
			got, err := ParseLocalSize(tt.size)
			viaCloud, errViaCloud := ParseSize(VirtualBox, tt.size)
			if tt.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), `"2cpu-4gb"`)
				assert.Error(t, errViaCloud)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			require.NoError(t, errViaCloud)
			assert.Equal(t, tt.want, viaCloud)
		})
	}
}

// TestParseSizeUnbuiltBackends: a backend without a size table is an error,
// never a zero shape that would pass as "no minimum".
func TestParseSizeUnbuiltBackends(t *testing.T) {
	for _, cloud := range []Cloud{""} {
		t.Run(string(cloud), func(t *testing.T) {
			_, err := ParseSize(cloud, "2cpu-4gb")
			require.Error(t, err)
			assert.Contains(t, err.Error(), "no size table")
		})
	}
}

func TestParseHetznerSize(t *testing.T) {
	for size, want := range map[string]Shape{
		"cx23": {2, 4}, "cx22": {2, 4}, "cx33": {4, 8}, "cx43": {8, 16},
		"cpx22": {3, 4}, "ccx13": {2, 8}, "ccx63": {48, 192},
	} {
		got, err := ParseSize(Hetzner, size)
		require.NoError(t, err, size)
		assert.Equal(t, want, got, size)
	}
	for _, bad := range []string{"cax11", "CX23", "cx23 ", "t3.medium", "", "cx2"} {
		_, err := ParseHetznerSize(bad)
		assert.Error(t, err, bad)
	}
	// Docker sizes are the local ones.
	got, err := ParseSize(Docker, "2cpu-4gb")
	require.NoError(t, err)
	assert.Equal(t, Shape{2, 4}, got)
}

func TestParseGCPAndAzureSizes(t *testing.T) {
	for _, tc := range []struct {
		cloud Cloud
		size  string
		want  Shape
	}{
		{GCP, "e2-medium", Shape{2, 4}},
		{GCP, "e2-standard-4", Shape{4, 16}},
		{GCP, "n2-highmem-2", Shape{2, 16}},
		{GCP, "n2d-highcpu-8", Shape{8, 8}},
		{Azure, "Standard_B2s", Shape{2, 4}},
		{Azure, "Standard_B4ms", Shape{4, 16}},
		{Azure, "Standard_D4s_v5", Shape{4, 16}},
		{Azure, "Standard_E2ads_v5", Shape{2, 16}},
		{Azure, "Standard_D4as_v4", Shape{4, 16}},
		// l is the low-memory variant: 2 GiB per vCPU.
		{Azure, "Standard_D2ls_v5", Shape{2, 4}},
		{Azure, "Standard_D8lds_v5", Shape{8, 16}},
		{Azure, "Standard_F8s_v2", Shape{}},
	} {
		got, err := ParseSize(tc.cloud, tc.size)
		if tc.want == (Shape{}) {
			assert.Error(t, err, "%s: generation 2 is too old", tc.size)
			continue
		}
		require.NoError(t, err, tc.size)
		assert.Equal(t, tc.want, got, tc.size)
	}
	for _, bad := range []string{"e2-micro", "t2a-standard-2", "e2-standard-", "E2-MEDIUM"} {
		_, err := ParseGCPSize(bad)
		assert.Error(t, err, bad)
	}
	for _, bad := range []string{"Standard_D2ps_v5", "B2s", "Standard_A2_v2", "standard_b2s"} {
		_, err := ParseAzureSize(bad)
		assert.Error(t, err, bad)
	}
}

// TestParseGCPSizeRefusesWhatTheImageCannotBoot: the lab's GCP image boots
// from pd-balanced with virtio-net, so families that need gVNIC or boot only
// from Hyperdisk are refused with that reason and the families that work.
func TestParseGCPSizeRefusesWhatTheImageCannotBoot(t *testing.T) {
	const works = "use an e2, n2 or n2d machine type such as e2-standard-2"
	for _, tc := range []struct {
		size string
		want []string
	}{
		{"n4-standard-2", []string{"N4 machines boot only from Hyperdisk and need gVNIC", "pd-balanced disk with virtio-net", works}},
		{"n4-highmem-4", []string{"N4 machines", "Hyperdisk"}},
		{"n4d-standard-2", []string{"N4D machines boot only from Hyperdisk and need gVNIC", works}},
		{"c4-standard-2", []string{"C4 machines boot only from Hyperdisk and need gVNIC", works}},
		{"c4d-standard-2", []string{"C4D machines boot only from Hyperdisk and need gVNIC", works}},
		{"c3-standard-4", []string{"C3 machines need gVNIC", "pd-balanced disk with virtio-net", works}},
		{"c3-highcpu-8", []string{"C3 machines need gVNIC"}},
		{"c3-standard-4-lssd", []string{"C3 machines need gVNIC"}},
		{"c3d-standard-4", []string{"C3D machines need gVNIC", works}},
		{"h3-standard-88", []string{"H3 machines need gVNIC"}},
		{"z3-highmem-88", []string{"Z3 machines need gVNIC"}},
		{"m3-ultramem-32", []string{"M3 machines need gVNIC"}},
		{"c4a-standard-2", []string{"Arm (arm64)", "e2, n2 or n2d"}},
		{"n4a-standard-2", []string{"Arm (arm64)"}},
		{"t2a-standard-2", []string{"Arm (arm64)", "must be an amd64 GCP machine type"}},
	} {
		t.Run(tc.size, func(t *testing.T) {
			got, err := ParseSize(GCP, tc.size)
			require.Error(t, err)
			assert.Zero(t, got)
			for _, phrase := range tc.want {
				assert.Contains(t, err.Error(), phrase)
			}

			// Validation names the key and the value with the reason.
			verr := validateSize(GCP, KeyWorkerSize, tc.size)
			require.NotNil(t, verr)
			assert.Equal(t, KeyWorkerSize, verr.Key)
			assert.Equal(t, tc.size, verr.Value)
			assert.Contains(t, verr.Error(), fmt.Sprintf("%s:%s = %q: %s", Namespace, KeyWorkerSize, tc.size, err.Error()))
		})
	}
}

// TestParseAzureSizeRefusesGeneration2Only: v6 and later D, E and F sizes
// run Generation 2 VMs only and the lab registers a Generation 1 image, so
// they are refused with that reason and a size that works.
func TestParseAzureSizeRefusesGeneration2Only(t *testing.T) {
	for _, size := range []string{
		"Standard_D2s_v6", "Standard_D2as_v6", "Standard_D2ads_v6", "Standard_D4ds_v6",
		"Standard_E2s_v6", "Standard_E4as_v6", "Standard_F2as_v6", "Standard_D2s_v7",
	} {
		t.Run(size, func(t *testing.T) {
			got, err := ParseSize(Azure, size)
			require.Error(t, err)
			assert.Zero(t, got)
			for _, phrase := range []string{"runs Generation 2 VMs only", "Talos image as Hyper-V Generation 1", "v4 or v5, such as Standard_D4s_v5"} {
				assert.Contains(t, err.Error(), phrase)
			}

			verr := validateSize(Azure, KeyControlPlaneSize, size)
			require.NotNil(t, verr)
			assert.Equal(t, KeyControlPlaneSize, verr.Key)
			assert.Equal(t, size, verr.Value)
			assert.Contains(t, verr.Allowed, "Generation 2 VMs only")
		})
	}
}

// TestDefaultSizesMeetTheMinimum: every size the matrix hands out must pass
// validation, or a stack with no keys would fail.
func TestDefaultSizesMeetTheMinimum(t *testing.T) {
	for env, row := range EnvironmentMatrix {
		for cloud, size := range row.ControlPlaneSize {
			shape, err := ParseSize(cloud, size)
			if assert.NoError(t, err, "%s control plane on %s", env, cloud) {
				assert.GreaterOrEqual(t, shape.VCPU, MinVCPU, "%s %s", env, size)
				assert.GreaterOrEqual(t, shape.MemGiB, float64(MinMemGiB), "%s %s", env, size)
			}
		}
		for cloud, size := range row.WorkerSize {
			shape, err := ParseSize(cloud, size)
			if assert.NoError(t, err, "%s workers on %s", env, cloud) {
				assert.GreaterOrEqual(t, shape.VCPU, MinVCPU, "%s %s", env, size)
				assert.GreaterOrEqual(t, shape.MemGiB, float64(MinMemGiB), "%s %s", env, size)
			}
		}
	}
}
