package gcp

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/infratest"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

// Type tokens of everything the component may register.
const (
	tComponent     = Token
	tProvider      = "pulumi:providers:gcp"
	tNetwork       = "gcp:compute/network:Network"
	tSubnet        = "gcp:compute/subnetwork:Subnetwork"
	tFirewall      = "gcp:compute/firewall:Firewall"
	tBucket        = "gcp:storage/bucket:Bucket"
	tObject        = "gcp:storage/bucketObject:BucketObject"
	tImage         = "gcp:compute/image:Image"
	tAccount       = "gcp:serviceaccount/account:Account"
	tBucketMember  = "gcp:storage/bucketIAMMember:BucketIAMMember"
	tInstance      = "gcp:compute/instance:Instance"
	tAddress       = "gcp:compute/address:Address"
	tHealthCheck   = "gcp:compute/regionHealthCheck:RegionHealthCheck"
	tInstanceGroup = "gcp:compute/instanceGroup:InstanceGroup"
	tMembership    = "gcp:compute/instanceGroupMembership:InstanceGroupMembership"
	tBackend       = "gcp:compute/regionBackendService:RegionBackendService"
	tForwarding    = "gcp:compute/forwardingRule:ForwardingRule"

	invokeZones = "gcp:compute/getZones:getZones"

	// component is the name the tests give the component; every child's
	// resource name starts with it.
	component = "sre-lab-dev"

	// bucketSuffix is what the mocks' auto-naming appends to a bucket's
	// resource name, as Pulumi appends a random one.
	bucketSuffix = "-a1b2c3d"
	mockProject  = "mock-project"
)

// googleProbes are the sources Google documents for health checks of
// external passthrough Network Load Balancers.
var googleProbes = []string{"35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22"}

// mockZones is what the zone lookup answers: unsorted, and one more than
// DefaultZones.
var mockZones = []string{"europe-west3-c", "europe-west3-a", "europe-west3-d", "europe-west3-b"}

// selfLinkOf is the self link the mocks give a resource.
func selfLinkOf(name string) string {
	return "https://www.googleapis.com/compute/v1/projects/" + mockProject + "/mock/" + name
}

// nodeIPs derives distinct addresses from a node name: dev-sre-cp-02 ->
// 10.0.0.12 / 198.51.100.12, workers from 100 on.
func nodeIPs(nodeName string) (private, public string) {
	n, _ := strconv.Atoi(nodeName[strings.LastIndex(nodeName, "-")+1:])
	if strings.Contains(nodeName, "-cp-") {
		n += 10
	} else {
		n += 100
	}
	return fmt.Sprintf("10.0.0.%d", n), fmt.Sprintf("198.51.100.%d", n)
}

// addressOf is the address the mocks give a load balancer.
func addressOf(purpose string) string {
	return map[string]string{"api": "203.0.113.10", "ingress": "203.0.113.20"}[purpose]
}

func newMocks(zones []string) *pulumitest.Mocks {
	return &pulumitest.Mocks{
		Outputs: func(args pulumi.MockResourceArgs) map[string]any {
			out := map[string]any{"selfLink": selfLinkOf(args.Name)}
			str := func(k string) string { s, _ := args.Inputs[resource.PropertyKey(k)].V.(string); return s }
			switch args.TypeToken {
			case tInstance:
				private, public := nodeIPs(str("name"))
				out["networkInterfaces"] = []any{map[string]any{
					"networkIp":     private,
					"accessConfigs": []any{map[string]any{"natIp": public, "networkTier": "PREMIUM"}},
				}}
			case tAddress:
				out["address"] = addressOf(strings.TrimPrefix(strings.TrimSuffix(args.Name, "-address"), component+"-"))
			case tBucket:
				if str("name") == "" {
					out["name"] = args.Name + bucketSuffix
				}
			case tAccount:
				email := str("accountId") + "@" + mockProject + ".iam.gserviceaccount.com"
				out["email"] = email
				out["member"] = "serviceAccount:" + email
			}
			return out
		},
		Invokes: func(args pulumi.MockCallArgs) map[string]any {
			if args.Token == invokeZones {
				names := []any{}
				for _, z := range zones {
					names = append(names, z)
				}
				return map[string]any{"id": "zones", "names": names}
			}
			return nil
		},
	}
}

// baseArgs is a dev lab of cp control planes and w workers in
// europe-west3, zones looked up.
func baseArgs(cp, w int) *Args {
	return &Args{
		Environment:  "dev",
		Stack:        "dev",
		Region:       "europe-west3",
		ControlPlane: config.NodePool{Count: cp, Size: "e2-medium", DiskGiB: 40},
		Workers:      config.NodePool{Count: w, Size: "e2-standard-4", DiskGiB: 50},
		Network:      netip.MustParsePrefix("10.0.0.0/16"),
		AdminCIDRs:   []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")},
		TalosVersion: "v1.12.4",
	}
}

// run is one mocked run of NewNodes.
type run struct {
	name   string            // component name; empty: component
	zones  []string          // what the zone lookup answers; nil: mockZones
	config map[string]string // stack configuration
}

func runNodes(args *Args, r run) (*infratest.Outcome, error) {
	if r.name == "" {
		r.name = component
	}
	if r.zones == nil {
		r.zones = mockZones
	}
	return infratest.RunBackend(newMocks(r.zones), r.config, func(ctx *pulumi.Context) (infratest.Component, error) {
		nodes, err := NewNodes(ctx, r.name, args)
		if err != nil {
			return infratest.Component{}, err
		}
		return infratest.Component{Resource: nodes, Platform: nodes.Platform}, nil
	})
}

func mustRun(t *testing.T, args *Args) *infratest.Outcome {
	t.Helper()
	o, err := runNodes(args, run{})
	require.NoError(t, err)
	return o
}

// in reads one input of a registration, nil when it is not set.
var in = infratest.Input

// zoneCount is how many zones a run spreads across.
func zoneCount(args *Args) int {
	if len(args.Zones) > 0 {
		return len(args.Zones)
	}
	return DefaultZones
}

func TestImageNames(t *testing.T) {
	tests := []struct {
		env, version          string
		wantURL, wantObject   string
		wantImage, wantFamily string
	}{
		{
			"dev", "v1.12.4",
			"https://factory.talos.dev/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.12.4/gcp-amd64.raw.tar.gz",
			"talos-v1.12.4-gcp-amd64.raw.tar.gz", "sre-lab-dev-talos-v1-12-4", "sre-lab-dev-talos",
		},
		{
			"prod", "v1.11.6",
			"https://factory.talos.dev/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.11.6/gcp-amd64.raw.tar.gz",
			"talos-v1.11.6-gcp-amd64.raw.tar.gz", "sre-lab-prod-talos-v1-11-6", "sre-lab-prod-talos",
		},
		{
			// A pre-release keeps a valid image name: lowercase, no dots.
			"staging", "v1.13.0-beta.1",
			"https://factory.talos.dev/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.13.0-beta.1/gcp-amd64.raw.tar.gz",
			"talos-v1.13.0-beta.1-gcp-amd64.raw.tar.gz", "sre-lab-staging-talos-v1-13-0-beta-1", "sre-lab-staging-talos",
		},
	}
	imageName := `^[a-z]([-a-z0-9]*[a-z0-9])?$`
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			assert.Equal(t, tt.wantURL, ImageURL(tt.version))
			assert.Equal(t, tt.wantObject, ObjectName(tt.version))
			assert.Equal(t, tt.wantImage, ImageName(tt.env, tt.version))
			assert.Regexp(t, imageName, ImageName(tt.env, tt.version), "a valid Compute Engine image name")
			assert.LessOrEqual(t, len(ImageName(tt.env, tt.version)), 63)

			args := baseArgs(1, 1)
			args.Environment, args.TalosVersion = tt.env, tt.version
			o := mustRun(t, args)
			img := o.Mocks.Named(t, tImage, component+"-talos-image")
			assert.Equal(t, tt.wantImage, in(img, "name"))
			assert.Equal(t, tt.wantFamily, in(img, "family"))
		})
	}
}

func TestLabelValue(t *testing.T) {
	for in, want := range map[string]string{
		"dev":                   "dev",
		"staging-eu":            "staging-eu",
		"Prod.EU":               "prod-eu",
		"org/proj/stack":        "org-proj-stack",
		strings.Repeat("a", 70): strings.Repeat("a", 63),
	} {
		assert.Equal(t, want, labelValue(in), in)
	}
}

func TestResourceCounts(t *testing.T) {
	tests := []struct {
		name   string
		cp, w  int
		zones  []string
		admins []string
	}{
		{"1cp-1w", 1, 1, nil, []string{"203.0.113.7/32"}},
		{"3cp-3w", 3, 3, nil, []string{"203.0.113.7/32", "198.51.100.0/24"}},
		{"3cp-0w", 3, 0, nil, []string{"203.0.113.7/32"}},
		{"1cp-2w-no-admins", 1, 2, nil, nil},
		{"3cp-3w-two-zones", 3, 3, []string{"europe-west3-a", "europe-west3-b"}, []string{"203.0.113.7/32"}},
		{"1cp-1w-one-zone", 1, 1, []string{"europe-west3-b"}, []string{"203.0.113.7/32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.Zones = tt.zones
			args.AdminCIDRs = infratest.Prefixes(tt.admins)
			o := mustRun(t, args)
			z := zoneCount(args)
			firewalls := 5 // internal, two health-check rules, web, hairpin
			if len(tt.admins) > 0 {
				firewalls++ // one admin rule, whatever the number of CIDRs
			}
			want := map[string]int{
				tComponent: 1,
				tProvider:  1,
				tNetwork:   1,
				tSubnet:    1,
				tFirewall:  firewalls,
				// The images bucket and the log bucket.
				tBucket:       2,
				tObject:       1,
				tImage:        1,
				tAccount:      1,
				tBucketMember: 1,
				tInstance:     tt.cp + tt.w,
				// API and ingress: an address, a health check, a backend
				// service and a forwarding rule each.
				tAddress:     2,
				tHealthCheck: 2,
				tBackend:     2,
				tForwarding:  2,
				// One group per role and zone the role has nodes in, and one
				// membership per node.
				tInstanceGroup: min(tt.cp, z) + min(tt.w, z),
				tMembership:    tt.cp + tt.w,
			}
			assert.Equal(t, want, o.Mocks.CountByType())

			for _, r := range o.Mocks.Resources() {
				if r.Type == tComponent {
					continue
				}
				assert.Equal(t, o.ComponentURN, r.Parent, "%s %s parent", r.Type, r.Name)
				assert.True(t, strings.HasPrefix(r.Name, component+"-"), "%s %s derives its name from the component's", r.Type, r.Name)
			}
		})
	}
}

func TestProvider(t *testing.T) {
	tests := []struct {
		name, env, stack, project string
		config                    map[string]string
		wantProject               any // nil: not set
		wantStackLabel            string
	}{
		{"explicit-project", "dev", "dev", "sre-lab-dev-123", nil, "sre-lab-dev-123", "dev"},
		{"project-from-stack-config", "staging", "staging-eu", "", map[string]string{"gcp:project": "from-config"}, "from-config", "staging-eu"},
		{"explicit-wins-over-config", "prod", "Prod.EU", "explicit-project", map[string]string{"gcp:project": "from-config"}, "explicit-project", "prod-eu"},
		{"provider-default", "dev", "dev", "", nil, nil, "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(1, 1)
			args.Environment, args.Stack, args.Project = tt.env, tt.stack, tt.project
			o, err := runNodes(args, run{config: tt.config})
			require.NoError(t, err)

			providers := o.Mocks.ByType(tProvider)
			require.Len(t, providers, 1)
			p := providers[0]
			assert.Equal(t, "europe-west3", in(p, "region"))
			assert.Equal(t, tt.wantProject, in(p, "project"))
			labels := in(p, "defaultLabels")
			if s, ok := labels.(string); ok {
				// Provider inputs may reach the engine JSON-encoded.
				var decoded map[string]any
				require.NoError(t, json.Unmarshal([]byte(s), &decoded))
				labels = decoded
			}
			assert.Equal(t, map[string]any{
				"project": "sre-lab", "environment": tt.env, "stack": tt.wantStackLabel, "managed-by": "pulumi",
			}, labels)

			providerURN := string(resource.NewURN("dev", "sre-lab", resource.URN(o.ComponentURN).QualifiedType(), tProvider, p.Name))
			for _, r := range o.Mocks.Resources() {
				if r.Type == tComponent || r.Type == tProvider {
					continue
				}
				assert.True(t, strings.HasPrefix(r.Provider, providerURN+"::"),
					"%s %s uses provider %q, not the component's %q", r.Type, r.Name, r.Provider, providerURN)
			}
			calls := o.Mocks.Calls()
			require.NotEmpty(t, calls)
			for _, c := range calls {
				assert.True(t, strings.HasPrefix(c.Provider, providerURN+"::"), "invoke %s uses provider %q", c.Token, c.Provider)
			}
		})
	}
}

func TestNames(t *testing.T) {
	for _, env := range []string{"dev", "staging"} {
		t.Run(env, func(t *testing.T) {
			args := baseArgs(2, 1)
			args.Environment = env
			o := mustRun(t, args)
			nameOf := func(token, resourceName string) any {
				return in(o.Mocks.Named(t, token, resourceName), "name")
			}
			p := "sre-lab-" + env + "-"
			assert.Equal(t, p+"vpc", nameOf(tNetwork, component+"-vpc"))
			assert.Equal(t, p+"subnet", nameOf(tSubnet, component+"-subnet"))
			for _, suffix := range []string{"internal", "admin", "health-checks-api", "health-checks-ingress", "web", "hairpin"} {
				assert.Equal(t, p+suffix, nameOf(tFirewall, component+"-fw-"+suffix))
			}
			assert.Equal(t, p+"talos-v1-12-4", nameOf(tImage, component+"-talos-image"))
			assert.Equal(t, "talos-v1.12.4-gcp-amd64.raw.tar.gz", nameOf(tObject, component+"-talos-artifact"))
			assert.Equal(t, p+"nodes", in(o.Mocks.Named(t, tAccount, component+"-nodes"), "accountId"))
			for _, purpose := range []string{"api", "ingress"} {
				assert.Equal(t, p+purpose, nameOf(tAddress, component+"-"+purpose+"-address"))
				assert.Equal(t, p+purpose, nameOf(tHealthCheck, component+"-"+purpose+"-health"))
				assert.Equal(t, p+purpose, nameOf(tBackend, component+"-"+purpose+"-backend"))
				assert.Equal(t, p+purpose, nameOf(tForwarding, component+"-"+purpose+"-forwarding"))
			}
			// Buckets are named by Pulumi from their resource names, which
			// start with the component's: sre-lab-dev-logs-<random>.
			for _, b := range o.Mocks.ByType(tBucket) {
				assert.Nil(t, in(b, "name"), "%s: bucket names are global, so Pulumi adds a random suffix", b.Name)
			}
			assert.Equal(t, component+"-logs"+bucketSuffix, o.LogBucket)

			var nodes []string
			for _, s := range o.Mocks.ByType(tInstance) {
				nodes = append(nodes, fmt.Sprint(in(s, "name")))
			}
			assert.Equal(t, []string{env + "-sre-cp-01", env + "-sre-cp-02", env + "-sre-worker-01"}, nodes)

			var groups []string
			for _, g := range o.Mocks.ByType(tInstanceGroup) {
				groups = append(groups, fmt.Sprint(in(g, "name")))
			}
			sort.Strings(groups)
			assert.Equal(t, []string{p + "cp-europe-west3-a", p + "cp-europe-west3-b", p + "worker-europe-west3-c"}, groups)
		})
	}
}

func TestNetwork(t *testing.T) {
	tests := []struct {
		network, wantRange string
	}{
		{"10.0.0.0/16", "10.0.0.0/16"},
		{"172.20.4.0/22", "172.20.4.0/22"},
		// Host bits are ignored: the range is what counts.
		{"10.0.7.9/16", "10.0.0.0/16"},
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			args := baseArgs(1, 1)
			args.Network = netip.MustParsePrefix(tt.network)
			o := mustRun(t, args)
			vpc := o.Mocks.Named(t, tNetwork, component+"-vpc")
			assert.Equal(t, false, in(vpc, "autoCreateSubnetworks"))
			subnet := o.Mocks.Named(t, tSubnet, component+"-subnet")
			assert.Equal(t, tt.wantRange, in(subnet, "ipCidrRange"))
			assert.Equal(t, "europe-west3", in(subnet, "region"))
			assert.Equal(t, component+"-vpc_id", in(subnet, "network"))
			assert.Equal(t, tt.wantRange, in(o.Mocks.Named(t, tFirewall, component+"-fw-internal"), "sourceRanges.0"))
		})
	}
}

// fwRule is a firewall rule as the tests compare it.
type fwRule struct {
	Protocol string
	Ports    string // comma-separated
	Sources  string // comma-separated, in order
	Targets  string // comma-separated
}

func ruleOf(r pulumitest.Resource) fwRule {
	allows, _ := in(r, "allows").([]any)
	var protocols, ports []string
	for _, a := range allows {
		m, _ := a.(map[string]any)
		protocols = append(protocols, fmt.Sprint(m["protocol"]))
		ports = append(ports, infratest.Strings(m["ports"])...)
	}
	return fwRule{
		Protocol: strings.Join(protocols, ","),
		Ports:    strings.Join(ports, ","),
		Sources:  strings.Join(infratest.Strings(in(r, "sourceRanges")), ","),
		Targets:  strings.Join(infratest.Strings(in(r, "targetTags")), ","),
	}
}

func TestFirewalls(t *testing.T) {
	const (
		cp      = "sre-lab-dev-cp"
		worker  = "sre-lab-dev-worker"
		both    = cp + "," + worker
		probes  = "35.191.0.0/16,209.85.152.0/22,209.85.204.0/22"
		hairpin = "198.51.100.11/32,198.51.100.12/32,198.51.100.13/32,198.51.100.101/32,198.51.100.102/32"
	)
	fixed := map[string]fwRule{
		"internal":              {"all", "", "10.0.0.0/16", both},
		"health-checks-api":     {"tcp", "6443", probes, cp},
		"health-checks-ingress": {"tcp", "443", probes, worker},
		"web":                   {"tcp", "80,443", "0.0.0.0/0", worker},
		"hairpin":               {"tcp", "6443", hairpin, cp},
	}
	tests := []struct {
		name      string
		admins    []string
		wantAdmin *fwRule
	}{
		{"one-admin", []string{"203.0.113.7/32"}, &fwRule{"tcp", "6443,50000", "203.0.113.7/32", both}},
		{"two-admins", []string{"203.0.113.7/32", "198.51.100.0/24"}, &fwRule{"tcp", "6443,50000", "203.0.113.7/32,198.51.100.0/24", both}},
		// Host bits are dropped, as GCP would refuse them.
		{"host-bits", []string{"203.0.113.7/24"}, &fwRule{"tcp", "6443,50000", "203.0.113.0/24", both}},
		{"open-on-purpose", []string{"0.0.0.0/0"}, &fwRule{"tcp", "6443,50000", "0.0.0.0/0", both}},
		// A rule without sources would admit everyone: none is made.
		{"no-admins", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(3, 2)
			args.AdminCIDRs = infratest.Prefixes(tt.admins)
			o := mustRun(t, args)

			want := map[string]fwRule{}
			for k, v := range fixed {
				want[k] = v
			}
			if tt.wantAdmin != nil {
				want["admin"] = *tt.wantAdmin
			}
			got := map[string]fwRule{}
			for _, r := range o.Mocks.ByType(tFirewall) {
				got[strings.TrimPrefix(r.Name, component+"-fw-")] = ruleOf(r)
				assert.Equal(t, "INGRESS", in(r, "direction"), r.Name)
				assert.Equal(t, component+"-vpc_id", in(r, "network"), r.Name)
				assert.NotEmpty(t, infratest.Strings(in(r, "sourceRanges")), "%s: a rule without sources admits everyone", r.Name)
				assert.NotEmpty(t, infratest.Strings(in(r, "targetTags")), "%s applies by role", r.Name)
			}
			assert.Equal(t, want, got)

			// The APIs are never open to everyone unless an admin CIDR says so.
			openOnPurpose := slices.Contains(tt.admins, "0.0.0.0/0")
			for name, r := range got {
				ports := strings.Split(r.Ports, ",")
				api := r.Protocol == "all" || slices.Contains(ports, "6443") || slices.Contains(ports, "50000")
				if api && strings.Contains(r.Sources, "0.0.0.0/0") {
					assert.True(t, openOnPurpose, "%s opens an API to the internet: %+v", name, r)
				}
			}
		})
	}
}

func TestImage(t *testing.T) {
	images := map[string]string{} // version -> image name
	for _, version := range []string{"v1.12.4", "v1.12.5"} {
		t.Run(version, func(t *testing.T) {
			args := baseArgs(2, 2)
			args.TalosVersion = version
			o := mustRun(t, args)

			bucket := o.Mocks.Named(t, tBucket, component+"-images")
			assert.Equal(t, true, in(bucket, "forceDestroy"), "a copy of a public artifact")
			assert.Equal(t, true, in(bucket, "uniformBucketLevelAccess"))
			assert.Equal(t, "enforced", in(bucket, "publicAccessPrevention"))
			assert.Equal(t, "EUROPE-WEST3", in(bucket, "location"))

			object := o.Mocks.Named(t, tObject, component+"-talos-artifact")
			bucketName := component + "-images" + bucketSuffix
			assert.Equal(t, bucketName, in(object, "bucket"))
			assert.Equal(t, ObjectName(version), in(object, "name"))
			source := object.Inputs["source"]
			require.True(t, source.IsAsset(), "the artifact is a remote asset, got %v", source)
			assert.Equal(t, ImageURL(version), source.AssetValue().URI)
			assert.Contains(t, source.AssetValue().URI, "/"+version+"/gcp-amd64.raw.tar.gz")

			img := o.Mocks.Named(t, tImage, component+"-talos-image")
			assert.Equal(t, "https://storage.googleapis.com/"+bucketName+"/"+ObjectName(version), in(img, "rawDisk.source"))
			assert.Equal(t, []any{map[string]any{"type": "VIRTIO_SCSI_MULTIQUEUE"}}, in(img, "guestOsFeatures"))
			assert.True(t, img.DependsOn(tObject, object.Name), "the image waits for the upload")
			images[version] = fmt.Sprint(in(img, "name"))

			for _, s := range o.Mocks.ByType(tInstance) {
				assert.Equal(t, selfLinkOf(img.Name), in(s, "bootDisk.initializeParams.image"), s.Name)
				assert.Equal(t, []string{"bootDisk.initializeParams.image"}, s.IgnoreChanges, "%s: Talos upgrades in place", s.Name)
			}
		})
	}
	assert.Equal(t, "sre-lab-dev-talos-v1-12-4", images["v1.12.4"])
	assert.Equal(t, "sre-lab-dev-talos-v1-12-5", images["v1.12.5"], "a new version is a new image")
}

func TestLogBucket(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep-%v", keep), func(t *testing.T) {
			args := baseArgs(1, 1)
			args.KeepLogs = keep
			o := mustRun(t, args)

			logs := o.Mocks.Named(t, tBucket, component+"-logs")
			assert.Equal(t, !keep, in(logs, "forceDestroy"), "forceDestroy is !KeepLogs")
			assert.Equal(t, true, in(logs, "uniformBucketLevelAccess"))
			assert.Equal(t, "enforced", in(logs, "publicAccessPrevention"))
			assert.Equal(t, "EUROPE-WEST3", in(logs, "location"))

			require.NotNil(t, o.Platform.LogBucket)
			assert.Equal(t, "gcs", o.Platform.LogBucket.Type)
			assert.Equal(t, component+"-logs"+bucketSuffix, o.LogBucket)

			// The nodes' only grant: objects of the log bucket.
			members := o.Mocks.ByType(tBucketMember)
			require.Len(t, members, 1)
			email := "sre-lab-dev-nodes@" + mockProject + ".iam.gserviceaccount.com"
			assert.Equal(t, map[string]any{
				"bucket": component + "-logs" + bucketSuffix,
				"role":   "roles/storage.objectAdmin",
				"member": "serviceAccount:" + email,
			}, pulumitest.Plain(resource.NewPropertyValue(members[0].Inputs)))
			assert.NotEqual(t, component+"-images"+bucketSuffix, in(members[0], "bucket"), "the images bucket is not shared")

			for _, s := range o.Mocks.ByType(tInstance) {
				assert.Equal(t, map[string]any{"email": email, "scopes": []any{"cloud-platform"}}, in(s, "serviceAccount"), s.Name)
			}
		})
	}
}

func TestInstances(t *testing.T) {
	tests := []struct {
		name  string
		cp, w int
		zones []string
		want  map[string]string // node name -> zone
	}{
		{
			name: "looked-up-zones-1cp-1w", cp: 1, w: 1,
			want: map[string]string{"dev-sre-cp-01": "europe-west3-a", "dev-sre-worker-01": "europe-west3-b"},
		},
		{
			name: "looked-up-zones-3cp-3w", cp: 3, w: 3,
			want: map[string]string{
				"dev-sre-cp-01": "europe-west3-a", "dev-sre-cp-02": "europe-west3-b", "dev-sre-cp-03": "europe-west3-c",
				"dev-sre-worker-01": "europe-west3-a", "dev-sre-worker-02": "europe-west3-b", "dev-sre-worker-03": "europe-west3-c",
			},
		},
		{
			name: "two-explicit-zones-3cp-3w", cp: 3, w: 3, zones: []string{"europe-west3-c", "europe-west3-b"},
			want: map[string]string{
				"dev-sre-cp-01": "europe-west3-c", "dev-sre-cp-02": "europe-west3-b", "dev-sre-cp-03": "europe-west3-c",
				"dev-sre-worker-01": "europe-west3-b", "dev-sre-worker-02": "europe-west3-c", "dev-sre-worker-03": "europe-west3-b",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.Zones = tt.zones
			o := mustRun(t, args)

			got := map[string]string{}
			sizes := map[string]int{}
			for _, s := range o.Mocks.ByType(tInstance) {
				node := fmt.Sprint(in(s, "name"))
				got[node] = fmt.Sprint(in(s, "zone"))
				sizes[fmt.Sprint(in(s, "machineType"))]++
				role, disk := infra.Worker, float64(50)
				if strings.Contains(node, "-cp-") {
					role, disk = infra.ControlPlane, 40
				}
				assert.Equal(t, disk, in(s, "bootDisk.initializeParams.size"), node)
				assert.Equal(t, "pd-balanced", in(s, "bootDisk.initializeParams.type"), node)
				assert.Equal(t, true, in(s, "bootDisk.autoDelete"), node)
				assert.Equal(t, []any{NodeTag("dev", role)}, in(s, "tags"), node)
				assert.Equal(t, map[string]any{"role": string(role)}, in(s, "labels"), "%s: the rest come from the provider", node)
				assert.Equal(t, component+"-subnet_id", in(s, "networkInterfaces.0.subnetwork"), node)
				assert.Equal(t, []any{map[string]any{}}, in(s, "networkInterfaces.0.accessConfigs"), "%s: one ephemeral external address", node)
				assert.Nil(t, in(s, "metadata"), "%s: Talos is configured over its API", node)
				assert.Nil(t, in(s, "metadataStartupScript"), node)
				assert.Equal(t, true, in(s, "allowStoppingForUpdate"), node)
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, map[string]int{"e2-medium": tt.cp, "e2-standard-4": tt.w}, sizes)
		})
	}
}

func TestZoneLookup(t *testing.T) {
	tests := []struct {
		name       string
		zones      []string // Args.Zones
		answer     []string // what the lookup answers
		wantLookup bool
		wantErr    string
		wantZones  []string // of the instances
	}{
		{"three-of-four-sorted", nil, mockZones, true, "", []string{"europe-west3-a", "europe-west3-b", "europe-west3-c"}},
		// europe-west1 has no -a zone: looked up, not guessed.
		{"no-a-zone", nil, []string{"europe-west3-d", "europe-west3-b", "europe-west3-c"}, true, "", []string{"europe-west3-b", "europe-west3-c", "europe-west3-d"}},
		{"one-zone-up", nil, []string{"europe-west3-b"}, true, "", []string{"europe-west3-b"}},
		{"none-up", nil, []string{}, true, "region europe-west3 has no zones that are up", nil},
		{"explicit", []string{"europe-west3-b"}, mockZones, false, "", []string{"europe-west3-b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(3, 3)
			args.Zones = tt.zones
			o, err := runNodes(args, run{zones: tt.answer})
			calls := o.Mocks.Calls()
			if tt.wantLookup {
				require.Len(t, calls, 1)
				assert.Equal(t, invokeZones, calls[0].Token)
				assert.Equal(t, map[string]any{"region": "europe-west3", "status": "UP"}, calls[0].Args)
			} else {
				assert.Empty(t, calls, "explicit zones are not looked up")
			}
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Empty(t, o.Mocks.ByType(tInstance), "no nodes without zones")
				return
			}
			require.NoError(t, err)
			var zones []string
			for _, s := range o.Mocks.ByType(tInstance) {
				if z := fmt.Sprint(in(s, "zone")); !slices.Contains(zones, z) {
					zones = append(zones, z)
				}
			}
			sort.Strings(zones)
			assert.Equal(t, tt.wantZones, zones)
		})
	}
}

// wantBalancers is what each load balancer forwards, and to which role.
var wantBalancers = []struct {
	purpose    string
	role       infra.Role
	ports      []any
	healthPort float64
}{
	{"api", infra.ControlPlane, []any{"6443", "50000"}, 6443},
	{"ingress", infra.Worker, []any{"80", "443"}, 443},
}

func TestLoadBalancers(t *testing.T) {
	tests := []struct {
		name  string
		cp, w int
		zones []string
	}{
		{"1cp-1w", 1, 1, nil},
		{"3cp-3w", 3, 3, nil},
		{"3cp-2w-two-zones", 3, 2, []string{"europe-west3-a", "europe-west3-b"}},
		{"1cp-0w", 1, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.Zones = tt.zones
			o := mustRun(t, args)

			// Where each node is, by self link.
			zoneOf, roleOf := map[string]string{}, map[string]infra.Role{}
			for _, s := range o.Mocks.ByType(tInstance) {
				zoneOf[selfLinkOf(s.Name)] = fmt.Sprint(in(s, "zone"))
				roleOf[selfLinkOf(s.Name)] = infra.Worker
				if strings.Contains(s.Name, "-cp-") {
					roleOf[selfLinkOf(s.Name)] = infra.ControlPlane
				}
			}
			groupOf, groupNamed := map[string]pulumitest.Resource{}, map[any]pulumitest.Resource{}
			for _, g := range o.Mocks.ByType(tInstanceGroup) {
				groupOf[selfLinkOf(g.Name)], groupNamed[in(g, "name")] = g, g
				assert.Nil(t, in(g, "instances"), "%s: nodes join by membership, which follows their replacement", g.Name)
			}
			// The nodes each group holds, by group name.
			membersOf := map[string][]string{}
			for _, m := range o.Mocks.ByType(tMembership) {
				group, ok := groupNamed[in(m, "instanceGroup")]
				require.True(t, ok, "%s joins no group of the lab", m.Name)
				assert.Equal(t, in(group, "zone"), in(m, "zone"), "%s names its group's zone", m.Name)
				name := fmt.Sprint(in(group, "name"))
				membersOf[name] = append(membersOf[name], fmt.Sprint(in(m, "instance")))
			}

			for _, b := range wantBalancers {
				prefix := component + "-" + b.purpose
				address := o.Mocks.Named(t, tAddress, prefix+"-address")
				assert.Equal(t, "europe-west3", in(address, "region"))
				assert.Equal(t, "EXTERNAL", in(address, "addressType"))

				health := o.Mocks.Named(t, tHealthCheck, prefix+"-health")
				assert.Equal(t, "europe-west3", in(health, "region"))
				assert.Equal(t, b.healthPort, in(health, "tcpHealthCheck.port"))

				backend := o.Mocks.Named(t, tBackend, prefix+"-backend")
				assert.Equal(t, "EXTERNAL", in(backend, "loadBalancingScheme"))
				assert.Equal(t, "TCP", in(backend, "protocol"))
				assert.Equal(t, "europe-west3", in(backend, "region"))
				assert.Equal(t, selfLinkOf(health.Name), in(backend, "healthChecks"))

				// Every node of the role, and no other, through one group per
				// zone, each in its zone and in the lab's network.
				var members []string
				backends, _ := in(backend, "backends").([]any)
				for _, be := range backends {
					m, _ := be.(map[string]any)
					assert.Equal(t, "CONNECTION", m["balancingMode"])
					group, ok := groupOf[fmt.Sprint(m["group"])]
					require.True(t, ok, "%s backend %v is no instance group of the lab", b.purpose, m["group"])
					assert.Equal(t, component+"-vpc_id", in(group, "network"))
					for _, link := range membersOf[fmt.Sprint(in(group, "name"))] {
						assert.Equal(t, b.role, roleOf[link], "%s in the %s group", link, b.purpose)
						assert.Equal(t, in(group, "zone"), zoneOf[link], "%s is in its group's zone", link)
						members = append(members, link)
					}
				}
				count := map[infra.Role]int{infra.ControlPlane: tt.cp, infra.Worker: tt.w}[b.role]
				assert.Len(t, members, count, "%s members", b.purpose)
				assert.Len(t, backends, min(count, zoneCount(args)), "%s: one group per zone with nodes", b.purpose)

				rule := o.Mocks.Named(t, tForwarding, prefix+"-forwarding")
				assert.Equal(t, map[string]any{
					"name":                "sre-lab-dev-" + b.purpose,
					"region":              "europe-west3",
					"ipAddress":           addressOf(b.purpose),
					"ipProtocol":          "TCP",
					"loadBalancingScheme": "EXTERNAL",
					"networkTier":         "PREMIUM",
					"backendService":      selfLinkOf(backend.Name),
					"ports":               b.ports,
				}, pulumitest.Plain(resource.NewPropertyValue(rule.Inputs)))
			}
		})
	}
}

func TestPlatform(t *testing.T) {
	tests := []struct {
		name  string
		cp, w int
		want  []infratest.Node
	}{
		{"1cp-1w", 1, 1, []infratest.Node{
			{Name: "dev-sre-cp-01", Role: infra.ControlPlane, PrivateIP: "10.0.0.11", PublicIP: "198.51.100.11"},
			{Name: "dev-sre-worker-01", Role: infra.Worker, PrivateIP: "10.0.0.101", PublicIP: "198.51.100.101"},
		}},
		{"3cp-3w", 3, 3, []infratest.Node{
			{Name: "dev-sre-cp-01", Role: infra.ControlPlane, PrivateIP: "10.0.0.11", PublicIP: "198.51.100.11"},
			{Name: "dev-sre-cp-02", Role: infra.ControlPlane, PrivateIP: "10.0.0.12", PublicIP: "198.51.100.12"},
			{Name: "dev-sre-cp-03", Role: infra.ControlPlane, PrivateIP: "10.0.0.13", PublicIP: "198.51.100.13"},
			{Name: "dev-sre-worker-01", Role: infra.Worker, PrivateIP: "10.0.0.101", PublicIP: "198.51.100.101"},
			{Name: "dev-sre-worker-02", Role: infra.Worker, PrivateIP: "10.0.0.102", PublicIP: "198.51.100.102"},
			{Name: "dev-sre-worker-03", Role: infra.Worker, PrivateIP: "10.0.0.103", PublicIP: "198.51.100.103"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := mustRun(t, baseArgs(tt.cp, tt.w))
			assert.Equal(t, tt.want, o.Nodes, "control planes first, addresses from the first interface")
			assert.Equal(t, addressOf("api"), o.Endpoint, "the endpoint is the API load balancer's address")
			assert.Equal(t, addressOf("ingress"), o.Ingress, "web traffic arrives at the ingress address")
			assert.Empty(t, o.Platform.InstallDisk, "the image is already installed")
			assert.Nil(t, o.Platform.LoadBalancerRange, "a cloud load balancer, no LB-IPAM pool")
			assert.Nil(t, o.Platform.BackupBucket)
		})
	}
}

func TestBadArgs(t *testing.T) {
	tests := []struct {
		name      string
		component string
		change    func(*Args)
		wantErr   string
	}{
		{"no-environment", "", func(a *Args) { a.Environment = "" }, `environment "" must be lowercase letters`},
		{"uppercase-environment", "", func(a *Args) { a.Environment = "Dev" }, `environment "Dev"`},
		{"long-environment", "", func(a *Args) { a.Environment = "a-very-long-environment" }, "at most 16 characters"},
		{"bad-project", "", func(a *Args) { a.Project = "My_Project" }, `project "My_Project" is not a GCP project ID`},
		{"no-region", "", func(a *Args) { a.Region = "" }, `region "" is not a GCP region such as europe-west3`},
		{"zone-as-region", "", func(a *Args) { a.Region = "europe-west3-a" }, `region "europe-west3-a"`},
		{"aws-region", "", func(a *Args) { a.Region = "eu-central-1" }, `region "eu-central-1"`},
		{"zone-of-other-region", "", func(a *Args) { a.Zones = []string{"europe-west1-b"} }, `zone "europe-west1-b" is not a zone of region europe-west3`},
		{"region-as-zone", "", func(a *Args) { a.Zones = []string{"europe-west3"} }, `zone "europe-west3" is not a zone`},
		{"zone-twice", "", func(a *Args) { a.Zones = []string{"europe-west3-a", "europe-west3-a"} }, "zone europe-west3-a is listed twice"},
		{"no-control-planes", "", func(a *Args) { a.ControlPlane.Count = 0 }, "0 controlplane nodes: at least 1 needed"},
		{"negative-workers", "", func(a *Args) { a.Workers.Count = -1 }, "-1 worker nodes: at least 0 needed"},
		{"no-cp-machine-type", "", func(a *Args) { a.ControlPlane.Size = "" }, `controlplane nodes need a machine type such as e2-medium, got ""`},
		{"no-worker-machine-type", "", func(a *Args) { a.Workers.Size = "" }, "worker nodes need a machine type"},
		{"aws-instance-type", "", func(a *Args) { a.Workers.Size = "t3.medium" }, `got "t3.medium"`},
		{"small-disk", "", func(a *Args) { a.ControlPlane.DiskGiB = 4 }, "controlplane nodes: a 4 GiB boot disk is smaller than the 8 GiB Talos image"},
		{"no-network", "", func(a *Args) { a.Network = netip.Prefix{} }, "must be an IPv4 range from /8 to /29"},
		{"ipv6-network", "", func(a *Args) { a.Network = netip.MustParsePrefix("fd00::/48") }, "network fd00::/48 must be an IPv4 range"},
		{"tiny-network", "", func(a *Args) { a.Network = netip.MustParsePrefix("10.0.0.0/30") }, "network 10.0.0.0/30"},
		{"ipv6-admin", "", func(a *Args) { a.AdminCIDRs = infratest.Prefixes([]string{"203.0.113.7/32", "2001:db8::/48"}) }, "admin CIDR 2001:db8::/48: the GCP nodes have IPv4 addresses only"},
		{"no-version", "", func(a *Args) { a.TalosVersion = "" }, `talos version "" must look like v1.12.4`},
		{"version-without-v", "", func(a *Args) { a.TalosVersion = "1.12.4" }, `talos version "1.12.4"`},
		{"version-latest", "", func(a *Args) { a.TalosVersion = "latest" }, `talos version "latest"`},
		{"bad-component-name", "Sre_Lab", func(*Args) {}, `component name "Sre_Lab" must be lowercase`},
		{"long-component-name", strings.Repeat("a", 49), func(*Args) {}, "at most 48 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(1, 1)
			tt.change(args)
			o, err := runNodes(args, run{name: tt.component})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "gcp nodes: ")
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Empty(t, o.Mocks.Resources(), "nothing is registered for bad args")
			assert.Empty(t, o.Mocks.Calls(), "nothing is looked up for bad args")
		})
	}
}

func TestGoodEdgeArgs(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Args)
	}{
		{"zero-workers-without-size", func(a *Args) { a.Workers = config.NodePool{} }},
		{"smallest-disk", func(a *Args) { a.ControlPlane.DiskGiB, a.Workers.DiskGiB = ImageDiskGiB, ImageDiskGiB }},
		{"longest-environment", func(a *Args) { a.Environment = strings.Repeat("e", maxEnvironment) }},
		{"domain-scoped-project", func(a *Args) { a.Project = "example.com:sre-lab-1" }},
		{"custom-machine-type", func(a *Args) { a.ControlPlane.Size = "e2-custom-4-8192" }},
		{"pre-release", func(a *Args) { a.TalosVersion = "v1.13.0-beta.1" }},
		{"long-region", func(a *Args) { a.Region, a.Zones = "northamerica-northeast1", []string{"northamerica-northeast1-a"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(1, 1)
			tt.change(args)
			_, err := runNodes(args, run{})
			require.NoError(t, err)
		})
	}
}

// TestContract runs the backend contract every backend answers for.
func TestContract(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cp, w  int
		admins []string
	}{
		{"dev", 1, 1, []string{"203.0.113.7/32"}},
		{"prod", 3, 3, []string{"203.0.113.7/32", "198.51.100.0/24"}},
		{"open on purpose", 3, 2, []string{"0.0.0.0/0"}},
		{"no admins", 1, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := baseArgs(tc.cp, tc.w)
			args.AdminCIDRs = infratest.Prefixes(tc.admins)
			o := mustRun(t, args)
			run := o.Contract()
			run.Environment, run.ControlPlanes, run.Workers = args.Environment, tc.cp, tc.w
			run.AdminCIDRs = tc.admins
			// Google's documented sources, not the package's list: a
			// widened HealthCheckRanges must fail here.
			run.ProbeSources = googleProbes
			for _, fw := range o.Mocks.ByType(tFirewall) {
				allows, _ := in(fw, "allows").([]any)
				for _, source := range infratest.Strings(in(fw, "sourceRanges")) {
					if p := netip.MustParsePrefix(source); p.Bits() >= args.Network.Bits() && args.Network.Contains(p.Addr()) {
						continue // inside the node network
					}
					for _, a := range allows {
						m, _ := a.(map[string]any)
						ports := infratest.Strings(m["ports"])
						if m["protocol"] == "all" || len(ports) == 0 {
							run.Rules = append(run.Rules, infratest.Rule{FromPort: 0, ToPort: 65535, Source: source})
							continue
						}
						for _, port := range ports {
							from, to := infratest.PortRange(t, port)
							run.Rules = append(run.Rules, infratest.Rule{FromPort: from, ToPort: to, Source: source})
						}
					}
				}
			}
			require.NotEmpty(t, run.Rules)
			infratest.Check(t, run)
			infratest.CheckRolling(t, run)
		})
	}
}

// TestPassthroughPlatform: GCP's load balancers keep their own address as
// destination, which the layers above must know to accept the packets.
func TestPassthroughPlatform(t *testing.T) {
	o := mustRun(t, baseArgs(1, 1))
	assert.True(t, o.Platform.Passthrough)
	assert.False(t, o.Platform.DHCPOnEveryLink)
}

// TestReplacement: instances keep their fixed names, so a replaced one is
// deleted before its successor is created, and takes its group
// memberships with it; each role's instances form one chain, so a change
// to a pool reaches them one at a time.
func TestReplacement(t *testing.T) {
	for _, tp := range infratest.ReplacementTopologies {
		t.Run(tp.Name, func(t *testing.T) {
			o := mustRun(t, baseArgs(tp.ControlPlanes, tp.Workers))
			for _, s := range infratest.CheckReplacement(t, o.Mocks, tInstance, o.Contract()) {
				m := o.Mocks.Named(t, tMembership, s.Name+"-membership")
				assert.True(t, m.DependsOn(tInstance, s.Name), "%s: replacing the instance replaces its membership", m.Name)
				assert.True(t, m.DeleteBeforeReplace, "%s leaves before it rejoins", m.Name)
			}
		})
	}
}
