// Package aws is the AWS backend: a VPC with one public subnet per zone,
// Talos nodes from the official Talos AMI, and a network load balancer in
// front of the control planes for the Kubernetes and Talos APIs.
package aws

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
)

// Token is the component's type token.
const Token = "sre-lab:infra:AWSNodes"

// TalosAMIOwner is Sidero Labs' AWS account, which publishes the official
// Talos AMIs in every public region.
const TalosAMIOwner = "540036508848"

// DefaultZones is how many availability zones nodes spread across when the
// user names none.
const DefaultZones = 3

// Args shapes the AWS lab.
type Args struct {
	// Environment names resources: sre-lab-{env}-vpc, {env}-sre-cp-01.
	Environment string
	// Stack is recorded in tags.
	Stack string
	// Region is where everything is created.
	Region string
	// Zones to spread nodes across; empty picks the first DefaultZones
	// available ones.
	Zones []string
	// ControlPlane and Workers are the pools; Size is an instance type.
	ControlPlane config.NodePool
	Workers      config.NodePool
	// Network is the VPC range; subnet i is its i-th /24.
	Network netip.Prefix
	// AdminCIDRs may reach the Kubernetes and Talos APIs.
	AdminCIDRs []netip.Prefix
	// TalosVersion selects the AMI.
	TalosVersion string
	// SecretsPrefix, when set, makes External Secrets a user that may read
	// the AWS Secrets Manager secrets whose names start with it.
	SecretsPrefix string
	// ClusterName is the key prefix etcd snapshots go under (talos-backup
	// writes <ClusterName>/<file> when its S3_PREFIX is the cluster name):
	// the snapshot job's user may write there and nowhere else. Required
	// with EtcdBackups.
	ClusterName string
	// KeepLogs refuses to delete the log bucket while it holds logs, so
	// destroying a staging or prod stack never takes its logs with it.
	KeepLogs bool
	// EtcdBackups creates the bucket etcd snapshots go to.
	EtcdBackups bool
}

// Nodes is the `sre-lab:infra:AWSNodes` component.
type Nodes struct {
	pulumi.ResourceState

	// Platform is the backend contract.
	Platform infra.Platform
	// VpcID is the lab's VPC.
	VpcID pulumi.IDOutput
	// AMI is the Talos image the nodes booted from.
	AMI string
}

// Tags are on every resource, through the provider's default tags.
func Tags(args *Args) map[string]string {
	return map[string]string{
		"Project":     "sre-lab",
		"Environment": args.Environment,
		"Stack":       args.Stack,
		"ManagedBy":   "pulumi",
	}
}

// AMIName is the name pattern of the official Talos AMI of a version.
func AMIName(talosVersion string) string {
	return fmt.Sprintf("talos-%s-*", talosVersion)
}

// Subnet returns the i-th /24 of the VPC range.
func Subnet(network netip.Prefix, i int) netip.Prefix {
	b := network.Masked().Addr().As4()
	n := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8) + uint32(i)<<8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), 0}), 24)
}

// NewNodes creates the network, the nodes and the load balancer.
func NewNodes(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Nodes, error) {
	if args.EtcdBackups && args.ClusterName == "" {
		return nil, fmt.Errorf("aws: etcd backups need the cluster name, the only prefix the snapshot job may write")
	}
	component := &Nodes{}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)
	provider, err := aws.NewProvider(ctx, name+"-aws", &aws.ProviderArgs{
		Region:      pulumi.String(args.Region),
		DefaultTags: &aws.ProviderDefaultTagsArgs{Tags: pulumi.ToStringMap(Tags(args))},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("aws provider: %w", err)
	}
	in := []pulumi.ResourceOption{parent, pulumi.Provider(provider)}
	invoke := pulumi.Provider(provider)

	zones := args.Zones
	if len(zones) == 0 {
		// Only the region's own zones: Local and Wavelength Zones are opt-in
		// and lack the instance types and load balancers the lab needs.
		found, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
			State: pulumi.StringRef("available"),
			Filters: []aws.GetAvailabilityZonesFilter{
				{Name: "opt-in-status", Values: []string{"opt-in-not-required"}},
			},
		}, invoke)
		if err != nil {
			return nil, fmt.Errorf("aws zones of %s: %w", args.Region, err)
		}
		zones = found.Names[:min(DefaultZones, len(found.Names))]
	}
	if len(zones) == 0 {
		return nil, fmt.Errorf("aws: region %s has no available zones", args.Region)
	}
	ami, err := ec2.LookupAmi(ctx, &ec2.LookupAmiArgs{
		Owners:     []string{TalosAMIOwner},
		MostRecent: pulumi.BoolRef(true),
		Filters: []ec2.GetAmiFilter{
			{Name: "name", Values: []string{AMIName(args.TalosVersion)}},
			{Name: "architecture", Values: []string{"x86_64"}},
		},
	}, invoke)
	if err != nil {
		return nil, fmt.Errorf("talos %s ami in %s: %w", args.TalosVersion, args.Region, err)
	}
	component.AMI = ami.Id

	net, err := newNetwork(ctx, name, args, zones, in)
	if err != nil {
		return nil, fmt.Errorf("aws network: %w", err)
	}
	component.VpcID = net.vpc.ID()

	bucket, err := newLogBucket(ctx, name, args, in)
	if err != nil {
		return nil, fmt.Errorf("aws log bucket: %w", err)
	}
	component.Platform.LogBucket = &infra.Bucket{Type: "s3", Name: bucket.Bucket, Region: args.Region}

	var backups *s3.BucketV2
	if args.EtcdBackups {
		if backups, err = newBackupBucket(ctx, name, args, in); err != nil {
			return nil, fmt.Errorf("aws etcd backup bucket: %w", err)
		}
		component.Platform.BackupBucket = &infra.Bucket{Type: "s3", Name: backups.Bucket, Region: args.Region}
	}

	if err := newWorkloadKeys(ctx, name, args, bucket, backups, &component.Platform, in); err != nil {
		return nil, fmt.Errorf("aws workload keys: %w", err)
	}
	var controlPlanes, workers []*ec2.Instance
	i := 0
	for _, pool := range []struct {
		role infra.Role
		pool config.NodePool
	}{{infra.ControlPlane, args.ControlPlane}, {infra.Worker, args.Workers}} {
		// previous chains the pool's nodes: see rollOneAtATime.
		var previous *ec2.Instance
		for n := 1; n <= pool.pool.Count; n++ {
			nodeName := infra.CloudNodeName(args.Environment, pool.role, n)
			instance, err := ec2.NewInstance(ctx, fmt.Sprintf("%s-%s-%02d", name, pool.role.Short(), n), &ec2.InstanceArgs{
				Ami:                      pulumi.String(ami.Id),
				InstanceType:             pulumi.String(pool.pool.Size),
				SubnetId:                 net.subnets[i%len(net.subnets)].ID(),
				VpcSecurityGroupIds:      pulumi.StringArray{net.nodes.ID()},
				AssociatePublicIpAddress: pulumi.Bool(true),
				// No instance profile: nothing on the node calls AWS (Talos
				// and the EBS CSI node plugin only read instance metadata),
				// so there is no node identity for a pod to borrow.
				RootBlockDevice: &ec2.InstanceRootBlockDeviceArgs{
					VolumeSize: pulumi.Int(pool.pool.DiskGiB),
					VolumeType: pulumi.String("gp3"),
					Encrypted:  pulumi.Bool(true),
				},
				// IMDSv2 only, and its token answer dies after one hop: it
				// reaches Talos and host-network pods (the EBS CSI node
				// plugin) but not a pod behind the pod network, so an
				// ordinary pod learns nothing about the instance.
				MetadataOptions: &ec2.InstanceMetadataOptionsArgs{
					HttpTokens:              pulumi.String("required"),
					HttpPutResponseHopLimit: pulumi.Int(MetadataHopLimit),
				},
				Tags: pulumi.StringMap{"Name": pulumi.String(nodeName), "Role": pulumi.String(string(pool.role))},
			}, append(in,
				// A new Talos version reaches running nodes by upgrade, not by
				// replacing them; only new nodes boot the new AMI.
				pulumi.IgnoreChanges([]string{"ami"}),
				pulumi.DependsOn(rollOneAtATime(net.internet, previous)))...)
			if err != nil {
				return nil, fmt.Errorf("aws instance %s: %w", nodeName, err)
			}
			previous = instance
			i++
			if pool.role == infra.ControlPlane {
				controlPlanes = append(controlPlanes, instance)
			} else {
				workers = append(workers, instance)
			}
			if err := allowHairpin(ctx, name, nodeName, net, instance, in); err != nil {
				return nil, err
			}
			component.Platform.Nodes = append(component.Platform.Nodes, infra.Node{
				Name:      nodeName,
				Role:      pool.role,
				PrivateIP: instance.PrivateIp,
				PublicIP:  instance.PublicIp,
				Machine:   instance,
			})
		}
	}

	nlb, err := newLoadBalancer(ctx, name, args, net, controlPlanes, workers, in)
	if err != nil {
		return nil, fmt.Errorf("aws load balancer: %w", err)
	}
	component.Platform.Endpoint = nlb.DnsName
	component.Platform.IngressEndpoint = nlb.DnsName

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"endpoint": component.Platform.Endpoint,
		"vpcId":    component.VpcID,
		"ami":      pulumi.String(component.AMI),
	}); err != nil {
		return nil, err
	}
	return component, nil
}

type network struct {
	vpc     *ec2.Vpc
	subnets []*ec2.Subnet
	nodes   *ec2.SecurityGroup
	// internet is the subnets' way out: the gateway, the route table holding
	// the default route through it, and each subnet's association with that
	// table. Nothing internet-facing refers to them by input, so they are
	// ordered explicitly: a public load balancer in a subnet whose VPC has no
	// attached gateway is refused with InvalidSubnet, and a node with a
	// public address is unreachable until they exist. On destroy the order
	// reverses, so the gateway detaches only once no public address is
	// mapped. The gateway resource attaches itself to the VPC before its
	// create returns, and its detach retries on DependencyViolation
	// (terraform-provider-aws internal/service/ec2/vpc_internet_gateway.go).
	internet []pulumi.Resource
}

// rollOneAtATime is what an instance waits for: the internet path, and the
// previous node of its pool. The engine creates or updates a resource only
// after its dependencies are done, so a change of instance type, which
// pulumi-aws applies in place by stopping, modifying and starting the
// instance (instanceType in sdk/v6 go/aws/ec2/instance.go), takes down one
// node of a pool at a time instead of the whole pool; each pool is its own
// chain, so control planes and workers still start side by side. See
// https://www.pulumi.com/docs/iac/concepts/options/dependson/.
func rollOneAtATime(internet []pulumi.Resource, previous *ec2.Instance) []pulumi.Resource {
	deps := append([]pulumi.Resource(nil), internet...)
	if previous != nil {
		deps = append(deps, previous)
	}
	return deps
}

func newNetwork(ctx *pulumi.Context, name string, args *Args, zones []string, in []pulumi.ResourceOption) (*network, error) {
	vpcName := infra.NetworkName(args.Environment, "vpc")
	v, err := ec2.NewVpc(ctx, name+"-vpc", &ec2.VpcArgs{
		CidrBlock:          pulumi.String(args.Network.String()),
		EnableDnsSupport:   pulumi.Bool(true),
		EnableDnsHostnames: pulumi.Bool(true),
		Tags:               pulumi.StringMap{"Name": pulumi.String(vpcName)},
	}, in...)
	if err != nil {
		return nil, err
	}
	igw, err := ec2.NewInternetGateway(ctx, name+"-igw", &ec2.InternetGatewayArgs{
		VpcId: v.ID(),
		Tags:  pulumi.StringMap{"Name": pulumi.String(infra.NetworkName(args.Environment, "igw"))},
	}, in...)
	if err != nil {
		return nil, err
	}
	routes, err := ec2.NewRouteTable(ctx, name+"-public-rt", &ec2.RouteTableArgs{
		VpcId:  v.ID(),
		Routes: ec2.RouteTableRouteArray{&ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), GatewayId: igw.ID()}},
		Tags:   pulumi.StringMap{"Name": pulumi.String(infra.NetworkName(args.Environment, "public-rt"))},
	}, in...)
	if err != nil {
		return nil, err
	}
	net := &network{vpc: v, internet: []pulumi.Resource{igw, routes}}
	for i, zone := range zones {
		subnetName := infra.NetworkName(args.Environment, "node-subnet-"+zone)
		s, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-node-subnet-%s", name, zone), &ec2.SubnetArgs{
			VpcId:            v.ID(),
			CidrBlock:        pulumi.String(Subnet(args.Network, i).String()),
			AvailabilityZone: pulumi.String(zone),
			Tags:             pulumi.StringMap{"Name": pulumi.String(subnetName)},
		}, in...)
		if err != nil {
			return nil, err
		}
		assoc, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-node-subnet-%s", name, zone), &ec2.RouteTableAssociationArgs{
			SubnetId:     s.ID(),
			RouteTableId: routes.ID(),
		}, in...)
		if err != nil {
			return nil, err
		}
		net.subnets = append(net.subnets, s)
		net.internet = append(net.internet, assoc)
	}

	net.nodes, err = ec2.NewSecurityGroup(ctx, name+"-nodes-sg", &ec2.SecurityGroupArgs{
		VpcId:       v.ID(),
		Description: pulumi.String("sre-lab Talos nodes: admin APIs from admin CIDRs, everything inside the VPC"),
		Egress: ec2.SecurityGroupEgressArray{&ec2.SecurityGroupEgressArgs{
			Protocol: pulumi.String("-1"), FromPort: pulumi.Int(0), ToPort: pulumi.Int(0),
			CidrBlocks: pulumi.StringArray{pulumi.String("0.0.0.0/0")},
		}},
		Tags: pulumi.StringMap{"Name": pulumi.String(infra.NetworkName(args.Environment, "nodes-sg"))},
	}, in...)
	if err != nil {
		return nil, err
	}
	// Node to node, and the load balancer's health checks, stay inside the VPC.
	if _, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-nodes-from-vpc", &vpc.SecurityGroupIngressRuleArgs{
		SecurityGroupId: net.nodes.ID(),
		IpProtocol:      pulumi.String("-1"),
		CidrIpv4:        pulumi.String(args.Network.String()),
		Description:     pulumi.String("node to node inside the VPC"),
	}, in...); err != nil {
		return nil, err
	}
	for _, cidr := range args.AdminCIDRs {
		for _, port := range AdminPorts {
			if _, err := vpc.NewSecurityGroupIngressRule(ctx, fmt.Sprintf("%s-admin-%d-%s", name, port, cidr), &vpc.SecurityGroupIngressRuleArgs{
				SecurityGroupId: net.nodes.ID(),
				IpProtocol:      pulumi.String("tcp"),
				FromPort:        pulumi.Int(port),
				ToPort:          pulumi.Int(port),
				CidrIpv4:        pulumi.String(cidr.String()),
				Description:     pulumi.String("admin access to " + portName[port]),
			}, in...); err != nil {
				return nil, err
			}
		}
	}
	// The web ingress is public by design: Let's Encrypt's HTTP-01 checks
	// and browsers reach it through the load balancer, which keeps their
	// addresses.
	for _, port := range []int{infra.IngressHTTPNodePort, infra.IngressHTTPSNodePort} {
		if _, err := vpc.NewSecurityGroupIngressRule(ctx, fmt.Sprintf("%s-ingress-%d", name, port), &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: net.nodes.ID(),
			IpProtocol:      pulumi.String("tcp"),
			FromPort:        pulumi.Int(port),
			ToPort:          pulumi.Int(port),
			CidrIpv4:        pulumi.String("0.0.0.0/0"),
			Description:     pulumi.String("web ingress through the load balancer"),
		}, in...); err != nil {
			return nil, err
		}
	}
	return net, nil
}

// AdminPorts are the APIs admins reach through the load balancer and, during
// the first configuration, on each node.
var AdminPorts = []int{infra.KubeAPIPort, infra.TalosAPIPort}

var portName = map[int]string{infra.KubeAPIPort: "the Kubernetes API", infra.TalosAPIPort: "the Talos API"}

// allowHairpin lets a node reach the control planes through the public load
// balancer. Traffic from a node to the load balancer's public address leaves
// through the internet gateway and arrives with the node's public address as
// source (client IP preservation), which the VPC rule does not match; workers
// need that path to join, before they learn the control-plane addresses.
func allowHairpin(ctx *pulumi.Context, name, nodeName string, net *network, instance *ec2.Instance, in []pulumi.ResourceOption) error {
	_, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-hairpin-"+nodeName, &vpc.SecurityGroupIngressRuleArgs{
		SecurityGroupId: net.nodes.ID(),
		IpProtocol:      pulumi.String("tcp"),
		FromPort:        pulumi.Int(infra.KubeAPIPort),
		ToPort:          pulumi.Int(infra.KubeAPIPort),
		CidrIpv4:        pulumi.Sprintf("%s/32", instance.PublicIp),
		Description:     pulumi.String(nodeName + " through the load balancer"),
	}, in...)
	if err != nil {
		return fmt.Errorf("aws hairpin rule %s: %w", nodeName, err)
	}
	return nil
}

// EBSCSIPolicy is AWS's managed policy for the EBS CSI driver, attached
// to the driver's own user. V2 limits the driver to volumes it tagged
// itself (ebs.csi.aws.com/cluster).
const EBSCSIPolicy = "arn:aws:iam::aws:policy/AmazonEBSCSIDriverPolicyV2"

// LogBucketPrefix is the start of the log bucket's name; AWS appends a
// unique suffix, as bucket names are global across accounts.
func LogBucketPrefix(environment string) string {
	return infra.NetworkName(environment, "logs-")
}

// newLogBucket is where Loki keeps log chunks: private, and encrypted at
// rest as every new S3 bucket is.
func newLogBucket(ctx *pulumi.Context, name string, args *Args, in []pulumi.ResourceOption) (*s3.BucketV2, error) {
	return newPrivateBucket(ctx, name+"-logs", LogBucketPrefix(args.Environment), !args.KeepLogs, in)
}

// newPrivateBucket is a bucket nothing outside the account can reach,
// named by AWS from prefix.
func newPrivateBucket(ctx *pulumi.Context, name, prefix string, forceDestroy bool, in []pulumi.ResourceOption) (*s3.BucketV2, error) {
	bucket, err := s3.NewBucketV2(ctx, name, &s3.BucketV2Args{
		BucketPrefix: pulumi.String(prefix),
		ForceDestroy: pulumi.Bool(forceDestroy),
	}, in...)
	if err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketPublicAccessBlock(ctx, name, &s3.BucketPublicAccessBlockArgs{
		Bucket:                bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, in...); err != nil {
		return nil, err
	}
	return bucket, nil
}

// BackupBucketPrefix is the start of the etcd snapshot bucket's name.
func BackupBucketPrefix(environment string) string {
	return infra.NetworkName(environment, "etcd-")
}

// SnapshotArchiveDays is when a snapshot moves to Glacier Instant
// Retrieval: still restorable at once, at a sixth of the storage price.
// Nothing expires a snapshot. talos-backup names each one by its time
// (<cluster>/<cluster>-<RFC3339>.snap.zst.age), so every snapshot is its
// own key, and S3 lifecycle rules count versions per key, never keys: a
// date-based expiry would delete the newest snapshots too once the
// cluster had been down that long, which is when they are needed. An
// admin prunes old snapshots by hand (docs/runbooks/disaster-recovery.md).
const SnapshotArchiveDays = 30

// newBackupBucket holds etcd snapshots: private, versioned so an
// overwrite or deletion leaves the earlier version in place, archived but
// never expired, and never deleted with the stack while it holds any.
func newBackupBucket(ctx *pulumi.Context, name string, args *Args, in []pulumi.ResourceOption) (*s3.BucketV2, error) {
	bucket, err := newPrivateBucket(ctx, name+"-etcd", BackupBucketPrefix(args.Environment), false, in)
	if err != nil {
		return nil, err
	}
	versioning, err := s3.NewBucketVersioningV2(ctx, name+"-etcd", &s3.BucketVersioningV2Args{
		Bucket:                  bucket.ID(),
		VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, in...)
	if err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name+"-etcd", &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{&s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:     pulumi.String("archive-snapshots"),
			Status: pulumi.String("Enabled"),
			Filter: &s3.BucketLifecycleConfigurationV2RuleFilterArgs{},
			Transitions: s3.BucketLifecycleConfigurationV2RuleTransitionArray{&s3.BucketLifecycleConfigurationV2RuleTransitionArgs{
				Days:         pulumi.Int(SnapshotArchiveDays),
				StorageClass: pulumi.String("GLACIER_IR"),
			}},
		}},
	}, append(in, pulumi.DependsOn([]pulumi.Resource{versioning}))...); err != nil {
		return nil, err
	}
	return bucket, nil
}

// backupBucketDenied are what the snapshot job must never do to the
// snapshot bucket, denied outright so no policy attached to its user later
// can grant them: read a snapshot, delete one or any version of one, or
// turn off what keeps an overwrite from destroying one (versioning, the
// lifecycle rules, the bucket policy).
var backupBucketDenied = []string{
	"s3:GetObject", "s3:GetObjectVersion",
	"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteBucket",
	"s3:PutBucketVersioning", "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
}

// BackupBucketPolicy lets the snapshot job add objects under prefix/ of
// the snapshot bucket and nothing else: talos-backup only puts (minio-go's
// PutObject, with the region given, neither lists nor reads; a large
// snapshot goes up in parts, all under s3:PutObject, and a failed one is
// aborted). As the bucket is versioned, a put over an existing key only
// adds a version, so a compromised cluster can neither read nor destroy
// its own backups, nor write beside them.
func BackupBucketPolicy(bucketArn, prefix string) (string, error) {
	if prefix == "" {
		return "", fmt.Errorf("no key prefix for the snapshots")
	}
	b, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{"Effect": "Allow", "Action": []string{"s3:PutObject", "s3:AbortMultipartUpload"}, "Resource": bucketArn + "/" + prefix + "/*"},
			{"Effect": "Deny", "Action": backupBucketDenied, "Resource": []string{bucketArn, bucketArn + "/*"}},
		},
	})
	return string(b), err
}

// LogBucketPolicy lets Loki list the log bucket and read, write and delete
// its objects (the compactor deletes expired chunks), nothing more.
func LogBucketPolicy(bucketArn string) (string, error) {
	b, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{"Effect": "Allow", "Action": []string{"s3:ListBucket"}, "Resource": bucketArn},
			{"Effect": "Allow", "Action": []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, "Resource": bucketArn + "/*"},
		},
	})
	return string(b), err
}

// SecretsPolicy lets External Secrets read, and only read, the Secrets
// Manager secrets of region whose names start with prefix.
func SecretsPolicy(region, prefix string) (string, error) {
	b, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":   "Allow",
			"Action":   []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
			"Resource": fmt.Sprintf("arn:aws:secretsmanager:%s:*:secret:%s*", region, prefix),
		}},
	})
	return string(b), err
}

// MetadataHopLimit is how far the instance metadata service's token answer
// travels: one hop reaches the node's own network namespace and no pod
// behind it.
const MetadataHopLimit = 1

// The workloads that call AWS, each with an IAM user of its own whose
// name ends with the workload.
const (
	VolumeWorkload  = "ebs-csi"
	LogWorkload     = "loki"
	BackupWorkload  = "etcd-backup"
	SecretsWorkload = "external-secrets"
)

// UserPath holds the lab's IAM users, so that `aws iam list-users
// --path-prefix /sre-lab/` lists every key the lab has handed out.
const UserPath = "/sre-lab/"

// UserName is the IAM name of a workload's user. IAM is global: the region
// keeps two stacks of one environment apart.
func UserName(environment, region, workload string) string {
	return infra.NetworkName(environment, region+"-"+workload)
}

// newWorkloadKeys gives each workload that calls AWS a user of its own,
// allowed only what that workload does, and an access key the cluster
// hands to that workload alone: the EBS CSI controller manages volumes,
// Loki uses its bucket, the snapshot job adds to its prefix, External
// Secrets reads the lab's secrets. Keys, not roles: a pod cannot assume a
// role without either the node's identity (which every pod could then
// borrow) or an OIDC issuer AWS trusts, which the lab does not run.
func newWorkloadKeys(ctx *pulumi.Context, name string, args *Args, logs, backups *s3.BucketV2, p *infra.Platform, in []pulumi.ResourceOption) error {
	var err error
	if p.VolumeKey, err = newWorkloadKey(ctx, name, args, VolumeWorkload, nil, in); err != nil {
		return err
	}
	if p.LogBucket.Key, err = newWorkloadKey(ctx, name, args, LogWorkload, logs.Arn.ApplyT(LogBucketPolicy).(pulumi.StringOutput), in); err != nil {
		return err
	}
	if backups != nil {
		policy := backups.Arn.ApplyT(func(arn string) (string, error) {
			return BackupBucketPolicy(arn, args.ClusterName)
		}).(pulumi.StringOutput)
		if p.BackupBucket.Key, err = newWorkloadKey(ctx, name, args, BackupWorkload, policy, in); err != nil {
			return err
		}
	}
	if args.SecretsPrefix != "" {
		policy, err := SecretsPolicy(args.Region, args.SecretsPrefix)
		if err != nil {
			return err
		}
		if p.SecretsKey, err = newWorkloadKey(ctx, name, args, SecretsWorkload, pulumi.String(policy), in); err != nil {
			return err
		}
	}
	return nil
}

// newWorkloadKey makes the user of one workload with its inline policy, or
// the EBS CSI driver's managed policy when policy is nil, and its access
// key. The key waits for the policy, so whatever holds it can act at once;
// `pulumi up --replace` on the key makes the new one before deleting the
// old (a user may hold two).
func newWorkloadKey(ctx *pulumi.Context, name string, args *Args, workload string, policy pulumi.StringInput, in []pulumi.ResourceOption) (*infra.AccessKey, error) {
	user, err := iam.NewUser(ctx, name+"-"+workload, &iam.UserArgs{
		Name: pulumi.String(UserName(args.Environment, args.Region, workload)),
		Path: pulumi.String(UserPath),
	}, in...)
	if err != nil {
		return nil, fmt.Errorf("%s user: %w", workload, err)
	}
	var grant pulumi.Resource
	if policy == nil {
		grant, err = iam.NewUserPolicyAttachment(ctx, name+"-"+workload, &iam.UserPolicyAttachmentArgs{
			User:      user.Name,
			PolicyArn: pulumi.String(EBSCSIPolicy),
		}, in...)
	} else {
		grant, err = iam.NewUserPolicy(ctx, name+"-"+workload, &iam.UserPolicyArgs{
			User:   user.Name,
			Policy: policy,
		}, in...)
	}
	if err != nil {
		return nil, fmt.Errorf("%s policy: %w", workload, err)
	}
	key, err := iam.NewAccessKey(ctx, name+"-"+workload, &iam.AccessKeyArgs{
		User: user.Name,
	}, append(in, pulumi.DependsOn([]pulumi.Resource{grant}))...)
	if err != nil {
		return nil, fmt.Errorf("%s key: %w", workload, err)
	}
	return &infra.AccessKey{
		ID:     key.ID().ToStringOutput(),
		Secret: pulumi.ToSecret(key.Secret).(pulumi.StringOutput),
	}, nil
}

// forward is one listener of the load balancer and where it sends traffic.
type forward struct {
	port, targetPort int
	role             infra.Role
	targets          []*ec2.Instance
}

// Forwards are the load balancer's listeners: the two APIs to the control
// planes, and web traffic to the ingress node ports on the workers.
var Forwards = []struct {
	Port, TargetPort int
	Role             infra.Role
}{
	{infra.KubeAPIPort, infra.KubeAPIPort, infra.ControlPlane},
	{infra.TalosAPIPort, infra.TalosAPIPort, infra.ControlPlane},
	{80, infra.IngressHTTPNodePort, infra.Worker},
	{443, infra.IngressHTTPSNodePort, infra.Worker},
}

func newLoadBalancer(ctx *pulumi.Context, name string, args *Args, net *network, controlPlanes, workers []*ec2.Instance, in []pulumi.ResourceOption) (*lb.LoadBalancer, error) {
	subnetIDs := pulumi.StringArray{}
	for _, s := range net.subnets {
		subnetIDs = append(subnetIDs, s.ID())
	}
	nlb, err := lb.NewLoadBalancer(ctx, name+"-nlb", &lb.LoadBalancerArgs{
		Name:                         pulumi.String(infra.NetworkName(args.Environment, "api")),
		LoadBalancerType:             pulumi.String("network"),
		Internal:                     pulumi.Bool(false),
		Subnets:                      subnetIDs,
		EnableCrossZoneLoadBalancing: pulumi.Bool(true),
	}, append(in, pulumi.DependsOn(net.internet))...)
	if err != nil {
		return nil, err
	}
	for _, f := range Forwards {
		fw := forward{port: f.Port, targetPort: f.TargetPort, role: f.Role, targets: controlPlanes}
		if f.Role == infra.Worker {
			fw.targets = workers
		}
		if err := listen(ctx, name, args, net, nlb, fw, in); err != nil {
			return nil, err
		}
	}
	return nlb, nil
}

// listen forwards one port of the load balancer to a port on its targets,
// with a TCP health check on that port.
func listen(ctx *pulumi.Context, name string, args *Args, net *network, nlb *lb.LoadBalancer, f forward, in []pulumi.ResourceOption) error {
	p, target := strconv.Itoa(f.port), strconv.Itoa(f.targetPort)
	tg, err := lb.NewTargetGroup(ctx, name+"-tg-"+p, &lb.TargetGroupArgs{
		Name:       pulumi.String(infra.NetworkName(args.Environment, p)),
		Port:       pulumi.Int(f.targetPort),
		Protocol:   pulumi.String("TCP"),
		TargetType: pulumi.String("instance"),
		VpcId:      net.vpc.ID(),
		HealthCheck: &lb.TargetGroupHealthCheckArgs{
			Protocol:           pulumi.String("TCP"),
			Port:               pulumi.String(target),
			Interval:           pulumi.Int(10),
			HealthyThreshold:   pulumi.Int(2),
			UnhealthyThreshold: pulumi.Int(2),
		},
	}, in...)
	if err != nil {
		return err
	}
	if _, err := lb.NewListener(ctx, name+"-listener-"+p, &lb.ListenerArgs{
		LoadBalancerArn: nlb.Arn,
		Port:            pulumi.Int(f.port),
		Protocol:        pulumi.String("TCP"),
		DefaultActions:  lb.ListenerDefaultActionArray{&lb.ListenerDefaultActionArgs{Type: pulumi.String("forward"), TargetGroupArn: tg.Arn}},
	}, in...); err != nil {
		return err
	}
	for i, instance := range f.targets {
		if _, err := lb.NewTargetGroupAttachment(ctx, fmt.Sprintf("%s-tg-%s-%s-%02d", name, p, f.role.Short(), i+1), &lb.TargetGroupAttachmentArgs{
			TargetGroupArn: tg.Arn,
			TargetId:       instance.ID(),
			Port:           pulumi.Int(f.targetPort),
		}, in...); err != nil {
			return err
		}
	}
	return nil
}
