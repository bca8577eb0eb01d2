package practice

import (
	"fmt"
	"strconv"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/practice/slo"
)

// The steady traffic the load generator sends to podinfo's Service, so
// that dashboards and SLOs have data from the first minutes: most of it
// to the service's root, and a small share (2%) to its latency endpoint
// (/delay/{seconds} in podinfo's pkg/api/http/server.go), which answers
// after a second.
const (
	LoadName     = "podinfo-load"
	LoadQPS      = 5.0
	SlowPath     = "/delay/1"
	SlowQPS      = 0.1
	loadUser     = 65534
	loadSteady   = "steady"
	loadSlow     = "slow"
	loadThreads  = 2
	slowThreads  = 1
	loadLabelApp = "fortio"
)

// ServiceURL is podinfo's Service inside the cluster.
func ServiceURL() string {
	return fmt.Sprintf("http://%s.%s.svc.cluster.local:%d", slo.DemoApp, slo.DemoNamespace, HTTPPort)
}

// loadArgs are fortio's arguments for one stream of requests (flags of
// fortio's cli/fortio_main.go at v1.75.2): `load` runs forever with -t 0,
// at qps requests per second over threads connections; -nocatchup keeps
// the rate steady after podinfo was down (a drill) instead of bursting to
// make up for it; -allow-initial-errors keeps it running when the first
// requests fail.
func loadArgs(qps float64, threads int, url string) []string {
	return []string{"load", "-t", "0",
		"-qps", strconv.FormatFloat(qps, 'f', -1, 64),
		"-c", strconv.Itoa(threads),
		"-nocatchup", "-allow-initial-errors", url}
}

// loadGenerator is the fortio Deployment: one pod, one container per
// stream, each capped so that the generator never takes more than its
// share of a node, in a pod the restricted Pod Security level admits
// (fortio's image is FROM scratch, without a user of its own). It never
// talks to the API, so it gets no token.
func loadGenerator() *appsv1.DeploymentArgs {
	labels := pulumi.StringMap{
		"app.kubernetes.io/name":      pulumi.String(loadLabelApp),
		"app.kubernetes.io/component": pulumi.String("load-generator"),
		"app.kubernetes.io/part-of":   pulumi.String("sre-lab"),
	}
	container := func(name string, args []string) corev1.ContainerInput {
		return corev1.ContainerArgs{
			Name:  pulumi.String(name),
			Image: pulumi.String(config.LoadGeneratorImage),
			Args:  pulumi.ToStringArray(args),
			Resources: corev1.ResourceRequirementsArgs{
				Requests: pulumi.StringMap{"cpu": pulumi.String("10m"), "memory": pulumi.String("32Mi")},
				Limits:   pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("64Mi")},
			},
			SecurityContext: corev1.SecurityContextArgs{
				AllowPrivilegeEscalation: pulumi.Bool(false),
				ReadOnlyRootFilesystem:   pulumi.Bool(true),
				Capabilities:             corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
			},
		}
	}
	return &appsv1.DeploymentArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(LoadName),
			Namespace: pulumi.String(slo.DemoNamespace),
			Labels:    labels,
		},
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(1),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: labels},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels},
				Spec: &corev1.PodSpecArgs{
					AutomountServiceAccountToken: pulumi.Bool(false),
					SecurityContext: corev1.PodSecurityContextArgs{
						RunAsNonRoot:   pulumi.Bool(true),
						RunAsUser:      pulumi.Int(loadUser),
						RunAsGroup:     pulumi.Int(loadUser),
						SeccompProfile: corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
					},
					Containers: corev1.ContainerArray{
						container(loadSteady, loadArgs(LoadQPS, loadThreads, ServiceURL()+"/")),
						container(loadSlow, loadArgs(SlowQPS, slowThreads, ServiceURL()+SlowPath)),
					},
				},
			},
		},
	}
}
