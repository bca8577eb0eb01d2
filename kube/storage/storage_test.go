package storage

import (
	"fmt"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/infra/apigate"
	"github.com/your-org/sre-lab/internal/pulumitest"
	"github.com/your-org/sre-lab/kube/awskey"
	"github.com/your-org/sre-lab/kube/namespaces"
)

// Type tokens of what the tests look for.
const (
	tRelease  = "kubernetes:helm.sh/v3:Release"
	tProvider = "pulumi:providers:kubernetes"
	tSecret   = "kubernetes:core/v1:Secret"
	tCommand  = "command:local:Command"
)

// out is a known output, as other resources hand them over.
func out(s string) pulumi.StringOutput { return pulumi.String(s).ToStringOutput() }

// access is the admin's way to the API server, as TalosCluster hands it
// over.
func access() apigate.Access {
	return apigate.Access{
		URL:               out("https://203.0.113.10:6443"),
		CACertificate:     out("ca-pem"),
		ClientCertificate: out("cert-pem"),
		ClientKey:         pulumi.ToSecret(out("key-pem")).(pulumi.StringOutput),
	}
}

// ebsKey is the controller's key as the AWS backend hands it over.
func ebsKey() *infra.AccessKey {
	return &infra.AccessKey{ID: out("AKIAEBSCSI"), Secret: pulumi.ToSecret(out("ebs-secret")).(pulumi.StringOutput)}
}

// isDefault is the annotation that makes a StorageClass the default.
const isDefault = "storageclass.kubernetes.io/is-default-class"

// validArgs are args the caller would pass for a driver.
func validArgs(driver string) *Args {
	switch driver {
	case LocalPath:
		return &Args{Driver: LocalPath, Chart: config.DefaultCharts[config.ChartLocalPath], Namespace: namespaces.Storage}
	case AWSEBS:
		return &Args{Driver: AWSEBS, Chart: config.DefaultCharts[config.ChartEBSCSI], Namespace: namespaces.KubeSystem, ControllerReplicas: 2,
			AWSKey: ebsKey(), Region: "eu-central-1", ClusterName: "sre-lab-dev", Access: access()}
	}
	panic("no args for driver " + driver)
}

// outcome is what one mocked run left behind.
type outcome struct {
	mocks   *pulumitest.Mocks
	storage *Storage
	urn     string
}

// run registers a Kubernetes provider and the component under mocks.
func run(t *testing.T, args *Args) (outcome, error) {
	t.Helper()
	var out outcome
	var err error
	out.mocks, out.urn, err = pulumitest.InCluster("dev", nil, func(ctx *pulumi.Context, with pulumi.ResourceOption, _ []pulumi.Resource) (pulumi.Resource, error) {
		s, err := NewStorage(ctx, "storage", args, with)
		if err != nil {
			return nil, err
		}
		out.storage = s
		return s, nil
	})
	return out, err
}

// release runs args and returns the one release they registered.
func release(t *testing.T, args *Args) (pulumitest.Resource, outcome) {
	t.Helper()
	out, err := run(t, args)
	require.NoError(t, err)
	releases := out.mocks.ByType(tRelease)
	require.Len(t, releases, 1, "one release")
	return releases[0], out
}

// at returns the release input at path, failing the test when it is absent.
func at(t *testing.T, r pulumitest.Resource, path string) any {
	t.Helper()
	v, ok := r.At(path)
	require.True(t, ok, "release input %s is missing", path)
	return v
}

// defaultClasses lists the StorageClasses a driver's chart would mark
// default, given the values the release was registered with and the chart's
// own defaults for keys the values leave out.
func defaultClasses(t *testing.T, driver string, values map[string]any) []string {
	t.Helper()
	var out []string
	switch driver {
	case LocalPath:
		// The chart creates one class, from storageClass; create defaults to
		// true and defaultClass to false.
		sc, _ := values["storageClass"].(map[string]any)
		if sc["create"] != false && sc["defaultClass"] == true {
			out = append(out, fmt.Sprint(sc["name"]))
		}
	case AWSEBS:
		classes, _ := values["storageClasses"].([]any)
		for _, c := range classes {
			class, _ := c.(map[string]any)
			annotations, _ := class["annotations"].(map[string]any)
			if annotations[isDefault] == "true" {
				out = append(out, fmt.Sprint(class["name"]))
			}
		}
		// The chart's own default class, off unless enabled.
		if d, _ := values["defaultStorageClass"].(map[string]any); d["enabled"] == true {
			out = append(out, "ebs-csi-default-sc")
		}
	}
	return out
}

func TestNewStorageRelease(t *testing.T) {
	for _, tc := range []struct {
		driver   string
		chart    string
		repo     any // repositoryOpts.repo, nil when there must be none
		version  string
		ns       string
		class    string
		resource string
	}{
		{
			driver:   LocalPath,
			chart:    "oci://ghcr.io/rancher/local-path-provisioner/charts/local-path-provisioner",
			version:  "0.0.37",
			ns:       namespaces.Storage,
			class:    "local-path",
			resource: "storage-local-path-provisioner",
		},
		{
			driver:   AWSEBS,
			chart:    "aws-ebs-csi-driver",
			repo:     "https://kubernetes-sigs.github.io/aws-ebs-csi-driver",
			version:  "2.64.0",
			ns:       namespaces.KubeSystem,
			class:    "gp3",
			resource: "storage-aws-ebs-csi-driver",
		},
	} {
		t.Run(tc.driver, func(t *testing.T) {
			args := validArgs(tc.driver)
			r, out := release(t, args)

			assert.Equal(t, tc.resource, r.Name, "resource name derives from the component's")
			assert.Equal(t, args.Chart.Name, at(t, r, "name"), "release is named after the chart")
			assert.Equal(t, tc.chart, at(t, r, "chart"))
			assert.Equal(t, tc.version, at(t, r, "version"))
			assert.Equal(t, tc.ns, at(t, r, "namespace"))
			repo, ok := r.At("repositoryOpts.repo")
			if tc.repo == nil {
				assert.False(t, ok, "an OCI chart has no repository index: %v", repo)
				_, ok = r.At("repositoryOpts")
				assert.False(t, ok, "no repositoryOpts for an OCI chart")
			} else {
				assert.True(t, ok)
				assert.Equal(t, tc.repo, repo)
			}

			require.NotEmpty(t, out.urn)
			assert.Equal(t, out.urn, r.Parent, "release is parented under the component")
			assert.Contains(t, r.Provider, tProvider+"::k8s::", "release goes through the provider given to the component, not a default one")
			assert.Equal(t, tc.class, out.storage.StorageClass)
			assert.NotNil(t, out.storage.Release)

			components := out.mocks.ByType(Token)
			require.Len(t, components, 1)
			assert.Equal(t, "storage", components[0].Name)
		})
	}
}

func TestValuesLocalPath(t *testing.T) {
	r, _ := release(t, validArgs(LocalPath))

	assert.Equal(t, true, at(t, r, "values.storageClass.create"))
	assert.Equal(t, true, at(t, r, "values.storageClass.defaultClass"))
	assert.Equal(t, LocalPathClass, at(t, r, "values.storageClass.name"))
	assert.Equal(t, "Delete", at(t, r, "values.storageClass.reclaimPolicy"))
	assert.Equal(t, "local", at(t, r, "values.storageClass.defaultVolumeType"),
		"local volumes, which the kubelet reports usage for; hostPath volumes it does not")
	_, shared := r.At("values.sharedFileSystemPath")
	assert.False(t, shared, "with a shared filesystem the provisioner drops node affinity, which a local volume must have")

	assert.Equal(t, []any{
		map[string]any{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": []any{infra.LocalPathDir}},
	}, at(t, r, "values.nodePathMap"), "every node keeps volumes on the Talos user volume")

	assert.NotEmpty(t, at(t, r, "values.resources.requests.cpu"))
	assert.NotEmpty(t, at(t, r, "values.resources.requests.memory"))
	assert.NotEmpty(t, at(t, r, "values.resources.limits.memory"))

	_, ok := r.At("values.storageClasses")
	assert.False(t, ok, "no EBS classes with the local-path driver")
}

func TestValuesAWSEBS(t *testing.T) {
	r, _ := release(t, validArgs(AWSEBS))

	assert.Equal(t, []any{
		map[string]any{
			"name":                 "gp3",
			"annotations":          map[string]any{isDefault: "true"},
			"volumeBindingMode":    "WaitForFirstConsumer",
			"reclaimPolicy":        "Delete",
			"allowVolumeExpansion": true,
			"parameters":           map[string]any{"type": "gp3", "encrypted": "true"},
		},
	}, at(t, r, "values.storageClasses"))
	assert.Equal(t, false, at(t, r, "values.defaultStorageClass.enabled"))

	assert.Equal(t, float64(2), at(t, r, "values.controller.replicaCount"))
	assert.Equal(t, true, at(t, r, "values.controller.enableMetrics"))
	for _, part := range []string{"controller", "node"} {
		for _, path := range []string{"resources.requests.cpu", "resources.requests.memory", "resources.limits.memory"} {
			assert.NotEmpty(t, at(t, r, "values."+part+"."+path))
		}
	}

	_, ok := r.At("values.nodePathMap")
	assert.False(t, ok, "no local paths with the EBS driver")

	// The nodes carry no AWS identity and a pod cannot reach instance
	// metadata: the controller gets its own key and the region, the node
	// plugin the host network, and every volume the cluster's tag.
	assert.Equal(t, map[string]any{"name": awskey.SecretName, "keyId": "AWS_ACCESS_KEY_ID", "accessKey": "AWS_SECRET_ACCESS_KEY"},
		at(t, r, "values.awsAccessSecret"))
	assert.Equal(t, "eu-central-1", at(t, r, "values.controller.region"))
	assert.Equal(t, "sre-lab-dev", at(t, r, "values.controller.k8sTagClusterId"))
	assert.Equal(t, true, at(t, r, "values.node.hostNetwork"))
}

// TestEBSKeySecret: the controller's key lands in a Secret of the
// release's namespace, under the names the values point the chart at,
// before the release; a replaced key changes the controller's pod
// annotation, which rolls it.
func TestEBSKeySecret(t *testing.T) {
	r, o := release(t, validArgs(AWSEBS))
	secrets := o.mocks.ByType(tSecret)
	require.Len(t, secrets, 1)
	secret := secrets[0]
	assert.Equal(t, o.urn, secret.Parent)
	assert.Equal(t, awskey.SecretName, at(t, secret, "metadata.name"))
	assert.Equal(t, namespaces.KubeSystem, at(t, secret, "metadata.namespace"))
	assert.Equal(t, map[string]any{"AWS_ACCESS_KEY_ID": "AKIAEBSCSI", "AWS_SECRET_ACCESS_KEY": "ebs-secret"}, at(t, secret, "stringData"))
	assert.True(t, r.DependsOn(tSecret, secret.Name), "the release waits for its key")

	revision := at(t, r, "values.controller.podAnnotations")
	other := validArgs(AWSEBS)
	other.AWSKey.ID = out("AKIAREPLACED")
	r2, _ := release(t, other)
	assert.NotEqual(t, revision, at(t, r2, "values.controller.podAnnotations"), "a new key rolls the controller")
	assert.NotContains(t, fmt.Sprint(revision), "AKIA", "the annotation does not give the key ID away")

	r3, o3 := release(t, validArgs(LocalPath))
	assert.Empty(t, o3.mocks.ByType(tSecret), "local-path calls no cloud")
	_, ok := r3.At("values.awsAccessSecret")
	assert.False(t, ok)
}

// TestReleaseVolumesStep: on AWS a command stands between the driver and
// the releases that make claims: it waits for the driver's release, runs
// nothing on create and the release-volumes script on delete, against the
// API server as the admin (the key kept secret), for the driver's class;
// it is what Volumes hands on. The local-path driver has none: its volumes
// die with the nodes.
func TestReleaseVolumesStep(t *testing.T) {
	r, o := release(t, validArgs(AWSEBS))
	commands := o.mocks.ByType(tCommand)
	require.Len(t, commands, 1)
	c := commands[0]
	assert.Equal(t, "storage-release-volumes", c.Name)
	assert.Equal(t, o.urn, c.Parent)
	assert.True(t, c.DependsOn(tRelease, r.Name), "it goes before the driver on destroy")
	_, create := c.At("create")
	assert.False(t, create, "nothing to do on create")
	_, update := c.At("update")
	assert.False(t, update)
	_, triggers := c.At("triggers")
	assert.False(t, triggers, "nothing may replace it, which would run the delete on a living cluster")
	assert.Equal(t, releaseScript, at(t, c, "delete"))
	assert.Equal(t, []any{"/bin/sh", "-c"}, at(t, c, "interpreter"))
	env := at(t, c, "environment").(map[string]any)
	assert.Equal(t, "gp3", env["SRE_STORAGE_CLASS"])
	assert.Equal(t, "https://203.0.113.10:6443", env["SRE_API_URL"])
	assert.Equal(t, "key-pem", env["SRE_API_KEY"])
	assert.Equal(t, "600", env["SRE_API_TIMEOUT_SECONDS"])
	key, _ := c.Inputs["environment"].ObjectValue()["SRE_API_KEY"]
	assert.True(t, key.ContainsSecrets(), "the admin key stays secret")
	require.Len(t, o.storage.Volumes, 1)

	_, local := release(t, validArgs(LocalPath))
	assert.Empty(t, local.mocks.ByType(tCommand))
	assert.Empty(t, local.storage.Volumes)
}

func TestValuesControllerReplicas(t *testing.T) {
	for _, tc := range []struct {
		replicas int
		want     float64
	}{{0, 1}, {1, 1}, {2, 2}, {3, 3}} {
		t.Run(fmt.Sprint(tc.replicas), func(t *testing.T) {
			args := validArgs(AWSEBS)
			args.ControllerReplicas = tc.replicas
			r, _ := release(t, args)
			assert.Equal(t, tc.want, at(t, r, "values.controller.replicaCount"))
		})
	}
}

func TestNewStorageOneDefaultClass(t *testing.T) {
	for _, driver := range []string{LocalPath, AWSEBS} {
		t.Run(driver, func(t *testing.T) {
			r, out := release(t, validArgs(driver))
			values, _ := at(t, r, "values").(map[string]any)
			classes := defaultClasses(t, driver, values)
			require.Len(t, classes, 1, "exactly one default StorageClass, got %v", classes)
			assert.Equal(t, out.storage.StorageClass, classes[0], "the StorageClass output names the default class")
		})
	}
}

func TestNewStorageUserValuesOverride(t *testing.T) {
	for _, tc := range []struct {
		driver string
		values map[string]any
		// want maps a path to its value after the merge: the user's where
		// they set one, the component's everywhere else.
		want map[string]any
	}{
		{
			driver: LocalPath,
			values: map[string]any{
				"storageClass": map[string]any{"reclaimPolicy": "Retain"},
				"replicaCount": 2,
			},
			want: map[string]any{
				"values.storageClass.reclaimPolicy":     "Retain",
				"values.replicaCount":                   float64(2),
				"values.storageClass.name":              LocalPathClass,
				"values.storageClass.defaultClass":      true,
				"values.storageClass.create":            true,
				"values.storageClass.defaultVolumeType": "local",
				"values.resources.limits.memory":        "128Mi",
				"values.nodePathMap": []any{
					map[string]any{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": []any{infra.LocalPathDir}},
				},
			},
		},
		{
			driver: AWSEBS,
			values: map[string]any{
				"controller": map[string]any{"replicaCount": 3},
				"node":       map[string]any{"logLevel": 5},
			},
			want: map[string]any{
				"values.controller.replicaCount":     float64(3),
				"values.controller.enableMetrics":    true,
				"values.controller.resources.limits": map[string]any{"memory": "256Mi"},
				"values.node.logLevel":               float64(5),
				"values.node.resources.limits":       map[string]any{"memory": "256Mi"},
				"values.defaultStorageClass.enabled": false,
			},
		},
	} {
		t.Run(tc.driver, func(t *testing.T) {
			args := validArgs(tc.driver)
			args.Values = tc.values
			r, _ := release(t, args)
			for path, want := range tc.want {
				assert.Equal(t, want, at(t, r, path), path)
			}
		})
	}
}

func TestNewStorageInvalidArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args *Args
		want []string // substrings of the error
	}{
		{"nil args", nil, []string{"no args"}},
		{"unknown driver", &Args{Driver: "nfs", Chart: config.DefaultCharts[config.ChartLocalPath], Namespace: namespaces.Storage},
			[]string{`"nfs"`, LocalPath, AWSEBS}},
		{"empty driver", &Args{Chart: config.DefaultCharts[config.ChartLocalPath], Namespace: namespaces.Storage},
			[]string{"unknown driver", LocalPath, AWSEBS}},
		{"negative replicas", func() *Args { a := validArgs(AWSEBS); a.ControllerReplicas = -1; return a }(),
			[]string{"negative", "-1"}},
		{"no namespace", func() *Args { a := validArgs(LocalPath); a.Namespace = ""; return a }(),
			[]string{"no namespace"}},
		{"chart of the other driver", func() *Args { a := validArgs(LocalPath); a.Chart = config.DefaultCharts[config.ChartEBSCSI]; return a }(),
			[]string{config.ChartLocalPath, config.ChartEBSCSI}},
		{"unpinned chart", func() *Args { a := validArgs(AWSEBS); a.Chart.Version = ""; return a }(),
			[]string{"not pinned"}},
		{"EBS without a key", func() *Args { a := validArgs(AWSEBS); a.AWSKey = nil; return a }(),
			[]string{"access key", "no AWS identity"}},
		{"EBS without a region", func() *Args { a := validArgs(AWSEBS); a.Region = ""; return a }(),
			[]string{"region"}},
		{"EBS without a cluster name", func() *Args { a := validArgs(AWSEBS); a.ClusterName = ""; return a }(),
			[]string{"cluster name"}},
		{"EBS without access", func() *Args { a := validArgs(AWSEBS); a.Access = apigate.Access{}; return a }(),
			[]string{"access to the API server"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, tc.args)
			require.Error(t, err)
			for _, s := range tc.want {
				assert.Contains(t, err.Error(), s)
			}
			for _, r := range out.mocks.Resources() {
				assert.Equal(t, tProvider, r.Type, "nothing but the test's provider is registered, got %s %s", r.Type, r.Name)
			}
			assert.Len(t, out.mocks.Resources(), 1)
		})
	}
}

func TestValuesPure(t *testing.T) {
	assert.Nil(t, Values(nil))
	assert.Nil(t, Values(&Args{Driver: "nfs"}))

	for _, driver := range []string{LocalPath, AWSEBS} {
		t.Run(driver, func(t *testing.T) {
			args := validArgs(driver)
			args.Values = map[string]any{"marker": "user"}
			first := Values(args)
			require.NotEmpty(t, first)
			assert.NotContains(t, first, "marker", "user values are merged by the release, not here")
			assert.Equal(t, map[string]any{"marker": "user"}, args.Values, "args are not modified")

			// Each call builds fresh maps and lists, so a caller editing one
			// result cannot change the next.
			clearAll(t, first)
			assert.Len(t, defaultClasses(t, driver, Values(args)), 1)
			assert.Equal(t, Values(validArgs(driver)), Values(args))
		})
	}
}

// clearAll empties every map and list inside v, recursively.
func clearAll(t *testing.T, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			clearAll(t, e)
			delete(v, k)
		}
	case []any:
		for i, e := range v {
			clearAll(t, e)
			v[i] = nil
		}
	}
}
