package aws

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
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

// Type tokens of everything the component registers.
const (
	tComponent  = Token
	tProvider   = "pulumi:providers:aws"
	tVpc        = "aws:ec2/vpc:Vpc"
	tIgw        = "aws:ec2/internetGateway:InternetGateway"
	tRouteTable = "aws:ec2/routeTable:RouteTable"
	tSubnet     = "aws:ec2/subnet:Subnet"
	tRTAssoc    = "aws:ec2/routeTableAssociation:RouteTableAssociation"
	tSG         = "aws:ec2/securityGroup:SecurityGroup"
	tIngress    = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	tInstance   = "aws:ec2/instance:Instance"
	tLB         = "aws:lb/loadBalancer:LoadBalancer"
	tTG         = "aws:lb/targetGroup:TargetGroup"
	tListener   = "aws:lb/listener:Listener"
	tTGA        = "aws:lb/targetGroupAttachment:TargetGroupAttachment"
	tRole       = "aws:iam/role:Role"
	tRPA        = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
	tRolePolicy = "aws:iam/rolePolicy:RolePolicy"
	tProfile    = "aws:iam/instanceProfile:InstanceProfile"
	tBucket     = "aws:s3/bucketV2:BucketV2"
	tPAB        = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	tVersioning = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	tLifecycle  = "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"

	// mockBucket is the name the mock gives the log bucket.
	mockBucket = "sre-lab-dev-logs-abc123"

	invokeZones = "aws:index/getAvailabilityZones:getAvailabilityZones"
	invokeAMI   = "aws:ec2/getAmi:getAmi"

	mockAMI = "ami-0talos0mock0000"

	// mockAccount is the account in the ARNs the mock gives IAM resources.
	mockAccount = "123456789012"
)

// mockZones is what the zone lookup answers: one more than DefaultZones.
var mockZones = []string{"eu-central-1a", "eu-central-1b", "eu-central-1c", "eu-central-1d"}

// regRes is one resource registration the mock monitor saw.
type regRes struct {
	Type          string
	Name          string
	Custom        bool
	Inputs        map[string]any
	Parent        string
	Provider      string
	IgnoreChanges []string
	Dependencies  []string
}

// dependsOn reports whether r lists the resource of that type and name
// among its dependencies, directly.
func (r regRes) dependsOn(token, name string) bool {
	return pulumitest.Resource{Dependencies: r.Dependencies}.DependsOn(token, name)
}

// regInvoke is one invoke the mock monitor saw.
type regInvoke struct {
	Token    string
	Args     map[string]any
	Provider string
}

// awsMocks records registrations and invokes and answers them with
// deterministic values.
type awsMocks struct {
	zones []string

	mu        sync.Mutex
	resources []regRes
	invokes   []regInvoke
}

// nodeIPs derives distinct, deterministic addresses from an instance's
// resource name: sre-lab-dev-cp-02 -> 10.0.0.12 / 198.51.100.12, workers
// from 100 on.
func nodeIPs(name string) (private, public string) {
	i := strings.LastIndex(name, "-")
	n, _ := strconv.Atoi(name[i+1:])
	if strings.Contains(name, "-cp-") {
		n += 10
	} else {
		n += 100
	}
	return fmt.Sprintf("10.0.0.%d", n), fmt.Sprintf("198.51.100.%d", n)
}

func dnsNameOf(lbName string) string { return lbName + "-0123456789.elb.eu-west-3.amazonaws.com" }
func arnOf(name string) string       { return "arn:aws:mock:" + name }
func idOf(name string) string        { return name + "_id" }

func (m *awsMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := regRes{Type: args.TypeToken, Name: args.Name, Custom: args.Custom, Inputs: args.Inputs.Mappable()}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.Provider = rpc.GetProvider()
		r.IgnoreChanges = rpc.GetIgnoreChanges()
		r.Dependencies = rpc.GetDependencies()
	}
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()

	out := args.Inputs.Copy()
	set := func(k string, v any) { out[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	switch args.TypeToken {
	case tInstance:
		private, public := nodeIPs(args.Name)
		set("privateIp", private)
		set("publicIp", public)
	case tLB:
		set("dnsName", dnsNameOf(args.Name))
		set("arn", arnOf(args.Name))
	case tTG:
		set("arn", arnOf(args.Name))
	case tBucket:
		set("bucket", mockBucket)
		set("arn", "arn:aws:s3:::"+mockBucket)
	case tRole, tProfile:
		// IAM names are what the program asks for; the ARN and ID differ from
		// the name, so a test notices which one a reference carries.
		kind := "role"
		if args.TypeToken == tProfile {
			kind = "instance-profile"
		}
		name, _ := args.Inputs["name"].V.(string)
		if name == "" {
			name = args.Name + "-a1b2c3d" // what auto-naming would do
		}
		set("name", name)
		set("arn", fmt.Sprintf("arn:aws:iam::%s:%s/%s", mockAccount, kind, name))
		set("uniqueId", "AROA"+strings.ToUpper(strings.ReplaceAll(args.Name, "-", "")))
	}
	return idOf(args.Name), out, nil
}

func (m *awsMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.invokes = append(m.invokes, regInvoke{Token: args.Token, Args: args.Args.Mappable(), Provider: args.Provider})
	m.mu.Unlock()
	out := resource.PropertyMap{}
	switch args.Token {
	case invokeZones:
		names := make([]any, len(m.zones))
		for i, z := range m.zones {
			names[i] = z
		}
		out["id"] = resource.NewPropertyValue("eu-west-3")
		out["names"] = resource.NewPropertyValue(names)
	case invokeAMI:
		out["id"] = resource.NewPropertyValue(mockAMI)
	default:
		return nil, fmt.Errorf("unexpected invoke %s", args.Token)
	}
	return out, nil
}

// byType returns the registrations of one type, sorted by name.
func (m *awsMocks) byType(token string) []regRes {
	var out []regRes
	for _, r := range m.resources {
		if r.Type == token {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (m *awsMocks) countByType() map[string]int {
	c := map[string]int{}
	for _, r := range m.resources {
		c[r.Type]++
	}
	return c
}

func (m *awsMocks) invokesOf(token string) []regInvoke {
	var out []regInvoke
	for _, i := range m.invokes {
		if i.Token == token {
			out = append(out, i)
		}
	}
	return out
}

// nodeOut is one node of the returned platform with its outputs resolved.
type nodeOut struct {
	Name, PrivateIP, PublicIP string
	Role                      infra.Role
}

// outcome is a component run: what was registered and what it returned.
type outcome struct {
	m            *awsMocks
	componentURN string
	providerURN  string
	endpoint     string
	ingress      string
	vpcID        string
	ami          string
	installDisk  string
	nodes        []nodeOut
	// logBucket is the platform's LogBucket with its name resolved.
	logBucket     *infra.Bucket
	logBucketName string
}

// baseArgs is a dev lab of cp control planes and w workers, zones looked up.
func baseArgs(cp, w int) *Args {
	return &Args{
		Environment:  "dev",
		Stack:        "dev",
		Region:       "eu-west-3",
		ControlPlane: config.NodePool{Count: cp, Size: "m6i.large", DiskGiB: 40},
		Workers:      config.NodePool{Count: w, Size: "t3.xlarge", DiskGiB: 80},
		Network:      netip.MustParsePrefix("10.0.0.0/16"),
		AdminCIDRs:   []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")},
		TalosVersion: "v1.12.4",
	}
}

// runNodes runs NewNodes under mocks whose zone lookup answers zones.
func runNodes(t *testing.T, args *Args, zones []string) (*outcome, error) {
	t.Helper()
	m := &awsMocks{zones: zones}
	o := &outcome{m: m}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		nodes, err := NewNodes(ctx, "sre-lab-dev", args)
		if err != nil {
			return err
		}
		urn, err := pulumitest.AwaitKnown(ctx, nodes.URN().ToURNOutput())
		if err != nil {
			return err
		}
		o.componentURN = string(urn.(pulumi.URN))
		if o.endpoint, err = pulumitest.AwaitString(ctx, nodes.Platform.Endpoint); err != nil {
			return fmt.Errorf("endpoint: %w", err)
		}
		if nodes.Platform.IngressEndpoint.OutputState == nil {
			return fmt.Errorf("ingress endpoint not set")
		}
		if o.ingress, err = pulumitest.AwaitString(ctx, nodes.Platform.IngressEndpoint); err != nil {
			return fmt.Errorf("ingress endpoint: %w", err)
		}
		vpcID, err := pulumitest.AwaitKnown(ctx, nodes.VpcID)
		if err != nil {
			return fmt.Errorf("vpc id: %w", err)
		}
		o.vpcID = string(vpcID.(pulumi.ID))
		o.ami = nodes.AMI
		o.installDisk = nodes.Platform.InstallDisk
		if o.logBucket = nodes.Platform.LogBucket; o.logBucket != nil {
			if o.logBucketName, err = pulumitest.AwaitString(ctx, o.logBucket.Name); err != nil {
				return fmt.Errorf("log bucket: %w", err)
			}
		}
		for _, n := range nodes.Platform.Nodes {
			out := nodeOut{Name: n.Name, Role: n.Role}
			if out.PrivateIP, err = pulumitest.AwaitString(ctx, n.PrivateIP); err != nil {
				return fmt.Errorf("%s private ip: %w", n.Name, err)
			}
			if out.PublicIP, err = pulumitest.AwaitString(ctx, n.PublicIP); err != nil {
				return fmt.Errorf("%s public ip: %w", n.Name, err)
			}
			o.nodes = append(o.nodes, out)
		}
		return nil
	}, pulumi.WithMocks("sre-lab", "dev", m))
	for _, r := range m.resources {
		if r.Type == tProvider && o.componentURN != "" {
			// The provider's URN nests its type under the component's.
			o.providerURN = string(resource.NewURN("dev", "sre-lab",
				resource.URN(o.componentURN).QualifiedType(), tProvider, r.Name))
		}
	}
	return o, err
}

func mustRun(t *testing.T, args *Args, zones []string) *outcome {
	t.Helper()
	o, err := runNodes(t, args, zones)
	require.NoError(t, err)
	return o
}

// get walks nested maps and lists of a resource's inputs: get(in, "a", 0, "b").
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func tag(r regRes, key string) any { return get(r.Inputs, "tags", key) }

// strs turns an input list into strings.
func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

func TestSubnet(t *testing.T) {
	tests := []struct {
		network string
		i       int
		want    string
	}{
		{"10.0.0.0/16", 0, "10.0.0.0/24"},
		{"10.0.0.0/16", 1, "10.0.1.0/24"},
		{"10.0.0.0/16", 2, "10.0.2.0/24"},
		{"10.0.0.0/16", 255, "10.0.255.0/24"},
		{"172.20.0.0/20", 3, "172.20.3.0/24"},
		{"10.0.0.0/8", 256, "10.1.0.0/24"},
		{"10.0.0.0/8", 257, "10.1.1.0/24"},
		// Host bits set in the range are ignored: the range is what counts.
		{"10.0.7.9/16", 1, "10.0.1.0/24"},
		{"192.168.56.0/24", 0, "192.168.56.0/24"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s_%d", tt.network, tt.i), func(t *testing.T) {
			got := Subnet(netip.MustParsePrefix(tt.network), tt.i)
			assert.Equal(t, netip.MustParsePrefix(tt.want), got)
		})
	}
}

func TestNewNodesResourceCounts(t *testing.T) {
	tests := []struct {
		name       string
		cp, w      int
		zones      []string // Args.Zones; nil looks them up
		admins     []string
		secrets    string // Args.SecretsPrefix
		wantZones  []string
		wantLookup bool
	}{
		{"1cp-1w-lookup", 1, 1, nil, []string{"203.0.113.7/32"}, "", mockZones[:3], true},
		{"3cp-3w-lookup", 3, 3, nil, []string{"203.0.113.7/32"}, "", mockZones[:3], true},
		{"1cp-1w-two-zones", 1, 1, []string{"eu-west-3a", "eu-west-3b"}, []string{"203.0.113.7/32"}, "", []string{"eu-west-3a", "eu-west-3b"}, false},
		{"3cp-3w-two-zones-two-admins", 3, 3, []string{"eu-west-3a", "eu-west-3b"}, []string{"203.0.113.7/32", "198.51.100.0/24"}, "", []string{"eu-west-3a", "eu-west-3b"}, false},
		{"3cp-2w-lookup-secrets", 3, 2, nil, []string{"203.0.113.7/32"}, "sre-lab/dev/", mockZones[:3], true},
		{"1cp-3w-no-admins-secrets", 1, 3, nil, nil, "sre-lab/dev/", mockZones[:3], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.Zones = tt.zones
			args.SecretsPrefix = tt.secrets
			args.AdminCIDRs = nil
			for _, a := range tt.admins {
				args.AdminCIDRs = append(args.AdminCIDRs, netip.MustParsePrefix(a))
			}
			o := mustRun(t, args, mockZones)
			z, nodes := len(tt.wantZones), tt.cp+tt.w
			want := map[string]int{
				tComponent:  1,
				tProvider:   1,
				tVpc:        1,
				tIgw:        1,
				tRouteTable: 1,
				tSubnet:     z,
				tRTAssoc:    z,
				tSG:         1,
				// VPC rule, admin CIDR x {6443, 50000}, one hairpin per node,
				// the web ingress on 30080 and 30443.
				tIngress:  1 + 2*len(tt.admins) + nodes + 2,
				tInstance: nodes,
				tLB:       1,
				// 6443, 50000, 80 and 443.
				tTG:       4,
				tListener: 4,
				// The APIs on every control plane, the web on every worker.
				tTGA:     2*tt.cp + 2*tt.w,
				tRole:    1,
				tRPA:     1,
				tProfile: 1,
				// The log bucket, private, and the nodes' access to it.
				tBucket:     1,
				tPAB:        1,
				tRolePolicy: 1,
			}
			if tt.secrets != "" {
				want[tRolePolicy]++
			}
			assert.Equal(t, want, o.m.countByType())

			var gotZones []string
			subnets := o.m.byType(tSubnet)
			sort.Slice(subnets, func(i, j int) bool {
				return fmt.Sprint(subnets[i].Inputs["cidrBlock"]) < fmt.Sprint(subnets[j].Inputs["cidrBlock"])
			})
			for _, s := range subnets {
				gotZones = append(gotZones, fmt.Sprint(s.Inputs["availabilityZone"]))
			}
			assert.Equal(t, tt.wantZones, gotZones, "subnet zones, in CIDR order")

			lookups := o.m.invokesOf(invokeZones)
			if tt.wantLookup {
				require.Len(t, lookups, 1)
				assert.Equal(t, "available", lookups[0].Args["state"])
				assert.Equal(t, []any{map[string]any{"name": "opt-in-status", "values": []any{"opt-in-not-required"}}},
					lookups[0].Args["filters"], "Local and Wavelength Zones are left out")
			} else {
				assert.Empty(t, lookups, "explicit zones must not be looked up")
			}
		})
	}
}

func TestNewNodesNoZones(t *testing.T) {
	tests := []struct {
		name    string
		zones   []string
		wantErr bool
	}{
		{"region-without-zones", nil, true},
		{"region-with-one-zone", []string{"eu-west-3a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := runNodes(t, baseArgs(1, 1), tt.zones)
			if tt.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "no available zones")
				assert.Empty(t, o.m.byType(tInstance), "no nodes without zones")
				return
			}
			require.NoError(t, err)
			assert.Len(t, o.m.byType(tSubnet), 1)
			assert.Len(t, o.m.byType(tInstance), 2)
		})
	}
}

func TestNodesRoundRobinAcrossZones(t *testing.T) {
	tests := []struct {
		name  string
		cp, w int
		zones []string
		want  map[string]string // node Name tag -> zone
	}{
		{
			name: "two-explicit-zones-3cp-3w", cp: 3, w: 3, zones: []string{"eu-west-3a", "eu-west-3b"},
			want: map[string]string{
				"dev-sre-cp-01": "eu-west-3a", "dev-sre-cp-02": "eu-west-3b", "dev-sre-cp-03": "eu-west-3a",
				"dev-sre-worker-01": "eu-west-3b", "dev-sre-worker-02": "eu-west-3a", "dev-sre-worker-03": "eu-west-3b",
			},
		},
		{
			name: "looked-up-zones-3cp-3w", cp: 3, w: 3,
			want: map[string]string{
				"dev-sre-cp-01": "eu-central-1a", "dev-sre-cp-02": "eu-central-1b", "dev-sre-cp-03": "eu-central-1c",
				"dev-sre-worker-01": "eu-central-1a", "dev-sre-worker-02": "eu-central-1b", "dev-sre-worker-03": "eu-central-1c",
			},
		},
		{
			name: "looked-up-zones-1cp-1w", cp: 1, w: 1,
			want: map[string]string{"dev-sre-cp-01": "eu-central-1a", "dev-sre-worker-01": "eu-central-1b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.Zones = tt.zones
			o := mustRun(t, args, mockZones)
			zoneOfSubnet := map[string]string{}
			for _, s := range o.m.byType(tSubnet) {
				zoneOfSubnet[idOf(s.Name)] = fmt.Sprint(s.Inputs["availabilityZone"])
			}
			got := map[string]string{}
			for _, in := range o.m.byType(tInstance) {
				subnet := fmt.Sprint(in.Inputs["subnetId"])
				zone, ok := zoneOfSubnet[subnet]
				require.True(t, ok, "%s is in unknown subnet %q", in.Name, subnet)
				got[fmt.Sprint(tag(in, "Name"))] = zone
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name        string
		env         string
		zones       []string
		wantVPC     string
		wantSubnets map[string]string // Name tag -> CIDR
		wantNodes   []string
		wantLB      string
	}{
		{
			name: "dev-looked-up-zones", env: "dev",
			wantVPC: "sre-lab-dev-vpc",
			wantSubnets: map[string]string{
				"sre-lab-dev-node-subnet-eu-central-1a": "10.0.0.0/24",
				"sre-lab-dev-node-subnet-eu-central-1b": "10.0.1.0/24",
				"sre-lab-dev-node-subnet-eu-central-1c": "10.0.2.0/24",
			},
			wantNodes: []string{"dev-sre-cp-01", "dev-sre-cp-02", "dev-sre-worker-01"},
			wantLB:    "sre-lab-dev-api",
		},
		{
			name: "staging-two-zones", env: "staging", zones: []string{"us-east-1b", "us-east-1f"},
			wantVPC: "sre-lab-staging-vpc",
			wantSubnets: map[string]string{
				"sre-lab-staging-node-subnet-us-east-1b": "10.0.0.0/24",
				"sre-lab-staging-node-subnet-us-east-1f": "10.0.1.0/24",
			},
			wantNodes: []string{"staging-sre-cp-01", "staging-sre-cp-02", "staging-sre-worker-01"},
			wantLB:    "sre-lab-staging-api",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(2, 1)
			args.Environment = tt.env
			args.Zones = tt.zones
			o := mustRun(t, args, mockZones)

			vpcs := o.m.byType(tVpc)
			require.Len(t, vpcs, 1)
			assert.Equal(t, tt.wantVPC, tag(vpcs[0], "Name"))
			assert.Equal(t, "10.0.0.0/16", vpcs[0].Inputs["cidrBlock"])

			subnets := map[string]string{}
			for _, s := range o.m.byType(tSubnet) {
				subnets[fmt.Sprint(tag(s, "Name"))] = fmt.Sprint(s.Inputs["cidrBlock"])
			}
			assert.Equal(t, tt.wantSubnets, subnets)

			var nodes []string
			for _, in := range o.m.byType(tInstance) {
				nodes = append(nodes, fmt.Sprint(tag(in, "Name")))
			}
			sort.Strings(nodes)
			assert.Equal(t, tt.wantNodes, nodes)

			lbs := o.m.byType(tLB)
			require.Len(t, lbs, 1)
			assert.Equal(t, tt.wantLB, lbs[0].Inputs["name"])
		})
	}
}

func TestChildrenParentAndProvider(t *testing.T) {
	tests := []struct {
		name    string
		region  string
		env     string
		stack   string
		zones   []string
		secrets string
	}{
		{"dev-eu-west-3", "eu-west-3", "dev", "dev", nil, ""},
		{"prod-us-east-1", "us-east-1", "prod", "prod-us", []string{"us-east-1a"}, "sre-lab/prod/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(3, 2)
			args.Region, args.Environment, args.Stack, args.Zones = tt.region, tt.env, tt.stack, tt.zones
			args.SecretsPrefix = tt.secrets
			o := mustRun(t, args, mockZones)
			require.NotEmpty(t, o.componentURN)

			providers := o.m.byType(tProvider)
			require.Len(t, providers, 1)
			p := providers[0]
			assert.Equal(t, tt.region, p.Inputs["region"])
			tags := get(p.Inputs, "defaultTags", "tags")
			if s, ok := p.Inputs["defaultTags"].(string); ok {
				// Provider inputs may reach the engine JSON-encoded.
				var dt map[string]any
				require.NoError(t, json.Unmarshal([]byte(s), &dt))
				tags = get(dt, "tags")
			}
			assert.Equal(t, map[string]any{
				"Project": "sre-lab", "Environment": tt.env, "Stack": tt.stack, "ManagedBy": "pulumi",
			}, tags)

			children := 0
			for _, r := range o.m.resources {
				if r.Type == tComponent {
					continue
				}
				children++
				assert.Equal(t, o.componentURN, r.Parent, "%s %s parent", r.Type, r.Name)
				if r.Type == tProvider && o.componentURN != "" {
					continue
				}
				assert.True(t, r.Custom, "%s %s", r.Type, r.Name)
				assert.Contains(t, r.Provider, tProvider, "%s %s provider", r.Type, r.Name)
				assert.True(t, strings.HasPrefix(r.Provider, o.providerURN+"::"),
					"%s %s uses provider %q, not the component's %q", r.Type, r.Name, r.Provider, o.providerURN)
			}
			assert.Greater(t, children, 10)

			require.NotEmpty(t, o.m.invokes)
			for _, i := range o.m.invokes {
				assert.True(t, strings.HasPrefix(i.Provider, o.providerURN+"::"),
					"invoke %s uses provider %q", i.Token, i.Provider)
			}
		})
	}
}

func TestAMILookup(t *testing.T) {
	tests := []struct {
		version    string
		wantFilter string
	}{
		{"v1.12.4", "talos-v1.12.4-*"},
		{"v1.11.6", "talos-v1.11.6-*"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			args := baseArgs(2, 2)
			args.TalosVersion = tt.version
			o := mustRun(t, args, mockZones)

			lookups := o.m.invokesOf(invokeAMI)
			require.Len(t, lookups, 1)
			a := lookups[0].Args
			assert.Equal(t, []any{"540036508848"}, a["owners"])
			assert.Equal(t, true, a["mostRecent"])
			filters := map[string][]string{}
			for _, f := range a["filters"].([]any) {
				filters[fmt.Sprint(get(f, "name"))] = strs(get(f, "values"))
			}
			assert.Equal(t, map[string][]string{
				"name":         {tt.wantFilter},
				"architecture": {"x86_64"},
			}, filters)
			assert.Equal(t, tt.wantFilter, AMIName(tt.version))

			assert.Equal(t, mockAMI, o.ami)
			instances := o.m.byType(tInstance)
			require.Len(t, instances, 4)
			for _, in := range instances {
				assert.Equal(t, mockAMI, in.Inputs["ami"], in.Name)
				assert.Equal(t, []string{"ami"}, in.IgnoreChanges, in.Name)
			}
		})
	}
}

func TestInstances(t *testing.T) {
	tests := []struct {
		name   string
		cp, w  poolSpec
		counts [2]int
	}{
		{"1cp-1w", poolSpec{"m6i.large", 40}, poolSpec{"t3.xlarge", 80}, [2]int{1, 1}},
		{"3cp-3w", poolSpec{"c7i.xlarge", 50}, poolSpec{"m7i.2xlarge", 120}, [2]int{3, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.counts[0], tt.counts[1])
			args.ControlPlane.Size, args.ControlPlane.DiskGiB = tt.cp.size, tt.cp.disk
			args.Workers.Size, args.Workers.DiskGiB = tt.w.size, tt.w.disk
			o := mustRun(t, args, mockZones)

			sgs := o.m.byType(tSG)
			require.Len(t, sgs, 1)
			sgID := idOf(sgs[0].Name)

			instances := o.m.byType(tInstance)
			require.Len(t, instances, tt.counts[0]+tt.counts[1])
			roles := map[string]int{}
			for _, in := range instances {
				role := fmt.Sprint(tag(in, "Role"))
				roles[role]++
				want := tt.w
				if role == string(infra.ControlPlane) {
					want = tt.cp
				}
				assert.Equal(t, want.size, in.Inputs["instanceType"], in.Name)
				assert.Equal(t, map[string]any{
					"volumeSize": float64(want.disk), "volumeType": "gp3", "encrypted": true,
				}, in.Inputs["rootBlockDevice"], in.Name)
				// IMDSv2 only, and two hops so pods reach it through the pod
				// network (the EBS CSI driver, External Secrets); no more.
				assert.Equal(t, map[string]any{
					"httpTokens": "required", "httpPutResponseHopLimit": float64(2),
				}, in.Inputs["metadataOptions"], in.Name)
				assert.Equal(t, true, in.Inputs["associatePublicIpAddress"], in.Name)
				assert.Equal(t, []string{sgID}, strs(in.Inputs["vpcSecurityGroupIds"]), in.Name)
			}
			assert.Equal(t, map[string]int{"controlplane": tt.counts[0], "worker": tt.counts[1]}, roles)
		})
	}
}

type poolSpec struct {
	size string
	disk int
}

// ingressRule is the part of a security group rule that decides who gets in.
type ingressRule struct {
	Protocol string
	From, To int
	CIDR     string
}

func ruleOf(r regRes) ingressRule {
	num := func(k string) int {
		f, _ := r.Inputs[k].(float64)
		return int(f)
	}
	return ingressRule{
		Protocol: fmt.Sprint(r.Inputs["ipProtocol"]),
		From:     num("fromPort"),
		To:       num("toPort"),
		CIDR:     fmt.Sprint(r.Inputs["cidrIpv4"]),
	}
}

func TestSecurityRules(t *testing.T) {
	tests := []struct {
		name    string
		network string
		admins  []string
	}{
		{"one-admin", "10.0.0.0/16", []string{"203.0.113.7/32"}},
		{"two-admins", "10.20.0.0/16", []string{"203.0.113.7/32", "198.51.100.0/24"}},
		{"open-on-purpose", "10.0.0.0/16", []string{"0.0.0.0/0"}},
		{"no-admins", "172.20.0.0/20", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(3, 2)
			args.Network = netip.MustParsePrefix(tt.network)
			args.AdminCIDRs = nil
			openOnPurpose := false
			for _, a := range tt.admins {
				args.AdminCIDRs = append(args.AdminCIDRs, netip.MustParsePrefix(a))
				openOnPurpose = openOnPurpose || a == "0.0.0.0/0"
			}
			o := mustRun(t, args, mockZones)

			sgs := o.m.byType(tSG)
			require.Len(t, sgs, 1)
			sgID := idOf(sgs[0].Name)
			assert.Nil(t, sgs[0].Inputs["ingress"], "ingress lives in separate rules only")

			publicIP := map[string]string{}
			for _, n := range o.nodes {
				publicIP[n.Name] = n.PublicIP
			}
			require.Len(t, publicIP, 5)

			var vpcRules, openRules []ingressRule
			admin, web := map[ingressRule]int{}, map[ingressRule]int{}
			hairpin := map[string]ingressRule{}
			rules := o.m.byType(tIngress)
			require.NotEmpty(t, rules)
			for _, r := range rules {
				assert.Equal(t, sgID, r.Inputs["securityGroupId"], r.Name)
				rule := ruleOf(r)
				if rule.CIDR == "0.0.0.0/0" {
					openRules = append(openRules, rule)
				}
				switch {
				case strings.Contains(r.Name, "-hairpin-"):
					node := r.Name[strings.Index(r.Name, "-hairpin-")+len("-hairpin-"):]
					_, dup := hairpin[node]
					assert.False(t, dup, "second hairpin rule for %s", node)
					hairpin[node] = rule
				case strings.Contains(r.Name, "-admin-"):
					admin[rule]++
				case strings.Contains(r.Name, "-ingress-"):
					web[rule]++
				case rule.CIDR == tt.network:
					vpcRules = append(vpcRules, rule)
				default:
					t.Errorf("unexpected ingress rule %s: %+v", r.Name, rule)
				}
			}

			// The VPC rule: every protocol from the VPC range.
			assert.Equal(t, []ingressRule{{Protocol: "-1", CIDR: tt.network}}, vpcRules)

			// Admin rules: every admin CIDR on exactly the two APIs.
			wantAdmin := map[ingressRule]int{}
			for _, a := range tt.admins {
				for _, port := range []int{6443, 50000} {
					wantAdmin[ingressRule{"tcp", port, port, a}] = 1
				}
			}
			assert.Equal(t, wantAdmin, admin)

			// The web ingress: the two ingress node ports, from anywhere
			// (the load balancer keeps the clients' addresses), once each.
			wantWeb := []ingressRule{{"tcp", 30080, 30080, "0.0.0.0/0"}, {"tcp", 30443, 30443, "0.0.0.0/0"}}
			assert.Equal(t, map[ingressRule]int{wantWeb[0]: 1, wantWeb[1]: 1}, web)

			// Open to the world: the web ingress only, plus the two APIs
			// when an admin CIDR asks for it.
			wantOpen := append([]ingressRule{}, wantWeb...)
			if openOnPurpose {
				wantOpen = append(wantOpen, ingressRule{"tcp", 6443, 6443, "0.0.0.0/0"}, ingressRule{"tcp", 50000, 50000, "0.0.0.0/0"})
			}
			assert.ElementsMatch(t, wantOpen, openRules, "ingress open to 0.0.0.0/0")

			// Hairpin: each node, only the Kubernetes API, only its own address.
			want := map[string]ingressRule{}
			for node, ip := range publicIP {
				want[node] = ingressRule{"tcp", 6443, 6443, ip + "/32"}
			}
			assert.Equal(t, want, hairpin)
		})
	}
}

// wantForwards is the load balancer the lab needs: the two APIs to the
// control planes on their own ports, web traffic to the ingress node ports
// on the workers.
var wantForwards = []struct {
	listen, target int
	role           infra.Role
}{
	{6443, 6443, infra.ControlPlane},
	{50000, 50000, infra.ControlPlane},
	{80, 30080, infra.Worker},
	{443, 30443, infra.Worker},
}

// num reads a numeric input, which reaches the mock as a float64.
func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func TestLoadBalancer(t *testing.T) {
	tests := []struct {
		name  string
		env   string
		cp, w int
		zones []string
	}{
		{"dev-1cp-1w-looked-up-zones", "dev", 1, 1, nil},
		{"dev-3cp-3w-two-zones", "dev", 3, 3, []string{"eu-west-3a", "eu-west-3b"}},
		{"staging-3cp-2w", "staging", 3, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.Environment = tt.env
			args.Zones = tt.zones
			o := mustRun(t, args, mockZones)

			lbs := o.m.byType(tLB)
			require.Len(t, lbs, 1)
			nlb := lbs[0]
			assert.Equal(t, "network", nlb.Inputs["loadBalancerType"])
			assert.Equal(t, false, nlb.Inputs["internal"])
			assert.Equal(t, true, nlb.Inputs["enableCrossZoneLoadBalancing"])
			var subnetIDs []string
			for _, s := range o.m.byType(tSubnet) {
				subnetIDs = append(subnetIDs, idOf(s.Name))
			}
			require.NotEmpty(t, subnetIDs)
			assert.ElementsMatch(t, subnetIDs, strs(nlb.Inputs["subnets"]))

			vpcs := o.m.byType(tVpc)
			require.Len(t, vpcs, 1)

			// Instances by role, in index order, checked against their tag.
			idsOf := map[infra.Role][]string{}
			for _, role := range []infra.Role{infra.ControlPlane, infra.Worker} {
				count := map[infra.Role]int{infra.ControlPlane: tt.cp, infra.Worker: tt.w}[role]
				for i := 1; i <= count; i++ {
					idsOf[role] = append(idsOf[role], idOf(fmt.Sprintf("sre-lab-dev-%s-%02d", role.Short(), i)))
				}
			}
			for _, in := range o.m.byType(tInstance) {
				role := infra.Role(fmt.Sprint(tag(in, "Role")))
				assert.Contains(t, idsOf[role], idOf(in.Name), "%s is not a %s", in.Name, role)
			}

			tgs := map[string]regRes{} // by AWS name
			for _, tg := range o.m.byType(tTG) {
				tgs[fmt.Sprint(tg.Inputs["name"])] = tg
			}
			listeners := map[int]regRes{} // by port
			for _, l := range o.m.byType(tListener) {
				port := num(l.Inputs["port"])
				_, dup := listeners[port]
				assert.False(t, dup, "two listeners on %d", port)
				listeners[port] = l
			}
			attachments := map[string]regRes{} // by resource name
			for _, a := range o.m.byType(tTGA) {
				attachments[a.Name] = a
			}
			require.Len(t, tgs, len(wantForwards))
			require.Len(t, listeners, len(wantForwards))
			require.Len(t, attachments, 2*tt.cp+2*tt.w)

			for _, f := range wantForwards {
				// The target group: named after the listener, on the target
				// port, health-checked over TCP on that port.
				tgName := fmt.Sprintf("sre-lab-%s-%d", tt.env, f.listen)
				tg, ok := tgs[tgName]
				require.True(t, ok, "no target group %s for %d", tgName, f.listen)
				assert.Equal(t, f.target, num(tg.Inputs["port"]), tgName)
				assert.Equal(t, "TCP", tg.Inputs["protocol"], tgName)
				assert.Equal(t, "instance", tg.Inputs["targetType"], tgName)
				assert.Equal(t, idOf(vpcs[0].Name), tg.Inputs["vpcId"], tgName)
				assert.Equal(t, "TCP", get(tg.Inputs, "healthCheck", "protocol"), tgName)
				assert.Equal(t, strconv.Itoa(f.target), get(tg.Inputs, "healthCheck", "port"), tgName)
				tgArn := arnOf(tg.Name)

				// The listener forwards its port to that target group.
				l, ok := listeners[f.listen]
				require.True(t, ok, "no listener on %d", f.listen)
				assert.Equal(t, "TCP", l.Inputs["protocol"], l.Name)
				assert.Equal(t, arnOf(nlb.Name), l.Inputs["loadBalancerArn"], l.Name)
				actions, _ := l.Inputs["defaultActions"].([]any)
				require.Len(t, actions, 1, l.Name)
				assert.Equal(t, "forward", get(actions[0], "type"), l.Name)
				assert.Equal(t, tgArn, get(actions[0], "targetGroupArn"), "listener on %d", f.listen)

				// Every node of the listener's role, and no other, on the
				// target port, under a stable name.
				for i, id := range idsOf[f.role] {
					name := fmt.Sprintf("sre-lab-dev-tg-%d-%s-%02d", f.listen, f.role.Short(), i+1)
					a, ok := attachments[name]
					require.True(t, ok, "no attachment %s", name)
					assert.Equal(t, tgArn, a.Inputs["targetGroupArn"], name)
					assert.Equal(t, id, a.Inputs["targetId"], name)
					assert.Equal(t, f.target, num(a.Inputs["port"]), name)
				}
			}
		})
	}
}

// TestInternetFacingWaitsForTheGateway: the load balancer and every node
// (each has a public address) wait for the gateway, the public route table
// and every subnet's association with it. Without that order AWS refuses the
// public load balancer (InvalidSubnet: the VPC has no internet gateway), and
// on destroy the gateway cannot detach while nodes still hold public
// addresses.
func TestInternetFacingWaitsForTheGateway(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cp, w int
		zones []string
	}{
		{"dev-1cp-1w-looked-up-zones", 1, 1, nil},
		{"prod-3cp-3w-two-zones", 3, 3, []string{"eu-west-3a", "eu-west-3b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := baseArgs(tc.cp, tc.w)
			args.Zones = tc.zones
			o := mustRun(t, args, mockZones)

			var path []regRes
			for _, token := range []string{tIgw, tRouteTable, tRTAssoc} {
				found := o.m.byType(token)
				require.NotEmpty(t, found, token)
				path = append(path, found...)
			}
			require.Len(t, o.m.byType(tRTAssoc), len(o.m.byType(tSubnet)), "one association per subnet")

			facing := append(o.m.byType(tLB), o.m.byType(tInstance)...)
			require.Len(t, facing, 1+tc.cp+tc.w)
			for _, r := range facing {
				for _, p := range path {
					assert.True(t, r.dependsOn(p.Type, p.Name), "%s %s does not wait for %s %s", r.Type, r.Name, p.Type, p.Name)
				}
			}
		})
	}
}

// TestInstancesRollOneAtATime: each node depends on the previous node of its
// pool and on no other node, so a size change (an in-place stop, modify,
// start) reaches one control plane and one worker at a time, while the two
// pools still proceed side by side.
func TestInstancesRollOneAtATime(t *testing.T) {
	for _, tc := range []struct{ cp, w int }{{1, 1}, {3, 3}, {3, 2}, {1, 0}} {
		t.Run(fmt.Sprintf("%dcp-%dw", tc.cp, tc.w), func(t *testing.T) {
			o := mustRun(t, baseArgs(tc.cp, tc.w), mockZones)
			instances := o.m.byType(tInstance)
			require.Len(t, instances, tc.cp+tc.w)
			want := map[string]string{} // instance -> the one instance it waits for
			for _, pool := range []struct {
				short string
				count int
			}{{infra.ControlPlane.Short(), tc.cp}, {infra.Worker.Short(), tc.w}} {
				for n := 2; n <= pool.count; n++ {
					want[fmt.Sprintf("sre-lab-dev-%s-%02d", pool.short, n)] = fmt.Sprintf("sre-lab-dev-%s-%02d", pool.short, n-1)
				}
			}
			for _, in := range instances {
				var got []string
				for _, other := range instances {
					if in.dependsOn(tInstance, other.Name) {
						got = append(got, other.Name)
					}
				}
				if prev, ok := want[in.Name]; ok {
					assert.Equal(t, []string{prev}, got, "%s waits for the previous node of its pool only", in.Name)
				} else {
					assert.Empty(t, got, "%s heads its pool's chain", in.Name)
				}
			}
		})
	}
}

func TestPlatformContract(t *testing.T) {
	tests := []struct {
		name  string
		cp, w int
		want  []nodeOut
	}{
		{"1cp-1w", 1, 1, []nodeOut{
			{Name: "dev-sre-cp-01", Role: infra.ControlPlane},
			{Name: "dev-sre-worker-01", Role: infra.Worker},
		}},
		{"3cp-3w", 3, 3, []nodeOut{
			{Name: "dev-sre-cp-01", Role: infra.ControlPlane},
			{Name: "dev-sre-cp-02", Role: infra.ControlPlane},
			{Name: "dev-sre-cp-03", Role: infra.ControlPlane},
			{Name: "dev-sre-worker-01", Role: infra.Worker},
			{Name: "dev-sre-worker-02", Role: infra.Worker},
			{Name: "dev-sre-worker-03", Role: infra.Worker},
		}},
		{"3cp-0w", 3, 0, []nodeOut{
			{Name: "dev-sre-cp-01", Role: infra.ControlPlane},
			{Name: "dev-sre-cp-02", Role: infra.ControlPlane},
			{Name: "dev-sre-cp-03", Role: infra.ControlPlane},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := mustRun(t, baseArgs(tt.cp, tt.w), mockZones)

			// The node addresses are the ones of the instance of that name.
			instanceOf := map[string]string{}
			for _, in := range o.m.byType(tInstance) {
				instanceOf[fmt.Sprint(tag(in, "Name"))] = in.Name
			}
			want := make([]nodeOut, len(tt.want))
			for i, n := range tt.want {
				res, ok := instanceOf[n.Name]
				require.True(t, ok, "no instance named %s", n.Name)
				n.PrivateIP, n.PublicIP = nodeIPs(res)
				want[i] = n
			}
			assert.Equal(t, want, o.nodes)

			lbs := o.m.byType(tLB)
			require.Len(t, lbs, 1)
			assert.Equal(t, dnsNameOf(lbs[0].Name), o.endpoint)
			assert.Equal(t, dnsNameOf(lbs[0].Name), o.ingress)
			assert.Empty(t, o.installDisk)

			vpcs := o.m.byType(tVpc)
			require.Len(t, vpcs, 1)
			assert.Equal(t, idOf(vpcs[0].Name), o.vpcID)
		})
	}
}

func TestIngressEndpoint(t *testing.T) {
	tests := []struct {
		name  string
		env   string
		cp, w int
	}{
		{"dev-1cp-1w", "dev", 1, 1},
		{"prod-3cp-3w", "prod", 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.Environment = tt.env
			o := mustRun(t, args, mockZones)

			// Web traffic arrives at the load balancer that listens on 80
			// and 443: its DNS name, the same as the API endpoint's.
			lbs := o.m.byType(tLB)
			require.Len(t, lbs, 1)
			web := map[int]bool{}
			for _, l := range o.m.byType(tListener) {
				if l.Inputs["loadBalancerArn"] == arnOf(lbs[0].Name) {
					web[num(l.Inputs["port"])] = true
				}
			}
			require.True(t, web[80] && web[443], "the load balancer does not listen on 80 and 443: %v", web)
			assert.Equal(t, dnsNameOf(lbs[0].Name), o.ingress)
			assert.Equal(t, o.endpoint, o.ingress)
			assert.Equal(t, "sre-lab-"+tt.env+"-api", lbs[0].Inputs["name"])
		})
	}
}

// policyDoc is an IAM policy document, decoded.
type policyDoc struct {
	Version   string
	Statement []map[string]any
}

func parsePolicy(t *testing.T, v any) policyDoc {
	t.Helper()
	s, ok := v.(string)
	require.True(t, ok, "policy is %T, not a JSON string", v)
	var doc policyDoc
	require.NoError(t, json.Unmarshal([]byte(s), &doc), s)
	return doc
}

// list reads a policy field that may be one string or a list of them.
func list(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	return strs(v)
}

// iamOf returns the one node role and the one instance profile of a run.
func iamOf(t *testing.T, o *outcome) (role, profile regRes) {
	t.Helper()
	roles, profiles := o.m.byType(tRole), o.m.byType(tProfile)
	require.Len(t, roles, 1, "node roles")
	require.Len(t, profiles, 1, "instance profiles")
	return roles[0], profiles[0]
}

func TestNodeRole(t *testing.T) {
	tests := []struct {
		name     string
		env      string
		secrets  string
		wantRole string
	}{
		{"dev", "dev", "", "sre-lab-dev-eu-west-3-node-role"},
		{"staging-with-secrets", "staging", "sre-lab/staging/", "sre-lab-staging-eu-west-3-node-role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(1, 2)
			args.Environment, args.SecretsPrefix = tt.env, tt.secrets
			o := mustRun(t, args, mockZones)
			role, _ := iamOf(t, o)
			assert.Equal(t, tt.wantRole, role.Inputs["name"])

			// Only EC2 may assume the role, and only by sts:AssumeRole.
			doc := parsePolicy(t, role.Inputs["assumeRolePolicy"])
			assert.Equal(t, "2012-10-17", doc.Version)
			require.Len(t, doc.Statement, 1)
			st := doc.Statement[0]
			assert.Equal(t, "Allow", st["Effect"])
			assert.Equal(t, []string{"sts:AssumeRole"}, list(st["Action"]))
			principal, ok := st["Principal"].(map[string]any)
			require.True(t, ok, "principal is %v", st["Principal"])
			assert.Len(t, principal, 1, "only a service principal: %v", principal)
			assert.Equal(t, []string{"ec2.amazonaws.com"}, list(principal["Service"]))

			// The EBS CSI driver's managed policy, on that role, and nothing
			// else managed.
			attachments := o.m.byType(tRPA)
			require.Len(t, attachments, 1)
			assert.Equal(t, EBSCSIPolicy, attachments[0].Inputs["policyArn"])
			assert.Equal(t, "arn:aws:iam::aws:policy/AmazonEBSCSIDriverPolicyV2", EBSCSIPolicy, "AWS's reference gives V2 no service-role/ path")
			assert.True(t, strings.HasPrefix(EBSCSIPolicy, "arn:aws:iam::aws:policy/"),
				"%s is not an AWS managed policy", EBSCSIPolicy)
			assert.Contains(t, EBSCSIPolicy, "AmazonEBSCSIDriverPolicy")
			assert.Equal(t, tt.wantRole, attachments[0].Inputs["role"], "attached by role name")
		})
	}
}

func TestNodeSecretsPolicy(t *testing.T) {
	tests := []struct {
		name         string
		region       string
		prefix       string
		wantResource string // empty: no inline policy
	}{
		{"no-prefix", "eu-west-3", "", ""},
		{"eu-west-3", "eu-west-3", "sre-lab/dev/", "arn:aws:secretsmanager:eu-west-3:*:secret:sre-lab/dev/*"},
		{"us-east-1", "us-east-1", "lab-", "arn:aws:secretsmanager:us-east-1:*:secret:lab-*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(1, 1)
			args.Region, args.SecretsPrefix = tt.region, tt.prefix
			o := mustRun(t, args, mockZones)
			role, _ := iamOf(t, o)

			var policies []regRes
			for _, p := range o.m.byType(tRolePolicy) {
				if strings.HasSuffix(p.Name, "-node-secrets") {
					policies = append(policies, p)
				}
			}
			if tt.wantResource == "" {
				assert.Empty(t, policies, "no secrets access without a prefix")
				return
			}
			require.Len(t, policies, 1)
			p := policies[0]
			assert.Equal(t, role.Inputs["name"], p.Inputs["role"], "on the node role, by name")

			doc := parsePolicy(t, p.Inputs["policy"])
			assert.Equal(t, "2012-10-17", doc.Version)
			require.Len(t, doc.Statement, 1)
			st := doc.Statement[0]
			assert.Equal(t, "Allow", st["Effect"])
			// Read only: exactly these two actions, no wildcards.
			assert.ElementsMatch(t, []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}, list(st["Action"]))
			assert.Equal(t, []string{tt.wantResource}, list(st["Resource"]))
			assert.NotContains(t, st, "NotAction")
			assert.NotContains(t, st, "NotResource")
		})
	}
}

// TestLogBucket: Loki's bucket is private, named for the environment,
// deletable with its logs only outside staging and prod, reachable by the
// node role for exactly the object calls Loki makes, and handed to the
// cluster through the platform contract.
func TestLogBucket(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keepLogs=%v", keep), func(t *testing.T) {
			args := baseArgs(1, 1)
			args.KeepLogs = keep
			o := mustRun(t, args, mockZones)

			buckets := o.m.byType(tBucket)
			require.Len(t, buckets, 1)
			b := buckets[0]
			assert.Equal(t, "sre-lab-"+args.Environment+"-logs-", b.Inputs["bucketPrefix"])
			assert.NotContains(t, b.Inputs, "bucket", "AWS picks a unique suffix")
			assert.Equal(t, !keep, b.Inputs["forceDestroy"])

			pabs := o.m.byType(tPAB)
			require.Len(t, pabs, 1)
			for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
				assert.Equal(t, true, pabs[0].Inputs[k], k)
			}

			role, _ := iamOf(t, o)
			var policy *regRes
			for _, p := range o.m.byType(tRolePolicy) {
				if strings.HasSuffix(p.Name, "-node-logs") {
					policy = &p
				}
			}
			require.NotNil(t, policy, "the nodes may use the bucket")
			assert.Equal(t, role.Inputs["name"], policy.Inputs["role"])
			doc := parsePolicy(t, policy.Inputs["policy"])
			require.Len(t, doc.Statement, 2)
			arn := "arn:aws:s3:::" + mockBucket
			assert.Equal(t, []string{"s3:ListBucket"}, list(doc.Statement[0]["Action"]))
			assert.Equal(t, []string{arn}, list(doc.Statement[0]["Resource"]))
			assert.ElementsMatch(t, []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, list(doc.Statement[1]["Action"]))
			assert.Equal(t, []string{arn + "/*"}, list(doc.Statement[1]["Resource"]))

			require.NotNil(t, o.logBucket)
			assert.Equal(t, "s3", o.logBucket.Type)
			assert.Equal(t, args.Region, o.logBucket.Region)
			assert.Equal(t, mockBucket, o.logBucketName)
		})
	}
}

// TestBackupBucket: etcd snapshots get their own private, versioned bucket
// with expiry, only when asked for; the nodes may add snapshots but never
// read or delete one.
func TestBackupBucket(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		o := mustRun(t, baseArgs(1, 1), mockZones)
		assert.Len(t, o.m.byType(tBucket), 1, "the log bucket only")
		assert.Empty(t, o.m.byType(tVersioning))
		for _, p := range o.m.byType(tRolePolicy) {
			assert.NotContains(t, p.Name, "etcd")
		}
	})
	t.Run("on", func(t *testing.T) {
		args := baseArgs(3, 2)
		args.EtcdBackups = true
		o := mustRun(t, args, mockZones)
		var backup *regRes
		for _, b := range o.m.byType(tBucket) {
			if b.Inputs["bucketPrefix"] == "sre-lab-dev-etcd-" {
				backup = &b
			}
		}
		require.NotNil(t, backup, "a bucket named for etcd snapshots")
		assert.NotEqual(t, true, backup.Inputs["forceDestroy"], "never deleted while it holds snapshots")
		assert.Len(t, o.m.byType(tPAB), 2, "both buckets are private")
		versioning := o.m.byType(tVersioning)
		require.Len(t, versioning, 1)
		assert.Equal(t, "Enabled", get(versioning[0].Inputs, "versioningConfiguration", "status"))
		lifecycle := o.m.byType(tLifecycle)
		require.Len(t, lifecycle, 1)
		assert.Equal(t, float64(SnapshotDays), get(lifecycle[0].Inputs, "rules", 0, "expiration", "days"))
		assert.Equal(t, float64(NoncurrentSnapshotDays), get(lifecycle[0].Inputs, "rules", 0, "noncurrentVersionExpiration", "noncurrentDays"))

		var policy *regRes
		for _, p := range o.m.byType(tRolePolicy) {
			if strings.HasSuffix(p.Name, "-node-etcd-backups") {
				policy = &p
			}
		}
		require.NotNil(t, policy)
		doc := parsePolicy(t, policy.Inputs["policy"])
		var actions []string
		for _, st := range doc.Statement {
			actions = append(actions, list(st["Action"])...)
		}
		assert.ElementsMatch(t, []string{"s3:ListBucket", "s3:PutObject"}, actions, "no read, no delete")
	})
}

func TestNodeInstanceProfile(t *testing.T) {
	tests := []struct {
		name        string
		env         string
		cp, w       int
		wantProfile string
	}{
		{"dev-1cp-1w", "dev", 1, 1, "sre-lab-dev-eu-west-3-node-profile"},
		// The resource names stay sre-lab-dev-*: the AWS name must follow
		// the environment, not the component's name.
		{"staging-3cp-2w", "staging", 3, 2, "sre-lab-staging-eu-west-3-node-profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(tt.cp, tt.w)
			args.Environment = tt.env
			o := mustRun(t, args, mockZones)
			role, profile := iamOf(t, o)
			assert.Equal(t, tt.wantProfile, profile.Inputs["name"])
			assert.Equal(t, role.Inputs["name"], profile.Inputs["role"], "the profile carries the node role, by name")

			// Every instance, of both roles, uses the profile by its name.
			instances := o.m.byType(tInstance)
			require.Len(t, instances, tt.cp+tt.w)
			for _, in := range instances {
				assert.Equal(t, tt.wantProfile, in.Inputs["iamInstanceProfile"], in.Name)
			}
		})
	}
}

func TestNodeIAMParentAndProvider(t *testing.T) {
	tests := []struct {
		name    string
		secrets string
		want    map[string]int
	}{
		// One inline policy for the log bucket, one more for secrets.
		{"without-secrets", "", map[string]int{tRole: 1, tRPA: 1, tRolePolicy: 1, tProfile: 1}},
		{"with-secrets", "sre-lab/dev/", map[string]int{tRole: 1, tRPA: 1, tRolePolicy: 2, tProfile: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := baseArgs(1, 1)
			args.SecretsPrefix = tt.secrets
			o := mustRun(t, args, mockZones)
			require.NotEmpty(t, o.componentURN)
			require.NotEmpty(t, o.providerURN)

			got := map[string]int{}
			for _, r := range o.m.resources {
				if !strings.HasPrefix(r.Type, "aws:iam/") {
					continue
				}
				got[r.Type]++
				assert.True(t, r.Custom, "%s %s", r.Type, r.Name)
				assert.Equal(t, o.componentURN, r.Parent, "%s %s parent", r.Type, r.Name)
				assert.True(t, strings.HasPrefix(r.Provider, o.providerURN+"::"),
					"%s %s uses provider %q, not the component's %q", r.Type, r.Name, r.Provider, o.providerURN)
			}
			assert.Equal(t, tt.want, got)
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := baseArgs(tc.cp, tc.w)
			args.AdminCIDRs = nil
			for _, a := range tc.admins {
				args.AdminCIDRs = append(args.AdminCIDRs, netip.MustParsePrefix(a))
			}
			o := mustRun(t, args, mockZones)
			run := infratest.Run{
				Environment:   args.Environment,
				ControlPlanes: tc.cp,
				Workers:       tc.w,
				Endpoint:      o.endpoint,
				ComponentURN:  o.componentURN,
				AdminCIDRs:    tc.admins,
			}
			for _, n := range o.nodes {
				run.Nodes = append(run.Nodes, infratest.Node{Name: n.Name, Role: n.Role, PrivateIP: n.PrivateIP, PublicIP: n.PublicIP})
			}
			for _, r := range o.m.resources {
				run.Registrations = append(run.Registrations, infratest.Registration{Type: r.Type, Name: r.Name, Parent: r.Parent})
			}
			for _, r := range o.m.byType(tIngress) {
				rule := ruleOf(r)
				if p := netip.MustParsePrefix(rule.CIDR); p.Bits() >= args.Network.Bits() && args.Network.Contains(p.Addr()) {
					continue // inside the node network
				}
				run.Rules = append(run.Rules, infratest.Rule{FromPort: rule.From, ToPort: rule.To, Source: rule.CIDR})
			}
			infratest.Check(t, run)
		})
	}
}
