package aws

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

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
	tUser       = "aws:iam/user:User"
	tUserPolicy = "aws:iam/userPolicy:UserPolicy"
	tUPA        = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
	tAccessKey  = "aws:iam/accessKey:AccessKey"
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

// newMocks answers with deterministic values, its zone lookup with zones.
func newMocks(zones []string) *pulumitest.Mocks {
	return &pulumitest.Mocks{
		Outputs: func(args pulumi.MockResourceArgs) map[string]any {
			switch args.TypeToken {
			case tInstance:
				private, public := nodeIPs(args.Name)
				return map[string]any{"privateIp": private, "publicIp": public}
			case tLB:
				return map[string]any{"dnsName": dnsNameOf(args.Name), "arn": arnOf(args.Name)}
			case tTG:
				return map[string]any{"arn": arnOf(args.Name)}
			case tBucket:
				return map[string]any{"bucket": mockBucket, "arn": "arn:aws:s3:::" + mockBucket}
			case tAccessKey:
				return map[string]any{"secret": "mock-secret-of-" + args.Name}
			case tRole, tProfile, tUser:
				// IAM names are what the program asks for; the ARN and ID differ
				// from the name, so a test notices which one a reference carries.
				kind := "role"
				switch args.TypeToken {
				case tProfile:
					kind = "instance-profile"
				case tUser:
					kind = "user"
				}
				name, _ := args.Inputs["name"].V.(string)
				if name == "" {
					name = args.Name + "-a1b2c3d" // what auto-naming would do
				}
				return map[string]any{
					"name":     name,
					"arn":      fmt.Sprintf("arn:aws:iam::%s:%s/%s", mockAccount, kind, name),
					"uniqueId": "AROA" + strings.ToUpper(strings.ReplaceAll(args.Name, "-", "")),
				}
			}
			return nil
		},
		Invokes: func(args pulumi.MockCallArgs) map[string]any {
			switch args.Token {
			case invokeZones:
				names := []any{}
				for _, z := range zones {
					names = append(names, z)
				}
				return map[string]any{"id": "eu-west-3", "names": names}
			case invokeAMI:
				return map[string]any{"id": mockAMI}
			}
			return nil
		},
	}
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
		ClusterName:  "sre-lab-dev",
	}
}

// runNodes runs NewNodes under mocks whose zone lookup answers zones; it
// looks up nothing but the zones and the AMI.
func runNodes(t *testing.T, args *Args, zones []string) (*infratest.Outcome, error) {
	t.Helper()
	o, err := infratest.RunBackend(newMocks(zones), nil, func(ctx *pulumi.Context) (infratest.Component, error) {
		nodes, err := NewNodes(ctx, "sre-lab-dev", args)
		if err != nil {
			return infratest.Component{}, err
		}
		return infratest.Component{Resource: nodes, Platform: nodes.Platform, Outputs: map[string]pulumi.Output{
			"vpcID": nodes.VpcID,
			"ami":   pulumi.String(nodes.AMI).ToStringOutput(),
		}}, nil
	})
	for _, c := range o.Mocks.Calls() {
		assert.Contains(t, []string{invokeZones, invokeAMI}, c.Token, "unexpected invoke")
	}
	return o, err
}

func mustRun(t *testing.T, args *Args, zones []string) *infratest.Outcome {
	t.Helper()
	o, err := runNodes(t, args, zones)
	require.NoError(t, err)
	return o
}

// in reads one input of a registration, nil when it is not set.
var in = infratest.Input

// callsOf are the function calls of one token a run made.
func callsOf(o *infratest.Outcome, token string) []infratest.Call {
	var out []infratest.Call
	for _, c := range o.Mocks.Calls() {
		if c.Token == token {
			out = append(out, c)
		}
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
			args.AdminCIDRs = infratest.Prefixes(tt.admins)
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
				tTGA: 2*tt.cp + 2*tt.w,
				// The log bucket, private; a user with its key for Loki,
				// another for the EBS CSI driver.
				tBucket:     1,
				tPAB:        1,
				tUser:       2,
				tUserPolicy: 1,
				tUPA:        1,
				tAccessKey:  2,
			}
			if tt.secrets != "" {
				want[tUser]++
				want[tUserPolicy]++
				want[tAccessKey]++
			}
			assert.Equal(t, want, o.Mocks.CountByType())

			var gotZones []string
			subnets := o.Mocks.ByType(tSubnet)
			sort.Slice(subnets, func(i, j int) bool {
				return fmt.Sprint(in(subnets[i], "cidrBlock")) < fmt.Sprint(in(subnets[j], "cidrBlock"))
			})
			for _, s := range subnets {
				gotZones = append(gotZones, fmt.Sprint(in(s, "availabilityZone")))
			}
			assert.Equal(t, tt.wantZones, gotZones, "subnet zones, in CIDR order")

			lookups := callsOf(o, invokeZones)
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
				assert.Empty(t, o.Mocks.ByType(tInstance), "no nodes without zones")
				return
			}
			require.NoError(t, err)
			assert.Len(t, o.Mocks.ByType(tSubnet), 1)
			assert.Len(t, o.Mocks.ByType(tInstance), 2)
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
			for _, s := range o.Mocks.ByType(tSubnet) {
				zoneOfSubnet[idOf(s.Name)] = fmt.Sprint(in(s, "availabilityZone"))
			}
			got := map[string]string{}
			for _, inst := range o.Mocks.ByType(tInstance) {
				subnet := fmt.Sprint(in(inst, "subnetId"))
				zone, ok := zoneOfSubnet[subnet]
				require.True(t, ok, "%s is in unknown subnet %q", inst.Name, subnet)
				got[fmt.Sprint(in(inst, "tags.Name"))] = zone
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

			vpcs := o.Mocks.ByType(tVpc)
			require.Len(t, vpcs, 1)
			assert.Equal(t, tt.wantVPC, in(vpcs[0], "tags.Name"))
			assert.Equal(t, "10.0.0.0/16", in(vpcs[0], "cidrBlock"))

			subnets := map[string]string{}
			for _, s := range o.Mocks.ByType(tSubnet) {
				subnets[fmt.Sprint(in(s, "tags.Name"))] = fmt.Sprint(in(s, "cidrBlock"))
			}
			assert.Equal(t, tt.wantSubnets, subnets)

			var nodes []string
			for _, inst := range o.Mocks.ByType(tInstance) {
				nodes = append(nodes, fmt.Sprint(in(inst, "tags.Name")))
			}
			sort.Strings(nodes)
			assert.Equal(t, tt.wantNodes, nodes)

			lbs := o.Mocks.ByType(tLB)
			require.Len(t, lbs, 1)
			assert.Equal(t, tt.wantLB, in(lbs[0], "name"))
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
			require.NotEmpty(t, o.ComponentURN)

			providers := o.Mocks.ByType(tProvider)
			require.Len(t, providers, 1)
			p := providers[0]
			providerURN := infratest.URN(p)
			assert.Equal(t, tt.region, in(p, "region"))
			tags := in(p, "defaultTags.tags")
			if s, ok := in(p, "defaultTags").(string); ok {
				// Provider inputs may reach the engine JSON-encoded.
				var dt map[string]any
				require.NoError(t, json.Unmarshal([]byte(s), &dt))
				tags = dt["tags"]
			}
			assert.Equal(t, map[string]any{
				"Project": "sre-lab", "Environment": tt.env, "Stack": tt.stack, "ManagedBy": "pulumi",
			}, tags)

			children := 0
			for _, r := range o.Mocks.Resources() {
				if r.Type == tComponent {
					continue
				}
				children++
				assert.Equal(t, o.ComponentURN, r.Parent, "%s %s parent", r.Type, r.Name)
				if r.Type == tProvider {
					continue
				}
				assert.True(t, o.Mocks.Custom(r), "%s %s", r.Type, r.Name)
				assert.Contains(t, r.Provider, tProvider, "%s %s provider", r.Type, r.Name)
				assert.True(t, strings.HasPrefix(r.Provider, providerURN+"::"),
					"%s %s uses provider %q, not the component's %q", r.Type, r.Name, r.Provider, providerURN)
			}
			assert.Greater(t, children, 10)

			calls := o.Mocks.Calls()
			require.NotEmpty(t, calls)
			for _, i := range calls {
				assert.True(t, strings.HasPrefix(i.Provider, providerURN+"::"),
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

			lookups := callsOf(o, invokeAMI)
			require.Len(t, lookups, 1)
			a := lookups[0].Args
			assert.Equal(t, []any{"540036508848"}, a["owners"])
			assert.Equal(t, true, a["mostRecent"])
			filters := map[string][]string{}
			for _, f := range infratest.Objects(a["filters"]) {
				filters[fmt.Sprint(f["name"])] = infratest.Strings(f["values"])
			}
			assert.Equal(t, map[string][]string{
				"name":         {tt.wantFilter},
				"architecture": {"x86_64"},
			}, filters)
			assert.Equal(t, tt.wantFilter, AMIName(tt.version))

			assert.Equal(t, mockAMI, o.Outputs["ami"])
			instances := o.Mocks.ByType(tInstance)
			require.Len(t, instances, 4)
			for _, inst := range instances {
				assert.Equal(t, mockAMI, in(inst, "ami"), inst.Name)
				assert.Equal(t, []string{"ami"}, inst.IgnoreChanges, inst.Name)
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

			sgs := o.Mocks.ByType(tSG)
			require.Len(t, sgs, 1)
			sgID := idOf(sgs[0].Name)

			instances := o.Mocks.ByType(tInstance)
			require.Len(t, instances, tt.counts[0]+tt.counts[1])
			roles := map[string]int{}
			for _, inst := range instances {
				role := fmt.Sprint(in(inst, "tags.Role"))
				roles[role]++
				want := tt.w
				if role == string(infra.ControlPlane) {
					want = tt.cp
				}
				assert.Equal(t, want.size, in(inst, "instanceType"), inst.Name)
				assert.Equal(t, map[string]any{
					"volumeSize": float64(want.disk), "volumeType": "gp3", "encrypted": true,
				}, in(inst, "rootBlockDevice"), inst.Name)
				// IMDSv2 only, and one hop: the node and host-network pods
				// reach it, a pod behind the pod network does not.
				assert.Equal(t, map[string]any{
					"httpTokens": "required", "httpPutResponseHopLimit": float64(1),
				}, in(inst, "metadataOptions"), inst.Name)
				assert.Nil(t, in(inst, "iamInstanceProfile"), "%s: no node identity for a pod to borrow", inst.Name)
				assert.Equal(t, true, in(inst, "associatePublicIpAddress"), inst.Name)
				assert.Equal(t, []string{sgID}, infratest.Strings(in(inst, "vpcSecurityGroupIds")), inst.Name)
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

func ruleOf(r pulumitest.Resource) ingressRule {
	return ingressRule{
		Protocol: fmt.Sprint(in(r, "ipProtocol")),
		From:     infratest.Number(in(r, "fromPort")),
		To:       infratest.Number(in(r, "toPort")),
		CIDR:     fmt.Sprint(in(r, "cidrIpv4")),
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
			args.AdminCIDRs = infratest.Prefixes(tt.admins)
			openOnPurpose := slices.Contains(tt.admins, "0.0.0.0/0")
			o := mustRun(t, args, mockZones)

			sgs := o.Mocks.ByType(tSG)
			require.Len(t, sgs, 1)
			sgID := idOf(sgs[0].Name)
			assert.Nil(t, in(sgs[0], "ingress"), "ingress lives in separate rules only")

			publicIP := map[string]string{}
			for _, n := range o.Nodes {
				publicIP[n.Name] = n.PublicIP
			}
			require.Len(t, publicIP, 5)

			var vpcRules, openRules []ingressRule
			admin, web := map[ingressRule]int{}, map[ingressRule]int{}
			hairpin := map[string]ingressRule{}
			rules := o.Mocks.ByType(tIngress)
			require.NotEmpty(t, rules)
			for _, r := range rules {
				assert.Equal(t, sgID, in(r, "securityGroupId"), r.Name)
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

			lbs := o.Mocks.ByType(tLB)
			require.Len(t, lbs, 1)
			nlb := lbs[0]
			assert.Equal(t, "network", in(nlb, "loadBalancerType"))
			assert.Equal(t, false, in(nlb, "internal"))
			assert.Equal(t, true, in(nlb, "enableCrossZoneLoadBalancing"))
			var subnetIDs []string
			for _, s := range o.Mocks.ByType(tSubnet) {
				subnetIDs = append(subnetIDs, idOf(s.Name))
			}
			require.NotEmpty(t, subnetIDs)
			assert.ElementsMatch(t, subnetIDs, infratest.Strings(in(nlb, "subnets")))

			vpcs := o.Mocks.ByType(tVpc)
			require.Len(t, vpcs, 1)

			// Instances by role, in index order, checked against their tag.
			idsOf := map[infra.Role][]string{}
			for _, role := range []infra.Role{infra.ControlPlane, infra.Worker} {
				count := map[infra.Role]int{infra.ControlPlane: tt.cp, infra.Worker: tt.w}[role]
				for i := 1; i <= count; i++ {
					idsOf[role] = append(idsOf[role], idOf(fmt.Sprintf("sre-lab-dev-%s-%02d", role.Short(), i)))
				}
			}
			for _, inst := range o.Mocks.ByType(tInstance) {
				role := infra.Role(fmt.Sprint(in(inst, "tags.Role")))
				assert.Contains(t, idsOf[role], idOf(inst.Name), "%s is not a %s", inst.Name, role)
			}

			tgs := map[string]pulumitest.Resource{} // by AWS name
			for _, tg := range o.Mocks.ByType(tTG) {
				tgs[fmt.Sprint(in(tg, "name"))] = tg
			}
			listeners := map[int]pulumitest.Resource{} // by port
			for _, l := range o.Mocks.ByType(tListener) {
				port := infratest.Number(in(l, "port"))
				_, dup := listeners[port]
				assert.False(t, dup, "two listeners on %d", port)
				listeners[port] = l
			}
			attachments := map[string]pulumitest.Resource{} // by resource name
			for _, a := range o.Mocks.ByType(tTGA) {
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
				assert.Equal(t, f.target, infratest.Number(in(tg, "port")), tgName)
				assert.Equal(t, "TCP", in(tg, "protocol"), tgName)
				assert.Equal(t, "instance", in(tg, "targetType"), tgName)
				assert.Equal(t, idOf(vpcs[0].Name), in(tg, "vpcId"), tgName)
				assert.Equal(t, "TCP", in(tg, "healthCheck.protocol"), tgName)
				assert.Equal(t, strconv.Itoa(f.target), in(tg, "healthCheck.port"), tgName)
				tgArn := arnOf(tg.Name)

				// The listener forwards its port to that target group.
				l, ok := listeners[f.listen]
				require.True(t, ok, "no listener on %d", f.listen)
				assert.Equal(t, "TCP", in(l, "protocol"), l.Name)
				assert.Equal(t, arnOf(nlb.Name), in(l, "loadBalancerArn"), l.Name)
				actions := infratest.Objects(in(l, "defaultActions"))
				require.Len(t, actions, 1, l.Name)
				assert.Equal(t, "forward", actions[0]["type"], l.Name)
				assert.Equal(t, tgArn, actions[0]["targetGroupArn"], "listener on %d", f.listen)

				// Every node of the listener's role, and no other, on the
				// target port, under a stable name.
				for i, id := range idsOf[f.role] {
					name := fmt.Sprintf("sre-lab-dev-tg-%d-%s-%02d", f.listen, f.role.Short(), i+1)
					a, ok := attachments[name]
					require.True(t, ok, "no attachment %s", name)
					assert.Equal(t, tgArn, in(a, "targetGroupArn"), name)
					assert.Equal(t, id, in(a, "targetId"), name)
					assert.Equal(t, f.target, infratest.Number(in(a, "port")), name)
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

			var path []pulumitest.Resource
			for _, token := range []string{tIgw, tRouteTable, tRTAssoc} {
				found := o.Mocks.ByType(token)
				require.NotEmpty(t, found, token)
				path = append(path, found...)
			}
			require.Len(t, o.Mocks.ByType(tRTAssoc), len(o.Mocks.ByType(tSubnet)), "one association per subnet")

			facing := append(o.Mocks.ByType(tLB), o.Mocks.ByType(tInstance)...)
			require.Len(t, facing, 1+tc.cp+tc.w)
			for _, r := range facing {
				for _, p := range path {
					assert.True(t, r.DependsOn(p.Type, p.Name), "%s %s does not wait for %s %s", r.Type, r.Name, p.Type, p.Name)
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
			require.Len(t, o.Mocks.ByType(tInstance), tc.cp+tc.w)
			infratest.CheckRolling(t, o.Contract())
		})
	}
}

func TestPlatformContract(t *testing.T) {
	tests := []struct {
		name  string
		cp, w int
		want  []infratest.Node
	}{
		{"1cp-1w", 1, 1, []infratest.Node{
			{Name: "dev-sre-cp-01", Role: infra.ControlPlane},
			{Name: "dev-sre-worker-01", Role: infra.Worker},
		}},
		{"3cp-3w", 3, 3, []infratest.Node{
			{Name: "dev-sre-cp-01", Role: infra.ControlPlane},
			{Name: "dev-sre-cp-02", Role: infra.ControlPlane},
			{Name: "dev-sre-cp-03", Role: infra.ControlPlane},
			{Name: "dev-sre-worker-01", Role: infra.Worker},
			{Name: "dev-sre-worker-02", Role: infra.Worker},
			{Name: "dev-sre-worker-03", Role: infra.Worker},
		}},
		{"3cp-0w", 3, 0, []infratest.Node{
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
			for _, inst := range o.Mocks.ByType(tInstance) {
				instanceOf[fmt.Sprint(in(inst, "tags.Name"))] = inst.Name
			}
			want := make([]infratest.Node, len(tt.want))
			for i, n := range tt.want {
				res, ok := instanceOf[n.Name]
				require.True(t, ok, "no instance named %s", n.Name)
				n.PrivateIP, n.PublicIP = nodeIPs(res)
				want[i] = n
			}
			assert.Equal(t, want, o.Nodes)

			lbs := o.Mocks.ByType(tLB)
			require.Len(t, lbs, 1)
			assert.Equal(t, dnsNameOf(lbs[0].Name), o.Endpoint)
			assert.Equal(t, dnsNameOf(lbs[0].Name), o.Ingress)
			assert.Empty(t, o.Platform.InstallDisk)

			vpcs := o.Mocks.ByType(tVpc)
			require.Len(t, vpcs, 1)
			assert.Equal(t, idOf(vpcs[0].Name), o.Outputs["vpcID"])
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
			lbs := o.Mocks.ByType(tLB)
			require.Len(t, lbs, 1)
			web := map[int]bool{}
			for _, l := range o.Mocks.ByType(tListener) {
				if in(l, "loadBalancerArn") == arnOf(lbs[0].Name) {
					web[infratest.Number(in(l, "port"))] = true
				}
			}
			require.True(t, web[80] && web[443], "the load balancer does not listen on 80 and 443: %v", web)
			assert.Equal(t, dnsNameOf(lbs[0].Name), o.Ingress)
			assert.Equal(t, o.Endpoint, o.Ingress)
			assert.Equal(t, "sre-lab-"+tt.env+"-api", in(lbs[0], "name"))
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
	return infratest.Strings(v)
}

// userOf returns the user of a workload and the one policy granted to it:
// an inline policy document, or the ARN of an attached managed one.
func userOf(t *testing.T, o *infratest.Outcome, workload string) (user pulumitest.Resource, policy policyDoc, managed string) {
	t.Helper()
	var users []pulumitest.Resource
	for _, u := range o.Mocks.ByType(tUser) {
		if strings.HasSuffix(u.Name, "-"+workload) {
			users = append(users, u)
		}
	}
	require.Len(t, users, 1, "one user for %s", workload)
	user = users[0]
	for _, p := range o.Mocks.ByType(tUserPolicy) {
		if p.Name == user.Name {
			assert.Equal(t, in(user, "name"), in(p, "user"), "granted to the user, by name")
			policy = parsePolicy(t, in(p, "policy"))
		}
	}
	for _, a := range o.Mocks.ByType(tUPA) {
		if a.Name == user.Name {
			assert.Equal(t, in(user, "name"), in(a, "user"), "attached to the user, by name")
			managed = fmt.Sprint(in(a, "policyArn"))
		}
	}
	return user, policy, managed
}

// actions splits a policy's actions by effect; no statement may use
// NotAction or NotResource, which grant everything they do not name.
func actions(t *testing.T, doc policyDoc) (allowed, denied []string) {
	t.Helper()
	for _, st := range doc.Statement {
		assert.NotContains(t, st, "NotAction")
		assert.NotContains(t, st, "NotResource")
		if st["Effect"] == "Deny" {
			denied = append(denied, list(st["Action"])...)
		} else {
			allowed = append(allowed, list(st["Action"])...)
		}
	}
	return allowed, denied
}

// TestNoNodeIdentity: the nodes carry no IAM identity at all, so a pod has
// nothing to borrow, and the instance metadata's token answer stops at the
// node's own network namespace.
func TestNoNodeIdentity(t *testing.T) {
	args := baseArgs(3, 2)
	args.SecretsPrefix, args.EtcdBackups = "sre-lab/dev/", true
	o := mustRun(t, args, mockZones)
	for _, token := range []string{tRole, tRPA, tRolePolicy, tProfile} {
		assert.Empty(t, o.Mocks.ByType(token), "%s: the nodes need no AWS identity", token)
	}
	instances := o.Mocks.ByType(tInstance)
	require.Len(t, instances, 5)
	for _, inst := range instances {
		assert.Nil(t, in(inst, "iamInstanceProfile"), inst.Name)
		assert.Equal(t, float64(1), in(inst, "metadataOptions.httpPutResponseHopLimit"), inst.Name)
		assert.Equal(t, "required", in(inst, "metadataOptions.httpTokens"), inst.Name)
	}
	assert.Equal(t, 1, MetadataHopLimit)
}

// handedKey is a key as the platform hands it out, each half awaited, and
// whether the secret half is a Pulumi secret.
type handedKey struct {
	ID           string
	SecretIsHeld bool
	Secret       string
}

// runKeys runs NewNodes and returns, by workload, the keys it handed out.
func runKeys(t *testing.T, args *Args) (*infratest.Outcome, map[string]handedKey) {
	t.Helper()
	keys := map[string]handedKey{}
	o, err := infratest.RunBackend(newMocks(mockZones), nil, func(ctx *pulumi.Context) (infratest.Component, error) {
		nodes, err := NewNodes(ctx, "sre-lab-dev", args)
		if err != nil {
			return infratest.Component{}, err
		}
		p := nodes.Platform
		byWorkload := map[string]*infra.AccessKey{VolumeWorkload: p.VolumeKey, LogWorkload: p.LogBucket.Key, SecretsWorkload: p.SecretsKey}
		if p.BackupBucket != nil {
			byWorkload[BackupWorkload] = p.BackupBucket.Key
		}
		for workload, key := range byWorkload {
			if key == nil {
				continue
			}
			id, err := pulumitest.Await(ctx, key.ID)
			if err != nil {
				return infratest.Component{}, err
			}
			secret, err := pulumitest.Await(ctx, key.Secret)
			if err != nil {
				return infratest.Component{}, err
			}
			keys[workload] = handedKey{ID: fmt.Sprint(id.Value), SecretIsHeld: secret.Secret, Secret: fmt.Sprint(secret.Value)}
		}
		return infratest.Component{Resource: nodes, Platform: p}, nil
	})
	require.NoError(t, err)
	return o, keys
}

// TestWorkloadUsers: each workload that calls AWS has a user of its own,
// named for the environment, region and workload under /sre-lab/, allowed
// exactly what that workload does, and one access key that waits for the
// grant; the platform hands each key to its workload, the secret half a
// Pulumi secret.
func TestWorkloadUsers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		secrets string
		backups bool
		want    []string
	}{
		{"dev", "", false, []string{VolumeWorkload, LogWorkload}},
		{"with everything", "sre-lab/staging/", true, []string{VolumeWorkload, LogWorkload, BackupWorkload, SecretsWorkload}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := baseArgs(1, 1)
			args.Environment, args.SecretsPrefix, args.EtcdBackups = "staging", tc.secrets, tc.backups
			o, keys := runKeys(t, args)
			require.Len(t, o.Mocks.ByType(tUser), len(tc.want))
			require.Len(t, o.Mocks.ByType(tAccessKey), len(tc.want))
			assert.Len(t, keys, len(tc.want), "every key reaches the platform")
			for _, workload := range tc.want {
				user, policy, managed := userOf(t, o, workload)
				assert.Equal(t, "sre-lab-staging-eu-west-3-"+workload, in(user, "name"))
				assert.Equal(t, "/sre-lab/", in(user, "path"))
				assert.LessOrEqual(t, len(fmt.Sprint(in(user, "name"))), 64, "IAM user names are at most 64 characters")

				var key *pulumitest.Resource
				for _, k := range o.Mocks.ByType(tAccessKey) {
					if k.Name == user.Name {
						key = &k
					}
				}
				require.NotNil(t, key, "a key for %s", workload)
				assert.Equal(t, in(user, "name"), in(*key, "user"))
				grant := tUserPolicy
				if workload == VolumeWorkload {
					grant = tUPA
				}
				assert.True(t, key.DependsOn(grant, user.Name), "the %s key waits for its grant", workload)

				handed := keys[workload]
				assert.Equal(t, idOf(key.Name), handed.ID, "%s gets its own key", workload)
				assert.Equal(t, "mock-secret-of-"+key.Name, handed.Secret)
				assert.True(t, handed.SecretIsHeld, "the secret half of the %s key stays a Pulumi secret", workload)

				allowed, denied := actions(t, policy)
				switch workload {
				case VolumeWorkload:
					assert.Equal(t, EBSCSIPolicy, managed)
					assert.Empty(t, policy.Statement, "the managed policy only")
				case LogWorkload:
					arn := "arn:aws:s3:::" + mockBucket
					assert.Empty(t, managed)
					assert.ElementsMatch(t, []string{"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, allowed)
					assert.Equal(t, []string{arn}, list(policy.Statement[0]["Resource"]))
					assert.Equal(t, []string{arn + "/*"}, list(policy.Statement[1]["Resource"]))
				case BackupWorkload:
					assert.Empty(t, managed)
					assert.ElementsMatch(t, []string{"s3:PutObject", "s3:AbortMultipartUpload"}, allowed, "put only: no list, read or delete")
					assert.Contains(t, denied, "s3:DeleteObjectVersion")
				case SecretsWorkload:
					assert.Empty(t, managed)
					assert.ElementsMatch(t, []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}, allowed)
					assert.Equal(t, []string{"arn:aws:secretsmanager:eu-west-3:*:secret:sre-lab/staging/*"}, list(policy.Statement[0]["Resource"]))
				}
			}
			assert.Equal(t, tc.secrets != "", keys[SecretsWorkload].ID != "", "a secrets key only with a prefix")
		})
	}
}

// TestWorkloadUsersParentAndProvider: every IAM resource is the
// component's child and uses its provider.
func TestWorkloadUsersParentAndProvider(t *testing.T) {
	args := baseArgs(1, 1)
	args.SecretsPrefix, args.EtcdBackups = "sre-lab/dev/", true
	o := mustRun(t, args, mockZones)
	providers := o.Mocks.ByType(tProvider)
	require.Len(t, providers, 1)
	providerURN := infratest.URN(providers[0])
	got := map[string]int{}
	for _, r := range o.Mocks.Resources() {
		if !strings.HasPrefix(r.Type, "aws:iam/") {
			continue
		}
		got[r.Type]++
		assert.Equal(t, o.ComponentURN, r.Parent, "%s %s parent", r.Type, r.Name)
		assert.True(t, strings.HasPrefix(r.Provider, providerURN+"::"), "%s %s provider", r.Type, r.Name)
	}
	assert.Equal(t, map[string]int{tUser: 4, tUserPolicy: 3, tUPA: 1, tAccessKey: 4}, got)
}

// TestBackupBucketPolicy: the snapshot job may put under its prefix and
// nowhere else; what would destroy a snapshot is denied on the whole
// bucket; a missing prefix is refused, not widened to the bucket.
func TestBackupBucketPolicy(t *testing.T) {
	arn := "arn:aws:s3:::sre-lab-prod-etcd-abc"
	raw, err := BackupBucketPolicy(arn, "sre-lab-prod")
	require.NoError(t, err)
	doc := parsePolicy(t, raw)
	for _, st := range doc.Statement {
		if st["Effect"] == "Allow" {
			assert.Equal(t, []string{arn + "/sre-lab-prod/*"}, list(st["Resource"]), "only under the prefix")
			assert.NotContains(t, list(st["Action"]), "s3:ListBucket")
		} else {
			assert.ElementsMatch(t, []string{arn, arn + "/*"}, list(st["Resource"]))
		}
	}
	_, err = BackupBucketPolicy(arn, "")
	assert.Error(t, err)

	args := baseArgs(1, 1)
	args.EtcdBackups, args.ClusterName = true, ""
	_, err = runNodes(t, args, mockZones)
	assert.ErrorContains(t, err, "cluster name")
}

// TestLogBucket: Loki's bucket is private, named for the environment,
// deletable with its logs only outside staging and prod, reachable by
// Loki's own user for exactly the object calls Loki makes, and handed to
// the cluster, with that user's key, through the platform contract.
func TestLogBucket(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keepLogs=%v", keep), func(t *testing.T) {
			args := baseArgs(1, 1)
			args.KeepLogs = keep
			o := mustRun(t, args, mockZones)

			buckets := o.Mocks.ByType(tBucket)
			require.Len(t, buckets, 1)
			b := buckets[0]
			assert.Equal(t, "sre-lab-"+args.Environment+"-logs-", in(b, "bucketPrefix"))
			_, named := b.At("bucket")
			assert.False(t, named, "AWS picks a unique suffix")
			assert.Equal(t, !keep, in(b, "forceDestroy"))

			pabs := o.Mocks.ByType(tPAB)
			require.Len(t, pabs, 1)
			for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
				assert.Equal(t, true, in(pabs[0], k), k)
			}

			_, doc, _ := userOf(t, o, LogWorkload)
			require.Len(t, doc.Statement, 2, "Loki's user may use the bucket")
			arn := "arn:aws:s3:::" + mockBucket
			assert.Equal(t, []string{"s3:ListBucket"}, list(doc.Statement[0]["Action"]))
			assert.Equal(t, []string{arn}, list(doc.Statement[0]["Resource"]))
			assert.ElementsMatch(t, []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, list(doc.Statement[1]["Action"]))
			assert.Equal(t, []string{arn + "/*"}, list(doc.Statement[1]["Resource"]))

			require.NotNil(t, o.Platform.LogBucket)
			assert.NotNil(t, o.Platform.LogBucket.Key, "Loki's own key comes with the bucket")
			assert.Equal(t, "s3", o.Platform.LogBucket.Type)
			assert.Equal(t, args.Region, o.Platform.LogBucket.Region)
			assert.Equal(t, mockBucket, o.LogBucket)
		})
	}
}

// TestBackupBucket: etcd snapshots get their own private, versioned bucket,
// only when asked for, whose lifecycle archives but never expires them, so
// the newest are kept however long the cluster is down; the snapshot job's
// user may add snapshots under the cluster's prefix but never list, read,
// delete or unversion them.
func TestBackupBucket(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		o := mustRun(t, baseArgs(1, 1), mockZones)
		assert.Len(t, o.Mocks.ByType(tBucket), 1, "the log bucket only")
		assert.Empty(t, o.Mocks.ByType(tVersioning))
		for _, p := range o.Mocks.ByType(tUser) {
			assert.NotContains(t, p.Name, "etcd")
		}
		assert.Nil(t, o.Platform.BackupBucket)
	})
	t.Run("on", func(t *testing.T) {
		args := baseArgs(3, 2)
		args.EtcdBackups = true
		o := mustRun(t, args, mockZones)
		var backup *pulumitest.Resource
		for _, b := range o.Mocks.ByType(tBucket) {
			if in(b, "bucketPrefix") == "sre-lab-dev-etcd-" {
				backup = &b
			}
		}
		require.NotNil(t, backup, "a bucket named for etcd snapshots")
		assert.NotEqual(t, true, in(*backup, "forceDestroy"), "never deleted while it holds snapshots")
		assert.Len(t, o.Mocks.ByType(tPAB), 2, "both buckets are private")
		versioning := o.Mocks.ByType(tVersioning)
		require.Len(t, versioning, 1)
		assert.Equal(t, "Enabled", in(versioning[0], "versioningConfiguration.status"))
		lifecycle := o.Mocks.ByType(tLifecycle)
		require.Len(t, lifecycle, 1)
		rules, _ := lifecycle[0].At("rules")
		require.Len(t, rules, 1)
		rule := rules.([]any)[0].(map[string]any)
		assert.NotContains(t, rule, "expiration", "a date-based expiry would take the newest snapshots of a cluster down that long")
		assert.NotContains(t, rule, "noncurrentVersionExpiration", "an overwritten snapshot stays as a noncurrent version")
		assert.Equal(t, float64(SnapshotArchiveDays), in(lifecycle[0], "rules.0.transitions.0.days"))
		assert.Equal(t, "GLACIER_IR", in(lifecycle[0], "rules.0.transitions.0.storageClass"), "archived, still restorable at once")

		_, doc, _ := userOf(t, o, BackupWorkload)
		allowed, denied := actions(t, doc)
		assert.ElementsMatch(t, []string{"s3:PutObject", "s3:AbortMultipartUpload"}, allowed, "no list, no read, no delete")
		for _, st := range doc.Statement {
			if st["Effect"] == "Allow" {
				assert.Equal(t, []string{"arn:aws:s3:::" + mockBucket + "/" + args.ClusterName + "/*"}, list(st["Resource"]),
					"only under the prefix talos-backup writes to")
			}
		}
		require.NotNil(t, o.Platform.BackupBucket)
		assert.NotNil(t, o.Platform.BackupBucket.Key, "the snapshot job's own key comes with the bucket")
		for _, action := range []string{"s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutBucketVersioning", "s3:PutLifecycleConfiguration"} {
			assert.Contains(t, denied, action, "denied, whatever else the role is given")
		}
	})
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
			args.AdminCIDRs = infratest.Prefixes(tc.admins)
			o := mustRun(t, args, mockZones)
			run := o.Contract()
			run.Environment, run.ControlPlanes, run.Workers = args.Environment, tc.cp, tc.w
			run.AdminCIDRs = tc.admins
			for _, r := range o.Mocks.ByType(tIngress) {
				rule := ruleOf(r)
				if p := netip.MustParsePrefix(rule.CIDR); p.Bits() >= args.Network.Bits() && args.Network.Contains(p.Addr()) {
					continue // inside the node network
				}
				run.Rules = append(run.Rules, infratest.Rule{FromPort: rule.From, ToPort: rule.To, Source: rule.CIDR})
			}
			infratest.Check(t, run)
			infratest.CheckRolling(t, run)
		})
	}
}
