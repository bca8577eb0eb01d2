package upgrade

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

const (
	commandToken = "command:local:Command"
	applyToken   = "test:index:Apply"
	machineToken = "test:index:Machine"
	talosconfig  = "context: sre-lab\ncontexts:\n  sre-lab:\n    key: c2VjcmV0LWNsaWVudC1rZXk=\n"
	cp1, cp2     = "192.168.56.10", "192.168.56.11"
	worker1      = "192.168.56.20"
)

// labNodes lists a worker before the control planes, as a careless caller
// might: the component must still start with the control planes. Their
// machines are placeholders until deploy registers stand-ins.
func labNodes() []Node {
	return []Node{
		{Name: "talos-worker-01", Role: infra.Worker, Address: pulumi.String(worker1), Machine: &pulumi.CustomResourceState{}},
		{Name: "talos-cp-01", Role: infra.ControlPlane, Address: pulumi.String(cp1), Machine: &pulumi.CustomResourceState{}},
		{Name: "talos-cp-02", Role: infra.ControlPlane, Address: pulumi.String(cp2), Machine: &pulumi.CustomResourceState{}},
	}
}

func labArgs() Args {
	return Args{
		Nodes:             labNodes(),
		Talosconfig:       pulumi.String(talosconfig),
		TalosVersion:      "v1.12.4",
		KubernetesVersion: "1.35.0",
	}
}

func TestWithDefaults(t *testing.T) {
	got, err := withDefaults(labArgs())
	require.NoError(t, err)
	var order []string
	for _, n := range got.Nodes {
		order = append(order, n.Name)
	}
	assert.Equal(t, []string{"talos-cp-01", "talos-cp-02", "talos-worker-01"}, order,
		"control planes first, each role in the order given")
	assert.Equal(t, "talos-worker-01", labArgs().Nodes[0].Name, "the caller's slice is left alone")
	assert.Equal(t, pulumi.String(cp1), got.Endpoint, "checks run on the first control plane")
	assert.Equal(t, infra.InstallerImage("v1.12.4"), got.InstallerImage)
	assert.Equal(t, DefaultHealthTimeout, got.HealthTimeout)

	kept := labArgs()
	kept.Endpoint = pulumi.String(cp2)
	kept.InstallerImage = "registry.example/talos/installer:v1.12.4"
	kept.HealthTimeout = 3 * time.Minute
	got, err = withDefaults(kept)
	require.NoError(t, err)
	assert.Equal(t, pulumi.String(cp2), got.Endpoint)
	assert.Equal(t, "registry.example/talos/installer:v1.12.4", got.InstallerImage)
	assert.Equal(t, 3*time.Minute, got.HealthTimeout)

	containers := labArgs()
	containers.Nodes = nil
	containers.Endpoint = pulumi.String(cp1)
	_, err = withDefaults(containers)
	assert.NoError(t, err, "no node to upgrade, only Kubernetes")
}

func TestWithDefaultsRejects(t *testing.T) {
	for name, c := range map[string]struct {
		change func(*Args)
		want   string
	}{
		"no Talos version":      {func(a *Args) { a.TalosVersion = "" }, "Talos version"},
		"no Kubernetes version": {func(a *Args) { a.KubernetesVersion = "" }, "Kubernetes version"},
		"no talosconfig":        {func(a *Args) { a.Talosconfig = nil }, "talosconfig"},
		"unknown role":          {func(a *Args) { a.Nodes[0].Role = "etcd" }, `talos-worker-01: role "etcd"`},
		"no address":            {func(a *Args) { a.Nodes[1].Address = nil }, "talos-cp-01: the address"},
		"no machine":            {func(a *Args) { a.Nodes[2].Machine = nil }, "talos-cp-02: the machine"},
		"only workers":          {func(a *Args) { a.Nodes = a.Nodes[:1] }, "no control plane"},
		"nothing at all":        {func(a *Args) { a.Nodes = nil }, "no control plane"},
	} {
		t.Run(name, func(t *testing.T) {
			a := labArgs()
			c.change(&a)
			_, err := withDefaults(a)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// deploy registers the component under mocks after a stand-in for the
// resource it must wait for, as the configuration applies would be, and a
// stand-in machine per node.
func deploy(t *testing.T, args Args) (*pulumitest.Mocks, error) {
	t.Helper()
	m := &pulumitest.Mocks{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var apply pulumi.CustomResourceState
		if err := ctx.RegisterResource(applyToken, "apply", pulumi.Map{}, &apply); err != nil {
			return err
		}
		args.DependsOn = []pulumi.Resource{&apply}
		args.Nodes = slices.Clone(args.Nodes)
		for i := range args.Nodes {
			var machine pulumi.CustomResourceState
			if err := ctx.RegisterResource(machineToken, args.Nodes[i].Name, pulumi.Map{}, &machine); err != nil {
				return err
			}
			args.Nodes[i].Machine = &machine
		}
		_, err := NewUpgrade(ctx, "upgrade", &args)
		return err
	}, pulumi.WithMocks("sre-lab", "dev", m))
	return m, err
}

func mustScript(t *testing.T, names ...string) string {
	t.Helper()
	s, err := script(names...)
	require.NoError(t, err)
	return s
}

func TestSteps(t *testing.T) {
	m, err := deploy(t, labArgs())
	require.NoError(t, err)
	m.Named(t, Token, "upgrade")

	var steps []pulumitest.Resource
	for _, r := range m.Resources() {
		if r.Type == commandToken {
			steps = append(steps, r)
		}
	}
	var names []string
	for _, s := range steps {
		names = append(names, s.Name)
	}
	require.Equal(t, []string{"upgrade-talos-cp-01", "upgrade-talos-cp-02", "upgrade-talos-worker-01", "upgrade-kubernetes"}, names,
		"control planes, then workers, then Kubernetes")

	for i, s := range steps {
		assert.True(t, strings.HasSuffix(s.Parent, "::"+Token+"::upgrade"), "%s is parented under the component", s.Name)
		if i == 0 {
			assert.True(t, s.DependsOn(applyToken, "apply"), "the first step waits for what the caller named")
		} else {
			assert.True(t, s.DependsOn(commandToken, steps[i-1].Name), "%s waits for %s", s.Name, steps[i-1].Name)
			assert.False(t, s.DependsOn(applyToken, "apply"), "%s is ordered through the steps before it", s.Name)
		}
		for _, later := range steps[i+1:] {
			assert.False(t, s.DependsOn(commandToken, later.Name), "%s must not wait for %s", s.Name, later.Name)
		}
		interpreter, _ := s.At("interpreter")
		assert.Equal(t, []any{"/bin/sh", "-c"}, interpreter, s.Name)
		previous, _ := s.At("addPreviousOutputInEnv")
		assert.Equal(t, true, previous, s.Name)
		for _, absent := range []resource.PropertyKey{"delete", "triggers"} {
			assert.False(t, s.Inputs.HasValue(absent), "%s has no %s: deleting does nothing and nothing replaces it", s.Name, absent)
		}
		config, _ := s.At("environment.SRE_TALOSCONFIG")
		assert.Equal(t, talosconfig, config, s.Name)
		// Only the talosconfig is secret, so a preview still shows which
		// version a step moves to.
		for key, v := range s.Inputs["environment"].ObjectValue() {
			assert.Equal(t, key == "SRE_TALOSCONFIG", v.IsSecret(), "%s: %s secret", s.Name, key)
		}
		assert.NotContains(t, exposed(resource.NewProperty(s.Inputs)), talosconfig,
			"%s: the talosconfig appears only as a secret", s.Name)
		endpoint, _ := s.At("environment.SRE_CONTROL_PLANE")
		assert.Equal(t, cp1, endpoint, s.Name)
	}

	for i, want := range []struct{ name, address string }{
		{"talos-cp-01", cp1}, {"talos-cp-02", cp2}, {"talos-worker-01", worker1},
	} {
		env, _ := steps[i].At("environment")
		assert.Equal(t, map[string]any{
			"SRE_NODE_NAME":       want.name,
			"SRE_NODE_ADDRESS":    want.address,
			"SRE_TALOS_VERSION":   "v1.12.4",
			"SRE_INSTALLER_IMAGE": infra.InstallerImage("v1.12.4"),
			"SRE_CONTROL_PLANE":   cp1,
			"SRE_HEALTH_TIMEOUT":  "10m0s",
			"SRE_TALOSCONFIG":     talosconfig,
		}, env)
		create, _ := steps[i].At("create")
		assert.Equal(t, mustScript(t, "node-created.sh"), create)
		// A replaced machine boots the pinned version unconfigured: its step
		// is created anew, which only records, instead of updating, which
		// would ask the unconfigured node for its version.
		require.Len(t, steps[i].ReplaceWith, 1, want.name)
		assert.True(t, strings.HasSuffix(steps[i].ReplaceWith[0], "::"+machineToken+"::"+want.name),
			"the step of %s is replaced with its machine, got %v", want.name, steps[i].ReplaceWith)
		update, _ := steps[i].At("update")
		assert.Equal(t, mustScript(t, "lib.sh", "node-upgrade.sh"), update)
	}

	kube := steps[len(steps)-1]
	env, _ := kube.At("environment")
	assert.Equal(t, map[string]any{
		"SRE_KUBERNETES_VERSION": "1.35.0",
		"SRE_CONTROL_PLANE":      cp1,
		"SRE_TALOSCONFIG":        talosconfig,
	}, env)
	create, _ := kube.At("create")
	assert.Equal(t, mustScript(t, "kubernetes-created.sh"), create)
	update, _ := kube.At("update")
	assert.Equal(t, mustScript(t, "lib.sh", "kubernetes-upgrade.sh"), update)
}

// Backends whose nodes are containers have nothing to upgrade in place;
// Kubernetes still moves, through the control plane named as Endpoint.
func TestStepsWithoutNodes(t *testing.T) {
	a := labArgs()
	a.Nodes = nil
	a.Endpoint = pulumi.String(cp2)
	m, err := deploy(t, a)
	require.NoError(t, err)
	steps := m.ByType(commandToken)
	require.Len(t, steps, 1)
	assert.Equal(t, "upgrade-kubernetes", steps[0].Name)
	assert.True(t, steps[0].DependsOn(applyToken, "apply"))
	endpoint, _ := steps[0].At("environment.SRE_CONTROL_PLANE")
	assert.Equal(t, cp2, endpoint)
}

func TestStepsRegisterNothingOnBadArgs(t *testing.T) {
	a := labArgs()
	a.Nodes = a.Nodes[:1]
	m, err := deploy(t, a)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "talos upgrade upgrade")
	assert.Empty(t, m.ByType(Token))
	assert.Empty(t, m.ByType(commandToken))
}

// Two runs of the same program must not show a diff, or every pulumi up
// would run the update scripts.
func TestStepsAreStable(t *testing.T) {
	first, err := deploy(t, labArgs())
	require.NoError(t, err)
	second, err := deploy(t, labArgs())
	require.NoError(t, err)
	a, b := first.ByType(commandToken), second.ByType(commandToken)
	require.Len(t, b, len(a))
	for i := range a {
		assert.True(t, a[i].Inputs.DeepEquals(b[i].Inputs), a[i].Name)
	}
}

// exposed lists the string values reachable without unwrapping a secret.
func exposed(v resource.PropertyValue) []string {
	switch {
	case v.IsSecret():
		return nil
	case v.IsOutput():
		if v.OutputValue().Secret {
			return nil
		}
		return exposed(v.OutputValue().Element)
	case v.IsString():
		return []string{v.StringValue()}
	case v.IsArray():
		var out []string
		for _, e := range v.ArrayValue() {
			out = append(out, exposed(e)...)
		}
		return out
	case v.IsObject():
		var out []string
		for _, e := range v.ObjectValue() {
			out = append(out, exposed(e)...)
		}
		return out
	}
	return nil
}

// fakeTalosctl records every call under $FAKE_TALOS_STATE, and in configs
// the mode of the talosconfig file it was handed, whether its content is
// $FAKE_WANT_TALOSCONFIG, and whether the raw value was inherited. It keeps the node's Talos version in
// version; upgrade sets it from the image tag unless $FAKE_ROLLBACK is set,
// as a node whose new version fails to boot comes back on the old one.
// health fails while the file unhealthy exists, which an upgrade creates
// when $FAKE_BREAKS_CLUSTER is set. A call whose argv starts with
// $FAKE_TALOSCTL_FAIL fails. Output goes to stdout, as talosctl's does, so
// the tests catch a script that lets it reach its own.
//
// Two states come from talosctl's and Talos's source. health and
// upgrade-k8s refuse more than one node (cmd/talosctl/pkg/talos/helpers,
// FailIfMultiNodes: 'command "health" is not supported with multiple
// nodes'). A node whose address is listed in the file maintenance has
// booted without a config: its API serves a self-signed certificate and no
// authenticated call, so every call with the cluster's client certificate
// fails the TLS handshake (internal/app/machined/pkg/system/services,
// the maintenance service).
const fakeTalosctl = `#!/bin/sh
s=$FAKE_TALOS_STATE
echo "talosctl $*" >>"$s/calls"
if [ -f "${TALOSCONFIG:-}" ]; then
	same=different
	if [ "$(cat "$TALOSCONFIG")" = "$FAKE_WANT_TALOSCONFIG" ]; then same=same; fi
	echo "$(stat -c %a "$TALOSCONFIG") $same ${SRE_TALOSCONFIG:+inherited}" >>"$s/configs"
else
	echo "no talosconfig" >>"$s/configs"
fi
case "$*" in "${FAKE_TALOSCTL_FAIL:-no failure injected}"*)
	echo "error: injected failure" >&2
	exit 1 ;;
esac
nodes=0
node=
prev=
for arg in "$@"; do
	if [ "$prev" = --nodes ] || [ "$prev" = -n ]; then
		for n in $(echo "$arg" | tr ',' ' '); do nodes=$((nodes + 1)); node=$n; done
	fi
	prev=$arg
done
case "$1" in health | upgrade-k8s)
	if [ "$nodes" -gt 1 ]; then
		echo "error: command \"$1\" is not supported with multiple nodes" >&2
		exit 1
	fi ;;
esac
if [ -n "$node" ] && grep -qx "$node" "$s/maintenance" 2>/dev/null; then
	echo "error: rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority\"" >&2
	exit 1
fi
case "$1" in
version)
	printf 'Client:\n\tTalos v1.12.9\nServer:\n\tNODE:        %s\n\tTag:         %s\n\tSHA:         0a1b2c3d\n\tEnabled:     RBAC\n' "$3" "$(cat "$s/version")" ;;
upgrade)
	image=
	while [ $# -gt 0 ]; do
		if [ "$1" = --image ]; then image=$2; fi
		shift
	done
	echo "watching nodes: [$image]"
	if [ -z "${FAKE_ROLLBACK:-}" ]; then echo "${image##*:}" >"$s/version"; fi
	if [ -n "${FAKE_BREAKS_CLUSTER:-}" ]; then : >"$s/unhealthy"; fi ;;
health)
	echo "waiting for all k8s nodes to report ready: OK"
	if [ -e "$s/unhealthy" ]; then
		echo "healthcheck error: context deadline exceeded" >&2
		exit 1
	fi ;;
upgrade-k8s)
	printf '%s\n' \
		'automatically detected the lowest Kubernetes version 1.34.1' \
		'updating "kube-apiserver" to version "1.35.0"' \
		' > "10.0.0.10": starting update' \
		' < "10.0.0.10": successfully updated' \
		'updating manifests' \
		' > processing manifest Secret kube-system/bootstrap-token-abcdef' \
		'--- a' \
		'+++ b' \
		'@@ -1,4 +1,4 @@' \
		'   stringData:' \
		'-    token-secret: 0123456789abcdef' \
		'+    token-secret: fedcba9876543210' \
		' < applied successfully' \
		'> waiting for Deployment kube-system/coredns' \
		'< rollout of Deployment kube-system/coredns successful' ;;
esac
`

// hostTools are the only real programs on the scripts' PATH, so a host that
// happens to have talosctl cannot leak into a test, and a script starting to
// need another tool shows up here. stat and cat serve the fake.
var hostTools = []string{"awk", "cat", "grep", "mktemp", "rm", "stat", "tr"}

// lab is one isolated run environment: $LAB/bin is the whole PATH,
// $LAB/state the fake's state and $LAB/tmp the scripts' TMPDIR.
type lab struct {
	t                *testing.T
	root, state, tmp string
	bin              string
}

type result struct {
	stdout, stderr string
	code           int
}

func newLab(t *testing.T, withTalosctl bool, nodeVersion string) *lab {
	t.Helper()
	root := t.TempDir()
	l := &lab{t: t, root: root, state: filepath.Join(root, "state"), tmp: filepath.Join(root, "tmp"), bin: filepath.Join(root, "bin")}
	for _, dir := range []string{l.bin, l.state, l.tmp} {
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	for _, tool := range hostTools {
		path, err := exec.LookPath(tool)
		require.NoError(t, err)
		require.NoError(t, os.Symlink(path, filepath.Join(l.bin, tool)))
	}
	if withTalosctl {
		require.NoError(t, os.WriteFile(filepath.Join(l.bin, "talosctl"), []byte(fakeTalosctl), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(l.state, "version"), []byte(nodeVersion+"\n"), 0o644))
	return l
}

// run executes the scripts as the command provider does: their text passed
// to /bin/sh -c, configured only through the environment.
func (l *lab) run(env map[string]string, names ...string) result {
	l.t.Helper()
	cmd := exec.Command("/bin/sh", "-c", mustScript(l.t, names...))
	cmd.Env = []string{
		"PATH=" + l.bin, "TMPDIR=" + l.tmp,
		"FAKE_TALOS_STATE=" + l.state, "FAKE_WANT_TALOSCONFIG=" + strings.TrimRight(talosconfig, "\n"),
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		require.True(l.t, errors.As(err, &exit), "running %v: %v", names, err)
		code = exit.ExitCode()
	}
	l.t.Logf("%v stderr:\n%s", names, stderr.String())
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func (l *lab) lines(file string) []string {
	l.t.Helper()
	data, err := os.ReadFile(filepath.Join(l.state, file))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(l.t, err)
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func (l *lab) calls() []string { return l.lines("calls") }

func (l *lab) nodeVersion() string { return l.lines("version")[0] }

// checkTalosconfig asserts that every talosctl call read the talosconfig
// from a file only its owner can read, that it never reached argv or the
// output, and that no copy is left behind.
func (l *lab) checkTalosconfig(r result) {
	l.t.Helper()
	configs := l.lines("configs")
	assert.Len(l.t, configs, len(l.calls()))
	for _, c := range configs {
		assert.Equal(l.t, "600 same ", c, "mode, content, and no copy in the environment")
	}
	for _, c := range l.calls() {
		assert.NotContains(l.t, c, "c2VjcmV0")
	}
	assert.NotContains(l.t, r.stdout+r.stderr, "c2VjcmV0")
	left, err := os.ReadDir(l.tmp)
	require.NoError(l.t, err)
	assert.Empty(l.t, left, "temporary files left behind")
}

var (
	newImage = infra.InstallerImage("v1.12.5")
	version  = "talosctl version --nodes " + worker1 + " --endpoints " + worker1 + " --short"
	health   = "talosctl health --nodes " + cp1 + " --endpoints " + cp1 + " --wait-timeout 10m0s"
	upgrade  = "talosctl upgrade --nodes " + worker1 + " --endpoints " + worker1 + " --image " + newImage + " --wait"
	upgradeK = "talosctl upgrade-k8s --nodes " + cp1 + " --endpoints " + cp1 + " --to 1.35.0 --with-docs=false --with-examples=false"
)

func nodeEnv() map[string]string {
	return map[string]string{
		"SRE_NODE_NAME":       "talos-worker-01",
		"SRE_NODE_ADDRESS":    worker1,
		"SRE_TALOS_VERSION":   "v1.12.5",
		"SRE_INSTALLER_IMAGE": newImage,
		"SRE_CONTROL_PLANE":   cp1,
		"SRE_HEALTH_TIMEOUT":  "10m0s",
		"SRE_TALOSCONFIG":     talosconfig,
	}
}

func TestScriptNodeUpgrade(t *testing.T) {
	for _, c := range []struct {
		name        string
		running     string
		unhealthy   bool
		maintenance bool
		env         map[string]string
		wantCalls   []string
		wantCode    int
		wantStdout  string
		wantStderr  []string
		wantVersion string
	}{
		{
			name:        "already at the version",
			running:     "v1.12.5",
			wantCalls:   []string{version},
			wantStdout:  "v1.12.5\n",
			wantStderr:  []string{"talos-worker-01 already runs Talos v1.12.5"},
			wantVersion: "v1.12.5",
		},
		{
			name:        "upgrades, then waits for health",
			running:     "v1.12.4",
			wantCalls:   []string{version, health, upgrade, version, health},
			wantStdout:  "v1.12.5\n",
			wantVersion: "v1.12.5",
		},
		{
			name:        "version without v in config",
			running:     "v1.12.4",
			env:         map[string]string{"SRE_TALOS_VERSION": "1.12.5"},
			wantCalls:   []string{version, health, upgrade, version, health},
			wantStdout:  "v1.12.5\n",
			wantVersion: "v1.12.5",
		},
		{
			name:        "unhealthy cluster: the node is left alone",
			running:     "v1.12.4",
			unhealthy:   true,
			wantCalls:   []string{version, health},
			wantCode:    1,
			wantStderr:  []string{"the cluster is not healthy", "talos-worker-01 was left at v1.12.4"},
			wantVersion: "v1.12.4",
		},
		{
			name:        "upgrade fails: no health wait, clear error",
			running:     "v1.12.4",
			env:         map[string]string{"FAKE_TALOSCTL_FAIL": "upgrade "},
			wantCalls:   []string{version, health, upgrade},
			wantCode:    1,
			wantStderr:  []string{"talosctl upgrade of talos-worker-01 (" + worker1 + ") to " + newImage + " failed", "run pulumi up again"},
			wantVersion: "v1.12.4",
		},
		{
			name:        "node falls back to the old version",
			running:     "v1.12.4",
			env:         map[string]string{"FAKE_ROLLBACK": "1"},
			wantCalls:   []string{version, health, upgrade, version},
			wantCode:    1,
			wantStderr:  []string{"talos-worker-01 came back running Talos v1.12.4, not v1.12.5"},
			wantVersion: "v1.12.4",
		},
		{
			name:        "cluster unhealthy after the upgrade",
			running:     "v1.12.4",
			env:         map[string]string{"FAKE_BREAKS_CLUSTER": "1"},
			wantCalls:   []string{version, health, upgrade, version, health},
			wantCode:    1,
			wantStderr:  []string{"did not become healthy within 10m0s after upgrading talos-worker-01"},
			wantVersion: "v1.12.5",
		},
		{
			// A replaced machine: its step is replaced with it and only
			// records (TestSteps), but should it ever update, it must stop
			// at once with the reason rather than upgrade or wait.
			name:        "node in maintenance mode",
			running:     "v1.12.4",
			maintenance: true,
			wantCalls:   []string{version},
			wantCode:    1,
			wantStderr:  []string{"x509: certificate signed by unknown authority", "could not read the Talos version of talos-worker-01 at " + worker1},
			wantVersion: "v1.12.4",
		},
		{
			name:        "node unreachable",
			running:     "v1.12.4",
			env:         map[string]string{"FAKE_TALOSCTL_FAIL": "version"},
			wantCalls:   []string{version},
			wantCode:    1,
			wantStderr:  []string{"could not read the Talos version of talos-worker-01 at " + worker1},
			wantVersion: "v1.12.4",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, true, c.running)
			if c.unhealthy {
				require.NoError(t, os.WriteFile(filepath.Join(l.state, "unhealthy"), nil, 0o644))
			}
			if c.maintenance {
				require.NoError(t, os.WriteFile(filepath.Join(l.state, "maintenance"), []byte(worker1+"\n"), 0o644))
			}
			r := l.run(merge(nodeEnv(), c.env), "lib.sh", "node-upgrade.sh")
			assert.Equal(t, c.wantCode, r.code, "exit code")
			assert.Equal(t, c.wantStdout, r.stdout, "stdout")
			assert.Equal(t, c.wantCalls, l.calls(), "calls")
			for _, s := range c.wantStderr {
				assert.Contains(t, r.stderr, s)
			}
			assert.Equal(t, c.wantVersion, l.nodeVersion())
			l.checkTalosconfig(r)
		})
	}
}

func TestScriptNodeUpgradeTwice(t *testing.T) {
	l := newLab(t, true, "v1.12.4")
	for i := range 2 {
		r := l.run(nodeEnv(), "lib.sh", "node-upgrade.sh")
		require.Equal(t, 0, r.code, "run %d", i+1)
		assert.Equal(t, "v1.12.5\n", r.stdout, "run %d", i+1)
	}
	assert.Equal(t, []string{version, health, upgrade, version, health, version}, l.calls(),
		"the second run finds the node at the version and stops")
}

func kubeEnv(recorded string) map[string]string {
	return map[string]string{
		"SRE_KUBERNETES_VERSION": "1.35.0",
		"SRE_CONTROL_PLANE":      cp1,
		"SRE_TALOSCONFIG":        talosconfig,
		"PULUMI_COMMAND_STDOUT":  recorded,
	}
}

func TestScriptKubernetesUpgrade(t *testing.T) {
	for _, c := range []struct {
		name       string
		env        map[string]string
		noTalosctl bool
		wantCalls  []string
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{
			name:       "recorded at the version: nothing to do, talosctl not needed",
			env:        kubeEnv("1.35.0"),
			noTalosctl: true,
			wantStdout: "1.35.0\n",
			wantStderr: []string{"Kubernetes is at 1.35.0 since the last successful run"},
		},
		{
			name:       "recorded older: upgrades",
			env:        kubeEnv("1.34.1"),
			wantCalls:  []string{upgradeK},
			wantStdout: "1.35.0\n",
			wantStderr: []string{"upgrading Kubernetes from 1.34.1 to 1.35.0 through " + cp1, `< "10.0.0.10": successfully updated`},
		},
		{
			name:       "nothing recorded: upgrades",
			env:        kubeEnv(""),
			wantCalls:  []string{upgradeK},
			wantStdout: "1.35.0\n",
		},
		{
			name:       "version with v in config",
			env:        merge(kubeEnv("1.34.1"), map[string]string{"SRE_KUBERNETES_VERSION": "v1.35.0"}),
			wantCalls:  []string{upgradeK},
			wantStdout: "1.35.0\n",
		},
		{
			name:       "upgrade-k8s fails",
			env:        merge(kubeEnv("1.34.1"), map[string]string{"FAKE_TALOSCTL_FAIL": "upgrade-k8s"}),
			wantCalls:  []string{upgradeK},
			wantCode:   1,
			wantStderr: []string{"error: injected failure", "talosctl upgrade-k8s to 1.35.0 failed", "run pulumi up again to resume"},
		},
		{
			name:       "talosctl missing",
			env:        kubeEnv("1.34.1"),
			noTalosctl: true,
			wantCode:   1,
			wantStderr: []string{"talosctl was not found"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, !c.noTalosctl, "v1.12.4")
			r := l.run(c.env, "lib.sh", "kubernetes-upgrade.sh")
			assert.Equal(t, c.wantCode, r.code, "exit code")
			assert.Equal(t, c.wantStdout, r.stdout, "stdout")
			assert.Equal(t, c.wantCalls, l.calls(), "calls")
			for _, s := range c.wantStderr {
				assert.Contains(t, r.stderr, s)
			}
			l.checkTalosconfig(r)
		})
	}
}

// upgrade-k8s diffs the bootstrap manifests it changes, Secrets included;
// only its progress reaches the output Pulumi keeps.
func TestScriptKubernetesUpgradeHidesManifestDiffs(t *testing.T) {
	l := newLab(t, true, "v1.12.4")
	r := l.run(kubeEnv("1.34.1"), "lib.sh", "kubernetes-upgrade.sh")
	require.Equal(t, 0, r.code)
	for _, shown := range []string{
		"automatically detected the lowest Kubernetes version 1.34.1",
		` > "10.0.0.10": starting update`,
		" > processing manifest Secret kube-system/bootstrap-token-abcdef",
		" < applied successfully",
		"> waiting for Deployment kube-system/coredns",
		"(6 lines of manifest diff not shown: they can hold Secret values)",
	} {
		assert.Contains(t, r.stderr, shown)
	}
	assert.NotContains(t, r.stderr+r.stdout, "token-secret")
}

func TestScriptsWithoutTalosctl(t *testing.T) {
	for _, names := range [][]string{{"lib.sh", "node-upgrade.sh"}, {"lib.sh", "kubernetes-upgrade.sh"}} {
		t.Run(names[1], func(t *testing.T) {
			l := newLab(t, false, "v1.12.4")
			r := l.run(merge(nodeEnv(), kubeEnv("1.34.1")), names...)
			assert.Equal(t, 1, r.code)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, "talosctl was not found")
			assert.Contains(t, r.stderr, "put it on PATH")
			assert.Empty(t, l.calls())
			l.checkTalosconfig(r)
		})
	}
}

// Creating a step is the cluster being made at the pinned versions: the
// scripts record the version and ask nothing of a node that may still be
// installing.
func TestScriptsCreateIsANoOp(t *testing.T) {
	for _, c := range []struct {
		script, stdout string
	}{
		{"node-created.sh", "v1.12.5\n"},
		{"kubernetes-created.sh", "1.35.0\n"},
	} {
		t.Run(c.script, func(t *testing.T) {
			l := newLab(t, true, "v1.12.4")
			r := l.run(merge(nodeEnv(), kubeEnv("")), c.script)
			assert.Equal(t, 0, r.code)
			assert.Equal(t, c.stdout, r.stdout)
			assert.Contains(t, r.stderr, "pinned")
			assert.Empty(t, l.calls())
			assert.Equal(t, "v1.12.4", l.nodeVersion())
		})
	}
}

// What the Kubernetes step records on creation is what its update reads back
// when an unrelated input changes: no upgrade-k8s run.
func TestScriptKubernetesCreateThenUpdate(t *testing.T) {
	l := newLab(t, true, "v1.12.4")
	created := l.run(kubeEnv(""), "kubernetes-created.sh")
	require.Equal(t, 0, created.code)
	updated := l.run(kubeEnv(created.stdout), "lib.sh", "kubernetes-upgrade.sh")
	require.Equal(t, 0, updated.code)
	assert.Equal(t, created.stdout, updated.stdout)
	assert.Empty(t, l.calls())
}

// Every script names the variable it needs when one is missing, instead of
// acting on an empty value.
func TestScriptsRequireTheirEnvironment(t *testing.T) {
	for _, c := range []struct {
		names []string
		vars  []string
	}{
		{[]string{"node-created.sh"}, []string{"SRE_NODE_NAME", "SRE_TALOS_VERSION"}},
		{[]string{"lib.sh", "node-upgrade.sh"}, []string{"SRE_NODE_NAME", "SRE_NODE_ADDRESS", "SRE_TALOS_VERSION", "SRE_INSTALLER_IMAGE", "SRE_CONTROL_PLANE", "SRE_HEALTH_TIMEOUT", "SRE_TALOSCONFIG"}},
		{[]string{"kubernetes-created.sh"}, []string{"SRE_KUBERNETES_VERSION"}},
		{[]string{"lib.sh", "kubernetes-upgrade.sh"}, []string{"SRE_KUBERNETES_VERSION", "SRE_CONTROL_PLANE", "SRE_TALOSCONFIG"}},
	} {
		for _, missing := range c.vars {
			t.Run(c.names[len(c.names)-1]+"/"+missing, func(t *testing.T) {
				l := newLab(t, true, "v1.12.4")
				env := merge(nodeEnv(), kubeEnv("1.34.1"))
				delete(env, missing)
				r := l.run(env, c.names...)
				assert.NotEqual(t, 0, r.code)
				assert.Empty(t, r.stdout)
				assert.Contains(t, r.stderr, missing)
				assert.Empty(t, l.calls())
			})
		}
	}
}

// merge returns a copy of base with the entries of over replacing its own.
func merge(base, over map[string]string) map[string]string {
	env := map[string]string{}
	for k, v := range base {
		env[k] = v
	}
	for k, v := range over {
		env[k] = v
	}
	return env
}

// TestDoneIsTheLastStep: what waits for the rollout depends on Done, the
// Kubernetes step, which waits for every node's step in turn.
func TestDoneIsTheLastStep(t *testing.T) {
	m := &pulumitest.Mocks{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		args := labArgs()
		up, err := NewUpgrade(ctx, "upgrade", &args)
		if err != nil {
			return err
		}
		var after pulumi.CustomResourceState
		return ctx.RegisterResource(applyToken, "after", pulumi.Map{}, &after, pulumi.DependsOn([]pulumi.Resource{up.Done}))
	}, pulumi.WithMocks("sre-lab", "dev", m))
	require.NoError(t, err)
	after := m.Named(t, applyToken, "after")
	assert.True(t, after.DependsOn("command:local:Command", "upgrade-kubernetes"))
}

// The stand-in refuses what talosctl refuses, so a script that stopped
// naming exactly one node for health or upgrade-k8s would fail here.
func TestFakeTalosctlRefusesMultiNodeCommands(t *testing.T) {
	for _, args := range [][]string{
		{"health", "--nodes", cp1 + "," + cp2},
		{"upgrade-k8s", "--nodes", cp1, "--nodes", cp2, "--to", "1.35.0"},
	} {
		l := newLab(t, true, "v1.12.4")
		cmd := exec.Command(filepath.Join(l.bin, "talosctl"), args...)
		cmd.Env = []string{"PATH=" + l.bin, "FAKE_TALOS_STATE=" + l.state}
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "%v", args)
		assert.Contains(t, string(out), "is not supported with multiple nodes")
	}
}
