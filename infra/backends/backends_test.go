package backends

import (
	"go/build/constraint"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra/buildtags"
)

func TestMissingSaysHowToBuildTheBackendIn(t *testing.T) {
	local := []config.Cloud{config.VirtualBox, config.Docker}
	for _, tc := range []struct {
		cloud config.Cloud
		have  []config.Cloud
		want  string
	}{
		{config.AWS, local, "sre-lab:cloud = aws, but this build has only: virtualbox, docker; unset GOFLAGS or add the sre_lab_aws tag (GOFLAGS=-tags=sre_lab_local,sre_lab_aws)"},
		{config.Hetzner, append(local, config.AWS), "sre-lab:cloud = hetzner, but this build has only: virtualbox, docker, aws; unset GOFLAGS or add the sre_lab_hetzner tag (GOFLAGS=-tags=sre_lab_local,sre_lab_hetzner)"},
		{"vmware", local, `sre-lab:cloud = "vmware": no such backend in this build; it has: virtualbox, docker`},
	} {
		t.Run(string(tc.cloud), func(t *testing.T) {
			assert.EqualError(t, missing(tc.cloud, tc.have), tc.want)
		})
	}
}

func TestEveryDesignedBackendHasAFileAndCloudsHaveATag(t *testing.T) {
	for _, c := range config.Implemented {
		_, err := os.Stat(string(c) + ".go")
		assert.NoError(t, err, "backend %s registers from %s.go", c, c)
	}
	assert.Equal(t, []config.Cloud{config.AWS, config.GCP, config.Azure, config.Hetzner}, Clouds())
}

// TestBuildConstraints evaluates each backend file's //go:build line the
// way the go command does (go/build/constraint) for the builds people
// use: the default, local-only, and local-only plus one cloud.
func TestBuildConstraints(t *testing.T) {
	included := func(file string, tags ...string) bool {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if !constraint.IsGoBuild(line) {
				continue
			}
			expr, err := constraint.Parse(line)
			require.NoError(t, err, file)
			return expr.Eval(func(tag string) bool { return slices.Contains(tags, tag) })
		}
		return true
	}
	for _, c := range config.Implemented {
		file := string(c) + ".go"
		tag, isCloud := CloudTags[c]
		t.Run(string(c), func(t *testing.T) {
			assert.True(t, included(file), "the default build has every backend")
			assert.Equal(t, !isCloud, included(file, buildtags.Local), "a local-only build has only the local backends")
			for other, otherTag := range CloudTags {
				assert.Equal(t, !isCloud || other == c, included(file, buildtags.Local, otherTag),
					"local-only plus %s", otherTag)
			}
			if isCloud {
				assert.True(t, included(file, buildtags.Local, tag))
			}
		})
	}
	for _, shared := range []string{"backends.go", "tags.go"} {
		assert.True(t, included(shared, buildtags.Local), shared)
	}
}

// sdks are the Go import paths of each cloud's Pulumi SDK: the packages a
// build without that cloud must not compile.
var sdks = map[config.Cloud]string{
	config.AWS:     "github.com/pulumi/pulumi-aws/",
	config.GCP:     "github.com/pulumi/pulumi-gcp/",
	config.Azure:   "github.com/pulumi/pulumi-azure-native-sdk/",
	config.Hetzner: "github.com/pulumi/pulumi-hcloud/",
}

// wholeSDK are the Kubernetes SDK packages that import every API group the
// SDK generates; compiling those groups was half of a cold build, so the
// program registers the Helm release and the manifest component itself
// (kube/helm, kube/crds) and must not import these.
var wholeSDK = []string{
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/",
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/yaml",
}

// TestLocalOnlyBuildCompilesNoCloudSDK asks the go command which packages
// the program's build holds under each tag set: what `pulumi up` compiles.
func TestLocalOnlyBuildCompilesNoCloudSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list on the whole program")
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		tags []string
		want []config.Cloud
	}{
		{"default", nil, Clouds()},
		{"local only", []string{buildtags.Local}, nil},
		{"local and aws", []string{buildtags.Local, CloudTags[config.AWS]}, []config.Cloud{config.AWS}},
		{"local and hetzner", []string{buildtags.Local, CloudTags[config.Hetzner]}, []config.Cloud{config.Hetzner}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", "-tags="+strings.Join(tc.tags, ","), ".")
			cmd.Dir = root
			// The user's own GOFLAGS must not change what is measured.
			cmd.Env = append(os.Environ(), "GOFLAGS=")
			out, err := cmd.Output()
			require.NoError(t, err)
			deps := string(out)
			for _, c := range Clouds() {
				assert.Equal(t, slices.Contains(tc.want, c), strings.Contains(deps, "\n"+sdks[c]),
					"%s SDK in the %s build", c, tc.name)
			}
			assert.Contains(t, deps, "github.com/pulumi/pulumi-docker/", "the local backends are in every build")
			for _, pkg := range wholeSDK {
				assert.NotContains(t, deps, "\n"+pkg, "the %s build imports every Kubernetes API group", tc.name)
			}
		})
	}
}
