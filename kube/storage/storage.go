// Package storage installs the cluster's dynamic volume provisioner and its
// one default StorageClass: local-path-provisioner on laptops, where volumes
// live on the node's own disk, and the AWS EBS CSI driver on AWS, where they
// are EBS volumes. Workloads ask for storage without naming a class, so the
// same manifests run on either backend.
package storage

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/apigate"
	"github.com/your-org/sre-lab/kube/awskey"
	"github.com/your-org/sre-lab/kube/helm"
)

//go:embed scripts/release-volumes.sh
var releaseVolumes string

// releaseScript is the delete step of the volume release, on the shared
// API library.
var releaseScript = apigate.Compose(releaseVolumes)

// ReleaseTimeout bounds the wait for the driver to delete the volumes of
// the claims: a detach and a delete take seconds each, and a claim waits
// for the pods using it to finish terminating.
const ReleaseTimeout = 10 * time.Minute

// releaseInterval is the pause between two looks at the claims.
const releaseInterval = 5 * time.Second

// Token is the component's type token.
const Token = "sre-lab:kube:Storage"

// Drivers, the values of Args.Driver.
const (
	// LocalPath provisions volumes as directories on the node's disk, for
	// laptop clusters that have no storage service to call.
	LocalPath = "local-path"
	// AWSEBS provisions volumes as EBS volumes, for clusters on AWS.
	AWSEBS = "aws-ebs"
)

// Names of the default StorageClass each driver creates.
const (
	// LocalPathClass is the class local-path-provisioner creates.
	LocalPathClass = "local-path"
	// EBSClass is the class the EBS CSI driver creates; it is named after the
	// EBS volume type it provisions.
	EBSClass = "gp3"
)

// LocalVolumeType is the PersistentVolume source local-path-provisioner
// gives the volumes of LocalPathClass: "local", so that the kubelet reports
// their usage (see localPathValues). A claim can still ask for "hostPath"
// with the volumeType annotation, and its volume then goes unwatched.
const LocalVolumeType = "local"

// defaultNodePaths is the nodePathMap entry local-path-provisioner applies
// to every node that has no entry of its own.
const defaultNodePaths = "DEFAULT_PATH_FOR_NON_LISTED_NODES"

// driverCharts is the chart each driver installs. Values are written against
// that chart's keys, so a release of another chart would silently ignore them.
var driverCharts = map[string]string{
	LocalPath: config.ChartLocalPath,
	AWSEBS:    config.ChartEBSCSI,
}

// driverClasses is the default StorageClass of each driver.
var driverClasses = map[string]string{
	LocalPath: LocalPathClass,
	AWSEBS:    EBSClass,
}

// Args chooses the driver and its chart.
type Args struct {
	// Driver is LocalPath or AWSEBS.
	Driver string
	// Chart is the driver's chart pinned to a version, normally
	// config.DefaultCharts[config.ChartLocalPath] or [config.ChartEBSCSI].
	Chart config.Chart
	// Namespace is where the release goes. It is created elsewhere, with the
	// privileged Pod Security level: both drivers run pods that mount host
	// paths.
	Namespace string
	// Values are the user's raw chart values; they win over the component's
	// key by key.
	Values map[string]any
	// ControllerReplicas is the number of EBS CSI controllers: one is enough
	// in dev, two elsewhere keep provisioning working through a node drain.
	// Zero means one. The local-path driver ignores it.
	ControllerReplicas int
	// DependsOn must be ready before the release installs (the CNI, the
	// CRDs); see helm.ReleaseArgs.DependsOn.
	DependsOn []pulumi.Resource

	// AWSKey is the EBS CSI controller's own access key, required with
	// AWSEBS: the nodes carry no AWS identity for it to use.
	AWSKey *infra.AccessKey
	// Region is where the controller calls EC2, required with AWSEBS: a
	// pod cannot learn it from instance metadata, one hop too far.
	Region string
	// ClusterName, required with AWSEBS, tags every volume the driver creates
	// (kubernetes.io/cluster/<ClusterName>: owned), so volumes a failed
	// destroy left behind can be found and swept.
	ClusterName string
	// Access reaches the API server as the admin, for the step that deletes
	// the claims before the driver on destroy; required with AWSEBS.
	Access apigate.Access
}

// Storage is the `sre-lab:kube:Storage` component.
type Storage struct {
	pulumi.ResourceState

	// StorageClass is the name of the one default StorageClass, for
	// components that must name a class explicitly. It is the driver's
	// class (LocalPathClass or EBSClass); a class renamed through
	// Args.Values is not reflected here.
	StorageClass string
	// Release is the driver's Helm release, for releases that need volumes
	// to depend on.
	Release *helm.Release
	// Volumes is what a release whose claims come from this driver must
	// depend on: on destroy the release goes first, then Volumes deletes
	// its claims and waits for their cloud disks to be deleted, and only
	// then the driver goes. Empty where volumes die with the nodes
	// (local-path).
	Volumes []pulumi.Resource
}

// NewStorage installs the driver's chart in args.Namespace.
func NewStorage(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Storage, error) {
	// Checked before registering anything, so a bad stack config fails the
	// preview without leaving a half-built component behind.
	if err := validate(args); err != nil {
		return nil, fmt.Errorf("storage %s: %w", name, err)
	}
	component := &Storage{StorageClass: driverClasses[args.Driver]}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)

	deps, values := args.DependsOn, Values(args)
	if args.Driver == AWSEBS {
		// The controller reads the key from its environment, so the
		// Secret comes first.
		key, err := awskey.NewSecret(ctx, name+"-aws-key", args.Namespace, args.AWSKey,
			parent, pulumi.DependsOn(args.DependsOn))
		if err != nil {
			return nil, fmt.Errorf("storage %s: %w", name, err)
		}
		deps = append(append([]pulumi.Resource{}, args.DependsOn...), key)
		values = helm.Merge(values, rollOnNewKey(args.AWSKey))
	}
	release, err := helm.NewRelease(ctx, name+"-"+args.Chart.Name, helm.ReleaseArgs{
		Chart:     args.Chart,
		Namespace: args.Namespace,
		Values:    values,
		Extra:     args.Values,
		DependsOn: deps,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("storage %s: %w", name, err)
	}
	component.Release = release

	if args.Driver == AWSEBS {
		volumes, err := releaseVolumesStep(ctx, name, args, release, parent)
		if err != nil {
			return nil, fmt.Errorf("storage %s: %w", name, err)
		}
		component.Volumes = []pulumi.Resource{volumes}
	}

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"storageClass": pulumi.String(component.StorageClass),
		"release":      release.Name,
	}); err != nil {
		return nil, err
	}
	return component, nil
}

// releaseVolumesStep is the command that, when deleted, deletes the claims
// of the driver's class and waits for their volumes to go (the
// release-volumes script). It does nothing on create or update: a change
// of its inputs (a renewed admin certificate) only records what the delete
// will use. It has no triggers, the only inputs that replace a local
// command (pulumi-command pull request 17, "Fix up replacement
// semantics"), so no `pulumi up` runs the delete and empties the claims of
// a living cluster. It depends on the driver's release, and the releases that make
// claims depend on it, so a destroy removes them in the order releases,
// claims, driver; without it the driver went first and the cloud disks of
// every StatefulSet stayed behind, billed.
func releaseVolumesStep(ctx *pulumi.Context, name string, args *Args, release *helm.Release, parent pulumi.ResourceOption) (*local.Command, error) {
	return local.NewCommand(ctx, name+"-release-volumes", &local.CommandArgs{
		Interpreter: pulumi.StringArray{pulumi.String("/bin/sh"), pulumi.String("-c")},
		Delete:      pulumi.String(releaseScript),
		Environment: pulumi.StringMap{
			"SRE_API_URL":              args.Access.URL,
			"SRE_API_CA":               args.Access.CACertificate,
			"SRE_API_CERT":             args.Access.ClientCertificate,
			"SRE_API_KEY":              pulumi.ToSecret(args.Access.ClientKey).(pulumi.StringOutput),
			"SRE_STORAGE_CLASS":        pulumi.String(driverClasses[args.Driver]),
			"SRE_API_TIMEOUT_SECONDS":  pulumi.String(strconv.Itoa(int(ReleaseTimeout.Seconds()))),
			"SRE_API_INTERVAL_SECONDS": pulumi.String(strconv.Itoa(int(releaseInterval.Seconds()))),
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{release}))
}

// validate rejects args the chart would accept but the cluster could not use.
func validate(args *Args) error {
	if args == nil {
		return fmt.Errorf("no args")
	}
	chart, ok := driverCharts[args.Driver]
	if !ok {
		return fmt.Errorf("unknown driver %q: allowed are %s", args.Driver, strings.Join(drivers(), ", "))
	}
	if args.ControllerReplicas < 0 {
		return fmt.Errorf("controller replicas must not be negative, got %d", args.ControllerReplicas)
	}
	if args.Namespace == "" {
		return fmt.Errorf("no namespace")
	}
	if args.Chart.Name != chart {
		return fmt.Errorf("driver %s installs chart %q, not %q", args.Driver, chart, args.Chart.Name)
	}
	if args.Chart.Repo == "" || args.Chart.Version == "" {
		return fmt.Errorf("chart %s is not pinned to a repository and version", args.Chart.Name)
	}
	if args.Driver == AWSEBS {
		none := pulumi.StringOutput{}
		switch a := args.Access; {
		case args.AWSKey == nil:
			return fmt.Errorf("driver %s needs its own access key: the nodes carry no AWS identity", args.Driver)
		case args.Region == "":
			return fmt.Errorf("driver %s needs the AWS region: its controller cannot read instance metadata", args.Driver)
		case args.ClusterName == "":
			return fmt.Errorf("driver %s needs the cluster name to tag its volumes with", args.Driver)
		case a.URL == none || a.CACertificate == none || a.ClientCertificate == none || a.ClientKey == none:
			return fmt.Errorf("driver %s needs access to the API server to delete its claims before it goes", args.Driver)
		}
	}
	return nil
}

// drivers lists the allowed values of Args.Driver, for error messages.
func drivers() []string {
	return []string{LocalPath, AWSEBS}
}

// Values are the chart values of args.Driver, before the user's values are
// merged over them; nil for nil args or an unknown driver.
func Values(args *Args) map[string]any {
	if args == nil {
		return nil
	}
	switch args.Driver {
	case LocalPath:
		return localPathValues()
	case AWSEBS:
		return ebsValues(args)
	}
	return nil
}

// localPathValues make local-path-provisioner keep volumes on the Talos user
// volume and mark its class the default.
func localPathValues() map[string]any {
	return map[string]any{
		"storageClass": map[string]any{
			"create":       true,
			"defaultClass": true,
			"name":         LocalPathClass,
			// Lab volumes are disposable; Retain would leave directories
			// behind on the node after every deleted claim.
			"reclaimPolicy": "Delete",
			// The chart renders this into the class's defaultVolumeType
			// annotation (templates/storageclass.yaml), from which the
			// provisioner picks the PersistentVolume's source; its own
			// default, hostPath, leaves every volume-space alert blind: the
			// kubelet reports kubelet_volume_stats_* only for volume plugins
			// that provide metrics, which k8s.io/kubernetes
			// pkg/volume/local does (statfs of the path) and
			// pkg/volume/hostpath does not (rancher/local-path-provisioner
			// issue 44). A local PV must carry node affinity; the
			// provisioner sets it for every nodePathMap volume
			// (provisioner.go, Provision).
			"defaultVolumeType": LocalVolumeType,
		},
		// Talos's root filesystem is read-only, so the chart's default of
		// /opt/local-path-provisioner cannot be written. The Talos patch
		// gives the provisioner a user volume instead (a partition on
		// VirtualBox, so volumes cannot fill the EPHEMERAL partition the
		// kubelet and containerd live on). Talos binds /var/mnt into the
		// kubelet's mount namespace (siderolabs/talos
		// internal/app/machined/pkg/system/services/kubelet.go), where the
		// kubelet mounts and measures local volumes. No node is listed, so
		// every node uses it.
		"nodePathMap": []any{
			map[string]any{
				"node":  defaultNodePaths,
				"paths": []any{infra.LocalPathDir},
			},
		},
		// The chart sets no resources of its own.
		"resources": helm.Resources("10m", "32Mi", "128Mi"),
	}
}

// ebsValues define the gp3 default class, size the driver's pods, hand
// the controller its key and region, tag the volumes with the cluster, and
// put the node plugin on the host network.
func ebsValues(args *Args) map[string]any {
	replicas := args.ControllerReplicas
	if replicas == 0 {
		replicas = 1
	}
	// The controller's resources also apply to each of its sidecars
	// (provisioner, attacher, resizer and so on) unless set per sidecar, so
	// they are sized per container.
	resources := func() map[string]any { return helm.Resources("10m", "40Mi", "256Mi") }
	return map[string]any{
		"storageClasses": []any{
			map[string]any{
				"name": EBSClass,
				"annotations": map[string]any{
					"storageclass.kubernetes.io/is-default-class": "true",
				},
				// An EBS volume lives in one availability zone and attaches
				// only to instances there. Waiting for the first pod lets
				// the scheduler pick the node, and so the zone, before the
				// volume is created; binding at once could put the volume
				// in a zone the pod can never run in.
				"volumeBindingMode": "WaitForFirstConsumer",
				// Lab volumes are disposable; Retain would leave billed,
				// unattached EBS volumes behind after every deleted claim.
				"reclaimPolicy":        "Delete",
				"allowVolumeExpansion": true,
				"parameters": map[string]any{
					"type": "gp3",
					// StorageClass parameters are strings.
					"encrypted": "true",
				},
			},
		},
		// The chart can also create its own default class,
		// ebs-csi-default-sc; with it there would be two defaults and
		// claims without a class would silently get the newer one.
		"defaultStorageClass": map[string]any{"enabled": false},
		// The chart's controller takes AWS_ACCESS_KEY_ID and
		// AWS_SECRET_ACCESS_KEY from this Secret (templates/controller.yaml;
		// the upstream install guide's "secret object" method).
		"awsAccessSecret": map[string]any{
			"name": awskey.SecretName, "keyId": awskey.IDKey, "accessKey": awskey.SecretKey,
		},
		"controller": map[string]any{
			"replicaCount": replicas,
			// AWS_REGION, instead of asking instance metadata, which a pod
			// cannot reach at hop limit 1.
			"region": args.Region,
			// --k8s-tag-cluster-id: every volume the driver creates carries
			// kubernetes.io/cluster/<name>=owned and KubernetesCluster=<name>.
			"k8sTagClusterId": args.ClusterName,
			// Metrics Services for the controller and its sidecars, so
			// provisioning failures and AWS API errors show on dashboards;
			// the chart annotates them for scraping and adds ServiceMonitors
			// when the prometheus-operator CRDs are installed.
			"enableMetrics": true,
			"resources":     resources(),
		},
		"node": map[string]any{
			"resources": resources(),
			// The node plugin learns the instance ID, zone and type (for
			// the attach limit) from instance metadata, and the hop limit
			// of 1 stops that answer at the node's own network namespace.
			// Its other source, "kubernetes", needs a providerID and
			// topology labels only a cloud controller manager sets
			// (aws-ebs-csi-driver pkg/cloud/metadata/k8s.go), which the lab
			// does not run. So the plugin joins the host network
			// (aws-ebs-csi-driver chart 2.64.0 values.yaml, node.hostNetwork
			// and node.metadataSources); it holds no AWS credentials, and
			// the nodes have none to find.
			"hostNetwork": true,
		},
	}
}

// rollOnNewKey annotates the controller's pods with the key's revision:
// the controller reads the key from its environment at start, so a
// replaced key must roll the pods. Kept out of Values, which holds no
// outputs.
func rollOnNewKey(key *infra.AccessKey) map[string]any {
	return map[string]any{"controller": map[string]any{
		"podAnnotations": map[string]any{awskey.RevisionAnnotation: awskey.Revision(key)},
	}}
}
