// Package etcdbackup schedules etcd snapshots of a Talos cluster into the
// backend's snapshot bucket. Talos runs etcd itself, so the snapshot is
// taken through the Talos API: a Talos ServiceAccount grants one role,
// os:etcd:backup, to pods of one namespace (the Talos patch allows it), and
// Sidero Labs' talos-backup job streams the snapshot to the bucket with
// the bucket's own access key, which may only add snapshots under the
// cluster's prefix.
package etcdbackup

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/talos"
	"github.com/your-org/sre-lab/kube/awskey"
	"github.com/your-org/sre-lab/kube/namespaces"
)

// Token is the component's type token.
const Token = "sre-lab:kube:EtcdBackup"

// Name names the CronJob, the Talos ServiceAccount and the Secret Talos
// fills with that account's credentials.
const Name = "talos-backup"

// Namespace runs the job and nothing else: the Talos patch lets every pod
// here, and only here, use the backup role, so sharing it (kube-system,
// say) would hand etcd snapshots, and every Secret in them, to other pods.
const Namespace = "etcd-backup"

// PodSecurity is the Pod Security level Namespace enforces: the job runs
// as a non-root user with no privilege escalation, no capabilities, the
// runtime's seccomp profile and only emptyDir and Secret volumes.
const PodSecurity = namespaces.Restricted

// Args shapes the backups.
type Args struct {
	// ClusterName prefixes every snapshot's key in the bucket; the bucket's
	// key may write under that prefix only.
	ClusterName string
	// Bucket receives the snapshots, with its own key, which the job
	// takes from its environment.
	Bucket *infra.Bucket
	// Backup is the schedule and encryption.
	Backup config.EtcdBackup
	// DependsOn must be ready first: the CNI and Namespace.
	DependsOn []pulumi.Resource
}

// Backup is the `sre-lab:kube:EtcdBackup` component.
type Backup struct {
	pulumi.ResourceState

	// CronJob takes the snapshots.
	CronJob *batchv1.CronJob
}

// Env is the job's configuration, as talos-backup reads it. Its S3 client
// takes the key from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY before
// any other source (talos-backup pkg/s3/s3.go, the EnvAWS provider first
// in the chain); the values come from the key Secret, never the pod spec.
func Env(args *Args) corev1.EnvVarArray {
	fromKey := func(name string) corev1.EnvVarArgs {
		return corev1.EnvVarArgs{Name: pulumi.String(name), ValueFrom: &corev1.EnvVarSourceArgs{
			SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: pulumi.String(awskey.SecretName), Key: pulumi.String(name)},
		}}
	}
	env := corev1.EnvVarArray{
		corev1.EnvVarArgs{Name: pulumi.String("AWS_REGION"), Value: pulumi.String(args.Bucket.Region)},
		corev1.EnvVarArgs{Name: pulumi.String("BUCKET"), Value: args.Bucket.Name},
		corev1.EnvVarArgs{Name: pulumi.String("CLUSTER_NAME"), Value: pulumi.String(args.ClusterName)},
		corev1.EnvVarArgs{Name: pulumi.String("S3_PREFIX"), Value: pulumi.String(args.ClusterName)},
		corev1.EnvVarArgs{Name: pulumi.String("ENABLE_COMPRESSION"), Value: pulumi.String("true")},
	}
	if args.Bucket.Key != nil {
		env = append(env, fromKey(awskey.IDKey), fromKey(awskey.SecretKey))
	}
	if args.Backup.Recipient != "" {
		return append(env, corev1.EnvVarArgs{Name: pulumi.String("AGE_X25519_PUBLIC_KEY"), Value: pulumi.String(args.Backup.Recipient)})
	}
	// Without a recipient, which config allows in dev only, the snapshot
	// relies on the bucket's encryption at rest; the Secrets in it stay
	// sealed by Talos's secretbox key.
	return append(env, corev1.EnvVarArgs{Name: pulumi.String("DISABLE_ENCRYPTION"), Value: pulumi.String("true")})
}

// New schedules the snapshots.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Backup, error) {
	if args.Bucket == nil {
		return nil, fmt.Errorf("etcd backup: no bucket to write snapshots to")
	}
	if args.Bucket.Type != "s3" {
		return nil, fmt.Errorf("etcd backup: talos-backup writes to S3, not %s", args.Bucket.Type)
	}
	component := &Backup{}
	if err := ctx.RegisterComponentResource(Token, name, component, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(component)
	after := pulumi.DependsOn(args.DependsOn)

	// Talos turns this into a Secret of the same name holding a client
	// configuration limited to the backup role.
	account, err := apiextensions.NewCustomResource(ctx, name+"-account", &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String("talos.dev/v1alpha1"),
		Kind:        pulumi.String("ServiceAccount"),
		Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String(Name), Namespace: pulumi.String(Namespace)},
		OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{"roles": []string{talos.EtcdBackupRole}}},
	}, parent, after)
	if err != nil {
		return nil, fmt.Errorf("etcd backup account: %w", err)
	}

	deps := append(append([]pulumi.Resource{}, args.DependsOn...), account)
	if args.Bucket.Key != nil {
		key, err := awskey.NewSecret(ctx, name+"-aws-key", Namespace, args.Bucket.Key, parent, after)
		if err != nil {
			return nil, fmt.Errorf("etcd backup: %w", err)
		}
		deps = append(deps, key)
	}

	notRoot := pulumi.Bool(true)
	component.CronJob, err = batchv1.NewCronJob(ctx, name, &batchv1.CronJobArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(Name), Namespace: pulumi.String(Namespace)},
		Spec: &batchv1.CronJobSpecArgs{
			Schedule: pulumi.String(args.Backup.Schedule),
			TimeZone: pulumi.String("Etc/UTC"),
			// Two snapshots at once would only race for the same etcd.
			ConcurrencyPolicy:          pulumi.String("Forbid"),
			SuccessfulJobsHistoryLimit: pulumi.Int(3),
			FailedJobsHistoryLimit:     pulumi.Int(3),
			JobTemplate: &batchv1.JobTemplateSpecArgs{Spec: &batchv1.JobSpecArgs{
				BackoffLimit:            pulumi.Int(2),
				TtlSecondsAfterFinished: pulumi.Int(86400),
				Template: &corev1.PodTemplateSpecArgs{
					Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(Name)}},
					Spec: &corev1.PodSpecArgs{
						RestartPolicy: pulumi.String("OnFailure"),
						SecurityContext: &corev1.PodSecurityContextArgs{
							RunAsNonRoot:   notRoot,
							RunAsUser:      pulumi.Int(1000),
							RunAsGroup:     pulumi.Int(1000),
							SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
						},
						Containers: corev1.ContainerArray{corev1.ContainerArgs{
							Name:       pulumi.String(Name),
							Image:      pulumi.String(config.TalosBackupImage),
							Command:    pulumi.StringArray{pulumi.String("/talos-backup")},
							WorkingDir: pulumi.String("/tmp"),
							Env:        Env(args),
							Resources: &corev1.ResourceRequirementsArgs{
								Requests: pulumi.StringMap{"cpu": pulumi.String("10m"), "memory": pulumi.String("64Mi")},
								// The snapshot streams through memory on its
								// way to the bucket.
								Limits: pulumi.StringMap{"memory": pulumi.String("512Mi")},
							},
							SecurityContext: &corev1.SecurityContextArgs{
								AllowPrivilegeEscalation: pulumi.Bool(false),
								ReadOnlyRootFilesystem:   pulumi.Bool(true),
								Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
							},
							VolumeMounts: corev1.VolumeMountArray{
								corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
								corev1.VolumeMountArgs{Name: pulumi.String("talos-secrets"), MountPath: pulumi.String("/var/run/secrets/talos.dev"), ReadOnly: pulumi.Bool(true)},
							},
						}},
						Volumes: corev1.VolumeArray{
							corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}},
							corev1.VolumeArgs{Name: pulumi.String("talos-secrets"), Secret: &corev1.SecretVolumeSourceArgs{SecretName: pulumi.String(Name)}},
						},
					},
				},
			}},
		},
	}, parent, pulumi.DependsOn(deps))
	if err != nil {
		return nil, fmt.Errorf("etcd backup job: %w", err)
	}
	if err := ctx.RegisterResourceOutputs(component, pulumi.Map{
		"schedule": pulumi.String(args.Backup.Schedule),
		"bucket":   args.Bucket.Name,
	}); err != nil {
		return nil, err
	}
	return component, nil
}
