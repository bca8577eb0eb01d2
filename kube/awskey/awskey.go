// Package awskey hands one workload the AWS access key the backend made for
// it: a Secret in that workload's namespace, under the environment
// variable names every AWS SDK reads, and a revision that changes when the
// key is replaced, for pods that read the key once at start.
package awskey

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/your-org/sre-lab/infra"
)

// SecretName names the Secret in each namespace that holds a key. One
// workload per namespace calls AWS, so one name serves them all.
const SecretName = "aws-access-key"

// The Secret's keys: the environment variables of the AWS credential
// chain, so a container can take the whole Secret as its environment.
const (
	IDKey     = "AWS_ACCESS_KEY_ID"
	SecretKey = "AWS_SECRET_ACCESS_KEY"
)

// RevisionAnnotation carries Revision on a pod template, so that replacing
// the key rolls the pods that read it from their environment at start.
const RevisionAnnotation = "sre-lab.io/aws-key-revision"

// NewSecret puts key into namespace. The secret half stays a Pulumi secret
// (and pulumi-kubernetes keeps every Secret's data secret in the state).
func NewSecret(ctx *pulumi.Context, name, namespace string, key *infra.AccessKey, opts ...pulumi.ResourceOption) (*corev1.Secret, error) {
	if key == nil {
		return nil, fmt.Errorf("aws key %s: no key to hand to %s", name, namespace)
	}
	return corev1.NewSecret(ctx, name, &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(SecretName), Namespace: pulumi.String(namespace)},
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			IDKey:     key.ID,
			SecretKey: pulumi.ToSecret(key.Secret).(pulumi.StringOutput),
		},
	}, opts...)
}

// Revision names the key without giving its ID away: the first 16 hex
// digits of the ID's SHA-256.
func Revision(key *infra.AccessKey) pulumi.StringOutput {
	return key.ID.ApplyT(func(id string) string {
		sum := sha256.Sum256([]byte(id))
		return hex.EncodeToString(sum[:8])
	}).(pulumi.StringOutput)
}
