package upgrade

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/infra"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

const (
	commandToken = "command:local:Command"
	applyToken   = "test:index:Apply"
	machineToken = "test:index:Machine"
	cp1, cp2     = "192.168.56.10", "192.168.56.11"
	worker1      = "192.168.56.20"
)

// The client's identity as the machine secrets hold it: base64-encoded PEM.
var (
	clientCA  = b64("-----BEGIN CERTIFICATE-----\ntalos-ca\n-----END CERTIFICATE-----\n")
	clientCrt = b64("-----BEGIN CERTIFICATE-----\ntalos-admin\n-----END CERTIFICATE-----\n")
	clientKey = b64("-----BEGIN ED25519 PRIVATE KEY-----\nsecret-client-key\n-----END ED25519 PRIVATE KEY-----\n")
)

// clientVars are the environment entries that carry the client's identity.
var clientVars = []string{"SRE_TALOS_CA", "SRE_TALOS_CRT", "SRE_TALOS_KEY"}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func labClient() Client {
	return Client{CACertificate: pulumi.String(clientCA), Certificate: pulumi.String(clientCrt), Key: pulumi.String(clientKey)}
}

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
		Client:            labClient(),
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
		"no client key":         {func(a *Args) { a.Client.Key = nil }, "Talos client's CA certificate, certificate or key is missing"},
		"no client CA":          {func(a *Args) { a.Client.CACertificate = nil }, "Talos client's CA certificate"},
		"snapshots outside the cache": {
			func(a *Args) { a.EtcdSnapshotDir = "../sre-lab" }, `etcd snapshot directory "../sre-lab" must be a relative path`,
		},
		"snapshots at an absolute path": {
			func(a *Args) { a.EtcdSnapshotDir = "/var/backups" }, "must be a relative path",
		},
		"unknown role":   {func(a *Args) { a.Nodes[0].Role = "etcd" }, `talos-worker-01: role "etcd"`},
		"no address":     {func(a *Args) { a.Nodes[1].Address = nil }, "talos-cp-01: the address"},
		"no machine":     {func(a *Args) { a.Nodes[2].Machine = nil }, "talos-cp-02: the machine"},
		"only workers":   {func(a *Args) { a.Nodes = a.Nodes[:1] }, "no control plane"},
		"nothing at all": {func(a *Args) { a.Nodes = nil }, "no control plane"},
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
		// Only the client's identity is secret, so a preview still shows
		// which version a step moves to.
		for key, v := range s.Inputs["environment"].ObjectValue() {
			assert.Equal(t, slices.Contains(clientVars, string(key)), v.IsSecret(), "%s: %s secret", s.Name, key)
		}
		for _, credential := range []string{clientCA, clientCrt, clientKey} {
			assert.NotContains(t, exposed(resource.NewProperty(s.Inputs)), credential,
				"%s: the client's identity appears only as a secret", s.Name)
		}
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
			"SRE_TALOS_CA":        clientCA,
			"SRE_TALOS_CRT":       clientCrt,
			"SRE_TALOS_KEY":       clientKey,
		}, env, "no talosconfig, and no snapshot unless asked for")
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
		"SRE_TALOS_CA":           clientCA,
		"SRE_TALOS_CRT":          clientCrt,
		"SRE_TALOS_KEY":          clientKey,
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

// A node added later gets a step of its own; every existing step keeps its
// inputs, or the next pulumi up would run every update script.
func TestAddingANodeChangesNoStep(t *testing.T) {
	three, err := deploy(t, labArgs())
	require.NoError(t, err)
	more := labArgs()
	more.Nodes = append(more.Nodes, Node{Name: "talos-worker-02", Role: infra.Worker, Address: pulumi.String("192.168.56.21"), Machine: &pulumi.CustomResourceState{}})
	four, err := deploy(t, more)
	require.NoError(t, err)
	before, after := three.ByType(commandToken), four.ByType(commandToken)
	require.Len(t, after, len(before)+1)
	for i := range 3 {
		assert.Equal(t, before[i].Name, after[i].Name)
		assert.Equal(t, pulumitest.Plain(resource.NewProperty(before[i].Inputs)), pulumitest.Plain(resource.NewProperty(after[i].Inputs)), before[i].Name)
		assert.True(t, before[i].Inputs.DeepEquals(after[i].Inputs), "%s: the same values, secret the same way", before[i].Name)
	}
}

// With etcd backups on, only the first control plane's step takes a
// snapshot, before any etcd member goes down; without, no step names a
// snapshot directory, so turning backups on changes that one step only.
func TestStepsSnapshotEtcdOnlyOnTheFirstControlPlane(t *testing.T) {
	for _, c := range []struct {
		name  string
		dir   string
		nodes func([]Node) []Node
		want  string
	}{
		{name: "backups on", dir: "sre-lab/sre-lab-staging", want: "upgrade-talos-cp-01"},
		{name: "backups off"},
		{
			name: "no control plane among the nodes", dir: "sre-lab/sre-lab-staging",
			nodes: func(n []Node) []Node { return n[:1] },
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := labArgs()
			a.EtcdSnapshotDir = c.dir
			if c.nodes != nil {
				a.Nodes = c.nodes(a.Nodes)
				a.Endpoint = pulumi.String(cp1)
			}
			m, err := deploy(t, a)
			require.NoError(t, err)
			var with []string
			for _, s := range m.ByType(commandToken) {
				if dir, ok := s.At("environment.SRE_ETCD_SNAPSHOT_DIR"); ok {
					assert.Equal(t, c.dir, dir, s.Name)
					with = append(with, s.Name)
				}
			}
			if c.want == "" {
				assert.Empty(t, with)
			} else {
				assert.Equal(t, []string{c.want}, with)
			}
		})
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
// the mode of the talosconfig file it was handed and whether any part of
// the client's identity was inherited through the environment; it keeps a
// copy of the file in talosconfig for the test to parse as talosctl would.
// Like talosctl, it refuses a talosconfig whose current context is not
// defined or carries no ca, crt and key. It keeps the node's Talos version in
// version; upgrade sets it from the image tag unless $FAKE_ROLLBACK is set,
// as a node whose new version fails to boot comes back on the old one.
// health fails while the file unhealthy exists, which an upgrade creates
// when $FAKE_BREAKS_CLUSTER is set. A call whose argv starts with
// $FAKE_TALOSCTL_FAIL fails. Output goes to stdout, as talosctl's does, so
// the tests catch a script that lets it reach its own.
//
// etcd snapshot <path> writes the snapshot to path, owner-only, and says
// so on stdout, as talosctl does (cmd/talosctl/cmd/talos/etcd.go,
// etcdSnapshotCmd: <path>.part created 0600, renamed to <path> once
// complete, then "etcd snapshot saved to ...").
//
// Two states come from talosctl's and Talos's source. health, upgrade-k8s
// and etcd snapshot refuse more than one node (cmd/talosctl/pkg/talos/helpers,
// FailIfMultiNodes: 'command "health" is not supported with multiple
// nodes'). A node whose address is listed in the file maintenance has
// booted without a config: its API serves a self-signed certificate and no
// authenticated call, so every call with the cluster's client certificate
// fails the TLS handshake (internal/app/machined/pkg/system/services,
// the maintenance service).
//
// It reads the talosconfig's mode with ls, whose long format POSIX fixes:
// stat's flags differ between GNU (-c) and BSD and macOS (-f).
const fakeTalosctl = `#!/bin/sh
s=$FAKE_TALOS_STATE
echo "talosctl $*" >>"$s/calls"
if [ -f "${TALOSCONFIG:-}" ]; then
	echo "$(ls -ln "$TALOSCONFIG" | cut -c1-10) ${SRE_TALOS_CA:+inherited}${SRE_TALOS_CRT:+inherited}${SRE_TALOS_KEY:+inherited}" >>"$s/configs"
	cat "$TALOSCONFIG" >"$s/talosconfig"
	current=$(awk '/^context:/ { print $2 }' "$TALOSCONFIG")
	defined=$(awk -v c="  $current:" '
		$0 == c { in_context = 1; next }
		/^  [^ ]/ { in_context = 0 }
		in_context && /^    (ca|crt|key): [A-Za-z0-9+\/=]+$/ { found++ }
		END { print found + 0 }' "$TALOSCONFIG")
	if [ -z "$current" ] || [ "$defined" != 3 ]; then
		echo "error: context \"$current\" is not defined in 'contexts' key in config, or has no client certificate" >&2
		exit 1
	fi
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
command=$1
if [ "$1" = etcd ]; then command="etcd $2"; fi
case "$command" in health | upgrade-k8s | "etcd snapshot")
	if [ "$nodes" -gt 1 ]; then
		echo "error: command \"$command\" is not supported with multiple nodes" >&2
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
etcd)
	for path; do :; done
	(umask 077 && printf 'etcd snapshot of %s\n' "$node" >"$path") || exit 1
	echo "etcd snapshot saved to \"$path\" (23 bytes)" ;;
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
// need another tool shows up here. ls, cut and cat serve the fake.
var hostTools = []string{"awk", "cat", "chmod", "cut", "date", "grep", "ls", "mkdir", "mktemp", "rm", "tr"}

// lab is one isolated run environment: $LAB/bin is the whole PATH,
// $LAB/state the fake's state, $LAB/tmp the scripts' TMPDIR and $LAB/home
// their HOME.
type lab struct {
	t                      *testing.T
	root, state, tmp, home string
	bin                    string
}

type result struct {
	stdout, stderr string
	code           int
}

func newLab(t *testing.T, withTalosctl bool, nodeVersion string) *lab {
	t.Helper()
	root := t.TempDir()
	l := &lab{
		t: t, root: root, state: filepath.Join(root, "state"), tmp: filepath.Join(root, "tmp"),
		home: filepath.Join(root, "home"), bin: filepath.Join(root, "bin"),
	}
	for _, dir := range []string{l.bin, l.state, l.tmp, l.home} {
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
	cmd.Env = []string{"PATH=" + l.bin, "TMPDIR=" + l.tmp, "HOME=" + l.home, "FAKE_TALOS_STATE=" + l.state}
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

// checkTalosconfig asserts that every talosctl call read a talosconfig
// from a file only its owner can read, one that talosctl's own parser
// (pkg/machinery/client/config) reads as the client's identity with the
// control plane as endpoint; that the key never reached argv, the output or
// talosctl's environment; and that no copy is left behind.
func (l *lab) checkTalosconfig(r result) {
	l.t.Helper()
	configs := l.lines("configs")
	assert.Len(l.t, configs, len(l.calls()))
	for _, c := range configs {
		assert.Equal(l.t, "-rw------- ", c, "mode, and no copy in the environment")
	}
	if len(configs) > 0 {
		data, err := os.ReadFile(filepath.Join(l.state, "talosconfig"))
		require.NoError(l.t, err)
		config, err := clientconfig.FromBytes(data)
		require.NoError(l.t, err)
		require.Contains(l.t, config.Contexts, config.Context, "the current context is defined")
		context := config.Contexts[config.Context]
		assert.Equal(l.t, []string{cp1}, context.Endpoints)
		assert.Empty(l.t, context.Nodes, "every call names its node")
		assert.Equal(l.t, []string{clientCA, clientCrt, clientKey}, []string{context.CA, context.Crt, context.Key})
	}
	for _, c := range l.calls() {
		assert.NotContains(l.t, c, clientKey)
	}
	assert.NotContains(l.t, r.stdout+r.stderr, clientKey)
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
		"SRE_TALOS_CA":        clientCA,
		"SRE_TALOS_CRT":       clientCrt,
		"SRE_TALOS_KEY":       clientKey,
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

// firstControlPlaneEnv is the first control plane's step with etcd backups on.
func firstControlPlaneEnv() map[string]string {
	return merge(nodeEnv(), map[string]string{
		"SRE_NODE_NAME":         "talos-cp-01",
		"SRE_NODE_ADDRESS":      cp1,
		"SRE_ETCD_SNAPSHOT_DIR": "sre-lab/sre-lab-staging",
	})
}

// The first control plane's step keeps an etcd snapshot in the user's cache
// before it takes the node down, and stops when it cannot.
func TestScriptNodeUpgradeSnapshotsEtcd(t *testing.T) {
	on := func(verb string) string { return fmt.Sprintf("talosctl %s --nodes %s --endpoints %s", verb, cp1, cp1) }
	var (
		cpVersion = on("version") + " --short"
		snapshot  = on("etcd snapshot") + " "
		cpUpgrade = on("upgrade") + " --image " + newImage + " --wait"
	)
	for _, c := range []struct {
		name        string
		running     string
		unhealthy   bool
		env         map[string]string
		cache       string // relative to the lab; empty: no snapshot kept
		wantCalls   []string
		wantCode    int
		wantStderr  string
		wantVersion string
	}{
		{
			name:        "snapshot, then upgrade",
			running:     "v1.12.4",
			cache:       "home/.cache",
			wantCalls:   []string{cpVersion, health, snapshot, cpUpgrade, cpVersion, health},
			wantStderr:  "taking an etcd snapshot from talos-cp-01 into ",
			wantVersion: "v1.12.5",
		},
		{
			name:        "XDG cache directory",
			running:     "v1.12.4",
			env:         map[string]string{"XDG_CACHE_HOME": "XDG"},
			cache:       "XDG",
			wantCalls:   []string{cpVersion, health, snapshot, cpUpgrade, cpVersion, health},
			wantVersion: "v1.12.5",
		},
		{
			name:        "snapshot fails: the node is left alone",
			running:     "v1.12.4",
			env:         map[string]string{"FAKE_TALOSCTL_FAIL": "etcd snapshot"},
			wantCalls:   []string{cpVersion, health, snapshot},
			wantCode:    1,
			wantStderr:  "the etcd snapshot from talos-cp-01 failed (see above), so talos-cp-01 and the nodes after it were left at v1.12.4",
			wantVersion: "v1.12.4",
		},
		{
			name:        "no cache directory: the node is left alone",
			running:     "v1.12.4",
			env:         map[string]string{"HOME": ""},
			wantCalls:   []string{cpVersion, health},
			wantCode:    1,
			wantStderr:  "no cache directory for the etcd snapshot",
			wantVersion: "v1.12.4",
		},
		{
			name:        "already at the version: no snapshot",
			running:     "v1.12.5",
			wantCalls:   []string{cpVersion},
			wantVersion: "v1.12.5",
		},
		{
			name:        "unhealthy cluster: no snapshot",
			running:     "v1.12.4",
			unhealthy:   true,
			wantCalls:   []string{cpVersion, health},
			wantCode:    1,
			wantVersion: "v1.12.4",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, true, c.running)
			if c.unhealthy {
				require.NoError(t, os.WriteFile(filepath.Join(l.state, "unhealthy"), nil, 0o644))
			}
			env := firstControlPlaneEnv()
			for k, v := range c.env {
				if k == "XDG_CACHE_HOME" {
					v = filepath.Join(l.root, v)
				}
				env[k] = v
			}
			r := l.run(env, "lib.sh", "node-upgrade.sh")
			assert.Equal(t, c.wantCode, r.code, "exit code")
			calls := l.calls()
			if i := slices.IndexFunc(calls, func(s string) bool { return strings.HasPrefix(s, snapshot) }); i >= 0 {
				calls[i] = snapshot // the path holds the time
			}
			assert.Equal(t, c.wantCalls, calls, "calls")
			assert.Contains(t, r.stderr, c.wantStderr)
			assert.Equal(t, c.wantVersion, l.nodeVersion())
			l.checkTalosconfig(r)

			var snapshots []string
			require.NoError(t, filepath.WalkDir(l.root, func(path string, _ os.DirEntry, err error) error {
				if strings.HasSuffix(path, ".snapshot") {
					snapshots = append(snapshots, path)
				}
				return err
			}))
			if c.cache == "" {
				assert.Empty(t, snapshots, "no snapshot kept")
				return
			}
			require.Len(t, snapshots, 1)
			dir := filepath.Join(l.root, c.cache, "sre-lab", "sre-lab-staging")
			assert.Equal(t, dir, filepath.Dir(snapshots[0]))
			assert.Regexp(t, `^etcd-\d{8}T\d{6}Z\.snapshot$`, filepath.Base(snapshots[0]))
			assert.Contains(t, r.stderr, snapshots[0])
			assert.Equal(t, snapshot+snapshots[0], l.calls()[2], "the snapshot is taken from the node about to go down")
			for path, mode := range map[string]os.FileMode{dir: 0o700, filepath.Dir(dir): 0o700, snapshots[0]: 0o600} {
				info, err := os.Stat(path)
				require.NoError(t, err)
				assert.Equal(t, mode, info.Mode().Perm(), "%s is owner-only", path)
			}
		})
	}
}

func kubeEnv(recorded string) map[string]string {
	return map[string]string{
		"SRE_KUBERNETES_VERSION": "1.35.0",
		"SRE_CONTROL_PLANE":      cp1,
		"SRE_TALOS_CA":           clientCA,
		"SRE_TALOS_CRT":          clientCrt,
		"SRE_TALOS_KEY":          clientKey,
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
		{[]string{"lib.sh", "node-upgrade.sh"}, append([]string{"SRE_NODE_NAME", "SRE_NODE_ADDRESS", "SRE_TALOS_VERSION", "SRE_INSTALLER_IMAGE", "SRE_CONTROL_PLANE", "SRE_HEALTH_TIMEOUT"}, clientVars...)},
		{[]string{"kubernetes-created.sh"}, []string{"SRE_KUBERNETES_VERSION"}},
		{[]string{"lib.sh", "kubernetes-upgrade.sh"}, append([]string{"SRE_KUBERNETES_VERSION", "SRE_CONTROL_PLANE"}, clientVars...)},
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
		{"etcd", "snapshot", "--nodes", cp1 + "," + cp2, "etcd.snapshot"},
	} {
		l := newLab(t, true, "v1.12.4")
		cmd := exec.Command(filepath.Join(l.bin, "talosctl"), args...)
		cmd.Env = []string{"PATH=" + l.bin, "FAKE_TALOS_STATE=" + l.state}
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "%v", args)
		assert.Contains(t, string(out), "is not supported with multiple nodes")
	}
}
