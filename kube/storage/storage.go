// Package storage installs the cluster's dynamic volume provisioner and its
// one default StorageClass: local-path-provisioner on laptops, where volumes
// live on the node's own disk, and the AWS EBS CSI driver on AWS, where they
// are EBS volumes. Workloads ask for storage without naming a class, so the
// same manifests run on either backend.
package storage

import (
	"fmt"
	"strings"

	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/kube/helm"
)

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
	Release *helmv3.Release
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

	release, err := helm.NewRelease(ctx, name+"-"+args.Chart.Name, helm.ReleaseArgs{
		Chart:     args.Chart,
		Namespace: args.Namespace,
		Values:    Values(args),
		Extra:     args.Values,
		DependsOn: args.DependsOn,
	}, pulumi.Parent(component))
	if err != nil {
		return nil, fmt.Errorf("storage %s: %w", name, err)
	}
	component.Release = release

	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"storageClass": pulumi.String(component.StorageClass),
		"release":      release.Name,
	}); err != nil {
		return nil, err
	}
	return component, nil
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
		return ebsValues(args.ControllerReplicas)
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

// ebsValues define the gp3 default class and size the driver's pods.
func ebsValues(replicas int) map[string]any {
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
		"controller": map[string]any{
			"replicaCount": replicas,
			// Metrics Services for the controller and its sidecars, so
			// provisioning failures and AWS API errors show on dashboards;
			// the chart annotates them for scraping and adds ServiceMonitors
			// when the prometheus-operator CRDs are installed.
			"enableMetrics": true,
			"resources":     resources(),
		},
		"node": map[string]any{
			"resources": resources(),
		},
	}
}
