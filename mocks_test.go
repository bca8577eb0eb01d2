package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	"gopkg.in/yaml.v3"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra/backends"
	"github.com/your-org/sre-lab/infra/buildtags"
	"github.com/your-org/sre-lab/internal/egress"
	"github.com/your-org/sre-lab/internal/pulumitest"
)

// registered is one resource the program registered, as the mocks saw it.
type registered = pulumitest.Resource

// lab is one mocked run of the program: what it registered.
type lab struct {
	resources []registered
	// calls are the functions (data sources) it invoked.
	calls []pulumitest.Call
}

// outputs answers the program's resources with plausible, deterministic
// values where the providers would compute them.
func outputs(args pulumi.MockResourceArgs) map[string]any {
	switch args.TypeToken {
	case "aws:ec2/instance:Instance":
		h := hash(args.Name)
		return map[string]any{
			"privateIp": fmt.Sprintf("10.0.%d.%d", h%3, 10+h%200),
			"publicIp":  fmt.Sprintf("198.51.100.%d", 1+h%250),
		}
	case "aws:lb/loadBalancer:LoadBalancer":
		return map[string]any{
			"dnsName": args.Name + "-0123456789.elb.eu-central-1.amazonaws.com",
			"arn":     "arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/net/" + args.Name,
		}
	case "aws:s3/bucketV2:BucketV2":
		return map[string]any{"bucket": args.Name + "-0a1b2c3", "arn": "arn:aws:s3:::" + args.Name + "-0a1b2c3"}
	case "gcp:storage/bucket:Bucket":
		// Pulumi names the bucket: the resource name plus a random suffix.
		return map[string]any{"name": args.Name + "-0a1b2c3"}
	case "gcp:compute/instance:Instance":
		h := hash(args.Name)
		return map[string]any{"networkInterfaces": []any{map[string]any{
			"networkIp":     fmt.Sprintf("10.0.0.%d", 10+h%200),
			"accessConfigs": []any{map[string]any{"natIp": fmt.Sprintf("203.0.113.%d", 1+h%250)}},
		}}}
	case "gcp:compute/address:Address":
		return map[string]any{"address": fmt.Sprintf("198.51.100.%d", 1+hash(args.Name)%250)}
	case "azure-native:network:PublicIPAddress":
		return map[string]any{"ipAddress": fmt.Sprintf("198.51.100.%d", 1+hash(args.Name)%250)}
	case "hcloud:index/server:Server":
		return map[string]any{"ipv4Address": fmt.Sprintf("198.51.100.%d", 1+hash(args.Name)%250)}
	case "hcloud:index/loadBalancer:LoadBalancer":
		return map[string]any{"ipv4": fmt.Sprintf("203.0.113.%d", 1+hash(args.Name)%250)}
	case "aws:lb/targetGroup:TargetGroup":
		return map[string]any{"arn": "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/" + args.Name}
	case "talos:machine/secrets:Secrets":
		return map[string]any{
			"clientConfiguration": map[string]any{"caCertificate": "ca-cert", "clientCertificate": "client-cert", "clientKey": "client-key"},
			"machineSecrets":      map[string]any{"cluster": map[string]any{"id": "id", "secret": "secret"}},
		}
	case "random:index/randomPassword:RandomPassword":
		return map[string]any{"result": "generated-" + args.Name}
	case "talos:cluster/kubeconfig:Kubeconfig":
		return map[string]any{
			"kubeconfigRaw": "apiVersion: v1\nkind: Config\nusers: [{name: admin, user: {client-key-data: c2VjcmV0}}]\n",
			// base64 of a PEM block, as the provider reports the CA.
			"kubernetesClientConfiguration": map[string]any{
				"caCertificate":     "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=",
				"clientCertificate": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=",
				"clientKey":         "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IYwotLS0tLUVORCBFQyBQUklWQVRFIEtFWS0tLS0tCg==",
			},
		}
	case "command:local:Command":
		// The scripts print the VM's address, the ISO's path or the
		// host-only interface.
		env := args.Inputs["environment"]
		for _, key := range []resource.PropertyKey{"SRE_VM_IP", "SRE_ISO_PATH"} {
			if env.IsObject() && env.ObjectValue().HasValue(key) {
				return map[string]any{"stdout": env.ObjectValue()[key].StringValue() + "\n"}
			}
		}
		return map[string]any{"stdout": "vboxnet0\n"}
	}
	return nil
}

// ids are numbers for Hetzner, whose references take integers.
func ids(args pulumi.MockResourceArgs) string {
	if strings.HasPrefix(args.TypeToken, "hcloud:") {
		return strconv.Itoa(hash(args.TypeToken+args.Name)%1000000 + 1)
	}
	return ""
}

// invokes answers the functions the program calls.
func invokes(args pulumi.MockCallArgs) map[string]any {
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		return map[string]any{"names": []any{"eu-central-1a", "eu-central-1b", "eu-central-1c"}}
	case "aws:ec2/getAmi:getAmi":
		return map[string]any{"id": "ami-0123456789abcdef0"}
	case "hcloud:index/getImage:getImage":
		return map[string]any{"id": 424242}
	case "gcp:compute/getZones:getZones":
		return map[string]any{"names": []any{"europe-west3-a", "europe-west3-b", "europe-west3-c"}}
	case "talos:machine/getConfiguration:getConfiguration":
		return map[string]any{"machineConfiguration": "version: v1alpha1\nmachine:\n  type: " + args.Args["machineType"].StringValue() + "\n"}
	case "talos:client/getConfiguration:getConfiguration":
		return map[string]any{"talosConfig": "context: lab\ncontexts: {lab: {key: secret}}\n"}
	}
	return nil
}

func hash(s string) int {
	h := fnv.New32a()
	h.Write([]byte(s))
	return int(h.Sum32())
}

// stackConfig reads Pulumi.<stack>.yaml into the flat form Pulumi hands a
// program: every value a string, lists as JSON.
func stackConfig(t testing.TB, stack string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("Pulumi." + stack + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("Pulumi.%s.yaml: %v", stack, err)
	}
	out := map[string]string{}
	for k, v := range file.Config {
		switch v := v.(type) {
		case string:
			out[k] = v
		case []any, map[string]any:
			j, _ := json.Marshal(v)
			out[k] = string(j)
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// run executes program under mocks with the given config and returns what
// was registered and the stack outputs.
func run(t testing.TB, stack string, cfg map[string]string) (*lab, map[string]internals.UnsafeAwaitOutputResult, error) {
	return runFrom(t, stack, cfg, netip.MustParseAddr("203.0.113.7"))
}

// runFrom is run on a machine whose public address is addr; run uses the
// address userConfig puts in sre-lab:adminCidrs.
func runFrom(t testing.TB, stack string, cfg map[string]string, addr netip.Addr) (*lab, map[string]internals.UnsafeAwaitOutputResult, error) {
	t.Helper()
	skipUnbuilt(t, cfg)
	return runBuilt(t, stack, cfg, addr)
}

// skipUnbuilt skips a test of a cloud backend this build leaves out
// (GOFLAGS=-tags=sre_lab_local): the local-only tests check that the
// program refuses it, and the default build runs the test.
func skipUnbuilt(t testing.TB, cfg map[string]string) {
	t.Helper()
	cloud := config.Cloud(cfg[config.Namespace+":"+config.KeyCloud])
	if _, isCloud := backends.CloudTags[cloud]; isCloud && !slices.Contains(backends.Built(), cloud) {
		t.Skipf("this build leaves out the %s backend (tag %s); the default build tests it", cloud, buildtags.Local)
	}
}

// runBuilt is run without the check that the build has cfg's backend.
func runBuilt(t testing.TB, stack string, cfg map[string]string, addr netip.Addr) (*lab, map[string]internals.UnsafeAwaitOutputResult, error) {
	t.Helper()
	egressLookup = func(context.Context) (netip.Addr, error) { return addr, nil }
	t.Cleanup(func() { egressLookup = egress.Lookup })
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(pulumi.EnvConfig, string(j))
	m := &pulumitest.Mocks{Outputs: outputs, Invokes: invokes, IDs: ids}
	results := map[string]internals.UnsafeAwaitOutputResult{}
	err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		outputs, err := build(ctx)
		if err != nil {
			return err
		}
		for name, value := range outputs {
			r, err := internals.UnsafeAwaitOutput(ctx.Context(), pulumi.ToOutput(value))
			if err != nil {
				return err
			}
			results[name] = r
			ctx.Export(name, value)
		}
		return nil
	}, pulumi.WithMocks("sre-lab", stack, m))
	return &lab{resources: m.Resources(), calls: m.Calls()}, results, err
}

// userConfig is a stack file plus what its header comment tells the user to
// set before the first `pulumi up`.
func userConfig(t testing.TB, stack string) map[string]string {
	cfg := stackConfig(t, stack)
	if cfg["sre-lab:cloud"] != "virtualbox" {
		cfg["sre-lab:adminCidrs"] = `["203.0.113.7/32"]`
		cfg["sre-lab:domain"] = stack + ".lab.example.com"
		cfg["sre-lab:acmeEmail"] = "sre@example.com"
	}
	if stack == "staging" || stack == "prod" {
		// Their etcd snapshots are encrypted: an age-keygen public key.
		cfg["sre-lab:etcdBackupRecipient"] = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	}
	return cfg
}

// countByType counts registered resources per type token.
func (l *lab) countByType() map[string]int {
	counts := map[string]int{}
	for _, r := range l.resources {
		counts[r.Type]++
	}
	return counts
}

// byType returns the registrations of one type, sorted by name.
func (l *lab) byType(token string) []registered {
	var out []registered
	for _, r := range l.resources {
		if r.Type == token {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// named returns the one registration of a type with that name.
func (l *lab) named(t testing.TB, token, name string) registered {
	t.Helper()
	for _, r := range l.byType(token) {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s named %s", token, name)
	return registered{}
}

// dependencies is every resource r waits for, directly or through others,
// each as "type::name".
func (l *lab) dependencies(r registered) map[string]bool {
	byKey := map[string]registered{}
	for _, o := range l.resources {
		byKey[o.Type+"::"+o.Name] = o
	}
	seen := map[string]bool{}
	var walk func(registered)
	walk = func(r registered) {
		for _, urn := range r.Dependencies {
			// urn:pulumi:<stack>::<project>::[<parent type>$]<type>::<name>
			parts := strings.Split(urn, "::")
			name, typ := parts[len(parts)-1], parts[len(parts)-2]
			typ = typ[strings.LastIndex(typ, "$")+1:]
			key := typ + "::" + name
			if seen[key] {
				continue
			}
			seen[key] = true
			if next, ok := byKey[key]; ok {
				walk(next)
			}
		}
	}
	walk(r)
	return seen
}

// userConfigOn is userConfig with settings laid over it, such as one of the
// on* backends below.
func userConfigOn(t testing.TB, stack string, set map[string]string) map[string]string {
	cfg := userConfig(t, stack)
	for k, v := range set {
		cfg[k] = v
	}
	return cfg
}

// The settings that move a stack file onto another backend, as its users
// would set them.
var (
	onHetzner = map[string]string{"sre-lab:cloud": "hetzner", "sre-lab:region": "fsn1"}
	onGCP     = map[string]string{"sre-lab:cloud": "gcp", "sre-lab:region": "europe-west3", "gcp:project": "sre-lab-test"}
	onAzure   = map[string]string{"sre-lab:cloud": "azure", "sre-lab:region": "westeurope",
		"sre-lab:talosImage": "https://srelabimages.blob.core.windows.net/talos/talos-v1.12.4.vhd"}
	onDocker = map[string]string{"sre-lab:cloud": "docker"}
)
