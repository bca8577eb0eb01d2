package talos

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

const (
	machineToken    = "test:index:Machine"
	applyToken      = "talos:machine/configurationApply:ConfigurationApply"
	bootstrapToken  = "talos:machine/bootstrap:Bootstrap"
	kubeconfigToken = "talos:cluster/kubeconfig:Kubeconfig"
	commandToken    = "command:local:Command"
	providerToken   = "pulumi:providers:kubernetes"
	clusterCA       = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
)

// clusterMocks answer what the Talos provider computes.
func clusterMocks() *pulumitest.Mocks {
	return &pulumitest.Mocks{
		Outputs: func(args pulumi.MockResourceArgs) map[string]any {
			switch args.TypeToken {
			case "talos:machine/secrets:Secrets":
				return map[string]any{
					"clientConfiguration": map[string]any{"caCertificate": "ca", "clientCertificate": "cert", "clientKey": "key"},
					"machineSecrets":      map[string]any{"cluster": map[string]any{"id": "id", "secret": "secret"}},
				}
			case kubeconfigToken:
				return map[string]any{
					"kubeconfigRaw": "apiVersion: v1\nkind: Config\n",
					// The provider reports the CA base64-encoded.
					"kubernetesClientConfiguration": map[string]any{
						"caCertificate": base64.StdEncoding.EncodeToString([]byte(clusterCA)),
					},
				}
			case commandToken:
				return map[string]any{"stdout": "https://192.168.56.10:6443\n"}
			}
			return nil
		},
		Invokes: func(args pulumi.MockCallArgs) map[string]any {
			switch args.Token {
			case "talos:machine/getConfiguration:getConfiguration":
				return map[string]any{"machineConfiguration": "version: v1alpha1\n"}
			case "talos:client/getConfiguration:getConfiguration":
				// As the provider's, the talosconfig lists the endpoints
				// and nodes it is given.
				return map[string]any{"talosConfig": fmt.Sprintf("context: lab\nendpoints: %v\nnodes: %v\n", args.Args["endpoints"], args.Args["nodes"])}
			}
			return nil
		},
	}
}

// deployCluster builds a TalosCluster on stand-in machines, controlPlanes
// and workers of them, as a backend would hand them over.
func deployCluster(t *testing.T, controlPlanes, workers int, change func(*ClusterArgs)) (*pulumitest.Mocks, error) {
	t.Helper()
	m := clusterMocks()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var platform infra.Platform
		for _, pool := range []struct {
			role  infra.Role
			count int
		}{{infra.ControlPlane, controlPlanes}, {infra.Worker, workers}} {
			for i := 1; i <= pool.count; i++ {
				name := infra.LocalNodeName(pool.role, i)
				var machine pulumi.CustomResourceState
				if err := ctx.RegisterResource(machineToken, name, pulumi.Map{}, &machine); err != nil {
					return err
				}
				ip := fmt.Sprintf("192.168.56.%d", 9+i+10*len(platform.Workers()))
				platform.Nodes = append(platform.Nodes, infra.Node{
					Name: name, Role: pool.role, Machine: &machine,
					PrivateIP: pulumi.String(ip).ToStringOutput(),
					PublicIP:  pulumi.String("").ToStringOutput(),
				})
			}
		}
		platform.Endpoint = pulumi.String("192.168.56.10").ToStringOutput()
		args := &ClusterArgs{
			ClusterName: "sre-lab", Environment: "local", TalosVersion: "v1.12.4",
			KubernetesVersion: "1.35.0", NetworkCIDR: "192.168.56.0/24",
			Platform: platform, UpgradeInPlace: true,
		}
		if change != nil {
			change(args)
		}
		_, err := NewCluster(ctx, "sre-lab", args)
		return err
	}, pulumi.WithMocks("sre-lab", "local", m))
	return m, err
}

// The Kubernetes provider probes the cluster once, when configured; the
// kubeconfig it is configured from must wait for the API gate, and the
// gate for the bootstrap.
func TestProviderWaitsForTheAPIServer(t *testing.T) {
	m, err := deployCluster(t, 3, 2, nil)
	require.NoError(t, err)

	gate := m.Named(t, commandToken, "sre-lab-api-ready")
	assert.True(t, gate.DependsOn(bootstrapToken, "sre-lab-bootstrap"), "the gate starts after the bootstrap")
	require.Len(t, gate.ReplaceWith, 1)
	assert.True(t, strings.HasSuffix(gate.ReplaceWith[0], bootstrapToken+"::sre-lab-bootstrap"),
		"a new bootstrap starts a new API server, which is waited for again")
	url, _ := gate.At("environment.SRE_API_URL")
	assert.Equal(t, "https://192.168.56.10:6443", url, "the gate polls the endpoint clients use")
	ca, _ := gate.At("environment.SRE_API_CA")
	assert.Equal(t, clusterCA, ca, "the gate verifies the server with the cluster's CA, decoded to PEM")
	create, _ := gate.At("create")
	assert.Contains(t, create, "/readyz")
	triggers, _ := gate.At("triggers")
	assert.Equal(t, []any{"https://192.168.56.10:6443", clusterCA}, triggers, "a new endpoint or CA waits again")

	provider := m.Named(t, providerToken, "sre-lab-k8s")
	assert.True(t, provider.DependsOn(commandToken, "sre-lab-api-ready"),
		"the provider's kubeconfig is held until the gate passes; dependencies: %v", provider.Dependencies)
	kubeconfig, _ := provider.At("kubeconfig")
	assert.Equal(t, "apiVersion: v1\nkind: Config\n", kubeconfig)
	assert.True(t, provider.Inputs["kubeconfig"].ContainsSecrets(), "the kubeconfig stays secret through the gate")
}

// A replaced machine boots unconfigured, mostly at the same address, so
// the steps acting on it are replaced with it.
func TestReplacedMachinesAreConfiguredAgain(t *testing.T) {
	m, err := deployCluster(t, 3, 2, nil)
	require.NoError(t, err)
	for _, node := range []string{"talos-cp-01", "talos-cp-02", "talos-cp-03", "talos-worker-01", "talos-worker-02"} {
		apply := m.Named(t, applyToken, "sre-lab-"+node)
		assert.True(t, replacedWith(apply, node), "the apply of %s is replaced with its machine, got %v", node, apply.ReplaceWith)
		step := m.Named(t, commandToken, "sre-lab-upgrade-"+node)
		assert.True(t, replacedWith(step, node), "the upgrade step of %s is replaced with its machine, got %v", node, step.ReplaceWith)
	}
	bootstrap := m.Named(t, bootstrapToken, "sre-lab-bootstrap")
	assert.Empty(t, bootstrap.ReplaceWith,
		"with three control planes a replaced first one joins the others: bootstrapping it again would split etcd")
}

func TestASingleControlPlaneIsBootstrappedAgain(t *testing.T) {
	m, err := deployCluster(t, 1, 1, nil)
	require.NoError(t, err)
	bootstrap := m.Named(t, bootstrapToken, "sre-lab-bootstrap")
	assert.True(t, replacedWith(bootstrap, "talos-cp-01"),
		"the only etcd member went with the machine: the new one starts the cluster again; got %v", bootstrap.ReplaceWith)
}

func TestNodesMustNameTheirMachine(t *testing.T) {
	m, err := deployCluster(t, 1, 1, func(a *ClusterArgs) { a.Platform.Nodes[1].Machine = nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "node talos-worker-01 names no machine resource")
	assert.Empty(t, m.ByType(Token), "nothing is registered")
}

// replacedWith reports whether r is replaced with exactly the stand-in
// machine of node.
func replacedWith(r pulumitest.Resource, node string) bool {
	return len(r.ReplaceWith) == 1 && strings.HasSuffix(r.ReplaceWith[0], "::"+machineToken+"::"+node)
}
